//! `RawJsonb`: a `jsonb` value carried as its binary bytes.
//!
//! pgrx's `JsonB` converts through `serde_json::Value`, which rounds large numbers to f64 and panics
//! (XX000) on JSON nested deeper than serde's recursion limit. A payload must come back exactly as it
//! was enqueued, so payloads and results travel as the untouched varlena bytes instead.
use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::{Datum, UnboxDatum};
use pgrx::nullable::Nullable;
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable,
};
use pgrx::{FromDatum, IntoDatum};

/// A detoasted copy of a jsonb varlena (4-byte header included).
#[derive(Clone, Debug)]
pub struct RawJsonb(Vec<u8>);

impl RawJsonb {
    /// Size of the jsonb value in bytes (binary jsonb, header excluded).
    pub fn size(&self) -> usize {
        self.0.len().saturating_sub(pg_sys::VARHDRSZ)
    }

    /// A copy of a non-NULL jsonb datum.
    pub fn from_datum_copy(d: pg_sys::Datum) -> RawJsonb {
        // SAFETY: the callers pass a jsonb datum that is not NULL.
        unsafe { RawJsonb::from_datum(d, false) }.expect("a jsonb datum")
    }

    /// The value as a datum in the current memory context.
    pub fn into_datum_unchecked(self) -> pg_sys::Datum {
        self.into_datum().expect("a jsonb datum")
    }

    /// Whether the value is a JSON object, read from the root container's header.
    pub fn is_object(&self) -> bool {
        JsonbKind::from_data(self.0.get(pg_sys::VARHDRSZ..).unwrap_or_default()).is_object()
    }
}

impl FromDatum for RawJsonb {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _typoid: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: the datum is a jsonb varlena; pg_detoast_datum returns it with a 4-byte header,
        // either the original or a palloc'd copy in the current memory context.
        unsafe {
            let original = datum.cast_mut_ptr::<pg_sys::varlena>();
            let detoasted = pg_sys::pg_detoast_datum(original);
            let len = pgrx::varsize_any(detoasted);
            let bytes = std::slice::from_raw_parts(detoasted as *const u8, len).to_vec();
            if detoasted != original {
                pg_sys::pfree(detoasted.cast());
            }
            Some(RawJsonb(bytes))
        }
    }
}

impl IntoDatum for RawJsonb {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        // SAFETY: we copy a complete 4-byte-header varlena into memory palloc'd in the current
        // memory context, which is where PostgreSQL expects a returned or bound datum to live.
        unsafe {
            let ptr = pg_sys::palloc(self.0.len()) as *mut u8;
            std::ptr::copy_nonoverlapping(self.0.as_ptr(), ptr, self.0.len());
            Some(pg_sys::Datum::from(ptr))
        }
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

unsafe impl SqlTranslatable for RawJsonb {
    const TYPE_IDENT: &'static str = concat!(module_path!(), "::RawJsonb");
    const TYPE_ORIGIN: pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin =
        pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
        Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}

// SAFETY: the argument is unboxed with FromDatum, as pgrx does for its own JsonB.
unsafe impl<'fcx> ArgAbi<'fcx> for RawJsonb {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: the caller (pgrx's generated wrapper) guarantees the argument is a jsonb datum.
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        // SAFETY: as above.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

// SAFETY: the datum is built by IntoDatum in the function's memory context and returned at once.
unsafe impl BoxRet for RawJsonb {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        match self.into_datum() {
            // SAFETY: a valid jsonb datum.
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
            None => fcinfo.return_null(),
        }
    }
}

// SAFETY: as pgrx's own JsonB: an element of a jsonb array is a jsonb varlena (FromDatum copies it,
// detoasting a short header). Lets `Vec<Option<RawJsonb>>` take a `jsonb[]` argument.
unsafe impl UnboxDatum for RawJsonb {
    type As<'src>
        = RawJsonb
    where
        Self: 'src;

    unsafe fn unbox<'src>(d: Datum<'src>) -> Self::As<'src>
    where
        Self: 'src,
    {
        // SAFETY: a non-NULL jsonb datum (the array iterator handles NULL elements).
        unsafe { RawJsonb::from_datum(d.sans_lifetime(), false) }
            .expect("a non-NULL jsonb array element")
    }
}

/// The JSON type of a jsonb value's root, read from the root container's header (the first four
/// bytes of its data; flag bits as in PostgreSQL's utils/jsonb.h). As a function argument only that
/// slice is detoasted, so checking the type of a large stored payload does not fetch all of it.
#[derive(Clone, Copy, Debug)]
pub struct JsonbKind(u32);

impl JsonbKind {
    /// From a jsonb value's data (the bytes after the varlena header); 0 flags when shorter than 4.
    fn from_data(data: &[u8]) -> Self {
        match data.get(..4) {
            Some(h) => JsonbKind(u32::from_ne_bytes([h[0], h[1], h[2], h[3]])),
            None => JsonbKind(0),
        }
    }

    const JB_FSCALAR: u32 = 0x1000_0000;
    const JB_FOBJECT: u32 = 0x2000_0000;
    const JB_FARRAY: u32 = 0x4000_0000;

    pub fn is_object(self) -> bool {
        self.0 & Self::JB_FOBJECT != 0
    }

    /// "object", "array" or "scalar" (a raw scalar is stored as a one-element array with JB_FSCALAR).
    pub fn name(self) -> &'static str {
        if self.is_object() {
            "object"
        } else if self.0 & Self::JB_FSCALAR != 0 {
            "scalar"
        } else if self.0 & Self::JB_FARRAY != 0 {
            "array"
        } else {
            "value of unknown kind"
        }
    }
}

impl FromDatum for JsonbKind {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _typoid: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: the datum is a jsonb varlena. pg_detoast_datum_slice returns a palloc'd copy
        // with a 4-byte header holding at most the first 4 data bytes (the root container header).
        unsafe {
            let slice =
                pg_sys::pg_detoast_datum_slice(datum.cast_mut_ptr::<pg_sys::varlena>(), 0, 4);
            let len = pgrx::varsize_any(slice);
            let bytes = std::slice::from_raw_parts(slice as *const u8, len);
            let kind = JsonbKind::from_data(bytes.get(pg_sys::VARHDRSZ..).unwrap_or_default());
            pg_sys::pfree(slice.cast());
            Some(kind)
        }
    }
}

unsafe impl SqlTranslatable for JsonbKind {
    const TYPE_IDENT: &'static str = concat!(module_path!(), "::JsonbKind");
    const TYPE_ORIGIN: pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin =
        pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
        Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}

// SAFETY: the argument is unboxed with FromDatum, which only reads a slice of the jsonb datum.
unsafe impl<'fcx> ArgAbi<'fcx> for JsonbKind {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: the caller (pgrx's generated wrapper) guarantees the argument is a jsonb datum.
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        // SAFETY: as above.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}
