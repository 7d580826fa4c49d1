//! The hourly metrics, built from the event log: counts per event type, and run and wait times in
//! a mergeable sketch per (hour, source, job_type).
//!
//! Maintenance adds, each round, the events since the last round (a watermark): its cost follows
//! the work since the last round, not the hour's volume (docs/design.md#metrics). The watermark
//! only passes a moment once no transaction that could still write an event dated before it is
//! open (events carry their transaction's start time), so every event is counted once.
//!
//! Percentiles come from a log-bucketed histogram (the DDSketch idea, relative accuracy 1 %): a
//! value v > 0 falls in bucket ceil(log_g(v)), g = 1.01/0.99, and a bucket stands for
//! 2 g^i / (g + 1), within 1 % of every value in it. The p-th percentile is the bucket of the value
//! of rank ceil(p n) (percentile_disc's), so it is within 1 % of percentile_disc's answer.
//! Sketches merge by adding bucket counts: counts and percentiles of many rounds equal one
//! recomputation of the same events (aggregate_metrics).
use crate::errors::{JobError, JobResult};
use crate::spi_util::{run, Stmt};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// The relative accuracy of the percentiles.
pub const ALPHA: f64 = 0.01;

fn gamma() -> f64 {
    (1.0 + ALPHA) / (1.0 - ALPHA)
}

/// The bucket of values below 1 µs (0 ms included).
const ZERO: i32 = -1_000_000;

/// The bucket of a duration of `v` ms (as src/queries/metrics_events.sql computes it).
#[cfg(any(test, feature = "pg_test"))]
pub fn bucket_of(v: f64) -> i32 {
    if v < 0.001 {
        ZERO
    } else {
        (v.ln() / gamma().ln()).ceil() as i32
    }
}

/// The value bucket `k` stands for: within ALPHA of every value in it.
pub fn bucket_value(k: i32) -> f64 {
    if k == ZERO {
        0.0
    } else {
        let g = gamma();
        2.0 * g.powi(k) / (g + 1.0)
    }
}

const EVENTS: Stmt = Stmt {
    sql: include_str!("queries/metrics_events.sql"),
    args: &[
        pg_sys::TIMESTAMPTZOID,
        pg_sys::TIMESTAMPTZOID,
        pg_sys::FLOAT8OID,
    ],
    write: false,
};

const READ_ROW: Stmt = Stmt {
    sql: "SELECT enqueued, started, completed, failed, retried, dead_lettered, cancelled, lease_expired,
                 run_ms_sketch, wait_ms_sketch
            FROM mcp_jobs.metrics WHERE hour = $1 AND source = $2 AND job_type = $3 FOR UPDATE",
    args: &[pg_sys::TIMESTAMPTZOID, pg_sys::TEXTOID, pg_sys::TEXTOID],
    write: true,
};

const WRITE_ROW: Stmt = Stmt {
    sql: include_str!("queries/metrics_write.sql"),
    args: &[
        pg_sys::TIMESTAMPTZOID,
        pg_sys::TEXTOID,
        pg_sys::TEXTOID,
        pg_sys::INT8ARRAYOID,
        pg_sys::FLOAT8ARRAYOID,
        pg_sys::JSONBOID,
        pg_sys::JSONBOID,
    ],
    write: true,
};

/// The event types a metrics row counts, in column order.
const COUNTED: [&str; 8] = [
    "enqueued",
    "started",
    "completed",
    "failed",
    "retry_scheduled",
    "dead_lettered",
    "cancelled",
    "lease_expired",
];

/// A mergeable histogram of durations (ms).
#[derive(Default, Clone, Debug, PartialEq)]
pub struct Sketch {
    buckets: BTreeMap<i32, i64>,
    n: i64,
    sum: f64,
    max: Option<f64>,
}

impl Sketch {
    fn from_json(v: Option<Value>) -> Sketch {
        let Some(Value::Object(o)) = v else {
            return Sketch::default();
        };
        let mut s = Sketch {
            n: o.get("n").and_then(Value::as_i64).unwrap_or(0),
            sum: o.get("s").and_then(Value::as_f64).unwrap_or(0.0),
            max: o.get("m").and_then(Value::as_f64),
            ..Default::default()
        };
        if let Some(Value::Object(b)) = o.get("b") {
            for (k, v) in b {
                if let (Ok(i), Some(c)) = (k.parse::<i32>(), v.as_i64()) {
                    s.buckets.insert(i, c);
                }
            }
        }
        s
    }

    fn to_json(&self) -> Option<Value> {
        if self.n == 0 {
            return None;
        }
        let b: Map<String, Value> = self
            .buckets
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        Some(json!({"n": self.n, "s": self.sum, "m": self.max, "b": b}))
    }

    fn add_bucket(&mut self, bucket: i32, n: i64, sum: f64, max: f64) {
        *self.buckets.entry(bucket).or_insert(0) += n;
        self.n += n;
        self.sum += sum;
        self.max = Some(self.max.map_or(max, |m| m.max(max)));
    }

    fn merge(&mut self, o: &Sketch) {
        for (k, v) in &o.buckets {
            *self.buckets.entry(*k).or_insert(0) += v;
        }
        self.n += o.n;
        self.sum += o.sum;
        self.max = match (self.max, o.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// The q-quantile (rank ceil(q n), as percentile_disc), within ALPHA of the true value.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as i64).clamp(1, self.n);
        let mut seen = 0;
        for (k, c) in &self.buckets {
            seen += c;
            if seen >= rank {
                let v = bucket_value(*k);
                return Some(match self.max {
                    Some(m) => v.min(m),
                    None => v,
                });
            }
        }
        self.max
    }

    fn avg(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// One metrics row being built: counts and the two sketches.
#[derive(Default, Clone, Debug)]
struct Acc {
    counts: [i64; 8],
    run: Sketch,
    wait: Sketch,
}

type Key = (pg_sys::TimestampTz, String, String);

/// The events of [from, to), grouped: (hour, source, job_type) -> counts and sketches.
fn collect(
    client: &mut SpiClient<'_>,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
) -> JobResult<HashMap<Key, Acc>> {
    let t = run(client, &EVENTS, &[from.into(), to.into(), gamma().into()])?;
    let mut out: HashMap<Key, Acc> = HashMap::new();
    for r in t {
        let hour: TimestampWithTimeZone = r.get(1)?.ok_or_else(|| missing("hour"))?;
        let source: String = r.get(2)?.ok_or_else(|| missing("source"))?;
        let job_type: String = r.get(3)?.ok_or_else(|| missing("job_type"))?;
        let event: String = r.get(4)?.ok_or_else(|| missing("event_type"))?;
        let bucket: Option<i32> = r.get(5)?;
        let n: i64 = r.get(6)?.unwrap_or(0);
        let sum: f64 = r.get(7)?.unwrap_or(0.0);
        let max: f64 = r.get(8)?.unwrap_or(0.0);
        let acc = out
            .entry((hour.into_inner(), source, job_type))
            .or_default();
        if let Some(i) = COUNTED.iter().position(|e| *e == event) {
            acc.counts[i] += n;
        }
        if let Some(b) = bucket {
            match event.as_str() {
                "completed" | "failed" => acc.run.add_bucket(b, n, sum, max),
                "started" => acc.wait.add_bucket(b, n, sum, max),
                _ => {}
            }
        }
    }
    Ok(out)
}

fn missing(what: &str) -> JobError {
    JobError::Internal {
        context: "metrics",
        error: format!("an event group without {what}"),
    }
}

/// Write one metrics row with its derived columns.
fn write(client: &mut SpiClient<'_>, key: &Key, a: &Acc) -> JobResult<()> {
    let c = &a.counts;
    let ended = c[2] + c[3] + c[7];
    let success = (ended > 0).then(|| c[2] as f64 / ended as f64);
    let floats: Vec<Option<f64>> = vec![
        success,
        a.run.avg(),
        a.run.quantile(0.5),
        a.run.quantile(0.95),
        a.run.max,
        a.wait.quantile(0.5),
        a.wait.quantile(0.95),
    ];
    run(
        client,
        &WRITE_ROW,
        &[
            crate::native::tstz(key.0).into(),
            key.1.as_str().into(),
            key.2.as_str().into(),
            c.to_vec().into(),
            floats.into(),
            a.run.to_json().map(pgrx::JsonB).into(),
            a.wait.to_json().map(pgrx::JsonB).into(),
        ],
    )?;
    Ok(())
}

/// Recompute every row of [lo, hi) (whole hours) from the events before `upto` (the metrics'
/// watermark: the events after it are added by the next rounds, src/metrics.rs): replace them,
/// and delete the range's rows that no longer have any event. Returns (written, deleted).
pub fn recompute(
    client: &mut SpiClient<'_>,
    lo: TimestampWithTimeZone,
    hi: TimestampWithTimeZone,
    upto: Option<TimestampWithTimeZone>,
) -> JobResult<(i64, i64)> {
    let end = match upto {
        Some(u) if u.into_inner() < hi.into_inner() => u,
        _ => hi,
    };
    let groups = if end.into_inner() > lo.into_inner() {
        collect(client, lo, end)?
    } else {
        HashMap::new()
    };
    let deleted = run(
        client,
        &Stmt {
            sql: "WITH d AS (DELETE FROM mcp_jobs.metrics m WHERE m.hour >= $1 AND m.hour < $2
                              AND NOT (m.hour, m.source, m.job_type) IN
                                  (SELECT * FROM unnest($3::timestamptz[], $4::text[], $5::text[]))
                            RETURNING 1)
                  SELECT count(*) FROM d",
            args: &[
                pg_sys::TIMESTAMPTZOID,
                pg_sys::TIMESTAMPTZOID,
                pg_sys::TIMESTAMPTZARRAYOID,
                pg_sys::TEXTARRAYOID,
                pg_sys::TEXTARRAYOID,
            ],
            write: true,
        },
        &[
            lo.into(),
            hi.into(),
            groups
                .keys()
                .map(|k| crate::native::tstz(k.0))
                .collect::<Vec<_>>()
                .into(),
            groups
                .keys()
                .map(|k| k.1.clone())
                .collect::<Vec<_>>()
                .into(),
            groups
                .keys()
                .map(|k| k.2.clone())
                .collect::<Vec<_>>()
                .into(),
        ],
    )?
    .first()
    .get::<i64>(1)?
    .unwrap_or(0);
    for (k, a) in &groups {
        write(client, k, a)?;
    }
    Ok((groups.len() as i64, deleted))
}

/// Add the events of [from, to) to the rows they belong to. Returns the rows written.
pub fn add(
    client: &mut SpiClient<'_>,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
) -> JobResult<i64> {
    let groups = collect(client, from, to)?;
    for (k, a) in &groups {
        let t = run(
            client,
            &READ_ROW,
            &[
                crate::native::tstz(k.0).into(),
                k.1.as_str().into(),
                k.2.as_str().into(),
            ],
        )?;
        let mut acc = Acc::default();
        if !t.is_empty() {
            let r = t.first();
            for i in 0..8 {
                acc.counts[i] = r.get::<i64>(i + 1)?.unwrap_or(0);
            }
            acc.run = Sketch::from_json(r.get::<pgrx::JsonB>(9)?.map(|j| j.0));
            acc.wait = Sketch::from_json(r.get::<pgrx::JsonB>(10)?.map(|j| j.0));
        }
        for i in 0..8 {
            acc.counts[i] += a.counts[i];
        }
        acc.run.merge(&a.run);
        acc.wait.merge(&a.wait);
        write(client, k, &acc)?;
    }
    Ok(groups.len() as i64)
}

/// The moment up to which every event is written: now() less mcp_jobs.metrics_lag, or the start of the
/// oldest other transaction open in this database, whichever is earlier (its events will carry
/// its start time). Read from the backends' shared status, without permission checks.
pub fn safe_watermark() -> pg_sys::TimestampTz {
    // SAFETY: the pgstat backend-status API, read in a transaction (it keeps a local snapshot of
    // the status array for the transaction).
    unsafe {
        let now = pg_sys::GetCurrentTransactionStartTimestamp();
        let mut w = now - i64::from(crate::config::METRICS_LAG_MS.get()) * 1000;
        let me = pg_sys::MyProcPid;
        let db = pg_sys::MyDatabaseId;
        let n = pg_sys::pgstat_fetch_stat_numbackends();
        for i in 1..=n {
            let local = pg_sys::pgstat_fetch_stat_local_beentry(i);
            if local.is_null() {
                continue;
            }
            let be = &(*local).backendStatus;
            if be.st_procpid == me || be.st_databaseid != db || be.st_xact_start_timestamp == 0 {
                continue;
            }
            w = w.min(be.st_xact_start_timestamp);
        }
        w
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn sketch_quantiles_are_within_alpha_and_merge() {
        let values: Vec<f64> = (1..=1000)
            .map(|i| (i as f64) * 0.37 + (i % 7) as f64)
            .collect();
        let bucket = bucket_of;
        let mut all = Sketch::default();
        let mut a = Sketch::default();
        let mut b = Sketch::default();
        for (i, v) in values.iter().enumerate() {
            all.add_bucket(bucket(*v), 1, *v, *v);
            if i % 3 == 0 {
                a.add_bucket(bucket(*v), 1, *v, *v)
            } else {
                b.add_bucket(bucket(*v), 1, *v, *v)
            }
        }
        a.merge(&b);
        assert_eq!(a.buckets, all.buckets);
        assert_eq!(a.n, all.n);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.5, 0.95, 0.99] {
            let exact = sorted[((q * 1000.0_f64).ceil() as usize).clamp(1, 1000) - 1];
            let got = all.quantile(q).unwrap();
            assert!(
                (got - exact).abs() <= ALPHA * exact,
                "q {q}: {got} vs {exact}"
            );
        }
    }
}
