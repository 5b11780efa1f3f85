//! Segments: the immutable rows of one table, held in memory, in a Parquet
//! file, or both — which is how a standby's memory stays bounded however
//! large its tables grow.
//!
//! ```text
//!   sealed delta / merge      persist              evict (pool over its limit)
//!   ──────────────────► resident ─────► resident + file ─────────────► cold (file only)
//!                                              ▲                            │
//!                                              └─── load (compaction) ◄─────┘
//!   base backup, restart: from a file, loaded while the pool has room, cold after
//! ```
//!
//! A segment's rows never change — deletes live in each snapshot's live mask
//! — so its data can leave memory and come back without any snapshot
//! noticing: a query that finds it cold reads the file instead. A segment's
//! file is a range of row groups of one Parquet file in the pool's location:
//! a persisted segment has a file to itself, a base-backup file holds one
//! segment per row group.
//!
//! The [`SegmentPool`] is shared by every segment of one standby and keeps
//! two books:
//! - resident bytes: added when data is attached, taken off when it is
//!   evicted or its segment dropped. Only a segment with a file can be
//!   evicted; the least recently scanned go first.
//! - file references: a file may be deleted only when no segment names it —
//!   neither one of the current snapshot nor one of an old snapshot that a
//!   query still holds — and the newest manifest does not list it.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, UInt64Array, new_null_array};
use datafusion::arrow::compute::concat_batches;
use datafusion::common::ScalarValue;
use duetdb_storage::Value;
use duetdb_storage::arrow_conv::arrow_type;
use duetdb_storage::catalog::TableDef;
use duetdb_storage::store::{Location, ParquetObjectFile};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use parking_lot::{Mutex, RwLock};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::ParquetError;

use crate::column_stats::ColumnSummary;

/// Rows per Parquet row group in segment files: the unit of statistics
/// pruning and of reading a cold segment.
pub const ROW_GROUP_ROWS: usize = duetdb_storage::checkpoint::ROW_GROUP_ROWS;
/// Rows per batch when a whole segment is read back (loads, row ids).
const READ_BATCH_ROWS: usize = 64 * 1024;

/// Memory accounting and file references for the segments of one standby.
pub struct SegmentPool {
    loc: Location,
    /// Resident bytes above which persisted segments are evicted.
    limit: usize,
    resident: AtomicUsize,
    /// The most `resident` has been (what the limit actually held to).
    peak: AtomicUsize,
    /// Ticks on every scan; a segment remembers when it was last used.
    clock: AtomicU64,
    /// File name → segments naming it.
    refs: Mutex<HashMap<String, usize>>,
    /// Makes file names unique within this process.
    names: AtomicU64,
    started: u64,
}

impl std::fmt::Debug for SegmentPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SegmentPool({}, {} of {} bytes resident)", self.loc.display, self.resident(), self.limit)
    }
}

impl SegmentPool {
    pub fn new(loc: Location, limit: usize) -> Arc<SegmentPool> {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        Arc::new(SegmentPool {
            loc,
            limit: limit.max(1),
            resident: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            clock: AtomicU64::new(0),
            refs: Mutex::new(HashMap::new()),
            names: AtomicU64::new(0),
            started,
        })
    }

    /// An in-memory pool with no limit (tests, tools).
    pub fn unbounded() -> Arc<SegmentPool> {
        let store = Arc::new(object_store::memory::InMemory::new());
        let loc = Location { store, prefix: Path::default(), display: "memory://".into() };
        SegmentPool::new(loc, usize::MAX)
    }

    pub fn location(&self) -> &Location {
        &self.loc
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn resident(&self) -> usize {
        self.resident.load(Ordering::Relaxed)
    }

    /// The most bytes that were ever resident at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn over_limit(&self) -> bool {
        self.resident() > self.limit
    }

    /// Whether `bytes` more would still fit under the limit.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.resident().saturating_add(bytes) <= self.limit
    }

    pub fn path(&self, name: &str) -> Path {
        self.loc.path(&["segments", name])
    }

    /// A file name no other file of this location has: `<prefix>_<start>_<n>.parquet`.
    pub fn new_file_name(&self, prefix: &str) -> String {
        let n = self.names.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}_{:x}_{n}.parquet", self.started)
    }

    /// Whether any segment still names `file`.
    pub fn in_use(&self, file: &str) -> bool {
        self.refs.lock().get(file).is_some_and(|&n| n > 0)
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn add_ref(&self, file: &str) {
        *self.refs.lock().entry(file.to_string()).or_default() += 1;
    }

    pub(crate) fn drop_ref(&self, file: &str) {
        let mut refs = self.refs.lock();
        if let Some(n) = refs.get_mut(file) {
            *n -= 1;
            if *n == 0 {
                refs.remove(file);
            }
        }
    }

    /// Evicts persisted segments among `segments`, least recently used
    /// first, until the pool is under its limit. Returns the bytes freed.
    pub fn evict<'a>(&self, segments: impl Iterator<Item = &'a Arc<Segment>>) -> usize {
        if !self.over_limit() {
            return 0;
        }
        let mut candidates: Vec<&Arc<Segment>> = segments.filter(|s| s.file().is_some() && s.is_resident()).collect();
        candidates.sort_by_key(|s| s.last_used.load(Ordering::Relaxed));
        let mut freed = 0;
        for s in candidates {
            if !self.over_limit() {
                break;
            }
            freed += s.evict();
        }
        freed
    }
}

/// Where a segment's rows are in Parquet: row groups `row_groups` of `name`.
#[derive(Clone)]
pub struct SegmentFile {
    pub name: String,
    pub row_groups: Range<usize>,
    pub size: u64,
    /// The file's footer and Arrow schema (shared by the file's segments).
    pub meta: ArrowReaderMetadata,
    /// Row offset in the segment where each of `row_groups` starts, then the end.
    offsets: Arc<[usize]>,
}

impl SegmentFile {
    /// Row groups `row_groups` of a file whose footer is `meta`.
    pub fn new(name: String, size: u64, meta: ArrowReaderMetadata, row_groups: Range<usize>) -> Result<SegmentFile, ParquetError> {
        let groups = meta.metadata().num_row_groups();
        if row_groups.start > row_groups.end || row_groups.end > groups {
            return Err(ParquetError::General(format!("{name}: row groups {row_groups:?} of a file with {groups}")));
        }
        let mut offsets = Vec::with_capacity(row_groups.len() + 1);
        let mut at = 0usize;
        offsets.push(0);
        for g in row_groups.clone() {
            at += meta.metadata().row_group(g).num_rows() as usize;
            offsets.push(at);
        }
        Ok(SegmentFile { name, row_groups, size, meta, offsets: offsets.into() })
    }

    /// Reads the footer of file `name` in `pool`'s location.
    pub async fn footer(pool: &SegmentPool, name: &str) -> Result<(u64, ArrowReaderMetadata), ParquetError> {
        let mut reader =
            ParquetObjectFile::open(pool.loc.store.clone(), pool.path(name)).await.map_err(|e| ParquetError::External(Box::new(e)))?;
        let size = reader.size();
        let meta = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new()).await?;
        Ok((size, meta))
    }

    /// The footer of an encoded file held in memory (just written).
    pub fn footer_of(data: &Bytes) -> Result<ArrowReaderMetadata, ParquetError> {
        let metadata = parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(data)?;
        ArrowReaderMetadata::try_new(Arc::new(metadata), ArrowReaderOptions::new())
    }

    pub fn rows(&self) -> usize {
        *self.offsets.last().expect("offsets has an end")
    }

    /// Rows of the `i`th row group of the segment (relative to `row_groups`).
    pub fn group_rows(&self, i: usize) -> Range<usize> {
        self.offsets[i]..self.offsets[i + 1]
    }

    pub fn groups(&self) -> usize {
        self.row_groups.len()
    }

    /// Bytes of the segment's row groups on disk.
    pub fn bytes(&self) -> u64 {
        self.row_groups.clone().map(|g| self.meta.metadata().row_group(g).compressed_size() as u64).sum()
    }

    /// Bytes the segment takes once decoded (Parquet's uncompressed size; an estimate).
    pub fn decoded_bytes(&self) -> usize {
        self.row_groups.clone().map(|g| self.meta.metadata().row_group(g).total_byte_size() as usize).sum()
    }

    /// Streams file columns `columns` (ascending) of the segment's row groups
    /// `groups` (relative, ascending), with `selection` over those groups'
    /// rows, in batches of `batch_rows`.
    pub async fn stream(
        &self,
        pool: &SegmentPool,
        columns: &[usize],
        groups: Vec<usize>,
        selection: Option<RowSelection>,
        batch_rows: usize,
    ) -> Result<parquet::arrow::async_reader::ParquetRecordBatchStream<ParquetObjectFile>, ParquetError> {
        debug_assert!(columns.windows(2).all(|w| w[0] < w[1]), "file columns ascending");
        let reader = ParquetObjectFile::with_size(pool.loc.store.clone(), pool.path(&self.name), self.size);
        let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, self.meta.clone());
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
        let groups: Vec<usize> = groups.into_iter().map(|g| self.row_groups.start + g).collect();
        let mut builder = builder.with_projection(mask).with_row_groups(groups).with_batch_size(batch_rows);
        if let Some(s) = selection {
            builder = builder.with_row_selection(s);
        }
        builder.build()
    }
}

/// Immutable rows of one table: `__rowid` first, then columns.
pub struct Segment {
    rows: usize,
    /// Physical column position → column index in the data (None: the
    /// segment predates the column).
    pub col_of: Vec<Option<usize>>,
    /// The rows, while resident, with the bytes they were counted as.
    data: RwLock<Option<(RecordBatch, usize)>>,
    file: OnceLock<SegmentFile>,
    last_used: AtomicU64,
    /// Compaction asked for this segment's data (see `ColumnStore::wanted`).
    pub(crate) load_requested: AtomicBool,
    pool: Arc<SegmentPool>,
    /// Held while the file is written (`segment_writer`): one file per segment.
    pub(crate) write_lock: tokio::sync::Mutex<()>,
    /// Statistics of file columns computed from the rows (immutable, so
    /// computed once).
    summaries: Mutex<HashMap<usize, Arc<ColumnSummary>>>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = self.file.get().map(|f| f.name.as_str()).unwrap_or("-");
        write!(f, "Segment({} rows, resident: {}, file: {file})", self.rows, self.is_resident())
    }
}

impl Segment {
    /// A segment of rows in memory (not yet in any file).
    pub fn in_memory(batch: RecordBatch, col_of: Vec<Option<usize>>, pool: &Arc<SegmentPool>) -> Arc<Segment> {
        let s = Segment::new(batch.num_rows(), col_of, pool);
        s.attach_data(batch);
        Arc::new(s)
    }

    /// A segment whose rows are only in `file` so far.
    pub fn from_file(file: SegmentFile, col_of: Vec<Option<usize>>, pool: &Arc<SegmentPool>) -> Arc<Segment> {
        let s = Segment::new(file.rows(), col_of, pool);
        pool.add_ref(&file.name);
        s.file.set(file).unwrap_or_else(|_| unreachable!("a new segment has no file"));
        Arc::new(s)
    }

    fn new(rows: usize, col_of: Vec<Option<usize>>, pool: &Arc<SegmentPool>) -> Segment {
        Segment {
            rows,
            col_of,
            data: RwLock::new(None),
            file: OnceLock::new(),
            last_used: AtomicU64::new(pool.tick()),
            load_requested: AtomicBool::new(false),
            pool: pool.clone(),
            write_lock: tokio::sync::Mutex::new(()),
            summaries: Mutex::new(HashMap::new()),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn pool(&self) -> &Arc<SegmentPool> {
        &self.pool
    }

    pub fn is_resident(&self) -> bool {
        self.data.read().is_some()
    }

    /// The rows, if resident (marks the segment used).
    pub fn data(&self) -> Option<RecordBatch> {
        let d = self.data.read().as_ref().map(|(b, _)| b.clone());
        if d.is_some() {
            self.last_used.store(self.pool.tick(), Ordering::Relaxed);
        }
        d
    }

    pub fn file(&self) -> Option<&SegmentFile> {
        self.file.get()
    }

    /// Bytes this segment holds in memory.
    pub fn resident_bytes(&self) -> usize {
        self.data.read().as_ref().map(|(_, n)| *n).unwrap_or(0)
    }

    /// Bytes in memory if resident, else on disk.
    pub fn bytes(&self) -> usize {
        match (self.resident_bytes(), self.file()) {
            (0, Some(f)) => f.bytes() as usize,
            (n, _) => n,
        }
    }

    /// Records that the rows are now also in `file` (after a persist).
    pub fn attach_file(&self, file: SegmentFile) {
        assert_eq!(file.rows(), self.rows, "a segment's file holds exactly its rows");
        let name = file.name.clone();
        if self.file.set(file).is_ok() {
            self.pool.add_ref(&name);
        }
    }

    fn attach_data(&self, batch: RecordBatch) {
        assert_eq!(batch.num_rows(), self.rows, "a segment's data holds exactly its rows");
        let mut d = self.data.write();
        if d.is_none() {
            let bytes = batch.get_array_memory_size();
            let now = self.pool.resident.fetch_add(bytes, Ordering::Relaxed) + bytes;
            self.pool.peak.fetch_max(now, Ordering::Relaxed);
            *d = Some((batch, bytes));
        }
        self.last_used.store(self.pool.tick(), Ordering::Relaxed);
    }

    /// Drops the rows from memory if they are in a file; returns the bytes freed.
    pub fn evict(&self) -> usize {
        if self.file.get().is_none() {
            return 0;
        }
        match self.data.write().take() {
            Some((_, bytes)) => {
                self.pool.resident.fetch_sub(bytes, Ordering::Relaxed);
                bytes
            }
            None => 0,
        }
    }

    /// The rows: from memory, else read from the file (not kept).
    pub async fn read(&self) -> Result<RecordBatch, ParquetError> {
        if let Some(b) = self.data() {
            return Ok(b);
        }
        let file = self.file().expect("a segment not in memory has a file");
        let columns: Vec<usize> = (0..file.meta.schema().fields().len()).collect();
        let batches: Vec<RecordBatch> =
            file.stream(&self.pool, &columns, (0..file.groups()).collect(), None, READ_BATCH_ROWS).await?.try_collect().await?;
        let batch = concat_batches(file.meta.schema(), &batches)?;
        if batch.num_rows() != self.rows {
            return Err(ParquetError::General(format!("{} holds {} rows for a segment of {}", file.name, batch.num_rows(), self.rows)));
        }
        Ok(batch)
    }

    /// The rows, brought into memory if they were not.
    pub async fn load(&self) -> Result<RecordBatch, ParquetError> {
        let batch = self.read().await?;
        self.attach_data(batch.clone());
        Ok(batch)
    }

    /// The row ids, from memory or from the file's first column.
    pub async fn rowids(&self) -> Result<UInt64Array, ParquetError> {
        if let Some(b) = self.data() {
            return Ok(rowids_of(&b).clone());
        }
        let file = self.file().expect("a segment not in memory has a file");
        let mut stream = file.stream(&self.pool, &[0], (0..file.groups()).collect(), None, READ_BATCH_ROWS).await?;
        let mut parts: Vec<ArrayRef> = Vec::new();
        while let Some(b) = stream.next().await {
            parts.push(b?.column(0).clone());
        }
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        let all = if refs.is_empty() {
            Arc::new(UInt64Array::from(Vec::<u64>::new())) as ArrayRef
        } else {
            datafusion::arrow::compute::concat(&refs)?
        };
        let ids = all
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| ParquetError::General(format!("{}: column 0 is not the row id", file.name)))?
            .clone();
        if ids.len() != self.rows || ids.null_count() != 0 {
            return Err(ParquetError::General(format!("{}: {} row ids for a segment of {} rows", file.name, ids.len(), self.rows)));
        }
        Ok(ids)
    }

    /// Statistics of file column `fc`: from the rows while they are resident,
    /// else from the file's footer (with a distinct count where the file
    /// keeps a sketch). Computed once and kept when complete — always from
    /// the rows, from a footer only with its sketch (without one, rows loaded
    /// later can still provide it). None if the segment has no such column.
    pub fn summary(&self, fc: usize) -> Option<Arc<ColumnSummary>> {
        if let Some(s) = self.summaries.lock().get(&fc) {
            return Some(s.clone());
        }
        // Not `data()`: planning is not a use that should keep rows resident.
        let column = self.data.read().as_ref().map(|(b, _)| b.columns().get(fc).cloned());
        let from_rows = column.is_some();
        let s = Arc::new(match column {
            Some(column) => ColumnSummary::of_array(&column?),
            None => ColumnSummary::of_file(self.file()?, fc)?,
        });
        if from_rows || s.sketch.is_some() {
            self.summaries.lock().insert(fc, s.clone());
        }
        Some(s)
    }

    /// Physical column `p` of resident data `batch` (the table's missing value
    /// where the segment predates the column).
    pub fn column_of(&self, batch: &RecordBatch, def: &TableDef, p: usize) -> ArrayRef {
        match self.col_of.get(p).copied().flatten() {
            Some(ci) => batch.column(ci).clone(),
            None => missing_array(def, p, batch.num_rows()),
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if let Some((_, bytes)) = self.data.get_mut().take() {
            self.pool.resident.fetch_sub(bytes, Ordering::Relaxed);
        }
        if let Some(f) = self.file.get() {
            self.pool.drop_ref(&f.name);
        }
    }
}

/// Column 0 of a segment's data.
pub fn rowids_of(batch: &RecordBatch) -> &UInt64Array {
    batch.column(0).as_any().downcast_ref::<UInt64Array>().expect("segment column 0 is __rowid")
}

/// A column of `n` copies of the value rows written before column `p` existed read.
pub fn missing_array(def: &TableDef, p: usize, n: usize) -> ArrayRef {
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
