//! Torn and corrupt WAL.
//!
//! A crash can leave the last write half done: recovery must cut the log at
//! the last valid record and keep every earlier commit. Damage *before* the
//! tail — bytes that had been flushed and were later corrupted — must stop
//! recovery with a clear error instead of silently dropping the commits after it.

mod common;

use std::path::{Path, PathBuf};

use duetdb_storage::wal::segment::{list_segments, segment_path};
use duetdb_storage::{Engine, Isolation};

/// Commits `n` single-row transactions (each flushed before the next starts),
/// and returns the WAL segment files.
async fn write_commits(dir: &Path, n: i64) -> Vec<PathBuf> {
    let engine = common::fresh(dir, true).await;
    let def = common::create_kv(&engine, "t").await;
    for k in 0..n {
        let mut txn = engine.begin(Isolation::ReadCommitted);
        txn.begin_statement().unwrap();
        txn.insert(&def, common::kv(k, k)).await.unwrap();
        txn.commit().await.unwrap();
    }
    engine.shutdown(false).await.unwrap();
    drop(engine);
    let wal = dir.join("wal");
    list_segments(&wal).unwrap().into_iter().map(|s| segment_path(&wal, s)).collect()
}

async fn keys_after_recovery(dir: &Path) -> Result<Vec<i64>, duetdb_storage::Error> {
    let engine = Engine::open(common::config(dir, true)).await?;
    let def = common::table(&engine, "t");
    let keys = common::committed(&engine, &def).into_iter().map(|(k, _)| k).collect();
    Ok(keys)
}

#[tokio::test]
async fn truncated_tail_is_cut_at_the_last_whole_record() {
    let dir = tempfile::tempdir().unwrap();
    let segs = write_commits(dir.path(), 20).await;
    let last = segs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    // Cut somewhere inside the last commit record (each is well over 30 bytes).
    std::fs::OpenOptions::new().write(true).open(last).unwrap().set_len(len - 7).unwrap();
    let keys = keys_after_recovery(dir.path()).await.unwrap();
    assert_eq!(keys, (0..19).collect::<Vec<_>>(), "the torn last commit is gone, all before it stay");
    // The cut is permanent: new commits continue from there and survive.
    let engine = Engine::open(common::config(dir.path(), true)).await.unwrap();
    let def = common::table(&engine, "t");
    let mut txn = engine.begin(Isolation::ReadCommitted);
    txn.begin_statement().unwrap();
    txn.insert(&def, common::kv(100, 100)).await.unwrap();
    txn.commit().await.unwrap();
    engine.shutdown(false).await.unwrap();
    drop(engine);
    let keys = keys_after_recovery(dir.path()).await.unwrap();
    assert_eq!(keys.len(), 20);
    assert_eq!(*keys.last().unwrap(), 100);
}

#[tokio::test]
async fn flipped_byte_in_the_last_record_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let segs = write_commits(dir.path(), 10).await;
    let last = segs.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xFF;
    std::fs::write(last, &bytes).unwrap();
    let keys = keys_after_recovery(dir.path()).await.unwrap();
    assert_eq!(keys, (0..9).collect::<Vec<_>>());
}

#[tokio::test]
async fn garbage_after_the_end_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let segs = write_commits(dir.path(), 5).await;
    let last = segs.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    bytes.extend(std::iter::repeat_n(0u8, 4096)); // a preallocated, never written tail
    bytes.extend((0..200u8).map(|i| i.wrapping_mul(37)));
    std::fs::write(last, &bytes).unwrap();
    assert_eq!(keys_after_recovery(dir.path()).await.unwrap(), (0..5).collect::<Vec<_>>());
}

#[tokio::test]
async fn corruption_before_the_tail_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let segs = write_commits(dir.path(), 30).await;
    let last = segs.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    // Damage a byte around the middle: records after it were written once it was flushed.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5A;
    std::fs::write(last, &bytes).unwrap();
    let err = keys_after_recovery(dir.path()).await.unwrap_err();
    assert_eq!(err.sqlstate(), "XX001", "{err}");
    assert!(err.to_string().contains("corrupt before its end"), "{err}");
}

#[tokio::test]
async fn every_tail_truncation_recovers_a_prefix() {
    // Cut the log at every byte of its last few records: recovery always
    // succeeds and yields a prefix of the commit sequence.
    let dir = tempfile::tempdir().unwrap();
    let segs = write_commits(dir.path(), 8).await;
    let last = segs.last().unwrap().clone();
    let full = std::fs::read(&last).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for cut in (full.len() - 400)..=full.len() {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        let seg = copy.path().join("wal").join(last.file_name().unwrap());
        std::fs::write(&seg, &full[..cut]).unwrap();
        let keys = keys_after_recovery(copy.path()).await.unwrap();
        assert_eq!(keys, (0..keys.len() as i64).collect::<Vec<_>>(), "cut at {cut}");
        seen.insert(keys.len());
    }
    assert!(seen.contains(&8) && seen.len() > 3, "{seen:?}");
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&entry, &dest).unwrap();
        }
    }
}

fn walkdir(p: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(p).unwrap() {
        let path = e.unwrap().path();
        out.push(path.clone());
        if path.is_dir() {
            out.extend(walkdir(&path));
        }
    }
    out
}
