//! mcp_jobs: a job queue and observability backend that lives inside PostgreSQL.
//!
//! The modules are split by concern; this file only wires them together.
use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod api;
mod claim;
mod config;
mod dead_letter;
mod enqueue;
mod errors;
mod lifecycle;
mod raw_jsonb;
mod retry;
mod schema;
mod spi_util;
mod uuid7;

#[cfg(any(test, feature = "pg_test"))]
mod tests;

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    config::init();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
