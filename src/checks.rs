//! The CHECK constraints of jobs, job_runs and job_events call these functions, which apply the
//! rules of src/rules.rs: every row written by anyone, functions and direct DML alike, is held to
//! the same rules. PostgreSQL compiles a CHECK expression for every statement, and one function
//! call per row is cheap to compile (docs/design.md#row-rules).
//!
//! A broken rule raises check_violation (23514) naming the table, the constraint, the rule and the
//! value, so that the error says more than PostgreSQL's "violates check constraint" would.
use crate::raw_jsonb::JsonbKind;
use crate::rules::{event_rules, job_rules, raise_broken, run_rules};
use pgrx::prelude::*;

/// CHECK constraint `jobs_row_check` of mcp_jobs.jobs.
#[allow(clippy::too_many_arguments)]
#[pg_extern(immutable, parallel_safe, name = "_jobs_row_check")]
fn jobs_row_check_keyed(
    status: Option<&str>,
    source: Option<&str>,
    job_type: Option<&str>,
    payload: Option<JsonbKind>,
    priority: Option<i32>,
    attempts: Option<i32>,
    max_attempts: Option<i32>,
    idempotency_key: Option<&str>,
    concurrency_key: Option<&str>,
    lease_expires_at: Option<TimestampWithTimeZone>,
    current_run_id: Option<pgrx::Uuid>,
    finished_at: Option<TimestampWithTimeZone>,
) -> bool {
    match job_rules(
        status,
        source,
        job_type,
        payload,
        priority,
        attempts,
        max_attempts,
        idempotency_key,
        concurrency_key,
        lease_expires_at.is_some(),
        current_run_id.is_some(),
        finished_at.is_some(),
    ) {
        Ok(()) => true,
        Err(b) => raise_broken("jobs", b),
    }
}

/// 0.3.0-0.6.1's jobs_row_check (no concurrency key): the CHECK of a database still on those SQL
/// objects until ALTER EXTENSION UPDATE (src/compat.rs explains why old symbols stay).
#[allow(clippy::too_many_arguments)]
#[pg_extern(sql = false)]
fn jobs_row_check(
    status: Option<&str>,
    source: Option<&str>,
    job_type: Option<&str>,
    payload: Option<JsonbKind>,
    priority: Option<i32>,
    attempts: Option<i32>,
    max_attempts: Option<i32>,
    idempotency_key: Option<&str>,
    lease_expires_at: Option<TimestampWithTimeZone>,
    current_run_id: Option<pgrx::Uuid>,
    finished_at: Option<TimestampWithTimeZone>,
) -> bool {
    jobs_row_check_keyed(
        status,
        source,
        job_type,
        payload,
        priority,
        attempts,
        max_attempts,
        idempotency_key,
        None,
        lease_expires_at,
        current_run_id,
        finished_at,
    )
}

/// CHECK constraint `job_runs_row_check` of mcp_jobs.job_runs.
#[pg_extern(immutable, parallel_safe, name = "_job_runs_row_check")]
fn job_runs_row_check(
    attempt: Option<i32>,
    outcome: Option<&str>,
    finished_at: Option<TimestampWithTimeZone>,
) -> bool {
    match run_rules(attempt, outcome, finished_at.is_some()) {
        Ok(()) => true,
        Err(b) => raise_broken("job_runs", b),
    }
}

/// CHECK constraint `job_events_row_check` of mcp_jobs.job_events.
#[pg_extern(immutable, parallel_safe, name = "_job_events_row_check")]
fn job_events_row_check(event_type: Option<&str>) -> bool {
    match event_rules(event_type) {
        Ok(()) => true,
        Err(b) => raise_broken("job_events", b),
    }
}

/// Trigger queues_changed of mcp_jobs.queues: tell every backend's settings cache (src/flow.rs)
/// that the table changed, at commit.
#[no_mangle]
pub extern "C" fn pg_finfo_mcp_jobs_queues_changed() -> &'static pgrx::pg_sys::Pg_finfo_record {
    static V1: pgrx::pg_sys::Pg_finfo_record = pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// # Safety
/// Called by PostgreSQL's trigger manager with a TriggerData context.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn mcp_jobs_queues_changed(
    fcinfo: pgrx::pg_sys::FunctionCallInfo,
) -> pgrx::pg_sys::Datum {
    // SAFETY: a trigger call; context is TriggerData with the table's relation.
    unsafe {
        let data = (*fcinfo).context as *mut pgrx::pg_sys::TriggerData;
        if !data.is_null() {
            pgrx::pg_sys::CacheInvalidateRelcache((*data).tg_relation);
        }
        crate::wake::all_ready();
        pgrx::pg_sys::Datum::from(0)
    }
}
