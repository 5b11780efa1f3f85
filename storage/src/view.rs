//! Read views: what one statement can see, detached from its transaction.
//!
//! A `ReadView` is a snapshot, the reader's id and command id, and the catalog
//! and storage it pairs with. It is cheap to clone and `Send`, so a query
//! engine (DataFusion) can scan with it from any task while the transaction
//! stays where it is. Scans hold a chunk's read lock only while visiting that
//! chunk's 1024 slots.

use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use crate::catalog::{Catalog, TableDef};
use crate::index::Index;
use crate::row::RowBuf;
use crate::table::{CHUNK_BITS, TableData};
use crate::txn::{DataMap, Snapshot};
use crate::version::View;
use crate::{RowId, TxnId};

#[derive(Clone)]
pub struct ReadView {
    pub snapshot: Arc<Snapshot>,
    pub me: TxnId,
    pub cid: u32,
    pub catalog: Arc<Catalog>,
    pub data: Arc<DataMap>,
}

impl ReadView {
    pub fn view(&self) -> View<'_> {
        View { snapshot: &self.snapshot, me: self.me, cid: self.cid }
    }

    pub fn table_data(&self, def: &TableDef) -> Option<Arc<TableData>> {
        self.data.get(&def.relfilenode).cloned()
    }

    /// The visible version of one row, copied out.
    pub fn get(&self, def: &TableDef, rowid: RowId) -> Option<RowBuf> {
        let data = self.table_data(def)?;
        let view = self.view();
        data.with_chain(rowid, |chain| view.find(chain).map(|i| chain[i].row.clone())).flatten()
    }

    /// Calls `f(rowid, row)` for every visible row, in row id order, until it breaks.
    pub fn scan(&self, def: &TableDef, mut f: impl FnMut(RowId, &[u8]) -> ControlFlow<()>) {
        self.scan_from(def, 0, |r, row| f(r, row));
    }

    /// Like `scan`, starting at row id `from`; returns where a resumed scan should
    /// continue (`None` when the table was exhausted).
    pub fn scan_from(&self, def: &TableDef, from: RowId, mut f: impl FnMut(RowId, &[u8]) -> ControlFlow<()>) -> Option<RowId> {
        let data = self.table_data(def)?;
        let view = self.view();
        let chunks = data.chunks();
        let first_chunk = (from >> CHUNK_BITS) as usize;
        for (ci, chunk) in chunks.iter().enumerate().skip(first_chunk) {
            let slots = chunk.slots.read();
            let base = (ci as u64) << CHUNK_BITS;
            let start = if ci == first_chunk { (from - base) as usize } else { 0 };
            for (si, chain) in slots.iter().enumerate().skip(start) {
                if chain.is_empty() {
                    continue;
                }
                if let Some(i) = view.find(chain) {
                    let rowid = base + si as u64;
                    if f(rowid, &chain[i].row).is_break() {
                        return Some(rowid + 1);
                    }
                }
            }
        }
        None
    }

    /// Visible rows among candidate row ids (from an index), in the given order.
    pub fn fetch(&self, def: &TableDef, rowids: &[RowId], mut f: impl FnMut(RowId, &[u8]) -> ControlFlow<()>) {
        let Some(data) = self.table_data(def) else { return };
        let view = self.view();
        for &r in rowids {
            let flow = data.with_chain(r, |chain| match view.find(chain) {
                Some(i) => f(r, &chain[i].row),
                None => ControlFlow::Continue(()),
            });
            if let Some(ControlFlow::Break(())) = flow {
                return;
            }
        }
    }

    pub fn index(&self, def: &TableDef, index_id: u32) -> Option<Arc<Index>> {
        self.table_data(def)?.index(index_id)
    }

    /// Candidate row ids of an index range (see `Index::range`); the caller
    /// fetches them and re-checks the key against the visible version.
    pub fn index_range(&self, def: &TableDef, index_id: u32, lower: Bound<&[u8]>, upper: Bound<&[u8]>, limit: usize) -> Vec<RowId> {
        match self.index(def, index_id) {
            Some(idx) => idx.range(lower, upper, limit),
            None => Vec::new(),
        }
    }
}
