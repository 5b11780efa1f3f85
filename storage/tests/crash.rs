//! Crash test: `kill -9` a process that is committing, many times.
//!
//! A child process (this test binary, re-run with `DUETDB_CRASH_DIR` set)
//! commits transactions from four tasks and prints `ack K` after each commit
//! returns. The parent kills it with SIGKILL at a random moment, recovers the
//! data directory, and checks: every acknowledged transaction is there, whole;
//! every transaction that is there at all is there whole (its three rows and
//! its update); nothing else. Then it lets the next child continue on the same
//! directory, so recovery also runs over WAL that earlier recoveries cut.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use duetdb_storage::{Engine, Isolation, WriteOutcome};
use rand::Rng;

const ROUNDS: usize = 12;
const OFFSET: i64 = 1_000_000_000;

#[test]
fn acknowledged_commits_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = common::fresh(dir.path(), true).await;
        common::create_kv(&engine, "t").await;
        engine.shutdown(false).await.unwrap();
    });
    let mut acked = BTreeSet::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env("DUETDB_CRASH_DIR", dir.path())
            .env("DUETDB_CRASH_CHECKPOINT", if round % 3 == 1 { "1" } else { "0" })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(k) = line.strip_prefix("ack ") {
                    acks.push(k.trim().parse::<i64>().unwrap());
                }
            }
            acks
        });
        let wait = rand::rng().random_range(150..900);
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let round_acks = reader.join().unwrap();
        acked.extend(round_acks.iter().copied());

        let present = rt.block_on(async {
            let engine = Engine::open(common::config(dir.path(), true)).await.unwrap();
            let def = common::table(&engine, "t");
            let rows = common::committed(&engine, &def);
            engine.shutdown(false).await.unwrap();
            rows
        });
        // Group rows by transaction key.
        let mut keys = BTreeSet::new();
        for &(k, v) in &present {
            let base = k % OFFSET;
            keys.insert(base);
            assert_eq!(v, Some(base * 2), "row {k} lost its transaction's update");
        }
        for &base in &keys {
            for part in 0..3 {
                assert!(
                    present.iter().any(|&(k, _)| k == base + part * OFFSET),
                    "round {round}: transaction {base} is partly there (row {} missing)",
                    base + part * OFFSET
                );
            }
        }
        for k in &acked {
            assert!(keys.contains(k), "round {round}: acknowledged transaction {k} lost");
        }
        eprintln!("round {round}: {} acks this round, {} transactions present", round_acks.len(), keys.len());
    }
    assert!(acked.len() > 100, "too few commits to mean anything: {}", acked.len());
}

/// The child: commits until killed.
#[test]
#[ignore]
fn crash_child() {
    let Ok(dir) = std::env::var("DUETDB_CRASH_DIR") else { return };
    let checkpoint = std::env::var("DUETDB_CRASH_CHECKPOINT").as_deref() == Ok("1");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let engine = Engine::open(common::config(std::path::Path::new(&dir), true)).await.unwrap();
        let def = common::table(&engine, "t");
        let start = common::committed(&engine, &def).iter().map(|(k, _)| k % OFFSET).max().unwrap_or(0) + 1;
        let next = Arc::new(std::sync::atomic::AtomicI64::new(start));
        if checkpoint {
            let e = engine.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    e.checkpoint().await.unwrap();
                }
            });
        }
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let engine = engine.clone();
            let def = def.clone();
            let next = next.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let mut txn = engine.begin(Isolation::ReadCommitted);
                    txn.begin_statement().unwrap();
                    for part in 0..3 {
                        txn.insert(&def, common::kv(k + part * OFFSET, 0)).await.unwrap();
                    }
                    txn.begin_statement().unwrap();
                    for part in 0..3 {
                        let (rowid, _) = common::find(&txn, &def, k + part * OFFSET).unwrap();
                        let r = txn.update(&def, rowid, common::kv(k + part * OFFSET, k * 2)).await.unwrap();
                        assert_eq!(r, WriteOutcome::Done);
                    }
                    txn.commit().await.unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {k}").unwrap();
                    out.flush().unwrap();
                }
            }));
        }
        futures::future::join_all(tasks).await;
    });
}
