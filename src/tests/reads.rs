//! Tests: The read side: list_jobs, get_job, get_job_stats.
#[pgrx::pg_schema]
mod tests {
    use crate::test_util::*;
    use pgrx::prelude::*;

    // ------------------------------------------------------------------ read side

    #[pg_test]
    fn list_jobs_filters_and_pages() {
        let ids: Vec<pgrx::Uuid> = (0..5).map(|_| enqueue("odoo", "sync", 5)).collect();
        enqueue("n8n", "sync", 5);
        let claimed: pgrx::Uuid = q("SELECT id FROM mcp_jobs.claim_next_job('w', ARRAY['odoo'])"); // the oldest odoo job
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
            "cancelled": 1, "total": 6, "dead_letter_unresolved": 1, "queues_paused": 0, "queues_limited": 0});
        assert_eq!(all.0, want);
        let odoo: pgrx::JsonB = q("SELECT mcp_jobs.get_job_stats('odoo')::jsonb");
        assert_eq!(odoo.0["total"], 5);
        assert_eq!(odoo.0["queued"], 1);
    }

    // ------------------------------------------------------------------ schema guarantees

    #[pg_test]
    fn status_compares_with_any_string() {
        enqueue("s", "t", 5);
        // the MCP Jobs design's monitoring query filters on 'running': valid SQL that matches nothing
        let n: i64 = q("SELECT count(*) FROM mcp_jobs.jobs WHERE status IN ('queued', 'running')");
        assert_eq!(n, 1);
    }

    #[pg_test]
    fn get_metrics_reads_a_range_of_hours() {
        exec("DELETE FROM mcp_jobs.metrics");
        exec(
            "INSERT INTO mcp_jobs.metrics (hour, source, job_type, enqueued, completed, success_rate)
             SELECT date_trunc('hour', now(), 'UTC') - make_interval(hours => h), s, 'sync', h, h, 1.0
               FROM generate_series(0, 30) h, unnest(ARRAY['a', 'b']) s",
        );
        // default: the last 24 hours (the current hour and the 24 before it touch the range)
        let n: i64 = q("SELECT count(*) FROM mcp_jobs.get_metrics()");
        assert_eq!(n, 2 * 25);
        let first: String = q(
            "SELECT concat_ws('|', source, enqueued) FROM mcp_jobs.get_metrics(p_source => 'b') LIMIT 1",
        );
        assert_eq!(first, "b|24");
        let week: i64 = q(
            "SELECT count(*) FROM mcp_jobs.get_metrics(now() - interval '7 days', now(), 'a', 'sync')",
        );
        assert_eq!(week, 31);
        let none: i64 = q("SELECT count(*) FROM mcp_jobs.get_metrics(p_job_type => 'other')");
        assert_eq!(none, 0);
        // at most 31 days, from <= to
        assert!(
            try_sql("SELECT * FROM mcp_jobs.get_metrics(now() - interval '31 days', now())")
                == "ok"
        );
        assert!(
            try_sql("SELECT * FROM mcp_jobs.get_metrics(now() - interval '32 days', now())")
                .starts_with("22023")
        );
    }

    #[pg_test]
    fn public_queue_depth_and_alerts() {
        exec("DELETE FROM mcp_jobs.jobs");
        for _ in 0..3 {
            enqueue("qd", "t", 5);
        }
        claim("w").expect("a job");
        let row: String = q(
            "SELECT concat_ws('|', source, job_type, queued, processing, due_now, oldest_queued_age_seconds >= 0)
               FROM public.queue_depth()",
        );
        assert_eq!(row, "qd|t|2|1|2|t");
        exec("SET mcp_jobs.alert_queue_depth_warning = 2");
        let alert: String =
            q("SELECT concat_ws('|', level, metric, source, value) FROM public.alerts()");
        assert_eq!(alert, "warning|queue_depth|qd|3");
    }
}
