//! A table's rows in memory.
//!
//! Rows are addressed by a row id that never changes and is never reused: it is
//! how the WAL names a row, so a replica can apply "update row 17" without
//! knowing the table's keys. Row ids index a two-level array of slots; each slot
//! holds the row's version chain:
//!
//! ```text
//!   chunks: [ Chunk 0 ][ Chunk 1 ] …        rowid r lives in chunk r / 1024, slot r % 1024
//!              │ RwLock
//!              ▼
//!            slot 0: [v1, v2]   slot 1: []  (deleted and collected)   slot 2: [v1] …
//! ```
//!
//! One lock per chunk keeps memory small (no lock per row) and makes a scan one
//! lock acquisition per 1024 rows. Writers hold a chunk lock only for the few
//! instructions that check and stamp a version, never while waiting for anything.
//! Lock order, everywhere: index lock → chunk lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::RowId;
use crate::catalog::{IndexDef, RelFileNode};
use crate::index::Index;
use crate::version::Version;

pub const CHUNK_BITS: u32 = 10;
pub const CHUNK_SIZE: usize = 1 << CHUNK_BITS;

/// A row's versions, oldest first; the usual single version lives inline in the chunk.
pub type Chain = smallvec::SmallVec<[Version; 1]>;

pub struct Chunk {
    pub slots: RwLock<Box<[Chain]>>,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk { slots: RwLock::new((0..CHUNK_SIZE).map(|_| Chain::new()).collect()) }
    }
}

pub struct TableData {
    pub relfilenode: RelFileNode,
    pub table_id: u32,
    chunks: RwLock<Vec<Arc<Chunk>>>,
    next_rowid: AtomicU64,
    /// Copy-on-write list, sorted by id: writers read it on every row.
    indexes: RwLock<Arc<Vec<Arc<Index>>>>,
    /// Versions made obsolete since the last vacuum pass (a trigger, not an exact count).
    pub dead_versions: AtomicU64,
}

impl TableData {
    pub fn new(table_id: u32, relfilenode: RelFileNode) -> TableData {
        TableData {
            relfilenode,
            table_id,
            chunks: RwLock::new(Vec::new()),
            next_rowid: AtomicU64::new(1),
            indexes: RwLock::new(Arc::new(Vec::new())),
            dead_versions: AtomicU64::new(0),
        }
    }

    /// Reserves `n` consecutive fresh row ids (and makes sure their slots
    /// exist), returning the first.
    pub fn alloc_rowids(&self, n: u64) -> RowId {
        let r = self.next_rowid.fetch_add(n, Ordering::Relaxed);
        self.ensure_slot(r + n.saturating_sub(1));
        r
    }

    pub fn next_rowid(&self) -> RowId {
        self.next_rowid.load(Ordering::Relaxed)
    }

    /// Makes sure ids up to `r` will not be handed out again (replay, checkpoint load).
    pub fn bump_rowid(&self, r: RowId) {
        self.next_rowid.fetch_max(r + 1, Ordering::Relaxed);
        self.ensure_slot(r);
    }

    fn ensure_slot(&self, r: RowId) {
        let need = (r >> CHUNK_BITS) as usize + 1;
        if self.chunks.read().len() >= need {
            return;
        }
        let mut chunks = self.chunks.write();
        while chunks.len() < need {
            chunks.push(Arc::new(Chunk::new()));
        }
    }

    /// The chunk holding `r` and the slot's position in it.
    pub fn chunk_of(&self, r: RowId) -> Option<(Arc<Chunk>, usize)> {
        let chunks = self.chunks.read();
        let c = chunks.get((r >> CHUNK_BITS) as usize)?.clone();
        Some((c, (r as usize) & (CHUNK_SIZE - 1)))
    }

    /// Runs `f` on the version chain of row `r` under a read lock.
    /// (Directory lock, then chunk lock: the directory is only written when it
    /// grows, by code that holds no chunk lock. The directory read is recursive
    /// so a waiting grower can never deadlock a reader that nests.)
    #[inline]
    pub fn with_chain<T>(&self, r: RowId, f: impl FnOnce(&Chain) -> T) -> Option<T> {
        let dir = self.chunks.read_recursive();
        let chunk = dir.get((r >> CHUNK_BITS) as usize)?;
        let slots = chunk.slots.read();
        Some(f(&slots[(r as usize) & (CHUNK_SIZE - 1)]))
    }

    /// Runs `f` on the version chain of row `r` under a write lock.
    #[inline]
    pub fn with_chain_mut<T>(&self, r: RowId, f: impl FnOnce(&mut Chain) -> T) -> Option<T> {
        let dir = self.chunks.read_recursive();
        let chunk = dir.get((r >> CHUNK_BITS) as usize)?;
        let mut slots = chunk.slots.write();
        Some(f(&mut slots[(r as usize) & (CHUNK_SIZE - 1)]))
    }

    /// Runs `f` on the version chain of every row in `rows`, taking each
    /// chunk's write lock once for all its rows (bulk inserts, commit stamps)
    /// instead of once per row. Rows past the allocated slots are skipped.
    pub fn with_chains_mut(&self, rows: std::ops::Range<RowId>, mut f: impl FnMut(RowId, &mut Chain)) {
        let dir = self.chunks.read_recursive();
        let mut r = rows.start;
        while r < rows.end {
            let Some(chunk) = dir.get((r >> CHUNK_BITS) as usize) else { return };
            let chunk_end = ((r >> CHUNK_BITS) + 1) << CHUNK_BITS;
            let end = rows.end.min(chunk_end);
            let mut slots = chunk.slots.write();
            for row in r..end {
                f(row, &mut slots[(row as usize) & (CHUNK_SIZE - 1)]);
            }
            r = end;
        }
    }

    /// A consistent list of the chunks existing now (scans iterate it without
    /// holding the directory lock).
    pub fn chunks(&self) -> Vec<Arc<Chunk>> {
        self.chunks.read().clone()
    }

    pub fn index(&self, id: u32) -> Option<Arc<Index>> {
        self.indexes.read().iter().find(|i| i.id == id).cloned()
    }

    pub fn indexes(&self) -> Arc<Vec<Arc<Index>>> {
        self.indexes.read().clone()
    }

    pub fn add_index(&self, index: Arc<Index>) {
        let mut guard = self.indexes.write();
        let mut v: Vec<Arc<Index>> = guard.iter().filter(|i| i.id != index.id).cloned().collect();
        v.push(index);
        v.sort_by_key(|i| i.id);
        *guard = Arc::new(v);
    }

    pub fn drop_index(&self, id: u32) {
        let mut guard = self.indexes.write();
        let v: Vec<Arc<Index>> = guard.iter().filter(|i| i.id != id).cloned().collect();
        *guard = Arc::new(v);
    }

    /// Ids of the indexes this storage maintains.
    pub fn index_ids(&self) -> Vec<u32> {
        self.indexes.read().iter().map(|i| i.id).collect()
    }

    /// Creates the in-memory index for a definition (empty: the caller fills it).
    pub fn new_index(def: &IndexDef) -> Arc<Index> {
        Arc::new(Index::new(def.id, def.name.clone(), def.columns.clone(), def.unique))
    }

    /// Number of slots that hold at least one version (a cheap size estimate).
    pub fn approx_rows(&self) -> u64 {
        let mut n = 0;
        for c in self.chunks() {
            n += c.slots.read().iter().filter(|s| !s.is_empty()).count() as u64;
        }
        n
    }
}
