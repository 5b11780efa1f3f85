//! Torn and corrupt WAL.
//!
//! A crash can leave the last write half done: recovery must cut the log at
//! the last valid record and keep every earlier commit. Damage *before* the
//! tail — bytes that had been flushed and were later corrupted — must stop
//! recovery with a clear error instead of silently dropping the commits after it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use duetdb_storage::wal::record::HEADER_LEN;
use duetdb_storage::wal::segment::{list_segments, segment_path};
use duetdb_storage::{Engine, EngineConfig, Isolation};

/// Commits `n` single-row transactions (each flushed before the next starts),
/// and returns the WAL segment files.
async fn write_commits(dir: &Path, n: i64) -> Vec<PathBuf> {
    write_log(common::config(dir, true), n).await
}

async fn keys_after_recovery(dir: &Path) -> Result<Vec<i64>, duetdb_storage::Error> {
    recover(common::config(dir, true)).await.map(|(_, keys, _)| keys)
}

/// A fresh cluster under `cfg` with table `t` and keys 0..n, each committed
/// and flushed on its own; returns the WAL segment files.
async fn write_log(cfg: EngineConfig, n: i64) -> Vec<PathBuf> {
    let dir = cfg.dir.clone();
    Engine::init(&cfg, duetdb_storage::Catalog::bootstrap("duet", None)).await.unwrap();
    let engine = Engine::open(cfg).await.unwrap();
    common::create_kv(&engine, "t").await;
    commit_keys(&engine, 0, n).await;
    engine.shutdown(false).await.unwrap();
    drop(engine);
    let wal = dir.join("wal");
    list_segments(&wal).unwrap().into_iter().map(|s| segment_path(&wal, s)).collect()
}

/// Commits keys `from..to` one transaction at a time, each flushed before the
/// next (so the preallocation helper keeps up with segment switches).
async fn commit_keys(engine: &Arc<Engine>, from: i64, to: i64) {
    let def = common::table(engine, "t");
    for k in from..to {
        let mut txn = engine.begin(Isolation::ReadCommitted);
        txn.begin_statement().unwrap();
        txn.insert(&def, common::kv(k, k)).await.unwrap();
        txn.commit().await.unwrap();
    }
}

/// Where the records of a segment end: the first all-zero header (direct
/// writes pad a segment's last block with zeros, so its length can be more).
fn written_len(bytes: &[u8]) -> usize {
    (0..bytes.len()).find(|&i| bytes[i..].len() >= HEADER_LEN && bytes[i..i + HEADER_LEN].iter().all(|&b| b == 0)).unwrap_or(bytes.len())
}

/// Opens the cluster: the engine, the keys of `t`, the recovery report.
async fn recover(cfg: EngineConfig) -> Result<(Arc<Engine>, Vec<i64>, String), duetdb_storage::Error> {
    let engine = Engine::open(cfg).await?;
    let def = common::table(&engine, "t");
    let keys = common::committed(&engine, &def).into_iter().map(|(k, _)| k).collect();
    let report = engine.recovery_report.lock().clone().unwrap_or_default();
    Ok((engine, keys, report))
}

#[tokio::test]
async fn truncated_tail_is_cut_at_the_last_whole_record() {
    let dir = tempfile::tempdir().unwrap();
    let segs = write_commits(dir.path(), 20).await;
    let last = segs.last().unwrap();
    let end = written_len(&std::fs::read(last).unwrap()) as u64;
    // Cut somewhere inside the last commit record (each is well over 30 bytes).
    std::fs::OpenOptions::new().write(true).open(last).unwrap().set_len(end - 7).unwrap();
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
    let n = written_len(&bytes);
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
    let mid = written_len(&bytes) / 2;
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
    let end = written_len(&full);
    let mut seen = std::collections::BTreeSet::new();
    for cut in (end - 400)..=end {
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

// ---- preallocated segments ------------------------------------------------

const SMALL_SEGMENT: u64 = 64 << 10;

fn small_segments(dir: &Path) -> EngineConfig {
    let mut cfg = common::config(dir, true);
    cfg.wal.segment_size = SMALL_SEGMENT;
    cfg
}

/// A log long enough for several segments of 64 KiB; returns the segment files.
async fn write_preallocated(dir: &Path, n: i64) -> Vec<PathBuf> {
    write_log(small_segments(dir), n).await
}

async fn reopen_small(dir: &Path) -> Result<(Arc<Engine>, Vec<i64>, String), duetdb_storage::Error> {
    recover(small_segments(dir)).await
}

#[tokio::test]
async fn preallocated_segments_end_cleanly_and_survive_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let segs = write_preallocated(dir.path(), 3000).await;
    assert!(segs.len() >= 4, "{} segments", segs.len());
    // Every segment after the first few was a zero-filled file renamed into
    // place: the last one is still a whole segment long, zeros after the log.
    let last = segs.last().unwrap();
    let bytes = std::fs::read(last).unwrap();
    let end = written_len(&bytes);
    assert_eq!(bytes.len() as u64, SMALL_SEGMENT, "the last segment was preallocated");
    assert!(end > 0 && end < bytes.len(), "records, then the unwritten rest");
    assert!(!dir.path().join("wal").join("next.prealloc.tmp").exists());

    // A clean restart is a clean end, not a torn tail.
    let (engine, keys, report) = reopen_small(dir.path()).await.unwrap();
    assert_eq!(keys, (0..3000).collect::<Vec<_>>());
    assert!(!report.contains("incomplete or damaged"), "{report}");
    drop(engine);

    // A torn write inside the zeros: junk a little way past the end, as a
    // half-finished write could leave. It must be ignored now and wiped on
    // open, so later records never run into it.
    let mut bytes = std::fs::read(last).unwrap();
    let end = written_len(&bytes);
    let junk: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
    bytes[end + 100..end + 400].copy_from_slice(&junk);
    std::fs::write(last, &bytes).unwrap();
    let (engine, keys, _) = reopen_small(dir.path()).await.unwrap();
    assert_eq!(keys.len(), 3000);
    let after_open = std::fs::read(last).unwrap();
    assert_eq!(after_open.len(), bytes.len(), "the file keeps its preallocated length");
    assert!(after_open[end..].iter().all(|&b| b == 0), "the junk after the end is zeroed");
    commit_keys(&engine, 3000, 3100).await;
    engine.shutdown(false).await.unwrap();
    drop(engine);
    let (_engine, keys, report) = reopen_small(dir.path()).await.unwrap();
    assert_eq!(keys, (0..3100).collect::<Vec<_>>());
    assert!(!report.contains("incomplete or damaged"), "{report}");
}

#[tokio::test]
async fn zeroed_flushed_records_in_a_preallocated_segment_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let segs = write_preallocated(dir.path(), 3000).await;
    let last = segs.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    let end = written_len(&bytes);
    assert!(end > 2000, "enough records in the last segment ({end} bytes)");
    // Zero the records from one near the middle onwards for 1,000 bytes: the
    // log now reads exactly like the unwritten rest of the file there, but the
    // records after the stretch prove it went on.
    let mut at = 0;
    while at < end / 2 {
        at += HEADER_LEN + u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    bytes[at..at + 1000].fill(0);
    std::fs::write(last, &bytes).unwrap();
    let err = reopen_small(dir.path()).await.err().expect("recovery must refuse");
    assert_eq!(err.sqlstate(), "XX001", "{err}");
    assert!(err.to_string().contains("zeroed bytes"), "{err}");
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
