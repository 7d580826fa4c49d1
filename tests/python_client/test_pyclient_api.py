"""mcp_jobs.Client against the real stack (PostgreSQL with the extension, PostgREST 12.0.2, nginx):
every method of the public API, its typed result, and every error class."""

import http.server
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

import mcp_jobs
from mcp_jobs import (
    Alert,
    AuthError,
    BadRequestError,
    ClaimedJob,
    Client,
    CompleteJobsRow,
    ConflictError,
    DeadLetter,
    DeadLetterGroup,
    JobRow,
    McpJobsError,
    MetricsRow,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    QueueDepthRow,
    RequeuedDeadLetter,
    TransientError,
)

from e2e_stack import mint_jwt
from pgharness import free_port
from pyclient_helpers import DB


def _claim(client, source, **kw):
    job = client.claim_next_job("py-test", sources=[source], **kw)
    assert job is not None, "a job was due"
    return job


def test_enqueue_job_the_design_odoo_call(client, db, source):
    payload = {"host": "erp-1", "ports": [22, 443], "big": 12345678901234567890}
    job_id = client.enqueue_job(source, "discovery", payload, priority=5)
    assert uuid.UUID(job_id).version == 7
    row = db.execute(
        "SELECT source, job_type, payload, priority, status, attempts FROM mcp_jobs.jobs WHERE id = %s", (job_id,)
    ).fetchone()
    assert row == (source, "discovery", payload, 5, "queued", 0)


def test_enqueue_job_options(client, db, source):
    run_at = datetime.now(UTC) + timedelta(hours=1)
    a = client.enqueue_job(source, "sync", run_at=run_at, max_attempts=7, idempotency_key="k-1")
    assert client.enqueue_job(source, "sync", {"other": 1}, idempotency_key="k-1") == a
    b = client.enqueue_job(source, "sync", '{"rows": 3}', 0)  # n8n sends the object as JSON text
    got = dict(db.execute("SELECT id::text, payload FROM mcp_jobs.jobs WHERE source = %s", (source,)).fetchall())
    assert got == {a: {}, b: {"rows": 3}}
    r = db.execute("SELECT run_at, max_attempts, priority FROM mcp_jobs.jobs WHERE id = %s", (a,)).fetchone()
    assert abs((r[0] - run_at).total_seconds()) < 0.001 and r[1:] == (7, 5)
    assert client.claim_next_job("py-test", sources=[source]) is not None  # b, not a (not yet due)
    assert client.claim_next_job("py-test", sources=[source]) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        client.enqueue_job(source, "sync", run_at=datetime.now())


def test_bad_request_error_carries_sqlstate_message_detail_hint(client, db, source):
    with pytest.raises(BadRequestError) as ei:
        client.enqueue_job(source, "sync", {}, priority=42)
    e = ei.value
    assert (e.status, e.code, e.function) == (400, "22023", "enqueue_job")
    assert "priority" in e.message and e.details == "p_priority was 42." and "0 (lowest)" in e.hint
    assert "HTTP 400" in str(e) and "[22023]" in str(e)
    assert isinstance(e, McpJobsError) and not e.retriable
    with pytest.raises(BadRequestError) as ei:
        client.enqueue_job(None, "sync")
    assert ei.value.code == "22004"
    with pytest.raises(BadRequestError) as ei:
        client.enqueue_job(source, "sync", "not json")
    assert ei.value.code == "22P02"
    with pytest.raises(BadRequestError):
        client.claim_next_job("py-test", sources=[source], lease_seconds=0)
    assert db.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE source = %s", (source,)).fetchone()[0] == 0


def test_payload_too_large_error(client, source):
    with pytest.raises(PayloadTooLargeError) as ei:
        client.enqueue_job(source, "sync", {"blob": "x" * (1024 * 1024 + 10)})
    assert (ei.value.status, ei.value.code) == (413, "PT413")


def test_claim_progress_complete(client, db, source):
    job_id = client.enqueue_job(source, "discovery", {"n": 1}, 7)
    job = client.claim_next_job("py-test", sources=[source], job_types=["discovery"], lease_seconds=60)
    assert isinstance(job, ClaimedJob)
    assert (job.id, job.attempt, job.max_attempts, job.source, job.job_type, job.payload, job.priority) == (
        job_id,
        1,
        3,
        source,
        "discovery",
        {"n": 1},
        7,
    )
    for stamp in (job.run_at, job.created_at, job.lease_expires_at):
        assert isinstance(stamp, datetime) and stamp.tzinfo is not None
    assert 55 < (job.lease_expires_at - datetime.now(UTC)).total_seconds() <= 61
    assert client.claim_next_job("py-test", sources=[source]) is None

    p = client.report_progress(job.id, job.run_id, {"pct": 50})
    assert (p["job_id"], p["run_id"], p["status"]) == (job.id, job.run_id, "processing")
    done = client.complete_job(job.id, job.run_id, {"found": 12})
    assert (done["job_id"], done["status"], done["attempt"]) == (job.id, "completed", 1)
    assert db.execute("SELECT result FROM mcp_jobs.jobs WHERE id = %s", (job.id,)).fetchone()[0] == {"found": 12}

    with pytest.raises(ConflictError) as ei:
        client.complete_job(job.id, job.run_id)
    assert (ei.value.status, ei.value.code) == (409, "PT409") and "completed" in ei.value.message
    with pytest.raises(ConflictError):
        client.report_progress(job.id, job.run_id)
    with pytest.raises(NotFoundError) as ei:
        client.complete_job(uuid.uuid4(), job.run_id)
    assert (ei.value.status, ei.value.code) == (404, "PT404")


def test_complete_and_claim_next(client, source):
    first = client.enqueue_job(source, "sync", {"i": 1})
    second = client.enqueue_job(source, "sync", {"i": 2})
    a = _claim(client, source)
    assert a.id == first
    b = client.complete_and_claim_next(a.id, a.run_id, {"ok": 1}, "py-test", sources=[source], lease_seconds=30)
    assert isinstance(b, ClaimedJob) and b.id == second and b.payload == {"i": 2}
    assert client.complete_and_claim_next(b.id, b.run_id, None, "py-test", sources=[source]) is None
    assert client.get_job_stats(source)["completed"] == 2


def test_claim_jobs_and_complete_jobs(client, db, source):
    ids = [client.enqueue_job(source, "sync", {"i": i}) for i in range(5)]
    jobs = client.claim_jobs("py-test", sources=[source], limit=3, lease_seconds=30)
    assert [j.id for j in jobs] == ids[:3] and len({j.run_id for j in jobs}) == 3
    rows = client.complete_jobs(
        [j.id for j in jobs] + [str(uuid.uuid4())],
        [j.run_id for j in jobs] + [str(uuid.uuid4())],
        [{"r": 0}, None, {"r": 2}, None],
    )
    assert all(isinstance(r, CompleteJobsRow) for r in rows)
    assert [(r.job_id, r.completed) for r in rows[:3]] == [(j.id, True) for j in jobs]
    assert (rows[3].completed, rows[3].reason, rows[3].status) == (False, "not found", None)
    got = dict(
        db.execute(
            "SELECT id::text, result FROM mcp_jobs.jobs WHERE id = ANY(%s::uuid[])", ([j.id for j in jobs],)
        ).fetchall()
    )
    assert got == {jobs[0].id: {"r": 0}, jobs[1].id: None, jobs[2].id: {"r": 2}}
    assert len(client.claim_jobs("py-test", sources=[source])) == 2
    with pytest.raises(BadRequestError) as ei:
        client.complete_jobs([ids[3]], [])
    assert ei.value.code == "22023"
    with pytest.raises(TypeError):
        client.complete_jobs(ids[3], ids[3])  # a single id where a list is expected


def test_fail_job_retry_and_dead_letter_with_details(client, db, source):
    job_id = client.enqueue_job(source, "sync", {"k": 1}, max_attempts=2)
    a = _claim(client, source)
    r = client.fail_job(a.id, a.run_id, "upstream timeout")
    assert (r["status"], r["attempt"], r["max_attempts"], r["dead_letter_id"]) == ("queued", 1, 2, None)
    assert r["retry_at"] is not None
    db.execute("UPDATE mcp_jobs.jobs SET run_at = now() WHERE id = %s", (job_id,))  # skip the backoff
    b = _claim(client, source)
    assert b.attempt == 2
    details = {"traceback": "Traceback ...", "analysis": {"reason": "bad input"}}
    r = client.fail_job(b.id, b.run_id, "invalid credentials", retry=False, details=details)
    assert r["status"] == "failed" and r["dead_letter_id"]
    with pytest.raises(ConflictError):
        client.fail_job(b.id, b.run_id, "again")
    with pytest.raises(BadRequestError) as ei:
        client.fail_job(b.id, b.run_id, None)
    assert ei.value.code == "22004"

    dls = client.list_dead_letters(source=source)
    assert len(dls) == 1 and isinstance(dls[0], DeadLetter)
    dl = dls[0]
    assert (dl.id, dl.job_id, dl.attempts, dl.last_error, dl.details, dl.resolved) == (
        r["dead_letter_id"],
        job_id,
        2,
        "invalid credentials",
        details,
        False,
    )
    assert isinstance(dl.failed_at, datetime)
    ev = db.execute(
        "SELECT data FROM mcp_jobs.job_events WHERE job_id = %s AND event_type = 'failed' ORDER BY id DESC LIMIT 1",
        (job_id,),
    ).fetchone()[0]
    assert ev["details"] == details and ev["retry"] is False

    groups = [g for g in client.dead_letter_groups() if g.source == source]
    assert len(groups) == 1 and isinstance(groups[0], DeadLetterGroup)
    assert (groups[0].dead_letters, groups[0].ids, groups[0].error) == (1, [dl.id], "invalid credentials")

    assert client.requeue_dead_letter(dl.id) == job_id
    with pytest.raises(ConflictError):
        client.requeue_dead_letter(dl.id)
    with pytest.raises(NotFoundError):
        client.requeue_dead_letter(uuid.uuid4())
    assert client.list_dead_letters(source=source) == []
    assert [d.resolution for d in client.list_dead_letters(source=source, resolved=True)] == ["requeued"]

    c = _claim(client, source)
    assert c.attempt == 1
    r = client.fail_job(c.id, c.run_id, "still broken", retry=False)
    res = client.resolve_dead_letter(r["dead_letter_id"], "customer notified")
    assert (res["id"], res["job_id"], res["resolved"], res["resolution"], res["resolution_note"]) == (
        r["dead_letter_id"],
        job_id,
        True,
        "resolved",
        "customer notified",
    )
    with pytest.raises(ConflictError):
        client.resolve_dead_letter(r["dead_letter_id"])
    with pytest.raises(BadRequestError):
        client.resolve_dead_letter(uuid.uuid4(), "x" * 10001)


def test_dead_letter_batches(client, source):
    dl_ids = []
    for i in range(4):
        client.enqueue_job(source, "sync", {"i": i})
        j = _claim(client, source)
        dl_ids.append(client.fail_job(j.id, j.run_id, "boom", retry=False)["dead_letter_id"])
    rows = client.requeue_dead_letters(dl_ids[:2])
    assert all(isinstance(r, RequeuedDeadLetter) for r in rows) and [r.id for r in rows] == dl_ids[:2]
    assert client.resolve_dead_letters(dl_ids[2:], "bulk") == 2
    with pytest.raises(ConflictError):
        client.resolve_dead_letters(dl_ids[:1])
    with pytest.raises(NotFoundError):
        client.requeue_dead_letters([uuid.uuid4()])
    with pytest.raises(BadRequestError):
        client.resolve_dead_letters([])


def test_cancel_job(client, source):
    job_id = client.enqueue_job(source, "sync")
    r = client.cancel_job(job_id)
    assert (r["job_id"], r["status"]) == (job_id, "cancelled") and r["finished_at"]
    with pytest.raises(ConflictError):
        client.cancel_job(job_id)
    with pytest.raises(NotFoundError):
        client.cancel_job(uuid.uuid4())


def test_list_get_stats(client, source):
    ids = [client.enqueue_job(source, "t1" if i % 2 else "t0", {"i": i}) for i in range(5)]
    rows = client.list_jobs(source=source)
    assert all(isinstance(r, JobRow) for r in rows)
    assert [r.id for r in rows] == ids[::-1]
    page1 = client.list_jobs(source=source, limit=2)
    page2 = client.list_jobs(source=source, limit=2, before=page1[-1].id)
    assert [r.id for r in page1 + page2] == ids[::-1][:4]
    assert [r.id for r in client.list_jobs(source=source, job_type="t1", status="queued")] == [ids[3], ids[1]]
    assert rows[0].created_at.tzinfo is not None and rows[0].finished_at is None
    with pytest.raises(BadRequestError):
        client.list_jobs(status="bogus")

    j = _claim(client, source)
    client.report_progress(j.id, j.run_id, {"step": 1})
    client.complete_job(j.id, j.run_id, [1, 2])
    detail = client.get_job(j.id)
    assert (detail["id"], detail["status"], detail["result"]) == (j.id, "completed", [1, 2])
    assert [e["event_type"] for e in detail["events"]] == ["enqueued", "started", "progress", "completed"]
    assert [(r["id"], r["outcome"]) for r in detail["runs"]] == [(j.run_id, "completed")]
    assert detail["dead_letters"] == []
    with pytest.raises(NotFoundError):
        client.get_job(uuid.uuid4())

    stats = client.get_job_stats(source)
    assert (stats["source"], stats["queued"], stats["completed"], stats["total"]) == (source, 4, 1, 5)
    assert client.get_job_stats()["total"] >= 5


def test_metrics_alerts_queue_depth(client, pyc_cluster, source):
    for i in range(52):  # over the queue-depth warning threshold (50)
        client.enqueue_job(source, "depth", {"i": i})
    j = _claim(client, source)
    client.complete_job(j.id, j.run_id)

    depth = [r for r in client.queue_depth() if r.source == source]
    assert len(depth) == 1 and isinstance(depth[0], QueueDepthRow)
    assert (depth[0].job_type, depth[0].queued, depth[0].processing, depth[0].due_now) == ("depth", 51, 0, 51)
    assert depth[0].oldest_queued_at.tzinfo is not None and depth[0].oldest_queued_age_seconds >= 0

    alerts = [a for a in client.alerts() if a.source == source]
    assert [(a.level, a.metric, a.value, a.threshold) for a in alerts] == [("warning", "queue_depth", 51.0, 50.0)]
    assert isinstance(alerts[0], Alert) and source in alerts[0].message

    pyc_cluster.psql("SELECT mcp_jobs.aggregate_metrics();", dbname=DB)
    rows = client.get_metrics(source=source)
    assert len(rows) == 1 and isinstance(rows[0], MetricsRow)
    m = rows[0]
    assert (m.job_type, m.enqueued, m.started, m.completed, m.success_rate) == ("depth", 52, 1, 1, 1.0)
    assert m.hour.tzinfo is not None
    now = datetime.now(UTC)
    assert (
        client.get_metrics(from_=now - timedelta(hours=2), to=now + timedelta(hours=1), source=source, job_type="depth")
        == rows
    )
    with pytest.raises(BadRequestError):
        client.get_metrics(from_=now, to=now - timedelta(hours=1))


def test_auth_errors(url, source):
    with Client(url, mint_jwt("authenticated")) as c, pytest.raises(AuthError) as ei:
        c.enqueue_job(source, "sync")
    assert ei.value.status == 403 and ei.value.code == "42501"
    with (
        Client(url, mint_jwt("service_role", secret="another-secret-of-at-least-32-characters!!")) as c,
        pytest.raises(AuthError) as ei,
    ):
        c.get_job_stats()
    assert ei.value.status == 401 and ei.value.code.startswith("PGRST")
    with Client(url, mint_jwt("service_role", ttl=-60)) as c, pytest.raises(AuthError):
        c.get_job_stats()


def test_unknown_function_is_not_found(client):
    with pytest.raises(NotFoundError) as ei:
        client.rpc("no_such_function", {"p_x": 1})
    assert ei.value.code == "PGRST202"
    assert client.rpc("get_job_stats", {"p_source": "nobody-" + uuid.uuid4().hex})["total"] == 0


def test_network_error_is_transient():
    c = Client(f"http://127.0.0.1:{free_port()}", "k", timeout=2)
    with pytest.raises(NetworkError) as ei:
        c.get_job_stats()
    e = ei.value
    assert isinstance(e, TransientError) and e.retriable and e.status is None and e.function == "get_job_stats"


class _Canned(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the status and body named in its path: /<status>/<json|html>/..."""

    def do_POST(self):
        _, status, kind = self.path.split("/")[:3]
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if kind == "json":
            body = json.dumps(
                {
                    "code": "PGRST000",
                    "message": "Database client error. Retrying the connection.",
                    "details": "connection refused",
                    "hint": None,
                }
            ).encode()
            ctype = "application/json"
        else:
            body, ctype = b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"
        self.send_response(int(status))
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def canned_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "status,kind,cls",
    [
        (503, "json", TransientError),
        (502, "html", TransientError),
        (500, "json", TransientError),
        (429, "html", TransientError),
        (418, "html", McpJobsError),
    ],
)
def test_http_status_classes(canned_server, status, kind, cls):
    c = Client(canned_server, "k", rest_path=f"/{status}/{kind}")
    with pytest.raises(McpJobsError) as ei:
        c.get_job_stats()
    e = ei.value
    assert type(e) is cls and e.status == status and e.retriable == (cls is TransientError)
    if kind == "json":
        assert (e.code, e.message, e.details, e.hint) == (
            "PGRST000",
            "Database client error. Retrying the connection.",
            "connection refused",
            None,
        )
    else:
        assert e.code is None and e.message.startswith(f"HTTP {status}: <html>")


def test_package_is_typed_and_exports():
    import os

    assert os.path.exists(os.path.join(os.path.dirname(mcp_jobs.__file__), "py.typed"))
    for name in mcp_jobs.__all__:
        assert hasattr(mcp_jobs, name), name
    with pytest.raises(ValueError):
        Client("", "k")
