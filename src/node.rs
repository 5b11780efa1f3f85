//! Running a node: data directory lock, configuration, the listener, shutdown.
//!
//! A data directory is owned by one process at a time: `duetdb.pid` holds the
//! owner's pid and port (written with O_EXCL; a file left by a dead process is
//! taken over), which is also how `duetdb stop` and `status` find the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use duetdb_storage::catalog::Catalog;
use duetdb_storage::{Engine, EngineConfig};
use tokio::net::TcpListener;

use crate::config::ConfigFile;
use crate::connection_threads::Affinity;
use crate::error::{SqlError, SqlResult};
use crate::server::{Role, Server};
use crate::settings::Values;

pub const PID_FILE: &str = "duetdb.pid";

/// The lock on a data directory; removed when dropped.
pub struct DirLock {
    path: PathBuf,
}

impl DirLock {
    pub fn acquire(dir: &Path, port: u16) -> SqlResult<DirLock> {
        let path = dir.join(PID_FILE);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let pid: u32 = text.lines().next().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
            if pid != 0 && pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists() {
                return Err(SqlError::new(
                    "55006",
                    format!("data directory {} is in use by process {pid} (lock file {})", dir.display(), path.display()),
                ));
            }
            let _ = std::fs::remove_file(&path);
        }
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        use std::io::Write;
        writeln!(f, "{}\n{}", std::process::id(), port)?;
        f.sync_all()?;
        Ok(DirLock { path })
    }

    /// Updates the port recorded (after binding port 0).
    pub fn set_port(&self, port: u16) -> SqlResult<()> {
        std::fs::write(&self.path, format!("{}\n{}\n", std::process::id(), port))?;
        Ok(())
    }

    /// Marks the server as accepting connections (a third line, `ready`:
    /// what `duetdb start --detach` waits for).
    pub fn set_ready(&self, port: u16) -> SqlResult<()> {
        std::fs::write(&self.path, format!("{}\n{}\nready\n", std::process::id(), port))?;
        Ok(())
    }

    /// Removes the lock now (an immediate stop exits without unwinding).
    pub fn release(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the server on `dir` accepts connections yet.
pub fn is_ready(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(PID_FILE)).is_ok_and(|t| t.lines().nth(2) == Some("ready"))
}

/// (pid, port) of the server running on `dir`, if any.
pub fn running(dir: &Path) -> Option<(u32, u16)> {
    let text = std::fs::read_to_string(dir.join(PID_FILE)).ok()?;
    let mut lines = text.lines();
    let pid: u32 = lines.next()?.trim().parse().ok()?;
    let port: u16 = lines.next()?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some((pid, port))
}

/// Loads defaults + duetdb.conf + overrides (`--port`, `--listen`, `-c name=value`).
pub fn load_settings(dir: &Path, overrides: &[(String, String)]) -> SqlResult<Values> {
    let mut values = Values::defaults();
    ConfigFile::load(dir)?.apply(&mut values)?;
    for (k, v) in overrides {
        values.set_unchecked(k, v).map_err(|e| SqlError::new("22023", format!("{k}: {}", e.message)))?;
    }
    values.set_unchecked("data_directory", &dir.display().to_string())?;
    Ok(values)
}

pub fn engine_config(dir: &Path, s: &Values) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.wal.fsync = s.bool("fsync");
    cfg.wal.segment_size = s.get_or_default("wal_segment_size").parse().unwrap_or(16 << 20);
    cfg.checkpoint_timeout = Duration::from_millis(s.duration_ms("checkpoint_timeout").max(1000));
    cfg.max_wal_size = s.get_or_default("max_wal_size").parse().unwrap_or(1 << 30);
    cfg.max_slot_wal_keep_size = s.get_or_default("max_slot_wal_keep_size").parse().unwrap_or(0);
    let loc = s.get_or_default("checkpoint_location");
    cfg.checkpoint_location = (!loc.is_empty()).then(|| loc.to_string());
    cfg
}

/// `duetdb init`: a new data directory with a config file and a superuser.
pub async fn init(dir: &Path, superuser: &str, password: Option<&str>, auth: Option<&str>, extra: &[(String, String)]) -> SqlResult<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(SqlError::new("58P02", format!("directory \"{}\" exists but is not empty", dir.display()))
            .with_hint("Remove it, empty it, or run init with a different directory."));
    }
    std::fs::create_dir_all(dir)?;
    let auth = auth.map(str::to_string).unwrap_or_else(|| if password.is_some() { "scram-sha-256".into() } else { "trust".into() });
    if auth == "scram-sha-256" && password.is_none() {
        return Err(SqlError::new("22023", "scram-sha-256 authentication needs a password (--pwfile)"));
    }
    let mut values: Vec<(&str, String)> = vec![("authentication_method", auth.clone())];
    for (k, v) in extra {
        values.push((crate::settings::find(k).map(|s| s.name).ok_or_else(|| crate::settings::unknown(k))?, v.clone()));
    }
    let cf = ConfigFile::template(dir, &values);
    cf.save()?;
    let verifier = password.map(|p| postgres_protocol::password::scram_sha_256(p.as_bytes()));
    let settings = load_settings(dir, &[])?;
    Engine::init(&engine_config(dir, &settings), Catalog::bootstrap(superuser, verifier)).await?;
    if auth == "trust" {
        tracing::warn!("authentication is \"trust\": anyone who can connect can log in as any role");
    }
    Ok(())
}

/// A running primary.
pub struct Node {
    pub server: Arc<Server>,
    pub addr: SocketAddr,
    /// The Prometheus endpoint, when `metrics_port` is set.
    pub metrics: Option<SocketAddr>,
    _lock: DirLock,
    listener: tokio::task::JoinHandle<()>,
}

impl Node {
    /// Opens the data directory (recovery), binds, and starts serving.
    pub async fn start_primary(dir: &Path, overrides: &[(String, String)]) -> SqlResult<Node> {
        let settings = load_settings(dir, overrides)?;
        crate::huge_pages::apply(settings.get_or_default("huge_pages"))?;
        let port: u16 = settings.get_or_default("port").parse().unwrap_or(5432);
        let lock = DirLock::acquire(dir, port)?;
        let engine = Engine::open(engine_config(dir, &settings)).await?;
        let server = Server::new(dir.to_path_buf(), Role::Primary(engine), settings.clone());
        crate::walsender::WalSenders::of(&server);
        let (listener, addr) = bind(&settings).await?;
        lock.set_port(addr.port())?;
        server.set_listen(addr.ip().to_string(), addr.port());
        let tls = crate::tls::acceptor(dir, &settings)?;
        // Every listener is bound before the first client is accepted: a
        // server that cannot serve all of its ports never starts serving.
        let metrics = start_metrics(&server, addr).await?;
        let handle = tokio::spawn(accept_loop(server.clone(), listener, tls));
        tokio::spawn(crate::promote::watch_signal(server.clone()));
        lock.set_ready(addr.port())?;
        tracing::info!(%addr, dir = %dir.display(), "primary ready for connections");
        Ok(Node { server, addr, metrics, _lock: lock, listener: handle })
    }

    /// Builds (empty `dir`) or restarts a standby of `primary`, then serves
    /// read-only queries on its column snapshots while it streams.
    pub async fn start_standby(
        dir: &Path,
        primary: Option<&str>,
        passfile: Option<&Path>,
        overrides: &[(String, String)],
    ) -> SqlResult<Node> {
        if !ConfigFile::path_in(dir).exists() {
            // A new standby (the directory may hold a detached server's log).
            if dir.exists() && std::fs::read_dir(dir)?.any(|e| e.is_ok_and(|e| !is_startup_file(&e.file_name().to_string_lossy()))) {
                return Err(SqlError::new(
                    "58P02",
                    format!("directory \"{}\" is not empty and has no {}", dir.display(), crate::config::FILE_NAME),
                )
                .with_hint("A new standby needs an empty directory."));
            }
            std::fs::create_dir_all(dir)?;
            // As `init`: password authentication when the standby itself was
            // given a password for the primary, trust otherwise (a local demo).
            let has_password = passfile.is_some() || std::env::var("PGPASSWORD").is_ok_and(|p| !p.is_empty());
            let auth = if has_password { "scram-sha-256" } else { "trust" };
            let mut values: Vec<(&str, String)> = vec![("hot_standby", "on".into()), ("authentication_method", auth.into())];
            if let Some(p) = primary {
                values.push(("primary_conninfo", p.to_string()));
            }
            ConfigFile::template(dir, &values).save()?;
            tracing::info!(dir = %dir.display(), "new standby data directory");
        }
        let settings = load_settings(dir, overrides)?;
        crate::huge_pages::apply(settings.get_or_default("huge_pages"))?;
        refuse_primary_dir(dir, &settings, primary)?;
        let port: u16 = settings.get_or_default("port").parse().unwrap_or(5432);
        let lock = DirLock::acquire(dir, port)?;
        let (listener, addr) = bind(&settings).await?;
        lock.set_port(addr.port())?;
        let mut settings = settings;
        settings.set_unchecked("port", &addr.port().to_string())?;
        let config = crate::standby::standby_config(dir, &settings, primary, passfile)?;
        // The primary may not be up yet: keep trying, as a restarted standby would.
        let mut backoff = Duration::from_millis(100);
        let (standby, store, applier, local) = loop {
            match duetdb_replication::Standby::build(config.clone()).await {
                Ok(x) => break x,
                Err(e) => {
                    if let duetdb_replication::receiver::StandbyError::Client(duetdb_replication::client::ClientError::Server {
                        code, ..
                    }) = &e
                        && (code == "28P01" || code == "28000" || code == "42501")
                    {
                        return Err(SqlError::new("28000", format!("standby cannot connect to the primary: {e}")));
                    }
                    tracing::warn!(error = %e, retry_ms = backoff.as_millis() as u64, "base backup from the primary failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        let shutdown = tokio_util::sync::CancellationToken::new();
        let state = duetdb_replication::receiver::Stopped { store, applier, local };
        let role = Arc::new(crate::standby::StandbyNode::start(standby.clone(), state, shutdown.clone()));
        let server = Server::new_with_shutdown(dir.to_path_buf(), Role::Standby(role), settings.clone(), shutdown);
        server.set_listen(addr.ip().to_string(), addr.port());
        tokio::spawn(crate::promote::watch_signal(server.clone()));
        let tls = crate::tls::acceptor(dir, &settings)?;
        // Every listener is bound before the first client is accepted: a
        // server that cannot serve all of its ports never starts serving.
        let metrics = start_metrics(&server, addr).await?;
        let handle = tokio::spawn(accept_loop(server.clone(), listener, tls));
        lock.set_ready(addr.port())?;
        tracing::info!(%addr, dir = %dir.display(), primary = %config.conn.host, "standby ready for connections");
        Ok(Node { server, addr, metrics, _lock: lock, listener: handle })
    }

    /// Stops the server the way `mode` says (see `wait_for_stop`).
    pub async fn stop(self, mode: StopMode) -> SqlResult<()> {
        match mode {
            StopMode::Fast => self.shutdown().await,
            StopMode::Smart => {
                // No new sessions; the running ones end when their clients leave.
                self.listener.abort();
                tracing::info!("smart shutdown: waiting for client sessions to end");
                while self.server.registry.count("client backend") > 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                self.shutdown().await
            }
            StopMode::Immediate => {
                // What was acknowledged is in the WAL; the next start recovers.
                tracing::warn!("immediate shutdown: exiting without a checkpoint");
                self._lock.release();
                std::process::exit(0);
            }
        }
    }

    /// Stops accepting, ends sessions (their transactions roll back), flushes
    /// and checkpoints.
    pub async fn shutdown(self) -> SqlResult<()> {
        self.server.shutdown.cancel();
        self.listener.abort();
        // Give sessions a moment to see the shutdown and roll back.
        for _ in 0..50 {
            if self.server.registry.all().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Ok(engine) = self.server.engine() {
            engine.shutdown(true).await?;
        }
        if let Some(standby) = self.server.standby() {
            standby.finish().await;
        }
        tracing::info!("shut down");
        Ok(())
    }
}

async fn start_metrics(server: &Arc<Server>, addr: SocketAddr) -> SqlResult<Option<SocketAddr>> {
    crate::metrics_http::start(server.clone(), &addr.ip().to_string())
        .await
        .map_err(|e| SqlError::new("58030", format!("could not listen for metrics on port {}: {e}", server.setting("metrics_port"))))
}

pub async fn bind(settings: &Values) -> SqlResult<(TcpListener, SocketAddr)> {
    let port: u16 = settings.get_or_default("port").parse().unwrap_or(5432);
    let host = settings.get_or_default("listen_addresses").split(',').next().unwrap_or("127.0.0.1").trim().to_string();
    let host = match host.as_str() {
        "*" => "0.0.0.0".to_string(),
        "localhost" => "127.0.0.1".to_string(),
        h => h.to_string(),
    };
    let listener = TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| SqlError::new("58030", format!("could not listen on {host}:{port}: {e}")))?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

pub async fn accept_loop(server: Arc<Server>, listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) {
    let threads = match connection_thread_count(&server) {
        0 => None,
        n => match crate::connection_threads::ConnectionThreads::start(n, Affinity::parse(&server.setting("session_affinity"))) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "could not start connection threads; sessions run on the worker pool");
                None
            }
        },
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    match &threads {
                        Some(t) => t.serve(sock, peer, server.clone(), tls.clone()),
                        None => drop(tokio::spawn(crate::protocol::serve(server.clone(), sock, peer, tls.clone(), None))),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = server.shutdown.cancelled() => return,
        }
    }
}

/// `connection_threads`: -1 one per CPU core, 0 none (sessions run on the
/// shared worker pool), else that many (see `connection_threads`).
fn connection_thread_count(server: &Server) -> usize {
    match server.setting("connection_threads").parse::<i64>() {
        Ok(n) if n >= 0 => n as usize,
        _ => crate::sql::query::cpu_cores(),
    }
}

/// How a server stops (pg_ctl's modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    /// Wait for client sessions to end, then as Fast.
    Smart,
    /// Roll back open transactions, close sessions, checkpoint.
    Fast,
    /// Exit at once; the next start runs crash recovery.
    Immediate,
}

impl StopMode {
    /// The signal `duetdb stop -m MODE` sends.
    pub fn signal(self) -> i32 {
        match self {
            StopMode::Smart => libc::SIGUSR2,
            StopMode::Fast => libc::SIGTERM,
            StopMode::Immediate => libc::SIGQUIT,
        }
    }
}

/// Waits for a stop signal — SIGINT/SIGTERM fast, SIGUSR2 smart, SIGQUIT
/// immediate — reloading the config file at each SIGHUP meanwhile.
pub async fn wait_for_stop(server: &Arc<Server>) -> StopMode {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let mut usr2 = signal(SignalKind::user_defined2()).expect("SIGUSR2 handler");
    let mut quit = signal(SignalKind::quit()).expect("SIGQUIT handler");
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    loop {
        tokio::select! {
            _ = term.recv() => return StopMode::Fast,
            _ = int.recv() => return StopMode::Fast,
            _ = usr2.recv() => return StopMode::Smart,
            _ = quit.recv() => return StopMode::Immediate,
            _ = hup.recv() => {
                if let Err(e) = server.reload_config() {
                    tracing::error!(error = %e.message, "reloading the configuration failed; the old settings stay");
                }
            }
        }
    }
}

/// Files `start --detach` writes before the server has made its directory.
fn is_startup_file(name: &str) -> bool {
    name == crate::om::LOG_FILE || name == crate::om::OPTS_FILE || name == PID_FILE
}

/// A standby never starts on a primary's data directory: a former primary
/// may hold WAL the new primary never had, and streaming on top of it would
/// diverge silently.
fn refuse_primary_dir(dir: &Path, settings: &Values, primary: Option<&str>) -> SqlResult<()> {
    let wal_dir = engine_config(dir, settings).wal_dir();
    let has_wal = std::fs::read_dir(&wal_dir).is_ok_and(|mut d| d.next().is_some());
    if has_wal || dir.join("checkpoints").exists() {
        let target = primary.map(str::to_string).unwrap_or_else(|| settings.get_or_default("primary_conninfo").to_string());
        return Err(SqlError::new("55000", format!("data directory {} belongs to a primary, not a standby", dir.display())).with_hint(
            format!(
                "A former primary may hold WAL its successor never had. Rebuild it as a standby: duetdb build -D {} --primary {}",
                dir.display(),
                if target.is_empty() { "HOST:PORT" } else { target.as_str() }
            ),
        ));
    }
    Ok(())
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
