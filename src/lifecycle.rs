//! The transitions of a claimed job: complete (one, a batch, or one and claim the next), fail (retry
//! or dead letter), progress; and cancel. Each is guarded: only the job's current run (the fencing
//! token claim_next_job returned) may complete, fail or extend it, and a refusal names the reason.
use crate::claim::{claim_args, claim_in, ClaimRow};
use crate::errors::{required, JobError, JobResult, OrRaise};
use crate::jobs::{Ctx, JobRow};
use crate::native::scan::xact_snapshot;
use crate::native::table::Updated;
use crate::native::{text_datum, ts_datum, JsonObj};
use crate::raw_jsonb::RawJsonb;
use crate::rules::{check_payload_size, clip_error, MAX_BATCH};
use crate::spi_util::{read, Stmt};
use pgrx::pg_sys;
use pgrx::prelude::*;

const STATE: Stmt = Stmt {
    sql: "SELECT j.status, j.current_run_id, r.outcome
            FROM mcp_jobs.jobs j
            LEFT JOIN mcp_jobs.job_runs r ON r.job_id = j.id AND r.id = $2
           WHERE j.id = $1",
    args: &[pg_sys::UUIDOID, pg_sys::UUIDOID],
    write: false,
};

/// Why a guarded transition cannot apply to job `job_id`: read afresh (the rare path).
fn diagnose(
    job_id: pgrx::Uuid,
    run_id: Option<pgrx::Uuid>,
    action: &'static str,
    expected: &'static str,
) -> JobResult<Option<JobError>> {
    Spi::connect(|client| {
        let t = read(client, &STATE, &[job_id.into(), run_id.into()])?;
        if t.is_empty() {
            return Ok(Some(JobError::JobNotFound { job_id }));
        }
        let t = t.first();
        let status: String = t.get(1)?.unwrap_or_default();
        let current: Option<pgrx::Uuid> = t.get(2)?;
        let run_outcome: Option<String> = t.get(3)?;
        if let (Some(run_id), Some("lease_expired")) = (run_id, run_outcome.as_deref()) {
            // the run lost its lease and the job was swept (requeued or dead-lettered), whether
            // or not another worker has claimed it since: say so, rather than describe its state
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
    })
}

/// Find job `id` in state `expected` (and owned by run `run`), let `apply` change it, and write it.
/// A row changed by another transaction in between is read again (READ COMMITTED) or is a
/// serialization failure (REPEATABLE READ, SERIALIZABLE).
fn transition(
    ctx: &mut Ctx,
    id: pgrx::Uuid,
    run: Option<pgrx::Uuid>,
    action: &'static str,
    expected: &'static str,
    mut apply: impl FnMut(&mut Ctx, &mut JobRow) -> JobResult<()>,
) -> JobResult<JobRow> {
    let c = ctx.cat.job.clone();
    for _ in 0..5 {
        let found = ctx.find_job(id)?;
        let ok = found.as_ref().is_some_and(|r| {
            r.text(c.status).as_deref() == Some(expected)
                && (run.is_none() || r.uuid(c.current_run_id) == run)
        });
        let Some(mut row) = found.filter(|_| ok) else {
            let why = diagnose(id, run, action, expected);
            ctx.resync();
            match why? {
                Some(e) => return Err(e),
                None => continue, // it changed in between: read it again
            }
        };
        apply(ctx, &mut row)?;
        match ctx.update_job(&mut row, true)? {
            Updated::Ok => return Ok(row),
            Updated::Changed if xact_snapshot() => return Err(JobError::Serialization),
            Updated::Changed => continue,
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

fn checked_json(v: Option<RawJsonb>) -> JobResult<Option<RawJsonb>> {
    v.map(check_payload_size).transpose()
}

/// The queue of a job row, for flow control and wake-ups.
fn queue_of(ctx: &Ctx, row: &JobRow) -> (String, String) {
    let c = &ctx.cat.job;
    (
        row.text(c.source).unwrap_or_default(),
        row.text(c.job_type).unwrap_or_default(),
    )
}

/// A processing job left 'processing': a waiting claim of a limited queue may now take one.
fn slot_freed(ctx: &Ctx, row: &JobRow) -> JobResult<()> {
    let (s, t) = queue_of(ctx, row);
    if crate::flow::effective(&s, &t)?.is_some() {
        crate::wake::job_ready(&s, &t, ctx.now);
    }
    Ok(())
}

/// Complete a processing job in `ctx`; returns complete_job's result.
pub fn complete_in(
    ctx: &mut Ctx,
    job_id: pgrx::Uuid,
    run_id: pgrx::Uuid,
    result: Option<&RawJsonb>,
) -> JobResult<RawJsonb> {
    let c = ctx.cat.job.clone();
    let now = ctx.now;
    let row = transition(
        ctx,
        job_id,
        Some(run_id),
        "complete",
        "processing",
        |_, r| {
            r.set(c.status, Some(text_datum("completed")));
            r.set(c.result, result.map(|x| x.clone().into_datum_unchecked()));
            r.set(c.finished_at, Some(ts_datum(now)));
            r.set(c.updated_at, Some(ts_datum(now)));
            r.set(c.lease_expires_at, None);
            Ok(())
        },
    )?;
    let attempt = row.int(c.attempts);
    let ms = ctx.close_run(job_id, run_id, "completed", None)?;
    ctx.event(
        job_id,
        Some(run_id),
        "completed",
        JsonObj::new()
            .int("attempt", attempt.into())
            .float("duration_ms", ms),
    )?;
    slot_freed(ctx, &row)?;
    Ok(RawJsonb::from_datum_copy(
        JsonObj::new()
            .str("job_id", Some(&job_id.to_string()))
            .str("run_id", Some(&run_id.to_string()))
            .str("status", Some("completed"))
            .int("attempt", attempt.into())
            .ts("finished_at", now)
            .float("duration_ms", ms)
            .jsonb(),
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
        let result = checked_json(p_result)?;
        let mut ctx = Ctx::new()?;
        complete_in(&mut ctx, job_id, run_id, result.as_ref())
    })()
    .or_raise("complete_job")
}

/// complete_job, then claim_next_job, in one call and so in one transaction: a worker that loops
/// over jobs one at a time commits (and, through PostgREST, makes a request) once per job instead
/// of twice. Every argument is checked before anything is written; when the completion is refused
/// the call raises complete_job's error and claims nothing. Returns the next job as
/// claim_next_job does, or no row when nothing is due (the completion stands either way).
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
    let rows: Vec<ClaimRow> = (|| {
        let (job_id, run_id) = ids(p_job_id, p_run_id)?;
        let result = checked_json(p_result)?;
        let args = claim_args(p_worker_id, p_sources, p_job_types, p_lease_seconds)?;
        let mut ctx = Ctx::new()?;
        complete_in(&mut ctx, job_id, run_id, result.as_ref())?;
        let at = ctx.now;
        crate::lease::sweep_if_due(&mut ctx, at)?;
        claim_in(&mut ctx, &args, 1, at)
    })()
    .or_raise("complete_and_claim_next");
    TableIterator::new(rows)
}

/// A NULL-free id array of complete_jobs.
fn id_array(
    ids: Option<Vec<Option<pgrx::Uuid>>>,
    arg: &'static str,
    hint: &'static str,
) -> JobResult<Vec<pgrx::Uuid>> {
    let ids = required(ids, arg, hint)?;
    if ids.len() > MAX_BATCH {
        return Err(JobError::invalid(
            arg,
            format!("more than {MAX_BATCH} entries"),
            format!("{arg} has {} entries.", ids.len()),
            format!("Complete at most {MAX_BATCH} jobs per call; split the batch."),
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
        Some(r) => r
            .into_iter()
            .map(checked_json)
            .collect::<JobResult<Vec<Option<RawJsonb>>>>()?,
        None => vec![None; job_ids.len()],
    };
    if job_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut ctx = Ctx::new()?;
    let mut out = Vec::with_capacity(job_ids.len());
    for ((job, run), result) in job_ids.into_iter().zip(run_ids).zip(results) {
        match complete_in(&mut ctx, job, run, result.as_ref()) {
            Ok(_) => out.push((job, run, Some("completed".to_string()), true, None)),
            Err(e) => {
                let (status, reason) = match e {
                    JobError::JobNotFound { .. } => (None, "not found".to_string()),
                    JobError::LeaseLost { status, .. } => {
                        (Some(status), "lease expired".to_string())
                    }
                    JobError::WrongState { status, .. } => {
                        let r = format!("not processing: {status}");
                        (Some(status), r)
                    }
                    JobError::StaleRun { .. } => {
                        (Some("processing".to_string()), "stale run".to_string())
                    }
                    other => return Err(other),
                };
                out.push((job, run, status, false, Some(reason)));
            }
        }
    }
    Ok(out)
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

/// Fail the current attempt of a processing job in `ctx`; returns fail_job's result.
pub fn fail_in(
    ctx: &mut Ctx,
    job_id: pgrx::Uuid,
    run_id: pgrx::Uuid,
    error: &str,
    retry: bool,
    details: Option<&RawJsonb>,
) -> JobResult<RawJsonb> {
    let c = ctx.cat.job.clone();
    let now = ctx.now;
    let mut again = false;
    let mut retry_at = now;
    let row = transition(ctx, job_id, Some(run_id), "fail", "processing", |_, r| {
        let attempts = r.int(c.attempts);
        again = retry && attempts < r.int(c.max_attempts);
        if again {
            retry_at = now + crate::retry::retry_delay_ms(attempts) * 1000;
            r.set(c.status, Some(text_datum("queued")));
            r.set(c.run_at, Some(ts_datum(retry_at)));
            r.set(c.finished_at, None);
        } else {
            r.set(c.status, Some(text_datum("failed")));
            r.set(c.finished_at, Some(ts_datum(now)));
        }
        r.set(c.lease_expires_at, None);
        r.set(c.last_error, Some(text_datum(error)));
        r.set(c.updated_at, Some(ts_datum(now)));
        Ok(())
    })?;
    let attempts = row.int(c.attempts);
    let max_attempts = row.int(c.max_attempts);
    let ms = ctx.close_run(job_id, run_id, "failed", Some(error))?;
    let details_text = details.map(|d| crate::native::jsonb_text(d.clone().into_datum_unchecked()));
    let dead = if again {
        None
    } else {
        Some(ctx.insert_dead_letter(
            &row,
            attempts,
            error,
            details.map(|d| d.clone().into_datum_unchecked()),
        )?)
    };
    let mut failed = JsonObj::new()
        .int("attempt", attempts.into())
        .str("error", Some(error))
        .boolean("retry", retry)
        .float("duration_ms", ms);
    if let Some(d) = &details_text {
        failed = failed.raw("details", Some(d));
    }
    ctx.event(job_id, Some(run_id), "failed", failed)?;
    match dead {
        None => {
            ctx.event(
                job_id,
                Some(run_id),
                "retry_scheduled",
                JsonObj::new()
                    .int("attempt", attempts.into())
                    .int("max_attempts", max_attempts.into())
                    .ts("run_at", retry_at),
            )?;
            crate::flow::requeued(ctx, &row)?;
            let (s, t) = queue_of(ctx, &row);
            crate::wake::job_ready(&s, &t, retry_at);
        }
        Some(dl) => {
            ctx.event(
                job_id,
                Some(run_id),
                "dead_lettered",
                JsonObj::new()
                    .str("dead_letter_id", Some(&dl.to_string()))
                    .int("attempts", attempts.into())
                    .str(
                        "reason",
                        Some(if retry { "max_attempts" } else { "no_retry" }),
                    ),
            )?;
        }
    }
    slot_freed(ctx, &row)?;
    let mut out = JsonObj::new()
        .str("job_id", Some(&job_id.to_string()))
        .str("run_id", Some(&run_id.to_string()))
        .str("status", Some(if again { "queued" } else { "failed" }))
        .int("attempt", attempts.into())
        .int("max_attempts", max_attempts.into());
    out = if again {
        out.ts("retry_at", retry_at)
    } else {
        out.null("retry_at")
    };
    out = match dead {
        Some(dl) => out.str("dead_letter_id", Some(&dl.to_string())),
        None => out.null("dead_letter_id"),
    };
    Ok(RawJsonb::from_datum_copy(out.jsonb()))
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
        let details = checked_json(p_details)?;
        let mut ctx = Ctx::new()?;
        fail_in(
            &mut ctx,
            job_id,
            run_id,
            &error,
            p_retry.unwrap_or(true),
            details.as_ref(),
        )
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
        let progress = checked_json(p_progress)?;
        let mut ctx = Ctx::new()?;
        let c = ctx.cat.job.clone();
        let now = ctx.now;
        let Some(lease_seconds) = ctx.run_lease(job_id, run_id)? else {
            return Err(
                diagnose(job_id, Some(run_id), "report progress for", "processing")?.unwrap_or(
                    JobError::StaleRun {
                        job_id,
                        run_id,
                        current: None,
                        action: "report progress for",
                    },
                ),
            );
        };
        let until = now + i64::from(lease_seconds) * 1_000_000;
        let row = transition(
            &mut ctx,
            job_id,
            Some(run_id),
            "report progress for",
            "processing",
            |_, r| {
                r.set(c.lease_expires_at, Some(ts_datum(until)));
                r.set(c.updated_at, Some(ts_datum(now)));
                Ok(())
            },
        )?;
        let text = progress.map(|p| crate::native::jsonb_text(p.into_datum_unchecked()));
        ctx.event(
            job_id,
            Some(run_id),
            "progress",
            JsonObj::new()
                .int("attempt", row.int(c.attempts).into())
                .raw("progress", text.as_deref()),
        )?;
        Ok(RawJsonb::from_datum_copy(
            JsonObj::new()
                .str("job_id", Some(&job_id.to_string()))
                .str("run_id", Some(&run_id.to_string()))
                .str("status", Some("processing"))
                .ts("lease_expires_at", until)
                .jsonb(),
        ))
    })()
    .or_raise("report_progress")
}

/// Cancel a queued job.
#[pg_extern(volatile, parallel_unsafe)]
pub fn cancel_job(p_job_id: Option<pgrx::Uuid>) -> RawJsonb {
    (|| {
        let job_id = required(p_job_id, "p_job_id", "Pass the id returned by enqueue_job.")?;
        let mut ctx = Ctx::new()?;
        let c = ctx.cat.job.clone();
        let now = ctx.now;
        let row = transition(&mut ctx, job_id, None, "cancel", "queued", |_, r| {
            r.set(c.status, Some(text_datum("cancelled")));
            r.set(c.finished_at, Some(ts_datum(now)));
            r.set(c.updated_at, Some(ts_datum(now)));
            Ok(())
        })?;
        ctx.event(
            job_id,
            None,
            "cancelled",
            JsonObj::new().int("attempts", row.int(c.attempts).into()),
        )?;
        crate::flow::unqueued(&mut ctx, &row)?;
        Ok(RawJsonb::from_datum_copy(
            JsonObj::new()
                .str("job_id", Some(&job_id.to_string()))
                .str("status", Some("cancelled"))
                .ts("finished_at", now)
                .jsonb(),
        ))
    })()
    .or_raise("cancel_job")
}
