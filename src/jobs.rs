//! The rows of one job's life, written directly (src/native): the job itself, its runs, its events
//! and its dead letter. Each transition reads the job's current version by key under a fresh
//! snapshot, checks the state it expects, and updates that version; heap_update refuses if another
//! transaction changed the row since (then the transition is tried again under a new snapshot in
//! READ COMMITTED, as an UPDATE re-checks its WHERE clause, and fails with a serialization failure
//! in REPEATABLE READ and SERIALIZABLE).
use crate::errors::{JobError, JobResult, OrRaise};
use crate::native::catalog::{catalog, Catalog};
use crate::native::scan::{xact_snapshot, IndexScan, Key, Op, Snap, Ty};
use crate::native::table::{Session, Table, Updated};
use crate::native::{
    int_datum, int_of, now, text_datum, text_of, ts_datum, ts_of, uuid_datum, uuid_of, JsonObj,
};
use crate::raw_jsonb::{JsonbKind, RawJsonb};
use crate::rules::{event_rules, expect_rules, job_rules, run_rules};
use crate::uuid7::new_uuid7;
use pgrx::pg_sys;

/// One call's handles: the catalog, the executor state, and the tables opened as needed.
pub struct Ctx {
    pub cat: Catalog,
    pub s: Session,
    jobs: Option<Table>,
    runs: Option<Table>,
    events: Option<Table>,
    dead: Option<Table>,
    /// now(): the transaction start time every row of the call carries
    pub now: pg_sys::TimestampTz,
    /// rows of mcp_jobs.queues the call changed, written when it ends (flow::flush)
    pub flow_rows: crate::flow::CallRows,
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // the call's changes to mcp_jobs.queues, once each, at its end; not while an error unwinds
        // (the transaction is aborted anyway)
        if !self.flow_rows.is_empty() && !std::thread::panicking() {
            if let Err(e) = crate::flow::flush(self) {
                Err::<(), _>(e).or_raise("flow control");
            }
        }
    }
}

macro_rules! lazy_table {
    ($name:ident, $field:ident, $oid:ident) => {
        pub fn $name(&mut self) -> JobResult<&mut Table> {
            if self.$field.is_none() {
                self.$field = Some(Table::open(&self.s, self.cat.$oid)?);
            }
            Ok(self.$field.as_mut().expect("opened above"))
        }
    };
}

impl Ctx {
    pub fn new() -> JobResult<Ctx> {
        // every SPI read before the session starts writing (src/native/table.rs, Session::new)
        let cat = catalog()?;
        crate::flow::preload()?;
        Ok(Ctx {
            cat,
            s: Session::new(),
            jobs: None,
            runs: None,
            events: None,
            dead: None,
            now: now(),
            flow_rows: Default::default(),
        })
    }

    /// After an SPI statement in the middle of a call (which moves the command counter): write on
    /// with the current command id.
    pub fn resync(&mut self) {
        // SAFETY: a plain read of the command counter.
        self.s.cid = unsafe { pg_sys::GetCurrentCommandId(true) };
    }

    lazy_table!(jobs, jobs, jobs);
    lazy_table!(runs, runs, runs);
    lazy_table!(events, events, events);
    lazy_table!(dead, dead, dead);

    /// Insert an event row; returns nothing (events are append-only).
    pub fn event(
        &mut self,
        job_id: pgrx::Uuid,
        run_id: Option<pgrx::Uuid>,
        event_type: &'static str,
        data: JsonObj,
    ) -> JobResult<()> {
        expect_rules("job_events", event_rules(Some(event_type)))?;
        let c = self.cat.event.clone();
        let seq = self.cat.events_seq;
        let mut v = vec![pg_sys::Datum::from(0); c.natts];
        let mut n = vec![true; c.natts];
        // SAFETY: nextval of the events' identity sequence, as the column's default would call it.
        let id = unsafe {
            pgrx::direct_function_call_as_datum(
                pg_sys::nextval_oid,
                &[Some(pg_sys::Datum::from(seq))],
            )
            .expect("nextval returns a value")
        };
        set(&mut v, &mut n, c.id, id);
        set(&mut v, &mut n, c.job_id, uuid_datum(job_id));
        if let Some(r) = run_id {
            set(&mut v, &mut n, c.run_id, uuid_datum(r));
        }
        set(&mut v, &mut n, c.event_type, text_datum(event_type));
        set(&mut v, &mut n, c.data, data.jsonb());
        set(&mut v, &mut n, c.created_at, ts_datum(self.now));
        let s = &self.s as *const Session;
        // SAFETY: the session outlives this call; the borrow checker cannot see that the table and
        // the session are distinct fields.
        self.events()?.insert(unsafe { &*s }, &mut v, &mut n);
        Ok(())
    }

    /// Insert a new run (the attempt a claim starts).
    pub fn insert_run(
        &mut self,
        run_id: pgrx::Uuid,
        job_id: pgrx::Uuid,
        attempt: i32,
        worker: &str,
        started_at: pg_sys::TimestampTz,
        lease_seconds: i32,
    ) -> JobResult<()> {
        expect_rules("job_runs", run_rules(Some(attempt), None, false))?;
        let c = self.cat.run.clone();
        let mut v = vec![pg_sys::Datum::from(0); c.natts];
        let mut n = vec![true; c.natts];
        set(&mut v, &mut n, c.id, uuid_datum(run_id));
        set(&mut v, &mut n, c.job_id, uuid_datum(job_id));
        set(&mut v, &mut n, c.attempt, int_datum(attempt));
        set(&mut v, &mut n, c.worker_id, text_datum(worker));
        set(&mut v, &mut n, c.started_at, ts_datum(started_at));
        set(&mut v, &mut n, c.lease_seconds, int_datum(lease_seconds));
        let s = &self.s as *const Session;
        // SAFETY: as in event().
        self.runs()?.insert(unsafe { &*s }, &mut v, &mut n);
        Ok(())
    }

    /// Close the open run `run_id` of `job_id` with `outcome` (and `error`); returns its duration
    /// in milliseconds (the generated column duration_ms, computed here as PostgreSQL would).
    pub fn close_run(
        &mut self,
        job_id: pgrx::Uuid,
        run_id: pgrx::Uuid,
        outcome: &'static str,
        error: Option<&str>,
    ) -> JobResult<Option<f64>> {
        expect_rules("job_runs", run_rules(Some(1), Some(outcome), true))?;
        let c = self.cat.run.clone();
        let runs_pkey = self.cat.runs_pkey;
        let when = self.now;
        let s = &self.s as *const Session;
        let runs = self.runs()?;
        for _ in 0..3 {
            let snap = Snap::fresh();
            // SAFETY: the index belongs to the open table; opened and closed here.
            let irel = unsafe { pg_sys::index_open(runs_pkey, pg_sys::AccessShareLock as i32) };
            let mut scan = IndexScan::new(runs.rel, irel, snap.0);
            scan.rescan(&[
                Key::new(1, Op::Eq, Ty::Uuid, uuid_datum(job_id)),
                Key::new(2, Op::Eq, Ty::Uuid, uuid_datum(run_id)),
            ]);
            let found = scan.next();
            let result = if !found {
                Err(JobError::Internal {
                    context: "close_run",
                    error: format!("run {run_id} of job {job_id} does not exist"),
                })
            } else if scan.datum(c.finished_at).is_some() {
                // already closed (a lease sweep and a completion raced; the job row decided)
                Ok(Some((Updated::Ok, None)))
            } else {
                let started = ts_of(scan.datum(c.started_at).expect("started_at is NOT NULL"));
                let (mut v, mut n) = scan.row(c.natts);
                let mut changed = vec![false; c.natts];
                set_changed(
                    &mut v,
                    &mut n,
                    &mut changed,
                    c.finished_at,
                    Some(ts_datum(when)),
                );
                set_changed(
                    &mut v,
                    &mut n,
                    &mut changed,
                    c.outcome,
                    Some(text_datum(outcome)),
                );
                if let Some(e) = error {
                    set_changed(&mut v, &mut n, &mut changed, c.error, Some(text_datum(e)));
                }
                // duration_ms GENERATED ALWAYS AS (extract(epoch FROM (finished_at - started_at)) * 1000):
                // the exact decimal usec/1000, rounded once to float8 as numeric -> float8 does
                let ms = (when - started) as f64 / 1000.0;
                set_changed(
                    &mut v,
                    &mut n,
                    &mut changed,
                    c.duration_ms,
                    pgrx::IntoDatum::into_datum(ms),
                );
                // SAFETY: as in event().
                let (r, _) =
                    runs.update(unsafe { &*s }, scan.tid(), &mut v, &mut n, &changed, true)?;
                Ok(Some((r, Some(ms))))
            };
            drop(scan);
            // SAFETY: opened above.
            unsafe { pg_sys::index_close(irel, pg_sys::NoLock as i32) };
            match result? {
                Some((Updated::Ok, ms)) => return Ok(ms),
                _ if xact_snapshot() => return Err(JobError::Serialization),
                _ => continue,
            }
        }
        Err(JobError::Internal {
            context: "close_run",
            error: "the run kept changing".into(),
        })
    }

    /// Insert a dead letter for a job that failed for good; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_dead_letter(
        &mut self,
        job: &JobRow,
        attempts: i32,
        last_error: &str,
        details: Option<pg_sys::Datum>,
    ) -> JobResult<pgrx::Uuid> {
        let c = self.cat.dl.clone();
        let jc = self.cat.job.clone();
        let id = new_uuid7();
        let mut v = vec![pg_sys::Datum::from(0); c.natts];
        let mut n = vec![true; c.natts];
        set(&mut v, &mut n, c.id, uuid_datum(id));
        set(&mut v, &mut n, c.job_id, uuid_datum(job.id));
        set(&mut v, &mut n, c.source, job.values[jc.source]);
        set(&mut v, &mut n, c.job_type, job.values[jc.job_type]);
        set(&mut v, &mut n, c.payload, job.values[jc.payload]);
        set(&mut v, &mut n, c.attempts, int_datum(attempts));
        set(&mut v, &mut n, c.last_error, text_datum(last_error));
        set(&mut v, &mut n, c.failed_at, ts_datum(self.now));
        set(&mut v, &mut n, c.resolved, pg_sys::Datum::from(false));
        if let Some(d) = details {
            set(&mut v, &mut n, c.details, d);
        }
        let s = &self.s as *const Session;
        // SAFETY: as in event().
        self.dead()?.insert(unsafe { &*s }, &mut v, &mut n);
        Ok(id)
    }

    /// Write a new version of `job` (values already changed in `job`), checking the row rules.
    pub fn update_job(&mut self, job: &mut JobRow, wait: bool) -> JobResult<Updated> {
        let c = self.cat.job.clone();
        job.check_rules(&c)?;
        let s = &self.s as *const Session;
        let jobs = self.jobs()?;
        // SAFETY: as in event().
        let (r, tid) = jobs.update(
            unsafe { &*s },
            job.tid,
            &mut job.values,
            &mut job.nulls,
            &job.changed,
            wait,
        )?;
        if r == Updated::Ok {
            job.tid = tid;
        }
        Ok(r)
    }

    /// Insert a new job row (already checked by the caller's argument checks).
    pub fn insert_job(&mut self, job: &mut JobRow) -> JobResult<()> {
        let c = self.cat.job.clone();
        job.check_rules(&c)?;
        let s = &self.s as *const Session;
        // SAFETY: as in event().
        let tid = self
            .jobs()?
            .insert(unsafe { &*s }, &mut job.values, &mut job.nulls);
        job.tid = tid;
        Ok(())
    }

    /// The lease length of open run `run_id` of job `job_id`, or None when there is no such open run.
    pub fn run_lease(&mut self, job_id: pgrx::Uuid, run_id: pgrx::Uuid) -> JobResult<Option<i32>> {
        let c = self.cat.run.clone();
        let runs_pkey = self.cat.runs_pkey;
        let runs = self.runs()?;
        let snap = Snap::fresh();
        // SAFETY: the index of the open runs table, closed below.
        let irel = unsafe { pg_sys::index_open(runs_pkey, pg_sys::AccessShareLock as i32) };
        let mut scan = IndexScan::new(runs.rel, irel, snap.0);
        scan.rescan(&[
            Key::new(1, Op::Eq, Ty::Uuid, uuid_datum(job_id)),
            Key::new(2, Op::Eq, Ty::Uuid, uuid_datum(run_id)),
        ]);
        let lease = if scan.next() && scan.datum(c.finished_at).is_none() {
            scan.datum(c.lease_seconds).map(int_of)
        } else {
            None
        };
        drop(scan);
        // SAFETY: opened above.
        unsafe { pg_sys::index_close(irel, pg_sys::NoLock as i32) };
        Ok(lease)
    }

    /// The current version of job `id` under a fresh snapshot, or None.
    pub fn find_job(&mut self, id: pgrx::Uuid) -> JobResult<Option<JobRow>> {
        let natts = self.cat.job.natts;
        let pkey = self.cat.jobs_pkey;
        let jobs = self.jobs()?;
        let snap = Snap::fresh();
        // SAFETY: the index of an open table, closed below.
        let irel = unsafe { pg_sys::index_open(pkey, pg_sys::AccessShareLock as i32) };
        let mut scan = IndexScan::new(jobs.rel, irel, snap.0);
        scan.rescan(&[Key::new(1, Op::Eq, Ty::Uuid, uuid_datum(id))]);
        let row = if scan.next() {
            Some(JobRow::copy_from(&scan, natts, id))
        } else {
            None
        };
        drop(scan);
        // SAFETY: opened above.
        unsafe { pg_sys::index_close(irel, pg_sys::NoLock as i32) };
        Ok(row)
    }
}

fn set(v: &mut [pg_sys::Datum], n: &mut [bool], col: usize, d: pg_sys::Datum) {
    v[col] = d;
    n[col] = false;
}

fn set_changed(
    v: &mut [pg_sys::Datum],
    n: &mut [bool],
    changed: &mut [bool],
    col: usize,
    d: Option<pg_sys::Datum>,
) {
    match d {
        Some(d) => {
            v[col] = d;
            n[col] = false;
        }
        None => {
            v[col] = pg_sys::Datum::from(0);
            n[col] = true;
        }
    }
    changed[col] = true;
}

/// One version of a jobs row: its TID and values. Values of a row read from the table are copied
/// out of the buffer (the row outlives the scan that found it).
pub struct JobRow {
    pub id: pgrx::Uuid,
    pub tid: pg_sys::ItemPointerData,
    pub values: Vec<pg_sys::Datum>,
    pub nulls: Vec<bool>,
    pub changed: Vec<bool>,
}

impl JobRow {
    /// A new row: every column NULL.
    pub fn new(id: pgrx::Uuid, natts: usize) -> JobRow {
        JobRow {
            id,
            // SAFETY: an all-zero ItemPointerData is a valid (invalid) TID.
            tid: unsafe { std::mem::zeroed() },
            values: vec![pg_sys::Datum::from(0); natts],
            nulls: vec![true; natts],
            changed: vec![true; natts],
        }
    }

    /// The scan's current row, copied into the current memory context.
    pub fn copy_from(scan: &IndexScan, natts: usize, id: pgrx::Uuid) -> JobRow {
        // SAFETY: the scan is positioned on a row; heap_copytuple of the slot's tuple and a deform
        // of the copy give Datums that stay valid after the scan moves.
        unsafe {
            let tup = pg_sys::ExecCopySlotHeapTuple(scan.slot);
            let desc = (*scan.slot).tts_tupleDescriptor;
            let mut values = vec![pg_sys::Datum::from(0); natts];
            let mut nulls = vec![true; natts];
            pg_sys::heap_deform_tuple(tup, desc, values.as_mut_ptr(), nulls.as_mut_ptr());
            JobRow {
                id,
                tid: scan.tid(),
                values,
                nulls,
                changed: vec![false; natts],
            }
        }
    }

    pub fn get(&self, col: usize) -> Option<pg_sys::Datum> {
        if self.nulls[col] {
            None
        } else {
            Some(self.values[col])
        }
    }

    pub fn text(&self, col: usize) -> Option<String> {
        self.get(col).map(text_of)
    }

    pub fn int(&self, col: usize) -> i32 {
        self.get(col).map(int_of).unwrap_or(0)
    }

    pub fn ts(&self, col: usize) -> Option<pg_sys::TimestampTz> {
        self.get(col).map(ts_of)
    }

    pub fn uuid(&self, col: usize) -> Option<pgrx::Uuid> {
        self.get(col).map(uuid_of)
    }

    pub fn jsonb(&self, col: usize) -> Option<RawJsonb> {
        self.get(col).map(RawJsonb::from_datum_copy)
    }

    pub fn set(&mut self, col: usize, d: Option<pg_sys::Datum>) {
        set_changed(&mut self.values, &mut self.nulls, &mut self.changed, col, d);
    }

    /// The jobs row rules (the CHECK constraint jobs_row_check).
    fn check_rules(&self, c: &crate::native::catalog::JobCols) -> JobResult<()> {
        // SAFETY: a non-NULL jsonb datum; only its root header is read.
        let payload_kind = self
            .get(c.payload)
            .and_then(|d| unsafe { <JsonbKind as pgrx::FromDatum>::from_datum(d, false) });
        expect_rules(
            "jobs",
            job_rules(
                self.text(c.status).as_deref(),
                self.text(c.source).as_deref(),
                self.text(c.job_type).as_deref(),
                payload_kind,
                self.get(c.priority).map(int_of),
                self.get(c.attempts).map(int_of),
                self.get(c.max_attempts).map(int_of),
                self.text(c.idempotency_key).as_deref(),
                self.text(c.concurrency_key).as_deref(),
                !self.nulls[c.lease_expires_at],
                !self.nulls[c.current_run_id],
                !self.nulls[c.finished_at],
            ),
        )
    }
}

/// Delete every row of table `heap` whose key (index `pkey`, first column job_id) starts with one
/// of `ids`. Returns how many it deleted.
fn delete_by_job(
    ctx: &mut Ctx,
    heap: pg_sys::Relation,
    pkey: pg_sys::Oid,
    ids: &[pgrx::Uuid],
) -> i64 {
    let snap = Snap::fresh();
    // SAFETY: the key index of an open table, closed below; heap_delete of rows this snapshot sees,
    // with the call's command id (a row another transaction changed meanwhile is left to it).
    unsafe {
        let irel = pg_sys::index_open(pkey, pg_sys::AccessShareLock as i32);
        let mut scan = IndexScan::new(heap, irel, snap.0);
        let mut n = 0;
        for id in ids {
            scan.rescan(&[Key::new(1, Op::Eq, Ty::Uuid, uuid_datum(*id))]);
            let mut tids = Vec::new();
            while scan.next() {
                tids.push(scan.tid());
            }
            for mut tid in tids {
                let mut tmfd: pg_sys::TM_FailureData = std::mem::zeroed();
                let r = pg_sys::heap_delete(
                    heap,
                    &mut tid,
                    ctx.s.cid,
                    std::ptr::null_mut(),
                    true,
                    &mut tmfd,
                    false,
                );
                if r == pg_sys::TM_Result::TM_Ok {
                    n += 1;
                }
            }
        }
        drop(scan);
        pg_sys::index_close(irel, pg_sys::NoLock as i32);
        n
    }
}

/// The runs and events of the jobs `p_job_ids`, deleted (trigger jobs_delete_history: deleted
/// jobs take their history with them). Found by the key of each table, whose first column is the
/// job; returns how many rows it deleted.
#[pgrx::pg_extern(volatile, parallel_unsafe, name = "_delete_history")]
fn delete_history(p_job_ids: Option<Vec<Option<pgrx::Uuid>>>) -> i64 {
    use crate::errors::OrRaise;
    (|| {
        let ids: Vec<pgrx::Uuid> = p_job_ids
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let mut ctx = Ctx::new()?;
        let (events_pkey, runs_pkey) = (ctx.cat.events_pkey, ctx.cat.runs_pkey);
        let ev = ctx.events()?.rel;
        let runs = ctx.runs()?.rel;
        let a = delete_by_job(&mut ctx, ev, events_pkey, &ids);
        let b = delete_by_job(&mut ctx, runs, runs_pkey, &ids);
        Ok(a + b)
    })()
    .or_raise("_delete_history")
}
