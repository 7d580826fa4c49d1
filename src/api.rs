//! Read side: list_jobs, get_job, get_job_stats (the MCP Jobs design's GET /api/jobs/list, GET /api/jobs/[id],
//! getJobStats()).
use crate::errors::{required, JobError, JobResult, OrRaise};
use crate::raw_jsonb::RawJsonb;
use crate::rules::{check_name, check_status};
use crate::spi_util::{first, read, with_settings, Stmt, PLAN_EACH_CALL};
use pgrx::pg_sys;
use pgrx::prelude::*;

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
    let limit = check_page(limit, 50)?;
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
    crate::native::catalog::check_version("list_jobs");
    TableIterator::new(
        list(p_source, p_job_type, p_status, p_limit, p_before).or_raise("list_jobs"),
    )
}

/// One job as a JSON document, with its runs, events and dead letters.
#[pg_extern(stable, parallel_safe)]
pub fn get_job(p_job_id: Option<pgrx::Uuid>) -> RawJsonb {
    crate::native::catalog::check_version("get_job");
    (|| {
        let job_id = required(p_job_id, "p_job_id", "Pass the id returned by enqueue_job.")?;
        with_settings(PLAN_EACH_CALL, || {
            Spi::connect(|client| {
                first::<RawJsonb>(read(client, &GET, &[job_id.into()])?, 1)?
                    .ok_or(JobError::JobNotFound { job_id })
            })
        })
    })()
    .or_raise("get_job")
}

/// Counts of jobs by status (all five statuses, zeros included), the total, and unresolved dead
/// letters; for one source or all.
#[pg_extern(stable, parallel_safe)]
pub fn get_job_stats(p_source: default!(Option<&str>, "NULL")) -> RawJsonb {
    crate::native::catalog::check_version("get_job_stats");
    (|| {
        if p_source.is_some() {
            check_name(p_source, "p_source", "source")?;
        }
        with_settings(PLAN_EACH_CALL, || {
            Spi::connect(|client| {
                first::<RawJsonb>(read(client, &STATS, &[p_source.into()])?, 1)?.ok_or(
                    JobError::Internal {
                        context: "get_job_stats",
                        error: "no row".into(),
                    },
                )
            })
        })
    })()
    .or_raise("get_job_stats")
}

const METRICS: Stmt = Stmt {
    sql: include_str!("queries/get_metrics.sql"),
    args: &[
        pg_sys::TIMESTAMPTZOID,
        pg_sys::TIMESTAMPTZOID,
        pg_sys::TEXTOID,
        pg_sys::TEXTOID,
    ],
    write: false,
};

const METRICS_RANGE: Stmt = Stmt {
    sql: "SELECT coalesce($1, now() - interval '24 hours'), coalesce($2, now()),
                 coalesce($1, now() - interval '24 hours') > coalesce($2, now()),
                 coalesce($2, now()) - coalesce($1, now() - interval '24 hours') > make_interval(days => $3),
                 coalesce($1, now() - interval '24 hours')::text, coalesce($2, now())::text",
    args: &[
        pg_sys::TIMESTAMPTZOID,
        pg_sys::TIMESTAMPTZOID,
        pg_sys::INT4OID,
    ],
    write: false,
};

const DEAD_LETTERS: Stmt = Stmt {
    sql: include_str!("queries/list_dead_letters.sql"),
    args: &[
        pg_sys::TEXTOID,
        pg_sys::TEXTOID,
        pg_sys::BOOLOID,
        pg_sys::INT4OID,
        pg_sys::UUIDOID,
    ],
    write: false,
};

const DEAD_LETTER_GROUPS: Stmt = Stmt {
    sql: include_str!("queries/dead_letter_groups.sql"),
    args: &[pg_sys::BOOLOID],
    write: false,
};

/// The most rows one page of list_jobs or list_dead_letters returns.
pub const MAX_PAGE: i32 = 1000;

/// A page size argument: 1..MAX_PAGE.
pub fn check_page(limit: Option<i32>, default: i32) -> JobResult<i32> {
    let limit = limit.unwrap_or(default);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(JobError::invalid(
            "p_limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
            format!("p_limit was {limit}."),
            "Page through more rows with p_before set to the last id of the previous page.",
        ));
    }
    Ok(limit)
}

type MetricsRow = (
    TimestampWithTimeZone,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

fn metrics(
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
    source: Option<&str>,
    job_type: Option<&str>,
) -> JobResult<Vec<MetricsRow>> {
    if source.is_some() {
        check_name(source, "p_source", "source")?;
    }
    if job_type.is_some() {
        check_name(job_type, "p_job_type", "job type")?;
    }
    let max_days = crate::metrics::MAX_RANGE_DAYS;
    Spi::connect(|client| {
        let t = read(
            client,
            &METRICS_RANGE,
            &[from.into(), to.into(), max_days.into()],
        )?;
        let missing = || JobError::Internal {
            context: "get_metrics",
            error: "no range row".into(),
        };
        if t.is_empty() {
            return Err(missing());
        }
        let r = t.first();
        let lo: TimestampWithTimeZone = r.get(1)?.ok_or_else(missing)?;
        let hi: TimestampWithTimeZone = r.get(2)?.ok_or_else(missing)?;
        let from_text: String = r.get(5)?.unwrap_or_default();
        let to_text: String = r.get(6)?.unwrap_or_default();
        if r.get::<bool>(3)?.unwrap_or(false) {
            return Err(JobError::invalid(
                "p_from",
                "p_from is later than p_to",
                format!("p_from was {from_text} and p_to was {to_text}."),
                "Pass p_from <= p_to; omit both for the last 24 hours.",
            ));
        }
        if r.get::<bool>(4)?.unwrap_or(false) {
            return Err(JobError::invalid(
                "p_from",
                format!("the range is longer than {max_days} days"),
                format!("p_from was {from_text} and p_to was {to_text}."),
                format!("Read at most {max_days} days per call; page through longer ranges."),
            ));
        }
        let t = with_settings(PLAN_EACH_CALL, || {
            read(
                client,
                &METRICS,
                &[lo.into(), hi.into(), source.into(), job_type.into()],
            )
        })?;
        let missing = || JobError::Internal {
            context: "get_metrics",
            error: "NULL in a key column".into(),
        };
        let mut out = Vec::with_capacity(t.len());
        for r in t {
            out.push((
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
                r.get(12)?,
                r.get(13)?,
                r.get(14)?,
                r.get(15)?,
                r.get(16)?,
                r.get(17)?,
                r.get(18)?,
            ));
        }
        Ok(out)
    })
}

/// The hourly metrics of [hour of p_from, p_to) (default: the last 24 hours), at most 31 days, for
/// one source and job type or all, in hour order: what the console's charts draw.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
pub fn get_metrics(
    p_from: default!(Option<TimestampWithTimeZone>, "NULL"),
    p_to: default!(Option<TimestampWithTimeZone>, "NULL"),
    p_source: default!(Option<&str>, "NULL"),
    p_job_type: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(hour, TimestampWithTimeZone),
        name!(source, String),
        name!(job_type, String),
        name!(enqueued, i64),
        name!(started, i64),
        name!(completed, i64),
        name!(failed, i64),
        name!(retried, i64),
        name!(dead_lettered, i64),
        name!(cancelled, i64),
        name!(lease_expired, i64),
        name!(success_rate, Option<f64>),
        name!(run_ms_avg, Option<f64>),
        name!(run_ms_p50, Option<f64>),
        name!(run_ms_p95, Option<f64>),
        name!(run_ms_max, Option<f64>),
        name!(wait_ms_p50, Option<f64>),
        name!(wait_ms_p95, Option<f64>),
    ),
> {
    crate::native::catalog::check_version("get_metrics");
    TableIterator::new(
        with_settings(PLAN_EACH_CALL, || {
            metrics(p_from, p_to, p_source, p_job_type)
        })
        .or_raise("get_metrics"),
    )
}

type DeadLetterRow = (
    pgrx::Uuid,
    pgrx::Uuid,
    String,
    String,
    RawJsonb,
    i32,
    Option<String>,
    Option<RawJsonb>,
    TimestampWithTimeZone,
    bool,
    Option<TimestampWithTimeZone>,
    Option<String>,
    Option<String>,
);

fn dead_letters(
    source: Option<&str>,
    job_type: Option<&str>,
    resolved: Option<bool>,
    limit: Option<i32>,
    before: Option<pgrx::Uuid>,
) -> JobResult<Vec<DeadLetterRow>> {
    if source.is_some() {
        check_name(source, "p_source", "source")?;
    }
    if job_type.is_some() {
        check_name(job_type, "p_job_type", "job type")?;
    }
    let limit = check_page(limit, 50)?;
    with_settings(PLAN_EACH_CALL, || {
        Spi::connect(|client| {
            let t = read(
                client,
                &DEAD_LETTERS,
                &[
                    source.into(),
                    job_type.into(),
                    resolved.into(),
                    limit.into(),
                    before.into(),
                ],
            )?;
            let missing = || JobError::Internal {
                context: "list_dead_letters",
                error: "NULL in a NOT NULL column".into(),
            };
            let mut out = Vec::with_capacity(t.len());
            for r in t {
                out.push((
                    r.get(1)?.ok_or_else(missing)?,
                    r.get(2)?.ok_or_else(missing)?,
                    r.get(3)?.ok_or_else(missing)?,
                    r.get(4)?.ok_or_else(missing)?,
                    r.get(5)?.ok_or_else(missing)?,
                    r.get(6)?.ok_or_else(missing)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?.ok_or_else(missing)?,
                    r.get(10)?.ok_or_else(missing)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                ));
            }
            Ok(out)
        })
    })
}

/// Dead letters newest first, filtered by source, job type and resolved (default: the unresolved
/// ones; NULL: all). Keyset pagination: pass the last id of a page as p_before.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
pub fn list_dead_letters(
    p_source: default!(Option<&str>, "NULL"),
    p_job_type: default!(Option<&str>, "NULL"),
    p_resolved: default!(Option<bool>, false),
    p_limit: default!(Option<i32>, 50),
    p_before: default!(Option<pgrx::Uuid>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(id, pgrx::Uuid),
        name!(job_id, pgrx::Uuid),
        name!(source, String),
        name!(job_type, String),
        name!(payload, RawJsonb),
        name!(attempts, i32),
        name!(last_error, Option<String>),
        name!(details, Option<RawJsonb>),
        name!(failed_at, TimestampWithTimeZone),
        name!(resolved, bool),
        name!(resolved_at, Option<TimestampWithTimeZone>),
        name!(resolution, Option<String>),
        name!(resolution_note, Option<String>),
    ),
> {
    crate::native::catalog::check_version("list_dead_letters");
    TableIterator::new(
        dead_letters(p_source, p_job_type, p_resolved, p_limit, p_before)
            .or_raise("list_dead_letters"),
    )
}

type GroupRow = (
    String,
    String,
    String,
    i64,
    TimestampWithTimeZone,
    TimestampWithTimeZone,
    Vec<pgrx::Uuid>,
);

fn groups(resolved: Option<bool>) -> JobResult<Vec<GroupRow>> {
    with_settings(PLAN_EACH_CALL, || {
        Spi::connect(|client| {
            let t = read(client, &DEAD_LETTER_GROUPS, &[resolved.into()])?;
            let missing = || JobError::Internal {
                context: "dead_letter_groups",
                error: "NULL in a group row".into(),
            };
            let mut out = Vec::with_capacity(t.len());
            for r in t {
                out.push((
                    r.get(1)?.ok_or_else(missing)?,
                    r.get(2)?.ok_or_else(missing)?,
                    r.get(3)?.ok_or_else(missing)?,
                    r.get(4)?.ok_or_else(missing)?,
                    r.get(5)?.ok_or_else(missing)?,
                    r.get(6)?.ok_or_else(missing)?,
                    r.get::<Vec<pgrx::Uuid>>(7)?.ok_or_else(missing)?,
                ));
            }
            Ok(out)
        })
    })
}

/// Dead letters grouped by source, job type and error (its first line), largest group first, with
/// the ids of up to 100 of each group's newest dead letters (for requeue_dead_letters and
/// resolve_dead_letters). Default: the unresolved ones; NULL: all.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
pub fn dead_letter_groups(
    p_resolved: default!(Option<bool>, false),
) -> TableIterator<
    'static,
    (
        name!(source, String),
        name!(job_type, String),
        name!(error, String),
        name!(dead_letters, i64),
        name!(first_failed_at, TimestampWithTimeZone),
        name!(last_failed_at, TimestampWithTimeZone),
        name!(ids, Vec<pgrx::Uuid>),
    ),
> {
    crate::native::catalog::check_version("dead_letter_groups");
    TableIterator::new(groups(p_resolved).or_raise("dead_letter_groups"))
}

/// How this installation serves the queue: the library and extension versions, whether the library
/// is preloaded (the maintenance worker, latch wake-ups of waiting claims) or not (waiting claims
/// poll every 100 ms, maintenance runs from pg_cron), and how many claims are waiting now.
#[pg_extern(stable, parallel_safe)]
pub fn diagnostics() -> pgrx::JsonB {
    (|| -> JobResult<pgrx::JsonB> {
        let installed: Option<String> = Spi::get_one(
            "SELECT extversion::text FROM pg_catalog.pg_extension WHERE extname = 'mcp_jobs'",
        )?;
        let preloaded = crate::wake::mode() == "latch";
        Ok(pgrx::JsonB(serde_json::json!({
            "library_version": env!("CARGO_PKG_VERSION"),
            "extension_version": installed,
            "preloaded": preloaded,
            "wakeups": if preloaded { "latch" } else { "polling (mcp_jobs is not in shared_preload_libraries: waiting claims look every 100 ms)" },
            "waiting_claims": crate::wake::waiting(),
            "waiters_woken": crate::wake::wakeups(),
            "maintenance_worker": crate::wake::maintenance_pid().is_some(),
            "lease_sweep_interval_ms": crate::config::LEASE_SWEEP_INTERVAL_MS.get(),
        })))
    })()
    .or_raise("diagnostics")
}
