"""Bad input, table-driven: every case raises its precise SQLSTATE and changes nothing.

Each case runs as its own autocommit statement against a database that holds a job in every state.
Before and after each case we fingerprint every mcp_jobs table (all rows, all columns); the
fingerprints must be identical, so a failed call provably wrote nothing.
"""
import psycopg
import pytest
from pgharness import table_fingerprint


@pytest.fixture(scope="module")
def world(cluster):
    """A database with a queued, a processing, a completed, a dead and a stale-run job."""
    cluster.psql("DROP DATABASE IF EXISTS bad_input;")
    cluster.psql("CREATE DATABASE bad_input;")
    cluster.psql("CREATE EXTENSION mcp_jobs;", dbname="bad_input")
    conn = psycopg.connect(cluster.dsn("bad_input"), autocommit=True)

    def one(sql, *args):
        return conn.execute(sql, args).fetchone()

    w = {}
    w["queued"] = one("SELECT mcp_jobs.enqueue_job('q', 't')")[0]
    w["processing"] = one("SELECT mcp_jobs.enqueue_job('p', 't')")[0]
    w["run"] = one("SELECT run_id FROM mcp_jobs.claim_next_job('w', ARRAY['p'], p_lease_seconds => 3600)")[0]
    w["completed"] = one("SELECT mcp_jobs.enqueue_job('c', 't')")[0]
    w["completed_run"] = one("SELECT run_id FROM mcp_jobs.claim_next_job('w', ARRAY['c'])")[0]
    one("SELECT mcp_jobs.complete_job(%s, %s)", w["completed"], w["completed_run"])
    w["dead"] = one("SELECT mcp_jobs.enqueue_job('d', 't', p_max_attempts => 1)")[0]
    run = one("SELECT run_id FROM mcp_jobs.claim_next_job('w', ARRAY['d'])")[0]
    one("SELECT mcp_jobs.fail_job(%s, %s, 'fatal')", w["dead"], run)
    w["dead_letter"] = one("SELECT id FROM mcp_jobs.dead_letter_queue WHERE job_id = %s", w["dead"])[0]
    resolved_job = one("SELECT mcp_jobs.enqueue_job('r', 't', p_max_attempts => 1)")[0]
    run = one("SELECT run_id FROM mcp_jobs.claim_next_job('w', ARRAY['r'])")[0]
    one("SELECT mcp_jobs.fail_job(%s, %s, 'fatal')", resolved_job, run)
    w["resolved_letter"] = one("SELECT id FROM mcp_jobs.dead_letter_queue WHERE job_id = %s", resolved_job)[0]
    one("SELECT mcp_jobs.resolve_dead_letter(%s, 'done')", w["resolved_letter"])
    # a job whose first run lost its lease and was claimed again: the first run id is stale
    w["stale_job"] = one("SELECT mcp_jobs.enqueue_job('s', 't')")[0]
    w["stale_run"] = one("SELECT run_id FROM mcp_jobs.claim_next_job('w1', ARRAY['s'])")[0]
    conn.execute("SET mcp_jobs.lease_sweep_interval = 0")  # the next claim takes back the expired lease
    conn.execute("UPDATE mcp_jobs.jobs SET lease_expires_at = now() - interval '1 s' WHERE id = %s",
                 (w["stale_job"],))
    one("SELECT run_id FROM mcp_jobs.claim_next_job('w2', ARRAY['s'], p_lease_seconds => 3600)")
    w["conn"] = conn
    yield w
    conn.close()


UNKNOWN = "00000000-0000-0000-0000-000000000000"
BIG = "'{\"blob\": \"' || repeat('x', 4096) || '\"}'"

# (case id, SQL with {placeholders} from the world fixture, expected SQLSTATE)
CASES = [
    # enqueue_job
    ("enqueue null source", "SELECT mcp_jobs.enqueue_job(NULL, 't')", "22004"),
    ("enqueue empty source", "SELECT mcp_jobs.enqueue_job('', 't')", "22023"),
    ("enqueue blank source", "SELECT mcp_jobs.enqueue_job('   ', 't')", "22023"),
    ("enqueue long source", "SELECT mcp_jobs.enqueue_job(repeat('s', 201), 't')", "22023"),
    ("enqueue control char source", "SELECT mcp_jobs.enqueue_job(E'a\\nb', 't')", "22023"),
    ("enqueue null type", "SELECT mcp_jobs.enqueue_job('s', NULL)", "22004"),
    ("enqueue empty type", "SELECT mcp_jobs.enqueue_job('s', '')", "22023"),
    ("enqueue priority 11", "SELECT mcp_jobs.enqueue_job('s', 't', p_priority => 11)", "22023"),
    ("enqueue priority -1", "SELECT mcp_jobs.enqueue_job('s', 't', p_priority => -1)", "22023"),
    ("enqueue priority not a number", "SELECT mcp_jobs.enqueue_job('s', 't', p_priority => 'high')", "22P02"),
    ("enqueue priority overflow", "SELECT mcp_jobs.enqueue_job('s', 't', p_priority => '99999999999')", "22003"),
    ("enqueue max_attempts 0", "SELECT mcp_jobs.enqueue_job('s', 't', p_max_attempts => 0)", "22023"),
    ("enqueue max_attempts -5", "SELECT mcp_jobs.enqueue_job('s', 't', p_max_attempts => -5)", "22023"),
    ("enqueue max_attempts 1001", "SELECT mcp_jobs.enqueue_job('s', 't', p_max_attempts => 1001)", "22023"),
    ("enqueue run_at not a time", "SELECT mcp_jobs.enqueue_job('s', 't', p_run_at => 'tomorrowish')", "22007"),
    ("enqueue payload array", "SELECT mcp_jobs.enqueue_job('s', 't', '[1, 2]')", "22023"),
    ("enqueue payload number", "SELECT mcp_jobs.enqueue_job('s', 't', '42')", "22023"),
    ("enqueue payload json null", "SELECT mcp_jobs.enqueue_job('s', 't', 'null'::jsonb)", "22023"),
    ("enqueue payload string not json", "SELECT mcp_jobs.enqueue_job('s', 't', to_jsonb('not json'::text))", "22P02"),
    ("enqueue payload string holding array", "SELECT mcp_jobs.enqueue_job('s', 't', to_jsonb('[1]'::text))", "22023"),
    ("enqueue payload invalid json text", "SELECT mcp_jobs.enqueue_job('s', 't', '{\"a\":')", "22P02"),
    ("enqueue payload lone surrogate", "SELECT mcp_jobs.enqueue_job('s', 't', '{\"a\": \"\\ud800\"}')", "22P02"),
    ("enqueue payload NUL escape", "SELECT mcp_jobs.enqueue_job('s', 't', '{\"a\": \"\\u0000\"}')", "22P05"),
    ("enqueue payload nested past stack",
     "SELECT mcp_jobs.enqueue_job('s', 't', ('{\"a\":' || repeat('[', 200000) || repeat(']', 200000) || '}')::jsonb)",
     "54001"),
    ("enqueue payload too large",
     "SET mcp_jobs.max_payload_bytes = 1024; SELECT mcp_jobs.enqueue_job('s', 't', (" + BIG + ")::jsonb)", "54000"),
    ("enqueue empty idempotency key", "SELECT mcp_jobs.enqueue_job('s', 't', p_idempotency_key => '')", "22023"),
    # claim_next_job
    ("claim lease 0", "SELECT * FROM mcp_jobs.claim_next_job('w', p_lease_seconds => 0)", "22023"),
    ("claim lease negative", "SELECT * FROM mcp_jobs.claim_next_job('w', p_lease_seconds => -1)", "22023"),
    ("claim lease too long", "SELECT * FROM mcp_jobs.claim_next_job('w', p_lease_seconds => 10000000)", "22023"),
    ("claim empty sources", "SELECT * FROM mcp_jobs.claim_next_job('w', '{}')", "22023"),
    ("claim null source in list", "SELECT * FROM mcp_jobs.claim_next_job('w', ARRAY[NULL::text])", "22004"),
    ("claim empty worker id", "SELECT * FROM mcp_jobs.claim_next_job('')", "22023"),
    # claim_jobs (batch): its own p_limit, and claim_next_job's checks
    ("claim_jobs limit 0", "SELECT * FROM mcp_jobs.claim_jobs('w', p_limit => 0)", "22023"),
    ("claim_jobs limit -1", "SELECT * FROM mcp_jobs.claim_jobs('w', p_limit => -1)", "22023"),
    ("claim_jobs limit 1001", "SELECT * FROM mcp_jobs.claim_jobs('w', p_limit => 1001)", "22023"),
    ("claim_jobs lease 0", "SELECT * FROM mcp_jobs.claim_jobs('w', p_lease_seconds => 0)", "22023"),
    ("claim_jobs empty sources", "SELECT * FROM mcp_jobs.claim_jobs('w', '{}')", "22023"),
    ("claim_jobs null type in list", "SELECT * FROM mcp_jobs.claim_jobs('w', NULL, ARRAY[NULL::text])", "22004"),
    ("claim_jobs empty worker id", "SELECT * FROM mcp_jobs.claim_jobs('')", "22023"),
    # complete_jobs (batch): whole-call validation (per-pair problems are rows, not errors)
    ("complete_jobs null job ids", "SELECT * FROM mcp_jobs.complete_jobs(NULL, ARRAY['{run}']::uuid[])", "22004"),
    ("complete_jobs null run ids", "SELECT * FROM mcp_jobs.complete_jobs(ARRAY['{processing}']::uuid[], NULL)", "22004"),
    ("complete_jobs null job id element",
     "SELECT * FROM mcp_jobs.complete_jobs(ARRAY['{processing}', NULL]::uuid[], ARRAY['{run}', '{run}']::uuid[])",
     "22004"),
    ("complete_jobs null run id element",
     "SELECT * FROM mcp_jobs.complete_jobs(ARRAY['{processing}']::uuid[], ARRAY[NULL]::uuid[])", "22004"),
    ("complete_jobs lengths differ",
     "SELECT * FROM mcp_jobs.complete_jobs(ARRAY['{processing}', '{stale_job}']::uuid[], ARRAY['{run}']::uuid[])",
     "22023"),
    ("complete_jobs results length differs",
     ("SELECT * FROM mcp_jobs.complete_jobs(ARRAY['{processing}']::uuid[], ARRAY['{run}']::uuid[], "
      "ARRAY['{}', '{}']::jsonb[])"), "22023"),
    ("complete_jobs duplicate job id",
     ("SELECT * FROM mcp_jobs.complete_jobs(ARRAY['{processing}', '{processing}']::uuid[], "
      "ARRAY['{run}', '{completed_run}']::uuid[])"), "22023"),
    ("complete_jobs more than 1000",
     ("SELECT * FROM mcp_jobs.complete_jobs((SELECT array_agg(gen_random_uuid()) FROM generate_series(1, 1001)), "
      "(SELECT array_agg(gen_random_uuid()) FROM generate_series(1, 1001)))"), "22023"),
    ("complete_jobs bad uuid text",
     "SELECT * FROM mcp_jobs.complete_jobs(ARRAY['not-a-uuid']::uuid[], ARRAY['{run}']::uuid[])", "22P02"),
    ("complete_jobs result too large",
     "SET mcp_jobs.max_payload_bytes = 1024; SELECT * FROM mcp_jobs.complete_jobs(ARRAY['{processing}']::uuid[], "
     "ARRAY['{run}']::uuid[], ARRAY[(" + BIG + ")::jsonb])", "54000"),
    # complete_job
    ("complete unknown job", "SELECT mcp_jobs.complete_job('" + UNKNOWN + "', '{run}')", "P0002"),
    ("complete null job", "SELECT mcp_jobs.complete_job(NULL, '{run}')", "22004"),
    ("complete null run", "SELECT mcp_jobs.complete_job('{processing}', NULL)", "22004"),
    ("complete completed job", "SELECT mcp_jobs.complete_job('{completed}', '{completed_run}')", "55000"),
    ("complete queued job", "SELECT mcp_jobs.complete_job('{queued}', '{run}')", "55000"),
    ("complete with wrong run", "SELECT mcp_jobs.complete_job('{processing}', '{completed_run}')", "55000"),
    ("complete with stale run", "SELECT mcp_jobs.complete_job('{stale_job}', '{stale_run}')", "55000"),
    ("complete bad uuid text", "SELECT mcp_jobs.complete_job('not-a-uuid', '{run}')", "22P02"),
    ("complete result too large",
     "SET mcp_jobs.max_payload_bytes = 1024; SELECT mcp_jobs.complete_job('{processing}', '{run}', (" + BIG
     + ")::jsonb)", "54000"),
    # complete_and_claim_next: complete_job's refusals and claim_next_job's, checked before anything is
    # written (the queued job of the world would be claimed if the call went through)
    ("complete+claim unknown job", "SELECT * FROM mcp_jobs.complete_and_claim_next('" + UNKNOWN + "', '{run}')", "P0002"),
    ("complete+claim null job", "SELECT * FROM mcp_jobs.complete_and_claim_next(NULL, '{run}')", "22004"),
    ("complete+claim null run", "SELECT * FROM mcp_jobs.complete_and_claim_next('{processing}', NULL)", "22004"),
    ("complete+claim completed job",
     "SELECT * FROM mcp_jobs.complete_and_claim_next('{completed}', '{completed_run}')", "55000"),
    ("complete+claim queued job", "SELECT * FROM mcp_jobs.complete_and_claim_next('{queued}', '{run}')", "55000"),
    ("complete+claim with stale run",
     "SELECT * FROM mcp_jobs.complete_and_claim_next('{stale_job}', '{stale_run}')", "55000"),
    ("complete+claim result too large",
     "SET mcp_jobs.max_payload_bytes = 1024; SELECT * FROM mcp_jobs.complete_and_claim_next('{processing}', '{run}', ("
     + BIG + ")::jsonb)", "54000"),
    ("complete+claim lease 0",
     "SELECT * FROM mcp_jobs.complete_and_claim_next('{processing}', '{run}', p_lease_seconds => 0)", "22023"),
    ("complete+claim empty worker",
     "SELECT * FROM mcp_jobs.complete_and_claim_next('{processing}', '{run}', p_worker_id => '')", "22023"),
    ("complete+claim empty sources",
     "SELECT * FROM mcp_jobs.complete_and_claim_next('{processing}', '{run}', p_sources => '{}')", "22023"),
    ("complete+claim null job type",
     "SELECT * FROM mcp_jobs.complete_and_claim_next('{processing}', '{run}', p_job_types => ARRAY[NULL]::text[])",
     "22004"),
    # fail_job
    ("fail null error", "SELECT mcp_jobs.fail_job('{processing}', '{run}', NULL)", "22004"),
    ("fail unknown job", "SELECT mcp_jobs.fail_job('" + UNKNOWN + "', '{run}', 'x')", "P0002"),
    ("fail completed job", "SELECT mcp_jobs.fail_job('{completed}', '{completed_run}', 'x')", "55000"),
    ("fail with stale run", "SELECT mcp_jobs.fail_job('{stale_job}', '{stale_run}', 'x')", "55000"),
    # report_progress
    ("progress stale run", "SELECT mcp_jobs.report_progress('{stale_job}', '{stale_run}')", "55000"),
    ("progress queued job", "SELECT mcp_jobs.report_progress('{queued}', '{run}')", "55000"),
    ("progress too large",
     "SET mcp_jobs.max_payload_bytes = 1024; SELECT mcp_jobs.report_progress('{processing}', '{run}', (" + BIG
     + ")::jsonb)", "54000"),
    # cancel_job
    ("cancel processing job", "SELECT mcp_jobs.cancel_job('{processing}')", "55000"),
    ("cancel completed job", "SELECT mcp_jobs.cancel_job('{completed}')", "55000"),
    ("cancel dead job", "SELECT mcp_jobs.cancel_job('{dead}')", "55000"),
    ("cancel unknown job", "SELECT mcp_jobs.cancel_job('" + UNKNOWN + "')", "P0002"),
    ("cancel null", "SELECT mcp_jobs.cancel_job(NULL)", "22004"),
    # dead letters
    ("requeue unknown dead letter", "SELECT mcp_jobs.requeue_dead_letter('" + UNKNOWN + "')", "P0002"),
    ("requeue resolved dead letter", "SELECT mcp_jobs.requeue_dead_letter('{resolved_letter}')", "55000"),
    ("resolve resolved dead letter", "SELECT mcp_jobs.resolve_dead_letter('{resolved_letter}')", "55000"),
    ("resolve null", "SELECT mcp_jobs.resolve_dead_letter(NULL)", "22004"),
    ("resolve note too long", "SELECT mcp_jobs.resolve_dead_letter('{dead_letter}', repeat('n', 10001))", "22023"),
    ("fail details too large",
     "SET mcp_jobs.max_payload_bytes = 1024; SELECT mcp_jobs.fail_job('{processing}', '{run}', 'x', true, ("
     + BIG + ")::jsonb)", "54000"),
    ("requeue many: null", "SELECT * FROM mcp_jobs.requeue_dead_letters(NULL)", "22004"),
    ("requeue many: empty", "SELECT * FROM mcp_jobs.requeue_dead_letters('{}')", "22023"),
    ("requeue many: null element", "SELECT * FROM mcp_jobs.requeue_dead_letters(ARRAY['{dead_letter}', NULL]::uuid[])",
     "22004"),
    ("requeue many: twice", "SELECT * FROM mcp_jobs.requeue_dead_letters(ARRAY['{dead_letter}', '{dead_letter}']::uuid[])",
     "22023"),
    ("requeue many: one unknown (all or nothing)",
     "SELECT * FROM mcp_jobs.requeue_dead_letters(ARRAY['{dead_letter}', '" + UNKNOWN + "']::uuid[])", "P0002"),
    ("requeue many: one resolved (all or nothing)",
     "SELECT * FROM mcp_jobs.requeue_dead_letters(ARRAY['{dead_letter}', '{resolved_letter}']::uuid[])", "55000"),
    ("requeue many: 1001", "SELECT * FROM mcp_jobs.requeue_dead_letters(array_fill(mcp_jobs.uuidv7(), ARRAY[1001]))",
     "22023"),
    ("resolve many: one resolved (all or nothing)",
     "SELECT mcp_jobs.resolve_dead_letters(ARRAY['{dead_letter}', '{resolved_letter}']::uuid[], 'n')", "55000"),
    ("resolve many: note too long",
     "SELECT mcp_jobs.resolve_dead_letters(ARRAY['{dead_letter}']::uuid[], repeat('n', 10001))", "22023"),
    ("list dead letters limit 0", "SELECT * FROM mcp_jobs.list_dead_letters(p_limit => 0)", "22023"),
    ("list dead letters empty job type", "SELECT * FROM mcp_jobs.list_dead_letters(p_job_type => '')", "22023"),
    ("metrics reversed range",
     "SELECT * FROM mcp_jobs.get_metrics(now(), now() - interval '1 hour')", "22023"),
    ("metrics range over 31 days",
     "SELECT * FROM mcp_jobs.get_metrics(now() - interval '32 days', now())", "22023"),
    ("metrics empty source", "SELECT * FROM mcp_jobs.get_metrics(p_source => '')", "22023"),
    # read side
    ("list limit 0", "SELECT * FROM mcp_jobs.list_jobs(p_limit => 0)", "22023"),
    ("list limit 1001", "SELECT * FROM mcp_jobs.list_jobs(p_limit => 1001)", "22023"),
    ("list unknown status", "SELECT * FROM mcp_jobs.list_jobs(p_status => 'running')", "22023"),
    ("list empty source", "SELECT * FROM mcp_jobs.list_jobs(p_source => '')", "22023"),
    ("get unknown job", "SELECT mcp_jobs.get_job('" + UNKNOWN + "')", "P0002"),
    ("get null job", "SELECT mcp_jobs.get_job(NULL)", "22004"),
    ("get bad uuid text", "SELECT mcp_jobs.get_job('42')", "22P02"),
    ("stats empty source", "SELECT mcp_jobs.get_job_stats('')", "22023"),
]


def test_matrix_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name,sql,sqlstate", CASES, ids=[c[0] for c in CASES])
def test_bad_input(world, name, sql, sqlstate):
    conn = world["conn"]
    before = table_fingerprint(conn)
    for key, value in world.items():
        if key != "conn":
            sql = sql.replace("{" + key + "}", str(value))
    with pytest.raises(psycopg.Error) as exc:
        conn.execute(sql)
    conn.execute("RESET ALL")
    diag = exc.value.diag
    assert exc.value.sqlstate == sqlstate, f"{name}: got {exc.value.sqlstate}: {diag.message_primary}"
    if sqlstate not in ("22P02", "22P05", "22003", "22007", "54001"):  # raised by PostgreSQL's input parsing
        assert diag.message_detail, f"{name}: no DETAIL"
        assert diag.message_hint, f"{name}: no HINT"
    assert table_fingerprint(conn) == before, f"{name}: a table changed"


@pytest.mark.parametrize("text", [
    "x'); DROP TABLE mcp_jobs.jobs; --",
    "Robert'); DELETE FROM mcp_jobs.jobs WHERE ('1'='1",
    "$$; SELECT pg_sleep(10); $$",
    "日本語 ✓ \U0001F680",
])
def test_sql_looking_and_unicode_strings_are_stored_verbatim(world, text):
    conn = world["conn"]
    jobs_before = conn.execute("SELECT count(*) FROM mcp_jobs.jobs").fetchone()[0]
    job = conn.execute("SELECT mcp_jobs.enqueue_job(%s, %s, jsonb_build_object('v', %s::text))",
                       (text, text, text)).fetchone()[0]
    row = conn.execute("SELECT source, job_type, payload->>'v' FROM mcp_jobs.jobs WHERE id = %s", (job,)).fetchone()
    assert row == (text, text, text)
    assert conn.execute("SELECT count(*) FROM mcp_jobs.jobs").fetchone()[0] == jobs_before + 1
    conn.execute("SELECT mcp_jobs.cancel_job(%s)", (job,))


def test_deeply_nested_payload_round_trips(world):
    """Depth 5000 is accepted by jsonb and must come back exactly (no serde round trip in between)."""
    conn = world["conn"]
    doc = '{"a": ' + "[" * 5000 + "]" * 5000 + ', "big": 123456789012345678901234567890.123456789}'
    job = conn.execute("SELECT mcp_jobs.enqueue_job('deep', 't', %s::jsonb)", (doc,)).fetchone()[0]
    same = conn.execute("SELECT payload = %s::jsonb FROM mcp_jobs.jobs WHERE id = %s", (doc, job)).fetchone()[0]
    assert same
    conn.execute("SELECT mcp_jobs.cancel_job(%s)", (job,))
