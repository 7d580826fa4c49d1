//! The maintenance background worker: runs the work of mcp_jobs.run_maintenance() every
//! mcp_jobs.maintenance_interval in the database mcp_jobs.database. Registered only when the library
//! is in shared_preload_libraries.
//!
//! - It connects once, to mcp_jobs.database; when that setting changes (reload), it exits with code 1
//!   so the postmaster starts it again, connected to the new database. If the database does not exist
//!   the connection fails (FATAL) and the postmaster retries after the restart delay.
//! - It does nothing while the extension is not created in that database.
//! - Each round is its own transaction; an ERROR in a round is logged as a WARNING, the transaction
//!   rolled back, and the loop goes on. No transaction is open between rounds.
//! - While pruning has work (the last pass pruned jobs or stopped at its budget), a pass of the
//!   metrics and pruning follows a second later, so finished jobs leave about as fast as they
//!   become prunable instead of in one burst per interval.
//! - SIGTERM ends it at the next wait (rounds are bounded); SIGHUP reloads the configuration.
//!   It exits with code 1, so after pg_terminate_backend() the postmaster starts it again.
use crate::config;
use crate::maintenance;
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags,
};
use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use std::time::{Duration, Instant};

/// Register the worker with the postmaster. Call from _PG_init while preloading only.
pub fn register() {
    BackgroundWorkerBuilder::new("mcp_jobs maintenance")
        .set_type("mcp_jobs maintenance")
        .set_library("mcp_jobs")
        .set_function("mcp_jobs_maintenance_main")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(restart_delay(config::MAINTENANCE_INTERVAL_MS.get())))
        .load();
}

/// How long the postmaster waits before starting the worker again after it exited with an error
/// (for example because mcp_jobs.database does not exist yet): the interval, within [1 s, 60 s].
fn restart_delay(interval_ms: i32) -> Duration {
    Duration::from_secs(u64::try_from(interval_ms / 1000).unwrap_or(0).clamp(1, 60))
}

fn interval() -> Option<Duration> {
    match u64::try_from(config::MAINTENANCE_INTERVAL_MS.get()) {
        Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
        _ => None,
    }
}

fn describe(e: &CaughtError) -> String {
    let r = match e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
        CaughtError::RustPanic { ereport, .. } => ereport,
    };
    let mut s = format!("{} (SQLSTATE {:?})", r.message(), r.sql_error_code());
    if let Some(d) = r.detail() {
        s.push_str(": ");
        s.push_str(d);
    }
    s
}

/// Outcome of one round.
enum Round {
    /// The extension is not created in the database.
    NoExtension,
    Done(serde_json::Value),
}

/// Run `body` in a transaction of its own: committed when it returns Ok, rolled back when it returns
/// Err or raises an ERROR (which is caught and returned as Err). Never leaves a transaction open.
fn in_transaction<T, F>(body: F) -> Result<T, String>
where
    F: FnOnce() -> Result<T, String> + std::panic::UnwindSafe,
{
    // SAFETY: called from the worker's main loop, outside any transaction.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        pg_sys::pgstat_report_activity(
            pg_sys::BackendState::STATE_RUNNING,
            c"mcp_jobs maintenance".as_ptr(),
        );
    }
    let result = PgTryBuilder::new(move || {
        let r = body();
        if r.is_ok() {
            // SAFETY: the transaction and snapshot pushed above are still current.
            unsafe {
                pg_sys::PopActiveSnapshot();
                pg_sys::CommitTransactionCommand();
            }
        }
        r
    })
    .catch_others(|e| Err(describe(&e)))
    .execute();
    // SAFETY: when the body failed (Err or ERROR), the transaction is still open (or aborted) and
    // must be rolled back; AbortCurrentTransaction also releases the snapshot, SPI and locks.
    unsafe {
        if result.is_err() {
            pg_sys::AbortCurrentTransaction();
        }
        pg_sys::pgstat_report_stat(true);
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_IDLE, std::ptr::null());
    }
    result
}

/// The pause before the next pruning pass while pruning has work: finished jobs then leave as
/// they become prunable, a second's worth at a time, instead of an interval's worth at once.
const PASS_PAUSE: Duration = Duration::from_secs(1);

/// What one wake-up of the worker runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// every step: leases, schedules, metrics, pruning (every mcp_jobs.maintenance_interval)
    Round,
    /// metrics and pruning only (a second after a round or pass that pruned or left a backlog)
    Pass,
}

/// Milliseconds since `t`, to a tenth.
fn ms_since(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

fn round(kind: Kind) -> Result<Round, String> {
    let began = Instant::now();
    let installed = in_transaction(|| {
        Spi::get_one::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'mcp_jobs')",
        )
        .map_err(|e| e.to_string())
        .map(|b| b.unwrap_or(false))
    })?;
    if !installed {
        return Ok(Round::NoExtension);
    }
    let text = |e: crate::errors::JobError| {
        let (message, detail, _) = e.texts();
        format!("{message}: {detail}")
    };
    let mut report = serde_json::json!({
        "kind": if kind == Kind::Round { "round" } else { "pass" },
    });
    let mut steps = serde_json::Map::new();
    // `step`: the key of its time in steps_ms; `what`: its name in a warning
    let mut add = |step: &str, what: &str, t: Instant, r: Result<serde_json::Value, String>| {
        steps.insert(step.to_string(), ms_since(t).into());
        match r {
            Ok(serde_json::Value::Object(o)) => {
                if let serde_json::Value::Object(all) = &mut report {
                    all.extend(o);
                }
            }
            Ok(_) => {}
            // a step that fails is logged and the next steps still run; the next round tries again
            Err(e) => warning!("mcp_jobs maintenance: {what} failed: {e}"),
        }
    };
    // each step in a transaction of its own
    if kind == Kind::Round {
        let t = Instant::now();
        add(
            "leases",
            "the lease sweep",
            t,
            in_transaction(|| maintenance::leases().map_err(text)),
        );
        let t = Instant::now();
        add(
            "schedules",
            "the schedules",
            t,
            in_transaction(|| maintenance::schedules().map_err(text)),
        );
    }
    // the metrics first: pruning never passes their watermark
    let t = Instant::now();
    add(
        "metrics",
        "the metrics",
        t,
        in_transaction(|| Spi::connect_mut(maintenance::metrics).map_err(text)),
    );
    // pruning: one transaction per batch, within the budget
    let t = Instant::now();
    let deadline = t + maintenance::prune_budget();
    let started = in_transaction(|| Spi::connect_mut(maintenance::prune_start).map_err(text));
    match started {
        Ok(mut p) => {
            p.resume = kind == Kind::Pass;
            // at least one batch, then more while the budget lasts
            while !p.done {
                let mut cur = std::panic::AssertUnwindSafe(&mut p);
                if let Err(e) = in_transaction(move || {
                    Spi::connect_mut(|c| maintenance::prune_batch(c, &mut cur)).map_err(text)
                }) {
                    warning!("mcp_jobs maintenance: pruning failed: {e}");
                    break;
                }
                if Instant::now() >= deadline {
                    break;
                }
            }
            add("pruning", "pruning", t, Ok(maintenance::prune_report(&p)));
        }
        Err(e) => add("pruning", "pruning", t, Err(e)),
    }
    if let serde_json::Value::Object(all) = &mut report {
        all.insert("steps_ms".into(), steps.into());
        all.insert("round_ms".into(), ms_since(began).into());
    }
    Ok(Round::Done(report))
}

/// Whether pruning has work a second from now: the pass pruned jobs (more are becoming prunable
/// at that rate) or stopped at its budget with prunable jobs left.
fn pruning_busy(report: &serde_json::Value) -> bool {
    report.get("prune_done") == Some(&serde_json::Value::Bool(false))
        || report
            .get("jobs_pruned")
            .and_then(serde_json::Value::as_i64)
            > Some(0)
}

/// Entry point of the worker process.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn mcp_jobs_maintenance_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = config::database();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    // The maintenance statements' planner settings (src/spi_util.rs, docs/design.md#planner-settings),
    // for the whole session: a reload of the config file keeps them.
    // SAFETY: a valid GUC name and value; outside any transaction, before the first round.
    unsafe {
        for (name, value) in crate::spi_util::PLAN_EACH_CALL {
            pg_sys::SetConfigOption(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
            );
        }
    }
    crate::wake::maintenance_started();
    log!(
        "mcp_jobs maintenance worker started in database \"{database}\" (interval {} ms)",
        config::MAINTENANCE_INTERVAL_MS.get()
    );

    let mut installed: Option<bool> = None;
    // the next full round, and the next wake-up (a pruning pass before the round, or the round)
    let mut next_round = Instant::now();
    let mut next_wake = next_round;
    loop {
        let timeout = interval().map(|_| next_wake.saturating_duration_since(Instant::now()));
        if !BackgroundWorker::wait_latch(timeout) {
            break;
        }
        if BackgroundWorker::sighup_received() {
            // SAFETY: outside any transaction, as the postmaster's reload expects.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            let now_db = config::database();
            if now_db != database {
                log!(
                    "mcp_jobs maintenance worker: mcp_jobs.database changed from \"{database}\" to \"{now_db}\", restarting"
                );
                // SAFETY: exit code 1 makes the postmaster start the worker again.
                unsafe { pg_sys::proc_exit(1) };
            }
        }
        let Some(every) = interval() else {
            continue; // paused (interval 0): wait for a reload or SIGTERM
        };
        let now = Instant::now();
        if now < next_wake {
            continue; // woken early (reload); wait for the rest
        }
        let kind = if now >= next_round {
            Kind::Round
        } else {
            Kind::Pass
        };
        // while pruning has work, a pass (metrics and pruning) follows a second later: jobs are
        // pruned about as fast as they become prunable, in small steps, and a backlog larger than
        // one budget is worked off at up to a budget a second, whatever the interval
        let mut busy = false;
        match round(kind) {
            Ok(Round::NoExtension) => {
                if installed != Some(false) {
                    log!("mcp_jobs maintenance worker: extension mcp_jobs is not created in database \"{database}\"; waiting");
                }
                installed = Some(false);
            }
            Ok(Round::Done(report)) => {
                busy = pruning_busy(&report);
                if installed != Some(true) {
                    log!("mcp_jobs maintenance worker: extension found in database \"{database}\"");
                }
                installed = Some(true);
                debug1!("mcp_jobs maintenance: {report}");
            }
            Err(message) => warning!("mcp_jobs maintenance round failed: {message}"),
        }
        let done = Instant::now();
        if kind == Kind::Round {
            next_round = done + every;
        }
        next_wake = if busy {
            next_round.min(done + PASS_PAUSE)
        } else {
            next_round
        };
    }
    log!("mcp_jobs maintenance worker stopping");
    // Exit code 1: at shutdown the postmaster does not restart workers anyway; after a stray
    // pg_terminate_backend() it starts the worker again after the restart delay, so maintenance
    // cannot be switched off by accident (set mcp_jobs.maintenance_interval = 0 to pause it).
    // SAFETY: outside any transaction; proc_exit runs the exit callbacks and does not return.
    unsafe { pg_sys::proc_exit(1) };
}

#[cfg(test)]
mod unit {
    #[test]
    fn restart_delay_is_clamped() {
        use std::time::Duration;
        assert_eq!(super::restart_delay(0), Duration::from_secs(1));
        assert_eq!(super::restart_delay(1000), Duration::from_secs(1));
        assert_eq!(super::restart_delay(5000), Duration::from_secs(5));
        assert_eq!(super::restart_delay(3_600_000), Duration::from_secs(60));
    }
}
