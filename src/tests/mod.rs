//! In-database tests (`#[pg_test]`), one file per module of the extension. Each #[pg_test] runs in
//! its own transaction, rolled back at the end, so `now()` is the same for every statement of a
//! test: a retry scheduled with the default backoff is not due inside the test, which is why tests
//! that retry set mcp_jobs.retry_base_delay = 0. Shared helpers: src/test_util.rs.
mod claim;
mod dead_letter;
mod enqueue;
mod flow;
mod lifecycle;
mod metrics;
mod reads;
mod schedule;
mod schema;
mod util;
