//! Row rules of the three hot tables (jobs, job_runs, job_events), as CHECK constraints that call
//! one small function per table.
//!
//! PostgreSQL 15 reads every CHECK constraint's expression back from its stored text and compiles
//! it again for every INSERT and UPDATE statement. With the rules written as SQL expressions (eleven
//! on jobs, the `IN (...)` lists among them) that was the largest single cost of a job's lifecycle:
//! 18 % of backend CPU, 24 % of the server time per job in an A/B (bench/ANALYSIS.md). A call of one
//! function with a few column references is read and compiled in a fraction of that time, and the
//! rules stay the same: every row written by anyone, functions and direct DML alike, is checked.
//!
//! A broken rule raises check_violation (23514) naming the table, the constraint, the rule and the
//! value, so that the error says more than PostgreSQL's "violates check constraint" would.
use crate::api::STATUSES;
use crate::enqueue::{MAX_MAX_ATTEMPTS, MAX_PRIORITY, MIN_PRIORITY, NAME_MAX};
use crate::errors::JobError;
use crate::raw_jsonb::JsonbKind;
use pgrx::prelude::*;

pub const RUN_OUTCOMES: [&str; 3] = ["completed", "failed", "lease_expired"];
pub const EVENT_TYPES: [&str; 11] = [
    "enqueued",
    "started",
    "progress",
    "completed",
    "failed",
    "retry_scheduled",
    "dead_lettered",
    "cancelled",
    "lease_expired",
    "requeued",
    "resolved",
];

/// A broken rule: (constraint, what the rule is, what the row had).
type Broken = (&'static str, String, String);

fn raise(table: &'static str, (constraint, rule, detail): Broken) -> ! {
    JobError::RowCheck {
        table,
        constraint,
        rule,
        detail,
    }
    .report(constraint)
}

fn name_rule(
    value: Option<&str>,
    column: &'static str,
    constraint: &'static str,
) -> Result<(), Broken> {
    let Some(v) = value else { return Ok(()) }; // NOT NULL is the column's own constraint
    if v.is_empty() || (v.len() > NAME_MAX && v.chars().count() > NAME_MAX) {
        return Err((
            constraint,
            format!("{column} must be non-empty text of at most {NAME_MAX} characters"),
            format!("{column} has {} characters.", v.chars().count()),
        ));
    }
    Ok(())
}

fn one_of(
    value: Option<&str>,
    allowed: &[&str],
    column: &'static str,
    constraint: &'static str,
) -> Result<(), Broken> {
    match value {
        Some(v) if !allowed.contains(&v) => Err((
            constraint,
            format!("{column} must be one of {}", allowed.join(", ")),
            format!("{column} is '{v}'."),
        )),
        _ => Ok(()),
    }
}

fn range(
    value: Option<i32>,
    lo: i32,
    hi: i32,
    column: &'static str,
    constraint: &'static str,
) -> Result<(), Broken> {
    match value {
        Some(v) if v < lo || v > hi => Err((
            constraint,
            if hi == i32::MAX {
                format!("{column} must be at least {lo}")
            } else {
                format!("{column} must be between {lo} and {hi}")
            },
            format!("{column} is {v}."),
        )),
        _ => Ok(()),
    }
}

/// The rules of one jobs row; Err names the first broken one.
#[allow(clippy::too_many_arguments)]
pub fn job_rules(
    status: Option<&str>,
    source: Option<&str>,
    job_type: Option<&str>,
    payload: Option<JsonbKind>,
    priority: Option<i32>,
    attempts: Option<i32>,
    max_attempts: Option<i32>,
    idempotency_key: Option<&str>,
    has_lease: bool,
    has_run: bool,
    has_finished_at: bool,
) -> Result<(), Broken> {
    const C: &str = "jobs_row_check";
    one_of(status, &STATUSES, "status", C)?;
    name_rule(source, "source", C)?;
    name_rule(job_type, "job_type", C)?;
    if let Some(kind) = payload {
        if !kind.is_object() {
            return Err((
                C,
                "payload must be a JSON object".into(),
                format!("payload is a JSON {}.", kind.name()),
            ));
        }
    }
    range(priority, MIN_PRIORITY, MAX_PRIORITY, "priority", C)?;
    range(attempts, 0, i32::MAX, "attempts", C)?;
    range(max_attempts, 1, MAX_MAX_ATTEMPTS, "max_attempts", C)?;
    name_rule(idempotency_key, "idempotency_key", C)?;
    if let Some(s) = status {
        let processing = s == "processing";
        if processing != has_lease {
            return Err((
                C,
                "a job has a lease (lease_expires_at) exactly while it is processing".into(),
                format!(
                    "status is '{s}' and lease_expires_at is {}.",
                    if has_lease { "set" } else { "NULL" }
                ),
            ));
        }
        if processing && !has_run {
            return Err((
                C,
                "a processing job has a current run (current_run_id)".into(),
                "status is 'processing' and current_run_id is NULL.".into(),
            ));
        }
        let terminal = matches!(s, "completed" | "failed" | "cancelled");
        if terminal != has_finished_at {
            return Err((
                C,
                "finished_at is set exactly in the terminal states (completed, failed, cancelled)"
                    .into(),
                format!(
                    "status is '{s}' and finished_at is {}.",
                    if has_finished_at { "set" } else { "NULL" }
                ),
            ));
        }
    }
    Ok(())
}

/// CHECK constraint `jobs_row_check` of mcp_jobs.jobs.
#[allow(clippy::too_many_arguments)]
#[pg_extern(immutable, parallel_safe, name = "_jobs_row_check")]
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
    match job_rules(
        status,
        source,
        job_type,
        payload,
        priority,
        attempts,
        max_attempts,
        idempotency_key,
        lease_expires_at.is_some(),
        current_run_id.is_some(),
        finished_at.is_some(),
    ) {
        Ok(()) => true,
        Err(b) => raise("jobs", b),
    }
}

/// The rules of one job_runs row.
pub fn run_rules(
    attempt: Option<i32>,
    outcome: Option<&str>,
    finished: bool,
) -> Result<(), Broken> {
    const C: &str = "job_runs_row_check";
    range(attempt, 1, i32::MAX, "attempt", C)?;
    one_of(outcome, &RUN_OUTCOMES, "outcome", C)?;
    if outcome.is_some() != finished {
        return Err((
            C,
            "a run is open (no outcome, no finished_at) or closed (both)".into(),
            format!(
                "outcome is {} and finished_at is {}.",
                if outcome.is_some() { "set" } else { "NULL" },
                if finished { "set" } else { "NULL" }
            ),
        ));
    }
    Ok(())
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
        Err(b) => raise("job_runs", b),
    }
}

/// CHECK constraint `job_events_row_check` of mcp_jobs.job_events.
#[pg_extern(immutable, parallel_safe, name = "_job_events_row_check")]
fn job_events_row_check(event_type: Option<&str>) -> bool {
    match one_of(
        event_type,
        &EVENT_TYPES,
        "event_type",
        "job_events_row_check",
    ) {
        Ok(()) => true,
        Err(b) => raise("job_events", b),
    }
}
