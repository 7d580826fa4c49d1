//! enqueue_job: validate, then insert the job and its 'enqueued' event.
use crate::config;
use crate::errors::{required, JobError, JobResult, OrRaise};
use crate::raw_jsonb::RawJsonb;
use crate::spi_util::{first, read, run, Stmt};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

const ENQUEUE: Stmt = Stmt {
    sql: include_str!("queries/enqueue.sql"),
    args: &[
        pg_sys::TEXTOID,
        pg_sys::TEXTOID,
        pg_sys::JSONBOID,
        pg_sys::INT4OID,
        pg_sys::TIMESTAMPTZOID,
        pg_sys::INT4OID,
        pg_sys::TEXTOID,
    ],
    write: true,
};

/// ENQUEUE without ON CONFLICT, for jobs without an idempotency key (the same arguments).
const ENQUEUE_PLAIN: Stmt = Stmt {
    sql: include_str!("queries/enqueue_plain.sql"),
    args: ENQUEUE.args,
    write: true,
};

const EXISTING: Stmt = Stmt {
    sql: "SELECT id FROM mcp_jobs.jobs WHERE source = $1 AND idempotency_key = $2",
    args: &[pg_sys::TEXTOID, pg_sys::TEXTOID],
    write: false,
};

/// The payload's JSON type and, for a string, whether it holds a JSON object.
const PAYLOAD_NORMALIZE: Stmt = Stmt {
    sql: "SELECT jsonb_typeof($1), CASE WHEN jsonb_typeof($1) = 'string' THEN $1 #>> '{}' END",
    args: &[pg_sys::JSONBOID],
    write: false,
};

const TEXT_TO_JSONB: Stmt = Stmt {
    sql: "SELECT $1::jsonb",
    args: &[pg_sys::TEXTOID],
    write: false,
};

pub const NAME_MAX: usize = 200;

/// A source, job type or key: not NULL, not empty, at most 200 characters, no control characters.
pub fn check_name(value: Option<&str>, arg: &'static str, what: &'static str) -> JobResult<()> {
    let v = required(value, arg, "Pass a non-empty text value.")?;
    if v.trim().is_empty() {
        return Err(JobError::invalid(
            arg,
            format!("{what} must not be empty"),
            format!("{arg} was '{v}'."),
            format!("Pass a non-empty {what}, for example 'odoo' or 'discovery'."),
        ));
    }
    if v.chars().count() > NAME_MAX {
        return Err(JobError::invalid(
            arg,
            format!("{what} is longer than {NAME_MAX} characters"),
            format!("{arg} has {} characters.", v.chars().count()),
            format!("Use a shorter {what}; put long data in the payload."),
        ));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(JobError::invalid(
            arg,
            format!("{what} contains control characters"),
            format!("{arg} contains a character below U+0020 or U+007F."),
            format!("Use printable characters in the {what}."),
        ));
    }
    Ok(())
}

/// Job priorities, lowest to highest (also held by the jobs_row_check constraint, src/checks.rs).
pub const MIN_PRIORITY: i32 = 0;
pub const MAX_PRIORITY: i32 = 10;
/// The most attempts a job may be given.
pub const MAX_MAX_ATTEMPTS: i32 = 1000;

pub fn check_priority(priority: i32) -> JobResult<()> {
    if !(MIN_PRIORITY..=MAX_PRIORITY).contains(&priority) {
        return Err(JobError::invalid(
            "p_priority",
            format!("priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}"),
            format!("p_priority was {priority}."),
            "Use 0 (lowest) to 10 (highest); 5 is the default. Higher priorities are claimed first.",
        ));
    }
    Ok(())
}

pub fn check_max_attempts(max_attempts: i32) -> JobResult<()> {
    if !(1..=MAX_MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(JobError::invalid(
            "p_max_attempts",
            format!("max_attempts must be between 1 and {MAX_MAX_ATTEMPTS}"),
            format!("p_max_attempts was {max_attempts}."),
            "Pass at least 1 (one attempt, no retry) or NULL for mcp_jobs.default_max_attempts.",
        ));
    }
    Ok(())
}

/// Normalize a payload to a JSON object: NULL becomes {}, a JSON string holding a JSON object (as
/// n8n sends `={{ $json }}`) is parsed; anything else is refused. The size limit applies to the result.
pub fn normalize_payload(
    client: &SpiClient<'_>,
    payload: Option<RawJsonb>,
    arg: &'static str,
) -> JobResult<Option<RawJsonb>> {
    let Some(payload) = payload else {
        return Ok(None);
    };
    if payload.is_object() {
        return check_payload_size(payload).map(Some);
    }
    let row = read(client, &PAYLOAD_NORMALIZE, &[payload.clone().into()])?.first();
    let kind: String = row.get(1)?.unwrap_or_default();
    let payload = match kind.as_str() {
        "object" => payload,
        "string" => {
            let text: String = row.get(2)?.unwrap_or_default();
            // Check the text first so that invalid JSON is our clear 22P02, not jsonb_in's.
            match serde_json::from_str::<serde::de::IgnoredAny>(&text) {
                Ok(_) => {}
                Err(e) if e.to_string().contains("recursion limit") => {}
                Err(e) => {
                    return Err(JobError::InvalidJson {
                        arg,
                        detail: e.to_string(),
                    })
                }
            }
            let parsed: Option<RawJsonb> = read(client, &TEXT_TO_JSONB, &[text.into()])?
                .first()
                .get(1)?;
            let parsed = parsed.ok_or(JobError::NullArgument {
                arg,
                hint: "Send a JSON object.",
            })?;
            let inner_kind: String = read(client, &PAYLOAD_NORMALIZE, &[parsed.clone().into()])?
                .first()
                .get(1)?
                .unwrap_or_default();
            if inner_kind != "object" {
                return Err(not_an_object(
                    arg,
                    &format!("a string holding a JSON {inner_kind}"),
                ));
            }
            parsed
        }
        other => return Err(not_an_object(arg, &format!("a JSON {other}"))),
    };
    check_payload_size(payload).map(Some)
}

/// The payload, or PayloadTooLarge when it exceeds mcp_jobs.max_payload_bytes.
pub fn check_payload_size(payload: RawJsonb) -> JobResult<RawJsonb> {
    let limit = config::MAX_PAYLOAD_BYTES.get().max(0) as usize;
    if payload.size() > limit {
        return Err(JobError::PayloadTooLarge {
            size: payload.size(),
            limit,
        });
    }
    Ok(payload)
}

fn not_an_object(arg: &'static str, got: &str) -> JobError {
    JobError::invalid(
        arg,
        "must be a JSON object",
        format!("{arg} was {got}."),
        "Wrap the value in an object, for example {\"value\": ...}, or pass NULL for {}.",
    )
}

#[allow(clippy::too_many_arguments)]
fn enqueue(
    source: Option<&str>,
    job_type: Option<&str>,
    payload: Option<RawJsonb>,
    priority: Option<i32>,
    run_at: Option<TimestampWithTimeZone>,
    max_attempts: Option<i32>,
    idempotency_key: Option<&str>,
) -> JobResult<pgrx::Uuid> {
    check_name(source, "p_source", "source")?;
    check_name(job_type, "p_job_type", "job type")?;
    let priority = priority.unwrap_or(5);
    check_priority(priority)?;
    let max_attempts = max_attempts.unwrap_or_else(|| config::DEFAULT_MAX_ATTEMPTS.get());
    check_max_attempts(max_attempts)?;
    if idempotency_key.is_some() {
        check_name(idempotency_key, "p_idempotency_key", "idempotency key")?;
    }
    Spi::connect_mut(|client| {
        let payload = normalize_payload(client, payload, "p_payload")?;
        let payload_arg: DatumWithOid = match payload {
            Some(p) => p.into(),
            None => DatumWithOid::null::<RawJsonb>(),
        };
        let args = [
            source.into(),
            job_type.into(),
            payload_arg,
            priority.into(),
            run_at.into(),
            max_attempts.into(),
            idempotency_key.into(),
        ];
        if idempotency_key.is_none() {
            return first(run(client, &ENQUEUE_PLAIN, &args)?, 1)?.ok_or(JobError::Internal {
                context: "enqueue_job",
                error: "the insert returned no row".into(),
            });
        }
        // An idempotent retry whose original was deleted in between finds neither row: try twice.
        for _ in 0..2 {
            let inserted: Option<pgrx::Uuid> = first(run(client, &ENQUEUE, &args)?, 1)?;
            if let Some(id) = inserted {
                return Ok(id);
            }
            let existing: Option<pgrx::Uuid> = first(
                read(client, &EXISTING, &[source.into(), idempotency_key.into()])?,
                1,
            )?;
            if let Some(id) = existing {
                return Ok(id);
            }
        }
        Err(JobError::Internal {
            context: "enqueue_job",
            error: "the idempotency key conflicted but no job holds it".into(),
        })
    })
}

/// Enqueue a job; returns its id. See README.md for the arguments.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::too_many_arguments)]
pub fn enqueue_job(
    p_source: Option<&str>,
    p_job_type: Option<&str>,
    p_payload: default!(Option<RawJsonb>, "'{}'::jsonb"),
    p_priority: default!(Option<i32>, 5),
    p_run_at: default!(Option<TimestampWithTimeZone>, "NULL"),
    p_max_attempts: default!(Option<i32>, "NULL"),
    p_idempotency_key: default!(Option<&str>, "NULL"),
) -> pgrx::Uuid {
    enqueue(
        p_source,
        p_job_type,
        p_payload,
        p_priority,
        p_run_at,
        p_max_attempts,
        p_idempotency_key,
    )
    .or_raise("enqueue_job")
}
