//! Configuration: GUCs under `mcp_jobs.*`, registered when the library loads.
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

/// max_attempts of a job enqueued without p_max_attempts.
pub static DEFAULT_MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(3);
/// Base of the exponential retry backoff, in milliseconds.
pub static RETRY_BASE_DELAY_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
/// Cap of the retry backoff, in milliseconds.
pub static RETRY_MAX_DELAY_MS: GucSetting<i32> = GucSetting::<i32>::new(3_600_000);
/// Largest accepted payload, in bytes (binary jsonb size).
pub static MAX_PAYLOAD_BYTES: GucSetting<i32> = GucSetting::<i32>::new(1_048_576);

/// How often a backend's claims look for expired leases, in milliseconds (0 = on every claim).
pub static LEASE_SWEEP_INTERVAL_MS: GucSetting<i32> = GucSetting::<i32>::new(1000);

/// Finished jobs older than this are pruned by run_maintenance, in seconds (0 = never prune).
pub static RETENTION_S: GucSetting<i32> = GucSetting::<i32>::new(7 * 24 * 3600);
/// How far behind the transaction start the metrics' watermark stays, in milliseconds.
pub static METRICS_LAG_MS: GucSetting<i32> = GucSetting::<i32>::new(2000);
/// How long one maintenance round may prune, in milliseconds.
pub static PRUNE_BUDGET_MS: GucSetting<i32> = GucSetting::<i32>::new(2000);
/// Pause between two rounds of the maintenance background worker, in milliseconds (0 = paused).
pub static MAINTENANCE_INTERVAL_MS: GucSetting<i32> = GucSetting::<i32>::new(60_000);
/// The database the maintenance background worker connects to.
pub static DATABASE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"postgres"));
/// Alert thresholds (the MCP Jobs design's values): queue depth, unresolved dead letters, 7-day success rate.
pub static ALERT_QUEUE_DEPTH_WARNING: GucSetting<i32> = GucSetting::<i32>::new(50);
pub static ALERT_QUEUE_DEPTH_CRITICAL: GucSetting<i32> = GucSetting::<i32>::new(100);
pub static ALERT_DEAD_LETTER_WARNING: GucSetting<i32> = GucSetting::<i32>::new(5);
pub static ALERT_DEAD_LETTER_CRITICAL: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static ALERT_SUCCESS_RATE_WARNING: GucSetting<f64> = GucSetting::<f64>::new(0.9);
pub static ALERT_SUCCESS_RATE_CRITICAL: GucSetting<f64> = GucSetting::<f64>::new(0.8);
/// alerts() warns about a queue paused longer than this, in seconds (0 = never).
pub static ALERT_PAUSED_AFTER_S: GucSetting<i32> = GucSetting::<i32>::new(3600);

/// The value of mcp_jobs.database ("postgres" when unset or not UTF-8).
pub fn database() -> String {
    DATABASE
        .get()
        .and_then(|c| c.into_string().ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "postgres".to_string())
}

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
    // SUSET: the operator's limit (postgresql.conf, ALTER DATABASE/ROLE ... SET by a superuser);
    // a client cannot raise it for itself.
    GucRegistry::define_int_guc(
        c"mcp_jobs.max_payload_bytes",
        c"Largest payload enqueue_job accepts (size of the binary jsonb).",
        c"Larger payloads are refused with SQLSTATE 54000 (HTTP 413 through the PostgREST wrappers).",
        &MAX_PAYLOAD_BYTES,
        1024,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_int_guc(
        c"mcp_jobs.lease_sweep_interval",
        c"How often a backend's claims look for expired leases (0 = on every claim).",
        c"Claims take back a few expired leases when they look; the maintenance round takes back all of them.",
        &LEASE_SWEEP_INTERVAL_MS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    init_maintenance();
    init_alerts();
}

fn init_maintenance() {
    GucRegistry::define_int_guc(
        c"mcp_jobs.metrics_lag",
        c"How far behind now() maintenance adds events to the metrics.",
        c"Covers a transaction that has taken its start time (which its events carry) but not yet published it; open transactions hold the metrics back further on their own.",
        &METRICS_LAG_MS,
        0,
        3_600_000,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"mcp_jobs.retention",
        c"How long finished jobs are kept before run_maintenance prunes them (0 = keep forever).",
        c"Completed, failed and cancelled jobs whose finished_at is older than this are deleted with their runs and events; jobs with an unresolved dead letter, dead letters and metrics are never pruned. Jobs finished since the start of the previous hour are always kept.",
        &RETENTION_S,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"mcp_jobs.prune_budget",
        c"How long one maintenance round may spend pruning finished jobs.",
        c"Pruning deletes batches of the oldest prunable jobs, growing or shrinking the batch to the time it takes, until the scan reaches the retention cutoff or this budget is spent; the next round continues.",
        &PRUNE_BUDGET_MS,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"mcp_jobs.maintenance_interval",
        c"Pause between two rounds of the mcp_jobs maintenance background worker (0 = paused).",
        c"Only used when mcp_jobs is in shared_preload_libraries. Each round runs mcp_jobs.run_maintenance() in the database mcp_jobs.database.",
        &MAINTENANCE_INTERVAL_MS,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_string_guc(
        c"mcp_jobs.database",
        c"Database in which the mcp_jobs maintenance background worker runs.",
        c"The worker idles until the extension is created there. Changing it (and reloading) restarts the worker.",
        &DATABASE,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

fn init_alerts() {
    let ints: [(&'static std::ffi::CStr, &'static std::ffi::CStr, &'static GucSetting<i32>); 4] = [
        (
            c"mcp_jobs.alert_queue_depth_warning",
            c"mcp_jobs.alerts() warns when a source has more than this many queued and processing jobs.",
            &ALERT_QUEUE_DEPTH_WARNING,
        ),
        (
            c"mcp_jobs.alert_queue_depth_critical",
            c"mcp_jobs.alerts() is critical when a source has more than this many queued and processing jobs.",
            &ALERT_QUEUE_DEPTH_CRITICAL,
        ),
        (
            c"mcp_jobs.alert_dead_letter_warning",
            c"mcp_jobs.alerts() warns when a source has more than this many unresolved dead letters.",
            &ALERT_DEAD_LETTER_WARNING,
        ),
        (
            c"mcp_jobs.alert_dead_letter_critical",
            c"mcp_jobs.alerts() is critical when a source has more than this many unresolved dead letters.",
            &ALERT_DEAD_LETTER_CRITICAL,
        ),
    ];
    for (name, short, setting) in ints {
        GucRegistry::define_int_guc(
            name,
            short,
            c"Strict comparison: the alert fires when the count is above the threshold.",
            setting,
            0,
            i32::MAX,
            GucContext::Userset,
            GucFlags::default(),
        );
    }
    GucRegistry::define_int_guc(
        c"mcp_jobs.alert_paused_after",
        c"mcp_jobs.alerts() warns about a queue paused longer than this (0 = never).",
        c"A row of mcp_jobs.queues whose paused_at is older than this gives a queue_paused warning.",
        &ALERT_PAUSED_AFTER_S,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_float_guc(
        c"mcp_jobs.alert_success_rate_warning",
        c"mcp_jobs.alerts() warns when a source's 7-day success rate is below this fraction.",
        c"Success rate: completed / (completed + failed) of the source's jobs created in the last 7 days. Strict comparison.",
        &ALERT_SUCCESS_RATE_WARNING,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"mcp_jobs.alert_success_rate_critical",
        c"mcp_jobs.alerts() is critical when a source's 7-day success rate is below this fraction.",
        c"Success rate: completed / (completed + failed) of the source's jobs created in the last 7 days. Strict comparison.",
        &ALERT_SUCCESS_RATE_CRITICAL,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
}
