//! Persisted column snapshots: the standby's tables as Parquet files plus a
//! small manifest, so a restarted standby resumes without a rebuild and any
//! Parquet engine can read the replica.
//!
//! ```text
//!   <standby dir>/columnar/            (or any object_store URL: columnar_location)
//!     segments/16384_0000000001A2B3C4_<run>_0.parquet   one immutable file per persisted segment,
//!     segments/16384_0000000001A2B3C4_<run>_1.parquet   written once, shared by later manifests
//!     segments/base_<run>_2_16384.parquet               a base backup's file: a segment per row group
//!     manifest.json                                      written last, atomically (put)
//! ```
//!
//! A manifest describes one published snapshot at applied LSN `lsn`: per
//! table its segments (a file and a range of its row groups), each with its
//! deleted rows (runs of offsets), and what replay needs to continue exactly
//! after it:
//!
//! - `resume`: the local WAL is replayed from here — the first record of the
//!   oldest transaction still open at `lsn` (or `lsn` itself);
//! - `in_flight`: those open transactions. Records before `lsn` matter only for
//!   them; every other transaction there was applied before the snapshot.
//! - the base backup's snapshot, whose transactions are never applied again.
//!
//! Writing a segment's file is what lets it leave memory: after each persist
//! the pool evicts persisted segments until it is under its limit, and a
//! restart loads segments only while the pool has room — the rest stay in
//! their files and are scanned from there.
//!
//! A file is removed only after a manifest that no longer names it is in
//! place and no segment in memory names it (a query may still hold an old
//! snapshot), so the files a manifest or a query needs always exist.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::BooleanBufferBuilder;
use datafusion::arrow::buffer::BooleanBuffer;
use duetdb_storage::catalog::Catalog;
use duetdb_storage::txn::Snapshot;
use duetdb_storage::{Lsn, TxnId};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use crate::columnar::{ApplyError, ColumnSnapshot, ColumnStore};
use crate::segment::{Segment, SegmentFile, SegmentPool, rowids_of};
use crate::segment_writer::write_file;

const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";

/// Where replay continues after a persisted snapshot (see the module comment).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResumePoint {
    pub lsn: Lsn,
    pub resume: Lsn,
    pub in_flight: Vec<TxnId>,
    pub base_xmin: TxnId,
    pub base_xmax: TxnId,
    pub base_active: Vec<TxnId>,
    /// Sequence states, timeline and highest transaction id seen (what a
    /// promotion needs); absent in manifests of older versions.
    #[serde(default)]
    pub sequences: Vec<(u32, duetdb_storage::sequence::SeqState)>,
    #[serde(default = "first_timeline")]
    pub timeline: u32,
    #[serde(default)]
    pub max_txn: TxnId,
}

fn first_timeline() -> u32 {
    1
}

impl ResumePoint {
    pub fn base(&self) -> Snapshot {
        let mut active = self.base_active.clone();
        active.sort_unstable();
        Snapshot { xmin: self.base_xmin, xmax: self.base_xmax, active: Arc::from(active) }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SegmentEntry {
    file: String,
    /// The file's row groups that hold the segment (absent: all of them).
    #[serde(default)]
    row_groups: Option<(usize, usize)>,
    rows: u64,
    /// Physical column → column index in the file (None: predates the column).
    col_of: Vec<Option<usize>>,
    /// Deleted rows as [offset, count] runs.
    deleted: Vec<(u32, u32)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TableEntry {
    table_id: u32,
    rows: u64,
    segments: Vec<SegmentEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    resume: ResumePoint,
    catalog: Catalog,
    tables: Vec<TableEntry>,
    /// Microseconds since the Unix epoch.
    created_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("column store files: {0}")]
    Store(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("manifest: {0}")]
    Manifest(String),
}

/// What one persist wrote.
#[derive(Debug)]
pub struct PersistInfo {
    pub lsn: Lsn,
    pub segments_written: usize,
    pub bytes_written: u64,
    pub files_removed: usize,
    /// Bytes of segments dropped from memory afterwards.
    pub bytes_evicted: usize,
}

/// Writes snapshots into the pool's location.
pub struct Persister {
    pool: Arc<SegmentPool>,
}

/// `[offset, count]` runs of the cleared bits of a live mask.
fn deleted_runs(live: &BooleanBuffer) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for (start, end) in live.set_slices() {
        if start > at {
            out.push((at as u32, (start - at) as u32));
        }
        at = end;
    }
    if live.len() > at {
        out.push((at as u32, (live.len() - at) as u32));
    }
    out
}

fn live_mask(rows: usize, deleted: &[(u32, u32)]) -> Result<Option<BooleanBufferBuilder>, PersistError> {
    if deleted.is_empty() {
        return Ok(None);
    }
    let mut b = BooleanBufferBuilder::new(rows);
    b.append_n(rows, true);
    for &(off, n) in deleted {
        let end = off as usize + n as usize;
        if end > rows {
            return Err(PersistError::Manifest(format!("deleted rows {off}+{n} past a segment of {rows} rows")));
        }
        for i in off as usize..end {
            b.set_bit(i, false);
        }
    }
    Ok(Some(b))
}

impl Persister {
    pub fn new(pool: Arc<SegmentPool>) -> Persister {
        Persister { pool }
    }

    pub fn pool(&self) -> &Arc<SegmentPool> {
        &self.pool
    }

    /// Writes `snap` (new segments first, then the manifest), evicts
    /// persisted segments while the pool is over its limit, and removes the
    /// files nothing needs any more.
    pub async fn persist(&mut self, snap: &ColumnSnapshot, resume: ResumePoint) -> Result<PersistInfo, PersistError> {
        assert_eq!(snap.lsn, resume.lsn, "a manifest describes the snapshot its resume point belongs to");
        let mut tables = Vec::with_capacity(snap.tables.len());
        let (mut written, mut bytes) = (0usize, 0u64);
        let mut ids: Vec<&u32> = snap.tables.keys().collect();
        ids.sort();
        for id in ids {
            let t = &snap.tables[id];
            let mut segments = Vec::with_capacity(t.segments.len());
            for view in &t.segments {
                if view.segment.file().is_none() {
                    // 0: the sealed-segment writer was there first.
                    let n = write_file(&view.segment, &format!("{id}_{:016X}", snap.lsn.0)).await?;
                    bytes += n;
                    written += usize::from(n > 0);
                }
                let file = view.segment.file().expect("written above");
                segments.push(SegmentEntry {
                    file: file.name.clone(),
                    row_groups: Some((file.row_groups.start, file.row_groups.end)),
                    rows: view.segment.rows() as u64,
                    col_of: view.segment.col_of.clone(),
                    deleted: view.live.as_ref().map(deleted_runs).unwrap_or_default(),
                });
            }
            tables.push(TableEntry { table_id: *id, rows: t.rows as u64, segments });
        }
        let named: HashSet<String> = tables.iter().flat_map(|t| t.segments.iter().map(|s| s.file.clone())).collect();
        let manifest = Manifest {
            format: FORMAT,
            resume,
            catalog: (*snap.catalog).clone(),
            tables,
            created_at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0),
        };
        let json = serde_json::to_vec(&manifest).map_err(|e| PersistError::Manifest(e.to_string()))?;
        let loc = self.pool.location();
        loc.store.put(&loc.path(&[MANIFEST]), Bytes::from(json).into()).await?;
        let bytes_evicted = self.pool.evict(snap.segments());
        let removed = self.remove_unreferenced(&named).await?;
        Ok(PersistInfo { lsn: snap.lsn, segments_written: written, bytes_written: bytes, files_removed: removed, bytes_evicted })
    }

    /// Removes files neither the manifest (`named`) nor any segment names.
    async fn remove_unreferenced(&self, named: &HashSet<String>) -> Result<usize, PersistError> {
        let loc = self.pool.location();
        let prefix = loc.path(&["segments"]);
        let mut listing = loc.store.list(Some(&prefix));
        let mut doomed = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            if let Some(name) = meta.location.filename()
                && !named.contains(name)
                && !self.pool.in_use(name)
            {
                doomed.push(meta.location.clone());
            }
        }
        drop(listing);
        for p in &doomed {
            match loc.store.delete(p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(doomed.len())
    }

    /// The newest persisted snapshot as a column store, with its resume
    /// point; None when nothing was persisted. Segments are loaded into
    /// memory while the pool has room; the others stay in their files.
    pub async fn load(pool: Arc<SegmentPool>) -> Result<Option<(ColumnStore, ResumePoint, Persister)>, PersistError> {
        let loc = pool.location().clone();
        let json = match loc.store.get(&loc.path(&[MANIFEST])).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let manifest: Manifest = serde_json::from_slice(&json).map_err(|e| PersistError::Manifest(e.to_string()))?;
        if manifest.format != FORMAT {
            return Err(PersistError::Manifest(format!("format {} (this build reads {FORMAT})", manifest.format)));
        }
        let lsn = manifest.resume.lsn;
        let mut store = ColumnStore::new(Arc::new(manifest.catalog.clone()), lsn, pool.clone());
        let mut footers = HashMap::new();
        for t in &manifest.tables {
            let mut rows = 0u64;
            for s in &t.segments {
                if !footers.contains_key(&s.file) {
                    footers.insert(s.file.clone(), SegmentFile::footer(&pool, &s.file).await?);
                }
                let (size, meta) = footers[&s.file].clone();
                let groups = match s.row_groups {
                    Some((a, b)) => a..b,
                    None => 0..meta.metadata().num_row_groups(),
                };
                let width = meta.schema().fields().len();
                if s.col_of.iter().flatten().any(|&c| c == 0 || c >= width) {
                    return Err(PersistError::Manifest(format!("{}: column map {:?} for a file of {width} columns", s.file, s.col_of)));
                }
                let file = SegmentFile::new(s.file.clone(), size, meta, groups)?;
                if file.rows() as u64 != s.rows {
                    return Err(PersistError::Manifest(format!("{} has {} rows, the manifest says {}", s.file, file.rows(), s.rows)));
                }
                let room = pool.has_room(file.decoded_bytes());
                let segment = Segment::from_file(file, s.col_of.clone(), &pool);
                let rowids = if room { rowids_of(&segment.load().await?).clone() } else { segment.rowids().await? };
                let live = live_mask(segment.rows(), &s.deleted)?;
                rows += s.rows - s.deleted.iter().map(|&(_, n)| n as u64).sum::<u64>();
                store.restore_segment(t.table_id, segment, live, &rowids)?;
            }
            if rows != t.rows {
                return Err(PersistError::Manifest(format!("table {} has {rows} live rows, the manifest says {}", t.table_id, t.rows)));
            }
        }
        store.publish(lsn)?;
        Ok(Some((store, manifest.resume, Persister::new(pool))))
    }

    /// Forgets the persisted snapshot and every file no segment needs
    /// (before a rebuild).
    pub async fn clear(&mut self) -> Result<(), PersistError> {
        let loc = self.pool.location();
        match loc.store.delete(&loc.path(&[MANIFEST])).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.remove_unreferenced(&HashSet::new()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A persisted segment keeps its columns' distinct-count sketches in its
    /// file, so once evicted (or after a restart) its statistics still say
    /// how many distinct keys it holds; a small segment keeps none.
    #[tokio::test]
    async fn segment_files_carry_their_sketches() {
        use datafusion::arrow::array::{ArrayRef, Int32Array, UInt64Array};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};

        use datafusion::arrow::array::RecordBatch;

        use crate::column_stats::{ColumnMerge, ColumnSummary, SKETCH_MIN_ROWS};
        let pool = SegmentPool::unbounded();
        let segment_of = |rows: usize| {
            let schema =
                Arc::new(Schema::new(vec![Field::new("__rowid", DataType::UInt64, false), Field::new("k", DataType::Int32, true)]));
            let ids: ArrayRef = Arc::new(UInt64Array::from_iter_values(0..rows as u64));
            let keys: ArrayRef = Arc::new(Int32Array::from_iter_values((0..rows as i32).map(|i| i % 5000)));
            Segment::in_memory(RecordBatch::try_new(schema, vec![ids, keys]).unwrap(), vec![Some(1)], &pool)
        };
        let distinct_from_file = |segment: &Arc<Segment>| {
            let summary = ColumnSummary::of_file(segment.file().unwrap(), 1).unwrap();
            let mut m = ColumnMerge::new(&DataType::Int32);
            m.add(Some(&summary), segment.rows(), 1.0);
            *m.finish(segment.rows()).distinct_count.get_value().unwrap()
        };

        let big = segment_of(SKETCH_MIN_ROWS * 2);
        write_file(&big, "t").await.unwrap();
        let n = distinct_from_file(&big);
        assert!((4750..=5250).contains(&n), "distinct count from the file: {n}");

        let small = segment_of(100);
        write_file(&small, "t").await.unwrap();
        assert!(ColumnSummary::of_file(small.file().unwrap(), 1).unwrap().sketch.is_none());
        // Without a sketch each row counts as distinct: an upper bound.
        assert_eq!(distinct_from_file(&small), 100);
    }

    #[test]
    fn deleted_runs_round_trip() {
        let mut b = BooleanBufferBuilder::new(10);
        b.append_n(10, true);
        for i in [0, 1, 5, 9] {
            b.set_bit(i, false);
        }
        let live = b.finish();
        let runs = deleted_runs(&live);
        assert_eq!(runs, vec![(0, 2), (5, 1), (9, 1)]);
        let back = live_mask(10, &runs).unwrap().unwrap().finish();
        assert_eq!(back, live);
        assert!(live_mask(10, &[(8, 3)]).is_err());
    }
}
