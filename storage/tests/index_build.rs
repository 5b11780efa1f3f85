//! Building an index over rows that are already there (CREATE INDEX, ADD
//! PRIMARY KEY): a unique index refuses two live rows with one key, ignores
//! keys only dead versions hold, and the built index answers like one filled
//! row by row.

mod common;

use std::ops::Bound;
use std::sync::Arc;

use duetdb_storage::catalog::IndexDef;
use duetdb_storage::keycode::encode_key;
use duetdb_storage::row::ValueRef;
use duetdb_storage::{Engine, Error, Isolation, TableDef};

/// Adds an index on column `v` of `def` in its own transaction.
async fn add_index(engine: &Arc<Engine>, def: &TableDef, unique: bool) -> Result<Arc<TableDef>, Error> {
    let mut txn = engine.begin(Isolation::ReadCommitted);
    txn.begin_statement().unwrap();
    let mut cat = (*txn.catalog()).clone();
    let id = cat.alloc_oid();
    let mut t = (*cat.tables[&def.id]).clone();
    t.indexes.push(IndexDef { id, name: format!("{}_v_idx", def.name), columns: vec![1], unique, primary: false, constraint: unique });
    let t = Arc::new(t);
    cat.tables.insert(def.id, t.clone());
    txn.set_catalog(cat).await?;
    txn.commit().await?;
    Ok(t)
}

/// A fresh engine with `create_kv`'s table "t" holding `rows` as (k, v), committed.
async fn kv_table(rows: impl IntoIterator<Item = (i64, i64)>) -> (tempfile::TempDir, Arc<Engine>, Arc<TableDef>) {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::fresh(dir.path(), false).await;
    let def = common::create_kv(&engine, "t").await;
    let mut txn = engine.begin(Isolation::ReadCommitted);
    txn.begin_statement().unwrap();
    for (k, v) in rows {
        txn.insert(&def, common::kv(k, v)).await.unwrap();
    }
    txn.commit().await.unwrap();
    (dir, engine, def)
}

fn v_key(v: i64) -> Vec<u8> {
    encode_key([ValueRef::Int64(v)])
}

#[tokio::test]
async fn a_unique_index_over_duplicates_is_refused_with_the_key() {
    // v: 0..1000 once each, except 777 twice (rows 777 and 5000).
    let (_dir, engine, def) = kv_table((0..1000).map(|k| (k, k)).chain([(5000, 777)])).await;
    match add_index(&engine, &def, true).await {
        Err(Error::UniqueViolation { constraint, detail }) => {
            assert_eq!(constraint, "t_v_idx");
            assert_eq!(detail, "Key (v)=(777) is duplicated.");
        }
        other => panic!("expected a unique violation, got {:?}", other.map(|_| ())),
    }
    // The failed DDL left no index behind.
    assert_eq!(common::table(&engine, "t").indexes.len(), 1);
}

#[tokio::test]
async fn keys_held_only_by_dead_versions_do_not_conflict_and_the_index_answers() {
    // Enough rows that the unique index's hash map is filled on a second thread.
    let (_dir, engine, def) = kv_table((0..40_000).map(|k| (k, 10 * k))).await;
    // An older snapshot keeps the versions below alive (no pruning).
    let mut old = engine.begin(Isolation::RepeatableRead);
    old.begin_statement().unwrap();
    // Row 1 moves from v = 10 to v = 20, the value row 2 held before it was
    // deleted: the old versions still carry 10 and 20, only one live row has 20.
    let mut txn = engine.begin(Isolation::ReadCommitted);
    txn.begin_statement().unwrap();
    let (r2, _) = common::find(&txn, &def, 2).unwrap();
    txn.delete(&def, r2).await.unwrap();
    txn.begin_statement().unwrap();
    let (r1, _) = common::find(&txn, &def, 1).unwrap();
    txn.update(&def, r1, common::kv(1, 20)).await.unwrap();
    txn.commit().await.unwrap();

    let def = add_index(&engine, &def, true).await.expect("no two live rows share a v");
    let mut txn = engine.begin(Isolation::ReadCommitted);
    txn.begin_statement().unwrap();
    let view = txn.read_view();
    let index = view.index(&def, def.indexes[1].id).unwrap();
    // Candidates include every row a version of which had the key (readers
    // check visibility): both rows under 20, row 1 also under 10.
    let mut under_20 = index.lookup(&v_key(20)).to_vec();
    under_20.sort_unstable();
    assert_eq!(under_20, [r1, r2]);
    assert_eq!(index.lookup(&v_key(10)).to_vec(), [r1]);
    assert_eq!(index.lookup(&v_key(299_990)).len(), 1);
    assert!(index.lookup(&v_key(15)).is_empty());
    // A range walks the built tree in key order: v in [100, 200] are rows 10..=20.
    let rows = index.range(Bound::Included(&v_key(100)), Bound::Included(&v_key(200)), usize::MAX);
    assert_eq!(rows.len(), 11);
    // And the unique index keeps working for new rows.
    txn.insert(&def, common::kv(90_000, 12_345)).await.unwrap();
    assert!(matches!(txn.insert(&def, common::kv(90_001, 12_345)).await, Err(Error::UniqueViolation { .. })));
    drop(old);
}
