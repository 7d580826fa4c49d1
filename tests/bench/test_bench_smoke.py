"""The benchmark harness still works: bench/run.py --smoke (tiny N, 1 client, a few seconds per
system) exits 0 and prints every table row. No timing is asserted."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_smoke(tmp_path):
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run.py"), "--smoke", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert p.returncode == 0, f"bench --smoke failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    out = p.stdout
    for row in ("| enqueue | 1 |", "| lifecycle | 1 |",
                "| mcp_jobs | 1 |", "| mcp_jobs (complete+claim) | 1 |", "| ceiling | 1 |", "| pg-boss | 1 |", "| pg-boss (batched) | 1 |",
                "| graphile-worker | 1 |", "| graphile-worker (batched) | 1 |",
                "| 100 queued |", "| 100 queued + 1k finished |",
                "Best lifecycle throughput", "**Same rows**", "Backend memory", "Backend memory over many calls"):
        assert row in out, f"missing {row!r} in:\n{out}"
    for system in ("mcp_jobs", "ceiling", "pg-boss", "graphile-worker"):
        assert f"| {system} | " in out.split("Per job lifecycle footprint")[1]
    assert (tmp_path / "report.md").exists()
    assert "EXPLAIN" in (tmp_path / "explain_claim.txt").read_text() or "Limit" in (tmp_path / "explain_claim.txt").read_text()
    # smoke mode never writes the committed results
    assert "throughput.png" not in os.listdir(tmp_path)
