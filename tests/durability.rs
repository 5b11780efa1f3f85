//! An acknowledged commit survives `kill -9` of the server; an
//! unacknowledged transaction leaves no trace. (The storage crate's crash
//! tests kill an engine at random points; this one goes through the wire.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::*;

#[tokio::test]
async fn acknowledged_commits_survive_sigkill() {
    let mut s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE ledger (id bigint PRIMARY KEY, amount int NOT NULL)").await.unwrap();
    c.batch_execute("BEGIN; INSERT INTO ledger VALUES (-1, 7); ").await.unwrap(); // never committed
    let acked = Arc::new(AtomicI64::new(0));
    let mut writers = Vec::new();
    for w in 0..4i64 {
        let cl = s.connect().await;
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let id = w * 1_000_000 + i;
                if cl.batch_execute(&format!("INSERT INTO ledger VALUES ({id}, 1)")).await.is_err() {
                    return;
                }
                acked.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = acked.load(Ordering::SeqCst);
    s.kill9();
    for w in writers {
        let _ = w.await;
    }
    let after = acked.load(Ordering::SeqCst);
    assert!(before > 0);
    s.launch(&[]);
    let c = s.connect().await;
    let n: i64 = one(&c, "SELECT count(*) FROM ledger WHERE id >= 0").await.parse().unwrap();
    // Every acknowledged insert is there; at most the in-flight ones (one per
    // writer) may also be, having reached the disk without their reply.
    assert!(n >= after && n <= after + 4, "acknowledged {after}, found {n}");
    assert_eq!(one(&c, "SELECT count(*) FROM ledger WHERE id = -1").await, "0");
    // The recovered server takes writes.
    c.batch_execute("INSERT INTO ledger VALUES (-2, 1)").await.unwrap();
}

#[tokio::test]
async fn clean_restart_keeps_schema_data_and_sequences() {
    let mut s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE t (id serial PRIMARY KEY, v text);
         CREATE INDEX t_v ON t (v);
         INSERT INTO t (v) VALUES ('a'), ('b'), ('c');
         ALTER TABLE t ADD COLUMN w int DEFAULT 5;",
    )
    .await
    .unwrap();
    drop(c);
    s.stop();
    s.launch(&[]);
    let c = s.connect().await;
    assert_eq!(rows(&c, "SELECT id, v, w FROM t ORDER BY id").await.len(), 3);
    assert_eq!(one(&c, "SELECT w FROM t WHERE v = 'b'").await, "5");
    c.batch_execute("INSERT INTO t (v) VALUES ('d')").await.unwrap();
    let id: i64 = one(&c, "SELECT id FROM t WHERE v = 'd'").await.parse().unwrap();
    assert!(id > 3, "sequence continued after restart: {id}");
}

/// A table rewrite (ALTER COLUMN … TYPE that converts values) is a new
/// storage filled by ordinary inserts: after `kill -9`, recovery rebuilds
/// the committed rewrite and drops the one whose transaction never committed.
#[tokio::test]
async fn a_rewrite_survives_sigkill_and_an_unfinished_one_leaves_no_trace() {
    let mut s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v numeric(6,2), w text);
         CREATE INDEX t_w ON t (w);
         INSERT INTO t SELECT g, g / 4.0, g::text FROM generate_series(1, 2000) g;
         ALTER TABLE t ALTER COLUMN id TYPE bigint, ALTER COLUMN v TYPE int;
         ALTER TABLE t ALTER COLUMN w TYPE int USING w::int * 2;",
    )
    .await
    .unwrap();
    let before = rows(&c, "SELECT * FROM t ORDER BY id").await;
    let other = s.connect().await;
    other.batch_execute("BEGIN; ALTER TABLE t ALTER COLUMN v TYPE text; INSERT INTO t VALUES (9999, 'x', 1);").await.unwrap();
    s.kill9();
    s.launch(&[]);
    let c = s.connect().await;
    assert_eq!(rows(&c, "SELECT * FROM t ORDER BY id").await, before);
    assert_eq!(one(&c, "SELECT pg_typeof(v)::text || ' ' || pg_typeof(w)::text FROM t WHERE id = 1").await, "integer integer");
    assert_eq!(one(&c, "SELECT v FROM t WHERE id = 2").await, "1", "0.50 rounds half away from zero");
    assert_eq!(one(&c, "SELECT id FROM t WHERE w = 20").await, "10", "the index on w was rebuilt");
    c.batch_execute("INSERT INTO t VALUES (5000000000, 1, 1)").await.unwrap();
}
