//! The transitions of a claimed job: complete, fail (retry or dead letter), progress; and cancel.
use crate::enqueue::check_payload_size;
use crate::errors::{required, JobError, JobResult, OrRaise};
use crate::raw_jsonb::RawJsonb;
use crate::spi_util::{first, read, run, Stmt};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

const COMPLETE: Stmt = Stmt {
    sql: include_str!("queries/complete.sql"),
    args: &[pg_sys::UUIDOID, pg_sys::UUIDOID, pg_sys::JSONBOID],
    write: true,
};

const FAIL: Stmt = Stmt {
    sql: include_str!("queries/fail.sql"),
    args: &[
        pg_sys::UUIDOID,
        pg_sys::UUIDOID,
        pg_sys::TEXTOID,
        pg_sys::BOOLOID,
    ],
    write: true,
};

const PROGRESS: Stmt = Stmt {
    sql: include_str!("queries/progress.sql"),
    args: &[pg_sys::UUIDOID, pg_sys::UUIDOID, pg_sys::JSONBOID],
    write: true,
};

const CANCEL: Stmt = Stmt {
    sql: include_str!("queries/cancel.sql"),
    args: &[pg_sys::UUIDOID],
    write: true,
};

const STATE: Stmt = Stmt {
    sql: "SELECT j.status, j.current_run_id, r.outcome
            FROM mcp_jobs.jobs j
            LEFT JOIN mcp_jobs.job_runs r ON r.id = $2 AND r.job_id = j.id
           WHERE j.id = $1",
    args: &[pg_sys::UUIDOID, pg_sys::UUIDOID],
    write: false,
};

/// Longest error text kept (characters); longer texts are cut and marked.
pub const MAX_ERROR_CHARS: usize = 10_000;

/// Why a guarded transition matched no row. `None` means the row looked right after all (it changed
/// between the two statements) and the caller should try again.
fn diagnose(
    client: &SpiClient<'_>,
    job_id: pgrx::Uuid,
    run_id: Option<pgrx::Uuid>,
    action: &'static str,
    expected: &'static str,
) -> JobResult<Option<JobError>> {
    let t = read(client, &STATE, &[job_id.into(), run_id.into()])?;
    if t.is_empty() {
        return Ok(Some(JobError::JobNotFound { job_id }));
    }
    let t = t.first();
    let status: String = t.get(1)?.unwrap_or_default();
    let current: Option<pgrx::Uuid> = t.get(2)?;
    let run_outcome: Option<String> = t.get(3)?;
    if let (Some(run_id), Some("lease_expired")) = (run_id, run_outcome.as_deref()) {
        // the run lost its lease and the job was swept (requeued or dead-lettered), whether or not
        // another worker has claimed it since: say so, rather than describe the job's new state
        return Ok(Some(JobError::LeaseLost {
            job_id,
            run_id,
            current,
            action,
            status,
        }));
    }
    if status != expected {
        return Ok(Some(JobError::WrongState {
            job_id,
            action,
            status,
            expected,
        }));
    }
    if let Some(run_id) = run_id {
        if current != Some(run_id) {
            return Ok(Some(JobError::StaleRun {
                job_id,
                run_id,
                current,
                action,
            }));
        }
    }
    Ok(None)
}

/// Run a guarded transition; when it matches no row, raise the precise reason.
fn guarded(
    client: &mut SpiClient<'_>,
    stmt: &Stmt,
    args: &[DatumWithOid<'_>],
    job_id: pgrx::Uuid,
    run_id: Option<pgrx::Uuid>,
    action: &'static str,
    expected: &'static str,
) -> JobResult<RawJsonb> {
    for _ in 0..3 {
        if let Some(out) = first::<RawJsonb>(run(client, stmt, args)?, 1)? {
            return Ok(out);
        }
        if let Some(err) = diagnose(client, job_id, run_id, action, expected)? {
            return Err(err);
        }
    }
    Err(JobError::Internal {
        context: action,
        error: "the job kept changing state".into(),
    })
}

fn ids(
    job_id: Option<pgrx::Uuid>,
    run_id: Option<pgrx::Uuid>,
) -> JobResult<(pgrx::Uuid, pgrx::Uuid)> {
    Ok((
        required(
            job_id,
            "p_job_id",
            "Pass the id returned by enqueue_job or claim_next_job.",
        )?,
        required(
            run_id,
            "p_run_id",
            "Pass the run_id returned by claim_next_job for this attempt.",
        )?,
    ))
}

/// Mark a processing job completed. Only its current attempt (run id) may do so.
#[pg_extern(volatile, parallel_unsafe)]
pub fn complete_job(
    p_job_id: Option<pgrx::Uuid>,
    p_run_id: Option<pgrx::Uuid>,
    p_result: default!(Option<RawJsonb>, "NULL"),
) -> RawJsonb {
    (|| {
        let (job_id, run_id) = ids(p_job_id, p_run_id)?;
        Spi::connect_mut(|client| {
            let result = match p_result {
                Some(r) => Some(check_payload_size(r)?),
                None => None,
            };
            let result: DatumWithOid = match result {
                Some(r) => r.into(),
                None => DatumWithOid::null::<RawJsonb>(),
            };
            guarded(
                client,
                &COMPLETE,
                &[job_id.into(), run_id.into(), result],
                job_id,
                Some(run_id),
                "complete",
                "processing",
            )
        })
    })()
    .or_raise("complete_job")
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

/// Record a failed attempt. With attempts left and p_retry, the job is queued again after the
/// backoff; otherwise it fails and a dead letter is written.
#[pg_extern(volatile, parallel_unsafe)]
pub fn fail_job(
    p_job_id: Option<pgrx::Uuid>,
    p_run_id: Option<pgrx::Uuid>,
    p_error: Option<&str>,
    p_retry: default!(Option<bool>, true),
) -> RawJsonb {
    (|| {
        let (job_id, run_id) = ids(p_job_id, p_run_id)?;
        let error = required(
            p_error,
            "p_error",
            "Describe why the attempt failed, e.g. the exception message.",
        )?;
        let error = clip_error(error);
        let retry = p_retry.unwrap_or(true);
        Spi::connect_mut(|client| {
            guarded(
                client,
                &FAIL,
                &[
                    job_id.into(),
                    run_id.into(),
                    error.as_str().into(),
                    retry.into(),
                ],
                job_id,
                Some(run_id),
                "fail",
                "processing",
            )
        })
    })()
    .or_raise("fail_job")
}

/// Heartbeat: record a progress event and extend the lease by the lease length of the claim.
#[pg_extern(volatile, parallel_unsafe)]
pub fn report_progress(
    p_job_id: Option<pgrx::Uuid>,
    p_run_id: Option<pgrx::Uuid>,
    p_progress: default!(Option<RawJsonb>, "NULL"),
) -> RawJsonb {
    (|| {
        let (job_id, run_id) = ids(p_job_id, p_run_id)?;
        Spi::connect_mut(|client| {
            let progress: DatumWithOid = match p_progress {
                Some(p) => check_payload_size(p)?.into(),
                None => DatumWithOid::null::<RawJsonb>(),
            };
            guarded(
                client,
                &PROGRESS,
                &[job_id.into(), run_id.into(), progress],
                job_id,
                Some(run_id),
                "report progress for",
                "processing",
            )
        })
    })()
    .or_raise("report_progress")
}

/// Cancel a queued job.
#[pg_extern(volatile, parallel_unsafe)]
pub fn cancel_job(p_job_id: Option<pgrx::Uuid>) -> RawJsonb {
    (|| {
        let job_id = required(p_job_id, "p_job_id", "Pass the id returned by enqueue_job.")?;
        Spi::connect_mut(|client| {
            guarded(
                client,
                &CANCEL,
                &[job_id.into()],
                job_id,
                None,
                "cancel",
                "queued",
            )
        })
    })()
    .or_raise("cancel_job")
}
