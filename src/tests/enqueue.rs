//! Tests: enqueue_job: defaults, payload forms, options, idempotency.
#[pgrx::pg_schema]
mod tests {
    use crate::test_util::*;
    use pgrx::prelude::*;

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
}
