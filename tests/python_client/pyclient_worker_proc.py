"""A worker process for the tests: `python3 pyclient_worker_proc.py '<config JSON>'`.

Config: url, key, source, events (a file: one JSON line per worker event), and optionally
concurrency, lease_seconds, batch_size, until_idle, worker_id, shutdown_grace, claim_wait.

Its one handler, `task`, follows the job's payload:
  {"n": 3}                      -> result {"n": 3, "double": 6}
  {"sleep": 2.5}                -> takes 2.5 s first (ends early if the job is lost)
  {"sleep_on_attempts": [1]}    -> sleeps on those attempts only
"""

import json
import os
import sys
import threading
from typing import Any

from mcp_jobs import Job, Worker, WorkerEvent


def main() -> int:
    cfg = json.loads(sys.argv[1])
    out = open(cfg["events"], "a", buffering=1)  # noqa: SIM115 - open while the worker runs
    lock = threading.Lock()

    def on_event(e: WorkerEvent) -> None:
        line = {"type": e.type, "t": e.time, "pid": os.getpid(), "worker_id": e.worker_id}
        if e.job is not None:
            line.update(job_id=e.job.id, run_id=e.job.run_id, attempt=e.job.attempt)
        if e.error is not None:
            line.update(error=str(e.error), error_class=type(e.error).__name__, status=getattr(e.error, "status", None))
        line.update({k: v for k, v in e.data.items() if isinstance(v, str | int | float | bool | type(None))})
        with lock:
            out.write(json.dumps(line) + "\n")

    def task(job: Job) -> dict[str, Any]:
        p = job.payload
        attempts = p.get("sleep_on_attempts")
        if p.get("sleep") and (attempts is None or job.attempt in attempts):
            job.lost.wait(float(p["sleep"]))
        return {"n": p.get("n"), "double": 2 * p["n"] if isinstance(p.get("n"), int) else None}

    worker = Worker(
        cfg["url"],
        cfg["key"],
        handlers={"task": task},
        sources=[cfg["source"]],
        concurrency=cfg.get("concurrency", 4),
        lease_seconds=cfg.get("lease_seconds", 30),
        batch_size=cfg.get("batch_size"),
        worker_id=cfg.get("worker_id"),
        shutdown_grace=cfg.get("shutdown_grace", 30.0),
        **({"claim_wait": cfg["claim_wait"]} if "claim_wait" in cfg else {}),
        on_event=on_event,
    )
    stats = worker.run(until_idle=cfg.get("until_idle", False))
    with lock:
        out.write(json.dumps({"type": "exit", "pid": os.getpid(), **vars(stats)}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
