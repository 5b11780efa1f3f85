//! Persisted column snapshots: the standby's tables as Parquet files plus a
//! small manifest, so a restarted standby resumes without a rebuild and any
//! Parquet engine can read the replica.
//!
//! ```text
//!   <standby dir>/columnar/            (or any object_store URL: standby_columnar_location)
//!     segments/16384_0000000001A2B3C4_0.parquet   one immutable file per sealed segment,
//!     segments/16384_0000000001A2B3C4_1.parquet   written once, shared by later manifests
//!     manifest.json                                written last, atomically (put)
//! ```
//!
//! A manifest describes one published snapshot at applied LSN `lsn`: per
//! table its segment files, each with its deleted rows (runs of offsets), and
//! what replay needs to continue exactly after it:
//!
//! - `resume`: the local WAL is replayed from here — the first record of the
//!   oldest transaction still open at `lsn` (or `lsn` itself);
//! - `in_flight`: those open transactions. Records before `lsn` matter only for
//!   them; every other transaction there was applied before the snapshot.
//! - the base backup's snapshot, whose transactions are never applied again.
//!
//! Segment files are removed only after a manifest that no longer names them
//! is in place, so the files a manifest names always exist.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{BooleanBufferBuilder, RecordBatch};
use datafusion::arrow::buffer::BooleanBuffer;
use duetdb_storage::catalog::Catalog;
use duetdb_storage::store::Location;
use duetdb_storage::txn::Snapshot;
use duetdb_storage::{Lsn, TxnId};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::columnar::{ApplyError, ColumnSnapshot, ColumnStore, Segment};

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
}

/// Writes snapshots; remembers which segments already have a file.
pub struct Persister {
    loc: Location,
    /// Segment (by address, kept alive here) → its file.
    written: HashMap<usize, (Arc<Segment>, String)>,
}

fn key(s: &Arc<Segment>) -> usize {
    Arc::as_ptr(s) as usize
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

fn encode(batch: &RecordBatch) -> Result<Vec<u8>, PersistError> {
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_row_count(Some(1 << 20)).build();
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 2);
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(buf)
}

impl Persister {
    pub fn new(loc: Location) -> Persister {
        Persister { loc, written: HashMap::new() }
    }

    pub fn location(&self) -> &Location {
        &self.loc
    }

    /// Writes `snap` (new segments first, then the manifest) and removes the
    /// files no manifest needs any more.
    pub async fn persist(&mut self, snap: &ColumnSnapshot, resume: ResumePoint) -> Result<PersistInfo, PersistError> {
        assert_eq!(snap.lsn, resume.lsn, "a manifest describes the snapshot its resume point belongs to");
        let mut tables = Vec::with_capacity(snap.tables.len());
        let mut keep: HashMap<usize, (Arc<Segment>, String)> = HashMap::new();
        let (mut written, mut bytes) = (0usize, 0u64);
        let mut ids: Vec<&u32> = snap.tables.keys().collect();
        ids.sort();
        for id in ids {
            let t = &snap.tables[id];
            let mut segments = Vec::with_capacity(t.segments.len());
            for (n, view) in t.segments.iter().enumerate() {
                let k = key(&view.segment);
                let file = match self.written.get(&k) {
                    Some((_, f)) => f.clone(),
                    None => {
                        let file = format!("{id}_{:016X}_{n}.parquet", snap.lsn.0);
                        let segment = view.segment.clone();
                        let data = tokio::task::spawn_blocking(move || encode(&segment.batch))
                            .await
                            .map_err(|e| PersistError::Manifest(format!("encoding a segment: {e}")))??;
                        bytes += data.len() as u64;
                        self.loc.store.put(&self.loc.path(&["segments", &file]), Bytes::from(data).into()).await?;
                        written += 1;
                        file
                    }
                };
                keep.insert(k, (view.segment.clone(), file.clone()));
                segments.push(SegmentEntry {
                    file,
                    rows: view.segment.rows() as u64,
                    col_of: view.segment.col_of.clone(),
                    deleted: view.live.as_ref().map(deleted_runs).unwrap_or_default(),
                });
            }
            tables.push(TableEntry { table_id: *id, rows: t.rows as u64, segments });
        }
        let manifest = Manifest {
            format: FORMAT,
            resume,
            catalog: (*snap.catalog).clone(),
            tables,
            created_at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0),
        };
        let json = serde_json::to_vec(&manifest).map_err(|e| PersistError::Manifest(e.to_string()))?;
        self.loc.store.put(&self.loc.path(&[MANIFEST]), Bytes::from(json).into()).await?;
        self.written = keep;
        let removed = self.remove_unreferenced().await?;
        Ok(PersistInfo { lsn: snap.lsn, segments_written: written, bytes_written: bytes, files_removed: removed })
    }

    async fn remove_unreferenced(&self) -> Result<usize, PersistError> {
        let live: HashSet<&str> = self.written.values().map(|(_, f)| f.as_str()).collect();
        let prefix = self.loc.path(&["segments"]);
        let mut listing = self.loc.store.list(Some(&prefix));
        let mut doomed = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            if let Some(name) = meta.location.filename()
                && !live.contains(name)
            {
                doomed.push(meta.location.clone());
            }
        }
        for p in &doomed {
            self.loc.store.delete(p).await?;
        }
        Ok(doomed.len())
    }

    /// The newest persisted snapshot as a column store, with its resume
    /// point; None when nothing was persisted.
    pub async fn load(loc: Location) -> Result<Option<(ColumnStore, ResumePoint, Persister)>, PersistError> {
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
        let mut store = ColumnStore::new(Arc::new(manifest.catalog.clone()), lsn);
        let mut persister = Persister::new(loc.clone());
        for t in &manifest.tables {
            let mut rows = 0u64;
            for s in &t.segments {
                let data = loc.store.get(&loc.path(&["segments", &s.file])).await?.bytes().await?;
                let batches = tokio::task::spawn_blocking(move || -> Result<Vec<RecordBatch>, PersistError> {
                    let reader = ParquetRecordBatchReaderBuilder::try_new(data)?.with_batch_size(usize::MAX >> 1).build()?;
                    Ok(reader.collect::<Result<Vec<_>, _>>()?)
                })
                .await
                .map_err(|e| PersistError::Manifest(format!("decoding {}: {e}", s.file)))??;
                let batch = match batches.as_slice() {
                    [one] => one.clone(),
                    [] => return Err(PersistError::Manifest(format!("segment file {} is empty", s.file))),
                    many => datafusion::arrow::compute::concat_batches(&many[0].schema(), many)
                        .map_err(|e| PersistError::Manifest(e.to_string()))?,
                };
                if batch.num_rows() as u64 != s.rows {
                    return Err(PersistError::Manifest(format!("{} has {} rows, the manifest says {}", s.file, batch.num_rows(), s.rows)));
                }
                let live = live_mask(batch.num_rows(), &s.deleted)?;
                rows += s.rows - s.deleted.iter().map(|&(_, n)| n as u64).sum::<u64>();
                let segment = Arc::new(Segment { batch, col_of: s.col_of.clone() });
                persister.written.insert(key(&segment), (segment.clone(), s.file.clone()));
                store.restore_segment(t.table_id, segment, live)?;
            }
            if rows != t.rows {
                return Err(PersistError::Manifest(format!("table {} has {rows} live rows, the manifest says {}", t.table_id, t.rows)));
            }
        }
        store.publish(lsn)?;
        Ok(Some((store, manifest.resume, persister)))
    }

    /// Forgets every persisted file (before a rebuild).
    pub async fn clear(&mut self) -> Result<(), PersistError> {
        match self.loc.store.delete(&self.loc.path(&[MANIFEST])).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.written.clear();
        self.remove_unreferenced().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
