//! Flow control: per-queue pause, concurrency and rate limits, per-key concurrency and a cap on
//! queued jobs (backpressure), enforced inside the claim and the enqueue.
//!
//! A queue is a (source, job_type) pair. Its settings live in mcp_jobs.queues: a row for the pair,
//! and/or a row for the source (job_type NULL). Each setting is resolved on its own: the pair's
//! value when the pair's row sets it, else the source's. A limit set on the source row is shared
//! by the source's job types that do not set it themselves (one budget for them together); a
//! limit set on a pair's row is that pair's alone. The row whose value applies "governs" the limit.
//!
//! Exactness: claims that a limit governs are serialized on a lock of the governing row (an
//! advisory lock of the transaction, taken without waiting: a claim that finds it taken skips the
//! queue, like SKIP LOCKED), and count under it, with a fresh snapshot, what the limit counts:
//! - max_concurrency: the processing jobs of the governing scope (jobs_busy_idx), plus the ones
//!   this call already claimed;
//! - max_concurrency_per_key: the same, of one concurrency key;
//! - rate_limit per rate_period: claims in the current window, windows aligned to multiples of the
//!   period since the Unix epoch (window_start, window_claims of the governing row);
//! - max_queued: queued_count of the governing row, kept by every transition in and out of
//!   'queued' of a capped scope under the same lock (counted afresh when NULL, and by maintenance).
//!
//! Completions need no lock: a job stops counting when its row stops being 'processing'.
use crate::errors::{JobError, JobResult};
use crate::jobs::{Ctx, JobRow};
use crate::native::scan::{IndexScan, Key, Op, Ty};
use crate::native::table::Updated;
use crate::native::{int_datum, int_of, text_datum, text_of, ts_datum, ts_of};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;

/// The settings of one row of mcp_jobs.queues (None: not set).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub paused: Option<bool>,
    pub max_concurrency: Option<i32>,
    pub max_per_key: Option<i32>,
    pub rate_limit: Option<i32>,
    /// microseconds
    pub rate_period: Option<i64>,
    pub max_queued: Option<i32>,
}

/// (source, job_type) of a row; job_type None is the source's row.
pub type RowKey = (String, Option<String>);

#[derive(Default)]
struct Cache {
    loaded: bool,
    /// an invalidation arrived: reload at the start of the next call (never in the middle of one:
    /// SPI there would move the command counter under the call's own writes)
    stale: bool,
    rows: HashMap<RowKey, Settings>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Relcache invalidation of mcp_jobs.queues (sent by set_queue and the table's trigger): reload.
pub fn settings_changed(relid: pg_sys::Oid) {
    let ours = crate::native::catalog::queues_oid();
    if relid == pg_sys::InvalidOid || ours.is_none() || ours == Some(relid) {
        CACHE.with(|c| c.borrow_mut().stale = true);
    }
}

const LOAD: &str =
    "SELECT source, job_type, paused, max_concurrency, max_concurrency_per_key, rate_limit,
                           (extract(epoch FROM rate_period) * 1000000)::bigint, max_queued
                      FROM mcp_jobs.queues";

/// Load the settings if they were never loaded or changed since: called before a call writes
/// anything (Ctx::new), the only moment an SPI read is safe for the hot path.
pub fn preload() -> JobResult<()> {
    let fresh = CACHE.with(|c| {
        let c = c.borrow();
        c.loaded && !c.stale
    });
    if fresh {
        return Ok(());
    }
    CACHE.with(|c| c.borrow_mut().stale = false);
    load()
}

fn with_settings<R>(f: impl FnOnce(&HashMap<RowKey, Settings>) -> R) -> JobResult<R> {
    let loaded = CACHE.with(|c| c.borrow().loaded);
    if !loaded {
        load()?;
    }
    Ok(CACHE.with(|c| f(&c.borrow().rows)))
}

fn load() -> JobResult<()> {
    {
        let rows = Spi::connect(|client| {
            let mut rows = HashMap::new();
            for r in client.select(LOAD, None, &[])? {
                let source: String = r.get(1)?.unwrap_or_default();
                let job_type: Option<String> = r.get(2)?;
                rows.insert(
                    (source, job_type),
                    Settings {
                        paused: r.get(3)?,
                        max_concurrency: r.get(4)?,
                        max_per_key: r.get(5)?,
                        rate_limit: r.get(6)?,
                        rate_period: r.get(7)?,
                        max_queued: r.get(8)?,
                    },
                );
            }
            Ok::<_, pgrx::spi::SpiError>(rows)
        })?;
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            c.rows = rows;
            c.loaded = true;
        });
    }
    Ok(())
}

/// The effective settings of queue (s, t), each with the row that governs it.
#[derive(Clone, Debug, Default)]
pub struct Effective {
    pub paused: bool,
    pub concurrency: Option<(RowKey, i32)>,
    pub per_key: Option<(RowKey, i32)>,
    pub rate: Option<(RowKey, i32, i64)>,
    pub queued: Option<(RowKey, i32)>,
}

impl Effective {
    fn is_free(&self) -> bool {
        !self.paused
            && self.concurrency.is_none()
            && self.per_key.is_none()
            && self.rate.is_none()
            && self.queued.is_none()
    }
}

/// Resolve the settings of queue (s, t). None when no row applies (the common case: nothing to do).
pub fn effective(s: &str, t: &str) -> JobResult<Option<Effective>> {
    with_settings(|rows| {
        if rows.is_empty() {
            return None;
        }
        let pk: RowKey = (s.to_string(), Some(t.to_string()));
        let sk: RowKey = (s.to_string(), None);
        let pair = rows.get(&pk);
        let src = rows.get(&sk);
        if pair.is_none() && src.is_none() {
            return None;
        }
        fn pick<T: Copy>(
            pair: Option<&Settings>,
            src: Option<&Settings>,
            pk: &RowKey,
            sk: &RowKey,
            f: impl Fn(&Settings) -> Option<T>,
        ) -> Option<(RowKey, T)> {
            if let Some(v) = pair.and_then(&f) {
                return Some((pk.clone(), v));
            }
            src.and_then(&f).map(|v| (sk.clone(), v))
        }
        let e = Effective {
            paused: pair
                .and_then(|p| p.paused)
                .or_else(|| src.and_then(|s| s.paused))
                .unwrap_or(false),
            concurrency: pick(pair, src, &pk, &sk, |x| x.max_concurrency),
            per_key: pick(pair, src, &pk, &sk, |x| x.max_per_key),
            rate: pick(pair, src, &pk, &sk, |x| {
                match (x.rate_limit, x.rate_period) {
                    (Some(l), Some(p)) => Some((l, p)),
                    _ => None,
                }
            })
            .map(|(k, (l, p))| (k, l, p)),
            queued: pick(pair, src, &pk, &sk, |x| x.max_queued),
        };
        if e.is_free() {
            None
        } else {
            Some(e)
        }
    })
}

/// Whether any queue has settings (a waiting claim then looks again at least every second).
pub fn any_settings() -> JobResult<bool> {
    preload()?;
    with_settings(|rows| !rows.is_empty())
}

/// Whether `job_type` of source `s` sets `f` itself (then its jobs are not in the source row's scope).
fn pair_sets(s: &str, job_type: &str, f: impl Fn(&Settings) -> bool) -> JobResult<bool> {
    with_settings(|rows| {
        rows.get(&(s.to_string(), Some(job_type.to_string())))
            .is_some_and(f)
    })
}

// ------------------------------------------------------------------------------ locks

fn lock_tag(key: &RowKey) -> pg_sys::LOCKTAG {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let v = h.finish();
    // SAFETY: a plain read of the database id.
    let db = unsafe { pg_sys::MyDatabaseId };
    pg_sys::LOCKTAG {
        locktag_field1: db.into(),
        locktag_field2: (v >> 32) as u32,
        locktag_field3: v as u32,
        // not 1 or 2, the classes of pg_advisory_lock(bigint) and (int, int)
        locktag_field4: 0x4D4A,
        locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
        locktag_lockmethodid: pg_sys::DEFAULT_LOCKMETHOD as u8,
    }
}

/// Take the transaction lock of row `key`; without `wait`, only if it is free right now.
fn lock(key: &RowKey, wait: bool) -> bool {
    let tag = lock_tag(key);
    // SAFETY: an advisory lock of the transaction, released at its end or by unlock().
    let r = unsafe { pg_sys::LockAcquire(&tag, pg_sys::ExclusiveLock as i32, false, !wait) };
    r != pg_sys::LockAcquireResult::LOCKACQUIRE_NOT_AVAIL
}

/// Take the lock of row `key`, waiting for it (set_queue, and transitions under a max_queued cap).
pub fn lock_row_wait(key: &RowKey) {
    lock(key, true);
}

fn unlock(key: &RowKey) {
    let tag = lock_tag(key);
    // SAFETY: releases one acquisition made by lock() in this transaction.
    unsafe { pg_sys::LockRelease(&tag, pg_sys::ExclusiveLock as i32, false) };
}

// ------------------------------------------------------------------------------ counting

/// Processing jobs of a governing scope (and of one key), counted up to `cap` under a fresh
/// snapshot from jobs_busy_idx (source, job_type, concurrency_key, lease_expires_at).
fn count_processing(
    ctx: &mut Ctx,
    gov: &RowKey,
    key: Option<&str>,
    cap: i64,
    excluded: impl Fn(&str) -> JobResult<bool>,
) -> JobResult<i64> {
    let c = ctx.cat.job.clone();
    let heap = ctx.jobs()?.rel;
    // SAFETY: a registered snapshot of what is committed now, whatever the isolation level: the
    // limit counts every claim that finished before this call took the queue's lock.
    let snap = unsafe { pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot()) };
    // SAFETY: the index of the open jobs table, closed below.
    let irel = unsafe { pg_sys::index_open(ctx.cat.busy_idx, pg_sys::AccessShareLock as i32) };
    let mut scan = IndexScan::new(heap, irel, snap);
    let mut keys = vec![Key::new(1, Op::Eq, Ty::TextC, text_datum(&gov.0))];
    if let Some(t) = &gov.1 {
        keys.push(Key::new(2, Op::Eq, Ty::TextC, text_datum(t)));
        if let Some(k) = key {
            keys.push(Key::new(3, Op::Eq, Ty::TextC, text_datum(k)));
        }
    }
    scan.rescan(&keys);
    let mut n = 0i64;
    let mut result = Ok(0);
    while n < cap && scan.next() {
        if scan.datum(c.status).map(text_of).as_deref() != Some("processing") {
            continue;
        }
        if gov.1.is_none() {
            let t = text_of(scan.datum(c.job_type).expect("job_type is NOT NULL"));
            match excluded(&t) {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            if let Some(k) = key {
                if scan.datum(c.concurrency_key).map(text_of).as_deref() != Some(k) {
                    continue;
                }
            }
        }
        n += 1;
    }
    drop(scan);
    // SAFETY: opened and registered above.
    unsafe {
        pg_sys::index_close(irel, pg_sys::NoLock as i32);
        pg_sys::UnregisterSnapshot(snap);
    }
    result.map(|_: i64| n)
}

/// The governing row of mcp_jobs.queues (latest version), for its counters.
struct QueueRow {
    key: RowKey,
    row: JobRowLike,
}

/// A row of mcp_jobs.queues read for update (same shape as JobRow, another table).
#[derive(Clone)]
pub struct JobRowLike {
    tid: pg_sys::ItemPointerData,
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
    changed: Vec<bool>,
}

/// The rows of mcp_jobs.queues a call changed, written once at its end (flush): a row version
/// the call wrote is invisible to the call itself (one command id), so a second change in the same
/// call could not update it.
#[derive(Default)]
pub struct CallRows {
    rows: HashMap<RowKey, JobRowLike>,
}

impl CallRows {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

fn read_queue_row(ctx: &mut Ctx, key: &RowKey) -> JobResult<Option<QueueRow>> {
    if let Some(row) = ctx.flow_rows.rows.get(key) {
        return Ok(Some(QueueRow {
            key: key.clone(),
            row: row.clone(),
        }));
    }
    let natts = ctx.cat.queue.natts;
    let queues = ctx.cat.queues;
    let idx = ctx.cat.queues_key;
    // SAFETY: the queues table and its key index, opened for this read and closed below; the
    // latest snapshot because the row's lock is held (every earlier writer committed).
    unsafe {
        let heap = pg_sys::table_open(queues, pg_sys::RowExclusiveLock as i32);
        let irel = pg_sys::index_open(idx, pg_sys::AccessShareLock as i32);
        let snap = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let mut scan = IndexScan::new(heap, irel, snap);
        let mut keys = vec![Key::new(1, Op::Eq, Ty::Text, text_datum(&key.0))];
        keys.push(match &key.1 {
            Some(t) => Key::new(2, Op::Eq, Ty::Text, text_datum(t)),
            None => Key::is_null(2),
        });
        scan.rescan(&keys);
        let out = if scan.next() {
            let tup = pg_sys::ExecCopySlotHeapTuple(scan.slot);
            let mut values = vec![pg_sys::Datum::from(0); natts];
            let mut nulls = vec![true; natts];
            pg_sys::heap_deform_tuple(tup, (*heap).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
            Some(QueueRow {
                key: key.clone(),
                row: JobRowLike {
                    tid: scan.tid(),
                    values,
                    nulls,
                    changed: vec![false; natts],
                },
            })
        } else {
            None
        };
        drop(scan);
        pg_sys::UnregisterSnapshot(snap);
        pg_sys::index_close(irel, pg_sys::NoLock as i32);
        pg_sys::table_close(heap, pg_sys::NoLock as i32);
        Ok(out)
    }
}

fn write_queue_row(ctx: &mut Ctx, q: &mut QueueRow) -> JobResult<()> {
    ctx.flow_rows.rows.insert(q.key.clone(), q.row.clone());
    Ok(())
}

/// Write the rows of mcp_jobs.queues this call changed (Ctx does it when the call ends).
pub fn flush(ctx: &mut Ctx) -> JobResult<()> {
    if ctx.flow_rows.is_empty() {
        return Ok(());
    }
    let queues = ctx.cat.queues;
    let mut t = crate::native::table::Table::open(&ctx.s, queues)?;
    for (_, mut row) in std::mem::take(&mut ctx.flow_rows.rows) {
        let (r, _) = t.update(
            &ctx.s,
            row.tid,
            &mut row.values,
            &mut row.nulls,
            &row.changed,
            true,
        )?;
        if r != Updated::Ok {
            return Err(JobError::Internal {
                context: "flow control",
                error: "a row of mcp_jobs.queues changed under its lock".into(),
            });
        }
    }
    Ok(())
}

fn set_col(q: &mut QueueRow, col: usize, d: Option<pg_sys::Datum>) {
    match d {
        Some(d) => {
            q.row.values[col] = d;
            q.row.nulls[col] = false;
        }
        None => q.row.nulls[col] = true,
    }
    q.row.changed[col] = true;
}

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// The start of the rate window that holds `at`: windows are aligned to multiples of the period
/// since the Unix epoch, so that "60 per minute" means per calendar minute.
pub fn window_start(at: pg_sys::TimestampTz, period_us: i64) -> pg_sys::TimestampTz {
    let unix = at + EPOCH_OFFSET_US;
    unix - unix.rem_euclid(period_us) - EPOCH_OFFSET_US
}

// ------------------------------------------------------------------------------ the claim's gate

/// What admit() decided for a lane of a queue.
pub enum Admission {
    /// The lane may give a job; the guard holds the locks and says what to count on a claim.
    Open(Guard),
    /// The whole queue (job type) is held back now: paused, at its limit, or busy.
    HeldType,
    /// This key's lane is at its per-key limit; other lanes of the queue may be open.
    HeldLane,
}

#[derive(Default)]
pub struct Guard {
    locked: Vec<RowKey>,
    rate: Option<(RowKey, i64)>,
    queued: Option<RowKey>,
}

/// This call's own claims (by source, job type, key), which the counting snapshot does not see.
pub type Mine = HashMap<(String, String, Option<String>), u32>;

/// This call's claims in the scope of governing row `gov` (and of key `k`), for the limit `f`
/// names: a source row counts the job types that do not set the limit themselves.
fn mine_in(
    mine: &Mine,
    gov: &RowKey,
    k: Option<&str>,
    f: impl Fn(&Settings) -> bool + Copy,
) -> JobResult<i64> {
    let mut n = 0i64;
    for ((ms, mt, mk), c) in mine {
        if ms != &gov.0 || (k.is_some() && mk.as_deref() != k) {
            continue;
        }
        let inside = match &gov.1 {
            Some(t) => mt == t,
            None => !pair_sets(ms, mt, f)?,
        };
        if inside {
            n += i64::from(*c);
        }
    }
    Ok(n)
}

/// Decide whether a job of queue (s, t) in key lane `k` may be claimed now, given this call's
/// own claims so far.
pub fn admit(
    ctx: &mut Ctx,
    s: &str,
    t: &str,
    k: Option<&str>,
    mine: &Mine,
    at: pg_sys::TimestampTz,
) -> JobResult<Admission> {
    let Some(e) = effective(s, t)? else {
        return Ok(Admission::Open(Guard::default()));
    };
    if e.paused {
        return Ok(Admission::HeldType);
    }
    // the rows to lock: every governing row, the source's first (one order for every backend)
    let mut rows: Vec<RowKey> = Vec::new();
    for key in [
        e.concurrency.as_ref().map(|c| &c.0),
        e.per_key.as_ref().filter(|_| k.is_some()).map(|c| &c.0),
        e.rate.as_ref().map(|c| &c.0),
        e.queued.as_ref().map(|c| &c.0),
    ]
    .into_iter()
    .flatten()
    {
        if !rows.contains(key) {
            rows.push(key.clone());
        }
    }
    rows.sort_by(|a, b| (a.1.is_some(), a).cmp(&(b.1.is_some(), b)));
    let mut guard = Guard::default();
    for r in &rows {
        if !lock(r, false) {
            release(guard);
            return Ok(Admission::HeldType); // another claim of this queue holds it right now
        }
        guard.locked.push(r.clone());
    }
    if let Some((gov, limit)) = &e.concurrency {
        let s_ = s.to_string();
        let n = count_processing(ctx, gov, None, i64::from(*limit), |jt| {
            pair_sets(&s_, jt, |x| x.max_concurrency.is_some())
        })?;
        let own = mine_in(mine, gov, None, |x| x.max_concurrency.is_some())?;
        if n + own >= i64::from(*limit) {
            release(guard);
            return Ok(Admission::HeldType);
        }
    }
    if let (Some((gov, limit)), Some(k)) = (&e.per_key, k) {
        let s_ = s.to_string();
        let n = count_processing(ctx, gov, Some(k), i64::from(*limit), |jt| {
            pair_sets(&s_, jt, |x| x.max_per_key.is_some())
        })?;
        let own = mine_in(mine, gov, Some(k), |x| x.max_per_key.is_some())?;
        if n + own >= i64::from(*limit) {
            release(guard);
            return Ok(Admission::HeldLane);
        }
    }
    if let Some((gov, limit, period)) = &e.rate {
        let qc = ctx.cat.queue.clone();
        let Some(q) = read_queue_row(ctx, gov)? else {
            release(guard);
            return Ok(Admission::HeldType); // the row went away: settings reload next call
        };
        let w = window_start(at, *period);
        let row_w = (!q.row.nulls[qc.window_start]).then(|| ts_of(q.row.values[qc.window_start]));
        let used = match row_w {
            // a claim dated in a window that has closed (its transaction began before a claim
            // of the next window took the lock): windows never go back, so that each window's
            // claims, by their start time, are exactly counted
            Some(rw) if rw > w => {
                release(guard);
                return Ok(Admission::HeldType);
            }
            Some(rw) if rw == w => int_of(q.row.values[qc.window_claims]),
            _ => 0,
        };
        if used >= *limit {
            release(guard);
            return Ok(Admission::HeldType);
        }
        guard.rate = Some((gov.clone(), *period));
    }
    if let Some((gov, _)) = &e.queued {
        guard.queued = Some(gov.clone());
    }
    Ok(Admission::Open(guard))
}

fn release(g: Guard) {
    for r in g.locked.iter().rev() {
        unlock(r);
    }
}

/// The lane gave no job: let the next claim of the queue have its locks.
pub fn not_claimed(_ctx: &mut Ctx, adm: Admission) {
    if let Admission::Open(g) = adm {
        release(g);
    }
}

/// A job of an admitted lane was claimed: count it in the rate window and the queued count. The
/// locks stay until the end of the transaction.
pub fn claimed(ctx: &mut Ctx, adm: &Admission, at: pg_sys::TimestampTz) -> JobResult<()> {
    let Admission::Open(g) = adm else {
        return Ok(());
    };
    if let Some((gov, period)) = &g.rate {
        let qc = ctx.cat.queue.clone();
        if let Some(mut q) = read_queue_row(ctx, gov)? {
            let w = window_start(at, *period);
            let same = !q.row.nulls[qc.window_start] && ts_of(q.row.values[qc.window_start]) == w;
            let used = if same {
                int_of(q.row.values[qc.window_claims])
            } else {
                0
            };
            set_col(&mut q, qc.window_start, Some(ts_datum(w)));
            set_col(&mut q, qc.window_claims, Some(int_datum(used + 1)));
            write_queue_row(ctx, &mut q)?;
        }
    }
    if let Some(gov) = &g.queued {
        adjust_queued(ctx, gov, -1)?;
    }
    Ok(())
}

/// Add `delta` to the queued count of governing row `gov` (under its lock), when it is counted.
fn adjust_queued(ctx: &mut Ctx, gov: &RowKey, delta: i32) -> JobResult<()> {
    let qc = ctx.cat.queue.clone();
    if let Some(mut q) = read_queue_row(ctx, gov)? {
        if !q.row.nulls[qc.queued_count] {
            let n = int_of(q.row.values[qc.queued_count]);
            set_col(&mut q, qc.queued_count, Some(int_datum((n + delta).max(0))));
            write_queue_row(ctx, &mut q)?;
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------ other transitions

/// A job of queue (s, t) is about to be enqueued (or requeued from the dead-letter queue): under
/// a cap, take the governing row's lock and count it, or refuse when the queue is full.
pub fn enqueue_gate(ctx: &mut Ctx, s: &str, t: &str, refuse_when_full: bool) -> JobResult<()> {
    let Some(e) = effective(s, t)? else {
        return Ok(());
    };
    let Some((gov, cap)) = e.queued else {
        return Ok(());
    };
    lock(&gov, true);
    let qc = ctx.cat.queue.clone();
    let Some(mut q) = read_queue_row(ctx, &gov)? else {
        return Ok(());
    };
    let n = if q.row.nulls[qc.queued_count] {
        count_queued(ctx, &gov)?
    } else {
        i64::from(int_of(q.row.values[qc.queued_count]))
    };
    if refuse_when_full && n >= i64::from(cap) {
        let retry_after = e
            .rate
            .map(|(_, l, p)| (p / 1_000_000 / i64::from(l.max(1))).max(1))
            .unwrap_or(1);
        return Err(JobError::QueueFull {
            source: s.to_string(),
            job_type: t.to_string(),
            governing: gov.1.is_none(),
            queued: n,
            cap: i64::from(cap),
            retry_after_s: retry_after,
        });
    }
    set_col(&mut q, qc.queued_count, Some(int_datum((n + 1) as i32)));
    write_queue_row(ctx, &mut q)
}

/// A job of `row`'s queue went back to 'queued' (a retry, an expired lease): count it under a cap.
pub fn requeued(ctx: &mut Ctx, row: &JobRow) -> JobResult<()> {
    let c = ctx.cat.job.clone();
    let (s, t) = (
        row.text(c.source).unwrap_or_default(),
        row.text(c.job_type).unwrap_or_default(),
    );
    enqueue_gate(ctx, &s, &t, false)
}

/// A queued job of `row`'s queue left 'queued' other than by a claim (a cancel): uncount it.
pub fn unqueued(ctx: &mut Ctx, row: &JobRow) -> JobResult<()> {
    let c = ctx.cat.job.clone();
    let (s, t) = (
        row.text(c.source).unwrap_or_default(),
        row.text(c.job_type).unwrap_or_default(),
    );
    let Some(e) = effective(&s, &t)? else {
        return Ok(());
    };
    let Some((gov, _)) = e.queued else {
        return Ok(());
    };
    lock(&gov, true);
    adjust_queued(ctx, &gov, -1)
}

/// Count afresh the queued jobs of every queue row with a max_queued cap (under its lock) and
/// correct queued_count where it drifted (jobs inserted or changed by direct DML bypass the
/// count). Returns how many rows it corrected. Run by each maintenance round.
pub fn recount_queued(ctx: &mut Ctx) -> JobResult<i64> {
    let capped: Vec<RowKey> = with_settings(|rows| {
        rows.iter()
            .filter(|(_, s)| s.max_queued.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    })?;
    let qc = ctx.cat.queue.clone();
    let mut fixed = 0;
    for key in capped {
        lock(&key, true);
        let Some(mut q) = read_queue_row(ctx, &key)? else {
            continue;
        };
        let n = count_queued(ctx, &key)?;
        let now = (!q.row.nulls[qc.queued_count])
            .then(|| i64::from(int_of(q.row.values[qc.queued_count])));
        if now != Some(n) {
            set_col(&mut q, qc.queued_count, Some(int_datum(n as i32)));
            write_queue_row(ctx, &mut q)?;
            fixed += 1;
        }
    }
    Ok(fixed)
}

/// Queued jobs of a governing scope, counted from jobs_claim_idx (every priority) under a fresh
/// snapshot, excluding job types that set max_queued themselves when the scope is a source.
fn count_queued(ctx: &mut Ctx, gov: &RowKey) -> JobResult<i64> {
    let c = ctx.cat.job.clone();
    let heap = ctx.jobs()?.rel;
    // SAFETY: as in count_processing.
    let snap = unsafe { pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot()) };
    let irel = unsafe { pg_sys::index_open(ctx.cat.claim_idx, pg_sys::AccessShareLock as i32) };
    let mut scan = IndexScan::new(heap, irel, snap);
    let mut n = 0i64;
    let mut err = None;
    for p in crate::rules::MIN_PRIORITY..=crate::rules::MAX_PRIORITY {
        let mut keys = vec![
            Key::new(1, Op::Eq, Ty::Int4, int_datum(p)),
            Key::new(2, Op::Eq, Ty::TextC, text_datum(&gov.0)),
        ];
        if let Some(t) = &gov.1 {
            keys.push(Key::new(3, Op::Eq, Ty::TextC, text_datum(t)));
        }
        scan.rescan(&keys);
        while scan.next() {
            if scan.datum(c.status).map(text_of).as_deref() != Some("queued") {
                continue;
            }
            if gov.1.is_none() {
                let t = text_of(scan.datum(c.job_type).expect("job_type is NOT NULL"));
                match pair_sets(&gov.0, &t, |x| x.max_queued.is_some()) {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            n += 1;
        }
    }
    drop(scan);
    // SAFETY: opened and registered above.
    unsafe {
        pg_sys::index_close(irel, pg_sys::NoLock as i32);
        pg_sys::UnregisterSnapshot(snap);
    }
    match err {
        Some(e) => Err(e),
        None => Ok(n),
    }
}
