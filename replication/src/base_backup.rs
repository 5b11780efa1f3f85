//! The base backup: a standby's starting state is a checkpoint of the primary.
//!
//! ```text
//!   primary: CHECKPOINT → checkpoints/<lsn>/{manifest.json, <table>.parquet…}
//!            ship manifest + files ──► standby: Parquet batches → Arrow segments
//!   standby: then START_REPLICATION at manifest.redo_lsn, skipping the
//!            transactions manifest.snapshot() already sees
//! ```
//!
//! The checkpoint is already columnar (Parquet, `__rowid` + live columns), so
//! the standby's base segments are the checkpoint's record batches unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use duetdb_storage::checkpoint::{self, Manifest};
use duetdb_storage::{Engine, Lsn};
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::columnar::{ApplyError, ColumnStore};

/// A fresh checkpoint to ship: its LSN and manifest.
pub async fn take(engine: &Arc<Engine>) -> Result<(Lsn, Manifest), duetdb_storage::Error> {
    let info = engine.checkpoint().await?;
    let manifest = checkpoint::read_manifest(&engine.checkpoint_location(), info.lsn).await?;
    Ok((info.lsn, manifest))
}

/// The bytes of one file of checkpoint `lsn`.
pub async fn read_file(engine: &Arc<Engine>, lsn: Lsn, name: &str) -> Result<Bytes, duetdb_storage::Error> {
    let loc = engine.checkpoint_location();
    let path = loc.path(&["checkpoints", &checkpoint::dir_name(lsn), name]);
    Ok(loc.store.get(&path).await.map_err(duetdb_storage::Error::from)?.bytes().await.map_err(duetdb_storage::Error::from)?)
}

/// A received base backup.
pub struct Received {
    pub manifest: Manifest,
    pub files: HashMap<String, Bytes>,
}

impl Received {
    /// A column store holding the backup's tables, as of its snapshot.
    pub fn into_store(self) -> Result<ColumnStore, ApplyError> {
        let catalog = Arc::new(self.manifest.catalog.clone());
        let mut store = ColumnStore::new(catalog, self.manifest.redo_lsn);
        for tf in &self.manifest.tables {
            let bytes = self
                .files
                .get(&tf.file)
                .ok_or_else(|| ApplyError::Invalid(format!("base backup lacks file {} of table {}", tf.file, tf.table_id)))?
                .clone();
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .map_err(|e| ApplyError::Invalid(format!("base backup file {}: {e}", tf.file)))?
                .with_batch_size(crate::columnar::SMALL_SEGMENT_ROWS)
                .build()
                .map_err(|e| ApplyError::Invalid(format!("base backup file {}: {e}", tf.file)))?;
            let mut rows = 0u64;
            for batch in reader {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                store.load_base_batch(tf.table_id, batch)?;
            }
            if rows != tf.rows {
                return Err(ApplyError::Invalid(format!("base backup file {} has {rows} rows, its manifest says {}", tf.file, tf.rows)));
            }
        }
        store.publish(self.manifest.redo_lsn)?;
        Ok(store)
    }
}
