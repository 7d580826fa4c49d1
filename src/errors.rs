//! Every error a caller can cause, with a precise SQLSTATE, message, detail and hint.
//!
//! Standard SQLSTATEs only (a custom code raised from Rust reaches the client as XX000). The PostgREST
//! wrappers in `public` translate the three codes PostgREST would otherwise answer with 500:
//! P0002 (no_data_found) -> PT404, 55000 (object_not_in_prerequisite_state) -> PT409,
//! 54000 (program_limit_exceeded) -> PT413.
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::spi::SpiError;
use pgrx::{PgLogLevel, PgSqlErrorCode};

#[derive(Debug)]
pub enum JobError {
    /// A required argument was NULL.
    NullArgument {
        arg: &'static str,
        hint: &'static str,
    },
    /// An array argument has a NULL element (1-based index).
    NullElement {
        arg: &'static str,
        index: usize,
        hint: &'static str,
    },
    /// An argument is outside its domain.
    InvalidArgument {
        arg: &'static str,
        message: String,
        detail: String,
        hint: String,
    },
    /// A text argument (a JSON string payload) is not valid JSON.
    InvalidJson { arg: &'static str, detail: String },
    /// The payload is larger than `mcp_jobs.max_payload_bytes`.
    PayloadTooLarge { size: usize, limit: usize },
    /// No job has this id.
    JobNotFound { job_id: pgrx::Uuid },
    /// The job exists but is not in a state that allows the action.
    WrongState {
        job_id: pgrx::Uuid,
        action: &'static str,
        status: String,
        expected: &'static str,
    },
    /// The run id is not the job's current attempt (the lease expired and the job was claimed again).
    StaleRun {
        job_id: pgrx::Uuid,
        run_id: pgrx::Uuid,
        current: Option<pgrx::Uuid>,
        action: &'static str,
    },
    /// The run's lease expired and the job was taken from it (requeued, dead-lettered or claimed
    /// again).
    LeaseLost {
        job_id: pgrx::Uuid,
        run_id: pgrx::Uuid,
        current: Option<pgrx::Uuid>,
        action: &'static str,
        status: String,
    },
    /// No dead letter has this id.
    DeadLetterNotFound { id: pgrx::Uuid },
    /// The dead letter was already resolved or requeued.
    DeadLetterResolved { id: pgrx::Uuid, resolution: String },
    /// A row written to jobs, job_runs or job_events breaks one of the table's rules (the CHECK
    /// functions of src/checks.rs; raised for direct DML, the functions never write such rows).
    RowCheck {
        table: &'static str,
        constraint: &'static str,
        rule: String,
        detail: String,
    },
    /// The library and the extension's SQL objects in this database are of different versions (a
    /// new library installed, ALTER EXTENSION mcp_jobs UPDATE not run yet).
    VersionMismatch { installed: String },
    /// No schedule has this name.
    ScheduleNotFound { name: String },
    /// An enqueue over a queue's max_queued (backpressure).
    QueueFull {
        source: String,
        job_type: String,
        /// whether the source's row (job_type NULL) set the cap
        governing: bool,
        queued: i64,
        cap: i64,
        retry_after_s: i64,
    },
    /// The error of one item of a batch argument (0-based index).
    Item {
        arg: &'static str,
        index: usize,
        inner: Box<JobError>,
    },
    /// REPEATABLE READ or SERIALIZABLE: the job changed since the transaction's snapshot.
    Serialization,
    /// An SPI call failed in a way that is not the caller's fault.
    Internal {
        context: &'static str,
        error: String,
    },
}

pub type JobResult<T> = Result<T, JobError>;

impl From<SpiError> for JobError {
    fn from(e: SpiError) -> Self {
        JobError::Internal {
            context: "SPI",
            error: e.to_string(),
        }
    }
}

impl JobError {
    /// This error, as the error of item `index` of batch argument `arg`.
    pub fn at_item(self, arg: &'static str, index: usize) -> JobError {
        JobError::Item {
            arg,
            index,
            inner: Box::new(self),
        }
    }

    pub fn invalid(
        arg: &'static str,
        message: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        JobError::InvalidArgument {
            arg,
            message: message.into(),
            detail: detail.into(),
            hint: hint.into(),
        }
    }

    /// The SQLSTATE this error is raised with.
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            JobError::NullArgument { .. } | JobError::NullElement { .. } => {
                ERRCODE_NULL_VALUE_NOT_ALLOWED
            }
            JobError::InvalidArgument { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
            JobError::InvalidJson { .. } => ERRCODE_INVALID_TEXT_REPRESENTATION,
            JobError::PayloadTooLarge { .. } => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            JobError::JobNotFound { .. }
            | JobError::DeadLetterNotFound { .. }
            | JobError::ScheduleNotFound { .. } => ERRCODE_NO_DATA_FOUND,
            JobError::WrongState { .. }
            | JobError::StaleRun { .. }
            | JobError::LeaseLost { .. }
            | JobError::DeadLetterResolved { .. }
            | JobError::VersionMismatch { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            JobError::RowCheck { .. } => ERRCODE_CHECK_VIOLATION,
            JobError::Serialization => ERRCODE_T_R_SERIALIZATION_FAILURE,
            JobError::QueueFull { .. } => ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            JobError::Item { inner, .. } => inner.sqlstate(),
            JobError::Internal { .. } => ERRCODE_INTERNAL_ERROR,
        }
    }

    /// (message, detail, hint)
    pub fn texts(&self) -> (String, String, String) {
        match self {
            JobError::NullArgument { arg, hint } => (
                format!("{arg} must not be NULL"),
                format!("The argument {arg} was NULL (a JSON null over PostgREST)."),
                (*hint).to_string(),
            ),
            JobError::NullElement { arg, index, hint } => (
                format!("{arg} must not contain NULL"),
                format!("Element {index} of {arg} is NULL."),
                (*hint).to_string(),
            ),
            JobError::InvalidArgument { arg, message, detail, hint } => {
                (format!("invalid {arg}: {message}"), detail.clone(), hint.clone())
            }
            JobError::InvalidJson { arg, detail } => (
                format!("{arg} is a string that does not hold valid JSON"),
                detail.clone(),
                format!("Send {arg} as a JSON object, or as a string that holds a JSON object."),
            ),
            JobError::PayloadTooLarge { size, limit } => (
                "payload is too large".to_string(),
                format!("The payload is {size} bytes; the limit is {limit} bytes."),
                "Store large data elsewhere and enqueue a reference to it, or raise mcp_jobs.max_payload_bytes.".to_string(),
            ),
            JobError::JobNotFound { job_id } => (
                format!("job {job_id} does not exist"),
                format!("No row in mcp_jobs.jobs has id {job_id}."),
                "Check the id; finished jobs are pruned after mcp_jobs.retention.".to_string(),
            ),
            JobError::WrongState { job_id, action, status, expected } => (
                format!("cannot {action} job {job_id}: it is {status}"),
                format!("Only a {expected} job can be asked to {action}; job {job_id} has status '{status}'."),
                match status.as_str() {
                    "queued" => "The job has not been claimed; claim it with claim_next_job first, or cancel it.",
                    "processing" => "The job is being worked on; wait for it to finish or for its lease to expire.",
                    "failed" => "The job failed for good; requeue its dead letter with requeue_dead_letter.",
                    _ => "The job is finished; enqueue a new job to run it again.",
                }
                .to_string(),
            ),
            JobError::StaleRun { job_id, run_id, current, action } => (
                format!("cannot {action} job {job_id}: run {run_id} is not its current attempt"),
                match current {
                    Some(c) => format!("The job's current run is {c}; run {run_id} lost its lease and the job was claimed again."),
                    None => format!("Run {run_id} does not belong to job {job_id}."),
                },
                "Stop working on this job: another worker owns it now. Use the run_id returned by claim_next_job.".to_string(),
            ),
            JobError::LeaseLost { job_id, run_id, current, action, status } => (
                format!("cannot {action} job {job_id}: run {run_id} is not its current attempt, its lease expired"),
                match current {
                    Some(c) if c != run_id && status == "processing" => format!("The lease of run {run_id} expired before it finished; the job's current run is {c}."),
                    _ => format!("The lease of run {run_id} expired before it finished; the job was taken from it and is now '{status}'."),
                },
                "Stop working on this job: it runs again under a new run id (or went to the dead-letter queue). Call report_progress more often than the lease, or claim with a longer p_lease_seconds.".to_string(),
            ),
            JobError::DeadLetterNotFound { id } => (
                format!("dead letter {id} does not exist"),
                format!("No row in mcp_jobs.dead_letter_queue has id {id}."),
                "List open dead letters with: SELECT id, job_id FROM mcp_jobs.dead_letter_queue WHERE NOT resolved;".to_string(),
            ),
            JobError::DeadLetterResolved { id, resolution } => (
                format!("dead letter {id} is already resolved"),
                format!("The dead letter was closed earlier (resolution: {resolution})."),
                "Nothing to do; each dead letter can be requeued or resolved once.".to_string(),
            ),
            JobError::RowCheck { table, constraint, rule, detail } => (
                format!("new row for relation \"{table}\" violates check constraint \"{constraint}\": {rule}"),
                detail.clone(),
                "Change jobs through the mcp_jobs functions (enqueue_job, claim_next_job, complete_job, fail_job, \
                 cancel_job, ...), which keep these rules; direct INSERT/UPDATE must keep them too."
                    .to_string(),
            ),
            JobError::VersionMismatch { installed } => (
                format!(
                    "the mcp_jobs library is version {} but the extension in this database is version {installed}",
                    env!("CARGO_PKG_VERSION")
                ),
                "A new mcp_jobs library was installed and the extension's SQL objects were not updated yet; \
                 this call of the old version's API cannot run on it. Nothing was changed."
                    .to_string(),
                "Run ALTER EXTENSION mcp_jobs UPDATE in this database (docs/operations.md, Upgrading)."
                    .to_string(),
            ),
            JobError::ScheduleNotFound { name } => (
                format!("schedule '{name}' does not exist"),
                format!("No row in mcp_jobs.schedules has name '{name}'."),
                "List the schedules with SELECT name FROM mcp_jobs.list_schedules().".to_string(),
            ),
            JobError::QueueFull { source, job_type, governing, queued, cap, retry_after_s } => (
                format!("queue {source}/{job_type} is full: {queued} jobs queued, the limit is {cap}"),
                format!(
                    "max_queued of {} is {cap}; retry after about {retry_after_s} s.",
                    if *governing { format!("source {source}") } else { format!("queue {source}/{job_type}") }
                ),
                "Retry later (the public wrapper answers HTTP 429 with Retry-After), or raise the cap with mcp_jobs.set_queue(..., p_max_queued => N).".to_string(),
            ),
            JobError::Item { arg, index, inner } => {
                let (m, d, h) = inner.texts();
                (format!("{arg}[{index}]: {m}"), format!("Item {index} (0-based) of {arg}: {d}"), h)
            }
            JobError::Serialization => (
                "could not serialize access due to concurrent update".to_string(),
                "Another transaction changed the job after this transaction's snapshot was taken \
                 (REPEATABLE READ or SERIALIZABLE)."
                    .to_string(),
                "Retry the transaction, or call the queue functions in READ COMMITTED.".to_string(),
            ),
            JobError::Internal { context, error } => (
                format!("mcp_jobs internal error in {context}"),
                error.clone(),
                "This is a bug in mcp_jobs; please report it with the statement that caused it.".to_string(),
            ),
        }
    }

    /// Raise this error as a PostgreSQL ERROR. Does not return.
    pub fn report(self, funcname: &'static str) -> ! {
        let code = self.sqlstate();
        let (message, detail, hint) = self.texts();
        ErrorReport::new(code, message, funcname)
            .set_detail(detail)
            .set_hint(hint)
            .report(PgLogLevel::ERROR);
        unreachable!("ERROR-level reports do not return")
    }
}

/// Unwrap a result or raise its error.
pub trait OrRaise<T> {
    fn or_raise(self, funcname: &'static str) -> T;
}

impl<T> OrRaise<T> for JobResult<T> {
    fn or_raise(self, funcname: &'static str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.report(funcname),
        }
    }
}

/// The argument or a NullArgument error.
pub fn required<T>(value: Option<T>, arg: &'static str, hint: &'static str) -> JobResult<T> {
    value.ok_or(JobError::NullArgument { arg, hint })
}
