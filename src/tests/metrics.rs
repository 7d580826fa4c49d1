//! Tests of the metrics, the MCP Jobs design's monitoring queries, alerts, maintenance and the background worker.
//!
//! `#[pg_test]`s run in a transaction that is rolled back, so they build their own data with explicit
//! timestamps and sources of their own. `preloaded_worker_expires_leases_and_aggregates` is a plain
//! `#[test]`: it commits, and watches the background worker do the work, in database `postgres`
//! (mcp_jobs.database of the test cluster) so that the pg_tests in `pgrx_tests` never see its jobs.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    /// Run SQL that must succeed.
    fn sql(q: &str) {
        Spi::run(q).unwrap_or_else(|e| panic!("{e}\n{q}"));
    }

    fn one<T: pgrx::FromDatum + pgrx::IntoDatum>(q: &str) -> Option<T> {
        Spi::get_one::<T>(q).unwrap_or_else(|e| panic!("{e}\n{q}"))
    }

    /// The SQLSTATE a statement raises, or "none".
    fn sqlstate_of(stmt: &str) -> String {
        match crate::test_util::try_sql(stmt).as_str() {
            "ok" => "none".to_string(),
            raised => raised.chars().take(5).collect(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Aggregation on constructed data. All times on 2021-03-04, UTC.
    //   A (t1): enqueued 09:59:59.999; run 1 10:00:00 -> completed 10:00:02 (2000 ms, wait 1 ms)
    //   B (t1): enqueued 10:10; run 1 10:20 -> failed 10:20:04 (4000 ms, wait 600000 ms), retry;
    //           run 2 10:59:59.999 -> completed 11:00:00.5 (501 ms)
    //   C (t1): enqueued 10:30; run 1 10:31 -> lease expired 10:45 (excluded from run times), retry;
    //           run 2 10:50 -> failed 10:51 (60000 ms), dead-lettered
    //   D (t1): enqueued 10:40, cancelled 10:41
    //   E (t2): enqueued 10:05
    // -----------------------------------------------------------------------------------------
    const AGG_DATA: &str = r#"
SET LOCAL TimeZone = 'UTC';
INSERT INTO mcp_jobs.jobs (id, source, job_type, status, attempts, created_at, started_at, finished_at, current_run_id)
VALUES ('00000000-0000-7000-8000-00000000000a', 'agg_src', 't1', 'completed', 1, '2021-03-04 09:59:59.999', '2021-03-04 10:00:00', '2021-03-04 10:00:02', NULL),
       ('00000000-0000-7000-8000-00000000000b', 'agg_src', 't1', 'completed', 2, '2021-03-04 10:10', '2021-03-04 10:20', '2021-03-04 11:00:00.5', NULL),
       ('00000000-0000-7000-8000-00000000000c', 'agg_src', 't1', 'failed', 2, '2021-03-04 10:30', '2021-03-04 10:31', '2021-03-04 10:51', NULL),
       ('00000000-0000-7000-8000-00000000000d', 'agg_src', 't1', 'cancelled', 0, '2021-03-04 10:40', NULL, '2021-03-04 10:41', NULL),
       ('00000000-0000-7000-8000-00000000000e', 'agg_src', 't2', 'queued', 0, '2021-03-04 10:05', NULL, NULL, NULL);
INSERT INTO mcp_jobs.job_runs (id, job_id, attempt, started_at, finished_at, outcome, lease_seconds)
VALUES ('00000000-0000-7000-8000-0000000000a1', '00000000-0000-7000-8000-00000000000a', 1, '2021-03-04 10:00:00', '2021-03-04 10:00:02', 'completed', 300),
       ('00000000-0000-7000-8000-0000000000b1', '00000000-0000-7000-8000-00000000000b', 1, '2021-03-04 10:20', '2021-03-04 10:20:04', 'failed', 300),
       ('00000000-0000-7000-8000-0000000000b2', '00000000-0000-7000-8000-00000000000b', 2, '2021-03-04 10:59:59.999', '2021-03-04 11:00:00.5', 'completed', 300),
       ('00000000-0000-7000-8000-0000000000c1', '00000000-0000-7000-8000-00000000000c', 1, '2021-03-04 10:31', '2021-03-04 10:45', 'lease_expired', 300),
       ('00000000-0000-7000-8000-0000000000c2', '00000000-0000-7000-8000-00000000000c', 2, '2021-03-04 10:50', '2021-03-04 10:51', 'failed', 300);
-- the events of the closed runs carry their run id and duration, as the API writes them
INSERT INTO mcp_jobs.job_events (job_id, run_id, event_type, created_at, data)
VALUES ('00000000-0000-7000-8000-00000000000a', '00000000-0000-7000-8000-0000000000a1', 'completed', '2021-03-04 10:00:02', '{"duration_ms": 2000}'),
       ('00000000-0000-7000-8000-00000000000b', '00000000-0000-7000-8000-0000000000b1', 'failed', '2021-03-04 10:20:04', '{"duration_ms": 4000}'),
       ('00000000-0000-7000-8000-00000000000b', '00000000-0000-7000-8000-0000000000b2', 'completed', '2021-03-04 11:00:00.5', '{"duration_ms": 501}'),
       ('00000000-0000-7000-8000-00000000000c', '00000000-0000-7000-8000-0000000000c1', 'lease_expired', '2021-03-04 10:45', '{}'),
       ('00000000-0000-7000-8000-00000000000c', '00000000-0000-7000-8000-0000000000c2', 'failed', '2021-03-04 10:51', '{"duration_ms": 60000}');
-- a job's first 'started' event carries its queue wait, as the claim writes it
INSERT INTO mcp_jobs.job_events (job_id, event_type, created_at, data)
VALUES ('00000000-0000-7000-8000-00000000000a', 'enqueued', '2021-03-04 09:59:59.999', '{}'),
       ('00000000-0000-7000-8000-00000000000a', 'started', '2021-03-04 10:00:00', '{"wait_ms": 1}'),
       ('00000000-0000-7000-8000-00000000000a', 'progress', '2021-03-04 10:00:01', '{}'),
       ('00000000-0000-7000-8000-00000000000b', 'enqueued', '2021-03-04 10:10', '{}'),
       ('00000000-0000-7000-8000-00000000000b', 'started', '2021-03-04 10:20', '{"wait_ms": 600000}'),
       ('00000000-0000-7000-8000-00000000000b', 'retry_scheduled', '2021-03-04 10:20:04', '{}'),
       ('00000000-0000-7000-8000-00000000000b', 'started', '2021-03-04 10:59:59.999', '{}'),
       ('00000000-0000-7000-8000-00000000000c', 'enqueued', '2021-03-04 10:30', '{}'),
       ('00000000-0000-7000-8000-00000000000c', 'started', '2021-03-04 10:31', '{"wait_ms": 60000}'),
       ('00000000-0000-7000-8000-00000000000c', 'retry_scheduled', '2021-03-04 10:45', '{}'),
       ('00000000-0000-7000-8000-00000000000c', 'started', '2021-03-04 10:50', '{}'),
       ('00000000-0000-7000-8000-00000000000c', 'dead_lettered', '2021-03-04 10:51', '{}'),
       ('00000000-0000-7000-8000-00000000000d', 'enqueued', '2021-03-04 10:40', '{}'),
       ('00000000-0000-7000-8000-00000000000d', 'cancelled', '2021-03-04 10:41', '{}'),
       ('00000000-0000-7000-8000-00000000000e', 'enqueued', '2021-03-04 10:05', '{}');
"#;

    /// The metrics rows of agg_src, as text (updated_at left out), ordered.
    fn agg_rows() -> Vec<String> {
        Spi::connect(|c| {
            c.select(
                "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
                        to_char(hour AT TIME ZONE 'UTC', 'HH24:MI'), job_type, enqueued, started,
                        completed, failed, retried, dead_lettered, cancelled, lease_expired,
                        round(success_rate::numeric, 6), round(run_ms_avg::numeric, 3),
                        round(run_ms_p50::numeric, 3), round(run_ms_p95::numeric, 3),
                        round(run_ms_max::numeric, 3), round(wait_ms_p50::numeric, 3),
                        round(wait_ms_p95::numeric, 3))
                   FROM mcp_jobs.metrics WHERE source = 'agg_src' ORDER BY hour, job_type",
                None,
                &[],
            )
            .unwrap()
            .map(|r| r.get::<String>(1).unwrap().unwrap())
            .collect()
        })
    }

    // hour|type|enq|started|completed|failed|retried|dead|cancelled|lease_expired|success|avg|p50|p95|max|wait50|wait95
    /// A percentile as the metrics report it: the bucket's value (within 1 % of `v`, checked
    /// here), capped by the largest value seen.
    fn pct(v: f64, max: f64) -> String {
        let est = crate::rollup::bucket_value(crate::rollup::bucket_of(v)).min(max);
        assert!(
            (est - v).abs() <= crate::rollup::ALPHA * v,
            "{est} is not within 1 % of {v}"
        );
        format!("{est:.3}")
    }

    // hour|type|enq|started|completed|failed|retried|dead|cancelled|lease_expired|success|avg|p50|p95|max|wait50|wait95
    // run times of hour 10 (t1): 2000, 4000, 60000 ms; first-start waits: 1, 600000, 60000 ms;
    // percentiles are the values of rank ceil(p n), as percentile_disc
    const ROW_09: &str = "09:00|t1|1|0|0|0|0|0|0|0|||||||";
    fn row_10_t1() -> String {
        format!(
            "10:00|t1|3|5|1|2|2|1|1|1|0.250000|22000.000|{}|{}|60000.000|{}|{}",
            pct(4000.0, 60000.0),
            pct(60000.0, 60000.0),
            pct(60000.0, 600000.0),
            pct(600000.0, 600000.0)
        )
    }
    const ROW_10_T2: &str = "10:00|t2|1|0|0|0|0|0|0|0|||||||";
    fn row_11() -> String {
        format!(
            "11:00|t1|0|0|1|0|0|0|0|0|1.000000|501.000|{0}|{0}|501.000||",
            pct(501.0, 501.0)
        )
    }

    fn expected(rows: &[&str]) -> Vec<String> {
        rows.iter()
            .map(|r| match *r {
                "10:00|t1" => row_10_t1(),
                "11:00|t1" => row_11(),
                r => r.to_string(),
            })
            .collect()
    }

    #[pg_test]
    fn aggregate_known_answers_and_hour_boundaries() {
        sql(AGG_DATA);
        // Table-driven: (p_from, p_to, rows written, agg_src rows afterwards). Each case starts
        // from the rows the previous one left (rows outside a range are never touched).
        let cases: [(&str, &str, i64, Vec<String>); 4] = [
            // exactly hour 10: 10:00:00 belongs to hour 10, 09:59:59.999 to hour 9, 11:00:00.5 to 11
            (
                "2021-03-04 10:00",
                "2021-03-04 11:00",
                2,
                expected(&["10:00|t1", ROW_10_T2]),
            ),
            // a range inside hour 9 recomputes the whole hour 9
            (
                "2021-03-04 09:59:59",
                "2021-03-04 09:59:59.5",
                1,
                expected(&[ROW_09, "10:00|t1", ROW_10_T2]),
            ),
            // p_to one microsecond past 11:00 touches hour 11
            (
                "2021-03-04 11:00",
                "2021-03-04 11:00:00.000001",
                1,
                expected(&[ROW_09, "10:00|t1", ROW_10_T2, "11:00|t1"]),
            ),
            // all three hours again: same rows (idempotent)
            (
                "2021-03-04 09:00",
                "2021-03-04 12:00",
                4,
                expected(&[ROW_09, "10:00|t1", ROW_10_T2, "11:00|t1"]),
            ),
        ];
        for (from, to, written, rows) in cases {
            let n = Spi::get_one_with_args::<i64>(
                "SELECT mcp_jobs.aggregate_metrics($1::timestamptz, $2::timestamptz)",
                &[from.into(), to.into()],
            )
            .unwrap();
            assert_eq!(n, Some(written), "rows written for [{from}, {to})");
            assert_eq!(agg_rows(), rows, "rows after [{from}, {to})");
        }
    }

    #[pg_test]
    fn aggregate_is_idempotent_and_deletes_stale_rows_in_range_only() {
        sql(AGG_DATA);
        // a stale row inside the range (no activity) and one outside it
        sql(
            "INSERT INTO mcp_jobs.metrics (hour, source, job_type, enqueued)
             VALUES ('2021-03-04 10:00+00', 'agg_src', 'ghost', 7),
                    ('2021-03-04 08:00+00', 'agg_src', 'old', 3)",
        );
        let run = || {
            Spi::get_one::<i64>(
                "SELECT mcp_jobs.aggregate_metrics('2021-03-04 09:00+00', '2021-03-04 12:00+00')",
            )
            .unwrap()
        };
        assert_eq!(run(), Some(4));
        let first = agg_rows();
        assert_eq!(run(), Some(4));
        assert_eq!(agg_rows(), first, "a second run gives the same rows");
        let mut want = vec!["08:00|old|3|0|0|0|0|0|0|0|||||||".to_string()];
        want.extend(expected(&[ROW_09, "10:00|t1", ROW_10_T2, "11:00|t1"]));
        assert_eq!(first, want, "ghost (in range) deleted, old (outside) kept");
    }

    #[pg_test]
    fn aggregate_defaults_cover_previous_and_current_hour() {
        // one job enqueued now and one enqueued at the start of the previous hour
        sql("INSERT INTO mcp_jobs.jobs (id, source, job_type) VALUES
               ('00000000-0000-7000-8000-0000000000f1', 'agg_now', 't'),
               ('00000000-0000-7000-8000-0000000000f2', 'agg_now', 't');
             INSERT INTO mcp_jobs.job_events (job_id, event_type, created_at) VALUES
               ('00000000-0000-7000-8000-0000000000f1', 'enqueued', now()),
               ('00000000-0000-7000-8000-0000000000f2', 'enqueued', date_trunc('hour', now(), 'UTC') - interval '1 hour'),
               ('00000000-0000-7000-8000-0000000000f2', 'cancelled', date_trunc('hour', now(), 'UTC') - interval '1 hour 1 microsecond')");
        Spi::get_one::<i64>("SELECT mcp_jobs.aggregate_metrics()").unwrap();
        assert_eq!(
            one::<i64>(
                "SELECT sum(enqueued)::bigint FROM mcp_jobs.metrics WHERE source = 'agg_now'"
            ),
            Some(2)
        );
        assert_eq!(
            one::<i64>(
                "SELECT sum(cancelled)::bigint FROM mcp_jobs.metrics WHERE source = 'agg_now'"
            ),
            Some(0),
            "an event before the previous hour is outside the default range"
        );
    }

    #[pg_test]
    fn aggregate_validates_its_range() {
        let cases = [
            (
                "SELECT mcp_jobs.aggregate_metrics('2021-03-05', '2021-03-04')",
                "22023",
            ),
            (
                "SELECT mcp_jobs.aggregate_metrics('2021-01-01', '2021-02-01 00:00:01')",
                "22023",
            ),
            (
                "SELECT mcp_jobs.aggregate_metrics('2021-01-01', '2021-02-01')",
                "none",
            ),
            (
                "SELECT mcp_jobs.aggregate_metrics('2021-01-01', '2021-01-01')",
                "none",
            ),
        ];
        for (stmt, want) in cases {
            assert_eq!(sqlstate_of(stmt), want, "{stmt}");
        }
    }

    // -----------------------------------------------------------------------------------------
    // The MCP Jobs design's three monitoring queries, verbatim.
    // -----------------------------------------------------------------------------------------
    const DESIGN_DEPTH: &str = "-- Job queue depth by source
SELECT source, status, COUNT(*) as count
FROM mcp_jobs.jobs
WHERE status IN ('queued', 'running')
GROUP BY source, status;
";
    const DESIGN_SUCCESS: &str = "-- Success rate by source
SELECT source, job_type,
  COUNT(*) FILTER (WHERE status = 'completed') as completed,
  COUNT(*) FILTER (WHERE status = 'failed') as failed
FROM mcp_jobs.jobs
WHERE created_at > NOW() - INTERVAL '7 days'
GROUP BY source, job_type;
";
    const DESIGN_DLQ: &str = "-- Dead letter queue (unresolved failures)
SELECT source, job_type, COUNT(*) as count
FROM mcp_jobs.dead_letter_queue
WHERE NOT resolved
GROUP BY source, job_type;
";

    /// Rows of a query as "col|col|..." strings (columns in order, as text), keeping those whose
    /// first column starts with `prefix`, sorted.
    fn rows_of(q: &str, prefix: &str) -> Vec<String> {
        // run the query exactly as written first, to prove it is valid on its own
        Spi::run(q).unwrap_or_else(|e| panic!("{e}\n{q}"));
        let wrapped = format!(
            "SELECT (SELECT string_agg(coalesce(value, ''), '|' ORDER BY n)
                       FROM json_each_text(row_to_json(q)) WITH ORDINALITY AS c(key, value, n))
               FROM ({}\n) q",
            q.trim().trim_end_matches(';')
        );
        let mut out: Vec<String> = Spi::connect(|c| {
            c.select(&wrapped, None, &[])
                .unwrap_or_else(|e| panic!("{e}\n{wrapped}"))
                .map(|r| r.get::<String>(1).unwrap().unwrap_or_default())
                .filter(|s| s.starts_with(prefix))
                .collect()
        });
        out.sort();
        out
    }

    #[pg_test]
    fn design_monitoring_queries_verbatim() {
        sql("INSERT INTO mcp_jobs.jobs (source, job_type, status, created_at)
               SELECT 'designq_a', 'sync', 'queued', now() - interval '1 hour' FROM generate_series(1, 3);
             INSERT INTO mcp_jobs.jobs (source, job_type, status, lease_expires_at, current_run_id, attempts, created_at)
               SELECT 'designq_a', 'sync', 'processing', now() + interval '5 minutes', mcp_jobs.uuidv7(), 1, now() - interval '1 hour'
                 FROM generate_series(1, 2);
             INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at, attempts, created_at)
               SELECT 'designq_a', 'sync', 'completed', now(), 1, now() - interval '1 day' FROM generate_series(1, 4)
               UNION ALL SELECT 'designq_a', 'sync', 'failed', now(), 3, now() - interval '2 days'
               UNION ALL SELECT 'designq_a', 'sync', 'completed', now(), 1, now() - interval '8 days' FROM generate_series(1, 2)
               UNION ALL SELECT 'designq_b', 'discovery', 'failed', now(), 1, now() - interval '6 days 23 hours';
             INSERT INTO mcp_jobs.jobs (source, job_type, status, created_at)
               VALUES ('designq_b', 'discovery', 'queued', now());
             INSERT INTO mcp_jobs.dead_letter_queue (job_id, source, job_type, payload, attempts)
               SELECT mcp_jobs.uuidv7(), 'designq_a', 'sync', '{}', 3 FROM generate_series(1, 2);
             INSERT INTO mcp_jobs.dead_letter_queue (job_id, source, job_type, payload, attempts, resolved, resolved_at, resolution)
               VALUES (mcp_jobs.uuidv7(), 'designq_b', 'discovery', '{}', 1, true, now(), 'resolved');");

        // 'running' matches nothing (the in-flight state is 'processing'), without error
        assert_eq!(
            rows_of(DESIGN_DEPTH, "designq_"),
            vec!["designq_a|queued|3", "designq_b|queued|1"]
        );
        assert_eq!(
            rows_of(DESIGN_SUCCESS, "designq_"),
            vec!["designq_a|sync|4|1", "designq_b|discovery|0|1"]
        );
        assert_eq!(rows_of(DESIGN_DLQ, "designq_"), vec!["designq_a|sync|2"]);

        // the queue_depth view counts the in-flight jobs the MCP Jobs design's query misses
        assert_eq!(
            rows_of(
                "SELECT source, job_type, queued, processing, due_now FROM mcp_jobs.queue_depth",
                "designq_"
            ),
            vec!["designq_a|sync|3|2|3", "designq_b|discovery|1|0|1"]
        );
    }

    // -----------------------------------------------------------------------------------------
    // Alerts at, just below and just above each threshold (the design's defaults, and set per transaction)
    // -----------------------------------------------------------------------------------------
    fn alerts_for(source: &str) -> Vec<String> {
        Spi::connect(|c| {
            c.select(
                "SELECT format('%s|%s|%s|%s', level, metric, value, threshold)
                   FROM mcp_jobs.alerts() WHERE source = $1 ORDER BY metric",
                None,
                &[source.into()],
            )
            .unwrap()
            .map(|r| r.get::<String>(1).unwrap().unwrap())
            .collect()
        })
    }

    fn add_depth(source: &str, queued: i32, processing: i32) {
        for (q, n) in [
            ("INSERT INTO mcp_jobs.jobs (source, job_type) SELECT $1, 't' FROM generate_series(1, $2)", queued),
            (
                "INSERT INTO mcp_jobs.jobs (source, job_type, status, lease_expires_at, current_run_id, attempts)
                   SELECT $1, 't', 'processing', now() + interval '1 hour', mcp_jobs.uuidv7(), 1
                     FROM generate_series(1, $2)",
                processing,
            ),
            // a finished job, which is not part of the depth
            (
                "INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at, attempts)
                   SELECT $1, 't', 'completed', now(), 1 FROM generate_series(1, $2)",
                1,
            ),
        ] {
            Spi::run_with_args(q, &[source.into(), n.into()]).unwrap();
        }
    }

    fn add_dead_letters(source: &str, unresolved: i32) {
        for (q, n) in [
            (
                "INSERT INTO mcp_jobs.dead_letter_queue (job_id, source, job_type, payload, attempts)
                   SELECT mcp_jobs.uuidv7(), $1, 't', '{}', 3 FROM generate_series(1, $2)",
                unresolved,
            ),
            // resolved dead letters do not count
            (
                "INSERT INTO mcp_jobs.dead_letter_queue (job_id, source, job_type, payload, attempts, resolved, resolved_at, resolution)
                   SELECT mcp_jobs.uuidv7(), $1, 't', '{}', 3, true, now(), 'resolved' FROM generate_series(1, $2)",
                4,
            ),
        ] {
            Spi::run_with_args(q, &[source.into(), n.into()]).unwrap();
        }
    }

    fn add_outcomes(source: &str, completed: i32, failed: i32) {
        // plus old failures (created 8 days ago) that are outside the 7-day window
        for (q, n) in [
            (
                "INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at, attempts)
                   SELECT $1, 't', 'completed', now(), 1 FROM generate_series(1, $2)",
                completed,
            ),
            (
                "INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at, attempts)
                   SELECT $1, 't', 'failed', now(), 3 FROM generate_series(1, $2)",
                failed,
            ),
            (
                "INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at, attempts, created_at)
                   SELECT $1, 't', 'failed', now(), 3, now() - interval '8 days' FROM generate_series(1, $2)",
                50,
            ),
        ] {
            Spi::run_with_args(q, &[source.into(), n.into()]).unwrap();
        }
    }

    #[pg_test]
    fn alert_levels_at_and_around_thresholds() {
        // (source, setup, expected alert rows for that source)
        type Setup = Box<dyn Fn(&str)>;
        let cases: Vec<(&str, Setup, Vec<&str>)> = vec![
            ("al_q49", Box::new(|s| add_depth(s, 49, 0)), vec![]),
            ("al_q50", Box::new(|s| add_depth(s, 48, 2)), vec![]),
            (
                "al_q51",
                Box::new(|s| add_depth(s, 50, 1)),
                vec!["warning|queue_depth|51|50"],
            ),
            (
                "al_q100",
                Box::new(|s| add_depth(s, 100, 0)),
                vec!["warning|queue_depth|100|50"],
            ),
            (
                "al_q101",
                Box::new(|s| add_depth(s, 99, 2)),
                vec!["critical|queue_depth|101|100"],
            ),
            ("al_d5", Box::new(|s| add_dead_letters(s, 5)), vec![]),
            (
                "al_d6",
                Box::new(|s| add_dead_letters(s, 6)),
                vec!["warning|dead_letter_unresolved|6|5"],
            ),
            (
                "al_d10",
                Box::new(|s| add_dead_letters(s, 10)),
                vec!["warning|dead_letter_unresolved|10|5"],
            ),
            (
                "al_d11",
                Box::new(|s| add_dead_letters(s, 11)),
                vec!["critical|dead_letter_unresolved|11|10"],
            ),
            ("al_r91", Box::new(|s| add_outcomes(s, 91, 9)), vec![]),
            ("al_r90", Box::new(|s| add_outcomes(s, 90, 10)), vec![]),
            (
                "al_r89",
                Box::new(|s| add_outcomes(s, 89, 11)),
                vec!["warning|success_rate|0.89|0.9"],
            ),
            (
                "al_r80",
                Box::new(|s| add_outcomes(s, 80, 20)),
                vec!["warning|success_rate|0.8|0.9"],
            ),
            (
                "al_r79",
                Box::new(|s| add_outcomes(s, 79, 21)),
                vec!["critical|success_rate|0.79|0.8"],
            ),
            ("al_none", Box::new(|s| add_depth(s, 0, 0)), vec![]),
        ];
        for (source, setup, _) in &cases {
            setup(source);
        }
        for (source, _, want) in &cases {
            assert_eq!(
                alerts_for(source),
                *want,
                "alerts of {source} with the MCP Jobs design's thresholds"
            );
        }
        // every row has a message naming the level and the source
        assert_eq!(
            one::<i64>(
                "SELECT count(*) FROM mcp_jobs.alerts()
                  WHERE source LIKE 'al\\_%' AND (message NOT LIKE level || ': %' OR message NOT LIKE '%' || source || '%')"
            ),
            Some(0)
        );

        // thresholds are settings: lower the critical depth and raise the success-rate warning
        sql("SET LOCAL mcp_jobs.alert_queue_depth_critical = 50;
             SET LOCAL mcp_jobs.alert_queue_depth_warning = 49;
             SET LOCAL mcp_jobs.alert_dead_letter_critical = 5;
             SET LOCAL mcp_jobs.alert_success_rate_warning = 0.95;");
        let overridden = [
            ("al_q49", vec![]),
            ("al_q50", vec!["warning|queue_depth|50|49"]),
            ("al_q51", vec!["critical|queue_depth|51|50"]),
            ("al_d5", vec![]),
            ("al_d6", vec!["critical|dead_letter_unresolved|6|5"]),
            ("al_r91", vec!["warning|success_rate|0.91|0.95"]),
        ];
        for (source, want) in overridden {
            assert_eq!(
                alerts_for(source),
                want,
                "alerts of {source} with SET LOCAL thresholds"
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // run_maintenance
    // -----------------------------------------------------------------------------------------
    #[pg_test]
    fn maintenance_expires_leases_aggregates_and_prunes() {
        sql("SET LOCAL mcp_jobs.retention = '7d';
             -- an expired lease with attempts left, and one without
             INSERT INTO mcp_jobs.jobs (id, source, job_type, status, attempts, max_attempts, lease_expires_at, current_run_id)
             VALUES ('00000000-0000-7000-8000-0000000001a1', 'mnt_src', 't', 'processing', 1, 3, now() - interval '1 second', '00000000-0000-7000-8000-0000000001b1'),
                    ('00000000-0000-7000-8000-0000000001a2', 'mnt_src', 't', 'processing', 3, 3, now() - interval '1 second', '00000000-0000-7000-8000-0000000001b2');
             INSERT INTO mcp_jobs.job_runs (id, job_id, attempt, started_at, lease_seconds)
             VALUES ('00000000-0000-7000-8000-0000000001b1', '00000000-0000-7000-8000-0000000001a1', 1, now() - interval '2 seconds', 1),
                    ('00000000-0000-7000-8000-0000000001b2', '00000000-0000-7000-8000-0000000001a2', 3, now() - interval '2 seconds', 1);
             -- finished jobs: old (pruned), old with an unresolved dead letter (kept), old with a
             -- resolved one (pruned, the dead letter stays), recent (kept)
             INSERT INTO mcp_jobs.jobs (id, source, job_type, status, attempts, finished_at, created_at)
             VALUES ('00000000-0000-7000-8000-0000000002a1', 'mnt_old', 't', 'completed', 1, now() - interval '8 days', now() - interval '9 days'),
                    ('00000000-0000-7000-8000-0000000002a2', 'mnt_old', 't', 'failed', 3, now() - interval '8 days', now() - interval '9 days'),
                    ('00000000-0000-7000-8000-0000000002a3', 'mnt_old', 't', 'failed', 3, now() - interval '8 days', now() - interval '9 days'),
                    ('00000000-0000-7000-8000-0000000002a4', 'mnt_old', 't', 'cancelled', 0, now() - interval '6 days', now() - interval '9 days');
             INSERT INTO mcp_jobs.job_runs (job_id, attempt, started_at, finished_at, outcome, lease_seconds)
             VALUES ('00000000-0000-7000-8000-0000000002a1', 1, now() - interval '8 days 1 minute', now() - interval '8 days', 'completed', 60);
             INSERT INTO mcp_jobs.job_events (job_id, event_type, created_at)
             VALUES ('00000000-0000-7000-8000-0000000002a1', 'completed', now() - interval '8 days');
             INSERT INTO mcp_jobs.dead_letter_queue (job_id, source, job_type, payload, attempts)
             VALUES ('00000000-0000-7000-8000-0000000002a2', 'mnt_old', 't', '{}', 3);
             INSERT INTO mcp_jobs.dead_letter_queue (job_id, source, job_type, payload, attempts, resolved, resolved_at, resolution)
             VALUES ('00000000-0000-7000-8000-0000000002a3', 'mnt_old', 't', '{}', 3, true, now(), 'resolved');
             INSERT INTO mcp_jobs.metrics (hour, source, job_type, enqueued)
             VALUES (date_trunc('hour', now() - interval '8 days', 'UTC'), 'mnt_old', 't', 1);");

        let report = one::<pgrx::JsonB>("SELECT mcp_jobs.run_maintenance()")
            .unwrap()
            .0;
        assert!(report["leases_requeued"].as_i64().unwrap() >= 1, "{report}");
        assert!(
            report["leases_dead_lettered"].as_i64().unwrap() >= 1,
            "{report}"
        );
        assert!(report["jobs_pruned"].as_i64().unwrap() >= 2, "{report}");
        assert_eq!(report["retention_seconds"], 7 * 24 * 3600, "{report}");

        let status = |id: &str| {
            Spi::get_one_with_args::<String>(
                "SELECT coalesce((SELECT status FROM mcp_jobs.jobs WHERE id = $1::uuid), 'gone')",
                &[id.into()],
            )
            .unwrap()
            .unwrap()
        };
        let cases = [
            ("00000000-0000-7000-8000-0000000001a1", "queued"),
            ("00000000-0000-7000-8000-0000000001a2", "failed"),
            ("00000000-0000-7000-8000-0000000002a1", "gone"),
            ("00000000-0000-7000-8000-0000000002a2", "failed"),
            ("00000000-0000-7000-8000-0000000002a3", "gone"),
            ("00000000-0000-7000-8000-0000000002a4", "cancelled"),
        ];
        for (id, want) in cases {
            assert_eq!(status(id), want, "job {id}");
        }
        // runs and events of pruned jobs went with them; dead letters and metrics stay
        assert_eq!(
            one::<i64>("SELECT count(*) FROM mcp_jobs.job_runs WHERE job_id = '00000000-0000-7000-8000-0000000002a1'"),
            Some(0)
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM mcp_jobs.job_events WHERE job_id = '00000000-0000-7000-8000-0000000002a1'"),
            Some(0)
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM mcp_jobs.dead_letter_queue WHERE source = 'mnt_old'"),
            Some(2)
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM mcp_jobs.metrics WHERE source = 'mnt_old'"),
            Some(1)
        );
        // the metrics roll forward only up to the start of the oldest open transaction (this
        // one): its events, dated now(), are not counted yet, so no round can miss them
        let to = report["metrics_to"].as_str().unwrap().to_string();
        assert_eq!(
            Spi::get_one_with_args::<bool>(
                "SELECT $1::timestamptz <= now()",
                &[to.as_str().into()]
            )
            .unwrap(),
            Some(true),
            "{report}"
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM mcp_jobs.metrics WHERE source = 'mnt_src'"),
            Some(0)
        );
        // nor does a recomputation (it counts up to the watermark, which the next rounds move):
        // counted once, by the round after this transaction (tests/test_maintenance.py)
        sql("SELECT mcp_jobs.aggregate_metrics()");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM mcp_jobs.metrics WHERE source = 'mnt_src'"),
            Some(0)
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM mcp_jobs.job_events e JOIN mcp_jobs.jobs j ON j.id = e.job_id WHERE j.source = 'mnt_src' AND e.event_type = 'lease_expired'"),
            Some(2)
        );

        // retention 0 keeps everything
        sql("SET LOCAL mcp_jobs.retention = 0");
        let report = one::<pgrx::JsonB>("SELECT mcp_jobs.run_maintenance()")
            .unwrap()
            .0;
        assert_eq!(report["jobs_pruned"], 0, "{report}");
        assert_eq!(status("00000000-0000-7000-8000-0000000002a4"), "cancelled");
    }

    /// Boots the test framework for the plain #[test] below.
    #[pg_test]
    fn metrics_boot() {
        // the preloaded test configuration (lib.rs, pg_test::postgresql_conf_options)
        assert_eq!(
            one::<String>("SELECT current_database()::text").as_deref(),
            Some("pgrx_tests")
        );
        assert_eq!(
            one::<String>("SELECT current_setting('mcp_jobs.database')").as_deref(),
            Some("postgres")
        );
        assert_eq!(
            one::<String>("SELECT current_setting('mcp_jobs.maintenance_interval')").as_deref(),
            Some("1s")
        );
    }
}

/// With the library preloaded (pg_test::postgresql_conf_options), the background worker requeues a
/// job whose lease expired and writes metrics, with no client call to maintenance. Committed data,
/// so a plain test with an autocommit client.
#[cfg(test)]
mod preloaded {
    use std::time::{Duration, Instant};

    fn poll<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[test]
    fn preloaded_worker_expires_leases_and_aggregates() {
        pgrx_tests::run_test(
            "metrics_boot",
            None,
            crate::pg_test::postgresql_conf_options(),
        )
        .expect("test framework");
        // the worker's database (mcp_jobs.database = 'postgres'), on the test cluster
        let (mut test_db, _) = pgrx_tests::client().expect("client");
        let r = test_db
            .query_one(
                "SELECT current_setting('port')::int, current_user::text",
                &[],
            )
            .expect("port");
        let (port, user): (i32, String) = (r.get(0), r.get(1));
        let mut client = postgres::Config::new()
            .host("localhost")
            .port(u16::try_from(port).expect("port"))
            .user(&user)
            .dbname("postgres")
            .connect(postgres::NoTls)
            .expect("connect to database postgres");

        // the worker idles until the extension exists in its database
        client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS mcp_jobs")
            .expect("create extension");
        let worker_q = "SELECT pid, (xact_start IS NULL AND backend_xid IS NULL)
                          FROM pg_stat_activity WHERE backend_type = 'mcp_jobs maintenance' AND datname = 'postgres'";

        // the worker runs, and is idle (no transaction) between rounds
        let worker_pid: i32 = poll(
            "an idle maintenance worker",
            Duration::from_secs(30),
            || {
                let rows = client.query(worker_q, &[]).ok()?;
                rows.iter()
                    .find(|r| r.get::<_, bool>(1))
                    .map(|r| r.get::<_, i32>(0))
            },
        );

        let job: String = client
            .query_one(
                "SELECT mcp_jobs.enqueue_job('bgw_src', 'lease_test')::text",
                &[],
            )
            .expect("enqueue")
            .get(0);
        let claimed = client
            .query(
                "SELECT id::text FROM mcp_jobs.claim_next_job(p_sources => ARRAY['bgw_src'], p_lease_seconds => 1)",
                &[],
            )
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].get::<_, String>(0), job);

        let check = format!(
            "SELECT (SELECT status FROM mcp_jobs.jobs WHERE id = '{job}')
                  , EXISTS (SELECT 1 FROM mcp_jobs.job_events WHERE job_id = '{job}' AND event_type = 'lease_expired')
                  , EXISTS (SELECT 1 FROM mcp_jobs.metrics WHERE source = 'bgw_src' AND job_type = 'lease_test'
                               AND lease_expired >= 1 AND enqueued >= 1)"
        );
        poll(
            "requeue after the lease expired, and metrics",
            Duration::from_secs(30),
            || {
                let r = client.query_one(check.as_str(), &[]).ok()?;
                let (status, event, metrics): (String, bool, bool) = (r.get(0), r.get(1), r.get(2));
                (status == "queued" && event && metrics).then_some(())
            },
        );

        // SIGTERM stops the worker promptly; the postmaster starts it again (restart delay 1 s)
        client
            .execute("SELECT pg_terminate_backend($1)", &[&worker_pid])
            .expect("terminate");
        poll(
            "the worker to exit on SIGTERM",
            Duration::from_secs(5),
            || {
                let rows = client
                    .query(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = $1",
                        &[&worker_pid],
                    )
                    .ok()?;
                rows.is_empty().then_some(())
            },
        );
        poll("a new maintenance worker", Duration::from_secs(30), || {
            let rows = client.query(worker_q, &[]).ok()?;
            rows.iter()
                .map(|r| r.get::<_, i32>(0))
                .find(|p| *p != worker_pid)
        });
    }
}
