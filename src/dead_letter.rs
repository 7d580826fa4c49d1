//! The dead-letter queue: requeue a dead job with fresh attempts, or mark it resolved.
use crate::errors::{required, JobError, JobResult, OrRaise};
use crate::raw_jsonb::RawJsonb;
use crate::spi_util::{first, run, Stmt};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

const LOCK: Stmt = Stmt {
    sql: "SELECT resolved, coalesce(resolution, '') FROM mcp_jobs.dead_letter_queue WHERE id = $1 FOR UPDATE",
    args: &[pg_sys::UUIDOID],
    write: true,
};

const REQUEUE: Stmt = Stmt {
    sql: include_str!("queries/requeue_dead_letter.sql"),
    args: &[pg_sys::UUIDOID],
    write: true,
};

const RESOLVE: Stmt = Stmt {
    sql: include_str!("queries/resolve_dead_letter.sql"),
    args: &[pg_sys::UUIDOID, pg_sys::TEXTOID],
    write: true,
};

/// Lock an open dead letter, or say why it cannot be changed.
fn lock_open(client: &mut SpiClient<'_>, id: pgrx::Uuid) -> JobResult<()> {
    let t = run(client, &LOCK, &[id.into()])?;
    if t.is_empty() {
        return Err(JobError::DeadLetterNotFound { id });
    }
    let t = t.first();
    if t.get::<bool>(1)?.unwrap_or(false) {
        return Err(JobError::DeadLetterResolved {
            id,
            resolution: t.get(2)?.unwrap_or_default(),
        });
    }
    Ok(())
}

/// Run a dead job again: the job goes back to queued with its attempts reset to 0, the dead letter
/// is marked resolved ('requeued'). Returns the job id.
#[pg_extern(volatile, parallel_unsafe)]
pub fn requeue_dead_letter(p_id: Option<pgrx::Uuid>) -> pgrx::Uuid {
    (|| {
        let id = required(
            p_id,
            "p_id",
            "Pass the id of a row of mcp_jobs.dead_letter_queue.",
        )?;
        Spi::connect_mut(|client| {
            lock_open(client, id)?;
            first::<pgrx::Uuid>(run(client, &REQUEUE, &[id.into()])?, 1)?.ok_or(
                JobError::Internal {
                    context: "requeue_dead_letter",
                    error: "the dead letter's job could not be queued".into(),
                },
            )
        })
    })()
    .or_raise("requeue_dead_letter")
}

/// Close a dead letter without running the job again, with an optional note.
#[pg_extern(volatile, parallel_unsafe)]
pub fn resolve_dead_letter(
    p_id: Option<pgrx::Uuid>,
    p_note: default!(Option<&str>, "NULL"),
) -> RawJsonb {
    (|| {
        let id = required(
            p_id,
            "p_id",
            "Pass the id of a row of mcp_jobs.dead_letter_queue.",
        )?;
        if let Some(note) = p_note {
            if note.chars().count() > 10_000 {
                return Err(JobError::invalid(
                    "p_note",
                    "the note is longer than 10000 characters",
                    format!("p_note has {} characters.", note.chars().count()),
                    "Keep the note short; link to a ticket for details.",
                ));
            }
        }
        Spi::connect_mut(|client| {
            lock_open(client, id)?;
            first::<RawJsonb>(run(client, &RESOLVE, &[id.into(), p_note.into()])?, 1)?.ok_or(
                JobError::Internal {
                    context: "resolve_dead_letter",
                    error: "no row updated".into(),
                },
            )
        })
    })()
    .or_raise("resolve_dead_letter")
}
