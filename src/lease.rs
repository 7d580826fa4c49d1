//! Expired leases: a processing job whose worker stopped reporting is taken back. Its run is closed
//! as lease_expired (the attempt counts); with attempts left the job is queued again at once,
//! without, it fails and a dead letter is written.
//!
//! Claims look for expired leases at most every mcp_jobs.lease_sweep_interval per backend (0: on
//! every claim) and take back a few; the maintenance round takes back all of them. The processing
//! jobs are read from jobs_busy_idx, which holds only them.
use crate::config;
use crate::errors::JobResult;
use crate::jobs::{Ctx, JobRow};
use crate::native::scan::{IndexScan, Snap};
use crate::native::table::Updated;
use crate::native::{text_datum, ts_datum, uuid_of, JsonObj};
use pgrx::pg_sys;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// How many expired leases one claim takes back before it claims.
const PER_CLAIM: usize = 8;

thread_local! {
    static LAST_CHECK: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// From a claim at time `at` (now(), or the clock after a wait): take back up to PER_CLAIM leases
/// expired by then, if the last look was at least mcp_jobs.lease_sweep_interval ago.
/// Returns how many it took back.
pub fn sweep_if_due(ctx: &mut Ctx, at: pg_sys::TimestampTz) -> JobResult<i64> {
    let every = Duration::from_millis(config::LEASE_SWEEP_INTERVAL_MS.get().max(0) as u64);
    let due = LAST_CHECK.with(|c| c.get().is_none_or(|t| t.elapsed() >= every));
    if !due {
        return Ok(0);
    }
    LAST_CHECK.with(|c| c.set(Some(Instant::now())));
    let (r, d) = expire(ctx, PER_CLAIM, at)?;
    if r + d > 0 {
        // the requeued jobs are claimable by the claim that follows in this call
        ctx.s.next_command();
    }
    Ok(r + d)
}

/// How long until a waiting claim should look for expired leases again: until the earliest lease
/// of a processing job ends, or until the next sweep is allowed when one has ended already. None
/// when no job is processing.
pub fn next_expiry_in() -> JobResult<Option<Duration>> {
    let mut ctx = Ctx::new()?;
    let c = ctx.cat.job.clone();
    let at = crate::native::clock();
    let snap = Snap::fresh();
    let heap = ctx.jobs()?.rel;
    // SAFETY: the index of the open jobs table, closed below.
    let irel = unsafe { pg_sys::index_open(ctx.cat.busy_idx, pg_sys::AccessShareLock as i32) };
    let mut scan = IndexScan::new(heap, irel, snap.0);
    scan.rescan(&[]);
    let mut earliest: Option<pg_sys::TimestampTz> = None;
    while scan.next() {
        if let Some(lease) = scan.datum(c.lease_expires_at).map(crate::native::ts_of) {
            earliest = Some(earliest.map_or(lease, |e: pg_sys::TimestampTz| e.min(lease)));
        }
    }
    drop(scan);
    // SAFETY: opened above.
    unsafe { pg_sys::index_close(irel, pg_sys::NoLock as i32) };
    let Some(e) = earliest else { return Ok(None) };
    let until_expiry = Duration::from_micros((e - at).max(0) as u64);
    let every = Duration::from_millis(config::LEASE_SWEEP_INTERVAL_MS.get().max(0) as u64);
    let until_sweep = LAST_CHECK.with(|c| {
        c.get()
            .map_or(Duration::ZERO, |t| every.saturating_sub(t.elapsed()))
    });
    Ok(Some(until_expiry.max(until_sweep)))
}

/// Take back up to `limit` leases expired at `now`, oldest expiry first. Returns (requeued,
/// dead-lettered).
pub fn expire(ctx: &mut Ctx, limit: usize, now: pg_sys::TimestampTz) -> JobResult<(i64, i64)> {
    let c = ctx.cat.job.clone();
    // the candidates: processing jobs whose lease ended, from the index of processing jobs
    let mut expired: Vec<(pg_sys::TimestampTz, JobRow)> = Vec::new();
    {
        let snap = Snap::fresh();
        let heap = ctx.jobs()?.rel;
        // SAFETY: the index of the open jobs table, closed below.
        let irel = unsafe { pg_sys::index_open(ctx.cat.busy_idx, pg_sys::AccessShareLock as i32) };
        let mut scan = IndexScan::new(heap, irel, snap.0);
        scan.rescan(&[]);
        while scan.next() {
            let Some(lease) = scan.datum(c.lease_expires_at).map(crate::native::ts_of) else {
                continue;
            };
            if lease < now {
                let id = uuid_of(scan.datum(c.id).expect("id is NOT NULL"));
                expired.push((lease, JobRow::copy_from(&scan, c.natts, id)));
            }
        }
        drop(scan);
        // SAFETY: opened above.
        unsafe { pg_sys::index_close(irel, pg_sys::NoLock as i32) };
    }
    expired.sort_by_key(|(lease, _)| *lease);
    let (mut requeued, mut dead) = (0i64, 0i64);
    for (lease, mut row) in expired {
        if (requeued + dead) as usize >= limit {
            break;
        }
        if row.text(c.status).as_deref() != Some("processing") {
            continue;
        }
        let attempts = row.int(c.attempts);
        let max_attempts = row.int(c.max_attempts);
        let give_up = attempts >= max_attempts;
        let worker = row.text(c.worker_id);
        let run_id = row.uuid(c.current_run_id);
        let error = format!(
            "lease expired at {} (worker {})",
            ts_text(lease),
            worker.as_deref().unwrap_or("unknown")
        );
        row.set(
            c.status,
            Some(text_datum(if give_up { "failed" } else { "queued" })),
        );
        if give_up {
            row.set(c.finished_at, Some(ts_datum(now)));
        } else {
            row.set(c.run_at, Some(ts_datum(now)));
        }
        row.set(c.lease_expires_at, None);
        row.set(c.last_error, Some(text_datum(&error)));
        row.set(c.updated_at, Some(ts_datum(now)));
        // without waiting: a row another transaction holds (its worker completing it right now,
        // another sweep) is left to it
        if ctx.update_job(&mut row, false)? != Updated::Ok {
            continue;
        }
        if let Some(run) = run_id {
            ctx.close_run(row.id, run, "lease_expired", Some(&error))?;
        }
        ctx.event(
            row.id,
            run_id,
            "lease_expired",
            JsonObj::new()
                .int("attempt", attempts.into())
                .str("worker_id", worker.as_deref()),
        )?;
        if give_up {
            let dl = ctx.insert_dead_letter(&row, attempts, &error, None)?;
            ctx.event(
                row.id,
                run_id,
                "dead_lettered",
                JsonObj::new()
                    .str("dead_letter_id", Some(&dl.to_string()))
                    .int("attempts", attempts.into()),
            )?;
            dead += 1;
        } else {
            ctx.event(
                row.id,
                run_id,
                "retry_scheduled",
                JsonObj::new()
                    .int("attempt", attempts.into())
                    .int("max_attempts", max_attempts.into())
                    .ts("run_at", now),
            )?;
            crate::flow::requeued(ctx, &row)?;
            crate::wake::job_ready(
                &row.text(c.source).unwrap_or_default(),
                &row.text(c.job_type).unwrap_or_default(),
                now,
            );
            requeued += 1;
        }
    }
    Ok((requeued, dead))
}

/// A timestamptz as its text output (timestamptz_out, the session's DateStyle and time zone), as
/// `lease_expires_at::text` gives it.
pub fn ts_text(t: pg_sys::TimestampTz) -> String {
    // SAFETY: timestamptz_out of a by-value timestamptz returns a palloc'd cstring.
    unsafe {
        let c = pgrx::direct_function_call_as_datum(
            pg_sys::timestamptz_out,
            &[Some(pg_sys::Datum::from(t))],
        )
        .expect("timestamptz_out returns a value");
        std::ffi::CStr::from_ptr(c.cast_mut_ptr::<std::ffi::c_char>())
            .to_string_lossy()
            .into_owned()
    }
}
