//! Recovery: newest complete checkpoint + the WAL after it.
//!
//! ```text
//!   checkpoint (snapshot S, redo_lsn R)          WAL
//!   ┌──────────────────────────────┐    R ─────────────────────────────► end
//!   │ tables as of S  (Parquet)    │    Changes/Commit/Abort/SubAbort records
//!   └──────────────────────────────┘    replay txn T at its Commit iff S does not see T
//! ```
//!
//! Changes are buffered per transaction and applied when its Commit record is
//! read, so a transaction without a commit record (running at the crash, or
//! rolled back) leaves no trace. Replayed rows are frozen: after recovery no
//! transaction is running, so every surviving version is visible to all.
//!
//! The end of the log is where reading stops. A clean end, or a bad frame with
//! nothing after it that proves it had been flushed, is the tail: it is cut there
//! (a line in the log says so). A bad frame followed by a record written after it
//! was flushed is corruption, and recovery refuses to continue rather than
//! silently drop committed transactions (see `wal::reader`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::checkpoint::{self, Manifest};
use crate::error::{Error, Result};
use crate::index::Index;
use crate::lsn::Lsn;
use crate::row::validate_row;
use crate::sequence::SeqState;
use crate::store::Location;
use crate::table::TableData;
use crate::transaction::plan_catalog_change;
use crate::txn::{DataMap, FIRST_TXN, Snapshot};
use crate::version::Version;
use crate::wal::reader::{Stop, WalReader};
use crate::wal::record::{Change, WalRecord, decode_payload};
use crate::{RowId, TxnId};

/// The state recovery rebuilt.
pub struct Recovered {
    pub catalog: Arc<Catalog>,
    pub data: DataMap,
    pub sequences: HashMap<u32, SeqState>,
    pub next_txn: TxnId,
    pub timeline: u32,
    /// Where the WAL ends: appending resumes here.
    pub end: Lsn,
    pub checkpoint: Manifest,
    pub records: u64,
    pub transactions: u64,
    /// Set when a torn tail was cut.
    pub torn: Option<String>,
}

/// Loads the newest checkpoint that loads, then replays the WAL in `wal_dir`.
pub async fn recover(loc: &Location, wal_dir: &Path) -> Result<Recovered> {
    let checkpoints = checkpoint::list(loc).await?;
    if checkpoints.is_empty() {
        return Err(Error::Corrupt(format!(
            "no checkpoint found in {}: not a duetdb data directory, or it was never initialized",
            loc.display
        )));
    }
    let mut last_err = None;
    for lsn in checkpoints {
        match load_checkpoint(loc, lsn).await {
            Ok(state) => return replay(state, wal_dir),
            Err(e) => {
                tracing::warn!(checkpoint = %lsn, error = %e, "checkpoint does not load; trying an older one");
                last_err = Some(e);
            }
        }
    }
    Err(last_err.unwrap())
}

/// The row store being rebuilt.
pub struct ReplayState {
    pub catalog: Arc<Catalog>,
    pub data: DataMap,
    pub sequences: HashMap<u32, SeqState>,
    pub manifest: Manifest,
    pub timeline: u32,
}

async fn load_checkpoint(loc: &Location, lsn: Lsn) -> Result<ReplayState> {
    let manifest = checkpoint::read_manifest(loc, lsn).await?;
    let catalog = Arc::new(manifest.catalog.clone());
    let mut data = DataMap::new();
    for def in catalog.tables.values() {
        let td = Arc::new(TableData::new(def.id, def.relfilenode));
        for idx in &def.indexes {
            td.add_index(TableData::new_index(idx));
        }
        data.insert(def.relfilenode, td);
    }
    for file in &manifest.tables {
        let def = catalog
            .tables
            .get(&file.table_id)
            .ok_or_else(|| Error::Corrupt(format!("checkpoint has a file for unknown table {}", file.table_id)))?;
        let td = data[&def.relfilenode].clone();
        td.bump_rowid(file.next_rowid.saturating_sub(1));
        let layout = def.layout();
        let (types, missing) = (&layout.types, &layout.missing);
        let indexes = td.indexes();
        checkpoint::read_table(loc, lsn, file, def, |rows| {
            for (rowid, row) in rows {
                put_frozen(&td, &indexes, &types, &missing, rowid, row);
            }
            Ok(())
        })
        .await?;
    }
    let sequences = manifest.sequences.clone();
    let timeline = manifest.timeline;
    Ok(ReplayState { catalog, data, sequences, manifest, timeline })
}

fn put_frozen(
    td: &TableData,
    indexes: &[Arc<Index>],
    types: &[crate::types::DataType],
    missing: &[crate::types::Value],
    rowid: RowId,
    row: Box<[u8]>,
) {
    for idx in indexes {
        let (key, _) = idx.key_of(types, missing, &row);
        idx.insert(&key, rowid);
    }
    freeze(td, rowid, row);
}

/// Makes `row` the only version of `rowid`, visible to every snapshot.
fn freeze(td: &TableData, rowid: RowId, row: Box<[u8]>) {
    td.bump_rowid(rowid);
    td.with_chain_mut(rowid, |chain| {
        chain.clear();
        chain.push(Version::frozen(row));
    });
}

fn corrupt_before_end(at: Lsn, what: &str, proof: Lsn) -> Error {
    Error::Corrupt(format!(
        "WAL is damaged at {at} ({what}), and the record at {proof} shows that part had been flushed: the log is \
         corrupt before its end. Refusing to start; restore from a standby or a backup"
    ))
}

fn replay(mut st: ReplayState, wal_dir: &Path) -> Result<Recovered> {
    let snap: Snapshot = st.manifest.snapshot();
    let redo = st.manifest.redo_lsn;
    std::fs::create_dir_all(wal_dir)?;
    let mut reader = WalReader::new(wal_dir, redo)?;
    let mut pending: HashMap<TxnId, Vec<Change>> = HashMap::new();
    let mut max_txn = 0;
    let mut records = 0u64;
    let mut transactions = 0u64;
    let mut torn = None;
    let end = loop {
        match reader.read(Lsn(u64::MAX))? {
            Ok(Some(rec)) => {
                records += 1;
                let decoded =
                    decode_payload(rec.kind, rec.payload()).map_err(|e| Error::Corrupt(format!("WAL record at {}: {e}", rec.lsn)))?;
                match decoded {
                    WalRecord::Changes { txn, first_seq, changes } => {
                        max_txn = max_txn.max(txn);
                        if !snap.sees(txn) {
                            append_changes(&mut pending, txn, first_seq, changes, rec.lsn)?;
                        }
                    }
                    WalRecord::Commit { txn, first_seq, changes, .. } => {
                        max_txn = max_txn.max(txn);
                        if !snap.sees(txn) {
                            append_changes(&mut pending, txn, first_seq, changes, rec.lsn)?;
                            let all = pending.remove(&txn).unwrap_or_default();
                            for c in all {
                                apply_change(&mut st, c)
                                    .map_err(|e| Error::Corrupt(format!("replaying transaction {txn} at {}: {e}", rec.lsn)))?;
                            }
                            transactions += 1;
                        }
                    }
                    WalRecord::Abort { txn } => {
                        max_txn = max_txn.max(txn);
                        pending.remove(&txn);
                    }
                    WalRecord::SubAbort { txn, seq } => {
                        if let Some(buf) = pending.get_mut(&txn) {
                            buf.truncate(seq as usize);
                        }
                    }
                    WalRecord::Sequence { id, value, is_called } => {
                        st.sequences.insert(id, SeqState { last_value: value, is_called, logged: value });
                    }
                    WalRecord::Timeline { timeline } => st.timeline = timeline,
                }
            }
            Ok(None) => unreachable!("no limit"),
            Err(Stop::End { at }) => break at,
            Err(Stop::Unwritten { at }) => {
                // Zeros where a record would begin: the unwritten rest of a
                // preallocated segment — or a flushed stretch that was zeroed
                // later, which a durable frame further on would prove.
                if let Some(proof) = reader.find_durable_record_after(at)? {
                    return Err(corrupt_before_end(at, "zeroed bytes", proof));
                }
                break at;
            }
            Err(Stop::BadFrame { at, reason }) => {
                if let Some(proof) = reader.find_durable_record_after(at)? {
                    return Err(corrupt_before_end(at, &reason, proof));
                }
                let msg = format!("WAL ends with an incomplete or damaged record at {at} ({reason}); cut there");
                tracing::warn!("{msg}");
                torn = Some(msg);
                break at;
            }
        }
    };
    if !pending.is_empty() {
        tracing::info!(count = pending.len(), "discarding transactions that never committed");
    }
    let next_txn = st.manifest.next_txn.max(max_txn + 1).max(FIRST_TXN);
    Ok(Recovered {
        catalog: st.catalog,
        data: st.data,
        sequences: st.sequences,
        next_txn,
        timeline: st.timeline,
        end,
        checkpoint: st.manifest,
        records,
        transactions,
        torn,
    })
}

fn append_changes(pending: &mut HashMap<TxnId, Vec<Change>>, txn: TxnId, first_seq: u64, changes: Vec<Change>, at: Lsn) -> Result<()> {
    let buf = pending.entry(txn).or_default();
    if buf.len() as u64 != first_seq {
        return Err(Error::Corrupt(format!(
            "WAL record at {at}: transaction {txn} continues at change {first_seq}, but {} were read",
            buf.len()
        )));
    }
    buf.extend(changes);
    Ok(())
}

/// Applies one committed change to the row store being recovered.
pub fn apply_change(st: &mut ReplayState, change: Change) -> Result<()> {
    match change {
        Change::Insert { table, rowid, row } | Change::Update { table, rowid, row } => {
            let def = st.catalog.tables.get(&table).ok_or_else(|| Error::Corrupt(format!("unknown table {table}")))?;
            let layout = def.layout();
            let (types, missing) = (&layout.types, &layout.missing);
            validate_row(&types, &row)?;
            let td = st.data.get(&def.relfilenode).ok_or_else(|| Error::Corrupt(format!("no storage for {table}")))?;
            let old = td.with_chain(rowid, |c| c.last().map(|v| v.row.clone())).flatten();
            // Index entries point at the row id, so an update that keeps a
            // key (most updates: pgbench's never touch one) keeps its entry;
            // only changed keys are moved. The B-tree work was most of replay.
            for idx in td.indexes().iter() {
                let (key, _) = idx.key_of(types, missing, &row);
                if let Some(old) = &old {
                    let (old_key, _) = idx.key_of(types, missing, old);
                    if old_key == key {
                        continue;
                    }
                    idx.remove(&old_key, rowid);
                }
                idx.insert(&key, rowid);
            }
            freeze(td, rowid, row);
        }
        Change::Delete { table, rowid } => {
            let def = st.catalog.tables.get(&table).ok_or_else(|| Error::Corrupt(format!("unknown table {table}")))?;
            let layout = def.layout();
            let (types, missing) = (&layout.types, &layout.missing);
            let td = st.data.get(&def.relfilenode).ok_or_else(|| Error::Corrupt(format!("no storage for {table}")))?;
            let old = td.with_chain_mut(rowid, |c| c.pop().map(|v| v.row)).flatten();
            if let Some(old) = old {
                remove_entries(td, &types, &missing, rowid, &old);
            }
        }
        Change::Catalog(new) => {
            let new = Arc::new(*new);
            let plan = plan_catalog_change(&st.catalog, &new);
            for rel in &plan.dropped_storage {
                st.data.remove(rel);
            }
            for &id in &plan.new_storage {
                let def = &new.tables[&id];
                let td = Arc::new(TableData::new(def.id, def.relfilenode));
                for idx in &def.indexes {
                    td.add_index(TableData::new_index(idx));
                }
                st.data.insert(def.relfilenode, td);
            }
            for &(table, index) in &plan.new_indexes {
                let def = &new.tables[&table];
                let td = st.data[&def.relfilenode].clone();
                let idef = def.indexes.iter().find(|i| i.id == index).unwrap();
                let idx = TableData::new_index(idef);
                let layout = def.layout();
                let (types, missing) = (&layout.types, &layout.missing);
                for (ci, chunk) in td.chunks().iter().enumerate() {
                    let slots = chunk.slots.read();
                    for (si, chain) in slots.iter().enumerate() {
                        if let Some(v) = chain.last() {
                            let rowid = ((ci as u64) << crate::table::CHUNK_BITS) + si as u64;
                            idx.insert(&idx.key_of(&types, &missing, &v.row).0, rowid);
                        }
                    }
                }
                td.add_index(idx);
            }
            for &(table, index) in &plan.dropped_indexes {
                if let Some(def) = new.tables.get(&table)
                    && let Some(td) = st.data.get(&def.relfilenode)
                {
                    td.drop_index(index);
                }
            }
            for (id, _) in st.catalog.sequences.iter() {
                if !new.sequences.contains_key(id) {
                    st.sequences.remove(id);
                }
            }
            st.catalog = new;
        }
    }
    Ok(())
}

fn remove_entries(td: &TableData, types: &[crate::types::DataType], missing: &[crate::types::Value], rowid: RowId, row: &[u8]) {
    for idx in td.indexes().iter() {
        let (key, _) = idx.key_of(types, missing, row);
        idx.remove(&key, rowid);
    }
}
