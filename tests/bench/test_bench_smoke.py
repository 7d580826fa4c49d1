"""The benchmark harnesses still work: the `--smoke` variants of bench/run.py (throughput), bench/wake.py
(wake-up latency, idle CPU) and bench/soak.py (soak) exit 0 and print every table, and bench/report.py
renders a BENCHMARKS page from the documents they wrote. No timing is asserted; smoke runs write
nothing to bench/results, BENCHMARKS.md or bench/throughput.png.

The three smoke runs start together (each has its own clusters on free ports) so that the module takes
about as long as the slowest of them. wake.py needs PostgREST ($POSTGREST_BIN, scripts/setup.sh) and
nginx; mcp_jobs must be installed into $PG_CONFIG's PostgreSQL.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "bench"
TIMEOUT = 300


def _state() -> dict[str, Any]:
    """What a smoke run must not change."""
    results = BENCH / "results"
    return {
        "results": sorted(p.name for p in results.iterdir()),
        "benchmarks": (ROOT / "BENCHMARKS.md").stat().st_mtime_ns,
        "chart": (BENCH / "throughput.png").stat().st_mtime_ns if (BENCH / "throughput.png").exists() else None,
    }


@pytest.fixture(scope="module")
def smokes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    before = _state()
    out = {name: tmp_path_factory.mktemp(name) for name in ("run", "wake", "soak")}
    procs = {name: subprocess.Popen([sys.executable, str(BENCH / f"{name}.py"), "--smoke", "--out", str(out[name])],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
             for name in out}
    done = {}
    try:
        for name, p in procs.items():
            stdout, stderr = p.communicate(timeout=TIMEOUT)
            done[name] = (p.returncode, stdout, stderr)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    return {"out": out, "done": done, "before": before, "after": _state()}


def _ok(smokes: dict[str, Any], name: str) -> str:
    rc, stdout, stderr = smokes["done"][name]
    assert rc == 0, f"bench/{name}.py --smoke failed ({rc}):\n{stdout[-4000:]}\n{stderr[-4000:]}"
    return str(stdout)


def test_run_smoke(smokes: dict[str, Any]) -> None:
    out = _ok(smokes, "run")
    for sync in ("off", "on"):
        assert f"### Lifecycle, synchronous_commit = {sync}" in out
    for row in ("| mcp_jobs (enqueue_jobs x100) |", "| PL/pgSQL reference (batched) |", "| pgmq (complete+claim) |",
                "| ceiling |", "| no queue settings |", "| 10 queues with limits |",
                "| 100 queued |", "| 100 queued + 1k finished |", "| 100 queued, 90% held back |",
                "Backend memory over many calls"):
        assert row in out, f"missing {row!r} in:\n{out}"
    life_on = out.split("### Lifecycle, synchronous_commit = on")[1].split("###")[0]
    for system in ("mcp_jobs", "PL/pgSQL reference", "pgmq", "ceiling", "pg-boss", "graphile-worker"):
        assert system in life_on, f"{system} missing from the lifecycle at synchronous_commit = on:\n{life_on}"
    doc = json.loads((smokes["out"]["run"] / "result.json").read_text())
    assert doc["schema_version"] == 2 and doc["smoke"] and not doc["complete"]
    for sync in ("off", "on"):
        one = doc["lifecycle"][sync]["1"]
        for system in ("mcp_jobs", "plpgsql", "pgmq", "ceiling"):
            assert one[system]["jobs"] > 0 and one[system]["wal_bytes_per_job"] > 0, (sync, system, one[system])


def test_wake_smoke(smokes: dict[str, Any]) -> None:
    out = _ok(smokes, "wake")
    doc = json.loads((smokes["out"]["wake"] / "wake.json").read_text())
    scenarios = {e["scenario"]: e for e in doc["latency"]}
    assert len(scenarios) == 5, scenarios
    for e in scenarios.values():
        assert e["jobs"] == doc["method"]["jobs"] and e["p50_ms"] > 0, e
        assert e["scenario"] in out
    assert len(doc["idle_cpu"]) == 5 and "idle workers" in out


def test_soak_smoke(smokes: dict[str, Any]) -> None:
    out = _ok(smokes, "soak")
    doc = json.loads((smokes["out"]["soak"] / "soak.json").read_text())
    runs = {(r["system"], r["mode"]): r for r in doc["runs"]}
    assert set(runs) == {("mcp_jobs", "max"), ("plpgsql", "half")}, runs.keys()
    mcp = runs[("mcp_jobs", "max")]
    assert mcp["minutes"] and all(m["jobs_per_s"] > 0 for m in mcp["minutes"]), mcp["minutes"]
    # the worker's round reports were read from the log, and the loaded backlog was pruned
    assert mcp["maintenance_rounds"] >= 1 and sum(m["maintenance"]["pruned"] for m in mcp["minutes"]) > 0, mcp
    ref = runs[("plpgsql", "half")]
    assert ref["target_rate"] and ref["maintenance_rounds"] >= 1, ref
    assert sum(m["maintenance"]["pruned"] for m in ref["minutes"]) > 0, ref
    assert "per minute" in out


def test_render_from_smoke_documents(smokes: dict[str, Any], tmp_path: Path) -> None:
    for name in ("run", "wake", "soak"):
        _ok(smokes, name)
    docs = tmp_path / "results"
    docs.mkdir()
    (docs / "run-018.json").write_text((smokes["out"]["run"] / "result.json").read_text())
    (docs / "wake-001.json").write_text((smokes["out"]["wake"] / "wake.json").read_text())
    (docs / "soak-001.json").write_text((smokes["out"]["soak"] / "soak.json").read_text())
    page = tmp_path / "BENCHMARKS.md"
    p = subprocess.run([sys.executable, str(BENCH / "report.py"), "--results", str(docs), "--out", str(page)],
                       check=False, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    text = page.read_text()
    assert "{{" not in text
    for heading in ("## Conclusions", "## Targets", "## Throughput", "## Wake-ups", "## Soak", "## All runs"):
        assert heading in text
    assert "Lifecycle against the plain PL/pgSQL reference" in text and "Wake-up latency" in text


def test_smoke_writes_no_results(smokes: dict[str, Any]) -> None:
    assert smokes["before"] == smokes["after"]
