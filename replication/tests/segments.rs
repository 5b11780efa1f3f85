//! A column store whose segments leave memory: scans read them back from
//! Parquet with the same answers, deletes still apply to them, filters prune
//! their row groups, a restart keeps them cold, compaction loads them, and a
//! transaction larger than memory leaves it while it is applied.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::physical_plan::{collect, displayable};
use datafusion::prelude::{SessionConfig, SessionContext};
use duetdb_replication::columnar::{ColumnSnapshot, ColumnStore};
use duetdb_replication::persist::{Persister, ResumePoint};
use duetdb_replication::segment::SegmentPool;
use duetdb_replication::segment_writer::SealedWriter;
use duetdb_replication::table::ColumnTable;
use duetdb_storage::Lsn;
use duetdb_storage::arrow_conv::table_schema;
use duetdb_storage::catalog::{Catalog, ColumnDef, TableDef};
use duetdb_storage::row::encode_row;
use duetdb_storage::store::Location;
use duetdb_storage::types::{DataType, Value};
use duetdb_storage::wal::record::Change;

const T: u32 = 16384;

fn catalog() -> Arc<Catalog> {
    let mut c = Catalog::bootstrap("duet", None);
    let columns = vec![
        ColumnDef::new("k", DataType::Int64, false),
        ColumnDef::new("v", DataType::Text, true),
        ColumnDef::new("g", DataType::Int32, true),
    ];
    let def = TableDef::new(T, "public", "t", 1, columns);
    c.tables.insert(T, Arc::new(def));
    Arc::new(c)
}

fn row(k: i64) -> Box<[u8]> {
    let types = [DataType::Int64, DataType::Text, DataType::Int32];
    encode_row(&types, &[Value::Int64(k), Value::Text(format!("v{k:07}")), Value::Int32((k % 7) as i32)])
}

/// Inserts rows `ks` (row id k + 1), one transaction, and publishes.
fn insert(store: &mut ColumnStore, ks: std::ops::Range<i64>, lsn: &mut u64) {
    let changes = ks.map(|k| Change::Insert { table: T, rowid: k as u64 + 1, row: row(k) }).collect();
    store.apply(changes).unwrap();
    *lsn += 1;
    store.publish(Lsn(*lsn)).unwrap();
}

fn delete(store: &mut ColumnStore, ks: impl Iterator<Item = i64>, lsn: &mut u64) {
    let changes = ks.map(|k| Change::Delete { table: T, rowid: k as u64 + 1 }).collect();
    store.apply(changes).unwrap();
    *lsn += 1;
    store.publish(Lsn(*lsn)).unwrap();
}

fn resume_point(lsn: Lsn) -> ResumePoint {
    ResumePoint {
        lsn,
        resume: lsn,
        in_flight: vec![],
        base_xmin: 1,
        base_xmax: 1,
        base_active: vec![],
        sequences: vec![],
        timeline: 1,
        max_txn: 1,
    }
}

/// Runs `sql` over the snapshot's table `t`: (result as text, physical plan as text).
async fn query(snap: &Arc<ColumnSnapshot>, sql: &str) -> (String, String) {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    let t = snap.tables[&T].clone();
    ctx.register_table("t", Arc::new(ColumnTable::new(t.clone(), table_schema(&t.def, false)))).unwrap();
    let df = ctx.sql(sql).await.unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    let shown = displayable(plan.as_ref()).indent(true).to_string();
    let batches = collect(plan, ctx.task_ctx()).await.unwrap();
    (pretty_format_batches(&batches).unwrap().to_string(), shown)
}

const SUMMARY: &str = "SELECT count(*), sum(k), sum(g), min(v), max(v) FROM t";
const RANGE: &str = "SELECT count(*), sum(k), min(v) FROM t WHERE k BETWEEN 150000 AND 150999";

fn resident_segments(snap: &ColumnSnapshot) -> usize {
    snap.segments().filter(|s| s.is_resident()).count()
}

/// 300,000 rows in 6 transactions, every tenth deleted, the live rows of 1000..1500 updated.
fn fill(store: &mut ColumnStore, lsn: &mut u64) {
    for i in 0..6 {
        insert(store, i * 50_000..(i + 1) * 50_000, lsn);
    }
    delete(store, (0..300_000).filter(|k| k % 10 == 0), lsn);
    let changes = (1000..1500).filter(|k| k % 10 != 0).map(|k| Change::Update { table: T, rowid: k as u64 + 1, row: row(k) }).collect();
    store.apply(changes).unwrap();
    *lsn += 1;
    store.publish(Lsn(*lsn)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicted_segments_answer_from_parquet() {
    let dir = tempfile::tempdir().unwrap();
    // A one-byte limit: every persisted segment is evicted.
    let pool = SegmentPool::new(Location::local(dir.path()).unwrap(), 1);
    let mut lsn = 1;
    let mut store = ColumnStore::new(catalog(), Lsn(lsn), pool.clone());
    fill(&mut store, &mut lsn);
    let snap = store.snapshot();
    assert!(resident_segments(&snap) > 0);
    let (summary, _) = query(&snap, SUMMARY).await;
    let (range, _) = query(&snap, RANGE).await;
    assert!(summary.contains("270000"), "{summary}");

    let mut persister = Persister::new(pool.clone());
    let info = persister.persist(&snap, resume_point(snap.lsn)).await.unwrap();
    assert!(info.segments_written > 0 && info.bytes_evicted > 0, "{info:?}");
    assert_eq!(resident_segments(&snap), 0, "every persisted segment left memory");
    assert_eq!(pool.resident(), 0);

    // The same snapshot, now read from Parquet, answers the same.
    let (cold_summary, plan) = query(&snap, SUMMARY).await;
    assert_eq!(cold_summary, summary);
    assert!(plan.contains("in memory 0"), "{plan}");
    let (cold_range, plan) = query(&snap, RANGE).await;
    assert_eq!(cold_range, range);
    // The key range lives in one insert's segment: the others are pruned.
    let pruned: usize = plan.split("pruned: segments=").nth(1).and_then(|s| s.split(',').next()).unwrap().parse().unwrap();
    assert!(pruned >= 4, "statistics should rule out most segments: {plan}");

    // Deletes land on cold segments through their live masks.
    delete(&mut store, (150_000..151_000).filter(|k| k % 10 != 0), &mut lsn);
    let (after, _) = query(&store.snapshot(), RANGE).await;
    assert!(after.contains("| 0 "), "{after}");
    let (after, _) = query(&store.snapshot(), "SELECT count(*) FROM t").await;
    assert!(after.contains("269100"), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_segments_cold_beyond_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let pool = SegmentPool::new(Location::local(dir.path()).unwrap(), usize::MAX);
    let mut lsn = 1;
    let mut store = ColumnStore::new(catalog(), Lsn(lsn), pool.clone());
    fill(&mut store, &mut lsn);
    let snap = store.snapshot();
    let (summary, _) = query(&snap, SUMMARY).await;
    Persister::new(pool.clone()).persist(&snap, resume_point(snap.lsn)).await.unwrap();
    drop((snap, store));
    assert_eq!(pool.resident(), 0, "dropped segments give their memory back");

    // Small limit: only what fits is loaded.
    let small = SegmentPool::new(Location::local(dir.path()).unwrap(), 1 << 20);
    let (restored, point, _) = Persister::load(small.clone()).await.unwrap().expect("a persisted snapshot");
    assert_eq!(point.lsn, Lsn(lsn));
    let snap = restored.snapshot();
    assert!(small.resident() <= 1 << 20, "{} resident", small.resident());
    assert!(snap.segments().any(|s| !s.is_resident()));
    assert_eq!(query(&snap, SUMMARY).await.0, summary);
    drop((snap, restored));

    // Room for everything: all loaded.
    let big = SegmentPool::new(Location::local(dir.path()).unwrap(), usize::MAX);
    let (restored, _, _) = Persister::load(big.clone()).await.unwrap().unwrap();
    let snap = restored.snapshot();
    assert_eq!(resident_segments(&snap), snap.segments().count());
    assert_eq!(query(&snap, SUMMARY).await.0, summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_loads_cold_segments_it_merges() {
    let dir = tempfile::tempdir().unwrap();
    let pool = SegmentPool::new(Location::local(dir.path()).unwrap(), 1);
    let mut lsn = 1;
    let mut store = ColumnStore::new(catalog(), Lsn(lsn), pool.clone());
    insert(&mut store, 0..100_000, &mut lsn);
    let snap = store.snapshot();
    Persister::new(pool.clone()).persist(&snap, resume_point(snap.lsn)).await.unwrap();
    assert_eq!(resident_segments(&snap), 0);
    drop(snap);

    // Most of the cold segment dies: compaction wants it back in memory.
    delete(&mut store, 0..80_000, &mut lsn);
    let wanted = store.take_wanted();
    assert_eq!(wanted.len(), 1, "the mostly-dead cold segment is asked for");
    assert_eq!(store.snapshot().segments().count(), 1, "not merged while cold");
    for s in &wanted {
        s.load().await.unwrap();
    }
    let old_file = wanted[0].file().unwrap().name.clone();
    drop(wanted);
    // The next change merges it: one segment of the 20,000 live rows plus the new one.
    insert(&mut store, 100_000..100_010, &mut lsn);
    let snap = store.snapshot();
    let rows: Vec<usize> = snap.tables[&T].segments.iter().map(|v| v.segment.rows()).collect();
    assert!(rows.contains(&20_000), "the dead rows were dropped: {rows:?}");
    let (count, _) = query(&snap, "SELECT count(*), min(k), max(k) FROM t").await;
    assert!(count.contains("20010") && count.contains("80000") && count.contains("100009"), "{count}");

    // The merged-away segment's file goes once a manifest no longer names it.
    let old_path = dir.path().join("segments").join(&old_file);
    assert!(old_path.exists());
    Persister::new(pool.clone()).persist(&snap, resume_point(snap.lsn)).await.unwrap();
    assert!(!old_path.exists(), "{old_file} should have been removed");
}

/// Waits until the writer has written everything submitted to it.
async fn writer_idle(writer: &SealedWriter) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while writer.pending() > 0 {
        assert!(std::time::Instant::now() < deadline, "the segment writer is stuck");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Files in the segments directory.
fn segment_files(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir.join("segments")).map(|d| d.map(|e| e.unwrap().file_name().into_string().unwrap()).collect()).unwrap_or_default()
}

/// One transaction many times larger than the memory limit: the segments it
/// seals go to Parquet and leave memory while it is still being applied, so
/// memory peaks at the limit plus a few segments, not at the transaction.
/// The commit then reads them from their files, a persist names them without
/// writing them again, and the files of a transaction cut short by a crash
/// are swept by the next persist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_larger_than_memory_leaves_memory_as_it_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    const LIMIT: usize = 1 << 20;
    const SEGMENT_ROWS: usize = 8192;
    let pool = SegmentPool::new(Location::local(dir.path()).unwrap(), LIMIT);
    let mut lsn = 1;
    let mut store = ColumnStore::new(catalog(), Lsn(lsn), pool.clone());
    store.set_segment_rows(SEGMENT_ROWS);
    let writer = SealedWriter::start(tokio::runtime::Handle::current()).unwrap();
    store.write_sealed_with(writer.clone());

    // 400,000 rows in one transaction, applied a chunk at a time as `apply`
    // does with a spilled one; nothing is published until its end.
    let rows: i64 = 400_000;
    for chunk in (0..rows).collect::<Vec<_>>().chunks(16 * 1024) {
        let changes = chunk.iter().map(|&k| Change::Insert { table: T, rowid: k as u64 + 1, row: row(k) }).collect();
        store.apply(changes).unwrap();
    }
    writer_idle(&writer).await;
    lsn += 1;
    store.publish(Lsn(lsn)).unwrap();
    let snap = store.snapshot();
    let total: usize = snap
        .segments()
        .map(|s| match s.file() {
            Some(f) if !s.is_resident() => f.decoded_bytes(),
            _ => s.resident_bytes(),
        })
        .sum();
    let one_segment = total / (rows as usize / SEGMENT_ROWS);
    // Limit + the segments in flight: the queue, the one being written, the
    // one just sealed, the delta.
    let bound = LIMIT + 5 * one_segment;
    assert!(total > 4 * bound, "the transaction ({total} bytes) must dwarf the bound ({bound})");
    println!("one transaction of {total} bytes as Arrow: memory peaked at {} bytes (limit {LIMIT}, bound {bound})", pool.peak());
    assert!(pool.peak() <= bound, "memory peaked at {} bytes; the bound is {bound} ({total} in all)", pool.peak());
    let written_ahead = snap.segments().filter(|s| s.file().is_some()).count();
    assert!(written_ahead >= rows as usize / SEGMENT_ROWS - 8, "{written_ahead} segments written ahead");
    let (summary, _) = query(&snap, SUMMARY).await;
    assert!(summary.contains("400000") && summary.contains("79999800000"), "{summary}");

    // The persist writes only the segments sealed before memory ran short
    // (and the last delta), and names the others' files.
    let unwritten = snap.segments().filter(|s| s.file().is_none()).count();
    assert!(unwritten <= 6, "{unwritten} segments left for the persist");
    let mut persister = Persister::new(pool.clone());
    let info = persister.persist(&snap, resume_point(snap.lsn)).await.unwrap();
    assert_eq!(info.segments_written, unwritten, "nothing written twice: {info:?}");
    let named = segment_files(dir.path());
    assert_eq!(named.len(), snap.segments().count(), "one file per segment: {named:?}");

    // A second large transaction, cut short: its files are written but no
    // manifest names them. After a restart the next persist sweeps them.
    for chunk in (rows..rows + 100_000).collect::<Vec<_>>().chunks(16 * 1024) {
        let changes = chunk.iter().map(|&k| Change::Insert { table: T, rowid: k as u64 + 1, row: row(k) }).collect();
        store.apply(changes).unwrap();
    }
    writer_idle(&writer).await;
    drop((snap, store));
    let orphans: Vec<String> = segment_files(dir.path()).difference(&named).cloned().collect();
    assert!(orphans.len() >= 8, "the cut-short transaction wrote its segments: {orphans:?}");
    let restarted = SegmentPool::new(Location::local(dir.path()).unwrap(), LIMIT);
    let (restored, point, mut persister) = Persister::load(restarted).await.unwrap().unwrap();
    assert_eq!(query(&restored.snapshot(), SUMMARY).await.0, summary);
    let snap = restored.snapshot();
    persister.persist(&snap, point).await.unwrap();
    // (The restart's first publish may have merged small segments into a
    // new file: the files are those the snapshot names, whatever they are.)
    let files = segment_files(dir.path());
    let named: std::collections::BTreeSet<String> = snap.segments().map(|s| s.file().unwrap().name.clone()).collect();
    assert_eq!(files, named, "only named files are left");
    assert!(orphans.iter().all(|o| !files.contains(o)), "the unnamed files were swept");
}
