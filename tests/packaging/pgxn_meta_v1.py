"""The rules of the PGXN Meta Spec 1.0.0 (https://pgxn.org/spec/) as plain Python checks.

`errors(meta)` returns one message per broken rule (an empty list for a valid META.json). The same
rules, as JSON Schema, are in the pgxn_meta crate's schema/v1/; tests/packaging also runs that
crate's validator when its binary is installed.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

# SemVer 2.0.0 (the spec's "Version" type)
SEMVER = r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)" \
         r"(?:-(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?" \
         r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?"
VERSION_RE = re.compile(rf"^{SEMVER}$")
# "Version Range": a version (or 0) with an optional operator, several joined by commas
RANGE_PART = rf"(?:(?:[=!]=|[<>]=?)\s*)?(?:{SEMVER})"
RANGE_RE = re.compile(rf"^(?:{RANGE_PART}|0)(?:,\s*{RANGE_PART})*$")
# "Term": at least two characters, none of them a slash, backslash, white space or control character
TERM_RE = re.compile(r"^[^/\\\s\x00-\x1f\x7f]{2,}$")
TAG_RE = re.compile(r"^[^/\\\x00-\x1f\x7f]{2,255}$")
CUSTOM_RE = re.compile(r"^[xX]_.")
LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd", "gfdl_1_2",
    "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1",
    "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source", "restricted",
    "unrestricted", "unknown",
}
REQUIRED = ("name", "version", "abstract", "maintainer", "license", "provides", "meta-spec")
OPTIONAL = ("description", "generated_by", "tags", "no_index", "prereqs", "release_status", "resources")
PHASES = ("configure", "build", "test", "runtime", "develop")
RELATIONSHIPS = ("requires", "recommends", "suggests", "conflicts")
META_SPEC_URLS = ("https://pgxn.org/meta/spec.txt", "http://pgxn.org/meta/spec.txt")


def _nonempty_str(v: Any) -> bool:
    return isinstance(v, str) and v != ""


def _is_uri(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    u = urlparse(v)
    return bool(u.scheme) and bool(u.netloc or u.path)


def _is_path(v: Any) -> bool:
    """A relative path in Unix form: two characters or more, no leading slash, no backslash."""
    return isinstance(v, str) and len(v) >= 2 and not v.startswith("/") and "\\" not in v \
        and ".." not in v.split("/")


def _unknown_keys(obj: dict[str, Any], allowed: tuple[str, ...], where: str) -> list[str]:
    return [f"{where}: unknown key {k!r} (custom keys start with x_)" for k in obj
            if k not in allowed and not CUSTOM_RE.match(k)]


def _unique_nonempty_list(v: Any) -> bool:
    return isinstance(v, list) and len(v) >= 1 and len({repr(x) for x in v}) == len(v)


def _license_errors(v: Any) -> list[str]:
    if isinstance(v, str):
        return [] if v in LICENSES else [f"license: {v!r} is not a license shortcut of the spec"]
    if isinstance(v, list):
        if not _unique_nonempty_list(v):
            return ["license: a list of licenses must be non-empty and without duplicates"]
        return [f"license: {x!r} is not a license shortcut of the spec" for x in v if x not in LICENSES]
    if isinstance(v, dict):
        if not v:
            return ["license: an object of licenses needs at least one entry"]
        return [f"license: {k!r} must map to the URI of the license" for k, u in v.items() if not _is_uri(u)]
    return ["license: must be a shortcut, a list of shortcuts or an object of name -> URI"]


def _provides_errors(v: Any) -> list[str]:
    if not isinstance(v, dict) or not v:
        return ["provides: must be an object naming at least one extension"]
    out: list[str] = []
    for ext, e in v.items():
        where = f"provides.{ext}"
        if not TERM_RE.match(ext):
            out.append(f"{where}: the extension name is not a Term")
        if not isinstance(e, dict):
            out.append(f"{where}: must be an object")
            continue
        for key in ("file", "version"):
            if key not in e:
                out.append(f"{where}: missing required key {key!r}")
        if "file" in e and not _is_path(e["file"]):
            out.append(f"{where}.file: not a relative Unix path")
        if "docfile" in e and not _is_path(e["docfile"]):
            out.append(f"{where}.docfile: not a relative Unix path")
        if "version" in e and not (isinstance(e["version"], str) and VERSION_RE.match(e["version"])):
            out.append(f"{where}.version: {e['version']!r} is not a semantic version")
        if "abstract" in e and not _nonempty_str(e["abstract"]):
            out.append(f"{where}.abstract: must be a non-empty string")
        out += _unknown_keys(e, ("file", "version", "abstract", "docfile", "docpath"), where)
    return out


def _prereqs_errors(v: Any) -> list[str]:
    if not isinstance(v, dict):
        return ["prereqs: must be an object of phases"]
    out = _unknown_keys(v, PHASES, "prereqs")
    if not any(p in v for p in PHASES):
        out.append("prereqs: names no phase")
    for phase in PHASES:
        if phase not in v:
            continue
        rels = v[phase]
        if not isinstance(rels, dict) or not any(r in rels for r in RELATIONSHIPS):
            out.append(f"prereqs.{phase}: must be an object with requires, recommends, suggests or conflicts")
            continue
        out += _unknown_keys(rels, RELATIONSHIPS, f"prereqs.{phase}")
        for rel in RELATIONSHIPS:
            if rel not in rels:
                continue
            reqs = rels[rel]
            if not isinstance(reqs, dict) or not reqs:
                out.append(f"prereqs.{phase}.{rel}: must be a non-empty object of name -> version range")
                continue
            for name, rng in reqs.items():
                if not TERM_RE.match(name):
                    out.append(f"prereqs.{phase}.{rel}: {name!r} is not a Term")
                if not (rng == 0 and not isinstance(rng, bool)) and \
                        not (isinstance(rng, str) and RANGE_RE.match(rng)):
                    out.append(f"prereqs.{phase}.{rel}.{name}: {rng!r} is not a version range")
    return out


def _resources_errors(v: Any) -> list[str]:
    if not isinstance(v, dict):
        return ["resources: must be an object"]
    out = _unknown_keys(v, ("homepage", "bugtracker", "repository"), "resources")
    if not any(k in v for k in ("homepage", "bugtracker", "repository")):
        out.append("resources: needs homepage, bugtracker or repository (omit resources otherwise)")
    if "homepage" in v and not _is_uri(v["homepage"]):
        out.append("resources.homepage: not a URI")
    if "bugtracker" in v:
        b = v["bugtracker"]
        if not isinstance(b, dict) or not ("web" in b or "mailto" in b):
            out.append("resources.bugtracker: needs web or mailto")
        else:
            out += _unknown_keys(b, ("web", "mailto"), "resources.bugtracker")
            if "web" in b and not _is_uri(b["web"]):
                out.append("resources.bugtracker.web: not a URI")
            if "mailto" in b and not (isinstance(b["mailto"], str) and re.match(r"^[^@\s]+@[^@\s]+$", b["mailto"])):
                out.append("resources.bugtracker.mailto: not an email address")
    if "repository" in v:
        r = v["repository"]
        if not isinstance(r, dict) or not (("url" in r and "type" in r) or "web" in r):
            out.append("resources.repository: needs url and type, or web")
        else:
            out += _unknown_keys(r, ("url", "web", "type"), "resources.repository")
            for k in ("url", "web"):
                if k in r and not _is_uri(r[k]):
                    out.append(f"resources.repository.{k}: not a URI")
            if "type" in r and not (isinstance(r["type"], str) and re.match(r"^[a-z]+$", r["type"])):
                out.append("resources.repository.type: must be a lower-case word such as git")
    return out


def errors(meta: Any) -> list[str]:
    """Every rule of PGXN Meta Spec 1.0.0 that `meta` (a parsed META.json) breaks."""
    if not isinstance(meta, dict):
        return ["META.json must hold a JSON object"]
    out = [f"missing required key {k!r}" for k in REQUIRED if k not in meta]
    out += _unknown_keys(meta, REQUIRED + OPTIONAL, "META.json")
    if "name" in meta and not (isinstance(meta["name"], str) and TERM_RE.match(meta["name"])):
        out.append(f"name: {meta['name']!r} is not a Term (2+ characters, no slash, backslash or space)")
    if "version" in meta and not (isinstance(meta["version"], str) and VERSION_RE.match(meta["version"])):
        out.append(f"version: {meta['version']!r} is not a semantic version")
    for k in ("abstract", "description", "generated_by"):
        if k in meta and not _nonempty_str(meta[k]):
            out.append(f"{k}: must be a non-empty string")
    if "maintainer" in meta:
        m = meta["maintainer"]
        if not (_nonempty_str(m) or (_unique_nonempty_list(m) and all(_nonempty_str(x) for x in m))):
            out.append("maintainer: must be a non-empty string or a list of unique non-empty strings")
    if "license" in meta:
        out += _license_errors(meta["license"])
    if "provides" in meta:
        out += _provides_errors(meta["provides"])
    if "meta-spec" in meta:
        ms = meta["meta-spec"]
        if not isinstance(ms, dict) or not (isinstance(ms.get("version"), str)
                                            and re.match(r"^1\.0\.\d+$", ms["version"])):
            out.append("meta-spec: needs version 1.0.x")
        else:
            out += _unknown_keys(ms, ("version", "url"), "meta-spec")
            if "url" in ms and ms["url"] not in META_SPEC_URLS:
                out.append(f"meta-spec.url: must be one of {META_SPEC_URLS}")
    if "tags" in meta:
        t = meta["tags"]
        if not _unique_nonempty_list(t) or not all(isinstance(x, str) and TAG_RE.match(x) for x in t):
            out.append("tags: must be a non-empty list of unique tags of 2-255 characters without slashes")
    if "no_index" in meta:
        n = meta["no_index"]
        if not isinstance(n, dict):
            out.append("no_index: must be an object")
        else:
            out += _unknown_keys(n, ("file", "directory"), "no_index")
            for k in ("file", "directory"):
                if k in n and not (isinstance(n[k], list) and all(_is_path(x) for x in n[k])):
                    out.append(f"no_index.{k}: must be a list of relative Unix paths")
    if "prereqs" in meta:
        out += _prereqs_errors(meta["prereqs"])
    if "release_status" in meta and meta["release_status"] not in ("stable", "testing", "unstable"):
        out.append("release_status: must be stable, testing or unstable")
    if "resources" in meta:
        out += _resources_errors(meta["resources"])
    return out
