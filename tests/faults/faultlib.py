"""Helpers shared by the fault-tolerance tests: throwaway clusters with mcp_jobs, a hard crash of the
postmaster, and the consistency invariants every job must satisfy whatever happened to it."""
import os
import signal
import subprocess
import time

import psycopg
from pgharness import Cluster, wait_until

# The facts per job, aggregated once (set-based: linear in the table sizes, usable on 100k jobs).
_FACTS = """
WITH r AS (
    SELECT job_id,
           count(*) AS runs,
           count(DISTINCT attempt) AS distinct_attempts,
           max(attempt) AS max_attempt,
           count(*) FILTER (WHERE finished_at IS NULL) AS open_runs,
           count(*) FILTER (WHERE outcome = 'completed') AS completed_runs,
           array_agg(id) FILTER (WHERE finished_at IS NULL) AS open_ids,
           array_agg(id) FILTER (WHERE outcome = 'completed') AS completed_ids
      FROM mcp_jobs.job_runs GROUP BY job_id
), e AS (
    SELECT job_id,
           count(*) FILTER (WHERE event_type = 'enqueued') AS enqueued,
           count(*) FILTER (WHERE event_type = 'completed') AS completed,
           array_agg(run_id) FILTER (WHERE event_type = 'completed') AS completed_run_ids
      FROM mcp_jobs.job_events GROUP BY job_id
), d AS (
    SELECT job_id, count(*) AS letters FROM mcp_jobs.dead_letter_queue GROUP BY job_id
)
SELECT j.id, j.status, j.attempts, j.current_run_id, j.lease_expires_at, j.finished_at,
       coalesce(r.runs, 0) AS runs, coalesce(r.distinct_attempts, 0) AS distinct_attempts,
       coalesce(r.max_attempt, 0) AS max_attempt, coalesce(r.open_runs, 0) AS open_runs,
       coalesce(r.completed_runs, 0) AS completed_runs, r.open_ids, r.completed_ids,
       coalesce(e.enqueued, 0) AS enqueued_events, coalesce(e.completed, 0) AS completed_events,
       e.completed_run_ids, coalesce(d.letters, 0) AS letters
  FROM mcp_jobs.jobs j
  LEFT JOIN r ON r.job_id = j.id
  LEFT JOIN e ON e.job_id = j.id
  LEFT JOIN d ON d.job_id = j.id
"""

# Each condition over _FACTS (alias f) selects the offending jobs; none selected = the invariant holds.
INVARIANTS = {
    "completed job without exactly one completed run = current_run_id":
        "f.status = 'completed' AND (f.completed_runs <> 1 OR f.completed_ids <> ARRAY[f.current_run_id])",
    "non-processing job with an open run":
        "f.status <> 'processing' AND f.open_runs <> 0",
    "processing job without exactly one open run = current_run_id":
        "f.status = 'processing' AND (f.open_runs <> 1 OR f.open_ids <> ARRAY[f.current_run_id])",
    "job without exactly one 'enqueued' event":
        "f.enqueued_events <> 1",
    "completed job without exactly one 'completed' event of its current run":
        "f.status = 'completed' AND (f.completed_events <> 1 OR f.completed_run_ids <> ARRAY[f.current_run_id])",
    "'completed' event on a job that is not completed":
        "f.status <> 'completed' AND f.completed_events <> 0",
    # no dead-letter requeue is used where these invariants are checked: attempts = runs, numbered 1..n
    "attempts <> number of runs, or runs not numbered 1..attempts":
        "f.attempts <> f.runs OR f.distinct_attempts <> f.runs OR f.max_attempt <> f.runs",
    # (the dead letter may have been resolved since; it stays)
    "failed job without a dead letter":
        "f.status = 'failed' AND f.letters = 0",
    "queued job with a lease or a finish time":
        "f.status = 'queued' AND (f.lease_expires_at IS NOT NULL OR f.finished_at IS NOT NULL)",
}

# Checks on runs and events that are not per job.
GLOBAL_INVARIANTS = {
    # one 'started' event per run, carrying the run's id and job
    "run without exactly one 'started' event, or 'started' event without its run": """
        SELECT coalesce(r.id::text, 'event ' || s.run_id::text)
          FROM mcp_jobs.job_runs r
          FULL JOIN (SELECT job_id, run_id, count(*) AS n FROM mcp_jobs.job_events
                      WHERE event_type = 'started' GROUP BY job_id, run_id) s
            ON s.run_id = r.id AND s.job_id = r.job_id
         WHERE r.id IS NULL OR s.run_id IS NULL OR s.n <> 1""",
}


def check_invariants(conn):
    """Return {invariant: [offending ids (at most 10)]} for every invariant that does not hold
    (empty dict = all hold). One pass over the tables for the per-job invariants."""
    names = list(INVARIANTS)
    flags = ", ".join(f"coalesce(({INVARIANTS[n]}), false)" for n in names)
    bad = {}
    for row in conn.execute(f"SELECT * FROM (SELECT f.id, ARRAY[{flags}] AS v FROM ({_FACTS}) f) x "
                            f"WHERE true = ANY (v)"):
        for name, violated in zip(names, row[1]):
            if violated:
                ids = bad.setdefault(name, [])
                if len(ids) < 10:
                    ids.append(row[0])
    for name, sql in GLOBAL_INVARIANTS.items():
        rows = [r[0] for r in conn.execute(sql + " LIMIT 10").fetchall()]
        if rows:
            bad[name] = rows
    return bad


def new_cluster(conf=None, name="mcp_jobs_faults", dbs=("postgres",)):
    """A started throwaway cluster with `CREATE EXTENSION mcp_jobs` in each of `dbs`."""
    c = Cluster(conf=conf, name=name)
    try:
        c.start()
        for db in dbs:
            if db != "postgres":
                c.psql(f"CREATE DATABASE {db};")
            c.psql("CREATE EXTENSION mcp_jobs;", dbname=db)
    except Exception:
        c.destroy()
        raise
    return c


def _children(pid):
    """Pids whose parent is `pid` (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces: split after the last ')'
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rindex(")") + 2:].split()[0]
    return state != "Z"


def crash(cluster, timeout=30):
    """kill -9 the postmaster and wait until it and all its children have exited. Returns the killed pids.

    The postmaster's backends notice its death and exit by themselves (they are not killed)."""
    pm = cluster.postmaster_pid()
    children = _children(pm)
    os.kill(pm, signal.SIGKILL)
    wait_until(lambda: not _alive(pm) and not any(_alive(p) for p in children), timeout=timeout,
               what="the killed postmaster and its children to exit")
    cluster.killed_postmaster = pm
    return [pm] + children


def restart(cluster, attempts=10):
    """Start a crashed cluster (crash recovery runs), retrying a few times.

    The killed postmaster is reparented to PID 1, which reaps it when it gets to it; until then it is a
    zombie, kill(pid, 0) succeeds on it and the new postmaster refuses to start ("lock file
    postmaster.pid already exists"). So wait for it to be reaped; if PID 1 never reaps (a container
    without an init), remove the stale postmaster.pid, which is safe because no process of the old
    server is alive any more (crash() waited for that)."""
    pm = getattr(cluster, "killed_postmaster", None)
    if pm is not None:
        try:
            wait_until(lambda: not os.path.exists(f"/proc/{pm}"), timeout=15, what="the old postmaster to be reaped")
        except TimeoutError:
            os.unlink(os.path.join(cluster.data, "postmaster.pid"))
    last = None
    for _ in range(attempts):
        try:
            cluster.start()
            return
        except subprocess.CalledProcessError as exc:
            last = exc
            time.sleep(0.5)  # between tries of a start that failed; pg_ctl -w did the waiting
    raise RuntimeError(f"cluster did not restart after {attempts} tries: {last}\n{cluster.log_text()[-3000:]}")


def connect(cluster, dbname="postgres"):
    return psycopg.connect(cluster.dsn(dbname), autocommit=True)
