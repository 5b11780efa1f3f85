//! The base backup: a standby's starting state is a checkpoint of the primary.
//!
//! ```text
//!   primary: CHECKPOINT → checkpoints/<lsn>/{manifest.json, <table>.parquet…}
//!            ship manifest + files ──► standby: files stored as they are,
//!                                      one segment per row group
//!   standby: then START_REPLICATION at manifest.redo_lsn, skipping the
//!            transactions manifest.snapshot() already sees
//! ```
//!
//! The checkpoint is already columnar (Parquet, `__rowid` + live columns), so
//! the standby keeps its files as they are: each row group is a segment,
//! decoded into memory only while the segment pool has room.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use duetdb_storage::checkpoint::{self, Manifest};
use duetdb_storage::{Engine, Lsn};
use object_store::ObjectStoreExt;

use crate::columnar::{ApplyError, ColumnStore};
use crate::segment::{Segment, SegmentFile, SegmentPool, rowids_of};

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

/// A column store holding a received base backup's tables, as of its
/// snapshot; `files` maps each backup file to the name it was stored as in
/// `pool`'s location.
pub async fn into_store(manifest: &Manifest, files: &HashMap<String, String>, pool: &Arc<SegmentPool>) -> Result<ColumnStore, ApplyError> {
    let catalog = Arc::new(manifest.catalog.clone());
    let mut store = ColumnStore::new(catalog.clone(), manifest.redo_lsn, pool.clone());
    let invalid = |file: &str, e: &dyn std::fmt::Display| ApplyError::Invalid(format!("base backup file {file}: {e}"));
    for tf in &manifest.tables {
        let def = catalog.tables.get(&tf.table_id).ok_or(ApplyError::UnknownTable(tf.table_id))?;
        let stored = files
            .get(&tf.file)
            .ok_or_else(|| ApplyError::Invalid(format!("base backup lacks file {} of table {}", tf.file, tf.table_id)))?;
        let (size, meta) = SegmentFile::footer(pool, stored).await.map_err(|e| invalid(&tf.file, &e))?;
        // The file holds `__rowid` + the live columns.
        let mut col_of = vec![None; def.columns.len()];
        for (ci, (p, _)) in def.live_columns().enumerate() {
            col_of[p] = Some(ci + 1);
        }
        if meta.schema().fields().len() != def.live_columns().count() + 1 {
            return Err(invalid(
                &tf.file,
                &format!("{} columns for a table of {}", meta.schema().fields().len(), def.live_columns().count()),
            ));
        }
        let mut rows = 0u64;
        for g in 0..meta.metadata().num_row_groups() {
            let file = SegmentFile::new(stored.clone(), size, meta.clone(), g..g + 1).map_err(|e| invalid(&tf.file, &e))?;
            if file.rows() == 0 {
                continue;
            }
            let room = pool.has_room(file.decoded_bytes());
            let segment = Segment::from_file(file, col_of.clone(), pool);
            let rowids = if room {
                rowids_of(&segment.load().await.map_err(|e| invalid(&tf.file, &e))?).clone()
            } else {
                segment.rowids().await.map_err(|e| invalid(&tf.file, &e))?
            };
            rows += segment.rows() as u64;
            store.add_base_segment(tf.table_id, segment, &rowids)?;
        }
        if rows != tf.rows {
            return Err(ApplyError::Invalid(format!("base backup file {} has {rows} rows, its manifest says {}", tf.file, tf.rows)));
        }
    }
    store.publish(manifest.redo_lsn)?;
    Ok(store)
}
