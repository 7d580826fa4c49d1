//! The dead-letter queue: requeue a dead job with fresh attempts, or mark it resolved.
use crate::errors::{required, JobError, JobResult, OrRaise};
use crate::raw_jsonb::RawJsonb;
use crate::spi_util::{first, run, with_settings, Stmt, PLAN_EACH_CALL};
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
        with_settings(PLAN_EACH_CALL, || {
            Spi::connect_mut(|client| requeue_in(client, id))
        })
    })()
    .or_raise("requeue_dead_letter")
}

/// The note of resolve_dead_letter(s): at most 10 000 characters.
fn check_note(note: Option<&str>) -> JobResult<()> {
    if let Some(note) = note {
        if note.chars().count() > 10_000 {
            return Err(JobError::invalid(
                "p_note",
                "the note is longer than 10000 characters",
                format!("p_note has {} characters.", note.chars().count()),
                "Keep the note short; link to a ticket for details.",
            ));
        }
    }
    Ok(())
}

fn requeue_in(client: &mut SpiClient<'_>, id: pgrx::Uuid) -> JobResult<pgrx::Uuid> {
    lock_open(client, id)?;
    let t = run(client, &REQUEUE, &[id.into()])?;
    let missing = || JobError::Internal {
        context: "requeue_dead_letter",
        error: "the dead letter's job could not be queued".into(),
    };
    if t.is_empty() {
        return Err(missing());
    }
    let r = t.first();
    let job: pgrx::Uuid = r.get(1)?.ok_or_else(missing)?;
    let source: String = r.get(2)?.ok_or_else(missing)?;
    let job_type: String = r.get(3)?.ok_or_else(missing)?;
    // back in 'queued': counted under its queue's max_queued (an operator's requeue is not
    // refused), and a waiting claim is woken at commit
    let mut ctx = crate::jobs::Ctx::new()?;
    crate::flow::enqueue_gate(&mut ctx, &source, &job_type, false)?;
    drop(ctx);
    crate::wake::job_ready(&source, &job_type, crate::native::now());
    Ok(job)
}

fn resolve_in(
    client: &mut SpiClient<'_>,
    id: pgrx::Uuid,
    note: Option<&str>,
) -> JobResult<RawJsonb> {
    lock_open(client, id)?;
    first::<RawJsonb>(run(client, &RESOLVE, &[id.into(), note.into()])?, 1)?.ok_or(
        JobError::Internal {
            context: "resolve_dead_letter",
            error: "no row updated".into(),
        },
    )
}

/// The most dead letters one requeue_dead_letters or resolve_dead_letters call takes.
pub const MAX_DEAD_LETTER_BATCH: usize = 1000;

/// A non-empty, NULL-free, duplicate-free id array of at most MAX_DEAD_LETTER_BATCH ids.
fn id_list(ids: Option<Vec<Option<pgrx::Uuid>>>) -> JobResult<Vec<pgrx::Uuid>> {
    const HINT: &str =
        "Pass the ids of rows of mcp_jobs.dead_letter_queue, e.g. from list_dead_letters.";
    let ids = required(ids, "p_ids", HINT)?;
    if ids.is_empty() || ids.len() > MAX_DEAD_LETTER_BATCH {
        return Err(JobError::invalid(
            "p_ids",
            format!("must hold 1 to {MAX_DEAD_LETTER_BATCH} ids"),
            format!("p_ids has {} entries.", ids.len()),
            "Split larger batches into several calls.",
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        let id = id.ok_or(JobError::NullElement {
            arg: "p_ids",
            index: i + 1,
            hint: HINT,
        })?;
        if !seen.insert(*id.as_bytes()) {
            return Err(JobError::invalid(
                "p_ids",
                "an id appears twice",
                format!("Dead letter {id} is at position {} and earlier.", i + 1),
                "Pass each dead letter once.",
            ));
        }
        out.push(id);
    }
    Ok(out)
}

/// requeue_dead_letter for many dead letters at once, all or nothing: when one of them does not
/// exist or is already resolved, the call raises that error and nothing is requeued. Returns one row
/// per dead letter, in input order, with the job queued again.
#[pg_extern(volatile, parallel_unsafe)]
pub fn requeue_dead_letters(
    p_ids: Option<Vec<Option<pgrx::Uuid>>>,
) -> TableIterator<'static, (name!(id, pgrx::Uuid), name!(job_id, pgrx::Uuid))> {
    let rows = id_list(p_ids)
        .and_then(|ids| {
            // a set-returning function: settings in its code, not a SET clause (spi_util::with_settings)
            with_settings(PLAN_EACH_CALL, || {
                Spi::connect_mut(|client| {
                    ids.into_iter()
                        .map(|id| requeue_in(client, id).map(|job| (id, job)))
                        .collect::<JobResult<Vec<_>>>()
                })
            })
        })
        .or_raise("requeue_dead_letters");
    TableIterator::new(rows)
}

/// resolve_dead_letter for many dead letters at once with one note, all or nothing (as
/// requeue_dead_letters). Returns how many were resolved.
#[pg_extern(volatile, parallel_unsafe)]
pub fn resolve_dead_letters(
    p_ids: Option<Vec<Option<pgrx::Uuid>>>,
    p_note: default!(Option<&str>, "NULL"),
) -> i64 {
    (|| {
        let ids = id_list(p_ids)?;
        check_note(p_note)?;
        with_settings(PLAN_EACH_CALL, || {
            Spi::connect_mut(|client| {
                for id in &ids {
                    resolve_in(client, *id, p_note)?;
                }
                Ok(ids.len() as i64)
            })
        })
    })()
    .or_raise("resolve_dead_letters")
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
        check_note(p_note)?;
        with_settings(PLAN_EACH_CALL, || {
            Spi::connect_mut(|client| resolve_in(client, id, p_note))
        })
    })()
    .or_raise("resolve_dead_letter")
}
