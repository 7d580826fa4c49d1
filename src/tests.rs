//! In-database tests of the job lifecycle. Each #[pg_test] runs in its own transaction, rolled back at
//! the end, so `now()` is the same for every statement of a test: a retry scheduled with the default
//! backoff is not due inside the test, which is why tests that retry set mcp_jobs.retry_base_delay = 0.
#[pgrx::pg_schema]
mod tests {
    use crate::retry::{backoff_ms, jittered_ms};
    use crate::test_util::try_sql;
    use crate::uuid7::{new_uuid7, uuid7_bytes};
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

    fn q<T: FromDatum + IntoDatum>(sql: &str) -> T {
        Spi::get_one::<T>(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or_else(|| panic!("{sql}: NULL"))
    }

    fn qa<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid<'_>]) -> T {
        Spi::get_one_with_args::<T>(sql, args)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or_else(|| panic!("{sql}: NULL"))
    }

    fn exec(sql: &str) {
        Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn enqueue(source: &str, job_type: &str, priority: i32) -> pgrx::Uuid {
        qa(
            "SELECT mcp_jobs.enqueue_job($1, $2, '{\"n\": 1}'::jsonb, $3)",
            &[source.into(), job_type.into(), priority.into()],
        )
    }

    /// (job id, run id) of the next claim by worker `w`.
    fn claim(worker: &str) -> Option<(pgrx::Uuid, pgrx::Uuid)> {
        let (id, run) = Spi::get_two_with_args::<pgrx::Uuid, pgrx::Uuid>(
            "SELECT id, run_id FROM mcp_jobs.claim_next_job($1)",
            &[worker.into()],
        )
        .unwrap_or((None, None));
        Some((id?, run?))
    }

    fn status(id: pgrx::Uuid) -> String {
        qa(
            "SELECT status FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        )
    }

    fn events(id: pgrx::Uuid) -> String {
        qa(
            "SELECT string_agg(event_type, ',' ORDER BY id) FROM mcp_jobs.job_events WHERE job_id = $1",
            &[id.into()],
        )
    }

    // ------------------------------------------------------------------ pure logic, table-driven

    #[pg_test]
    fn backoff_formula_table() {
        // (attempt, base ms, max ms, expected un-jittered delay ms)
        let cases: &[(i32, i64, i64, i64)] = &[
            (1, 10_000, 3_600_000, 10_000),
            (2, 10_000, 3_600_000, 20_000),
            (3, 10_000, 3_600_000, 40_000),
            (10, 10_000, 3_600_000, 3_600_000), // 5_120_000 capped
            (0, 10_000, 3_600_000, 10_000),     // attempts start at 1
            (-5, 10_000, 3_600_000, 10_000),
            (1000, 10_000, 3_600_000, 3_600_000), // no overflow
            (3, 0, 3_600_000, 0),
            (3, 10_000, 0, 0),
        ];
        for &(attempt, base, max, want) in cases {
            assert_eq!(
                backoff_ms(attempt, base, max),
                want,
                "attempt {attempt} base {base} max {max}"
            );
        }
        // equal jitter: between half and all of the delay
        for (u, want) in [
            (0.0, 500),
            (1.0, 1000),
            (0.5, 750),
            (f64::NAN, 500),
            (7.0, 1000),
        ] {
            assert_eq!(jittered_ms(1000, u), want, "u = {u}");
        }
    }

    #[pg_test]
    fn retry_delay_uses_settings() {
        exec("SET LOCAL mcp_jobs.retry_base_delay = '2s'");
        exec("SET LOCAL mcp_jobs.retry_max_delay = '5s'");
        for (attempt, lo, hi) in [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 2.5, 5.0), (9, 2.5, 5.0)] {
            for _ in 0..50 {
                let secs: f64 = qa(
                    "SELECT extract(epoch FROM mcp_jobs.retry_delay($1))::float8",
                    &[attempt.into()],
                );
                assert!(
                    secs >= lo && secs <= hi,
                    "attempt {attempt}: {secs} not in [{lo}, {hi}]"
                );
            }
        }
    }

    #[pg_test]
    fn uuid7_layout_and_order() {
        let b = uuid7_bytes(0x0123_4567_89AB_CDEF, u64::MAX);
        assert_eq!(b[6] >> 4, 7, "version 7");
        assert_eq!(b[8] >> 6, 0b10, "RFC 9562 variant");
        let mut prev = new_uuid7();
        for _ in 0..10_000 {
            let next = new_uuid7();
            assert!(
                next.as_bytes() > prev.as_bytes(),
                "ids must strictly increase"
            );
            prev = next;
        }
        let skew: f64 = q("SELECT abs(extract(epoch FROM mcp_jobs.uuidv7_time(mcp_jobs.uuidv7()) - clock_timestamp()))::float8");
        assert!(skew < 5.0, "uuidv7_time is {skew}s away from now");
    }

    #[pg_test]
    fn raw_jsonb_object_detection() {
        let cases = [
            ("'{}'", true),
            ("'{\"a\": [1, {\"b\": 2}]}'", true),
            ("'[]'", false),
            ("'[{}]'", false),
            ("'1'", false),
            ("'\"text\"'", false),
            ("'null'", false),
            ("'true'", false),
        ];
        for (literal, want) in cases {
            let v: crate::raw_jsonb::RawJsonb = q(&format!("SELECT {literal}::jsonb"));
            assert_eq!(v.is_object(), want, "{literal}");
        }
    }

    // ------------------------------------------------------------------ enqueue

    #[pg_test]
    fn enqueue_defaults_and_event() {
        let id: pgrx::Uuid = q("SELECT mcp_jobs.enqueue_job('odoo', 'discovery')");
        let row: String = qa(
            "SELECT concat_ws('|', source, job_type, payload::text, priority, status, attempts, max_attempts,
                    run_at = now(), lease_expires_at IS NULL, current_run_id IS NULL)
               FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        );
        assert_eq!(row, "odoo|discovery|{}|5|queued|0|3|t|t|t");
        assert_eq!(events(id), "enqueued");
    }

    #[pg_test]
    fn enqueue_payload_forms() {
        // (payload expression, stored payload)
        let cases = [
            ("'{\"a\": 1}'::jsonb", "{\"a\": 1}"),
            ("NULL", "{}"),
            (
                "to_jsonb('{\"from\": \"n8n\"}'::text)",
                "{\"from\": \"n8n\"}",
            ),
            (
                "'{\"big\": 123456789012345678901234567890.5}'::jsonb",
                "{\"big\": 123456789012345678901234567890.5}",
            ),
            (
                "'{\"nested\": {\"deep\": [1, {\"x\": null}]}}'::jsonb",
                "{\"nested\": {\"deep\": [1, {\"x\": null}]}}",
            ),
        ];
        for (expr, want) in cases {
            let id: pgrx::Uuid = q(&format!("SELECT mcp_jobs.enqueue_job('t', 't', {expr})"));
            let got: String = qa(
                "SELECT payload::text FROM mcp_jobs.jobs WHERE id = $1",
                &[id.into()],
            );
            assert_eq!(got, want, "payload {expr}");
        }
    }

    #[pg_test]
    fn enqueue_with_options() {
        let id: pgrx::Uuid = q(
            "SELECT mcp_jobs.enqueue_job('s', 't', '{}', 9, now() + interval '1 hour', 7, 'key-1')",
        );
        let row: String = qa(
            "SELECT concat_ws('|', priority, max_attempts, idempotency_key, run_at = now() + interval '1 hour')
               FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        );
        assert_eq!(row, "9|7|key-1|t");
        // NULL optional arguments take their defaults (PostgREST sends JSON null as NULL)
        let id: pgrx::Uuid =
            q("SELECT mcp_jobs.enqueue_job('s', 't', NULL, NULL, NULL, NULL, NULL)");
        let row: String = qa(
            "SELECT concat_ws('|', payload::text, priority, max_attempts, run_at = now()) FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        );
        assert_eq!(row, "{}|5|3|t");
        exec("SET LOCAL mcp_jobs.default_max_attempts = 9");
        let id: pgrx::Uuid = q("SELECT mcp_jobs.enqueue_job('s', 't')");
        assert_eq!(
            qa::<i32>(
                "SELECT max_attempts FROM mcp_jobs.jobs WHERE id = $1",
                &[id.into()]
            ),
            9
        );
    }

    #[pg_test]
    fn enqueue_idempotency_key() {
        let a: pgrx::Uuid = q(
            "SELECT mcp_jobs.enqueue_job('odoo', 'sync', '{\"v\": 1}', p_idempotency_key => 'k')",
        );
        let b: pgrx::Uuid = q(
            "SELECT mcp_jobs.enqueue_job('odoo', 'sync', '{\"v\": 2}', p_idempotency_key => 'k')",
        );
        let c: pgrx::Uuid = q(
            "SELECT mcp_jobs.enqueue_job('n8n', 'sync', '{\"v\": 3}', p_idempotency_key => 'k')",
        );
        assert_eq!(a, b, "same source and key: same job");
        assert_ne!(a, c, "keys are per source");
        assert_eq!(q::<i64>("SELECT count(*) FROM mcp_jobs.jobs"), 2);
        assert_eq!(
            q::<i64>("SELECT count(*) FROM mcp_jobs.job_events WHERE event_type = 'enqueued'"),
            2
        );
        let payload: String = qa(
            "SELECT payload::text FROM mcp_jobs.jobs WHERE id = $1",
            &[a.into()],
        );
        assert_eq!(payload, "{\"v\": 1}", "the first payload is kept");
    }

    // ------------------------------------------------------------------ claim

    #[pg_test]
    fn claim_order_priority_run_at_enqueue_order() {
        let low = enqueue("s", "t", 1);
        let high = enqueue("s", "t", 9);
        let mid1 = enqueue("s", "t", 5);
        let mid2 = enqueue("s", "t", 5);
        let earlier: pgrx::Uuid =
            q("SELECT mcp_jobs.enqueue_job('s', 't', '{}', 5, now() - interval '1 minute')");
        let future: pgrx::Uuid =
            q("SELECT mcp_jobs.enqueue_job('s', 't', '{}', 10, now() + interval '1 minute')");
        let order: Vec<pgrx::Uuid> = (0..5).map(|_| claim("w").expect("a job").0).collect();
        assert_eq!(order, vec![high, earlier, mid1, mid2, low]);
        assert!(claim("w").is_none(), "the future job is not due");
        assert_eq!(status(future), "queued");
    }

    #[pg_test]
    fn claim_records_run_and_started_event() {
        let id = enqueue("odoo", "discovery", 5);
        let row: String = q(
            "SELECT concat_ws('|', attempt, max_attempts, source, job_type, payload::text, priority,
                    lease_expires_at = now() + interval '120 seconds')
               FROM mcp_jobs.claim_next_job('worker-1', p_lease_seconds => 120)",
        );
        assert_eq!(row, "1|3|odoo|discovery|{\"n\": 1}|5|t");
        let job: String = qa(
            "SELECT concat_ws('|', status, attempts, worker_id, started_at = now()) FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        );
        assert_eq!(job, "processing|1|worker-1|t");
        let run: String = qa(
            "SELECT concat_ws('|', r.attempt, r.worker_id, r.outcome IS NULL, r.lease_seconds, r.id = j.current_run_id)
               FROM mcp_jobs.job_runs r JOIN mcp_jobs.jobs j ON j.id = r.job_id WHERE r.job_id = $1",
            &[id.into()],
        );
        assert_eq!(run, "1|worker-1|t|120|t");
        assert_eq!(events(id), "enqueued,started");
    }

    #[pg_test]
    fn claim_filters_by_source_and_type() {
        let a = enqueue("odoo", "sync", 5);
        let b = enqueue("n8n", "discovery", 9);
        let c = enqueue("n8n", "sync", 1);
        // (sources, job types, expected job)
        let cases = [
            ("ARRAY['odoo']", "NULL", Some(a)),
            ("NULL", "ARRAY['sync']", Some(c)),
            ("ARRAY['n8n']", "ARRAY['discovery', 'other']", Some(b)),
            ("ARRAY['vercel']", "NULL", None),
        ];
        for (sources, types, want) in cases {
            let got = Spi::get_one::<pgrx::Uuid>(&format!(
                "SELECT id FROM mcp_jobs.claim_next_job('w', {sources}, {types})"
            ))
            .unwrap_or(None);
            assert_eq!(got, want, "sources {sources} types {types}");
        }
    }

    #[pg_test]
    fn claim_returns_nothing_on_empty_queue() {
        assert!(claim("w").is_none());
        assert_eq!(q::<i64>("SELECT count(*) FROM mcp_jobs.job_runs"), 0);
    }

    // ------------------------------------------------------------------ complete / fail / progress / cancel

    #[pg_test]
    fn complete_records_everything() {
        let id = enqueue("s", "t", 5);
        let (_, run) = claim("w").expect("a job");
        let out: pgrx::JsonB = qa(
            "SELECT mcp_jobs.complete_job($1, $2, '{\"rows\": 42}')::jsonb",
            &[id.into(), run.into()],
        );
        assert_eq!(out.0["status"], "completed");
        let job: String = qa(
            "SELECT concat_ws('|', status, result::text, finished_at = now(), lease_expires_at IS NULL) FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        );
        assert_eq!(job, "completed|{\"rows\": 42}|t|t");
        let run_row: String = qa(
            "SELECT concat_ws('|', outcome, finished_at = now(), duration_ms) FROM mcp_jobs.job_runs WHERE id = $1",
            &[run.into()],
        );
        assert_eq!(run_row, "completed|t|0");
        assert_eq!(events(id), "enqueued,started,completed");
    }

    /// (job id, run id) of the job complete_and_claim_next hands over after completing `id`.
    fn complete_and_claim(
        id: pgrx::Uuid,
        run: pgrx::Uuid,
        worker: &str,
    ) -> Option<(pgrx::Uuid, pgrx::Uuid)> {
        let (next, next_run) = Spi::get_two_with_args::<pgrx::Uuid, pgrx::Uuid>(
            "SELECT id, run_id FROM mcp_jobs.complete_and_claim_next($1, $2, '{\"rows\": 7}', $3)",
            &[id.into(), run.into(), worker.into()],
        )
        .unwrap_or((None, None));
        Some((next?, next_run?))
    }

    #[pg_test]
    fn complete_and_claim_next_completes_then_claims() {
        let a = enqueue("s", "t", 5);
        let b = enqueue("s", "t", 5);
        let (first, run_a) = claim("w1").expect("a job");
        assert_eq!(first, a);
        let (next, run_b) = complete_and_claim(a, run_a, "w2").expect("the next job");
        assert_eq!(next, b);
        assert_ne!(run_b, run_a);
        let job_a: String = qa(
            "SELECT concat_ws('|', status, result::text, lease_expires_at IS NULL) FROM mcp_jobs.jobs WHERE id = $1",
            &[a.into()],
        );
        assert_eq!(job_a, "completed|{\"rows\": 7}|t");
        assert_eq!(events(a), "enqueued,started,completed");
        let job_b: String = qa(
            "SELECT concat_ws('|', status, worker_id, current_run_id = $2, attempts) FROM mcp_jobs.jobs WHERE id = $1",
            &[b.into(), run_b.into()],
        );
        assert_eq!(job_b, "processing|w2|t|1");
        assert_eq!(events(b), "enqueued,started");
        // nothing left: the completion stands, no row comes back
        assert!(complete_and_claim(b, run_b, "w2").is_none());
        assert_eq!(status(b), "completed");
        assert_eq!(
            q::<i64>("SELECT count(*) FROM mcp_jobs.job_runs WHERE outcome = 'completed'"),
            2
        );
    }

    #[pg_test]
    fn complete_and_claim_next_filters_like_claim_next_job() {
        let a = enqueue("s", "t", 5);
        let other = enqueue("s", "other", 9);
        let wanted = enqueue("s2", "t", 1);
        let (_, run) = Spi::get_two_with_args::<pgrx::Uuid, pgrx::Uuid>(
            "SELECT id, run_id FROM mcp_jobs.claim_next_job('w', p_job_types => ARRAY['t'], p_sources => ARRAY['s'])",
            &[],
        )
        .expect("a job");
        let run = run.expect("a run");
        let (next, lease): (pgrx::Uuid, bool) = (
            qa(
                "SELECT id FROM mcp_jobs.complete_and_claim_next($1, $2, p_sources => ARRAY['s2'],
                        p_job_types => ARRAY['t'], p_lease_seconds => 60)",
                &[a.into(), run.into()],
            ),
            qa(
                "SELECT lease_expires_at = now() + interval '60 seconds' FROM mcp_jobs.jobs WHERE id = $1",
                &[wanted.into()],
            ),
        );
        assert_eq!(next, wanted);
        assert!(lease);
        assert_eq!(status(a), "completed");
        assert_eq!(status(other), "queued");
    }

    /// Every refusal of complete_and_claim_next: the SQLSTATE, and nothing completed or claimed.
    #[pg_test]
    fn complete_and_claim_next_refused_changes_nothing() {
        exec("SET mcp_jobs.max_payload_bytes = 1024");
        let done = enqueue("s", "done", 9);
        let (_, done_run) = claim("w").expect("a job");
        exec(&format!(
            "SELECT mcp_jobs.complete_job('{done}', '{done_run}')"
        ));
        let busy = enqueue("s", "busy", 8);
        let (_, run) = claim("w").expect("a job");
        let waiting = enqueue("s", "t", 5);
        let stale = pgrx::Uuid::from_bytes([7; 16]);
        let state = || -> String {
            q("SELECT string_agg(concat_ws(':', j.job_type, j.status, j.attempts,
                                         (SELECT count(*) FROM mcp_jobs.job_runs r WHERE r.job_id = j.id),
                                         (SELECT count(*) FROM mcp_jobs.job_events e WHERE e.job_id = j.id)),
                              ',' ORDER BY j.id)
                 FROM mcp_jobs.jobs j")
        };
        let before = state();
        let cases = [
            (format!("'{busy}', '{stale}'"), "55000"),
            (format!("'{stale}', '{run}'"), "P0002"),
            (format!("'{waiting}', '{run}'"), "55000"),
            (format!("'{done}', '{done_run}'"), "55000"),
            (format!("NULL, '{run}'"), "22004"),
            (format!("'{busy}', NULL"), "22004"),
            (format!("'{busy}', '{run}', p_lease_seconds => 0"), "22023"),
            (format!("'{busy}', '{run}', p_sources => '{{}}'"), "22023"),
            (
                format!("'{busy}', '{run}', p_job_types => ARRAY[NULL]::text[]"),
                "22004",
            ),
            (format!("'{busy}', '{run}', p_worker_id => ''"), "22023"),
            (
                format!("'{busy}', '{run}', jsonb_build_object('x', repeat('x', 2000))"),
                "54000",
            ),
        ];
        for (args, code) in cases {
            let out = try_sql(&format!(
                "SELECT * FROM mcp_jobs.complete_and_claim_next({args})"
            ));
            assert!(
                out.starts_with(code),
                "({args}): expected {code}, got {out}"
            );
            assert_eq!(state(), before, "({args}) changed the tables");
        }
        assert_eq!(status(busy), "processing");
        assert_eq!(status(waiting), "queued");
    }

    // ------------------------------------------------------------------ batch claim / complete

    /// Job ids claimed by one claim_jobs call, in the order returned.
    fn claim_batch(worker: &str, limit: i32) -> Vec<String> {
        let ids: String = qa(
            "SELECT coalesce(string_agg(c.id::text, ',' ORDER BY c.ordinality), '')
               FROM mcp_jobs.claim_jobs($1, p_limit => $2) WITH ORDINALITY c",
            &[worker.into(), limit.into()],
        );
        ids.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[pg_test]
    fn claim_jobs_takes_min_of_limit_and_due_in_claim_order() {
        for (i, priority) in [1, 9, 5, 5, 0, 10, 5].into_iter().enumerate() {
            qa::<pgrx::Uuid>(
                "SELECT mcp_jobs.enqueue_job('s', 't', jsonb_build_object('i', $1), $2)",
                &[(i as i32).into(), priority.into()],
            );
        }
        exec("SELECT mcp_jobs.enqueue_job('s', 't', '{}', 10, now() + interval '1 minute')");
        let order: String = q(
            "SELECT string_agg(id::text, ',' ORDER BY priority DESC, run_at, id)
               FROM mcp_jobs.jobs WHERE run_at <= now()",
        );
        let order: Vec<String> = order.split(',').map(str::to_string).collect();
        // (limit, jobs expected from the claim order): 7 due jobs in all, the future one never
        let cases: &[(i32, std::ops::Range<usize>)] =
            &[(3, 0..3), (1, 3..4), (10, 4..7), (5, 7..7)];
        let mut seen = std::collections::HashSet::new();
        for (limit, want) in cases {
            let got = claim_batch("w", *limit);
            assert_eq!(got, order[want.clone()].to_vec(), "limit {limit}");
            for id in &got {
                assert!(seen.insert(id.clone()), "job {id} claimed twice");
            }
        }
        // each claimed job: processing, its own current run (open), and one started event
        let checks: String = q(
            "SELECT concat_ws('|', count(*), count(DISTINCT j.current_run_id),
                    count(*) FILTER (WHERE r.id IS NOT NULL AND r.outcome IS NULL AND r.worker_id = 'w'),
                    count(*) FILTER (WHERE (SELECT count(*) FROM mcp_jobs.job_events e
                                             WHERE e.job_id = j.id AND e.run_id = j.current_run_id
                                               AND e.event_type = 'started') = 1))
               FROM mcp_jobs.jobs j LEFT JOIN mcp_jobs.job_runs r ON r.id = j.current_run_id
              WHERE j.status = 'processing'",
        );
        assert_eq!(checks, "7|7|7|7");
        assert_eq!(
            q::<i64>("SELECT count(*) FROM mcp_jobs.jobs WHERE status = 'queued'"),
            1
        );
    }

    #[pg_test]
    fn claim_jobs_sweeps_expired_leases_first() {
        let id = enqueue("s", "t", 5);
        let (_, run1) = claim("w1").expect("a job");
        exec(&format!("UPDATE mcp_jobs.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = '{id}'"));
        assert_eq!(claim_batch("w2", 10), vec![id.to_string()]);
        let outcome: String = qa(
            "SELECT outcome FROM mcp_jobs.job_runs WHERE id = $1",
            &[run1.into()],
        );
        assert_eq!(outcome, "lease_expired");
    }

    #[pg_test]
    fn complete_jobs_reports_each_pair() {
        exec("SET LOCAL mcp_jobs.retry_base_delay = 0");
        let good = enqueue("good", "t", 9);
        let (_, good_run) = claim("w").expect("good");
        let wrong = enqueue("wrong", "t", 8);
        let (_, wrong_run) = claim("w").expect("wrong");
        let done = enqueue("done", "t", 7);
        let (_, done_run) = claim("w").expect("done");
        exec(&format!(
            "SELECT mcp_jobs.complete_job('{done}', '{done_run}')"
        ));
        let expired = enqueue("expired", "t", 6);
        let (_, expired_run) = claim("w").expect("expired");
        exec(&format!("UPDATE mcp_jobs.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = '{expired}'"));
        let (again, _) = claim("w2").expect("expired job claimed again");
        assert_eq!(again, expired);
        let unknown = "00000000-0000-0000-0000-000000000000";
        // (job, run presented, expected status|completed|reason)
        let cases = [
            (good.to_string(), good_run.to_string(), "completed|t"),
            (
                wrong.to_string(),
                done_run.to_string(),
                "processing|f|stale run",
            ),
            (
                done.to_string(),
                done_run.to_string(),
                "completed|f|not processing: completed",
            ),
            (unknown.to_string(), good_run.to_string(), "f|not found"),
            (
                expired.to_string(),
                expired_run.to_string(),
                "processing|f|lease expired",
            ),
        ];
        let jobs: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
        let runs: Vec<&str> = cases.iter().map(|c| c.1.as_str()).collect();
        let got: String = q(&format!(
            "SELECT string_agg(concat_ws(',', job_id, run_id, concat_ws('|', status, completed, reason)), ';' ORDER BY o)
               FROM mcp_jobs.complete_jobs('{{{}}}', '{{{}}}', ARRAY['{{\"ok\": 1}}', NULL, NULL, NULL, NULL]::jsonb[])
                    WITH ORDINALITY AS c(job_id, run_id, status, completed, reason, o)",
            jobs.join(","),
            runs.join(",")
        ));
        let want: Vec<String> = cases
            .iter()
            .map(|(j, r, w)| format!("{j},{r},{w}"))
            .collect();
        assert_eq!(got, want.join(";"));
        // only the good job changed: completed with its result, run closed, completed event
        let row: String = qa(
            "SELECT concat_ws('|', j.status, j.result::text, j.lease_expires_at IS NULL, r.outcome, r.finished_at = now())
               FROM mcp_jobs.jobs j JOIN mcp_jobs.job_runs r ON r.id = $2 WHERE j.id = $1",
            &[good.into(), good_run.into()],
        );
        assert_eq!(row, "completed|{\"ok\": 1}|t|completed|t");
        assert_eq!(events(good), "enqueued,started,completed");
        assert_eq!(status(wrong), "processing");
        assert_eq!(events(wrong), "enqueued,started");
        let still_open: bool = qa(
            "SELECT outcome IS NULL FROM mcp_jobs.job_runs WHERE id = $1",
            &[wrong_run.into()],
        );
        assert!(still_open, "the wrong job's own run is untouched");
        assert_eq!(events(done), "enqueued,started,completed");
        assert_eq!(status(expired), "processing");
        assert_eq!(
            qa::<i64>(
                "SELECT count(*) FROM mcp_jobs.job_runs WHERE job_id = $1 AND outcome = 'completed'",
                &[wrong.into()]
            ),
            0
        );
    }

    #[pg_test]
    fn complete_jobs_without_results_and_empty_batch() {
        let a = enqueue("s", "t", 5);
        let b = enqueue("s", "t", 5);
        let ids = claim_batch("w", 2);
        assert_eq!(ids.len(), 2);
        let n: i64 = q(
            "SELECT count(*) FILTER (WHERE completed) FROM mcp_jobs.complete_jobs(
                (SELECT array_agg(id ORDER BY id) FROM mcp_jobs.jobs),
                (SELECT array_agg(current_run_id ORDER BY id) FROM mcp_jobs.jobs))",
        );
        assert_eq!(n, 2);
        assert_eq!(status(a), "completed");
        assert_eq!(status(b), "completed");
        assert_eq!(
            q::<i64>("SELECT count(*) FROM mcp_jobs.jobs WHERE result IS NOT NULL"),
            0
        );
        assert_eq!(
            q::<i64>("SELECT count(*) FROM mcp_jobs.complete_jobs('{}', '{}')"),
            0
        );
    }

    #[pg_test]
    fn fail_retries_with_backoff_then_dead_letters() {
        exec("SET LOCAL mcp_jobs.retry_base_delay = 0");
        let id: pgrx::Uuid = q("SELECT mcp_jobs.enqueue_job('s', 't', '{\"k\": 1}', 5, NULL, 3)");
        // attempts 1 and 2 fail and are retried; attempt 3 fails for good
        for attempt in 1..=3 {
            let (claimed, run) = claim("w").expect("due again");
            assert_eq!(claimed, id);
            let out: pgrx::JsonB = qa(
                "SELECT mcp_jobs.fail_job($1, $2, 'boom ' || $3::text)::jsonb",
                &[id.into(), run.into(), attempt.into()],
            );
            let want = if attempt < 3 { "queued" } else { "failed" };
            assert_eq!(out.0["status"], want, "attempt {attempt}");
            assert_eq!(out.0["attempt"], attempt);
        }
        let job: String = qa(
            "SELECT concat_ws('|', status, attempts, last_error, finished_at IS NOT NULL) FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        );
        assert_eq!(job, "failed|3|boom 3|t");
        let dlq: String = qa(
            "SELECT concat_ws('|', source, job_type, payload::text, attempts, last_error, resolved)
               FROM mcp_jobs.dead_letter_queue WHERE job_id = $1",
            &[id.into()],
        );
        assert_eq!(dlq, "s|t|{\"k\": 1}|3|boom 3|f");
        assert_eq!(
            q::<String>("SELECT string_agg(outcome, ',' ORDER BY attempt) FROM mcp_jobs.job_runs"),
            "failed,failed,failed"
        );
        assert_eq!(
            events(id),
            "enqueued,started,failed,retry_scheduled,started,failed,retry_scheduled,started,failed,dead_lettered"
        );
        assert!(claim("w").is_none(), "a dead job is not claimed");
    }

    #[pg_test]
    fn fail_schedules_retry_in_backoff_window() {
        exec("SET LOCAL mcp_jobs.retry_base_delay = '10s'");
        let id = enqueue("s", "t", 5);
        let (_, run) = claim("w").expect("a job");
        exec(&format!(
            "SELECT mcp_jobs.fail_job('{id}', '{run}', 'flaky')"
        ));
        let delay: f64 = qa(
            "SELECT extract(epoch FROM run_at - now())::float8 FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        );
        assert!(
            (5.0..=10.0).contains(&delay),
            "first retry after 5-10 s, got {delay}"
        );
        assert_eq!(status(id), "queued");
        assert!(claim("w").is_none(), "not due before the backoff");
    }

    #[pg_test]
    fn fail_without_retry_dead_letters_at_once() {
        let id: pgrx::Uuid = q("SELECT mcp_jobs.enqueue_job('s', 't', '{}', 5, NULL, 5)");
        let (_, run) = claim("w").expect("a job");
        let out: pgrx::JsonB = qa(
            "SELECT mcp_jobs.fail_job($1, $2, 'invalid input', p_retry => false)::jsonb",
            &[id.into(), run.into()],
        );
        assert_eq!(out.0["status"], "failed");
        assert!(out.0["dead_letter_id"].is_string());
        assert_eq!(status(id), "failed");
        assert_eq!(
            q::<i64>("SELECT count(*) FROM mcp_jobs.dead_letter_queue WHERE NOT resolved"),
            1
        );
    }

    #[pg_test]
    fn progress_extends_lease() {
        let id = enqueue("s", "t", 5);
        let run: pgrx::Uuid =
            q("SELECT run_id FROM mcp_jobs.claim_next_job('w', p_lease_seconds => 60)");
        exec(&format!("UPDATE mcp_jobs.jobs SET lease_expires_at = now() + interval '1 second' WHERE id = '{id}'"));
        let out: pgrx::JsonB = qa(
            "SELECT mcp_jobs.report_progress($1, $2, '{\"pct\": 50}')::jsonb",
            &[id.into(), run.into()],
        );
        assert_eq!(out.0["status"], "processing");
        let lease_ok: bool = qa(
            "SELECT lease_expires_at = now() + interval '60 seconds' FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        );
        assert!(lease_ok, "lease extended by the claim's lease length");
        let data: String = qa(
            "SELECT data::text FROM mcp_jobs.job_events WHERE job_id = $1 AND event_type = 'progress'",
            &[id.into()],
        );
        assert_eq!(data, "{\"attempt\": 1, \"progress\": {\"pct\": 50}}");
    }

    #[pg_test]
    fn cancel_queued_job() {
        let id = enqueue("s", "t", 5);
        let out: pgrx::JsonB = qa("SELECT mcp_jobs.cancel_job($1)::jsonb", &[id.into()]);
        assert_eq!(out.0["status"], "cancelled");
        assert_eq!(status(id), "cancelled");
        assert_eq!(events(id), "enqueued,cancelled");
        assert!(claim("w").is_none(), "a cancelled job is not claimed");
    }

    // ------------------------------------------------------------------ leases and fencing

    #[pg_test]
    fn expired_lease_is_claimed_again_and_counts() {
        let id: pgrx::Uuid = q("SELECT mcp_jobs.enqueue_job('s', 't', '{}', 5, NULL, 2)");
        let (_, run1) = claim("w1").expect("a job");
        exec(&format!("UPDATE mcp_jobs.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = '{id}'"));
        let (again, run2) = claim("w2").expect("expired job claimed again");
        assert_eq!(again, id);
        assert_ne!(run1, run2);
        let row: String = qa(
            "SELECT concat_ws('|', status, attempts, worker_id) FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        );
        assert_eq!(row, "processing|2|w2");
        let outcome: String = qa(
            "SELECT outcome FROM mcp_jobs.job_runs WHERE id = $1",
            &[run1.into()],
        );
        assert_eq!(outcome, "lease_expired");
        assert_eq!(
            events(id),
            "enqueued,started,lease_expired,retry_scheduled,started"
        );
        // the last attempt's lease expires too: dead letter, not a third attempt
        exec(&format!("UPDATE mcp_jobs.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = '{id}'"));
        assert!(claim("w3").is_none());
        assert_eq!(status(id), "failed");
        assert_eq!(
            qa::<i64>(
                "SELECT count(*) FROM mcp_jobs.dead_letter_queue WHERE job_id = $1",
                &[id.into()]
            ),
            1
        );
        assert!(events(id).ends_with("lease_expired,dead_lettered"));
    }

    #[pg_test]
    fn completing_after_lease_expiry_without_reclaim_is_allowed() {
        let id = enqueue("s", "t", 5);
        let (_, run) = claim("w").expect("a job");
        exec(&format!("UPDATE mcp_jobs.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = '{id}'"));
        exec(&format!("SELECT mcp_jobs.complete_job('{id}', '{run}')"));
        assert_eq!(status(id), "completed");
    }

    #[pg_test(error = "job 00000000-0000-0000-0000-000000000000 does not exist")]
    fn unknown_job() {
        exec("SELECT mcp_jobs.get_job('00000000-0000-0000-0000-000000000000')");
    }

    // ------------------------------------------------------------------ dead letters

    fn dead_job() -> (pgrx::Uuid, pgrx::Uuid) {
        let id: pgrx::Uuid = q("SELECT mcp_jobs.enqueue_job('s', 't', '{\"p\": 1}', 5, NULL, 1)");
        let (_, run) = claim("w").expect("a job");
        exec(&format!(
            "SELECT mcp_jobs.fail_job('{id}', '{run}', 'fatal')"
        ));
        let dl: pgrx::Uuid = qa(
            "SELECT id FROM mcp_jobs.dead_letter_queue WHERE job_id = $1",
            &[id.into()],
        );
        (id, dl)
    }

    #[pg_test]
    fn requeue_dead_letter_runs_again_with_fresh_attempts() {
        let (id, dl) = dead_job();
        let back: pgrx::Uuid = qa("SELECT mcp_jobs.requeue_dead_letter($1)", &[dl.into()]);
        assert_eq!(back, id);
        let job: String = qa(
            "SELECT concat_ws('|', status, attempts, finished_at IS NULL) FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        );
        assert_eq!(job, "queued|0|t");
        let dlq: String = qa(
            "SELECT concat_ws('|', resolved, resolution, resolved_at = now()) FROM mcp_jobs.dead_letter_queue WHERE id = $1",
            &[dl.into()],
        );
        assert_eq!(dlq, "t|requeued|t");
        let (claimed, run) = claim("w").expect("claimable again");
        assert_eq!(claimed, id);
        exec(&format!("SELECT mcp_jobs.complete_job('{id}', '{run}')"));
        assert!(events(id).ends_with("dead_lettered,requeued,started,completed"));
    }

    #[pg_test]
    fn resolve_dead_letter_with_note() {
        let (id, dl) = dead_job();
        exec(&format!(
            "SELECT mcp_jobs.resolve_dead_letter('{dl}', 'fixed upstream')"
        ));
        let dlq: String = qa(
            "SELECT concat_ws('|', resolved, resolution, resolution_note) FROM mcp_jobs.dead_letter_queue WHERE id = $1",
            &[dl.into()],
        );
        assert_eq!(dlq, "t|resolved|fixed upstream");
        assert_eq!(status(id), "failed");
        assert!(events(id).ends_with("dead_lettered,resolved"));
    }

    #[pg_test]
    fn requeue_restores_a_job_row_that_is_gone() {
        let (id, dl) = dead_job();
        exec(&format!("DELETE FROM mcp_jobs.jobs WHERE id = '{id}'"));
        let back: pgrx::Uuid = qa("SELECT mcp_jobs.requeue_dead_letter($1)", &[dl.into()]);
        assert_eq!(back, id);
        let job: String = qa(
            "SELECT concat_ws('|', status, source, job_type, payload::text) FROM mcp_jobs.jobs WHERE id = $1",
            &[id.into()],
        );
        assert_eq!(job, "queued|s|t|{\"p\": 1}");
    }

    // ------------------------------------------------------------------ read side

    #[pg_test]
    fn list_jobs_filters_and_pages() {
        let ids: Vec<pgrx::Uuid> = (0..5).map(|_| enqueue("odoo", "sync", 5)).collect();
        enqueue("n8n", "sync", 5);
        let (claimed, _) = claim("w").expect("a job"); // the oldest odoo job
        assert_eq!(claimed, ids[0]);
        // (filters, expected count)
        let cases = [
            ("p_source => 'odoo'", 5),
            ("p_source => 'n8n'", 1),
            ("p_status => 'processing'", 1),
            ("p_status => 'queued'", 5),
            (
                "p_job_type => 'sync', p_status => 'queued', p_source => 'odoo'",
                4,
            ),
            ("p_source => 'nobody'", 0),
        ];
        for (filters, want) in cases {
            let n: i64 = q(&format!(
                "SELECT count(*) FROM mcp_jobs.list_jobs({filters})"
            ));
            assert_eq!(n, want, "{filters}");
        }
        // pages of 2, newest first, no overlap, nothing lost
        let mut seen = Vec::new();
        let mut before: Option<pgrx::Uuid> = None;
        loop {
            let page: Vec<pgrx::Uuid> = Spi::connect(|c| {
                c.select(
                    "SELECT id FROM mcp_jobs.list_jobs(p_source => 'odoo', p_limit => 2, p_before => $1)",
                    None,
                    &[before.into()],
                )
                .map(|t| t.map(|r| r.get::<pgrx::Uuid>(1).ok().flatten().expect("id")).collect())
            })
            .expect("list page");
            if page.is_empty() {
                break;
            }
            before = page.last().copied();
            seen.extend(page);
        }
        let mut want = ids.clone();
        want.reverse();
        assert_eq!(seen, want);
    }

    #[pg_test]
    fn get_job_has_runs_and_events() {
        let id = enqueue("s", "t", 5);
        let (_, run) = claim("w").expect("a job");
        exec(&format!(
            "SELECT mcp_jobs.complete_job('{id}', '{run}', '{{\"ok\": true}}')"
        ));
        let doc: pgrx::JsonB = qa("SELECT mcp_jobs.get_job($1)::jsonb", &[id.into()]);
        let doc = doc.0;
        assert_eq!(doc["id"], id.to_string());
        assert_eq!(doc["status"], "completed");
        assert_eq!(doc["result"]["ok"], true);
        assert_eq!(doc["runs"].as_array().map(Vec::len), Some(1));
        assert_eq!(doc["runs"][0]["id"], run.to_string());
        let kinds: Vec<&str> = doc["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["event_type"].as_str())
            .collect();
        assert_eq!(kinds, ["enqueued", "started", "completed"]);
        assert_eq!(doc["dead_letters"].as_array().map(Vec::len), Some(0));
    }

    #[pg_test]
    fn job_stats_count_every_status() {
        exec("SET LOCAL mcp_jobs.retry_base_delay = 0");
        let done = enqueue("odoo", "t", 5);
        let (_, r) = claim("w").expect("a job");
        exec(&format!("SELECT mcp_jobs.complete_job('{done}', '{r}')"));
        let dead: pgrx::Uuid = q("SELECT mcp_jobs.enqueue_job('odoo', 't', '{}', 5, NULL, 1)");
        let (_, r) = claim("w").expect("a job");
        exec(&format!("SELECT mcp_jobs.fail_job('{dead}', '{r}', 'x')"));
        let c = enqueue("odoo", "t", 5);
        exec(&format!("SELECT mcp_jobs.cancel_job('{c}')"));
        enqueue("odoo", "t", 5);
        enqueue("odoo", "t", 5);
        claim("w").expect("a job");
        enqueue("n8n", "t", 5);
        let all: pgrx::JsonB = q("SELECT mcp_jobs.get_job_stats()::jsonb");
        let want = serde_json::json!({"source": null, "queued": 2, "processing": 1, "completed": 1, "failed": 1,
            "cancelled": 1, "total": 6, "dead_letter_unresolved": 1});
        assert_eq!(all.0, want);
        let odoo: pgrx::JsonB = q("SELECT mcp_jobs.get_job_stats('odoo')::jsonb");
        assert_eq!(odoo.0["total"], 5);
        assert_eq!(odoo.0["queued"], 1);
    }

    // ------------------------------------------------------------------ schema guarantees

    #[pg_test]
    fn status_compares_with_any_string() {
        enqueue("s", "t", 5);
        // the seed's monitoring query filters on 'running': valid SQL that matches nothing
        let n: i64 = q("SELECT count(*) FROM mcp_jobs.jobs WHERE status IN ('queued', 'running')");
        assert_eq!(n, 1);
    }

    #[pg_test]
    fn every_table_is_dumped_with_its_data() {
        let n: i64 = q(
            "SELECT count(*) FROM pg_extension e, unnest(e.extconfig) AS c(oid)
              WHERE e.extname = 'mcp_jobs'",
        );
        assert_eq!(
            n, 6,
            "5 tables and the event id sequence are registered with pg_extension_config_dump"
        );
    }

    #[pg_test]
    fn every_object_is_documented() {
        let undocumented: i64 = q(
            "SELECT count(*) FROM (
               SELECT c.oid, 0 AS sub FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'mcp_jobs' AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL
               UNION ALL
               SELECT a.attrelid, a.attnum FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'mcp_jobs' AND c.relkind IN ('r', 'v') AND a.attnum > 0 AND NOT a.attisdropped
                  AND col_description(a.attrelid, a.attnum) IS NULL
               UNION ALL
               SELECT p.oid, 0 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = 'mcp_jobs' AND obj_description(p.oid, 'pg_proc') IS NULL) x",
        );
        assert_eq!(
            undocumented, 0,
            "every table, column and function has a COMMENT"
        );
    }

    // ------------------------------------------------------------------ row checks and history

    #[pg_test]
    fn row_checks_hold_for_direct_dml() {
        // one valid job in each state, written directly (as an operator or a restore would)
        let ok = [
            "INSERT INTO mcp_jobs.jobs (source, job_type) VALUES ('s', 't')",
            "INSERT INTO mcp_jobs.jobs (source, job_type, status, lease_expires_at, current_run_id, attempts)
             VALUES ('s', 't', 'processing', now(), mcp_jobs.uuidv7(), 1)",
            "INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at) VALUES ('s', 't', 'cancelled', now())",
            "INSERT INTO mcp_jobs.jobs (source, job_type, idempotency_key, priority, max_attempts, payload)
             VALUES ('s', 't', 'k', 10, 1000, '{\"a\": [1]}')",
            "INSERT INTO mcp_jobs.job_events (job_id, event_type) VALUES (mcp_jobs.uuidv7(), 'resolved')",
            "INSERT INTO mcp_jobs.job_runs (job_id, attempt, lease_seconds) VALUES (mcp_jobs.uuidv7(), 1, 30)",
            "INSERT INTO mcp_jobs.job_runs (job_id, attempt, lease_seconds, finished_at, outcome)
             VALUES (mcp_jobs.uuidv7(), 2, 30, now(), 'lease_expired')",
        ];
        for sql in ok {
            assert_eq!(try_sql(sql), "ok", "{sql}");
        }
        // each row breaks exactly one rule; the error names it
        let bad: &[(&str, &str)] = &[
            ("INSERT INTO mcp_jobs.jobs (source, job_type, status) VALUES ('s', 't', 'running')", "status must be one of"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type) VALUES ('', 't')", "source must be non-empty"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type) VALUES ('s', repeat('é', 201))", "job_type must be non-empty text of at most 200"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, payload) VALUES ('s', 't', '[1]')", "payload must be a JSON object"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, payload) VALUES ('s', 't', '\"x\"')", "payload must be a JSON object"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, priority) VALUES ('s', 't', 11)", "priority must be between 0 and 10"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, priority) VALUES ('s', 't', -1)", "priority must be between 0 and 10"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, attempts) VALUES ('s', 't', -1)", "attempts must be at least 0"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, max_attempts) VALUES ('s', 't', 0)", "max_attempts must be between 1 and 1000"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, idempotency_key) VALUES ('s', 't', '')", "idempotency_key must be non-empty"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, lease_expires_at) VALUES ('s', 't', now())", "has a lease (lease_expires_at) exactly while it is processing"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, status, current_run_id) VALUES ('s', 't', 'processing', mcp_jobs.uuidv7())", "has a lease (lease_expires_at) exactly while it is processing"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, status, lease_expires_at) VALUES ('s', 't', 'processing', now())", "a processing job has a current run"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, status) VALUES ('s', 't', 'completed')", "finished_at is set exactly in the terminal states"),
            ("INSERT INTO mcp_jobs.jobs (source, job_type, finished_at) VALUES ('s', 't', now())", "finished_at is set exactly in the terminal states"),
            ("UPDATE mcp_jobs.jobs SET status = 'failed'", "finished_at is set exactly in the terminal states"),
            ("INSERT INTO mcp_jobs.job_events (job_id, event_type) VALUES (mcp_jobs.uuidv7(), 'bogus')", "event_type must be one of"),
            ("INSERT INTO mcp_jobs.job_runs (job_id, attempt, lease_seconds) VALUES (mcp_jobs.uuidv7(), 0, 30)", "attempt must be at least 1"),
            ("INSERT INTO mcp_jobs.job_runs (job_id, attempt, lease_seconds, outcome) VALUES (mcp_jobs.uuidv7(), 1, 30, 'ok')", "outcome must be one of"),
            ("INSERT INTO mcp_jobs.job_runs (job_id, attempt, lease_seconds, outcome) VALUES (mcp_jobs.uuidv7(), 1, 30, 'failed')", "a run is open"),
            ("UPDATE mcp_jobs.job_runs SET finished_at = NULL WHERE outcome IS NOT NULL", "a run is open"),
        ];
        let before: i64 = q(
            "SELECT (SELECT count(*) FROM mcp_jobs.jobs) + (SELECT count(*) FROM mcp_jobs.job_runs)
                               + (SELECT count(*) FROM mcp_jobs.job_events)",
        );
        for (sql, rule) in bad {
            let got = try_sql(sql);
            assert!(
                got.starts_with("23514 new row for relation"),
                "{sql}: {got}"
            );
            assert!(got.contains(rule), "{sql}: expected '{rule}', got {got}");
        }
        let after: i64 = q(
            "SELECT (SELECT count(*) FROM mcp_jobs.jobs) + (SELECT count(*) FROM mcp_jobs.job_runs)
                              + (SELECT count(*) FROM mcp_jobs.job_events)",
        );
        assert_eq!(before, after, "a refused row changes nothing");
    }

    #[pg_test]
    fn closing_a_run_sets_its_duration() {
        let id = enqueue("s", "t", 5);
        let (_, run) = claim("w").expect("a job");
        exec("UPDATE mcp_jobs.job_runs SET started_at = started_at - interval '1.25 seconds'");
        qa::<pgrx::JsonB>(
            "SELECT mcp_jobs.complete_job($1, $2)",
            &[id.into(), run.into()],
        );
        let (d, expected) = Spi::get_two_with_args::<f64, f64>(
            "SELECT duration_ms, extract(epoch FROM finished_at - started_at)::float8 * 1000
               FROM mcp_jobs.job_runs WHERE id = $1",
            &[run.into()],
        )
        .expect("the run");
        assert_eq!(d, expected);
        assert_eq!(d, Some(1250.0));
    }

    #[pg_test]
    fn deleting_jobs_deletes_their_history_only() {
        let a = enqueue("s", "t", 5);
        let b = enqueue("s", "t", 5);
        for _ in 0..2 {
            let (id, run) = claim("w").expect("a job");
            qa::<pgrx::JsonB>(
                "SELECT mcp_jobs.complete_job($1, $2)",
                &[id.into(), run.into()],
            );
        }
        let history = |id: pgrx::Uuid| -> i64 {
            qa(
                "SELECT (SELECT count(*) FROM mcp_jobs.job_runs WHERE job_id = $1)
                      + (SELECT count(*) FROM mcp_jobs.job_events WHERE job_id = $1)",
                &[id.into()],
            )
        };
        assert_eq!((history(a), history(b)), (4, 4), "1 run + 3 events each");
        Spi::run_with_args("DELETE FROM mcp_jobs.jobs WHERE id = $1", &[a.into()]).expect("delete");
        assert_eq!((history(a), history(b)), (0, 4));
        exec("TRUNCATE mcp_jobs.jobs");
        assert_eq!(
            history(b),
            0,
            "TRUNCATE of jobs empties runs and events too"
        );
        enqueue("s", "t", 5);
        exec("TRUNCATE mcp_jobs.jobs, mcp_jobs.job_runs, mcp_jobs.job_events");
        assert_eq!(
            q::<i64>("SELECT count(*) FROM mcp_jobs.job_events"),
            0,
            "and TRUNCATE of all three in one statement works"
        );
    }

    /// The statements that find one in-flight job by id use the primary key, whatever the
    /// statistics say: never a scan of the partial lease index filtered on id (which costs one
    /// visit per in-flight job and dead entry). The worst case for the planner is statistics taken
    /// with no job in flight (a tiny lease index), which is how a drained-then-refilled queue looks.
    #[pg_test]
    fn in_flight_lookups_use_the_primary_key() {
        exec("SELECT count(mcp_jobs.enqueue_job('s', 't')) FROM generate_series(1, 500)");
        exec("ANALYZE mcp_jobs.jobs");
        exec("SET LOCAL plan_cache_mode = force_generic_plan");
        let cases: &[(&str, &str, &str)] = &[
            (
                "complete",
                include_str!("queries/complete.sql"),
                "uuid, uuid, jsonb",
            ),
            (
                "fail",
                include_str!("queries/fail.sql"),
                "uuid, uuid, text, boolean",
            ),
            (
                "progress",
                include_str!("queries/progress.sql"),
                "uuid, uuid, jsonb",
            ),
        ];
        for (name, sql, types) in cases {
            exec(&format!("PREPARE pk_{name}({types}) AS {sql}"));
            let args = match *types {
                "uuid, uuid, text, boolean" => "mcp_jobs.uuidv7(), mcp_jobs.uuidv7(), 'e', true",
                _ => "mcp_jobs.uuidv7(), mcp_jobs.uuidv7(), NULL",
            };
            let plan: String = Spi::connect(|c| {
                c.select(&format!("EXPLAIN EXECUTE pk_{name}({args})"), None, &[])
                    .map(|t| {
                        t.map(|r| r.get::<String>(1).ok().flatten().unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
            })
            .expect("explain");
            assert!(
                plan.contains("Index Scan using jobs_pkey on jobs")
                    && !plan.contains("jobs_lease_idx"),
                "{name}:\n{plan}"
            );
            exec(&format!("DEALLOCATE pk_{name}"));
        }
    }

    /// A full batch of 1000 pairs with every tenth run id wrong: the outcome rows come back in input
    /// order, the right pairs completed with one event each, the others explained.
    #[pg_test]
    fn complete_jobs_full_batch_mixed() {
        exec("SELECT count(mcp_jobs.enqueue_job('s', 't')) FROM generate_series(1, 1000)");
        let summary: String = q("WITH c AS (SELECT array_agg(id ORDER BY id) AS j,
                                         array_agg(CASE WHEN rn % 10 = 0 THEN mcp_jobs.uuidv7() ELSE run_id END ORDER BY id) AS r
                                    FROM (SELECT id, run_id, row_number() OVER (ORDER BY id) AS rn
                                            FROM mcp_jobs.claim_jobs('w', p_limit => 1000)) x),
                                  o AS (SELECT row_number() OVER () AS pos, x.* FROM c, mcp_jobs.complete_jobs(c.j, c.r) x)
                             SELECT concat_ws('|',
                                      count(*),
                                      count(*) FILTER (WHERE completed AND pos % 10 <> 0 AND status = 'completed'),
                                      count(*) FILTER (WHERE NOT completed AND pos % 10 = 0 AND reason = 'stale run' AND status = 'processing'),
                                      bool_and(job_id = (SELECT j[pos] FROM c)))
                               FROM o");
        assert_eq!(summary, "1000|900|100|t");
        let events: i64 =
            q("SELECT count(*) FROM mcp_jobs.job_events WHERE event_type = 'completed'");
        assert_eq!(events, 900);
        let closed: i64 = q("SELECT count(*) FROM mcp_jobs.job_runs WHERE outcome = 'completed' AND duration_ms IS NOT NULL");
        assert_eq!(closed, 900);
    }
}
