//! Shared setup for the storage benchmarks.
#![allow(dead_code)]

use std::path::Path;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::sync::Arc;

use duetdb_storage::catalog::{ColumnDef, IndexDef, TableDef};
use duetdb_storage::{Catalog, DataType, Engine, EngineConfig, Isolation, Value};

pub fn config(dir: &Path) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.background = false;
    cfg.max_wal_size = u64::MAX;
    cfg
}

pub async fn fresh(dir: &Path) -> Arc<Engine> {
    huge_pages();
    let cfg = config(dir);
    Engine::init(&cfg, Catalog::bootstrap("duet", None)).await.unwrap();
    Engine::open(cfg).await.unwrap()
}

/// The server's `huge_pages` (src/huge_pages.rs): off unless HUGE_PAGES=try.
fn huge_pages() {
    let allow = std::env::var("HUGE_PAGES").is_ok_and(|v| v == "try" || v == "on");
    // SAFETY: PR_SET_THP_DISABLE takes one integer flag and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, if allow { 0 } else { 1 } as libc::c_ulong, 0, 0, 0) };
}

/// pgbench_accounts: (aid int PRIMARY KEY, bid int, abalance int, filler char(84)).
pub async fn create_accounts(engine: &Arc<Engine>) -> Arc<TableDef> {
    let mut txn = engine.begin(Isolation::ReadCommitted);
    txn.begin_statement().unwrap();
    let mut cat = (*txn.catalog()).clone();
    let id = cat.alloc_oid();
    let idx = cat.alloc_oid();
    let relfilenode = cat.alloc_relfilenode();
    let col = ColumnDef::new;
    let columns = vec![
        col("aid", DataType::Int32, false),
        col("bid", DataType::Int32, true),
        col("abalance", DataType::Int32, true),
        col("filler", DataType::Char(84), true),
    ];
    let def = Arc::new(TableDef {
        indexes: vec![IndexDef {
            id: idx,
            name: "pgbench_accounts_pkey".into(),
            columns: vec![0],
            unique: true,
            primary: true,
            constraint: true,
        }],
        ..TableDef::new(id, "public", "pgbench_accounts", relfilenode, columns)
    });
    cat.tables.insert(id, def.clone());
    txn.set_catalog(cat).await.unwrap();
    txn.commit().await.unwrap();
    def
}

pub fn account(aid: i32) -> Vec<Value> {
    vec![Value::Int32(aid), Value::Int32(aid / 100_000 + 1), Value::Int32(0), Value::Text(String::new())]
}

/// Loads `n` accounts in one transaction.
pub async fn load_accounts(engine: &Arc<Engine>, def: &Arc<TableDef>, n: i32) {
    let mut txn = engine.begin(Isolation::ReadCommitted);
    txn.begin_statement().unwrap();
    let mut batch = Vec::with_capacity(10_000);
    for aid in 1..=n {
        batch.push(account(aid));
        if batch.len() == 10_000 {
            txn.insert_batch(def, std::mem::take(&mut batch)).await.unwrap();
        }
    }
    txn.insert_batch(def, batch).await.unwrap();
    txn.commit().await.unwrap();
}
