//! Failover and the operations tool, end to end: real primary and standby
//! processes, a primary killed with SIGKILL mid-load, `duetdb promote`, and
//! checks that every commit a client saw acknowledged survived.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

fn pgbench_cmd(s: &TestServer, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("pgbench");
    cmd.args(["-h", "127.0.0.1", "-p", &s.port.to_string(), "-U", SUPERUSER]).args(args).arg("postgres");
    cmd
}

fn processed(pgbench_output: &str) -> u64 {
    let line = pgbench_output
        .lines()
        .find(|l| l.contains("number of transactions actually processed"))
        .unwrap_or_else(|| panic!("no transaction count in pgbench output:\n{pgbench_output}"));
    line.split(':').nth(1).unwrap().trim().split(['/', ' ']).next().unwrap().parse().unwrap()
}

/// A primary with one synchronous standby (`synchronous_commit = on`) is
/// killed with SIGKILL while pgbench and a client of our own are writing;
/// the standby is promoted with `duetdb promote`; every transaction pgbench
/// counted and every insert the client saw acknowledged is there, the tpcb
/// invariants hold, and pgbench runs against the new primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_a_synchronous_standby_loses_no_acknowledged_commit() {
    let mut primary = TestServer::start();
    let out = pgbench_cmd(&primary, &["-i", "-s", "1", "-q"]).output().unwrap();
    assert!(out.status.success(), "pgbench -i: {}", String::from_utf8_lossy(&out.stderr));
    let p = primary.connect().await;
    p.batch_execute(
        "CREATE TABLE acked (id bigint PRIMARY KEY, at timestamptz DEFAULT now()); CREATE TABLE seqd (id serial PRIMARY KEY, v int)",
    )
    .await
    .unwrap();
    p.batch_execute("INSERT INTO seqd (v) SELECT g FROM generate_series(1, 100) g").await.unwrap();
    let mut standby = TestServer::start_standby(&primary, &[("application_name".into(), "s1".into())]);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    p.batch_execute("ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (s1)'").await.unwrap();
    wait_sync(&p).await;

    // Load: pgbench, plus a client that records each insert it saw committed.
    let bench = pgbench_cmd(&primary, &["-n", "-c", "4", "-j", "2", "-T", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let acked = Arc::new(parking_lot::Mutex::new(Vec::<i64>::new()));
    let writer = {
        let acked = acked.clone();
        let client = primary.connect().await;
        tokio::spawn(async move {
            for id in 1.. {
                match client.execute("INSERT INTO acked (id) VALUES ($1)", &[&(id as i64)]).await {
                    Ok(_) => acked.lock().push(id),
                    Err(_) => break,
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(2500)).await;
    primary.kill9();
    let out = bench.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let counted = processed(&text);
    let _ = writer.await;
    let acked = acked.lock().clone();
    assert!(counted > 0 && !acked.is_empty(), "the load ran before the crash (pgbench {counted}, client {})", acked.len());

    // Failover.
    let dir = standby.data_dir().to_str().unwrap().to_string();
    let (code, stdout, stderr) = duetdb(&["promote", "-D", &dir]);
    assert_eq!(code, 0, "duetdb promote failed: {stdout}{stderr}\n{}", standby.log_text());
    let n = standby.connect().await;
    assert_eq!(one(&n, "SELECT pg_is_in_recovery()").await, "f");
    assert_eq!(one(&n, "SELECT duetdb_timeline()").await, "2");

    let ids: Vec<i64> = n.query("SELECT id FROM acked", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    let present: std::collections::HashSet<i64> = ids.into_iter().collect();
    let lost: Vec<&i64> = acked.iter().filter(|id| !present.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged inserts lost in the failover: {lost:?}");
    let history: u64 = one(&n, "SELECT count(*) FROM pgbench_history").await.parse().unwrap();
    assert!(history >= counted, "pgbench counted {counted} transactions, the new primary has {history}");
    let sums = rows(
        &n,
        "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches), \
         (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)",
    )
    .await;
    let r = &sums[0];
    assert!(r[0] == r[1] && r[1] == r[2] && r[2] == r[3], "tpcb invariants after failover: {r:?}");

    // The new primary takes writes; sequences continue where they were.
    n.batch_execute("INSERT INTO seqd (v) VALUES (101)").await.unwrap_or_else(|e| panic!("insert with a sequence after failover: {e:?}"));
    assert_eq!(one(&n, "SELECT count(*) FROM seqd").await, "101");
    let out = pgbench_cmd(&standby, &["-n", "-c", "2", "-T", "2"]).output().unwrap();
    assert!(
        out.status.success(),
        "pgbench on the new primary: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // And it is a primary for good: a restart recovers it as one.
    drop(n);
    standby.stop();
    standby.become_primary();
    standby.launch(&[]);
    let n = standby.connect().await;
    assert_eq!(one(&n, "SELECT pg_is_in_recovery()").await, "f");
    assert_eq!(one(&n, "SELECT count(*) FROM seqd").await, "101");
    assert!(one(&n, "SELECT count(*) FROM acked").await.parse::<usize>().unwrap() >= acked.len());
}

/// A second standby follows the promoted one; the old primary cannot come
/// back as a standby on top of its own WAL, and `duetdb build` makes it one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standbys_follow_the_new_primary_and_the_old_one_must_be_rebuilt() {
    let mut primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'old ' || g FROM generate_series(1, 500) g")
        .await
        .unwrap();
    let mut a = TestServer::start_standby(&primary, &[]);
    let mut b = TestServer::start_standby(&primary, &[]);
    let (sa, sb) = (a.connect().await, b.connect().await);
    catch_up(&p, &sa).await;
    catch_up(&p, &sb).await;
    drop(p);
    primary.stop();

    let (code, out, err) = duetdb(&["promote", "-D", a.data_dir().to_str().unwrap()]);
    assert_eq!(code, 0, "promote: {out}{err}\n{}", a.log_text());
    // Promoting what is already a primary is an error, with its SQLSTATE text.
    let na = a.connect().await;
    let e = expect_error(&na, "SELECT pg_promote()", "55000").await;
    assert!(e.message().contains("recovery is not in progress"), "{}", e.message());
    na.batch_execute("INSERT INTO t SELECT g, 'new ' || g FROM generate_series(501, 600) g; UPDATE t SET v = 'changed' WHERE id <= 10")
        .await
        .unwrap();

    // B switches to A and catches up on the new timeline.
    drop(sb);
    b.stop();
    b.set_primary(&a);
    b.launch(&[]);
    let sb = b.connect().await;
    catch_up(&na, &sb).await;
    assert_eq!(rows(&sb, "SELECT * FROM t ORDER BY id").await, rows(&na, "SELECT * FROM t ORDER BY id").await);
    assert_eq!(one(&sb, "SELECT duetdb_timeline()").await, "2");

    // `duetdb status` on the new primary agrees with pg_stat_replication.
    let (code, json, err) = duetdb(&["status", "-D", a.data_dir().to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "status: {err}");
    let st: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(st["role"], "primary");
    assert_eq!(st["timeline"], 2);
    let stat = rows(&na, "SELECT application_name, state, sync_state FROM pg_stat_replication").await;
    let listed = st["standbys"].as_array().unwrap();
    assert_eq!(listed.len(), stat.len(), "{json}");
    assert_eq!(listed[0]["application_name"].as_str(), stat[0][0].as_deref());
    assert_eq!(listed[0]["sync_state"].as_str(), stat[0][2].as_deref());

    // The old primary, started as a standby of A, refuses.
    let old = primary.data_dir().to_str().unwrap().to_string();
    let target = format!("127.0.0.1:{}", a.port);
    let (code, _, err) = duetdb(&["standby", "-D", &old, "--primary", &target, "--port", "0", "--listen", "127.0.0.1"]);
    assert_eq!(code, 1);
    assert!(err.contains("belongs to a primary") && err.contains("duetdb build"), "{err}");
    // `duetdb build` rebuilds it as a standby of A.
    let (code, out, err) = duetdb(&["build", "-D", &old, "--primary", &target, "--port", "0", "--listen", "127.0.0.1", "--detach"]);
    assert_eq!(code, 0, "build: {out}{err}");
    let (_, port) =
        (0, std::fs::read_to_string(primary.data_dir().join("duetdb.pid")).unwrap().lines().nth(1).unwrap().parse::<u16>().unwrap());
    let (c, conn) =
        tokio_postgres::connect(&format!("host=127.0.0.1 port={port} user=duet dbname=postgres"), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    catch_up(&na, &c).await;
    assert_eq!(one(&c, "SELECT count(*) FROM t").await, "600");
    assert_eq!(one(&c, "SELECT pg_is_in_recovery()").await, "t");
    let (code, _, err) = duetdb(&["stop", "-D", &old]);
    assert_eq!(code, 0, "stop: {err}");
    a.stop();
}

/// The OM commands on one server: start --detach, status, config get/set
/// with reload, stop modes, restart, and exit codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn om_commands_drive_a_detached_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    let (code, _, err) = duetdb(&["init", "-D", d, "-A", "trust"]);
    assert_eq!(code, 0, "{err}");
    let _guard = Detached(vec![dir.clone()]);
    // Not running: status says so with exit code 3, stop fails with 1.
    assert_eq!(duetdb(&["status", "-D", d]).0, 3);
    assert_eq!(duetdb(&["stop", "-D", d]).0, 1);

    let (code, out, err) = duetdb(&["start", "-D", d, "--port", "0", "--listen", "127.0.0.1", "--detach"]);
    assert_eq!(code, 0, "start --detach: {out}{err}");
    assert!(out.contains("server started"), "{out}");
    let port = || std::fs::read_to_string(dir.join("duetdb.pid")).unwrap().lines().nth(1).unwrap().parse::<u16>().unwrap();
    let connect = |port: u16| async move {
        let (c, conn) =
            tokio_postgres::connect(&format!("host=127.0.0.1 port={port} user=duet dbname=postgres"), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        c
    };
    let c = connect(port()).await;
    let (code, table, _) = duetdb(&["status", "-D", d]);
    assert_eq!(code, 0);
    assert!(table.contains("primary") && table.contains("timeline 1"), "{table}");

    // config set: a reloadable setting applies to new sessions at once.
    assert_eq!(duetdb(&["config", "get", "-D", d, "statement_timeout"]).1.trim(), "0");
    let (code, out, err) = duetdb(&["config", "set", "-D", d, "statement_timeout", "1500ms"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("reloaded"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c2 = connect(port()).await;
        if one(&c2, "SHOW statement_timeout").await == "1500ms" {
            break;
        }
        assert!(Instant::now() < deadline, "reload did not apply statement_timeout");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A restart-only setting says so; an unknown one is an error.
    let (code, out, _) = duetdb(&["config", "set", "-D", d, "max_connections", "150"]);
    assert_eq!(code, 0);
    assert!(out.contains("restarted"), "{out}");
    let (code, _, err) = duetdb(&["config", "set", "-D", d, "no_such_setting", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("no_such_setting"), "{err}");
    let (_, list, _) = duetdb(&["config", "list", "-D", d, "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let mc = list.as_array().unwrap().iter().find(|r| r["name"] == "max_connections").unwrap();
    assert_eq!(mc["value"], "150");
    assert_eq!(mc["source"], "configuration file");
    assert_eq!(mc["context"], "postmaster");

    // Smart stop waits for the open session; fast would not.
    let (code, _, err) = duetdb(&["stop", "-D", d, "-m", "smart", "-t", "1"]);
    assert_eq!(code, 1, "smart stop must wait for the session");
    assert!(err.contains("did not shut down"), "{err}");
    drop(c);
    // The first smart stop's shutdown is still under way: the server exits
    // once the session has ended, possibly before this second stop looks.
    let (code, _, err) = duetdb(&["stop", "-D", d, "-m", "smart", "-t", "30"]);
    assert!(code == 0 || err.contains("no server running"), "smart stop after the session ended: {err}");

    // restart brings it back with its last arguments and the new setting.
    assert_eq!(duetdb(&["start", "-D", d, "--port", "0", "--listen", "127.0.0.1", "--detach"]).0, 0);
    let (code, out, err) = duetdb(&["restart", "-D", d]);
    assert_eq!(code, 0, "restart: {out}{err}");
    let c = connect(port()).await;
    assert_eq!(one(&c, "SHOW max_connections").await, "150");
    c.batch_execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)").await.unwrap();
    // ALTER SYSTEM and `config get` read and write the same file.
    c.batch_execute("ALTER SYSTEM SET work_mem = '8MB'").await.unwrap();
    assert_eq!(duetdb(&["config", "get", "-D", d, "work_mem"]).1.trim(), "8MB");
    drop(c);
    // Immediate stop: no checkpoint, the commit is still there after recovery.
    assert_eq!(duetdb(&["stop", "-D", d, "-m", "immediate"]).0, 0);
    // Log format from the settings: JSON lines.
    let log_len = std::fs::metadata(dir.join("duetdb.log")).unwrap().len() as usize;
    assert_eq!(duetdb(&["start", "-D", d, "--port", "0", "--listen", "127.0.0.1", "-c", "log_format=json", "--detach"]).0, 0);
    let log = std::fs::read_to_string(dir.join("duetdb.log")).unwrap();
    let new_lines: Vec<&str> = log[log_len..].lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!new_lines.is_empty() && new_lines.iter().all(|l| l.starts_with('{')), "JSON log lines: {new_lines:?}");
    let c = connect(port()).await;
    assert_eq!(one(&c, "SELECT count(*) FROM kept").await, "1");
    drop(c);
    assert_eq!(duetdb(&["stop", "-D", d]).0, 0);
}

/// Servers started detached through the CLI; stopped (immediately) when the test ends.
struct Detached(Vec<std::path::PathBuf>);

impl Drop for Detached {
    fn drop(&mut self) {
        for d in &self.0 {
            if std::thread::panicking() {
                eprintln!("---- {} ----\n{}", d.display(), std::fs::read_to_string(d.join("duetdb.log")).unwrap_or_default());
            }
            let _ = duetdb(&["stop", "-D", d.to_str().unwrap(), "-m", "immediate"]);
        }
    }
}

fn port_of(dir: &std::path::Path) -> u16 {
    std::fs::read_to_string(dir.join("duetdb.pid")).unwrap().lines().nth(1).unwrap().parse().unwrap()
}

async fn client_of(dir: &std::path::Path) -> tokio_postgres::Client {
    let (c, conn) =
        tokio_postgres::connect(&format!("host=127.0.0.1 port={} user=duet dbname=postgres", port_of(dir)), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", dir.display()));
    tokio::spawn(conn);
    c
}

/// Switchover there and back, twice, with writes before, during and after
/// each: no acknowledged commit is lost, timelines count up, and after each
/// swap the old primary streams from the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switchover_there_and_back_twice_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let _guard = Detached(vec![a.clone(), b.clone()]);
    let local = ["--port", "0", "--listen", "127.0.0.1", "--detach"];
    assert_eq!(duetdb(&["init", "-D", a.to_str().unwrap(), "-A", "trust"]).0, 0);
    let (code, out, err) = duetdb(&[&["start", "-D", a.to_str().unwrap()][..], &local].concat());
    assert_eq!(code, 0, "{out}{err}");
    let primary = format!("127.0.0.1:{}", port_of(&a));
    let (code, out, err) = duetdb(&[&["standby", "-D", b.to_str().unwrap(), "--primary", &primary][..], &local].concat());
    assert_eq!(code, 0, "{out}{err}");

    let c = client_of(&a).await;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, round int); CREATE TABLE s (id serial PRIMARY KEY)").await.unwrap();
    let mut acked: Vec<i32> = Vec::new();
    let (mut p, mut s) = (a.clone(), b.clone());
    for round in 0..4 {
        let c = client_of(&p).await;
        for i in 0..50 {
            let id = round * 10_000 + i;
            c.execute("INSERT INTO t VALUES ($1, $2)", &[&id, &round]).await.unwrap();
            c.batch_execute("INSERT INTO s DEFAULT VALUES").await.unwrap();
            acked.push(id);
        }
        // A writer that keeps going while the switchover runs.
        let during = {
            let c = client_of(&p).await;
            tokio::spawn(async move {
                let mut ok = Vec::new();
                for i in 5_000..9_000 {
                    let id = round * 10_000 + i;
                    match c.execute("INSERT INTO t VALUES ($1, $2)", &[&id, &round]).await {
                        Ok(_) => ok.push(id),
                        Err(_) => break,
                    }
                }
                ok
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (code, out, err) = duetdb(&["switchover", "-D", s.to_str().unwrap(), "--primary-dir", p.to_str().unwrap()]);
        assert_eq!(code, 0, "switchover round {round}: {out}{err}");
        let during = during.await.unwrap();
        assert!(!during.is_empty(), "the writer ran before the switchover");
        acked.extend(during);
        std::mem::swap(&mut p, &mut s);

        let np = client_of(&p).await;
        assert_eq!(one(&np, "SELECT pg_is_in_recovery()").await, "f");
        assert_eq!(one(&np, "SELECT duetdb_timeline()").await, (round + 2).to_string());
        let present: std::collections::HashSet<i32> = np.query("SELECT id FROM t", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        let lost: Vec<&i32> = acked.iter().filter(|id| !present.contains(id)).collect();
        assert!(lost.is_empty(), "round {round}: acknowledged rows lost: {lost:?}");
        // Writes after, with the sequence continuing.
        np.batch_execute("INSERT INTO s DEFAULT VALUES")
            .await
            .unwrap_or_else(|e| panic!("round {round}: sequence after switchover: {e:?}"));
        np.execute("INSERT INTO t VALUES ($1, $2)", &[&(round * 10_000 + 9_999), &round]).await.unwrap();
        acked.push(round * 10_000 + 9_999);
        // The old primary is a standby of the new one now.
        let ns = client_of(&s).await;
        assert_eq!(one(&ns, "SELECT pg_is_in_recovery()").await, "t");
        let lsn = one(&np, "SELECT pg_current_wal_lsn()::text").await;
        ns.batch_execute(&format!("WAIT FOR LSN '{lsn}' WITH (TIMEOUT '30s')")).await.unwrap();
        assert_eq!(one(&ns, "SELECT count(*) FROM t").await, one(&np, "SELECT count(*) FROM t").await);
        assert_eq!(one(&ns, "SELECT max(id) FROM s").await, one(&np, "SELECT max(id) FROM s").await);
    }
    assert_eq!(duetdb(&["stop", "-D", s.to_str().unwrap()]).0, 0);
    assert_eq!(duetdb(&["stop", "-D", p.to_str().unwrap()]).0, 0);
}

/// `duetdb demo`: a replicated pair with the sample data, URIs printed; a
/// second run on the same directory reuses it.
#[test]
fn demo_starts_a_replicated_pair_and_reuses_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("demo");
    let d = d.to_str().unwrap();
    let (code, out, err) = duetdb(&["demo", "-D", d, "-p", "0", "--no-wait"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("psql postgres://duet@127.0.0.1:").count(), 2, "{out}");
    assert!(err.contains("loading sample data"), "{err}");
    let (code, out, err) = duetdb(&["demo", "-D", d, "-p", "0", "--no-wait"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("loading sample data"), "the second run reuses the data: {err}");
}
