//! claim_next_job and claim_jobs: the claim, read from jobs_claim_idx as a loose index scan.
//!
//! jobs_claim_idx holds the queued jobs in the order (priority DESC, source, job_type,
//! concurrency_key NULLS FIRST, run_at, id). A claim takes the highest priority that has a due
//! job it may take; within it, it rotates across sources (so a source with 100 000 queued jobs
//! does not delay one with 10), and within a source across its lanes: each job type's jobs
//! without a concurrency key form one lane, and each (job type, concurrency key) another, so that
//! tenants sharing a job type are served in turn. Within a lane, jobs go by run_at, then enqueue
//! order. The rotation position is kept per backend (docs/design.md, "Claim order").
//!
//! Each step of the walk is one descent of the index with a new set of scan keys ("the first
//! source after X at priority P"), so a claim costs a few descents whatever the queue's size, and
//! a lane held back by flow control (src/flow.rs) is skipped in one step instead of read job by job.
//!
//! A job is taken by updating its row without waiting (heap_update without wait, the SKIP LOCKED of
//! the hot path): a row another worker is taking right now is skipped.
use crate::errors::{JobError, JobResult, OrRaise};
use crate::flow::{self, Admission};
use crate::jobs::{Ctx, JobRow};
use crate::native::scan::{After, IndexScan, Key, Op, Snap, Ty};
use crate::native::table::Updated;
use crate::native::{
    int_datum, int_of, text_datum, text_of, ts_datum, ts_of, tstz, uuid_datum, JsonObj,
};
use crate::raw_jsonb::RawJsonb;
use crate::rules::{
    check_lease, check_name, DEFAULT_LEASE_SECONDS, MAX_BATCH, MAX_PRIORITY, MIN_PRIORITY, NAME_MAX,
};
use crate::uuid7::new_uuid7;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;

fn check_filter(
    list: Option<Vec<Option<String>>>,
    arg: &'static str,
) -> JobResult<Option<Vec<String>>> {
    let Some(items) = list else { return Ok(None) };
    if items.is_empty() {
        return Err(JobError::invalid(
            arg,
            "the list is empty",
            format!("{arg} was an empty array, which would match nothing."),
            format!("Pass NULL (or omit {arg}) to accept any value."),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        check_name(item.as_deref(), arg, "filter value")?;
        out.push(item.expect("checked above"));
    }
    // sorted and without repeats: the walk visits them in index order
    out.sort();
    out.dedup();
    Ok(Some(out))
}

/// The arguments every claim takes, checked once for claim_next_job, claim_jobs and
/// complete_and_claim_next alike.
pub struct ClaimArgs {
    pub worker: String,
    pub sources: Option<Vec<String>>,
    pub job_types: Option<Vec<String>>,
    pub lease: i32,
}

pub fn claim_args(
    worker_id: Option<&str>,
    sources: Option<Vec<Option<String>>>,
    job_types: Option<Vec<Option<String>>>,
    lease_seconds: Option<i32>,
) -> JobResult<ClaimArgs> {
    let worker = match worker_id {
        Some(w) => {
            check_name(Some(w), "p_worker_id", "worker id")?;
            w.to_string()
        }
        // SAFETY: MyProcPid is set for every backend.
        None => format!("pid:{}", unsafe { pg_sys::MyProcPid }),
    };
    debug_assert!(worker.chars().count() <= NAME_MAX);
    let sources = check_filter(sources, "p_sources")?;
    let job_types = check_filter(job_types, "p_job_types")?;
    let lease = lease_seconds.unwrap_or(DEFAULT_LEASE_SECONDS);
    check_lease(lease, "p_lease_seconds")?;
    Ok(ClaimArgs {
        worker,
        sources,
        job_types,
        lease,
    })
}

pub fn check_limit(limit: Option<i32>) -> JobResult<usize> {
    let limit = limit.unwrap_or(10);
    if !(1..=MAX_BATCH as i32).contains(&limit) {
        return Err(JobError::invalid(
            "p_limit",
            format!("must be between 1 and {MAX_BATCH}"),
            format!("p_limit was {limit}."),
            format!("Pass how many jobs to claim at most (1..{MAX_BATCH}); call again for more."),
        ));
    }
    Ok(limit as usize)
}

/// One claimed job, in the column order of claim_next_job's result.
pub type ClaimRow = (
    pgrx::Uuid,
    pgrx::Uuid,
    i32,
    i32,
    String,
    String,
    RawJsonb,
    i32,
    TimestampWithTimeZone,
    TimestampWithTimeZone,
    TimestampWithTimeZone,
);

/// A lane of a source: (job type, concurrency key).
type Lane = (String, Option<String>);

thread_local! {
    /// The last source served at each priority, and the last lane (job type, key) served in each
    /// (priority, source): where the next claim of this backend continues the rotation.
    static SOURCE_CURSOR: RefCell<HashMap<i32, String>> = RefCell::new(HashMap::new());
    static LANE_CURSOR: RefCell<HashMap<(i32, String), Lane>> = RefCell::new(HashMap::new());
}

/// Bound on the rotation state of one backend (queues come and go).
const MAX_CURSORS: usize = 10_000;

fn remember(priority: i32, source: &str, job_type: &str, key: Option<&str>) {
    SOURCE_CURSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > MAX_CURSORS {
            c.clear();
        }
        c.insert(priority, source.to_string());
    });
    LANE_CURSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > MAX_CURSORS {
            c.clear();
        }
        c.insert(
            (priority, source.to_string()),
            (job_type.to_string(), key.map(str::to_string)),
        );
    });
}

/// An entry of jobs_claim_idx: the key columns of a queued job.
#[derive(Clone, Debug)]
struct Entry {
    priority: i32,
    source: String,
    job_type: String,
    key: Option<String>,
    run_at: pg_sys::TimestampTz,
    id: pgrx::Uuid,
}

/// One step of the walk: "the first visible entry of ...". Within one call the snapshot is fixed
/// and the entries of the jobs the call takes stay visible, so each step's answer is fixed too and
/// is computed once (Walk::memo): a batch then descends the index a few times per call instead of
/// a few times per job. Each descent that starts a range walks that range's dead entries (jobs
/// claimed since the last vacuum), so the count of descents is what a claim costs.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Probe {
    /// priority <= bound
    Top(i32),
    /// priority = p and source > a (every source when None)
    Sources(i32, Option<String>),
    /// priority = p and source = s
    Source(i32, String),
    /// the lane after (t, k) in job type t of (p, s): concurrency_key > k (> '' when None)
    LaneAfter(i32, String, String, Option<String>),
    /// the first lane of the job type after t in (p, s)
    TypeAfter(i32, String, String),
}

/// The walk over jobs_claim_idx of one claim call.
struct Walk<'a> {
    scan: IndexScan,
    ctx: &'a mut Ctx,
    args: &'a ClaimArgs,
    at: pg_sys::TimestampTz,
    out: Vec<ClaimRow>,
    limit: usize,
    /// jobs claimed by this call per (source, job_type, key): flow control counts them (they are
    /// not visible to this call's own reads)
    mine: flow::Mine,
    /// per lane (priority, source, job_type, key), the (run_at, id) of the last entry this call
    /// went past: its next visit resumes after it. The entries of the jobs the call took stay
    /// visible to it (one command id); without this a batch would walk them again each time.
    resume: HashMap<LaneKey, (pg_sys::Datum, pg_sys::Datum)>,
    /// the answers of the steps taken so far (see Probe)
    memo: HashMap<Probe, Option<Entry>>,
    /// per lane, the (run_at, id) of its first visible entry, as a step found it: the lane's first
    /// visit starts there instead of walking the dead entries before it again
    head: HashMap<LaneKey, (pg_sys::Datum, pg_sys::Datum)>,
}

type LaneKey = (i32, String, String, Option<String>);

const PRIORITY: i16 = 1;
const SOURCE: i16 = 2;
const JOB_TYPE: i16 = 3;
const CKEY: i16 = 4;
const RUN_AT: i16 = 5;

impl Walk<'_> {
    /// The first visible entry for `keys`.
    fn first(&mut self, keys: &[Key]) -> Option<Entry> {
        self.scan.rescan(keys);
        if !self.scan.next() {
            return None;
        }
        let c = &self.ctx.cat.job;
        Some(Entry {
            priority: int_of(self.scan.datum(c.priority).expect("priority is NOT NULL")),
            source: text_of(self.scan.datum(c.source).expect("source is NOT NULL")),
            job_type: text_of(self.scan.datum(c.job_type).expect("job_type is NOT NULL")),
            key: self.scan.datum(c.concurrency_key).map(text_of),
            run_at: ts_of(self.scan.datum(c.run_at).expect("run_at is NOT NULL")),
            id: crate::native::uuid_of(self.scan.datum(c.id).expect("id is NOT NULL")),
        })
    }

    /// The answer of step `probe`, descending the index only the first time it is asked.
    fn probe(&mut self, probe: Probe) -> Option<Entry> {
        if let Some(e) = self.memo.get(&probe) {
            return e.clone();
        }
        let keys: Vec<Key> = match &probe {
            Probe::Top(bound) => vec![Key::new(PRIORITY, Op::Le, Ty::Int4, int_datum(*bound))],
            Probe::Sources(p, None) => vec![Key::new(PRIORITY, Op::Eq, Ty::Int4, int_datum(*p))],
            Probe::Sources(p, Some(a)) => vec![
                Key::new(PRIORITY, Op::Eq, Ty::Int4, int_datum(*p)),
                Key::new(SOURCE, Op::Gt, Ty::TextC, text_datum(a)),
            ],
            Probe::Source(p, s) => vec![
                Key::new(PRIORITY, Op::Eq, Ty::Int4, int_datum(*p)),
                Key::new(SOURCE, Op::Eq, Ty::TextC, text_datum(s)),
            ],
            Probe::LaneAfter(p, s, t, k) => vec![
                Key::new(PRIORITY, Op::Eq, Ty::Int4, int_datum(*p)),
                Key::new(SOURCE, Op::Eq, Ty::TextC, text_datum(s)),
                Key::new(JOB_TYPE, Op::Eq, Ty::TextC, text_datum(t)),
                // after the unkeyed lane (NULLS FIRST): the first keyed one
                Key::new(
                    CKEY,
                    Op::Gt,
                    Ty::TextC,
                    text_datum(k.as_deref().unwrap_or("")),
                ),
            ],
            Probe::TypeAfter(p, s, t) => vec![
                Key::new(PRIORITY, Op::Eq, Ty::Int4, int_datum(*p)),
                Key::new(SOURCE, Op::Eq, Ty::TextC, text_datum(s)),
                Key::new(JOB_TYPE, Op::Gt, Ty::TextC, text_datum(t)),
            ],
        };
        let found = self.first(&keys);
        if let Some(e) = &found {
            // Every step's answer is the first visible entry of its lane; the first visible entry
            // at priority <= bound, or of the sources after a, is also the first of its priority or
            // of its source.
            let lane: LaneKey = (
                e.priority,
                e.source.clone(),
                e.job_type.clone(),
                e.key.clone(),
            );
            self.head
                .entry(lane)
                .or_insert_with(|| (ts_datum(e.run_at), uuid_datum(e.id)));
            match &probe {
                Probe::Top(_) => {
                    self.memo
                        .insert(Probe::Sources(e.priority, None), found.clone());
                    self.memo
                        .insert(Probe::Source(e.priority, e.source.clone()), found.clone());
                }
                Probe::Sources(..) => {
                    self.memo
                        .insert(Probe::Source(e.priority, e.source.clone()), found.clone());
                }
                _ => {}
            }
        }
        self.memo.insert(probe, found.clone());
        found
    }

    /// The sources with queued jobs at priority `p`, in rotation order after the cursor, until
    /// `f` says stop (true). Filtered claims visit only their sources.
    fn sources(
        &mut self,
        p: i32,
        mut f: impl FnMut(&mut Self, &str) -> JobResult<bool>,
    ) -> JobResult<()> {
        let cursor = SOURCE_CURSOR.with(|c| c.borrow().get(&p).cloned());
        if let Some(list) = self.args.sources.clone() {
            let start = match &cursor {
                Some(c) => list.iter().position(|s| s > c).unwrap_or(0),
                None => 0,
            };
            for i in 0..list.len() {
                let s = &list[(start + i) % list.len()];
                if self.probe(Probe::Source(p, s.clone())).is_some() && f(self, s)? {
                    return Ok(());
                }
            }
            return Ok(());
        }
        // discover: the sources after the cursor, then from the first up to the cursor
        let mut after = cursor.clone();
        let mut wrapped = cursor.is_none();
        loop {
            let e = self.probe(Probe::Sources(p, after.clone()));
            let Some(e) = e else {
                if wrapped {
                    return Ok(());
                }
                wrapped = true;
                after = None;
                continue;
            };
            if wrapped {
                if let Some(c) = &cursor {
                    if &e.source > c {
                        return Ok(()); // back past the cursor: every source was visited
                    }
                }
            }
            if f(self, &e.source)? {
                return Ok(());
            }
            after = Some(e.source);
        }
    }

    /// The lanes (job type, key) of source `s` at priority `p`, in rotation order after the
    /// source's cursor, until `f` says stop. A job type held back as a whole is skipped in one step.
    fn lanes(
        &mut self,
        p: i32,
        s: &str,
        mut f: impl FnMut(&mut Self, &Entry) -> JobResult<LaneResult>,
    ) -> JobResult<()> {
        let cursor = LANE_CURSOR.with(|c| c.borrow().get(&(p, s.to_string())).cloned());
        // the lane after (t, k) in index order: (t, key > k), or the next job type's first lane
        let next_after =
            |w: &mut Self, t: &str, k: Option<&str>, skip_type: bool| -> Option<Entry> {
                if !skip_type {
                    let lane =
                        Probe::LaneAfter(p, s.to_string(), t.to_string(), k.map(str::to_string));
                    if let Some(e) = w.probe(lane) {
                        return Some(e);
                    }
                }
                w.probe(Probe::TypeAfter(p, s.to_string(), t.to_string()))
            };
        let first_lane =
            |w: &mut Self| -> Option<Entry> { w.probe(Probe::Source(p, s.to_string())) };
        let mut pos: Option<Entry> = match &cursor {
            Some((t, k)) => next_after(self, t, k.as_deref(), false),
            None => first_lane(self),
        };
        let mut wrapped = cursor.is_none();
        let mut held_type: Option<String> = None;
        let mut visited = 0usize;
        loop {
            let e = match pos.take() {
                Some(e) => e,
                None => {
                    if wrapped {
                        return Ok(());
                    }
                    wrapped = true;
                    match first_lane(self) {
                        Some(e) => e,
                        None => return Ok(()),
                    }
                }
            };
            if wrapped {
                if let Some((ct, ck)) = &cursor {
                    // stop once past the cursor's lane again
                    let past =
                        (e.job_type.as_str(), e.key.as_deref()) > (ct.as_str(), ck.as_deref());
                    if past {
                        return Ok(());
                    }
                }
            }
            visited += 1;
            if visited > 100_000 {
                return Ok(()); // a pathological number of lanes: give up for this call
            }
            let type_allowed = self
                .args
                .job_types
                .as_ref()
                .is_none_or(|l| l.binary_search(&e.job_type).is_ok());
            if !type_allowed || held_type.as_deref() == Some(e.job_type.as_str()) {
                pos = next_after(self, &e.job_type, None, true);
                continue;
            }
            match f(self, &e)? {
                LaneResult::Stop => return Ok(()),
                LaneResult::Next => pos = next_after(self, &e.job_type, e.key.as_deref(), false),
                LaneResult::SkipType => {
                    held_type = Some(e.job_type.clone());
                    pos = next_after(self, &e.job_type, None, true);
                }
            }
        }
    }

    /// Take the first due job of lane (p, s, t, k) that nobody else is taking. Returns whether one
    /// was taken.
    fn take_from_lane(
        &mut self,
        p: i32,
        s: &str,
        t: &str,
        k: Option<&str>,
        adm: &Admission,
    ) -> JobResult<bool> {
        let mut keys = vec![
            Key::new(PRIORITY, Op::Eq, Ty::Int4, int_datum(p)),
            Key::new(SOURCE, Op::Eq, Ty::TextC, text_datum(s)),
            Key::new(JOB_TYPE, Op::Eq, Ty::TextC, text_datum(t)),
        ];
        keys.push(match k {
            Some(k) => Key::new(CKEY, Op::Eq, Ty::TextC, text_datum(k)),
            None => Key::is_null(CKEY),
        });
        let lane: LaneKey = (p, s.to_string(), t.to_string(), k.map(str::to_string));
        // after the last entry this call went past in the lane, else from its first visible entry
        let after = match self.resume.get(&lane) {
            Some(&(run_at, id)) => Some((run_at, id, false)),
            None => self.head.get(&lane).map(|&(run_at, id)| (run_at, id, true)),
        }
        .map(|(run_at, id, inclusive)| After {
            attno: RUN_AT,
            tys: [Ty::TimestampTz, Ty::Uuid],
            values: [run_at, id],
            inclusive,
        });
        self.scan.rescan_after(&keys, after);
        let c = self.ctx.cat.job.clone();
        let mut walked = 0;
        while self.scan.next() {
            walked += 1;
            if walked > 1000 {
                break; // a lane of jobs all being taken right now: leave it to the others
            }
            let run_at_d = self.scan.datum(c.run_at).expect("run_at is NOT NULL");
            let run_at = ts_of(run_at_d);
            if run_at > self.at {
                break; // the lane is in run_at order: nothing further is due
            }
            // run_at is by value; the id is copied (the slot's row goes when the scan moves)
            let id_d = crate::native::uuid_datum(crate::native::uuid_of(
                self.scan.datum(c.id).expect("id is NOT NULL"),
            ));
            self.resume.insert(lane.clone(), (run_at_d, id_d));
            let status = text_of(self.scan.datum(c.status).expect("status is NOT NULL"));
            if status != "queued" {
                continue;
            }
            let id = crate::native::uuid_of(self.scan.datum(c.id).expect("id is NOT NULL"));
            let mut row = JobRow::copy_from(&self.scan, c.natts, id);
            let attempts = row.int(c.attempts) + 1;
            let run_id = new_uuid7();
            let lease_until = self.at + i64::from(self.args.lease) * 1_000_000;
            row.set(c.status, Some(text_datum("processing")));
            row.set(c.attempts, Some(int_datum(attempts)));
            row.set(c.worker_id, Some(text_datum(&self.args.worker)));
            row.set(c.lease_expires_at, Some(ts_datum(lease_until)));
            row.set(c.current_run_id, Some(uuid_datum(run_id)));
            let first_start = row.get(c.started_at).is_none();
            if first_start {
                row.set(c.started_at, Some(ts_datum(self.at)));
            }
            row.set(c.updated_at, Some(ts_datum(self.at)));
            if self.ctx.update_job(&mut row, false)? != Updated::Ok {
                continue; // another worker is taking it (or took it): the next one
            }
            self.ctx.insert_run(
                run_id,
                id,
                attempts,
                &self.args.worker,
                self.at,
                self.args.lease,
            )?;
            let mut data = JsonObj::new()
                .int("attempt", attempts.into())
                .str("worker_id", Some(&self.args.worker));
            if first_start {
                // the queue wait of the job's first start, for the metrics (src/metrics.rs)
                let created = row.ts(c.created_at).unwrap_or(self.at);
                data = data.float(
                    "wait_ms",
                    Some(((self.at - created).max(0)) as f64 / 1000.0),
                );
            }
            self.ctx.event(id, Some(run_id), "started", data)?;
            flow::claimed(self.ctx, adm, self.at)?;
            *self
                .mine
                .entry((s.to_string(), t.to_string(), k.map(str::to_string)))
                .or_insert(0) += 1;
            self.out.push((
                id,
                run_id,
                attempts,
                row.int(c.max_attempts),
                s.to_string(),
                t.to_string(),
                row.jsonb(c.payload).expect("payload is NOT NULL"),
                p,
                tstz(run_at),
                tstz(row.ts(c.created_at).expect("created_at is NOT NULL")),
                tstz(lease_until),
            ));
            remember(p, s, t, k);
            return Ok(true);
        }
        Ok(false)
    }

    /// Claim at priority `p`: one job per source in rotation until the batch is full or a whole
    /// round takes nothing. Returns whether any job was taken.
    fn at_priority(&mut self, p: i32) -> JobResult<bool> {
        let mut any = false;
        loop {
            let mut round = false;
            self.sources(p, |w, s| {
                let s = s.to_string();
                let mut took = false;
                w.lanes(p, &s, |w, e| {
                    let (t, k) = (e.job_type.as_str(), e.key.as_deref());
                    if e.run_at > w.at {
                        return Ok(LaneResult::Next); // the lane's first job is not due yet
                    }
                    match flow::admit(w.ctx, &s, t, k, &w.mine, w.at)? {
                        Admission::HeldType => Ok(LaneResult::SkipType),
                        Admission::HeldLane => Ok(LaneResult::Next),
                        adm @ Admission::Open(_) => {
                            if w.take_from_lane(p, &s, t, k, &adm)? {
                                took = true;
                                Ok(LaneResult::Stop)
                            } else {
                                flow::not_claimed(w.ctx, adm);
                                Ok(LaneResult::Next)
                            }
                        }
                    }
                })?;
                if took {
                    round = true;
                    any = true;
                }
                Ok(w.out.len() >= w.limit)
            })?;
            if !round || self.out.len() >= self.limit {
                return Ok(any);
            }
        }
    }
}

/// What a lane's visit decided.
enum LaneResult {
    /// a job was taken: stop the walk over this source's lanes
    Stop,
    /// go on with the next lane
    Next,
    /// the whole job type is held back: skip its other lanes
    SkipType,
}

/// Claim up to `limit` jobs in the caller's Ctx at time `at` (now(), or the clock after a wait).
/// The caller sweeps expired leases first (lease::sweep_if_due).
pub fn claim_in(
    ctx: &mut Ctx,
    args: &ClaimArgs,
    limit: usize,
    at: pg_sys::TimestampTz,
) -> JobResult<Vec<ClaimRow>> {
    let snap = Snap::fresh();
    let heap = ctx.jobs()?.rel;
    // SAFETY: the claim index of the open jobs table, closed at the end of this function.
    let irel = unsafe { pg_sys::index_open(ctx.cat.claim_idx, pg_sys::AccessShareLock as i32) };
    let scan = IndexScan::new(heap, irel, snap.0);
    let mut w = Walk {
        scan,
        ctx,
        args,
        at,
        out: Vec::with_capacity(limit.min(64)),
        limit,
        mine: HashMap::new(),
        resume: HashMap::new(),
        memo: HashMap::new(),
        head: HashMap::new(),
    };
    let mut bound = MAX_PRIORITY;
    let result = (|| {
        while bound >= MIN_PRIORITY && w.out.len() < limit {
            let Some(e) = w.probe(Probe::Top(bound)) else {
                break;
            };
            w.at_priority(e.priority)?;
            bound = e.priority - 1;
        }
        Ok::<_, JobError>(())
    })();
    let out = std::mem::take(&mut w.out);
    drop(w);
    // SAFETY: opened above.
    unsafe { pg_sys::index_close(irel, pg_sys::NoLock as i32) };
    result?;
    Ok(out)
}

/// How long until the first scheduled job that a claim with `args` could take comes due (the head
/// of a lane whose run_at is after `at`, the time the last claim looked), for a waiting claim's sleep
/// (zero when that time has passed). None: nothing scheduled.
pub fn next_due_in(
    args: &ClaimArgs,
    at: pg_sys::TimestampTz,
) -> JobResult<Option<std::time::Duration>> {
    let mut ctx = Ctx::new()?;
    let snap = Snap::fresh();
    let heap = ctx.jobs()?.rel;
    // SAFETY: the claim index of the open jobs table, closed below.
    let irel = unsafe { pg_sys::index_open(ctx.cat.claim_idx, pg_sys::AccessShareLock as i32) };
    let scan = IndexScan::new(heap, irel, snap.0);
    let mut w = Walk {
        scan,
        ctx: &mut ctx,
        args,
        at,
        out: Vec::new(),
        limit: 0,
        mine: HashMap::new(),
        resume: HashMap::new(),
        memo: HashMap::new(),
        head: HashMap::new(),
    };
    let mut earliest: Option<pg_sys::TimestampTz> = None;
    let mut bound = MAX_PRIORITY;
    let result = (|| {
        while bound >= MIN_PRIORITY {
            let Some(e) = w.probe(Probe::Top(bound)) else {
                break;
            };
            let p = e.priority;
            w.sources(p, |w, s| {
                let s = s.to_string();
                w.lanes(p, &s, |_, e| {
                    if e.run_at > at && earliest.is_none_or(|x| e.run_at < x) {
                        earliest = Some(e.run_at);
                    }
                    Ok(LaneResult::Next)
                })?;
                Ok(false)
            })?;
            bound = p - 1;
        }
        Ok::<_, JobError>(())
    })();
    drop(w);
    // SAFETY: opened above.
    unsafe { pg_sys::index_close(irel, pg_sys::NoLock as i32) };
    result?;
    let now = crate::native::clock();
    Ok(earliest.map(|t| std::time::Duration::from_micros((t - now).max(0) as u64)))
}

/// Claim: check, then claim in a Ctx of its own, waiting up to `wait_ms` when nothing is due.
pub fn claim(args: ClaimArgs, limit: usize, wait_ms: Option<i32>) -> JobResult<Vec<ClaimRow>> {
    let wait_ms = crate::wake::check_wait(wait_ms)?;
    let mut ctx = Ctx::new()?;
    let at = ctx.now;
    let swept = crate::lease::sweep_if_due(&mut ctx, at)?;
    let rows = claim_in(&mut ctx, &args, limit, at)?;
    // a call that took back leases returns without waiting: its transaction holds those jobs
    // until it ends, and others could not claim them meanwhile
    if !rows.is_empty() || wait_ms == 0 || swept > 0 {
        return Ok(rows);
    }
    drop(ctx);
    // after a wait, the lease counts (and leases expire) from the moment of the claim
    crate::wake::wait_and_claim(&args, wait_ms, at, |args, at| {
        let mut ctx = Ctx::new()?;
        let swept = crate::lease::sweep_if_due(&mut ctx, at)?;
        let rows = claim_in(&mut ctx, args, limit, at)?;
        Ok((!rows.is_empty() || swept > 0).then_some(rows))
    })
}

/// Claim the next due job (priority high first; fair across sources and lanes; then run_at and
/// enqueue order), atomically and without blocking on jobs other workers hold. Returns one row, or
/// none when nothing is due (after waiting up to p_wait_ms for one).
#[pg_extern(volatile, parallel_unsafe, name = "claim_next_job")]
#[allow(clippy::type_complexity)]
pub fn claim_next_job_wait(
    p_worker_id: default!(Option<&str>, "NULL"),
    p_sources: default!(Option<Vec<Option<String>>>, "NULL"),
    p_job_types: default!(Option<Vec<Option<String>>>, "NULL"),
    p_lease_seconds: default!(Option<i32>, 300),
    p_wait_ms: default!(Option<i32>, 0),
) -> TableIterator<
    'static,
    (
        name!(id, pgrx::Uuid),
        name!(run_id, pgrx::Uuid),
        name!(attempt, i32),
        name!(max_attempts, i32),
        name!(source, String),
        name!(job_type, String),
        name!(payload, RawJsonb),
        name!(priority, i32),
        name!(run_at, TimestampWithTimeZone),
        name!(created_at, TimestampWithTimeZone),
        name!(lease_expires_at, TimestampWithTimeZone),
    ),
> {
    let rows = claim_args(p_worker_id, p_sources, p_job_types, p_lease_seconds)
        .and_then(|args| claim(args, 1, p_wait_ms))
        .or_raise("claim_next_job");
    TableIterator::new(rows)
}

/// Claim up to `p_limit` due jobs at once (same order, filters, lease and records as
/// claim_next_job, each job with its own run id). Returns 0..p_limit rows in claim order.
#[pg_extern(volatile, parallel_unsafe, name = "claim_jobs")]
#[allow(clippy::type_complexity)]
pub fn claim_jobs_wait(
    p_worker_id: default!(Option<&str>, "NULL"),
    p_sources: default!(Option<Vec<Option<String>>>, "NULL"),
    p_job_types: default!(Option<Vec<Option<String>>>, "NULL"),
    p_lease_seconds: default!(Option<i32>, 300),
    p_limit: default!(Option<i32>, 10),
    p_wait_ms: default!(Option<i32>, 0),
) -> TableIterator<
    'static,
    (
        name!(id, pgrx::Uuid),
        name!(run_id, pgrx::Uuid),
        name!(attempt, i32),
        name!(max_attempts, i32),
        name!(source, String),
        name!(job_type, String),
        name!(payload, RawJsonb),
        name!(priority, i32),
        name!(run_at, TimestampWithTimeZone),
        name!(created_at, TimestampWithTimeZone),
        name!(lease_expires_at, TimestampWithTimeZone),
    ),
> {
    let rows = claim_args(p_worker_id, p_sources, p_job_types, p_lease_seconds)
        .and_then(|args| {
            let limit = check_limit(p_limit)?;
            claim(args, limit, p_wait_ms)
        })
        .or_raise("claim_jobs");
    TableIterator::new(rows)
}
