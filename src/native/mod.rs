//! The storage layer of the hot path: the catalog of the extension's relations, writing rows and
//! index entries directly, index scans, and small helpers for Datums and JSON.
pub mod catalog;
pub mod scan;
pub mod table;

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{FromDatum, IntoDatum};

/// now(): the transaction's start time, as every row the SQL statements wrote used.
pub fn now() -> pg_sys::TimestampTz {
    // SAFETY: a plain read of the transaction start time.
    unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }
}

/// The wall clock (for a call that waited: its lease counts from when it claims).
pub fn clock() -> pg_sys::TimestampTz {
    // SAFETY: reads the clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

pub fn ts_datum(t: pg_sys::TimestampTz) -> pg_sys::Datum {
    pg_sys::Datum::from(t)
}

pub fn ts_of(d: pg_sys::Datum) -> pg_sys::TimestampTz {
    d.value() as pg_sys::TimestampTz
}

pub fn int_datum(i: i32) -> pg_sys::Datum {
    pg_sys::Datum::from(i)
}

pub fn int_of(d: pg_sys::Datum) -> i32 {
    d.value() as i32
}

pub fn text_datum(s: &str) -> pg_sys::Datum {
    // SAFETY: copies the bytes into a palloc'd text in the current memory context.
    unsafe {
        pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(
            s.as_ptr() as *const std::ffi::c_char,
            s.len() as i32,
        ))
    }
}

pub fn text_of(d: pg_sys::Datum) -> String {
    // SAFETY: d is a non-NULL text datum.
    unsafe { String::from_datum(d, false) }.unwrap_or_default()
}

pub fn uuid_datum(u: pgrx::Uuid) -> pg_sys::Datum {
    u.into_datum().expect("a uuid datum")
}

pub fn uuid_of(d: pg_sys::Datum) -> pgrx::Uuid {
    // SAFETY: d is a non-NULL uuid datum.
    unsafe { pgrx::Uuid::from_datum(d, false) }.expect("a uuid")
}

pub fn tstz(t: pg_sys::TimestampTz) -> TimestampWithTimeZone {
    // SAFETY: any i64 is a timestamptz datum.
    unsafe { TimestampWithTimeZone::from_datum(pg_sys::Datum::from(t), false) }
        .expect("a timestamptz")
}

/// A jsonb datum parsed from JSON text (jsonb_in: the same value SQL's '...'::jsonb gives).
pub fn jsonb_from_text(json: &str) -> pg_sys::Datum {
    let c = std::ffi::CString::new(json).expect("JSON text has no NUL");
    // SAFETY: jsonb_in takes a cstring and returns a palloc'd jsonb; it raises on invalid JSON
    // (never for the text built by JsonObj).
    unsafe {
        pgrx::direct_function_call_as_datum(
            pg_sys::jsonb_in,
            &[Some(pg_sys::Datum::from(c.as_ptr()))],
        )
        .expect("jsonb_in returns a value")
    }
}

/// The JSON text of a jsonb datum (jsonb_out).
pub fn jsonb_text(d: pg_sys::Datum) -> String {
    // SAFETY: d is a non-NULL jsonb datum; jsonb_out returns a palloc'd cstring.
    unsafe {
        let c = pgrx::direct_function_call_as_datum(pg_sys::jsonb_out, &[Some(d)])
            .expect("jsonb_out returns a value");
        std::ffi::CStr::from_ptr(c.cast_mut_ptr::<std::ffi::c_char>())
            .to_string_lossy()
            .into_owned()
    }
}

/// A timestamptz as JSON renders it (to_json / jsonb_build_object): ISO 8601 in the session's time
/// zone, without the quotes.
pub fn ts_json(t: pg_sys::TimestampTz) -> String {
    let mut buf = [0 as std::ffi::c_char; pg_sys::MAXDATELEN as usize + 1];
    // SAFETY: the buffer is MAXDATELEN + 1 bytes, as JsonEncodeDateTime requires.
    unsafe {
        pg_sys::JsonEncodeDateTime(
            buf.as_mut_ptr(),
            pg_sys::Datum::from(t),
            pg_sys::TIMESTAMPTZOID,
            std::ptr::null(),
        );
        std::ffi::CStr::from_ptr(buf.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

/// A JSON object built as text, key by key in order (as jsonb_build_object's arguments).
#[derive(Default)]
pub struct JsonObj(String);

impl JsonObj {
    pub fn new() -> Self {
        JsonObj(String::with_capacity(96))
    }

    fn key(mut self, k: &str) -> Self {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        self.0
            .push_str(&serde_json::to_string(k).expect("a JSON string"));
        self.0.push(':');
        self
    }

    pub fn int(self, k: &str, v: i64) -> Self {
        let mut s = self.key(k);
        s.0.push_str(&v.to_string());
        s
    }

    pub fn float(self, k: &str, v: Option<f64>) -> Self {
        match v {
            Some(f) if f.is_finite() => {
                let mut s = self.key(k);
                s.0.push_str(&serde_json::to_string(&f).expect("a JSON number"));
                s
            }
            _ => self.null(k),
        }
    }

    pub fn boolean(self, k: &str, v: bool) -> Self {
        let mut s = self.key(k);
        s.0.push_str(if v { "true" } else { "false" });
        s
    }

    pub fn str(self, k: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => {
                let mut s = self.key(k);
                s.0.push_str(&serde_json::to_string(v).expect("a JSON string"));
                s
            }
            None => self.null(k),
        }
    }

    pub fn null(self, k: &str) -> Self {
        let mut s = self.key(k);
        s.0.push_str("null");
        s
    }

    pub fn ts(self, k: &str, t: pg_sys::TimestampTz) -> Self {
        let v = ts_json(t);
        self.str(k, Some(&v))
    }

    /// A value that is already JSON text (a jsonb's text), or null.
    pub fn raw(self, k: &str, json: Option<&str>) -> Self {
        match json {
            Some(j) => {
                let mut s = self.key(k);
                s.0.push_str(j);
                s
            }
            None => self.null(k),
        }
    }

    pub fn text(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }

    pub fn jsonb(self) -> pg_sys::Datum {
        jsonb_from_text(&self.text())
    }
}
