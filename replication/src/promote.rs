//! Promotion: a standby's column store becomes a primary's row store.
//!
//! A standby holds everything a primary needs, in another shape: its tables
//! as Arrow segments at applied LSN L, its copy of the primary's WAL up to L,
//! and (in the `Applier`) the sequence states and the timeline the WAL logged.
//! Promotion writes that state out in the storage engine's own layout, so the
//! engine opens it by ordinary crash recovery:
//!
//! ```text
//!   column store at L ──► checkpoints/<L>/<table>.parquet  (__rowid + live columns)
//!                         checkpoints/<L>/manifest.json    (catalog, sequences, timeline T+1,
//!                                                           snapshot: every row committed)
//!   standby_wal/*.wal ──► wal/*.wal  (same frames, same file names; cut at L)
//!   Engine::open: load checkpoint L, replay nothing, append from L
//! ```
//!
//! The old WAL files move along so that other standbys, which stopped
//! somewhere before L, can stream the rest from the new primary and follow it.
//!
//! Invariants:
//! - L is the end of the last complete frame received. Every transaction
//!   whose Commit is before L is in the tables; transactions still open at L
//!   never commit (the new primary logs an Abort for each, so a standby that
//!   follows drops them too).
//! - The new primary's transaction ids start above any id the old timeline
//!   could have handed out before L (the highest one seen, plus a margin for
//!   ids that wrote no WAL), so no standby mistakes a new transaction for one
//!   its base snapshot already contains.
//! - The manifest is written last: a promotion that fails half way leaves no
//!   checkpoint the engine would load, and the standby state is untouched
//!   until the engine has opened.

use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use duetdb_storage::arrow_conv::table_schema;
use duetdb_storage::checkpoint::{self, Manifest, TableFile};
use duetdb_storage::store::Location;
use duetdb_storage::{Lsn, TxnId};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::apply::Applier;
use crate::columnar::{ColumnSnapshot, ColumnStore};
use crate::receiver::LocalState;

/// Transaction ids the old primary may have handed out without logging them
/// (read-only transactions, ones still running at the failure).
pub const TXN_ID_MARGIN: TxnId = 1 << 24;

/// What the new primary must do after opening the engine.
#[derive(Debug)]
pub struct Promoted {
    /// Where the new timeline starts.
    pub lsn: Lsn,
    pub timeline: u32,
    /// Open on the old timeline at `lsn`: to be logged as aborted.
    pub in_flight: Vec<TxnId>,
    pub rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("writing the row store: {0}")]
    Storage(#[from] duetdb_storage::Error),
    #[error("writing the row store: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("writing the row store: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("moving the standby's WAL: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Apply(#[from] crate::columnar::ApplyError),
    #[error("{0}")]
    State(String),
}

/// Writes the standby's state as a storage checkpoint in `location` and its
/// WAL into `wal_dir`, ready for `Engine::open`.
pub async fn write_row_store(
    location: &Location,
    wal_dir: &Path,
    store: &mut ColumnStore,
    applier: &Applier,
    local: &mut Option<LocalState>,
) -> Result<Promoted, PromoteError> {
    let lsn = applier.received;
    if !checkpoint::list(location).await?.is_empty() {
        return Err(PromoteError::State(format!("{} already holds checkpoints: not a standby's data directory", location.display)));
    }
    if wal_dir.exists() && std::fs::read_dir(wal_dir)?.next().is_some() {
        return Err(PromoteError::State(format!("{} already holds WAL: not a standby's data directory", wal_dir.display())));
    }
    store.publish(lsn)?;
    let snap = store.snapshot();
    assert_eq!(snap.lsn, lsn, "the snapshot written is the one at the promotion LSN");

    let dir = checkpoint::dir_name(lsn);
    let mut tables = Vec::new();
    let mut rows = 0;
    for def in snap.catalog.tables.values() {
        let file = format!("{}.parquet", def.id);
        let (n, next_rowid) = write_table(location, &location.path(&["checkpoints", &dir, &file]), &snap, def.id).await?;
        rows += n;
        tables.push(TableFile { table_id: def.id, file, rows: n, next_rowid });
    }

    // The WAL first, the manifest last: the manifest makes the checkpoint real.
    std::fs::create_dir_all(wal_dir)?;
    if let Some(local) = local.take() {
        local.hand_over(lsn, wal_dir).await?;
    }

    let next_txn = applier.max_txn.max(applier.resume_point().base_xmax) + TXN_ID_MARGIN;
    let timeline = applier.timeline + 1;
    let manifest = Manifest {
        format: checkpoint::FORMAT,
        lsn,
        redo_lsn: lsn,
        timeline,
        snapshot_xmin: next_txn,
        snapshot_xmax: next_txn,
        snapshot_active: vec![],
        next_txn,
        catalog: (*snap.catalog).clone(),
        sequences: applier.sequences.clone(),
        tables,
        created_at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0),
    };
    duetdb_storage::Engine::write_manifest_direct(location, &manifest).await?;
    Ok(Promoted { lsn, timeline, in_flight: applier.in_flight_txns(), rows })
}

/// One table's live rows as a checkpoint file; returns (rows, next row id).
async fn write_table(
    location: &Location,
    path: &object_store::path::Path,
    snap: &ColumnSnapshot,
    table: u32,
) -> Result<(u64, u64), PromoteError> {
    let def = snap.catalog.tables.get(&table).expect("table of the snapshot's catalog");
    let schema = table_schema(def, true);
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(duetdb_storage::checkpoint::ROW_GROUP_ROWS))
        .build();
    let sink = object_store::buffered::BufWriter::new(location.store.clone(), path.clone());
    let mut writer = AsyncArrowWriter::try_new(sink, schema.clone(), Some(props))?;
    let live: Vec<usize> = def.live_columns().map(|(i, _)| i).collect();
    let mut rows = 0u64;
    let mut max_rowid = 0u64;
    if let Some(t) = snap.tables.get(&table) {
        for view in &t.segments {
            if view.live_rows == 0 {
                continue;
            }
            // Cold segments are read back from their files, one at a time.
            let columns = view.read_live(def, &live).await?;
            let batch = RecordBatch::try_new(schema.clone(), columns)?;
            let ids = batch.column(0).as_any().downcast_ref::<datafusion::arrow::array::UInt64Array>().expect("__rowid is UInt64");
            max_rowid = ids.iter().flatten().fold(max_rowid, u64::max);
            rows += batch.num_rows() as u64;
            writer.write(&batch).await?;
        }
    }
    writer.close().await?;
    Ok((rows, max_rowid + 1))
}
