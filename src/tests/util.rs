//! Tests: Pure logic and types: the retry backoff, UUIDv7, jsonb kinds.
#[pgrx::pg_schema]
mod tests {
    use crate::retry::{backoff_ms, jittered_ms};
    use crate::test_util::*;
    use crate::uuid7::{new_uuid7, uuid7_bytes};
    use pgrx::prelude::*;

    // ------------------------------------------------------------------ pure logic, table-driven

    #[pg_test]
    fn backoff_formula_table() {
        // (attempt, base ms, max ms, expected un-jittered delay ms)
        let cases: &[(i32, i64, i64, i64)] = &[
            (1, 10_000, 3_600_000, 10_000),
            (2, 10_000, 3_600_000, 20_000),
            (3, 10_000, 3_600_000, 40_000),
            (10, 10_000, 3_600_000, 3_600_000), // 5_120_000 capped
            (0, 10_000, 3_600_000, 10_000),     // attempts start at 1
            (-5, 10_000, 3_600_000, 10_000),
            (1000, 10_000, 3_600_000, 3_600_000), // no overflow
            (3, 0, 3_600_000, 0),
            (3, 10_000, 0, 0),
        ];
        for &(attempt, base, max, want) in cases {
            assert_eq!(
                backoff_ms(attempt, base, max),
                want,
                "attempt {attempt} base {base} max {max}"
            );
        }
        // equal jitter: between half and all of the delay
        for (u, want) in [
            (0.0, 500),
            (1.0, 1000),
            (0.5, 750),
            (f64::NAN, 500),
            (7.0, 1000),
        ] {
            assert_eq!(jittered_ms(1000, u), want, "u = {u}");
        }
    }

    #[pg_test]
    fn retry_delay_uses_settings() {
        exec("SET LOCAL mcp_jobs.retry_base_delay = '2s'");
        exec("SET LOCAL mcp_jobs.retry_max_delay = '5s'");
        for (attempt, lo, hi) in [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 2.5, 5.0), (9, 2.5, 5.0)] {
            for _ in 0..50 {
                let secs: f64 = qa(
                    "SELECT extract(epoch FROM mcp_jobs.retry_delay($1))::float8",
                    &[attempt.into()],
                );
                assert!(
                    secs >= lo && secs <= hi,
                    "attempt {attempt}: {secs} not in [{lo}, {hi}]"
                );
            }
        }
    }

    #[pg_test]
    fn uuid7_layout_and_order() {
        let b = uuid7_bytes(0x0123_4567_89AB_CDEF, u64::MAX);
        assert_eq!(b[6] >> 4, 7, "version 7");
        assert_eq!(b[8] >> 6, 0b10, "RFC 9562 variant");
        let mut prev = new_uuid7();
        for _ in 0..10_000 {
            let next = new_uuid7();
            assert!(
                next.as_bytes() > prev.as_bytes(),
                "ids must strictly increase"
            );
            prev = next;
        }
        let skew: f64 = q("SELECT abs(extract(epoch FROM mcp_jobs.uuidv7_time(mcp_jobs.uuidv7()) - clock_timestamp()))::float8");
        assert!(skew < 5.0, "uuidv7_time is {skew}s away from now");
    }

    #[pg_test]
    fn raw_jsonb_object_detection() {
        let cases = [
            ("'{}'", true),
            ("'{\"a\": [1, {\"b\": 2}]}'", true),
            ("'[]'", false),
            ("'[{}]'", false),
            ("'1'", false),
            ("'\"text\"'", false),
            ("'null'", false),
            ("'true'", false),
        ];
        for (literal, want) in cases {
            let v: crate::raw_jsonb::RawJsonb = q(&format!("SELECT {literal}::jsonb"));
            assert_eq!(v.is_object(), want, "{literal}");
        }
    }
}
