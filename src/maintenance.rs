//! Maintenance: take back expired leases, enqueue due schedules, add the new events to the
//! metrics, prune finished jobs past retention. run_maintenance() runs the four steps in the
//! caller's transaction; the background worker (src/worker.rs) runs each step, and each pruning
//! batch, in a transaction of its own, so that none holds back vacuum for long.
//!
//! Every step costs in proportion to the work since the last round: the lease sweep reads only
//! processing jobs, the metrics only the events since their watermark (src/rollup.rs), pruning a
//! batch of the oldest jobs from where the last batch stopped; pruning grows or shrinks its batch
//! to stay within mcp_jobs.prune_budget per round.
use crate::config;
use crate::errors::{JobError, JobResult, OrRaise};
use crate::spi_util::{first, read, run, with_settings, Stmt, PLAN_EACH_CALL};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use serde_json::json;
use std::time::{Duration, Instant};

const PRUNE: Stmt = Stmt {
    sql: include_str!("queries/prune_jobs.sql"),
    args: &[
        pg_sys::TIMESTAMPTZOID,
        pg_sys::INT4OID,
        pg_sys::UUIDOID,
        pg_sys::UUIDOID,
    ],
    write: true,
};

const CUTOFF: Stmt = Stmt {
    sql: include_str!("queries/prune_cutoff.sql"),
    args: &[pg_sys::INT4OID],
    write: false,
};

const PRUNE_CURSOR: Stmt = Stmt {
    sql: "SELECT prune_after FROM mcp_jobs.maintenance_state",
    args: &[],
    write: false,
};

const SET_PRUNE_CURSOR: Stmt = Stmt {
    sql: "UPDATE mcp_jobs.maintenance_state SET prune_after = $1, updated_at = now()",
    args: &[pg_sys::UUIDOID],
    write: true,
};

/// Expired leases handled per pass, and the most passes one round runs.
const EXPIRE_BATCH: usize = 500;
const EXPIRE_MAX_BATCHES: usize = 20;
/// Pruning batches: the first size, and the bounds it adapts within.
const PRUNE_FIRST: i32 = 1000;
const PRUNE_MIN: i32 = 100;
const PRUNE_MAX: i32 = 20_000;

/// Step 1: take back expired leases (requeue or dead-letter), and correct the queued counts of
/// capped queues.
pub fn leases() -> JobResult<serde_json::Value> {
    let (mut requeued, mut dead_lettered, mut batches) = (0i64, 0i64, 0);
    let mut ctx = crate::jobs::Ctx::new()?;
    while batches < EXPIRE_MAX_BATCHES {
        let now = ctx.now;
        let (r, d) = crate::lease::expire(&mut ctx, EXPIRE_BATCH, now)?;
        requeued += r;
        dead_lettered += d;
        batches += 1;
        if ((r + d) as usize) < EXPIRE_BATCH {
            break;
        }
    }
    drop(ctx); // its writes (requeued jobs, counts) visible to the recount's own call
    let recounted = crate::flow::recount_queued(&mut crate::jobs::Ctx::new()?)?;
    Ok(json!({
        "leases_requeued": requeued,
        "leases_dead_lettered": dead_lettered,
        "leases_done": batches < EXPIRE_MAX_BATCHES,
        "queued_counts_corrected": recounted,
    }))
}

/// Step 2: enqueue the jobs of the schedules that came due.
pub fn schedules() -> JobResult<serde_json::Value> {
    let n = crate::schedule::run_due(crate::native::tstz(crate::native::now()))?;
    Ok(json!({ "scheduled_jobs": n }))
}

/// Step 3: add the events since the last round to the metrics.
pub fn metrics(client: &mut SpiClient<'_>) -> JobResult<serde_json::Value> {
    let r = crate::metrics::roll_forward(client)?;
    Ok(json!({
        "metrics_from": r.from.map(|t| crate::native::ts_json(t.into_inner())),
        "metrics_to": crate::native::ts_json(r.to.into_inner()),
        "metrics_written": r.rows,
    }))
}

/// Where pruning stands between batches.
pub struct Pruning {
    /// the cutoff (finished before it: prunable) and the first id after it
    cutoff: Option<(TimestampWithTimeZone, pgrx::Uuid, String)>,
    pub batch: i32,
    pub pruned: i64,
    pub done: bool,
    /// when the walk reaches the cutoff: leave the cursor at the last pruned job (a pass of the
    /// worker, a second after the last: it goes on from there) instead of at the start (a round:
    /// it visits again the older jobs that were not prunable before, such as long-running ones)
    pub resume: bool,
}

/// Step 4, first part: the cutoff of this round (None: retention is off).
pub fn prune_start(client: &mut SpiClient<'_>) -> JobResult<Pruning> {
    let retention = config::RETENTION_S.get();
    if retention <= 0 {
        return Ok(Pruning {
            cutoff: None,
            batch: PRUNE_FIRST,
            pruned: 0,
            done: true,
            resume: false,
        });
    }
    let t = read(client, &CUTOFF, &[retention.into()])?;
    let missing = || JobError::Internal {
        context: "run_maintenance",
        error: "no cutoff".into(),
    };
    if t.is_empty() {
        return Err(missing());
    }
    let r = t.first();
    let before: TimestampWithTimeZone = r.get(1)?.ok_or_else(missing)?;
    let text = r.get::<String>(2)?.unwrap_or_default();
    Ok(Pruning {
        cutoff: Some((before, crate::uuid7::uuid7_floor(before.into_inner()), text)),
        batch: PRUNE_FIRST,
        pruned: 0,
        done: false,
        resume: false,
    })
}

/// Step 4, one batch: delete up to `p.batch` prunable jobs after the cursor, move the cursor, and
/// adapt the batch to how long it took. Sets `p.done` when the scan reached the cutoff.
pub fn prune_batch(client: &mut SpiClient<'_>, p: &mut Pruning) -> JobResult<()> {
    let Some((before, bound, _)) = &p.cutoff else {
        p.done = true;
        return Ok(());
    };
    let after: Option<pgrx::Uuid> = first(read(client, &PRUNE_CURSOR, &[])?, 1)?;
    let started = Instant::now();
    let t = run(
        client,
        &PRUNE,
        &[
            (*before).into(),
            p.batch.into(),
            after.into(),
            (*bound).into(),
        ],
    )?;
    let (n, last) = if t.is_empty() {
        (0, None)
    } else {
        let r = t.first();
        (r.get::<i64>(1)?.unwrap_or(0), r.get::<pgrx::Uuid>(2)?)
    };
    p.pruned += n;
    // fewer than a batch: the scan reached the cutoff; the next round starts from the beginning,
    // the next pass from the last job this one pruned
    let finished = n < i64::from(p.batch);
    let cursor = match (finished, p.resume) {
        (false, _) => last,
        (true, true) => last.or(after),
        (true, false) => None,
    };
    run(client, &SET_PRUNE_CURSOR, &[cursor.into()])?;
    p.done = finished;
    let took = started.elapsed();
    if took < Duration::from_millis(100) {
        p.batch = (p.batch * 2).min(PRUNE_MAX);
    } else if took > Duration::from_millis(500) {
        p.batch = (p.batch / 2).max(PRUNE_MIN);
    }
    Ok(())
}

pub fn prune_report(p: &Pruning) -> serde_json::Value {
    json!({
        "retention_seconds": config::RETENTION_S.get(),
        "pruned_before": p.cutoff.as_ref().map(|c| c.2.clone()),
        "jobs_pruned": p.pruned,
        "prune_done": p.done,
        "prune_batch": p.batch,
    })
}

/// The budget of one round's pruning.
pub fn prune_budget() -> Duration {
    Duration::from_millis(config::PRUNE_BUDGET_MS.get().max(0) as u64)
}

fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    if let (serde_json::Value::Object(a), serde_json::Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

/// The maintenance round in one transaction: returns a JSON report of what it did.
pub fn maintain(client: &mut SpiClient<'_>) -> JobResult<serde_json::Value> {
    let mut report = leases()?;
    merge(&mut report, schedules()?);
    merge(&mut report, metrics(client)?);
    let mut p = prune_start(client)?;
    let deadline = Instant::now() + prune_budget();
    // at least one batch per round, then more while the budget lasts
    while !p.done {
        prune_batch(client, &mut p)?;
        if Instant::now() >= deadline {
            break;
        }
    }
    merge(&mut report, prune_report(&p));
    Ok(report)
}

/// Keep the queue healthy: requeue (or dead-letter) jobs whose lease expired, enqueue the jobs of
/// due schedules, add the events since the last round to the hourly metrics, and prune finished
/// jobs older than mcp_jobs.retention (with their runs and events; never jobs with an unresolved
/// dead letter, dead letters or metrics) for up to mcp_jobs.prune_budget. "*_done": false means the
/// next round continues.
#[pg_extern(volatile, parallel_unsafe)]
pub fn run_maintenance() -> pgrx::JsonB {
    crate::native::catalog::check_version("run_maintenance");
    pgrx::JsonB(
        with_settings(PLAN_EACH_CALL, || Spi::connect_mut(maintain)).or_raise("run_maintenance"),
    )
}
