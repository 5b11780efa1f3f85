//! The server: what every session shares.
//!
//! ```text
//!   Server ─┬─ role: Primary(Engine) | Standby(columnar replica)
//!           ├─ settings: defaults + duetdb.conf (reloadable)
//!           ├─ registry: live connections (pg_stat_activity, cancel keys, limits)
//!           └─ replication: WAL senders and synchronous-commit waits (primary)
//! ```
//!
//! Sessions reach the data through the role: a primary hands out engine
//! transactions; a standby hands out read-only snapshots of its columns. The
//! rest of the server code is the same for both.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use duetdb_storage::{Catalog, Engine, Lsn};
use parking_lot::{Mutex, RwLock};

use crate::config::ConfigFile;
use crate::error::{SqlError, SqlResult};
use crate::settings::{self, Values};
use crate::sql::system::{ActivityRow, ReplicationRow, SlotRow};

/// A standby's column store memory, for monitoring.
#[derive(Clone, Copy, Debug)]
pub struct SegmentMemory {
    /// Segment bytes in memory now, the most at once, and the limit
    /// (`columnar_memory_limit`) persisted segments are evicted under.
    pub resident: usize,
    pub peak: usize,
    pub limit: usize,
    /// Row-id maps, beside the segments.
    pub row_maps: usize,
}

/// What a standby offers the server (implemented by the replication crate's glue).
#[async_trait]
pub trait StandbyRole: Send + Sync {
    fn catalog(&self) -> Arc<Catalog>;
    fn receive_lsn(&self) -> Lsn;
    fn replay_lsn(&self) -> Lsn;
    /// Waits until replay moves (or `timeout` passes).
    async fn wait_replay(&self, timeout: Duration);
    /// A read snapshot for one statement, as a DataFusion data source.
    fn snapshot(&self) -> Arc<dyn crate::sql::provider::DataSource>;
    fn relation_size(&self, oid: u32) -> i64;
    /// The primary's timeline this standby follows.
    fn timeline(&self) -> u32;
    /// What apply has done since start.
    fn applied(&self) -> duetdb_replication::receiver::Applied;
    /// The column store's memory (see `SegmentMemory`).
    fn segment_memory(&self) -> SegmentMemory;
    /// Stops streaming and hands back the standby's state (for a promotion);
    /// None when it was already taken.
    async fn stop_streaming(&self) -> Option<duetdb_replication::receiver::Stopped>;
    /// Streams again from a state `stop_streaming` returned.
    fn resume_streaming(&self, state: duetdb_replication::receiver::Stopped);
    /// Clean shutdown: stop streaming and persist the column store once more.
    async fn finish(&self);
}

/// What the primary's replication layer offers the server.
#[async_trait]
pub trait PrimaryReplication: Send + Sync {
    /// Waits until synchronous standbys acknowledged `lsn` at `mode`
    /// (remote_write / on / remote_apply), per synchronous_standby_names, or
    /// until `interrupted` says so (checked at least every 100 ms): then an
    /// error with the reason.
    async fn wait_for(&self, lsn: Lsn, mode: &str, interrupted: &(dyn Fn() -> Option<SqlError> + Send + Sync)) -> SqlResult<()>;
    fn stat_replication(&self) -> Vec<ReplicationRow>;
    fn slots(&self) -> Vec<SlotRow>;
}

pub enum Role {
    Primary(Arc<Engine>),
    Standby(Arc<dyn StandbyRole>),
}

pub struct Server {
    pub data_dir: PathBuf,
    role: RwLock<Role>,
    settings: RwLock<Values>,
    pub registry: Registry,
    pub started_micros: i64,
    pub replication: RwLock<Option<Arc<dyn PrimaryReplication>>>,
    /// The primary's WAL senders (set on first use; see `walsender`).
    pub wal_senders: std::sync::OnceLock<Arc<crate::walsender::WalSenders>>,
    listen: Mutex<(String, u16)>,
    pub shutdown: tokio_util::sync::CancellationToken,
    pub metrics: crate::metrics::Metrics,
}

impl Server {
    pub fn new(data_dir: PathBuf, role: Role, settings: Values) -> Arc<Server> {
        Self::new_with_shutdown(data_dir, role, settings, tokio_util::sync::CancellationToken::new())
    }

    /// As `new`, with a shutdown token made beforehand (a standby's streaming
    /// task is created before the server and stops with it).
    pub fn new_with_shutdown(
        data_dir: PathBuf,
        role: Role,
        settings: Values,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Arc<Server> {
        let port = settings.get_or_default("port").parse().unwrap_or(5432);
        let host = settings.get_or_default("listen_addresses").to_string();
        Arc::new(Server {
            data_dir,
            role: RwLock::new(role),
            settings: RwLock::new(settings),
            registry: Registry::default(),
            started_micros: crate::pg::datetime::now_micros(),
            replication: RwLock::new(None),
            wal_senders: std::sync::OnceLock::new(),
            listen: Mutex::new((host, port)),
            shutdown,
            metrics: crate::metrics::Metrics::default(),
        })
    }

    /// The primary's engine; a read-only error on a standby.
    pub fn engine(&self) -> SqlResult<Arc<Engine>> {
        match &*self.role.read() {
            Role::Primary(e) => Ok(e.clone()),
            Role::Standby(_) => Err(SqlError::new("25006", "cannot execute this statement in a read-only transaction")
                .with_hint("This server is a standby; send writes to the primary.")),
        }
    }

    pub fn standby(&self) -> Option<Arc<dyn StandbyRole>> {
        match &*self.role.read() {
            Role::Standby(s) => Some(s.clone()),
            Role::Primary(_) => None,
        }
    }

    pub fn set_role(&self, role: Role) {
        *self.role.write() = role;
    }

    pub fn timeline(&self) -> u32 {
        match &*self.role.read() {
            Role::Primary(e) => e.timeline(),
            Role::Standby(s) => s.timeline(),
        }
    }

    pub fn is_standby(&self) -> bool {
        matches!(&*self.role.read(), Role::Standby(_))
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        match &*self.role.read() {
            Role::Primary(e) => e.catalog(),
            Role::Standby(s) => s.catalog(),
        }
    }

    pub fn standby_receive_lsn(&self) -> Option<Lsn> {
        self.standby().map(|s| s.receive_lsn())
    }

    pub fn standby_replay_lsn(&self) -> Option<Lsn> {
        self.standby().map(|s| s.replay_lsn())
    }

    /// How far this server has applied the WAL: the flushed LSN on a primary.
    pub fn replay_lsn_now(&self) -> Lsn {
        match &*self.role.read() {
            Role::Primary(e) => e.wal.flushed_lsn(),
            Role::Standby(s) => s.replay_lsn(),
        }
    }

    pub async fn wait_replay_progress(&self, timeout: Duration) {
        match self.standby() {
            Some(s) => s.wait_replay(timeout).await,
            None => tokio::time::sleep(timeout).await,
        }
    }

    pub fn relation_size(&self, oid: u32) -> i64 {
        match &*self.role.read() {
            Role::Primary(e) => {
                let cat = e.catalog();
                let Some(def) = cat.tables.get(&oid) else { return 0 };
                e.data().get(&def.relfilenode).map(|d| (d.approx_rows() as i64) * 100).unwrap_or(0)
            }
            Role::Standby(s) => s.relation_size(oid),
        }
    }

    /// Waits for synchronous standbys, per synchronous_commit and the standby list.
    pub async fn wait_for_sync_standbys(
        &self,
        lsn: Lsn,
        mode: &str,
        interrupted: &(dyn Fn() -> Option<SqlError> + Send + Sync),
    ) -> SqlResult<()> {
        let rep = self.replication.read().clone();
        match rep {
            Some(r) => r.wait_for(lsn, mode, interrupted).await,
            None => Ok(()),
        }
    }

    pub fn setting(&self, name: &str) -> String {
        self.settings.read().get_or_default(name).to_string()
    }

    /// Defaults a new session starts from.
    pub fn session_defaults(&self) -> Values {
        self.settings.read().clone()
    }

    pub fn listen_host(&self) -> String {
        self.listen.lock().0.clone()
    }

    pub fn port(&self) -> u16 {
        self.listen.lock().1
    }

    pub fn set_listen(&self, host: String, port: u16) {
        *self.listen.lock() = (host, port);
    }

    /// Re-reads duetdb.conf and applies what may change at runtime.
    pub fn reload_config(&self) -> SqlResult<Vec<String>> {
        let cf = ConfigFile::load(&self.data_dir)?;
        let mut fresh = Values::defaults();
        cf.apply(&mut fresh)?;
        let mut cur = self.settings.write();
        let mut pending = Vec::new();
        for s in settings::SETTINGS {
            let new = fresh.get_or_default(s.name).to_string();
            if cur.get_or_default(s.name) == new {
                continue;
            }
            match s.context {
                settings::Context::Postmaster => pending.push(s.name.to_string()),
                settings::Context::Internal => {}
                _ => {
                    let _ = cur.set_unchecked(s.name, &new);
                }
            }
        }
        crate::logging::set_level(cur.get_or_default("log_level"));
        tracing::info!(pending_restart = ?pending, "configuration reloaded");
        Ok(pending)
    }

    /// ALTER SYSTEM SET / RESET: edits duetdb.conf, then reloads.
    pub fn alter_system(&self, name: &str, value: Option<&str>) -> SqlResult<()> {
        let mut cf = ConfigFile::load(&self.data_dir)?;
        match value {
            Some(v) => {
                cf.set(name, v)?;
            }
            None => {
                settings::find(name).ok_or_else(|| settings::unknown(name))?;
                cf.reset(name);
            }
        }
        cf.save()?;
        self.reload_config()?;
        Ok(())
    }

    /// pg_stat_activity: the registry's rows, with the lock waits the
    /// engine's wait graph knows of (a row or table lock held by another
    /// transaction shows as Lock / transactionid, as PostgreSQL shows a row
    /// lock wait).
    pub fn activity(&self) -> Vec<ActivityRow> {
        let mut rows = self.registry.activity();
        if let Ok(engine) = self.engine() {
            for r in rows.iter_mut().filter(|r| r.wait_event_type.is_none()) {
                if let Some(xid) = r.backend_xid
                    && engine.waits.waiting_for(xid).is_some()
                {
                    r.wait_event_type = Some("Lock".into());
                    r.wait_event = Some("transactionid".into());
                }
            }
        }
        rows
    }

    /// pg_blocking_pids(pid): the backends whose transactions `pid`'s
    /// transaction waits for.
    pub fn blocking_pids(&self, pid: i32) -> Vec<i32> {
        let Ok(engine) = self.engine() else { return Vec::new() };
        let Some(xid) = self.registry.get(pid).map(|c| c.xid.load(Ordering::Relaxed)).filter(|&x| x != 0) else { return Vec::new() };
        let holders = engine.waits.waiting_for(xid).unwrap_or_default();
        let by_xid = self.registry.pids_by_xid();
        let mut pids: Vec<i32> = holders.iter().filter_map(|h| by_xid.get(h).copied()).collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// pg_locks: each open transaction's own id (granted), the ids it waits
    /// for (not granted), and the table locks (row writers' shared ones as
    /// RowExclusiveLock, DDL's as AccessExclusiveLock).
    pub fn locks(&self) -> Vec<LockRow> {
        let Ok(engine) = self.engine() else { return Vec::new() };
        let by_xid = self.registry.pids_by_xid();
        let mut out = Vec::new();
        for (&xid, &pid) in &by_xid {
            out.push(LockRow {
                locktype: "transactionid",
                relation: None,
                transactionid: Some(xid),
                mode: "ExclusiveLock",
                granted: true,
                pid,
            });
            for h in engine.waits.waiting_for(xid).unwrap_or_default() {
                out.push(LockRow {
                    locktype: "transactionid",
                    relation: None,
                    transactionid: Some(h),
                    mode: "ShareLock",
                    granted: false,
                    pid,
                });
            }
        }
        for (table, txn, mode) in engine.table_locks.holders() {
            if let Some(&pid) = by_xid.get(&txn) {
                let mode = match mode {
                    duetdb_storage::lock::TableLockMode::Shared => "RowExclusiveLock",
                    duetdb_storage::lock::TableLockMode::Exclusive => "AccessExclusiveLock",
                };
                out.push(LockRow { locktype: "relation", relation: Some(table), transactionid: None, mode, granted: true, pid });
            }
        }
        out.sort_by_key(|l| (l.pid, !l.granted, l.locktype, l.relation, l.transactionid));
        out
    }
}

/// One row of pg_locks.
pub struct LockRow {
    pub locktype: &'static str,
    pub relation: Option<u32>,
    pub transactionid: Option<u64>,
    pub mode: &'static str,
    pub granted: bool,
    pub pid: i32,
}

/// One live connection, as pg_stat_activity and cancel requests see it.
pub struct Conn {
    pub pid: i32,
    pub secret: i32,
    pub user: String,
    pub database: String,
    pub application_name: Mutex<String>,
    pub client: Option<SocketAddr>,
    pub backend_start: i64,
    pub backend_type: &'static str,
    pub state: Mutex<&'static str>,
    pub query: Mutex<String>,
    pub query_start: AtomicI64,
    pub xact_start: AtomicI64,
    pub cancel: Arc<AtomicBool>,
    pub cancel_notify: tokio::sync::Notify,
    pub terminate: AtomicBool,
    /// pg_stat_activity's (wait_event_type, wait_event) while the backend waits.
    pub wait_event: Mutex<Option<(&'static str, &'static str)>>,
    /// The open transaction's id (0: none): pg_stat_activity's backend_xid,
    /// and how lock waits are mapped back to backends.
    pub xid: AtomicU64,
}

impl Conn {
    /// pg_stat_activity's query and query_start. The text is cut at 1024
    /// characters; a statement run again leaves the text (and its buffer) as is.
    pub fn set_query(&self, q: &str) {
        let q = if q.len() <= 1024 { q } else { q.char_indices().nth(1024).map_or(q, |(end, _)| &q[..end]) };
        let mut slot = self.query.lock();
        if *slot != q {
            slot.clear();
            slot.push_str(q);
        }
        self.query_start.store(crate::pg::datetime::now_micros(), Ordering::Relaxed);
    }

    /// pg_stat_activity's xact_start (None: no transaction).
    pub fn set_xact_start(&self, t: Option<i64>) {
        self.xact_start.store(t.unwrap_or(0), Ordering::Relaxed);
    }
}

#[derive(Default)]
pub struct Registry {
    conns: Mutex<HashMap<i32, Arc<Conn>>>,
    next_pid: AtomicI32,
}

/// Unregisters a connection when dropped.
pub struct ConnGuard {
    server: Arc<Server>,
    pub conn: Arc<Conn>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.server.registry.conns.lock().remove(&self.conn.pid);
    }
}

impl Registry {
    pub fn register(
        server: &Arc<Server>,
        user: &str,
        database: &str,
        app: &str,
        client: Option<SocketAddr>,
        backend_type: &'static str,
        cancel: Arc<AtomicBool>,
    ) -> ConnGuard {
        let r = &server.registry;
        let pid = 10_000 + r.next_pid.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            pid,
            secret: rand::random(),
            user: user.into(),
            database: database.into(),
            application_name: Mutex::new(app.into()),
            client,
            backend_start: crate::pg::datetime::now_micros(),
            backend_type,
            state: Mutex::new("idle"),
            query: Mutex::new(String::new()),
            query_start: AtomicI64::new(0),
            xact_start: AtomicI64::new(0),
            cancel,
            cancel_notify: tokio::sync::Notify::new(),
            terminate: AtomicBool::new(false),
            wait_event: Mutex::new(None),
            xid: AtomicU64::new(0),
        });
        r.conns.lock().insert(pid, conn.clone());
        ConnGuard { server: server.clone(), conn }
    }

    pub fn count(&self, backend_type: &str) -> usize {
        self.conns.lock().values().filter(|c| c.backend_type == backend_type).count()
    }

    /// A CancelRequest: the pid and secret must match.
    pub fn cancel(&self, pid: i32, secret: i32) -> bool {
        let c = self.conns.lock().get(&pid).cloned();
        match c {
            Some(c) if c.secret == secret => {
                c.cancel.store(true, Ordering::SeqCst);
                c.cancel_notify.notify_waiters();
                true
            }
            _ => false,
        }
    }

    /// pg_cancel_backend / pg_terminate_backend.
    pub fn signal(&self, pid: i32, terminate: bool) -> bool {
        let c = self.conns.lock().get(&pid).cloned();
        match c {
            Some(c) => {
                if terminate {
                    c.terminate.store(true, Ordering::SeqCst);
                }
                c.cancel.store(true, Ordering::SeqCst);
                c.cancel_notify.notify_waiters();
                true
            }
            None => false,
        }
    }

    pub fn get(&self, pid: i32) -> Option<Arc<Conn>> {
        self.conns.lock().get(&pid).cloned()
    }

    pub fn activity(&self) -> Vec<ActivityRow> {
        let conns: Vec<Arc<Conn>> = self.conns.lock().values().cloned().collect();
        let mut rows: Vec<ActivityRow> = conns
            .iter()
            .map(|c| {
                let xs = c.xact_start.load(Ordering::Relaxed);
                let qs = c.query_start.load(Ordering::Relaxed);
                let wait = *c.wait_event.lock();
                let xid = c.xid.load(Ordering::Relaxed);
                ActivityRow {
                    pid: c.pid,
                    database: c.database.clone(),
                    user: c.user.clone(),
                    application_name: c.application_name.lock().clone(),
                    client_addr: c.client.map(|a| a.ip().to_string()),
                    client_port: c.client.map(|a| a.port() as i32),
                    backend_start: c.backend_start,
                    xact_start: (xs != 0).then_some(xs),
                    query_start: (qs != 0).then_some(qs),
                    state: c.state.lock().to_string(),
                    query: c.query.lock().clone(),
                    backend_type: c.backend_type.to_string(),
                    wait_event_type: wait.map(|(t, _)| t.to_string()),
                    wait_event: wait.map(|(_, e)| e.to_string()),
                    backend_xid: (xid != 0).then_some(xid),
                }
            })
            .collect();
        rows.sort_by_key(|r| r.pid);
        rows
    }

    /// Open transaction id → backend pid.
    pub fn pids_by_xid(&self) -> HashMap<u64, i32> {
        self.conns
            .lock()
            .values()
            .filter_map(|c| {
                let x = c.xid.load(Ordering::Relaxed);
                (x != 0).then_some((x, c.pid))
            })
            .collect()
    }

    pub fn all(&self) -> Vec<Arc<Conn>> {
        self.conns.lock().values().cloned().collect()
    }
}
