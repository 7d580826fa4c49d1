//! Tests: claim_next_job and claim_jobs: order, records, filters, leases.
#[pgrx::pg_schema]
mod tests {
    use crate::test_util::*;
    use pgrx::prelude::*;

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

    // ------------------------------------------------------------------ batch claim / complete

    /// Job ids claimed by one claim_jobs call, in the order returned.

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

    /// Index blocks a statement reads from jobs_claim_idx (this transaction's counters).
    fn claim_idx_blocks(sql: &str) -> i64 {
        let read = "SELECT pg_stat_get_xact_blocks_fetched('mcp_jobs.jobs_claim_idx'::regclass)";
        let before: i64 = q(read);
        exec(sql);
        q::<i64>(read) - before
    }

    #[pg_test]
    fn claim_jobs_descends_the_claim_index_per_call_not_per_job() {
        // 5 sources, so that a batch of 50 rotates over them 10 times. Each step of the walk is
        // asked of the index once per call (src/claim.rs, Probe); asked again for every job, as
        // 0.7.0 did, the same call reads past the bound (docs/design.md, "Descents per call").
        exec(
            "SELECT mcp_jobs.enqueue_jobs((SELECT jsonb_agg(jsonb_build_object(
                 'source', 's' || (i % 5), 'job_type', 't', 'payload', '{}'::jsonb))
               FROM generate_series(1, 1000) i))",
        );
        // the second call starts its walks past the 50 jobs the first one took (still in the index)
        exec("SELECT count(*) FROM mcp_jobs.claim_jobs('w', p_limit => 50)");
        let batch =
            claim_idx_blocks("SELECT count(*) FROM mcp_jobs.claim_jobs('w', p_limit => 50)");
        assert!(
            batch < 300,
            "claim_jobs of 50 read {batch} blocks of jobs_claim_idx"
        );
        let one = claim_idx_blocks("SELECT count(*) FROM mcp_jobs.claim_next_job('w')");
        assert!(
            one < 20,
            "claim_next_job read {one} blocks of jobs_claim_idx"
        );
        // and the calls took what the claim order says: 101 jobs, 20 or 21 of each source
        let taken: String = q(
            "SELECT string_agg(n::text, ',' ORDER BY source) FROM (
               SELECT source, count(*) AS n FROM mcp_jobs.jobs WHERE status = 'processing' GROUP BY source) x",
        );
        let counts: Vec<i64> = taken
            .split(',')
            .map(|n| n.parse().expect("a count"))
            .collect();
        assert_eq!(counts.iter().sum::<i64>(), 101, "{taken}");
        assert!(counts.iter().all(|&n| n == 20 || n == 21), "{taken}");
    }

    #[pg_test]
    fn claim_jobs_sweeps_expired_leases_first() {
        // claims look for expired leases on every call here (the default looks once a second)
        exec("SET LOCAL mcp_jobs.lease_sweep_interval = 0");
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

    // ------------------------------------------------------------------ leases and fencing

    #[pg_test]
    fn expired_lease_is_claimed_again_and_counts() {
        // claims look for expired leases on every call here (the default looks once a second)
        exec("SET LOCAL mcp_jobs.lease_sweep_interval = 0");
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
        // claims look for expired leases on every call here (the default looks once a second)
        exec("SET LOCAL mcp_jobs.lease_sweep_interval = 0");
        let id = enqueue("s", "t", 5);
        let (_, run) = claim("w").expect("a job");
        exec(&format!("UPDATE mcp_jobs.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = '{id}'"));
        exec(&format!("SELECT mcp_jobs.complete_job('{id}', '{run}')"));
        assert_eq!(status(id), "completed");
    }
}
