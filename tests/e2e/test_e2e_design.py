"""The MCP Jobs design's requests, unchanged, through nginx (/rest/v1) and PostgREST 12.0.2."""
import json
import os
import runpy
import shutil
import subprocess
import uuid

import pytest

HERE = os.path.dirname(__file__)
DESIGN = os.environ.get("MCP_JOBS_DESIGN", "/work/shared/seed/000_e307d8a4a5dbcc62.txt")


def _is_uuid(value):
    return isinstance(value, str) and str(uuid.UUID(value)) == value


def _job(db, job_id):
    row = db.execute("SELECT source, job_type, payload, priority, status FROM mcp_jobs.jobs WHERE id = %s",
                     (job_id,)).fetchone()
    assert row is not None, f"job {job_id} not in mcp_jobs.jobs"
    return row


def test_design_snippet_is_verbatim():
    if not os.path.exists(DESIGN):
        pytest.skip("the MCP Jobs design text is not available on this machine")
    with open(os.path.join(HERE, "design_odoo_client.py")) as f:
        code = f.read().split("Do not edit below this line.\n", 1)[1]
    with open(DESIGN) as f:
        assert code in f.read()


def test_python_snippet_as_written(supabase_env, db, source):
    """(a) The MCP Jobs design's enqueue_discovery_job, run as written: response.json() is the new job's id."""
    ns = runpy.run_path(os.path.join(HERE, "design_odoo_client.py"))  # reads SUPABASE_URL/KEY from os.environ
    enqueue_discovery_job = ns["enqueue_discovery_job"]
    job_id = enqueue_discovery_job(source, {"host": "odoo.example", "scan": ["ports", "services"]})
    assert _is_uuid(job_id)
    assert _job(db, job_id) == (source, "discovery", {"host": "odoo.example", "scan": ["ports", "services"]}, 5,
                                "queued")


def _n8n_post(env, body):
    import requests
    # n8n's HTTP Request node: headerAuth (Authorization) and a JSON body of the three parameters
    return requests.post(f"{env['SUPABASE_URL']}/rest/v1/rpc/enqueue_job",
                         headers={"Authorization": f"Bearer {env['SUPABASE_SERVICE_ROLE_KEY']}",
                                  "Content-Type": "application/json"},
                         data=json.dumps(body), timeout=30)


def test_n8n_body_payload_object(supabase_env, db):
    """(b) n8n body: p_source, p_job_type, p_payload only, payload as an object."""
    r = _n8n_post(supabase_env, {"p_source": "n8n", "p_job_type": "sync",
                                 "p_payload": {"workflow": "wf-1", "items": [1, 2]}})
    assert r.status_code == 200, r.text
    job_id = r.json()
    assert _is_uuid(job_id)
    assert _job(db, job_id) == ("n8n", "sync", {"workflow": "wf-1", "items": [1, 2]}, 5, "queued")


def test_n8n_body_payload_json_string(supabase_env, db):
    """(b) n8n may send {{ $json }} as a JSON string: it is stored as the object it holds."""
    r = _n8n_post(supabase_env, {"p_source": "n8n", "p_job_type": "sync",
                                 "p_payload": json.dumps({"workflow": "wf-2", "nested": {"a": True}})})
    assert r.status_code == 200, r.text
    assert _job(db, r.json())[2] == {"workflow": "wf-2", "nested": {"a": True}}


def test_curl_enqueue_and_list(supabase_env, db, source):
    """(c) The MCP Jobs design's curl calls (enqueue, list ?limit=10) aimed at the REST API."""
    curl = shutil.which("curl")
    assert curl, "curl is not installed (scripts/setup.sh installs it)"
    url, key = supabase_env["SUPABASE_URL"], supabase_env["SUPABASE_SERVICE_ROLE_KEY"]
    body = json.dumps({"p_source": source, "p_job_type": "discovery", "p_payload": {"test": True}})
    out = subprocess.run(
        [curl, "-sS", "--max-time", "30", "-X", "POST", f"{url}/rest/v1/rpc/enqueue_job",
         "-H", f"apikey: {key}", "-H", f"Authorization: Bearer {key}",
         "-H", "Content-Type: application/json", "-d", body],
        capture_output=True, text=True, timeout=60, check=True).stdout
    job_id = json.loads(out)
    assert _is_uuid(job_id)
    assert _job(db, job_id)[2] == {"test": True}

    out = subprocess.run(
        [curl, "-sS", "--max-time", "30", f"{url}/rest/v1/rpc/list_jobs?p_source={source}&p_limit=10",
         "-H", f"apikey: {key}", "-H", f"Authorization: Bearer {key}"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    jobs = json.loads(out)
    assert [j["id"] for j in jobs] == [job_id]
    assert jobs[0]["status"] == "queued" and jobs[0]["payload"] == {"test": True}


def test_supabase_js_rpc(supabase_env, db):
    """(d) A Node client: @supabase/supabase-js .rpc('enqueue_job', {...})."""
    node = shutil.which("node")
    assert node, "node is not installed"
    assert os.path.isdir(os.path.join(HERE, "node_modules", "@supabase", "supabase-js")), \
        "run scripts/setup.sh (npm install in tests/e2e)"
    env = dict(os.environ, **supabase_env)
    p = subprocess.run([node, os.path.join(HERE, "enqueue_client.mjs")], cwd=HERE, env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["enqueue"]["error"] is None, out
    job_id = out["enqueue"]["data"]
    assert _is_uuid(job_id)
    assert _job(db, job_id) == ("vercel", "discovery", {"test": True, "from": "supabase-js"}, 5, "queued")
    assert job_id in [j["id"] for j in out["list"]["data"]]
    # a user mistake arrives as a PostgREST error object, not a 500
    assert out["bad"]["status"] == 400 and out["bad"]["error"]["code"] == "22023", out["bad"]
    assert set(out["bad"]["error"]) >= {"code", "message", "details", "hint"}
    assert out["stats"]["error"] is None and out["stats"]["data"]["source"] == "vercel", out["stats"]


def test_content_profile_alternative(api, db, source):
    """(h) Exposing mcp_jobs and sending Content-Profile calls mcp_jobs.enqueue_job directly."""
    r = api.rpc("enqueue_job", {"p_source": source, "p_job_type": "sync", "p_payload": {"k": 1}},
                headers={"Content-Profile": "mcp_jobs"})
    assert r.status_code == 200, r.text
    assert _job(db, r.json())[:3] == (source, "sync", {"k": 1})
    r = api.get("rpc/get_job_stats", params={"p_source": source}, headers={"Accept-Profile": "mcp_jobs"})
    assert r.status_code == 200, r.text
    assert r.json()["queued"] == 1
