//! run_maintenance: lease sweep, metrics of the current and previous hour, retention pruning.
//! Called by the background worker (src/worker.rs) every mcp_jobs.maintenance_interval, or by
//! pg_cron where the library is not preloaded.
use crate::config;
use crate::errors::{JobError, JobResult, OrRaise};
use crate::metrics::aggregate;
use crate::spi_util::{first, read, run, Stmt};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use serde_json::json;

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

/// Expired leases handled per statement, and the most statements one round runs.
const EXPIRE_BATCH: i32 = 500;
const EXPIRE_MAX_BATCHES: i32 = 20;
/// Jobs pruned per statement, and the most statements one round runs. What is left over is pruned
/// by the next rounds, so one round never holds locks on a huge number of rows.
const PRUNE_BATCH: i32 = 1000;
const PRUNE_MAX_BATCHES: i32 = 20;

/// The maintenance round: returns a JSON report of what it did.
pub fn maintain(client: &mut SpiClient<'_>) -> JobResult<serde_json::Value> {
    // 1. leases: requeue or dead-letter jobs whose worker went away
    let (mut requeued, mut dead_lettered, mut batches) = (0i64, 0i64, 0);
    let mut ctx = crate::jobs::Ctx::new()?;
    while batches < EXPIRE_MAX_BATCHES {
        let (r, d) = crate::lease::expire(&mut ctx, EXPIRE_BATCH as usize)?;
        requeued += r;
        dead_lettered += d;
        batches += 1;
        if r + d < i64::from(EXPIRE_BATCH) {
            break;
        }
    }
    drop(ctx);
    let leases_done = batches < EXPIRE_MAX_BATCHES;

    // 2. metrics of the previous and the current hour (after the sweep, so its events count)
    let agg = aggregate(client, None, None)?;

    // 3. retention
    let retention = config::RETENTION_S.get();
    let (mut pruned, mut prune_done, mut cutoff) = (0i64, true, serde_json::Value::Null);
    if retention > 0 {
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
        cutoff = json!(r.get::<String>(2)?.unwrap_or_default());
        prune_done = false;
        // no job created after the cutoff can have finished before it: the scan of jobs_pkey in
        // id (creation) order stops there
        let bound = crate::uuid7::uuid7_floor(before.into_inner());
        let mut after: Option<pgrx::Uuid> = None;
        for _ in 0..PRUNE_MAX_BATCHES {
            let t = run(
                client,
                &PRUNE,
                &[
                    before.into(),
                    PRUNE_BATCH.into(),
                    after.into(),
                    bound.into(),
                ],
            )?;
            let (n, last) = if t.is_empty() {
                (0, None)
            } else {
                let r = t.first();
                (r.get::<i64>(1)?.unwrap_or(0), r.get::<pgrx::Uuid>(2)?)
            };
            pruned += n;
            if n < i64::from(PRUNE_BATCH) {
                prune_done = true;
                break;
            }
            after = last;
        }
    }

    Ok(json!({
        "leases_requeued": requeued,
        "leases_dead_lettered": dead_lettered,
        "leases_done": leases_done,
        "metrics_from": agg.from,
        "metrics_to": agg.to,
        "metrics_written": agg.written,
        "metrics_deleted": agg.deleted,
        "retention_seconds": retention,
        "pruned_before": cutoff,
        "jobs_pruned": pruned,
        "prune_done": prune_done,
    }))
}

/// Keep the queue healthy: requeue (or dead-letter) jobs whose lease expired, aggregate the metrics
/// of the previous and the current hour, and prune finished jobs older than mcp_jobs.retention
/// (with their runs and events; never jobs with an unresolved dead letter, dead letters or metrics).
/// Each step works in bounded batches; "*_done": false means the next round continues.
#[pg_extern(volatile, parallel_unsafe)]
pub fn run_maintenance() -> pgrx::JsonB {
    pgrx::JsonB(Spi::connect_mut(maintain).or_raise("run_maintenance"))
}
