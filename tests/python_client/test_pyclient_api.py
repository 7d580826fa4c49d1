"""mcp_jobs.Client against the real stack (PostgreSQL with the extension, PostgREST 12.0.2, nginx):
every method of the public API, its typed result, and every error class."""

import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
    QueueRow,
    RequeuedDeadLetter,
    ScheduleRow,
    TooManyRequestsError,
    TransientError,
)
from mcp_jobs.errors import parse_retry_after

from e2e_stack import mint_jwt
from pgharness import Cluster, free_port, table_fingerprint, wait_until
from pyclient_helpers import DB, Db, no_waiting_claims, row, scalar, waiting_claims


def _claim(client: Client, source: str, **kw: Any) -> ClaimedJob:
    job = client.claim_next_job("py-test", sources=[source], **kw)
    assert job is not None, "a job was due"
    return job


def test_enqueue_job_the_design_odoo_call(client: Client, db: Db, source: str) -> None:
    payload = {"host": "erp-1", "ports": [22, 443], "big": 12345678901234567890}
    job_id = client.enqueue_job(source, "discovery", payload, priority=5)
    assert uuid.UUID(job_id).version == 7
    got = row(
        db, "SELECT source, job_type, payload, priority, status, attempts FROM mcp_jobs.jobs WHERE id = %s", (job_id,)
    )
    assert got == (source, "discovery", payload, 5, "queued", 0)


def test_enqueue_job_options(client: Client, db: Db, source: str) -> None:
    run_at = datetime.now(UTC) + timedelta(hours=1)
    a = client.enqueue_job(source, "sync", run_at=run_at, max_attempts=7, idempotency_key="k-1")
    assert client.enqueue_job(source, "sync", {"other": 1}, idempotency_key="k-1") == a
    b = client.enqueue_job(source, "sync", '{"rows": 3}', 0)  # n8n sends the object as JSON text
    got: dict[str, Any] = dict(
        db.execute("SELECT id::text, payload FROM mcp_jobs.jobs WHERE source = %s", (source,)).fetchall()
    )
    assert got == {a: {}, b: {"rows": 3}}
    r = row(db, "SELECT run_at, max_attempts, priority FROM mcp_jobs.jobs WHERE id = %s", (a,))
    assert abs((r[0] - run_at).total_seconds()) < 0.001 and r[1:] == (7, 5)
    assert client.claim_next_job("py-test", sources=[source]) is not None  # b, not a (not yet due)
    assert client.claim_next_job("py-test", sources=[source]) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        client.enqueue_job(source, "sync", run_at=datetime.now())


def test_bad_request_error_carries_sqlstate_message_detail_hint(client: Client, db: Db, source: str) -> None:
    with pytest.raises(BadRequestError) as ei:
        client.enqueue_job(source, "sync", {}, priority=42)
    e = ei.value
    assert (e.status, e.code, e.function) == (400, "22023", "enqueue_job")
    assert "priority" in e.message and e.details == "p_priority was 42." and "0 (lowest)" in (e.hint or "")
    assert "HTTP 400" in str(e) and "[22023]" in str(e)
    assert isinstance(e, McpJobsError) and not e.retriable
    with pytest.raises(BadRequestError) as ei:
        client.enqueue_job(None, "sync")  # type: ignore[arg-type]  # the server names the NULL
    assert ei.value.code == "22004"
    with pytest.raises(BadRequestError) as ei:
        client.enqueue_job(source, "sync", "not json")
    assert ei.value.code == "22P02"
    with pytest.raises(BadRequestError):
        client.claim_next_job("py-test", sources=[source], lease_seconds=0)
    assert scalar(db, "SELECT count(*) FROM mcp_jobs.jobs WHERE source = %s", (source,)) == 0


def test_payload_too_large_error(client: Client, source: str) -> None:
    with pytest.raises(PayloadTooLargeError) as ei:
        client.enqueue_job(source, "sync", {"blob": "x" * (1024 * 1024 + 10)})
    assert (ei.value.status, ei.value.code) == (413, "PT413")


def test_claim_progress_complete(client: Client, db: Db, source: str) -> None:
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
    assert scalar(db, "SELECT result FROM mcp_jobs.jobs WHERE id = %s", (job.id,)) == {"found": 12}

    with pytest.raises(ConflictError) as ei:
        client.complete_job(job.id, job.run_id)
    assert (ei.value.status, ei.value.code) == (409, "PT409") and "completed" in ei.value.message
    with pytest.raises(ConflictError):
        client.report_progress(job.id, job.run_id)
    with pytest.raises(NotFoundError) as nf:
        client.complete_job(uuid.uuid4(), job.run_id)
    assert (nf.value.status, nf.value.code) == (404, "PT404")


def test_complete_and_claim_next(client: Client, source: str) -> None:
    first = client.enqueue_job(source, "sync", {"i": 1})
    second = client.enqueue_job(source, "sync", {"i": 2})
    a = _claim(client, source)
    assert a.id == first
    b = client.complete_and_claim_next(a.id, a.run_id, {"ok": 1}, "py-test", sources=[source], lease_seconds=30)
    assert isinstance(b, ClaimedJob) and b.id == second and b.payload == {"i": 2}
    assert client.complete_and_claim_next(b.id, b.run_id, None, "py-test", sources=[source]) is None
    assert client.get_job_stats(source)["completed"] == 2


def test_claim_jobs_and_complete_jobs(client: Client, db: Db, source: str) -> None:
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
    got: dict[str, Any] = dict(
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


def test_fail_job_retry_and_dead_letter_with_details(client: Client, db: Db, source: str) -> None:
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
        client.fail_job(b.id, b.run_id, None)  # type: ignore[arg-type]  # the server names the NULL
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
    ev = scalar(
        db,
        "SELECT data FROM mcp_jobs.job_events WHERE job_id = %s AND event_type = 'failed' ORDER BY id DESC LIMIT 1",
        (job_id,),
    )
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
    dead_letter_id = r["dead_letter_id"]
    assert dead_letter_id is not None
    res = client.resolve_dead_letter(dead_letter_id, "customer notified")
    assert (res["id"], res["job_id"], res["resolved"], res["resolution"], res["resolution_note"]) == (
        dead_letter_id,
        job_id,
        True,
        "resolved",
        "customer notified",
    )
    with pytest.raises(ConflictError):
        client.resolve_dead_letter(dead_letter_id)
    with pytest.raises(BadRequestError):
        client.resolve_dead_letter(uuid.uuid4(), "x" * 10001)


def test_dead_letter_batches(client: Client, source: str) -> None:
    dl_ids: list[str] = []
    for i in range(4):
        client.enqueue_job(source, "sync", {"i": i})
        j = _claim(client, source)
        dl_id = client.fail_job(j.id, j.run_id, "boom", retry=False)["dead_letter_id"]
        assert dl_id is not None
        dl_ids.append(dl_id)
    rows = client.requeue_dead_letters(dl_ids[:2])
    assert all(isinstance(r, RequeuedDeadLetter) for r in rows) and [r.id for r in rows] == dl_ids[:2]
    assert client.resolve_dead_letters(dl_ids[2:], "bulk") == 2
    with pytest.raises(ConflictError):
        client.resolve_dead_letters(dl_ids[:1])
    with pytest.raises(NotFoundError):
        client.requeue_dead_letters([uuid.uuid4()])
    with pytest.raises(BadRequestError):
        client.resolve_dead_letters([])


def test_cancel_job(client: Client, source: str) -> None:
    job_id = client.enqueue_job(source, "sync")
    r = client.cancel_job(job_id)
    assert (r["job_id"], r["status"]) == (job_id, "cancelled") and r["finished_at"]
    with pytest.raises(ConflictError):
        client.cancel_job(job_id)
    with pytest.raises(NotFoundError):
        client.cancel_job(uuid.uuid4())


def test_list_get_stats(client: Client, source: str) -> None:
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


def test_metrics_alerts_queue_depth(client: Client, pyc_cluster: Cluster, source: str) -> None:
    for i in range(52):  # over the queue-depth warning threshold (50)
        client.enqueue_job(source, "depth", {"i": i})
    j = _claim(client, source)
    client.complete_job(j.id, j.run_id)

    depth = [r for r in client.queue_depth() if r.source == source]
    assert len(depth) == 1 and isinstance(depth[0], QueueDepthRow)
    assert (depth[0].job_type, depth[0].queued, depth[0].processing, depth[0].due_now) == ("depth", 51, 0, 51)
    oldest, age = depth[0].oldest_queued_at, depth[0].oldest_queued_age_seconds
    assert oldest is not None and oldest.tzinfo is not None and age is not None and age >= 0

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


def test_auth_errors(url: str, source: str) -> None:
    with Client(url, mint_jwt("authenticated")) as c, pytest.raises(AuthError) as ei:
        c.enqueue_job(source, "sync")
    assert ei.value.status == 403 and ei.value.code == "42501"
    with (
        Client(url, mint_jwt("service_role", secret="another-secret-of-at-least-32-characters!!")) as c,
        pytest.raises(AuthError) as ei,
    ):
        c.get_job_stats()
    assert ei.value.status == 401 and (ei.value.code or "").startswith("PGRST")
    with Client(url, mint_jwt("service_role", ttl=-60)) as c, pytest.raises(AuthError):
        c.get_job_stats()


def test_unknown_function_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError) as ei:
        client.rpc("no_such_function", {"p_x": 1})
    assert ei.value.code == "PGRST202"
    assert client.rpc("get_job_stats", {"p_source": "nobody-" + uuid.uuid4().hex})["total"] == 0


def test_network_error_is_transient() -> None:
    c = Client(f"http://127.0.0.1:{free_port()}", "k", timeout=2)
    with pytest.raises(NetworkError) as ei:
        c.get_job_stats()
    e = ei.value
    assert isinstance(e, TransientError) and e.retriable and e.status is None and e.function == "get_job_stats"


class _Canned(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the status and body named in its path: /<status>/<json|html>/..."""

    def do_POST(self) -> None:
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
        if status == "429":
            self.send_header("Retry-After", "7")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def canned_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
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
        (429, "html", TooManyRequestsError),
        (418, "html", McpJobsError),
    ],
)
def test_http_status_classes(canned_server: str, status: int, kind: str, cls: type[McpJobsError]) -> None:
    c = Client(canned_server, "k", rest_path=f"/{status}/{kind}")
    with pytest.raises(McpJobsError) as ei:
        c.get_job_stats()
    e = ei.value
    assert type(e) is cls and e.status == status and e.retriable == issubclass(cls, TransientError)
    if status == 429:
        assert isinstance(e, TooManyRequestsError) and e.retry_after == 7.0 and "retry after 7 s" in str(e)
    if kind == "json":
        assert (e.code, e.message, e.details, e.hint) == (
            "PGRST000",
            "Database client error. Retrying the connection.",
            "connection refused",
            None,
        )
    else:
        assert e.code is None and e.message.startswith(f"HTTP {status}: <html>")


def test_package_is_typed_and_exports() -> None:
    import os

    assert os.path.exists(os.path.join(os.path.dirname(mcp_jobs.__file__), "py.typed"))
    for name in mcp_jobs.__all__:
        assert hasattr(mcp_jobs, name), name
    with pytest.raises(ValueError):
        Client("", "k")


def test_retry_after_header_forms() -> None:
    now = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0 and parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 10:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 09:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("-5") == 0.0
    for bad in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(bad) is None, bad


def test_enqueue_job_with_a_concurrency_key(client: Client, db: Db, source: str) -> None:
    job_id = client.enqueue_job(source, "sync", {"t": 1}, concurrency_key="tenant-7")
    assert scalar(db, "SELECT concurrency_key FROM mcp_jobs.jobs WHERE id = %s", (job_id,)) == "tenant-7"
    # one job per key at once: a second job of the same key waits for the first
    client.set_queue(source, max_concurrency_per_key=1)
    other = client.enqueue_job(source, "sync", {"t": 2}, concurrency_key="tenant-7")
    first = _claim(client, source)
    assert first.id == job_id and client.claim_next_job("py-test", sources=[source]) is None
    client.complete_job(first.id, first.run_id)
    assert _claim(client, source).id == other


def test_enqueue_jobs_in_order_all_or_nothing(client: Client, db: Db, source: str) -> None:
    run_at = datetime.now(UTC) + timedelta(hours=1)
    ids = client.enqueue_jobs(
        [
            {"source": source, "job_type": "sync", "payload": {"i": 0}},
            {"source": source, "job_type": "sync", "payload": {"i": 1}, "priority": 9, "concurrency_key": "k"},
            {"source": source, "job_type": "later", "run_at": run_at, "max_attempts": 2, "idempotency_key": "b-1"},
            {"source": source, "job_type": "sync", "priority": None},  # None: left out, the default
        ]
    )
    assert len(ids) == 4 and all(uuid.UUID(i) for i in ids)
    rows = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT id::text, job_type, payload, priority, concurrency_key, max_attempts, run_at "
            "FROM mcp_jobs.jobs WHERE source = %s",
            (source,),
        ).fetchall()
    }
    assert [rows[i][:4] for i in ids] == [
        ("sync", {"i": 0}, 5, None),
        ("sync", {"i": 1}, 9, "k"),
        ("later", {}, 5, None),
        ("sync", {}, 5, None),
    ]
    assert rows[ids[2]][4] == 2 and abs((rows[ids[2]][5] - run_at).total_seconds()) < 0.001
    # the same idempotency key again: the first job's id
    assert client.enqueue_jobs([{"source": source, "job_type": "later", "idempotency_key": "b-1"}]) == [ids[2]]
    before = table_fingerprint(db)
    with pytest.raises(BadRequestError) as ei:
        client.enqueue_jobs(
            [{"source": source, "job_type": "sync"}, {"source": source, "job_type": "sync", "priority": 42}]
        )
    assert ei.value.code == "22023" and "p_jobs[1]" in ei.value.message
    with pytest.raises(BadRequestError):
        client.enqueue_jobs([])
    assert table_fingerprint(db) == before
    with pytest.raises(TypeError):
        client.enqueue_jobs({"source": source, "job_type": "sync"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.enqueue_jobs(["not a job"])  # type: ignore[list-item]


def test_claims_that_wait_for_a_job(client: Client, db: Db, source: str) -> None:
    no_waiting_claims(db)
    # nothing due: the claim waits wait_ms, then answers no job
    t0 = datetime.now(UTC)
    assert client.claim_next_job("py-test", sources=[source], wait_ms=300) is None
    assert client.claim_jobs("py-test", sources=[source], limit=5, wait_ms=300) == []
    assert (datetime.now(UTC) - t0).total_seconds() >= 0.6
    # a job enqueued during the wait is returned at once
    got: list[tuple[list[ClaimedJob], datetime]] = []

    def claim() -> None:
        with Client(client.url, client._headers["apikey"], timeout=5) as c:
            jobs = c.claim_jobs("py-test", sources=[source], limit=5, wait_ms=20_000)
            got.append((jobs, datetime.now(UTC)))

    t = threading.Thread(target=claim)
    t.start()
    wait_until(lambda: waiting_claims(db) == 1, timeout=10, what="the claim to wait")
    job_id = client.enqueue_job(source, "sync")
    enqueued = datetime.now(UTC)
    t.join(timeout=30)
    [(jobs, returned)] = got
    assert [j.id for j in jobs] == [job_id]
    assert (returned - enqueued).total_seconds() < 1.0
    # the HTTP timeout of a waiting claim is the client's timeout plus the wait
    assert client._wait_timeout(20_000) == client.timeout + 20.0 and client._wait_timeout(0) is None
    with pytest.raises(BadRequestError) as ei:
        client.claim_next_job("py-test", sources=[source], wait_ms=60_001)
    assert ei.value.code == "22023" and "p_wait_ms" in ei.value.message
    with pytest.raises(TypeError):
        client.claim_next_job("py-test", wait_ms=1.5)  # type: ignore[arg-type]


def test_flow_control_and_a_full_queue(client: Client, db: Db, source: str) -> None:
    settings = client.set_queue(source, "sync", max_concurrency=3, rate_limit=30, rate_period=timedelta(minutes=1))
    assert settings is not None
    assert (
        settings["source"],
        settings["job_type"],
        settings["max_concurrency"],
        settings["rate_limit"],
        settings["rate_period"],
    ) == (
        source,
        "sync",
        3,
        30,
        "00:01:00",
    )
    queues = [q for q in client.get_queues() if q.source == source]
    assert len(queues) == 1 and isinstance(queues[0], QueueRow)
    q = queues[0]
    assert (q.job_type, q.max_concurrency, q.rate_limit, q.rate_period, q.queued, q.processing) == (
        "sync",
        3,
        30,
        "00:01:00",
        0,
        0,
    )
    assert q.updated_at.tzinfo is not None

    # a full queue: 429 with the seconds to wait; nothing stored
    client.set_queue(source, "sync", max_queued=2)
    client.enqueue_job(source, "sync")
    client.enqueue_job(source, "sync")
    before = table_fingerprint(db)
    with pytest.raises(TooManyRequestsError) as ei:
        client.enqueue_job(source, "sync")
    e = ei.value
    assert isinstance(e, TransientError) and isinstance(e, McpJobsError) and e.retriable
    assert (e.status, e.code, e.function) == (429, "53400", "enqueue_job")
    assert e.retry_after == 2.0  # 30 claims a minute: a place frees about every 2 s
    assert "full" in e.message and e.hint
    with pytest.raises(TooManyRequestsError):
        client.enqueue_jobs([{"source": source, "job_type": "sync"}])
    assert table_fingerprint(db) == before

    # pause and resume; queue_depth says what holds the queue back
    paused = client.pause_queue(source)
    assert paused["paused"] is True and paused["job_type"] is None and paused["paused_at"]
    depth = [r for r in client.queue_depth() if r.source == source]
    assert [(r.job_type, r.queued, r.paused, r.held) for r in depth] == [("sync", 2, True, "paused")]
    assert client.claim_next_job("py-test", sources=[source]) is None
    assert client.resume_queue(source) is None  # the source had no other setting: its row is gone
    assert _claim(client, source).job_type == "sync"
    client.pause_queue(source, "sync")
    resumed = client.resume_queue(source, "sync")
    assert resumed is not None and not resumed["paused"] and resumed["max_queued"] == 2

    # clearing every setting removes the row: None
    with pytest.raises(BadRequestError) as bad:
        client.set_queue(source, "sync", clear=["colour"])
    assert bad.value.code == "22023"
    assert client.set_queue(source, "sync", clear=["max_concurrency", "rate_limit", "max_queued"]) is None
    assert [q for q in client.get_queues() if q.source == source] == []
    with pytest.raises(BadRequestError):
        client.set_queue(source, max_concurrency=0)
    with pytest.raises(TypeError):
        client.set_queue(source, clear="paused")


def test_schedules_and_cron_next(client: Client, db: Db, source: str) -> None:
    name = f"{source}-nightly"
    s = client.schedule_job(name, "0 3 * * *", source, "report", {"kind": "daily"}, 7, timezone="Europe/Berlin")
    assert (s["name"], s["cron"], s["timezone"], s["payload"], s["priority"]) == (
        name,
        "0 3 * * *",
        "Europe/Berlin",
        {"kind": "daily"},
        7,
    )
    nxt = datetime.fromisoformat(s["next_run_at"])
    assert nxt > datetime.now(UTC) and nxt.astimezone(ZoneInfo("Europe/Berlin")).hour == 3
    listed = [r for r in client.list_schedules() if r.name == name]
    assert len(listed) == 1 and isinstance(listed[0], ScheduleRow)
    assert (listed[0].source, listed[0].job_type, listed[0].next_run_at, listed[0].last_job_id) == (
        source,
        "report",
        nxt,
        None,
    )
    after = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert client.cron_next("@hourly", after=after, count=3) == [
        datetime(2026, 3, 1, h, 0, tzinfo=UTC) for h in (13, 14, 15)
    ]
    [berlin] = client.cron_next("0 3 * * *", "Europe/Berlin", after=after)
    assert berlin == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 03:00 CET
    before = table_fingerprint(db)
    with pytest.raises(BadRequestError) as ei:
        client.schedule_job(name, "every day", source, "report")
    assert ei.value.code == "22023"
    with pytest.raises(BadRequestError):
        client.schedule_job(name, "* * * * *", source, "report", timezone="Mars/Base")
    with pytest.raises(NotFoundError):
        client.unschedule_job(name + "-nope")
    assert table_fingerprint(db) == before
    removed = client.unschedule_job(name)
    assert removed["name"] == name and [r for r in client.list_schedules() if r.name == name] == []


def test_diagnostics(client: Client) -> None:
    d = client.diagnostics()
    assert (d["extension_version"], d["library_version"]) == ("0.7.0", "0.7.0")
    # this cluster does not preload the library (as on Supabase): waiting claims poll
    assert d["preloaded"] is False and d["wakeups"].startswith("polling")
    assert isinstance(d["waiting_claims"], int) and isinstance(d["lease_sweep_interval_ms"], int)
