//! Writing rows without the executor: heap_insert / heap_update and the index entries they need.
//!
//! The queue functions write a handful of rows per call; planning and starting an executor for
//! each statement cost more than the writes (docs/design.md, "The hot path"). Rows are formed
//! from Datums in the relation's own attribute order (positions from src/native/catalog.rs),
//! the row rules of src/rules.rs are checked by the caller before a write, and every index of the
//! table gets its entry the way the executor would make it (partial index predicates, expression
//! indexes, uniqueness, the "unchanged key" hint of bottom-up deletion).
//!
//! What the executor would do and this does not: fire row triggers and rules, check row-level
//! security and table privileges (EXECUTE on the function is the right to call it), deferred
//! uniqueness and exclusion constraints (the extension's tables have none; Table::open refuses an
//! index that needs them).
use crate::errors::{JobError, JobResult};
use pgrx::pg_sys;
use std::ptr;

/// One call's executor state: expression contexts for index predicates and expressions, and the
/// command id every write of the call uses.
pub struct Session {
    pub estate: *mut pg_sys::EState,
    pub cid: pg_sys::CommandId,
}

impl Session {
    /// Make this call's writes so far visible to what it reads next (CommandCounterIncrement), and
    /// write from now on with the new command id.
    pub fn next_command(&mut self) {
        // SAFETY: plain calls of the command counter API inside a transaction.
        unsafe {
            pg_sys::CommandCounterIncrement();
            self.cid = pg_sys::GetCurrentCommandId(true);
        }
    }
}

impl Session {
    pub fn new() -> Self {
        // SAFETY: plain allocations in the current memory context. Like an SPI statement, a call
        // first makes the writes made so far in its transaction visible (an earlier call in the
        // same query: claim_jobs then complete_jobs), then writes under a command id of its own.
        unsafe {
            pg_sys::CommandCounterIncrement();
            Session {
                estate: pg_sys::CreateExecutorState(),
                cid: pg_sys::GetCurrentCommandId(true),
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the EState was created in new() and is freed once.
        unsafe { pg_sys::FreeExecutorState(self.estate) };
    }
}

struct Index {
    rel: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    predicate: *mut pg_sys::ExprState,
    /// Heap attribute numbers (1-based) of the key and included columns; 0 for an expression.
    attnums: Vec<i16>,
}

/// A table opened for writing, with its indexes.
pub struct Table {
    pub rel: pg_sys::Relation,
    indexes: Vec<Index>,
    slot: *mut pg_sys::TupleTableSlot,
}

/// The outcome of an update.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Updated {
    Ok,
    /// Another transaction updated or deleted the row since the caller read it (committed), or
    /// (without waiting) holds it.
    Changed,
}

impl Table {
    /// Open `oid` with RowExclusiveLock and its indexes.
    pub fn open(s: &Session, oid: pg_sys::Oid) -> JobResult<Table> {
        // SAFETY: the relation is looked up by OID under a lock kept to the end of the transaction;
        // index descriptors, their IndexInfo and predicates are built as ExecOpenIndices does.
        unsafe {
            let rel = pg_sys::table_open(oid, pg_sys::RowExclusiveLock as i32);
            let mut indexes = Vec::new();
            let list = pg_sys::RelationGetIndexList(rel);
            if !list.is_null() {
                let n = (*list).length;
                for i in 0..n {
                    let index_oid = (*(*list).elements.add(i as usize)).oid_value;
                    let irel = pg_sys::index_open(index_oid, pg_sys::RowExclusiveLock as i32);
                    let info = pg_sys::BuildIndexInfo(irel);
                    if !(*(*irel).rd_index).indimmediate || !(*info).ii_ExclusionOps.is_null() {
                        return Err(JobError::Internal {
                            context: "write",
                            error: "an index with a deferred or exclusion constraint on a table of mcp_jobs is not supported".into(),
                        });
                    }
                    let predicate = if (*info).ii_Predicate.is_null() {
                        ptr::null_mut()
                    } else {
                        pg_sys::ExecPrepareQual((*info).ii_Predicate, s.estate)
                    };
                    let natts = (*info).ii_NumIndexAttrs as usize;
                    let attnums = (0..natts).map(|k| (*info).ii_IndexAttrNumbers[k]).collect();
                    indexes.push(Index {
                        rel: irel,
                        info,
                        predicate,
                        attnums,
                    });
                }
                pg_sys::list_free(list);
            }
            let slot = pg_sys::MakeSingleTupleTableSlot((*rel).rd_att, &pg_sys::TTSOpsHeapTuple);
            Ok(Table { rel, indexes, slot })
        }
    }

    pub fn desc(&self) -> pg_sys::TupleDesc {
        // SAFETY: an open relation.
        unsafe { (*self.rel).rd_att }
    }

    /// Insert a row; returns its TID.
    pub fn insert(
        &mut self,
        s: &Session,
        values: &mut [pg_sys::Datum],
        nulls: &mut [bool],
    ) -> pg_sys::ItemPointerData {
        // SAFETY: values/nulls have one entry per attribute of the relation (the callers build
        // them from the catalog's natts); heap_insert WAL-logs, toasts and counts the row.
        unsafe {
            let tup = pg_sys::heap_form_tuple(self.desc(), values.as_mut_ptr(), nulls.as_mut_ptr());
            pg_sys::heap_insert(self.rel, tup, s.cid, 0, ptr::null_mut());
            self.index(s, tup, None);
            let tid = (*tup).t_self;
            pg_sys::heap_freetuple(tup);
            tid
        }
    }

    /// Update the row at `tid` to `values`. `changed[i]` says whether attribute i changed (for the
    /// index hint). With `wait`, waits for a transaction that holds the row; without, reports it
    /// as Changed (SKIP LOCKED). Returns the new TID on success.
    pub fn update(
        &mut self,
        s: &Session,
        tid: pg_sys::ItemPointerData,
        values: &mut [pg_sys::Datum],
        nulls: &mut [bool],
        changed: &[bool],
        wait: bool,
    ) -> JobResult<(Updated, pg_sys::ItemPointerData)> {
        // SAFETY: as insert; heap_update checks the row's current version itself and refuses
        // (TM_Updated, TM_Deleted, TM_BeingModified without wait) rather than overwrite a newer one.
        unsafe {
            let newtup =
                pg_sys::heap_form_tuple(self.desc(), values.as_mut_ptr(), nulls.as_mut_ptr());
            let mut otid = tid;
            let mut tmfd: pg_sys::TM_FailureData = std::mem::zeroed();
            let mut lockmode: pg_sys::LockTupleMode::Type = 0;
            let mut r = pg_sys::heap_update(
                self.rel,
                &mut otid,
                newtup,
                s.cid,
                ptr::null_mut(),
                wait,
                &mut tmfd,
                &mut lockmode,
            );
            // "being modified" by a lock of this very transaction (an earlier UPDATE or ON
            // CONFLICT carried its row lock to the new version): not another worker's, so update
            // it, which waits for no one
            if !wait
                && r == pg_sys::TM_Result::TM_BeingModified
                && pg_sys::TransactionIdIsCurrentTransactionId(tmfd.xmax)
            {
                r = pg_sys::heap_update(
                    self.rel,
                    &mut otid,
                    newtup,
                    s.cid,
                    ptr::null_mut(),
                    true,
                    &mut tmfd,
                    &mut lockmode,
                );
            }
            let out = match r {
                pg_sys::TM_Result::TM_Ok => {
                    let heap_only =
                        (*(*newtup).t_data).t_infomask2 & (pg_sys::HEAP_ONLY_TUPLE as u16) != 0;
                    if !heap_only {
                        self.index(s, newtup, Some(changed));
                    }
                    Ok((Updated::Ok, (*newtup).t_self))
                }
                // changed by another transaction (committed, or in progress when not waiting), or
                // by this one earlier in the same call
                pg_sys::TM_Result::TM_Updated
                | pg_sys::TM_Result::TM_Deleted
                | pg_sys::TM_Result::TM_BeingModified
                | pg_sys::TM_Result::TM_WouldBlock
                | pg_sys::TM_Result::TM_SelfModified => Ok((Updated::Changed, tid)),
                other => Err(JobError::Internal {
                    context: "write",
                    error: format!("unexpected result {other} of heap_update"),
                }),
            };
            pg_sys::heap_freetuple(newtup);
            out
        }
    }

    /// Make the index entries of a new row version.
    unsafe fn index(&mut self, s: &Session, tup: pg_sys::HeapTuple, changed: Option<&[bool]>) {
        if self.indexes.is_empty() {
            return;
        }
        // SAFETY: the slot has this relation's descriptor; the econtext is the estate's per-tuple
        // context, reset after each row as the executor does.
        unsafe {
            pg_sys::ExecStoreHeapTuple(tup, self.slot, false);
            let econtext = if (*s.estate).es_per_tuple_exprcontext.is_null() {
                pg_sys::MakePerTupleExprContext(s.estate)
            } else {
                (*s.estate).es_per_tuple_exprcontext
            };
            (*econtext).ecxt_scantuple = self.slot;
            let mut values = [pg_sys::Datum::from(0); pg_sys::INDEX_MAX_KEYS as usize];
            let mut isnull = [false; pg_sys::INDEX_MAX_KEYS as usize];
            for idx in &self.indexes {
                if !idx.predicate.is_null() && !pg_sys::ExecQual(idx.predicate, econtext) {
                    continue;
                }
                pg_sys::FormIndexDatum(
                    idx.info,
                    self.slot,
                    s.estate,
                    values.as_mut_ptr(),
                    isnull.as_mut_ptr(),
                );
                // the "unchanged" hint (bottom-up deletion) when no column of the index changed
                let unchanged = match changed {
                    Some(c) => idx
                        .attnums
                        .iter()
                        .all(|&a| a > 0 && !c.get(a as usize - 1).copied().unwrap_or(true)),
                    None => false,
                };
                let check = if (*idx.info).ii_Unique {
                    pg_sys::IndexUniqueCheck::UNIQUE_CHECK_YES
                } else {
                    pg_sys::IndexUniqueCheck::UNIQUE_CHECK_NO
                };
                pg_sys::index_insert(
                    idx.rel,
                    values.as_mut_ptr(),
                    isnull.as_mut_ptr(),
                    &mut (*tup).t_self,
                    self.rel,
                    check,
                    unchanged,
                    idx.info,
                );
            }
            pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
            pg_sys::ExecClearTuple(self.slot);
        }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // SAFETY: opened in open(); locks are kept to the end of the transaction (NoLock).
        unsafe {
            pg_sys::ExecDropSingleTupleTableSlot(self.slot);
            for idx in &self.indexes {
                pg_sys::index_close(idx.rel, pg_sys::NoLock as i32);
            }
            pg_sys::table_close(self.rel, pg_sys::NoLock as i32);
        }
    }
}
