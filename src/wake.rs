//! Claims that wait for work (p_wait_ms): a waiting backend sleeps on its latch and is woken when a
//! transaction that made a job claimable commits, instead of polling.
//!
//! With `shared_preload_libraries = 'mcp_jobs'` the library keeps one slot per backend in shared
//! memory: a waiting claim publishes its database and filters there and sleeps. A transaction that
//! enqueues (or requeues, or frees a limited queue's slot) records what it made ready; at commit
//! (not before: an uncommitted or rolled-back enqueue wakes nobody) it wakes one matching waiter
//! per job, not all of them. Without the preload there is no shared memory: a waiting claim then
//! looks again every 100 ms (diagnostics() says which mode is in use).
//!
//! While it sleeps a claim holds no snapshot (in READ COMMITTED its backend publishes no xmin, so
//! vacuum is not held back); pg_cancel_backend and statement_timeout end the wait with their usual
//! error. It wakes at the latest when the earliest scheduled job of its queues comes due, or after
//! a second when flow control holds queues back (a slot may free up, a rate window may open).
use crate::errors::{JobError, JobResult};
use pgrx::pg_sys;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest wait one call may ask for.
pub const MAX_WAIT_MS: i32 = 60_000;
/// The polling period without shared memory.
const POLL_MS: u64 = 100;
/// Filter values kept per waiter; more means "any" (a few spurious wake-ups).
const FILTERS: usize = 8;

const FREE: u32 = 0;
const WAITING: u32 = 1;
const WOKEN: u32 = 2;

#[repr(C)]
struct Slot {
    state: AtomicU32,
    pid: AtomicU32,
    db: AtomicU32,
    n_sources: AtomicU32,
    n_types: AtomicU32,
    sources: [AtomicU32; FILTERS],
    types: [AtomicU32; FILTERS],
}

#[repr(C)]
struct Shared {
    waiting: AtomicU32,
    /// waiters woken by a commit since the server started (diagnostics, tests)
    wakeups: AtomicU64,
    /// pid of the running maintenance worker, 0 when none: diagnostics() reads it because
    /// pg_stat_activity hides a superuser's background worker from other roles
    maintenance_pid: AtomicU32,
    nslots: u32,
    slots: [Slot; 0],
}

static mut SHARED: *mut Shared = std::ptr::null_mut();
static mut PREV_REQUEST: pg_sys::shmem_request_hook_type = None;
static mut PREV_STARTUP: pg_sys::shmem_startup_hook_type = None;

fn nslots() -> usize {
    // SAFETY: MaxBackends is final when the shared memory is requested (PostgreSQL 15).
    (unsafe { pg_sys::MaxBackends }).max(1) as usize
}

fn shmem_size() -> usize {
    std::mem::size_of::<Shared>() + nslots() * std::mem::size_of::<Slot>()
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn request() {
    // SAFETY: called by the postmaster while shared memory is sized, as the hook's contract says.
    unsafe {
        if let Some(prev) = PREV_REQUEST {
            prev();
        }
        pg_sys::RequestAddinShmemSpace(shmem_size());
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn startup() {
    // SAFETY: called in the postmaster (and EXEC_BACKEND children) once shared memory exists;
    // AddinShmemInitLock serializes the initialization as PostgreSQL's own modules do.
    unsafe {
        if let Some(prev) = PREV_STARTUP {
            prev();
        }
        // AddinShmemInitLock is MainLWLockArray[21] (storage/lwlocknames.h)
        let init_lock = &mut (*pg_sys::MainLWLockArray.add(21)).lock;
        pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut found = false;
        let p = pg_sys::ShmemInitStruct(c"mcp_jobs waiters".as_ptr(), shmem_size(), &mut found)
            as *mut Shared;
        if !found {
            std::ptr::write_bytes(p as *mut u8, 0, shmem_size());
            (*p).nslots = nslots() as u32;
        }
        SHARED = p;
        pg_sys::LWLockRelease(init_lock);
    }
}

/// From _PG_init while preloading: ask for the waiters' shared memory.
pub fn init_shmem() {
    // SAFETY: hook chaining at preload time, single-threaded in the postmaster.
    unsafe {
        PREV_REQUEST = pg_sys::shmem_request_hook;
        pg_sys::shmem_request_hook = Some(request);
        PREV_STARTUP = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(startup);
    }
}

fn shared() -> Option<&'static Shared> {
    // SAFETY: SHARED is set once at startup (inherited by every backend) and never freed.
    unsafe { SHARED.as_ref() }
}

fn slots(sh: &'static Shared) -> &'static [Slot] {
    // SAFETY: the struct was allocated with nslots slots after it.
    unsafe { std::slice::from_raw_parts(sh.slots.as_ptr(), sh.nslots as usize) }
}

/// Whether waits are served by latches (the library is preloaded) or by polling.
pub fn mode() -> &'static str {
    if shared().is_some() {
        "latch"
    } else {
        "polling"
    }
}

/// How many claims are waiting now (0 without the preload).
pub fn waiting() -> u32 {
    shared().map_or(0, |s| s.waiting.load(Ordering::Relaxed))
}

/// How many waiters commits have woken since the server started (0 without the preload).
pub fn wakeups() -> u64 {
    shared().map_or(0, |s| s.wakeups.load(Ordering::Relaxed))
}

/// The maintenance worker's pid while it runs (None without the preload or when it is not running).
pub fn maintenance_pid() -> Option<u32> {
    shared()
        .map(|s| s.maintenance_pid.load(Ordering::Acquire))
        .filter(|pid| *pid != 0)
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn maintenance_gone(_code: i32, _arg: pg_sys::Datum) {
    if let Some(sh) = shared() {
        // SAFETY: MyProcPid is this process's pid.
        let me = unsafe { pg_sys::MyProcPid } as u32;
        let _ = sh
            .maintenance_pid
            .compare_exchange(me, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Called by the maintenance worker once started: publishes its pid until the process exits
/// (a crash restart reinitializes shared memory, so a killed worker is not left published).
pub fn maintenance_started() {
    if let Some(sh) = shared() {
        // SAFETY: MyProcPid is this process's pid; the callback runs at proc_exit.
        unsafe {
            sh.maintenance_pid
                .store(pg_sys::MyProcPid as u32, Ordering::Release);
            pg_sys::before_shmem_exit(Some(maintenance_gone), pg_sys::Datum::from(0));
        }
    }
}

fn hash(s: &str) -> u32 {
    // FNV-1a
    let mut h: u32 = 0x811c_9dc5;
    for b in s.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h | 1 // never 0
}

fn my_slot() -> Option<&'static Slot> {
    let sh = shared()?;
    // SAFETY: MyProc is this backend's PGPROC.
    let n = unsafe { (*pg_sys::MyProc).pgprocno } as usize;
    slots(sh).get(n)
}

// ------------------------------------------------------------------------------ the waker side

thread_local! {
    /// Jobs made claimable by this transaction: (subtransaction level, source hash, type hash).
    static PENDING: RefCell<Vec<(i32, u32, u32)>> = const { RefCell::new(Vec::new()) };
    /// Wake every waiter at commit (a queue was resumed or its limits raised).
    static WAKE_ALL: RefCell<bool> = const { RefCell::new(false) };
    static CALLBACKS: RefCell<bool> = const { RefCell::new(false) };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_COMMIT => {
            let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
            let all = WAKE_ALL.with(|w| std::mem::replace(&mut *w.borrow_mut(), false));
            if all {
                wake(None, usize::MAX);
            } else {
                for (_, s, t) in pending {
                    wake(Some((s, t)), 1);
                }
            }
        }
        pg_sys::XactEvent::XACT_EVENT_ABORT
        | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT
        | pg_sys::XactEvent::XACT_EVENT_PREPARE => {
            PENDING.with(|p| p.borrow_mut().clear());
            WAKE_ALL.with(|w| *w.borrow_mut() = false);
        }
        _ => {}
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn subxact_event(
    event: pg_sys::SubXactEvent::Type,
    _my: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    // SAFETY: a plain read of the nesting level of the subtransaction that ends.
    let level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
    match event {
        // what a rolled-back subtransaction enqueued never becomes claimable
        pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB => {
            PENDING.with(|p| p.borrow_mut().retain(|(l, _, _)| *l < level));
        }
        // a released subtransaction's entries now belong to its parent
        pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB => PENDING.with(|p| {
            for e in p.borrow_mut().iter_mut() {
                if e.0 >= level {
                    e.0 = level - 1;
                }
            }
        }),
        _ => {}
    }
}

fn register_callbacks() {
    CALLBACKS.with(|c| {
        if !*c.borrow() {
            // SAFETY: registrations that last as long as the backend, as the library does.
            unsafe {
                pg_sys::RegisterXactCallback(Some(xact_event), std::ptr::null_mut());
                pg_sys::RegisterSubXactCallback(Some(subxact_event), std::ptr::null_mut());
            }
            *c.borrow_mut() = true;
        }
    });
}

/// A job of queue (source, job_type) becomes claimable when this transaction commits (or at
/// `_at`, for a scheduled one: the waiter woken recomputes how long to sleep).
pub fn job_ready(source: &str, job_type: &str, _at: pg_sys::TimestampTz) {
    if shared().is_none() {
        return;
    }
    register_callbacks();
    // SAFETY: a plain read of the nesting level.
    let level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        // one wake per job, but no need to remember more than there are slots
        if p.len() < nslots() {
            p.push((level, hash(source), hash(job_type)));
        }
    });
}

/// Wake every waiter at commit (a queue was resumed, a limit raised).
pub fn all_ready() {
    if shared().is_none() {
        return;
    }
    register_callbacks();
    WAKE_ALL.with(|w| *w.borrow_mut() = true);
}

fn matches(slot: &Slot, db: u32, s: u32, t: u32) -> bool {
    if slot.db.load(Ordering::Acquire) != db {
        return false;
    }
    let ns = slot.n_sources.load(Ordering::Acquire) as usize;
    let nt = slot.n_types.load(Ordering::Acquire) as usize;
    let src_ok = ns == 0
        || slot.sources[..ns.min(FILTERS)]
            .iter()
            .any(|h| h.load(Ordering::Acquire) == s);
    let typ_ok = nt == 0
        || slot.types[..nt.min(FILTERS)]
            .iter()
            .any(|h| h.load(Ordering::Acquire) == t);
    src_ok && typ_ok
}

/// Wake up to `n` waiters of this database (matching `which`, or any).
fn wake(which: Option<(u32, u32)>, n: usize) {
    let Some(sh) = shared() else { return };
    if sh.waiting.load(Ordering::Acquire) == 0 {
        return;
    }
    // SAFETY: plain reads of this backend's database and the process array.
    let (db, procs) = unsafe {
        (
            u32::from(pg_sys::MyDatabaseId),
            (*pg_sys::ProcGlobal).allProcs,
        )
    };
    let mut woken = 0;
    for (i, slot) in slots(sh).iter().enumerate() {
        if woken >= n {
            break;
        }
        if slot.state.load(Ordering::Acquire) != WAITING {
            continue;
        }
        let ok = match which {
            Some((s, t)) => matches(slot, db, s, t),
            None => slot.db.load(Ordering::Acquire) == db,
        };
        if !ok {
            continue;
        }
        if slot
            .state
            .compare_exchange(WAITING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // SAFETY: i < nslots <= the number of PGPROCs; a slot is WAITING only while its
            // backend (pid checked) sleeps on its own latch.
            unsafe {
                let proc_ = procs.add(i);
                if (*proc_).pid as u32 == slot.pid.load(Ordering::Acquire) {
                    pg_sys::SetLatch(&mut (*proc_).procLatch);
                    sh.wakeups.fetch_add(1, Ordering::Relaxed);
                    woken += 1;
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------ the waiter side

pub fn check_wait(wait_ms: Option<i32>) -> JobResult<u64> {
    let w = wait_ms.unwrap_or(0);
    if !(0..=MAX_WAIT_MS).contains(&w) {
        return Err(JobError::invalid(
            "p_wait_ms",
            format!("must be between 0 and {MAX_WAIT_MS}"),
            format!("p_wait_ms was {w}."),
            "Pass how long to wait for a job when none is due (0: return at once); call again for longer waits.",
        ));
    }
    Ok(w as u64)
}

/// This backend's slot while it waits; freed on drop (also when an error ends the wait).
struct Registration(Option<&'static Slot>);

impl Registration {
    fn new(sources: &Option<Vec<String>>, job_types: &Option<Vec<String>>) -> Registration {
        let Some(slot) = my_slot() else {
            return Registration(None);
        };
        let sh = shared().expect("a slot implies shared memory");
        let fill =
            |dst: &[AtomicU32; FILTERS], n: &AtomicU32, list: &Option<Vec<String>>| match list {
                Some(l) if l.len() <= FILTERS => {
                    for (d, v) in dst.iter().zip(l) {
                        d.store(hash(v), Ordering::Relaxed);
                    }
                    n.store(l.len() as u32, Ordering::Relaxed);
                }
                _ => n.store(0, Ordering::Relaxed),
            };
        fill(&slot.sources, &slot.n_sources, sources);
        fill(&slot.types, &slot.n_types, job_types);
        // SAFETY: plain reads of this backend's identity.
        unsafe {
            slot.db
                .store(u32::from(pg_sys::MyDatabaseId), Ordering::Relaxed);
            slot.pid.store(pg_sys::MyProcPid as u32, Ordering::Relaxed);
        }
        slot.state.store(WAITING, Ordering::Release);
        sh.waiting.fetch_add(1, Ordering::AcqRel);
        EXIT_HOOK.with(|h| {
            if !*h.borrow() {
                // SAFETY: a callback that clears this backend's slot if it exits while waiting.
                unsafe { pg_sys::before_shmem_exit(Some(on_exit), pg_sys::Datum::from(0)) };
                *h.borrow_mut() = true;
            }
        });
        Registration(Some(slot))
    }

    /// Ready to wait again after a wake-up that found nothing.
    fn rearm(&self) {
        if let Some(slot) = self.0 {
            let _ =
                slot.state
                    .compare_exchange(WOKEN, WAITING, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let (Some(slot), Some(sh)) = (self.0, shared()) {
            if slot.state.swap(FREE, Ordering::AcqRel) != FREE {
                sh.waiting.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

thread_local! {
    static EXIT_HOOK: RefCell<bool> = const { RefCell::new(false) };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_exit(_code: i32, _arg: pg_sys::Datum) {
    if let (Some(slot), Some(sh)) = (my_slot(), shared()) {
        if slot.state.swap(FREE, Ordering::AcqRel) != FREE {
            sh.waiter_gone();
        }
    }
}

impl Shared {
    fn waiter_gone(&self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Publish no xmin while sleeping (READ COMMITTED only: the claim after the wait takes a new
/// snapshot, and nothing of the statement reads with the old one afterwards; docs/api.md says a
/// waiting claim must be its statement's only table access).
fn release_xmin() {
    {
        // SAFETY: the same plain write of MyProc->xmin that SnapshotResetXmin makes; the catalog
        // snapshot is dropped first so that nothing keeps using it.
        unsafe {
            if pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 {
                return;
            }
            pg_sys::InvalidateCatalogSnapshot();
            (*pg_sys::MyProc).xmin = pg_sys::InvalidTransactionId;
        }
    }
}

/// Wait up to `wait_ms` for `claim` to return rows: claim after each wake-up. `claim` returns None
/// to go on waiting, Some(rows) to end the wait (with rows, or without when it wrote something its
/// transaction must not hold during a wait).
///
/// `first_at` is the time the caller's claim before the wait looked at; each claim of the loop
/// looks at the clock read just before it (`claim`'s second argument). What comes due is judged
/// against the time the last claim looked at, not a later reading: a job that came due between the
/// two is then claimed at once rather than overlooked until the end of the wait.
pub fn wait_and_claim<T>(
    args: &crate::claim::ClaimArgs,
    wait_ms: u64,
    first_at: pg_sys::TimestampTz,
    mut claim: impl FnMut(&crate::claim::ClaimArgs, pg_sys::TimestampTz) -> JobResult<Option<Vec<T>>>,
) -> JobResult<Vec<T>> {
    let mut looked_at = first_at;
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    let reg = Registration::new(&args.sources, &args.job_types);
    let held_back = crate::flow::any_settings()?;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(Vec::new());
        }
        let mut sleep = deadline - now;
        if reg.0.is_none() {
            sleep = sleep.min(Duration::from_millis(POLL_MS));
        } else {
            if let Some(due) = crate::claim::next_due_in(args, looked_at)? {
                sleep = sleep.min(due);
            }
            // a lease that ends while it waits puts a job back: look then (nothing wakes it)
            if let Some(expiry) = crate::lease::next_expiry_in()? {
                sleep = sleep.min(expiry);
            }
            if held_back {
                sleep = sleep.min(Duration::from_secs(1));
            }
        }
        {
            release_xmin();
            // SAFETY: this backend's latch; interrupts are checked right after.
            unsafe {
                pg_sys::WaitLatch(
                    pg_sys::MyLatch,
                    (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH)
                        as i32,
                    sleep.as_millis().max(1) as i64,
                    pg_sys::PG_WAIT_EXTENSION,
                );
                pg_sys::ResetLatch(pg_sys::MyLatch);
            }
            pgrx::check_for_interrupts!();
        }
        looked_at = crate::native::clock();
        if let Some(rows) = claim(args, looked_at)? {
            return Ok(rows);
        }
        reg.rearm();
    }
}
