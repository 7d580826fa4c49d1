//! enqueue_job and enqueue_jobs: check, then write the job and its 'enqueued' event.
use crate::config;
use crate::errors::{JobError, JobResult, OrRaise};
use crate::flow;
use crate::jobs::{Ctx, JobRow};
use crate::native::scan::{IndexScan, Key, Op, Ty};
use crate::native::{int_datum, jsonb_from_text, text_datum, ts_datum, uuid_of, JsonObj};
use crate::raw_jsonb::RawJsonb;
use crate::rules::{
    check_batch, check_max_attempts, check_name, check_optional_name, check_priority,
    normalize_payload, DEFAULT_PRIORITY,
};
use crate::uuid7::new_uuid7;
use pgrx::pg_sys;
use pgrx::prelude::*;
use serde_json::value::RawValue;

/// A job to enqueue, checked.
pub struct NewJob {
    pub source: String,
    pub job_type: String,
    pub payload: Option<RawJsonb>,
    pub priority: i32,
    pub run_at: Option<pg_sys::TimestampTz>,
    pub max_attempts: i32,
    pub idempotency_key: Option<String>,
    pub concurrency_key: Option<String>,
}

#[allow(clippy::too_many_arguments)]
pub fn new_job(
    source: Option<&str>,
    job_type: Option<&str>,
    payload: Option<RawJsonb>,
    priority: Option<i32>,
    run_at: Option<pg_sys::TimestampTz>,
    max_attempts: Option<i32>,
    idempotency_key: Option<&str>,
    concurrency_key: Option<&str>,
) -> JobResult<NewJob> {
    check_name(source, "p_source", "source")?;
    check_name(job_type, "p_job_type", "job type")?;
    let priority = priority.unwrap_or(DEFAULT_PRIORITY);
    check_priority(priority)?;
    let max_attempts = max_attempts.unwrap_or_else(|| config::DEFAULT_MAX_ATTEMPTS.get());
    check_max_attempts(max_attempts)?;
    check_optional_name(idempotency_key, "p_idempotency_key", "idempotency key")?;
    check_optional_name(concurrency_key, "p_concurrency_key", "concurrency key")?;
    let payload = normalize_payload(payload, "p_payload")?;
    Ok(NewJob {
        source: source.expect("checked").to_string(),
        job_type: job_type.expect("checked").to_string(),
        payload,
        priority,
        run_at,
        max_attempts,
        idempotency_key: idempotency_key.map(str::to_string),
        concurrency_key: concurrency_key.map(str::to_string),
    })
}

/// The id of the job that holds (source, idempotency key), if any, under a fresh snapshot.
fn holder(ctx: &mut Ctx, source: &str, key: &str) -> JobResult<Option<pgrx::Uuid>> {
    let c = ctx.cat.job.clone();
    let idx = ctx.cat.idempotency_idx;
    let heap = ctx.jobs()?.rel;
    // SAFETY: a registered snapshot of what is committed now (the key's lock is held, so every
    // earlier enqueue of the key has committed or rolled back), and the index of the open table.
    let snap = unsafe { pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot()) };
    let irel = unsafe { pg_sys::index_open(idx, pg_sys::AccessShareLock as i32) };
    let mut scan = IndexScan::new(heap, irel, snap);
    scan.rescan(&[
        Key::new(1, Op::Eq, Ty::Text, text_datum(source)),
        Key::new(2, Op::Eq, Ty::Text, text_datum(key)),
    ]);
    let id = if scan.next() {
        Some(uuid_of(scan.datum(c.id).expect("id is NOT NULL")))
    } else {
        None
    };
    drop(scan);
    // SAFETY: opened and registered above.
    unsafe {
        pg_sys::index_close(irel, pg_sys::NoLock as i32);
        pg_sys::UnregisterSnapshot(snap);
    }
    Ok(id)
}

/// Serialize enqueues of one (source, idempotency key) until the end of the transaction.
fn lock_key(source: &str, key: &str) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (source, key).hash(&mut h);
    let v = h.finish();
    // SAFETY: an advisory lock of the transaction, with a class (field4) of its own.
    unsafe {
        let tag = pg_sys::LOCKTAG {
            locktag_field1: pg_sys::MyDatabaseId.into(),
            locktag_field2: (v >> 32) as u32,
            locktag_field3: v as u32,
            locktag_field4: 0x4D4B,
            locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
            locktag_lockmethodid: pg_sys::DEFAULT_LOCKMETHOD as u8,
        };
        pg_sys::LockAcquire(&tag, pg_sys::ExclusiveLock as i32, false, false);
    }
}

/// Write job `j` in `ctx`; returns its id (or, with an idempotency key already used by the
/// source, the id of the job that has it).
pub fn enqueue_in(ctx: &mut Ctx, j: &NewJob) -> JobResult<pgrx::Uuid> {
    if let Some(key) = &j.idempotency_key {
        lock_key(&j.source, key);
        if let Some(id) = holder(ctx, &j.source, key)? {
            return Ok(id);
        }
    }
    flow::enqueue_gate(ctx, &j.source, &j.job_type, true)?;
    let c = ctx.cat.job.clone();
    let id = new_uuid7();
    let now = ctx.now;
    let run_at = j.run_at.unwrap_or(now);
    let mut row = JobRow::new(id, c.natts);
    row.set(c.id, Some(crate::native::uuid_datum(id)));
    row.set(c.source, Some(text_datum(&j.source)));
    row.set(c.job_type, Some(text_datum(&j.job_type)));
    row.set(
        c.payload,
        Some(match &j.payload {
            Some(p) => p.clone().into_datum_unchecked(),
            None => jsonb_from_text("{}"),
        }),
    );
    row.set(c.priority, Some(int_datum(j.priority)));
    row.set(c.status, Some(text_datum("queued")));
    row.set(c.attempts, Some(int_datum(0)));
    row.set(c.max_attempts, Some(int_datum(j.max_attempts)));
    row.set(c.run_at, Some(ts_datum(run_at)));
    row.set(
        c.idempotency_key,
        j.idempotency_key.as_deref().map(text_datum),
    );
    row.set(
        c.concurrency_key,
        j.concurrency_key.as_deref().map(text_datum),
    );
    row.set(c.created_at, Some(ts_datum(now)));
    row.set(c.updated_at, Some(ts_datum(now)));
    ctx.insert_job(&mut row)?;
    ctx.event(
        id,
        None,
        "enqueued",
        JsonObj::new()
            .int("priority", j.priority.into())
            .ts("run_at", run_at)
            .int("max_attempts", j.max_attempts.into()),
    )?;
    crate::wake::job_ready(&j.source, &j.job_type, run_at);
    Ok(id)
}

/// Enqueue a job; returns its id. See docs/api.md#enqueue_job.
#[pg_extern(volatile, parallel_unsafe, name = "enqueue_job")]
#[allow(clippy::too_many_arguments)]
pub fn enqueue_job_keyed(
    p_source: Option<&str>,
    p_job_type: Option<&str>,
    p_payload: default!(Option<RawJsonb>, "'{}'::jsonb"),
    p_priority: default!(Option<i32>, 5),
    p_run_at: default!(Option<TimestampWithTimeZone>, "NULL"),
    p_max_attempts: default!(Option<i32>, "NULL"),
    p_idempotency_key: default!(Option<&str>, "NULL"),
    p_concurrency_key: default!(Option<&str>, "NULL"),
) -> pgrx::Uuid {
    (|| {
        let j = new_job(
            p_source,
            p_job_type,
            p_payload,
            p_priority,
            p_run_at.map(|t| t.into_inner()),
            p_max_attempts,
            p_idempotency_key,
            p_concurrency_key,
        )?;
        let mut ctx = Ctx::new()?;
        enqueue_in(&mut ctx, &j)
    })()
    .or_raise("enqueue_job")
}

// ------------------------------------------------------------------------------ enqueue_jobs

/// One item of enqueue_jobs' array: enqueue_job's arguments without their p_ prefix.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Item<'a> {
    #[serde(borrow)]
    source: Option<&'a RawValue>,
    #[serde(borrow)]
    job_type: Option<&'a RawValue>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
    priority: Option<serde_json::Value>,
    run_at: Option<serde_json::Value>,
    max_attempts: Option<serde_json::Value>,
    #[serde(borrow)]
    idempotency_key: Option<&'a RawValue>,
    #[serde(borrow)]
    concurrency_key: Option<&'a RawValue>,
}

fn field_string(v: Option<&RawValue>, field: &'static str) -> JobResult<Option<String>> {
    match v {
        None => Ok(None),
        Some(r) => match serde_json::from_str::<Option<String>>(r.get()) {
            Ok(s) => Ok(s),
            Err(_) => Err(JobError::invalid(
                field,
                "must be a string",
                format!("{field} was {}.", r.get()),
                format!("Pass {field} as a JSON string."),
            )),
        },
    }
}

fn field_int(v: &Option<serde_json::Value>, field: &'static str) -> JobResult<Option<i32>> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(Some)
            .ok_or_else(|| {
                JobError::invalid(
                    field,
                    "must be an integer",
                    format!("{field} was {n}."),
                    format!("Pass {field} as a JSON integer."),
                )
            }),
        Some(other) => Err(JobError::invalid(
            field,
            "must be an integer",
            format!("{field} was {other}."),
            format!("Pass {field} as a JSON integer."),
        )),
    }
}

fn field_ts(v: &Option<serde_json::Value>) -> JobResult<Option<pg_sys::TimestampTz>> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => {
            let c = std::ffi::CString::new(s.as_str()).map_err(|_| {
                JobError::invalid(
                    "run_at",
                    "must be a timestamp",
                    "run_at holds a NUL character.",
                    "Pass an ISO 8601 timestamp.",
                )
            })?;
            let text = s.clone();
            PgTryBuilder::new(|| {
                // SAFETY: timestamptz_in(cstring, typioparam, typmod), as a cast from text does.
                let d = unsafe {
                    pgrx::direct_function_call_as_datum(
                        pg_sys::timestamptz_in,
                        &[
                            Some(pg_sys::Datum::from(c.as_ptr())),
                            Some(pg_sys::Datum::from(pg_sys::InvalidOid)),
                            Some(pg_sys::Datum::from(-1i32)),
                        ],
                    )
                    .expect("timestamptz_in returns a value")
                };
                Ok(Some(d.value() as pg_sys::TimestampTz))
            })
            .catch_others(move |_| {
                Err(JobError::invalid(
                    "run_at",
                    "must be a timestamp",
                    format!("run_at was \"{text}\", which is not a timestamp PostgreSQL reads."),
                    "Pass an ISO 8601 timestamp with a time zone, e.g. \"2026-12-01T09:00:00Z\".",
                ))
            })
            .execute()
        }
        Some(other) => Err(JobError::invalid(
            "run_at",
            "must be a timestamp",
            format!("run_at was {other}."),
            "Pass an ISO 8601 timestamp with a time zone, e.g. \"2026-12-01T09:00:00Z\".",
        )),
    }
}

/// The payload of an item: an object (or a string holding one, or null), as jsonb.
fn field_payload(v: Option<&RawValue>) -> JobResult<Option<RawJsonb>> {
    match v {
        None => Ok(None),
        Some(r) if r.get() == "null" => Ok(None),
        Some(r) => Ok(Some(RawJsonb::from_datum_copy(jsonb_from_text(r.get())))),
    }
}

fn item(value: &RawValue) -> JobResult<NewJob> {
    let it: Item = serde_json::from_str(value.get()).map_err(|e| {
        JobError::invalid(
            "p_jobs",
            "an item is not a job object",
            e.to_string(),
            "Each item is an object with source, job_type and optionally payload, priority, run_at, max_attempts, idempotency_key, concurrency_key.",
        )
    })?;
    let source = field_string(it.source, "source")?;
    let job_type = field_string(it.job_type, "job_type")?;
    let idem = field_string(it.idempotency_key, "idempotency_key")?;
    let ckey = field_string(it.concurrency_key, "concurrency_key")?;
    new_job(
        source.as_deref(),
        job_type.as_deref(),
        field_payload(it.payload)?,
        field_int(&it.priority, "priority")?,
        field_ts(&it.run_at)?,
        field_int(&it.max_attempts, "max_attempts")?,
        idem.as_deref(),
        ckey.as_deref(),
    )
}

fn enqueue_many(jobs: Option<RawJsonb>) -> JobResult<Vec<pgrx::Uuid>> {
    let jobs = crate::errors::required(jobs, "p_jobs", "Pass a JSON array of job objects.")?;
    let text = crate::native::jsonb_text(jobs.into_datum_unchecked());
    let items: Vec<&RawValue> = serde_json::from_str(&text).map_err(|_| {
        JobError::invalid(
            "p_jobs",
            "must be a JSON array",
            format!("p_jobs was {}.", text.chars().take(80).collect::<String>()),
            "Pass an array of job objects: [{\"source\": \"n8n\", \"job_type\": \"sync\", \"payload\": {...}}, ...].",
        )
    })?;
    check_batch(items.len(), "p_jobs", "jobs")?;
    // check every item first: nothing is written when one of them is bad
    let checked = items
        .iter()
        .enumerate()
        .map(|(i, v)| item(v).map_err(|e| e.at_item("p_jobs", i)))
        .collect::<JobResult<Vec<NewJob>>>()?;
    let mut ctx = Ctx::new()?;
    // keys this call used: its own rows are not visible to its snapshots (one command id)
    let mut used: std::collections::HashMap<(&str, &str), pgrx::Uuid> = Default::default();
    let mut ids = Vec::with_capacity(checked.len());
    for (i, j) in checked.iter().enumerate() {
        if let Some(key) = j.idempotency_key.as_deref() {
            if let Some(id) = used.get(&(j.source.as_str(), key)) {
                ids.push(*id);
                continue;
            }
        }
        let id = enqueue_in(&mut ctx, j).map_err(|e| e.at_item("p_jobs", i))?;
        if let Some(key) = j.idempotency_key.as_deref() {
            used.insert((j.source.as_str(), key), id);
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Enqueue 1..1000 jobs in one call, all or nothing; returns their ids in input order. Each item
/// is an object with enqueue_job's arguments without the p_ prefix.
#[pg_extern(volatile, parallel_unsafe)]
pub fn enqueue_jobs(p_jobs: Option<RawJsonb>) -> Vec<pgrx::Uuid> {
    enqueue_many(p_jobs).or_raise("enqueue_jobs")
}
