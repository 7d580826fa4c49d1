//! The row rules and limits, in one place: what a status, event type or run outcome may be, how
//! long a name may be, the ranges of priority, attempts and leases, and what a payload must be.
//!
//! The functions check their arguments with these (and raise 22xxx/54000 with a hint); the CHECK
//! constraints of jobs, job_runs and job_events call the same rules through src/checks.rs (and
//! raise 23514), so that a row written by direct DML is held to exactly what the API allows.
use crate::config;
use crate::errors::{required, JobError, JobResult};
use crate::raw_jsonb::{JsonbKind, RawJsonb};

pub const STATUSES: [&str; 5] = ["queued", "processing", "completed", "failed", "cancelled"];
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

/// Longest source, job type, worker id, idempotency key or concurrency key (characters).
pub const NAME_MAX: usize = 200;
/// Job priorities, lowest to highest; 5 is the default.
pub const MIN_PRIORITY: i32 = 0;
pub const MAX_PRIORITY: i32 = 10;
pub const DEFAULT_PRIORITY: i32 = 5;
/// The most attempts a job may be given.
pub const MAX_MAX_ATTEMPTS: i32 = 1000;
/// The longest lease a claim may ask for (7 days), and the default.
pub const MAX_LEASE_SECONDS: i32 = 7 * 24 * 3600;
pub const DEFAULT_LEASE_SECONDS: i32 = 300;
/// Longest error text kept (characters); longer texts are cut and marked.
pub const MAX_ERROR_CHARS: usize = 10_000;
/// The most jobs one batch call (claim_jobs, complete_jobs, enqueue_jobs) takes.
pub const MAX_BATCH: usize = 1000;

/// Why a name is not acceptable, or None. Shared by the argument checks and the CHECK rules.
pub fn name_problem(v: &str) -> Option<&'static str> {
    if v.trim().is_empty() {
        return Some("must not be empty");
    }
    if v.len() > NAME_MAX && v.chars().count() > NAME_MAX {
        return Some("is longer than 200 characters");
    }
    if v.chars().any(char::is_control) {
        return Some("contains control characters");
    }
    None
}

/// A source, job type or key argument: not NULL, not blank, at most 200 characters, no control
/// characters.
pub fn check_name(value: Option<&str>, arg: &'static str, what: &'static str) -> JobResult<()> {
    let v = required(value, arg, "Pass a non-empty text value.")?;
    match name_problem(v) {
        None => Ok(()),
        Some(problem) => Err(JobError::invalid(
            arg,
            format!("{what} {problem}"),
            if problem.starts_with("is longer") {
                format!("{arg} has {} characters.", v.chars().count())
            } else if problem.starts_with("contains") {
                format!("{arg} contains a character below U+0020 or U+007F.")
            } else {
                format!("{arg} was '{v}'.")
            },
            match problem {
                "must not be empty" => {
                    format!("Pass a non-empty {what}, for example 'odoo' or 'discovery'.")
                }
                "contains control characters" => format!("Use printable characters in the {what}."),
                _ => format!("Use a shorter {what}; put long data in the payload."),
            },
        )),
    }
}

/// An optional name argument: NULL is fine, anything else as check_name.
pub fn check_optional_name(
    value: Option<&str>,
    arg: &'static str,
    what: &'static str,
) -> JobResult<()> {
    match value {
        None => Ok(()),
        Some(_) => check_name(value, arg, what),
    }
}

pub fn check_priority(priority: i32) -> JobResult<()> {
    if !(MIN_PRIORITY..=MAX_PRIORITY).contains(&priority) {
        return Err(JobError::invalid(
            "p_priority",
            format!("priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}"),
            format!("p_priority was {priority}."),
            "Use 0 (lowest) to 10 (highest); 5 is the default. Higher priorities are claimed first.",
        ));
    }
    Ok(())
}

pub fn check_max_attempts(max_attempts: i32) -> JobResult<()> {
    if !(1..=MAX_MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(JobError::invalid(
            "p_max_attempts",
            format!("max_attempts must be between 1 and {MAX_MAX_ATTEMPTS}"),
            format!("p_max_attempts was {max_attempts}."),
            "Pass at least 1 (one attempt, no retry) or NULL for mcp_jobs.default_max_attempts.",
        ));
    }
    Ok(())
}

pub fn check_lease(lease: i32, arg: &'static str) -> JobResult<()> {
    if !(1..=MAX_LEASE_SECONDS).contains(&lease) {
        return Err(JobError::invalid(
            arg,
            format!("lease must be between 1 and {MAX_LEASE_SECONDS} seconds"),
            format!("{arg} was {lease}."),
            "Pass how long the worker may hold the job before it is given to another worker; report_progress extends it.",
        ));
    }
    Ok(())
}

pub fn check_status(status: &str) -> JobResult<()> {
    if !STATUSES.contains(&status) {
        return Err(JobError::invalid(
            "p_status",
            format!("unknown status '{status}'"),
            format!("p_status was '{status}'."),
            format!("Use one of: {}; or NULL for any.", STATUSES.join(", ")),
        ));
    }
    Ok(())
}

/// A batch size argument: 1..MAX_BATCH.
pub fn check_batch(n: usize, arg: &'static str, what: &'static str) -> JobResult<()> {
    if n == 0 || n > MAX_BATCH {
        return Err(JobError::invalid(
            arg,
            format!("must hold 1 to {MAX_BATCH} {what}"),
            format!("{arg} has {n} entries."),
            "Split larger batches into several calls.",
        ));
    }
    Ok(())
}

/// The payload (or result, progress, details), or PayloadTooLarge when it exceeds
/// mcp_jobs.max_payload_bytes.
pub fn check_payload_size(payload: RawJsonb) -> JobResult<RawJsonb> {
    let limit = config::MAX_PAYLOAD_BYTES.get().max(0) as usize;
    if payload.size() > limit {
        return Err(JobError::PayloadTooLarge {
            size: payload.size(),
            limit,
        });
    }
    Ok(payload)
}

/// Cut an error text to MAX_ERROR_CHARS characters.
pub fn clip_error(error: &str) -> String {
    if error.chars().count() <= MAX_ERROR_CHARS {
        return error.to_string();
    }
    let mut s: String = error.chars().take(MAX_ERROR_CHARS).collect();
    s.push_str("… [truncated]");
    s
}

/// Normalize a payload to a JSON object: NULL stays NULL (the caller's default, {}), an object is
/// kept as it is, a JSON string holding a JSON object (as n8n sends `={{ $json }}`) is parsed;
/// anything else is refused. The size limit applies to the result.
pub fn normalize_payload(
    payload: Option<RawJsonb>,
    arg: &'static str,
) -> JobResult<Option<RawJsonb>> {
    let Some(payload) = payload else {
        return Ok(None);
    };
    if payload.is_object() {
        return check_payload_size(payload).map(Some);
    }
    let text = crate::native::jsonb_text(payload.clone().into_datum_unchecked());
    let inner: String = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => return Err(not_an_object(arg, &format!("a JSON {}", json_kind(&v)))),
        // a jsonb's text is valid JSON; serde only gives up on very deep nesting (an array or
        // object, never a string), which is not an object at the root either
        Err(_) => return Err(not_an_object(arg, "a deeply nested JSON array")),
    };
    // Check the text first so that invalid JSON is our clear 22P02, not jsonb_in's.
    match serde_json::from_str::<serde::de::IgnoredAny>(&inner) {
        Ok(_) => {}
        Err(e) if e.to_string().contains("recursion limit") => {}
        Err(e) => {
            return Err(JobError::InvalidJson {
                arg,
                detail: e.to_string(),
            })
        }
    }
    let trimmed = inner.trim_start();
    if !trimmed.starts_with('{') {
        let kind = serde_json::from_str::<serde_json::Value>(&inner)
            .map(|v| json_kind(&v))
            .unwrap_or("array");
        return Err(not_an_object(
            arg,
            &format!("a string holding a JSON {kind}"),
        ));
    }
    let parsed = RawJsonb::from_datum_copy(crate::native::jsonb_from_text(&inner));
    check_payload_size(parsed).map(Some)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn not_an_object(arg: &'static str, got: &str) -> JobError {
    JobError::invalid(
        arg,
        "must be a JSON object",
        format!("{arg} was {got}."),
        "Wrap the value in an object, for example {\"value\": ...}, or pass NULL for {}.",
    )
}

// ------------------------------------------------------------------------------ row rules
// Checked by the CHECK constraints (src/checks.rs) for every row anyone writes, and by the hot path
// before it writes a row itself (src/native/table.rs bypasses the executor and so the CHECKs).

/// A broken rule: (constraint, what the rule is, what the row had).
pub type Broken = (&'static str, String, String);

fn name_rule(value: Option<&str>, column: &'static str, c: &'static str) -> Result<(), Broken> {
    let Some(v) = value else { return Ok(()) }; // NOT NULL is the column's own constraint
    match name_problem(v) {
        None => Ok(()),
        Some(problem) => Err((
            c,
            format!("{column} must be non-empty text of at most {NAME_MAX} characters without control characters"),
            format!("{column} {problem} ({} characters).", v.chars().count()),
        )),
    }
}

fn one_of(
    value: Option<&str>,
    allowed: &[&str],
    column: &'static str,
    c: &'static str,
) -> Result<(), Broken> {
    match value {
        Some(v) if !allowed.contains(&v) => Err((
            c,
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
    c: &'static str,
) -> Result<(), Broken> {
    match value {
        Some(v) if v < lo || v > hi => Err((
            c,
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
    concurrency_key: Option<&str>,
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
    name_rule(concurrency_key, "concurrency_key", C)?;
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

/// The rule of one job_events row.
pub fn event_rules(event_type: Option<&str>) -> Result<(), Broken> {
    one_of(
        event_type,
        &EVENT_TYPES,
        "event_type",
        "job_events_row_check",
    )
}

/// Raise a broken rule as check_violation (23514) naming the table, the constraint and the rule.
pub fn raise_broken(table: &'static str, (constraint, rule, detail): Broken) -> ! {
    JobError::RowCheck {
        table,
        constraint,
        rule,
        detail,
    }
    .report(constraint)
}

/// For the hot path: a row it is about to write must keep the rules (it always does; this is the
/// CHECK constraint the executor would have evaluated).
pub fn expect_rules(table: &'static str, r: Result<(), Broken>) -> JobResult<()> {
    r.map_err(|(constraint, rule, detail)| JobError::RowCheck {
        table,
        constraint,
        rule,
        detail,
    })
}
