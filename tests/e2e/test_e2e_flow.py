"""0.7.0's API over PostgREST as apps call it (issues 17 and 18): backpressure as HTTP 429 with a
Retry-After header, flow control and schedules administered over HTTP, batch enqueue (n8n's list of
items) with the index of a bad item in its error, and a long-polling claim."""
import threading
import time

from pgharness import table_fingerprint, wait_until


def test_a_full_queue_answers_429_with_retry_after_and_stores_nothing(api, db, source):
    api.ok("set_queue", {"p_source": source, "p_max_queued": 2,
                         "p_rate_limit": 30, "p_rate_period": "1 minute"})
    for _ in range(2):
        api.ok("enqueue_job", {"p_source": source, "p_job_type": "t"})
    before = table_fingerprint(db)
    r = api.rpc("enqueue_job", {"p_source": source, "p_job_type": "t"})
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["code"] == "53400" and "full" in body["message"], body
    assert body["hint"], body
    # a rate of 30 per minute: one place frees about every 2 s
    assert r.headers["Retry-After"] == "2", dict(r.headers)
    assert table_fingerprint(db) == before, "a refused enqueue changes nothing"
    # a batch over the cap: refused whole
    r = api.rpc("enqueue_jobs", {"p_jobs": [{"source": source, "job_type": "t"}]})
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert table_fingerprint(db) == before
    # a claim frees a place
    api.ok("claim_next_job", {"p_worker_id": "w", "p_sources": [source]})
    api.ok("enqueue_job", {"p_source": source, "p_job_type": "t"})


def test_queue_settings_over_http_with_4xx_for_bad_input(api, db, source):
    row = api.ok("set_queue", {"p_source": source, "p_job_type": "sync", "p_max_concurrency": 3,
                               "p_max_concurrency_per_key": 1})
    assert row["max_concurrency"] == 3 and row["max_concurrency_per_key"] == 1
    queues = {(q["source"], q["job_type"]): q for q in api.ok("get_queues")}
    assert queues[(source, "sync")]["max_concurrency"] == 3
    before = table_fingerprint(db)
    for body, code in [
        ({"p_source": source, "p_max_concurrency": 0}, "22023"),
        ({"p_source": source, "p_rate_limit": 5}, "22023"),
        ({"p_source": source, "p_rate_limit": 5, "p_rate_period": "0 seconds"}, "22023"),
        ({"p_source": source, "p_rate_limit": 5, "p_rate_period": "1 month"}, "22023"),
        ({"p_source": "", "p_paused": True}, "22023"),
        ({"p_source": source, "p_clear": ["colour"]}, "22023"),
        ({"p_source": source, "p_rate_period": "soon"}, "22007"),
    ]:
        r = api.rpc("set_queue", body)
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert r.json()["code"] == code, (body, r.json())
    assert table_fingerprint(db) == before
    paused = api.ok("pause_queue", {"p_source": source})
    assert paused["paused"] is True
    api.ok("enqueue_job", {"p_source": source, "p_job_type": "sync"})
    assert api.ok("claim_next_job", {"p_worker_id": "w", "p_sources": [source]}) == []
    api.ok("resume_queue", {"p_source": source})
    assert len(api.ok("claim_next_job", {"p_worker_id": "w", "p_sources": [source]})) == 1


def test_batch_enqueue_in_order_all_or_nothing_with_the_bad_index(api, db, source):
    items = [{"source": source, "job_type": "sync", "payload": {"i": i}} for i in range(100)]
    ids = api.ok("enqueue_jobs", {"p_jobs": items})
    assert len(ids) == 100
    got = db.execute("SELECT payload->>'i' FROM unnest(%s::uuid[]) WITH ORDINALITY u(id, o) "
                     "JOIN mcp_jobs.jobs j USING (id) ORDER BY o", (ids,)).fetchall()
    assert [int(r[0]) for r in got] == list(range(100))
    before = table_fingerprint(db)
    bad = items[:5] + [{"source": source, "job_type": "sync", "priority": 42}] + items[5:10]
    r = api.rpc("enqueue_jobs", {"p_jobs": bad})
    assert r.status_code == 400, r.text
    err = r.json()
    assert err["code"] == "22023" and "p_jobs[5]" in err["message"], err
    assert table_fingerprint(db) == before
    r = api.rpc("enqueue_jobs", {"p_jobs": [{"source": source, "job_type": "t"}] * 1001})
    assert r.status_code == 400 and table_fingerprint(db) == before


def test_schedules_over_http(api, db, source):
    name = f"{source}-nightly"
    row = api.ok("schedule_job", {"p_name": name, "p_cron": "0 3 * * *", "p_source": source,
                                  "p_job_type": "report", "p_timezone": "Europe/Berlin"})
    assert row["name"] == name
    listed = [s for s in api.ok("list_schedules") if s["name"] == name]
    assert len(listed) == 1 and listed[0]["next_run_at"]
    nxt = api.ok("cron_next", {"p_cron": "@hourly", "p_count": 2})
    assert len(nxt) == 2
    before = table_fingerprint(db)
    for body, status in [
        ({"p_name": name, "p_cron": "every day", "p_source": source, "p_job_type": "r"}, 400),
        ({"p_name": name, "p_cron": "* * * * *", "p_source": source, "p_job_type": "r", "p_timezone": "Mars/Base"},
         400),
    ]:
        r = api.rpc("schedule_job", body)
        assert r.status_code == status and r.json()["code"] == "22023", r.text
    r = api.rpc("unschedule_job", {"p_name": name + "-nope"})
    assert r.status_code == 404, r.text
    assert table_fingerprint(db) == before
    api.ok("unschedule_job", {"p_name": name})


def test_a_long_polling_claim_over_http_returns_when_a_job_is_enqueued(api, db, source):
    result = {}

    def claim():
        t0 = time.monotonic()
        result["rows"] = api.ok("claim_next_job", {"p_worker_id": "lp", "p_sources": [source], "p_wait_ms": 10_000})
        result["took"] = time.monotonic() - t0

    t = threading.Thread(target=claim)
    t.start()
    # the claim is in its wait (through PostgREST's connection) before the enqueue
    wait_until(lambda: db.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Extension' "
                                  "AND query LIKE '%%claim_next_job%%'").fetchone()[0] == 1,
               timeout=10, interval=0.01, what="the claim to wait")
    jid = api.ok("enqueue_job", {"p_source": source, "p_job_type": "t"})
    t.join(15)
    assert result["rows"] and result["rows"][0]["id"] == jid
    assert result["took"] < 5, result
    r = api.rpc("claim_next_job", {"p_worker_id": "lp", "p_wait_ms": 60_001})
    assert r.status_code == 400 and r.json()["code"] == "22023"
