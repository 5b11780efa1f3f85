//! A reader tailing the live log, as a WAL sender does: after every flush it
//! reads up to the flushed LSN and must get exactly the records appended, in
//! fresh segment files, in preallocated (zero-filled) ones, after the
//! writer's direct writes padded a block with zeros, and as the writer
//! switches between direct and buffered writes when a follower comes and goes. Bytes past the flushed
//! LSN change under the reader (zeros become records), so nothing the reader
//! saw there may be served again.

use duetdb_storage::wal::writer::FIRST_LSN;
use duetdb_storage::wal::{Kind, Wal, WalConfig, WalReader};

fn tail_the_live_log(config: WalConfig, records: usize) {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), FIRST_LSN, config).unwrap();
    let mut reader = WalReader::new(dir.path(), FIRST_LSN).unwrap();
    let mut follower = None;
    for i in 0..records {
        // The middle third is written while a follower is registered: through
        // the page cache, between direct writes before and after.
        if i == records / 3 {
            follower = Some(wal.follow());
        } else if i == 2 * records / 3 {
            follower = None;
        }
        // Payloads of varying size, so records straddle block boundaries.
        let payload: Vec<u8> = (0..(20 + (i * 37) % 700)).map(|j| (i + j) as u8 | 1).collect();
        let (lsn, end) = wal.append(Kind::Sequence, &payload).unwrap();
        wal.wait_flushed_blocking(end).unwrap();
        let limit = wal.flushed_lsn();
        match reader.read(limit).unwrap() {
            Ok(Some(rec)) => {
                assert_eq!(rec.lsn, lsn, "record {i}");
                assert_eq!(rec.payload(), &payload[..], "record {i}");
            }
            other => panic!("record {i} at {lsn} (flushed to {limit}): {other:?}"),
        }
        // Caught up: nothing more below the limit.
        assert!(matches!(reader.read(limit).unwrap(), Ok(None)), "record {i}");
    }
    // A reader opened later reads the same log from the start.
    let mut again = WalReader::new(dir.path(), FIRST_LSN).unwrap();
    let mut n = 0;
    while let Ok(Some(_)) = again.read(wal.flushed_lsn()).unwrap() {
        n += 1;
    }
    assert_eq!(n, records);
    drop(follower);
}

/// Small segments, each zero-filled ahead of time: most records land in a
/// preallocated file whose zeros the reader's read-ahead must not keep.
#[test]
fn a_tailing_reader_sees_every_flushed_record_in_preallocated_segments() {
    tail_the_live_log(WalConfig { segment_size: 64 << 10, ..WalConfig::default() }, 600);
}

/// Without preallocation each segment grows as it is written (direct writes
/// still pad the last block with zeros).
#[test]
fn a_tailing_reader_sees_every_flushed_record_in_growing_segments() {
    tail_the_live_log(WalConfig { segment_size: 64 << 10, preallocate: false, ..WalConfig::default() }, 300);
}
