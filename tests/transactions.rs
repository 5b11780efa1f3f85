//! Transactions over the wire: blocks, savepoints, isolation levels, row
//! locks, serialization failures and deadlocks between real connections.

mod common;

use std::time::Duration;

use common::*;

async fn setup(s: &TestServer) -> tokio_postgres::Client {
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL); INSERT INTO acct VALUES (1, 100), (2, 100)").await.unwrap();
    c
}

#[tokio::test]
async fn commit_rollback_and_savepoints() {
    let s = TestServer::start();
    let c = setup(&s).await;
    c.batch_execute("BEGIN; UPDATE acct SET bal = 0 WHERE id = 1; ROLLBACK").await.unwrap();
    assert_eq!(one(&c, "SELECT bal FROM acct WHERE id = 1").await, "100");
    c.batch_execute(
        "BEGIN;
         UPDATE acct SET bal = 1 WHERE id = 1;
         SAVEPOINT a;
         UPDATE acct SET bal = 2 WHERE id = 1;
         ROLLBACK TO SAVEPOINT a;
         UPDATE acct SET bal = bal + 10 WHERE id = 2;
         RELEASE a;
         COMMIT",
    )
    .await
    .unwrap();
    assert_eq!(rows(&c, "SELECT bal FROM acct ORDER BY id").await, vec![vec![Some("1".into())], vec![Some("110".into())]]);
    // An error inside a savepoint is undone by rolling back to it.
    c.batch_execute("BEGIN; SAVEPOINT s").await.unwrap();
    expect_error(&c, "INSERT INTO acct VALUES (1, 0)", "23505").await;
    c.batch_execute("ROLLBACK TO s; INSERT INTO acct VALUES (3, 3); COMMIT").await.unwrap();
    assert_eq!(one(&c, "SELECT count(*) FROM acct").await, "3");
    // COMMIT of a failed block is a rollback.
    c.batch_execute("BEGIN; INSERT INTO acct VALUES (4, 4)").await.unwrap();
    expect_error(&c, "SELECT 1/0", "22012").await;
    let msgs = c.simple_query("COMMIT").await.unwrap();
    assert!(matches!(msgs.last(), Some(tokio_postgres::SimpleQueryMessage::CommandComplete(_))));
    assert_eq!(one(&c, "SELECT count(*) FROM acct WHERE id = 4").await, "0");
}

#[tokio::test]
async fn read_committed_sees_new_commits_repeatable_read_does_not() {
    let s = TestServer::start();
    let a = setup(&s).await;
    let b = s.connect().await;
    a.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await.unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acct WHERE id = 1").await, "100");
    b.batch_execute("BEGIN").await.unwrap();
    assert_eq!(one(&b, "SELECT bal FROM acct WHERE id = 1").await, "100");
    let c = s.connect().await;
    c.batch_execute("UPDATE acct SET bal = 50 WHERE id = 1").await.unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acct WHERE id = 1").await, "100", "repeatable read keeps its snapshot");
    assert_eq!(one(&b, "SELECT bal FROM acct WHERE id = 1").await, "50", "read committed sees the commit");
    // The RR transaction may not update a row changed since its snapshot.
    expect_error(&a, "UPDATE acct SET bal = bal + 1 WHERE id = 1", "40001").await;
    a.batch_execute("ROLLBACK").await.unwrap();
    b.batch_execute("COMMIT").await.unwrap();
}

/// Autocommit key lookups read through an engine reader: no transaction id,
/// yet they see every commit and never wait for a writer's row lock. Under
/// REPEATABLE READ they keep using transactions (a pipeline before Sync is
/// one implicit transaction and must share its snapshot).
#[tokio::test]
async fn autocommit_key_lookups_take_no_transaction_id() {
    let s = TestServer::start();
    let c = setup(&s).await;
    let lookup = c.prepare("SELECT bal FROM acct WHERE id = $1").await.unwrap();
    let before = xid(&c).await;
    for _ in 0..20 {
        assert_eq!(c.query_one(&lookup, &[&1i32]).await.unwrap().get::<_, i32>(0), 100);
    }
    assert_eq!(xid(&c).await, before + 1, "the lookups in between took no id");

    // A writer holding the row lock does not block the lookup, which sees the last commit.
    let w = s.connect().await;
    w.batch_execute("BEGIN; UPDATE acct SET bal = 7 WHERE id = 1").await.unwrap();
    assert_eq!(c.query_one(&lookup, &[&1i32]).await.unwrap().get::<_, i32>(0), 100);
    w.batch_execute("COMMIT").await.unwrap();
    assert_eq!(c.query_one(&lookup, &[&1i32]).await.unwrap().get::<_, i32>(0), 7);

    c.batch_execute("SET default_transaction_isolation = 'repeatable read'").await.unwrap();
    let before = xid(&c).await;
    for _ in 0..5 {
        c.query_one(&lookup, &[&2i32]).await.unwrap();
    }
    assert_eq!(xid(&c).await, before + 6, "under repeatable read each lookup is a transaction");
}

async fn xid(c: &tokio_postgres::Client) -> i64 {
    c.query_one("SELECT txid_current()", &[]).await.unwrap().get::<_, i64>(0)
}

#[tokio::test]
async fn a_writer_waits_for_the_row_lock_then_sees_the_new_version() {
    let s = TestServer::start();
    let a = setup(&s).await;
    let b = s.connect().await;
    a.batch_execute("BEGIN; UPDATE acct SET bal = bal - 30 WHERE id = 1").await.unwrap();
    // b blocks on the row; under READ COMMITTED it then applies to the new version.
    let waiter = tokio::spawn(async move {
        b.batch_execute("UPDATE acct SET bal = bal - 30 WHERE id = 1").await.unwrap();
        b
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the second writer must wait for the first");
    a.batch_execute("COMMIT").await.unwrap();
    let _b = tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("waiter hung").unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acct WHERE id = 1").await, "40", "no lost update");
}

/// An operator can see who waits for whom, with PostgreSQL's own views:
/// pg_stat_activity's wait event and backend_xid, pg_blocking_pids() and
/// pg_locks (the holder's transaction id granted, the waiter's request for
/// it not granted, both sides' table locks).
#[tokio::test]
async fn a_blocked_writer_shows_who_blocks_it() {
    let s = TestServer::start();
    let a = setup(&s).await;
    let b = s.connect().await;
    let admin = s.connect().await;
    let (pa, pb) = (one(&a, "SELECT pg_backend_pid()").await, one(&b, "SELECT pg_backend_pid()").await);
    a.batch_execute("BEGIN; UPDATE acct SET bal = bal - 30 WHERE id = 1").await.unwrap();
    let waiter = tokio::spawn(async move {
        b.batch_execute("UPDATE acct SET bal = bal - 30 WHERE id = 1").await.unwrap();
        b
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let waits = format!("SELECT coalesce(wait_event_type || '/' || wait_event, '') FROM pg_stat_activity WHERE pid = {pb}");
    while one(&admin, &waits).await != "Lock/transactionid" {
        assert!(std::time::Instant::now() < deadline, "the blocked writer never showed its lock wait");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(one(&admin, &format!("SELECT pg_blocking_pids({pb})")).await, format!("{{{pa}}}"));
    assert_eq!(one(&admin, &format!("SELECT pg_blocking_pids({pa})")).await, "{}");
    let xa = one(&admin, &format!("SELECT backend_xid FROM pg_stat_activity WHERE pid = {pa}")).await;
    let locks = rows(&admin, "SELECT locktype, transactionid, mode, granted, pid FROM pg_locks WHERE locktype = 'transactionid' AND transactionid = (SELECT backend_xid FROM pg_stat_activity WHERE pid = {pa}) ORDER BY granted DESC".replace("{pa}", &pa).as_str()).await;
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        locks,
        vec![
            vec![s("transactionid"), s(&xa), s("ExclusiveLock"), s("t"), s(&pa)],
            vec![s("transactionid"), s(&xa), s("ShareLock"), s("f"), s(&pb)],
        ]
    );
    let relation_locks = format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND relation = 'acct'::regclass AND mode = 'RowExclusiveLock' AND pid IN ({pa}, {pb})"
    );
    assert_eq!(one(&admin, &relation_locks).await, "2");

    a.batch_execute("COMMIT").await.unwrap();
    let _b = tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("waiter hung").unwrap();
    assert_eq!(one(&admin, &waits).await, "");
    assert_eq!(one(&admin, &format!("SELECT count(*) FROM pg_locks WHERE pid IN ({pa}, {pb})")).await, "0");
}

#[tokio::test]
async fn select_for_update_locks_rows() {
    let s = TestServer::start();
    let a = setup(&s).await;
    let b = s.connect().await;
    a.batch_execute("BEGIN").await.unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acct WHERE id = 2 FOR UPDATE").await, "100");
    let waiter = tokio::spawn(async move {
        b.batch_execute("UPDATE acct SET bal = 0 WHERE id = 2").await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "FOR UPDATE must block writers");
    a.batch_execute("COMMIT").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("waiter hung").unwrap();
}

#[tokio::test]
async fn deadlocks_fail_one_side_with_40p01() {
    let s = TestServer::start();
    let a = setup(&s).await;
    let b = s.connect().await;
    a.batch_execute("BEGIN; UPDATE acct SET bal = 1 WHERE id = 1").await.unwrap();
    b.batch_execute("BEGIN; UPDATE acct SET bal = 2 WHERE id = 2").await.unwrap();
    let ta = tokio::spawn(async move {
        let r = a.batch_execute("UPDATE acct SET bal = 1 WHERE id = 2").await;
        (a, r)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rb = b.batch_execute("UPDATE acct SET bal = 2 WHERE id = 1").await;
    if rb.is_err() {
        b.batch_execute("ROLLBACK").await.unwrap();
    } else {
        b.batch_execute("COMMIT").await.unwrap();
    }
    let (a, ra) = tokio::time::timeout(Duration::from_secs(10), ta).await.expect("deadlock was not detected").unwrap();
    let codes: Vec<String> = [&ra, &rb].iter().filter_map(|r| r.as_ref().err().map(code)).collect();
    assert_eq!(codes, vec!["40P01".to_string()], "exactly one side fails with 40P01: {ra:?} {rb:?}");
    a.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn write_skew_is_allowed_under_snapshot_isolation() {
    // Documented behaviour: SERIALIZABLE runs as REPEATABLE READ (snapshot
    // isolation), which admits write skew — as PostgreSQL's REPEATABLE READ does.
    let s = TestServer::start();
    let a = setup(&s).await;
    let b = s.connect().await;
    a.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await.unwrap();
    b.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await.unwrap();
    assert_eq!(one(&a, "SELECT sum(bal) FROM acct").await, "200");
    assert_eq!(one(&b, "SELECT sum(bal) FROM acct").await, "200");
    a.batch_execute("UPDATE acct SET bal = bal - 150 WHERE id = 1").await.unwrap();
    b.batch_execute("UPDATE acct SET bal = bal - 150 WHERE id = 2").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    assert_eq!(one(&a, "SELECT sum(bal) FROM acct").await, "-100");
}

#[tokio::test]
async fn concurrent_transfers_conserve_the_total() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE bank (id int PRIMARY KEY, bal bigint NOT NULL)").await.unwrap();
    c.batch_execute("INSERT INTO bank SELECT i, 1000 FROM generate_series(1, 20) AS g(i)").await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let cl = s.connect().await;
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            for k in 0..50u64 {
                let from = (w * 7 + k * 3) % 20 + 1;
                let to = (w * 5 + k * 11 + 1) % 20 + 1;
                if from == to {
                    continue;
                }
                let sql = format!(
                    "BEGIN; UPDATE bank SET bal = bal - 1 WHERE id = {from}; UPDATE bank SET bal = bal + 1 WHERE id = {to}; COMMIT"
                );
                match cl.batch_execute(&sql).await {
                    Ok(()) => done += 1,
                    Err(e) => {
                        assert_eq!(code(&e), "40P01", "{e:?}");
                        cl.batch_execute("ROLLBACK").await.unwrap();
                    }
                }
            }
            done
        }));
    }
    let mut total_done = 0;
    for t in tasks {
        total_done += tokio::time::timeout(Duration::from_secs(60), t).await.expect("transfers hung").unwrap();
    }
    assert!(total_done > 0);
    assert_eq!(one(&c, "SELECT sum(bal) FROM bank").await, "20000");
}
