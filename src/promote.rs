//! Failover: a standby becomes a writable primary (`pg_promote()`,
//! `duetdb promote -D DIR`).
//!
//! ```text
//!   standby streaming ──stop──► column store at L + WAL copy to L
//!        │ replication::promote::write_row_store
//!        ▼
//!   checkpoints/<L>/ + wal/  ──Engine::open (ordinary recovery)──► engine at L
//!        │ log Abort for transactions open at L, then Timeline(T+1)
//!        ▼
//!   role = Primary(engine); WAL senders; config: no longer a standby
//! ```
//!
//! The server keeps its listener and its sessions: a session's next
//! statement finds a primary. Failure before the row store is complete
//! resumes streaming, so a failed promotion leaves a working standby.
//!
//! `duetdb promote` reaches a running server without credentials, as
//! `pg_ctl promote` does: it writes `promote.signal` in the data directory and
//! sends SIGUSR1; the server removes the file when done, writing
//! `promote.failed` with the reason if it could not.

use std::path::Path;
use std::sync::Arc;

use duetdb_replication::promote::write_row_store;
use duetdb_storage::store::Location;
use duetdb_storage::wal::record::{Kind, encode_abort};
use duetdb_storage::{Engine, Lsn};

use crate::config::ConfigFile;
use crate::error::{SqlError, SqlResult};
use crate::server::{Role, Server};

pub const SIGNAL_FILE: &str = "promote.signal";
/// The timelines this server started: `timeline<TAB>start LSN` per line.
pub const HISTORY_FILE: &str = "timeline.history";
pub const FAILED_FILE: &str = "promote.failed";
/// `duetdb switchover` asks a primary to stop taking writes (`on`) or to take them again (`off`).
pub const DEMOTE_FILE: &str = "demote.signal";
/// The answer: `ok <WAL end LSN>` or `error <message>`.
pub const DEMOTE_RESULT: &str = "demote.result";

/// Promotes the standby `server` is; returns the LSN where its timeline starts.
pub async fn promote(server: &Arc<Server>) -> SqlResult<Lsn> {
    let role = server.standby().ok_or_else(|| {
        SqlError::new("55000", "recovery is not in progress").with_hint("pg_promote() and duetdb promote apply to a standby.")
    })?;
    let Some(mut stopped) = role.stop_streaming().await else {
        return Err(SqlError::new("55000", "a promotion of this standby is already in progress"));
    };
    let dir = server.data_dir.clone();
    let settings = server.session_defaults();
    let config = crate::node::engine_config(&dir, &settings);
    let location = match &config.checkpoint_location {
        Some(spec) => Location::open(spec),
        None => Location::local(&dir),
    }
    .map_err(SqlError::from)?;
    let wal_dir = config.wal_dir();
    tracing::info!(received = %stopped.applier.received, "promoting: writing the column store as a row store");
    let started = std::time::Instant::now();
    let had_local = stopped.local.is_some();
    let mut local = stopped.local.take();
    let written = write_row_store(&location, &wal_dir, &mut stopped.store, &stopped.applier, &mut local).await;
    let promoted = match written {
        Ok(p) => p,
        Err(e) if had_local && local.is_none() => {
            // The WAL copy moved: streaming cannot resume in this process.
            tracing::error!(error = %e, "promotion failed after moving the standby's WAL; restart the server");
            return Err(SqlError::new("58000", format!("promotion failed: {e}"))
                .with_hint("The data directory holds a partial row store; rebuild this standby (duetdb build)."));
        }
        Err(e) => {
            stopped.local = local;
            tracing::error!(error = %e, "promotion failed; the standby goes on streaming");
            role.resume_streaming(stopped);
            return Err(SqlError::new("58000", format!("promotion failed: {e}")));
        }
    };
    record_fork(&dir, promoted.timeline, promoted.lsn)?;
    let engine = Engine::open(config).await.map_err(|e| SqlError::new("XX000", format!("promotion failed opening the row store: {e}")))?;
    for txn in &promoted.in_flight {
        engine.wal.append(Kind::Abort, &encode_abort(*txn)).map_err(SqlError::from)?;
    }
    engine.set_timeline(promoted.timeline).map_err(SqlError::from)?;
    server.set_role(Role::Primary(engine.clone()));
    crate::walsender::WalSenders::of(server);
    no_longer_a_standby(&dir)?;
    tracing::info!(lsn = %promoted.lsn, timeline = promoted.timeline, rows = promoted.rows,
        aborted = promoted.in_flight.len(), ms = started.elapsed().as_millis() as u64, "promoted: this server is now a primary");
    Ok(promoted.lsn)
}

/// Notes that `timeline` starts at `lsn` (appended, synced).
fn record_fork(dir: &Path, timeline: u32, lsn: Lsn) -> SqlResult<()> {
    use std::io::Write;
    let path = dir.join(HISTORY_FILE);
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    writeln!(f, "{timeline}\t{lsn}")?;
    f.sync_all()?;
    Ok(())
}

/// Where this server's history left `timeline`: the start of the first later
/// timeline it knows. A standby on `timeline` may stream from here only up
/// to that LSN; past it, it holds WAL this server never had.
pub fn fork_point(dir: &Path, timeline: u32) -> Option<Lsn> {
    let text = std::fs::read_to_string(dir.join(HISTORY_FILE)).ok()?;
    text.lines()
        .filter_map(|l| {
            let (t, lsn) = l.split_once('\t')?;
            Some((t.trim().parse::<u32>().ok()?, lsn.trim().parse::<Lsn>().ok()?))
        })
        .filter(|(t, _)| *t > timeline)
        .min_by_key(|(t, _)| *t)
        .map(|(_, lsn)| lsn)
}

/// Refuses a START_REPLICATION that would make a standby diverge.
pub fn check_history(dir: &Path, current: u32, timeline: u32, start: Lsn) -> SqlResult<()> {
    if timeline > current {
        return Err(SqlError::new(
            "55000",
            format!("requested timeline {timeline} is not in this server's history: this server is on timeline {current}"),
        )
        .with_hint("The standby followed a newer primary; rebuild it from this one only if this one is meant to be the primary."));
    }
    if timeline < current
        && let Some(fork) = fork_point(dir, timeline)
        && start > fork
    {
        return Err(SqlError::new(
            "55000",
            format!("requested starting point {start} on timeline {timeline} is not in this server's history"),
        )
        .with_detail(format!("This server's history forked from timeline {timeline} at {fork}.")));
    }
    Ok(())
}

/// The config file stops naming a primary; the standby's column files go
/// (their contents are in the checkpoint now).
fn no_longer_a_standby(dir: &Path) -> SqlResult<()> {
    let mut cf = ConfigFile::load(dir)?;
    cf.reset("hot_standby");
    cf.reset("primary_conninfo");
    cf.save()?;
    let _ = std::fs::remove_dir_all(dir.join("columnar"));
    let _ = std::fs::remove_dir_all(dir.join("standby_wal"));
    crate::om::saved_args_as_primary(dir);
    Ok(())
}

/// Switchover, first half: this primary stops taking writes. New
/// transactions are read-only; running ones get `DRAIN` to finish, then
/// their sessions are terminated. Returns the WAL end once it is durable:
/// nothing after it will ever be written here.
pub async fn demote(server: &Arc<Server>) -> SqlResult<Lsn> {
    const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);
    let engine = server.engine()?;
    engine.set_read_only(true);
    let began = std::time::Instant::now();
    let mut terminated = false;
    while !engine.txns.running_list().is_empty() {
        if began.elapsed() > DRAIN && !terminated {
            tracing::warn!("switchover: terminating sessions whose transactions did not end");
            for c in server.registry.all().iter().filter(|c| c.backend_type == "client backend") {
                server.registry.signal(c.pid, true);
            }
            terminated = true;
        }
        if began.elapsed() > DRAIN * 2 {
            engine.set_read_only(false);
            return Err(SqlError::new("55006", "switchover: transactions on the primary did not end; it takes writes again"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let end = engine.wal.insert_lsn();
    engine.wal.wait_flushed(end).await.map_err(SqlError::from)?;
    tracing::info!(lsn = %end, "demoted for a switchover: read-only, WAL ends here");
    Ok(end)
}

/// Serves `duetdb promote` and `duetdb switchover` on SIGUSR1: with
/// `promote.signal` present a standby promotes; with `demote.signal` a
/// primary demotes (content `on`) or takes writes again (`off`).
pub async fn watch_signal(server: Arc<Server>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut usr1) = signal(SignalKind::user_defined1()) else { return };
    loop {
        tokio::select! {
            _ = usr1.recv() => {}
            _ = server.shutdown.cancelled() => return,
        }
        let dir = server.data_dir.clone();
        let promote_file = dir.join(SIGNAL_FILE);
        if promote_file.exists() {
            if let Err(e) = promote(&server).await {
                let _ = std::fs::write(dir.join(FAILED_FILE), format!("{}\n", e.message));
            }
            let _ = std::fs::remove_file(&promote_file);
        }
        let demote_file = dir.join(DEMOTE_FILE);
        if let Ok(what) = std::fs::read_to_string(&demote_file) {
            let result = match (what.trim(), server.engine()) {
                ("off", Ok(engine)) => {
                    engine.set_read_only(false);
                    tracing::info!("switchover cancelled: taking writes again");
                    Ok(engine.wal.flushed_lsn())
                }
                (_, Ok(_)) => demote(&server).await,
                (_, Err(_)) => Err(SqlError::new("55000", "a standby cannot be demoted")),
            };
            let out = match result {
                Ok(lsn) => format!("ok {lsn}\n"),
                Err(e) => format!("error {}\n", e.message),
            };
            let _ = std::fs::write(dir.join(DEMOTE_RESULT), out);
            let _ = std::fs::remove_file(&demote_file);
        }
    }
}
