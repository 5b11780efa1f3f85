//! The Prometheus endpoint on a primary and a standby.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_reports_commits_wal_lag_and_apply() {
    let (pm, sm) = (free_port(), free_port());
    let primary = TestServer::start_with(Init::settings(&[("metrics_port", &pm.to_string())]));
    let standby = TestServer::start_standby(&primary, &[("metrics_port".into(), sm.to_string()), ("application_name".into(), "s1".into())]);
    let p = primary.connect().await;
    let s = standby.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY)").await.unwrap();
    for i in 0..20 {
        p.execute("INSERT INTO t VALUES ($1)", &[&i]).await.unwrap();
    }
    let lsn = one(&p, "SELECT pg_current_wal_lsn()::text").await;
    s.batch_execute(&format!("WAIT FOR LSN '{lsn}' WITH (TIMEOUT '30s')")).await.unwrap();

    let (status, body) = get(pm, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(value(&body, "duetdb_commits_total") >= 21.0, "{body}");
    assert!(value(&body, "duetdb_commit_latency_seconds_count") >= 21.0);
    assert!(value(&body, "duetdb_wal_bytes_total") > 0.0);
    assert!(value(&body, "duetdb_connections") >= 1.0);
    assert_eq!(value(&body, "duetdb_in_recovery"), 0.0);
    // The standby shows up with a lag (the status report may trail by a beat).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = get(pm, "/metrics");
        if body.contains("duetdb_replication_lag_bytes{application_name=\"s1\"} 0") {
            assert!(body.contains("duetdb_replication_lag_seconds{application_name=\"s1\"}"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "standby lag never reached 0:\n{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, body) = get(sm, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(value(&body, "duetdb_in_recovery"), 1.0);
    assert!(value(&body, "duetdb_standby_applied_rows_total") >= 20.0, "{body}");
    let busy = value(&body, "duetdb_standby_apply_seconds_total");
    assert!(busy > 0.0 && busy < 60.0, "apply time is counted, and only while applying: {busy}");
    assert!(value(&body, "duetdb_standby_replay_lsn") > 0.0);
    // Anything else is a 404, and garbage does not hurt the endpoint.
    assert_eq!(get(pm, "/other").0, "HTTP/1.1 404 Not Found");
    {
        let mut g = std::net::TcpStream::connect(("127.0.0.1", pm)).unwrap();
        let _ = g.write_all(&[0xff; 9000]);
    }
    assert_eq!(get(pm, "/metrics").0, "HTTP/1.1 200 OK");
}

/// A metrics port someone else holds stops the server at startup, before it
/// accepts a single client, with the port named in the log.
#[test]
fn a_taken_metrics_port_fails_startup_cleanly() {
    let mut s = TestServer::start();
    s.stop();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let launched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.launch(&[("metrics_port".into(), port.to_string())])));
    assert!(launched.is_err(), "the server started with its metrics port taken");
    let log = s.log_text();
    assert!(log.contains(&format!("could not listen for metrics on port {port}")), "{log}");
    // Ready once, from the first start; never from the failed one.
    assert_eq!(log.matches("primary ready for connections").count(), 1, "{log}");
    drop(holder);
}
