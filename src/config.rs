//! Configuration: GUCs under `mcp_jobs.*`, registered when the library loads.
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

/// max_attempts of a job enqueued without p_max_attempts.
pub static DEFAULT_MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(3);
/// Base of the exponential retry backoff, in milliseconds.
pub static RETRY_BASE_DELAY_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
/// Cap of the retry backoff, in milliseconds.
pub static RETRY_MAX_DELAY_MS: GucSetting<i32> = GucSetting::<i32>::new(3_600_000);
/// Largest accepted payload, in bytes (binary jsonb size).
pub static MAX_PAYLOAD_BYTES: GucSetting<i32> = GucSetting::<i32>::new(1_048_576);

pub fn init() {
    GucRegistry::define_int_guc(
        c"mcp_jobs.default_max_attempts",
        c"Attempts a job gets when enqueue_job is called without p_max_attempts.",
        c"After this many failed attempts the job moves to the dead-letter queue.",
        &DEFAULT_MAX_ATTEMPTS,
        1,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"mcp_jobs.retry_base_delay",
        c"Base delay of the exponential retry backoff.",
        c"A failed attempt n is retried after min(retry_max_delay, retry_base_delay * 2^(n-1)) scaled by a random factor in [0.5, 1].",
        &RETRY_BASE_DELAY_MS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"mcp_jobs.retry_max_delay",
        c"Cap of the exponential retry backoff.",
        c"No retry waits longer than this.",
        &RETRY_MAX_DELAY_MS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"mcp_jobs.max_payload_bytes",
        c"Largest payload enqueue_job accepts (size of the binary jsonb).",
        c"Larger payloads are refused with SQLSTATE 54000 (HTTP 413 through the PostgREST wrappers).",
        &MAX_PAYLOAD_BYTES,
        1024,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_BYTE,
    );
}
