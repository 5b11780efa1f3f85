//! The primary's side of replication connections: replication commands, WAL
//! senders, standby feedback, `pg_stat_replication` and synchronous commit.
//!
//! ```text
//!   replication connection (startup packet replication=true, a replication role)
//!     IDENTIFY_SYSTEM                    → systemid, timeline, xlogpos, dbname
//!     CREATE/DROP_REPLICATION_SLOT name  → slots keep the WAL a standby still needs
//!     BASE_BACKUP [SLOT s]               → CopyOut: a fresh checkpoint (manifest + Parquet)
//!     START_REPLICATION [SLOT s] PHYSICAL X/Y
//!                                        → CopyBoth: XLogData/keepalive ⇄ status updates
//!
//!   commit (synchronous_commit ≥ remote_write, synchronous_standby_names set)
//!     waits until enough standbys report write / flush / apply ≥ its LSN:
//!     FIRST n (a, b, …): the n highest-priority connected ones; ANY n (…): any n.
//!     most_available_sync = on: with no synchronous standby connected, don't wait.
//! ```
//!
//! A slot's restart LSN follows the standby's flush LSN (persisted at most
//! once a second); `max_slot_wal_keep_size` invalidates a slot that holds back
//! too much WAL, and its standby is told it must be rebuilt.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use duetdb_replication::base_backup;
use duetdb_replication::messages::{BackupChunk, FromPrimary, StatusUpdate, pg_now, pg_time_to_unix};
use duetdb_replication::sender::{SendError, WalSender};
use duetdb_storage::{DataType, Lsn, Value};
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use pgwire::messages::copy::{CopyBothResponse, CopyData, CopyDone, CopyOutResponse};
use pgwire::messages::response::CommandComplete;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::error::{SqlError, SqlResult};
use crate::pg::oid::{self, PgType};
use crate::server::{Conn, PrimaryReplication, Server};
use crate::session::output::{Outcome, RowStream, Tag};
use crate::sql::parse::Special;
use crate::sql::query::FieldInfo;
use crate::sql::system::{ReplicationRow, SlotRow};

/// How often an idle sender sends a keepalive.
const KEEPALIVE: Duration = Duration::from_secs(10);
/// Base backup files go out in chunks of this size.
const CHUNK: usize = 1 << 20;
/// Send-time samples kept per sender to compute lags.
const LAG_SAMPLES: usize = 4096;

/// What a replication command asks the connection to do.
pub enum Handled {
    /// A normal result (IDENTIFY_SYSTEM, slot commands).
    Outcome(Outcome),
    /// The command streamed its own messages.
    Done(SqlResult<()>),
}

/// True for the commands only replication connections run.
pub fn is_replication_command(sp: &Special) -> bool {
    matches!(
        sp,
        Special::IdentifySystem
            | Special::StartReplication { .. }
            | Special::BaseBackup { .. }
            | Special::CreateSlot { .. }
            | Special::DropSlot { .. }
    )
}

/// One connected standby, as `pg_stat_replication` shows it.
pub struct SenderState {
    pid: i32,
    slot: Option<String>,
    user: String,
    application_name: String,
    client: Option<std::net::SocketAddr>,
    backend_start: i64,
    state: Mutex<&'static str>,
    sent: AtomicU64,
    write: AtomicU64,
    flush: AtomicU64,
    apply: AtomicU64,
    reply_time: AtomicI64,
    lags: Mutex<Lags>,
}

#[derive(Default)]
struct Lags {
    /// (end LSN of what was sent, when), oldest first.
    samples: VecDeque<(Lsn, Instant)>,
    write: Option<Duration>,
    flush: Option<Duration>,
    apply: Option<Duration>,
    /// The sample each lag was last measured from: a reply that confirms
    /// nothing newer keeps the lag (as PostgreSQL does) instead of letting it
    /// grow with idle time.
    measured: [Lsn; 3],
}

impl Lags {
    fn sent(&mut self, lsn: Lsn) {
        if self.samples.len() == LAG_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((lsn, Instant::now()));
    }

    /// How long ago the newest sample at or below `lsn` was sent, if that
    /// sample is newer than the one `kind` was last measured from.
    fn lag_of(&mut self, kind: usize, lsn: Lsn) -> Option<Duration> {
        let (l, t) = *self.samples.iter().rev().find(|(l, _)| *l <= lsn)?;
        if l <= self.measured[kind] {
            return None;
        }
        self.measured[kind] = l;
        Some(t.elapsed())
    }

    fn reply(&mut self, s: &StatusUpdate) {
        self.write = self.lag_of(0, s.write).or(self.write);
        self.flush = self.lag_of(1, s.flush).or(self.flush);
        self.apply = self.lag_of(2, s.apply).or(self.apply);
        while self.samples.len() > 1 && self.samples[1].0 <= s.apply {
            self.samples.pop_front();
        }
    }
}

/// The primary's replication state: connected senders and commit waiters.
pub struct WalSenders {
    server: Weak<Server>,
    senders: Mutex<HashMap<i32, Arc<SenderState>>>,
    progress: tokio::sync::watch::Sender<u64>,
}

impl WalSenders {
    /// The server's WAL senders, installed on first use (a primary at start).
    pub fn of(server: &Arc<Server>) -> Arc<WalSenders> {
        server
            .wal_senders
            .get_or_init(|| {
                let (progress, _) = tokio::sync::watch::channel(0);
                let w = Arc::new(WalSenders { server: Arc::downgrade(server), senders: Mutex::new(HashMap::new()), progress });
                *server.replication.write() = Some(w.clone() as Arc<dyn PrimaryReplication>);
                w
            })
            .clone()
    }

    fn bump(&self) {
        self.progress.send_modify(|v| *v += 1);
    }

    fn connected(&self) -> Vec<Arc<SenderState>> {
        let mut v: Vec<_> = self.senders.lock().values().cloned().collect();
        v.sort_by_key(|s| s.pid);
        v
    }

    fn setting(&self, name: &str) -> String {
        self.server.upgrade().map(|s| s.setting(name)).unwrap_or_default()
    }
}

/// `synchronous_standby_names`, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncSpec {
    pub quorum: bool,
    pub count: usize,
    pub names: Vec<String>,
}

impl SyncSpec {
    /// `FIRST n (a, b)`, `ANY n (a, b)`, `n (a, b)` or `a, b` (= FIRST 1); `*` matches any standby.
    pub fn parse(text: &str) -> Result<Option<SyncSpec>, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        let (quorum, rest) = match t.split_once(char::is_whitespace) {
            Some((w, rest)) if w.eq_ignore_ascii_case("first") => (false, rest.trim()),
            Some((w, rest)) if w.eq_ignore_ascii_case("any") => (true, rest.trim()),
            _ => (false, t),
        };
        let (count, list) = match rest.find('(') {
            Some(open) => {
                let n = rest[..open].trim();
                let close = rest.rfind(')').ok_or_else(|| format!("missing ')' in synchronous_standby_names \"{text}\""))?;
                let count = n.parse::<usize>().map_err(|_| format!("invalid number of synchronous standbys in \"{text}\""))?;
                (count, &rest[open + 1..close])
            }
            None => (1, rest),
        };
        let names: Vec<String> = list.split(',').map(|s| s.trim().trim_matches('"').to_string()).filter(|s| !s.is_empty()).collect();
        if names.is_empty() || count == 0 {
            return Err(format!("synchronous_standby_names \"{text}\" names no standby"));
        }
        Ok(Some(SyncSpec { quorum, count, names }))
    }

    fn priority(&self, app: &str) -> Option<usize> {
        self.names.iter().position(|n| n == "*" || n.eq_ignore_ascii_case(app)).map(|p| p + 1)
    }

    /// The standbys whose acknowledgement counts, by pid, with their sync state.
    fn states(&self, senders: &[Arc<SenderState>]) -> HashMap<i32, (usize, &'static str)> {
        let mut listed: Vec<(usize, &Arc<SenderState>)> = senders
            .iter()
            .filter(|s| *s.state.lock() == "streaming")
            .filter_map(|s| self.priority(&s.application_name).map(|p| (p, s)))
            .collect();
        listed.sort_by_key(|(p, s)| (*p, s.pid));
        let mut out = HashMap::new();
        for (i, (p, s)) in listed.iter().enumerate() {
            let state = if self.quorum {
                "quorum"
            } else if i < self.count {
                "sync"
            } else {
                "potential"
            };
            out.insert(s.pid, (*p, state));
        }
        out
    }
}

#[async_trait]
impl PrimaryReplication for WalSenders {
    async fn wait_for(&self, lsn: Lsn, mode: &str, interrupted: &(dyn Fn() -> Option<SqlError> + Send + Sync)) -> SqlResult<()> {
        let spec = match SyncSpec::parse(&self.setting("synchronous_standby_names")) {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::warn!("{e}; commits do not wait for standbys");
                return Ok(());
            }
        };
        let mut rx = self.progress.subscribe();
        let mut warned = false;
        loop {
            let senders = self.connected();
            let states = spec.states(&senders);
            let pos = |s: &SenderState| {
                Lsn(match mode {
                    "remote_write" => s.write.load(Ordering::Acquire),
                    "remote_apply" => s.apply.load(Ordering::Acquire),
                    _ => s.flush.load(Ordering::Acquire),
                })
            };
            // FIRST n: the n highest-priority streaming standbys must all
            // have it; ANY n: any n of the listed ones.
            let candidates: Vec<&Arc<SenderState>> =
                senders.iter().filter(|s| states.get(&s.pid).is_some_and(|(_, st)| *st != "potential")).collect();
            let acked = candidates.iter().filter(|s| pos(s) >= lsn).count();
            if acked >= spec.count {
                return Ok(());
            }
            // openGauss's most_available_sync: too few synchronous standbys
            // connected means wait only for those that are.
            if candidates.len() < spec.count && acked == candidates.len() && self.setting("most_available_sync") == "on" {
                return Ok(());
            }
            if let Some(e) = interrupted() {
                return Err(e);
            }
            if !warned && states.is_empty() {
                tracing::warn!(%lsn, "commit waits for a synchronous standby, and none is connected (most_available_sync = off)");
                warned = true;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
        }
    }

    fn stat_replication(&self) -> Vec<ReplicationRow> {
        let spec = SyncSpec::parse(&self.setting("synchronous_standby_names")).ok().flatten();
        let senders = self.connected();
        let states = spec.as_ref().map(|s| s.states(&senders)).unwrap_or_default();
        senders
            .iter()
            .map(|s| {
                let lags = s.lags.lock();
                let (prio, sync_state) = states.get(&s.pid).copied().unwrap_or((0, "async"));
                let reply = s.reply_time.load(Ordering::Relaxed);
                ReplicationRow {
                    pid: s.pid,
                    user: s.user.clone(),
                    application_name: s.application_name.clone(),
                    client_addr: s.client.map(|a| a.ip().to_string()).unwrap_or_default(),
                    client_port: s.client.map(|a| a.port() as i32).unwrap_or(-1),
                    backend_start: s.backend_start,
                    state: s.state.lock().to_string(),
                    sent_lsn: Lsn(s.sent.load(Ordering::Relaxed)).to_string(),
                    write_lsn: Lsn(s.write.load(Ordering::Relaxed)).to_string(),
                    flush_lsn: Lsn(s.flush.load(Ordering::Relaxed)).to_string(),
                    replay_lsn: Lsn(s.apply.load(Ordering::Relaxed)).to_string(),
                    write_lag: lags.write.map(|d| d.as_micros() as i64),
                    flush_lag: lags.flush.map(|d| d.as_micros() as i64),
                    replay_lag: lags.apply.map(|d| d.as_micros() as i64),
                    sync_priority: prio as i32,
                    sync_state: sync_state.to_string(),
                    reply_time: (reply != 0).then(|| pg_time_to_unix(reply)),
                }
            })
            .collect()
    }

    fn slots(&self) -> Vec<SlotRow> {
        let Some(server) = self.server.upgrade() else { return Vec::new() };
        let Ok(engine) = server.engine() else { return Vec::new() };
        let active: HashMap<String, i32> = self.connected().iter().filter_map(|s| s.slot.clone().map(|n| (n, s.pid))).collect();
        engine
            .slots
            .list()
            .into_iter()
            .map(|s| SlotRow {
                active: active.contains_key(&s.name),
                active_pid: active.get(&s.name).copied(),
                restart_lsn: s.restart_lsn.to_string(),
                wal_status: if s.invalidated { "lost".into() } else { "reserved".into() },
                name: s.name,
            })
            .collect()
    }
}

fn text_rows(cols: &[&str], rows: Vec<Vec<Value>>, tag: &str) -> Outcome {
    let fields = cols.iter().map(|c| FieldInfo::new(*c, PgType::new(oid::TEXT))).collect();
    Outcome::Rows(RowStream::from_values(fields, vec![DataType::Text; cols.len()], rows, Tag::Fixed(tag.into())))
}

/// A stable number naming this database cluster (PostgreSQL's system
/// identifier): derived from the data directory's creation.
fn system_identifier(server: &Server) -> u64 {
    let meta = std::fs::metadata(server.data_dir.join(crate::config::FILE_NAME)).ok();
    let created =
        meta.and_then(|m| m.modified().ok()).and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_micros() as u64);
    created.unwrap_or(0)
}

fn slot_error(e: duetdb_storage::Error) -> SqlError {
    SqlError::from(e)
}

/// Runs a replication command on `wire`.
pub async fn command(server: &Arc<Server>, conn: &Arc<Conn>, wire: &mut crate::protocol::Wire, sp: Special) -> io::Result<Handled> {
    let engine = match server.engine() {
        Ok(e) => e,
        Err(_) => {
            return Ok(Handled::Done(Err(SqlError::new("55000", "this server is a standby: cascading replication is not supported")
                .with_hint("Point the standby at the primary."))));
        }
    };
    match sp {
        Special::IdentifySystem => {
            let row = vec![
                Value::Text(system_identifier(server).to_string()),
                Value::Text(engine.timeline().to_string()),
                Value::Text(engine.wal.flushed_lsn().to_string()),
                Value::Null,
            ];
            Ok(Handled::Outcome(text_rows(&["systemid", "timeline", "xlogpos", "dbname"], vec![row], "IDENTIFY_SYSTEM")))
        }
        Special::CreateSlot { name } => {
            if engine.slots.get(&name).is_some() {
                return Ok(Handled::Done(Err(SqlError::new("42710", format!("replication slot \"{name}\" already exists")))));
            }
            let r = engine.slots.create(&name, engine.wal.flushed_lsn()).map_err(slot_error);
            Ok(match r {
                Ok(s) => Handled::Outcome(text_rows(
                    &["slot_name", "consistent_point", "snapshot_name", "output_plugin"],
                    vec![vec![Value::Text(s.name), Value::Text(s.restart_lsn.to_string()), Value::Null, Value::Null]],
                    "CREATE_REPLICATION_SLOT",
                )),
                Err(e) => Handled::Done(Err(e)),
            })
        }
        Special::DropSlot { name } => Ok(match engine.slots.drop_slot(&name).map_err(slot_error) {
            Ok(()) => Handled::Outcome(Outcome::Command("DROP_REPLICATION_SLOT".into())),
            Err(e) => Handled::Done(Err(e)),
        }),
        Special::BaseBackup { slot } => base_backup_cmd(&engine, wire, slot).await.map(Handled::Done),
        Special::StartReplication { slot, lsn, timeline } => {
            let start: Lsn = match lsn.parse() {
                Ok(l) => l,
                Err(e) => return Ok(Handled::Done(Err(SqlError::new("22P02", e)))),
            };
            if let Some(tl) = timeline
                && let Err(e) = crate::promote::check_history(&server.data_dir, engine.timeline(), tl, start)
            {
                tracing::warn!(error = %e.message, "refusing a standby that is not on this server's history");
                return Ok(Handled::Done(Err(e)));
            }
            let senders = WalSenders::of(server);
            stream(server, &senders, conn, &engine, wire, slot, start).await.map(Handled::Done)
        }
        _ => unreachable!("is_replication_command was checked"),
    }
}

/// BASE_BACKUP: a fresh checkpoint, shipped as manifest + files over CopyOut.
async fn base_backup_cmd(
    engine: &Arc<duetdb_storage::Engine>,
    wire: &mut crate::protocol::Wire,
    slot: Option<String>,
) -> io::Result<SqlResult<()>> {
    let (lsn, manifest) = match base_backup::take(engine).await {
        Ok(x) => x,
        Err(e) => return Ok(Err(SqlError::from(e))),
    };
    if let Some(name) = &slot {
        if engine.slots.get(name).is_some_and(|s| s.invalidated) {
            let _ = engine.slots.drop_slot(name);
        }
        if let Err(e) = engine.slots.create(name, manifest.redo_lsn) {
            return Ok(Err(SqlError::from(e)));
        }
    }
    tracing::info!(checkpoint = %lsn, redo = %manifest.redo_lsn, tables = manifest.tables.len(), "base backup started");
    let json = serde_json::to_vec(&manifest).expect("a manifest serializes");
    wire.send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(1, 0, vec![]))).await?;
    wire.feed(copy_data(BackupChunk::Manifest(json).encode())).await?;
    for tf in &manifest.tables {
        let bytes = match base_backup::read_file(engine, lsn, &tf.file).await {
            Ok(b) => b,
            Err(e) => return Ok(Err(SqlError::from(e))),
        };
        wire.feed(copy_data(BackupChunk::FileStart { name: tf.file.clone(), size: bytes.len() as u64 }.encode())).await?;
        for chunk in bytes.chunks(CHUNK) {
            wire.send(copy_data(BackupChunk::Data(chunk.to_vec()).encode())).await?;
        }
    }
    wire.feed(copy_data(BackupChunk::End.encode())).await?;
    wire.feed(PgWireBackendMessage::CopyDone(CopyDone::new())).await?;
    wire.feed(PgWireBackendMessage::CommandComplete(CommandComplete::new("BASE_BACKUP".into()))).await?;
    Ok(Ok(()))
}

fn copy_data(bytes: Vec<u8>) -> PgWireBackendMessage {
    PgWireBackendMessage::CopyData(CopyData::new(bytes.into()))
}

/// START_REPLICATION: streams WAL until the standby or the server ends it.
async fn stream(
    server: &Arc<Server>,
    senders: &Arc<WalSenders>,
    conn: &Arc<Conn>,
    engine: &Arc<duetdb_storage::Engine>,
    wire: &mut crate::protocol::Wire,
    slot: Option<String>,
    start: Lsn,
) -> io::Result<SqlResult<()>> {
    if let Some(name) = &slot {
        match engine.slots.get(name) {
            None => return Ok(Err(SqlError::new("42704", format!("replication slot \"{name}\" does not exist")))),
            Some(s) if s.invalidated => {
                return Ok(Err(SqlError::new("55000", format!("can no longer get changes from replication slot \"{name}\""))
                    .with_detail("This slot has been invalidated because it exceeded the maximum reserved size (max_slot_wal_keep_size).")
                    .with_hint("Rebuild the standby from a new base backup.")));
            }
            Some(_) => {}
        }
    }
    let mut sender = match WalSender::new(engine.clone(), start) {
        Ok(s) => s,
        Err(SendError::Removed(at)) => {
            return Ok(Err(SqlError::new("58P01", format!("requested WAL segment for {at} has already been removed"))
                .with_hint("Rebuild the standby from a new base backup.")));
        }
        Err(e) => return Ok(Err(SqlError::new("55000", e.to_string()))),
    };
    let state = Arc::new(SenderState {
        pid: conn.pid,
        slot: slot.clone(),
        user: conn.user.clone(),
        application_name: conn.application_name.lock().clone(),
        client: conn.client,
        backend_start: conn.backend_start,
        state: Mutex::new("catchup"),
        sent: AtomicU64::new(start.0),
        write: AtomicU64::new(0),
        flush: AtomicU64::new(0),
        apply: AtomicU64::new(0),
        reply_time: AtomicI64::new(0),
        lags: Mutex::new(Lags::default()),
    });
    senders.senders.lock().insert(conn.pid, state.clone());
    let _unregister = Unregister(senders.clone(), conn.pid);
    // pg_stat_activity's state: this connection's own record, no registry lookup.
    *conn.state.lock() = "active";
    tracing::info!(pid = conn.pid, app = %state.application_name, %start, slot = slot.as_deref().unwrap_or(""), "WAL sender started");
    wire.send(PgWireBackendMessage::CopyBothResponse(CopyBothResponse::new(0, 0, vec![]))).await?;
    let mut last_slot_save = Instant::now();
    let mut last_send = Instant::now();
    loop {
        // Everything flushed so far goes out first.
        loop {
            let batch = crate::connection_threads::blocking(|| sender.read_batch());
            let (at, frames) = match batch {
                Ok(b) => b,
                Err(SendError::Removed(at)) => {
                    return Ok(Err(SqlError::new("58P01", format!("requested WAL segment for {at} has already been removed"))));
                }
                Err(e) => return Ok(Err(SqlError::new("XX000", e.to_string()))),
            };
            if frames.is_empty() {
                break;
            }
            let end = sender.position();
            let msg = FromPrimary::XLogData { start: at, end: sender.flushed(), time: pg_now(), frames };
            wire.send(copy_data(msg.encode())).await?;
            state.sent.store(end.0, Ordering::Release);
            state.lags.lock().sent(end);
            last_send = Instant::now();
        }
        if sender.position() >= sender.flushed() && *state.state.lock() == "catchup" {
            *state.state.lock() = "streaming";
            senders.bump();
        }
        if let Some(name) = &slot
            && engine.slots.get(name).is_some_and(|s| s.invalidated)
        {
            return Ok(Err(SqlError::new(
                "55000",
                format!("replication slot \"{name}\" was invalidated: it held back more WAL than max_slot_wal_keep_size"),
            )
            .with_hint("Rebuild the standby from a new base backup.")));
        }
        let keepalive_due = last_send.elapsed() >= KEEPALIVE;
        if keepalive_due {
            let k = FromPrimary::Keepalive { end: sender.flushed(), time: pg_now(), reply: true };
            wire.send(copy_data(k.encode())).await?;
            last_send = Instant::now();
        }
        tokio::select! {
            _ = sender.wait_for_more(KEEPALIVE) => {}
            msg = wire.next() => {
                match msg {
                    None => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "standby disconnected")),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(PgWireFrontendMessage::CopyData(d))) => {
                        let Ok(status) = StatusUpdate::decode(&d.data) else {
                            // 'h' hot-standby feedback and other messages carry nothing we use.
                            continue;
                        };
                        state.write.store(status.write.0, Ordering::Release);
                        state.flush.store(status.flush.0, Ordering::Release);
                        state.apply.store(status.apply.0, Ordering::Release);
                        state.reply_time.store(status.time, Ordering::Relaxed);
                        state.lags.lock().reply(&status);
                        senders.bump();
                        if let Some(name) = &slot && last_slot_save.elapsed() >= Duration::from_secs(1) {
                            let _ = engine.slots.advance(name, status.flush);
                            last_slot_save = Instant::now();
                        }
                    }
                    Some(Ok(PgWireFrontendMessage::CopyDone(_))) => {
                        wire.feed(PgWireBackendMessage::CopyDone(CopyDone::new())).await?;
                        wire.feed(PgWireBackendMessage::CommandComplete(CommandComplete::new("START_REPLICATION".into()))).await?;
                        return Ok(Ok(()));
                    }
                    Some(Ok(PgWireFrontendMessage::Terminate(_))) => {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "standby ended the connection"));
                    }
                    Some(Ok(_)) => {}
                }
            }
            _ = server.shutdown.cancelled() => {
                return Ok(Err(SqlError::fatal("57P01", "terminating walsender process due to administrator command")));
            }
        }
    }
}

struct Unregister(Arc<WalSenders>, i32);

impl Drop for Unregister {
    fn drop(&mut self) {
        self.0.senders.lock().remove(&self.1);
        self.0.bump();
    }
}
