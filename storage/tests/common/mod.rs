//! Helpers shared by the storage integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use duetdb_storage::catalog::{ColumnDef, IndexDef, TableDef};
use duetdb_storage::transaction::collect_rows;
use duetdb_storage::{Catalog, DataType, Engine, EngineConfig, Isolation, Transaction, Value};

pub fn config(dir: &Path, fsync: bool) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.wal.fsync = fsync;
    cfg.background = false;
    cfg
}

pub async fn fresh(dir: &Path, fsync: bool) -> Arc<Engine> {
    let cfg = config(dir, fsync);
    Engine::init(&cfg, Catalog::bootstrap("duet", None)).await.unwrap();
    Engine::open(cfg).await.unwrap()
}

pub async fn reopen(dir: &Path, fsync: bool) -> Arc<Engine> {
    Engine::open(config(dir, fsync)).await.unwrap()
}

/// `CREATE TABLE name (k bigint PRIMARY KEY, v bigint, s text)`.
pub async fn create_kv(engine: &Arc<Engine>, name: &str) -> Arc<TableDef> {
    let mut txn = engine.begin(Isolation::ReadCommitted);
    txn.begin_statement().unwrap();
    let mut cat = (*txn.catalog()).clone();
    let id = cat.alloc_oid();
    let idx = cat.alloc_oid();
    let relfilenode = cat.alloc_relfilenode();
    let col = ColumnDef::new;
    let columns = vec![col("k", DataType::Int64, false), col("v", DataType::Int64, true), col("s", DataType::Text, true)];
    let def = Arc::new(TableDef {
        indexes: vec![IndexDef { id: idx, name: format!("{name}_pkey"), columns: vec![0], unique: true, primary: true, constraint: true }],
        ..TableDef::new(id, "public", name, relfilenode, columns)
    });
    cat.tables.insert(id, def.clone());
    txn.set_catalog(cat).await.unwrap();
    txn.commit().await.unwrap();
    def
}

pub fn table(engine: &Arc<Engine>, name: &str) -> Arc<TableDef> {
    engine.catalog().table_by_name("public", name).cloned().unwrap()
}

/// Visible rows as (k, v) sorted by k.
pub fn kv_rows(txn: &Transaction, def: &TableDef) -> Vec<(i64, Option<i64>)> {
    let mut rows: Vec<(i64, Option<i64>)> =
        collect_rows(&txn.read_view(), def).into_iter().map(|(_, r)| (r[0].as_i64().unwrap(), r[1].as_i64())).collect();
    rows.sort();
    rows
}

/// Row id of key `k` as the current statement sees it.
pub fn find(txn: &Transaction, def: &TableDef, k: i64) -> Option<(u64, Vec<Value>)> {
    collect_rows(&txn.read_view(), def).into_iter().find(|(_, r)| r[0].as_i64() == Some(k))
}

pub fn kv(k: i64, v: i64) -> Vec<Value> {
    vec![Value::Int64(k), Value::Int64(v), Value::Text(format!("row {k}"))]
}

/// Reads everything committed, in a fresh transaction.
pub fn committed(engine: &Arc<Engine>, def: &TableDef) -> Vec<(i64, Option<i64>)> {
    let mut txn = engine.begin(Isolation::ReadCommitted);
    txn.begin_statement().unwrap();
    let rows = kv_rows(&txn, def);
    txn.rollback();
    rows
}
