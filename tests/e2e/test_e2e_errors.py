"""(g) Every user mistake over HTTP is a 4xx with PostgREST's JSON error body, never a 500, and
changes nothing in the tables."""
import json
import uuid

import pytest
from e2e_stack import Api
from pgharness import table_fingerprint

SRC = "e2e-errors"
NIL = "00000000-0000-7000-8000-000000000000"


@pytest.fixture(scope="module")
def state(stack):
    """Jobs in each state the error cases need."""
    api = Api(stack.rest)
    src = SRC + "-" + uuid.uuid4().hex[:8]

    def enqueue(job_type):
        return api.ok("enqueue_job", {"p_source": src, "p_job_type": job_type, "p_max_attempts": 1})

    def claim():
        return api.ok("claim_next_job", {"p_worker_id": "errors", "p_sources": [src], "p_lease_seconds": 600})[0]

    completed = enqueue("completed")
    run = claim()
    assert run["id"] == completed
    api.ok("complete_job", {"p_job_id": completed, "p_run_id": run["run_id"]})
    completed_run = run["run_id"]

    dead = enqueue("dead")
    run = claim()
    f = api.ok("fail_job", {"p_job_id": dead, "p_run_id": run["run_id"], "p_error": "x", "p_retry": False})
    resolved_dl = f["dead_letter_id"]
    api.ok("resolve_dead_letter", {"p_id": resolved_dl})

    processing = enqueue("processing")
    run = claim()
    assert run["id"] == processing
    return {"completed": completed, "completed_run": completed_run, "processing": processing,
            "processing_run": run["run_id"], "resolved_dl": resolved_dl, "source": src}


E = "enqueue_job"
BIG = {"blob": "x" * (1024 * 1024 + 100)}  # over the default mcp_jobs.max_payload_bytes (1 MiB)

# (name, function, body builder(state) -> dict, HTTP status, SQLSTATE code)
CASES = [
    ("source null", E, lambda s: {"p_source": None, "p_job_type": "t"}, 400, "22004"),
    ("source missing", E, lambda s: {"p_job_type": "t"}, 404, "PGRST202"),
    ("source empty", E, lambda s: {"p_source": "", "p_job_type": "t"}, 400, "22023"),
    ("source too long", E, lambda s: {"p_source": "s" * 201, "p_job_type": "t"}, 400, "22023"),
    ("job type null", E, lambda s: {"p_source": "s", "p_job_type": None}, 400, "22004"),
    ("job type empty", E, lambda s: {"p_source": "s", "p_job_type": ""}, 400, "22023"),
    ("priority 11", E, lambda s: {"p_source": "s", "p_job_type": "t", "p_priority": 11}, 400, "22023"),
    ("priority -1", E, lambda s: {"p_source": "s", "p_job_type": "t", "p_priority": -1}, 400, "22023"),
    ("priority not int", E, lambda s: {"p_source": "s", "p_job_type": "t", "p_priority": "high"}, 400, "22P02"),
    ("max attempts 0", E, lambda s: {"p_source": "s", "p_job_type": "t", "p_max_attempts": 0}, 400, "22023"),
    ("payload array", E, lambda s: {"p_source": "s", "p_job_type": "t", "p_payload": [1, 2]}, 400, "22023"),
    ("payload number", E, lambda s: {"p_source": "s", "p_job_type": "t", "p_payload": 5}, 400, "22023"),
    ("payload string not json", E, lambda s: {"p_source": "s", "p_job_type": "t", "p_payload": "{not json"},
     400, "22P02"),
    ("payload string of array", E, lambda s: {"p_source": "s", "p_job_type": "t", "p_payload": "[1]"}, 400, "22023"),
    ("payload too large", E, lambda s: {"p_source": "s", "p_job_type": "t", "p_payload": BIG}, 413, "PT413"),
    ("unknown argument", E, lambda s: {"p_source": "s", "p_job_type": "t", "p_nope": 1}, 404, "PGRST202"),
    ("lease 0", "claim_next_job", lambda s: {"p_lease_seconds": 0}, 400, "22023"),
    ("lease -5", "claim_next_job", lambda s: {"p_lease_seconds": -5}, 400, "22023"),
    ("complete unknown job", "complete_job", lambda s: {"p_job_id": str(uuid.uuid4()), "p_run_id": NIL}, 404, "PT404"),
    ("complete completed job", "complete_job",
     lambda s: {"p_job_id": s["completed"], "p_run_id": s["completed_run"]}, 409, "PT409"),
    ("complete stale run id", "complete_job",
     lambda s: {"p_job_id": s["processing"], "p_run_id": s["completed_run"]}, 409, "PT409"),
    ("complete job id null", "complete_job", lambda s: {"p_job_id": None, "p_run_id": NIL}, 400, "22004"),
    ("complete bad uuid", "complete_job", lambda s: {"p_job_id": "abc", "p_run_id": NIL}, 400, "22P02"),
    ("fail unknown job", "fail_job", lambda s: {"p_job_id": str(uuid.uuid4()), "p_run_id": NIL, "p_error": "e"},
     404, "PT404"),
    ("fail stale run id", "fail_job",
     lambda s: {"p_job_id": s["processing"], "p_run_id": NIL, "p_error": "e"}, 409, "PT409"),
    ("fail completed job", "fail_job",
     lambda s: {"p_job_id": s["completed"], "p_run_id": s["completed_run"], "p_error": "e"}, 409, "PT409"),
    ("fail error null", "fail_job",
     lambda s: {"p_job_id": s["processing"], "p_run_id": s["processing_run"], "p_error": None}, 400, "22004"),
    ("progress unknown job", "report_progress", lambda s: {"p_job_id": str(uuid.uuid4()), "p_run_id": NIL},
     404, "PT404"),
    ("progress stale run id", "report_progress",
     lambda s: {"p_job_id": s["processing"], "p_run_id": s["completed_run"]}, 409, "PT409"),
    ("progress completed job", "report_progress",
     lambda s: {"p_job_id": s["completed"], "p_run_id": s["completed_run"]}, 409, "PT409"),
    ("cancel unknown job", "cancel_job", lambda s: {"p_job_id": str(uuid.uuid4())}, 404, "PT404"),
    ("cancel processing job", "cancel_job", lambda s: {"p_job_id": s["processing"]}, 409, "PT409"),
    ("cancel completed job", "cancel_job", lambda s: {"p_job_id": s["completed"]}, 409, "PT409"),
    ("get unknown job", "get_job", lambda s: {"p_job_id": str(uuid.uuid4())}, 404, "PT404"),
    ("get job null", "get_job", lambda s: {"p_job_id": None}, 400, "22004"),
    ("list unknown status", "list_jobs", lambda s: {"p_status": "running"}, 400, "22023"),
    ("stats empty source", "get_job_stats", lambda s: {"p_source": ""}, 400, "22023"),
    ("requeue unknown dead letter", "requeue_dead_letter", lambda s: {"p_id": str(uuid.uuid4())}, 404, "PT404"),
    ("requeue resolved dead letter", "requeue_dead_letter", lambda s: {"p_id": s["resolved_dl"]}, 409, "PT409"),
    ("resolve unknown dead letter", "resolve_dead_letter", lambda s: {"p_id": str(uuid.uuid4())}, 404, "PT404"),
    ("resolve resolved dead letter", "resolve_dead_letter", lambda s: {"p_id": s["resolved_dl"]}, 409, "PT409"),
]


TYPE_ERRORS = {"priority not int", "complete bad uuid"}


@pytest.mark.parametrize("name,fn,body,status,code", CASES, ids=[c[0] for c in CASES])
def test_user_mistake(api, db, state, name, fn, body, status, code):
    before = table_fingerprint(db)
    r = api.rpc(fn, data=json.dumps(body(state)))
    assert r.status_code == status, f"{fn}: {r.status_code} {r.text[:2000]}"
    err = r.json()
    assert set(err) >= {"code", "message", "details", "hint"}, err
    assert err["code"] == code, err
    assert err["message"], err
    assert "pgrx" not in (err["details"] or "") and "rustc" not in (err["details"] or ""), err
    if code.startswith(("22", "PT")) and name not in TYPE_ERRORS:
        # the extension's own errors say what to do (PostgreSQL's input-syntax errors have no hint)
        assert err["hint"] or err["details"], err
    assert table_fingerprint(db) == before, "an error changed the tables"


def test_get_with_bad_query_parameters(api, db, state):
    """GET of a STABLE function with a bad parameter is a 4xx too."""
    before = table_fingerprint(db)
    r = api.get("rpc/get_job", params={"p_job_id": str(uuid.uuid4())})
    assert r.status_code == 404 and r.json()["code"] == "PT404", r.text
    r = api.get("rpc/list_jobs", params={"p_status": "nope"})
    assert r.status_code == 400 and r.json()["code"] == "22023", r.text
    r = api.get("rpc/list_jobs", params={"p_limit": "many"})
    assert 400 <= r.status_code < 500, r.text
    assert table_fingerprint(db) == before


def test_state_was_not_changed_by_errors(api, state):
    """After all the mistakes the processing job is still processing, on its run."""
    job = api.ok("get_job", {"p_job_id": state["processing"]})
    assert job["status"] == "processing" and job["current_run_id"] == state["processing_run"]
    assert api.ok("get_job", {"p_job_id": state["completed"]})["status"] == "completed"
