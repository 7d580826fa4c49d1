"""The console's /api routes against the real stack (PostgreSQL with mcp_jobs, PostgREST 12.0.2 behind
nginx, the built console under `next start`): each route with its effect checked in SQL, the MCP
Jobs design's two curl lines as written, every kind of bad input (400 and nothing changed), the
extension's errors with PostgREST's status, the API token (missing, wrong, right), what a broken
Supabase looks like, and that the service key never reaches a browser."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any, cast

import psycopg
import pytest
import requests
from conftest import Supa, console, start_supa
from console_stack import CONSOLE_DIR, ConsoleServer
from e2e_stack import mint_jwt
from pgharness import free_port, table_fingerprint

TOKEN = "console-test-token-" + "x" * 24

# The MCP Jobs design's "Test Endpoints", as written there; only the host is swapped.
DESIGN_HOST = "https://v0-open-in-v0-aw4uzb0sw-tbwa.vercel.app"
DESIGN_CURL_ENQUEUE = f"""curl -X POST "{DESIGN_HOST}/api/jobs/enqueue" \\
  -H "Content-Type: application/json" \\
  -d '{{"source": "test", "jobType": "discovery", "payload": {{"test": true}}}}'"""
DESIGN_CURL_LIST = f'curl "{DESIGN_HOST}/api/jobs/list?limit=10"'


@pytest.fixture(scope="module")
def supa(console_built: None) -> Iterator[Supa]:
    yield from start_supa({"mcp_jobs.max_payload_bytes": "4kB"})


@pytest.fixture(scope="module")
def app(supa: Supa) -> Iterator[ConsoleServer]:
    """The console as the design runs it: no API token."""
    yield from console(supa.env())


@pytest.fixture(scope="module")
def locked(supa: Supa) -> Iterator[ConsoleServer]:
    """The console with MCP_JOBS_API_TOKEN set."""
    yield from console(supa.env(MCP_JOBS_API_TOKEN=TOKEN))


def src() -> str:
    return "rt-" + uuid.uuid4().hex[:10]


def api(app: ConsoleServer, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, app.url + path, timeout=30, **kw)


def ok(r: requests.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, f"{r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["ok"] is True, body
    return cast("dict[str, Any]", body)


def err(r: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """A JSON error answer {ok: false, error: {code, message, detail, hint}} without a stack."""
    assert r.status_code == status, f"want {status}, got {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/json"), r.text
    body = r.json()
    assert body["ok"] is False
    e = body["error"]
    assert set(e) == {"code", "message", "detail", "hint"}, e
    assert isinstance(e["message"], str) and e["message"]
    assert "    at " not in r.text and "node_modules" not in r.text, r.text
    if code is not None:
        assert e["code"] == code, e
    return cast("dict[str, Any]", e)


def enqueue(app: ConsoleServer, source: str, job_type: str = "discovery", **extra: Any) -> str:
    body = ok(api(app, "POST", "/api/jobs/enqueue", json={"source": source, "jobType": job_type, **extra}))
    assert re.fullmatch(r"[0-9a-f-]{36}", body["jobId"])
    return str(body["jobId"])


def claim(db: psycopg.Connection, source: str) -> tuple[str, str]:
    row = db.execute("SELECT id::text, run_id::text FROM mcp_jobs.claim_next_job('w1', ARRAY[%s])", (source,)).fetchone()
    assert row is not None
    return row[0], row[1]


def dead_letter(db: psycopg.Connection, source: str, error: str = "boom") -> tuple[str, str]:
    """Claims the next job of the source and fails it for good; returns (job id, dead letter id)."""
    job, run = claim(db, source)
    r = db.execute("SELECT mcp_jobs.fail_job(%s, %s, %s, false) ->> 'dead_letter_id'", (job, run, error)).fetchone()
    assert r is not None
    return job, r[0]


# ------------------------------------------------------------------------------------------------
# the design's curl lines
# ------------------------------------------------------------------------------------------------

def test_design_curl_lines_verbatim(app: ConsoleServer, db: psycopg.Connection) -> None:
    enqueue_cmd = DESIGN_CURL_ENQUEUE.replace(DESIGN_HOST, app.url)
    list_cmd = DESIGN_CURL_LIST.replace(DESIGN_HOST, app.url)
    p = subprocess.run(["bash", "-c", enqueue_cmd + " --silent --show-error"], capture_output=True, text=True, timeout=60,
                       check=False)
    assert p.returncode == 0, p.stderr
    body = json.loads(p.stdout)
    assert body["ok"] is True and re.fullmatch(r"[0-9a-f-]{36}", body["jobId"]), p.stdout
    row = db.execute("SELECT source, job_type, payload, status FROM mcp_jobs.jobs WHERE id = %s", (body["jobId"],)).fetchone()
    assert row == ("test", "discovery", {"test": True}, "queued")

    p = subprocess.run(["bash", "-c", list_cmd + " --silent --show-error"], capture_output=True, text=True, timeout=60,
                       check=False)
    assert p.returncode == 0, p.stderr
    listed = json.loads(p.stdout)
    assert listed["ok"] is True and isinstance(listed["jobs"], list) and 1 <= len(listed["jobs"]) <= 10
    assert body["jobId"] in [j["id"] for j in listed["jobs"]]
    assert "next" in listed


# ------------------------------------------------------------------------------------------------
# each route
# ------------------------------------------------------------------------------------------------

def test_enqueue_with_every_option(app: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    job = enqueue(app, s, "report", payload={"n": 1, "deep": {"x": [1, 2]}}, priority=7, runAt="2099-01-01T00:00:00Z",
                  maxAttempts=5, idempotencyKey="key-1")
    row = db.execute("SELECT source, job_type, payload, priority, max_attempts, idempotency_key, run_at = '2099-01-01Z' "
                     "FROM mcp_jobs.jobs WHERE id = %s", (job,)).fetchone()
    assert row == (s, "report", {"n": 1, "deep": {"x": [1, 2]}}, 7, 5, "key-1", True)
    # the same idempotency key gives the same job and writes nothing
    before = table_fingerprint(db)
    assert enqueue(app, s, "report", idempotencyKey="key-1") == job
    assert table_fingerprint(db) == before
    # nulls mean the defaults; a payload string holding an object is stored as the object (n8n)
    job2 = enqueue(app, s, "report", payload='{"rows": 3}', priority=None, runAt=None, maxAttempts=None, idempotencyKey=None)
    assert db.execute("SELECT payload, priority, max_attempts FROM mcp_jobs.jobs WHERE id = %s", (job2,)).fetchone() == (
        {"rows": 3}, 5, 3)


def test_list_filters_and_keyset_paging(app: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    ids = [enqueue(app, s, "a" if i % 2 else "b", payload={"i": i}) for i in range(5)]
    # one becomes processing: which one is the claim's business (0.7.0 takes a source's job types in
    # turn), not the list's
    processing, _ = claim(db, s)
    assert processing in ids

    body = ok(api(app, "GET", f"/api/jobs/list?source={s}"))
    assert [j["id"] for j in body["jobs"]] == ids[::-1] and body["next"] is None
    assert set(body["jobs"][0]) >= {"id", "source", "job_type", "status", "priority", "attempts", "max_attempts", "payload",
                                    "result", "last_error", "worker_id", "run_at", "created_at", "updated_at"}
    assert [j["id"] for j in ok(api(app, "GET", f"/api/jobs/list?source={s}&jobType=a"))["jobs"]] == [ids[3], ids[1]]
    assert [j["id"] for j in ok(api(app, "GET", f"/api/jobs/list?source={s}&status=processing"))["jobs"]] == [processing]
    assert [j["id"] for j in ok(api(app, "GET", f"/api/jobs/list?source={s}&status=queued"))["jobs"]] == [
        i for i in ids[::-1] if i != processing]
    # empty parameters mean no filter (the design's ?source=&jobType=&status=&limit=&before=)
    assert [j["id"] for j in ok(api(app, "GET", f"/api/jobs/list?source={s}&jobType=&status=&limit=&before="))["jobs"]] == ids[::-1]

    page1 = ok(api(app, "GET", f"/api/jobs/list?source={s}&limit=2"))
    assert [j["id"] for j in page1["jobs"]] == [ids[4], ids[3]] and page1["next"] == ids[3]
    page2 = ok(api(app, "GET", f"/api/jobs/list?source={s}&limit=2&before={page1['next']}"))
    assert [j["id"] for j in page2["jobs"]] == [ids[2], ids[1]] and page2["next"] == ids[1]
    page3 = ok(api(app, "GET", f"/api/jobs/list?source={s}&limit=2&before={page2['next']}"))
    assert [j["id"] for j in page3["jobs"]] == [ids[0]] and page3["next"] is None
    # a page that ends exactly at the last job says so
    exact = ok(api(app, "GET", f"/api/jobs/list?source={s}&limit=5"))
    assert len(exact["jobs"]) == 5 and exact["next"] is None


def test_get_job_with_runs_events_and_dead_letters(app: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    enqueue(app, s, payload={"k": "v"})
    job, dl = dead_letter(db, s, "bad credentials\nstack line")
    body = ok(api(app, "GET", f"/api/jobs/{job}"))
    j = body["job"]
    assert j["id"] == job and j["status"] == "failed" and j["payload"] == {"k": "v"}
    assert [r["outcome"] for r in j["runs"]] == ["failed"]
    assert [e["event_type"] for e in j["events"]] == ["enqueued", "started", "failed", "dead_lettered"]
    assert [d["id"] for d in j["dead_letters"]] == [dl]
    # upper-case ids work too
    assert ok(api(app, "GET", f"/api/jobs/{job.upper()}"))["job"]["id"] == job


def test_delete_cancels_a_queued_job(app: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    job = enqueue(app, s)
    body = ok(api(app, "DELETE", f"/api/jobs/{job}"))
    assert body["jobId"] == job and body["status"] == "cancelled" and body["finishedAt"]
    assert db.execute("SELECT status FROM mcp_jobs.jobs WHERE id = %s", (job,)).fetchone() == ("cancelled",)
    # again: 409 with the extension's message, detail and hint, and nothing changes
    before = table_fingerprint(db)
    e = err(api(app, "DELETE", f"/api/jobs/{job}"), 409, "PT409")
    assert "cancel" in e["message"] and e["detail"] and e["hint"]
    # a processing job cannot be cancelled
    job2 = enqueue(app, s)
    claim(db, s)
    before = table_fingerprint(db)
    err(api(app, "DELETE", f"/api/jobs/{job2}"), 409, "PT409")
    assert table_fingerprint(db) == before


def test_unknown_job_is_404(app: ConsoleServer, db: psycopg.Connection) -> None:
    missing = str(uuid.uuid4())
    e = err(api(app, "GET", f"/api/jobs/{missing}"), 404, "PT404")
    assert missing in e["message"] and e["detail"] and e["hint"]
    before = table_fingerprint(db)
    err(api(app, "DELETE", f"/api/jobs/{missing}"), 404, "PT404")
    assert table_fingerprint(db) == before


def test_stats_queue_depth_alerts(app: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    for _ in range(3):
        enqueue(app, s, "sync")
    claim(db, s)
    stats = ok(api(app, "GET", f"/api/jobs/stats?source={s}"))["stats"]
    assert stats == {"source": s, "queued": 2, "processing": 1, "completed": 0, "failed": 0, "cancelled": 0, "total": 3,
                     "dead_letter_unresolved": 0, "queues_paused": 0, "queues_limited": 0}
    # 0.7.0: the flow-control rows that pause or limit the source's queues
    db.execute("SELECT mcp_jobs.pause_queue(%s, 'sync'), mcp_jobs.set_queue(%s, p_max_concurrency => 2)", (s, s))
    stats = ok(api(app, "GET", f"/api/jobs/stats?source={s}"))["stats"]
    assert (stats["queues_paused"], stats["queues_limited"]) == (1, 1), stats
    sql_stats = db.execute("SELECT mcp_jobs.get_job_stats(%s)", (s,)).fetchone()
    assert sql_stats is not None and stats == sql_stats[0]
    everything = ok(api(app, "GET", "/api/jobs/stats"))["stats"]
    sql = db.execute("SELECT mcp_jobs.get_job_stats()").fetchone()
    assert sql is not None and everything == sql[0]

    depth = ok(api(app, "GET", "/api/jobs/queue-depth"))["queueDepth"]
    mine = [r for r in depth if r["source"] == s]
    assert len(mine) == 1 and (mine[0]["job_type"], mine[0]["queued"], mine[0]["processing"], mine[0]["due_now"]) == ("sync", 2, 1, 2)
    assert mine[0]["oldest_queued_age_seconds"] >= 0

    alerts = ok(api(app, "GET", "/api/jobs/alerts"))["alerts"]
    sql_alerts = db.execute("SELECT level, metric, source FROM mcp_jobs.alerts()").fetchall()
    assert sorted((a["level"], a["metric"], a["source"]) for a in alerts) == sorted(sql_alerts)


def test_metrics(app: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    enqueue(app, s, "m")
    job, run = claim(db, s)
    db.execute("SELECT mcp_jobs.complete_job(%s, %s)", (job, run))
    db.execute("SELECT mcp_jobs.aggregate_metrics(now() - interval '1 hour', now() + interval '1 hour')")
    rows = ok(api(app, "GET", f"/api/jobs/metrics?source={s}"))["metrics"]
    assert len(rows) == 1
    r = rows[0]
    assert (r["source"], r["job_type"], r["enqueued"], r["started"], r["completed"], r["success_rate"]) == (s, "m", 1, 1, 1, 1)
    assert set(r) == {"hour", "source", "job_type", "enqueued", "started", "completed", "failed", "retried", "dead_lettered",
                      "cancelled", "lease_expired", "success_rate", "run_ms_avg", "run_ms_p50", "run_ms_p95", "run_ms_max",
                      "wait_ms_p50", "wait_ms_p95"}
    # a range that ends before the job: nothing; from/to/jobType work
    assert ok(api(app, "GET", f"/api/jobs/metrics?source={s}&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z"))["metrics"] == []
    assert len(ok(api(app, "GET", f"/api/jobs/metrics?source={s}&jobType=m"))["metrics"]) == 1
    assert ok(api(app, "GET", f"/api/jobs/metrics?source={s}&jobType=other"))["metrics"] == []
    # more than 31 days: the extension's 400
    e = err(api(app, "GET", "/api/jobs/metrics?from=2020-01-01T00:00:00Z&to=2020-06-01T00:00:00Z"), 400, "22023")
    assert "31 days" in e["message"] and e["hint"]


def test_dead_letters_list_groups_requeue_resolve(app: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    for _ in range(4):
        enqueue(app, s, "dl")
    made = [dead_letter(db, s, "timeout\nat x") for _ in range(3)]
    _, dl4 = dead_letter(db, s, "refused")

    listed = ok(api(app, "GET", f"/api/jobs/dead-letters?source={s}"))
    assert [d["id"] for d in listed["deadLetters"]] == [dl4] + [d for _, d in made][::-1] and listed["next"] is None
    page = ok(api(app, "GET", f"/api/jobs/dead-letters?source={s}&limit=2"))
    assert len(page["deadLetters"]) == 2 and page["next"] == page["deadLetters"][1]["id"]
    rest = ok(api(app, "GET", f"/api/jobs/dead-letters?source={s}&limit=2&before={page['next']}"))
    assert len(rest["deadLetters"]) == 2 and rest["next"] is None

    groups = [g for g in ok(api(app, "GET", "/api/jobs/dead-letters/groups"))["groups"] if g["source"] == s]
    assert sorted((g["error"], g["dead_letters"], len(g["ids"])) for g in groups) == [("refused", 1, 1), ("timeout", 3, 3)]

    # requeue two: their jobs are queued again with fresh attempts, the dead letters closed
    (j1, d1), (j2, d2), (_, d3) = made
    body = ok(api(app, "POST", "/api/jobs/dead-letters/requeue", json={"ids": [d1, d2]}))
    assert sorted((r["id"], r["job_id"]) for r in body["requeued"]) == sorted([(d1, j1), (d2, j2)])
    assert db.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE id = ANY(%s::uuid[]) AND status = 'queued' AND attempts = 0",
                      ([j1, j2],)).fetchone() == (2,)
    assert db.execute("SELECT count(*) FROM mcp_jobs.dead_letter_queue WHERE id = ANY(%s::uuid[]) AND resolution = 'requeued'",
                      ([d1, d2],)).fetchone() == (2,)

    # resolve with a note
    assert ok(api(app, "POST", "/api/jobs/dead-letters/resolve", json={"ids": [d3, dl4], "note": "customer notified"}))["resolved"] == 2
    assert db.execute("SELECT count(*) FROM mcp_jobs.dead_letter_queue WHERE id = ANY(%s::uuid[]) AND resolution = 'resolved' "
                      "AND resolution_note = 'customer notified'", ([d3, dl4],)).fetchone() == (2,)
    assert ok(api(app, "GET", f"/api/jobs/dead-letters?source={s}"))["deadLetters"] == []
    closed = ok(api(app, "GET", f"/api/jobs/dead-letters?source={s}&resolved=true"))["deadLetters"]
    assert len(closed) == 4
    assert len(ok(api(app, "GET", f"/api/jobs/dead-letters?source={s}&resolved=all"))["deadLetters"]) == 4
    assert {g["source"] for g in ok(api(app, "GET", "/api/jobs/dead-letters/groups?resolved=true"))["groups"]} >= {s}

    # all or nothing: a closed one in the batch -> 409, an unknown one -> 404; nothing changes
    enqueue(app, s, "dl")
    _, d5 = dead_letter(db, s, "again")
    before = table_fingerprint(db)
    err(api(app, "POST", "/api/jobs/dead-letters/requeue", json={"ids": [d5, d1]}), 409, "PT409")
    err(api(app, "POST", "/api/jobs/dead-letters/resolve", json={"ids": [d5, str(uuid.uuid4())]}), 404, "PT404")
    assert table_fingerprint(db) == before


# ------------------------------------------------------------------------------------------------
# bad input: 400 with a JSON error, never a 500, and nothing written
# ------------------------------------------------------------------------------------------------

BAD_ENQUEUE_BODIES: list[tuple[str, bytes | str, int, str]] = [
    ("malformed JSON", b'{"source": "a", ', 400, "invalid_json"),
    ("not JSON at all", b"source=a&jobType=b", 400, "invalid_json"),
    ("empty body", b"", 400, "invalid_json"),
    ("invalid UTF-8", b'{"source": "\xff\xfe", "jobType": "b"}', 400, "invalid_json"),
    ("an array", b"[1, 2]", 400, "invalid_body"),
    ("a string", b'"hello"', 400, "invalid_body"),
    ("a number", b"42", 400, "invalid_body"),
    ("null", b"null", 400, "invalid_body"),
    ("unknown field", b'{"source": "a", "jobType": "b", "p_priority": 5}', 400, "unknown_field"),
    ("snake_case field", b'{"source": "a", "job_type": "b"}', 400, "unknown_field"),
    ("no source", b'{"jobType": "b"}', 400, "missing_field"),
    ("no jobType", b'{"source": "a"}', 400, "missing_field"),
    ("source not a string", b'{"source": 5, "jobType": "b"}', 400, "invalid_field"),
    ("jobType null", b'{"source": "a", "jobType": null}', 400, "invalid_field"),
    ("priority a string", b'{"source": "a", "jobType": "b", "priority": "5"}', 400, "invalid_field"),
    ("priority not an integer", b'{"source": "a", "jobType": "b", "priority": 5.5}', 400, "invalid_field"),
    ("maxAttempts a boolean", b'{"source": "a", "jobType": "b", "maxAttempts": true}', 400, "invalid_field"),
    ("runAt not a time", b'{"source": "a", "jobType": "b", "runAt": "tomorrow"}', 400, "invalid_field"),
    ("runAt a number", b'{"source": "a", "jobType": "b", "runAt": 1700000000}', 400, "invalid_field"),
    ("idempotencyKey a number", b'{"source": "a", "jobType": "b", "idempotencyKey": 7}', 400, "invalid_field"),
    # the extension's own checks, with PostgREST's status
    ("empty source", b'{"source": "", "jobType": "b"}', 400, "22023"),
    ("priority out of range", b'{"source": "a", "jobType": "b", "priority": 42}', 400, "22023"),
    ("maxAttempts 0", b'{"source": "a", "jobType": "b", "maxAttempts": 0}', 400, "22023"),
    ("payload an array", b'{"source": "a", "jobType": "b", "payload": [1]}', 400, "22023"),
    ("payload a string without JSON", b'{"source": "a", "jobType": "b", "payload": "{nope"}', 400, "22P02"),
    ("payload over max_payload_bytes", json.dumps({"source": "a", "jobType": "b", "payload": {"x": "y" * 8000}}), 413, "PT413"),
    ("body over 2 MB", json.dumps({"source": "a", "jobType": "b", "payload": {"x": "y" * (2 * 1024 * 1024)}}), 413, "body_too_large"),
]


@pytest.mark.parametrize("case", BAD_ENQUEUE_BODIES, ids=[c[0] for c in BAD_ENQUEUE_BODIES])
def test_bad_enqueue_body(app: ConsoleServer, db: psycopg.Connection, case: tuple[str, bytes | str, int, str]) -> None:
    _, body, status, code = case
    before = table_fingerprint(db)
    e = err(api(app, "POST", "/api/jobs/enqueue", data=body, headers={"Content-Type": "application/json"}), status, code)
    if code in ("22023", "22P02", "PT413"):
        assert e["hint"] or e["detail"], e
    assert table_fingerprint(db) == before


BAD_QUERIES: list[tuple[str, str, str, int, str]] = [
    ("bad uuid in the path", "GET", "/api/jobs/not-a-uuid", 400, "invalid_id"),
    ("bad uuid in the path (DELETE)", "DELETE", "/api/jobs/1234", 400, "invalid_id"),
    ("almost a uuid", "GET", "/api/jobs/01a2304a-6f04-7bec-bdf1-8c6b5343bd8", 400, "invalid_id"),
    ("query on [id]", "GET", f"/api/jobs/{uuid.UUID(int=1)}?x=1", 400, "unknown_parameter"),
    ("unknown list parameter", "GET", "/api/jobs/list?job_type=a", 400, "unknown_parameter"),
    ("repeated list parameter", "GET", "/api/jobs/list?source=a&source=b", 400, "invalid_parameter"),
    ("limit not an integer", "GET", "/api/jobs/list?limit=ten", 400, "invalid_parameter"),
    ("limit 0", "GET", "/api/jobs/list?limit=0", 400, "22023"),
    ("limit 1001", "GET", "/api/jobs/list?limit=1001", 400, "22023"),
    ("before not a uuid", "GET", "/api/jobs/list?before=xyz", 400, "invalid_parameter"),
    ("unknown status", "GET", "/api/jobs/list?status=done", 400, "22023"),
    ("blank source", "GET", "/api/jobs/list?source=%20%20", 400, "22023"),
    ("stats: unknown parameter", "GET", "/api/jobs/stats?jobType=a", 400, "unknown_parameter"),
    ("queue depth: any parameter", "GET", "/api/jobs/queue-depth?source=a", 400, "unknown_parameter"),
    ("alerts: any parameter", "GET", "/api/jobs/alerts?level=critical", 400, "unknown_parameter"),
    ("metrics: from not a time", "GET", "/api/jobs/metrics?from=yesterday", 400, "invalid_parameter"),
    ("metrics: from after to", "GET", "/api/jobs/metrics?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "22023"),
    ("dead letters: resolved maybe", "GET", "/api/jobs/dead-letters?resolved=maybe", 400, "invalid_parameter"),
    ("dead letters: before not a uuid", "GET", "/api/jobs/dead-letters?before=1", 400, "invalid_parameter"),
    ("groups: resolved 1", "GET", "/api/jobs/dead-letters/groups?resolved=1", 400, "invalid_parameter"),
    ("wrong method on list", "POST", "/api/jobs/list", 405, "method_not_allowed"),
    ("wrong method on enqueue", "GET", "/api/jobs/enqueue", 405, "method_not_allowed"),
    ("wrong method on a job", "PUT", f"/api/jobs/{uuid.UUID(int=1)}", 405, "method_not_allowed"),
    ("no such route", "GET", "/api/jobs/stats/extra", 404, "not_found"),
    ("no such route at all", "POST", "/api/nothing", 404, "not_found"),
]


@pytest.mark.parametrize("case", BAD_QUERIES, ids=[c[0] for c in BAD_QUERIES])
def test_bad_query(app: ConsoleServer, db: psycopg.Connection, case: tuple[str, str, str, int, str]) -> None:
    _, method, path, status, code = case
    before = table_fingerprint(db)
    err(api(app, method, path), status, code)
    assert table_fingerprint(db) == before


BAD_ID_BODIES: list[tuple[str, str, Any, str]] = [
    ("no ids", "requeue", {}, "missing_field"),
    ("ids not an array", "requeue", {"ids": "a"}, "invalid_field"),
    ("ids empty", "resolve", {"ids": []}, "invalid_field"),
    ("too many ids", "requeue", {"ids": [str(uuid.uuid4()) for _ in range(1001)]}, "invalid_field"),
    ("an id not a uuid", "resolve", {"ids": ["nope"]}, "invalid_field"),
    ("an id null", "requeue", {"ids": [None]}, "invalid_field"),
    ("an id twice", "requeue", {"ids": [str(uuid.UUID(int=5))] * 2}, "22023"),
    ("note not a string", "resolve", {"ids": [str(uuid.UUID(int=5))], "note": 5}, "invalid_field"),
    ("note too long", "resolve", {"ids": [str(uuid.UUID(int=5))], "note": "n" * 10001}, "22023"),
    ("unknown field", "resolve", {"ids": [str(uuid.UUID(int=5))], "comment": "x"}, "unknown_field"),
    ("not an object", "requeue", ["a"], "invalid_body"),
]


@pytest.mark.parametrize("case", BAD_ID_BODIES, ids=[c[0] for c in BAD_ID_BODIES])
def test_bad_dead_letter_body(app: ConsoleServer, db: psycopg.Connection, case: tuple[str, str, Any, str]) -> None:
    _, action, body, code = case
    before = table_fingerprint(db)
    err(api(app, "POST", f"/api/jobs/dead-letters/{action}", json=body), 400, code)
    assert table_fingerprint(db) == before


# ------------------------------------------------------------------------------------------------
# the API token
# ------------------------------------------------------------------------------------------------

def session_cookie(token: str) -> str:
    """What the sign-in form keeps: HMAC-SHA256 keyed with the token (lib/auth.ts sessionValue)."""
    mac = hmac.new(token.encode(), b"mcp-jobs-console-session-v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


ROUTES = [
    ("POST", "/api/jobs/enqueue"), ("GET", "/api/jobs/list"), ("GET", f"/api/jobs/{uuid.UUID(int=9)}"),
    ("DELETE", f"/api/jobs/{uuid.UUID(int=9)}"), ("GET", "/api/jobs/stats"), ("GET", "/api/jobs/queue-depth"),
    ("GET", "/api/jobs/alerts"), ("GET", "/api/jobs/metrics"), ("GET", "/api/jobs/dead-letters"),
    ("GET", "/api/jobs/dead-letters/groups"), ("POST", "/api/jobs/dead-letters/requeue"),
    ("POST", "/api/jobs/dead-letters/resolve"), ("GET", "/api/whatever"),
]


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_token_missing_wrong_malformed(locked: ConsoleServer, db: psycopg.Connection, route: tuple[str, str]) -> None:
    method, path = route
    body = {"source": "t", "jobType": "t"} if path.endswith("enqueue") else {"ids": [str(uuid.UUID(int=9))]}
    before = table_fingerprint(db)
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"},
                    {"Cookie": "mcp_jobs_session=forged"}, {"Cookie": f"mcp_jobs_session={session_cookie('another-token')}"}):
        kw: dict[str, Any] = {"headers": headers}
        if method == "POST":
            kw["json"] = body
        r = api(locked, method, path, **kw)
        err(r, 401, "unauthorized")
        assert r.headers.get("www-authenticate", "").startswith("Bearer")
    assert table_fingerprint(db) == before


def test_token_right(locked: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    job = ok(api(locked, "POST", "/api/jobs/enqueue", json={"source": s, "jobType": "t"}, headers=bearer))["jobId"]
    assert ok(api(locked, "GET", f"/api/jobs/list?source={s}", headers=bearer))["jobs"][0]["id"] == job
    assert ok(api(locked, "GET", f"/api/jobs/{job}", headers={"authorization": f"bearer {TOKEN}"}))["job"]["id"] == job
    # the sign-in form's cookie is accepted as well
    cookie = {"Cookie": f"mcp_jobs_session={session_cookie(TOKEN)}"}
    assert ok(api(locked, "GET", "/api/jobs/stats", headers=cookie))["stats"]["total"] >= 1
    ok(api(locked, "DELETE", f"/api/jobs/{job}", headers=cookie))
    assert db.execute("SELECT status FROM mcp_jobs.jobs WHERE id = %s", (job,)).fetchone() == ("cancelled",)
    # with a bearer token, a wrong one is refused even with a valid cookie
    err(api(locked, "GET", "/api/jobs/stats", headers={**cookie, "Authorization": "Bearer nope"}), 401, "unauthorized")


def test_pages_ask_for_the_token_once(locked: ConsoleServer) -> None:
    for path in ("/", "/jobs?status=queued", "/dead-letters", f"/jobs/{uuid.UUID(int=3)}", "/queues", "/schedules"):
        r = api(locked, "GET", path, allow_redirects=False)
        assert r.status_code in (302, 307), (path, r.status_code)
        loc = r.headers["location"]
        assert loc.startswith("/login?next=") or "/login?next=" in loc, loc
        assert urllib.parse.unquote(loc.split("next=", 1)[1]) == path
    login = api(locked, "GET", "/login?next=/jobs")
    assert login.status_code == 200 and 'data-testid="sign-in-form"' in login.text
    assert 'data-testid="open-banner"' not in login.text
    r = api(locked, "GET", "/", headers={"Cookie": f"mcp_jobs_session={session_cookie(TOKEN)}"}, allow_redirects=False)
    assert r.status_code == 200


def test_open_console_says_so(app: ConsoleServer, locked: ConsoleServer) -> None:
    page = api(app, "GET", "/")
    assert page.status_code == 200 and 'data-testid="open-banner"' in page.text and "MCP_JOBS_API_TOKEN" in page.text
    assert "WARNING: MCP_JOBS_API_TOKEN is not set" in app.log_text()
    assert "WARNING: MCP_JOBS_API_TOKEN is not set" not in locked.log_text()


# ------------------------------------------------------------------------------------------------
# a broken Supabase: the answer says what is wrong
# ------------------------------------------------------------------------------------------------

def test_wrong_service_key(supa: Supa) -> None:
    bad = mint_jwt("service_role", secret="another-secret-of-at-least-32-characters!")
    for server_env in ({"SUPABASE_URL": supa.stack.url, "SUPABASE_SERVICE_ROLE_KEY": bad},
                       {"SUPABASE_URL": supa.stack.url, "SUPABASE_SERVICE_ROLE_KEY": mint_jwt("authenticated")}):
        with ConsoleServer(server_env) as c:
            e = err(api(c, "GET", "/api/jobs/stats"), 502, "upstream_auth")
            assert "SUPABASE_SERVICE_ROLE_KEY" in (e["hint"] or "")
            page = api(c, "GET", "/")
            assert page.status_code == 200  # the page itself renders; its banner comes from the API answer


def test_supabase_unreachable_and_unconfigured(supa: Supa) -> None:
    with ConsoleServer({"SUPABASE_URL": f"http://127.0.0.1:{free_port()}", "SUPABASE_SERVICE_ROLE_KEY": supa.key}) as c:
        e = err(api(c, "GET", "/api/jobs/list"), 503, "upstream_unavailable")
        assert "cannot reach" in e["message"] and e["hint"]
        err(api(c, "POST", "/api/jobs/enqueue", json={"source": "a", "jobType": "b"}), 503, "upstream_unavailable")
        # input is checked before Supabase is called
        err(api(c, "POST", "/api/jobs/enqueue", json={"source": "a"}), 400, "missing_field")
    with ConsoleServer({}) as c:
        e = err(api(c, "GET", "/api/jobs/list"), 503, "not_configured")
        assert "SUPABASE_URL" in e["message"]
        page = api(c, "GET", "/")
        assert page.status_code == 200 and 'data-testid="config-banner"' in page.text
        assert "WARNING: SUPABASE_URL is not set" in c.log_text()


def test_extension_missing(supa: Supa) -> None:
    """A database without mcp_jobs: PostgREST has no such function; the console says so."""
    supa.cluster.psql("CREATE DATABASE bare;")
    from e2e_stack import Stack
    with Stack(supa.cluster, "bare") as bare, ConsoleServer({"SUPABASE_URL": bare.url, "SUPABASE_SERVICE_ROLE_KEY": supa.key}) as c:
        e = err(api(c, "GET", "/api/jobs/queue-depth"), 502, "upstream_schema")
        assert "queue_depth" in e["message"] and "mcp_jobs" in (e["hint"] or "")


# ------------------------------------------------------------------------------------------------
# the service-role key never reaches a browser
# ------------------------------------------------------------------------------------------------

def test_service_key_not_in_client_bundle(app: ConsoleServer, supa: Supa, db: psycopg.Connection) -> None:
    static = os.path.join(CONSOLE_DIR, ".next", "static")
    files = [os.path.join(d, f) for d, _, fs in os.walk(static) for f in fs]
    assert any(f.endswith(".js") for f in files)
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        for needle in (b"SUPABASE_SERVICE_ROLE_KEY", b"service_role", b"supabaseJobsClient", b"PostgrestClient", b"/rest/v1", supa.key.encode()):
            assert needle not in data, f"{needle!r} in {f}"
    # what the running console sends to a browser: every page and every script it loads
    job = enqueue(app, src())
    seen: set[str] = set()
    for path in ("/", "/jobs", f"/jobs/{job}", "/dead-letters", "/queues", "/schedules", "/login"):
        r = api(app, "GET", path)
        assert r.status_code == 200
        assert supa.key not in r.text and "SUPABASE_SERVICE_ROLE_KEY" not in r.text
        for script in re.findall(r'src="(/_next/static/[^"]+\.js)"', r.text):
            if script in seen:
                continue
            seen.add(script)
            s = api(app, "GET", script)
            assert s.status_code == 200 and supa.key not in s.text and "service_role" not in s.text
    assert seen, "no scripts found in the pages"
