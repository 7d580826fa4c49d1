"""Plans stay on indexes as tables grow.

Each session prepares the extension's statements once and PostgreSQL keeps a generic plan made from
the table sizes of that moment. Each section below builds one case where a plan made from empty or
young tables read whole tables or indexes ever after, reads the plans with auto_explain (JSON), and
has a control that shows the old form failing the same check, so that the check can fail.
"""
import contextlib
import json
import re
from pathlib import Path

import psycopg
import pytest
from pgharness import Cluster

REPO = Path(__file__).resolve().parent.parent

HOT = [
    "mcp_jobs.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text)",
    "mcp_jobs.claim_next_job(text, text[], text[], integer)",
    "mcp_jobs.claim_jobs(text, text[], text[], integer, integer)",
    "mcp_jobs.complete_job(uuid, uuid, jsonb)",
    "mcp_jobs.complete_jobs(uuid[], uuid[], jsonb[])",
    "mcp_jobs.fail_job(uuid, uuid, text, boolean, jsonb)",
    "mcp_jobs.report_progress(uuid, uuid, jsonb)",
    "mcp_jobs.cancel_job(uuid)",
]
# the three claims: key lookups, the queue in claim order (no bitmap scan), one plan per backend
CLAIM_SETTINGS = {"enable_seqscan": "off", "enable_bitmapscan": "off", "plan_cache_mode": "force_generic_plan"}
# Functions that return rows: PostgreSQL calls them once per row and would apply SET clauses on every
# one of those calls, so they carry none and apply their settings once per call in their code
# (src/spi_util.rs, with_settings). {signature: the settings their statements run under}
ROW_RETURNING = {
    "mcp_jobs.claim_next_job(text, text[], text[], integer)": CLAIM_SETTINGS,
    "mcp_jobs.claim_jobs(text, text[], text[], integer, integer)": CLAIM_SETTINGS,
    "mcp_jobs.complete_jobs(uuid[], uuid[], jsonb[])": {"enable_seqscan": "off"},
    "mcp_jobs.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer)": CLAIM_SETTINGS,
    "mcp_jobs.list_jobs(text, text, text, integer, uuid)": {"plan_cache_mode": "force_custom_plan"},
    "mcp_jobs.alerts()": {"plan_cache_mode": "force_custom_plan"},
    "mcp_jobs.requeue_dead_letters(uuid[])": {"plan_cache_mode": "force_custom_plan"},
    "mcp_jobs.list_dead_letters(text, text, boolean, integer, uuid)": {"plan_cache_mode": "force_custom_plan"},
    "mcp_jobs.dead_letter_groups(boolean)": {"plan_cache_mode": "force_custom_plan"},
}


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


def functions_with(conn, setting):
    """The functions of mcp_jobs whose SET clauses include `setting` ('name=value')."""
    return sorted(r[0] for r in conn.execute("""
        SELECT p.oid::regprocedure::text FROM pg_proc p
         WHERE %s = ANY (p.proconfig) AND p.pronamespace = 'mcp_jobs'::regnamespace""", (setting,)))


def regprocedures(conn, signatures):
    return sorted(conn.execute("SELECT %s::regprocedure::text", (f,)).fetchone()[0] for f in signatures)


def query(name):
    """The text of src/queries/<name>.sql, as the library prepares it."""
    return (REPO / "src" / "queries" / f"{name}.sql").read_text()


def assert_never_analyzed(conn):
    """jobs has no statistics (TRUNCATE forgets them): the planner estimates from the table's size."""
    assert conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'mcp_jobs.jobs'::regclass").fetchone()[0] < 0


def queue(conn, n=20000):
    conn.execute("INSERT INTO mcp_jobs.jobs (source, job_type) SELECT 'p', 't' FROM generate_series(1, %s)", (n,))


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
    with explained(conn) as plans:
        one("SELECT mcp_jobs.enqueue_job('p', 't')")
        jid, rid = one("SELECT id, run_id FROM mcp_jobs.claim_next_job('w')")
        one("SELECT mcp_jobs.report_progress(%s, %s)", jid, rid)
        one("SELECT mcp_jobs.complete_job(%s, %s)", jid, rid)
    plans = [p for p in plans if "mcp_jobs." in p["Query Text"]]
    assert len(plans) >= 5, plans
    return plans


def seq_scans(plans):
    """(statement, table) of every sequential scan in the plans."""
    return [(p["Query Text"][:60], n["Relation Name"]) for p in plans for n in walk(p["Plan"])
            if n["Node Type"] == "Seq Scan"]


def test_hot_functions_plan_on_indexes_only(fresh):
    assert functions_with(fresh, "enable_seqscan=off") == regprocedures(
        fresh, [f for f in HOT if f not in ROW_RETURNING]
        + ["mcp_jobs._delete_job_history()"])  # the history trigger: further below
    scans = seq_scans(nested_plans_after_growth(fresh))
    assert not scans, scans


def test_control_without_the_setting_the_run_lookup_is_a_seq_scan(fresh):
    for h in HOT:
        fresh.execute(f"ALTER FUNCTION {h} RESET enable_seqscan")
    scans = seq_scans(nested_plans_after_growth(fresh))
    assert any(table == "job_runs" for _, table in scans), scans


# ---------------------------------------------------------------------------------------------
# Functions that return rows apply their planner settings once per call
#
# PostgreSQL calls a set-returning function once for every row it returns, and applies and restores
# the function's SET clauses on each of those calls (3.2 us per row of claim_jobs, bench/ANALYSIS.md).
# These functions carry no SET clause; their code applies the same settings around its statements
# and restores the caller's values, also when a statement fails.
# ---------------------------------------------------------------------------------------------
def row_returning_calls(conn):
    """Each function that returns rows, called so that it returns rows (several where it can):
    [(signature, SQL, the fewest rows it returns)]."""
    conn.execute("SELECT count(mcp_jobs.enqueue_job('p', 't')) FROM generate_series(1, 12)")
    claimed = conn.execute("SELECT id, run_id FROM mcp_jobs.claim_jobs('w', p_limit => 4)").fetchall()
    assert len(claimed) == 4
    (one, one_run), claimed = claimed[0], claimed[1:]
    ids = "ARRAY[" + ",".join(f"'{i}'::uuid" for i, _ in claimed) + "]"
    runs = "ARRAY[" + ",".join(f"'{r}'::uuid" for _, r in claimed) + "]"
    return [
        ("mcp_jobs.claim_next_job(text, text[], text[], integer)", "SELECT * FROM mcp_jobs.claim_next_job('w')", 1),
        ("mcp_jobs.claim_jobs(text, text[], text[], integer, integer)",
         "SELECT * FROM mcp_jobs.claim_jobs('w', p_limit => 4)", 4),
        ("mcp_jobs.complete_jobs(uuid[], uuid[], jsonb[])",
         f"SELECT * FROM mcp_jobs.complete_jobs({ids}, {runs})", 3),
        ("mcp_jobs.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer)",
         f"SELECT * FROM mcp_jobs.complete_and_claim_next('{one}', '{one_run}')", 1),
        ("mcp_jobs.list_jobs(text, text, text, integer, uuid)", "SELECT * FROM mcp_jobs.list_jobs()", 12),
        ("mcp_jobs.alerts()", "SELECT * FROM mcp_jobs.alerts()", 0),
    ]


def session_settings(conn):
    return conn.execute("SELECT current_setting('enable_seqscan'), current_setting('plan_cache_mode')").fetchone()


def test_row_returning_functions_carry_no_set_clause(fresh):
    config = dict(fresh.execute("""SELECT oid::regprocedure::text, proconfig FROM pg_proc
                                     WHERE oid = ANY (%s::regprocedure[])""", (list(ROW_RETURNING),)).fetchall())
    assert config == {f: None for f in regprocedures(fresh, ROW_RETURNING)}


def test_row_returning_functions_run_their_statements_under_their_settings(fresh):
    # two callers' own plan_cache_mode, each kept: every function's setting differs from one of them
    for mode in ("force_custom_plan", "force_generic_plan"):
        fresh.execute(f"SET plan_cache_mode = {mode}")
        for signature, sql, fewest in row_returning_calls(fresh):
            with explained(fresh, settings=True) as plans:
                rows = fresh.execute(sql).fetchall()
            assert len(rows) >= fewest, (signature, rows)
            nested = [p.get("Settings", {}) for p in plans if p["Query Text"] != sql]
            assert nested, signature
            for got in nested:
                assert got | ROW_RETURNING[signature] == got, (mode, signature, got)
            # the caller's values are back after the call: for the statement that made it too
            outer = [p.get("Settings", {}) for p in plans if p["Query Text"] == sql]
            assert outer and all(o.get("plan_cache_mode") == mode and "enable_seqscan" not in o
                                 for o in outer), (mode, signature, outer)
            assert session_settings(fresh) == ("on", mode), (mode, signature)


def test_row_returning_functions_restore_the_settings_when_a_statement_fails(fresh):
    fresh.execute("SET plan_cache_mode = force_custom_plan")
    fresh.execute("SELECT mcp_jobs.enqueue_job('p', 't')")
    fresh.execute("""CREATE FUNCTION public.no_runs() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RAISE EXCEPTION 'no runs today'; END $$""")
    fresh.execute("CREATE TRIGGER no_runs BEFORE INSERT ON mcp_jobs.job_runs FOR EACH ROW EXECUTE FUNCTION public.no_runs()")
    for sql in ("SELECT * FROM mcp_jobs.claim_jobs('w', p_limit => 2)", "SELECT * FROM mcp_jobs.claim_next_job('w')"):
        with fresh.transaction():
            with pytest.raises(psycopg.errors.RaiseException, match="no runs today"):
                with fresh.transaction():  # a savepoint, as a caller's EXCEPTION block makes
                    fresh.execute(sql)
            assert session_settings(fresh) == ("on", "force_custom_plan"), sql
    assert fresh.execute("SELECT status FROM mcp_jobs.jobs").fetchall() == [("queued",)]


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
    return [n["Index Name"] for n in walk(plan)
            if n.get("Node Type") in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
            and n["Index Name"] not in ORDERED_WALKS
            and not re.search(rf"\b{re.escape(leading.get(n['Index Name'], '?'))} = ", n.get("Index Cond", ""))]


def test_whole_index_scans_detects_a_scan_that_does_not_fix_the_first_column():
    leading = {"jobs_pkey": "id", "jobs_source_id_idx": "source", "jobs_claim_idx": "priority"}
    plan = {"Node Type": "Nested Loop", "Plans": [
        {"Node Type": "Index Scan", "Index Name": "jobs_pkey"},
        {"Node Type": "Index Scan", "Index Name": "jobs_source_id_idx", "Index Cond": "(id = $0)"},
        {"Node Type": "Index Scan", "Index Name": "jobs_pkey", "Index Cond": "(id = $0)"},
        {"Node Type": "Bitmap Index Scan", "Index Name": "jobs_pkey", "Index Cond": "(id = ANY ($1))"},
        {"Node Type": "Index Scan", "Index Name": "jobs_claim_idx"}]}
    assert sorted(whole_index_scans(plan, leading)) == ["jobs_pkey", "jobs_source_id_idx"]


def plan_on_empty_then_grow(conn, warmup, probe, explain=None, unanalyzed_history=False):
    """Run `warmup` 8 times on an empty, analyzed jobs table (no pages: plans are cached from
    that), queue 20 000 jobs without ANALYZE, run `probe` once more and return the JSON plans of
    the statements it ran on the grown table (auto_explain, or `explain` for a PREPAREd statement).
    With `unanalyzed_history`, the plans are cached instead from a jobs table that holds 8 000
    finished jobs and was never analyzed (a restore, a bulk load before autovacuum's first ANALYZE)."""
    conn.execute("TRUNCATE mcp_jobs.jobs")
    if unanalyzed_history:
        conn.execute("""INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at)
                        SELECT 'p', 'old', 'completed', now() FROM generate_series(1, 8000)""")
        assert_never_analyzed(conn)
    else:
        conn.execute(ANALYZE_HISTORY)
        assert conn.execute("SELECT pg_relation_size('mcp_jobs.jobs')").fetchone()[0] == 0
    for _ in range(8):  # the 6th execution of a prepared statement switches to its generic plan
        conn.execute("BEGIN")
        conn.execute(warmup)
        conn.execute("ROLLBACK")
    queue(conn)
    if explain:
        conn.execute("BEGIN")
        rows = conn.execute(explain).fetchone()[0]
        conn.execute("ROLLBACK")
        return [rows[0]["Plan"]]
    with explained(conn) as plans:
        conn.execute("BEGIN")
        got = conn.execute(probe).fetchall()
        conn.execute("ROLLBACK")
    assert got, "the probe claimed nothing"
    plans = [p["Plan"] for p in plans if "mcp_jobs.jobs" in p["Query Text"] and "UPDATE" in p["Query Text"]]
    assert plans, "no plan of a claim statement"
    return plans


CLAIM_CALLS = [
    "SELECT * FROM mcp_jobs.claim_next_job('w')",
    "SELECT * FROM mcp_jobs.claim_jobs('w', p_limit => 5)",
]


def sorts_the_queue(plans):
    """The queue collected and sorted in claim order (the final sort of the claimed rows aside)."""
    return [n for p in plans for n in walk(p) if n["Node Type"] == "Sort"
            and "priority" in str(n.get("Sort Key")) and "claimed" not in str(n.get("Sort Key"))]


def reads_the_queue_in_claim_order(plans):
    nodes = [n for p in plans for n in walk(p)]
    return ([n["Node Type"] for n in nodes if n.get("Index Name") == "jobs_claim_idx"] == ["Index Scan"]
            and not sorts_the_queue(plans))


@pytest.mark.parametrize("call", CLAIM_CALLS)
def test_claims_planned_on_an_empty_table_probe_the_key(fresh, call):
    plans = plan_on_empty_then_grow(fresh, call, call)
    leading = leading_columns(fresh)
    scans = [s for p in plans for s in whole_index_scans(p, leading)]
    assert not scans, plans
    # and the queue is read in claim order from its index, not collected and sorted
    assert reads_the_queue_in_claim_order(plans), plans


# ---------------------------------------------------------------------------------------------
# Claims planned on a jobs table that holds rows but was never analyzed
#
# After a restore or a bulk load, before autovacuum's first ANALYZE (or with autovacuum off), the
# planner estimates jobs from its size. The claim's filters `($2 IS NULL OR source = ANY ($2))`
# then look selective in a generic plan, and 0.6.0's claims cached a plan that collected every
# queued job with a bitmap scan of jobs_claim_idx and sorted them all, for each claim, until an
# ANALYZE replaced it (59-75 ms per claim at 150 000 queued, bench/unanalyzed.py). 0.6.1's claims run
# with enable_bitmapscan = off and read the index in claim order.
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", CLAIM_CALLS)
def test_claims_planned_on_an_unanalyzed_table_read_the_queue_in_claim_order(fresh, call):
    plans = plan_on_empty_then_grow(fresh, call, call, unanalyzed_history=True)
    assert reads_the_queue_in_claim_order(plans), plans
    assert not [s for p in plans for s in whole_index_scans(p, leading_columns(fresh))], plans


def test_control_the_claim_without_the_setting_sorts_the_whole_queue(fresh):
    """claim.sql as 0.6.0 ran it (enable_seqscan = off only), in the same state: a generic plan that
    sorts the queue, so the test above can fail."""
    fresh.execute("SET enable_seqscan = off")
    fresh.execute("SET plan_cache_mode = force_generic_plan")

    def claim_plans(name):
        """claim.sql prepared as `name` under the session's settings, planned as the test above plans."""
        fresh.execute(f"PREPARE {name}(text, text[], text[], integer) AS {query('claim')}")
        return plan_on_empty_then_grow(fresh, f"EXECUTE {name}('w', NULL, NULL, 300)", None,
                                       explain=f"EXPLAIN (FORMAT JSON) EXECUTE {name}('w', NULL, NULL, 300)",
                                       unanalyzed_history=True)

    plans = claim_plans("old_claim")
    assert sorts_the_queue(plans) and not reads_the_queue_in_claim_order(plans), plans
    # and with the setting, the same statement in the same state reads the index in order
    fresh.execute("SET enable_bitmapscan = off")
    plans = claim_plans("new_claim")
    assert reads_the_queue_in_claim_order(plans), plans


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
# cancel_job planned on an empty table
#
# cancel_job's `status = 'queued'` implies the predicate of the partial claim index, whose third
# column is id: planned on an empty table, the lookup became a scan of the whole claim index for
# the id (2.3 ms per cancel at 100 000 queued). It compares with COLLATE "C", as the lookups of
# in-flight jobs do, so that only the primary key can serve it.
# ---------------------------------------------------------------------------------------------
ZERO = "00000000-0000-0000-0000-000000000000"


def cancel_plan_after_growth(conn, cancel, explain=None):
    """Run `cancel` (SQL taking a job id as %s) 8 times on an empty, analyzed jobs table, queue
    20 000 jobs without ANALYZE, and return the JSON plan of the cancel of the newest one."""
    conn.execute("TRUNCATE mcp_jobs.jobs")
    conn.execute(ANALYZE_HISTORY)
    cur = psycopg.ClientCursor(conn)
    for _ in range(8):
        conn.execute("BEGIN")
        try:
            cur.execute(cancel, (ZERO,))  # nothing to cancel (cancel_job raises P0002); the plan stays
        except psycopg.Error:
            pass
        conn.execute("ROLLBACK")
    queue(conn)
    jid = conn.execute("SELECT id FROM mcp_jobs.jobs ORDER BY id DESC LIMIT 1").fetchone()[0]
    if explain:
        conn.execute("BEGIN")
        plan = cur.execute(explain, (jid,)).fetchone()[0][0]["Plan"]
        conn.execute("ROLLBACK")
        return plan
    with explained(conn) as plans:
        conn.execute("BEGIN")
        cur.execute(cancel, (jid,))
        conn.execute("ROLLBACK")
    plans = [p["Plan"] for p in plans if "'cancelled'" in p["Query Text"]]
    assert len(plans) == 1, plans
    return plans[0]


def job_scans(plan):
    return [n.get("Index Name") or n["Node Type"] for n in walk(plan)
            if n.get("Relation Name") == "jobs" and "Scan" in n["Node Type"]]


def test_cancel_planned_on_an_empty_table_probes_the_key(fresh):
    assert job_scans(cancel_plan_after_growth(fresh, "SELECT mcp_jobs.cancel_job(%s)")) == ["jobs_pkey"]


def test_control_cancel_without_the_collation_scans_the_claim_index(fresh):
    fresh.execute("SET enable_seqscan = off")  # as cancel_job runs
    fresh.execute("""PREPARE old_cancel(uuid) AS
                     UPDATE mcp_jobs.jobs SET status = 'cancelled', finished_at = now(), updated_at = now()
                      WHERE id = $1 AND status = 'queued' RETURNING id""")
    plan = cancel_plan_after_growth(fresh, "EXECUTE old_cancel(%s)",
                                    explain="EXPLAIN (FORMAT JSON) EXECUTE old_cancel(%s)")
    assert job_scans(plan) == ["jobs_claim_idx"], plan


# ---------------------------------------------------------------------------------------------
# complete_jobs planned while jobs was small
#
# A worker that starts on a young queue makes its generic plan for complete_jobs' statement from a
# table of a few dozen jobs. Joined to the unnested id arrays (as up to 0.4.0's first draft), the
# plan read the whole of jobs_pkey as the outer side of a nested loop: 19 ms per call at 100 000
# jobs, growing with the table. complete_jobs now finds its jobs by `id = ANY ($1)` and each pair
# by its position in the arrays: no join to plan.
# ---------------------------------------------------------------------------------------------
def small_table_cycles(conn, complete, cycles=8):
    """enqueue 5, claim them with claim_jobs, complete them with `complete` (SQL taking the id and
    run id arrays as %s, %s); `cycles` times, so that the statements' generic plans are made while
    jobs holds a few dozen rows."""
    # client-side binding: `complete` may be an EXECUTE, which takes no server-side parameters
    cur = psycopg.ClientCursor(conn)
    for _ in range(cycles):
        conn.execute("SELECT count(mcp_jobs.enqueue_job('p', 't')) FROM generate_series(1, 5)")
        ids, rids = conn.execute("SELECT array_agg(id), array_agg(run_id) FROM mcp_jobs.claim_jobs('w', p_limit => 5)").fetchone()
        cur.execute(complete, (ids, rids))


def grow(conn):
    conn.execute("""INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at)
                    SELECT 'p', 'old', 'completed', now() FROM generate_series(1, 20000)""")
    conn.execute("""INSERT INTO mcp_jobs.job_runs (job_id, attempt, lease_seconds)
                    SELECT mcp_jobs.uuidv7(), 1, 30 FROM generate_series(1, 20000)""")


COMPLETE_JOBS = "SELECT count(*) FILTER (WHERE completed) FROM mcp_jobs.complete_jobs(%s, %s)"


def test_complete_jobs_planned_on_a_small_table_probes_the_key(fresh):
    fresh.execute(ANALYZE_HISTORY)
    small_table_cycles(fresh, COMPLETE_JOBS)
    grow(fresh)
    with explained(fresh) as plans:
        small_table_cycles(fresh, COMPLETE_JOBS, cycles=1)
    plans = [p for p in plans if "array_position" in p["Query Text"]]
    assert len(plans) == 1, plans
    assert not whole_index_scans(plans[0]["Plan"], leading_columns(fresh)), plans
    assert not seq_scans(plans), plans
    assert job_scans(plans[0]["Plan"]) == ["jobs_pkey"], plans


# The draft of complete_jobs' statement that joined the unnested arrays, reduced to what decides its plan.
JOIN_COMPLETE = """
PREPARE join_complete(uuid[], uuid[]) AS
WITH input AS (
    SELECT i.job_id, i.run_id, i.ord
      FROM ROWS FROM (unnest($1), unnest($2)) WITH ORDINALITY AS i(job_id, run_id, ord)
)
UPDATE mcp_jobs.jobs j SET status = 'completed', finished_at = now(), lease_expires_at = NULL
  FROM input i
 WHERE j.id = i.job_id AND j.status = 'processing' COLLATE "C" AND j.current_run_id = i.run_id
RETURNING i.ord"""


def test_control_the_join_complete_planned_on_a_small_table_scans_the_whole_primary_key(fresh):
    fresh.execute("SET enable_seqscan = off")  # as complete_jobs runs
    fresh.execute(ANALYZE_HISTORY)
    fresh.execute(JOIN_COMPLETE)
    small_table_cycles(fresh, "EXECUTE join_complete(%s, %s)")
    grow(fresh)
    fresh.execute("SELECT count(mcp_jobs.enqueue_job('p', 't')) FROM generate_series(1, 5)")
    ids, rids = fresh.execute("SELECT array_agg(id), array_agg(run_id) FROM mcp_jobs.claim_jobs('w', p_limit => 5)").fetchone()
    fresh.execute("BEGIN")
    plan = psycopg.ClientCursor(fresh).execute("EXPLAIN (FORMAT JSON) EXECUTE join_complete(%s, %s)",
                                               (ids, rids)).fetchone()[0][0]["Plan"]
    fresh.execute("ROLLBACK")
    assert "jobs_pkey" in whole_index_scans(plan, leading_columns(fresh)), plan


# ---------------------------------------------------------------------------------------------
# Deleting jobs: the history trigger planned on empty tables
#
# A statement trigger fires for zero rows too, so a session whose first deletes found empty tables
# (the maintenance worker pruning nothing on a fresh install) made its PL/pgSQL plans from them. In
# 0.3.0 that was a sequential scan of job_events joined to the deleted ids by a nested loop: every
# later delete read the whole event log (189 ms for 10 jobs with 50 000 events).
# ---------------------------------------------------------------------------------------------
OLD_DELETE_HISTORY = """
CREATE OR REPLACE FUNCTION mcp_jobs._delete_job_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM mcp_jobs.job_events e USING deleted_jobs d WHERE e.job_id = d.id;
    DELETE FROM mcp_jobs.job_runs r USING deleted_jobs d WHERE r.job_id = d.id;
    RETURN NULL;
END
$$"""


def history_delete_plans(conn):
    """Delete nothing 8 times on empty analyzed tables, grow the history, delete 10 jobs and return
    the JSON plans of the trigger's statements."""
    conn.execute(ANALYZE_HISTORY)
    for _ in range(8):
        conn.execute("DELETE FROM mcp_jobs.jobs WHERE finished_at < now() - interval '30 days'")
    conn.execute("SELECT count(mcp_jobs.enqueue_job('p', 't')) FROM generate_series(1, 5000)")
    grow(conn)
    with explained(conn) as plans:
        assert conn.execute("""WITH d AS (DELETE FROM mcp_jobs.jobs
                                           WHERE id IN (SELECT id FROM mcp_jobs.jobs WHERE job_type = 't' LIMIT 10)
                                          RETURNING 1)
                               SELECT count(*) FROM d""").fetchone()[0] == 10
    plans = [p for p in plans if "deleted_jobs" in p["Query Text"]]
    assert len(plans) == 2, plans
    assert conn.execute("SELECT count(*) FROM mcp_jobs.job_events WHERE job_id NOT IN (SELECT id FROM mcp_jobs.jobs)").fetchone()[0] == 0
    return plans


def test_deleting_jobs_finds_their_history_by_index_whatever_the_plan_was_made_from(fresh):
    plans = history_delete_plans(fresh)
    leading = leading_columns(fresh)
    assert not seq_scans(plans), plans
    assert not [s for p in plans for s in whole_index_scans(p["Plan"], leading)], plans


def test_control_the_0_3_0_history_trigger_scans_the_event_log(fresh):
    fresh.execute(OLD_DELETE_HISTORY)
    scans = seq_scans(history_delete_plans(fresh))
    assert any(table == "job_events" for _, table in scans), scans


# ---------------------------------------------------------------------------------------------
# Reads and maintenance of the history plan each call
#
# The maintenance worker aggregates and prunes from the first minute of a fresh install, so its
# generic plans were made from empty tables: the hourly aggregation joined events to jobs by a
# sequential scan of jobs for every event (30.8 s for 2 000 events of the hour beside 51 000 older
# jobs). The functions that read or maintain the history carry SET plan_cache_mode =
# force_custom_plan (the worker sets it for its session).
# ---------------------------------------------------------------------------------------------
HISTORY_FUNCTIONS = [
    "mcp_jobs.list_jobs(text, text, text, integer, uuid)", "mcp_jobs.get_job(uuid)",
    "mcp_jobs.get_job_stats(text)", "mcp_jobs.alerts()", "mcp_jobs.aggregate_metrics(timestamptz, timestamptz)",
    "mcp_jobs.run_maintenance()", "mcp_jobs.requeue_dead_letter(uuid)", "mcp_jobs.resolve_dead_letter(uuid, text)",
    "mcp_jobs.resolve_dead_letters(uuid[], text)", "mcp_jobs.requeue_dead_letters(uuid[])",
    "mcp_jobs.list_dead_letters(text, text, boolean, integer, uuid)", "mcp_jobs.dead_letter_groups(boolean)",
]


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


def test_history_reads_and_maintenance_plan_each_call(fresh):
    # list_jobs and alerts set it in their code (test_row_returning_functions_run_their_statements...)
    assert functions_with(fresh, "plan_cache_mode=force_custom_plan") == regprocedures(
        fresh, [f for f in HISTORY_FUNCTIONS if f not in ROW_RETURNING])
    plans = history_plans(fresh)
    assert len(plans) >= 2, plans
    assert not rescanned_seq_scans(plans), plans
    get_job = [p for p in plans if "'dead_letters'" in p["Query Text"]]  # src/queries/get_job.sql
    assert len(get_job) == 1, plans
    assert not [s for s in seq_scans(get_job) if s[1] == "job_events"], get_job


def test_control_generic_plans_of_the_aggregation_rescan_jobs(fresh):
    for f in HISTORY_FUNCTIONS:
        fresh.execute(f"ALTER FUNCTION {f} RESET plan_cache_mode")
    plans = history_plans(fresh)
    assert rescanned_seq_scans(plans), plans


# ---------------------------------------------------------------------------------------------
# The claims plan their statement once per backend
#
# claim_jobs' batch size is LIMIT $5; the plan cache costs a generic plan with an unknown LIMIT at a
# tenth of the queue, judged it dearer than a plan for the actual limit and so planned the statement
# on every call. The claims run with plan_cache_mode = force_generic_plan (src/spi_util.rs);
# pg_stat_statements (track_planning) counts how often a statement is planned.
# ---------------------------------------------------------------------------------------------
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


# claim_next_job's statement has no LIMIT parameter, but on a jobs table that holds rows and was
# never analyzed (a restore, a bulk load before autovacuum's first ANALYZE) the plan cache judged
# its generic plan dearer than a plan for the call's arguments too, and planned it on every call
# (0.2 ms each). The claims all run with force_generic_plan.
CLAIM_TEXT = "Locks the next due queued job in claim order"  # claim.sql's comment, kept by pg_stat_statements


def plans_and_calls(cluster, call, text, rows, prepare=None, analyzed=True, calls=20):
    """(plans, calls) in pg_stat_statements of the statement whose text holds `text`, after `calls`
    runs of `call` (each claiming `rows` jobs) in a new session on 20 000 queued jobs, analyzed or
    never analyzed: a nested statement of the function `call` runs, or, after `prepare`, a client's
    own."""
    with cluster.connect() as conn:
        if not analyzed:  # no ANALYZE behind the test's back
            conn.execute("ALTER TABLE mcp_jobs.jobs SET (autovacuum_enabled = false)")
        try:
            conn.execute("TRUNCATE mcp_jobs.jobs")
            # a queue deep enough that a tenth of it is far more than the batch (as in a real backlog)
            queue(conn)
            if analyzed:
                conn.execute("ANALYZE mcp_jobs.jobs")
            else:
                assert_never_analyzed(conn)
            with cluster.connect() as worker:  # a session that makes its plans in this state
                if prepare:
                    worker.execute(prepare)
                worker.execute("SELECT pg_stat_statements_reset()")
                for _ in range(calls):
                    assert len(worker.execute(call).fetchall()) == rows
                return worker.execute("""SELECT plans, calls FROM pg_stat_statements
                                          WHERE query LIKE %s AND toplevel = %s""",
                                      (f"%{text}%", prepare is not None)).fetchone()
        finally:
            if not analyzed:
                conn.execute("ALTER TABLE mcp_jobs.jobs RESET (autovacuum_enabled)")


def test_claim_next_job_plans_its_statement_once_per_backend_on_unanalyzed_tables(stats_cluster):
    plans, calls = plans_and_calls(stats_cluster, "SELECT * FROM mcp_jobs.claim_next_job('w')", CLAIM_TEXT, 1,
                                   analyzed=False)
    assert calls == 20
    assert plans <= 1, (plans, calls)


def test_control_without_the_setting_the_claim_statement_is_planned_on_every_call(stats_cluster):
    """claim.sql prepared by a session under the claims' other settings and the default plan_cache_mode."""
    plans, calls = plans_and_calls(
        stats_cluster, "EXECUTE claim ('w', NULL, NULL, 300)", CLAIM_TEXT, 1, analyzed=False,
        prepare="SET enable_seqscan = off; SET enable_bitmapscan = off; "
                "PREPARE claim (text, text[], text[], integer) AS " + query("claim"))
    assert calls == 20
    assert plans >= 15, (plans, calls)


def test_claim_jobs_plans_its_statement_once_per_backend(stats_cluster):
    plans, calls = plans_and_calls(stats_cluster, "SELECT * FROM mcp_jobs.claim_jobs('w', p_limit => 5)",
                                   CLAIM_MANY_TEXT, 5)
    assert calls == 20
    assert plans <= 1, (plans, calls)


def test_control_without_the_setting_the_claim_jobs_statement_is_planned_on_every_call(stats_cluster):
    """claim_jobs' own statement, prepared by a session with the default plan_cache_mode."""
    plans, calls = plans_and_calls(
        stats_cluster, "EXECUTE claim_many ('w', NULL, NULL, 300, 5)", CLAIM_MANY_TEXT, 5,
        prepare="PREPARE claim_many (text, text[], text[], integer, integer) AS " + query("claim_many"))
    assert calls == 20
    assert plans >= 15, (plans, calls)