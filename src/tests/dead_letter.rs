//! Tests: The dead-letter queue: requeue and resolve.
#[pgrx::pg_schema]
mod tests {
    use crate::test_util::*;
    use pgrx::prelude::*;

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

    /// A job of source `s` failed for good with `error` and `details`; (job id, dead letter id).
    fn dead_with(s: &str, error: &str, details: &str) -> (pgrx::Uuid, pgrx::Uuid) {
        let id: pgrx::Uuid = qa(
            "SELECT mcp_jobs.enqueue_job($1, 't', '{}', 5, NULL, 1)",
            &[s.into()],
        );
        let run: pgrx::Uuid = qa(
            "SELECT run_id FROM mcp_jobs.claim_next_job('w', ARRAY[$1])",
            &[s.into()],
        );
        exec(&format!(
            "SELECT mcp_jobs.fail_job('{id}', '{run}', '{error}', true, '{details}'::jsonb)"
        ));
        let dl: pgrx::Uuid = qa(
            "SELECT id FROM mcp_jobs.dead_letter_queue WHERE job_id = $1",
            &[id.into()],
        );
        (id, dl)
    }

    #[pg_test]
    fn fail_details_reach_the_event_and_the_dead_letter() {
        let (id, dl) = dead_with(
            "fd",
            "boom",
            r#"{"analysis": {"shouldRetry": false, "reason": "bad input"}}"#,
        );
        let ev: String = qa(
            "SELECT data->'details'->'analysis'->>'reason' FROM mcp_jobs.job_events
              WHERE job_id = $1 AND event_type = 'failed'",
            &[id.into()],
        );
        assert_eq!(ev, "bad input");
        let d: String = qa(
            "SELECT details->'analysis'->>'reason' FROM mcp_jobs.dead_letter_queue WHERE id = $1",
            &[dl.into()],
        );
        assert_eq!(d, "bad input");
        // without details: no key in the event, NULL in the dead letter
        let id2: pgrx::Uuid = q("SELECT mcp_jobs.enqueue_job('fd2', 't', '{}', 5, NULL, 1)");
        let run: pgrx::Uuid = q("SELECT run_id FROM mcp_jobs.claim_next_job('w', ARRAY['fd2'])");
        exec(&format!("SELECT mcp_jobs.fail_job('{id2}', '{run}', 'x')"));
        let none: bool = qa(
            "SELECT NOT (data ? 'details') AND (SELECT details IS NULL FROM mcp_jobs.dead_letter_queue WHERE job_id = $1)
               FROM mcp_jobs.job_events WHERE job_id = $1 AND event_type = 'failed'",
            &[id2.into()],
        );
        assert!(none);
    }

    #[pg_test]
    fn requeue_and_resolve_many_are_all_or_nothing() {
        let (a, dla) = dead_with("m1", "e1", "{}");
        let (b, dlb) = dead_with("m2", "e2", "{}");
        let (_, dlc) = dead_with("m3", "e3", "{}");
        exec(&format!("SELECT mcp_jobs.resolve_dead_letter('{dlc}')"));
        // one resolved among them: refused, nothing changed
        let err = crate::test_util::try_sql(&format!(
            "SELECT * FROM mcp_jobs.requeue_dead_letters(ARRAY['{dla}', '{dlc}']::uuid[])"
        ));
        assert!(err.starts_with("55000 dead letter"), "{err}");
        assert_eq!(status(a), "failed");
        // both open: both requeued, rows in input order
        let rows: String = q(&format!(
            "SELECT string_agg(id::text || '>' || job_id::text, ',' ORDER BY ord)
               FROM mcp_jobs.requeue_dead_letters(ARRAY['{dlb}', '{dla}']::uuid[]) WITH ORDINALITY AS r(id, job_id, ord)"
        ));
        assert_eq!(rows, format!("{dlb}>{b},{dla}>{a}"));
        assert_eq!(status(a), "queued");
        assert_eq!(status(b), "queued");
        // resolve many with one note
        let (_, d1) = dead_with("m4", "e4", "{}");
        let (_, d2) = dead_with("m5", "e5", "{}");
        let n: i64 = q(&format!(
            "SELECT mcp_jobs.resolve_dead_letters(ARRAY['{d1}', '{d2}']::uuid[], 'known outage')"
        ));
        assert_eq!(n, 2);
        let notes: i64 = q(&format!(
            "SELECT count(*) FROM mcp_jobs.dead_letter_queue
              WHERE id IN ('{d1}', '{d2}') AND resolved AND resolution = 'resolved' AND resolution_note = 'known outage'"
        ));
        assert_eq!(notes, 2);
    }

    #[pg_test]
    fn list_and_group_dead_letters() {
        exec("DELETE FROM mcp_jobs.dead_letter_queue");
        let (_, d1) = dead_with("ga", "timeout after 30s", "{}");
        let (_, d2) = dead_with("ga", "timeout after 30s", "{}");
        let (_, d3) = dead_with("gb", "bad input\nline 2", "{}");
        exec(&format!("SELECT mcp_jobs.resolve_dead_letter('{d3}')"));
        // default: open ones, newest first
        let open: String = q("SELECT string_agg(id::text, ',') FROM mcp_jobs.list_dead_letters()");
        assert_eq!(open, format!("{d2},{d1}"));
        let all: i64 = q("SELECT count(*) FROM mcp_jobs.list_dead_letters(p_resolved => NULL)");
        assert_eq!(all, 3);
        let resolved: String = q(
            "SELECT string_agg(id::text, ',') FROM mcp_jobs.list_dead_letters(p_resolved => true)",
        );
        assert_eq!(resolved, d3.to_string());
        // keyset paging
        let page2: String = qa(
            "SELECT string_agg(id::text, ',') FROM mcp_jobs.list_dead_letters(p_limit => 1, p_before => $1)",
            &[d2.into()],
        );
        assert_eq!(page2, d1.to_string());
        let by_source: i64 = q(
            "SELECT count(*) FROM mcp_jobs.list_dead_letters(p_source => 'gb', p_resolved => NULL)",
        );
        assert_eq!(by_source, 1);
        // groups: by source, type and the error's first line
        let groups: String = q(
            "SELECT string_agg(concat_ws('|', source, job_type, error, dead_letters, cardinality(ids)), ';')
               FROM mcp_jobs.dead_letter_groups(NULL)",
        );
        assert_eq!(groups, "ga|t|timeout after 30s|2|2;gb|t|bad input|1|1");
        let open_groups: i64 = q("SELECT count(*) FROM mcp_jobs.dead_letter_groups()");
        assert_eq!(open_groups, 1);
    }
}
