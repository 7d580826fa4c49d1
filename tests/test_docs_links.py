"""Every relative link in the project's Markdown documents resolves: the file or directory exists
and, for a `#fragment`, the target Markdown file has a heading with that anchor (GitHub's rules).
Links to other sites (`https:`, `mailto:`) are not checked. Needs no database.

    python3 -m pytest -q tests/test_docs_links.py
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The documents checked. bench/BENCHMARKS.tmpl.md is rendered into BENCHMARKS.md at the root, so its
# links are relative to the root (RENDERED_AT).
PATTERNS = ["README.md", "CHANGELOG.md", "BENCHMARKS.md", "docs/**/*.md", "bench/**/*.md", "sql/archive/README.md"]
SKIP_DIRS = {"node_modules", "out"}
RENDERED_AT = {"bench/BENCHMARKS.tmpl.md": ""}

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+).*?\1")
# [text](target) and ![alt](target); the target may be followed by a "title"
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def documents() -> list[Path]:
    found: set[Path] = set()
    for pattern in PATTERNS:
        for path in ROOT.glob(pattern):
            rel = path.relative_to(ROOT)
            if path.is_file() and not SKIP_DIRS & set(rel.parts[:-1]):
                found.add(path)
    return sorted(found)


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code spans blanked."""
    out: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, INLINE_CODE.sub("", line)))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup removed, lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        out += [(number, m.group(1)) for m in INLINE_LINK.finditer(line)]
        m = REFERENCE_DEF.match(line)
        if m:
            out.append((number, m.group(1)))
    return out


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    rel = path.relative_to(root).as_posix()
    base = root / RENDERED_AT[rel] if rel in RENDERED_AT else path.parent
    problems: list[str] = []
    for number, target in links(path):
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue
        file_part, _, fragment = target.partition("#")
        dest = (base / unquote(file_part)).resolve() if file_part else path
        where = f"{rel}:{number}: {target}"
        if root not in dest.parents and dest != root:
            problems.append(f"{where} points outside the repository")
        elif not dest.exists():
            problems.append(f"{where} does not exist")
        elif fragment and dest.suffix == ".md" and unquote(fragment).lower() not in anchors(dest):
            problems.append(f"{where} has no heading #{fragment}")
    return problems


def test_the_documents_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in documents()}
    assert {"README.md", "CHANGELOG.md", "BENCHMARKS.md", "docs/api.md", "sql/archive/README.md"} <= names


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == []


def test_the_checker_finds_broken_links(tmp_path: Path) -> None:
    """The checker itself, on a small repository of its own: a missing file, a missing heading and a
    link outside the repository are reported; a good link, a link in code and an external link are not."""
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text("# Readme\n", encoding="utf-8")
    (root / "docs" / "api.md").write_text("# API\n\n## enqueue_job\n", encoding="utf-8")
    doc = root / "docs" / "guide.md"
    doc.write_text(
        "# A heading\n\n"
        "[ok](#a-heading) [ok](api.md#enqueue_job) [ok](../README.md) [ext](https://example.com/x)\n"
        "`[in code](nowhere.md)`\n\n```\n[fenced](nowhere.md)\n```\n"
        "[missing](nowhere.md) [no anchor](api.md#no-such-heading) [outside](../../etc/passwd)\n",
        encoding="utf-8")
    found = broken_links(doc, root)
    assert [p.split(": ", 1)[1] for p in found] == [
        "nowhere.md does not exist",
        "api.md#no-such-heading has no heading #no-such-heading",
        "../../etc/passwd points outside the repository",
    ], found
