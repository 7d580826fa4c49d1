//! The retry backoff.
//!
//! Attempt n (1-based) that failed is retried after
//!
//! ```text
//! delay(n) = min(retry_max_delay, retry_base_delay * 2^(n-1)) * (0.5 + 0.5 * u),  u ~ U[0, 1)
//! ```
//!
//! ("equal jitter": at least half the exponential delay, so retries never bunch up at zero, and at
//! most the full delay). With the defaults (10 s base, 1 h cap): about 5-10 s, 10-20 s, 20-40 s, ...
use crate::config;
use pgrx::prelude::*;

/// The un-jittered delay in milliseconds for a failed attempt.
pub fn backoff_ms(attempt: i32, base_ms: i64, max_ms: i64) -> i64 {
    let exp = (attempt.max(1) - 1).min(40) as u32;
    let raw = (base_ms.max(0) as i128) << exp;
    raw.min(max_ms.max(0) as i128) as i64
}

/// Apply equal jitter: `u` in [0, 1).
pub fn jittered_ms(delay_ms: i64, u: f64) -> i64 {
    let u = if u.is_finite() {
        u.clamp(0.0, 1.0)
    } else {
        0.0
    };
    (delay_ms as f64 * (0.5 + 0.5 * u)).round() as i64
}

fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    // SAFETY: writes 8 bytes into a local buffer.
    if unsafe { pg_sys::pg_strong_random(b.as_mut_ptr().cast(), b.len()) } {
        (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
    } else {
        0.5
    }
}

/// The delay in milliseconds before retrying a job whose attempt `attempt` failed, with jitter,
/// using the settings mcp_jobs.retry_base_delay and mcp_jobs.retry_max_delay.
pub fn retry_delay_ms(attempt: i32) -> i64 {
    let base = config::RETRY_BASE_DELAY_MS.get() as i64;
    let max = config::RETRY_MAX_DELAY_MS.get() as i64;
    jittered_ms(backoff_ms(attempt, base, max), random_unit())
}

/// The delay before retrying a job whose attempt `p_attempt` failed, with jitter, using the
/// settings mcp_jobs.retry_base_delay and mcp_jobs.retry_max_delay.
#[pg_extern(volatile, parallel_safe)]
fn retry_delay(p_attempt: i32) -> Interval {
    let ms = retry_delay_ms(p_attempt);
    Interval::new(0, 0, ms * 1000).unwrap_or_else(|e| error!("retry delay out of range: {e}"))
}
