//! SPI for the functions that run SQL statements (reads, maintenance, settings; the hot path runs
//! none, src/native): prepared statements cached per backend, helpers to read results, and the
//! planner settings those statements run under (`with_settings`, PLAN_EACH_CALL), in one place.
//!
//! Plans survive transactions (SPI_keepplan); PostgreSQL's plan cache re-plans them itself when the
//! tables they use change (for example after DROP/CREATE EXTENSION).
use crate::errors::{JobError, JobResult};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::PgOid;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiTupleTable};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::rc::Rc;

thread_local! {
    /// Keyed by the address and length of the statement's SQL text: every Stmt is a `const` with a
    /// `&'static str`, and hashing those is cheaper than hashing a kilobyte of SQL per call. (The
    /// length too, so that a text that happened to start where another starts is still its own key.)
    static PLANS: RefCell<HashMap<(usize, usize), Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

/// A statement of the extension: its SQL text and argument types.
pub struct Stmt {
    pub sql: &'static str,
    pub args: &'static [pgrx::pg_sys::Oid],
    /// Whether the statement writes (or locks) rows.
    pub write: bool,
}

fn plan(client: &SpiClient<'_>, stmt: &Stmt) -> JobResult<Rc<OwnedPreparedStatement>> {
    let key = (stmt.sql.as_ptr() as usize, stmt.sql.len());
    if let Some(p) = PLANS.with(|m| m.borrow().get(&key).cloned()) {
        return Ok(p);
    }
    let oids: Vec<PgOid> = stmt.args.iter().map(|o| PgOid::from(*o)).collect();
    let prepared = if stmt.write {
        client.prepare_mut(stmt.sql, &oids)?.keep()
    } else {
        client.prepare(stmt.sql, &oids)?.keep()
    };
    let prepared = Rc::new(prepared);
    PLANS.with(|m| m.borrow_mut().insert(key, prepared.clone()));
    Ok(prepared)
}

/// Execute a (possibly writing) statement with bind arguments.
pub fn run<'conn>(
    client: &mut SpiClient<'conn>,
    stmt: &Stmt,
    args: &[DatumWithOid<'_>],
) -> JobResult<SpiTupleTable<'conn>> {
    let p = plan(client, stmt)?;
    client.update(&*p, None, args).map_err(JobError::from)
}

/// Execute a read-only statement with bind arguments.
pub fn read<'conn>(
    client: &SpiClient<'conn>,
    stmt: &Stmt,
    args: &[DatumWithOid<'_>],
) -> JobResult<SpiTupleTable<'conn>> {
    let p = plan(client, stmt)?;
    client.select(&*p, None, args).map_err(JobError::from)
}

/// Column `col` (1-based) of the first row, or None when there is no row or the value is NULL.
pub fn first<T: pgrx::FromDatum + pgrx::IntoDatum>(
    table: SpiTupleTable<'_>,
    col: usize,
) -> JobResult<Option<T>> {
    if table.is_empty() {
        return Ok(None);
    }
    Ok(table.first().get::<T>(col)?)
}

/// Planner settings for the statements of one call of a function.
pub type Settings = &'static [(&'static CStr, &'static CStr)];

/// The one planner setting of the extension, for every function that runs SQL statements (the
/// reads of the history, maintenance, dead letters, flow-control and schedule settings; the hot
/// path runs none): each statement is planned for the call at hand, never kept as a generic plan
/// made when the tables were empty or never analyzed (docs/design.md#planner-settings).
pub const PLAN_EACH_CALL: Settings = &[(c"plan_cache_mode", c"force_custom_plan")];

/// Run `f` with `settings` in effect, restoring the caller's values afterwards: what a `SET` clause
/// of CREATE FUNCTION does, but once per call. The functions that return rows (value-per-call set
/// returning functions) set their planner settings here instead of with SET clauses, because
/// PostgreSQL calls such a function once for every row it returns and applies the SET clauses, and
/// restores them (a walk over every setting on PostgreSQL 15), on each of those calls
/// (docs/design.md).
///
/// If `f` raises an error, the abort of the (sub)transaction restores the settings, as it does for
/// SET clauses.
pub fn with_settings<R>(settings: Settings, f: impl FnOnce() -> R) -> R {
    // SAFETY: plain calls of the GUC API, exactly as fmgr_security_definer makes them for a SET
    // clause: a new nesting level, each setting saved at it, the level popped after the call.
    // set_config_option raises an ERROR (it does not return) if a setting cannot be applied.
    let nest = unsafe { pgrx::pg_sys::NewGUCNestLevel() };
    for (name, value) in settings {
        unsafe {
            pgrx::pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pgrx::pg_sys::GucContext::PGC_USERSET,
                pgrx::pg_sys::GucSource::PGC_S_SESSION,
                pgrx::pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        }
    }
    let result = f();
    // SAFETY: pops the level pushed above; nothing in `f` left it open (a statement that raised an
    // error did not return here).
    unsafe { pgrx::pg_sys::AtEOXact_GUC(true, nest) };
    result
}
