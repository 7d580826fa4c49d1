//! Tests: schedules (cron in a time zone, catch-up, exactly once per occurrence) and enqueue_jobs.
#[pgrx::pg_schema]
mod tests {
    use crate::test_util::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn cron_next_follows_the_time_zone_through_dst() {
        // Europe/Berlin springs forward on 2026-03-29 (02:00 -> 03:00) and falls back on 2026-10-25
        let daily: String = q(
            "SELECT string_agg(to_char(t AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), ',')
               FROM mcp_jobs.cron_next('30 9 * * *', 'Europe/Berlin', '2026-03-27 12:00+00', 3) t",
        );
        // 09:30 local is 08:30 UTC before the change and 07:30 UTC after it
        assert_eq!(daily, "03-28 08:30,03-29 07:30,03-30 07:30");
        // 02:30 does not exist on 2026-03-29 in Berlin: that day's run is at the next existing time
        let gap: String = q(
            "SELECT string_agg(to_char(t AT TIME ZONE 'Europe/Berlin', 'MM-DD HH24:MI'), ',')
               FROM mcp_jobs.cron_next('30 2 * * *', 'Europe/Berlin', '2026-03-28 12:00+00', 2) t",
        );
        assert!(gap.starts_with("03-29 03:"), "{gap}");
        // 02:30 exists twice on 2026-10-25: it runs once
        let twice: i64 = q(
            "SELECT count(*) FROM mcp_jobs.cron_next('30 2 * * *', 'Europe/Berlin', '2026-10-24 12:00+00', 3) t
              WHERE (t AT TIME ZONE 'Europe/Berlin')::date = '2026-10-25'",
        );
        assert_eq!(twice, 1);
        let hourly: i64 = q("SELECT count(*) FROM mcp_jobs.cron_next('@hourly', 'UTC', now(), 24)");
        assert_eq!(hourly, 24);
    }

    #[pg_test]
    fn bad_expressions_and_zones_store_nothing() {
        for (sql, state) in [
            ("SELECT mcp_jobs.schedule_job('s1', 'every minute', 'src', 'job')", "22023"),
            ("SELECT mcp_jobs.schedule_job('s1', '61 * * * *', 'src', 'job')", "22023"),
            ("SELECT mcp_jobs.schedule_job('s1', '0 0 * * * *', 'src', 'job')", "22023"),
            ("SELECT mcp_jobs.schedule_job('s1', '* * * * *', 'src', 'job', p_timezone => 'Mars/Olympus')", "22023"),
            ("SELECT mcp_jobs.schedule_job('', '* * * * *', 'src', 'job')", "22023"),
            ("SELECT mcp_jobs.schedule_job('s1', '* * * * *', 'src', 'job', p_priority => 11)", "22023"),
            ("SELECT mcp_jobs.schedule_job('s1', NULL, 'src', 'job')", "22004"),
            ("SELECT mcp_jobs.unschedule_job('nope')", "P0002"),
            ("SELECT * FROM mcp_jobs.cron_next('* * * * *', p_count => 0)", "22023"),
        ] {
            let got = try_sql(sql);
            assert!(got.starts_with(state), "{sql}: {got}");
        }
        let n: i64 = q("SELECT count(*) FROM mcp_jobs.schedules");
        assert_eq!(n, 0);
    }

    #[pg_test]
    fn every_occurrence_once_and_only_the_latest_after_downtime() {
        exec("SELECT mcp_jobs.schedule_job('minutely', '* * * * *', 'cron', 'tick', '{\"k\": 1}')");
        let next: bool = q("SELECT next_run_at > now() AND next_run_at <= now() + interval '1 minute' FROM mcp_jobs.schedules");
        assert!(next);
        // three minutes pass, maintenance runs twice in each: one job per minute
        for m in 1..=3 {
            for _ in 0..2 {
                exec(&format!(
                    "SELECT mcp_jobs.run_schedules(now() + interval '{m} minutes')"
                ));
            }
        }
        let jobs: i64 =
            q("SELECT count(*) FROM mcp_jobs.jobs WHERE source = 'cron' AND job_type = 'tick'");
        assert_eq!(jobs, 3);
        let payloads: i64 = q(
            "SELECT count(*) FROM mcp_jobs.jobs WHERE source = 'cron' AND payload = '{\"k\": 1}'",
        );
        assert_eq!(payloads, 3);
        // a day of downtime: only the latest missed occurrence is enqueued
        exec("SELECT mcp_jobs.run_schedules(now() + interval '1 day 3 minutes 30 seconds')");
        let jobs: i64 = q("SELECT count(*) FROM mcp_jobs.jobs WHERE source = 'cron'");
        assert_eq!(jobs, 4);
        let row: String = q(
            "SELECT concat_ws('|', last_run_at = date_trunc('minute', now() + interval '1 day 3 minutes 30 seconds'),
                               next_run_at = date_trunc('minute', now() + interval '1 day 4 minutes 30 seconds'),
                               last_job_status)
               FROM mcp_jobs.list_schedules()",
        );
        assert_eq!(row, "t|t|queued");
        let gone: pgrx::JsonB = q("SELECT mcp_jobs.unschedule_job('minutely')::jsonb");
        assert_eq!(gone.0["name"], "minutely");
    }

    #[pg_test]
    fn a_full_queue_holds_back_its_schedule_only() {
        exec("SELECT mcp_jobs.set_queue('full', p_max_queued => 1)");
        exec("SELECT mcp_jobs.enqueue_job('full', 'x')");
        exec("SELECT mcp_jobs.schedule_job('a-full', '* * * * *', 'full', 'tick')");
        exec("SELECT mcp_jobs.schedule_job('b-free', '* * * * *', 'free', 'tick')");
        let n: i64 = q("SELECT mcp_jobs.run_schedules(now() + interval '1 minute')");
        assert_eq!(n, 1, "the other schedule runs");
        let jobs: String = q("SELECT string_agg(source, ',' ORDER BY source) FROM mcp_jobs.jobs WHERE job_type = 'tick'");
        assert_eq!(jobs, "free");
        // the held one stays due, and runs once its queue has room
        let due: bool = q("SELECT next_run_at <= now() + interval '1 minute' FROM mcp_jobs.schedules WHERE name = 'a-full'");
        assert!(due);
        exec("SELECT mcp_jobs.cancel_job(id) FROM mcp_jobs.jobs WHERE source = 'full' AND job_type = 'x'");
        let n: i64 = q("SELECT mcp_jobs.run_schedules(now() + interval '1 minute')");
        assert_eq!(n, 1);
    }

    #[pg_test]
    fn enqueue_jobs_in_order_all_or_nothing() {
        let ids: Vec<Option<pgrx::Uuid>> = q(r#"SELECT mcp_jobs.enqueue_jobs('[
                 {"source": "n8n", "job_type": "sync", "payload": {"i": 0}},
                 {"source": "n8n", "job_type": "sync", "payload": "{\"i\": 1}", "priority": 9},
                 {"source": "n8n", "job_type": "sync", "run_at": "2030-01-01T00:00:00Z", "idempotency_key": "k"},
                 {"source": "n8n", "job_type": "sync", "idempotency_key": "k"}
               ]')"#);
        assert_eq!(ids.len(), 4);
        assert_eq!(
            ids[2], ids[3],
            "the same idempotency key gives the same job"
        );
        let order: String = q(&format!(
            "SELECT string_agg(coalesce(payload->>'i', '-'), ',' ORDER BY o)
               FROM unnest(ARRAY['{}', '{}', '{}']::uuid[]) WITH ORDINALITY u(id, o) JOIN mcp_jobs.jobs j USING (id)",
            ids[0].unwrap(),
            ids[1].unwrap(),
            ids[2].unwrap()
        ));
        assert_eq!(order, "0,1,-");
        let events: i64 = q("SELECT count(*) FROM mcp_jobs.job_events e JOIN mcp_jobs.jobs j ON j.id = e.job_id WHERE j.source = 'n8n'");
        assert_eq!(events, 3);
        // a bad item: nothing enqueued, its index in the error
        let before: i64 = q("SELECT count(*) FROM mcp_jobs.jobs");
        for (items, want) in [
            (
                r#"[{"source": "a", "job_type": "b"}, {"source": "a", "job_type": "b", "priority": 42}]"#,
                "22023 p_jobs[1]: invalid p_priority",
            ),
            (
                r#"[{"source": "a", "job_type": "b", "colour": "red"}]"#,
                "22023 p_jobs[0]: invalid p_jobs",
            ),
            (
                r#"[{"source": "a"}]"#,
                "22004 p_jobs[0]: p_job_type must not be NULL",
            ),
            (
                r#"[{"source": "a", "job_type": "b", "payload": [1]}]"#,
                "22023 p_jobs[0]: invalid p_payload",
            ),
            (
                r#"[{"source": "a", "job_type": "b", "run_at": "soon"}]"#,
                "22023 p_jobs[0]: invalid run_at",
            ),
            (
                r#"{"source": "a"}"#,
                "22023 invalid p_jobs: must be a JSON array",
            ),
            ("[]", "22023 invalid p_jobs: must hold 1 to 1000 jobs"),
        ] {
            let got = try_sql(&format!("SELECT mcp_jobs.enqueue_jobs('{items}')"));
            assert!(got.starts_with(want), "{items}: {got}");
        }
        let big = format!(
            "SELECT mcp_jobs.enqueue_jobs((SELECT jsonb_agg(jsonb_build_object('source', 'a', 'job_type', 'b')) FROM generate_series(1, {})))",
            1001
        );
        assert!(try_sql(&big).starts_with("22023"));
        let after: i64 = q("SELECT count(*) FROM mcp_jobs.jobs");
        assert_eq!(before, after);
        let thousand: i64 = q(
            "SELECT cardinality(mcp_jobs.enqueue_jobs((SELECT jsonb_agg(jsonb_build_object('source', 'a', 'job_type', 'b', 'payload', jsonb_build_object('i', i))) FROM generate_series(1, 1000) i)))",
        );
        assert_eq!(thousand, 1000);
    }

    #[pg_test]
    fn public_wrappers_match_their_functions() {
        // same argument names, types, defaults and results as mcp_jobs' function of the same name
        let diff: String = q(
            "SELECT coalesce(string_agg(p.proname, ', '), '')
               FROM pg_proc p
               JOIN pg_proc m ON m.proname = p.proname AND m.pronamespace = 'mcp_jobs'::regnamespace
              WHERE p.pronamespace = 'public'::regnamespace
                AND p.oid IN (SELECT objid FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'mcp_jobs') AND deptype = 'e')
                AND (p.proargnames IS DISTINCT FROM m.proargnames
                     OR p.proargtypes::oid[] IS DISTINCT FROM m.proargtypes::oid[]
                     OR p.proallargtypes IS DISTINCT FROM m.proallargtypes
                     OR p.proargmodes IS DISTINCT FROM m.proargmodes
                     OR p.prorettype <> m.prorettype OR p.proretset <> m.proretset
                     OR p.pronargdefaults <> m.pronargdefaults
                     OR pg_get_expr(p.proargdefaults, 0) IS DISTINCT FROM pg_get_expr(m.proargdefaults, 0))",
        );
        assert_eq!(diff, "", "wrappers that differ from their function");
        let orphans: String = q(
            "SELECT coalesce(string_agg(p.proname, ', '), '') FROM pg_proc p
              WHERE p.pronamespace = 'public'::regnamespace
                AND p.oid IN (SELECT objid FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'mcp_jobs') AND deptype = 'e')
                AND NOT EXISTS (SELECT 1 FROM pg_proc m WHERE m.proname = p.proname AND m.pronamespace = 'mcp_jobs'::regnamespace)",
        );
        assert_eq!(orphans, "", "wrappers without a function");
    }
}
