//! Property test: random transaction histories against a simple model.
//!
//! The model is a `BTreeMap` of committed rows, a working copy for the open
//! transaction, and a stack of copies for its savepoints. Random operations —
//! including restarts (recovery from the WAL), checkpoints and vacuum between
//! transactions — run against both, and every read, error and final state must
//! agree. Transactions run one at a time here; `concurrency.rs` covers overlap.

mod common;

use std::collections::BTreeMap;

use duetdb_storage::{Error, Isolation, WriteOutcome};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Insert(i64, i64),
    Update(i64, i64),
    Delete(i64),
    Get(i64),
    Savepoint,
    RollbackToSavepoint,
    Commit,
    Rollback,
    Restart,
    Checkpoint,
    Vacuum,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0i64..8;
    prop_oneof![
        4 => (key.clone(), any::<i16>()).prop_map(|(k, v)| Op::Insert(k, v as i64)),
        3 => (key.clone(), any::<i16>()).prop_map(|(k, v)| Op::Update(k, v as i64)),
        2 => key.clone().prop_map(Op::Delete),
        2 => key.prop_map(Op::Get),
        1 => Just(Op::Savepoint),
        1 => Just(Op::RollbackToSavepoint),
        2 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        1 => Just(Op::Restart),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Vacuum),
    ]
}

type Rows = BTreeMap<i64, i64>;

fn run(ops: Vec<Op>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = common::fresh(dir.path(), false).await;
        common::create_kv(&engine, "t").await;
        let mut committed: Rows = Rows::new();
        // Open transaction: (txn, working copy, savepoints, failed).
        let mut open: Option<(duetdb_storage::Transaction, Rows, Vec<Rows>, bool)> = None;
        for op in ops {
            match op {
                Op::Restart | Op::Checkpoint | Op::Vacuum => {
                    if let Some((txn, ..)) = open.take() {
                        txn.rollback();
                    }
                    match op {
                        Op::Restart => {
                            engine.shutdown(false).await.unwrap();
                            drop(engine);
                            engine = common::reopen(dir.path(), false).await;
                        }
                        Op::Checkpoint => {
                            engine.checkpoint().await.unwrap();
                        }
                        _ => {
                            engine.vacuum();
                        }
                    }
                    let def = common::table(&engine, "t");
                    let got: Rows = common::committed(&engine, &def).into_iter().map(|(k, v)| (k, v.unwrap())).collect();
                    assert_eq!(got, committed, "after {op:?}");
                    continue;
                }
                _ => {}
            }
            if open.is_none() {
                open = Some((engine.begin(Isolation::RepeatableRead), committed.clone(), Vec::new(), false));
            }
            let (txn, work, saves, failed) = open.as_mut().unwrap();
            let def = common::table(&engine, "t");
            match op {
                Op::Commit => {
                    let (txn, work, _, failed) = open.take().unwrap();
                    txn.commit().await.unwrap();
                    if !failed {
                        committed = work;
                    }
                }
                Op::Rollback => {
                    let (txn, ..) = open.take().unwrap();
                    txn.rollback();
                }
                Op::Savepoint => {
                    if !*failed {
                        txn.savepoint(&format!("s{}", saves.len())).unwrap();
                        saves.push(work.clone());
                    }
                }
                Op::RollbackToSavepoint => {
                    if let Some(snapshot) = saves.last() {
                        txn.rollback_to_savepoint(&format!("s{}", saves.len() - 1)).unwrap();
                        *work = snapshot.clone();
                        *failed = false;
                    }
                }
                _ if *failed => {}
                Op::Insert(k, v) => {
                    txn.begin_statement().unwrap();
                    let r = txn.insert(&def, common::kv(k, v)).await;
                    if work.contains_key(&k) {
                        assert!(matches!(r, Err(Error::UniqueViolation { .. })), "insert dup {k}: {r:?}");
                        txn.fail();
                        *failed = true;
                    } else {
                        r.unwrap();
                        work.insert(k, v);
                    }
                }
                Op::Update(k, v) => {
                    txn.begin_statement().unwrap();
                    match common::find(txn, &def, k) {
                        Some((rowid, _)) => {
                            assert!(work.contains_key(&k));
                            assert_eq!(txn.update(&def, rowid, common::kv(k, v)).await.unwrap(), WriteOutcome::Done);
                            work.insert(k, v);
                        }
                        None => assert!(!work.contains_key(&k)),
                    }
                }
                Op::Delete(k) => {
                    txn.begin_statement().unwrap();
                    match common::find(txn, &def, k) {
                        Some((rowid, _)) => {
                            assert_eq!(txn.delete(&def, rowid).await.unwrap(), WriteOutcome::Done);
                            work.remove(&k);
                        }
                        None => assert!(!work.contains_key(&k)),
                    }
                }
                Op::Get(k) => {
                    txn.begin_statement().unwrap();
                    let got = common::find(txn, &def, k).map(|(_, r)| r[1].as_i64().unwrap());
                    assert_eq!(got, work.get(&k).copied(), "get {k}");
                }
                _ => unreachable!(),
            }
        }
        if let Some((txn, ..)) = open.take() {
            txn.rollback();
        }
        // Finally, everything survives recovery.
        engine.shutdown(false).await.unwrap();
        drop(engine);
        let engine = common::reopen(dir.path(), false).await;
        let def = common::table(&engine, "t");
        let got: Rows = common::committed(&engine, &def).into_iter().map(|(k, v)| (k, v.unwrap())).collect();
        assert_eq!(got, committed, "after final recovery");
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn histories_match_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops);
    }
}
