//! Throughput benchmarks: durable commits/s at 1, 8 and 64 committers, bulk
//! load rows/s, and recovery time per GB of WAL. Prints a Markdown table.
//!
//! `cargo bench -p duetdb-storage --bench throughput`
//! Env: DUETDB_BENCH_SECS (per commit run, default 10), DUETDB_BENCH_ROWS
//! (bulk load, default 2000000), DUETDB_BENCH_WAL_MB (recovery, default 1024).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use duetdb_storage::{Engine, Isolation};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Each committer inserts one row per transaction and waits for durability.
async fn commits_per_sec(committers: usize, secs: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::fresh(dir.path()).await;
    let def = common::create_accounts(&engine).await;
    let next = Arc::new(AtomicU64::new(1));
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..committers {
        let (engine, def, next, done, stop) = (engine.clone(), def.clone(), next.clone(), done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let aid = next.fetch_add(1, Ordering::Relaxed) as i32;
                let mut txn = engine.begin(Isolation::ReadCommitted);
                txn.begin_statement().unwrap();
                txn.insert(&def, common::account(aid)).await.unwrap();
                txn.commit().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // warm up
    let start_count = done.load(Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let n = done.load(Ordering::Relaxed) - start_count;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let stats = engine.wal.stats();
    eprintln!(
        "  {committers:>2} committers: {rate:.0} commits/s ({} fsyncs, {:.1} commits per fsync)",
        stats.flushes.load(Ordering::Relaxed),
        stats.records.load(Ordering::Relaxed) as f64 / stats.flushes.load(Ordering::Relaxed).max(1) as f64
    );
    rate
}

/// Checkpoints while 8 writers commit: how long writers are held off (the cut).
async fn checkpoint_pause() -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::fresh(dir.path()).await;
    let def = common::create_accounts(&engine).await;
    common::load_accounts(&engine, &def, 1_000_000).await;
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(2_000_000));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (engine, def, stop, next) = (engine.clone(), def.clone(), stop.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let mut txn = engine.begin(Isolation::ReadCommitted);
                txn.begin_statement().unwrap();
                txn.insert(&def, common::account(next.fetch_add(1, Ordering::Relaxed) as i32)).await.unwrap();
                txn.commit().await.unwrap();
            }
        }));
    }
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    for _ in 0..5 {
        let info = engine.checkpoint().await.unwrap();
        worst = worst.max(info.pause);
        total += info.total;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    eprintln!("  checkpoint of 1M+ rows under 8 writers: worst pause {worst:?}, mean duration {:?}", total / 5);
    (worst, total / 5)
}

async fn bulk_load(rows: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::fresh(dir.path()).await;
    let def = common::create_accounts(&engine).await;
    let start = Instant::now();
    common::load_accounts(&engine, &def, rows as i32).await;
    let rate = rows as f64 / start.elapsed().as_secs_f64();
    eprintln!("  bulk load: {rows} rows in {:?}: {rate:.0} rows/s", start.elapsed());
    rate
}

/// Writes about `mb` MiB of update-heavy WAL (pgbench-like), then times recovery.
async fn recovery_secs_per_gb(mb: u64) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::fresh(dir.path()).await;
    let def = common::create_accounts(&engine).await;
    common::load_accounts(&engine, &def, 100_000).await;
    engine.checkpoint().await.unwrap();
    let start_lsn = engine.wal.insert_lsn();
    let target = mb << 20;
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let (engine, def) = (engine.clone(), def.clone());
        tasks.push(tokio::spawn(async move {
            let mut aid = (w * 12_345) as i32 % 100_000 + 1;
            while engine.wal.insert_lsn().0 - start_lsn.0 < target {
                let mut txn = engine.begin(Isolation::ReadCommitted);
                for _ in 0..10 {
                    txn.begin_statement().unwrap();
                    aid = aid % 100_000 + 1;
                    let view = txn.read_view();
                    let key = duetdb_storage::keycode::encode_key([duetdb_storage::row::ValueRef::Int32(aid)]);
                    let rowid = view.index(&def, def.indexes[0].id).unwrap().lookup(&key)[0];
                    let mut row = common::account(aid);
                    row[2] = duetdb_storage::Value::Int32(aid ^ 7);
                    let _ = txn.update(&def, rowid, row).await;
                }
                txn.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let bytes = engine.wal.insert_lsn().0 - start_lsn.0;
    engine.shutdown(false).await.unwrap();
    drop(engine);
    let start = Instant::now();
    let engine = Engine::open(common::config(dir.path())).await.unwrap();
    let secs = start.elapsed().as_secs_f64();
    eprintln!("  recovery: {} MiB of WAL in {secs:.2}s", bytes >> 20);
    eprintln!("  {}", engine.recovery_report.lock().clone().unwrap_or_default());
    (secs / (bytes as f64 / (1u64 << 30) as f64), bytes)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    if let Ok(only) = std::env::var("DUETDB_BENCH_ONLY") {
        // Run one section (for profiling).
        rt.block_on(async {
            match only.as_str() {
                "bulk" => drop(bulk_load(env("DUETDB_BENCH_ROWS", 2_000_000)).await),
                "commits64" => drop(commits_per_sec(64, env("DUETDB_BENCH_SECS", 10)).await),
                "commits1" => drop(commits_per_sec(1, env("DUETDB_BENCH_SECS", 10)).await),
                "recovery" => drop(recovery_secs_per_gb(env("DUETDB_BENCH_WAL_MB", 1024)).await),
                other => panic!("unknown section {other}"),
            }
        });
        return;
    }
    rt.block_on(async {
        let secs = env("DUETDB_BENCH_SECS", 10);
        eprintln!("durable single-row commits:");
        let c1 = commits_per_sec(1, secs).await;
        let c8 = commits_per_sec(8, secs).await;
        let c64 = commits_per_sec(64, secs).await;
        eprintln!("bulk load:");
        let bulk = bulk_load(env("DUETDB_BENCH_ROWS", 2_000_000)).await;
        eprintln!("checkpoints:");
        let (pause, ckpt) = checkpoint_pause().await;
        eprintln!("recovery:");
        let (rec, wal_bytes) = recovery_secs_per_gb(env("DUETDB_BENCH_WAL_MB", 1024)).await;
        println!("| measurement | result |");
        println!("|---|---|");
        println!("| commits/s, 1 committer | {c1:.0} |");
        println!("| commits/s, 8 committers | {c8:.0} ({:.1}× 1 committer) |", c8 / c1);
        println!("| commits/s, 64 committers | {c64:.0} ({:.1}× 1 committer) |", c64 / c1);
        println!("| bulk load, pgbench_accounts rows/s | {bulk:.0} |");
        println!("| checkpoint of 1M rows under 8 writers: worst writer pause / duration | {pause:?} / {ckpt:?} |");
        println!("| recovery, seconds per GiB of WAL | {rec:.2} (measured on {} MiB) |", wal_bytes >> 20);
    });
}
