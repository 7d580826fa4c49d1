"""A Python worker for mcp_jobs: runs `discovery` jobs until SIGTERM / Ctrl-C.

SUPABASE_URL=... SUPABASE_SERVICE_ROLE_KEY=... python3 examples/worker.py
"""

import os

from mcp_jobs import Job, Worker


def discovery(job: Job) -> dict[str, object]:
    job.progress({"host": job.payload.get("host"), "step": "scanning"})  # also extends the lease
    return {"host": job.payload.get("host"), "found": 0}  # the job's result; raising fails the attempt


url, key = os.environ["SUPABASE_URL"], os.environ["SUPABASE_SERVICE_ROLE_KEY"]
Worker(url, key, handlers={"discovery": discovery}, concurrency=4, lease_seconds=60).run()
