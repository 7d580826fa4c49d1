//! Index scans without the executor: a btree scan with scan keys, re-keyed as often as needed (the
//! claim walks its index as a loose index scan, src/claim.rs), returning each visible row in a slot.
use pgrx::pg_sys;
use std::ptr;

/// A scan key on column `attno` (1-based) of an index.
#[derive(Clone, Copy)]
pub struct Key {
    pub attno: i16,
    pub op: Op,
    pub value: pg_sys::Datum,
    pub ty: Ty,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Le,
    Gt,
    IsNull,
}

/// The type of a key's column: it decides the comparison function and collation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int4,
    /// text in a COLLATE "C" index column
    TextC,
    /// text with the database's default collation
    Text,
    Uuid,
    TimestampTz,
}

impl Key {
    pub fn new(attno: i16, op: Op, ty: Ty, value: pg_sys::Datum) -> Key {
        Key {
            attno,
            op,
            value,
            ty,
        }
    }

    pub fn is_null(attno: i16) -> Key {
        Key {
            attno,
            op: Op::IsNull,
            value: pg_sys::Datum::from(0),
            ty: Ty::TextC,
        }
    }

    fn proc_and_strategy(&self) -> (pg_sys::RegProcedure, u16) {
        use pg_sys::*;
        let strategy = match self.op {
            Op::Le => BTLessEqualStrategyNumber,
            Op::Eq => BTEqualStrategyNumber,
            Op::Gt => BTGreaterStrategyNumber,
            Op::IsNull => return (InvalidOid, 0),
        } as u16;
        let f = match (self.ty, self.op) {
            (Ty::Int4, Op::Le) => F_INT4LE,
            (Ty::Int4, Op::Eq) => F_INT4EQ,
            (Ty::Int4, Op::Gt) => F_INT4GT,
            (Ty::Text | Ty::TextC, Op::Le) => F_TEXT_LE,
            (Ty::Text | Ty::TextC, Op::Eq) => F_TEXTEQ,
            (Ty::Text | Ty::TextC, Op::Gt) => F_TEXT_GT,
            (Ty::Uuid, Op::Le) => F_UUID_LE,
            (Ty::Uuid, Op::Eq) => F_UUID_EQ,
            (Ty::Uuid, Op::Gt) => F_UUID_GT,
            (Ty::TimestampTz, Op::Le) => F_TIMESTAMPTZ_LE,
            (Ty::TimestampTz, Op::Eq) => F_TIMESTAMPTZ_EQ,
            (Ty::TimestampTz, Op::Gt) => F_TIMESTAMPTZ_GT,
            (_, Op::IsNull) => unreachable!(),
        };
        (pg_sys::Oid::from(f), strategy)
    }

    fn collation(&self) -> pg_sys::Oid {
        match self.ty {
            Ty::TextC => pg_sys::C_COLLATION_OID,
            Ty::Text => pg_sys::DEFAULT_COLLATION_OID,
            _ => pg_sys::InvalidOid,
        }
    }
}

/// The most keys one scan takes.
const MAX_KEYS: usize = 8;

/// A row comparison `(a, b) > (x, y)` (or `>=` when `inclusive`) on two consecutive index columns,
/// the first `attno`: where a scan resumes after the last entry it took, or starts at an entry known
/// to be the first visible one (btree positions on it directly).
#[derive(Clone, Copy)]
pub struct After {
    pub attno: i16,
    pub tys: [Ty; 2],
    pub values: [pg_sys::Datum; 2],
    pub inclusive: bool,
}

/// The btree comparison (support) function of a type: row comparisons call it.
fn cmp_proc(ty: Ty) -> pg_sys::Oid {
    pg_sys::Oid::from(match ty {
        Ty::Int4 => pg_sys::F_BTINT4CMP,
        Ty::Text | Ty::TextC => pg_sys::F_BTTEXTCMP,
        Ty::Uuid => pg_sys::F_UUID_CMP,
        Ty::TimestampTz => pg_sys::F_TIMESTAMPTZ_CMP,
    })
}

/// A forward scan of `index` over `heap` under `snapshot`.
pub struct IndexScan {
    scan: pg_sys::IndexScanDesc,
    pub slot: *mut pg_sys::TupleTableSlot,
    keys: [pg_sys::ScanKeyData; MAX_KEYS],
    /// the members of a row comparison, which its header key points to: boxed, at a fixed address
    row: Box<[pg_sys::ScanKeyData; 2]>,
}

impl IndexScan {
    pub fn new(
        heap: pg_sys::Relation,
        index: pg_sys::Relation,
        snapshot: pg_sys::Snapshot,
    ) -> Self {
        // SAFETY: open relations; the scan and slot are freed in Drop.
        unsafe {
            IndexScan {
                scan: pg_sys::index_beginscan(heap, index, snapshot, MAX_KEYS as i32, 0),
                slot: pg_sys::table_slot_create(heap, ptr::null_mut()),
                keys: std::mem::zeroed(),
                row: Box::new(std::mem::zeroed()),
            }
        }
    }

    /// Start over with `keys` (at most 8).
    pub fn rescan(&mut self, keys: &[Key]) {
        self.rescan_after(keys, None)
    }

    /// Start over with `keys` and, after them, the row comparison `after` (at most 8 in all).
    pub fn rescan_after(&mut self, keys: &[Key], after: Option<After>) {
        let n = keys.len() + usize::from(after.is_some());
        assert!(n <= MAX_KEYS, "too many scan keys");
        for (slot, k) in self.keys.iter_mut().zip(keys) {
            let (proc_, strategy) = k.proc_and_strategy();
            let flags = if k.op == Op::IsNull {
                (pg_sys::SK_ISNULL | pg_sys::SK_SEARCHNULL) as i32
            } else {
                0
            };
            // SAFETY: fills a ScanKeyData in place.
            unsafe {
                pg_sys::ScanKeyEntryInitialize(
                    slot,
                    flags,
                    k.attno,
                    strategy,
                    pg_sys::InvalidOid,
                    k.collation(),
                    proc_,
                    k.value,
                )
            };
        }
        if let Some(a) = after {
            let strategy = if a.inclusive {
                pg_sys::BTGreaterEqualStrategyNumber
            } else {
                pg_sys::BTGreaterStrategyNumber
            } as u16;
            for i in 0..2 {
                let mut flags = pg_sys::SK_ROW_MEMBER as i32;
                if i == 1 {
                    flags |= pg_sys::SK_ROW_END as i32;
                }
                // SAFETY: fills the boxed member keys in place (as ExecIndexBuildScanKeys does for
                // a RowCompareExpr: the type's btree comparison function, the row's strategy).
                unsafe {
                    pg_sys::ScanKeyEntryInitialize(
                        &mut self.row[i],
                        flags,
                        a.attno + i as i16,
                        strategy,
                        pg_sys::InvalidOid,
                        pg_sys::InvalidOid,
                        cmp_proc(a.tys[i]),
                        a.values[i],
                    )
                };
            }
            let members: *mut pg_sys::ScanKeyData = self.row.as_mut_ptr();
            // SAFETY: the header points to the boxed members, which outlive the scan's use of them
            // (until the next rescan or the end of the scan).
            unsafe {
                pg_sys::ScanKeyEntryInitialize(
                    &mut self.keys[keys.len()],
                    pg_sys::SK_ROW_HEADER as i32,
                    a.attno,
                    strategy,
                    pg_sys::InvalidOid,
                    pg_sys::InvalidOid,
                    pg_sys::InvalidOid,
                    pg_sys::Datum::from(members),
                )
            };
        }
        // SAFETY: the keys live in self for the life of the scan. The scan was begun for MAX_KEYS
        // keys (its key array has room for them) and btree's rescan copies numberOfKeys of them:
        // set it to the number this rescan uses.
        unsafe {
            (*self.scan).numberOfKeys = n as i32;
            pg_sys::index_rescan(
                self.scan,
                self.keys.as_mut_ptr(),
                n as i32,
                ptr::null_mut(),
                0,
            )
        };
    }

    /// The next visible row, its attributes deformed into the slot.
    pub fn next(&mut self) -> bool {
        // SAFETY: a started scan; slot_getallattrs fills tts_values/tts_isnull.
        unsafe {
            if pg_sys::index_getnext_slot(
                self.scan,
                pg_sys::ScanDirection::ForwardScanDirection,
                self.slot,
            ) {
                pg_sys::slot_getallattrs(self.slot);
                true
            } else {
                false
            }
        }
    }

    /// Attribute `i` (0-based) of the current row.
    pub fn datum(&self, i: usize) -> Option<pg_sys::Datum> {
        // SAFETY: next() returned true and deformed every attribute.
        unsafe {
            if *(*self.slot).tts_isnull.add(i) {
                None
            } else {
                Some(*(*self.slot).tts_values.add(i))
            }
        }
    }

    /// The current row's TID.
    pub fn tid(&self) -> pg_sys::ItemPointerData {
        // SAFETY: next() returned true.
        unsafe { (*self.slot).tts_tid }
    }

    /// Copies of the current row's values and null flags, for forming a new version of it.
    pub fn row(&self, natts: usize) -> (Vec<pg_sys::Datum>, Vec<bool>) {
        // SAFETY: next() returned true; the datums stay valid while the slot holds the row (the
        // caller forms the new version before moving the scan).
        unsafe {
            (
                (0..natts)
                    .map(|i| *(*self.slot).tts_values.add(i))
                    .collect(),
                (0..natts)
                    .map(|i| *(*self.slot).tts_isnull.add(i))
                    .collect(),
            )
        }
    }
}

impl Drop for IndexScan {
    fn drop(&mut self) {
        // SAFETY: begun in new().
        unsafe {
            pg_sys::index_endscan(self.scan);
            pg_sys::ExecDropSingleTupleTableSlot(self.slot);
        }
    }
}

/// A snapshot for reading the queue's current state: a fresh one in READ COMMITTED (what a new
/// statement would see), the transaction's in REPEATABLE READ and SERIALIZABLE. Registered, and
/// unregistered on drop.
pub struct Snap(pub pg_sys::Snapshot);

impl Snap {
    pub fn fresh() -> Snap {
        // SAFETY: plain snapshot API calls inside a transaction.
        unsafe {
            let s = if pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 {
                pg_sys::GetTransactionSnapshot()
            } else {
                pg_sys::GetLatestSnapshot()
            };
            Snap(pg_sys::RegisterSnapshot(s))
        }
    }
}

impl Drop for Snap {
    fn drop(&mut self) {
        // SAFETY: registered in fresh().
        unsafe { pg_sys::UnregisterSnapshot(self.0) };
    }
}

/// Whether the transaction uses one snapshot for all its statements (REPEATABLE READ or
/// SERIALIZABLE): then a row changed by another transaction since that snapshot cannot be worked
/// on, and the call fails with a serialization failure as an UPDATE would.
pub fn xact_snapshot() -> bool {
    // SAFETY: a plain read of the session's isolation level.
    unsafe { pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 }
}
