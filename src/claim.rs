//! claim_next_job, claim_jobs (batch) and the lease sweep it shares with maintenance.
use crate::enqueue::{check_name, NAME_MAX};
use crate::errors::{JobError, JobResult, OrRaise};
use crate::raw_jsonb::RawJsonb;
use crate::spi_util::{first, read, run, with_settings, Stmt, CLAIM_ORDER};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

const CLAIM: Stmt = Stmt {
    sql: include_str!("queries/claim.sql"),
    args: &[
        pg_sys::TEXTOID,
        pg_sys::TEXTARRAYOID,
        pg_sys::TEXTARRAYOID,
        pg_sys::INT4OID,
    ],
    write: true,
};

/// claim.sql with `LIMIT $5`. claim_next_job keeps its own statement with a constant `LIMIT 1`: a
/// generic plan with a parameter as the limit is costed for 10% of the rows, so the plan cache may
/// keep planning that statement on every call, which the single-job hot path should not risk.
const CLAIM_MANY: Stmt = Stmt {
    sql: include_str!("queries/claim_many.sql"),
    args: &[
        pg_sys::TEXTOID,
        pg_sys::TEXTARRAYOID,
        pg_sys::TEXTARRAYOID,
        pg_sys::INT4OID,
        pg_sys::INT4OID,
    ],
    write: true,
};

const EXPIRE: Stmt = Stmt {
    sql: include_str!("queries/expire_leases.sql"),
    args: &[pg_sys::INT4OID],
    write: true,
};

/// Whether any lease has expired: one probe of the partial lease index. Most claims find none and
/// then skip the sweep statement, whose executor start-up (five writing CTEs over four tables) cost
/// more than the sweep itself.
const ANY_EXPIRED: Stmt = Stmt {
    sql: "SELECT EXISTS (SELECT 1 FROM mcp_jobs.jobs WHERE status = 'processing' AND lease_expires_at < now())",
    args: &[],
    write: false,
};

/// How many expired leases one claim handles before it claims.
const EXPIRE_PER_CLAIM: i32 = 8;
/// The longest lease a claim may ask for (7 days).
pub const MAX_LEASE_SECONDS: i32 = 7 * 24 * 3600;

/// Requeue (or dead-letter) up to `limit` jobs whose lease expired. Returns (requeued, dead-lettered).
pub fn expire_leases(client: &mut SpiClient<'_>, limit: i32) -> JobResult<(i64, i64)> {
    let t = run(client, &EXPIRE, &[limit.into()])?;
    if t.is_empty() {
        return Ok((0, 0));
    }
    let t = t.first();
    Ok((t.get::<i64>(1)?.unwrap_or(0), t.get::<i64>(2)?.unwrap_or(0)))
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

fn check_filter(list: &Option<Vec<Option<String>>>, arg: &'static str) -> JobResult<()> {
    let Some(items) = list else { return Ok(()) };
    if items.is_empty() {
        return Err(JobError::invalid(
            arg,
            "the list is empty",
            format!("{arg} was an empty array, which would match nothing."),
            format!("Pass NULL (or omit {arg}) to accept any value."),
        ));
    }
    for item in items {
        check_name(item.as_deref(), arg, "filter value")?;
    }
    Ok(())
}

/// One claimed job, in the column order of claim_next_job's result.
pub(crate) type ClaimRow = (
    pgrx::Uuid,
    pgrx::Uuid,
    i32,
    i32,
    String,
    String,
    RawJsonb,
    i32,
    TimestampWithTimeZone,
    TimestampWithTimeZone,
    TimestampWithTimeZone,
);

/// The arguments every claim takes, checked once for claim_next_job, claim_jobs and
/// complete_and_claim_next alike.
pub(crate) struct ClaimArgs {
    worker: String,
    sources: Option<Vec<Option<String>>>,
    job_types: Option<Vec<Option<String>>>,
    lease: i32,
}

pub(crate) fn claim_args(
    worker_id: Option<&str>,
    sources: Option<Vec<Option<String>>>,
    job_types: Option<Vec<Option<String>>>,
    lease_seconds: Option<i32>,
) -> JobResult<ClaimArgs> {
    let worker = match worker_id {
        Some(w) => {
            check_name(Some(w), "p_worker_id", "worker id")?;
            w.to_string()
        }
        // SAFETY: MyProcPid is set for every backend.
        None => format!("pid:{}", unsafe { pg_sys::MyProcPid }),
    };
    debug_assert!(worker.len() <= NAME_MAX * 4);
    check_filter(&sources, "p_sources")?;
    check_filter(&job_types, "p_job_types")?;
    let lease = lease_seconds.unwrap_or(300);
    check_lease(lease, "p_lease_seconds")?;
    Ok(ClaimArgs {
        worker,
        sources,
        job_types,
        lease,
    })
}

/// The most jobs one claim_jobs call may take.
pub const MAX_CLAIM_BATCH: i32 = 1000;

fn check_limit(limit: Option<i32>) -> JobResult<i32> {
    let limit = limit.unwrap_or(10);
    if !(1..=MAX_CLAIM_BATCH).contains(&limit) {
        return Err(JobError::invalid(
            "p_limit",
            format!("must be between 1 and {MAX_CLAIM_BATCH}"),
            format!("p_limit was {limit}."),
            format!(
                "Pass how many jobs to claim at most (1..{MAX_CLAIM_BATCH}); call again for more."
            ),
        ));
    }
    Ok(limit)
}

/// Sweep expired leases, then run a claim statement (`CLAIM`, or `CLAIM_MANY` with `limit`), under
/// the claims' planner settings (spi_util::CLAIM_ORDER, applied by spi_util::with_settings).
fn claim(args: ClaimArgs, limit: Option<i32>, context: &'static str) -> JobResult<Vec<ClaimRow>> {
    with_settings(CLAIM_ORDER, || {
        Spi::connect_mut(|client| claim_in(client, args, limit, context))
    })
}

/// The claim itself, in the caller's SPI connection and under the caller's settings
/// (`CLAIM_ORDER`): the lease probe (and the sweep when a lease expired), then `CLAIM`, or
/// `CLAIM_MANY` with `limit`.
pub(crate) fn claim_in(
    client: &mut SpiClient<'_>,
    args: ClaimArgs,
    limit: Option<i32>,
    context: &'static str,
) -> JobResult<Vec<ClaimRow>> {
    if first::<bool>(read(client, &ANY_EXPIRED, &[])?, 1)?.unwrap_or(false) {
        expire_leases(client, EXPIRE_PER_CLAIM)?;
    }
    let mut binds = vec![
        args.worker.as_str().into(),
        args.sources.into(),
        args.job_types.into(),
        args.lease.into(),
    ];
    let stmt = match limit {
        Some(n) => {
            binds.push(n.into());
            &CLAIM_MANY
        }
        None => &CLAIM,
    };
    let t = run(client, stmt, &binds)?;
    let missing = || JobError::Internal {
        context,
        error: "NULL in a claimed row".into(),
    };
    let mut rows = Vec::with_capacity(t.len());
    for r in t {
        rows.push((
            r.get(1)?.ok_or_else(missing)?,
            r.get(2)?.ok_or_else(missing)?,
            r.get(3)?.ok_or_else(missing)?,
            r.get(4)?.ok_or_else(missing)?,
            r.get(5)?.ok_or_else(missing)?,
            r.get(6)?.ok_or_else(missing)?,
            r.get(7)?.ok_or_else(missing)?,
            r.get(8)?.ok_or_else(missing)?,
            r.get(9)?.ok_or_else(missing)?,
            r.get(10)?.ok_or_else(missing)?,
            r.get(11)?.ok_or_else(missing)?,
        ));
    }
    Ok(rows)
}

/// Claim the next due job (priority high first, then run_at, then enqueue order), atomically and
/// without blocking on jobs other workers hold. Returns one row, or none when nothing is due.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
pub fn claim_next_job(
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
    let rows = claim_args(p_worker_id, p_sources, p_job_types, p_lease_seconds)
        .and_then(|args| claim(args, None, "claim_next_job"))
        .or_raise("claim_next_job");
    TableIterator::new(rows.into_iter().take(1))
}

/// Claim up to `p_limit` due jobs at once (same order, filters, lease and records as claim_next_job,
/// each job with its own run id), in one statement. Returns 0..p_limit rows in claim order.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
pub fn claim_jobs(
    p_worker_id: default!(Option<&str>, "NULL"),
    p_sources: default!(Option<Vec<Option<String>>>, "NULL"),
    p_job_types: default!(Option<Vec<Option<String>>>, "NULL"),
    p_lease_seconds: default!(Option<i32>, 300),
    p_limit: default!(Option<i32>, 10),
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
    let rows = claim_args(p_worker_id, p_sources, p_job_types, p_lease_seconds)
        .and_then(|args| {
            let limit = check_limit(p_limit)?;
            claim(args, Some(limit), "claim_jobs")
        })
        .or_raise("claim_jobs");
    TableIterator::new(rows)
}
