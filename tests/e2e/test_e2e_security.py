"""(f) Only service_role (and the owner) may use the queue: anon (no JWT) gets 401, authenticated 403,
and neither sees data, although the database has Supabase's default privileges on schema public."""
import json
import uuid

import pytest
from e2e_stack import Api, mint_jwt
from pgharness import TABLES

NIL = "00000000-0000-7000-8000-000000000000"
CALLS = {
    "enqueue_job": {"p_source": "intruder", "p_job_type": "t"},
    "claim_next_job": {},
    "claim_jobs": {"p_limit": 5},
    "complete_jobs": {"p_job_ids": [NIL], "p_run_ids": [NIL]},
    "complete_job": {"p_job_id": NIL, "p_run_id": NIL},
    "complete_and_claim_next": {"p_job_id": NIL, "p_run_id": NIL},
    "fail_job": {"p_job_id": NIL, "p_run_id": NIL, "p_error": "e"},
    "report_progress": {"p_job_id": NIL, "p_run_id": NIL},
    "cancel_job": {"p_job_id": NIL},
    "requeue_dead_letter": {"p_id": NIL},
    "resolve_dead_letter": {"p_id": NIL},
    "list_jobs": {},
    "get_job": {"p_job_id": NIL},
    "get_job_stats": {},
    "requeue_dead_letters": {"p_ids": [NIL]},
    "resolve_dead_letters": {"p_ids": [NIL]},
    "list_dead_letters": {},
    "dead_letter_groups": {},
    "get_metrics": {},
    "alerts": {},
    "queue_depth": {},
    "enqueue_jobs": {"p_jobs": [{"source": "intruder", "job_type": "t"}]},
    "set_queue": {"p_source": "intruder", "p_paused": True},
    "pause_queue": {"p_source": "intruder"},
    "resume_queue": {"p_source": "intruder"},
    "get_queues": {},
    "schedule_job": {"p_name": "intruder", "p_cron": "* * * * *", "p_source": "s", "p_job_type": "t"},
    "unschedule_job": {"p_name": "intruder"},
    "list_schedules": {},
    "cron_next": {"p_cron": "* * * * *"},
    "diagnostics": {},
}
WRAPPERS = sorted(CALLS)
DENIED = [("anon", None, 401), ("authenticated", "authenticated", 403)]


@pytest.fixture(scope="module")
def seeded(stack):
    """A job exists, so that 'sees no data' means something."""
    return Api(stack.rest).ok("enqueue_job", {"p_source": "e2e-security", "p_job_type": "secret"})


@pytest.mark.parametrize("who,role,status", DENIED, ids=[d[0] for d in DENIED])
@pytest.mark.parametrize("fn", WRAPPERS)
def test_rpc_denied(stack, db, seeded, who, role, status, fn):
    jobs_before = db.execute("SELECT count(*) FROM mcp_jobs.jobs").fetchone()[0]
    api = Api(stack.rest, role)
    for profile in (None, "mcp_jobs"):  # the public wrapper, and mcp_jobs' function itself
        headers = {"Content-Profile": profile} if profile else None
        r = api.rpc(fn, CALLS[fn], headers=headers)
        assert r.status_code == status, f"{who} {profile or 'public'}.{fn}: {r.status_code} {r.text}"
        err = r.json()
        assert err["code"] == "42501" and "permission denied" in err["message"], err
    assert db.execute("SELECT count(*) FROM mcp_jobs.jobs").fetchone()[0] == jobs_before


@pytest.mark.parametrize("who,role,status", DENIED, ids=[d[0] for d in DENIED])
@pytest.mark.parametrize("table", TABLES)
def test_tables_denied(stack, seeded, who, role, status, table):
    api = Api(stack.rest, role)
    r = api.get(table, headers={"Accept-Profile": "mcp_jobs"})
    assert r.status_code == status, f"{who} GET mcp_jobs.{table}: {r.status_code} {r.text}"
    r = requests_post_table(api, table)
    assert r.status_code == status, f"{who} POST mcp_jobs.{table}: {r.status_code} {r.text}"


def requests_post_table(api, table):
    import requests
    return requests.post(f"{api.rest}/{table}", data=json.dumps({}),
                         headers=api.headers({"Content-Profile": "mcp_jobs"}), timeout=30)


@pytest.mark.parametrize("who,role,status", DENIED, ids=[d[0] for d in DENIED])
def test_stable_get_denied(stack, seeded, who, role, status):
    api = Api(stack.rest, role)
    for fn in ("list_jobs", "get_job_stats"):
        r = api.get(f"rpc/{fn}")
        assert r.status_code == status, f"{who} GET {fn}: {r.status_code} {r.text}"
    r = api.get("rpc/get_job", params={"p_job_id": seeded})
    assert r.status_code == status and seeded not in r.text


def test_service_role_reads_tables(api, seeded):
    r = api.get("jobs", params={"id": f"eq.{seeded}", "select": "id,job_type"}, headers={"Accept-Profile": "mcp_jobs"})
    assert r.status_code == 200, r.text
    assert r.json() == [{"id": seeded, "job_type": "secret"}]
    for t in TABLES:
        r = api.get(t, params={"limit": 1}, headers={"Accept-Profile": "mcp_jobs"})
        assert r.status_code == 200, f"{t}: {r.text}"


def test_bad_and_expired_jwt(stack):
    api = Api(stack.rest, None)
    for token in (mint_jwt("service_role", secret="x" * 40), mint_jwt("service_role", ttl=-60)):
        r = api.rpc("get_job_stats", {}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, r.text
    # a JWT for a role that does not exist
    r = api.rpc("get_job_stats", {}, headers={"Authorization": f"Bearer {mint_jwt('nobody_' + uuid.uuid4().hex[:6])}"})
    assert 400 <= r.status_code < 500 and r.status_code != 404, r.text


def test_catalog_privileges(db):
    """No API role but service_role holds a privilege on the extension's objects; every function of
    the extension pins search_path; the public wrappers are SECURITY INVOKER."""
    for role, expected in (("anon", False), ("authenticated", False), ("service_role", True)):
        rows = db.execute(
            """SELECT p.oid::regprocedure::text, has_function_privilege(%s, p.oid, 'EXECUTE')
                 FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
                WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'mcp_jobs')
                  AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
                  AND p.proname NOT IN ('uuidv7', 'uuidv7_time', 'grant_access', 'revoke_access',
                                        '_jobs_row_check', '_job_runs_row_check', '_job_events_row_check')""",
            (role,)).fetchall()
        assert len(rows) >= 2 * len(WRAPPERS)
        assert all(ok == expected for _, ok in rows), (role, [f for f, ok in rows if ok != expected])
        for t in TABLES:
            got = db.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", (role, f"mcp_jobs.{t}")).fetchone()[0]
            assert got == expected, (role, t)
        assert db.execute("SELECT has_schema_privilege(%s, 'mcp_jobs', 'USAGE')", (role,)).fetchone()[0] == expected
    for role in ("anon", "authenticated", "service_role"):
        assert not db.execute("SELECT has_function_privilege(%s, 'mcp_jobs.grant_access(regrole)', 'EXECUTE')",
                              (role,)).fetchone()[0]
    # the row checks are executable by everyone (a CHECK constraint calls its function with the
    # writer's rights) and can do nothing but validate their arguments: immutable, not SECURITY DEFINER
    rows = db.execute("""SELECT proname, provolatile, prosecdef, has_function_privilege('anon', oid, 'EXECUTE')
                           FROM pg_proc WHERE pronamespace = 'mcp_jobs'::regnamespace AND proname LIKE '%_row_check'
                          ORDER BY 1""").fetchall()
    assert [r[0] for r in rows] == ["_job_events_row_check", "_job_runs_row_check", "_jobs_row_check"]
    assert all(r[1:] == ("i", False, True) for r in rows), rows

    rows = db.execute(
        """SELECT p.oid::regprocedure::text, p.prosecdef, p.proconfig, n.nspname
             FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'mcp_jobs')
              AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'""").fetchall()
    for fn, secdef, config, nsp in rows:
        if secdef:
            assert config and any(c.startswith("search_path=") for c in config), fn
        if nsp == "public":
            assert not secdef and config == ['search_path=""'], (fn, config)
    assert sorted(fn.split("(")[0].removeprefix("public.") for fn, _, _, nsp in rows if nsp == "public") == WRAPPERS
    for t in TABLES:
        assert db.execute("SELECT relrowsecurity FROM pg_class WHERE oid = %s::regclass",
                          (f"mcp_jobs.{t}",)).fetchone()[0], t


def test_one_signature_each(db):
    """PostgREST answers 300 on overloads: each wrapper has exactly one signature in public."""
    rows = db.execute("""SELECT proname, count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
                         AND proname = ANY(%s) GROUP BY proname""", (WRAPPERS,)).fetchall()
    assert dict(rows) == {w: 1 for w in WRAPPERS}
