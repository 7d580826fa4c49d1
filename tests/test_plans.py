"""Plans and reads stay bounded as tables grow.

The queue's hot path (enqueue, claim, complete, fail, progress, cancel) runs no SQL statement: it
reads indexes by key itself (src/native), so no plan can go stale. Its cost is checked here in
buffers, from EXPLAIN (ANALYZE, BUFFERS) of the call, on tables that were never analyzed, with a
large queue, a large history, and a queue mostly held back by flow control.

The functions that do run statements (reads of the history, maintenance, settings) plan each one
for the call at hand (src/spi_util.rs, PLAN_EACH_CALL); the sections below read their plans with
auto_explain (JSON) after the tables grew.
"""
import contextlib
import json

import pytest


@pytest.fixture
def fresh(cluster, request):
    name = f"plans_{request.node.name.split('[')[0][-20:]}".lower()
    cluster.psql(f'DROP DATABASE IF EXISTS "{name}"; CREATE DATABASE "{name}";')
    cluster.psql("CREATE EXTENSION mcp_jobs;"
                 # no ANALYZE behind the test's back
                 "ALTER TABLE mcp_jobs.jobs SET (autovacuum_enabled = false);"
                 "ALTER TABLE mcp_jobs.job_runs SET (autovacuum_enabled = false);"
                 "ALTER TABLE mcp_jobs.job_events SET (autovacuum_enabled = false);", dbname=name)
    conn = cluster.connect(name)
    try:
        yield conn
    finally:
        conn.close()


ANALYZE_HISTORY = "ANALYZE mcp_jobs.jobs, mcp_jobs.job_runs, mcp_jobs.job_events"


@contextlib.contextmanager
def explained(conn, analyze=False, settings=False):
    """auto_explain in this session while the block runs. Yields a list that, after the block,
    holds the JSON plan ({"Query Text", "Plan"}) of every statement run in it, nested ones included
    (with actual row counts and loops when `analyze`; with "Settings", the planner settings that
    differ from their defaults, when `settings`)."""
    notices = []

    def on_notice(d):
        notices.append(d.message_primary or "")

    conn.add_notice_handler(on_notice)
    conn.execute("LOAD 'auto_explain'")
    options = [("log_min_duration", "0"), ("log_nested_statements", "on"), ("log_level", "notice"),
               ("log_format", "json"), ("log_settings", "on" if settings else "off")]
    if analyze:
        options += [("log_analyze", "on"), ("log_timing", "off")]
    for k, v in options:
        conn.execute(f"SET auto_explain.{k} = {v}")
    plans = []
    try:
        yield plans
    finally:
        conn.execute("SET auto_explain.log_min_duration = -1")
        conn.remove_notice_handler(on_notice)
        plans.extend(json.loads(n[n.index("{"):]) for n in notices if '"Query Text"' in n)


def walk(plan):
    """Every node of a JSON plan."""
    stack = [plan]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(n.get("Plans", []))


def seq_scans(plans):
    """(statement, table) of every sequential scan in the plans."""
    return [(p["Query Text"][:60], n["Relation Name"]) for p in plans for n in walk(p["Plan"])
            if n["Node Type"] == "Seq Scan"]



# ---------------------------------------------------------------------------------------------
# The hot path reads a bounded number of buffers, whatever the tables hold
# ---------------------------------------------------------------------------------------------
def buffers(conn, sql, args=()):
    """Shared buffers (hit + read) a call touched, from EXPLAIN (ANALYZE, BUFFERS) of it: the
    function scan node counts every buffer the function read or wrote."""
    plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, args).fetchone()[0][0]["Plan"]
    return plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)


def big_tables(conn, queued=100_000, finished=100_000):
    """A large queue and a large history, inserted without ANALYZE (never analyzed)."""
    conn.execute("""INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at, created_at)
                    SELECT 'old', 't', 'completed', now() - interval '1 day', now() - interval '1 day'
                      FROM generate_series(1, %s)""", (finished,))
    conn.execute("""INSERT INTO mcp_jobs.jobs (source, job_type)
                    SELECT 'big', 'held' FROM generate_series(1, %s)""", (queued,))
    assert conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'mcp_jobs.jobs'::regclass").fetchone()[0] < 0


# a claim walks a handful of index pages and writes its rows (job, run, event and their index
# entries), whatever the queue's size
CLAIM_BUFFERS = 100


def test_claim_reads_a_bounded_number_of_buffers_on_a_large_unanalyzed_queue(fresh):
    fresh.execute("SELECT mcp_jobs.enqueue_job('small', 't') FROM generate_series(1, 10)")
    buffers(fresh, "SELECT * FROM mcp_jobs.claim_next_job('w')")  # the session's first call loads caches
    small = [buffers(fresh, "SELECT * FROM mcp_jobs.claim_next_job('w')") for _ in range(5)]
    big_tables(fresh)
    fresh.execute("SELECT mcp_jobs.enqueue_job('due', 't')")
    got = [buffers(fresh, "SELECT * FROM mcp_jobs.claim_next_job('w')") for _ in range(5)]
    assert max(got) < CLAIM_BUFFERS, (small, got)
    # 200 000 rows more cost a level more in a few B-trees, not a walk
    assert max(got) <= max(small) + 30, (small, got)
    batch = buffers(fresh, "SELECT * FROM mcp_jobs.claim_jobs('w', p_limit => 50)")
    assert batch < 50 * CLAIM_BUFFERS, batch


def test_a_batch_claim_costs_per_job_what_a_single_claim_costs(fresh):
    """A batch's own claims stay visible to it (one command id): each visit of a lane resumes after
    the last entry it went past instead of walking the taken jobs again."""
    fresh.execute("SELECT mcp_jobs.enqueue_jobs((SELECT jsonb_agg(jsonb_build_object('source', 's', "
                  "'job_type', 't')) FROM generate_series(1, 1000))) FROM generate_series(1, 2)")
    fresh.execute("SELECT mcp_jobs.claim_next_job('w')")
    single = min(buffers(fresh, "SELECT * FROM mcp_jobs.claim_next_job('w')") for _ in range(3))
    batch = buffers(fresh, "SELECT * FROM mcp_jobs.claim_jobs('w', p_limit => 1000)")
    assert batch / 1000 <= 1.5 * single, (single, batch)


def test_claim_skips_a_held_back_queue_in_one_step(fresh):
    big_tables(fresh)
    # 100 000 jobs of a paused queue, and a few due ones of another: the claim does not walk the
    # paused queue's jobs
    fresh.execute("SELECT mcp_jobs.pause_queue('big', 'held')")
    fresh.execute("SELECT count(mcp_jobs.enqueue_job('zz', 't')) FROM generate_series(1, 10)")
    got = [buffers(fresh, "SELECT * FROM mcp_jobs.claim_next_job('w')") for _ in range(5)]
    assert max(got) < CLAIM_BUFFERS, got
    assert fresh.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE source = 'zz' AND status = 'processing'"
                         ).fetchone()[0] == 5
    # the same with a concurrency limit reached instead of a pause
    fresh.execute("SELECT mcp_jobs.resume_queue('big', 'held')")
    fresh.execute("SELECT mcp_jobs.set_queue('big', 'held', p_max_concurrency => 1)")
    buffers(fresh, "SELECT * FROM mcp_jobs.claim_next_job('w', ARRAY['big'])")  # takes its one slot
    got = [buffers(fresh, "SELECT * FROM mcp_jobs.claim_next_job('w')") for _ in range(5)]
    assert max(got) < CLAIM_BUFFERS, got


def test_control_a_walk_over_the_queue_reads_thousands_of_buffers(fresh):
    """The check above can fail: reading the held-back queue job by job touches its pages."""
    big_tables(fresh)
    walk = buffers(fresh, "SELECT count(*) FROM (SELECT * FROM mcp_jobs.jobs WHERE status = 'queued' "
                          "ORDER BY priority DESC, source COLLATE \"C\", job_type COLLATE \"C\", "
                          "concurrency_key COLLATE \"C\", run_at, id LIMIT 100000) q")
    assert walk > 10 * CLAIM_BUFFERS, walk


def test_transitions_read_a_bounded_number_of_buffers(fresh):
    big_tables(fresh, queued=50_000, finished=100_000)
    one = lambda sql, *a: fresh.execute(sql, a).fetchone()
    fresh.execute("SELECT mcp_jobs.cancel_job(mcp_jobs.enqueue_job('warm', 't'))")  # the session's caches
    assert buffers(fresh, "SELECT mcp_jobs.enqueue_job('x', 't')") < 40
    jid, rid = one("SELECT id, run_id FROM mcp_jobs.claim_next_job('w', ARRAY['x'])")
    assert buffers(fresh, "SELECT mcp_jobs.report_progress(%s, %s)", (jid, rid)) < 40
    assert buffers(fresh, "SELECT mcp_jobs.complete_job(%s, %s)", (jid, rid)) < 40
    jid = one("SELECT mcp_jobs.enqueue_job('x', 't')")[0]
    assert buffers(fresh, "SELECT mcp_jobs.cancel_job(%s)", (jid,)) < 40


# ---------------------------------------------------------------------------------------------
# The functions that run statements plan each one for the call
# ---------------------------------------------------------------------------------------------
def test_no_function_carries_planner_settings(fresh):
    """Planner settings live in one place (src/spi_util.rs), applied in code: no SET clause but
    search_path on any function of the extension."""
    rows = fresh.execute("""
        SELECT p.oid::regprocedure::text, c
          FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid, unnest(p.proconfig) c
         WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'mcp_jobs') AND d.deptype = 'e'
           AND d.classid = 'pg_proc'::regclass AND c NOT LIKE 'search_path=%%'
           AND p.proname NOT IN ('_delete_job_history')""").fetchall()
    assert rows == [], rows


STATEMENT_CALLS = [
    "SELECT count(*) FROM mcp_jobs.list_jobs(p_source => 'p')",
    "SELECT mcp_jobs.get_job_stats()",
    "SELECT count(*) FROM mcp_jobs.alerts()",
    "SELECT mcp_jobs.aggregate_metrics()",
    "SELECT mcp_jobs.run_maintenance()",
    "SELECT count(*) FROM mcp_jobs.list_dead_letters()",
    "SELECT count(*) FROM mcp_jobs.get_metrics()",
    "SELECT count(*) FROM mcp_jobs.get_queues()",
    "SELECT count(*) FROM mcp_jobs.list_schedules()",
]


@pytest.mark.parametrize("call", STATEMENT_CALLS)
def test_statements_run_with_a_plan_for_the_call(fresh, call):
    fresh.execute("SELECT mcp_jobs.enqueue_job('p', 't')")
    with explained(fresh, settings=True) as plans:
        fresh.execute(call)
    nested = [p for p in plans if not p["Query Text"].lstrip().startswith(call.split("(")[0][:12])]
    assert nested, plans
    for p in nested:
        assert p.get("Settings", {}).get("plan_cache_mode") == "force_custom_plan", p
    # and the caller's setting is back
    assert fresh.execute("SHOW plan_cache_mode").fetchone()[0] == "auto"


def history_plans(conn):
    """Aggregate 8 times on empty tables and read one job 8 times, grow the history (5 000 jobs and
    20 000 events of 40 days ago, 200 jobs of this hour), then return the JSON plans (with actual
    loops) of one more aggregate_metrics() and get_job()."""
    conn.execute(ANALYZE_HISTORY)
    for _ in range(8):  # the worker's first minutes on a fresh install
        conn.execute("SELECT mcp_jobs.aggregate_metrics()")
    jid = conn.execute("SELECT mcp_jobs.enqueue_job('p', 't')").fetchone()[0]
    for _ in range(8):
        conn.execute("SELECT mcp_jobs.get_job(%s)", (jid,))
    conn.execute("""INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at, created_at)
                    SELECT 'p', 't', 'completed', now() - interval '40 days', now() - interval '40 days'
                      FROM generate_series(1, 5000)""")
    conn.execute("""INSERT INTO mcp_jobs.job_events (job_id, event_type, created_at)
                    SELECT id, 'enqueued', now() - interval '40 days' FROM mcp_jobs.jobs, generate_series(1, 4)
                     WHERE job_type = 't' AND status = 'completed'""")
    conn.execute("SELECT count(mcp_jobs.enqueue_job('p', 't')) FROM generate_series(1, 200)")
    with explained(conn, analyze=True) as plans:
        conn.execute("SELECT mcp_jobs.aggregate_metrics()")
        conn.execute("SELECT mcp_jobs.get_job(%s)", (jid,))
    return [p for p in plans if "job_events" in p["Query Text"] and "mcp_jobs." not in p["Query Text"][:40]]


def rescanned_seq_scans(plans):
    return [(n["Relation Name"], n["Actual Loops"]) for p in plans for n in walk(p["Plan"])
            if n["Node Type"] == "Seq Scan" and n.get("Actual Loops", 0) > 1]


def test_history_reads_and_maintenance_stay_on_indexes_as_tables_grow(fresh):
    plans = history_plans(fresh)
    assert len(plans) >= 2, plans
    assert not rescanned_seq_scans(plans), plans
    get_job = [p for p in plans if "'dead_letters'" in p["Query Text"]]  # src/queries/get_job.sql
    assert len(get_job) == 1, plans
    assert not [s for s in seq_scans(get_job) if s[1] == "job_events"], get_job


# ---------------------------------------------------------------------------------------------
# A deleted job's history is found by key, whatever the statistics were
# ---------------------------------------------------------------------------------------------
# A history trigger that cannot use the keys (job_id compared as text): it reads the whole event
# log and run table, what the check below tells apart from a lookup by key.
SCANNING_DELETE_HISTORY = """
CREATE OR REPLACE FUNCTION mcp_jobs._delete_job_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM mcp_jobs.job_events e WHERE e.job_id::text IN (SELECT id::text FROM deleted_jobs);
    DELETE FROM mcp_jobs.job_runs r WHERE r.job_id::text IN (SELECT id::text FROM deleted_jobs);
    RETURN NULL;
END
$$"""


def grow(conn):
    """A large history: 40 000 events and 40 000 runs of other jobs."""
    conn.execute("""INSERT INTO mcp_jobs.job_events (job_id, event_type)
                    SELECT mcp_jobs.uuidv7(), 'enqueued' FROM generate_series(1, 40000)""")
    conn.execute("""INSERT INTO mcp_jobs.job_runs (job_id, attempt, lease_seconds)
                    SELECT mcp_jobs.uuidv7(), 1, 30 FROM generate_series(1, 40000)""")


def delete_ten(conn):
    """Delete nothing 8 times on empty analyzed tables, grow the history, then return the buffers
    a DELETE of 10 jobs (and, through the trigger, their history) touched."""
    conn.execute(ANALYZE_HISTORY)
    for _ in range(8):
        conn.execute("DELETE FROM mcp_jobs.jobs WHERE finished_at < now() - interval '30 days'")
    conn.execute("SELECT count(mcp_jobs.enqueue_job('p', 't')) FROM generate_series(1, 100)")
    grow(conn)
    # the history is deleted by an AFTER STATEMENT trigger, whose reads EXPLAIN does not count:
    # read the tables' own counters around the DELETE
    def history_blocks():
        conn.execute("SELECT pg_stat_force_next_flush()")
        return conn.execute(
            "SELECT sum(coalesce(heap_blks_read, 0) + coalesce(heap_blks_hit, 0) + coalesce(idx_blks_read, 0)"
            " + coalesce(idx_blks_hit, 0)) FROM pg_statio_user_tables"
            " WHERE schemaname = 'mcp_jobs' AND relname IN ('job_events', 'job_runs')").fetchone()[0]
    before = history_blocks()
    conn.execute("DELETE FROM mcp_jobs.jobs WHERE id IN (SELECT id FROM mcp_jobs.jobs WHERE job_type = 't' LIMIT 10)")
    return history_blocks() - before


def test_deleting_jobs_finds_their_history_by_key(fresh):
    n = delete_ten(fresh)
    assert n < 200, n
    # every deleted job's events are gone, the other jobs' are there
    assert fresh.execute("SELECT count(*) FROM mcp_jobs.job_events e JOIN mcp_jobs.jobs j ON j.id = e.job_id"
                         ).fetchone()[0] == 90


def test_control_a_history_trigger_that_scans_reads_far_more(fresh):
    fresh.execute(SCANNING_DELETE_HISTORY)
    n = delete_ten(fresh)
    assert n > 400, n
