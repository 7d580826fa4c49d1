//! Native UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then 12 bits of sub-millisecond time, then 62
//! random bits. Ids made by one backend strictly increase; across backends they follow the clock, so
//! a B-tree on them stays append-mostly (index locality) and id order is enqueue order.
use pgrx::prelude::*;
use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    /// (last 60-bit timestamp used, random state)
    static STATE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn next_random(state: &mut u64) -> u64 {
    if *state == 0 {
        let mut seed = [0u8; 8];
        // SAFETY: writes 8 bytes into a local buffer.
        let ok = unsafe { pg_sys::pg_strong_random(seed.as_mut_ptr().cast(), seed.len()) };
        *state = u64::from_le_bytes(seed) | 1;
        if !ok {
            *state ^= std::process::id() as u64 ^ 0x9E37_79B9_7F4A_7C15;
        }
    }
    // splitmix64
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Build UUIDv7 bytes from a 60-bit time value (ms << 12 | sub-ms fraction) and random bits.
pub fn uuid7_bytes(ts60: u64, random: u64) -> [u8; 16] {
    let ms = ts60 >> 12;
    let sub = (ts60 & 0xFFF) as u16;
    let mut b = [0u8; 16];
    b[0..6].copy_from_slice(&ms.to_be_bytes()[2..8]);
    b[6] = 0x70 | ((sub >> 8) as u8 & 0x0F);
    b[7] = sub as u8;
    b[8..16].copy_from_slice(&random.to_be_bytes());
    b[8] = 0x80 | (b[8] & 0x3F);
    b
}

/// A new UUIDv7, strictly greater than the previous one made by this backend.
pub fn new_uuid7() -> pgrx::Uuid {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ms = now.as_millis() as u64;
    let sub = ((now.subsec_nanos() % 1_000_000) as u64 * 4096) / 1_000_000;
    let ts = (ms << 12) | sub;
    STATE.with(|cell| {
        let (last, mut rng) = cell.get();
        // never go backwards, even if the clock does: bump the 60-bit time by one tick instead
        let ts = if ts <= last { last + 1 } else { ts };
        let r = next_random(&mut rng);
        cell.set((ts, rng));
        pgrx::Uuid::from_bytes(uuid7_bytes(ts, r))
    })
}

/// A new time-ordered UUIDv7 (RFC 9562), generated natively; the default for every id in mcp_jobs.
#[pg_extern(volatile, parallel_safe, name = "uuidv7")]
fn uuidv7_sql() -> pgrx::Uuid {
    new_uuid7()
}

/// The creation time encoded in a UUIDv7 (millisecond precision).
#[pg_extern(immutable, parallel_safe, strict)]
fn uuidv7_time(id: pgrx::Uuid) -> TimestampWithTimeZone {
    let b = id.as_bytes();
    let mut ms = [0u8; 8];
    ms[2..8].copy_from_slice(&b[0..6]);
    let ms = u64::from_be_bytes(ms) as f64;
    // SAFETY: float8_timestamptz takes one float8 (seconds since the Unix epoch)
    unsafe {
        pgrx::direct_function_call::<TimestampWithTimeZone>(
            pg_sys::float8_timestamptz,
            &[(ms / 1000.0).into_datum()],
        )
    }
    .unwrap_or_else(|| error!("could not convert the UUIDv7 time"))
}

/// The smallest UUIDv7 of the millisecond of `t` (a timestamptz): every UUIDv7 made at or after
/// that millisecond sorts at or after it.
pub fn uuid7_floor(t: i64) -> pgrx::Uuid {
    // timestamptz counts microseconds since 2000-01-01; UUIDv7 milliseconds since 1970-01-01
    let unix_ms = (t + 946_684_800_000_000).div_euclid(1000).max(0) as u64;
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..8]);
    b[6] = 0x70;
    b[8] = 0x80;
    pgrx::Uuid::from_bytes(b)
}
