//! The `duetdb` command: create, run and operate duetdb servers.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "duetdb", version, about = "PostgreSQL-compatible OLTP primary with columnar DataFusion standbys")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new data directory (like initdb).
    Init {
        /// Data directory to create.
        #[arg(short = 'D', long = "pgdata", env = "PGDATA")]
        dir: PathBuf,
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
    /// Run a server in the foreground (SIGTERM/SIGINT stop it cleanly).
    Start {
        #[arg(short = 'D', long = "pgdata", env = "PGDATA")]
        dir: PathBuf,
        /// Port (overrides the config file).
        #[arg(short = 'p', long)]
        port: Option<u16>,
        /// Address to listen on (overrides the config file).
        #[arg(long)]
        listen: Option<String>,
        /// Any setting: -c name=value (repeatable).
        #[arg(short = 'c', value_parser = parse_kv)]
        set: Vec<(String, String)>,
    },
    /// Run a standby of a primary in the foreground: an empty data directory
    /// is built from a base backup, then the standby streams the primary's WAL
    /// into columnar (Arrow) tables and serves read-only queries.
    Standby {
        #[arg(short = 'D', long = "pgdata", env = "PGDATA")]
        dir: PathBuf,
        /// The primary, HOST:PORT (else primary_conninfo from the config file).
        #[arg(long)]
        primary: Option<String>,
        /// Port to serve queries on (overrides the config file).
        #[arg(short = 'p', long)]
        port: Option<u16>,
        /// Address to listen on (overrides the config file).
        #[arg(long)]
        listen: Option<String>,
        /// File whose first line is the replication user's password (else PGPASSWORD).
        #[arg(long)]
        passfile: Option<PathBuf>,
        /// Any setting: -c name=value (repeatable).
        #[arg(short = 'c', value_parser = parse_kv)]
        set: Vec<(String, String)>,
    },
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).ok_or_else(|| format!("expected name=value, got {s}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    duetdb::logging::init(&std::env::var("DUETDB_LOG").unwrap_or_else(|_| "info".into()), false);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = rt.block_on(run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("duetdb: {}", e.message);
            if let Some(h) = &e.hint {
                eprintln!("hint: {h}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), duetdb::error::SqlError> {
    match cli.command {
        Command::Init { dir, user, pwfile, auth, port } => {
            let password = match pwfile {
                Some(p) => Some(std::fs::read_to_string(&p)?.lines().next().unwrap_or("").to_string()),
                None => None,
            };
            let mut extra = Vec::new();
            if let Some(p) = port {
                extra.push(("port".to_string(), p.to_string()));
            }
            duetdb::node::init(&dir, &user, password.as_deref(), auth.as_deref(), &extra).await?;
            println!("created data directory {} with superuser \"{user}\"", dir.display());
            println!("start it with: duetdb start -D {}", dir.display());
            Ok(())
        }
        Command::Start { dir, port, listen, set } => {
            let mut overrides = set;
            if let Some(p) = port {
                overrides.push(("port".into(), p.to_string()));
            }
            if let Some(l) = listen {
                overrides.push(("listen_addresses".into(), l));
            }
            let node = duetdb::node::Node::start_primary(&dir, &overrides).await?;
            duetdb::node::shutdown_signal().await;
            tracing::info!("shutdown requested");
            node.shutdown().await
        }
        Command::Standby { dir, primary, port, listen, passfile, set } => {
            let mut overrides = set;
            if let Some(p) = port {
                overrides.push(("port".into(), p.to_string()));
            }
            if let Some(l) = listen {
                overrides.push(("listen_addresses".into(), l));
            }
            let start = duetdb::node::Node::start_standby(&dir, primary.as_deref(), passfile.as_deref(), &overrides);
            let node = tokio::select! {
                n = start => n?,
                _ = duetdb::node::shutdown_signal() => return Ok(()),
            };
            duetdb::node::shutdown_signal().await;
            tracing::info!("shutdown requested");
            node.shutdown().await
        }
    }
}
