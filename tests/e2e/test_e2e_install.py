"""Installation orders other than "Supabase roles first": plain PostgreSQL without those roles, roles
created after CREATE EXTENSION (mcp_jobs.grant_access), a role without BYPASSRLS, and CREATE EXTENSION
under a running PostgREST (its schema cache reloads through NOTIFY pgrst)."""
import json

import pytest
import requests
from e2e_stack import SUPABASE_ROLES_SQL, Api, Stack
from pgharness import Cluster, wait_until


@pytest.fixture(scope="module")
def late_cluster():
    """Database `plain` gets mcp_jobs BEFORE any Supabase role exists; the roles come afterwards."""
    c = Cluster(name="mcp_jobs_e2e_late").start()
    try:
        c.psql("CREATE DATABASE plain; CREATE DATABASE late;")
        c.psql("CREATE EXTENSION mcp_jobs;", dbname="plain")  # plain PostgreSQL: no anon/service_role
        c.psql(SUPABASE_ROLES_SQL)
        yield c
    finally:
        c.destroy()


def test_plain_install_grants_nothing(late_cluster):
    _, out, _ = late_cluster.psql(
        """SELECT count(*) FROM pg_proc p, aclexplode(p.proacl) a
            WHERE p.pronamespace = 'public'::regnamespace AND a.grantee <> p.proowner;""",
        dbname="plain", extra=("-At",))
    assert out.strip() == "0"
    _, out, _ = late_cluster.psql("SELECT mcp_jobs.enqueue_job('owner', 'ok')::text <> '';", dbname="plain",
                                  extra=("-At",))
    assert out.strip() == "t"


def test_roles_created_after_extension(late_cluster):
    late_cluster.psql("""
        SELECT mcp_jobs.grant_access('service_role');
        SELECT mcp_jobs.grant_access('service_role');  -- idempotent
        CREATE ROLE job_worker NOLOGIN NOINHERIT;       -- no BYPASSRLS: needs the RLS policies
        GRANT job_worker TO authenticator;
        SELECT mcp_jobs.grant_access('job_worker');
        ALTER DATABASE plain SET mcp_jobs.max_payload_bytes = 1024;
    """, dbname="plain")
    with Stack(late_cluster, "plain") as stack:
        service = Api(stack.rest, "service_role")
        job_id = service.ok("enqueue_job", {"p_source": "late", "p_job_type": "t", "p_payload": {"a": 1}})

        # the small limit set with ALTER DATABASE: a 2 kB payload is 413
        r = service.rpc("enqueue_job", {"p_source": "late", "p_job_type": "t", "p_payload": {"x": "y" * 2048}})
        assert r.status_code == 413, r.text
        err = r.json()
        assert err["code"] == "PT413" and err["message"] and (err["details"] or err["hint"]), err

        worker = Api(stack.rest, "job_worker")
        listed = worker.ok("list_jobs", {"p_source": "late"})
        assert [j["id"] for j in listed] == [job_id], "RLS policy for job_worker missing"
        claimed = worker.ok("claim_next_job", {"p_worker_id": "jw", "p_sources": ["late"]})
        assert claimed[0]["id"] == job_id
        done = worker.ok("complete_job", {"p_job_id": job_id, "p_run_id": claimed[0]["run_id"]})
        assert done["status"] == "completed"
        r = worker.get("jobs", params={"select": "id,status"}, headers={"Accept-Profile": "mcp_jobs"})
        assert r.status_code == 200 and {"id": job_id, "status": "completed"} in r.json(), r.text

        for role, status in ((None, 401), ("authenticated", 403)):
            r = Api(stack.rest, role).rpc("list_jobs", {})
            assert r.status_code == status, r.text

        late_cluster.psql("SELECT mcp_jobs.revoke_access('job_worker');", dbname="plain")
        r = worker.rpc("list_jobs", {})
        assert r.status_code == 403, r.text
        _, out, _ = late_cluster.psql("SELECT count(*) FROM pg_policy WHERE polname LIKE 'mcp_jobs_access_%';",
                                      dbname="plain", extra=("-At",))
        assert out.strip() == "0"


def test_create_extension_under_running_postgrest(late_cluster):
    """(i) PostgREST already runs; CREATE EXTENSION's NOTIFY pgrst makes the functions callable."""
    with Stack(late_cluster, "late") as stack:
        service = Api(stack.rest, "service_role")
        r = service.rpc("enqueue_job", {"p_source": "late", "p_job_type": "t"})
        assert r.status_code == 404 and r.json()["code"] == "PGRST202", r.text

        late_cluster.psql("CREATE EXTENSION mcp_jobs;", dbname="late")  # service_role exists: granted

        def callable_now():
            r = service.rpc("enqueue_job", {"p_source": "late", "p_job_type": "t"})
            return r.status_code == 200 and r.json()
        job_id = wait_until(callable_now, timeout=30, interval=0.2, what="PostgREST schema reload")
        got = requests.get(f"{stack.rest}/rpc/get_job", params={"p_job_id": job_id},
                           headers=service.headers(), timeout=30)
        assert got.status_code == 200 and json.loads(got.text)["id"] == job_id
        assert Api(stack.rest, None).rpc("get_job_stats", {}).status_code == 401
