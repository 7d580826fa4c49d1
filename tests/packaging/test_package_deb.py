"""The Debian package: what it holds, installing it into the system PostgreSQL 15 and creating the
extension, upgrading from the previous version's package with ALTER EXTENSION UPDATE, and removing it.

These tests install into the system PostgreSQL (Debian's /usr/lib/postgresql/15, the one the .deb is
for), so they need root and dpkg, and they hold /tmp/mcp_jobs_system_pg.lock from the first install
to the end. Before installing, the extension files the system PostgreSQL has are saved and removed;
at the end, whatever happened, the package is purged and exactly those files are written back.

"The previous version's .deb" is built from the current one (pkgtools.build_previous_deb): the
newest release in sql/archive/ below Cargo.toml's version, i.e. its archived full install script, the
upgrade scripts up to it, default_version set to it, and the current library. The repository has no
release tags and CI clones may be shallow, so old releases are not rebuilt from git history.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pgharness
import psycopg
import pytest
from pgharness import TABLES, Cluster
from pkgtools import (
    PACKAGE,
    REPO,
    SYSTEM_PG_CONFIG,
    FileState,
    archived_versions,
    build_previous_deb,
    cargo_version,
    deb_contents,
    deb_field,
    dpkg,
    dpkg_list_files,
    dpkg_status,
    dpkg_version,
    extension_files,
    need,
    package_sh,
    pg_dirs,
    previous_version,
    purge,
    remove_extension_files,
    system_pg_lock,
    write_extension_files,
)
from test_upgrade import populate, table_columns

# Columns renamed by an upgrade, per table: {old name: new name}. A column of the previous version
# that is missing after the upgrade and not named here fails the upgrade test.
RENAMED: dict[str, dict[str, str]] = {t: {} for t in TABLES}


def _can_build() -> None:
    need(shutil.which("dpkg-deb") is not None and shutil.which("dpkg") is not None, "dpkg/dpkg-deb is missing")
    need(shutil.which("cargo") is not None, "cargo is missing (scripts/setup.sh installs cargo-pgrx)")


def _can_install() -> None:
    _can_build()
    need(os.geteuid() == 0, "installing a .deb into the system PostgreSQL needs root")
    need(Path(SYSTEM_PG_CONFIG).is_file(), f"no system PostgreSQL 15 ({SYSTEM_PG_CONFIG})")
    need(os.path.realpath(pgharness.PG_CONFIG) == os.path.realpath(SYSTEM_PG_CONFIG),
         f"PG_CONFIG={pgharness.PG_CONFIG} is not the system PostgreSQL the .deb installs into")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("debs")


@pytest.fixture(scope="module")
def deb() -> Path:
    """The current .deb, built by scripts/package.sh (a release build: minutes when not cached).
    Written to target/package/, its default place."""
    _can_build()
    path = Path(package_sh())
    assert path.is_file(), path
    return path


@pytest.fixture(scope="module")
def previous_deb(deb: Path, out_dir: Path) -> Path:
    return build_previous_deb(deb, previous_version(), out_dir)


@pytest.fixture(scope="module")
def system_pg(deb: Path, previous_deb: Path) -> Iterator[dict[Path, FileState]]:
    """The system PostgreSQL, locked and emptied of mcp_jobs files for this module; afterwards it
    holds exactly the files it had, byte for byte, with their permissions and owners. A registration of the
    package left by an interrupted run is purged (its files, saved first, are written back as they
    were)."""
    _can_install()
    with system_pg_lock():
        saved = extension_files()
        try:
            purge()
            remove_extension_files()
            yield saved
        finally:
            try:
                purge()
            finally:
                remove_extension_files()
                write_extension_files(saved)
            assert extension_files() == saved, "the system PostgreSQL holds the extension files it had"


@pytest.fixture
def clean(system_pg: dict[Path, FileState]) -> None:
    """Each install test starts with the package not installed and no mcp_jobs file."""
    purge()
    remove_extension_files()
    assert not extension_files()


@pytest.fixture
def pkg_cluster() -> Iterator[Cluster]:
    c = Cluster(name="mcp_jobs_pkg").start()
    try:
        yield c
    finally:
        c.destroy()


def test_deb_info(deb: Path) -> None:
    version = cargo_version()
    assert deb.name == f"{PACKAGE}_{version.replace('-', '~', 1)}-1_amd64.deb"
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], text=True, capture_output=True, check=True).stdout
    for field, value in (("Package", PACKAGE), ("Version", f"{version.replace('-', '~', 1)}-1"),
                         ("Architecture", "amd64"), ("Depends", "postgresql-15")):
        assert re.search(rf"(?m)^ {field}: {re.escape(value)}$", info), f"{field}: {value}\n{info}"
    for field in ("Maintainer", "Description", "Installed-Size"):
        assert deb_field(deb, field), f"{field} is set"
    assert int(deb_field(deb, "Installed-Size")) > 0


def test_deb_contents(deb: Path) -> None:
    """The library, the control file, the current full script, every upgrade script of sql/ and the
    copyright; nothing else of the extension (no stale script of another version)."""
    version = cargo_version()
    ext_dir, lib_dir = pg_dirs()
    contents = deb_contents(deb)
    upgrades = sorted(p.name for p in (REPO / "sql").glob("mcp_jobs--*--*.sql"))
    assert upgrades
    expected = {f"{lib_dir}/mcp_jobs.so", f"{ext_dir}/mcp_jobs.control", f"{ext_dir}/mcp_jobs--{version}.sql",
                *(f"{ext_dir}/{u}" for u in upgrades)}
    extension = {p for p in contents if p.startswith((f"{ext_dir}/", f"{lib_dir}/")) and not p.endswith("/")}
    assert extension == expected
    doc = f"/usr/share/doc/{PACKAGE}"
    assert f"{doc}/copyright" in contents and f"{doc}/README.md" in contents
    if (REPO / "CHANGELOG.md").exists():
        assert f"{doc}/CHANGELOG.md" in contents
    for path, mode in contents.items():
        assert mode == ("drwxr-xr-x" if path.endswith("/") else "-rw-r--r--"), (path, mode)
    # the packaged control file says this version
    extracted = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    control = subprocess.run(["tar", "-xO", f".{ext_dir}/mcp_jobs.control"], input=extracted, capture_output=True,
                             check=True).stdout.decode()
    assert f"default_version = '{version}'" in control


def _one_job_lifecycle(conn: psycopg.Connection[Any], tag: str) -> None:
    """enqueue_job -> claim_next_job -> complete_job, and the rows each step leaves."""
    job = conn.execute("SELECT mcp_jobs.enqueue_job('pkg', %s, '{\"n\": 1}')", (tag,)).fetchone()[0]  # type: ignore[index]
    assert conn.execute("SELECT status, attempts FROM mcp_jobs.jobs WHERE id = %s", (job,)).fetchone() == ("queued", 0)
    claimed = conn.execute("SELECT id, run_id, payload FROM mcp_jobs.claim_next_job('pkg-worker', ARRAY['pkg'], "
                           "ARRAY[%s])", (tag,)).fetchone()
    assert claimed is not None and claimed[0] == job and claimed[2] == {"n": 1}
    run_id = claimed[1]
    assert conn.execute("SELECT status, worker_id, current_run_id FROM mcp_jobs.jobs WHERE id = %s",
                        (job,)).fetchone() == ("processing", "pkg-worker", run_id)
    done = conn.execute("SELECT mcp_jobs.complete_job(%s, %s, '{\"ok\": true}')", (job, run_id)).fetchone()[0]  # type: ignore[index]
    assert done["status"] == "completed"
    assert conn.execute("SELECT status, attempts, result, finished_at IS NOT NULL FROM mcp_jobs.jobs WHERE id = %s",
                        (job,)).fetchone() == ("completed", 1, {"ok": True}, True)
    assert conn.execute("SELECT id, attempt, worker_id, outcome FROM mcp_jobs.job_runs WHERE job_id = %s",
                        (job,)).fetchall() == [(run_id, 1, "pkg-worker", "completed")]
    assert [r[0] for r in conn.execute("SELECT event_type FROM mcp_jobs.job_events WHERE job_id = %s ORDER BY id",
                                       (job,))] == ["enqueued", "started", "completed"]


def _extversion(conn: psycopg.Connection[Any]) -> str:
    return str(conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'mcp_jobs'").fetchone()[0])  # type: ignore[index]


def _packaged_paths(deb: Path) -> set[Path]:
    return {Path(p) for p in deb_contents(deb) if not p.endswith("/")}


def test_install_create_extension_and_run_a_job(deb: Path, clean: None, pkg_cluster: Cluster) -> None:
    dpkg("-i", str(deb))
    assert dpkg_status() == "install ok installed"
    assert dpkg_version() == deb_field(deb, "Version")
    ext_dir, lib_dir = pg_dirs()
    assert set(extension_files()) == {p for p in _packaged_paths(deb) if p.parent in (ext_dir, lib_dir)}
    with pkg_cluster.connect() as conn:
        conn.execute("CREATE EXTENSION mcp_jobs")
        assert _extversion(conn) == cargo_version()
        _one_job_lifecycle(conn, "fresh")


def _digest(conn: psycopg.Connection[Any], columns: dict[str, list[str]]) -> dict[str, tuple[int, str]]:
    """Row count and an md5 of every row (the given columns) of every table."""
    out = {}
    for t, names in columns.items():
        cols = ", ".join(f'"{c}"' for c in names)
        row = conn.execute(f"SELECT count(*), md5(coalesce(string_agg(r, '|' ORDER BY r), '')) "
                           f"FROM (SELECT ROW({cols})::text AS r FROM mcp_jobs.{t}) s").fetchone()
        assert row is not None
        out[t] = (int(row[0]), str(row[1]))
    return out


def test_upgrade_from_the_previous_deb_keeps_every_row(deb: Path, previous_deb: Path, clean: None,
                                                       pkg_cluster: Cluster) -> None:
    previous = previous_version()
    assert previous in archived_versions()
    dpkg("-i", str(previous_deb))
    assert dpkg_version() == f"{previous}-1"
    ext_dir, _ = pg_dirs()
    assert (ext_dir / f"mcp_jobs--{previous}.sql").is_file()
    assert not (ext_dir / f"mcp_jobs--{cargo_version()}.sql").exists()

    with pkg_cluster.connect() as conn:
        conn.execute("CREATE EXTENSION mcp_jobs")
        assert _extversion(conn) == previous
        ids = populate(conn)  # jobs queued, completed, dead-lettered, cancelled, processing; a metrics row
        old_columns = table_columns(conn)
        before = _digest(conn, old_columns)
        assert all(before[t][0] > 0 for t in before if t not in ("queues", "schedules")), before

    dpkg("-i", str(deb))  # the package upgrade
    assert dpkg_version() == deb_field(deb, "Version")
    assert set(extension_files()) == {p for p in _packaged_paths(deb) if p.parent in pg_dirs()}, \
        "after the upgrade the system holds exactly the new package's files"

    with pkg_cluster.connect() as conn:
        conn.execute("ALTER EXTENSION mcp_jobs UPDATE")
        assert _extversion(conn) == cargo_version()
        new_columns = table_columns(conn)
        # the tables the previous version had (a newer version may add tables)
        mapped = {t: [RENAMED[t].get(c, c) for c in old_columns[t]] for t in old_columns}
        for t in old_columns:
            missing = set(mapped[t]) - set(new_columns[t])
            assert not missing, f"columns of {t} gone after the upgrade (renamed? add them to RENAMED): {missing}"
        assert _digest(conn, mapped) == before, "every row of every table is kept by the upgrade"

        # the job that was processing before the upgrade completes, the queued one is claimed
        done = conn.execute("SELECT mcp_jobs.complete_job(%s, %s)", (ids["processing"], ids["run"])).fetchone()
        assert done is not None and done[0]["status"] == "completed"
        claimed = conn.execute("SELECT id FROM mcp_jobs.claim_next_job('w2', ARRAY['up'], ARRAY['queued'])").fetchone()
        assert claimed is not None and claimed[0] == ids["queued"]
        _one_job_lifecycle(conn, "after-upgrade")


def test_dpkg_r_removes_every_file(deb: Path, clean: None) -> None:
    dpkg("-i", str(deb))
    listed = dpkg_list_files()
    files = [p for p in listed if not Path(p).is_dir()]
    assert {Path(p) for p in files} == _packaged_paths(deb), "dpkg -L lists the package's files"
    dirs = [p for p in listed if Path(p).is_dir()]
    dpkg("-r", PACKAGE)
    assert dpkg_status() in ("", "deinstall ok not-installed", "unknown ok not-installed"), dpkg_status()
    left = [p for p in files if os.path.lexists(p)]
    assert not left, f"dpkg -r left files behind: {left}"
    for d in dirs:
        if os.path.isdir(d) and Path(d).resolve() != Path("/"):
            owners = subprocess.run(["dpkg-query", "-S", d], check=False, text=True, capture_output=True).stdout
            assert owners.strip(), f"{d} is left behind and owned by no other package"
    assert not os.path.exists(f"/usr/share/doc/{PACKAGE}")
    assert not extension_files()
