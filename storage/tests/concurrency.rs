//! Concurrent transactions keep invariants.
//!
//! Bank transfers between a few hot accounts from many tasks, under both
//! isolation levels, with random rollbacks and deadlock-prone lock orders. A
//! transfer that fails with 40001 or 40P01 is retried, as an application
//! would. However the interleaving goes, money is neither created nor
//! destroyed — live, after a checkpoint, and after recovery — and no task
//! hangs.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use duetdb_storage::{Engine, Error, Isolation, WriteOutcome};
use rand::Rng;

const ACCOUNTS: i64 = 5;
const START: i64 = 1000;

async fn transfer(engine: &Arc<Engine>, iso: Isolation, from: i64, to: i64, amount: i64, abort: bool) -> Result<(), Error> {
    let def = common::table(engine, "acct");
    let mut txn = engine.begin(iso);
    // Lock order follows the transfer direction: deadlocks are possible on purpose.
    for (k, delta) in [(from, -amount), (to, amount)] {
        loop {
            txn.begin_statement()?;
            let (rowid, row) = common::find(&txn, &def, k).expect("account exists");
            let bal = row[1].as_i64().unwrap();
            match txn.update(&def, rowid, common::kv(k, bal + delta)).await {
                Ok(WriteOutcome::Done) => break,
                Ok(o) => panic!("unexpected {o:?}"),
                Err(Error::RetryStatement) => {
                    txn.rollback_statement()?;
                    continue;
                }
                Err(e) => {
                    txn.rollback();
                    return Err(e);
                }
            }
        }
    }
    if abort {
        txn.rollback();
    } else {
        txn.commit().await?;
    }
    Ok(())
}

fn total(engine: &Arc<Engine>) -> i64 {
    let def = common::table(engine, "acct");
    common::committed(engine, &def).iter().map(|(_, v)| v.unwrap()).sum()
}

async fn run(iso: Isolation) {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::fresh(dir.path(), false).await;
    let def = common::create_kv(&engine, "acct").await;
    let mut txn = engine.begin(Isolation::ReadCommitted);
    txn.begin_statement().unwrap();
    for k in 0..ACCOUNTS {
        txn.insert(&def, common::kv(k, START)).await.unwrap();
    }
    txn.commit().await.unwrap();

    let committed = Arc::new(AtomicU64::new(0));
    let retried = Arc::new(AtomicU64::new(0));
    // Every snapshot taken while transfers run sees money conserved: commits
    // become visible whole, and one that wrote over another's balance never
    // shows without it.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checker = {
        let (engine, done) = (engine.clone(), done.clone());
        tokio::spawn(async move {
            let mut checks = 0u64;
            while !done.load(Ordering::Relaxed) {
                assert_eq!(total(&engine), ACCOUNTS * START, "a snapshot saw money created or destroyed");
                checks += 1;
                tokio::task::yield_now().await;
            }
            checks
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let engine = engine.clone();
        let committed = committed.clone();
        let retried = retried.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..150 {
                let (from, to, amount, abort) = {
                    let mut rng = rand::rng();
                    let from = rng.random_range(0..ACCOUNTS);
                    let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
                    (from, to, rng.random_range(1..50), rng.random_bool(0.1))
                };
                loop {
                    match transfer(&engine, iso, from, to, amount, abort).await {
                        Ok(()) => break,
                        Err(e) if matches!(e.sqlstate(), "40001" | "40P01") => {
                            retried.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("transfer failed: {e}"),
                    }
                }
                if !abort {
                    committed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let all = futures::future::join_all(tasks);
    tokio::time::timeout(Duration::from_secs(120), all).await.expect("transfers hung").into_iter().for_each(|r| r.unwrap());
    done.store(true, Ordering::Relaxed);
    assert!(checker.await.unwrap() > 0);
    assert_eq!(total(&engine), ACCOUNTS * START);
    assert!(committed.load(Ordering::Relaxed) > 0);
    if iso == Isolation::RepeatableRead {
        assert!(retried.load(Ordering::Relaxed) > 0, "hot accounts under RR should see conflicts");
    }

    engine.vacuum();
    engine.checkpoint().await.unwrap();
    assert_eq!(total(&engine), ACCOUNTS * START);
    engine.shutdown(false).await.unwrap();
    drop(engine);
    let engine = common::reopen(dir.path(), false).await;
    assert_eq!(total(&engine), ACCOUNTS * START);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfers_conserve_money_read_committed() {
    run(Isolation::ReadCommitted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfers_conserve_money_repeatable_read() {
    run(Isolation::RepeatableRead).await;
}

/// A checkpoint taken while writers run is a consistent cut: recovery from it
/// (plus the WAL) yields exactly the committed state. (How long writers pause
/// is measured in `benches/throughput.rs`, not asserted here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkpoint_under_load_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::fresh(dir.path(), false).await;
    let def = common::create_kv(&engine, "t").await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4i64 {
        let engine = engine.clone();
        let def = def.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let mut txn = engine.begin(Isolation::ReadCommitted);
                txn.begin_statement().unwrap();
                // Key ranges a billion apart: a writer never reaches the next one's.
                for i in 0..10 {
                    txn.insert(&def, common::kv(w * 1_000_000_000 + n * 10 + i, n)).await.unwrap();
                }
                txn.commit().await.unwrap();
                n += 1;
            }
            n
        }));
    }
    // Many cuts, close together: a commit racing a cut (its record appended,
    // not yet visible) must be replayed, not lost.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        engine.checkpoint().await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let mut txns = 0;
    for w in writers {
        txns += w.await.unwrap();
    }
    let rows = common::committed(&engine, &def).len() as i64;
    assert_eq!(rows, txns * 10);
    engine.shutdown(false).await.unwrap();
    drop(engine);
    let engine = common::reopen(dir.path(), false).await;
    assert_eq!(common::committed(&engine, &def).len() as i64, rows);
}
