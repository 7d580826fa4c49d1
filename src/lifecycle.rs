//! The transitions of a claimed job: complete (one, a batch, or one and claim the next), fail (retry or
//! dead letter), progress; and cancel.
use crate::claim::{claim_args, claim_in};
use crate::enqueue::check_payload_size;
use crate::errors::{required, JobError, JobResult, OrRaise};
use crate::raw_jsonb::RawJsonb;
use crate::spi_util::{first, read, run, with_settings, Stmt, CLAIM_ORDER, KEY_LOOKUPS};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

const COMPLETE: Stmt = Stmt {
    sql: include_str!("queries/complete.sql"),
    args: &[pg_sys::UUIDOID, pg_sys::UUIDOID, pg_sys::JSONBOID],
    write: true,
};

const COMPLETE_MANY: Stmt = Stmt {
    sql: include_str!("queries/complete_many.sql"),
    args: &[
        pg_sys::UUIDARRAYOID,
        pg_sys::UUIDARRAYOID,
        pg_sys::JSONBARRAYOID,
    ],
    write: true,
};

const COMPLETE_MANY_REASONS: Stmt = Stmt {
    sql: include_str!("queries/complete_many_reasons.sql"),
    args: &[pg_sys::UUIDARRAYOID, pg_sys::UUIDARRAYOID],
    write: false,
};

const FAIL: Stmt = Stmt {
    sql: include_str!("queries/fail.sql"),
    args: &[
        pg_sys::UUIDOID,
        pg_sys::UUIDOID,
        pg_sys::TEXTOID,
        pg_sys::BOOLOID,
        pg_sys::JSONBOID,
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

/// complete_job's result argument, checked (size) and as a bind argument (NULL when omitted).
fn result_arg(result: Option<RawJsonb>) -> JobResult<DatumWithOid<'static>> {
    Ok(match result {
        Some(r) => check_payload_size(r)?.into(),
        None => DatumWithOid::null::<RawJsonb>(),
    })
}

/// Complete a processing job in the caller's SPI connection (checked arguments; raises the precise
/// reason when the job is not this run's to complete).
fn complete_in(
    client: &mut SpiClient<'_>,
    job_id: pgrx::Uuid,
    run_id: pgrx::Uuid,
    result: DatumWithOid<'_>,
) -> JobResult<RawJsonb> {
    guarded(
        client,
        &COMPLETE,
        &[job_id.into(), run_id.into(), result],
        job_id,
        Some(run_id),
        "complete",
        "processing",
    )
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
        let result = result_arg(p_result)?;
        Spi::connect_mut(|client| complete_in(client, job_id, run_id, result))
    })()
    .or_raise("complete_job")
}

/// complete_job, then claim_next_job, in one call and so in one transaction: a worker that loops
/// over jobs one at a time commits (and, through PostgREST, makes a request) once per job instead
/// of twice. Every argument is checked before anything is written; when the completion is refused
/// (unknown job, wrong state, stale run, lost lease) the call raises complete_job's error and
/// claims nothing. Returns the next job as claim_next_job does, or no row when nothing is due (the
/// completion stands either way).
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub fn complete_and_claim_next(
    p_job_id: Option<pgrx::Uuid>,
    p_run_id: Option<pgrx::Uuid>,
    p_result: default!(Option<RawJsonb>, "NULL"),
    p_worker_id: default!(Option<&str>, "NULL"),
    p_sources: default!(Option<Vec<Option<String>>>, "NULL"),
    p_job_types: default!(Option<Vec<Option<String>>>, "NULL"),
    p_lease_seconds: default!(Option<i32>, 300),
) -> TableIterator<
    'static,
    (
        name!(id, pgrx::Uuid),
        name!(run_id, pgrx::Uuid),
        name!(attempt, i32),
        name!(max_attempts, i32),
        name!(source, String),
        name!(job_type, String),
        name!(payload, RawJsonb),
        name!(priority, i32),
        name!(run_at, TimestampWithTimeZone),
        name!(created_at, TimestampWithTimeZone),
        name!(lease_expires_at, TimestampWithTimeZone),
    ),
> {
    let rows = (|| {
        let (job_id, run_id) = ids(p_job_id, p_run_id)?;
        let result = result_arg(p_result)?;
        let args = claim_args(p_worker_id, p_sources, p_job_types, p_lease_seconds)?;
        // claim_next_job's settings for both statements (complete.sql's key probe has no use for
        // a bitmap scan and keeps the generic plan complete_job settles on), applied once for the
        // call, not as a SET clause (see spi_util::with_settings)
        with_settings(CLAIM_ORDER, || {
            Spi::connect_mut(|client| {
                complete_in(client, job_id, run_id, result)?;
                claim_in(client, args, None, "complete_and_claim_next")
            })
        })
    })()
    .or_raise("complete_and_claim_next");
    TableIterator::new(rows.into_iter().take(1))
}

/// The most (job, run) pairs one complete_jobs call may take.
pub const MAX_COMPLETE_BATCH: usize = 1000;

/// A NULL-free id array of complete_jobs.
fn id_array(
    ids: Option<Vec<Option<pgrx::Uuid>>>,
    arg: &'static str,
    hint: &'static str,
) -> JobResult<Vec<pgrx::Uuid>> {
    let ids = required(ids, arg, hint)?;
    if ids.len() > MAX_COMPLETE_BATCH {
        return Err(JobError::invalid(
            arg,
            format!("more than {MAX_COMPLETE_BATCH} entries"),
            format!("{arg} has {} entries.", ids.len()),
            format!("Complete at most {MAX_COMPLETE_BATCH} jobs per call; split the batch."),
        ));
    }
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| {
            id.ok_or(JobError::NullElement {
                arg,
                index: i + 1,
                hint,
            })
        })
        .collect()
}

type CompleteRow = (pgrx::Uuid, pgrx::Uuid, Option<String>, bool, Option<String>);

fn complete_many(
    job_ids: Option<Vec<Option<pgrx::Uuid>>>,
    run_ids: Option<Vec<Option<pgrx::Uuid>>>,
    results: Option<Vec<Option<RawJsonb>>>,
) -> JobResult<Vec<CompleteRow>> {
    let job_ids = id_array(
        job_ids,
        "p_job_ids",
        "Pass the ids returned by claim_jobs (or claim_next_job).",
    )?;
    let run_ids = id_array(
        run_ids,
        "p_run_ids",
        "Pass the run_id of each job, as returned by claim_jobs, in the order of p_job_ids.",
    )?;
    let mismatch = |arg: &'static str, n: usize| {
        JobError::invalid(
            arg,
            "the arrays differ in length",
            format!("p_job_ids has {} entries, {arg} has {n}.", job_ids.len()),
            format!("Pass one {arg} entry per job id, in the same order."),
        )
    };
    if run_ids.len() != job_ids.len() {
        return Err(mismatch("p_run_ids", run_ids.len()));
    }
    if let Some(r) = &results {
        if r.len() != job_ids.len() {
            return Err(mismatch("p_results", r.len()));
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(job_ids.len());
    for (i, id) in job_ids.iter().enumerate() {
        if !seen.insert(*id.as_bytes()) {
            return Err(JobError::invalid(
                "p_job_ids",
                "a job id appears twice",
                format!("Job {id} is at position {} and earlier.", i + 1),
                "Complete each job once per call.",
            ));
        }
    }
    let results = match results {
        Some(r) => Some(
            r.into_iter()
                .map(|x| x.map(check_payload_size).transpose())
                .collect::<JobResult<Vec<Option<RawJsonb>>>>()?,
        ),
        None => None,
    };
    if job_ids.is_empty() {
        return Ok(Vec::new());
    }
    // planner settings here, not as SET clauses: see spi_util::with_settings
    with_settings(KEY_LOOKUPS, || {
        Spi::connect_mut(|client| {
            let n = job_ids.len();
            let mut done = vec![false; n];
            let t = run(
                client,
                &COMPLETE_MANY,
                &[
                    job_ids.clone().into(),
                    run_ids.clone().into(),
                    results.into(),
                ],
            )?;
            for r in t {
                let ord: i64 = r.get(1)?.ok_or_else(|| missing("a position"))?;
                match usize::try_from(ord)
                    .ok()
                    .and_then(|o| done.get_mut(o.wrapping_sub(1)))
                {
                    Some(d) => *d = true,
                    None => return Err(missing("a position in range")),
                }
            }
            let mut why: Vec<(Option<String>, Option<String>)> = vec![(None, None); n];
            let rest: Vec<usize> = (0..n).filter(|&i| !done[i]).collect();
            if !rest.is_empty() {
                let rest_jobs: Vec<pgrx::Uuid> = rest.iter().map(|&i| job_ids[i]).collect();
                let rest_runs: Vec<pgrx::Uuid> = rest.iter().map(|&i| run_ids[i]).collect();
                let t = read(
                    client,
                    &COMPLETE_MANY_REASONS,
                    &[rest_jobs.into(), rest_runs.into()],
                )?;
                for r in t {
                    let ord: i64 = r.get(1)?.ok_or_else(|| missing("a position"))?;
                    let slot = usize::try_from(ord)
                        .ok()
                        .and_then(|o| rest.get(o.wrapping_sub(1)))
                        .ok_or_else(|| missing("a position in range"))?;
                    why[*slot] = (r.get(2)?, r.get(3)?);
                }
            }
            Ok(job_ids
                .into_iter()
                .zip(run_ids)
                .zip(done.into_iter().zip(why))
                .map(|((job, run), (ok, (status, reason)))| {
                    if ok {
                        (job, run, Some("completed".to_string()), true, None)
                    } else {
                        (job, run, status, false, reason)
                    }
                })
                .collect())
        })
    })
}

fn missing(what: &str) -> JobError {
    JobError::Internal {
        context: "complete_jobs",
        error: format!("the statement did not return {what}"),
    }
}

/// Complete many processing jobs at once, each only by its current run. One row per (job, run)
/// pair, in input order: `completed` true, or false with the reason (`not found`, `lease expired`,
/// `not processing: <status>`, `stale run`); a pair that cannot complete does not fail the others.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
pub fn complete_jobs(
    p_job_ids: Option<Vec<Option<pgrx::Uuid>>>,
    p_run_ids: Option<Vec<Option<pgrx::Uuid>>>,
    p_results: default!(Option<Vec<Option<RawJsonb>>>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(job_id, pgrx::Uuid),
        name!(run_id, pgrx::Uuid),
        name!(status, Option<String>),
        name!(completed, bool),
        name!(reason, Option<String>),
    ),
> {
    TableIterator::new(complete_many(p_job_ids, p_run_ids, p_results).or_raise("complete_jobs"))
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
/// backoff; otherwise it fails and a dead letter is written. p_details (any JSON: a stack trace, a
/// failure analysis and its reason) is kept in the 'failed' event and the dead letter.
/// (Rust name: the symbol `fail_job_wrapper` belongs to 0.6's four-argument fail_job, src/compat.rs.)
#[pg_extern(volatile, parallel_unsafe, name = "fail_job")]
pub fn fail_job_with_details(
    p_job_id: Option<pgrx::Uuid>,
    p_run_id: Option<pgrx::Uuid>,
    p_error: Option<&str>,
    p_retry: default!(Option<bool>, true),
    p_details: default!(Option<RawJsonb>, "NULL"),
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
        let details = result_arg(p_details)?;
        Spi::connect_mut(|client| {
            guarded(
                client,
                &FAIL,
                &[
                    job_id.into(),
                    run_id.into(),
                    error.as_str().into(),
                    retry.into(),
                    details,
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
