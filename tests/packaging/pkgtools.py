"""Helpers of the packaging tests: building the packages, the system-PostgreSQL lock, saving and
restoring the extension files of the system PostgreSQL, and dpkg."""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE_SH = REPO / "scripts" / "package.sh"
ARCHIVE = REPO / "sql" / "archive"
LOCK_PATH = "/tmp/mcp_jobs_system_pg.lock"
# The PostgreSQL the .deb is built for and installs into (Debian's; scripts/package.sh's default).
SYSTEM_PG_CONFIG = os.environ.get("MCP_JOBS_PG_CONFIG", "/usr/lib/postgresql/15/bin/pg_config")
PACKAGE = "postgresql-15-mcp-jobs"
# The extension's files in a PostgreSQL installation (what `cargo pgrx install` writes).
EXTENSION_GLOBS = ("mcp_jobs.*", "mcp_jobs--*")


def need(ok: bool, reason: str) -> None:
    """Skip when `ok` is false, except in CI (CI=true, as root), where the test must run: fail."""
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run this test")
    pytest.skip(reason)


def cargo_version() -> str:
    with open(REPO / "Cargo.toml", "rb") as f:
        return str(tomllib.load(f)["package"]["version"])


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.match(r"(\d+)\.(\d+)\.(\d+)", v).groups())  # type: ignore[union-attr]


def archived_versions() -> list[str]:
    found = [re.fullmatch(r"mcp_jobs--(\d+\.\d+\.\d+)\.sql", p.name) for p in ARCHIVE.iterdir()]
    return sorted((m.group(1) for m in found if m), key=version_key)


def previous_version() -> str:
    """The newest archived release below the current version: what the upgrade test starts from."""
    current = version_key(cargo_version())
    older = [v for v in archived_versions() if version_key(v) < current]
    assert older, f"sql/archive holds no release older than {cargo_version()}"
    return older[-1]


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with its output."""
    p = subprocess.run(cmd, check=False, text=True, capture_output=True, **kw)  # type: ignore[call-overload]
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {p.returncode}\n"
                           f"--- stdout ---\n{p.stdout[-4000:]}\n--- stderr ---\n{p.stderr[-4000:]}")
    return p  # type: ignore[no-any-return]


def package_sh(*args: str) -> str:
    """Run scripts/package.sh; returns the last line it printed (the path it built)."""
    out = run(["bash", str(PACKAGE_SH), *args], cwd=REPO).stdout.strip().splitlines()
    assert out, "scripts/package.sh printed nothing"
    return out[-1]


def pg_dirs(pg_config: str = SYSTEM_PG_CONFIG) -> tuple[Path, Path]:
    """(extension directory, library directory) of a PostgreSQL installation."""
    share = run([pg_config, "--sharedir"]).stdout.strip()
    lib = run([pg_config, "--pkglibdir"]).stdout.strip()
    return Path(share) / "extension", Path(lib)


class FileState(NamedTuple):
    content: bytes
    mode: int  # permission bits
    uid: int
    gid: int


def extension_files(pg_config: str = SYSTEM_PG_CONFIG) -> dict[Path, FileState]:
    """Every mcp_jobs file of the installation, with its content, permissions and owner."""
    files: dict[Path, FileState] = {}
    for d in pg_dirs(pg_config):
        for pattern in EXTENSION_GLOBS:
            for p in d.glob(pattern):
                if p.is_file():
                    st = p.stat()
                    files[p] = FileState(p.read_bytes(), st.st_mode & 0o7777, st.st_uid, st.st_gid)
    return files


def remove_extension_files(pg_config: str = SYSTEM_PG_CONFIG) -> None:
    for p in extension_files(pg_config):
        p.unlink()


def write_extension_files(files: dict[Path, FileState]) -> None:
    """Write files through a new inode (rename), so that a server that has the old library mapped
    keeps running."""
    for p, f in files.items():
        tmp = p.with_name(f".{p.name}.restore-{os.getpid()}")
        tmp.write_bytes(f.content)
        os.chown(tmp, f.uid, f.gid)
        os.chmod(tmp, f.mode)
        os.replace(tmp, p)


@contextmanager
def system_pg_lock(timeout: float = 1800.0) -> Iterator[None]:
    """Hold /tmp/mcp_jobs_system_pg.lock (what `flock /tmp/mcp_jobs_system_pg.lock CMD` takes): other
    checkouts on this machine install into the same PostgreSQL. A caller that already holds it for
    this process tree (`MCP_JOBS_SYSTEM_PG_LOCK_HELD=1 flock /tmp/mcp_jobs_system_pg.lock pytest ...`)
    says so in that variable: taking it again here would wait for ourselves."""
    if os.environ.get("MCP_JOBS_SYSTEM_PG_LOCK_HELD") == "1":
        yield
        return
    with open(LOCK_PATH, "a") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{LOCK_PATH} still held by another process after {timeout}s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def dpkg_status(package: str = PACKAGE) -> str:
    """dpkg's status of the package ('install ok installed', ...), '' when dpkg does not know it."""
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], check=False, text=True, capture_output=True)
    return p.stdout.strip() if p.returncode == 0 else ""


def dpkg_version(package: str = PACKAGE) -> str:
    return run(["dpkg-query", "-W", "-f=${Version}", package]).stdout.strip()


def dpkg(*args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """Run dpkg; while another process (apt) holds dpkg's own lock, try again until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        p = subprocess.run(["dpkg", *args], check=False, text=True, capture_output=True,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if p.returncode == 0:
            return p
        locked = "lock" in p.stderr and ("held by" in p.stderr or "locked" in p.stderr)
        if not locked or time.monotonic() > deadline:
            raise RuntimeError(f"dpkg {' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        time.sleep(1)


def dpkg_list_files(package: str = PACKAGE) -> list[str]:
    return [line for line in run(["dpkg", "-L", package]).stdout.splitlines() if line.startswith("/")]


def purge(package: str = PACKAGE) -> None:
    if dpkg_status(package):
        dpkg("--purge", package)


def deb_field(deb: Path, field: str) -> str:
    return run(["dpkg-deb", "--field", str(deb), field]).stdout.strip()


def deb_contents(deb: Path) -> dict[str, str]:
    """Paths in the package ('/usr/...', directories ending in '/') -> their tar mode string."""
    out: dict[str, str] = {}
    for line in run(["dpkg-deb", "--contents", str(deb)]).stdout.splitlines():
        parts = line.split(None, 5)
        out[parts[5].removeprefix(".")] = parts[0]
    return out


def build_previous_deb(current_deb: Path, version: str, out_dir: Path) -> Path:
    """The ".deb of the previous version": the current .deb with its SQL set back to `version`:
    sql/archive/mcp_jobs--<version>.sql as the full script instead of the current one, only the
    upgrade scripts that end at or below `version`, default_version = '<version>' in the control
    file, Debian version <version>-1. The library is the current one (the archived scripts only
    reference functions the current library still exports; tests/test_upgrade.py relies on the
    same)."""
    root = out_dir / f"prev-{version}"
    shutil.rmtree(root, ignore_errors=True)
    run(["dpkg-deb", "--raw-extract", str(current_deb), str(root)])
    ext_dir, _ = pg_dirs()
    ext = root / ext_dir.relative_to("/")
    current = cargo_version()
    (ext / f"mcp_jobs--{current}.sql").unlink()
    shutil.copyfile(ARCHIVE / f"mcp_jobs--{version}.sql", ext / f"mcp_jobs--{version}.sql")
    for p in ext.glob("mcp_jobs--*--*.sql"):
        m = re.fullmatch(r"mcp_jobs--(.+)--(.+)\.sql", p.name)
        assert m, p
        if version_key(m.group(2)) > version_key(version):
            p.unlink()
    control = ext / "mcp_jobs.control"
    text, n = re.subn(r"(?m)^default_version = '[^']*'$", f"default_version = '{version}'", control.read_text())
    assert n == 1, "the packaged control file has one default_version line"
    control.write_text(text)
    for p in root.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)

    files = sorted(p for p in root.rglob("*") if p.is_file() and "DEBIAN" not in p.relative_to(root).parts)
    md5 = run(["md5sum", *[str(p.relative_to(root)) for p in files]], cwd=root).stdout
    (root / "DEBIAN" / "md5sums").write_text(md5)
    size_kib = sum((p.stat().st_size + 1023) // 1024 for p in files)
    debian_control = (root / "DEBIAN" / "control").read_text()
    debian_control = re.sub(r"(?m)^Version: .*$", f"Version: {version}-1", debian_control)
    debian_control = re.sub(r"(?m)^Installed-Size: .*$", f"Installed-Size: {size_kib}", debian_control)
    (root / "DEBIAN" / "control").write_text(debian_control)

    arch = deb_field(current_deb, "Architecture")
    deb = out_dir / f"{PACKAGE}_{version}-1_{arch}.deb"
    deb.unlink(missing_ok=True)
    run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)])
    return deb
