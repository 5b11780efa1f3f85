//! The standby's receiver: build from a base backup, stream, apply, report,
//! reconnect.
//!
//! ```text
//!   build:   BASE_BACKUP ─► files in the column store location ─► ColumnStore (as of its snapshot)
//!   stream:  START_REPLICATION [SLOT s] PHYSICAL <received>
//!            XLogData ─► Applier.feed ─► ColumnStore ─► publish (≤ every PUBLISH_EVERY)
//!            status 'r' (write = received, flush = apply = published) after each
//!            publish, every status interval, and when the primary asks
//!   break:   backoff 100 ms … 5 s, reconnect, resume at `received`
//!   WAL gone (slot invalidated, WAL removed): rebuild from a new base backup
//! ```
//!
//! Received WAL is also appended to a local copy (`local_wal`) and synced
//! before each status report, so the flush LSN it reports is durable; every
//! `persist_interval` — sooner while the segment pool is over its memory
//! limit — the published snapshot is written as Parquet (`persist`), off the
//! apply path, and persisted segments are evicted until the pool is under
//! its limit. Apply waits for a running persist only when memory reaches
//! twice the limit (backpressure: the primary's WAL then waits in the TCP
//! window and the slot). Inside one transaction larger than memory, the
//! segments apply seals go to Parquet at once (`segment_writer`). A restart
//! loads the newest persisted snapshot, replays the local WAL after it, and
//! streams from there — no rebuild. Anything unreadable falls back to a new
//! base backup, with a log line saying why.
//!
//! A base backup's files go straight into the column store's location as
//! they arrive, and each of their row groups becomes a segment, loaded into
//! memory only while the pool has room: building a standby never needs the
//! whole database in memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use duetdb_storage::Lsn;
use duetdb_storage::checkpoint::Manifest;
use parking_lot::{Mutex, RwLock};
use tokio::io::AsyncWriteExt;

use crate::apply::Applier;
use crate::client::{ClientError, ConnInfo, ReplicationClient, Reply};
use crate::columnar::{ApplyError, ColumnStore, Published};
use crate::local_wal::LocalWal;
use crate::messages::{BackupChunk, FromPrimary, StatusUpdate, pg_now};
use crate::persist::Persister;
use crate::segment::SegmentPool;
use crate::segment_writer::SealedWriter;

/// How long applied transactions may wait before they are published.
const PUBLISH_EVERY: Duration = Duration::from_millis(2);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Largest base backup file accepted (a checkpoint's Parquet file of one table).
const MAX_BACKUP_FILE: u64 = 1 << 40;
/// The local WAL copy's directory under `state_dir`.
const LOCAL_WAL_DIR: &str = "standby_wal";
/// Local WAL bytes replayed at a time by a restart.
const REPLAY_CHUNK: usize = 8 << 20;
/// How often the column store is persisted while the pool is over its limit.
const PRESSURE_PERSIST_EVERY: Duration = Duration::from_millis(200);

#[derive(Clone, Debug)]
pub struct StandbyConfig {
    pub conn: ConnInfo,
    pub slot: Option<String>,
    pub status_interval: Duration,
    /// Where the local WAL and (by default) the persisted snapshots live.
    pub state_dir: std::path::PathBuf,
    /// Where persisted snapshots go: a directory or an object_store URL
    /// (default `<state_dir>/columnar`).
    pub columnar_location: Option<String>,
    pub persist_interval: Duration,
    /// Bytes of segments kept in memory; persisted segments beyond it are
    /// read from their Parquet files.
    pub memory_limit: usize,
}

/// The standby's durable state: its WAL copy and the snapshot writer.
pub struct LocalState {
    wal_dir: std::path::PathBuf,
    wal: LocalWal,
    /// Held by a running persist (one at a time); a rebuild takes it too.
    persister: Arc<tokio::sync::Mutex<Persister>>,
    last_persist: Option<Instant>,
}

#[derive(Debug, thiserror::Error)]
pub enum StandbyError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("applying WAL: {0}")]
    Apply(#[from] ApplyError),
    #[error("base backup: {0}")]
    Backup(String),
    #[error("standby state: {0}")]
    Local(String),
}

/// I/O errors in the standby's own code are its local WAL's (`?` on them).
impl From<std::io::Error> for StandbyError {
    fn from(e: std::io::Error) -> StandbyError {
        StandbyError::Local(format!("local WAL: {e}"))
    }
}

/// What apply has done since the standby started.
#[derive(Clone, Copy, Debug, Default)]
pub struct Applied {
    pub transactions: u64,
    /// Row changes (the apply rate is its rate).
    pub rows: u64,
    /// Transactions too large to buffer, read back from the local WAL.
    pub spilled_transactions: u64,
    /// Time spent applying (see `Standby::apply_nanos`).
    pub apply_seconds: f64,
}

impl LocalState {
    /// Ends the standby's local state for a promotion: waits out a running
    /// persist, then moves the WAL copy (cut at `lsn`) into `wal_dir`.
    pub async fn hand_over(self, lsn: Lsn, wal_dir: &std::path::Path) -> std::io::Result<()> {
        let _persist = self.persister.lock().await;
        self.wal.hand_over(lsn, wal_dir)
    }

    pub fn wal_dir(&self) -> &std::path::Path {
        &self.wal_dir
    }

    /// A last persist on a clean shutdown, so the next start replays
    /// (almost) nothing. Waits for a running persist first.
    pub async fn persist_final(&mut self, store: &mut ColumnStore, applier: &Applier) -> Result<Lsn, StandbyError> {
        store.publish(applier.received)?;
        let snap = store.snapshot();
        let point = applier.resume_point();
        self.wal.sync()?;
        let mut p = self.persister.lock().await;
        let info = p.persist(&snap, point).await.map_err(|e| StandbyError::Local(e.to_string()))?;
        Ok(info.lsn)
    }
}

impl StandbyError {
    /// The primary no longer has the WAL this standby needs.
    fn wal_gone(&self) -> bool {
        matches!(self, StandbyError::Client(ClientError::Server { code, .. }) if code == "58P01" || code == "55000")
    }
}

/// What `Standby::run` hands back when it stops.
pub struct Stopped {
    pub store: ColumnStore,
    pub applier: Applier,
    pub local: Option<LocalState>,
}

/// A running standby, as the server sees it.
pub struct Standby {
    config: StandbyConfig,
    published: RwLock<Published>,
    received: AtomicU64,
    state: Mutex<String>,
    pub transactions: AtomicU64,
    /// Row changes applied (the apply rate is its rate).
    pub rows: AtomicU64,
    /// Transactions read back from the local WAL at their commit.
    pub spilled: AtomicU64,
    /// Nanoseconds spent applying (local WAL copy, decode, column store,
    /// publish), not waiting for WAL: `rows` over it is how fast the standby
    /// applies, whatever rate the primary writes at.
    pub apply_nanos: AtomicU64,
    /// Applied LSN of the newest persisted snapshot (0: none).
    pub persisted: Arc<AtomicU64>,
    /// Bytes of the row-id maps as of the last persist (`row_locations`).
    row_maps: AtomicU64,
    /// The primary's timeline, as the stream last showed it.
    timeline: std::sync::atomic::AtomicU32,
    /// The column segments' memory and files.
    pool: Arc<SegmentPool>,
    /// Writes segments of a transaction larger than memory ahead of its persist.
    writer: Arc<SealedWriter>,
}

impl Standby {
    /// Builds the standby — from its persisted state when it has one, else
    /// from a base backup; `run` then keeps it streaming.
    pub async fn build(config: StandbyConfig) -> Result<(Arc<Standby>, ColumnStore, Applier, Option<LocalState>), StandbyError> {
        let pool = SegmentPool::new(columnar_location(&config)?, config.memory_limit);
        let writer = SealedWriter::start(tokio::runtime::Handle::current())
            .map_err(|e| StandbyError::Local(format!("starting the segment writer: {e}")))?;
        let restored = match restore(&config, &pool, &writer).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "persisted standby state is unusable; rebuilding from a base backup");
                None
            }
        };
        let (store, applier, local) = match restored {
            Some(x) => x,
            None => {
                let mut persister = Persister::new(pool.clone());
                let (store, applier) = base_backup(&config, &pool, &writer).await?;
                let local = fresh_local_state(&config, &mut persister, applier.received).await?;
                (store, applier, Some(local))
            }
        };
        let standby = Arc::new(Standby {
            published: RwLock::new(store.published()),
            received: AtomicU64::new(applier.received.0),
            state: Mutex::new("startup".into()),
            transactions: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            spilled: AtomicU64::new(0),
            apply_nanos: AtomicU64::new(0),
            persisted: Arc::new(AtomicU64::new(0)),
            row_maps: AtomicU64::new(store.row_map_bytes() as u64),
            timeline: std::sync::atomic::AtomicU32::new(applier.timeline),
            pool,
            writer,
            config,
        });
        Ok((standby, store, applier, local))
    }

    pub fn published(&self) -> Published {
        self.published.read().clone()
    }

    pub fn applied(&self) -> Applied {
        Applied {
            transactions: self.transactions.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            spilled_transactions: self.spilled.load(Ordering::Relaxed),
            apply_seconds: self.apply_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }

    /// The segment pool: resident bytes and the limit.
    pub fn pool(&self) -> &Arc<SegmentPool> {
        &self.pool
    }

    /// Bytes of the row-id maps, as of the last persist: the standby's memory
    /// outside the pool that grows with its rows.
    pub fn row_map_bytes(&self) -> u64 {
        self.row_maps.load(Ordering::Relaxed)
    }

    pub fn receive_lsn(&self) -> Lsn {
        Lsn(self.received.load(Ordering::Acquire))
    }

    pub fn timeline(&self) -> u32 {
        self.timeline.load(Ordering::Acquire)
    }

    pub fn replay_lsn(&self) -> Lsn {
        self.published.read().lsn()
    }

    /// "streaming", "catchup", "startup", "backoff: <reason>", "rebuilding".
    pub fn state(&self) -> String {
        self.state.lock().clone()
    }

    fn set_state(&self, s: impl Into<String>) {
        *self.state.lock() = s.into();
    }

    /// Streams forever: reconnects after breaks, rebuilds when the WAL it
    /// needs is gone. Returns only when `stop` is cancelled, handing back its
    /// state (a promotion turns it into a row store).
    pub async fn run(
        self: Arc<Self>,
        mut store: ColumnStore,
        mut applier: Applier,
        mut local: Option<LocalState>,
        stop: tokio_util::sync::CancellationToken,
    ) -> Stopped {
        let mut backoff = BACKOFF_MIN;
        loop {
            let result = tokio::select! {
                biased;
                _ = stop.cancelled() => None,
                r = self.stream(&mut store, &mut applier, &mut local) => Some(r),
            };
            let Some(result) = result else {
                self.set_state("stopped");
                return Stopped { store, applier, local };
            };
            let Err(e) = result else { continue };
            let rebuild = if e.wal_gone() {
                tracing::warn!(error = %e, "this standby must be rebuilt: the primary no longer has the WAL it needs; rebuilding from a new base backup");
                true
            } else if matches!(e, StandbyError::Apply(_) | StandbyError::Local(_)) {
                // A stream that does not apply is not retried into the same
                // state: start over from a base backup.
                tracing::error!(error = %e, "WAL stream does not apply; rebuilding from a new base backup");
                true
            } else {
                tracing::info!(error = %e, retry_in_ms = backoff.as_millis() as u64, "replication connection lost");
                false
            };
            if rebuild {
                self.set_state("rebuilding");
                match self.rebuild(&self.pool.clone(), &mut local).await {
                    Ok((s, a)) => {
                        store = s;
                        applier = a;
                        *self.published.write() = store.published();
                        self.received.store(applier.received.0, Ordering::Release);
                        backoff = BACKOFF_MIN;
                        continue;
                    }
                    Err(e) => tracing::warn!(error = %e, "rebuild failed; retrying"),
                }
            }
            self.set_state(format!("backoff: {e}"));
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.cancelled() => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    async fn rebuild(&self, pool: &Arc<SegmentPool>, local: &mut Option<LocalState>) -> Result<(ColumnStore, Applier), StandbyError> {
        let Some(l) = local.as_mut() else { return base_backup(&self.config, pool, &self.writer).await };
        // Waits for a running persist, and keeps the next one from sweeping
        // the base backup's files while they arrive.
        let mut p = l.persister.lock().await;
        let (store, applier) = base_backup(&self.config, pool, &self.writer).await?;
        // Forgets the old state (files the new store or a query uses stay).
        p.clear().await.map_err(|e| StandbyError::Local(e.to_string()))?;
        l.wal = LocalWal::create(&l.wal_dir, applier.received).map_err(|e| StandbyError::Local(e.to_string()))?;
        l.last_persist = None;
        self.persisted.store(0, Ordering::Release);
        Ok((store, applier))
    }

    /// Hands the snapshot just published to a background persist, when one
    /// is due and none is running.
    fn maybe_persist(&self, store: &ColumnStore, applier: &Applier, local: &mut LocalState) -> Result<(), StandbyError> {
        let interval = if store.pool().over_limit() { PRESSURE_PERSIST_EVERY } else { self.config.persist_interval };
        if local.last_persist.is_some_and(|t| t.elapsed() < interval) || applier.partial_len() != 0 {
            return Ok(());
        }
        let snap = store.snapshot();
        let point = applier.resume_point();
        if snap.lsn != point.lsn {
            // Applied but not yet published: the next publish persists.
            return Ok(());
        }
        let Ok(mut guard) = local.persister.clone().try_lock_owned() else { return Ok(()) };
        self.row_maps.store(store.row_map_bytes() as u64, Ordering::Relaxed);
        // A new local WAL file from here, so files before the resume point can go.
        local.wal.rotate()?;
        local.last_persist = Some(Instant::now());
        let wal_dir = local.wal_dir.clone();
        let persisted = self.persisted.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let resume = point.resume;
            match guard.persist(&snap, point).await {
                Ok(info) => {
                    persisted.store(info.lsn.0, Ordering::Release);
                    let removed = LocalWal::remove_before(&wal_dir, resume).unwrap_or(0);
                    tracing::debug!(lsn = %info.lsn, segments = info.segments_written, bytes = info.bytes_written,
                        files_removed = info.files_removed, wal_files_removed = removed, evicted = info.bytes_evicted,
                        resident = guard.pool().resident(), ms = started.elapsed().as_millis() as u64,
                        "column snapshot persisted");
                }
                Err(e) => tracing::warn!(error = %e, "persisting the column snapshot failed; will retry"),
            }
        });
        Ok(())
    }

    /// One replication connection, until it breaks.
    async fn stream(&self, store: &mut ColumnStore, applier: &mut Applier, local: &mut Option<LocalState>) -> Result<(), StandbyError> {
        let mut client = ReplicationClient::connect(&self.config.conn).await?;
        applier.reset_partial();
        let start = applier.received;
        if let Some(l) = local.as_mut() {
            // A partial frame from the last connection is sent again.
            l.wal.truncate_to(start)?;
            if l.wal.end() != start {
                return Err(StandbyError::Local(format!("local WAL ends at {}, the stream resumes at {start}", l.wal.end())));
            }
        }
        // The timeline lets a promoted primary refuse a standby that went
        // past the point where its history forked.
        let timeline = applier.timeline;
        let cmd = match &self.config.slot {
            Some(s) => format!("START_REPLICATION SLOT {s} PHYSICAL {start} TIMELINE {timeline}"),
            None => format!("START_REPLICATION PHYSICAL {start} TIMELINE {timeline}"),
        };
        client.query(&cmd).await?;
        match client.next().await? {
            Reply::CopyBoth => {}
            other => return Err(ClientError::Protocol(format!("START_REPLICATION answered with {other:?}")).into()),
        }
        tracing::info!(%start, "streaming WAL from the primary");
        self.set_state("catchup");
        let mut primary_end = start;
        let mut last_publish = Instant::now();
        let mut last_status = Instant::now();
        let mut unpublished = false;
        loop {
            let publish_at = tokio::time::Instant::from_std(last_publish + PUBLISH_EVERY);
            let status_at = tokio::time::Instant::from_std(last_status + self.config.status_interval);
            let mut reply_now = false;
            tokio::select! {
                msg = client.next() => {
                    match msg? {
                        Reply::CopyData(d) => match FromPrimary::decode(&d).map_err(|e| ClientError::Protocol(e.to_string()))? {
                            FromPrimary::XLogData { start, end, frames, .. } => {
                                let began = Instant::now();
                                if let Some(l) = local.as_mut() {
                                    l.wal.append(start, &frames)?;
                                }
                                let (rows_before, spilled_before) = (applier.rows, applier.spilled_commits);
                                let n = applier.feed(start, &frames, store)?;
                                self.transactions.fetch_add(n as u64, Ordering::Relaxed);
                                self.rows.fetch_add(applier.rows - rows_before, Ordering::Relaxed);
                                self.spilled.fetch_add(applier.spilled_commits - spilled_before, Ordering::Relaxed);
                                self.received.store(applier.received.0, Ordering::Release);
                                primary_end = primary_end.max(end);
                                unpublished = true;
                                self.apply_nanos.fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
                            }
                            FromPrimary::Keepalive { end, reply, .. } => {
                                primary_end = primary_end.max(end);
                                reply_now = reply;
                            }
                        },
                        Reply::CopyDone => return Err(ClientError::Protocol("the primary ended the WAL stream".into()).into()),
                        other => return Err(ClientError::Protocol(format!("unexpected {other:?} while streaming")).into()),
                    }
                }
                _ = tokio::time::sleep_until(publish_at), if unpublished => {}
                _ = tokio::time::sleep_until(status_at) => reply_now = true,
            }
            if unpublished && last_publish.elapsed() >= PUBLISH_EVERY {
                let began = Instant::now();
                store.publish(applier.received)?;
                self.apply_nanos.fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
                self.timeline.store(applier.timeline, Ordering::Release);
                last_publish = Instant::now();
                unpublished = false;
                reply_now = true;
                load_wanted(store);
                if let Some(l) = local.as_mut() {
                    self.maybe_persist(store, applier, l)?;
                    if store.pool().resident() / 2 > store.pool().limit() {
                        // Backpressure: let the running persist write and evict.
                        drop(l.persister.lock().await);
                        self.maybe_persist(store, applier, l)?;
                    }
                }
            }
            if applier.received >= primary_end {
                self.set_state("streaming");
            }
            if reply_now
                && !unpublished
                && let Some(l) = local.as_mut()
            {
                self.maybe_persist(store, applier, l)?;
            }
            if reply_now {
                let applied = store.published().lsn();
                // Flushed = durable here: the synced local WAL (complete frames only).
                let flush = match local.as_mut() {
                    Some(l) => l.wal.sync()?.min(applier.received),
                    None => applied,
                };
                let status = StatusUpdate { write: applier.received, flush, apply: applied, time: pg_now(), reply: false };
                client.send_copy_data(&status.encode()).await?;
                last_status = Instant::now();
            }
        }
    }
}

/// The persisted snapshot plus the local WAL after it, or None when there is
/// no snapshot.
async fn restore(
    config: &StandbyConfig,
    pool: &Arc<SegmentPool>,
    writer: &Arc<SealedWriter>,
) -> Result<Option<(ColumnStore, Applier, Option<LocalState>)>, StandbyError> {
    let started = Instant::now();
    let dir = &config.state_dir;
    let Some((mut store, point, persister)) = Persister::load(pool.clone()).await.map_err(|e| StandbyError::Local(e.to_string()))? else {
        return Ok(None);
    };
    store.write_sealed_with(writer.clone());
    let wal_dir = dir.join(LOCAL_WAL_DIR);
    let mut wal = LocalWal::open(&wal_dir)?;
    let mut applier = Applier::resume(&point).spill_to(wal_dir.clone());
    // Replayed a chunk at a time: the WAL after the snapshot can be large.
    let mut n = 0;
    LocalWal::read_range::<StandbyError>(&wal_dir, point.resume, wal.end(), REPLAY_CHUNK, |at, bytes| {
        n += applier.feed(at, bytes, &mut store)?;
        Ok(())
    })?;
    // A torn tail (the crash cut a frame) is cut here and streamed again.
    applier.reset_partial();
    wal.truncate_to(applier.received)?;
    if applier.received < point.lsn {
        return Err(StandbyError::Local(format!("local WAL ends at {}, before the persisted snapshot at {}", applier.received, point.lsn)));
    }
    store.publish(applier.received)?;
    tracing::info!(snapshot = %point.lsn, replayed_to = %applier.received, transactions = n, resident = pool.resident(),
        memory_limit = pool.limit(), ms = started.elapsed().as_millis() as u64, "standby resumed from its persisted state");
    let local = LocalState { wal_dir, wal, persister: Arc::new(tokio::sync::Mutex::new(persister)), last_persist: Some(Instant::now()) };
    Ok(Some((store, applier, Some(local))))
}

fn columnar_location(config: &StandbyConfig) -> Result<duetdb_storage::store::Location, StandbyError> {
    let dir = &config.state_dir;
    let r = match &config.columnar_location {
        Some(spec) => duetdb_storage::store::Location::open(spec),
        None => duetdb_storage::store::Location::local(&dir.join("columnar")),
    };
    r.map_err(|e| StandbyError::Local(format!("columnar location: {e}")))
}

/// Empty local state for a standby just built from a base backup at `start`.
async fn fresh_local_state(config: &StandbyConfig, persister: &mut Persister, start: Lsn) -> Result<LocalState, StandbyError> {
    // Files of an earlier state go; the base backup's are in use and stay.
    persister.clear().await.map_err(|e| StandbyError::Local(e.to_string()))?;
    let persister = Persister::new(persister.pool().clone());
    let wal_dir = config.state_dir.join(LOCAL_WAL_DIR);
    let wal = LocalWal::create(&wal_dir, start)?;
    // last_persist None: the first publish persists, so a restart soon after
    // the build need not build again.
    Ok(LocalState { wal_dir, wal, persister: Arc::new(tokio::sync::Mutex::new(persister)), last_persist: None })
}

/// Segments compaction wants in memory are loaded in the background; a
/// later publish merges them.
fn load_wanted(store: &mut ColumnStore) {
    let wanted = store.take_wanted();
    if wanted.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for segment in wanted {
            if let Err(e) = segment.load().await {
                tracing::warn!(error = %e, ?segment, "loading a segment for compaction failed; it stays as it is");
            }
            segment.load_requested.store(false, Ordering::Relaxed);
        }
    });
}

/// Receives a base backup into the pool's location and builds a column
/// store from it.
async fn base_backup(
    config: &StandbyConfig,
    pool: &Arc<SegmentPool>,
    writer: &Arc<SealedWriter>,
) -> Result<(ColumnStore, Applier), StandbyError> {
    let started = Instant::now();
    let mut client = ReplicationClient::connect(&config.conn).await?;
    let cmd = match &config.slot {
        Some(s) => format!("BASE_BACKUP SLOT {s}"),
        None => "BASE_BACKUP".to_string(),
    };
    client.query(&cmd).await?;
    match client.next().await? {
        Reply::CopyOut => {}
        other => return Err(StandbyError::Backup(format!("BASE_BACKUP answered with {other:?}"))),
    }
    let mut manifest: Option<Manifest> = None;
    // Backup file name → the file it was stored as.
    let mut files: HashMap<String, String> = HashMap::new();
    let mut current: Option<IncomingFile> = None;
    let mut ended = false;
    loop {
        match client.next().await? {
            Reply::CopyData(d) => match BackupChunk::decode(&d).map_err(|e| StandbyError::Backup(e.to_string()))? {
                BackupChunk::Manifest(json) => {
                    manifest = Some(serde_json::from_slice(&json).map_err(|e| StandbyError::Backup(format!("manifest: {e}")))?);
                }
                BackupChunk::FileStart { name, size } => {
                    if size > MAX_BACKUP_FILE {
                        return Err(StandbyError::Backup(format!("file {name} of {size} bytes is too large")));
                    }
                    if let Some(f) = current.take() {
                        f.finish(&mut files).await?;
                    }
                    current = Some(IncomingFile::create(pool, name, size));
                }
                BackupChunk::Data(bytes) => {
                    let f = current.as_mut().ok_or_else(|| StandbyError::Backup("data before a file header".into()))?;
                    f.write(&bytes).await?;
                }
                BackupChunk::End => {
                    if let Some(f) = current.take() {
                        f.finish(&mut files).await?;
                    }
                    ended = true;
                }
            },
            Reply::CopyDone | Reply::Complete => {}
            Reply::Ready => break,
            other => return Err(StandbyError::Backup(format!("unexpected {other:?} in a base backup"))),
        }
    }
    client.terminate().await;
    let manifest = manifest.ok_or_else(|| StandbyError::Backup("no manifest received".into()))?;
    if !ended {
        return Err(StandbyError::Backup("the base backup stream ended early".into()));
    }
    let base = manifest.snapshot();
    let redo = manifest.redo_lsn;
    let origin = (manifest.sequences.clone(), manifest.timeline);
    let (rows, nfiles) = (manifest.tables.iter().map(|t| t.rows).sum::<u64>(), files.len());
    let mut store = crate::base_backup::into_store(&manifest, &files, pool).await.map_err(|e| StandbyError::Backup(e.to_string()))?;
    store.write_sealed_with(writer.clone());
    tracing::info!(%redo, rows, files = nfiles, resident = pool.resident(), memory_limit = pool.limit(),
        ms = started.elapsed().as_millis() as u64, "base backup loaded");
    let applier = Applier::new(base, redo).with_origin(origin.0, origin.1).spill_to(config.state_dir.join(LOCAL_WAL_DIR));
    Ok((store, applier))
}

/// A base backup file on its way into the pool's location.
struct IncomingFile {
    name: String,
    stored: String,
    size: u64,
    received: u64,
    sink: object_store::buffered::BufWriter,
}

impl IncomingFile {
    fn create(pool: &SegmentPool, name: String, size: u64) -> IncomingFile {
        let stem: String = name.trim_end_matches(".parquet").chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        let stored = pool.new_file_name(&format!("base_{stem}"));
        let sink = object_store::buffered::BufWriter::new(pool.location().store.clone(), pool.path(&stored));
        IncomingFile { name, stored, size, received: 0, sink }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), StandbyError> {
        if self.received + bytes.len() as u64 > self.size {
            return Err(StandbyError::Backup(format!("file {} is longer than announced", self.name)));
        }
        self.received += bytes.len() as u64;
        self.sink.write_all(bytes).await.map_err(|e| StandbyError::Local(format!("storing base backup file {}: {e}", self.name)))
    }

    async fn finish(mut self, files: &mut HashMap<String, String>) -> Result<(), StandbyError> {
        if self.received != self.size {
            return Err(StandbyError::Backup(format!("file {}: {} of {} bytes received", self.name, self.received, self.size)));
        }
        self.sink.shutdown().await.map_err(|e| StandbyError::Local(format!("storing base backup file {}: {e}", self.name)))?;
        files.insert(self.name, self.stored);
        Ok(())
    }
}
