//! Test harness: real `duetdb` servers in child processes on loopback ports
//! chosen at runtime, reached with real clients (tokio-postgres, psql).
//!
//! A `TestServer` owns a temporary data directory and the child process; it
//! stops the server (SIGTERM, then SIGKILL) when dropped, and prints the
//! server's log if the test is failing, so a failure explains itself.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SUPERUSER: &str = "duet";
pub const PASSWORD: &str = "s3cret-pw";

pub struct TestServer {
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    child: Option<Child>,
    pub port: u16,
    pub password: Option<String>,
    log: PathBuf,
    /// The subcommand and its own arguments: `start`, or `standby --primary …`.
    command: Vec<String>,
    /// Port to listen on at the next launch (0: any free one).
    pub listen_port: u16,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_duetdb")
}

/// Options for a new data directory.
#[derive(Default, Clone)]
pub struct Init {
    pub password: bool,
    pub settings: Vec<(String, String)>,
}

impl Init {
    /// Trust authentication and these settings.
    pub fn settings(settings: &[(&str, &str)]) -> Init {
        Init { settings: settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Init::default() }
    }
}

impl TestServer {
    /// A fresh primary with trust authentication.
    pub fn start() -> TestServer {
        TestServer::start_with(Init::default())
    }

    pub fn start_with(init: Init) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut cmd = Command::new(binary());
        cmd.args(["init", "-D"]).arg(&dir).args(["-U", SUPERUSER]);
        if init.password {
            let pw = tmp.path().join("pwfile");
            std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
            cmd.arg("--pwfile").arg(&pw);
        }
        let out = cmd.output().expect("run duetdb init");
        assert!(out.status.success(), "duetdb init failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut s = TestServer {
            dir,
            _tmp: Some(tmp),
            child: None,
            port: 0,
            password: init.password.then(|| PASSWORD.to_string()),
            log: PathBuf::new(),
            command: vec!["start".into()],
            listen_port: 0,
        };
        s.log = s.dir.parent().unwrap().join("server.log");
        s.launch(&init.settings);
        s
    }

    /// Starts (or restarts) the server process on the data directory.
    pub fn launch(&mut self, settings: &[(String, String)]) {
        assert!(self.child.is_none(), "server already running");
        let _ = std::fs::remove_file(self.dir.join("duetdb.pid"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut cmd = Command::new(binary());
        cmd.arg(&self.command[0]).arg("-D").arg(&self.dir).args(&self.command[1..]).args([
            "--port",
            &self.listen_port.to_string(),
            "--listen",
            "127.0.0.1",
        ]);
        cmd.env("PGUSER", SUPERUSER);
        if let Some(pw) = &self.password {
            cmd.env("PGPASSWORD", pw);
        }
        for (k, v) in settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        cmd.env("DUETDB_LOG", std::env::var("DUETDB_LOG").unwrap_or_else(|_| "info".into()));
        let child = cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("spawn duetdb start");
        self.child = Some(child);
        self.port = self.wait_ready();
    }

    /// A standby of `primary`, built from an empty data directory.
    pub fn start_standby(primary: &TestServer, settings: &[(String, String)]) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("standby");
        let mut s = TestServer {
            log: tmp.path().join("standby.log"),
            dir,
            _tmp: Some(tmp),
            child: None,
            port: 0,
            password: primary.password.clone(),
            command: vec!["standby".into(), "--primary".into(), format!("127.0.0.1:{}", primary.port)],
            listen_port: 0,
        };
        s.launch(settings);
        s
    }

    /// Points a standby at a (restarted) primary's new port.
    pub fn set_primary(&mut self, primary: &TestServer) {
        self.command = vec!["standby".into(), "--primary".into(), format!("127.0.0.1:{}", primary.port)];
    }

    /// After a promotion the data directory is a primary's: restarts run `start`.
    pub fn become_primary(&mut self) {
        self.command = vec!["start".into()];
    }

    fn wait_ready(&mut self) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("server exited during startup ({status}):\n{}", self.log_text());
            }
            if let Ok(text) = std::fs::read_to_string(self.dir.join("duetdb.pid"))
                && let Some(port) = text.lines().nth(1).and_then(|l| l.trim().parse::<u16>().ok())
                && port != 0
                && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            {
                return port;
            }
            assert!(Instant::now() < deadline, "server did not become ready:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe_kill(c.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(30);
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.wait();
        }
    }

    /// SIGKILL: a crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn conn_string(&self, db: &str) -> String {
        let mut s = format!("host=127.0.0.1 port={} user={SUPERUSER} dbname={db}", self.port);
        if let Some(p) = &self.password {
            s.push_str(&format!(" password={p}"));
        }
        s
    }

    pub async fn connect(&self) -> tokio_postgres::Client {
        self.connect_db("postgres").await
    }

    pub async fn connect_db(&self, db: &str) -> tokio_postgres::Client {
        self.try_connect(&self.conn_string(db)).await.unwrap_or_else(|e| panic!("connect failed: {e}\n{}", self.log_text()))
    }

    pub async fn try_connect(&self, conn: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Runs psql with `args` against this server; returns (success, stdout, stderr).
    pub fn psql(&self, args: &[&str]) -> (bool, String, String) {
        let mut cmd = Command::new("psql");
        cmd.args(["-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", SUPERUSER, "-d", "postgres"]);
        cmd.args(args);
        if let Some(p) = &self.password {
            cmd.env("PGPASSWORD", p);
        }
        let out = cmd.output().expect("psql is installed (.ci/run installs postgresql-client)");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- server log ({}) ----\n{}", self.log.display(), self.log_text());
        }
        self.stop();
    }
}

/// Runs the `duetdb` binary (an OM command) to completion: (exit code, stdout, stderr).
pub fn duetdb(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary()).args(args).env("PGUSER", SUPERUSER).stdin(Stdio::null()).output().expect("run duetdb");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Waits until the standby has replayed what the primary has flushed now;
/// returns that LSN.
pub async fn catch_up(primary: &tokio_postgres::Client, standby: &tokio_postgres::Client) -> String {
    let lsn = one(primary, "SELECT pg_current_wal_lsn()::text").await;
    standby
        .batch_execute(&format!("WAIT FOR LSN '{lsn}' WITH (TIMEOUT '30s')"))
        .await
        .unwrap_or_else(|e| panic!("WAIT FOR LSN {lsn}: {e:?}"));
    lsn
}

/// Waits until the primary reports a standby as synchronous.
pub async fn wait_sync(p: &tokio_postgres::Client) {
    wait_sync_state(p, "sync").await;
}

/// Waits until a standby has `state` (sync, quorum, …) in pg_stat_replication.
pub async fn wait_sync_state(p: &tokio_postgres::Client, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while one(p, "SELECT coalesce(max(sync_state), '') FROM pg_stat_replication").await != state {
        assert!(Instant::now() < deadline, "no standby became {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn unsafe_kill(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

/// The SQLSTATE of a failed statement.
pub fn code(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {e:?}"))
}

/// Runs `sql`, expecting it to fail with `sqlstate`.
pub async fn expect_error(c: &tokio_postgres::Client, sql: &str, sqlstate: &str) -> tokio_postgres::error::DbError {
    match c.batch_execute(sql).await {
        Ok(()) => panic!("{sql}: expected {sqlstate}, it succeeded"),
        Err(e) => {
            assert_eq!(code(&e), sqlstate, "{sql}: {e:?}");
            e.as_db_error().cloned().expect("a database error")
        }
    }
}

/// Text of every cell of a simple query's rows.
pub async fn rows(c: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    for m in c.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}")) {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            out.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
        }
    }
    out
}

/// The single value of a simple query.
pub async fn one(c: &tokio_postgres::Client, sql: &str) -> String {
    let r = rows(c, sql).await;
    assert_eq!(r.len(), 1, "{sql}: {r:?}");
    r[0][0].clone().unwrap_or_default()
}

/// A loopback port nothing listens on right now, for a server to bind later.
///
/// Taken below the kernel's ephemeral range (32768–60999 on Linux), where
/// `bind(0)` never hands ports out: a port picked by binding 0 and closing can
/// be handed straight to the next `bind(0)` (another server's SQL port) before
/// its intended owner binds it. Each port is given out once per test process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 600) as u16 * 20;
    for _ in 0..12_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (base - 20_000 + n) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in 20000..32000");
}

/// GET `path` over plain HTTP/1.1: (status line, body).
pub fn get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The value of `metric` in a Prometheus text body.
pub fn value(body: &str, metric: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(metric) && l[metric.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {metric} in\n{body}"))
}

/// The package's directory. Read when the test runs (cargo sets it), not
/// when it was compiled: a target dir shared by two checkouts may run a test
/// binary built in the other one.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}
