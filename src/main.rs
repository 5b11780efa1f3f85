//! The `duetdb` command: create, run and operate duetdb servers.
//!
//! One binary is the server and its operations manager (openGauss's gs_ctl
//! and gs_guc, PostgreSQL's initdb and pg_ctl): `init`, `start`, `standby`,
//! `build`, `stop`, `restart`, `reload`, `status`, `promote`, `config`,
//! `demo`. Exit codes: 0 done, 1 failed, 3 no server running (`status`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use duetdb::error::SqlError;
use duetdb::node::StopMode;
use duetdb::om;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "duetdb", version, about = "PostgreSQL-compatible OLTP primary with columnar DataFusion standbys")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DataDir {
    /// Data directory.
    #[arg(short = 'D', long = "pgdata", env = "PGDATA")]
    dir: PathBuf,
}

#[derive(Args, Clone)]
struct ServeOpts {
    /// Port (overrides the config file).
    #[arg(short = 'p', long)]
    port: Option<u16>,
    /// Address to listen on (overrides the config file).
    #[arg(long)]
    listen: Option<String>,
    /// Any setting: -c name=value (repeatable).
    #[arg(short = 'c', value_parser = parse_kv)]
    set: Vec<(String, String)>,
    /// Run in the background: output to DIR/duetdb.log (or --log), return once it accepts connections.
    #[arg(long)]
    detach: bool,
    /// Log file of a detached server.
    #[arg(short = 'l', long = "log", requires = "detach")]
    log: Option<PathBuf>,
    /// Seconds to wait for a detached server to accept connections.
    #[arg(short = 't', long = "timeout", default_value_t = 300)]
    timeout: u64,
}

#[derive(Args, Clone)]
struct StandbyOpts {
    /// The primary, HOST:PORT (else primary_conninfo from the config file).
    #[arg(long)]
    primary: Option<String>,
    /// File whose first line is the replication user's password (else PGPASSWORD).
    #[arg(long)]
    passfile: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Wait for client sessions to end.
    Smart,
    /// Roll back open transactions and disconnect (the default).
    Fast,
    /// Exit at once; the next start runs crash recovery.
    Immediate,
}

impl From<Mode> for StopMode {
    fn from(m: Mode) -> StopMode {
        match m {
            Mode::Smart => StopMode::Smart,
            Mode::Fast => StopMode::Fast,
            Mode::Immediate => StopMode::Immediate,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create a new data directory (like initdb).
    Init {
        #[command(flatten)]
        data: DataDir,
        /// Name of the superuser.
        #[arg(short = 'U', long = "username", default_value = "duet")]
        user: String,
        /// File whose first line is the superuser's password.
        #[arg(long)]
        pwfile: Option<PathBuf>,
        /// Authentication method: trust or scram-sha-256 (default: scram-sha-256 with a password file, else trust).
        #[arg(short = 'A', long = "auth")]
        auth: Option<String>,
        /// Port to write into the config file.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Run a primary (foreground; SIGINT/SIGTERM stop it, SIGHUP reloads the config).
    Start {
        #[command(flatten)]
        data: DataDir,
        #[command(flatten)]
        serve: ServeOpts,
    },
    /// Run a standby of a primary: an empty data directory is built from a
    /// base backup, then the standby streams the primary's WAL into columnar
    /// (Arrow) tables and serves read-only queries.
    Standby {
        #[command(flatten)]
        data: DataDir,
        #[command(flatten)]
        standby: StandbyOpts,
        #[command(flatten)]
        serve: ServeOpts,
    },
    /// (Re)build a standby from its primary: empties the data directory
    /// (keeping duetdb.conf), then runs as `standby`. Also how a former
    /// primary rejoins as a standby of its successor.
    Build {
        #[command(flatten)]
        data: DataDir,
        #[command(flatten)]
        standby: StandbyOpts,
        #[command(flatten)]
        serve: ServeOpts,
    },
    /// Stop the server running on a data directory.
    Stop {
        #[command(flatten)]
        data: DataDir,
        #[arg(short = 'm', long = "mode", value_enum, default_value = "fast")]
        mode: Mode,
        /// Seconds to wait for it to exit.
        #[arg(short = 't', long = "timeout", default_value_t = 60)]
        timeout: u64,
    },
    /// Stop the server, then start it again (detached) with the arguments of its last start.
    Restart {
        #[command(flatten)]
        data: DataDir,
        #[arg(short = 'm', long = "mode", value_enum, default_value = "fast")]
        mode: Mode,
        #[arg(short = 't', long = "timeout", default_value_t = 300)]
        timeout: u64,
    },
    /// Make the server re-read its config file (like pg_ctl reload / pg_reload_conf()).
    Reload {
        #[command(flatten)]
        data: DataDir,
    },
    /// Role, timeline, LSNs, connected standbys with their state, sync state and lag.
    Status {
        /// Data directory of a local server (else -h/-p).
        #[arg(short = 'D', long = "pgdata")]
        dir: Option<PathBuf>,
        /// Host of a server anywhere.
        #[arg(short = 'H', long = "host", conflicts_with = "dir")]
        host: Option<String>,
        #[arg(short = 'p', long = "port", default_value_t = 5432)]
        port: u16,
        /// User to connect as (else PGUSER, else duet); password from PGPASSWORD.
        #[arg(short = 'U', long = "username")]
        user: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Failover: the standby on DIR becomes a writable primary on a new timeline.
    Promote {
        #[command(flatten)]
        data: DataDir,
        /// Seconds to wait for the promotion to finish.
        #[arg(short = 't', long = "timeout", default_value_t = 300)]
        timeout: u64,
    },
    /// Planned role swap (both data directories on this machine): the primary
    /// stops taking writes, the standby on -D catches up fully and is promoted,
    /// and the old primary rejoins as its standby.
    Switchover {
        #[command(flatten)]
        data: DataDir,
        /// Data directory of the current primary.
        #[arg(long = "primary-dir")]
        primary_dir: PathBuf,
        /// Seconds to wait for each step.
        #[arg(short = 't', long = "timeout", default_value_t = 300)]
        timeout: u64,
    },
    /// Read and change settings in the config file (like gs_guc); a running server reloads.
    Config {
        #[command(subcommand)]
        op: ConfigOp,
    },
    /// A primary and a standby on loopback with sample data; prints connection URIs.
    Demo {
        /// Where to keep the data (reused by the next run); default a temporary directory.
        #[arg(short = 'D', long = "pgdata")]
        dir: Option<PathBuf>,
        /// The primary's port; the standby takes the next one (0: any free ports).
        #[arg(short = 'p', long, default_value_t = 55432)]
        port: u16,
        /// The standby's port (default: the primary's + 1).
        #[arg(long)]
        standby_port: Option<u16>,
        /// Stop once both are up and replicated (for scripts).
        #[arg(long)]
        no_wait: bool,
    },
}

#[derive(Subcommand)]
enum ConfigOp {
    /// Print one setting's value.
    Get {
        #[command(flatten)]
        data: DataDir,
        name: String,
    },
    /// Set a setting in the config file (`--reset` removes it: back to the default).
    Set {
        #[command(flatten)]
        data: DataDir,
        name: String,
        #[arg(required_unless_present = "reset")]
        value: Option<String>,
        #[arg(long)]
        reset: bool,
    },
    /// Every setting: value, source, and what a change needs (user, sighup = reload, postmaster = restart).
    List {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        json: bool,
    },
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).ok_or_else(|| format!("expected name=value, got {s}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let startup = startup_settings(&cli);
    duetdb::logging::init(&std::env::var("DUETDB_LOG").unwrap_or(startup.log_level), startup.log_json);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads(startup.worker_threads))
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("duetdb: {}", e.message);
            if let Some(h) = &e.hint {
                eprintln!("hint: {h}");
            }
            ExitCode::FAILURE
        }
    }
}

/// What must be known before the runtime starts.
struct Startup {
    log_level: String,
    log_json: bool,
    worker_threads: usize,
}

/// A server's log level and format and its worker threads: its config file
/// and -c overrides (RUST_LOG, then DUETDB_LOG, override the level).
fn startup_settings(cli: &Cli) -> Startup {
    let fallback = Startup { log_level: "info".into(), log_json: false, worker_threads: 0 };
    let (dir, serve) = match &cli.command {
        Command::Start { data, serve } | Command::Standby { data, serve, .. } | Command::Build { data, serve, .. } => (&data.dir, serve),
        _ => return fallback,
    };
    match duetdb::node::load_settings(dir, &overrides(serve)) {
        Ok(v) => Startup {
            log_level: v.get_or_default("log_level").to_string(),
            log_json: v.get_or_default("log_format") == "json",
            worker_threads: v.get_or_default("worker_threads").parse().unwrap_or(0),
        },
        Err(_) => fallback,
    }
}

/// The runtime's worker threads: `worker_threads`, or twice the CPU cores.
/// They run queries' DataFusion execution, background work and, with
/// `connection_threads = 0`, the sessions themselves.
///
/// Not one per core: a query through DataFusion runs one task per core
/// (`target_partitions`) and yields only between batches, so with one
/// worker per core an analytic query holds every worker and others queue
/// behind it; with more threads than cores the kernel time-slices between
/// them. (When sessions ran here, one per core also cost select-only pgbench
/// 82-89K TPS against 93-100K with 3, 4 or 6 workers.)
fn worker_threads(setting: usize) -> usize {
    if setting > 0 {
        return setting;
    }
    2 * duetdb::sql::query::cpu_cores()
}

/// The command line of a detached child: this one without --detach/--log.
fn child_args() -> Vec<String> {
    let mut out = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--detach" => {}
            "-l" | "--log" => {
                args.next();
            }
            _ if a.starts_with("--log=") => {}
            _ => out.push(a),
        }
    }
    out
}

fn overrides(serve: &ServeOpts) -> Vec<(String, String)> {
    let mut o = serve.set.clone();
    if let Some(p) = serve.port {
        o.push(("port".into(), p.to_string()));
    }
    if let Some(l) = &serve.listen {
        o.push(("listen_addresses".into(), l.clone()));
    }
    o
}

fn detach(dir: &std::path::Path, args: Vec<String>, serve: &ServeOpts) -> Result<ExitCode, SqlError> {
    let (pid, port) = om::detach(dir, &args, serve.log.as_deref(), Duration::from_secs(serve.timeout))?;
    println!("server started (pid {pid}, port {port}); log in {}", serve.log.clone().unwrap_or_else(|| dir.join(om::LOG_FILE)).display());
    Ok(ExitCode::SUCCESS)
}

async fn run(cli: Cli) -> Result<ExitCode, SqlError> {
    match cli.command {
        Command::Init { data, user, pwfile, auth, port } => {
            let password = match pwfile {
                Some(p) => Some(std::fs::read_to_string(&p)?.lines().next().unwrap_or("").to_string()),
                None => None,
            };
            let extra: Vec<(String, String)> = port.map(|p| ("port".to_string(), p.to_string())).into_iter().collect();
            duetdb::node::init(&data.dir, &user, password.as_deref(), auth.as_deref(), &extra).await?;
            println!("created data directory {} with superuser \"{user}\"", data.dir.display());
            println!("start it with: duetdb start -D {}", data.dir.display());
        }
        Command::Start { data, serve } => {
            if serve.detach {
                return detach(&data.dir, child_args(), &serve);
            }
            let node = duetdb::node::Node::start_primary(&data.dir, &overrides(&serve)).await?;
            let mode = duetdb::node::wait_for_stop(&node.server).await;
            tracing::info!(?mode, "shutdown requested");
            node.stop(mode).await?;
        }
        Command::Standby { data, standby, serve } => {
            if serve.detach {
                return detach(&data.dir, child_args(), &serve);
            }
            run_standby(&data.dir, &standby, &serve).await?;
        }
        Command::Build { data, standby, serve } => {
            om::clear_for_build(&data.dir, standby.primary.as_deref())?;
            println!("cleared {} for a new base backup", data.dir.display());
            if serve.detach {
                let mut args = child_args();
                if let Some(a) = args.first_mut() {
                    *a = "standby".into();
                }
                return detach(&data.dir, args, &serve);
            }
            run_standby(&data.dir, &standby, &serve).await?;
        }
        Command::Stop { data, mode, timeout } => {
            om::stop(&data.dir, mode.into(), Duration::from_secs(timeout))?;
            println!("server stopped");
        }
        Command::Restart { data, mode, timeout } => {
            let args = om::saved_args(&data.dir)?;
            match om::stop(&data.dir, mode.into(), Duration::from_secs(60)) {
                Ok(()) => println!("server stopped"),
                Err(e) if duetdb::node::running(&data.dir).is_none() => eprintln!("duetdb: {} (starting it)", e.message),
                Err(e) => return Err(e),
            }
            let (pid, port) = om::detach(&data.dir, &args, None, Duration::from_secs(timeout))?;
            println!("server started (pid {pid}, port {port})");
        }
        Command::Reload { data } => {
            om::reload(&data.dir)?;
            println!("server signaled to reload its configuration");
        }
        Command::Status { dir, host, port, user, json } => {
            let target = match (&dir, host) {
                (Some(d), _) => match om::Target::of_dir(d)? {
                    Some(_) if !duetdb::node::is_ready(d) => {
                        let pid = duetdb::node::running(d).map(|(p, _)| p).unwrap_or(0);
                        return Err(SqlError::new(
                            "57P03",
                            format!("the server on {} (pid {pid}) is starting: not accepting connections yet", d.display()),
                        ));
                    }
                    Some(t) => t,
                    None => {
                        eprintln!("duetdb: no server running on data directory {}", d.display());
                        return Ok(ExitCode::from(om::EXIT_NOT_RUNNING));
                    }
                },
                (None, h) => om::Target {
                    host: h.unwrap_or_else(|| "127.0.0.1".into()),
                    port,
                    user: om::default_user(),
                    password: std::env::var("PGPASSWORD").ok(),
                },
            };
            let target = om::Target { user: user.unwrap_or(target.user), ..target };
            let st = match tokio::time::timeout(Duration::from_secs(30), om::status(&target)).await {
                Err(_) => return Err(SqlError::new("57014", format!("{}:{} did not answer within 30 s", target.host, target.port))),
                Ok(r) => r,
            };
            let st = match st {
                Ok(s) => s,
                Err(e) if e.code == "08001" => {
                    eprintln!("duetdb: {}", e.message);
                    return Ok(ExitCode::from(om::EXIT_NOT_RUNNING));
                }
                Err(e) => return Err(e),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&st).expect("status serializes"));
            } else {
                om::print_status(&mut std::io::stdout(), &st)?;
            }
        }
        Command::Promote { data, timeout } => {
            om::promote(&data.dir, Duration::from_secs(timeout))?;
            println!("server promoted");
        }
        Command::Switchover { data, primary_dir, timeout } => {
            let s = om::switchover(&data.dir, &primary_dir, Duration::from_secs(timeout)).await?;
            println!("switchover done at {}: {} is the primary now (at {})", s.lsn, data.dir.display(), s.new_primary);
            println!("{} rejoined as its standby (pid {}, port {})", primary_dir.display(), s.old_primary_pid, s.old_primary_port);
        }
        Command::Config { op } => match op {
            ConfigOp::Get { data, name } => println!("{}", om::config_get(&data.dir, &name)?.value),
            ConfigOp::Set { data, name, value, reset } => {
                let c = om::config_set(&data.dir, &name, if reset { None } else { value.as_deref() })?;
                println!("{} = {}", c.name, c.value);
                if c.needs_restart {
                    println!("the server must be restarted for this to take effect (duetdb restart -D {})", data.dir.display());
                } else if c.reloaded {
                    println!("the running server reloaded its configuration");
                }
            }
            ConfigOp::List { data, json } => {
                let rows = om::config_rows(&data.dir)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&rows).expect("rows serialize"));
                } else {
                    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
                    let v = rows.iter().map(|r| r.value.len()).max().unwrap_or(0).min(40);
                    println!("{:<w$}  {:<v$}  {:<18}  context", "name", "value", "source");
                    for r in rows {
                        println!("{:<w$}  {:<v$}  {:<18}  {}", r.name, r.value, r.source, r.context);
                    }
                }
            }
        },
        Command::Demo { dir, port, standby_port, no_wait } => {
            duetdb::demo::run(duetdb::demo::DemoOptions { dir, port, standby_port, no_wait }).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_standby(dir: &std::path::Path, standby: &StandbyOpts, serve: &ServeOpts) -> Result<(), SqlError> {
    let settings = overrides(serve);
    let start = duetdb::node::Node::start_standby(dir, standby.primary.as_deref(), standby.passfile.as_deref(), &settings);
    let node = tokio::select! {
        n = start => n?,
        _ = duetdb::node::shutdown_signal() => return Ok(()),
    };
    let mode = duetdb::node::wait_for_stop(&node.server).await;
    tracing::info!(?mode, "shutdown requested");
    node.stop(mode).await
}
