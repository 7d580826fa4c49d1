//! The C symbols of SQL functions whose signature changed since a released version.
//!
//! Between installing a new library and `ALTER EXTENSION mcp_jobs UPDATE`, a database still holds the
//! old version's SQL objects, whose functions name their C symbols (`AS 'MODULE_PATHNAME', '<sym>'`).
//! Every symbol an archived install script (sql/archive/) names must stay exported, and one whose
//! arguments changed is kept here: it refuses with a clear error instead of reading arguments that
//! are not there. tests/test_upgrade.py checks that the library exports every archived symbol.
use crate::errors::{JobError, OrRaise};
use crate::raw_jsonb::RawJsonb;
use pgrx::prelude::*;

/// The version of the extension's SQL objects in this database.
fn installed_version() -> String {
    Spi::get_one::<String>(
        "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'mcp_jobs'",
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| "unknown".into())
}

fn refuse<T>(function: &'static str) -> T {
    Err::<T, _>(JobError::VersionMismatch {
        installed: installed_version(),
    })
    .or_raise(function)
}

/// 0.1.0-0.6.1: fail_job(uuid, uuid, text, boolean).
#[pg_extern(sql = false)]
pub fn fail_job(
    _p_job_id: Option<pgrx::Uuid>,
    _p_run_id: Option<pgrx::Uuid>,
    _p_error: Option<&str>,
    _p_retry: Option<bool>,
) -> RawJsonb {
    refuse("fail_job")
}
