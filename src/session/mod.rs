//! A client session: its settings, transaction, prepared statements, portals
//! and cursors, and the execution of statements.
//!
//! Transactions follow PostgreSQL's rules for when they begin and end:
//!
//! ```text
//!   outside BEGIN … COMMIT, every statement runs in an implicit transaction:
//!     simple protocol    one per Query message (all its statements together)
//!     extended protocol  one per Sync (all Executes since the last Sync)
//!   an error ends an implicit transaction (rolled back); in an explicit one it
//!   leaves the block "failed" (25P02) until ROLLBACK or ROLLBACK TO SAVEPOINT
//! ```
//!
//! A statement that hits a READ COMMITTED write conflict (the engine's
//! `RetryStatement`) is rolled back to its start and run again on a new
//! snapshot, invisibly to the client.
//!
//! The session owns its transaction; functions that DataFusion evaluates
//! (`current_setting()`, `nextval()`…) reach session state through
//! [`SessionEnv`], which is shared with the function registry.

pub mod copy;
pub mod ddl;
pub mod dml;
pub mod execute;
mod generated;
pub mod output;
mod rewrite;
pub mod system_view;
pub mod template;
pub mod utility;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use datafusion::prelude::SessionContext;
use duetdb_storage::{Catalog, Isolation, Lsn, ReadView, Transaction};
use parking_lot::Mutex;

use crate::error::{SqlError, SqlResult};
use crate::pg::datetime::Zone;
use crate::pg::encode::Style;
use crate::server::Server;
use crate::settings::{self, Values};
use crate::sql::functions::{self, FunctionEnv};
use crate::sql::provider::ViewSlot;
use crate::sql::query;

pub use execute::{Portal, Prepared};
pub use output::{Outcome, RowStream};

/// Session state shared with DataFusion functions.
pub struct SessionEnv {
    pub server: Arc<Server>,
    pub pid: i32,
    pub user: String,
    pub database: String,
    pub superuser: bool,
    pub client: Option<SocketAddr>,
    pub settings: Mutex<Values>,
    /// Settings whose new values must be reported to the client (ParameterStatus).
    pub reported: Mutex<Vec<(String, String)>>,
    pub txn_start: AtomicI64,
    pub stmt_start: AtomicI64,
    pub txn_id: AtomicU64,
    pub slot: Arc<ViewSlot>,
    /// WAL position this transaction depends on without writing (sequence values).
    pub flush_needed: AtomicU64,
    pub currval: Mutex<HashMap<u32, i64>>,
    pub lastval: Mutex<Option<i64>>,
    pub cancelled: Arc<AtomicBool>,
    /// SET LOCAL values to restore at transaction end: (name, previous value).
    pub local_restore: Mutex<Vec<(String, String)>>,
}

impl SessionEnv {
    pub fn zone(&self) -> Zone {
        Zone::parse(self.settings.lock().get_or_default("TimeZone")).unwrap_or(Zone::Utc)
    }

    pub fn style(&self) -> Style {
        Style { zone: self.zone() }
    }

    /// The catalog the current statement reads (outside one: the committed catalog).
    fn catalog_now(&self) -> Arc<Catalog> {
        match self.slot.get() {
            Ok(v) => v.catalog,
            Err(_) => self.server.catalog(),
        }
    }

    /// Applies SET (or set_config) and queues a ParameterStatus if reported.
    pub fn set(&self, name: &str, value: &str, local: bool) -> SqlResult<String> {
        let mut s = self.settings.lock();
        let prev = s.get(name).map(str::to_string);
        let (setting, v) = s.set(name, value, self.superuser)?;
        if local && let Some(prev) = prev {
            self.local_restore.lock().push((setting.name.to_string(), prev));
        }
        if setting.reported {
            self.reported.lock().push((setting.name.to_string(), v.clone()));
        }
        Ok(settings::display(setting, &v))
    }
}

impl FunctionEnv for SessionEnv {
    fn setting(&self, name: &str) -> Option<String> {
        let s = settings::find(name)?;
        let v = self.settings.lock().get_or_default(s.name).to_string();
        Some(settings::display(s, &v))
    }

    fn set_setting(&self, name: &str, value: &str, local: bool) -> SqlResult<String> {
        self.set(name, value, local)
    }

    fn user(&self) -> String {
        self.user.clone()
    }

    fn database(&self) -> String {
        self.database.clone()
    }

    fn backend_pid(&self) -> i32 {
        self.pid
    }

    fn transaction_start(&self) -> i64 {
        self.txn_start.load(Ordering::Relaxed)
    }

    fn statement_start(&self) -> i64 {
        self.stmt_start.load(Ordering::Relaxed)
    }

    fn server_start(&self) -> i64 {
        self.server.started_micros
    }

    fn catalog(&self) -> Arc<Catalog> {
        self.catalog_now()
    }

    fn nextval(&self, name: &str) -> SqlResult<i64> {
        let def = self.sequence(name)?;
        let engine = self.server.engine()?;
        let (v, lsn) = engine.nextval(&def)?;
        if let Some(l) = lsn {
            self.flush_needed.fetch_max(l.0, Ordering::Relaxed);
        }
        self.currval.lock().insert(def.id, v);
        *self.lastval.lock() = Some(v);
        Ok(v)
    }

    fn currval(&self, name: &str) -> SqlResult<i64> {
        let def = self.sequence(name)?;
        self.currval
            .lock()
            .get(&def.id)
            .copied()
            .ok_or_else(|| SqlError::new("55000", format!("currval of sequence \"{}\" is not yet defined in this session", def.name)))
    }

    fn lastval(&self) -> SqlResult<i64> {
        self.lastval.lock().ok_or_else(|| SqlError::new("55000", "lastval is not yet defined in this session"))
    }

    fn setval(&self, name: &str, value: i64, is_called: bool) -> SqlResult<i64> {
        let def = self.sequence(name)?;
        let engine = self.server.engine()?;
        let lsn = engine.setval(&def, value, is_called)?;
        self.flush_needed.fetch_max(lsn.0, Ordering::Relaxed);
        Ok(value)
    }

    fn current_wal_lsn(&self) -> SqlResult<Lsn> {
        if let Ok(e) = self.server.engine() {
            return Ok(e.wal.insert_lsn());
        }
        Err(SqlError::new("55000", "recovery is in progress").with_hint("WAL control functions cannot be executed during recovery."))
    }

    fn flushed_wal_lsn(&self) -> SqlResult<Lsn> {
        match self.server.engine() {
            Ok(e) => Ok(e.wal.flushed_lsn()),
            Err(_) => Err(SqlError::new("55000", "recovery is in progress")),
        }
    }

    fn in_recovery(&self) -> bool {
        self.server.is_standby()
    }

    fn timeline(&self) -> u32 {
        self.server.timeline()
    }

    fn receive_lsn(&self) -> Option<Lsn> {
        self.server.standby_receive_lsn()
    }

    fn replay_lsn(&self) -> Option<Lsn> {
        self.server.standby_replay_lsn()
    }

    fn transaction_id(&self) -> i64 {
        self.txn_id.load(Ordering::Relaxed) as i64
    }

    fn reload_config(&self) -> bool {
        self.server.reload_config().is_ok()
    }

    fn cancel_backend(&self, pid: i32, terminate: bool) -> bool {
        self.server.registry.signal(pid, terminate)
    }

    fn blocking_pids(&self, pid: i32) -> Vec<i32> {
        self.server.blocking_pids(pid)
    }

    fn relation_size(&self, oid: u32) -> i64 {
        self.server.relation_size(oid)
    }

    fn client_addr(&self) -> Option<String> {
        self.client.map(|a| a.ip().to_string())
    }

    fn server_addr(&self) -> (Option<String>, Option<i32>) {
        (Some(self.server.listen_host()), Some(self.server.port() as i32))
    }

    fn interrupted(&self) -> Option<SqlError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Some(SqlError::new("57014", "canceling statement due to user request"));
        }
        let timeout_ms = self.settings.lock().duration_ms("statement_timeout") as i64;
        let started = self.stmt_start.load(Ordering::Relaxed);
        if timeout_ms > 0 && started > 0 && crate::pg::datetime::now_micros() - started > timeout_ms * 1000 {
            return Some(SqlError::new("57014", "canceling statement due to statement timeout"));
        }
        None
    }
}

impl SessionEnv {
    fn sequence(&self, name: &str) -> SqlResult<Arc<duetdb_storage::catalog::SequenceDef>> {
        let cat = self.catalog_now();
        let parts = crate::sql::names::split_qualified(name);
        let (schema, n) = match parts.as_slice() {
            [n] => ("public".to_string(), n.clone()),
            [s, n] => (s.clone(), n.clone()),
            _ => return Err(SqlError::new("42P01", format!("relation \"{name}\" does not exist"))),
        };
        cat.sequence_by_name(&schema, &n).cloned().ok_or_else(|| {
            if cat.table_by_name(&schema, &n).is_some() {
                SqlError::new("42809", format!("\"{n}\" is not a sequence"))
            } else {
                SqlError::new("42P01", format!("relation \"{n}\" does not exist"))
            }
        })
    }
}

/// Where the session's transaction stands.
pub struct TxnState {
    pub txn: Option<Transaction>,
    /// Inside BEGIN … COMMIT.
    pub explicit: bool,
    /// An error happened in the explicit block: only ROLLBACK (TO) is allowed.
    pub failed: bool,
    /// Savepoint names, innermost last (the engine keeps the marks).
    pub savepoints: Vec<String>,
    pub isolation: Option<Isolation>,
    pub read_only: Option<bool>,
    /// On a standby, a REPEATABLE READ transaction's one column snapshot.
    pub standby_snapshot: Option<Arc<dyn crate::sql::provider::DataSource>>,
}

impl TxnState {
    fn new() -> TxnState {
        TxnState {
            txn: None,
            explicit: false,
            failed: false,
            savepoints: Vec::new(),
            isolation: None,
            read_only: None,
            standby_snapshot: None,
        }
    }
}

pub struct Session {
    pub env: Arc<SessionEnv>,
    pub df: SessionContext,
    pub txn: TxnState,
    pub prepared: HashMap<String, Arc<Prepared>>,
    pub portals: HashMap<String, Portal>,
    pub cursors: HashMap<String, execute::Cursor>,
    /// NOTICE / WARNING messages to send before the next command's result.
    pub notices: Vec<SqlError>,
    /// Statements re-run after READ COMMITTED conflicts (diagnostics).
    pub restarts: u64,
    /// The COPY FROM STDIN in progress.
    pub copy_in: Option<copy::CopyState>,
    /// Plans of simple-query statements, keyed by their text with constants
    /// replaced by parameters.
    pub templates: template::TemplateCache,
    /// This session's pg_stat_activity entry, held so that each statement
    /// updates it without a lookup in the server-wide registry.
    pub activity: Option<Arc<crate::server::Conn>>,
}

impl Session {
    pub fn new(
        server: Arc<Server>,
        pid: i32,
        user: &str,
        database: &str,
        client: Option<SocketAddr>,
        settings: Values,
        cancelled: Arc<AtomicBool>,
    ) -> Session {
        let slot = Arc::new(ViewSlot::default());
        let superuser = server.catalog().roles.get(user).is_some_and(|r| r.superuser);
        let env = Arc::new(SessionEnv {
            pid,
            user: user.to_string(),
            database: database.to_string(),
            superuser,
            client,
            settings: Mutex::new(settings),
            reported: Mutex::new(Vec::new()),
            txn_start: AtomicI64::new(crate::pg::datetime::now_micros()),
            stmt_start: AtomicI64::new(0),
            txn_id: AtomicU64::new(0),
            slot: slot.clone(),
            flush_needed: AtomicU64::new(0),
            currval: Mutex::new(HashMap::new()),
            lastval: Mutex::new(None),
            cancelled,
            local_restore: Mutex::new(Vec::new()),
            server: server.clone(),
        });
        let df = query::new_context(database, slot, query::cpu_cores());
        functions::register(&df, env.clone());
        Session {
            env,
            df,
            txn: TxnState::new(),
            prepared: HashMap::new(),
            portals: HashMap::new(),
            cursors: HashMap::new(),
            notices: Vec::new(),
            restarts: 0,
            copy_in: None,
            templates: Default::default(),
            activity: server.registry.get(pid),
        }
    }

    pub fn server(&self) -> &Arc<Server> {
        &self.env.server
    }

    pub fn setting(&self, name: &str) -> String {
        self.env.settings.lock().get_or_default(name).to_string()
    }

    /// Transaction status for ReadyForQuery: I (idle), T (in a block), E (failed block).
    pub fn status(&self) -> u8 {
        if self.txn.failed {
            b'E'
        } else if self.txn.explicit {
            b'T'
        } else {
            b'I'
        }
    }

    /// Queues a notice for the client; returns it for fields beyond the message.
    pub fn notice(&mut self, severity: &'static str, message: impl Into<String>) -> &mut SqlError {
        let mut n = SqlError::new("00000", message);
        n.severity = severity;
        if severity == "WARNING" {
            n.code = "01000";
        }
        self.notices.push(n);
        self.notices.last_mut().expect("just pushed")
    }

    // ------------------------------------------------------------------
    // Transactions
    // ------------------------------------------------------------------

    fn default_isolation(&self) -> Isolation {
        match self.setting("default_transaction_isolation").as_str() {
            "repeatable read" | "serializable" => Isolation::RepeatableRead,
            _ => Isolation::ReadCommitted,
        }
    }

    /// Makes sure a transaction is open (implicitly, if none was begun).
    pub fn ensure_txn(&mut self) -> SqlResult<()> {
        if self.txn.failed {
            return Err(SqlError::aborted_transaction());
        }
        if self.txn.txn.is_none() {
            if self.server().is_standby() {
                // A standby has no engine transactions: statements read column
                // snapshots (see begin_statement), and writes fail with 25006.
                return Ok(());
            }
            let engine = self.server().engine()?;
            let iso = self.txn.isolation.unwrap_or_else(|| self.default_isolation());
            let mut txn = engine.begin(iso);
            let ro = self.txn.read_only.unwrap_or_else(|| self.setting("default_transaction_read_only") == "on");
            if ro {
                txn.set_read_only(true)?;
            }
            self.env.txn_start.store(crate::pg::datetime::now_micros(), Ordering::Relaxed);
            self.env.txn_id.store(txn.id(), Ordering::Relaxed);
            self.env.flush_needed.store(0, Ordering::Relaxed);
            if let Some(c) = &self.activity {
                c.set_xact_start(Some(crate::pg::datetime::now_micros()));
                c.xid.store(txn.id(), Ordering::Relaxed);
            }
            self.txn.txn = Some(txn);
        }
        Ok(())
    }

    pub fn txn_mut(&mut self) -> SqlResult<&mut Transaction> {
        self.ensure_txn()?;
        match self.txn.txn.as_mut() {
            Some(t) => Ok(t),
            None => Err(SqlError::new("25006", "cannot execute this statement in a read-only transaction")
                .with_hint("This server is a standby; send writes to the primary.")),
        }
    }

    /// Begins a statement inside the transaction and publishes its read view.
    pub fn begin_statement(&mut self) -> SqlResult<ReadView> {
        if let Some(standby) = self.server().standby() {
            return self.begin_standby_statement(standby.as_ref());
        }
        self.ensure_txn()?;
        let txn = self.txn.txn.as_mut().unwrap();
        txn.begin_statement()?;
        let view = txn.read_view();
        self.env.slot.set(view.clone());
        self.env.stmt_start.store(crate::pg::datetime::now_micros(), Ordering::Relaxed);
        Ok(view)
    }

    /// A standby statement reads one column snapshot: a new one per statement,
    /// or, under REPEATABLE READ, the transaction's first one. The ReadView
    /// carries only the snapshot's catalog (there are no row-store data).
    fn begin_standby_statement(&mut self, standby: &dyn crate::server::StandbyRole) -> SqlResult<ReadView> {
        if self.txn.failed {
            return Err(SqlError::aborted_transaction());
        }
        let repeatable =
            self.txn.explicit && matches!(self.txn.isolation.unwrap_or_else(|| self.default_isolation()), Isolation::RepeatableRead);
        let source = match (&self.txn.standby_snapshot, repeatable) {
            (Some(s), true) => s.clone(),
            _ => {
                let s = standby.snapshot();
                if repeatable {
                    self.txn.standby_snapshot = Some(s.clone());
                }
                s
            }
        };
        let view = ReadView {
            snapshot: Arc::new(duetdb_storage::Snapshot::all_committed(u64::MAX)),
            me: 0,
            cid: 0,
            catalog: source.catalog(),
            data: Arc::new(Default::default()),
        };
        self.env.slot.set(view.clone());
        self.env.slot.set_source(Some(source));
        self.env.stmt_start.store(crate::pg::datetime::now_micros(), Ordering::Relaxed);
        Ok(view)
    }

    /// An engine reader for a statement that only reads and runs outside a
    /// transaction block (an autocommit key lookup): None inside a block, on
    /// a standby, or when the statement must run in a transaction anyway.
    /// The implicit "transaction" it stands for ends at Sync / end of Query
    /// (`end_implicit`), like any other. Only under READ COMMITTED, where
    /// every statement takes a new snapshot anyway: under REPEATABLE READ the
    /// statements of one implicit transaction (a multi-statement Query, a
    /// pipeline of Executes before Sync) must share one.
    pub fn autocommit_reader(&mut self) -> SqlResult<Option<duetdb_storage::reader::Reader>> {
        if self.txn.txn.is_some() || self.txn.explicit || self.txn.failed || self.server().is_standby() {
            return Ok(None);
        }
        if self.txn.isolation.unwrap_or_else(|| self.default_isolation()) != Isolation::ReadCommitted {
            return Ok(None);
        }
        let engine = self.server().engine()?;
        let now = crate::pg::datetime::now_micros();
        self.env.txn_start.store(now, Ordering::Relaxed);
        self.env.stmt_start.store(now, Ordering::Relaxed);
        if let Some(c) = &self.activity {
            c.set_xact_start(Some(now));
        }
        Ok(Some(engine.reader()))
    }

    /// A read view for planning outside any statement (Parse, Describe):
    /// the transaction's catalog if one is open, else the committed one.
    pub fn planning_view(&mut self) -> SqlResult<()> {
        if let Some(txn) = self.txn.txn.as_mut() {
            if txn.is_failed() {
                return Err(SqlError::aborted_transaction());
            }
            txn.begin_statement()?;
            self.env.slot.set(txn.read_view());
            return Ok(());
        }
        if let Some(standby) = self.server().standby() {
            self.begin_standby_statement(standby.as_ref())?;
            return Ok(());
        }
        if let Ok(engine) = self.server().engine() {
            // Planning reads the catalog only: a reader's view, no transaction id.
            self.env.slot.set(engine.reader().view().clone());
        }
        Ok(())
    }

    /// An error in the current statement: an implicit transaction rolls back;
    /// an explicit one becomes failed.
    pub fn statement_failed(&mut self) {
        if self.txn.explicit {
            if let Some(t) = self.txn.txn.as_mut() {
                t.fail();
            }
            self.txn.failed = true;
        } else {
            self.rollback_txn();
        }
    }

    /// Commits the open transaction: durable (group commit), then, per
    /// `synchronous_commit`, acknowledged by synchronous standbys, then visible.
    pub async fn commit_txn(&mut self) -> SqlResult<()> {
        self.restore_local_settings();
        self.cursors.clear();
        let Some(mut txn) = self.txn.txn.take() else {
            self.reset_txn_state();
            return Ok(());
        };
        let flush = self.env.flush_needed.swap(0, Ordering::Relaxed);
        if flush > 0 {
            txn.require_flush(Lsn(flush));
        }
        let mode = self.setting("synchronous_commit");
        self.reset_txn_state();
        let began = std::time::Instant::now();
        let pending = txn.prepare_commit()?;
        if pending.rolled_back() {
            self.server().metrics.rollbacks.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if let Some(lsn) = pending.lsn() {
            if mode != "off" {
                pending.wait_flushed().await?;
            }
            if matches!(mode.as_str(), "on" | "remote_write" | "remote_apply") {
                self.wait_for_sync_standbys(lsn, &mode).await;
            }
        }
        pending.finish();
        self.server().metrics.commit(began.elapsed().as_micros() as u64);
        Ok(())
    }

    /// Waits for the synchronous standbys to acknowledge a commit that is
    /// already durable here. A cancel, statement_timeout or
    /// pg_terminate_backend ends the wait as in PostgreSQL: the commit stands
    /// (it is in the WAL), and a WARNING says it may not be on the standby.
    async fn wait_for_sync_standbys(&mut self, lsn: Lsn, mode: &str) {
        let conn = self.activity.clone();
        if let Some(c) = &conn {
            *c.wait_event.lock() = Some(("IPC", "SyncRep"));
        }
        let env = self.env.clone();
        let waited = self.server().wait_for_sync_standbys(lsn, mode, &move || env.interrupted()).await;
        if let Some(c) = &conn {
            *c.wait_event.lock() = None;
        }
        if waited.is_err() {
            let terminating = conn.is_some_and(|c| c.terminate.load(Ordering::Relaxed));
            let message = if terminating {
                "canceling the wait for synchronous replication and terminating connection due to administrator command"
            } else {
                "canceling wait for synchronous replication due to user request"
            };
            self.notice("WARNING", message).detail =
                Some("The transaction has already committed locally, but might not have been replicated to the standby.".into());
        }
    }

    pub fn rollback_txn(&mut self) {
        self.restore_local_settings();
        self.cursors.clear();
        if let Some(txn) = self.txn.txn.take() {
            txn.rollback();
            self.server().metrics.rollbacks.fetch_add(1, Ordering::Relaxed);
        }
        self.env.flush_needed.store(0, Ordering::Relaxed);
        self.reset_txn_state();
    }

    fn reset_txn_state(&mut self) {
        self.txn = TxnState::new();
        self.env.slot.clear();
        if let Some(c) = &self.activity {
            c.set_xact_start(None);
            c.xid.store(0, Ordering::Relaxed);
        }
        // Portals live until the transaction ends.
        self.portals.retain(|_, p| p.holdable());
    }

    fn restore_local_settings(&mut self) {
        let restore = std::mem::take(&mut *self.env.local_restore.lock());
        let mut s = self.env.settings.lock();
        for (name, v) in restore.into_iter().rev() {
            let _ = s.set_unchecked(&name, &v);
        }
    }

    /// Ends the implicit transaction of a simple Query / extended Sync.
    pub async fn end_implicit(&mut self) -> SqlResult<()> {
        if self.txn.explicit || self.txn.failed {
            return Ok(());
        }
        if self.txn.txn.is_some() {
            return self.commit_txn().await;
        }
        // Statements that ran without an engine transaction (autocommit
        // readers, a standby's queries) end their implicit transaction here
        // too: its portals close and pg_stat_activity shows no transaction.
        self.reset_txn_state();
        Ok(())
    }

    /// Settings changes the client must be told about.
    pub fn take_reported(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.env.reported.lock())
    }

    pub fn cancelled(&self) -> bool {
        self.env.cancelled.load(Ordering::Relaxed)
    }

    /// Copies session-private state (settings, prepared statements, cursors)
    /// where this statement's system tables will read it.
    pub fn publish_system_view(&self) {
        let settings = {
            let current = self.env.settings.lock();
            system_view::SessionSystemView::setting_rows(&current, &self.server().session_defaults())
        };
        let mut prepared: Vec<_> = self
            .prepared
            .values()
            .filter(|p| !p.name.is_empty())
            .map(|p| crate::sql::system::PreparedRow {
                name: p.name.clone(),
                statement: p.sql.clone(),
                prepare_time: p.created,
                parameter_types: p
                    .param_types
                    .iter()
                    .map(|&o| crate::pg::oid::type_name(if o == 0 { crate::pg::oid::TEXT } else { o }).unwrap_or("text").to_string())
                    .collect(),
                from_sql: p.from_sql,
            })
            .collect();
        prepared.sort_by(|a, b| a.name.cmp(&b.name));
        let mut cursors: Vec<(String, String)> = self.cursors.iter().map(|(n, c)| (n.clone(), c.query.clone())).collect();
        cursors.sort();
        self.env.slot.set_system(Arc::new(system_view::SessionSystemView {
            server: self.server().clone(),
            user: self.env.user.clone(),
            database: self.env.database.clone(),
            settings,
            prepared,
            cursors,
        }));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.rollback_txn();
    }
}
