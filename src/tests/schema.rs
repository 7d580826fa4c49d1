//! Tests: The tables themselves: row rules for direct DML, history triggers, dump registration, comments, key lookups.
#[pgrx::pg_schema]
mod tests {
    use crate::test_util::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn every_table_is_dumped_with_its_data() {
        // every table of the schema, and the event id sequence
        let missing: i64 = q(
            "SELECT count(*) FROM pg_class c
              WHERE c.relnamespace = 'mcp_jobs'::regnamespace AND c.relkind IN ('r', 'p', 'S')
                AND c.relname <> 'maintenance_state' -- state, made again by CREATE EXTENSION
                AND c.oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'mcp_jobs')::oid[])",
        );
        assert_eq!(
            missing, 0,
            "every table and sequence is registered with pg_extension_config_dump"
        );
        let n: i64 = q(
            "SELECT count(*) FROM pg_extension e, unnest(e.extconfig) AS c(oid)
              WHERE e.extname = 'mcp_jobs'",
        );
        assert_eq!(n, 8, "7 tables and the event id sequence");
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
}
