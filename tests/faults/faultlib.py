"""Helpers shared by the fault-tolerance tests: throwaway clusters with mcp_jobs, a hard crash of the
postmaster, and the consistency invariants every job must satisfy whatever happened to it."""
import os
import signal
import subprocess
import time

import psycopg

from pgharness import Cluster, wait_until

TABLES = ["jobs", "job_runs", "job_events", "dead_letter_queue", "metrics"]

# Each query returns the offending rows (id + why); an empty result means the invariant holds.
INVARIANTS = {
    # a completed job has exactly one completed run, and it is the job's current run
    "completed job without exactly one completed run = current_run_id": """
        SELECT j.id FROM mcp_jobs.jobs j
         WHERE j.status = 'completed'
           AND (SELECT count(*) FROM mcp_jobs.job_runs r
                 WHERE r.job_id = j.id AND r.outcome = 'completed') <> 1
            OR j.status = 'completed'
           AND NOT EXISTS (SELECT 1 FROM mcp_jobs.job_runs r
                            WHERE r.id = j.current_run_id AND r.job_id = j.id AND r.outcome = 'completed')""",
    # no finished (or queued) job has a run still open
    "non-processing job with an open run": """
        SELECT j.id FROM mcp_jobs.jobs j
         WHERE j.status <> 'processing'
           AND EXISTS (SELECT 1 FROM mcp_jobs.job_runs r WHERE r.job_id = j.id AND r.finished_at IS NULL)""",
    # a processing job has exactly one open run, and it is current_run_id
    "processing job without exactly one open run = current_run_id": """
        SELECT j.id FROM mcp_jobs.jobs j
         WHERE j.status = 'processing'
           AND ((SELECT count(*) FROM mcp_jobs.job_runs r WHERE r.job_id = j.id AND r.finished_at IS NULL) <> 1
                OR NOT EXISTS (SELECT 1 FROM mcp_jobs.job_runs r
                                WHERE r.id = j.current_run_id AND r.job_id = j.id AND r.finished_at IS NULL))""",
    "job without exactly one 'enqueued' event": """
        SELECT j.id FROM mcp_jobs.jobs j
         WHERE (SELECT count(*) FROM mcp_jobs.job_events e
                 WHERE e.job_id = j.id AND e.event_type = 'enqueued') <> 1""",
    # one 'started' event per run, carrying the run's id
    "run without exactly one 'started' event": """
        SELECT r.id FROM mcp_jobs.job_runs r
         WHERE (SELECT count(*) FROM mcp_jobs.job_events e
                 WHERE e.run_id = r.id AND e.event_type = 'started') <> 1""",
    "'started' event without its run": """
        SELECT e.id::text FROM mcp_jobs.job_events e
         WHERE e.event_type = 'started'
           AND NOT EXISTS (SELECT 1 FROM mcp_jobs.job_runs r WHERE r.id = e.run_id AND r.job_id = e.job_id)""",
    "completed job without exactly one 'completed' event of its current run": """
        SELECT j.id FROM mcp_jobs.jobs j
         WHERE j.status = 'completed'
           AND (SELECT count(*) FROM mcp_jobs.job_events e
                 WHERE e.job_id = j.id AND e.event_type = 'completed' AND e.run_id = j.current_run_id) <> 1""",
    "'completed' event on a job that is not completed": """
        SELECT e.job_id FROM mcp_jobs.job_events e JOIN mcp_jobs.jobs j ON j.id = e.job_id
         WHERE e.event_type = 'completed' AND j.status <> 'completed'""",
    # no dead-letter requeue is used where these invariants are checked: attempts = runs, numbered 1..n
    "attempts <> number of runs, or runs not numbered 1..attempts": """
        SELECT j.id FROM mcp_jobs.jobs j
          LEFT JOIN LATERAL (SELECT count(*) AS n, count(DISTINCT attempt) AS d, max(attempt) AS m
                               FROM mcp_jobs.job_runs r WHERE r.job_id = j.id) r ON true
         WHERE j.attempts <> r.n OR r.d <> r.n OR coalesce(r.m, 0) <> r.n""",
    "failed job without an open dead letter": """
        SELECT j.id FROM mcp_jobs.jobs j
         WHERE j.status = 'failed'
           AND NOT EXISTS (SELECT 1 FROM mcp_jobs.dead_letter_queue d WHERE d.job_id = j.id AND NOT d.resolved)""",
    "queued job with a lease, worker run open, or finish time": """
        SELECT j.id FROM mcp_jobs.jobs j
         WHERE j.status = 'queued' AND (j.lease_expires_at IS NOT NULL OR j.finished_at IS NOT NULL)""",
}


def check_invariants(conn):
    """Return {invariant: [offending ids]} for every invariant that does not hold (empty dict = all hold)."""
    bad = {}
    for name, sql in INVARIANTS.items():
        rows = [r[0] for r in conn.execute(sql).fetchall()]
        if rows:
            bad[name] = rows[:10]
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
