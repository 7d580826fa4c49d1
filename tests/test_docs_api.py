"""docs/api.md documents the installed extension as it is.

Against the session cluster (tests/conftest.py), with the extension created:

- every function of the extension (schema mcp_jobs, and the wrappers in schema public) has a
  `## name` section in docs/api.md, and every section titled like a function names one that exists;
- the signature a section shows (its first `mcp_jobs.name(...)` in a code block) has the real
  argument names, types and defaults, in order, and the real result (the column names of a
  `RETURNS TABLE`);
- each public wrapper has the arguments of the function it wraps (api.md says so);
- every function has a COMMENT, and what a COMMENT states that can be checked mechanically is in
  the function's section too: the SQLSTATEs it names, its numeric ranges (`1..1000` written
  `1-1000`), the mcp_jobs.* settings it names, and the HTTP statuses a wrapper's COMMENT names;
- every mcp_jobs.* setting (pg_settings) is in the configuration table of docs/operations.md with
  its real default and context.

    PG_CONFIG=... python3 -m pytest -q tests/test_docs_api.py
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api.md"
OPERATIONS = ROOT / "docs" / "operations.md"

FUNCTION_HEADING = re.compile(r"^[a-z_][a-z0-9_]*$")
FENCE = re.compile(r"^\s*```")


@dataclass(frozen=True)
class Function:
    schema: str
    name: str
    arguments: str  # pg_get_function_arguments
    result: str  # pg_get_function_result
    comment: str | None


@dataclass(frozen=True)
class Arg:
    name: str
    type: str
    default: str | None


@pytest.fixture(scope="module")
def conn(cluster: Any) -> Iterator[psycopg.Connection[Any]]:
    c: psycopg.Connection[Any] = cluster.connect()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def functions(conn: psycopg.Connection[Any]) -> list[Function]:
    rows = conn.execute(
        """SELECT n.nspname, p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                  obj_description(p.oid, 'pg_proc')
             FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
             JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mcp_jobs'
            ORDER BY n.nspname, p.proname""").fetchall()
    found = [Function(*r) for r in rows]
    assert {f.schema for f in found} == {"mcp_jobs", "public"}, "functions in both schemas"
    return found


def sections() -> dict[str, str]:
    """`## name` sections of api.md whose title is a function name -> their text."""
    out: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    fenced = False
    for line in API.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            if name is not None:
                out[name] = "\n".join(lines)
            title = line[3:].strip().strip("`")
            name = title if FUNCTION_HEADING.match(title) else None
            assert name is None or name not in out, f"two sections ## {name}"
            lines = []
        elif name is not None:
            lines.append(line)
    if name is not None:
        out[name] = "\n".join(lines)
    return out


def code_blocks(section: str) -> list[str]:
    """The texts of the section's fenced code blocks."""
    blocks: list[str] = []
    cur: list[str] | None = None
    for line in section.splitlines():
        if FENCE.match(line):
            if cur is None:
                cur = []
            else:
                blocks.append("\n".join(cur))
                cur = None
            continue
        if cur is not None:
            cur.append(line)
    return blocks


def balanced(text: str, i: int) -> int:
    """The index just after the parenthesis that closes the one before text[i]."""
    depth = 1
    while depth:
        assert i < len(text), "unbalanced parentheses"
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    return i


def split_top(text: str) -> list[str]:
    """Split on commas outside parentheses and quotes."""
    parts: list[str] = []
    cur: list[str] = []
    depth, quoted = 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return [p.strip() for p in parts]


TYPE_ALIASES = {"timestamptz": "timestamp with time zone", "int": "integer", "int4": "integer",
                "int8": "bigint", "bool": "boolean", "float8": "double precision"}


def norm_type(t: str) -> str:
    t = " ".join(t.lower().split())
    array = t.endswith("[]")
    base = t[:-2] if array else t
    base = TYPE_ALIASES.get(base, base)
    return base + ("[]" if array else "")


def norm_default(d: str | None) -> str | None:
    """A default without its casts: `NULL::text[]` and `NULL` are the same default."""
    if d is None:
        return None
    return re.sub(r"::[a-z][a-z ]*(\[\])?", "", d.strip()).strip()


def parse_args(text: str) -> list[Arg]:
    args = []
    for part in split_top(text):
        m = re.match(r"^(\w+)\s+(.+?)(?:\s+DEFAULT\s+(.+))?$", part, re.DOTALL | re.IGNORECASE)
        assert m, f"cannot read the argument {part!r}"
        args.append(Arg(m.group(1), norm_type(m.group(2)), norm_default(m.group(3))))
    return args


def documented_call(section: str, name: str) -> tuple[str, str] | None:
    """(argument list, result) of the first `mcp_jobs.name(...)` in the section's code blocks."""
    for text in code_blocks(section):
        start = text.find(f"mcp_jobs.{name}(")
        if start < 0:
            continue
        i = start + len(f"mcp_jobs.{name}(")
        j = balanced(text, i)
        args, rest = text[i:j - 1], text[j:].lstrip()
        if not rest.upper().startswith("RETURNS"):
            return args, ""
        rest = rest[len("RETURNS"):].lstrip()
        if rest.upper().startswith("TABLE"):
            k = rest.index("(") + 1
            return args, rest[:balanced(rest, k)]
        return args, rest.split("\n")[0].split("--")[0].strip()
    return None


def norm_result(r: str) -> str:
    r = " ".join(r.split())
    m = re.match(r"^TABLE\s*\((.*)\)$", r, re.DOTALL)
    if m:
        return "TABLE(" + ", ".join(f"{a.name} {a.type}" for a in parse_args(m.group(1))) + ")"
    if r.upper().startswith("SETOF "):
        return "SETOF " + norm_type(r[6:])
    return norm_type(r)


def by_name(functions: list[Function]) -> dict[str, list[Function]]:
    out: dict[str, list[Function]] = {}
    for f in functions:
        out.setdefault(f.name, []).append(f)
    return out


def test_every_function_has_a_section_and_every_section_a_function(functions: list[Function]) -> None:
    secs = sections()
    names = set(by_name(functions))
    missing = sorted(names - set(secs))
    assert not missing, f"functions without a ## section in docs/api.md: {missing}"
    unknown = sorted(set(secs) - names)
    assert not unknown, f"docs/api.md has sections for functions that do not exist: {unknown}"


def test_one_signature_per_name_and_schema(functions: list[Function]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for f in functions:
        seen[(f.schema, f.name)] = seen.get((f.schema, f.name), 0) + 1
    assert not [k for k, n in seen.items() if n > 1], "an overload (PostgREST answers 300 on overloads)"


def test_documented_signatures_are_the_real_ones(functions: list[Function]) -> None:
    secs = sections()
    problems = []
    for f in functions:
        if f.schema != "mcp_jobs" or f.name not in secs:
            continue
        doc = documented_call(secs[f.name], f.name)
        if doc is None:
            problems.append(f"{f.name}: no mcp_jobs.{f.name}(...) signature in its section")
            continue
        doc_args, doc_result = doc
        real, shown = parse_args(f.arguments), parse_args(doc_args)
        if [a.name for a in real] != [a.name for a in shown]:
            problems.append(f"{f.name}: arguments {[a.name for a in shown]}, really {[a.name for a in real]}")
        elif real != shown:
            problems.append(f"{f.name}: types or defaults differ:\n  doc  {shown}\n  real {real}")
        if norm_result(doc_result) != norm_result(f.result):
            problems.append(f"{f.name}: RETURNS {doc_result!r}, really {f.result!r}")
    assert not problems, "\n".join(problems)


def test_wrappers_take_the_arguments_of_their_functions(functions: list[Function]) -> None:
    inner = {f.name: f for f in functions if f.schema == "mcp_jobs"}
    wrappers = [f for f in functions if f.schema == "public"]
    assert wrappers
    for w in wrappers:
        assert w.name in inner, f"public.{w.name} wraps no mcp_jobs function of that name"
        assert parse_args(w.arguments) == parse_args(inner[w.name].arguments), w.name
        assert norm_result(w.result) == norm_result(inner[w.name].result), w.name


# SQLSTATEs as the COMMENTs name them (classes the extension raises), not other five-digit numbers
SQLSTATE = re.compile(r"\b(?:22[0-9A-Z]{3}|23[0-9]{3}|42[0-9A-Z]{3}|5[3457][0-9A-Z]{3}|P000[0-9]|40001)\b")
RANGE = re.compile(r"\b(\d+)\.\.(\d+)\b")
SETTING = re.compile(r"\bmcp_jobs\.([a-z_]+\*?)")
HTTP = re.compile(r"\b(4\d\d)\b")


def test_every_function_has_a_comment(functions: list[Function]) -> None:
    bare = [f"{f.schema}.{f.name}" for f in functions if not (f.comment or "").strip()]
    assert not bare, f"functions without a COMMENT: {bare}"


def test_what_a_comment_states_is_in_the_section(conn: psycopg.Connection[Any],
                                                 functions: list[Function]) -> None:
    conn.execute("LOAD 'mcp_jobs'")  # its settings exist once the library is loaded
    gucs = {r[0] for r in conn.execute("SELECT name FROM pg_settings WHERE name LIKE 'mcp\\_jobs.%'")}
    assert len(gucs) >= 10, gucs
    secs = sections()
    problems = []
    for f in functions:
        text = secs.get(f.name, "")
        comment = f.comment or ""
        for code_ in set(SQLSTATE.findall(comment)):
            if f"`{code_}`" not in text:
                problems.append(f"{f.schema}.{f.name}: the COMMENT names {code_}, its section does not")
        for lo, hi in set(RANGE.findall(comment)):
            if f"{lo}-{hi}" not in text and f"{lo}..{hi}" not in text:
                problems.append(f"{f.schema}.{f.name}: the COMMENT says {lo}..{hi}, its section does not")
        for s in set(SETTING.findall(comment)):
            name = "mcp_jobs." + s
            is_setting = name in gucs or (s.endswith("*") and any(g.startswith(name[:-1]) for g in gucs))
            if is_setting and name not in text:
                problems.append(f"{f.schema}.{f.name}: the COMMENT names {name}, its section does not")
        if f.schema == "public":
            for status in set(HTTP.findall(comment)):
                if status not in text:
                    problems.append(f"public.{f.name}: the COMMENT names HTTP {status}, its section does not")
    assert not problems, "\n".join(problems)


def test_operations_lists_every_setting_with_its_default_and_context(conn: psycopg.Connection[Any]) -> None:
    """docs/operations.md#configuration: one row per setting, `| `name` | `default` | context | ...`."""
    conn.execute("LOAD 'mcp_jobs'")
    settings = conn.execute(
        "SELECT name, boot_val, unit, context FROM pg_settings WHERE name LIKE 'mcp\\_jobs.%'").fetchall()
    assert len(settings) >= 10, settings
    rows = {}
    for line in OPERATIONS.read_text().splitlines():
        m = re.match(r"^\| `(mcp_jobs\.[a-z_]+)` \| `([^`]*)` \| (\w+) \|", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    problems = []
    for name, boot, unit, context in settings:
        if name not in rows:
            problems.append(f"{name} has no row")
            continue
        shown, shown_context = rows[name]
        if unit:
            if to_unit(shown, unit) != int(boot):
                problems.append(f"{name}: documented default {shown!r} is {to_unit(shown, unit)} {unit}, "
                                f"really {boot} {unit}")
        elif shown != boot:
            problems.append(f"{name}: documented default {shown!r}, really {boot!r}")
        if shown_context != context:
            problems.append(f"{name}: documented context {shown_context}, really {context}")
    unknown = sorted(set(rows) - {s[0] for s in settings})
    if unknown:
        problems.append(f"rows for settings that do not exist: {unknown}")
    assert not problems, "\n".join(problems)


UNITS = {"B": {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3},
         "ms": {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000},
         "s": {"s": 1, "min": 60, "h": 3600, "d": 86_400}}


def to_unit(text: str, unit: str) -> int:
    m = re.match(r"^(\d+)\s*([A-Za-z]*)$", text.strip())
    assert m, f"cannot read {text!r}"
    n, u = int(m.group(1)), m.group(2) or unit
    factors = UNITS[unit]
    assert u in factors, f"unit {u!r} of {text!r} for a setting in {unit}"
    base = factors[u]
    return n * base
