//! Recurring jobs: schedule_job / unschedule_job / list_schedules, cron_next, and run_schedules,
//! which maintenance calls every round.
//!
//! A schedule is a cron expression (five fields, or @hourly-style names; the croner crate) read in
//! a time zone (chrono-tz: daylight saving time handled: a local time that does not exist on a
//! spring-forward day runs at the next existing minute, one that exists twice runs once).
//! Catch-up rule: a round enqueues, for each due schedule, only the latest occurrence at or before
//! its time, whatever it missed while maintenance did not run; each occurrence is enqueued once,
//! also by two maintainers at once (the schedule's row is locked, SKIP LOCKED, and the job carries
//! the idempotency key `schedule:<occurrence>:<name hash>`).
use crate::enqueue::{enqueue_in, new_job};
use crate::errors::{JobError, JobResult, OrRaise};
use crate::jobs::Ctx;
use crate::raw_jsonb::RawJsonb;
use crate::rules::{check_name, check_priority, normalize_payload, DEFAULT_PRIORITY};
use crate::spi_util::{with_settings, PLAN_EACH_CALL};
use chrono::{DateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use pgrx::prelude::*;

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

fn to_utc(t: TimestampWithTimeZone) -> DateTime<Utc> {
    let us = t.into_inner() + EPOCH_OFFSET_US;
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

fn from_utc(t: DateTime<Utc>) -> TimestampWithTimeZone {
    crate::native::tstz(t.timestamp_micros() - EPOCH_OFFSET_US)
}

/// A parsed schedule: the cron expression and its time zone.
pub struct Spec {
    cron: Cron,
    tz: Tz,
}

pub fn parse(expr: Option<&str>, timezone: Option<&str>) -> JobResult<Spec> {
    let expr = crate::errors::required(
        expr,
        "p_cron",
        "Pass a cron expression, e.g. '*/5 * * * *' or '@hourly'.",
    )?;
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    let cron = parser.parse(expr).map_err(|e| {
        JobError::invalid(
            "p_cron",
            "not a cron expression",
            format!("p_cron was '{expr}': {e}."),
            "Use five fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * *', or @yearly, @monthly, @weekly, @daily, @hourly.",
        )
    })?;
    let tzname = timezone.unwrap_or("UTC");
    let tz: Tz = tzname.parse().map_err(|_| {
        JobError::invalid(
            "p_timezone",
            format!("unknown time zone '{tzname}'"),
            format!("p_timezone was '{tzname}'."),
            "Use an IANA time zone name, e.g. 'UTC', 'Europe/Berlin', 'America/New_York' (SELECT name FROM pg_timezone_names).",
        )
    })?;
    Ok(Spec { cron, tz })
}

impl Spec {
    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> JobResult<DateTime<Utc>> {
        // occurrences are whole seconds; croner would keep t's fraction of a second
        let t = t.with_nanosecond(0).unwrap_or(t);
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| {
                JobError::invalid(
                    "p_cron",
                    "the expression never matches",
                    e.to_string(),
                    "Check the day and month fields.",
                )
            })
    }

    /// The last occurrence at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t = t.with_nanosecond(0).unwrap_or(t);
        self.cron
            .find_previous_occurrence(&t.with_timezone(&self.tz), true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}

/// The next `p_count` (1..1000) occurrences of a cron expression after `p_after` in `p_timezone`:
/// what schedule_job would run, to check an expression before using it.
#[pg_extern(stable, parallel_safe)]
pub fn cron_next(
    p_cron: Option<&str>,
    p_timezone: default!(Option<&str>, "'UTC'"),
    p_after: default!(Option<TimestampWithTimeZone>, "NULL"),
    p_count: default!(Option<i32>, 1),
) -> SetOfIterator<'static, TimestampWithTimeZone> {
    let rows = (|| {
        let spec = parse(p_cron, p_timezone)?;
        let count = p_count.unwrap_or(1);
        if !(1..=1000).contains(&count) {
            return Err(JobError::invalid(
                "p_count",
                "must be between 1 and 1000",
                format!("p_count was {count}."),
                "Ask for at most 1000 occurrences.",
            ));
        }
        let mut t = match p_after {
            Some(a) => to_utc(a),
            None => to_utc(crate::native::tstz(crate::native::now())),
        };
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            t = spec.next_after(t)?;
            out.push(from_utc(t));
        }
        Ok(out)
    })()
    .or_raise("cron_next");
    SetOfIterator::new(rows)
}

const UPSERT: &str = "
INSERT INTO mcp_jobs.schedules AS s (name, cron, timezone, source, job_type, payload, priority, next_run_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (name) DO UPDATE
   SET cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, source = EXCLUDED.source,
       job_type = EXCLUDED.job_type, payload = EXCLUDED.payload, priority = EXCLUDED.priority,
       next_run_at = EXCLUDED.next_run_at, updated_at = now()
RETURNING to_jsonb(s)";

/// Create or replace the schedule `p_name`: enqueue a job (source, job type, payload, priority) at
/// every occurrence of `p_cron` in `p_timezone`. Returns the schedule row.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::too_many_arguments)]
pub fn schedule_job(
    p_name: Option<&str>,
    p_cron: Option<&str>,
    p_source: Option<&str>,
    p_job_type: Option<&str>,
    p_payload: default!(Option<RawJsonb>, "'{}'::jsonb"),
    p_priority: default!(Option<i32>, 5),
    p_timezone: default!(Option<&str>, "'UTC'"),
) -> pgrx::JsonB {
    crate::native::catalog::check_version("schedule_job");
    (|| {
        check_name(p_name, "p_name", "schedule name")?;
        let spec = parse(p_cron, p_timezone)?;
        check_name(p_source, "p_source", "source")?;
        check_name(p_job_type, "p_job_type", "job type")?;
        let priority = p_priority.unwrap_or(DEFAULT_PRIORITY);
        check_priority(priority)?;
        let payload = normalize_payload(p_payload, "p_payload")?;
        let now = to_utc(crate::native::tstz(crate::native::now()));
        let next = from_utc(spec.next_after(now)?);
        let payload_arg: pgrx::datum::DatumWithOid = match payload {
            Some(p) => p.into(),
            None => RawJsonb::from_datum_copy(crate::native::jsonb_from_text("{}")).into(),
        };
        with_settings(PLAN_EACH_CALL, || {
            Spi::connect_mut(|client| {
                let t = client.update(
                    UPSERT,
                    None,
                    &[
                        p_name.into(),
                        p_cron.into(),
                        p_timezone.unwrap_or("UTC").into(),
                        p_source.into(),
                        p_job_type.into(),
                        payload_arg,
                        priority.into(),
                        next.into(),
                    ],
                )?;
                Ok(t.first()
                    .get::<pgrx::JsonB>(1)?
                    .unwrap_or(pgrx::JsonB(serde_json::Value::Null)))
            })
        })
    })()
    .or_raise("schedule_job")
}

/// Remove the schedule `p_name` (jobs it already enqueued stay). Returns the removed row.
#[pg_extern(volatile, parallel_unsafe)]
pub fn unschedule_job(p_name: Option<&str>) -> pgrx::JsonB {
    crate::native::catalog::check_version("unschedule_job");
    (|| {
        check_name(p_name, "p_name", "schedule name")?;
        let name = p_name.expect("checked");
        let row = Spi::connect_mut(|client| {
            let t = client.update(
                "DELETE FROM mcp_jobs.schedules s WHERE name = $1 RETURNING to_jsonb(s)",
                None,
                &[name.into()],
            )?;
            if t.is_empty() {
                return Ok::<_, pgrx::spi::SpiError>(None);
            }
            t.first().get::<pgrx::JsonB>(1)
        })?;
        row.ok_or_else(|| JobError::ScheduleNotFound {
            name: name.to_string(),
        })
    })()
    .or_raise("unschedule_job")
}

type ScheduleRow = (
    String,
    String,
    String,
    String,
    String,
    RawJsonb,
    i32,
    TimestampWithTimeZone,
    Option<TimestampWithTimeZone>,
    Option<pgrx::Uuid>,
    Option<String>,
    TimestampWithTimeZone,
    TimestampWithTimeZone,
);

fn schedules() -> JobResult<Vec<ScheduleRow>> {
    with_settings(PLAN_EACH_CALL, || {
        Spi::connect(|client| {
            let t = client.select(
                "SELECT s.name, s.cron, s.timezone, s.source, s.job_type, s.payload, s.priority,
                        s.next_run_at, s.last_run_at, s.last_job_id,
                        (SELECT j.status FROM mcp_jobs.jobs j WHERE j.id = s.last_job_id),
                        s.created_at, s.updated_at
                   FROM mcp_jobs.schedules s ORDER BY s.name",
                None,
                &[],
            )?;
            let missing = || JobError::Internal {
                context: "list_schedules",
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
                    r.get(7)?.ok_or_else(missing)?,
                    r.get(8)?.ok_or_else(missing)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?.ok_or_else(missing)?,
                    r.get(13)?.ok_or_else(missing)?,
                ));
            }
            Ok(out)
        })
    })
}

/// Every schedule with its next run time and the job it enqueued last (and that job's status).
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::type_complexity)]
pub fn list_schedules() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(cron, String),
        name!(timezone, String),
        name!(source, String),
        name!(job_type, String),
        name!(payload, RawJsonb),
        name!(priority, i32),
        name!(next_run_at, TimestampWithTimeZone),
        name!(last_run_at, Option<TimestampWithTimeZone>),
        name!(last_job_id, Option<pgrx::Uuid>),
        name!(last_job_status, Option<String>),
        name!(created_at, TimestampWithTimeZone),
        name!(updated_at, TimestampWithTimeZone),
    ),
> {
    crate::native::catalog::check_version("list_schedules");
    TableIterator::new(schedules().or_raise("list_schedules"))
}

const DUE: &str = "
SELECT name, cron, timezone, source, job_type, payload, priority, next_run_at
  FROM mcp_jobs.schedules
 WHERE next_run_at <= $1
 ORDER BY next_run_at
 LIMIT 1000
   FOR UPDATE SKIP LOCKED";

const ADVANCE: &str = "
UPDATE mcp_jobs.schedules
   SET last_run_at = $2, last_job_id = $3, next_run_at = $4, updated_at = now()
 WHERE name = $1";

fn short_hash(s: &str) -> String {
    // a stable hash (FNV-1a 64): the key must be the same in every backend and release
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Enqueue the due occurrence of every due schedule (at `at`). Returns how many jobs were enqueued.
pub fn run_due(at: TimestampWithTimeZone) -> JobResult<i64> {
    let now = to_utc(at);
    let due = Spi::connect_mut(|client| {
        let t = client.update(DUE, None, &[at.into()])?;
        let mut rows = Vec::with_capacity(t.len());
        for r in t {
            rows.push((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<String>(3)?.unwrap_or_default(),
                r.get::<String>(4)?.unwrap_or_default(),
                r.get::<String>(5)?.unwrap_or_default(),
                r.get::<RawJsonb>(6)?,
                r.get::<i32>(7)?.unwrap_or(DEFAULT_PRIORITY),
            ));
        }
        Ok::<_, JobError>(rows)
    })?;
    let mut n = 0i64;
    for (name, cron, tz, source, job_type, payload, priority) in due {
        let spec = parse(Some(&cron), Some(&tz))?;
        // the latest occurrence at or before now: what was missed before it is not caught up
        let Some(occurrence) = spec.latest_at_or_before(now) else {
            continue;
        };
        let key = format!(
            "schedule:{}:{}",
            occurrence.format("%Y-%m-%dT%H:%M:%SZ"),
            short_hash(&name)
        );
        let job = new_job(
            Some(&source),
            Some(&job_type),
            payload,
            Some(priority),
            None,
            None,
            Some(&key),
            None,
        )?;
        let mut ctx = Ctx::new()?;
        let id = match enqueue_in(&mut ctx, &job) {
            Ok(id) => id,
            // the schedule's queue is full (max_queued): this schedule waits for a later round,
            // the others run (the cap is checked before anything is written)
            Err(e @ JobError::QueueFull { .. }) => {
                let (message, detail, _) = e.texts();
                pgrx::warning!("mcp_jobs: schedule \"{name}\" not run now: {message} ({detail})");
                continue;
            }
            Err(e) => return Err(e),
        };
        drop(ctx);
        let next = spec.next_after(now)?;
        Spi::connect_mut(|client| {
            client.update(
                ADVANCE,
                None,
                &[
                    name.as_str().into(),
                    from_utc(occurrence).into(),
                    id.into(),
                    from_utc(next).into(),
                ],
            )?;
            Ok::<_, JobError>(())
        })?;
        n += 1;
    }
    Ok(n)
}

/// Enqueue the job of every schedule due at `p_now` (default now()): its latest occurrence, once
/// (maintenance calls this every round). Returns how many jobs it enqueued. A later p_now enqueues
/// occurrences early (for tests and backfills); they are not enqueued again when their time comes.
#[pg_extern(volatile, parallel_unsafe)]
pub fn run_schedules(p_now: default!(Option<TimestampWithTimeZone>, "NULL")) -> i64 {
    crate::native::catalog::check_version("run_schedules");
    let at = p_now.unwrap_or_else(|| crate::native::tstz(crate::native::now()));
    with_settings(PLAN_EACH_CALL, || run_due(at)).or_raise("run_schedules")
}
