//! `duetdb demo`: the embedded default — one primary and one columnar
//! standby in one process, sample data loaded and replicated, connection
//! URIs printed, Ctrl-C stops both cleanly.
//!
//! ```text
//!   DIR/primary  (row store, WAL)  127.0.0.1:PORT      ◄── writes
//!         │ WAL stream
//!         ▼
//!   DIR/standby  (Arrow columns)   127.0.0.1:PORT+1    ◄── analytics
//! ```
//!
//! Both servers are the real ones (`Node::start_primary` /
//! `start_standby`), reached over loopback TCP; the standby streams exactly
//! as a standby on another machine would. A directory given with `-D` is
//! kept and reused by the next run; without it the demo uses a temporary one
//! and removes it at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{SqlError, SqlResult};
use crate::node::{self, Node};

/// The sample schema and data (also what the examples and notebooks expect).
pub const SAMPLE: &str = "
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, region text NOT NULL, joined date NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2) NOT NULL,
                     status varchar(10) NOT NULL, placed_at timestamptz NOT NULL);
INSERT INTO customers
  SELECT g, 'customer ' || g, (ARRAY['north','south','east','west'])[1 + g % 4], DATE '2024-01-01' + (g % 700)
  FROM generate_series(1, 10000) g;
INSERT INTO orders
  SELECT g, 1 + (g * 7919) % 10000, ((g * 37) % 50000) / 100.0,
         CASE WHEN g % 10 = 0 THEN 'refunded' WHEN g % 3 = 0 THEN 'shipped' ELSE 'paid' END,
         TIMESTAMPTZ '2024-01-01 00:00:00+00' + (g % 525600) * INTERVAL '1 minute'
  FROM generate_series(1, 200000) g;
";

pub struct DemoOptions {
    pub dir: Option<PathBuf>,
    pub port: u16,
    pub standby_port: Option<u16>,
    /// Exit once both are up and the data replicated (for scripts and tests).
    pub no_wait: bool,
}

pub async fn run(opts: DemoOptions) -> SqlResult<()> {
    let (dir, temporary) = match &opts.dir {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("duetdb-demo-{}", std::process::id())), true),
    };
    let result = run_in(&dir, &opts).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn run_in(dir: &Path, opts: &DemoOptions) -> SqlResult<()> {
    let (pdir, sdir) = (dir.join("primary"), dir.join("standby"));
    let fresh = !pdir.join(crate::config::FILE_NAME).exists();
    if fresh {
        std::fs::create_dir_all(dir)?;
        node::init(&pdir, "duet", None, Some("trust"), &[]).await?;
    }
    let listen = ("listen_addresses".to_string(), "127.0.0.1".to_string());
    let primary = Node::start_primary(&pdir, &[("port".into(), opts.port.to_string()), listen.clone()]).await?;
    let p_uri = format!("postgres://duet@127.0.0.1:{}/postgres", primary.addr.port());
    if fresh {
        eprintln!("loading sample data into the primary (10,000 customers, 200,000 orders)…");
        load_sample(primary.addr.port()).await?;
    }
    let standby_port = opts.standby_port.unwrap_or(if opts.port == 0 { 0 } else { opts.port + 1 });
    let target = format!("127.0.0.1:{}", primary.addr.port());
    let standby = Node::start_standby(&sdir, Some(&target), None, &[("port".into(), standby_port.to_string()), listen]).await?;
    let s_uri = format!("postgres://duet@127.0.0.1:{}/postgres", standby.addr.port());

    // Caught up: the standby has replayed everything the primary flushed.
    let goal = primary.server.engine()?.wal.flushed_lsn();
    let began = Instant::now();
    while standby.server.standby_replay_lsn().is_none_or(|l| l < goal) {
        if began.elapsed() > Duration::from_secs(120) {
            return Err(SqlError::new("57014", "the standby did not catch up with the primary within 2 minutes"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "\nduetdb demo is running (data in {}).\n\n  \
         primary (read/write, row store):      psql {p_uri}\n  \
         standby (read-only, Arrow columnar):  psql {s_uri}\n\n  \
         try on the standby:\n    \
         SELECT c.region, count(*), sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id\n    \
         GROUP BY c.region ORDER BY 3 DESC;\n\n  \
         read your own write: on the primary INSERT …; SELECT pg_current_wal_lsn();\n  \
         then on the standby WAIT FOR LSN '<that lsn>'; SELECT …\n\n\
         Ctrl-C stops both.",
        dir.display()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let mode = if opts.no_wait { node::StopMode::Fast } else { node::wait_for_stop(&primary.server).await };
    eprintln!("stopping the standby, then the primary…");
    standby.stop(mode).await?;
    primary.stop(mode).await
}

async fn load_sample(port: u16) -> SqlResult<()> {
    let conn = format!("host=127.0.0.1 port={port} user=duet dbname=postgres");
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .map_err(|e| SqlError::new("08001", format!("demo: connecting to the primary: {e}")))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client.batch_execute(SAMPLE).await.map_err(|e| {
        let msg = e.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string());
        SqlError::new("XX000", format!("demo: loading the sample data: {msg}"))
    })
}
