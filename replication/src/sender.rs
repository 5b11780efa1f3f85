//! The primary's WAL sender: frames from a start LSN, then tailing the log.
//!
//! ```text
//!   WAL segments on disk ──WalReader──► frames up to the flushed LSN ──► XLogData (≤ MAX_BATCH)
//!        ▲ wal.follow(): woken after each group-commit flush (and, while it
//!          exists, the log is written through the page cache this reads)
//! ```
//!
//! Only flushed WAL is sent, so a standby never holds a transaction that a
//! primary crash could still lose. The transport (pgwire CopyBoth in the
//! server) lives elsewhere; this is the part that reads the log.

use std::sync::Arc;
use std::time::Duration;

use duetdb_storage::wal::reader::{Stop, WalReader};
use duetdb_storage::wal::writer::Follower;
use duetdb_storage::{Engine, Lsn};

/// Upper bound of one XLogData message's frames (a bigger record goes alone).
pub const MAX_BATCH: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The standby asked for WAL the primary no longer has: it must be rebuilt.
    #[error("requested WAL at {0} has already been removed; the standby must be rebuilt from a new base backup")]
    Removed(Lsn),
    #[error("requested starting point {start} is ahead of the WAL flush position {flushed}")]
    Ahead { start: Lsn, flushed: Lsn },
    #[error("reading WAL: {0}")]
    Read(String),
}

pub struct WalSender {
    engine: Arc<Engine>,
    reader: WalReader,
    follower: Follower,
}

impl WalSender {
    pub fn new(engine: Arc<Engine>, start: Lsn) -> Result<WalSender, SendError> {
        let flushed = engine.wal.flushed_lsn();
        if start > flushed {
            return Err(SendError::Ahead { start, flushed });
        }
        let oldest = engine.oldest_wal_lsn().map_err(|e| SendError::Read(e.to_string()))?;
        if start < oldest {
            return Err(SendError::Removed(start));
        }
        let reader = WalReader::new(&engine.wal.dir().to_path_buf(), start).map_err(|e| SendError::Read(e.to_string()))?;
        let follower = engine.wal.follow();
        Ok(WalSender { engine, reader, follower })
    }

    /// Where the next frame starts.
    pub fn position(&self) -> Lsn {
        self.reader.next_lsn()
    }

    pub fn flushed(&self) -> Lsn {
        self.engine.wal.flushed_lsn()
    }

    /// Frames available now, from `position()`, at most about `MAX_BATCH` bytes.
    /// Empty when the standby has everything flushed.
    pub fn read_batch(&mut self) -> Result<(Lsn, Vec<u8>), SendError> {
        let start = self.reader.next_lsn();
        let limit = self.engine.wal.flushed_lsn();
        let mut out = Vec::new();
        while out.len() < MAX_BATCH {
            match self.reader.read(limit) {
                Ok(Ok(Some(rec))) => out.extend_from_slice(&rec.frame),
                Ok(Ok(None)) => break,
                // The flushed LSN is past this point, so the bytes are there;
                // a clean end here means a segment was removed under us.
                Ok(Err(Stop::End { at })) => {
                    if at < limit {
                        return Err(SendError::Removed(at));
                    }
                    break;
                }
                Ok(Err(Stop::Unwritten { at })) => {
                    if at < limit {
                        return Err(SendError::Read(format!("WAL at {at} reads as zeros although it was flushed")));
                    }
                    break;
                }
                Ok(Err(Stop::BadFrame { at, reason })) => {
                    return Err(SendError::Read(format!("WAL record at {at} is damaged: {reason}")));
                }
                Err(e) => {
                    let msg = e.to_string();
                    if msg.contains("already been removed") {
                        return Err(SendError::Removed(self.reader.next_lsn()));
                    }
                    return Err(SendError::Read(msg));
                }
            }
        }
        Ok((start, out))
    }

    /// Waits until more WAL is flushed (or `timeout` passes).
    pub async fn wait_for_more(&mut self, timeout: Duration) {
        let pos = self.reader.next_lsn();
        let _ = tokio::time::timeout(timeout, self.follower.flushed.wait_for(|&l| l > pos)).await;
    }
}
