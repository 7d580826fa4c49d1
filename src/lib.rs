//! mcp_jobs: a job queue and observability backend that lives inside PostgreSQL.
//!
//! The modules are split by concern; this file only wires them together.
use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod api;
mod checks;
mod claim;
mod compat;
mod config;
mod dead_letter;
mod enqueue;
mod errors;
mod flow;
mod jobs;
mod lease;
mod lifecycle;
mod maintenance;
mod metrics;
mod native;
mod queues;
mod raw_jsonb;
mod retry;
mod rollup;
mod rules;
mod schedule;
mod schema;
mod spi_util;
mod uuid7;
mod wake;
mod worker;

#[cfg(any(test, feature = "pg_test"))]
mod test_util;
#[cfg(any(test, feature = "pg_test"))]
mod tests;

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // An error PostgreSQL raises inside one of our SPI calls (a lock timeout, a cancel) must reach
    // the client with its own SQLSTATE, message and DETAIL. pgrx appends a Rust backtrace to that
    // DETAIL whenever backtraces are enabled in the server's environment (RUST_BACKTRACE=1);
    // RUST_LIB_BACKTRACE=0 turns off only that capture. A backend is single-threaded here.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    config::init();
    // SAFETY: a plain read of a flag the postmaster sets while it loads shared_preload_libraries.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        worker::register();
        wake::init_shmem();
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        // The maintenance worker runs every second in database `postgres`, where
        // tests_metrics::preloaded watches it work on committed data. Not in the test database
        // (pgrx_tests): the pg_tests there expect no committed jobs of other tests.
        vec![
            "shared_preload_libraries = 'mcp_jobs'",
            "mcp_jobs.maintenance_interval = '1s'",
            "mcp_jobs.database = 'postgres'",
        ]
    }
}
