"""BENCHMARKS.md from bench/BENCHMARKS.tmpl.md and the result documents in bench/results/ (schema:
bench/results/README.md): the newest throughput run (run-NNN.json, schema 2, bench/run.py), wake-up
run (wake-NNN.json, bench/wake.py) and soak (soak-NNN.json, bench/soak.py), conclusions and targets
computed from them, and one line per past document. Nothing here measures; every number printed comes
from a document.

    python3 bench/run.py --render          # or: python3 bench/report.py [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Mapping
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")

Doc = dict[str, Any]

# Targets (issues 17, 18, 19, 21), checked against the newest documents.
T_REF_EVERY = 1.0  # mcp_jobs lifecycle / PL/pgSQL reference at every client count, sync off
T_REF_AT_4 = 1.5  # the goal at 4 clients
T_PGMQ = 1.2  # mcp_jobs lifecycle / pgmq at every client count, sync off
T_BATCH_ENQUEUE = 10.0  # enqueue_jobs x100 / enqueue_job, same run
T_FLOW = 0.8  # claims with 10 limited queues / claims with no settings (within 20 %)
T_HELD_LATENCY = 1.2  # claim latency at 1M queued / at 1k queued, 90 % held back
T_SOAK_FLAT = 0.10  # throughput from minute 5 to the end within 10 % of minute 5
T_PRUNE_CAPACITY = 3.0  # pruning capacity / sustained enqueue rate

LABEL = {"plpgsql": "PL/pgSQL reference"}
REFS = ("plpgsql", "pgmq", "ceiling")


# ------------------------------------------------------------------ helpers
def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def fmt(x: float | None, spec: str = ".2f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def met(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**not met**")


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    return "\n".join(["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
                     + ["| " + " | ".join(r) + " |" for r in rows])


def load_all() -> list[Doc]:
    out = []
    if os.path.isdir(RESULTS):
        for name in sorted(os.listdir(RESULTS)):
            if name.endswith(".json"):
                with open(os.path.join(RESULTS, name)) as f:
                    d = json.load(f)
                d["_file"] = name
                out.append(d)
    return out


def kind_of(d: Doc) -> str:
    return str(d.get("kind", "full"))


def newest(docs: list[Doc], kind: str, schema: int | None = None) -> Doc | None:
    xs = [d for d in docs if kind_of(d) == kind and d.get("complete", True) and not d.get("smoke")
          and (schema is None or d.get("schema_version") == schema)]
    return max(xs, key=lambda d: d["run"]) if xs else None


def newest_soaks(docs: list[Doc]) -> list[Doc]:
    """The newest soak with a run at the highest rate and the newest with a half-rate run (one document when
    a soak holds both): an hour per run does not fit every run in one sitting, so they are made apart."""
    out: dict[int, Doc] = {}
    for mode in ("max", "half"):
        d = newest([d for d in docs if kind_of(d) == "soak" and any(r["mode"] == mode for r in d["runs"])], "soak")
        if d:
            out[d["run"]] = d
    return [out[k] for k in sorted(out)]


def life(d: Doc, sync: str) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = d.get("lifecycle", {}).get(sync, {})
    return out


def rate(e: dict[str, Any] | None) -> float | None:
    return None if e is None else e.get("jobs_per_s")


def life_ratios(d: Doc, sync: str, ref: str) -> dict[str, float | None]:
    lf = life(d, sync)
    return {c: ratio(rate(lf[c].get("mcp_jobs")), rate(lf[c].get(ref))) for c in sorted(lf, key=int)}


def span(xs: list[float]) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{min(xs):.2f}" if len(xs) == 1 or min(xs) == max(xs) else f"{min(xs):.2f}-{max(xs):.2f}"


def clients(c: str | int) -> str:
    return f"{c} client" + ("" if str(c) == "1" else "s")


# ------------------------------------------------------------------ the throughput run (schema 2)
def render_run(d: Doc) -> str:
    L: list[str] = []
    for sync in d.get("method", {}).get("sync_modes", ["off", "on"]):
        lf = life(d, sync)
        if not lf:
            continue
        cs = sorted(lf, key=int)
        systems = [s for s in ["mcp_jobs", *REFS, "pg-boss", "graphile-worker"] if any(s in lf[c] for c in cs)]
        refs = [s for s in systems if s != "mcp_jobs"]
        L.append(f"### Lifecycle, synchronous_commit = {sync} (jobs/s; higher is better)\n")
        L.append("enqueue -> claim -> complete, three transactions per job; each ratio is mcp_jobs over the named "
                 "reference, measured in the same interleaved rounds.\n")
        L.append(table(["clients", *[LABEL.get(s, s) for s in systems], *[f"mcp_jobs / {LABEL.get(s, s)}" for s in refs]],
                       [[c, *[fmt(rate(lf[c].get(s)), ".0f") for s in systems],
                         *[fmt(ratio(rate(lf[c].get("mcp_jobs")), rate(lf[c].get(s)))) for s in refs]] for c in cs]))
        L.append(f"\nServer CPU and WAL per job (synchronous_commit = {sync}; CPU: user + system time of every "
                 "server process per completed job):\n")
        own = [s for s in systems if s not in ("pg-boss", "graphile-worker")] + \
              [s for s in systems if s in ("pg-boss", "graphile-worker")]
        L.append(table(["clients", *[f"{LABEL.get(s, s)} CPU ms" for s in own], *[f"{LABEL.get(s, s)} WAL B" for s in own]],
                       [[c, *[fmt((lf[c].get(s) or {}).get("cpu_ms_per_job"), ".3f") for s in own],
                         *[fmt((lf[c].get(s) or {}).get("wal_bytes_per_job"), ".0f") for s in own]] for c in cs]))
        L.append("\nEach interleaved round's jobs/s (the spread is the machine's noise):\n")
        L.append(table(["clients", *[LABEL.get(s, s) for s in systems]],
                       [[c, *["/".join(str(x) for x in (lf[c].get(s) or {}).get("rounds", [])) for s in systems]]
                        for c in cs]))
        L.append("")
    enq = d.get("enqueue", {})
    if enq:
        L.append("### Enqueue (jobs/s)\n")
        L.append("One job per call in a loop per client, and mcp_jobs.enqueue_jobs with 100 jobs per call "
                 "(one transaction per call).\n")
        rows = []
        for sync in enq:
            for c in sorted(enq[sync], key=int):
                es = enq[sync][c]
                one = rate(es.get("mcp_jobs"))
                for name, e in es.items():
                    rows.append([sync, c, name, fmt(rate(e), ".0f"), fmt(e.get("cpu_ms_per_job"), ".4f"),
                                 fmt(e.get("wal_bytes_per_job"), ".0f"), fmt(ratio(rate(e), one))])
        L.append(table(["synchronous_commit", "clients", "entry", "jobs/s", "server CPU ms/job", "WAL B/job",
                        "x mcp_jobs enqueue_job"], rows, "lrlrrrr"))
        L.append("")
    drain = d.get("drain", {})
    if drain:
        L.append("### Drain: claim + complete of jobs already queued (jobs/s)\n")
        L.append("Three ways to take jobs: one per call (claim, then complete: two transactions per job), "
                 "complete+claim (the job held is completed and the next claimed in one transaction: mcp_jobs' "
                 "`complete_and_claim_next`; the references call their two functions in one transaction) and "
                 "batched (50 per call: mcp_jobs' `claim_jobs` / `complete_jobs`, the reference's set-based "
                 "`claim_jobs` / `complete_jobs`, pgmq's `read(..., 50)` / `archive(ids[])`). `>=`: the queue "
                 "ran dry in a round, the figure is a lower bound.\n")
        for sync, dd in drain.items():
            es = dd["entries"]
            rows = [[name, (">= " if e.get("ran_dry") else "") + fmt(rate(e), ".0f"), fmt(e.get("cpu_ms_per_job"), ".4f"),
                     fmt(e.get("wal_bytes_per_job"), ".0f")] for name, e in es.items()]
            L.append(f"synchronous_commit = {sync}, {clients(dd['clients'])}:\n")
            L.append(table(["entry", "jobs/s", "server CPU ms/job", "WAL B/job"], rows))
            L.append("")
            rows = []
            for suffix, path in (("", "one per call"), (" (complete+claim)", "complete+claim"), (" (batched)", "batched")):
                m = rate(es.get("mcp_jobs" + suffix))
                if m is None:
                    continue
                rows.append([path, fmt(m, ".0f"), fmt(ratio(m, rate(es.get(LABEL["plpgsql"] + suffix)))),
                             fmt(ratio(m, rate(es.get(LABEL["plpgsql"])))), fmt(ratio(m, rate(es.get("pgmq" + suffix))))])
            L.append(table(["mcp_jobs path", "jobs/s", "/ PL/pgSQL same path", "/ PL/pgSQL one per call",
                            "/ pgmq same path"], rows))
            L.append("")
    fc = d.get("flow_control")
    if fc:
        es = fc["entries"]
        base = rate(es.get("no queue settings"))
        lim = fc["limits"]
        L.append("### Flow control: claims with and without queue settings\n")
        L.append(f"claim_next_job + complete_job, {clients(fc['clients'])}, synchronous_commit = "
                 f"{fc['synchronous_commit']}, jobs spread over {fc['queues']} sources; with limits each source has "
                 f"max_concurrency = {lim['max_concurrency']} and a rate limit of {lim['rate_limit']:,} per "
                 f"{lim['rate_period']} (set so as not to bind: what is measured is their bookkeeping).\n")
        L.append(table(["database", "jobs/s", "server CPU ms/job", "x no settings"],
                       [[k, fmt(rate(e), ".0f"), fmt(e.get("cpu_ms_per_job"), ".4f"), fmt(ratio(rate(e), base))]
                        for k, e in es.items()]))
        L.append("")
    lat = d.get("latency") or []
    if lat:
        L.append("### Claim latency (claim_next_job, 1 client)\n")
        L.append("Each claim is its own transaction, followed by one that completes the job and enqueues a new "
                 "claimable one, so that the queue keeps its size and shape. Latency as pgbench sees it "
                 "(client round trip included); server mean: pg_stat_statements' execution time of the call. "
                 "Held back: half of those jobs in a paused source, half in a source at its max_concurrency.\n")
        base_free = next((e for e in lat if not e.get("held_back") and not e.get("finished")), lat[0])
        base_held = next((e for e in lat if e.get("held_back")), None)
        rows = []
        for e in lat:
            b = base_held if e.get("held_back") else base_free
            rows.append([e["queue"], f"{e.get('claimable', 0):,}", f"{e.get('held_back', 0):,}", fmt(e["p50_ms"], ".3f"),
                         fmt(e["p99_ms"], ".3f"), str(e["claims"]), fmt(e.get("server_mean_ms"), ".3f"),
                         b["queue"] if b else "-", fmt(ratio(e["p50_ms"], b["p50_ms"]) if b else None),
                         fmt(ratio(e.get("server_mean_ms"), b.get("server_mean_ms")) if b else None)])
        L.append(table(["queue", "claimable", "held back", "p50 ms", "p99 ms", "claims", "server mean ms",
                        "compared with", "p50 x", "server mean x"], rows, "lrrrrrrlrr"))
        L.append("")
    m = d.get("memory")
    if m:
        L.append(f"Backend memory over many calls (one connection, RssAnon): {m['rss_before_kb']} kB before, "
                 f"{m['rss_after_claims_kb']} kB after {m['claim_calls']:,} claim_next_job calls (empty queue), "
                 f"{m['rss_after_enqueues_kb']} kB after a further {m['enqueue_calls']:,} enqueue_job calls.")
    x = d.get("lifecycle_rss")
    if x:
        L.append(f"\nBackend memory of the 1-client mcp_jobs lifecycle (RssAnon of the pgbench backend): "
                 f"{x['early_kb']} kB after ~1 s, {x['late_kb']} kB at the end of the round, over {x['calls']:,} calls.")
    return "\n".join(L)


def enqueue_batch_ratios(d: Doc) -> dict[str, float | None]:
    out = {}
    for sync, by_c in d.get("enqueue", {}).items():
        for c, es in by_c.items():
            out[f"{sync}/{c}"] = ratio(rate(es.get("mcp_jobs (enqueue_jobs x100)")), rate(es.get("mcp_jobs")))
    return out


def enqueue_batch_settings(eb: Mapping[str, float | None], spec: str = ".2f") -> str:
    """enqueue_batch_ratios as text: "10.96x (synchronous_commit off, 1 client), ..."."""
    return ", ".join(f"{fmt(x, spec)}x (synchronous_commit {k.split('/')[0]}, {clients(k.split('/')[1])})"
                     for k, x in eb.items())


def held_latency_ratio(d: Doc, field: str = "p50_ms") -> float | None:
    held = [e for e in d.get("latency") or [] if e.get("held_back")]
    if len(held) < 2:
        return None
    return ratio(held[-1].get(field), held[0].get(field))


def flow_ratio(d: Doc) -> float | None:
    fc = d.get("flow_control")
    if not fc:
        return None
    return ratio(rate(fc["entries"].get("10 queues with limits")), rate(fc["entries"].get("no queue settings")))


# ------------------------------------------------------------------ wake-ups
def render_wake(w: Doc | None) -> str:
    if not w:
        return ("No wake-up run recorded yet: `PG_CONFIG=... python3 bench/wake.py` writes "
                "bench/results/wake-NNN.json.")
    m = w["method"]
    L = [(f"Run wake-{w['run']:03d} ({w['started_utc']}, mcp_jobs {w['mcp_jobs_version']}, {w['code']}): "
          f"`{w['command']}`\n"),
         f"A worker waits; a producer enqueues one job at a time, {m['gap_ms'][0]}-{m['gap_ms'][1]} ms (uniformly "
         "random) after the previous job reached the worker, with its send time in the payload; the worker "
         "takes its own clock when the claim returns the job (one machine, CLOCK_MONOTONIC). "
         f"{m['jobs']} jobs per worker, in {m['rounds']} interleaved round" + ("s" if m["rounds"] != 1 else "") + ".\n"]
    rows = [[e["scenario"], e["transport"], str(e["jobs"]), fmt(e["p50_ms"], ".1f"), fmt(e["p99_ms"], ".1f"),
             fmt(e["mean_ms"], ".1f"), fmt(e["max_ms"], ".1f")] for e in w["latency"]]
    L.append(table(["worker", "transport", "jobs", "p50 ms", "p99 ms", "mean ms", "max ms"], rows, "llrrrrr"))
    idle = w.get("idle_cpu") or []
    if idle:
        L.append(f"\nCPU of {m['idle_workers']} idle workers (empty queue) over {m['idle_seconds']} s: server = every "
                 "server process (user + system), client = the worker process(es); ms of CPU per second of wall "
                 "time (1000 = one core busy).\n")
        L.append(table(["workers", "server CPU ms/s", "client CPU ms/s", "server CPU ms/s per worker"],
                       [[e["scenario"], fmt(e["server_cpu_ms_per_s"], ".1f"), fmt(e.get("client_cpu_ms_per_s"), ".1f"),
                         fmt(e["server_cpu_ms_per_s"] / max(e["workers"], 1), ".2f")] for e in idle], "lrrr"))
    return "\n".join(L)


def wake_entry(w: Doc, prefix: str) -> dict[str, Any] | None:
    return next((e for e in w.get("latency", []) if e["scenario"].startswith(prefix)), None)


# ------------------------------------------------------------------ soak
def soak_summary(r: dict[str, Any]) -> dict[str, Any]:
    """From a soak run's minutes: throughput at minute 5 (or the last) and its spread after, total size at
    the start, middle and end, the largest maintenance round, worker RSS first and last."""
    ms = r.get("minutes", [])
    if not ms:
        return {}
    idx5 = min(4, len(ms) - 1)
    t5 = ms[idx5]["jobs_per_s"]
    after = [m["jobs_per_s"] for m in ms[idx5:]]
    dev = max(abs(x - t5) / t5 for x in after) if t5 else None
    maint = [m.get("maintenance") or {} for m in ms]
    rounds_ms = [x for mm in maint for x in mm.get("round_ms", [])] + \
        [mm["pass_ms_max"] for mm in maint if mm.get("pass_ms_max") is not None]
    pr = r.get("prune_rate") or {}
    q = max(1, len(ms) // 4)

    def idle_rounds(part: list[dict[str, Any]]) -> float | None:
        """Mean duration of the rounds that left no pruning backlog (their cost is the work since the
        last round, not pruning a backlog)."""
        xs = [x for mm in part for x, left in zip((mm.get("maintenance") or {}).get("round_ms", []),
                                                  (mm.get("maintenance") or {}).get("backlog_left", [])) if not left]
        return sum(xs) / len(xs) if xs else None

    def cpu(part: list[dict[str, Any]]) -> float | None:
        xs = [(mm.get("maintenance") or {}).get("cpu_ms") for mm in part]
        ys = [x for x in xs if x is not None]
        return sum(ys) / len(ys) if ys else None

    # soak-001's harness timed every round as if the worker had paused the whole interval before it
    # (it pauses 1 s after a round that left a backlog): its round times and pruning rate are not figures
    timed = not pr or pr.get("basis") in ("round_seconds", "wall_seconds")
    size_q3 = ms[-q - 1]["total_bytes"] if len(ms) > q else ms[0]["total_bytes"]
    rss = [m.get("worker_rss_anon_kb") for m in ms if m.get("worker_rss_anon_kb")]
    return {"minutes": len(ms), "jobs_per_s_min5": t5, "max_deviation_after_min5": dev,
            "jobs_per_s_last": ms[-1]["jobs_per_s"], "claim_p99_first": ms[0].get("claim_p99_ms"),
            "claim_p99_last": ms[-1].get("claim_p99_ms"), "bytes_first": ms[0].get("total_bytes"),
            "bytes_mid": ms[len(ms) // 2].get("total_bytes"), "bytes_last": ms[-1].get("total_bytes"),
            "maintenance_max_ms": max(rounds_ms) if rounds_ms else None,
            "maintenance_mean_ms": sum(rounds_ms) / len(rounds_ms) if rounds_ms else None,
            "passes": sum(mm.get("passes", 0) for mm in maint),
            "pruned": sum(mm.get("pruned", 0) for mm in maint),
            "growth_last_quarter": ratio(ms[-1]["total_bytes"] - size_q3, ms[-1]["total_bytes"]),
            "round_ms_first_quarter": idle_rounds(ms[:q]), "round_ms_last_quarter": idle_rounds(ms[-q:]),
            "cpu_ms_first_quarter": cpu(ms[:q]), "cpu_ms_last_quarter": cpu(ms[-q:]),
            "timed": timed,
            "prune_jobs_per_s": pr.get("jobs_per_s") if timed else None,
            "rss_first_kb": rss[0] if rss else None,
            "rss_last_kb": rss[-1] if rss else None}


def mb(x: float | None) -> str:
    return "-" if x is None else f"{x / 1048576:.0f}"


def render_soak(s: Doc | None) -> str:
    if not s:
        return "No soak recorded yet: `PG_CONFIG=... python3 bench/soak.py` writes bench/results/soak-NNN.json."
    m = s["method"]
    L = [(f"Run soak-{s['run']:03d} ({s['started_utc']}, mcp_jobs {s['mcp_jobs_version']}, {s['code']}): "
          f"`{s['command']}`\n"),
         (f"{clients(m['clients'])}, {m['minutes']:g} minutes per run, synchronous_commit = {m['synchronous_commit']}, "
          f"autovacuum on; mcp_jobs preloaded, maintenance every {m['maintenance_interval']}, "
          f"mcp_jobs.retention = {m['retention']}, prune budget {m['prune_budget']}; "
          f"{m['backlog_jobs']:,} finished jobs older than the cutoff loaded before each run so that pruning has "
          f"work from the start. The reference prunes with `plpgsql_ref.expire_leases()` and "
          f"`plpgsql_ref.prune(retention)` every {m['maintenance_interval']} ({m['reference_upkeep']}).\n")]
    L += [f"**Note.** {n}\n" for n in s.get("notes", [])]
    rows = []
    untimed = False
    for r in s["runs"]:
        sm = soak_summary(r)
        if not sm:
            continue
        untimed = untimed or not sm["timed"]
        rows.append([LABEL.get(r["system"], r["system"]), r["mode"] + (f" ({r['target_rate']:.0f}/s)" if r.get("target_rate") else ""),
                     str(sm["minutes"]), fmt(sm["jobs_per_s_min5"], ".0f"), fmt(sm["jobs_per_s_last"], ".0f"),
                     fmt(None if sm["max_deviation_after_min5"] is None else 100 * sm["max_deviation_after_min5"], ".1f"),
                     fmt(sm["claim_p99_first"], ".2f") + " / " + fmt(sm["claim_p99_last"], ".2f"),
                     mb(sm["bytes_first"]) + " / " + mb(sm["bytes_mid"]) + " / " + mb(sm["bytes_last"]),
                     (fmt(sm["maintenance_mean_ms"], ".0f") + " / " + fmt(sm["maintenance_max_ms"], ".0f"))
                     if sm["timed"] else "not timed",
                     f"{sm['pruned']:,}", fmt(sm["prune_jobs_per_s"], ".0f"),
                     fmt(sm["rss_first_kb"], ".0f") + " / " + fmt(sm["rss_last_kb"], ".0f")])
    L.append(table(["system", "rate", "minutes", "jobs/s at min 5", "jobs/s last min", "max deviation after min 5 %",
                    "claim p99 ms first / last min", "MB tables+indexes first / middle / last", "upkeep round ms mean / max",
                    "jobs pruned", "pruned jobs/s while a backlog lasted", "upkeep process RssAnon kB first / last"], rows, "llrrrrrrrrrr"))
    if untimed:
        L.append("\nThis run's harness timed each maintenance round as if the worker had paused the whole interval "
                 "before it; the worker pauses 1 s after a round that left prunable jobs, so the round times below "
                 "that follow such a round read 0 and are not figures (fixed in bench/soak.py since).")
    for r in s["runs"]:
        ms = r.get("minutes", [])
        if not ms:
            continue
        L.append(f"\n<details><summary>{LABEL.get(r['system'], r['system'])}, {r['mode']}: per minute</summary>\n")
        passes = any("passes" in (x.get("maintenance") or {}) for x in ms)

        def pass_cell(mm: dict[str, Any]) -> str:
            n = mm.get("passes", 0)
            return f"{n}: {fmt(mm.get('pass_ms_mean'), '.0f')} / {fmt(mm.get('pass_ms_max'), '.0f')}" if n else "-"
        L.append(table(["min", "jobs/s", "claim p50 ms", "claim p99 ms", "MB jobs", "MB runs", "MB events",
                        "dead tuples", "upkeep rounds (ms)", *(["passes: ms mean / max"] if passes else []), "pruned",
                        "upkeep RssAnon kB"],
                       [[str(x["minute"]), fmt(x["jobs_per_s"], ".0f"), fmt(x.get("claim_p50_ms"), ".2f"),
                         fmt(x.get("claim_p99_ms"), ".2f"),
                         *[mb((x["tables"].get(t) or {}).get("total_bytes")) for t in ("jobs", "job_runs", "job_events")],
                         f"{x.get('dead_tuples', 0):,}",
                         ", ".join(f"{v:.0f}" for v in (x.get("maintenance") or {}).get("round_ms", [])) or "-",
                         *([pass_cell(x.get("maintenance") or {})] if passes else []),
                         f"{(x.get('maintenance') or {}).get('pruned', 0):,}", fmt(x.get("worker_rss_anon_kb"), ".0f")]
                        for x in ms]))
        L.append("\n</details>")
    return "\n".join(L)


# ------------------------------------------------------------------ conclusions and targets
def conclusions(run: Doc | None, wake: Doc | None, soaks: list[Doc]) -> str:
    L = []
    if run:
        for sync in ("off", "on"):
            r = life_ratios(run, sync, "plpgsql")
            if r:
                ok = all(x is not None and x >= T_REF_EVERY for x in r.values())
                L.append(f"- **Lifecycle against the plain PL/pgSQL reference, synchronous_commit = {sync}**: "
                         + ", ".join(f"{fmt(x)}x at {clients(c)}" for c, x in r.items())
                         + (f" ({'ahead' if ok else 'not ahead'} at every client count)." if sync == "off" else "."))
            p = life_ratios(run, sync, "pgmq")
            if p:
                L.append(f"- **Against pgmq's send/read/archive, synchronous_commit = {sync}**: "
                         + ", ".join(f"{fmt(x)}x at {clients(c)}" for c, x in p.items()) + ".")
        lf = life(run, "off")
        if lf:
            c = "4" if "4" in lf else max(lf, key=int)
            e = {s: lf[c].get(s) or {} for s in ("mcp_jobs", "plpgsql", "pgmq")}
            L.append(f"- **Cost per job at {clients(c)}, synchronous_commit = off**: server CPU "
                     + ", ".join(f"{LABEL.get(s, s)} {fmt(e[s].get('cpu_ms_per_job'), '.3f')} ms" for s in e)
                     + "; WAL " + ", ".join(f"{LABEL.get(s, s)} {fmt(e[s].get('wal_bytes_per_job'), '.0f')} B" for s in e) + ".")
        dr = run.get("drain", {}).get("off")
        if dr:
            es = dr["entries"]
            parts = []
            for suffix, name in (("", "one per call"), (" (complete+claim)", "complete+claim"), (" (batched)", "batched")):
                parts.append(f"{name} {fmt(ratio(rate(es.get('mcp_jobs' + suffix)), rate(es.get(LABEL['plpgsql'] + suffix))))}x")
            L.append(f"- **Drain against the reference's same path** (synchronous_commit = off, {clients(dr['clients'])}): "
                     + ", ".join(parts) + ".")
        eb = enqueue_batch_ratios(run)
        if eb:
            L.append("- **Batch enqueue** (enqueue_jobs, 100 per call, over one enqueue_job per job): "
                     + enqueue_batch_settings(eb, ".1f") + f"; target >= {T_BATCH_ENQUEUE:.0f}x.")
        fr = flow_ratio(run)
        if fr is not None:
            L.append(f"- **Flow control**: claims with 10 limited queues at {fmt(fr)}x of those with no settings "
                     f"(target >= {T_FLOW:.2f}).")
        h = held_latency_ratio(run)
        if h is not None:
            L.append(f"- **Claim latency with 90 % held back**: p50 at 1M queued {fmt(h)}x the p50 at 1k "
                     f"(server mean {fmt(held_latency_ratio(run, 'server_mean_ms'))}x; target <= {T_HELD_LATENCY}).")
    if wake:
        lp, pg, po, gw = (wake_entry(wake, p) for p in ("mcp_jobs long poll (preloaded)", "mcp_jobs long poll over PostgREST",
                                                        "polling once a second", "graphile-worker"))
        parts = [f"{e['scenario']} p50 {fmt(e['p50_ms'], '.1f')} / p99 {fmt(e['p99_ms'], '.1f')} ms"
                 for e in (lp, pg, po, gw) if e]
        L.append("- **Wake-up latency** (enqueue to claim): " + "; ".join(parts) + ".")
    for soak in soaks:
        for r in soak["runs"]:
            sm = soak_summary(r)
            if sm:
                L.append(f"- **Soak-{soak['run']:03d}, {LABEL.get(r['system'], r['system'])} at {r['mode']} rate** ({sm['minutes']} min): "
                         f"{fmt(sm['jobs_per_s_min5'], '.0f')} jobs/s at minute 5, largest deviation after it "
                         f"{fmt(None if sm['max_deviation_after_min5'] is None else 100 * sm['max_deviation_after_min5'], '.1f')} %; "
                         f"tables + indexes {mb(sm['bytes_first'])} -> {mb(sm['bytes_last'])} MB; "
                         f"upkeep rounds up to {fmt(sm['maintenance_max_ms'], '.0f')} ms"
                         + (" (read the note under [Soak](#soak))." if soak.get("notes") else "."))
    return "\n".join(L) if L else "No run with the current harness recorded yet."


def targets(run: Doc | None, wake: Doc | None, soaks: list[Doc]) -> str:
    rows = []
    if run:
        r = life_ratios(run, "off", "plpgsql")
        xs = [x for x in r.values() if x is not None]
        rows.append((f"lifecycle >= {T_REF_EVERY:.1f}x the PL/pgSQL reference at every client count (sync off)",
                     f"{met(bool(xs) and min(xs) >= T_REF_EVERY)}: " + ", ".join(f"{fmt(x)} at {c}" for c, x in r.items())))
        rows.append((f"goal: >= {T_REF_AT_4:.1f}x the reference at 4 clients (sync off)",
                     f"{met((r.get('4') or 0) >= T_REF_AT_4)}: {fmt(r.get('4'))}"))
        p = life_ratios(run, "off", "pgmq")
        ps = [x for x in p.values() if x is not None]
        rows.append((f"lifecycle >= {T_PGMQ:.1f}x pgmq at every client count (sync off)",
                     f"{met(bool(ps) and min(ps) >= T_PGMQ)}: " + ", ".join(f"{fmt(x)} at {c}" for c, x in p.items())))
        ebr = {k: x for k, x in enqueue_batch_ratios(run).items() if x is not None}
        eb = list(ebr.values())
        n_met = sum(x >= T_BATCH_ENQUEUE for x in eb)
        rows.append((f"enqueue_jobs (100 per call) >= {T_BATCH_ENQUEUE:.0f}x enqueue_job, same run, every setting",
                     (f"{met(bool(eb) and n_met == len(eb))} (met in {n_met} of {len(eb)} settings): "
                      f"{enqueue_batch_settings(ebr)}")))
        fr = flow_ratio(run)
        rows.append(("claims with 10 limited queues within 20 % of no settings",
                     f"{met(None if fr is None else fr >= T_FLOW)}: {fmt(fr)}x"))
        h, hs = held_latency_ratio(run), held_latency_ratio(run, "server_mean_ms")
        rows.append((f"claim latency 1M vs 1k queued, 90 % held back, <= {T_HELD_LATENCY}x",
                     f"{met(None if h is None else h <= T_HELD_LATENCY)}: p50 {fmt(h)}x, server mean {fmt(hs)}x"))
    if wake:
        lp = wake_entry(wake, "mcp_jobs long poll (preloaded)")
        rows.append(("a waiting claim is woken by the enqueue's commit (p99 well under the 100 ms polling fallback)",
                     f"{met(None if not lp else lp['p99_ms'] < 50)}: p99 {fmt(lp['p99_ms'] if lp else None, '.1f')} ms"))
    for soak in soaks:
        for r in soak["runs"]:
            if r["system"] != "mcp_jobs":
                continue
            sm = soak_summary(r)
            if not sm:
                continue
            tag = f"soak-{soak['run']:03d} ({r['mode']} rate)"
            dev = sm["max_deviation_after_min5"]
            rows.append((f"{tag}: throughput from minute 5 on within 10 % of minute 5",
                         f"{met(None if dev is None else dev <= T_SOAK_FLAT)}: largest deviation {fmt(None if dev is None else 100 * dev, '.1f')} %"))
            pr, enq = sm.get("prune_jobs_per_s"), r.get("enqueue_jobs_per_s")
            rows.append((f"{tag}: pruning capacity >= {T_PRUNE_CAPACITY:.0f}x the enqueue rate",
                         (f"{met(None if not pr or not enq else pr >= T_PRUNE_CAPACITY * enq)}: {fmt(pr, '.0f')} jobs/s "
                          f"while a backlog lasted against {fmt(enq, '.0f')} enqueued/s ({fmt(ratio(pr, enq))}x)") if sm["timed"] else
                         (f"not measured by this run's harness (rounds not timed); pruned {sm['pruned']:,} jobs in the run "
                          f"against {fmt(enq, '.0f')} enqueued/s")))
            g = sm.get("growth_last_quarter")
            rows.append((f"{tag}: tables and indexes plateau once retention applies",
                         (f"{met(None if g is None else g < 0.05)}: {fmt(None if g is None else 100 * g, '.1f')} % of the "
                          f"final size added in the last quarter of the run ({mb(sm['bytes_first'])} -> "
                          f"{mb(sm['bytes_last'])} MB)")))
            q1, q4 = sm.get("round_ms_first_quarter"), sm.get("round_ms_last_quarter")
            rows.append((f"{tag}: a maintenance round costs the work since the last one, not the volume",
                         (f"mean round without pruning backlog {fmt(q1, '.0f')} ms in the first quarter, {fmt(q4, '.0f')} ms "
                          f"in the last ({fmt(ratio(q4, q1))}x)") if sm["timed"] else
                         "rounds not timed by this run's harness; the worker's CPU per minute, first and last "
                         f"quarter: {fmt(sm.get('cpu_ms_first_quarter'), '.0f')} and {fmt(sm.get('cpu_ms_last_quarter'), '.0f')} ms"))
            rss0, rss1 = sm.get("rss_first_kb"), sm.get("rss_last_kb")
            rows.append((f"{tag}: the maintenance worker's memory flat",
                         f"RssAnon {fmt(rss0, '.0f')} -> {fmt(rss1, '.0f')} kB"))
    if not rows:
        return "No run with the current harness recorded yet."
    return table(["target", "newest runs"], [[a, b] for a, b in rows], "ll")


# ------------------------------------------------------------------ history
def legacy_key_ratios(r: Doc) -> dict[str, Any]:
    """Runs 1-17 (schema 1): the ratios they are compared by, from their figures or their `ratios`."""
    given = r.get("ratios", {})
    lf = r.get("throughput", {}).get("lifecycle", {})
    drain = r.get("drain", {}).get("jobs_per_s", {})
    lat = r.get("latency") or []
    cs = sorted(lf, key=int)

    def per_clients(a: str, b: str) -> dict[str, float | None]:
        return {c: ratio(lf[c].get(a), lf[c].get(b)) for c in cs if lf[c].get(a) and lf[c].get(b)}

    out: dict[str, Any] = {
        "lifecycle_over_ceiling": {**given.get("lifecycle_over_ceiling", {}), **per_clients("mcp_jobs", "ceiling")},
        "same_rows_over_ceiling": {**given.get("same_rows_over_ceiling", {}), **per_clients("same rows", "ceiling")},
    }
    for key, peer in (("lifecycle_over_pg_boss", "pg-boss"), ("lifecycle_over_graphile", "graphile-worker")):
        xs = [x for x in per_clients("mcp_jobs", peer).values() if x]
        out[key] = [min(xs), max(xs)] if xs else given.get(key)
    for key, a, b in (("drain_over_graphile", "mcp_jobs", "graphile-worker"),
                      ("drain_loop_over_graphile", "mcp_jobs (complete+claim)", "graphile-worker"),
                      ("drain_batched_over_graphile_batched", "mcp_jobs (batched)", "graphile-worker (batched)")):
        out[key] = ratio(drain.get(a), drain.get(b)) or given.get(key)
    base = lat[0].get("p50_ms") if lat else None
    out["claim_p50_over_smallest"] = {**given.get("claim_p50_over_smallest", {}),
                                      **({e["queue"]: ratio(e.get("p50_ms"), base) for e in lat[1:]} if base else {})}
    return out


def legacy_history(docs: list[Doc]) -> str:
    rows = []
    for r in docs:
        k = legacy_key_ratios(r)
        lc = k["lifecycle_over_ceiling"]
        pb, gw = k["lifecycle_over_pg_boss"], k["lifecycle_over_graphile"]
        lat = k["claim_p50_over_smallest"]
        dry = set(r.get("drain", {}).get("ran_dry", []))
        name = str(r["run"]) + ("" if kind_of(r) == "full" else f", {r['kind']}") + ("" if r.get("complete") else " (partial)")
        drains = []
        for key, entries in (("drain_over_graphile", ("mcp_jobs", "graphile-worker")),
                             ("drain_loop_over_graphile", ("mcp_jobs (complete+claim)", "graphile-worker")),
                             ("drain_batched_over_graphile_batched", ("mcp_jobs (batched)", "graphile-worker (batched)"))):
            drains.append(("~" if dry & set(entries) else "") + fmt(k[key]))
        rows.append([f"[{name}](bench/results/{r['_file']})", (r.get("started_utc") or "-")[:10], r["mcp_jobs_version"],
                     ", ".join(fmt(lc.get(c)) for c in ("1", "2", "4", "8")) if lc else "-",
                     fmt(k["same_rows_over_ceiling"].get("8")),
                     f"{pb[0]:.1f}-{pb[1]:.1f}x, {gw[0]:.1f}-{gw[1]:.1f}x" if pb and gw else "-",
                     ", ".join(drains), ", ".join(fmt(lat.get(q)) for q in ("1M queued", "1k queued + 1M finished"))])
    return table(["run", "date", "version", "lifecycle / ceiling at 1, 2, 4, 8 clients", "same rows / ceiling at 8",
                  "lifecycle / pg-boss, / graphile-worker", ("drain / graphile-worker: claim + complete, complete+claim, "
                                                             "batched / batched"), "claim p50, x of the smallest queue: 1M queued, 1M finished"], rows, "llllrlll")


def history(docs: list[Doc]) -> str:
    runs = [d for d in docs if d.get("schema_version") == 2 and kind_of(d) == "full" and not d.get("smoke")]
    wakes = [d for d in docs if kind_of(d) == "wake" and not d.get("smoke")]
    soaks = [d for d in docs if kind_of(d) == "soak" and not d.get("smoke")]
    L = []
    if runs:
        rows = []
        for r in runs:
            rr, rp = life_ratios(r, "off", "plpgsql"), life_ratios(r, "off", "pgmq")
            ro = life_ratios(r, "on", "plpgsql")
            eb = [x for x in enqueue_batch_ratios(r).values() if x is not None]
            rows.append([f"[{r['run']}](bench/results/{r['_file']})", r["started_utc"][:10], r["mcp_jobs_version"],
                         ", ".join(fmt(rr.get(c)) for c in ("1", "2", "4", "8")),
                         ", ".join(fmt(rp.get(c)) for c in ("1", "2", "4", "8")),
                         ", ".join(fmt(ro.get(c)) for c in ("1", "2", "4", "8")),
                         span(eb), fmt(flow_ratio(r)), fmt(held_latency_ratio(r))])
        L.append(table(["run", "date", "version", "lifecycle / PL/pgSQL at 1, 2, 4, 8 (sync off)",
                        "lifecycle / pgmq at 1, 2, 4, 8 (sync off)", "lifecycle / PL/pgSQL at 1, 2, 4, 8 (sync on)",
                        "enqueue_jobs x100 / enqueue_job", "limited / no settings", "held-back claim p50 1M / 1k"],
                       rows, "lllllllrr"))
    if wakes:
        rows = []
        for w in wakes:
            es = {e["scenario"]: e for e in w["latency"]}
            rows.append([f"[wake-{w['run']:03d}](bench/results/{w['_file']})", w["started_utc"][:10], w["mcp_jobs_version"],
                         "; ".join(f"{k} {fmt(e['p50_ms'], '.1f')}/{fmt(e['p99_ms'], '.1f')}" for k, e in es.items())])
        L.append("\nWake-up runs (p50/p99 ms):\n\n" + table(["run", "date", "version", "enqueue to claim"], rows, "llll"))
    if soaks:
        rows = []
        for s in soaks:
            parts = []
            for r in s["runs"]:
                sm = soak_summary(r)
                if sm:
                    parts.append(f"{LABEL.get(r['system'], r['system'])} {r['mode']}: {fmt(sm['jobs_per_s_min5'], '.0f')} -> "
                                 f"{fmt(sm['jobs_per_s_last'], '.0f')} jobs/s, {mb(sm['bytes_last'])} MB")
            rows.append([f"[soak-{s['run']:03d}](bench/results/{s['_file']})", s["started_utc"][:10], s["mcp_jobs_version"],
                         str(s["method"]["minutes"]), "; ".join(parts)])
        L.append("\nSoaks:\n\n" + table(["run", "date", "version", "minutes", "minute 5 -> last minute, size at the end"],
                                         rows, "lllrl"))
    return "\n".join(L) if L else "No run with the current harness recorded yet."


# ------------------------------------------------------------------ the page
def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def write_md(out: str | None = None, docs: list[Doc] | None = None) -> str:
    """Render BENCHMARKS.md (or `out`) from the template and the documents; returns the path."""
    docs = load_all() if docs is None else docs
    run = newest(docs, "full", schema=2)
    wake = newest(docs, "wake")
    soaks = newest_soaks(docs)
    legacy = [d for d in docs if d.get("schema_version", 1) == 1 and kind_of(d) in ("full", "latency-only")]
    with open(os.path.join(HERE, "BENCHMARKS.tmpl.md")) as f:
        tmpl = f.read()
    if run:
        mach = run["machine"]
        meth = run["method"]
        subs = {
            "RUN": f"Run {run['run']} ({run['started_utc']}, mcp_jobs {run['mcp_jobs_version']}, {run['code']}): "
                   f"`{run['command']}`",
            "RUN_METHOD": f"Every figure is the sum of {meth['rounds']} interleaved rounds (the entries' order rotating) of "
                          f"{meth['round_seconds']:g} s per entry for the lifecycle and flow control, and of half that "
                          "for enqueue and drain, at synchronous_commit " + " and ".join(meth["sync_modes"])
                          + f"; pg-boss and graphile-worker: {meth['peers']}",
            "REPORT": render_run(run),
            "MACHINE": (f"- CPU: {mach['cpu']}\n- nproc: {mach['nproc']}, load average at the start "
                        f"{' '.join(mach.get('loadavg_at_start', []))}\n- node {mach['node']}, pg-boss {mach['pg_boss']}, "
                        f"graphile-worker {mach['graphile_worker']}, pgmq {mach['pgmq']}\n- {mach['postgresql']}\n"
                        f"- the run took {mach['elapsed_s']} s\n\n`free -h`:\n\n" + indent(mach["free"])),
            "SETTINGS": indent("\n".join(f"{k} = {v}" for k, v in run["settings"])),
            "STATEMENTS": indent(run.get("statements", "")),
        }
    else:
        none = "No run of bench/run.py with the current harness recorded yet: `bench/run.sh` makes one."
        subs = {k: none for k in ("RUN", "REPORT", "MACHINE", "SETTINGS", "STATEMENTS")}
        subs["RUN_METHOD"] = "Every figure is the sum of interleaved rounds, the entries' order rotating every round"
    subs.update({
        "CONCLUSIONS": conclusions(run, wake, soaks),
        "TARGETS": targets(run, wake, soaks),
        "WAKE": render_wake(wake),
        "SOAK": "\n\n".join(render_soak(d) for d in soaks) if soaks else render_soak(None),
        "HISTORY": history(docs),
        "LEGACY_HISTORY": legacy_history(legacy) if legacy else "-",
    })
    text = re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: subs[m.group(1)], tmpl)
    path = out or os.path.join(ROOT, "BENCHMARKS.md")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path} (run {run['run'] if run else '-'}, wake {wake['run'] if wake else '-'}, "
          f"soak {', '.join(str(d['run']) for d in soaks) or '-'}; {len(docs)} documents)", flush=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="write here instead of BENCHMARKS.md")
    ap.add_argument("--results", help="read the documents from this directory instead of bench/results "
                                      "(smoke documents included)")
    args = ap.parse_args()
    docs = None
    if args.results:
        docs = []
        for name in sorted(os.listdir(args.results)):
            if name.endswith(".json"):
                with open(os.path.join(args.results, name)) as f:
                    d = json.load(f)
                d["_file"] = name
                d.pop("smoke", None)
                d["complete"] = True
                docs.append(d)
    write_md(args.out, docs)


if __name__ == "__main__":
    main()
