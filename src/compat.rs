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

/// 0.1.0-0.6.1: enqueue_job without p_concurrency_key.
#[allow(clippy::too_many_arguments)]
#[pg_extern(sql = false)]
pub fn enqueue_job(
    _p_source: Option<&str>,
    _p_job_type: Option<&str>,
    _p_payload: Option<RawJsonb>,
    _p_priority: Option<i32>,
    _p_run_at: Option<TimestampWithTimeZone>,
    _p_max_attempts: Option<i32>,
    _p_idempotency_key: Option<&str>,
) -> pgrx::Uuid {
    refuse("enqueue_job")
}

/// 0.1.0-0.6.1: claim_next_job without p_wait_ms.
#[pg_extern(sql = false)]
pub fn claim_next_job(
    _p_worker_id: Option<&str>,
    _p_sources: Option<Vec<Option<String>>>,
    _p_job_types: Option<Vec<Option<String>>>,
    _p_lease_seconds: Option<i32>,
) -> pgrx::Uuid {
    refuse("claim_next_job")
}

/// 0.4.0-0.6.1: claim_jobs without p_wait_ms.
#[pg_extern(sql = false)]
pub fn claim_jobs(
    _p_worker_id: Option<&str>,
    _p_sources: Option<Vec<Option<String>>>,
    _p_job_types: Option<Vec<Option<String>>>,
    _p_lease_seconds: Option<i32>,
    _p_limit: Option<i32>,
) -> pgrx::Uuid {
    refuse("claim_jobs")
}
