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


# ---------------------------------------------------------------------------------------------
# Claims planned on an empty jobs table
#
# A worker that polls an empty queue (a fresh install, after TRUNCATE, after a full prune) makes its
# generic claim plan while jobs has no pages at all. For an empty table every way to find the row
# to update costs the same, and 0.3.0 took a full scan: its claim joined `next` to jobs by id and
# got a nested loop over a whole scan of jobs_pkey (80 ms per claim at 100 000 jobs); finding the
# job by `id = (SELECT id FROM next)` instead could still scan the whole of jobs_source_id_idx,
# filtered on its second column, while that index was not partial. Both read every job on every
# claim until an ANALYZE replaced the plan. The claims now find the job by a key restriction that
# only jobs_pkey can serve.
# ---------------------------------------------------------------------------------------------
import json  # noqa: E402
import re  # noqa: E402

# indexes whose whole-index walk is the point: the queue in claim order, the expired leases
ORDERED_WALKS = {"jobs_claim_idx", "jobs_lease_idx"}


def leading_columns(conn):
    """{index name: its first column} for the indexes of the three tables the claims write."""
    return dict(conn.execute("""
        SELECT c.relname, a.attname
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indexrelid
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid IN ('mcp_jobs.jobs'::regclass, 'mcp_jobs.job_runs'::regclass,
                              'mcp_jobs.job_events'::regclass)""").fetchall())


def whole_index_scans(plan, leading):
    """Index scans of a JSON plan whose Index Cond does not fix the index's first column: they read
    the whole index (a condition on a later column is checked entry by entry), apart from the
    walks in claim or lease order."""
    out = []
    stack = [plan]
    while stack:
        n = stack.pop()
        name = n.get("Index Name")
        if n.get("Node Type") in ("Index Scan", "Index Only Scan", "Bitmap Index Scan") \
                and name not in ORDERED_WALKS:
            col = leading.get(name, "?")
            if not re.search(rf"\b{re.escape(col)} = ", n.get("Index Cond", "")):
                out.append(name)
        stack.extend(n.get("Plans", []))
    return out


def test_whole_index_scans_detects_a_scan_that_does_not_fix_the_first_column():
    leading = {"jobs_pkey": "id", "jobs_source_id_idx": "source", "jobs_claim_idx": "priority"}
    plan = {"Node Type": "Nested Loop", "Plans": [
        {"Node Type": "Index Scan", "Index Name": "jobs_pkey"},
        {"Node Type": "Index Scan", "Index Name": "jobs_source_id_idx", "Index Cond": "(id = $0)"},
        {"Node Type": "Index Scan", "Index Name": "jobs_pkey", "Index Cond": "(id = $0)"},
        {"Node Type": "Bitmap Index Scan", "Index Name": "jobs_pkey", "Index Cond": "(id = ANY ($1))"},
        {"Node Type": "Index Scan", "Index Name": "jobs_claim_idx"}]}
    assert sorted(whole_index_scans(plan, leading)) == ["jobs_pkey", "jobs_source_id_idx"]


def plan_on_empty_then_grow(conn, warmup, probe, explain=None):
    """Run `warmup` 8 times on an empty, analyzed jobs table (no pages: plans are cached from
    that), queue 20 000 jobs without ANALYZE, run `probe` once more and return the JSON plans of
    the statements it ran on the grown table (auto_explain, or `explain` for a PREPAREd statement)."""
    conn.execute("TRUNCATE mcp_jobs.jobs")
    conn.execute("ANALYZE mcp_jobs.jobs, mcp_jobs.job_runs, mcp_jobs.job_events")
    assert conn.execute("SELECT pg_relation_size('mcp_jobs.jobs')").fetchone()[0] == 0
    for _ in range(8):  # the 6th execution of a prepared statement switches to its generic plan
        conn.execute("BEGIN")
        conn.execute(warmup)
        conn.execute("ROLLBACK")
    conn.execute("""INSERT INTO mcp_jobs.jobs (source, job_type)
                    SELECT 'p', 't' FROM generate_series(1, 20000)""")
    if explain:
        conn.execute("BEGIN")
        rows = conn.execute(explain).fetchone()[0]
        conn.execute("ROLLBACK")
        return [rows[0]["Plan"]]
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    conn.execute("LOAD 'auto_explain'")
    for k, v in (("log_min_duration", "0"), ("log_nested_statements", "on"), ("log_level", "notice"),
                 ("log_format", "json")):
        conn.execute(f"SET auto_explain.{k} = {v}")
    conn.execute("BEGIN")
    got = conn.execute(probe).fetchall()
    conn.execute("ROLLBACK")
    conn.execute("SET auto_explain.log_min_duration = -1")
    assert got, "the probe claimed nothing"
    plans = [json.loads(n[n.index("{"):]) for n in notices if '"Query Text"' in n]
    plans = [p["Plan"] for p in plans if "mcp_jobs.jobs" in p["Query Text"] and "UPDATE" in p["Query Text"]]
    assert plans, notices
    return plans


@pytest.mark.parametrize("call", [
    "SELECT * FROM mcp_jobs.claim_next_job('w')",
    "SELECT * FROM mcp_jobs.claim_jobs('w', p_limit => 5)",
])
def test_claims_planned_on_an_empty_table_probe_the_key(fresh, call):
    plans = plan_on_empty_then_grow(fresh, call, call)
    leading = leading_columns(fresh)
    scans = [s for p in plans for s in whole_index_scans(p, leading)]
    assert not scans, plans
    # and the queue is read in claim order from its index, not collected and sorted
    nodes = [n for p in plans for n in walk(p)]
    assert [n["Node Type"] for n in nodes if n.get("Index Name") == "jobs_claim_idx"] == ["Index Scan"], plans
    assert not [n for n in nodes if n["Node Type"] == "Sort" and "priority" in str(n.get("Sort Key"))
                and "claimed" not in str(n.get("Sort Key"))], plans


def walk(plan):
    stack = [plan]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(n.get("Plans", []))


# The 0.3.0 claim, reduced to what decides its plan: `next` joined to jobs by id.
JOIN_CLAIM = """
PREPARE join_claim AS
WITH next AS (
    SELECT id FROM mcp_jobs.jobs WHERE status = 'queued' AND run_at <= now()
     ORDER BY priority DESC, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
)
UPDATE mcp_jobs.jobs j SET status = 'processing', attempts = j.attempts + 1,
       lease_expires_at = now() + interval '5 minutes', current_run_id = mcp_jobs.uuidv7()
  FROM next WHERE j.id = next.id
RETURNING j.id"""

# The claim as it is now, reduced the same way.
KEY_CLAIM = JOIN_CLAIM.replace("join_claim", "key_claim").replace(
    "  FROM next WHERE j.id = next.id", " WHERE j.id = (SELECT id FROM next)")


def test_control_the_join_claim_planned_on_an_empty_table_scans_the_whole_primary_key(fresh):
    fresh.execute("SET enable_seqscan = off")  # as claim_next_job runs
    fresh.execute(JOIN_CLAIM)
    plans = plan_on_empty_then_grow(fresh, "EXECUTE join_claim", None,
                                    explain="EXPLAIN (FORMAT JSON) EXECUTE join_claim")
    assert "jobs_pkey" in whole_index_scans(plans[0], leading_columns(fresh)), plans


def test_control_the_key_claim_with_a_full_source_index_scans_it_whole(fresh):
    fresh.execute("SET enable_seqscan = off")
    fresh.execute("DROP INDEX mcp_jobs.jobs_source_id_idx")
    fresh.execute("CREATE INDEX jobs_source_id_idx ON mcp_jobs.jobs (source, id)")  # 0.3.0's
    fresh.execute(KEY_CLAIM)
    plans = plan_on_empty_then_grow(fresh, "EXECUTE key_claim", None,
                                    explain="EXPLAIN (FORMAT JSON) EXECUTE key_claim")
    assert "jobs_source_id_idx" in whole_index_scans(plans[0], leading_columns(fresh)), plans
    # and with the index as the schema defines it, the same statement probes the key
    fresh.execute("DROP INDEX mcp_jobs.jobs_source_id_idx")
    fresh.execute("CREATE INDEX jobs_source_id_idx ON mcp_jobs.jobs (source, id) WHERE source IS NOT NULL")
    fresh.execute("DEALLOCATE key_claim")
    fresh.execute(KEY_CLAIM)
    plans = plan_on_empty_then_grow(fresh, "EXECUTE key_claim", None,
                                    explain="EXPLAIN (FORMAT JSON) EXECUTE key_claim")
    assert not whole_index_scans(plans[0], leading_columns(fresh)), plans


# ---------------------------------------------------------------------------------------------
# claim_jobs plans its statement once per backend
#
# Its batch size is LIMIT $5; the plan cache costs a generic plan with an unknown LIMIT at a tenth
# of the queue, judged it dearer than a plan for the actual limit and so planned the statement on
# every call. claim_jobs carries SET plan_cache_mode = force_generic_plan; pg_stat_statements
# (track_planning) counts how often the statement is planned.
# ---------------------------------------------------------------------------------------------
from pgharness import Cluster  # noqa: E402

CLAIM_MANY_TEXT = "LIMIT $5"


@pytest.fixture(scope="module")
def stats_cluster():
    c = Cluster(conf={"shared_preload_libraries": "'pg_stat_statements'", "pg_stat_statements.track": "all",
                      "pg_stat_statements.track_planning": "on"}, name="mcp_jobs_plans").start()
    try:
        c.psql("CREATE EXTENSION mcp_jobs; CREATE EXTENSION pg_stat_statements;")
        yield c
    finally:
        c.destroy()


def claim_many_plans_and_calls(cluster, calls=20):
    with cluster.connect() as conn:
        conn.execute("TRUNCATE mcp_jobs.jobs")
        # a queue deep enough that a tenth of it is far more than the batch (as in a real backlog)
        conn.execute("INSERT INTO mcp_jobs.jobs (source, job_type) SELECT 'p', 't' FROM generate_series(1, 20000)")
        conn.execute("ANALYZE mcp_jobs.jobs")
        conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(calls):
            assert len(conn.execute("SELECT * FROM mcp_jobs.claim_jobs('w', p_limit => 5)").fetchall()) == 5
        return conn.execute("""SELECT plans, calls FROM pg_stat_statements
                                WHERE query LIKE %s AND NOT toplevel""", (f"%{CLAIM_MANY_TEXT}%",)).fetchone()


def test_claim_jobs_plans_its_statement_once_per_backend(stats_cluster):
    plans, calls = claim_many_plans_and_calls(stats_cluster)
    assert calls == 20
    assert plans <= 1, (plans, calls)


def test_control_without_the_setting_claim_jobs_plans_on_every_call(stats_cluster):
    f = "mcp_jobs.claim_jobs(text, text[], text[], integer, integer)"
    stats_cluster.psql(f"ALTER FUNCTION {f} RESET plan_cache_mode;")
    try:
        plans, calls = claim_many_plans_and_calls(stats_cluster)
    finally:
        stats_cluster.psql(f"ALTER FUNCTION {f} SET plan_cache_mode = force_generic_plan;")
    assert calls == 20
    assert plans >= 15, (plans, calls)
