//! The flow-control API: set_queue, pause_queue, resume_queue, get_queues (the rules they set are
//! enforced in the claim and the enqueue, src/flow.rs).
use crate::errors::{required, JobError, JobResult, OrRaise};
use crate::rules::{check_name, check_optional_name};
use crate::spi_util::{with_settings, PLAN_EACH_CALL};
use pgrx::prelude::*;

/// Settings set_queue can clear with p_clear.
const CLEARABLE: [&str; 5] = [
    "paused",
    "max_concurrency",
    "max_concurrency_per_key",
    "rate_limit",
    "max_queued",
];

/// The longest rate period (a week): windows are aligned to multiples of it since the Unix epoch.
const MAX_PERIOD_US: i64 = 7 * 24 * 3600 * 1_000_000;

fn check_limit(v: Option<i32>, arg: &'static str, what: &str) -> JobResult<()> {
    if let Some(n) = v {
        if n < 1 {
            return Err(JobError::invalid(
                arg,
                format!("{what} must be at least 1"),
                format!("{arg} was {n}."),
                format!(
                    "Pass a positive {what}; to remove the limit, pass p_clear => ARRAY['{}'].",
                    arg.trim_start_matches("p_")
                ),
            ));
        }
    }
    Ok(())
}

/// The interval's length in microseconds, or an error for a period that is not a fixed length.
fn period_us(p: &Interval) -> JobResult<i64> {
    if p.months() != 0 {
        return Err(JobError::invalid(
            "p_rate_period",
            "the period must be a fixed length",
            format!(
                "p_rate_period has a months part ({} months), whose length varies.",
                p.months()
            ),
            "Use seconds, minutes, hours or days, e.g. interval '1 minute'.",
        ));
    }
    let us = i64::from(p.days()) * 86_400_000_000 + p.micros();
    if us <= 0 || us > MAX_PERIOD_US {
        return Err(JobError::invalid(
            "p_rate_period",
            "the period must be longer than 0 and at most 7 days",
            format!("p_rate_period was {us} microseconds."),
            "Pass e.g. interval '1 second', '1 minute' or '1 hour'.",
        ));
    }
    Ok(us)
}

const UPSERT: &str = "
INSERT INTO mcp_jobs.queues AS q (source, job_type, paused, paused_at, max_concurrency,
                                  max_concurrency_per_key, rate_limit, rate_period, max_queued)
-- the row proposed for the insert takes the half of the rate pair this call leaves as it is from
-- the existing row: the table's CHECK sees it before ON CONFLICT does (set_queue refuses halves)
VALUES ($1, $2, $3, CASE WHEN $3 THEN now() END, $4, $5,
        coalesce($6, (SELECT e.rate_limit FROM mcp_jobs.queues e
                       WHERE e.source = $1 AND e.job_type IS NOT DISTINCT FROM $2)),
        coalesce($7, (SELECT e.rate_period FROM mcp_jobs.queues e
                       WHERE e.source = $1 AND e.job_type IS NOT DISTINCT FROM $2)),
        $8)
ON CONFLICT ON CONSTRAINT queues_key DO UPDATE
   SET paused = CASE WHEN 'paused' = ANY ($9) THEN NULL ELSE coalesce($3, q.paused) END,
       paused_at = CASE WHEN 'paused' = ANY ($9) OR $3 IS FALSE THEN NULL
                        WHEN $3 AND q.paused IS NOT TRUE THEN now()
                        ELSE q.paused_at END,
       max_concurrency = CASE WHEN 'max_concurrency' = ANY ($9) THEN NULL ELSE coalesce($4, q.max_concurrency) END,
       max_concurrency_per_key = CASE WHEN 'max_concurrency_per_key' = ANY ($9) THEN NULL
                                      ELSE coalesce($5, q.max_concurrency_per_key) END,
       rate_limit = CASE WHEN 'rate_limit' = ANY ($9) THEN NULL ELSE coalesce($6, q.rate_limit) END,
       rate_period = CASE WHEN 'rate_limit' = ANY ($9) THEN NULL ELSE coalesce($7, q.rate_period) END,
       window_start = CASE WHEN $6 IS NOT NULL OR $7 IS NOT NULL OR 'rate_limit' = ANY ($9) THEN NULL
                           ELSE q.window_start END,
       window_claims = CASE WHEN $6 IS NOT NULL OR $7 IS NOT NULL OR 'rate_limit' = ANY ($9) THEN 0
                            ELSE q.window_claims END,
       max_queued = CASE WHEN 'max_queued' = ANY ($9) THEN NULL ELSE coalesce($8, q.max_queued) END,
       queued_count = CASE WHEN $8 IS NOT NULL OR 'max_queued' = ANY ($9) THEN NULL ELSE q.queued_count END,
       updated_at = now()";

/// The rate settings the row has now (before set_queue merges its arguments into it).
const RATE_NOW: &str = "
SELECT rate_limit IS NOT NULL, rate_period IS NOT NULL
  FROM mcp_jobs.queues WHERE source = $1 AND job_type IS NOT DISTINCT FROM $2";

const EMPTY_ROW: &str = "
DELETE FROM mcp_jobs.queues
 WHERE source = $1 AND job_type IS NOT DISTINCT FROM $2
   AND paused IS NULL AND max_concurrency IS NULL AND max_concurrency_per_key IS NULL
   AND rate_limit IS NULL AND max_queued IS NULL";

/// The settings row of (source, job_type) as JSON, or JSON null.
const ROW_JSON: &str = "
SELECT coalesce((SELECT jsonb_build_object(
           'source', source, 'job_type', job_type, 'paused', paused, 'paused_at', paused_at,
           'max_concurrency', max_concurrency, 'max_concurrency_per_key', max_concurrency_per_key,
           'rate_limit', rate_limit, 'rate_period', rate_period, 'max_queued', max_queued,
           'updated_at', updated_at)
         FROM mcp_jobs.queues WHERE source = $1 AND job_type IS NOT DISTINCT FROM $2), 'null'::jsonb)";

#[allow(clippy::too_many_arguments)]
fn set(
    source: Option<&str>,
    job_type: Option<&str>,
    paused: Option<bool>,
    max_concurrency: Option<i32>,
    rate_limit: Option<i32>,
    rate_period: Option<Interval>,
    max_queued: Option<i32>,
    max_per_key: Option<i32>,
    clear: Option<Vec<Option<String>>>,
) -> JobResult<pgrx::JsonB> {
    check_name(source, "p_source", "source")?;
    check_optional_name(job_type, "p_job_type", "job type")?;
    check_limit(max_concurrency, "p_max_concurrency", "max_concurrency")?;
    check_limit(
        max_per_key,
        "p_max_concurrency_per_key",
        "max_concurrency_per_key",
    )?;
    check_limit(rate_limit, "p_rate_limit", "rate_limit")?;
    check_limit(max_queued, "p_max_queued", "max_queued")?;
    if let Some(p) = &rate_period {
        period_us(p)?;
    }
    let mut cleared: Vec<String> = Vec::new();
    for (i, c) in clear.unwrap_or_default().into_iter().enumerate() {
        let c = c.ok_or(JobError::NullElement {
            arg: "p_clear",
            index: i + 1,
            hint: "Name the settings to remove: paused, max_concurrency, max_concurrency_per_key, rate_limit, max_queued.",
        })?;
        if !CLEARABLE.contains(&c.as_str()) {
            return Err(JobError::invalid(
                "p_clear",
                format!("unknown setting '{c}'"),
                format!("p_clear names '{c}'."),
                format!("Name settings among: {}.", CLEARABLE.join(", ")),
            ));
        }
        let given = match c.as_str() {
            "paused" => paused.is_some(),
            "max_concurrency" => max_concurrency.is_some(),
            "max_concurrency_per_key" => max_per_key.is_some(),
            "rate_limit" => rate_limit.is_some() || rate_period.is_some(),
            _ => max_queued.is_some(),
        };
        if given {
            return Err(JobError::invalid(
                "p_clear",
                format!("'{c}' is both set and cleared"),
                format!("p_clear names '{c}' and the call also passes a value for it."),
                "Either set a value or clear it, not both.",
            ));
        }
        cleared.push(c);
    }
    let source = required(source, "p_source", "Pass the queue's source.")?;
    with_settings(PLAN_EACH_CALL, || {
        Spi::connect_mut(|client| {
            // the row's lock: claims of this queue see the change whole, or not at all
            crate::flow::lock_row_wait(&(source.to_string(), job_type.map(str::to_string)));
            // refuse a half rate setting (one of limit and period) before anything is written
            let now = client.select(RATE_NOW, None, &[source.into(), job_type.into()])?;
            let (had_limit, had_period) = if now.is_empty() {
                (false, false)
            } else {
                let r = now.first();
                (
                    r.get::<bool>(1)?.unwrap_or(false),
                    r.get::<bool>(2)?.unwrap_or(false),
                )
            };
            let rate_cleared = cleared.iter().any(|c| c == "rate_limit");
            let will_limit = !rate_cleared && (rate_limit.is_some() || had_limit);
            let will_period = !rate_cleared && (rate_period.is_some() || had_period);
            if will_limit != will_period {
                let (arg, missing) = if will_limit {
                    ("p_rate_period", "a rate_period")
                } else {
                    ("p_rate_limit", "a rate_limit")
                };
                return Err(JobError::invalid(
                    arg,
                    "rate_limit and rate_period go together",
                    format!("After this call the queue would have {} but not {missing}.",
                        if will_limit { "a rate_limit" } else { "a rate_period" }),
                    "Pass both p_rate_limit and p_rate_period (or clear rate_limit, which clears both).",
                ));
            }
            client.update(
                UPSERT,
                None,
                &[
                    source.into(),
                    job_type.into(),
                    paused.into(),
                    max_concurrency.into(),
                    max_per_key.into(),
                    rate_limit.into(),
                    rate_period.into(),
                    max_queued.into(),
                    cleared.clone().into(),
                ],
            )?;
            client.update(EMPTY_ROW, None, &[source.into(), job_type.into()])?;
            let row = client
                .select(ROW_JSON, None, &[source.into(), job_type.into()])?
                .first()
                .get::<pgrx::JsonB>(1)?;
            Ok(row.unwrap_or(pgrx::JsonB(serde_json::Value::Null)))
        })
    })
}

/// Set the flow control of a queue: a (source, job_type) pair, or with p_job_type NULL the source
/// (its values apply to its job types that do not set their own; a limit set there is one budget
/// for them together). NULL leaves a setting as it is; p_clear names settings to remove. Returns
/// the row (JSON null when no setting is left).
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::too_many_arguments)]
pub fn set_queue(
    p_source: Option<&str>,
    p_job_type: default!(Option<&str>, "NULL"),
    p_paused: default!(Option<bool>, "NULL"),
    p_max_concurrency: default!(Option<i32>, "NULL"),
    p_rate_limit: default!(Option<i32>, "NULL"),
    p_rate_period: default!(Option<Interval>, "NULL"),
    p_max_queued: default!(Option<i32>, "NULL"),
    p_max_concurrency_per_key: default!(Option<i32>, "NULL"),
    p_clear: default!(Option<Vec<Option<String>>>, "NULL"),
) -> pgrx::JsonB {
    crate::native::catalog::check_version("set_queue");
    set(
        p_source,
        p_job_type,
        p_paused,
        p_max_concurrency,
        p_rate_limit,
        p_rate_period,
        p_max_queued,
        p_max_concurrency_per_key,
        p_clear,
    )
    .or_raise("set_queue")
}

/// Pause a queue (or a whole source): no job of it is claimed until resume_queue; enqueues go on.
#[pg_extern(volatile, parallel_unsafe)]
pub fn pause_queue(
    p_source: Option<&str>,
    p_job_type: default!(Option<&str>, "NULL"),
) -> pgrx::JsonB {
    crate::native::catalog::check_version("pause_queue");
    set(
        p_source,
        p_job_type,
        Some(true),
        None,
        None,
        None,
        None,
        None,
        None,
    )
    .or_raise("pause_queue")
}

/// Resume a queue paused with pause_queue (removes its pause; a pause of its source still applies).
#[pg_extern(volatile, parallel_unsafe)]
pub fn resume_queue(
    p_source: Option<&str>,
    p_job_type: default!(Option<&str>, "NULL"),
) -> pgrx::JsonB {
    crate::native::catalog::check_version("resume_queue");
    set(
        p_source,
        p_job_type,
        None,
        None,
        None,
        None,
        None,
        None,
        Some(vec![Some("paused".to_string())]),
    )
    .or_raise("resume_queue")
}

type QueueRow = (
    String,
    Option<String>,
    Option<bool>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<Interval>,
    Option<i32>,
    Option<TimestampWithTimeZone>,
    i64,
    i64,
    i32,
    Option<TimestampWithTimeZone>,
    TimestampWithTimeZone,
);

fn rows() -> JobResult<Vec<QueueRow>> {
    with_settings(PLAN_EACH_CALL, || {
        Spi::connect(|client| {
            let t = client.select(include_str!("queries/get_queues.sql"), None, &[])?;
            let missing = || JobError::Internal {
                context: "get_queues",
                error: "NULL in a NOT NULL column".into(),
            };
            let mut out = Vec::with_capacity(t.len());
            for r in t {
                out.push((
                    r.get(1)?.ok_or_else(missing)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?.ok_or_else(missing)?,
                    r.get(11)?.ok_or_else(missing)?,
                    r.get(12)?.ok_or_else(missing)?,
                    r.get(13)?,
                    r.get(14)?.ok_or_else(missing)?,
                ));
            }
            Ok(out)
        })
    })
}

/// The flow-control settings of every queue that has some, with live counts of its scope: queued
/// and processing jobs, and claims in the current rate window.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
pub fn get_queues() -> TableIterator<
    'static,
    (
        name!(source, String),
        name!(job_type, Option<String>),
        name!(paused, Option<bool>),
        name!(max_concurrency, Option<i32>),
        name!(max_concurrency_per_key, Option<i32>),
        name!(rate_limit, Option<i32>),
        name!(rate_period, Option<Interval>),
        name!(max_queued, Option<i32>),
        name!(paused_at, Option<TimestampWithTimeZone>),
        name!(queued, i64),
        name!(processing, i64),
        name!(claims_in_window, i32),
        name!(window_start, Option<TimestampWithTimeZone>),
        name!(updated_at, TimestampWithTimeZone),
    ),
> {
    crate::native::catalog::check_version("get_queues");
    TableIterator::new(rows().or_raise("get_queues"))
}
