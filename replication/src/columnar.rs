//! The standby's column store: per table, immutable Arrow segments, an append
//! delta and delete vectors, published as immutable snapshots.
//!
//! ```text
//!   TableState (apply side, one owner)              ColumnSnapshot (queries, shared)
//!   ┌──────────────────────────────────────┐        ┌─────────────────────────────────┐
//!   │ segments: [Arc<Segment> + live mask]  │──────► │ lsn, catalog                    │
//!   │ delta:    rows since the last publish │ publish│ tables: id → Arc<TableSnapshot> │
//!   │ locs:     row id → (segment, offset)  │        │   segments: Arc<Segment> + mask │
//!   └──────────────────────────────────────┘        └─────────────────────────────────┘
//! ```
//!
//! A row is inserted into the delta; a delete clears its bit in the live mask
//! of the segment that holds it; an update is a delete plus an insert. Row ids
//! come from the primary and never change, so the WAL can name rows by them;
//! `locs` finds a row by its id in a fraction of a byte per row while rows sit
//! in row-id order (`row_locations`).
//!
//! The delta is sealed into a segment every `MAX_DELTA_ROWS` rows, also in
//! the middle of a transaction; when memory is short such a segment goes
//! straight to the writer thread (`segment_writer`), which writes its Parquet
//! file and evicts it, so a transaction larger than memory never is in memory
//! whole.
//!
//! `publish` runs between transactions. It seals each changed table's delta
//! into a new segment, freezes the live masks it changed (copies: the previous
//! snapshot keeps its own), folds small or mostly-dead segments together
//! (compaction), and installs a new `ColumnSnapshot`. Readers hold an `Arc` of
//! the snapshot they started with, so a long query keeps exactly the segments
//! it began with while apply goes on, and apply never waits for it.
//!
//! A segment's rows may be in memory, in a Parquet file, or both (`segment`):
//! compaction merges only segments in memory and asks for the others to be
//! loaded off the apply path (`take_wanted`), so apply never waits for I/O.
//!
//! Segments are positional by *physical* column (a table's column list with
//! dropped columns kept), so ADD/DROP COLUMN need not rewrite data: a segment
//! built before a column was added reads that column's "missing" value.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion::arrow::array::BooleanBufferBuilder;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, UInt64Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::{concat, filter};
use datafusion::arrow::record_batch::RecordBatch;
use duetdb_storage::arrow_conv::{BatchBuilder, arrow_type};
use duetdb_storage::catalog::{Catalog, TableDef};
use duetdb_storage::wal::record::Change;
use duetdb_storage::{Lsn, RowId};
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::row_locations::RowLocations;
use crate::segment::rowids_of;
pub use crate::segment::{Segment, SegmentPool};
use crate::segment_writer::SealedWriter;

/// Segments below this many rows are merged with others at publish time.
pub const SMALL_SEGMENT_ROWS: usize = 64 * 1024;
/// The delta is sealed once it holds this many rows, even inside one
/// transaction: segments stay a size that persists, evicts and scans in
/// parallel well, however large a transaction is.
pub const MAX_DELTA_ROWS: usize = 4 * crate::segment::ROW_GROUP_ROWS;
/// Merge once a table has this many small segments.
const MAX_SMALL_SEGMENTS: usize = 8;
/// Rewrite a segment once fewer than this fraction of its rows are live.
const MIN_LIVE_FRACTION: f64 = 0.5;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("WAL names table {0}, which the standby's catalog does not have")]
    UnknownTable(u32),
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("{0}")]
    Invalid(String),
    #[error("local WAL: {0}")]
    Io(#[from] std::io::Error),
}

/// A segment as one snapshot sees it.
#[derive(Clone, Debug)]
pub struct SegmentView {
    pub segment: Arc<Segment>,
    /// Live rows (None: all of them).
    pub live: Option<BooleanBuffer>,
    pub live_rows: usize,
}

impl SegmentView {
    /// The live mask as a filter (None: every row is live).
    pub fn live_filter(&self) -> Option<BooleanArray> {
        self.live.as_ref().map(|b| BooleanArray::new(b.clone(), None))
    }

    /// The live rows as `__rowid` + physical columns `cols`, read from the
    /// file when the segment is not in memory (promotion writes these out).
    pub async fn read_live(&self, def: &TableDef, cols: &[usize]) -> Result<Vec<ArrayRef>, ApplyError> {
        let batch = self.segment.read().await.map_err(|e| ApplyError::Invalid(format!("reading a segment: {e}")))?;
        let mut out = Vec::with_capacity(cols.len() + 1);
        out.push(batch.column(0).clone());
        out.extend(cols.iter().map(|&p| self.segment.column_of(&batch, def, p)));
        match self.live_filter() {
            Some(m) => Ok(out.iter().map(|a| filter(a, &m)).collect::<Result<_, _>>()?),
            None => Ok(out),
        }
    }
}

#[derive(Debug)]
pub struct TableSnapshot {
    pub def: Arc<TableDef>,
    pub segments: Vec<SegmentView>,
    pub rows: usize,
}

impl TableSnapshot {
    /// Bytes of the table: in memory where resident, on disk where not.
    pub fn bytes(&self) -> usize {
        self.segments.iter().map(|s| s.segment.bytes()).sum()
    }
}

/// What one query sees: every table as of one applied LSN.
#[derive(Debug)]
pub struct ColumnSnapshot {
    pub lsn: Lsn,
    pub catalog: Arc<Catalog>,
    pub tables: HashMap<u32, Arc<TableSnapshot>>,
}

impl ColumnSnapshot {
    /// Every segment of the snapshot.
    pub fn segments(&self) -> impl Iterator<Item = &Arc<Segment>> {
        self.tables.values().flat_map(|t| t.segments.iter().map(|v| &v.segment))
    }
}

// ---------------------------------------------------------------------------
// The apply side
// ---------------------------------------------------------------------------

const DELTA: u32 = u32::MAX;

struct WorkSegment {
    segment: Arc<Segment>,
    /// The live mask being edited, if any row of the segment was deleted.
    live: Option<BooleanBufferBuilder>,
    /// The mask the last snapshot got (reused while `dirty` is false).
    published: Option<BooleanBuffer>,
    dirty: bool,
    live_rows: usize,
}

impl WorkSegment {
    fn new(segment: Arc<Segment>, live: Option<BooleanBufferBuilder>) -> WorkSegment {
        let live_rows = match &live {
            Some(b) => b.finish_cloned().count_set_bits(),
            None => segment.rows(),
        };
        WorkSegment { segment, published: None, dirty: live.is_some(), live, live_rows }
    }

    fn view(&mut self) -> SegmentView {
        if self.dirty {
            self.published = self.live.as_ref().map(|b| b.finish_cloned());
            self.dirty = false;
        }
        SegmentView { segment: self.segment.clone(), live: self.published.clone(), live_rows: self.live_rows }
    }
}

/// What every table of one store shares.
#[derive(Clone)]
struct TableEnv {
    pool: Arc<SegmentPool>,
    /// Writes segments sealed mid-transaction while the pool is over its limit.
    writer: Option<Arc<SealedWriter>>,
    /// Rows at which the delta is sealed (`MAX_DELTA_ROWS`).
    seal_rows: usize,
}

struct TableState {
    def: Arc<TableDef>,
    env: TableEnv,
    /// Stable slots: compaction empties slots, it never moves a segment.
    segments: Vec<Option<WorkSegment>>,
    delta: BatchBuilder,
    delta_live: Vec<bool>,
    /// Row id → (segment slot, offset), the DELTA slot for the delta.
    locs: RowLocations,
    rows: usize,
    changed: bool,
    published: Option<Arc<TableSnapshot>>,
}

fn delta_builder(def: &TableDef) -> BatchBuilder {
    let cols: Vec<usize> = (0..def.columns.len()).collect();
    BatchBuilder::new(def, &cols, true, physical_schema(def), 1024)
}

/// `__rowid` + every physical column (dropped ones included, as named slots).
fn physical_schema(def: &TableDef) -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::{DataType as A, Field, Schema};
    let mut fields = vec![Field::new("__rowid", A::UInt64, false)];
    for (i, c) in def.columns.iter().enumerate() {
        // Column names make the persisted Parquet readable on its own; reads
        // here go by position (`col_of`), so a later rename changes nothing.
        let name = if c.dropped { format!("__dropped_{i}") } else { c.name.clone() };
        fields.push(Field::new(name, arrow_type(&c.ty), true));
    }
    Arc::new(Schema::new(fields))
}

impl TableState {
    fn new(def: Arc<TableDef>, env: TableEnv) -> TableState {
        TableState {
            delta: delta_builder(&def),
            def,
            env,
            segments: Vec::new(),
            delta_live: Vec::new(),
            locs: RowLocations::new(),
            rows: 0,
            changed: true,
            published: None,
        }
    }

    /// Adds a segment whose rows are all new (base backup, sealed delta,
    /// merge, restart); `rowids` are its row ids in order.
    fn add_segment(&mut self, segment: Arc<Segment>, live: Option<BooleanBufferBuilder>, rowids: &UInt64Array) {
        let slot = self.segments.len() as u32;
        assert!(slot < DELTA, "segment slots exhausted");
        assert_eq!(rowids.len(), segment.rows(), "one row id per row of the segment");
        self.locs.assign(rowids.values(), |i| live.as_ref().is_none_or(|b| b.get_bit(i)), slot);
        self.segments.push(Some(WorkSegment::new(segment, live)));
        self.changed = true;
    }

    fn insert(&mut self, rowid: RowId, row: &[u8]) {
        if self.locs.get(rowid).is_some() {
            self.delete(rowid);
        }
        if self.delta.len() >= self.env.seal_rows {
            self.seal_delta();
            self.write_out_sealed();
        }
        let offset = self.delta.len() as u32;
        self.delta.push(rowid, row);
        self.delta_live.push(true);
        self.locs.set(rowid, DELTA, offset);
        self.rows += 1;
        self.changed = true;
    }

    fn delete(&mut self, rowid: RowId) {
        let Some((slot, offset)) = self.locs.clear(rowid) else { return };
        self.rows -= 1;
        self.changed = true;
        if slot == DELTA {
            self.delta_live[offset as usize] = false;
            return;
        }
        let ws = self.segments[slot as usize].as_mut().expect("a located row's segment exists");
        let live = ws.live.get_or_insert_with(|| {
            let mut b = BooleanBufferBuilder::new(ws.segment.rows());
            b.append_n(ws.segment.rows(), true);
            b
        });
        debug_assert!(live.get_bit(offset as usize), "deleting a row twice");
        live.set_bit(offset as usize, false);
        ws.live_rows -= 1;
        ws.dirty = true;
    }

    /// Moves the delta into a segment of its own.
    fn seal_delta(&mut self) {
        if self.delta.is_empty() {
            return;
        }
        let batch = self.delta.finish();
        let col_of = (0..self.def.columns.len()).map(|i| Some(i + 1)).collect();
        let live_flags = std::mem::take(&mut self.delta_live);
        let live = (!live_flags.iter().all(|&l| l)).then(|| {
            let mut b = BooleanBufferBuilder::new(live_flags.len());
            for l in &live_flags {
                b.append(*l);
            }
            b
        });
        let rowids = rowids_of(&batch).clone();
        self.add_segment(Segment::in_memory(batch, col_of, &self.env.pool), live, &rowids);
    }

    /// Hands the segment just sealed to the writer when memory is short: a
    /// transaction larger than the pool must not stay resident until it is
    /// published and persisted (`segment_writer`).
    fn write_out_sealed(&mut self) {
        let Some(writer) = &self.env.writer else { return };
        if !self.env.pool.over_limit() {
            return;
        }
        let Some(Some(ws)) = self.segments.last() else { return };
        writer.submit(ws.segment.clone(), format!("{}_sealed", self.def.id));
    }

    /// Merges small segments into one, and rewrites mostly-dead ones. Only
    /// segments in memory are merged; a candidate that is not is returned,
    /// to be loaded for a later round.
    fn compact(&mut self) -> Result<Vec<Arc<Segment>>, ApplyError> {
        let small: Vec<usize> = self
            .segments
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|s| s.live_rows < SMALL_SEGMENT_ROWS).map(|_| i))
            .collect();
        let mut candidates: Vec<usize> = if small.len() >= MAX_SMALL_SEGMENTS { small } else { Vec::new() };
        for (i, s) in self.segments.iter().enumerate() {
            if let Some(s) = s
                && !candidates.contains(&i)
                && (s.live_rows as f64) < MIN_LIVE_FRACTION * s.segment.rows() as f64
            {
                candidates.push(i);
            }
        }
        let mut wanted = Vec::new();
        let mut merge: Vec<(usize, RecordBatch)> = Vec::new();
        for i in candidates {
            let ws = self.segments[i].as_ref().expect("candidates exist");
            if ws.live_rows == 0 {
                // Nothing to keep: no data needed.
                self.segments[i] = None;
                self.changed = true;
                continue;
            }
            match ws.segment.data() {
                Some(batch) => merge.push((i, batch)),
                None => {
                    if !ws.segment.load_requested.swap(true, Ordering::Relaxed) {
                        wanted.push(ws.segment.clone());
                    }
                }
            }
        }
        // One segment alone is merged only to drop its dead rows.
        if merge.len() == 1 {
            let ws = self.segments[merge[0].0].as_ref().expect("candidates exist");
            if ws.live_rows == ws.segment.rows() {
                return Ok(wanted);
            }
        }
        if merge.is_empty() {
            return Ok(wanted);
        }
        // Merge in groups of at most `seal_rows` live rows (a segment
        // larger than that on its own is rewritten alone).
        let mut groups: Vec<Vec<(usize, RecordBatch)>> = vec![Vec::new()];
        let mut rows = 0;
        for (i, batch) in merge {
            let live = self.segments[i].as_ref().expect("merge candidates exist").live_rows;
            if rows > 0 && rows + live > self.env.seal_rows {
                groups.push(Vec::new());
                rows = 0;
            }
            rows += live;
            groups.last_mut().expect("a group").push((i, batch));
        }
        for group in groups {
            self.merge(group)?;
        }
        Ok(wanted)
    }

    /// Replaces segments (slot, data) with one segment of their live rows.
    fn merge(&mut self, group: Vec<(usize, RecordBatch)>) -> Result<(), ApplyError> {
        let def = self.def.clone();
        let ncols = def.columns.len();
        let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); ncols + 1];
        for (i, batch) in group {
            let mut ws = self.segments[i].take().expect("merge candidates exist");
            let view = ws.view();
            let mask = view.live_filter();
            let mut cols = vec![batch.column(0).clone()];
            cols.extend((0..ncols).map(|p| view.segment.column_of(&batch, &def, p)));
            for (p, a) in cols.into_iter().enumerate() {
                parts[p].push(match &mask {
                    Some(m) => filter(&a, m)?,
                    None => a,
                });
            }
        }
        let arrays =
            parts.iter().map(|p| concat(&p.iter().map(|a| a.as_ref()).collect::<Vec<&dyn Array>>())).collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(physical_schema(&def), arrays)?;
        let col_of = (0..ncols).map(|i| Some(i + 1)).collect();
        let rowids = rowids_of(&batch).clone();
        self.add_segment(Segment::in_memory(batch, col_of, &self.env.pool), None, &rowids);
        Ok(())
    }

    /// The table as of now, and segments compaction would like in memory.
    fn publish(&mut self) -> Result<(Arc<TableSnapshot>, Vec<Arc<Segment>>), ApplyError> {
        if !self.changed
            && let Some(p) = &self.published
        {
            return Ok((p.clone(), Vec::new()));
        }
        self.seal_delta();
        let wanted = self.compact()?;
        // Drop trailing empty slots so the slot vector does not grow forever
        // when segments keep being merged.
        while matches!(self.segments.last(), Some(None)) {
            self.segments.pop();
        }
        let segments: Vec<SegmentView> = self.segments.iter_mut().flatten().filter(|s| s.live_rows > 0).map(|s| s.view()).collect();
        debug_assert_eq!(segments.iter().map(|s| s.live_rows).sum::<usize>(), self.rows);
        let snap = Arc::new(TableSnapshot { def: self.def.clone(), segments, rows: self.rows });
        self.published = Some(snap.clone());
        self.changed = false;
        Ok((snap, wanted))
    }
}

/// The standby's column store: applied by one task, read by many.
pub struct ColumnStore {
    catalog: Arc<Catalog>,
    tables: HashMap<u32, TableState>,
    current: Arc<RwLock<Arc<ColumnSnapshot>>>,
    applied_tx: watch::Sender<Lsn>,
    /// Segments compaction wants in memory (see `take_wanted`).
    wanted: Vec<Arc<Segment>>,
    /// The segment pool, writer and segment size every table shares.
    env: TableEnv,
}

impl ColumnStore {
    pub fn new(catalog: Arc<Catalog>, lsn: Lsn, pool: Arc<SegmentPool>) -> ColumnStore {
        let env = TableEnv { pool, writer: None, seal_rows: MAX_DELTA_ROWS };
        let tables = catalog.tables.values().map(|d| (d.id, TableState::new(d.clone(), env.clone()))).collect();
        let (applied_tx, _) = watch::channel(lsn);
        let snap = Arc::new(ColumnSnapshot { lsn, catalog: catalog.clone(), tables: HashMap::new() });
        let mut store = ColumnStore { catalog, tables, current: Arc::new(RwLock::new(snap)), applied_tx, wanted: Vec::new(), env };
        store.publish(lsn).expect("publishing an empty store cannot fail");
        store
    }

    pub fn pool(&self) -> &Arc<SegmentPool> {
        &self.env.pool
    }

    /// From now on, segments sealed inside a transaction while the pool is
    /// over its limit are written out and evicted by `writer` at once.
    pub fn write_sealed_with(&mut self, writer: Arc<SealedWriter>) {
        self.env.writer = Some(writer);
        for t in self.tables.values_mut() {
            t.env = self.env.clone();
        }
    }

    /// Seals deltas at `rows` rows instead of `MAX_DELTA_ROWS` (tests that
    /// need many segments from few rows).
    pub fn set_segment_rows(&mut self, rows: usize) {
        assert!(rows > 0, "a segment holds at least one row");
        self.env.seal_rows = rows;
        for t in self.tables.values_mut() {
            t.env = self.env.clone();
        }
    }

    /// Bytes of the row-id maps (`row_locations`): the store's memory
    /// outside the segment pool that grows with the rows.
    pub fn row_map_bytes(&self) -> usize {
        self.tables.values().map(|t| t.locs.bytes()).sum()
    }

    /// Adds a segment of rows that are all live and new to `table` (a base
    /// backup's row group: `__rowid` + the table's live columns).
    pub fn add_base_segment(&mut self, table: u32, segment: Arc<Segment>, rowids: &UInt64Array) -> Result<(), ApplyError> {
        let t = self.tables.get_mut(&table).ok_or(ApplyError::UnknownTable(table))?;
        if segment.col_of.len() != t.def.columns.len() {
            return Err(ApplyError::Invalid(format!("base backup segment of table {table} does not match its columns")));
        }
        t.rows += segment.rows();
        t.add_segment(segment, None, rowids);
        Ok(())
    }

    /// Adds a segment read back from a persisted snapshot (`persist`), with
    /// its live mask.
    pub fn restore_segment(
        &mut self,
        table: u32,
        segment: Arc<Segment>,
        live: Option<BooleanBufferBuilder>,
        rowids: &UInt64Array,
    ) -> Result<(), ApplyError> {
        let t = self.tables.get_mut(&table).ok_or(ApplyError::UnknownTable(table))?;
        // A segment may predate columns added since (they read their missing value).
        if segment.col_of.len() > t.def.columns.len() {
            return Err(ApplyError::Invalid(format!("persisted segment of table {table} has more columns than the table")));
        }
        if live.as_ref().is_some_and(|b| b.len() != segment.rows()) {
            return Err(ApplyError::Invalid(format!("persisted live mask of table {table} does not match its segment")));
        }
        t.rows += live.as_ref().map(|b| b.finish_cloned().count_set_bits()).unwrap_or(segment.rows());
        t.add_segment(segment, live, rowids);
        Ok(())
    }

    /// Applies one committed transaction's changes, in order.
    pub fn apply(&mut self, changes: Vec<Change>) -> Result<(), ApplyError> {
        for c in changes {
            match c {
                Change::Insert { table, rowid, row } | Change::Update { table, rowid, row } => {
                    self.tables.get_mut(&table).ok_or(ApplyError::UnknownTable(table))?.insert(rowid, &row);
                }
                Change::Delete { table, rowid } => {
                    self.tables.get_mut(&table).ok_or(ApplyError::UnknownTable(table))?.delete(rowid);
                }
                Change::Catalog(new) => self.apply_catalog(Arc::new(*new)),
            }
        }
        Ok(())
    }

    /// DDL: new tables start empty, dropped ones go, a new relfilenode (TRUNCATE)
    /// empties a table, a changed column list keeps the data (segments are
    /// positional by physical column).
    fn apply_catalog(&mut self, new: Arc<Catalog>) {
        self.tables.retain(|id, _| new.tables.contains_key(id));
        for def in new.tables.values() {
            match self.tables.get_mut(&def.id) {
                Some(t) if t.def.relfilenode == def.relfilenode => {
                    if t.def.columns != def.columns {
                        t.seal_delta();
                        t.delta = delta_builder(def);
                    }
                    t.def = def.clone();
                    t.changed = true;
                }
                _ => {
                    self.tables.insert(def.id, TableState::new(def.clone(), self.env.clone()));
                }
            }
        }
        self.catalog = new;
    }

    /// Installs a snapshot of everything applied so far as of `lsn`.
    pub fn publish(&mut self, lsn: Lsn) -> Result<(), ApplyError> {
        let mut tables = HashMap::with_capacity(self.tables.len());
        for (id, t) in self.tables.iter_mut() {
            let (snap, wanted) = t.publish()?;
            tables.insert(*id, snap);
            self.wanted.extend(wanted);
        }
        let snap = Arc::new(ColumnSnapshot { lsn, catalog: self.catalog.clone(), tables });
        *self.current.write() = snap;
        self.applied_tx.send_replace(lsn);
        Ok(())
    }

    /// Segments that compaction would merge once they are in memory; the
    /// caller loads them (`Segment::load`) off the apply path, and a later
    /// publish merges them.
    pub fn take_wanted(&mut self) -> Vec<Arc<Segment>> {
        std::mem::take(&mut self.wanted)
    }

    pub fn snapshot(&self) -> Arc<ColumnSnapshot> {
        self.current.read().clone()
    }

    /// A handle readers keep: the current snapshot and its changes.
    pub fn published(&self) -> Published {
        Published { current: self.current.clone(), rx: self.applied_tx.subscribe() }
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }
}

/// How readers find the current snapshot without a reference to the store.
#[derive(Clone)]
pub struct Published {
    current: Arc<RwLock<Arc<ColumnSnapshot>>>,
    rx: watch::Receiver<Lsn>,
}

impl Published {
    pub fn snapshot(&self) -> Arc<ColumnSnapshot> {
        self.current.read().clone()
    }

    pub fn lsn(&self) -> Lsn {
        *self.rx.borrow()
    }

    /// Waits until a newer snapshot is published (or `timeout` passes).
    pub async fn wait_newer(&self, timeout: std::time::Duration) {
        let mut rx = self.rx.clone();
        let _ = tokio::time::timeout(timeout, rx.changed()).await;
    }
}
