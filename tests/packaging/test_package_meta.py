"""META.json (the PGXN release) and the one-place version: META.json follows PGXN Meta Spec 1.0.0,
its versions, the Debian version and the control file all come from Cargo.toml, and
`scripts/package.sh --pgxn` builds the zip PGXN expects."""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pgxn_meta_v1
import pytest
from pkgtools import REPO, cargo_version, need, package_sh

META_PATH = REPO / "META.json"


def load_meta() -> dict[str, Any]:
    meta = json.loads(META_PATH.read_text())
    assert isinstance(meta, dict)
    return meta


def pgxn_meta_binary() -> str | None:
    """The validator of the pgxn_meta crate (`cargo install pgxn_meta --version 0.7.0 --locked`)."""
    return shutil.which("pgxn_meta") or next(
        (str(p) for p in [Path.home() / ".cargo" / "bin" / "pgxn_meta"] if p.is_file()), None)


def pgxn_meta_accepts(meta: dict[str, Any], binary: str) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "META.json"
        path.write_text(json.dumps(meta))
        p = subprocess.run([binary, str(path)], check=False, text=True, capture_output=True)
        return p.returncode == 0, (p.stdout + p.stderr).strip()


def test_meta_json_follows_pgxn_meta_spec() -> None:
    assert pgxn_meta_v1.errors(load_meta()) == []


def test_meta_json_passes_the_pgxn_meta_validator() -> None:
    binary = pgxn_meta_binary()
    need(binary is not None, "pgxn_meta is not installed (cargo install pgxn_meta --version 0.7.0 --locked)")
    assert binary
    ok, out = pgxn_meta_accepts(load_meta(), binary)
    assert ok, out


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(m: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        for p in parents:
            m = m[p]
        m[last] = value
    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(m: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        for p in parents:
            m = m[p]
        del m[last]
    return mutate


BROKEN: dict[str, Callable[[dict[str, Any]], None]] = {
    "no name": _drop("name"),
    "no version": _drop("version"),
    "no abstract": _drop("abstract"),
    "no maintainer": _drop("maintainer"),
    "no license": _drop("license"),
    "no provides": _drop("provides"),
    "no meta-spec": _drop("meta-spec"),
    "two-part version": _set("version", "0.6"),
    "v-prefixed version": _set("version", "v0.6.1"),
    "name with a space": _set("name", "mcp jobs"),
    "license in capitals": _set("license", "MIT"),
    "unknown license": _set("license", "wtfpl"),
    "license URL not a URI": _set("license", {"MIT": "not a uri"}),
    "empty maintainer": _set("maintainer", ""),
    "empty provides": _set("provides", {}),
    "provides without version": _drop("provides/mcp_jobs/version"),
    "provides without file": _drop("provides/mcp_jobs/file"),
    "provides with a bad version": _set("provides/mcp_jobs/version", "0.6.1.0"),
    "provides with an absolute file": _set("provides/mcp_jobs/file", "/src/lib.rs"),
    "provides with an unknown key": _set("provides/mcp_jobs/files", "src/lib.rs"),
    "meta-spec 2.0.0": _set("meta-spec/version", "2.0.0"),
    "meta-spec with another url": _set("meta-spec/url", "https://example.org/spec"),
    "empty resources": _set("resources", {}),
    "unknown top-level key": _set("homepage", "https://example.org"),
    "prereqs with an unknown phase": _set("prereqs/install", {"requires": {"PostgreSQL": "15.0.0"}}),
    "prereqs with a bad range": _set("prereqs/runtime/requires/PostgreSQL", "15"),
    "prereqs with an empty phase": _set("prereqs/runtime", {}),
    "unknown release status": _set("release_status", "beta"),
    "empty tags": _set("tags", []),
    "duplicate tags": _set("tags", ["queue", "queue"]),
    "tag with a slash": _set("tags", ["a/b"]),
}

# The spec says "a relative file path ... with unix conventions"; pgxn_meta 0.7.0 accepts an absolute
# one in a v1 META.json. Our checks follow the spec's words there.
STRICTER_THAN_PGXN_META = {"provides with an absolute file"}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_checks_reject_a_broken_meta_json(case: str) -> None:
    """Each broken variant of META.json fails our checks, and the pgxn_meta validator (when
    installed) rejects it too (except STRICTER_THAN_PGXN_META)."""
    meta = copy.deepcopy(load_meta())
    BROKEN[case](meta)
    assert pgxn_meta_v1.errors(meta), f"{case}: accepted"
    binary = pgxn_meta_binary()
    if binary and case not in STRICTER_THAN_PGXN_META:
        ok, _ = pgxn_meta_accepts(meta, binary)
        assert not ok, f"{case}: our checks reject it, pgxn_meta accepts it"


def test_versions_come_from_cargo_toml() -> None:
    """Cargo.toml's version is the only one written by hand: the control file takes it from pgrx,
    package.sh derives the Debian version from it, and META.json must repeat it. This fails when
    Cargo.toml is bumped and META.json is not."""
    version = cargo_version()
    meta = load_meta()
    assert meta["version"] == version, f"META.json version {meta['version']} != Cargo.toml version {version}"
    assert meta["provides"]["mcp_jobs"]["version"] == version, \
        f"META.json provides.mcp_jobs.version {meta['provides']['mcp_jobs']['version']} != Cargo.toml {version}"
    control = (REPO / "mcp_jobs.control").read_text()
    assert re.search(r"(?m)^default_version = '@CARGO_VERSION@'$", control), \
        "mcp_jobs.control takes default_version from Cargo.toml (@CARGO_VERSION@)"
    assert package_sh("--deb-version") == version.replace("-", "~", 1) + "-1"


def test_license_and_maintainer_agree() -> None:
    import tomllib
    with open(REPO / "Cargo.toml", "rb") as f:
        cargo = tomllib.load(f)["package"]
    meta = load_meta()
    assert cargo["license"] == "MIT" and meta["license"] == "mit"
    assert "Permission is hereby granted, free of charge" in (REPO / "packaging/debian/copyright").read_text()
    control_in = (REPO / "packaging/debian/control.in").read_text()
    assert re.search(r"(?m)^Maintainer: (.+)$", control_in).group(1) == meta["maintainer"]  # type: ignore[union-attr]


def test_provided_files_exist() -> None:
    ext = load_meta()["provides"]["mcp_jobs"]
    for key in ("file", "docfile"):
        assert (REPO / ext[key]).is_file(), f"provides.mcp_jobs.{key} = {ext[key]} is not a file of the repository"


def _head_file(path: str) -> str:
    return subprocess.run(["git", "show", f"HEAD:{path}"], cwd=REPO, text=True, capture_output=True,
                          check=True).stdout


def test_pgxn_zip(tmp_path: Path) -> None:
    need(shutil.which("git") is not None and (REPO / ".git").exists(), "not a git checkout")
    head_meta = json.loads(_head_file("META.json"))
    version = head_meta["version"]
    zip_path = Path(package_sh("--pgxn", "--out-dir", str(tmp_path)))
    assert zip_path == tmp_path / f"mcp_jobs-{version}.zip"
    top = f"mcp_jobs-{version}/"
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
        assert names and all(n.startswith(top) for n in names), "one top directory mcp_jobs-<version>/"
        assert json.loads(z.read(top + "META.json")) == head_meta
        ext = head_meta["provides"]["mcp_jobs"]
        for f in (ext["file"], ext["docfile"], "Cargo.toml", "Cargo.lock", "mcp_jobs.control"):
            assert top + f in names, f
        assert z.read(top + "Cargo.toml").decode() == _head_file("Cargo.toml")
        head_files = subprocess.run(["git", "ls-tree", "-r", "--name-only", "HEAD"], cwd=REPO, text=True,
                                    capture_output=True, check=True).stdout.split("\n")
        assert sorted(n.removeprefix(top) for n in names if not n.endswith("/")) == sorted(f for f in head_files if f), \
            "the zip holds exactly the files of HEAD"
    first = zip_path.read_bytes()
    assert Path(package_sh("--pgxn", "--out-dir", str(tmp_path))) == zip_path
    assert zip_path.read_bytes() == first, "building the zip again gives the same zip"
