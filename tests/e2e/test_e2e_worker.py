"""(e) A worker and an operator over HTTP only (nginx /rest/v1 -> PostgREST -> public wrappers)."""
import uuid


def _enqueue(api, source, job_type="work", **extra):
    body = {"p_source": source, "p_job_type": job_type, "p_payload": {"n": 1}}
    body.update(extra)
    job_id = api.ok("enqueue_job", body)
    assert str(uuid.UUID(job_id)) == job_id
    return job_id


def _claim(api, source, worker="w1", lease=60):
    rows = api.ok("claim_next_job", {"p_worker_id": worker, "p_sources": [source], "p_lease_seconds": lease})
    assert isinstance(rows, list)
    return rows[0] if rows else None


def test_claim_progress_complete(api, source):
    job_id = _enqueue(api, source, p_priority=7)
    assert _claim(api, source + "-other") is None  # nothing due for another source: empty array

    job = _claim(api, source)
    assert job["id"] == job_id and job["attempt"] == 1 and job["priority"] == 7
    assert job["payload"] == {"n": 1} and job["source"] == source
    assert set(job) == {"id", "run_id", "attempt", "max_attempts", "source", "job_type", "payload", "priority",
                        "run_at", "created_at", "lease_expires_at"}
    assert _claim(api, source) is None  # a processing job is not claimed twice

    p = api.ok("report_progress", {"p_job_id": job_id, "p_run_id": job["run_id"], "p_progress": {"pct": 50}})
    assert p["status"] == "processing" and p["job_id"] == job_id

    done = api.ok("complete_job", {"p_job_id": job_id, "p_run_id": job["run_id"], "p_result": {"ok": True}})
    assert done["status"] == "completed" and done["attempt"] == 1

    detail = api.ok("get_job", {"p_job_id": job_id})
    assert detail["status"] == "completed" and detail["result"] == {"ok": True}
    assert [r["id"] for r in detail["runs"]] == [job["run_id"]]
    events = [e["event_type"] for e in detail["events"]]
    assert events[:4] == ["enqueued", "started", "progress", "completed"], events

    # read-only functions are STABLE: GET with query parameters works too
    r = api.get("rpc/get_job", params={"p_job_id": job_id})
    assert r.status_code == 200, r.text
    assert r.json()["runs"][0]["outcome"] == "completed"
    r = api.get("rpc/list_jobs", params={"p_source": source, "p_status": "completed", "p_limit": 5})
    assert r.status_code == 200, r.text
    assert [j["id"] for j in r.json()] == [job_id]
    r = api.get("rpc/get_job_stats", params={"p_source": source})
    assert r.status_code == 200, r.text
    assert r.json()["completed"] == 1 and r.json()["total"] == 1
    # a volatile function is not callable with GET
    assert api.get("rpc/enqueue_job", params={"p_source": source, "p_job_type": "x"}).status_code == 405


def test_fail_retry_dead_letter_requeue_resolve(api, db, source):
    job_id = _enqueue(api, source, p_max_attempts=2)

    job = _claim(api, source)
    f = api.ok("fail_job", {"p_job_id": job_id, "p_run_id": job["run_id"], "p_error": "timeout"})
    assert f["status"] == "queued" and f["retry_at"] and f["dead_letter_id"] is None, f
    # skip the backoff instead of sleeping through it
    db.execute("UPDATE mcp_jobs.jobs SET run_at = now() WHERE id = %s", (job_id,))

    job2 = _claim(api, source)
    assert job2["id"] == job_id and job2["attempt"] == 2 and job2["run_id"] != job["run_id"]
    f = api.ok("fail_job", {"p_job_id": job_id, "p_run_id": job2["run_id"], "p_error": "timeout again"})
    assert f["status"] == "failed" and f["dead_letter_id"], f
    dead_letter_id = f["dead_letter_id"]

    detail = api.ok("get_job", {"p_job_id": job_id})
    assert detail["status"] == "failed" and len(detail["runs"]) == 2
    assert [d["id"] for d in detail["dead_letters"]] == [dead_letter_id]
    assert api.ok("get_job_stats", {"p_source": source})["dead_letter_unresolved"] == 1

    assert api.ok("requeue_dead_letter", {"p_id": dead_letter_id}) == job_id
    detail = api.ok("get_job", {"p_job_id": job_id})
    assert detail["status"] == "queued" and detail["attempts"] == 0
    assert detail["dead_letters"][0]["resolution"] == "requeued"
    assert api.ok("get_job_stats", {"p_source": source})["dead_letter_unresolved"] == 0

    # a second job fails for good at once (p_retry false); its dead letter is resolved with a note
    other = _enqueue(api, source, job_type="other")
    assert api.ok("cancel_job", {"p_job_id": job_id})["status"] == "cancelled"  # keep the claim below on `other`
    job3 = _claim(api, source)
    assert job3["id"] == other
    f = api.ok("fail_job", {"p_job_id": other, "p_run_id": job3["run_id"], "p_error": "fatal", "p_retry": False})
    assert f["status"] == "failed" and f["dead_letter_id"] and f["dead_letter_id"] != dead_letter_id

    res = api.ok("resolve_dead_letter", {"p_id": f["dead_letter_id"], "p_note": "won't fix"})
    assert isinstance(res, dict)
    stats = api.ok("get_job_stats", {"p_source": source})
    assert stats["dead_letter_unresolved"] == 0 and stats["failed"] == 1 and stats["cancelled"] == 1


def test_claim_after_requeue(api, source):
    job_id = _enqueue(api, source, p_max_attempts=1)
    job = _claim(api, source)
    f = api.ok("fail_job", {"p_job_id": job_id, "p_run_id": job["run_id"], "p_error": "boom"})
    assert f["status"] == "failed"
    assert api.ok("requeue_dead_letter", {"p_id": f["dead_letter_id"]}) == job_id
    again = _claim(api, source)
    assert again["id"] == job_id and again["run_id"] != job["run_id"]


def test_cancel_list_and_stats(api, source):
    ids = [_enqueue(api, source, job_type=t) for t in ("a", "b", "c")]
    c = api.ok("cancel_job", {"p_job_id": ids[1]})
    assert c["status"] == "cancelled" and c["job_id"] == ids[1]

    listed = api.ok("list_jobs", {"p_source": source})
    assert [j["id"] for j in listed] == ids[::-1]  # newest first
    assert api.ok("list_jobs", {"p_source": source, "p_status": "cancelled"})[0]["id"] == ids[1]
    page1 = api.ok("list_jobs", {"p_source": source, "p_limit": 2})
    page2 = api.ok("list_jobs", {"p_source": source, "p_limit": 2, "p_before": page1[-1]["id"]})
    assert [j["id"] for j in page1 + page2] == ids[::-1]
    assert api.ok("list_jobs", {"p_source": source, "p_job_type": "c"})[0]["id"] == ids[2]

    stats = api.ok("get_job_stats", {"p_source": source})
    assert stats["queued"] == 2 and stats["cancelled"] == 1 and stats["total"] == 3
    assert api.ok("get_job_stats")["total"] >= 3  # all sources


def test_batch_claim_and_complete(api, source):
    """claim_jobs and complete_jobs over HTTP: JSON arrays in, one outcome object per pair out."""
    ids = [_enqueue(api, source, p_priority=p) for p in (1, 9, 5)]
    jobs = api.ok("claim_jobs", {"p_worker_id": "wb", "p_sources": [source], "p_limit": 2})
    assert [j["id"] for j in jobs] == [ids[1], ids[2]]  # claim order: priority first
    assert len({j["run_id"] for j in jobs}) == 2
    rest = api.ok("claim_jobs", {"p_worker_id": "wb", "p_sources": [source], "p_limit": 10})
    assert [j["id"] for j in rest] == [ids[0]]
    assert api.ok("claim_jobs", {"p_sources": [source]}) == []

    unknown = str(uuid.uuid4())
    out = api.ok("complete_jobs", {"p_job_ids": [jobs[0]["id"], jobs[1]["id"], unknown],
                                   "p_run_ids": [jobs[0]["run_id"], jobs[1]["run_id"], jobs[0]["run_id"]],
                                   "p_results": [{"ok": 1}, None, None]})
    assert [(o["job_id"], o["completed"], o["reason"]) for o in out] == [
        (jobs[0]["id"], True, None), (jobs[1]["id"], True, None), (unknown, False, "not found")]
    again = api.ok("complete_jobs", {"p_job_ids": [jobs[0]["id"]], "p_run_ids": [jobs[0]["run_id"]]})
    assert again == [{"job_id": jobs[0]["id"], "run_id": jobs[0]["run_id"], "status": "completed",
                      "completed": False, "reason": "not processing: completed"}]
    assert api.ok("get_job", {"p_job_id": jobs[0]["id"]})["result"] == {"ok": 1}

    # whole-call validation is HTTP 400
    r = api.rpc("complete_jobs", {"p_job_ids": [rest[0]["id"]], "p_run_ids": []})
    assert r.status_code == 400 and r.json()["code"] == "22023", r.text
    r = api.rpc("claim_jobs", {"p_limit": 0})
    assert r.status_code == 400 and r.json()["code"] == "22023", r.text


def test_complete_and_claim_next_loop(api, source):
    """A worker taking jobs one at a time over HTTP: one request per job (complete this, get the next),
    every job completed once with its result; a refused completion is HTTP 409 and claims nothing."""
    ids = [_enqueue(api, source, p_priority=p) for p in (3, 9, 6)]
    job = _claim(api, source, worker="wl")
    seen = []
    while job is not None:
        seen.append(job["id"])
        rows = api.ok("complete_and_claim_next", {"p_job_id": job["id"], "p_run_id": job["run_id"],
                                                  "p_result": {"done": job["id"]}, "p_worker_id": "wl",
                                                  "p_sources": [source], "p_lease_seconds": 60})
        assert isinstance(rows, list) and len(rows) <= 1
        if rows:
            assert set(rows[0]) == {"id", "run_id", "attempt", "max_attempts", "source", "job_type", "payload",
                                    "priority", "run_at", "created_at", "lease_expires_at"}
        job = rows[0] if rows else None
    assert seen == [ids[1], ids[2], ids[0]]  # claim order: priority first
    for job_id in ids:
        detail = api.ok("get_job", {"p_job_id": job_id})
        assert detail["status"] == "completed" and detail["result"] == {"done": job_id}
        assert [e["event_type"] for e in detail["events"]] == ["enqueued", "started", "completed"]

    # completing again is refused (409, complete_job's message) and the queued job stays queued
    waiting = _enqueue(api, source)
    last = api.ok("get_job", {"p_job_id": ids[0]})["runs"][0]["id"]
    r = api.rpc("complete_and_claim_next", {"p_job_id": ids[0], "p_run_id": last, "p_sources": [source]})
    assert r.status_code == 409 and r.json()["code"] == "PT409", r.text
    assert r.json()["message"] and r.json()["hint"], r.text
    assert api.ok("get_job", {"p_job_id": waiting})["status"] == "queued"
    r = api.rpc("complete_and_claim_next", {"p_job_id": str(uuid.uuid4()), "p_run_id": last})
    assert r.status_code == 404 and r.json()["code"] == "PT404", r.text
    r = api.rpc("complete_and_claim_next", {"p_job_id": ids[0], "p_run_id": last, "p_lease_seconds": 0})
    assert r.status_code == 400 and r.json()["code"] == "22023", r.text
    assert api.ok("get_job", {"p_job_id": waiting})["status"] == "queued"
