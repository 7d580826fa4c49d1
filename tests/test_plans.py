"""Plans of the hot functions stay on indexes as tables grow.

Each backend prepares the queue's statements once and PostgreSQL keeps a generic plan made from the
table sizes of that moment. Made while job_runs was empty, "find the run by id" was a sequential
scan that every later call paid as the table grew (0.37 ms and 102 buffers per complete_job in a
30 000-job drain). The hot functions carry SET enable_seqscan = off (sql/finalize.sql); this test
builds the worst case (plans cached on empty tables, then 20 000 runs) and reads the nested plans
with auto_explain. The control test removes the setting and shows the sequential scan, so the check
can fail.
"""
import pytest

HOT = [
    "mcp_jobs.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text)",
    "mcp_jobs.claim_next_job(text, text[], text[], integer)",
    "mcp_jobs.claim_jobs(text, text[], text[], integer, integer)",
    "mcp_jobs.complete_job(uuid, uuid, jsonb)",
    "mcp_jobs.complete_jobs(uuid[], uuid[], jsonb[])",
    "mcp_jobs.fail_job(uuid, uuid, text, boolean)",
    "mcp_jobs.report_progress(uuid, uuid, jsonb)",
    "mcp_jobs.cancel_job(uuid)",
]


@pytest.fixture
def fresh(cluster, request):
    name = f"plans_{request.node.name.split('[')[0][-20:]}".lower()
    cluster.psql(f'DROP DATABASE IF EXISTS "{name}"; CREATE DATABASE "{name}";')
    cluster.psql("CREATE EXTENSION mcp_jobs;"
                 # no ANALYZE behind the test's back: it would invalidate the cached plans
                 "ALTER TABLE mcp_jobs.jobs SET (autovacuum_enabled = false);"
                 "ALTER TABLE mcp_jobs.job_runs SET (autovacuum_enabled = false);"
                 "ALTER TABLE mcp_jobs.job_events SET (autovacuum_enabled = false);", dbname=name)
    conn = cluster.connect(name)
    try:
        yield conn
    finally:
        conn.close()


def nested_plans_after_growth(conn):
    """Cache generic plans on analyzed empty tables, grow job_runs and jobs, then return the nested plans of
    one more enqueue, claim, progress and complete."""
    one = lambda sql, *a: conn.execute(sql, a).fetchone()  # noqa: E731
    # statistics of empty tables, as autovacuum leaves them after a drain, a prune or a TRUNCATE
    conn.execute("VACUUM ANALYZE mcp_jobs.jobs, mcp_jobs.job_runs, mcp_jobs.job_events")
    for _ in range(8):  # the 6th execution of a prepared statement switches to its generic plan
        one("SELECT mcp_jobs.enqueue_job('p', 't')")
        jid, rid = one("SELECT id, run_id FROM mcp_jobs.claim_next_job('w')")
        one("SELECT mcp_jobs.report_progress(%s, %s)", jid, rid)
        one("SELECT mcp_jobs.complete_job(%s, %s)", jid, rid)
    conn.execute("""INSERT INTO mcp_jobs.job_runs (job_id, attempt, lease_seconds)
                    SELECT mcp_jobs.uuidv7(), 1, 30 FROM generate_series(1, 20000)""")
    conn.execute("""INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at)
                    SELECT 'p', 'old', 'completed', now() FROM generate_series(1, 20000)""")
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    conn.execute("LOAD 'auto_explain'")
    for k, v in (("log_min_duration", "0"), ("log_nested_statements", "on"), ("log_level", "notice")):
        conn.execute(f"SET auto_explain.{k} = {v}")
    one("SELECT mcp_jobs.enqueue_job('p', 't')")
    jid, rid = one("SELECT id, run_id FROM mcp_jobs.claim_next_job('w')")
    one("SELECT mcp_jobs.report_progress(%s, %s)", jid, rid)
    one("SELECT mcp_jobs.complete_job(%s, %s)", jid, rid)
    conn.execute("SET auto_explain.log_min_duration = -1")
    plans = [n for n in notices if "Query Text:" in n and "mcp_jobs." in n]
    assert len(plans) >= 5, notices
    return plans


def test_hot_functions_plan_on_indexes_only(fresh):
    got = fresh.execute("""SELECT p.oid::regprocedure::text FROM pg_proc p
                            WHERE 'enable_seqscan=off' = ANY (p.proconfig)
                              AND p.pronamespace = 'mcp_jobs'::regnamespace ORDER BY 1""").fetchall()
    assert sorted(g[0] for g in got) == sorted(
        fresh.execute("SELECT %s::regprocedure::text", (h,)).fetchone()[0] for h in HOT)
    plans = nested_plans_after_growth(fresh)
    scans = [p for p in plans if "Seq Scan" in p]
    assert not scans, scans


def test_control_without_the_setting_the_run_lookup_is_a_seq_scan(fresh):
    for h in HOT:
        fresh.execute(f"ALTER FUNCTION {h} RESET enable_seqscan")
    plans = nested_plans_after_growth(fresh)
    assert any("Seq Scan on job_runs" in p for p in plans), plans
