//! Hourly metrics (aggregate_metrics), alerts on the MCP Jobs design's thresholds, and the queue_depth view.
use crate::config;
use crate::errors::{JobError, JobResult, OrRaise};
use crate::spi_util::{first, read, run, with_settings, Stmt, PLAN_EACH_CALL};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

extension_sql_file!(
    "../sql/monitoring.sql",
    name = "monitoring",
    requires = ["schema"]
);

const RANGE: Stmt = Stmt {
    sql: include_str!("queries/metrics_range.sql"),
    args: &[
        pg_sys::TIMESTAMPTZOID,
        pg_sys::TIMESTAMPTZOID,
        pg_sys::INT4OID,
    ],
    write: false,
};

const LOCK: Stmt = Stmt {
    sql: include_str!("queries/metrics_lock.sql"),
    args: &[],
    write: true,
};

const ALERTS: Stmt = Stmt {
    sql: include_str!("queries/alerts.sql"),
    args: &[
        pg_sys::INT4OID,
        pg_sys::INT4OID,
        pg_sys::INT4OID,
        pg_sys::INT4OID,
        pg_sys::FLOAT8OID,
        pg_sys::FLOAT8OID,
        pg_sys::INT4OID,
    ],
    write: false,
};

/// The longest range one aggregate_metrics call may cover.
pub const MAX_RANGE_DAYS: i32 = 31;

/// What one aggregation did.
pub struct Aggregated {
    /// Rows inserted or updated.
    pub written: i64,
}

/// Recompute the metrics rows of every whole hour touched by [hour of `from`, `to`).
/// `from` defaults to the start of the previous hour, `to` to now().
pub fn aggregate(
    client: &mut SpiClient<'_>,
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
) -> JobResult<Aggregated> {
    let t = read(
        client,
        &RANGE,
        &[from.into(), to.into(), MAX_RANGE_DAYS.into()],
    )?;
    let missing = || JobError::Internal {
        context: "aggregate_metrics",
        error: "no range row".into(),
    };
    if t.is_empty() {
        return Err(missing());
    }
    let r = t.first();
    let lo: TimestampWithTimeZone = r.get(1)?.ok_or_else(missing)?;
    let hi: TimestampWithTimeZone = r.get(2)?.ok_or_else(missing)?;
    let reversed: bool = r.get(3)?.unwrap_or(false);
    let too_long: bool = r.get(4)?.unwrap_or(false);
    let from_text: String = r.get(5)?.unwrap_or_default();
    let to_text: String = r.get(6)?.unwrap_or_default();
    if reversed {
        return Err(JobError::invalid(
            "p_from",
            "p_from is later than p_to",
            format!("p_from was {from_text} and p_to was {to_text}."),
            "Pass p_from <= p_to; omit both to aggregate the previous and the current hour.",
        ));
    }
    if too_long {
        return Err(JobError::invalid(
            "p_from",
            format!("the range is longer than {MAX_RANGE_DAYS} days"),
            format!("p_from was {from_text} and p_to was {to_text}."),
            format!(
                "Aggregate at most {MAX_RANGE_DAYS} days per call, in several calls for a longer backfill. \
                 Hours whose jobs were pruned (mcp_jobs.retention) cannot be recomputed."
            ),
        ));
    }
    run(client, &LOCK, &[])?;
    // only the events before the watermark: the ones after it are the next round's to add, and
    // counting them here would count them twice
    let upto: Option<TimestampWithTimeZone> = first(run(client, &STATE, &[])?, 1)?;
    let (written, _deleted) = crate::rollup::recompute(client, lo, hi, upto)?;
    Ok(Aggregated { written })
}

const STATE: Stmt = Stmt {
    sql: "SELECT metrics_through FROM mcp_jobs.maintenance_state FOR UPDATE",
    args: &[],
    write: true,
};

const ADVANCE: Stmt = Stmt {
    sql: "UPDATE mcp_jobs.maintenance_state SET metrics_through = $1, updated_at = now()",
    args: &[pg_sys::TIMESTAMPTZOID],
    write: true,
};

/// What a maintenance round did to the metrics.
pub struct Rolled {
    pub from: Option<TimestampWithTimeZone>,
    pub to: TimestampWithTimeZone,
    pub rows: i64,
}

/// Maintenance: add the events since the last round to the metrics (the first round after an
/// install or upgrade recomputes the previous and the current hour instead).
pub fn roll_forward(client: &mut SpiClient<'_>) -> JobResult<Rolled> {
    run(client, &LOCK, &[])?;
    let to = crate::native::tstz(crate::rollup::safe_watermark());
    let from: Option<TimestampWithTimeZone> = first(run(client, &STATE, &[])?, 1)?;
    let rows = match from {
        Some(f) if f >= to => 0,
        Some(f) => crate::rollup::add(client, f, to)?,
        None => {
            // no watermark yet: the hours maintenance would have kept up to date
            let hour_us = 3_600_000_000i64;
            let now = crate::native::now();
            let lo = now - now.rem_euclid(hour_us) - hour_us;
            let (w, _) = crate::rollup::recompute(client, crate::native::tstz(lo), to, None)?;
            w
        }
    };
    run(client, &ADVANCE, &[to.into()])?;
    Ok(Rolled { from, to, rows })
}

/// Recompute mcp_jobs.metrics for every whole UTC hour touched by [p_from, p_to) (default: the
/// previous and the current hour), from the event log and the runs. Idempotent; rows outside the
/// range are never touched. Returns the number of rows written (inserted or updated).
#[pg_extern(volatile, parallel_unsafe)]
pub fn aggregate_metrics(
    p_from: default!(Option<TimestampWithTimeZone>, "NULL"),
    p_to: default!(Option<TimestampWithTimeZone>, "NULL"),
) -> i64 {
    crate::native::catalog::check_version("aggregate_metrics");
    with_settings(PLAN_EACH_CALL, || {
        Spi::connect_mut(|client| aggregate(client, p_from, p_to))
    })
    .map(|a| a.written)
    .or_raise("aggregate_metrics")
}

type AlertRow = (String, String, String, f64, f64, String);

fn alert_rows() -> JobResult<Vec<AlertRow>> {
    let args = [
        config::ALERT_QUEUE_DEPTH_WARNING.get().into(),
        config::ALERT_QUEUE_DEPTH_CRITICAL.get().into(),
        config::ALERT_DEAD_LETTER_WARNING.get().into(),
        config::ALERT_DEAD_LETTER_CRITICAL.get().into(),
        config::ALERT_SUCCESS_RATE_WARNING.get().into(),
        config::ALERT_SUCCESS_RATE_CRITICAL.get().into(),
        config::ALERT_PAUSED_AFTER_S.get().into(),
    ];
    with_settings(PLAN_EACH_CALL, || {
        Spi::connect(|client| {
            let t = read(client, &ALERTS, &args)?;
            let missing = || JobError::Internal {
                context: "alerts",
                error: "NULL in an alert row".into(),
            };
            let mut out = Vec::new();
            for r in t {
                out.push((
                    r.get(1)?.ok_or_else(missing)?,
                    r.get(2)?.ok_or_else(missing)?,
                    r.get(3)?.ok_or_else(missing)?,
                    r.get(4)?.ok_or_else(missing)?,
                    r.get(5)?.ok_or_else(missing)?,
                    r.get(6)?.ok_or_else(missing)?,
                ));
            }
            Ok(out)
        })
    })
}

/// The MCP Jobs design's alert thresholds, per source: one row per (source, metric) past its warning or
/// critical threshold (the most severe level only). Thresholds: the mcp_jobs.alert_* settings.
#[pg_extern(stable, parallel_safe)]
pub fn alerts() -> TableIterator<
    'static,
    (
        name!(level, String),
        name!(metric, String),
        name!(source, String),
        name!(value, f64),
        name!(threshold, f64),
        name!(message, String),
    ),
> {
    crate::native::catalog::check_version("alerts");
    TableIterator::new(alert_rows().or_raise("alerts"))
}
