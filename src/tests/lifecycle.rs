//! Tests: The transitions of a claimed job: complete (one, a batch, complete and claim), fail, progress, cancel.
#[pgrx::pg_schema]
mod tests {
    use crate::test_util::*;
    use pgrx::prelude::*;

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

    #[pg_test]
    fn complete_jobs_reports_each_pair() {
        // claims look for expired leases on every call here (the default looks once a second)
        exec("SET LOCAL mcp_jobs.lease_sweep_interval = 0");
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
        // claims look for expired leases on every call here (the default looks once a second)
        exec("SET LOCAL mcp_jobs.lease_sweep_interval = 0");
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

    /// A full batch of 1000 pairs with every tenth run id wrong: the outcome rows come back in input
    /// order, the right pairs completed with one event each, the others explained.
    #[pg_test]
    fn complete_jobs_full_batch_mixed() {
        // claims look for expired leases on every call here (the default looks once a second)
        exec("SET LOCAL mcp_jobs.lease_sweep_interval = 0");
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

    #[pg_test(error = "job 00000000-0000-0000-0000-000000000000 does not exist")]
    fn unknown_job() {
        exec("SELECT mcp_jobs.get_job('00000000-0000-0000-0000-000000000000')");
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
}
