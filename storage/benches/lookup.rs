//! Microbenchmarks (criterion): point lookups and range scans through an index
//! and MVCC visibility, on 1M pgbench_accounts rows.
//!
//! `cargo bench -p duetdb-storage --bench lookup`

mod common;

use std::ops::{Bound, ControlFlow};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use duetdb_storage::Isolation;
use duetdb_storage::keycode::encode_key;
use duetdb_storage::row::ValueRef;
use rand::Rng;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, def) = rt.block_on(async {
        let engine = common::fresh(dir.path()).await;
        let def = common::create_accounts(&engine).await;
        common::load_accounts(&engine, &def, 1_000_000).await;
        (engine, def)
    });
    let index_id = def.indexes[0].id;
    let mut txn = engine.begin(Isolation::RepeatableRead);
    txn.begin_statement().unwrap();
    let view = txn.read_view();
    let index = view.index(&def, index_id).unwrap();

    let mut g = c.benchmark_group("storage");
    g.throughput(Throughput::Elements(1));
    g.bench_function("point_lookup", |b| {
        let mut rng = rand::rng();
        b.iter(|| {
            let aid = rng.random_range(1..=1_000_000);
            let key = encode_key([ValueRef::Int32(aid)]);
            let rowids = index.lookup(&key);
            let mut found = 0usize;
            view.fetch(&def, &rowids, |_, row| {
                found += row.len();
                ControlFlow::Continue(())
            });
            assert!(found > 0);
            found
        })
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("range_scan_100_rows", |b| {
        let mut rng = rand::rng();
        b.iter(|| {
            let lo = rng.random_range(1..=999_900);
            let lo_key = encode_key([ValueRef::Int32(lo)]);
            let hi_key = encode_key([ValueRef::Int32(lo + 99)]);
            let rowids = index.range(Bound::Included(&lo_key), Bound::Included(&hi_key), usize::MAX);
            let mut n = 0usize;
            view.fetch(&def, &rowids, |_, _| {
                n += 1;
                ControlFlow::Continue(())
            });
            assert_eq!(n, 100);
            n
        })
    });
    g.throughput(Throughput::Elements(1_000_000));
    g.sample_size(10);
    g.bench_function("full_scan_1m_rows", |b| {
        b.iter(|| {
            let mut n = 0usize;
            view.scan(&def, |_, _| {
                n += 1;
                ControlFlow::Continue(())
            });
            n
        })
    });
    g.finish();
    txn.rollback();
}

criterion_group!(benches, bench);
criterion_main!(benches);
