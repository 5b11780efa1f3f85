//! Streaming replication into the columnar standby, end to end: real primary
//! and standby processes on loopback, checked with tokio-postgres.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Every row of a table as text, in key order: compared across servers.
async fn table_digest(c: &tokio_postgres::Client, table: &str, key: &str) -> Vec<Vec<Option<String>>> {
    rows(c, &format!("SELECT * FROM {table} ORDER BY {key}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_builds_streams_and_matches_the_primary() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute(
        "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2), opened date);
         INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.5, DATE '2024-01-01' + g FROM generate_series(1, 5000) g;
         CREATE TABLE events (at timestamptz, kind varchar(10), payload bytea);
         INSERT INTO events VALUES (now(), 'boot', '\\x0102');",
    )
    .await
    .unwrap();

    let standby = TestServer::start_standby(&primary, &[]);
    let s = standby.connect().await;
    assert_eq!(one(&s, "SELECT pg_is_in_recovery()").await, "t");
    assert_eq!(one(&p, "SELECT pg_is_in_recovery()").await, "f");

    // The base backup arrived.
    catch_up(&p, &s).await;
    assert_eq!(one(&s, "SELECT count(*) FROM accounts").await, "5000");

    // Streaming: inserts, updates (delete + insert on the standby), deletes,
    // a rolled-back transaction, a savepoint rolled back.
    p.batch_execute(
        "INSERT INTO accounts SELECT g, 'late ' || g, 0, NULL FROM generate_series(5001, 6000) g;
         UPDATE accounts SET balance = balance + 100 WHERE id % 7 = 0;
         DELETE FROM accounts WHERE id BETWEEN 100 AND 199;
         BEGIN; INSERT INTO accounts VALUES (-1, 'never', 0, NULL); ROLLBACK;
         BEGIN; INSERT INTO accounts VALUES (-2, 'kept', 0, NULL); SAVEPOINT a;
                INSERT INTO accounts VALUES (-3, 'undone', 0, NULL); ROLLBACK TO a; COMMIT;",
    )
    .await
    .unwrap();
    catch_up(&p, &s).await;
    assert_eq!(table_digest(&s, "accounts", "id").await, table_digest(&p, "accounts", "id").await);
    assert_eq!(one(&s, "SELECT count(*) FROM accounts WHERE id < 0").await, "1");

    // DDL while streaming: add/drop column, truncate, create and drop tables.
    p.batch_execute(
        "ALTER TABLE accounts ADD COLUMN tier int DEFAULT 3;
         UPDATE accounts SET tier = 1 WHERE id <= 10;
         ALTER TABLE accounts DROP COLUMN opened;
         TRUNCATE events;
         INSERT INTO events VALUES (now(), 'after', NULL);
         CREATE TABLE later (k bigint PRIMARY KEY, v double precision);
         INSERT INTO later SELECT g, g / 3.0 FROM generate_series(1, 100) g;
         CREATE TABLE gone (x int); INSERT INTO gone VALUES (1); DROP TABLE gone;",
    )
    .await
    .unwrap();
    catch_up(&p, &s).await;
    for (t, k) in [("accounts", "id"), ("events", "kind"), ("later", "k")] {
        assert_eq!(table_digest(&s, t, k).await, table_digest(&p, t, k).await, "table {t}");
    }
    assert_eq!(one(&s, "SELECT sum(tier) FROM accounts").await, one(&p, "SELECT sum(tier) FROM accounts").await);
    expect_error(&s, "SELECT * FROM gone", "42P01").await;
    expect_error(&s, "SELECT opened FROM accounts", "42703").await;

    // Analytics run on the standby through DataFusion.
    let top = rows(&s, "SELECT tier, count(*), sum(balance) FROM accounts GROUP BY tier ORDER BY tier").await;
    assert_eq!(top, rows(&p, "SELECT tier, count(*), sum(balance) FROM accounts GROUP BY tier ORDER BY tier").await);

    // The primary sees the standby; LSNs compare as pg_lsn.
    let stat = rows(&p, "SELECT state, sync_state, client_addr, replay_lsn >= '0/0'::pg_lsn FROM pg_stat_replication").await;
    assert_eq!(stat.len(), 1, "{stat:?}");
    assert_eq!(stat[0][0].as_deref(), Some("streaming"));
    assert_eq!(stat[0][1].as_deref(), Some("async"));
    assert_eq!(stat[0][2].as_deref(), Some("127.0.0.1"));
    let diff = one(&s, "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) >= 0").await;
    assert_eq!(diff, "t");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_refuses_writes() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')").await.unwrap();
    let standby = TestServer::start_standby(&primary, &[]);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    for sql in [
        "INSERT INTO t VALUES (2, 'b')",
        "UPDATE t SET v = 'z'",
        "DELETE FROM t",
        "CREATE TABLE u (x int)",
        "DROP TABLE t",
        "TRUNCATE t",
        "SELECT * FROM t FOR UPDATE",
        "SELECT nextval('nope')",
    ] {
        let e = s.batch_execute(sql).await.expect_err(sql);
        let code = code(&e);
        assert!(code == "25006" || (sql.contains("nextval") && code == "42P01"), "{sql}: {code} {e}");
    }
    // Reads still work, in transactions too, and the session is fine.
    s.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await.unwrap();
    assert_eq!(one(&s, "SELECT v FROM t WHERE id = 1").await, "a");
    s.batch_execute("COMMIT").await.unwrap();
    let stmt = s.prepare("SELECT v FROM t WHERE id = $1").await.unwrap();
    let r = s.query(&stmt, &[&1i32]).await.unwrap();
    assert_eq!(r[0].get::<_, String>(0), "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeatable_read_on_the_standby_keeps_one_snapshot() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)").await.unwrap();
    let standby = TestServer::start_standby(&primary, &[]);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    s.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await.unwrap();
    assert_eq!(one(&s, "SELECT count(*) FROM t").await, "10");
    p.batch_execute("INSERT INTO t SELECT generate_series(11, 20)").await.unwrap();
    let s2 = standby.connect().await;
    catch_up(&p, &s2).await;
    assert_eq!(one(&s2, "SELECT count(*) FROM t").await, "20");
    assert_eq!(one(&s, "SELECT count(*) FROM t").await, "10", "the transaction's snapshot moved");
    s.batch_execute("COMMIT").await.unwrap();
    assert_eq!(one(&s, "SELECT count(*) FROM t").await, "20");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_with_wait_for_lsn_and_recovery_target_lsn() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY)").await.unwrap();
    let standby = TestServer::start_standby(&primary, &[]);
    let s = standby.connect().await;
    for i in 0..20 {
        p.batch_execute(&format!("INSERT INTO t VALUES ({i})")).await.unwrap();
        let lsn = one(&p, "SELECT pg_current_wal_lsn()").await;
        s.batch_execute(&format!("SET recovery_target_lsn = '{lsn}'")).await.unwrap();
        assert_eq!(one(&s, &format!("SELECT count(*) FROM t WHERE id = {i}")).await, "1", "write {i} not visible after its LSN");
    }
    s.batch_execute("RESET recovery_target_lsn").await.unwrap();
    // A far-future LSN times out with a clear error, and the session goes on.
    let e = expect_error(&s, "WAIT FOR LSN 'FF/0' WITH (TIMEOUT '200ms')", "57014").await;
    assert!(e.message().contains("FF/0"), "{}", e.message());
    assert_eq!(one(&s, "SELECT 1").await, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_apply_commits_are_visible_on_the_standby_at_once() {
    let primary = TestServer::start_with(Init::settings(&[("synchronous_standby_names", "FIRST 1 (s1)")]));
    let p = primary.connect().await;
    // As in PostgreSQL, a commit waits for the synchronous standby that is
    // not there yet — unless this session asks only for a local flush.
    p.batch_execute("SET synchronous_commit = local; CREATE TABLE t (id int PRIMARY KEY)").await.unwrap();
    let standby = TestServer::start_standby(&primary, &[("application_name".into(), "s1".into())]);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    // Wait until the primary counts it as synchronous.
    wait_sync(&p).await;
    p.batch_execute("SET synchronous_commit = remote_apply").await.unwrap();
    for i in 0..30 {
        p.batch_execute(&format!("INSERT INTO t VALUES ({i})")).await.unwrap();
        assert_eq!(one(&s, &format!("SELECT count(*) FROM t WHERE id = {i}")).await, "1", "commit {i} not yet on the standby");
    }
}

/// A standby tails the primary's live log across many segment files, each
/// zero-filled ahead of time: every commit reaches it over one unbroken
/// connection. (The WAL sender's read-ahead once kept a preallocated
/// segment's zeros, read before the records were written there, and served
/// them again: each record past the first segment cost a reconnect.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_tails_the_live_log_across_preallocated_segments() {
    let metrics = free_port();
    let primary = TestServer::start_with(Init::settings(&[("wal_segment_size", "65536"), ("metrics_port", &metrics.to_string())]));
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY, pad text)").await.unwrap();
    let standby = TestServer::start_standby(&primary, &[]);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    let direct = || value(&get(metrics, "/metrics").1, "duetdb_wal_direct_flushes_total");
    let direct_before = direct();
    // About 400 KB of log, one commit at a time: six segments or more.
    for i in 0..1000 {
        p.execute("INSERT INTO t VALUES ($1, repeat('x', 300))", &[&i]).await.unwrap();
    }
    catch_up(&p, &s).await;
    // While a WAL sender follows the log, the log goes through the page
    // cache, where the sender reads it.
    assert_eq!(direct(), direct_before, "direct WAL writes while a standby streams");
    assert_eq!(one(&s, "SELECT count(*) FROM t").await, "1000");
    let wal = primary.data_dir().join("wal");
    let segments = std::fs::read_dir(&wal).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".wal")).count();
    assert!(segments >= 6, "{segments} segment files");
    let log = standby.log_text();
    assert!(!log.contains("replication connection lost"), "the standby reconnected:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_resumes_without_gap_or_duplicate() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY, w int)").await.unwrap();
    let standby = TestServer::start_standby(&primary, &[]);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    let writer = {
        let c = primary.connect().await;
        tokio::spawn(async move {
            for i in 0..600 {
                // Multi-statement transactions, so some are in flight at each cut.
                c.batch_execute(&format!("BEGIN; INSERT INTO t VALUES ({i}, 0); UPDATE t SET w = w + 1 WHERE id = {i}; COMMIT"))
                    .await
                    .unwrap();
            }
        })
    };
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        p.batch_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_replication").await.unwrap();
    }
    writer.await.unwrap();
    catch_up(&p, &s).await;
    assert_eq!(table_digest(&s, "t", "id").await, table_digest(&p, "t", "id").await);
    assert_eq!(one(&s, "SELECT count(*) FILTER (WHERE w <> 1) FROM t").await, "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_standby_comes_back_consistent() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g").await.unwrap();
    let fast_persist = [("columnar_persist_interval".to_string(), "50ms".to_string())];
    let mut standby = TestServer::start_standby(&primary, &fast_persist);
    {
        let s = standby.connect().await;
        catch_up(&p, &s).await;
    }
    // Kill it while transactions stream in, some open across each persist.
    let writer = {
        let c = primary.connect().await;
        tokio::spawn(async move {
            for i in 0..400 {
                c.batch_execute(&format!(
                    "BEGIN; INSERT INTO t VALUES ({}, 0); UPDATE t SET v = v + 1 WHERE id = {}; COMMIT",
                    2000 + i,
                    1 + i % 1000
                ))
                .await
                .unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(standby.dir.join("columnar/manifest.json").exists(), "no snapshot persisted:\n{}", standby.log_text());
    standby.kill9();
    p.batch_execute("UPDATE t SET v = v * 2 WHERE id <= 500; DELETE FROM t WHERE id > 900 AND id < 1000").await.unwrap();
    standby.launch(&fast_persist);
    writer.await.unwrap();
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    assert_eq!(table_digest(&s, "t", "id").await, table_digest(&p, "t", "id").await);
    // It resumed from its own Parquet snapshot and local WAL: no second base backup.
    let log = standby.log_text();
    assert!(log.contains("standby resumed from its persisted state"), "{log}");
    assert_eq!(log.matches("base backup loaded").count(), 1, "{log}");
    // The persisted snapshot is plain Parquet: every segment file reads back.
    let files: Vec<_> = std::fs::read_dir(standby.dir.join("columnar/segments")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!files.is_empty());
}

/// A clean stop persists the column store once more, so a restart with the
/// default (slow) persist interval resumes without a base backup and
/// replays almost nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleanly_stopped_standby_resumes_from_its_final_persist() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, g FROM generate_series(1, 2000) g").await.unwrap();
    let mut standby = TestServer::start_standby(&primary, &[("columnar_persist_interval".into(), "1h".into())]);
    {
        let s = standby.connect().await;
        catch_up(&p, &s).await;
        p.batch_execute("UPDATE t SET v = -v WHERE id % 3 = 0; DELETE FROM t WHERE id > 1900").await.unwrap();
        catch_up(&p, &s).await;
    }
    standby.stop();
    assert!(standby.log_text().contains("column snapshot persisted for shutdown"), "{}", standby.log_text());
    p.batch_execute("INSERT INTO t VALUES (5000, 5)").await.unwrap();
    standby.launch(&[("columnar_persist_interval".into(), "1h".into())]);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    assert_eq!(table_digest(&s, "t", "id").await, table_digest(&p, "t", "id").await);
    let log = standby.log_text();
    assert!(log.contains("standby resumed from its persisted state"), "{log}");
    assert_eq!(log.matches("base backup loaded").count(), 1, "{log}");
}

/// ALTER COLUMN … TYPE that rewrites the table reaches the standby as a new
/// storage plus its rows: the standby serves the new types, the same rows,
/// and keeps them across a restart; a rewrite rolled back leaves no trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_rewrite_reaches_the_standby() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute(
        "CREATE TABLE orders (id int PRIMARY KEY, qty smallint, price numeric(8,2), note text);
         INSERT INTO orders SELECT g, g % 100, g * 0.25, (g * 7)::text FROM generate_series(1, 3000) g;",
    )
    .await
    .unwrap();
    let mut standby = TestServer::start_standby(&primary, &[]);
    {
        let s = standby.connect().await;
        catch_up(&p, &s).await;
        p.batch_execute(
            "ALTER TABLE orders ALTER COLUMN id TYPE bigint, ALTER COLUMN qty TYPE int, ALTER COLUMN price TYPE int;
             ALTER TABLE orders ALTER COLUMN note TYPE int USING note::int + 1;
             UPDATE orders SET qty = qty + 1000 WHERE id % 10 = 0;
             DELETE FROM orders WHERE id > 2900;",
        )
        .await
        .unwrap();
        p.batch_execute("BEGIN; ALTER TABLE orders ALTER COLUMN qty TYPE text; UPDATE orders SET qty = 'x'; ROLLBACK;").await.unwrap();
        catch_up(&p, &s).await;
        assert_eq!(table_digest(&s, "orders", "id").await, table_digest(&p, "orders", "id").await);
        let types = "SELECT pg_typeof(id)::text, pg_typeof(qty)::text, pg_typeof(price)::text, pg_typeof(note)::text FROM orders LIMIT 1";
        assert_eq!(
            rows(&s, types).await,
            vec![vec![Some("bigint".into()), Some("integer".into()), Some("integer".into()), Some("integer".into())]]
        );
        assert_eq!(one(&s, "SELECT sum(price) FROM orders").await, one(&p, "SELECT sum(price) FROM orders").await);
        assert_eq!(one(&p, "SELECT note FROM orders WHERE id = 3").await, "22");
    }
    standby.stop();
    p.batch_execute("INSERT INTO orders VALUES (5000000000, 1, 2, 3)").await.unwrap();
    standby.launch(&[]);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    assert_eq!(table_digest(&s, "orders", "id").await, table_digest(&p, "orders", "id").await);
}

/// The primary restarts under a streaming standby: the standby reconnects
/// and resumes with no gap and no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_primary_keeps_its_standby_streaming() {
    let mut primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, g FROM generate_series(1, 500) g").await.unwrap();
    let standby = TestServer::start_standby(&primary, &[]);
    {
        let s = standby.connect().await;
        catch_up(&p, &s).await;
    }
    // The base backup alone may already satisfy catch_up: wait until the
    // stream itself runs, so that the restart below breaks a live stream.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !standby.log_text().contains("streaming WAL from the primary") {
        assert!(std::time::Instant::now() < deadline, "the standby never started streaming");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(p);
    primary.listen_port = primary.port;
    primary.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    primary.launch(&[]);
    let p = primary.connect().await;
    p.batch_execute("UPDATE t SET v = v + 1000 WHERE id <= 250; INSERT INTO t VALUES (501, 1)").await.unwrap();
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    assert_eq!(table_digest(&s, "t", "id").await, table_digest(&p, "t", "id").await);
    let log = standby.log_text();
    assert_eq!(log.matches("base backup loaded").count(), 1, "{log}");
    assert!(log.matches("streaming WAL from the primary").count() >= 2, "it reconnected: {log}");
}

/// A standby that falls further behind than `max_slot_wal_keep_size`: its
/// slot is invalidated, the WAL goes, and the standby is told it must be
/// rebuilt — which it does, ending consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_behind_the_slot_limit_is_told_to_rebuild() {
    let primary = TestServer::start_with(Init::settings(&[("wal_segment_size", "65536"), ("max_slot_wal_keep_size", "262144")]));
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY, pad text)").await.unwrap();
    let slot = [("primary_slot_name".to_string(), "s1".to_string())];
    let mut standby = TestServer::start_standby(&primary, &slot);
    {
        let s = standby.connect().await;
        catch_up(&p, &s).await;
    }
    assert_eq!(one(&p, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 's1'").await, "reserved");
    standby.stop();
    // About 2 MB of WAL while it is away, then a checkpoint: the slot is over the limit.
    for k in 0..10 {
        p.batch_execute(&format!("INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series({}, {}) g", k * 1000, k * 1000 + 999))
            .await
            .unwrap();
    }
    p.batch_execute("CHECKPOINT").await.unwrap();
    assert_eq!(one(&p, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 's1'").await, "lost");
    standby.launch(&slot);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    assert_eq!(one(&s, "SELECT count(*) FROM t").await, "10000");
    let log = standby.log_text();
    assert!(log.contains("invalidated") && log.contains("rebuilding from a new base backup"), "{log}");
    assert_eq!(log.matches("base backup loaded").count(), 2, "{log}");
    assert_eq!(one(&p, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 's1'").await, "reserved");
}

/// char(n) has PostgreSQL's semantics on both sides: trailing blanks are
/// insignificant in comparisons, length() and concatenation, and the value
/// is sent blank-padded to n.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn char_n_compares_without_trailing_blanks_on_primary_and_standby() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE c (x char(5) PRIMARY KEY, y int); INSERT INTO c VALUES ('ab', 1), ('abcde', 2), ('zz   ', 3)")
        .await
        .unwrap();
    let standby = TestServer::start_standby(&primary, &[]);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    for c in [&p, &s] {
        assert_eq!(one(c, "SELECT y FROM c WHERE x = 'ab'").await, "1");
        assert_eq!(one(c, "SELECT count(*) FROM c WHERE x IN ('ab', 'zz')").await, "2");
        assert_eq!(one(c, "SELECT '[' || x || ']' FROM c WHERE y = 3").await, "[zz]");
        assert_eq!(one(c, "SELECT length(x) FROM c WHERE y = 1").await, "2");
        assert_eq!(one(c, "SELECT x FROM c WHERE y = 1").await, "ab   ");
        let r = c.query_one("SELECT x FROM c WHERE y = 3", &[]).await.unwrap();
        assert_eq!(r.get::<_, String>(0), "zz   ", "binary format pads too");
    }
    expect_error(&p, "INSERT INTO c VALUES ('abcdef', 4)", "22001").await;
}

/// pg_stat_replication's lags are intervals, as in PostgreSQL, so
/// monitoring queries like `replay_lag < interval '1 second'` work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_lags_are_intervals() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute("CREATE TABLE t (id int PRIMARY KEY)").await.unwrap();
    let standby = TestServer::start_standby(&primary, &[]);
    let s = standby.connect().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        p.batch_execute("INSERT INTO t SELECT coalesce(max(id), 0) + 1 FROM t").await.unwrap();
        catch_up(&p, &s).await;
        let r = rows(&p, "SELECT replay_lag IS NOT NULL, replay_lag < interval '10 seconds', extract(epoch from replay_lag) >= 0 FROM pg_stat_replication").await;
        if r.first().is_some_and(|r| r[0].as_deref() == Some("t")) {
            assert_eq!(r[0][1].as_deref(), Some("t"), "{r:?}");
            assert_eq!(r[0][2].as_deref(), Some("t"), "{r:?}");
            break;
        }
        assert!(Instant::now() < deadline, "replay_lag never reported: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, out, err) = primary.psql(&["-Atc", "SELECT pg_typeof(replay_lag)::text FROM pg_stat_replication"]);
    assert!(ok && out.trim() == "interval", "{out}{err}");
}

/// `ANY n (…)` waits for any n of the listed standbys, and openGauss's
/// `most_available_sync` decides what a commit does when the synchronous
/// standbys are gone: off (PostgreSQL's behaviour) it waits until one is
/// back (a cancel ends the wait, never the commit); on, it commits without
/// them — the moment the switch flips, the waiting commit returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_n_and_most_available_sync_decide_what_a_commit_waits_for() {
    let primary = TestServer::start_with(Init::settings(&[("synchronous_standby_names", "ANY 1 (s1, s2)")]));
    let p = primary.connect().await;
    p.batch_execute("SET synchronous_commit = local; CREATE TABLE t (id int PRIMARY KEY)").await.unwrap();
    let mut standby = TestServer::start_standby(&primary, &[("application_name".into(), "s2".into())]);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    wait_sync_state(&p, "quorum").await;
    // Any one of the two is enough: s1 is not there, s2 acknowledges.
    p.batch_execute("SET synchronous_commit = remote_apply").await.unwrap();
    for i in 0..10 {
        p.batch_execute(&format!("INSERT INTO t VALUES ({i})")).await.unwrap();
        assert_eq!(one(&s, &format!("SELECT count(*) FROM t WHERE id = {i}")).await, "1");
    }

    // Neither is there now: with most_available_sync off the commit waits,
    // shown in pg_stat_activity as PostgreSQL shows it.
    drop(s);
    standby.stop();
    assert_eq!(one(&p, "SHOW most_available_sync").await, "off");
    let admin = primary.connect().await;
    let insert = |p: tokio_postgres::Client, id: i32| {
        tokio::spawn(async move {
            p.batch_execute(&format!("INSERT INTO t VALUES ({id})")).await.unwrap();
            p
        })
    };
    let waiting = insert(p, 100);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!waiting.is_finished(), "a commit returned with no synchronous standby and most_available_sync off");
    let waits = "SELECT wait_event_type || '/' || wait_event FROM pg_stat_activity WHERE query LIKE 'INSERT INTO t VALUES (100)%'";
    assert_eq!(one(&admin, waits).await, "IPC/SyncRep");
    // Durable here but, as in PostgreSQL, not visible until acknowledged.
    assert_eq!(one(&admin, "SELECT count(*) FROM t WHERE id = 100").await, "0");

    // A cancel ends the wait, not the commit (PostgreSQL's rule: it is in the
    // WAL; the client gets a WARNING that the standby may not have it).
    admin
        .batch_execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO t VALUES (100)%'")
        .await
        .unwrap();
    let p = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("the cancel ended the wait").unwrap();
    assert_eq!(one(&admin, "SELECT count(*) FROM t WHERE id = 100").await, "1");

    // most_available_sync on: the waiting commit returns, new ones do not wait.
    let waiting = insert(p, 101);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished());
    admin.batch_execute("ALTER SYSTEM SET most_available_sync = on; SELECT pg_reload_conf()").await.unwrap();
    let p = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("the waiting commit returned").unwrap();
    tokio::time::timeout(Duration::from_secs(10), p.batch_execute("INSERT INTO t VALUES (102)"))
        .await
        .expect("a commit with most_available_sync on does not wait")
        .unwrap();
    assert_eq!(one(&p, "SELECT count(*) FROM t").await, "13");
}
