//! The engine: opening (recovery), transactions, checkpoints, retention, vacuum.
//!
//! ```text
//!   data dir/
//!     wal/              segment files (see `wal`)
//!     checkpoints/      Parquet checkpoints (or an object store URL, see `store`)
//!     slots.json        replication slots
//! ```
//!
//! A background thread takes a checkpoint every `checkpoint_timeout` or after
//! `max_wal_size` bytes of WAL, then removes checkpoints and WAL nobody needs
//! (keeping what replication slots hold), and vacuums tables with many dead
//! versions. Shutdown flushes the WAL and, when asked, takes a final checkpoint
//! so the next start replays nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::catalog::{Catalog, TableDef};
use crate::checkpoint::{self, CheckpointInfo};
use crate::error::{Error, Result};
use crate::gc;
use crate::lock::{TableLocks, WaitGraph};
use crate::lsn::Lsn;
use crate::recovery::{self, Recovered};
use crate::row::RowBuf;
use crate::sequence::Sequences;
use crate::slots::Slots;
use crate::store::Location;
use crate::table::TableData;
use crate::transaction::Transaction;
use crate::txn::{DataMap, FIRST_TXN, Isolation, TxnManager};
use crate::wal::writer::{FIRST_LSN, Wal, WalConfig};
use crate::{RowId, TxnId};

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub dir: PathBuf,
    pub wal: WalConfig,
    /// Where checkpoints go: a directory or an object store URL. Default: `dir/checkpoints`'s parent.
    pub checkpoint_location: Option<String>,
    pub checkpoint_timeout: Duration,
    /// Take a checkpoint after this much WAL.
    pub max_wal_size: u64,
    /// Invalidate replication slots more than this many bytes behind (0 = never).
    pub max_slot_wal_keep_size: u64,
    /// Run checkpoints and vacuum in the background.
    pub background: bool,
}

impl EngineConfig {
    pub fn new(dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            dir: dir.into(),
            wal: WalConfig::default(),
            checkpoint_location: None,
            checkpoint_timeout: Duration::from_secs(300),
            max_wal_size: 1 << 30,
            max_slot_wal_keep_size: 0,
            background: true,
        }
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.dir.join("wal")
    }
}

/// Counters for metrics.
#[derive(Default, Debug)]
pub struct EngineStats {
    pub checkpoints: AtomicU64,
    pub last_checkpoint_lsn: AtomicU64,
    pub last_checkpoint_micros: AtomicU64,
    pub last_checkpoint_pause_micros: AtomicU64,
    pub vacuum_versions: AtomicU64,
}

pub struct Engine {
    pub config: EngineConfig,
    pub wal: Wal,
    pub txns: TxnManager,
    pub waits: Arc<WaitGraph>,
    pub table_locks: TableLocks,
    pub(crate) ddl_lock: Arc<tokio::sync::Mutex<()>>,
    pub sequences: Sequences,
    pub slots: Slots,
    pub stats: EngineStats,
    location: Location,
    timeline: AtomicU32,
    read_only: AtomicBool,
    redo_of_last_checkpoint: AtomicU64,
    checkpoint_lock: tokio::sync::Mutex<()>,
    shutdown: AtomicBool,
    background: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// What recovery found (for logs and tests).
    pub recovery_report: Mutex<Option<String>>,
}

impl Engine {
    /// Creates a new, empty cluster in `config.dir`: the bootstrap catalog as
    /// checkpoint zero and an empty WAL.
    pub async fn init(config: &EngineConfig, catalog: Catalog) -> Result<()> {
        std::fs::create_dir_all(&config.dir)?;
        let wal_dir = config.wal_dir();
        if wal_dir.exists() && std::fs::read_dir(&wal_dir)?.next().is_some() {
            return Err(Error::InvalidDefinition(format!("{} already holds a WAL", config.dir.display())));
        }
        std::fs::create_dir_all(&wal_dir)?;
        let location = Self::open_location(config)?;
        if !checkpoint::list(&location).await?.is_empty() {
            return Err(Error::InvalidDefinition(format!("{} already holds checkpoints", location.display)));
        }
        let manifest = checkpoint::Manifest {
            format: checkpoint::FORMAT,
            lsn: FIRST_LSN,
            redo_lsn: FIRST_LSN,
            timeline: 1,
            snapshot_xmin: FIRST_TXN,
            snapshot_xmax: FIRST_TXN,
            snapshot_active: vec![],
            next_txn: FIRST_TXN,
            catalog,
            sequences: Default::default(),
            tables: vec![],
            created_at: crate::transaction::now_micros(),
        };
        Self::write_manifest_direct(&location, &manifest).await?;
        // Create the first segment so the WAL has a home.
        drop(Wal::open(&wal_dir, FIRST_LSN, config.wal.clone())?);
        Ok(())
    }

    /// Writes a manifest for a state built outside the engine (init, or a
    /// promoted standby turning its columns into a row store).
    pub async fn write_manifest_direct(location: &Location, manifest: &checkpoint::Manifest) -> Result<()> {
        use object_store::ObjectStoreExt;
        let json = serde_json::to_vec_pretty(manifest).map_err(|e| Error::Internal(e.to_string()))?;
        let path = location.path(&["checkpoints", &checkpoint::dir_name(manifest.lsn), "manifest.json"]);
        location.store.put(&path, json.into()).await?;
        Ok(())
    }

    fn open_location(config: &EngineConfig) -> Result<Location> {
        match &config.checkpoint_location {
            Some(spec) => Location::open(spec),
            None => Location::local(&config.dir),
        }
    }

    /// Opens an existing cluster: recovery, then the WAL for appending.
    pub async fn open(config: EngineConfig) -> Result<Arc<Engine>> {
        let began = Instant::now();
        let location = Self::open_location(&config)?;
        let wal_dir = config.wal_dir();
        let rec: Recovered = recovery::recover(&location, &wal_dir).await?;
        let report = format!(
            "recovered from checkpoint {} (redo {}), replayed {} records / {} transactions to {} in {:?}{}",
            rec.checkpoint.lsn,
            rec.checkpoint.redo_lsn,
            rec.records,
            rec.transactions,
            rec.end,
            began.elapsed(),
            rec.torn.as_ref().map(|t| format!("; {t}")).unwrap_or_default()
        );
        tracing::info!("{report}");
        let wal = Wal::open(&wal_dir, rec.end, config.wal.clone())?;
        let slots = Slots::load(&config.dir)?;
        let engine = Arc::new(Engine {
            wal,
            txns: TxnManager::new(rec.next_txn, rec.catalog, Arc::new(rec.data)),
            waits: Arc::new(WaitGraph::default()),
            table_locks: TableLocks::default(),
            ddl_lock: Arc::new(tokio::sync::Mutex::new(())),
            sequences: Sequences::from_states(rec.sequences),
            slots,
            stats: EngineStats::default(),
            location,
            timeline: AtomicU32::new(rec.timeline),
            read_only: AtomicBool::new(false),
            redo_of_last_checkpoint: AtomicU64::new(rec.checkpoint.redo_lsn.0),
            checkpoint_lock: tokio::sync::Mutex::new(()),
            shutdown: AtomicBool::new(false),
            background: Mutex::new(None),
            recovery_report: Mutex::new(Some(report)),
            config,
        });
        engine.stats.last_checkpoint_lsn.store(rec.checkpoint.lsn.0, Ordering::Relaxed);
        if engine.config.background {
            let weak = Arc::downgrade(&engine);
            let handle = std::thread::Builder::new().name("checkpointer".into()).spawn(move || background_loop(weak))?;
            *engine.background.lock() = Some(handle);
        }
        Ok(engine)
    }

    pub fn begin(self: &Arc<Self>, isolation: Isolation) -> Transaction {
        let read_only = self.is_read_only();
        Transaction::new(self.clone(), isolation, read_only)
    }

    /// A snapshot for a statement that only reads, outside any transaction (see `reader`).
    pub fn reader(self: &Arc<Self>) -> crate::reader::Reader {
        crate::reader::Reader::new(self.clone())
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::Acquire)
    }

    /// Refuses new writes (switchover demotes a primary this way).
    pub fn set_read_only(&self, read_only: bool) {
        self.read_only.store(read_only, Ordering::Release);
    }

    pub fn timeline(&self) -> u32 {
        self.timeline.load(Ordering::Acquire)
    }

    /// Starts a new timeline (after promotion) and logs it.
    pub fn set_timeline(&self, timeline: u32) -> Result<Lsn> {
        self.timeline.store(timeline, Ordering::Release);
        let (_, end) = self.wal.append(crate::wal::record::Kind::Timeline, &crate::wal::record::encode_timeline(timeline))?;
        self.wal.wait_flushed_blocking(end)?;
        Ok(end)
    }

    pub fn checkpoint_location(&self) -> Location {
        self.location.clone()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.txns.committed_catalog().0
    }

    pub fn data(&self) -> Arc<DataMap> {
        self.txns.committed_catalog().1
    }

    /// Takes a checkpoint now, then removes what it made unnecessary.
    pub async fn checkpoint(self: &Arc<Self>) -> Result<CheckpointInfo> {
        let _one_at_a_time = self.checkpoint_lock.lock().await;
        let info = checkpoint::write(self).await?;
        self.redo_of_last_checkpoint.store(info.redo_lsn.0, Ordering::Release);
        self.stats.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.stats.last_checkpoint_lsn.store(info.lsn.0, Ordering::Relaxed);
        self.stats.last_checkpoint_micros.store(info.total.as_micros() as u64, Ordering::Relaxed);
        self.stats.last_checkpoint_pause_micros.store(info.pause.as_micros() as u64, Ordering::Relaxed);
        checkpoint::remove_older_than(&self.location, info.lsn).await?;
        self.remove_old_wal()?;
        tracing::info!(
            lsn = %info.lsn, rows = info.rows, bytes = info.bytes,
            pause_us = info.pause.as_micros() as u64, total_ms = info.total.as_millis() as u64,
            "checkpoint complete"
        );
        Ok(info)
    }

    /// Removes WAL below the last checkpoint's redo point and every valid slot.
    pub fn remove_old_wal(&self) -> Result<usize> {
        let invalidated = self.slots.invalidate_lagging(self.wal.flushed_lsn(), self.config.max_slot_wal_keep_size)?;
        for name in invalidated {
            tracing::warn!(slot = %name, "replication slot invalidated: it fell behind max_slot_wal_keep_size");
        }
        let mut keep = Lsn(self.redo_of_last_checkpoint.load(Ordering::Acquire));
        if let Some(s) = self.slots.min_restart_lsn() {
            keep = keep.min(s);
        }
        self.wal.remove_before(keep)
    }

    /// The oldest LSN still on disk (WAL senders start no earlier).
    pub fn oldest_wal_lsn(&self) -> Result<Lsn> {
        self.wal.oldest_lsn()
    }

    /// Vacuums every table; returns versions removed.
    pub fn vacuum(&self) -> gc::VacuumStats {
        let horizon = self.txns.refresh_horizon();
        let (catalog, data) = self.txns.committed_catalog();
        let mut total = gc::VacuumStats::default();
        for def in catalog.tables.values() {
            if let Some(td) = data.get(&def.relfilenode) {
                let s = gc::vacuum_table(td, def, horizon);
                total.versions_removed += s.versions_removed;
                total.rows_removed += s.rows_removed;
            }
        }
        self.stats.vacuum_versions.fetch_add(total.versions_removed, Ordering::Relaxed);
        total
    }

    /// Vacuums one table.
    pub fn vacuum_table(&self, def: &TableDef) -> gc::VacuumStats {
        let horizon = self.txns.refresh_horizon();
        match self.data().get(&def.relfilenode) {
            Some(td) => gc::vacuum_table(td, def, horizon),
            None => gc::VacuumStats::default(),
        }
    }

    /// Prunes one row's chain right after an update.
    pub(crate) fn prune_row(&self, data: &TableData, def: &TableDef, rowid: RowId) {
        let horizon = self.txns.horizon();
        let removed = data.with_chain_mut(rowid, |chain| if chain.len() < 3 { Vec::new() } else { gc::prune_chain(chain, horizon) });
        if let Some(removed) = removed
            && !removed.is_empty()
        {
            let rows: Vec<RowBuf> = removed.into_iter().map(|v| v.row).collect();
            gc::remove_index_entries(data, def, rowid, &rows);
        }
    }

    pub(crate) fn remove_index_entries(&self, data: &TableData, def: &TableDef, rowid: RowId, rows: &[RowBuf]) {
        gc::remove_index_entries(data, def, rowid, rows);
    }

    pub(crate) fn on_catalog_committed(&self, old: &Catalog, new: &Catalog) {
        for id in old.sequences.keys() {
            if !new.sequences.contains_key(id) {
                self.sequences.remove(*id);
            }
        }
    }

    /// `nextval()`: the value, and the WAL position that must be durable
    /// before the value may be relied on (see `sequence`).
    pub fn nextval(&self, def: &crate::catalog::SequenceDef) -> Result<(i64, Option<Lsn>)> {
        use crate::wal::record::{Kind, encode_sequence};
        if self.is_read_only() {
            return Err(Error::ReadOnly("cannot execute nextval() in a read-only transaction".into()));
        }
        self.sequences.next(def, |logged| Ok(self.wal.append(Kind::Sequence, &encode_sequence(def.id, logged, true))?.1))
    }

    /// `setval()`; returns the WAL position to make durable.
    pub fn setval(&self, def: &crate::catalog::SequenceDef, value: i64, is_called: bool) -> Result<Lsn> {
        use crate::wal::record::{Kind, encode_sequence};
        if self.is_read_only() {
            return Err(Error::ReadOnly("cannot execute setval() in a read-only transaction".into()));
        }
        self.sequences.set(def, value, is_called, || Ok(self.wal.append(Kind::Sequence, &encode_sequence(def.id, value, is_called))?.1))
    }

    /// Oldest running transaction's id and age (monitoring).
    pub fn oldest_running(&self) -> Option<(TxnId, Duration)> {
        self.txns.running_list().first().map(|t| (t.id, t.started.elapsed()))
    }

    /// Flushes the WAL, stops background work and (optionally) checkpoints so
    /// the next start has nothing to replay.
    pub async fn shutdown(self: &Arc<Self>, final_checkpoint: bool) -> Result<()> {
        self.shutdown.store(true, Ordering::Release);
        let handle = self.background.lock().take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        if final_checkpoint {
            self.checkpoint().await?;
        }
        let end = self.wal.insert_lsn();
        self.wal.wait_flushed(end).await?;
        Ok(())
    }
}

fn background_loop(engine: std::sync::Weak<Engine>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the checkpointer");
            return;
        }
    };
    let mut last_checkpoint = Instant::now();
    let mut last_vacuum = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let Some(engine) = engine.upgrade() else { return };
        if engine.shutdown.load(Ordering::Acquire) {
            return;
        }
        let wal_since = engine.wal.insert_lsn().0.saturating_sub(engine.stats.last_checkpoint_lsn.load(Ordering::Relaxed));
        if last_checkpoint.elapsed() >= engine.config.checkpoint_timeout || wal_since >= engine.config.max_wal_size {
            if let Err(e) = rt.block_on(engine.checkpoint()) {
                tracing::error!(error = %e, "checkpoint failed");
            }
            last_checkpoint = Instant::now();
        }
        if last_vacuum.elapsed() >= Duration::from_secs(1) {
            last_vacuum = Instant::now();
            let (catalog, data) = engine.txns.committed_catalog();
            let horizon = engine.txns.refresh_horizon();
            for def in catalog.tables.values() {
                if let Some(td) = data.get(&def.relfilenode)
                    && td.dead_versions.load(Ordering::Relaxed) >= 1000
                {
                    let s = gc::vacuum_table(td, def, horizon);
                    engine.stats.vacuum_versions.fetch_add(s.versions_removed, Ordering::Relaxed);
                }
            }
        }
    }
}
