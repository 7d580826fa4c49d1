//! Tests: flow control (pause, concurrency, per-key, rate, max_queued), fairness of the claim, and
//! the queue settings API. The multi-session rules are tested in tests/test_flow.py.
#[pgrx::pg_schema]
mod tests {
    use crate::test_util::*;
    use pgrx::prelude::*;

    fn claim_from(worker: &str, source: &str) -> Option<(pgrx::Uuid, String)> {
        let (id, jt) = Spi::get_two_with_args::<pgrx::Uuid, String>(
            "SELECT id, job_type FROM mcp_jobs.claim_next_job($1, ARRAY[$2])",
            &[worker.into(), source.into()],
        )
        .unwrap_or((None, None));
        Some((id?, jt?))
    }

    fn claims(source: &str, n: usize) -> usize {
        (0..n).filter(|_| claim_from("w", source).is_some()).count()
    }

    #[pg_test]
    fn pause_holds_claims_and_keeps_enqueues() {
        exec("SELECT mcp_jobs.pause_queue('fp')");
        enqueue("fp", "a", 5);
        enqueue("fp", "b", 5);
        assert_eq!(claims("fp", 3), 0, "a paused source gives nothing");
        // a pair's own setting wins over its source's
        exec("SELECT mcp_jobs.set_queue('fp', 'b', p_paused => false)");
        let (_, jt) = claim_from("w", "fp").expect("b is not paused");
        assert_eq!(jt, "b");
        assert_eq!(claims("fp", 2), 0);
        exec("SELECT mcp_jobs.resume_queue('fp')");
        let (_, jt) = claim_from("w", "fp").expect("resumed");
        assert_eq!(jt, "a");
        // no setting left on the source row: the row is gone
        let rows: i64 =
            q("SELECT count(*) FROM mcp_jobs.queues WHERE source = 'fp' AND job_type IS NULL");
        assert_eq!(rows, 0);
    }

    #[pg_test]
    fn max_concurrency_counts_processing_jobs() {
        exec("SELECT mcp_jobs.set_queue('fc', p_max_concurrency => 2)");
        for _ in 0..5 {
            enqueue("fc", "t", 5);
        }
        assert_eq!(claims("fc", 5), 2);
        // completing one frees a slot
        let (id, run) = Spi::get_two::<pgrx::Uuid, pgrx::Uuid>(
            "SELECT id, current_run_id FROM mcp_jobs.jobs WHERE source = 'fc' AND status = 'processing' LIMIT 1",
        )
        .unwrap();
        exec(&format!(
            "SELECT mcp_jobs.complete_job('{}', '{}')",
            id.unwrap(),
            run.unwrap()
        ));
        assert_eq!(claims("fc", 5), 1);
        // claim_jobs counts its own claims
        exec("SELECT mcp_jobs.set_queue('fc', p_max_concurrency => 4)");
        let n: i64 = q("SELECT count(*) FROM mcp_jobs.claim_jobs('w', ARRAY['fc'], p_limit => 10)");
        assert_eq!(n, 2);
    }

    #[pg_test]
    fn source_limit_is_shared_by_job_types_a_pair_setting_is_its_own() {
        exec("SELECT mcp_jobs.set_queue('fs', p_max_concurrency => 2)");
        exec("SELECT mcp_jobs.set_queue('fs', 'own', p_max_concurrency => 1)");
        for t in ["a", "b", "own", "own"] {
            enqueue("fs", t, 5);
            enqueue("fs", t, 5);
        }
        let taken: String = q(
            "SELECT string_agg(job_type, ',' ORDER BY job_type) FROM mcp_jobs.claim_jobs('w', ARRAY['fs'], p_limit => 20)",
        );
        // a and b share 2; 'own' has 1 of its own
        let types: Vec<&str> = taken.split(',').collect();
        assert_eq!(types.iter().filter(|t| **t == "own").count(), 1, "{taken}");
        assert_eq!(types.iter().filter(|t| **t != "own").count(), 2, "{taken}");
    }

    #[pg_test]
    fn per_key_concurrency_and_key_rotation() {
        exec("SELECT mcp_jobs.set_queue('fk', 'sync', p_max_concurrency_per_key => 1)");
        for k in ["t1", "t1", "t1", "t2", "t2", "t3"] {
            exec(&format!(
                "SELECT mcp_jobs.enqueue_job('fk', 'sync', p_concurrency_key => '{k}')"
            ));
        }
        let keys: String = q(
            "SELECT string_agg(j.concurrency_key, ',' ORDER BY j.concurrency_key)
               FROM mcp_jobs.claim_jobs('w', ARRAY['fk'], p_limit => 10) c JOIN mcp_jobs.jobs j ON j.id = c.id",
        );
        assert_eq!(keys, "t1,t2,t3", "one job per key in flight");
    }

    #[pg_test]
    fn rate_limit_per_window() {
        exec("SELECT mcp_jobs.set_queue('fr', p_rate_limit => 3, p_rate_period => interval '1 hour')");
        for _ in 0..5 {
            enqueue("fr", "t", 5);
        }
        assert_eq!(claims("fr", 5), 3);
        let row: String = q("SELECT concat_ws('|', claims_in_window, queued, processing) FROM mcp_jobs.get_queues() WHERE source = 'fr'");
        assert_eq!(row, "3|2|3");
        // the window is aligned to the period since the Unix epoch
        let aligned: bool = q("SELECT window_start = to_timestamp(floor(extract(epoch FROM now()) / 3600) * 3600) FROM mcp_jobs.queues WHERE source = 'fr'");
        assert!(aligned);
        // a window that has passed counts no more
        exec("UPDATE mcp_jobs.queues SET window_start = window_start - interval '1 hour' WHERE source = 'fr'");
        assert_eq!(claims("fr", 5), 2);
    }

    #[pg_test]
    fn set_queue_changes_one_half_of_the_rate_pair() {
        exec("SELECT mcp_jobs.set_queue('fh', 'sync', p_rate_limit => 60, p_rate_period => interval '1 minute')");
        exec("SELECT mcp_jobs.set_queue('fh', 'sync', p_rate_period => interval '30 seconds')");
        let row: String = q("SELECT concat_ws('|', rate_limit, rate_period) FROM mcp_jobs.queues WHERE source = 'fh'");
        assert_eq!(row, "60|00:00:30");
        exec("SELECT mcp_jobs.set_queue('fh', 'sync', p_rate_limit => 10)");
        let row: String = q("SELECT concat_ws('|', rate_limit, rate_period) FROM mcp_jobs.queues WHERE source = 'fh'");
        assert_eq!(row, "10|00:00:30");
        // a half on a queue without a rate is still refused, and writes nothing
        exec("SELECT mcp_jobs.set_queue('fh', 'other', p_max_concurrency => 2)");
        assert!(try_sql(
            "SELECT mcp_jobs.set_queue('fh', 'other', p_rate_period => interval '1 second')"
        )
        .starts_with("22023"));
        let n: i64 = q("SELECT count(*) FROM mcp_jobs.queues WHERE source = 'fh' AND rate_period IS NOT NULL AND job_type = 'other'");
        assert_eq!(n, 0);
    }

    #[pg_test]
    fn max_queued_refuses_with_53400() {
        exec("SELECT mcp_jobs.set_queue('fq', 'x', p_max_queued => 2)");
        enqueue("fq", "x", 5);
        enqueue("fq", "x", 5);
        let e = try_sql("SELECT mcp_jobs.enqueue_job('fq', 'x')");
        assert!(
            e.starts_with("53400 queue fq/x is full: 2 jobs queued, the limit is 2"),
            "{e}"
        );
        // another job type of the source is not capped
        enqueue("fq", "y", 5);
        // a claim makes room
        claim_from("w", "fq").expect("a job");
        enqueue("fq", "x", 5);
        assert!(try_sql("SELECT mcp_jobs.enqueue_job('fq', 'x')").starts_with("53400"));
        // enqueue_jobs: all or nothing, the index of the item in the error
        let e = try_sql(
            r#"SELECT mcp_jobs.enqueue_jobs('[{"source": "fq", "job_type": "y"}, {"source": "fq", "job_type": "x"}]')"#,
        );
        assert!(e.starts_with("53400 p_jobs[1]: queue fq/x is full"), "{e}");
        let ys: i64 =
            q("SELECT count(*) FROM mcp_jobs.jobs WHERE source = 'fq' AND job_type = 'y'");
        assert_eq!(ys, 1);
    }

    #[pg_test]
    fn fairness_across_sources() {
        exec("SELECT count(mcp_jobs.enqueue_job('big', 't')) FROM generate_series(1, 300)");
        exec("SELECT count(mcp_jobs.enqueue_job('small', 't')) FROM generate_series(1, 10)");
        // the rotation takes sources in turn at the same priority: small's 10 within 20 claims
        let order: Vec<String> = (0..20)
            .map(|_| q::<String>("SELECT source FROM mcp_jobs.claim_next_job('w')"))
            .collect();
        assert_eq!(
            order.iter().filter(|s| *s == "small").count(),
            10,
            "{order:?}"
        );
        // priority still comes first
        enqueue("big", "urgent", 9);
        let s: String = q("SELECT job_type FROM mcp_jobs.claim_next_job('w')");
        assert_eq!(s, "urgent");
    }

    #[pg_test]
    fn queue_depth_and_alerts_show_flow_control() {
        exec("SELECT mcp_jobs.pause_queue('fd', 'x')");
        enqueue("fd", "x", 5);
        let row: String =
            q("SELECT concat_ws('|', paused, held) FROM mcp_jobs.queue_depth WHERE source = 'fd'");
        assert_eq!(row, "t|paused");
        let stats: pgrx::JsonB = q("SELECT mcp_jobs.get_job_stats('fd')::jsonb");
        assert_eq!(stats.0["queues_paused"], 1);
        exec(
            "UPDATE mcp_jobs.queues SET paused_at = now() - interval '2 hours' WHERE source = 'fd'",
        );
        let alert: String = q("SELECT concat_ws('|', level, metric, source) FROM mcp_jobs.alerts() WHERE metric = 'queue_paused'");
        assert_eq!(alert, "warning|queue_paused|fd");
        exec("SET LOCAL mcp_jobs.alert_paused_after = 0");
        let none: i64 = q("SELECT count(*) FROM mcp_jobs.alerts() WHERE metric = 'queue_paused'");
        assert_eq!(none, 0);
    }

    #[pg_test]
    fn set_queue_refuses_bad_input_and_changes_nothing() {
        exec("SELECT mcp_jobs.set_queue('fb', p_max_concurrency => 3)");
        let before: String = q("SELECT string_agg(to_jsonb(q)::text, ';') FROM mcp_jobs.queues q");
        for (sql, state) in [
            ("SELECT mcp_jobs.set_queue('fb', p_max_concurrency => 0)", "22023"),
            ("SELECT mcp_jobs.set_queue('fb', p_max_concurrency => -1)", "22023"),
            ("SELECT mcp_jobs.set_queue('fb', p_rate_limit => 5)", "22023"),
            ("SELECT mcp_jobs.set_queue('fb', p_rate_limit => 5, p_rate_period => interval '0')", "22023"),
            ("SELECT mcp_jobs.set_queue('fb', p_rate_limit => 5, p_rate_period => interval '1 month')", "22023"),
            ("SELECT mcp_jobs.set_queue('', p_max_concurrency => 1)", "22023"),
            ("SELECT mcp_jobs.set_queue(NULL, p_max_concurrency => 1)", "22004"),
            ("SELECT mcp_jobs.set_queue('fb', p_clear => ARRAY['nope'])", "22023"),
            ("SELECT mcp_jobs.set_queue('fb', p_max_queued => 2, p_clear => ARRAY['max_queued'])", "22023"),
            ("SELECT mcp_jobs.set_queue('fb', p_max_queued => 0)", "22023"),
        ] {
            let got = try_sql(sql);
            assert!(got.starts_with(state), "{sql}: {got}");
        }
        let after: String = q("SELECT string_agg(to_jsonb(q)::text, ';') FROM mcp_jobs.queues q");
        assert_eq!(before, after);
        // clearing
        exec("SELECT mcp_jobs.set_queue('fb', p_clear => ARRAY['max_concurrency'])");
        let n: i64 = q("SELECT count(*) FROM mcp_jobs.queues WHERE source = 'fb'");
        assert_eq!(n, 0);
    }
}
