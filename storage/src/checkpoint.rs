//! Checkpoints: a consistent copy of every table, as Parquet, taken while
//! writers keep running.
//!
//! A checkpoint is an MVCC snapshot written out. The only pause is taking the
//! cut — a snapshot, the catalog that goes with it, and the WAL position — under
//! the transaction manager's lock (microseconds, measured in `CheckpointInfo`).
//! Then each table is scanned through that snapshot into Parquet files while
//! commits go on:
//!
//! ```text
//!   checkpoints/00000000052A1F38/
//!       16384.parquet   (__rowid, columns…)   one file per table, snappy-compressed
//!       16391.parquet
//!       manifest.json   written last: its presence makes the checkpoint complete
//! ```
//!
//! Replaying from the checkpoint must add exactly the transactions it lacks.
//! Those are the ones its snapshot does not see; every one of them has all its
//! WAL at or after `redo_lsn` = min(cut LSN, first LSN of any transaction
//! running at the cut). Recovery replays from `redo_lsn` and skips transactions
//! the snapshot sees, so nothing is applied twice or missed, without requiring
//! replay to be idempotent.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::arrow_conv::{BatchBuilder, batch_to_rows};
use crate::catalog::{Catalog, TableDef};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::lsn::Lsn;
use crate::sequence::SeqState;
use crate::store::Location;
use crate::txn::Snapshot;
use crate::view::ReadView;
use crate::{RowId, TxnId};

pub const FORMAT: u32 = 1;
const BATCH_ROWS: usize = 65_536;
/// Rows per Parquet row group: small enough that min/max statistics prune
/// scans usefully (a standby uses each row group of a base backup as one
/// segment), large enough to compress and scan well.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableFile {
    pub table_id: u32,
    pub file: String,
    pub rows: u64,
    pub next_rowid: RowId,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// WAL insert position at the cut.
    pub lsn: Lsn,
    /// Replay starts here.
    pub redo_lsn: Lsn,
    pub timeline: u32,
    pub snapshot_xmin: TxnId,
    pub snapshot_xmax: TxnId,
    pub snapshot_active: Vec<TxnId>,
    pub next_txn: TxnId,
    pub catalog: Catalog,
    pub sequences: HashMap<u32, SeqState>,
    pub tables: Vec<TableFile>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
}

impl Manifest {
    pub fn snapshot(&self) -> Snapshot {
        let mut active = self.snapshot_active.clone();
        active.sort_unstable();
        Snapshot { xmin: self.snapshot_xmin, xmax: self.snapshot_xmax, active: Arc::from(active) }
    }
}

#[derive(Clone, Debug)]
pub struct CheckpointInfo {
    pub lsn: Lsn,
    pub redo_lsn: Lsn,
    pub rows: u64,
    pub bytes: u64,
    /// How long writers were held off while the cut was taken.
    pub pause: Duration,
    pub total: Duration,
}

pub fn dir_name(lsn: Lsn) -> String {
    format!("{:016X}", lsn.0)
}

/// Writes a checkpoint of the engine's current state.
pub async fn write(engine: &Arc<Engine>) -> Result<CheckpointInfo> {
    let began = Instant::now();
    let shared = engine.txns.begin();
    let result = write_inner(engine, &shared, began).await;
    engine.txns.finish(&shared, None);
    result
}

async fn write_inner(engine: &Arc<Engine>, shared: &crate::txn::TxnShared, began: Instant) -> Result<CheckpointInfo> {
    let pause_start = Instant::now();
    let (snap, catalog, data, lsn, oldest_first) = engine.txns.checkpoint_cut(shared, || engine.wal.insert_lsn());
    let pause = pause_start.elapsed();
    let redo_lsn = match oldest_first {
        Some(first) => Lsn(first.min(lsn.0)),
        None => lsn,
    };
    let sequences = engine.sequences.snapshot();
    let view = ReadView { snapshot: Arc::new(snap.clone()), me: shared.id, cid: 0, catalog: catalog.clone(), data };
    let loc = engine.checkpoint_location();
    let dir = dir_name(lsn);
    let mut tables = Vec::new();
    let mut total_rows = 0;
    let mut total_bytes = 0;
    for def in catalog.tables.values() {
        let file = format!("{}.parquet", def.id);
        let (rows, bytes) = write_table(&loc, &loc.path(&["checkpoints", &dir, &file]), &view, def).await?;
        let next_rowid = view.table_data(def).map(|d| d.next_rowid()).unwrap_or(1);
        tables.push(TableFile { table_id: def.id, file, rows, next_rowid });
        total_rows += rows;
        total_bytes += bytes;
    }
    let manifest = Manifest {
        format: FORMAT,
        lsn,
        redo_lsn,
        timeline: engine.timeline(),
        snapshot_xmin: snap.xmin,
        snapshot_xmax: snap.xmax,
        snapshot_active: snap.active.to_vec(),
        next_txn: engine.txns.next_id(),
        catalog: (*catalog).clone(),
        sequences,
        tables,
        created_at: crate::transaction::now_micros(),
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
    loc.store.put(&loc.path(&["checkpoints", &dir, "manifest.json"]), json.into()).await?;
    Ok(CheckpointInfo { lsn, redo_lsn, rows: total_rows, bytes: total_bytes, pause, total: began.elapsed() })
}

async fn write_table(loc: &Location, path: &object_store::path::Path, view: &ReadView, def: &TableDef) -> Result<(u64, u64)> {
    let mut builder = BatchBuilder::for_table(def, true, BATCH_ROWS);
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_row_count(Some(ROW_GROUP_ROWS)).build();
    let sink = object_store::buffered::BufWriter::new(loc.store.clone(), path.clone());
    let mut writer = AsyncArrowWriter::try_new(sink, builder_schema(def), Some(props))?;
    let mut from = 0;
    let mut rows = 0u64;
    loop {
        // Scan a bounded batch under chunk locks, then write it without holding any.
        let next = view.scan_from(def, from, |r, row| {
            builder.push(r, row);
            if builder.len() >= BATCH_ROWS { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        });
        if !builder.is_empty() {
            let batch = builder.finish();
            rows += batch.num_rows() as u64;
            writer.write(&batch).await?;
        }
        match next {
            Some(n) => from = n,
            None => break,
        }
    }
    let bytes = writer.bytes_written() as u64;
    writer.close().await?;
    Ok((rows, bytes))
}

fn builder_schema(def: &TableDef) -> arrow::datatypes::SchemaRef {
    crate::arrow_conv::table_schema(def, true)
}

/// Start LSNs of the checkpoints with a manifest, newest first.
pub async fn list(loc: &Location) -> Result<Vec<Lsn>> {
    let listing = loc.store.list_with_delimiter(Some(&loc.path(&["checkpoints"]))).await?;
    let mut out = Vec::new();
    for p in listing.common_prefixes {
        let Some(name) = p.filename() else { continue };
        let Ok(v) = u64::from_str_radix(name, 16) else { continue };
        if name.len() == 16 && loc.store.head(&p.clone().join("manifest.json")).await.is_ok() {
            out.push(Lsn(v));
        }
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    Ok(out)
}

pub async fn read_manifest(loc: &Location, lsn: Lsn) -> Result<Manifest> {
    let path = loc.path(&["checkpoints", &dir_name(lsn), "manifest.json"]);
    let bytes = loc.store.get(&path).await?.bytes().await?;
    let m: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt(format!("checkpoint manifest {path} does not parse: {e}")))?;
    if m.format != FORMAT {
        return Err(Error::Corrupt(format!("checkpoint {path} has format {}, expected {FORMAT}", m.format)));
    }
    Ok(m)
}

/// Streams the rows of one table of a checkpoint to `f`, a batch at a time.
pub async fn read_table(
    loc: &Location,
    lsn: Lsn,
    file: &TableFile,
    def: &TableDef,
    mut f: impl FnMut(Vec<(RowId, Box<[u8]>)>) -> Result<()>,
) -> Result<()> {
    let path = loc.path(&["checkpoints", &dir_name(lsn), &file.file]);
    let reader = crate::store::ParquetObjectFile::open(loc.store.clone(), path.clone()).await?;
    let mut stream = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| Error::Corrupt(format!("checkpoint file {path}: {e}")))?
        .with_batch_size(BATCH_ROWS)
        .build()?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| Error::Corrupt(format!("checkpoint file {path}: {e}")))?;
        f(batch_to_rows(def, &batch)?)?;
    }
    Ok(())
}

/// Deletes every checkpoint older than `keep` (its files, then its directory).
pub async fn remove_older_than(loc: &Location, keep: Lsn) -> Result<usize> {
    let mut removed = 0;
    let listing = loc.store.list_with_delimiter(Some(&loc.path(&["checkpoints"]))).await?;
    for p in listing.common_prefixes {
        let Some(name) = p.filename() else { continue };
        let Ok(v) = u64::from_str_radix(name, 16) else { continue };
        if Lsn(v) >= keep {
            continue;
        }
        // Manifest first: a half-deleted checkpoint must not look complete.
        let _ = loc.store.delete(&p.clone().join("manifest.json")).await;
        let files: Vec<_> = loc.store.list(Some(&p)).collect().await;
        for f in files.into_iter().flatten() {
            loc.store.delete(&f.location).await?;
        }
        removed += 1;
    }
    Ok(removed)
}

#[allow(dead_code)]
fn _types(_: &dyn ObjectStore) {}
