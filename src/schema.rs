//! DDL: the tables and indexes (sql/schema.sql); the PostgREST-facing wrappers in schema `public`,
//! the access helpers and the conditional grants (sql/public_api.sql), once every function exists;
//! and last the comments and privileges (sql/finalize.sql).
use pgrx::prelude::*;

extension_sql_file!(
    "../sql/schema.sql",
    name = "schema",
    requires = [
        mcp_jobs::uuid7::uuidv7_sql,
        mcp_jobs::checks::jobs_row_check_keyed,
        mcp_jobs::checks::job_runs_row_check,
        mcp_jobs::checks::job_events_row_check,
        mcp_jobs::jobs::delete_history,
    ]
);
extension_sql_file!(
    "../sql/public_api.sql",
    name = "public_api",
    requires = [
        "schema",
        mcp_jobs::uuid7::uuidv7_sql,
        mcp_jobs::uuid7::uuidv7_time,
        mcp_jobs::retry::retry_delay,
        mcp_jobs::enqueue::enqueue_job_keyed,
        mcp_jobs::enqueue::enqueue_jobs,
        mcp_jobs::claim::claim_next_job_wait,
        mcp_jobs::claim::claim_jobs_wait,
        mcp_jobs::lifecycle::complete_job,
        mcp_jobs::lifecycle::complete_and_claim_next,
        mcp_jobs::lifecycle::complete_jobs,
        mcp_jobs::lifecycle::fail_job_with_details,
        mcp_jobs::lifecycle::report_progress,
        mcp_jobs::lifecycle::cancel_job,
        mcp_jobs::dead_letter::requeue_dead_letter,
        mcp_jobs::dead_letter::resolve_dead_letter,
        mcp_jobs::api::list_jobs,
        mcp_jobs::api::get_job,
        mcp_jobs::api::get_job_stats,
        mcp_jobs::api::get_metrics,
        mcp_jobs::api::list_dead_letters,
        mcp_jobs::api::dead_letter_groups,
        mcp_jobs::dead_letter::requeue_dead_letters,
        mcp_jobs::dead_letter::resolve_dead_letters,
        mcp_jobs::metrics::alerts,
        mcp_jobs::queues::set_queue,
        mcp_jobs::queues::pause_queue,
        mcp_jobs::queues::resume_queue,
        mcp_jobs::queues::get_queues,
        mcp_jobs::schedule::schedule_job,
        mcp_jobs::schedule::unschedule_job,
        mcp_jobs::schedule::list_schedules,
        mcp_jobs::schedule::cron_next,
        mcp_jobs::api::diagnostics,
        "monitoring",
    ]
);
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);
