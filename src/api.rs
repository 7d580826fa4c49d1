//! Read side: list_jobs, get_job, get_job_stats (the seed's GET /api/jobs/list, GET /api/jobs/[id],
//! getJobStats()).
use crate::enqueue::check_name;
use crate::errors::{required, JobError, JobResult, OrRaise};
use crate::raw_jsonb::RawJsonb;
use crate::spi_util::{first, read, with_settings, Stmt, PLAN_EACH_CALL};
use pgrx::pg_sys;
use pgrx::prelude::*;

pub const STATUSES: [&str; 5] = ["queued", "processing", "completed", "failed", "cancelled"];

const LIST: Stmt = Stmt {
    sql: include_str!("queries/list_jobs.sql"),
    args: &[
        pg_sys::TEXTOID,
        pg_sys::TEXTOID,
        pg_sys::TEXTOID,
        pg_sys::INT4OID,
        pg_sys::UUIDOID,
    ],
    write: false,
};

const GET: Stmt = Stmt {
    sql: include_str!("queries/get_job.sql"),
    args: &[pg_sys::UUIDOID],
    write: false,
};

const STATS: Stmt = Stmt {
    sql: include_str!("queries/get_job_stats.sql"),
    args: &[pg_sys::TEXTOID],
    write: false,
};

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

type ListRow = (
    pgrx::Uuid,
    String,
    String,
    String,
    i32,
    i32,
    i32,
    Option<RawJsonb>,
    Option<RawJsonb>,
    Option<String>,
    Option<String>,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
);

fn list(
    source: Option<&str>,
    job_type: Option<&str>,
    status: Option<&str>,
    limit: Option<i32>,
    before: Option<pgrx::Uuid>,
) -> JobResult<Vec<ListRow>> {
    if source.is_some() {
        check_name(source, "p_source", "source")?;
    }
    if job_type.is_some() {
        check_name(job_type, "p_job_type", "job type")?;
    }
    if let Some(s) = status {
        check_status(s)?;
    }
    let limit = limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(JobError::invalid(
            "p_limit",
            "limit must be between 1 and 1000",
            format!("p_limit was {limit}."),
            "Page through more rows with p_before set to the last id of the previous page.",
        ));
    }
    with_settings(PLAN_EACH_CALL, || {
        Spi::connect(|client| {
            let t = read(
                client,
                &LIST,
                &[
                    source.into(),
                    job_type.into(),
                    status.into(),
                    limit.into(),
                    before.into(),
                ],
            )?;
            let mut out = Vec::with_capacity(t.len());
            let missing = || JobError::Internal {
                context: "list_jobs",
                error: "NULL in a key column".into(),
            };
            for r in t {
                out.push((
                    r.get(1)?.ok_or_else(missing)?,
                    r.get(2)?.ok_or_else(missing)?,
                    r.get(3)?.ok_or_else(missing)?,
                    r.get(4)?.ok_or_else(missing)?,
                    r.get(5)?.ok_or_else(missing)?,
                    r.get(6)?.ok_or_else(missing)?,
                    r.get(7)?.ok_or_else(missing)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                    r.get(14)?,
                    r.get(15)?,
                    r.get(16)?,
                ));
            }
            Ok(out)
        })
    })
}

/// Jobs, newest first, filtered by source, type and status. Keyset pagination: pass the last id of a
/// page as p_before to get the next page.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
pub fn list_jobs(
    p_source: default!(Option<&str>, "NULL"),
    p_job_type: default!(Option<&str>, "NULL"),
    p_status: default!(Option<&str>, "NULL"),
    p_limit: default!(Option<i32>, 50),
    p_before: default!(Option<pgrx::Uuid>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(id, pgrx::Uuid),
        name!(source, String),
        name!(job_type, String),
        name!(status, String),
        name!(priority, i32),
        name!(attempts, i32),
        name!(max_attempts, i32),
        name!(payload, Option<RawJsonb>),
        name!(result, Option<RawJsonb>),
        name!(last_error, Option<String>),
        name!(worker_id, Option<String>),
        name!(run_at, Option<TimestampWithTimeZone>),
        name!(created_at, Option<TimestampWithTimeZone>),
        name!(updated_at, Option<TimestampWithTimeZone>),
        name!(started_at, Option<TimestampWithTimeZone>),
        name!(finished_at, Option<TimestampWithTimeZone>),
    ),
> {
    TableIterator::new(
        list(p_source, p_job_type, p_status, p_limit, p_before).or_raise("list_jobs"),
    )
}

/// One job as a JSON document, with its runs, events and dead letters.
#[pg_extern(stable, parallel_safe)]
pub fn get_job(p_job_id: Option<pgrx::Uuid>) -> RawJsonb {
    (|| {
        let job_id = required(p_job_id, "p_job_id", "Pass the id returned by enqueue_job.")?;
        Spi::connect(|client| {
            first::<RawJsonb>(read(client, &GET, &[job_id.into()])?, 1)?
                .ok_or(JobError::JobNotFound { job_id })
        })
    })()
    .or_raise("get_job")
}

/// Counts of jobs by status (all five statuses, zeros included), the total, and unresolved dead
/// letters; for one source or all.
#[pg_extern(stable, parallel_safe)]
pub fn get_job_stats(p_source: default!(Option<&str>, "NULL")) -> RawJsonb {
    (|| {
        if p_source.is_some() {
            check_name(p_source, "p_source", "source")?;
        }
        Spi::connect(|client| {
            first::<RawJsonb>(read(client, &STATS, &[p_source.into()])?, 1)?.ok_or(
                JobError::Internal {
                    context: "get_job_stats",
                    error: "no row".into(),
                },
            )
        })
    })()
    .or_raise("get_job_stats")
}
