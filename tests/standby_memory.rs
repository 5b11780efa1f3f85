//! A standby whose data is many times its `columnar_memory_limit`: its
//! segments live in Parquet and are scanned from there, with statistics
//! pruning, and every answer still equals the primary's — through the base
//! backup, streaming updates and deletes, DDL, and a restart.

mod common;

use std::time::{Duration, Instant};

use common::*;

const LIMIT: f64 = 512.0 * 1024.0;

/// What both servers must agree on.
const CHECKS: [&str; 4] = [
    "SELECT count(*), sum(id), sum(amount), sum(length(name)) FROM big",
    "SELECT grp, count(*), sum(amount), min(name), max(name) FROM big GROUP BY grp ORDER BY grp",
    "SELECT count(*), sum(amount) FROM big WHERE id BETWEEN 120000 AND 121000",
    "SELECT id, grp, name, amount FROM big WHERE id % 9973 = 0 ORDER BY id",
];

async fn same_answers(p: &tokio_postgres::Client, s: &tokio_postgres::Client, when: &str) {
    same_answers_to(p, s, &CHECKS, when).await;
}

/// Once the standby has caught up, each of `queries` answers as on the primary.
async fn same_answers_to(p: &tokio_postgres::Client, s: &tokio_postgres::Client, queries: &[&str], when: &str) {
    catch_up(p, s).await;
    for q in queries {
        assert_eq!(rows(s, q).await, rows(p, q).await, "{when}: {q}");
    }
}

/// Waits until the standby's resident segments are back under the limit
/// (the next persist evicts what went over); returns them.
fn settles_under_limit(metrics_port: u16) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = get(metrics_port, "/metrics");
        let resident = value(&body, "duetdb_standby_segment_memory_bytes");
        assert_eq!(value(&body, "duetdb_standby_segment_memory_limit_bytes"), LIMIT);
        if resident <= LIMIT {
            return resident;
        }
        assert!(Instant::now() < deadline, "resident segments stayed at {resident} bytes, over the {LIMIT} limit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_beyond_its_memory_limit_answers_from_parquet() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    // About 20 MB as Arrow columns: forty times the standby's limit.
    p.batch_execute(
        "CREATE TABLE big (id int PRIMARY KEY, grp int NOT NULL, name text, amount numeric(12,2));
         INSERT INTO big SELECT g, g % 13, 'customer number ' || g, g * 0.25 FROM generate_series(1, 300000) g;",
    )
    .await
    .unwrap();

    let mport = free_port();
    let settings = [
        ("columnar_memory_limit".to_string(), "512kB".to_string()),
        ("columnar_persist_interval".to_string(), "100ms".to_string()),
        ("metrics_port".to_string(), mport.to_string()),
    ];
    let mut standby = TestServer::start_standby(&primary, &settings);
    let s = standby.connect().await;
    assert_eq!(one(&s, "SHOW columnar_memory_limit").await, "512kB");
    same_answers(&p, &s, "after the base backup").await;
    settles_under_limit(mport);
    // Rows in row-id order cost the row-id map a fraction of a byte each
    // (`row_locations`); a flat map would be 8 bytes per row, 2.4 MB here.
    let body = get(mport, "/metrics").1;
    let row_map = value(&body, "duetdb_standby_row_map_bytes");
    assert!(row_map > 0.0 && row_map < 300_000.0, "row-id map of {row_map} bytes for 300,000 rows");

    // A key range reads only the row groups that can hold it, from Parquet.
    let plan = rows(&s, "EXPLAIN SELECT count(*) FROM big WHERE id BETWEEN 120000 AND 121000").await;
    let plan: String = plan.iter().flatten().flatten().cloned().collect::<Vec<_>>().join("\n");
    let scan = plan.lines().find(|l| l.contains("SegmentScanExec")).unwrap_or_else(|| panic!("{plan}"));
    assert!(scan.contains("in memory 0"), "{scan}");
    assert!(!scan.contains("row_groups=0"), "statistics pruned nothing: {scan}");

    // Streaming changes land on cold segments: updates (delete + insert),
    // deletes that kill whole row groups, and updates that leave segments
    // mostly dead (compaction reads them back to rewrite them).
    p.batch_execute(
        "UPDATE big SET amount = amount + 1 WHERE id % 3 = 0;
         DELETE FROM big WHERE id > 250000;
         UPDATE big SET grp = grp + 100 WHERE id <= 90000;",
    )
    .await
    .unwrap();
    same_answers(&p, &s, "after streamed changes").await;
    settles_under_limit(mport);
    let peak = value(&get(mport, "/metrics").1, "duetdb_standby_segment_memory_peak_bytes");
    assert!(peak > 0.0, "the changes were applied in memory first");

    // DDL: a column added with a default reads it on segments that predate it.
    p.batch_execute("ALTER TABLE big ADD COLUMN note text DEFAULT 'n/a'; UPDATE big SET note = 'x' WHERE id < 10").await.unwrap();
    catch_up(&p, &s).await;
    let q = "SELECT note, count(*) FROM big GROUP BY note ORDER BY note";
    assert_eq!(rows(&s, q).await, rows(&p, q).await);

    // A restart keeps what does not fit in its files.
    drop(s);
    standby.stop();
    standby.launch(&settings);
    let s = standby.connect().await;
    same_answers(&p, &s, "after a restart").await;
    assert_eq!(rows(&s, q).await, rows(&p, q).await);
    let log = standby.log_text();
    assert!(log.contains("standby resumed from its persisted state"), "{log}");
    assert_eq!(log.matches("base backup loaded").count(), 1, "{log}");
    settles_under_limit(mport);
}

/// A transaction whose WAL is larger than the standby buffers
/// (`apply::SPILL_BYTES`, 16 MB) is applied by reading it back from the
/// standby's local WAL at its commit: savepoint rollbacks inside it,
/// transactions interleaved with it, and a standby restart while it is open
/// all end with the primary's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_too_large_to_buffer_is_applied_from_the_local_wal() {
    let primary = TestServer::start();
    let p = primary.connect().await;
    let other = primary.connect().await;
    p.batch_execute(
        "CREATE TABLE big (id int PRIMARY KEY, grp int NOT NULL, name text, amount numeric(12,2));
         CREATE TABLE side (id int PRIMARY KEY, v text);",
    )
    .await
    .unwrap();
    let mport = free_port();
    let settings = [("metrics_port".to_string(), mport.to_string()), ("columnar_persist_interval".to_string(), "100ms".to_string())];
    let mut standby = TestServer::start_standby(&primary, &settings);
    let spilled = |port: u16| value(&get(port, "/metrics").1, "duetdb_standby_spilled_transactions_total");
    let checks = [
        "SELECT count(*), sum(id), sum(amount), sum(length(name)), sum(grp) FROM big",
        "SELECT id, grp, name, amount FROM big WHERE id % 9973 = 0 OR id > 400000 ORDER BY id",
        "SELECT count(*), min(v), max(v) FROM side",
    ];
    let pad = "x".repeat(80);

    // One transaction, ~40 MB of WAL: inserts, a rolled-back savepoint, an
    // update and deletes kept, a released savepoint; another session commits
    // small transactions in between.
    p.batch_execute("BEGIN").await.unwrap();
    p.batch_execute(&format!("INSERT INTO big SELECT g, g % 13, '{pad}' || g, g * 0.25 FROM generate_series(1, 200000) g")).await.unwrap();
    other.batch_execute("INSERT INTO side VALUES (1, 'during the big one')").await.unwrap();
    p.batch_execute(&format!(
        "SAVEPOINT a;
         INSERT INTO big SELECT g, 99, '{pad}', 0 FROM generate_series(200001, 300000) g;
         UPDATE big SET amount = -1 WHERE id % 7 = 0;
         ROLLBACK TO a;
         DELETE FROM big WHERE id % 5 = 0;
         UPDATE big SET grp = grp + 100, name = 'updated ' || id WHERE id % 11 = 0;
         SAVEPOINT b;
         INSERT INTO big SELECT g, 7, 'late ' || g, 1.5 FROM generate_series(400001, 401000) g;
         RELEASE b;"
    ))
    .await
    .unwrap();
    other.batch_execute("INSERT INTO side VALUES (2, 'still during it')").await.unwrap();
    p.batch_execute("COMMIT").await.unwrap();
    let s = standby.connect().await;
    same_answers_to(&p, &s, &checks, "after the big transaction").await;
    assert_eq!(spilled(mport), 1.0, "the big transaction was read back from the local WAL");

    // A standby restart while a large transaction is open: the restart
    // replays from its first record and spills it again.
    p.batch_execute("BEGIN").await.unwrap();
    p.batch_execute(&format!("UPDATE big SET name = '{pad}{pad}' || id WHERE grp < 100")).await.unwrap();
    catch_up(&other, &s).await;
    drop(s);
    standby.stop();
    standby.launch(&settings);
    p.batch_execute("INSERT INTO big VALUES (500000, 1, 'last', 2); COMMIT").await.unwrap();
    let s = standby.connect().await;
    same_answers_to(&p, &s, &checks, "after a restart").await;
    assert_eq!(spilled(mport), 1.0, "the open transaction spilled again after the restart");
    let log = standby.log_text();
    assert_eq!(log.matches("base backup loaded").count(), 1, "{log}");
}
