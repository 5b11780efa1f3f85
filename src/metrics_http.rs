//! The Prometheus endpoint: `GET /metrics` on `metrics_port` (0 = off).
//!
//! ```text
//!   scraper ──HTTP/1.1 GET /metrics──► render: counters (metrics.rs)
//!                                            + gauges read now: connections, WAL position and bytes,
//!                                              per-standby lag (primary), receive/replay LSN and
//!                                              apply counters (standby)
//! ```
//!
//! A deliberately small HTTP server: one request per connection, the request
//! head bounded to 8 KiB and 5 seconds, anything but GET /metrics answered
//! 404. It listens on the same address as the SQL port.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::metrics::{counter, gauge};
use crate::server::Server;

const MAX_HEAD: usize = 8 << 10;

/// Binds `metrics_port` (if set) and serves until the server shuts down.
pub async fn start(server: Arc<Server>, host: &str) -> std::io::Result<Option<std::net::SocketAddr>> {
    let port: u16 = server.setting("metrics_port").parse().unwrap_or(0);
    if port == 0 {
        return Ok(None);
    }
    let listener = TcpListener::bind((host, port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "metrics endpoint at http://{addr}/metrics");
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = server.shutdown.cancelled() => return,
            };
            let Ok((sock, _)) = accepted else { continue };
            let server = server.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), serve(server, sock)).await;
            });
        }
    });
    Ok(Some(addr))
}

async fn serve(server: Arc<Server>, mut sock: tokio::net::TcpStream) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let (status, body) = if method == b"GET" && (path == b"/metrics" || path.starts_with(b"/metrics?")) {
        ("200 OK", render(&server))
    } else {
        ("404 Not Found", "not found: the metrics are at /metrics\n".to_string())
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(resp.as_bytes()).await?;
    sock.shutdown().await
}

/// Everything the endpoint shows, in the text exposition format.
pub fn render(server: &Server) -> String {
    let mut out = String::new();
    server.metrics.render(&mut out);
    gauge(&mut out, "duetdb_connections", "Client connections open now.", server.registry.count("client backend") as f64);
    gauge(&mut out, "duetdb_in_recovery", "1 on a standby, 0 on a primary.", if server.is_standby() { 1.0 } else { 0.0 });
    gauge(&mut out, "duetdb_timeline", "Timeline written (primary) or followed (standby).", server.timeline() as f64);
    if let Ok(engine) = server.engine() {
        let s = engine.wal.stats();
        let c = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        counter(&mut out, "duetdb_wal_bytes_total", "WAL bytes written.", c(&s.bytes));
        counter(&mut out, "duetdb_wal_records_total", "WAL records written.", c(&s.records));
        counter(&mut out, "duetdb_wal_flushes_total", "WAL flushes (one per commit group).", c(&s.flushes));
        counter(
            &mut out,
            "duetdb_wal_direct_flushes_total",
            "WAL flushes written around the page cache (O_DIRECT; only while no WAL sender follows the log).",
            c(&s.direct_flushes),
        );
        counter(
            &mut out,
            "duetdb_wal_flush_seconds_total",
            "Time spent writing and syncing WAL (divided by the flushes: the mean flush).",
            c(&s.flush_micros) as f64 / 1e6,
        );
        gauge(&mut out, "duetdb_wal_flush_lsn", "Flushed WAL position (bytes).", engine.wal.flushed_lsn().0 as f64);
        let rows = server.replication.read().as_ref().map(|r| r.stat_replication()).unwrap_or_default();
        let _ =
            writeln!(out, "# HELP duetdb_replication_lag_seconds Replay lag of each standby.\n# TYPE duetdb_replication_lag_seconds gauge");
        for r in &rows {
            let lag = r.replay_lag.map(|us| us as f64 / 1e6).unwrap_or(0.0);
            let _ = writeln!(out, "duetdb_replication_lag_seconds{{application_name=\"{}\"}} {lag}", escape(&r.application_name));
        }
        let _ = writeln!(
            out,
            "# HELP duetdb_replication_lag_bytes WAL the primary has flushed that each standby has not replayed.\n# TYPE duetdb_replication_lag_bytes gauge"
        );
        let flushed = engine.wal.flushed_lsn().0;
        for r in &rows {
            let replayed = r.replay_lsn.parse::<duetdb_storage::Lsn>().map(|l| l.0).unwrap_or(0);
            let _ = writeln!(
                out,
                "duetdb_replication_lag_bytes{{application_name=\"{}\"}} {}",
                escape(&r.application_name),
                flushed.saturating_sub(replayed)
            );
        }
    }
    if let (Some(recv), Some(replay)) = (server.standby_receive_lsn(), server.standby_replay_lsn()) {
        gauge(&mut out, "duetdb_standby_receive_lsn", "WAL received from the primary (bytes).", recv.0 as f64);
        gauge(&mut out, "duetdb_standby_replay_lsn", "WAL applied to the column store (bytes).", replay.0 as f64);
        if let Some(s) = server.standby() {
            let applied = s.applied();
            counter(&mut out, "duetdb_standby_applied_transactions_total", "Transactions applied.", applied.transactions);
            counter(&mut out, "duetdb_standby_applied_rows_total", "Row changes applied (its rate is the apply rate).", applied.rows);
            counter(
                &mut out,
                "duetdb_standby_apply_seconds_total",
                "Time spent applying WAL, not waiting for it (rows over it: how fast the standby can apply; its rate: how busy apply is).",
                applied.apply_seconds,
            );
            counter(
                &mut out,
                "duetdb_standby_spilled_transactions_total",
                "Transactions too large to buffer, applied by reading them back from the local WAL.",
                applied.spilled_transactions,
            );
            let m = s.segment_memory();
            gauge(&mut out, "duetdb_standby_segment_memory_bytes", "Column segments held in memory.", m.resident as f64);
            gauge(
                &mut out,
                "duetdb_standby_segment_memory_peak_bytes",
                "The most column segment bytes held in memory at once since the standby started.",
                m.peak as f64,
            );
            gauge(
                &mut out,
                "duetdb_standby_row_map_bytes",
                "Row-id maps (row id to segment and offset), as of the last persist: memory beside the segments that grows with the rows.",
                m.row_maps as f64,
            );
            gauge(
                &mut out,
                "duetdb_standby_segment_memory_limit_bytes",
                "columnar_memory_limit: persisted segments beyond it are read from Parquet.",
                m.limit as f64,
            );
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
