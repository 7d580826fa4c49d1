//! Where the extension's tables, indexes and columns are, cached per backend.
//!
//! The hot path writes rows itself (src/native/table.rs), so it needs relation OIDs and the
//! position of every column it writes. They are looked up by name once, checked against the
//! library's own version (a database whose SQL objects are of another version is refused: see
//! JobError::VersionMismatch), and kept until a relcache invalidation names one of these relations
//! (ALTER TABLE, DROP/CREATE EXTENSION, ALTER EXTENSION UPDATE) or the queue settings change.
use crate::errors::{JobError, JobResult};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;

/// Column positions (0-based) of a table, by name.
macro_rules! columns {
    ($name:ident { $($col:ident),* $(,)? }) => {
        // every column is looked up (a missing one is an error), whether or not the code uses it
        #[allow(dead_code)]
        #[derive(Clone, Debug)]
        pub struct $name {
            /// Number of attributes of the relation (dropped ones included).
            pub natts: usize,
            $(pub $col: usize,)*
        }

        impl $name {
            /// Find every column in `desc`; an error names a missing one.
            unsafe fn load(desc: pg_sys::TupleDesc, table: &'static str) -> JobResult<Self> {
                // SAFETY: desc is the descriptor of an open relation.
                let natts = unsafe { (*desc).natts } as usize;
                let find = |name: &str| -> JobResult<usize> {
                    for i in 0..natts {
                        // SAFETY: i < natts; attrs is a flexible array of natts entries.
                        let att = unsafe { &*(*desc).attrs.as_ptr().add(i) };
                        if att.attisdropped {
                            continue;
                        }
                        // SAFETY: attname is a NUL-terminated NameData.
                        let n = unsafe { std::ffi::CStr::from_ptr(att.attname.data.as_ptr()) };
                        if n.to_bytes() == name.as_bytes() {
                            return Ok(i);
                        }
                    }
                    Err(JobError::Internal {
                        context: "catalog",
                        error: format!("column {table}.{name} is missing"),
                    })
                };
                Ok($name { natts, $($col: find(stringify!($col))?,)* })
            }
        }
    };
}

columns!(JobCols {
    id,
    source,
    job_type,
    payload,
    priority,
    status,
    attempts,
    max_attempts,
    run_at,
    lease_expires_at,
    worker_id,
    current_run_id,
    idempotency_key,
    result,
    last_error,
    created_at,
    updated_at,
    started_at,
    finished_at,
    concurrency_key,
});

columns!(RunCols {
    id,
    job_id,
    attempt,
    worker_id,
    started_at,
    finished_at,
    outcome,
    error,
    lease_seconds,
    duration_ms,
});

columns!(EventCols {
    id,
    job_id,
    run_id,
    event_type,
    data,
    created_at,
});

columns!(DeadCols {
    id,
    job_id,
    source,
    job_type,
    payload,
    attempts,
    last_error,
    failed_at,
    resolved,
    resolved_at,
    resolution,
    resolution_note,
    details,
});

columns!(QueueCols {
    source,
    job_type,
    window_start,
    window_claims,
    queued_count,
});

/// The extension's relations in this database.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub jobs: pg_sys::Oid,
    pub runs: pg_sys::Oid,
    pub events: pg_sys::Oid,
    pub dead: pg_sys::Oid,
    pub queues: pg_sys::Oid,
    pub events_seq: pg_sys::Oid,
    /// jobs_pkey (id)
    pub jobs_pkey: pg_sys::Oid,
    /// jobs_claim_idx (priority DESC, source, job_type, concurrency_key, run_at, id) WHERE queued
    pub claim_idx: pg_sys::Oid,
    /// jobs_busy_idx (source, job_type, concurrency_key, lease_expires_at) WHERE processing
    pub busy_idx: pg_sys::Oid,
    /// job_runs_pkey (job_id, id)
    pub runs_pkey: pg_sys::Oid,
    /// job_events_pkey (job_id, id)
    pub events_pkey: pg_sys::Oid,
    /// queues_key (source, job_type)
    pub queues_key: pg_sys::Oid,
    /// jobs_idempotency_idx (source, idempotency_key)
    pub idempotency_idx: pg_sys::Oid,
    pub job: JobCols,
    pub run: RunCols,
    pub event: EventCols,
    pub dl: DeadCols,
    pub queue: QueueCols,
}

thread_local! {
    static CATALOG: RefCell<Option<Catalog>> = const { RefCell::new(None) };
    static REGISTERED: RefCell<bool> = const { RefCell::new(false) };
}

/// Relcache invalidation: forget the catalog when one of its relations (or every relation) changed.
#[pg_guard]
unsafe extern "C-unwind" fn relcache_changed(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    CATALOG.with(|c| {
        let mut c = c.borrow_mut();
        let drop = match c.as_ref() {
            None => false,
            Some(cat) => {
                relid == pg_sys::InvalidOid
                    || [
                        cat.jobs,
                        cat.runs,
                        cat.events,
                        cat.dead,
                        cat.queues,
                        cat.events_seq,
                        cat.jobs_pkey,
                        cat.claim_idx,
                        cat.busy_idx,
                        cat.runs_pkey,
                        cat.queues_key,
                        cat.idempotency_idx,
                        cat.events_pkey,
                    ]
                    .contains(&relid)
            }
        };
        if drop {
            *c = None;
        }
    });
    // the queue settings are read from mcp_jobs.queues, whose changes announce themselves as a
    // relcache invalidation of that table (trigger queues_changed)
    crate::flow::settings_changed(relid);
}

fn register_callback() {
    REGISTERED.with(|r| {
        if !*r.borrow() {
            // SAFETY: a plain registration of a callback with the static lifetime of the library.
            unsafe {
                pg_sys::CacheRegisterRelcacheCallback(
                    Some(relcache_changed),
                    pg_sys::Datum::from(0),
                )
            };
            *r.borrow_mut() = true;
        }
    });
}

/// The catalog, loaded when needed.
pub fn catalog() -> JobResult<Catalog> {
    register_callback();
    if let Some(c) = CATALOG.with(|c| c.borrow().clone()) {
        return Ok(c);
    }
    let c = load()?;
    CATALOG.with(|slot| *slot.borrow_mut() = Some(c.clone()));
    Ok(c)
}

/// Raise 55000 when the installed extension is not this library's version (a read that would fail
/// on a missing relation of the new version says why instead).
pub fn check_version(funcname: &'static str) {
    use crate::errors::OrRaise;
    if let Err(e) = catalog() {
        Err::<(), _>(e).or_raise(funcname)
    }
}

/// The OID of the queues table, if the catalog is loaded (for the invalidation callback).
pub fn queues_oid() -> Option<pg_sys::Oid> {
    CATALOG.with(|c| c.borrow().as_ref().map(|c| c.queues))
}

const LOOKUP: &str = "
SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'mcp_jobs'),
       to_regclass('mcp_jobs.jobs')::oid, to_regclass('mcp_jobs.job_runs')::oid,
       to_regclass('mcp_jobs.job_events')::oid, to_regclass('mcp_jobs.dead_letter_queue')::oid,
       to_regclass('mcp_jobs.queues')::oid, to_regclass('mcp_jobs.job_events_id_seq')::oid,
       to_regclass('mcp_jobs.jobs_pkey')::oid, to_regclass('mcp_jobs.jobs_claim_idx')::oid,
       to_regclass('mcp_jobs.jobs_busy_idx')::oid, to_regclass('mcp_jobs.job_runs_pkey')::oid,
       to_regclass('mcp_jobs.queues_key')::oid, to_regclass('mcp_jobs.jobs_idempotency_idx')::oid,
       to_regclass('mcp_jobs.job_events_pkey')::oid";

fn load() -> JobResult<Catalog> {
    let row = Spi::connect(|client| {
        let t = client.select(LOOKUP, None, &[])?;
        let r = t.first();
        let mut oids = Vec::with_capacity(13);
        for i in 2..=14 {
            oids.push(r.get::<pg_sys::Oid>(i)?);
        }
        Ok::<_, pgrx::spi::SpiError>((r.get::<String>(1)?, oids))
    })?;
    let (version, oids) = row;
    let version = version.ok_or(JobError::Internal {
        context: "catalog",
        error: "extension mcp_jobs is not created in this database".into(),
    })?;
    if version != env!("CARGO_PKG_VERSION") {
        return Err(JobError::VersionMismatch { installed: version });
    }
    let names = [
        "jobs",
        "job_runs",
        "job_events",
        "dead_letter_queue",
        "queues",
        "job_events_id_seq",
        "jobs_pkey",
        "jobs_claim_idx",
        "jobs_busy_idx",
        "job_runs_pkey",
        "queues_key",
        "jobs_idempotency_idx",
        "job_events_pkey",
    ];
    let mut o = Vec::with_capacity(names.len());
    for (name, oid) in names.iter().zip(oids) {
        o.push(oid.ok_or_else(|| JobError::Internal {
            context: "catalog",
            error: format!("relation mcp_jobs.{name} is missing"),
        })?);
    }
    // SAFETY: the relations exist (looked up above in this transaction); AccessShareLock is what
    // reading their descriptors needs, and is kept until the end of the transaction.
    unsafe {
        let desc = |oid: pg_sys::Oid| {
            let rel = pg_sys::relation_open(oid, pg_sys::AccessShareLock as i32);
            let d = (*rel).rd_att;
            pg_sys::relation_close(rel, pg_sys::NoLock as i32);
            d
        };
        Ok(Catalog {
            jobs: o[0],
            runs: o[1],
            events: o[2],
            dead: o[3],
            queues: o[4],
            events_seq: o[5],
            jobs_pkey: o[6],
            claim_idx: o[7],
            busy_idx: o[8],
            runs_pkey: o[9],
            queues_key: o[10],
            idempotency_idx: o[11],
            events_pkey: o[12],
            job: JobCols::load(desc(o[0]), "jobs")?,
            run: RunCols::load(desc(o[1]), "job_runs")?,
            event: EventCols::load(desc(o[2]), "job_events")?,
            dl: DeadCols::load(desc(o[3]), "dead_letter_queue")?,
            queue: QueueCols::load(desc(o[4]), "queues")?,
        })
    }
}
