//! Prepared SPI plans, cached per backend, and small helpers to read results.
//!
//! Each statement of the hot path is parsed and planned once per backend and then only executed.
//! Plans survive transactions (SPI_keepplan); PostgreSQL's plan cache re-plans them itself when the
//! tables they use change (for example after DROP/CREATE EXTENSION).
use crate::errors::{JobError, JobResult};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::PgOid;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiTupleTable};
use std::cell::RefCell;
use std::collections::HashMap;
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
