"""The console's flow-control and schedule routes (mcp_jobs 0.7.0) against the real stack: GET
/api/jobs/queues, POST /api/jobs/queues/[source] (set_queue), .../pause, .../resume, GET and POST
/api/jobs/schedules, DELETE /api/jobs/schedules/[name], GET /api/jobs/cron-next. Each with its
effect checked in SQL, every kind of bad input (4xx, nothing changed), the extension's SQLSTATE
errors with PostgREST's status, and the API token."""
from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from conftest import Supa, console, start_supa
from console_stack import ConsoleServer
from pgharness import table_fingerprint
from test_routes import TOKEN, api, err, ok, session_cookie, src


@pytest.fixture(scope="module")
def supa(console_built: None) -> Iterator[Supa]:
    yield from start_supa({"mcp_jobs.max_payload_bytes": "4kB"})


@pytest.fixture(scope="module")
def app(supa: Supa) -> Iterator[ConsoleServer]:
    yield from console(supa.env())


@pytest.fixture(scope="module")
def locked(supa: Supa) -> Iterator[ConsoleServer]:
    yield from console(supa.env(MCP_JOBS_API_TOKEN=TOKEN))


def queue_row(db: psycopg.Connection, source: str, job_type: str | None) -> dict[str, Any] | None:
    row = db.execute("SELECT to_jsonb(q) FROM mcp_jobs.queues q WHERE source = %s AND job_type IS NOT DISTINCT FROM %s",
                     (source, job_type)).fetchone()
    return None if row is None else dict(row[0])


def q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


# ------------------------------------------------------------------------------------------------
# queues
# ------------------------------------------------------------------------------------------------

def test_queues_list_matches_sql(app: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    db.execute("SELECT mcp_jobs.enqueue_job(%s, 'sync') FROM generate_series(1, 3)", (s,))
    db.execute("SELECT mcp_jobs.set_queue(%s, 'sync', p_max_concurrency => 2, p_rate_limit => 60, "
               "p_rate_period => interval '1 minute', p_max_queued => 10)", (s,))
    db.execute("SELECT mcp_jobs.pause_queue(%s)", (s,))
    queues = ok(api(app, "GET", "/api/jobs/queues"))["queues"]
    mine = [r for r in queues if r["source"] == s]
    # the source's own row first, then its job types
    assert [(r["job_type"], r["paused"]) for r in mine] == [(None, True), ("sync", None)]
    sync = mine[1]
    assert (sync["max_concurrency"], sync["rate_limit"], sync["rate_period"], sync["max_queued"], sync["queued"],
            sync["processing"]) == (2, 60, "00:01:00", 10, 3, 0)
    assert mine[0]["paused_at"] is not None
    sql = db.execute("SELECT count(*) FROM mcp_jobs.get_queues()").fetchone()
    assert sql is not None and len(queues) == sql[0]
    assert set(sync) == {"source", "job_type", "paused", "max_concurrency", "max_concurrency_per_key", "rate_limit",
                         "rate_period", "max_queued", "paused_at", "queued", "processing", "claims_in_window",
                         "window_start", "updated_at"}


def test_set_queue_sets_and_clears(app: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    body = ok(api(app, "POST", f"/api/jobs/queues/{s}", json={
        "jobType": "report", "maxConcurrency": 4, "maxConcurrencyPerKey": 1, "rateLimit": 30, "ratePeriod": "30 seconds",
        "maxQueued": 100}))
    row = queue_row(db, s, "report")
    assert row is not None
    assert (row["max_concurrency"], row["max_concurrency_per_key"], row["rate_limit"], row["rate_period"], row["max_queued"],
            row["paused"]) == (4, 1, 30, "00:00:30", 100, None)
    assert body["queue"]["source"] == s and body["queue"]["job_type"] == "report" and body["queue"]["max_concurrency"] == 4
    # absent fields stay; a paused flag and a new limit are set together
    ok(api(app, "POST", f"/api/jobs/queues/{s}", json={"jobType": "report", "paused": True, "maxQueued": 5}))
    row = queue_row(db, s, "report")
    assert row is not None and (row["max_concurrency"], row["max_queued"], row["paused"]) == (4, 5, True)
    # clear by the route's names; rateLimit takes its period with it
    ok(api(app, "POST", f"/api/jobs/queues/{s}", json={"jobType": "report", "clear": ["rateLimit", "maxConcurrencyPerKey", "paused"]}))
    row = queue_row(db, s, "report")
    assert row is not None and (row["rate_limit"], row["rate_period"], row["max_concurrency_per_key"], row["paused"]) == (
        None, None, None, None)
    # no setting left: the row goes, the answer says null
    body = ok(api(app, "POST", f"/api/jobs/queues/{s}", json={"jobType": "report", "clear": ["maxConcurrency", "maxQueued"]}))
    assert body["queue"] is None and queue_row(db, s, "report") is None
    # without jobType: the source's row
    ok(api(app, "POST", f"/api/jobs/queues/{s}", json={"maxConcurrency": 3}))
    row = queue_row(db, s, None)
    assert row is not None and row["max_concurrency"] == 3


def test_pause_and_resume(app: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    db.execute("SELECT mcp_jobs.enqueue_job(%s, 'sync')", (s,))
    body = ok(api(app, "POST", f"/api/jobs/queues/{s}/pause", json={"jobType": "sync"}))
    assert body["queue"]["paused"] is True and body["queue"]["paused_at"]
    assert (queue_row(db, s, "sync") or {}).get("paused") is True
    # a paused queue is not claimed
    assert db.execute("SELECT count(*) FROM mcp_jobs.claim_next_job('w', ARRAY[%s])", (s,)).fetchone() == (0,)
    body = ok(api(app, "POST", f"/api/jobs/queues/{s}/resume", json={"jobType": "sync"}))
    assert body["queue"] is None and queue_row(db, s, "sync") is None
    # an empty body (or none): the whole source
    r = api(app, "POST", f"/api/jobs/queues/{s}/pause")
    assert ok(r)["queue"]["job_type"] is None
    assert (queue_row(db, s, None) or {}).get("paused") is True
    ok(api(app, "POST", f"/api/jobs/queues/{s}/resume", json={}))
    assert queue_row(db, s, None) is None
    assert db.execute("SELECT count(*) FROM mcp_jobs.claim_next_job('w', ARRAY[%s])", (s,)).fetchone() == (1,)


def test_enqueue_over_max_queued_is_429_with_retry_after(app: ConsoleServer, db: psycopg.Connection) -> None:
    s = src()
    db.execute("SELECT mcp_jobs.set_queue(%s, 'sync', p_max_queued => 1)", (s,))
    ok(api(app, "POST", "/api/jobs/enqueue", json={"source": s, "jobType": "sync", "payload": {}}))
    before = table_fingerprint(db)
    r = api(app, "POST", "/api/jobs/enqueue", json={"source": s, "jobType": "sync", "payload": {"n": 2}})
    e = err(r, 429, "53400")
    # the header an HTTP client backs off by, with the figure of the extension's detail
    assert r.headers.get("retry-after", "").isdigit() and int(r.headers["retry-after"]) >= 1, r.headers
    assert f"retry after about {r.headers['retry-after']} s" in e["detail"], e
    assert table_fingerprint(db) == before
    # other 4xx answers carry no Retry-After
    r = api(app, "POST", "/api/jobs/enqueue", json={"source": s, "jobType": "sync", "payload": {}, "priority": 99})
    err(r, 400)
    assert "retry-after" not in r.headers


def test_source_names_in_the_path_are_decoded(app: ConsoleServer, db: psycopg.Connection) -> None:
    for s in (f"odoo erp {uuid.uuid4().hex[:6]}", f"a/b?c#d%e-{uuid.uuid4().hex[:6]}", f"źródło-{uuid.uuid4().hex[:6]}"):
        ok(api(app, "POST", f"/api/jobs/queues/{q(s)}/pause"))
        assert (queue_row(db, s, None) or {}).get("paused") is True, s
        ok(api(app, "POST", f"/api/jobs/queues/{q(s)}", json={"maxQueued": 7}))
        assert (queue_row(db, s, None) or {}).get("max_queued") == 7, s


BAD_QUEUE_CALLS: list[tuple[str, str, Any, int, str]] = [
    # the route's own checks
    ("unknown field", "", {"max_concurrency": 2}, 400, "unknown_field"),
    ("limit a string", "", {"maxConcurrency": "2"}, 400, "invalid_field"),
    ("limit a fraction", "", {"maxQueued": 1.5}, 400, "invalid_field"),
    ("paused a string", "", {"paused": "yes"}, 400, "invalid_field"),
    ("jobType a number", "", {"jobType": 5}, 400, "invalid_field"),
    ("ratePeriod a number", "", {"rateLimit": 5, "ratePeriod": 60}, 400, "invalid_field"),
    ("clear not an array", "", {"clear": "paused"}, 400, "invalid_field"),
    ("clear an unknown name", "", {"clear": ["max_concurrency"]}, 400, "invalid_field"),
    ("clear a number", "", {"clear": [1]}, 400, "invalid_field"),
    ("not an object", "", [1], 400, "invalid_body"),
    ("empty body for set_queue", "", None, 400, "invalid_json"),
    ("pause: unknown field", "/pause", {"job_type": "x"}, 400, "unknown_field"),
    ("resume: jobType null is fine, a number is not", "/resume", {"jobType": 1}, 400, "invalid_field"),
    # the extension's (SQLSTATE, PostgREST's status)
    ("limit 0", "", {"maxConcurrency": 0}, 400, "22023"),
    ("negative max queued", "", {"maxQueued": -1}, 400, "22023"),
    ("rate without a period", "", {"rateLimit": 10}, 400, "22023"),
    ("period without a rate", "", {"ratePeriod": "1 minute"}, 400, "22023"),
    ("period over 7 days", "", {"rateLimit": 1, "ratePeriod": "8 days"}, 400, "22023"),
    ("period not an interval", "", {"rateLimit": 1, "ratePeriod": "soon"}, 400, "22007"),
    ("set and cleared", "", {"maxQueued": 3, "clear": ["maxQueued"]}, 400, "22023"),
    ("blank job type", "", {"jobType": "  ", "maxQueued": 3}, 400, "22023"),
    ("pause: blank job type", "/pause", {"jobType": " "}, 400, "22023"),
]


@pytest.mark.parametrize("case", BAD_QUEUE_CALLS, ids=[c[0] for c in BAD_QUEUE_CALLS])
def test_bad_queue_call(app: ConsoleServer, db: psycopg.Connection, case: tuple[str, str, Any, int, str]) -> None:
    _, suffix, body, status, code = case
    before = table_fingerprint(db)
    kw: dict[str, Any] = {"json": body} if body is not None else {}
    e = err(api(app, "POST", f"/api/jobs/queues/bad-{uuid.uuid4().hex[:6]}{suffix}", **kw), status, code)
    if code == "22023":  # the extension's own errors carry a detail or hint (PostgreSQL's input errors do not)
        assert e["detail"] or e["hint"], e
    assert table_fingerprint(db) == before


@pytest.mark.parametrize("source", ["%20%20", "%09tab", "x" * 300])
def test_bad_source_in_the_path(app: ConsoleServer, db: psycopg.Connection, source: str) -> None:
    before = table_fingerprint(db)
    for suffix in ("", "/pause", "/resume"):
        err(api(app, "POST", f"/api/jobs/queues/{source}{suffix}", json={"maxQueued": 1} if suffix == "" else {}), 400, "22023")
    assert table_fingerprint(db) == before


# ------------------------------------------------------------------------------------------------
# schedules
# ------------------------------------------------------------------------------------------------

def test_schedule_create_list_replace_delete(app: ConsoleServer, db: psycopg.Connection) -> None:
    name = "nightly-" + uuid.uuid4().hex[:8]
    body = ok(api(app, "POST", "/api/jobs/schedules", json={
        "name": name, "cron": "0 3 * * *", "source": "vercel", "jobType": "report", "payload": {"full": True}, "priority": 7,
        "timezone": "Europe/Berlin"}))
    sch = body["schedule"]
    assert (sch["name"], sch["cron"], sch["timezone"], sch["payload"], sch["priority"]) == (
        name, "0 3 * * *", "Europe/Berlin", {"full": True}, 7)
    row = db.execute("SELECT cron, timezone, source, job_type, payload, priority, next_run_at FROM mcp_jobs.schedules WHERE name = %s",
                     (name,)).fetchone()
    assert row is not None and row[:6] == ("0 3 * * *", "Europe/Berlin", "vercel", "report", {"full": True}, 7)
    assert datetime.fromisoformat(sch["next_run_at"]) == row[6]

    listed = ok(api(app, "GET", "/api/jobs/schedules"))["schedules"]
    mine = [s for s in listed if s["name"] == name]
    assert len(mine) == 1 and mine[0]["last_run_at"] is None and mine[0]["last_job_id"] is None
    sql_names = [r[0] for r in db.execute("SELECT name FROM mcp_jobs.list_schedules()")]
    assert [s["name"] for s in listed] == sql_names

    # the same name replaces; defaults: payload {}, priority 5, UTC
    sch = ok(api(app, "POST", "/api/jobs/schedules", json={"name": name, "cron": "@hourly", "source": "vercel", "jobType": "ping"}))["schedule"]
    assert (sch["cron"], sch["timezone"], sch["payload"], sch["priority"], sch["job_type"]) == ("@hourly", "UTC", {}, 5, "ping")
    assert db.execute("SELECT count(*) FROM mcp_jobs.schedules WHERE name = %s", (name,)).fetchone() == (1,)

    # a run: the list shows its job and status
    db.execute("SELECT mcp_jobs.run_schedules(now() + interval '2 hours')")
    mine = [s for s in ok(api(app, "GET", "/api/jobs/schedules"))["schedules"] if s["name"] == name]
    assert mine[0]["last_job_id"] and mine[0]["last_job_status"] == "queued"

    gone = ok(api(app, "DELETE", f"/api/jobs/schedules/{name}"))["schedule"]
    assert gone["name"] == name
    assert db.execute("SELECT count(*) FROM mcp_jobs.schedules WHERE name = %s", (name,)).fetchone() == (0,)
    # the job it enqueued stays
    assert db.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE id = %s", (mine[0]["last_job_id"],)).fetchone() == (1,)
    # again: 404 with the extension's message
    before = table_fingerprint(db)
    e = err(api(app, "DELETE", f"/api/jobs/schedules/{name}"), 404, "PT404")
    assert name in e["message"]
    assert table_fingerprint(db) == before


def test_schedule_names_in_the_path_are_decoded(app: ConsoleServer, db: psycopg.Connection) -> None:
    name = f"report at 03:00 / weekly? #{uuid.uuid4().hex[:4]} 100%"
    ok(api(app, "POST", "/api/jobs/schedules", json={"name": name, "cron": "@weekly", "source": "s", "jobType": "t"}))
    ok(api(app, "DELETE", f"/api/jobs/schedules/{q(name)}"))
    assert db.execute("SELECT count(*) FROM mcp_jobs.schedules WHERE name = %s", (name,)).fetchone() == (0,)


def test_cron_next(app: ConsoleServer, db: psycopg.Connection) -> None:
    runs = ok(api(app, "GET", "/api/jobs/cron-next?" + urllib.parse.urlencode({"cron": "30 2 * * *", "timezone": "Europe/Berlin", "count": 3})))["runs"]
    sql = [r[0] for r in db.execute("SELECT * FROM mcp_jobs.cron_next('30 2 * * *', 'Europe/Berlin', NULL, 3)")]
    assert [datetime.fromisoformat(r) for r in runs] == sql
    assert len(ok(api(app, "GET", "/api/jobs/cron-next?cron=%40daily"))["runs"]) == 1
    e = err(api(app, "GET", "/api/jobs/cron-next?cron=61+*+*+*+*"), 400, "22023")
    assert "cron" in e["message"]
    err(api(app, "GET", "/api/jobs/cron-next?cron=%40daily&timezone=Mars%2FOlympus"), 400, "22023")
    err(api(app, "GET", "/api/jobs/cron-next?cron=%40daily&count=0"), 400, "22023")
    err(api(app, "GET", "/api/jobs/cron-next?cron=%40daily&count=many"), 400, "invalid_parameter")
    err(api(app, "GET", "/api/jobs/cron-next"), 400, "missing_parameter")
    err(api(app, "GET", "/api/jobs/cron-next?cron=%40daily&tz=UTC"), 400, "unknown_parameter")


GOOD = {"name": "n", "cron": "@daily", "source": "s", "jobType": "t"}
BAD_SCHEDULES: list[tuple[str, Any, int, str]] = [
    ("no name", {k: v for k, v in GOOD.items() if k != "name"}, 400, "missing_field"),
    ("no cron", {k: v for k, v in GOOD.items() if k != "cron"}, 400, "missing_field"),
    ("no source", {k: v for k, v in GOOD.items() if k != "source"}, 400, "missing_field"),
    ("no jobType", {k: v for k, v in GOOD.items() if k != "jobType"}, 400, "missing_field"),
    ("cron a number", {**GOOD, "cron": 5}, 400, "invalid_field"),
    ("priority a string", {**GOOD, "priority": "high"}, 400, "invalid_field"),
    ("timezone a number", {**GOOD, "timezone": 1}, 400, "invalid_field"),
    ("unknown field", {**GOOD, "job_type": "t"}, 400, "unknown_field"),
    ("an array", [GOOD], 400, "invalid_body"),
    # the extension's
    ("not a cron expression", {**GOOD, "cron": "every day"}, 400, "22023"),
    ("six fields", {**GOOD, "cron": "0 0 3 * * *"}, 400, "22023"),
    ("never matches", {**GOOD, "cron": "0 0 30 2 *"}, 400, "22023"),
    ("unknown time zone", {**GOOD, "timezone": "Europe/Atlantis"}, 400, "22023"),
    ("priority 11", {**GOOD, "priority": 11}, 400, "22023"),
    ("payload an array", {**GOOD, "payload": [1]}, 400, "22023"),
    ("blank name", {**GOOD, "name": "  "}, 400, "22023"),
    ("payload over max_payload_bytes", {**GOOD, "payload": {"x": "y" * 8000}}, 413, "PT413"),
]


@pytest.mark.parametrize("case", BAD_SCHEDULES, ids=[c[0] for c in BAD_SCHEDULES])
def test_bad_schedule(app: ConsoleServer, db: psycopg.Connection, case: tuple[str, Any, int, str]) -> None:
    _, body, status, code = case
    before = table_fingerprint(db)
    e = err(api(app, "POST", "/api/jobs/schedules", json=body), status, code)
    if code in ("22023", "PT413"):
        assert e["detail"] or e["hint"], e
    assert table_fingerprint(db) == before


BAD_ROUTES: list[tuple[str, str, int, str]] = [
    ("queues: a parameter", "GET /api/jobs/queues?source=a", 400, "unknown_parameter"),
    ("queues: POST", "POST /api/jobs/queues", 405, "method_not_allowed"),
    ("a queue: GET", "GET /api/jobs/queues/a", 405, "method_not_allowed"),
    ("a queue: DELETE", "DELETE /api/jobs/queues/a", 405, "method_not_allowed"),
    ("pause: GET", "GET /api/jobs/queues/a/pause", 405, "method_not_allowed"),
    ("pause: a parameter", "POST /api/jobs/queues/a/pause?jobType=b", 400, "unknown_parameter"),
    ("no such queue action", "POST /api/jobs/queues/a/stop", 404, "not_found"),
    ("schedules: a parameter", "GET /api/jobs/schedules?name=a", 400, "unknown_parameter"),
    ("schedules: DELETE", "DELETE /api/jobs/schedules", 405, "method_not_allowed"),
    ("a schedule: GET", "GET /api/jobs/schedules/a", 405, "method_not_allowed"),
    ("a schedule: a parameter", "DELETE /api/jobs/schedules/a?force=1", 400, "unknown_parameter"),
    ("a schedule: blank name", "DELETE /api/jobs/schedules/%20", 400, "22023"),
    ("a schedule: unknown", "DELETE /api/jobs/schedules/no-such-schedule", 404, "PT404"),
    ("cron-next: POST", "POST /api/jobs/cron-next", 405, "method_not_allowed"),
]


@pytest.mark.parametrize("case", BAD_ROUTES, ids=[c[0] for c in BAD_ROUTES])
def test_bad_route_call(app: ConsoleServer, db: psycopg.Connection, case: tuple[str, str, int, str]) -> None:
    _, line, status, code = case
    method, path = line.split(" ", 1)
    before = table_fingerprint(db)
    err(api(app, method, path), status, code)
    assert table_fingerprint(db) == before


# ------------------------------------------------------------------------------------------------
# the API token
# ------------------------------------------------------------------------------------------------

ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/jobs/queues", None),
    ("POST", "/api/jobs/queues/tok", {"maxQueued": 1}),
    ("POST", "/api/jobs/queues/tok/pause", {}),
    ("POST", "/api/jobs/queues/tok/resume", {}),
    ("GET", "/api/jobs/schedules", None),
    ("POST", "/api/jobs/schedules", {"name": "tok", "cron": "@daily", "source": "s", "jobType": "t"}),
    ("DELETE", "/api/jobs/schedules/tok", None),
    ("GET", "/api/jobs/cron-next?cron=%40daily", None),
]


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_token(locked: ConsoleServer, db: psycopg.Connection, route: tuple[str, str, Any]) -> None:
    method, path, body = route
    kw: dict[str, Any] = {} if body is None else {"json": body}
    before = table_fingerprint(db)
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN},
                    {"Cookie": f"mcp_jobs_session={session_cookie('another-token')}"}):
        r = api(locked, method, path, headers=headers, **kw)
        err(r, 401, "unauthorized")
        assert r.headers.get("www-authenticate", "").startswith("Bearer")
    assert table_fingerprint(db) == before
    # the right token (or the session cookie) passes: the route answers as it would without a token
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"Cookie": f"mcp_jobs_session={session_cookie(TOKEN)}"}):
        r = api(locked, method, path, headers=headers, **kw)
        assert r.status_code in (200, 404), r.text  # 404: DELETE of a schedule already deleted
        if method == "DELETE" and r.status_code == 200:
            assert db.execute("SELECT count(*) FROM mcp_jobs.schedules WHERE name = 'tok'").fetchone() == (0,)
    if method == "POST" and path == "/api/jobs/queues/tok":
        assert (queue_row(db, "tok", None) or {}).get("max_queued") == 1
    if method == "POST" and path == "/api/jobs/schedules":
        assert db.execute("SELECT count(*) FROM mcp_jobs.schedules WHERE name = 'tok'").fetchone() == (1,)
