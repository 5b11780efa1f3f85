//! A standby node: the replication crate's column store behind the same
//! server code as the primary.
//!
//! ```text
//!   duetdb standby -D DIR --primary HOST:PORT
//!     empty DIR → config file (primary_conninfo, hot_standby) → base backup → stream
//!   each statement: Session asks StandbyRole::snapshot() → one ColumnSnapshot
//!     (one applied LSN) → DataFusion plans over ColumnTables of that snapshot
//! ```
//!
//! Writes fail with 25006 (the server has no engine to write to);
//! `pg_is_in_recovery()` is true; `pg_last_wal_receive_lsn()` /
//! `pg_last_wal_replay_lsn()` and `WAIT FOR LSN` read the receiver's positions.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use duetdb_replication::client::ConnInfo;
use duetdb_replication::columnar::ColumnSnapshot;
use duetdb_replication::receiver::Stopped;
use duetdb_replication::table::ColumnTable;
use duetdb_replication::{Standby, StandbyConfig};
use duetdb_storage::{Catalog, Lsn, TableDef};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{SqlError, SqlResult};
use crate::server::{SegmentMemory, StandbyRole};
use crate::settings::Values;
use crate::sql::provider::{DataSource, sql_schema};

/// The server's view of the standby.
pub struct StandbyNode {
    pub standby: Arc<Standby>,
    /// The streaming task and the token that stops it (child of the
    /// server's shutdown token); None once a promotion took it.
    runner: parking_lot::Mutex<Option<(CancellationToken, JoinHandle<Stopped>)>>,
    shutdown: CancellationToken,
}

impl StandbyNode {
    /// Starts streaming from the state `Standby::build` produced.
    pub fn start(standby: Arc<Standby>, state: Stopped, shutdown: CancellationToken) -> StandbyNode {
        let node = StandbyNode { standby, runner: parking_lot::Mutex::new(None), shutdown };
        node.resume_streaming(state);
        node
    }
}

#[async_trait]
impl StandbyRole for StandbyNode {
    fn catalog(&self) -> Arc<Catalog> {
        self.standby.published().snapshot().catalog.clone()
    }

    fn receive_lsn(&self) -> Lsn {
        self.standby.receive_lsn()
    }

    fn replay_lsn(&self) -> Lsn {
        self.standby.replay_lsn()
    }

    async fn wait_replay(&self, timeout: Duration) {
        self.standby.published().wait_newer(timeout).await
    }

    fn snapshot(&self) -> Arc<dyn DataSource> {
        Arc::new(SnapshotSource { snap: self.standby.published().snapshot() })
    }

    fn relation_size(&self, oid: u32) -> i64 {
        let snap = self.standby.published().snapshot();
        snap.tables.get(&oid).map(|t| t.bytes() as i64).unwrap_or(0)
    }

    fn timeline(&self) -> u32 {
        self.standby.timeline()
    }

    fn applied(&self) -> duetdb_replication::receiver::Applied {
        self.standby.applied()
    }

    fn segment_memory(&self) -> SegmentMemory {
        let pool = self.standby.pool();
        SegmentMemory { resident: pool.resident(), peak: pool.peak(), limit: pool.limit(), row_maps: self.standby.row_map_bytes() as usize }
    }

    async fn stop_streaming(&self) -> Option<Stopped> {
        let (token, handle) = self.runner.lock().take()?;
        token.cancel();
        handle.await.ok()
    }

    async fn finish(&self) {
        let Some(mut stopped) = self.stop_streaming().await else { return };
        if let Some(local) = stopped.local.as_mut() {
            let started = std::time::Instant::now();
            match local.persist_final(&mut stopped.store, &stopped.applier).await {
                Ok(lsn) => tracing::info!(%lsn, ms = started.elapsed().as_millis() as u64, "column snapshot persisted for shutdown"),
                Err(e) => tracing::warn!(error = %e, "final persist failed; the next start replays more WAL"),
            }
        }
    }

    fn resume_streaming(&self, state: Stopped) {
        let token = self.shutdown.child_token();
        let Stopped { store, applier, local } = state;
        let handle = tokio::spawn(self.standby.clone().run(store, applier, local, token.clone()));
        *self.runner.lock() = Some((token, handle));
    }
}

/// One statement's (or one REPEATABLE READ transaction's) data.
pub struct SnapshotSource {
    pub snap: Arc<ColumnSnapshot>,
}

impl DataSource for SnapshotSource {
    fn catalog(&self) -> Arc<Catalog> {
        self.snap.catalog.clone()
    }

    fn table(&self, def: &Arc<TableDef>) -> Option<Arc<dyn TableProvider>> {
        let t = self.snap.tables.get(&def.id)?;
        Some(Arc::new(ColumnTable::new(t.clone(), sql_schema(&t.def, false))))
    }
}

/// How the standby reaches its primary: `--primary` or `primary_conninfo`,
/// the user from PGUSER (default `duet`), the password from PGPASSWORD or
/// the first line of `passfile`.
pub fn standby_config(
    dir: &std::path::Path,
    settings: &Values,
    primary: Option<&str>,
    passfile: Option<&std::path::Path>,
) -> SqlResult<StandbyConfig> {
    let primary = match primary {
        Some(p) => p.to_string(),
        None => settings.get_or_default("primary_conninfo").to_string(),
    };
    if primary.trim().is_empty() {
        return Err(SqlError::new("22023", "a standby needs a primary: --primary HOST:PORT or primary_conninfo in duetdb.conf"));
    }
    let user = std::env::var("PGUSER").unwrap_or_else(|_| "duet".into());
    let password = match passfile {
        Some(f) => Some(std::fs::read_to_string(f)?.lines().next().unwrap_or("").to_string()),
        None => std::env::var("PGPASSWORD").ok(),
    };
    let port = settings.get_or_default("port").to_string();
    let app = match settings.get_or_default("application_name") {
        "" => format!("standby_{port}"),
        a => a.to_string(),
    };
    let conn = ConnInfo::parse(primary.trim(), &user, password, &app).map_err(|e| SqlError::new("22023", e))?;
    let slot = match settings.get_or_default("primary_slot_name") {
        "" => None,
        s => Some(s.to_string()),
    };
    let columnar_location = match settings.get_or_default("columnar_location") {
        "" => None,
        l => Some(l.to_string()),
    };
    Ok(StandbyConfig {
        conn,
        slot,
        status_interval: Duration::from_millis(settings.duration_ms("wal_receiver_status_interval").max(10)),
        state_dir: dir.to_path_buf(),
        columnar_location,
        persist_interval: Duration::from_millis(settings.duration_ms("columnar_persist_interval").max(10)),
        memory_limit: match settings.bytes("columnar_memory_limit") {
            0 => default_memory_limit(),
            n => n as usize,
        },
    })
}

/// 40% of the machine's memory: room for the segments most queries touch,
/// and for the queries themselves.
fn default_memory_limit() -> usize {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map(|kb| kb * 1024)
        .unwrap_or(8 << 30);
    (total / 5 * 2) as usize
}
