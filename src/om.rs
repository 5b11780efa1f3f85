//! The operations manager: what `duetdb stop`, `reload`, `promote`,
//! `status`, `config` and `start --detach` do to a server.
//!
//! ```text
//!   duetdb <op> -D DIR ──► DIR/duetdb.pid (pid, port, ready) ──► signal the pid
//!                                                                 SIGTERM fast stop
//!                                                                 SIGUSR2 smart stop
//!                                                                 SIGQUIT immediate stop
//!                                                                 SIGHUP  reload config
//!                                                                 SIGUSR1 promote (with promote.signal)
//!   duetdb status [-D DIR | -h HOST -p PORT] ──pgwire──► pg_stat_replication, pg_is_in_recovery(), …
//! ```
//!
//! As with pg_ctl, operations on a local data directory need no credentials
//! (owning the files is the permission); `status` is a SQL client and works
//! against a server anywhere, with the usual PGUSER / PGPASSWORD.
//!
//! Exit codes scripts can rely on: 0 done; 1 failed (the message says why);
//! 3 `status` found no server running (pg_ctl's code for the same).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::ConfigFile;
use crate::error::{SqlError, SqlResult};
use crate::node::{self, StopMode};
use crate::settings::{self, Context, Values};

/// Log file of a detached server (in its data directory).
pub const LOG_FILE: &str = "duetdb.log";
/// The arguments of the last `start`/`standby`, for `restart`.
pub const OPTS_FILE: &str = "duetdb.opts";
/// pg_ctl's exit code for "no server running".
pub const EXIT_NOT_RUNNING: u8 = 3;

fn send(pid: u32, sig: i32) -> SqlResult<()> {
    // SAFETY: kill(2) has no memory effects; a bad pid is an error return.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    if rc != 0 {
        return Err(SqlError::new("58000", format!("could not send signal {sig} to process {pid}: {}", std::io::Error::last_os_error())));
    }
    Ok(())
}

fn not_running(dir: &Path) -> SqlError {
    SqlError::new("55000", format!("no server running on data directory {}", dir.display()))
        .with_hint(format!("Start it with: duetdb start -D {}", dir.display()))
}

/// Runs `args` (a `start` or `standby` command line, without `--detach`) in
/// the background with its output in `DIR/duetdb.log`; returns once the
/// server accepts connections, or fails with the end of its log.
pub fn detach(dir: &Path, args: &[String], log: Option<&Path>, timeout: Duration) -> SqlResult<(u32, u16)> {
    use std::os::unix::process::CommandExt;
    if let Some((pid, _)) = node::running(dir) {
        return Err(SqlError::new("55006", format!("a server (pid {pid}) is already running on {}", dir.display())));
    }
    std::fs::create_dir_all(dir)?;
    let log_path = log.map(Path::to_path_buf).unwrap_or_else(|| dir.join(LOG_FILE));
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: the terminal's Ctrl-C does not reach it.
        .process_group(0)
        .spawn()?;
    std::fs::write(dir.join(OPTS_FILE), args.join("\n") + "\n")?;
    let began = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(SqlError::new("58000", format!("the server exited ({status}) before accepting connections")).with_hint(format!(
                "its log, {}, ends with:\n{}",
                log_path.display(),
                tail(&log_path, 15)
            )));
        }
        if let Some((pid, port)) = node::running(dir)
            && pid == child.id()
            && node::is_ready(dir)
        {
            return Ok((pid, port));
        }
        if began.elapsed() > timeout {
            return Err(SqlError::new("57014", format!("the server (pid {}) did not accept connections within {timeout:?}", child.id()))
                .with_hint(format!("It is still starting (a standby's first base backup can take a while); see {}", log_path.display())));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `duetdb stop`: signals the server and waits until it is gone.
pub fn stop(dir: &Path, mode: StopMode, timeout: Duration) -> SqlResult<()> {
    let Some((pid, _)) = node::running(dir) else { return Err(not_running(dir)) };
    send(pid, mode.signal())?;
    let began = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() && node::running(dir).is_some() {
        if began.elapsed() > timeout {
            return Err(SqlError::new("57014", format!("server (pid {pid}) did not shut down within {timeout:?}")).with_hint(match mode {
                StopMode::Smart => "Smart mode waits for client sessions to end; use -m fast to roll them back.",
                _ => "See its log; -m immediate stops it at once.",
            }));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// After a promotion the saved command line starts a primary: `standby`
/// becomes `start`, without the primary's address.
pub fn saved_args_as_primary(dir: &Path) {
    let Ok(args) = saved_args(dir) else { return };
    let mut out = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "standby" | "build" if out.is_empty() => out.push("start".to_string()),
            "--primary" | "--passfile" => {
                it.next();
            }
            _ if a.starts_with("--primary=") || a.starts_with("--passfile=") => {}
            _ => out.push(a),
        }
    }
    let _ = std::fs::write(dir.join(OPTS_FILE), out.join("\n") + "\n");
}

/// The command line `restart` runs again.
pub fn saved_args(dir: &Path) -> SqlResult<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(OPTS_FILE)).map_err(|e| {
        SqlError::new("58P01", format!("no {OPTS_FILE} in {}: {e}", dir.display()))
            .with_hint("restart repeats the last `duetdb start --detach` (or `standby --detach`); start it that way once.")
    })?;
    Ok(text.lines().map(str::to_string).collect())
}

/// `duetdb reload`: SIGHUP, as pg_ctl reload / pg_reload_conf().
pub fn reload(dir: &Path) -> SqlResult<()> {
    let Some((pid, _)) = node::running(dir) else { return Err(not_running(dir)) };
    send(pid, libc::SIGHUP)
}

/// `duetdb promote`: asks the standby on `dir` to become a primary and waits.
pub fn promote(dir: &Path, timeout: Duration) -> SqlResult<()> {
    let Some((pid, _)) = node::running(dir) else { return Err(not_running(dir)) };
    let signal_file = dir.join(crate::promote::SIGNAL_FILE);
    let failed = dir.join(crate::promote::FAILED_FILE);
    let _ = std::fs::remove_file(&failed);
    std::fs::write(&signal_file, b"")?;
    send(pid, libc::SIGUSR1)?;
    let began = Instant::now();
    while signal_file.exists() {
        if began.elapsed() > timeout {
            return Err(SqlError::new("57014", format!("the server did not finish promoting within {timeout:?}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Ok(reason) = std::fs::read_to_string(&failed) {
        let _ = std::fs::remove_file(&failed);
        return Err(SqlError::new("58000", format!("server did not promote: {}", reason.trim())));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// config get | set | list (gs_guc)
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct ConfigRow {
    pub name: String,
    pub value: String,
    /// "default" or "configuration file".
    pub source: &'static str,
    /// user / superuser / sighup / postmaster.
    pub context: &'static str,
    pub description: &'static str,
}

pub fn config_rows(dir: &Path) -> SqlResult<Vec<ConfigRow>> {
    let cf = ConfigFile::load(dir)?;
    let mut values = Values::defaults();
    cf.apply(&mut values)?;
    Ok(settings::SETTINGS
        .iter()
        .filter(|s| s.context != Context::Internal)
        .map(|s| ConfigRow {
            name: s.name.to_string(),
            value: settings::display(s, values.get_or_default(s.name)),
            source: if cf.get(s.name).is_some() { "configuration file" } else { "default" },
            context: s.context.as_str(),
            description: s.description,
        })
        .collect())
}

pub fn config_get(dir: &Path, name: &str) -> SqlResult<ConfigRow> {
    let s = settings::find(name).ok_or_else(|| settings::unknown(name))?;
    config_rows(dir)?.into_iter().find(|r| r.name == s.name).ok_or_else(|| settings::unknown(name))
}

/// What `config set` did.
pub struct ConfigChange {
    pub name: &'static str,
    pub value: String,
    /// The running server re-read the file (SIGHUP).
    pub reloaded: bool,
    /// The new value waits for a restart.
    pub needs_restart: bool,
}

/// Writes `name = value` (or removes it: `value` None) and, if a server runs
/// on `dir`, makes it reload.
pub fn config_set(dir: &Path, name: &str, value: Option<&str>) -> SqlResult<ConfigChange> {
    let mut cf = ConfigFile::load(dir)?;
    let s = match value {
        Some(v) => cf.set(name, v)?,
        None => {
            let s = settings::find(name).ok_or_else(|| settings::unknown(name))?;
            cf.reset(s.name);
            s
        }
    };
    cf.save()?;
    let running = node::running(dir).is_some();
    if running {
        reload(dir)?;
    }
    let shown = config_get(dir, s.name)?.value;
    Ok(ConfigChange { name: s.name, value: shown, reloaded: running, needs_restart: s.context == Context::Postmaster && running })
}

// ---------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------

/// Where `status` connects.
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
}

impl Target {
    /// The server running on `dir` (its port from the pid file).
    pub fn of_dir(dir: &Path) -> SqlResult<Option<Target>> {
        let Some((_, port)) = node::running(dir) else { return Ok(None) };
        let values = node::load_settings(dir, &[])?;
        let host = match values.get_or_default("listen_addresses").split(',').next().unwrap_or("127.0.0.1").trim() {
            "*" | "0.0.0.0" | "localhost" | "" => "127.0.0.1".to_string(),
            h => h.to_string(),
        };
        Ok(Some(Target { host, port, user: default_user(), password: std::env::var("PGPASSWORD").ok() }))
    }
}

pub fn default_user() -> String {
    std::env::var("PGUSER").unwrap_or_else(|_| "duet".into())
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub server: String,
    /// "primary" or "standby".
    pub role: &'static str,
    pub timeline: i32,
    pub server_version: String,
    /// Primary: pg_current_wal_lsn(); standby: pg_last_wal_receive_lsn().
    pub current_lsn: Option<String>,
    /// Standby: pg_last_wal_replay_lsn().
    pub replay_lsn: Option<String>,
    /// Standby: the primary it follows.
    pub primary: Option<String>,
    pub standbys: Vec<StandbyStatus>,
}

#[derive(Debug, Serialize)]
pub struct StandbyStatus {
    pub application_name: String,
    pub client_addr: Option<String>,
    pub state: String,
    pub sent_lsn: Option<String>,
    pub write_lsn: Option<String>,
    pub flush_lsn: Option<String>,
    pub replay_lsn: Option<String>,
    /// Seconds.
    pub write_lag: Option<f64>,
    pub flush_lag: Option<f64>,
    pub replay_lag: Option<f64>,
    pub sync_state: String,
}

pub async fn status(target: &Target) -> SqlResult<Status> {
    let client = connect(target, "duetdb status").await?;
    let server = format!("{}:{}", target.host, target.port);
    let q = |e: tokio_postgres::Error| SqlError::new("XX000", format!("status query failed: {}", client_error(&e)));
    let row = client.query_one("SELECT pg_is_in_recovery(), duetdb_timeline(), current_setting('server_version')", &[]).await.map_err(q)?;
    let in_recovery: bool = row.get(0);
    let mut st = Status {
        server,
        role: if in_recovery { "standby" } else { "primary" },
        timeline: row.get(1),
        server_version: row.get(2),
        current_lsn: None,
        replay_lsn: None,
        primary: None,
        standbys: Vec::new(),
    };
    if in_recovery {
        let r = client
            .query_one("SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, current_setting('primary_conninfo')", &[])
            .await
            .map_err(q)?;
        st.current_lsn = r.get(0);
        st.replay_lsn = r.get(1);
        st.primary = r.get::<_, Option<String>>(2).filter(|s| !s.is_empty());
    } else {
        let r = client.query_one("SELECT pg_current_wal_lsn()::text", &[]).await.map_err(q)?;
        st.current_lsn = r.get(0);
    }
    let rows = client
        .query(
            "SELECT application_name::text, client_addr::text, state::text, sent_lsn::text, write_lsn::text, flush_lsn::text, \
             replay_lsn::text, extract(epoch from write_lag)::float8, extract(epoch from flush_lag)::float8, \
             extract(epoch from replay_lag)::float8, sync_state::text \
             FROM pg_stat_replication ORDER BY application_name",
            &[],
        )
        .await
        .map_err(q)?;
    for r in rows {
        st.standbys.push(StandbyStatus {
            application_name: r.get::<_, Option<String>>(0).unwrap_or_default(),
            client_addr: r.get(1),
            state: r.get::<_, Option<String>>(2).unwrap_or_default(),
            sent_lsn: r.get(3),
            write_lsn: r.get(4),
            flush_lsn: r.get(5),
            replay_lsn: r.get(6),
            write_lag: r.get(7),
            flush_lag: r.get(8),
            replay_lag: r.get(9),
            sync_state: r.get::<_, Option<String>>(10).unwrap_or_default(),
        });
    }
    Ok(st)
}

fn client_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// `status` as a table, for people.
pub fn print_status(out: &mut impl Write, st: &Status) -> std::io::Result<()> {
    writeln!(out, "server:    {} ({}, timeline {}, {})", st.server, st.role, st.timeline, st.server_version)?;
    let none = || "-".to_string();
    match st.role {
        "standby" => {
            writeln!(out, "primary:   {}", st.primary.clone().unwrap_or_else(none))?;
            writeln!(out, "received:  {}", st.current_lsn.clone().unwrap_or_else(none))?;
            writeln!(out, "replayed:  {}", st.replay_lsn.clone().unwrap_or_else(none))?;
        }
        _ => writeln!(out, "wal lsn:   {}", st.current_lsn.clone().unwrap_or_else(none))?,
    }
    if st.standbys.is_empty() {
        if st.role == "primary" {
            writeln!(out, "standbys:  none connected")?;
        }
        return Ok(());
    }
    writeln!(out, "standbys:")?;
    let lag = |l: Option<f64>| l.map(|s| format!("{:.3}s", s)).unwrap_or_else(none);
    let header = ["name", "address", "state", "sync", "sent", "flushed", "replayed", "flush lag", "replay lag"];
    let rows: Vec<[String; 9]> = st
        .standbys
        .iter()
        .map(|s| {
            [
                s.application_name.clone(),
                s.client_addr.clone().unwrap_or_else(none),
                s.state.clone(),
                s.sync_state.clone(),
                s.sent_lsn.clone().unwrap_or_else(none),
                s.flush_lsn.clone().unwrap_or_else(none),
                s.replay_lsn.clone().unwrap_or_else(none),
                lag(s.flush_lag),
                lag(s.replay_lag),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..9).map(|i| rows.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    let line = |cells: Vec<&str>| cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ");
    writeln!(out, "  {}", line(header.to_vec()))?;
    for r in &rows {
        writeln!(out, "  {}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// `duetdb build`: empties a standby's data directory (keeping its config
/// file and certificates), so the next start takes a fresh base backup.
pub fn clear_for_build(dir: &Path, primary: Option<&str>) -> SqlResult<()> {
    if let Some((pid, _)) = node::running(dir) {
        return Err(SqlError::new("55006", format!("a server (pid {pid}) is running on {}", dir.display()))
            .with_hint(format!("Stop it first: duetdb stop -D {}", dir.display())));
    }
    let keep = [crate::config::FILE_NAME, "server.crt", "server.key", LOG_FILE, OPTS_FILE];
    if dir.exists() {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().to_string();
            if keep.contains(&name.as_str()) {
                continue;
            }
            let p: PathBuf = e.path();
            if p.is_dir() { std::fs::remove_dir_all(&p)? } else { std::fs::remove_file(&p)? }
        }
    }
    if ConfigFile::path_in(dir).exists() {
        let mut cf = ConfigFile::load(dir)?;
        cf.set("hot_standby", "on")?;
        if let Some(p) = primary {
            cf.set("primary_conninfo", p)?;
        }
        cf.save()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// switchover
// ---------------------------------------------------------------------------

/// Sends `demote.signal` with `what` and waits for the primary's answer.
fn demote_request(dir: &Path, what: &str, timeout: Duration) -> SqlResult<String> {
    let Some((pid, _)) = node::running(dir) else { return Err(not_running(dir)) };
    let (signal_file, result) = (dir.join(crate::promote::DEMOTE_FILE), dir.join(crate::promote::DEMOTE_RESULT));
    let _ = std::fs::remove_file(&result);
    std::fs::write(&signal_file, what)?;
    send(pid, libc::SIGUSR1)?;
    let began = Instant::now();
    while signal_file.exists() || !result.exists() {
        if began.elapsed() > timeout {
            return Err(SqlError::new("57014", format!("the primary did not answer the switchover request within {timeout:?}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let answer = std::fs::read_to_string(&result)?;
    let _ = std::fs::remove_file(&result);
    match answer.trim().split_once(' ') {
        Some(("ok", lsn)) => Ok(lsn.to_string()),
        Some((_, msg)) => Err(SqlError::new("55000", msg.to_string())),
        None => Err(SqlError::new("XX000", format!("unreadable switchover answer: {answer}"))),
    }
}

/// A SQL session with the server `target` names (08001 when it cannot be had).
async fn connect(target: &Target, application_name: &str) -> SqlResult<tokio_postgres::Client> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&target.host).port(target.port).user(&target.user).dbname("postgres").application_name(application_name);
    cfg.connect_timeout(Duration::from_secs(10));
    if let Some(p) = &target.password {
        cfg.password(p);
    }
    let (client, conn) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| SqlError::new("08001", format!("could not connect to {}:{}: {}", target.host, target.port, client_error(&e))))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// What a switchover did.
pub struct Switched {
    pub lsn: String,
    pub new_primary: String,
    pub old_primary_pid: u32,
    pub old_primary_port: u16,
}

/// `duetdb switchover -D STANDBY --primary-dir PRIMARY`: the planned role
/// swap, with both data directories on this machine.
///
/// ```text
///   1. primary: read-only, drain, WAL end F durable   (demote.signal)
///   2. standby: wait until replay ≥ F                  (else: primary takes writes again)
///   3. primary: fast stop — it has nothing after F
///   4. standby: promote (timeline + 1, starts at F)
///   5. old primary: rebuilt as a standby of the new one, started detached
/// ```
///
/// Every commit acknowledged before step 1 is ≤ F, and the standby has all
/// of it before anything is stopped, so none is lost.
pub async fn switchover(standby_dir: &Path, primary_dir: &Path, timeout: Duration) -> SqlResult<Switched> {
    let standby = Target::of_dir(standby_dir)?.ok_or_else(|| not_running(standby_dir))?;
    let st = status(&standby).await?;
    if st.role != "standby" {
        return Err(SqlError::new("55000", format!("{} is not a standby", standby_dir.display())));
    }
    let pst = status(&Target::of_dir(primary_dir)?.ok_or_else(|| not_running(primary_dir))?).await?;
    if pst.role != "primary" {
        return Err(SqlError::new("55000", format!("{} is not a primary", primary_dir.display())));
    }
    let args = saved_args(primary_dir)?;

    let end = demote_request(primary_dir, "on", Duration::from_secs(60))?;
    let caught_up = async {
        let c = connect(&standby, "duetdb switchover").await?;
        let began = Instant::now();
        loop {
            let r = c
                .query_one(&format!("SELECT pg_last_wal_replay_lsn() >= '{end}'::pg_lsn"), &[])
                .await
                .map_err(|e| SqlError::new("XX000", client_error(&e)))?;
            if r.get::<_, Option<bool>>(0) == Some(true) {
                return Ok::<(), SqlError>(());
            }
            if began.elapsed() > timeout {
                return Err(SqlError::new("57014", format!("the standby did not replay up to {end} within {timeout:?}")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    .await;
    if let Err(e) = caught_up {
        let _ = demote_request(primary_dir, "off", Duration::from_secs(30));
        return Err(SqlError::new("55000", format!("switchover cancelled, the primary takes writes again: {}", e.message)));
    }
    stop(primary_dir, StopMode::Fast, Duration::from_secs(60))?;
    promote(standby_dir, timeout)?;

    let new_primary = format!("{}:{}", standby.host, standby.port);
    let mut standby_args = vec!["standby".to_string()];
    let mut it = args.into_iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--primary" | "--passfile" => {
                it.next();
            }
            _ if a.starts_with("--primary=") || a.starts_with("--passfile=") => {}
            _ => standby_args.push(a),
        }
    }
    standby_args.push("--primary".into());
    standby_args.push(new_primary.clone());
    clear_for_build(primary_dir, Some(&new_primary))?;
    let (pid, port) = detach(primary_dir, &standby_args, None, timeout)?;
    Ok(Switched { lsn: end, new_primary, old_primary_pid: pid, old_primary_port: port })
}
