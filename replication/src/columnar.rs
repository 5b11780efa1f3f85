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
//! come from the primary and never change, so the WAL can name rows by them.
//!
//! `publish` runs between transactions. It seals each changed table's delta
//! into a new segment, freezes the live masks it changed (copies: the previous
//! snapshot keeps its own), folds small or mostly-dead segments together
//! (compaction), and installs a new `ColumnSnapshot`. Readers hold an `Arc` of
//! the snapshot they started with, so a long query keeps exactly the segments
//! it began with while apply goes on, and apply never waits for it.
//!
//! Segments are positional by *physical* column (a table's column list with
//! dropped columns kept), so ADD/DROP COLUMN need not rewrite data: a segment
//! built before a column was added reads that column's "missing" value.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::BooleanBufferBuilder;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, UInt64Array, new_null_array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::{concat, filter};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use duetdb_storage::arrow_conv::{BatchBuilder, arrow_type};
use duetdb_storage::catalog::{Catalog, TableDef};
use duetdb_storage::wal::record::Change;
use duetdb_storage::{Lsn, RowId, Value};
use parking_lot::RwLock;
use tokio::sync::watch;

/// Segments below this many rows are merged with others at publish time.
pub const SMALL_SEGMENT_ROWS: usize = 64 * 1024;
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
}

/// Immutable rows of one table: `__rowid` first, then columns.
#[derive(Debug)]
pub struct Segment {
    pub batch: RecordBatch,
    /// Physical column position → column index in `batch` (None: not present).
    pub col_of: Vec<Option<usize>>,
}

impl Segment {
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    pub fn rowids(&self) -> &UInt64Array {
        self.batch.column(0).as_any().downcast_ref::<UInt64Array>().expect("segment column 0 is __rowid")
    }

    /// Physical column `p` as an array, the table's missing value where the
    /// segment predates the column.
    pub fn column(&self, def: &TableDef, p: usize) -> ArrayRef {
        match self.col_of.get(p).copied().flatten() {
            Some(ci) => self.batch.column(ci).clone(),
            None => missing_array(def, p, self.rows()),
        }
    }
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
    /// The live rows of physical columns `cols` (all rows if none were deleted).
    pub fn columns(&self, def: &TableDef, cols: &[usize]) -> Result<Vec<ArrayRef>, ApplyError> {
        let mask = self.live.as_ref().map(|b| BooleanArray::new(b.clone(), None));
        cols.iter()
            .map(|&p| {
                let a = self.segment.column(def, p);
                Ok(match &mask {
                    Some(m) => filter(&a, m)?,
                    None => a,
                })
            })
            .collect()
    }
}

#[derive(Debug)]
pub struct TableSnapshot {
    pub def: Arc<TableDef>,
    pub segments: Vec<SegmentView>,
    pub rows: usize,
}

impl TableSnapshot {
    pub fn bytes(&self) -> usize {
        self.segments.iter().map(|s| s.segment.batch.get_array_memory_size()).sum()
    }
}

/// What one query sees: every table as of one applied LSN.
#[derive(Debug)]
pub struct ColumnSnapshot {
    pub lsn: Lsn,
    pub catalog: Arc<Catalog>,
    pub tables: HashMap<u32, Arc<TableSnapshot>>,
}

// ---------------------------------------------------------------------------
// The apply side
// ---------------------------------------------------------------------------

const ABSENT: u64 = u64::MAX;
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
            Some(b) => (0..b.len()).filter(|&i| b.get_bit(i)).count(),
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

struct TableState {
    def: Arc<TableDef>,
    /// Stable slots: compaction empties slots, it never moves a segment.
    segments: Vec<Option<WorkSegment>>,
    delta: BatchBuilder,
    delta_live: Vec<bool>,
    /// Row id → (segment slot << 32 | offset), DELTA slot for the delta; dense
    /// because the primary hands out row ids densely.
    locs: Vec<u64>,
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
    fn new(def: Arc<TableDef>) -> TableState {
        TableState {
            delta: delta_builder(&def),
            def,
            segments: Vec::new(),
            delta_live: Vec::new(),
            locs: Vec::new(),
            rows: 0,
            changed: true,
            published: None,
        }
    }

    fn loc(&self, rowid: RowId) -> Option<(u32, u32)> {
        let v = *self.locs.get(rowid as usize)?;
        (v != ABSENT).then_some(((v >> 32) as u32, v as u32))
    }

    fn set_loc(&mut self, rowid: RowId, slot: u32, offset: u32) {
        let i = rowid as usize;
        if i >= self.locs.len() {
            self.locs.resize((i + 1).max(self.locs.len() * 2).max(1024), ABSENT);
        }
        self.locs[i] = ((slot as u64) << 32) | offset as u64;
    }

    /// Adds a segment whose rows are all new (base backup, sealed delta, merge).
    fn add_segment(&mut self, segment: Arc<Segment>, live: Option<BooleanBufferBuilder>) {
        let slot = self.segments.len() as u32;
        assert!(slot < DELTA, "segment slots exhausted");
        let ids = segment.rowids().clone();
        for (i, id) in ids.iter().enumerate() {
            let id = id.expect("row ids are never null");
            if live.as_ref().is_none_or(|b| b.get_bit(i)) {
                self.set_loc(id, slot, i as u32);
            }
        }
        self.segments.push(Some(WorkSegment::new(segment, live)));
        self.changed = true;
    }

    fn insert(&mut self, rowid: RowId, row: &[u8]) {
        if self.loc(rowid).is_some() {
            self.delete(rowid);
        }
        let offset = self.delta.len() as u32;
        self.delta.push(rowid, row);
        self.delta_live.push(true);
        self.set_loc(rowid, DELTA, offset);
        self.rows += 1;
        self.changed = true;
    }

    fn delete(&mut self, rowid: RowId) {
        let Some((slot, offset)) = self.loc(rowid) else { return };
        self.locs[rowid as usize] = ABSENT;
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
        self.add_segment(Arc::new(Segment { batch, col_of }), live);
    }

    /// Merges small segments into one, and rewrites mostly-dead ones.
    fn compact(&mut self) -> Result<(), ApplyError> {
        let small: Vec<usize> = self
            .segments
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|s| s.live_rows < SMALL_SEGMENT_ROWS).map(|_| i))
            .collect();
        let mut merge: Vec<usize> = if small.len() >= MAX_SMALL_SEGMENTS { small } else { Vec::new() };
        for (i, s) in self.segments.iter().enumerate() {
            if let Some(s) = s
                && !merge.contains(&i)
                && (s.live_rows as f64) < MIN_LIVE_FRACTION * s.segment.rows() as f64
            {
                merge.push(i);
            }
        }
        if merge.is_empty() {
            return Ok(());
        }
        let def = self.def.clone();
        let ncols = def.columns.len();
        let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); ncols + 1];
        for &i in &merge {
            let mut ws = self.segments[i].take().expect("merge candidates exist");
            if ws.live_rows == 0 {
                continue;
            }
            let view = ws.view();
            let mask = view.live.as_ref().map(|b| BooleanArray::new(b.clone(), None));
            let ids: ArrayRef = Arc::new(view.segment.rowids().clone());
            parts[0].push(match &mask {
                Some(m) => filter(&ids, m)?,
                None => ids,
            });
            let cols: Vec<usize> = (0..ncols).collect();
            for (p, a) in view.columns(&def, &cols)?.into_iter().enumerate() {
                parts[p + 1].push(a);
            }
        }
        if parts[0].is_empty() {
            return Ok(());
        }
        let arrays =
            parts.iter().map(|p| concat(&p.iter().map(|a| a.as_ref()).collect::<Vec<&dyn Array>>())).collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(physical_schema(&def), arrays)?;
        let col_of = (0..ncols).map(|i| Some(i + 1)).collect();
        self.add_segment(Arc::new(Segment { batch, col_of }), None);
        Ok(())
    }

    fn publish(&mut self) -> Result<Arc<TableSnapshot>, ApplyError> {
        if !self.changed
            && let Some(p) = &self.published
        {
            return Ok(p.clone());
        }
        self.seal_delta();
        self.compact()?;
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
        Ok(snap)
    }
}

/// The standby's column store: applied by one task, read by many.
pub struct ColumnStore {
    catalog: Arc<Catalog>,
    tables: HashMap<u32, TableState>,
    current: Arc<RwLock<Arc<ColumnSnapshot>>>,
    applied_tx: watch::Sender<Lsn>,
}

impl ColumnStore {
    pub fn new(catalog: Arc<Catalog>, lsn: Lsn) -> ColumnStore {
        let tables = catalog.tables.values().map(|d| (d.id, TableState::new(d.clone()))).collect();
        let (applied_tx, _) = watch::channel(lsn);
        let snap = Arc::new(ColumnSnapshot { lsn, catalog: catalog.clone(), tables: HashMap::new() });
        let mut store = ColumnStore { catalog, tables, current: Arc::new(RwLock::new(snap)), applied_tx };
        store.publish(lsn).expect("publishing an empty store cannot fail");
        store
    }

    /// Adds rows loaded from a base backup (a checkpoint's Parquet batch:
    /// `__rowid` + the live columns of `table`).
    pub fn load_base_batch(&mut self, table: u32, batch: RecordBatch) -> Result<(), ApplyError> {
        let t = self.tables.get_mut(&table).ok_or(ApplyError::UnknownTable(table))?;
        let mut col_of = vec![None; t.def.columns.len()];
        for (ci, (p, _)) in t.def.live_columns().enumerate() {
            col_of[p] = Some(ci + 1);
        }
        if batch.num_columns() != t.def.live_columns().count() + 1 {
            return Err(ApplyError::Invalid(format!("base backup batch for table {table} has {} columns", batch.num_columns())));
        }
        t.rows += batch.num_rows();
        t.add_segment(Arc::new(Segment { batch, col_of }), None);
        Ok(())
    }

    /// Adds a segment read back from a persisted snapshot (`persist`), with
    /// its live mask.
    pub fn restore_segment(&mut self, table: u32, segment: Arc<Segment>, live: Option<BooleanBufferBuilder>) -> Result<(), ApplyError> {
        let t = self.tables.get_mut(&table).ok_or(ApplyError::UnknownTable(table))?;
        if segment.col_of.len() != t.def.columns.len() || segment.batch.num_columns() == 0 {
            return Err(ApplyError::Invalid(format!("persisted segment of table {table} does not match its columns")));
        }
        if live.as_ref().is_some_and(|b| b.len() != segment.rows()) {
            return Err(ApplyError::Invalid(format!("persisted live mask of table {table} does not match its segment")));
        }
        t.rows += live.as_ref().map(|b| (0..b.len()).filter(|&i| b.get_bit(i)).count()).unwrap_or(segment.rows());
        t.add_segment(segment, live);
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
                    self.tables.insert(def.id, TableState::new(def.clone()));
                }
            }
        }
        self.catalog = new;
    }

    /// Installs a snapshot of everything applied so far as of `lsn`.
    pub fn publish(&mut self, lsn: Lsn) -> Result<(), ApplyError> {
        let mut tables = HashMap::with_capacity(self.tables.len());
        for (id, t) in self.tables.iter_mut() {
            tables.insert(*id, t.publish()?);
        }
        let snap = Arc::new(ColumnSnapshot { lsn, catalog: self.catalog.clone(), tables });
        *self.current.write() = snap;
        self.applied_tx.send_replace(lsn);
        Ok(())
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

// ---------------------------------------------------------------------------
// Missing values
// ---------------------------------------------------------------------------

/// A column of `n` copies of the value rows written before column `p` existed read.
fn missing_array(def: &TableDef, p: usize, n: usize) -> ArrayRef {
    let ty = arrow_type(&def.columns[p].ty);
    let v = def.columns[p].missing.clone().unwrap_or(Value::Null);
    let scalar = match v {
        Value::Null => return new_null_array(&ty, n),
        Value::Bool(b) => ScalarValue::Boolean(Some(b)),
        Value::Int16(x) => ScalarValue::Int16(Some(x)),
        Value::Int32(x) => ScalarValue::Int32(Some(x)),
        Value::Int64(x) => ScalarValue::Int64(Some(x)),
        Value::Float32(x) => ScalarValue::Float32(Some(x)),
        Value::Float64(x) => ScalarValue::Float64(Some(x)),
        Value::Numeric(m, _) => match ty {
            datafusion::arrow::datatypes::DataType::Decimal128(pr, s) => ScalarValue::Decimal128(Some(m), pr, s),
            _ => return new_null_array(&ty, n),
        },
        Value::Text(s) => ScalarValue::Utf8(Some(s)),
        Value::Bytea(b) => ScalarValue::Binary(Some(b)),
        Value::Date(d) => ScalarValue::Date32(Some(d)),
        Value::Timestamp(t) => ScalarValue::TimestampMicrosecond(Some(t), None),
        Value::TimestampTz(t) => ScalarValue::TimestampMicrosecond(Some(t), Some("UTC".into())),
    };
    scalar.to_array_of_size(n).unwrap_or_else(|_| new_null_array(&ty, n))
}
