//! What travels inside CopyData on a replication connection.
//!
//! The streaming messages follow PostgreSQL's physical replication protocol
//! (big-endian, times in microseconds since 2000-01-01), so the shapes are the
//! familiar ones; the WAL bytes inside XLogData are duetdb's own frames,
//! forwarded exactly as they are on the primary's disk, CRC32C included, so a
//! standby checks every record end to end.
//!
//! ```text
//!   primary → standby   'w' start:u64 end:u64 time:i64 frames…        XLogData
//!                       'k' end:u64 time:i64 reply:u8                 keepalive
//!   standby → primary   'r' write:u64 flush:u64 apply:u64 time:i64 reply:u8
//!
//!   BASE_BACKUP (CopyOut):  'M' manifest.json
//!                           'F' name_len:u32 name size:u64   then 'D' bytes… per file
//!                           'E'                              end of the backup
//! ```

use duetdb_storage::Lsn;

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// Now, in PostgreSQL's replication time unit.
pub fn pg_now() -> i64 {
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0);
    unix - PG_EPOCH_OFFSET_MICROS
}

/// Unix microseconds from a replication timestamp.
pub fn pg_time_to_unix(t: i64) -> i64 {
    t + PG_EPOCH_OFFSET_MICROS
}

#[derive(Clone, Debug, PartialEq)]
pub enum FromPrimary {
    /// WAL frames starting at `start`; `end` is the primary's flushed LSN.
    XLogData {
        start: Lsn,
        end: Lsn,
        time: i64,
        frames: Vec<u8>,
    },
    Keepalive {
        end: Lsn,
        time: i64,
        reply: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatusUpdate {
    pub write: Lsn,
    pub flush: Lsn,
    pub apply: Lsn,
    pub time: i64,
    pub reply: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed replication message: {0}")]
pub struct Malformed(pub String);

fn u64_at(b: &[u8], at: usize) -> Result<u64, Malformed> {
    b.get(at..at + 8).map(|s| u64::from_be_bytes(s.try_into().unwrap())).ok_or_else(|| Malformed(format!("{} bytes, too short", b.len())))
}

impl FromPrimary {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            FromPrimary::XLogData { start, end, time, frames } => {
                let mut out = Vec::with_capacity(25 + frames.len());
                out.push(b'w');
                out.extend_from_slice(&start.0.to_be_bytes());
                out.extend_from_slice(&end.0.to_be_bytes());
                out.extend_from_slice(&time.to_be_bytes());
                out.extend_from_slice(frames);
                out
            }
            FromPrimary::Keepalive { end, time, reply } => {
                let mut out = Vec::with_capacity(18);
                out.push(b'k');
                out.extend_from_slice(&end.0.to_be_bytes());
                out.extend_from_slice(&time.to_be_bytes());
                out.push(*reply as u8);
                out
            }
        }
    }

    pub fn decode(b: &[u8]) -> Result<FromPrimary, Malformed> {
        match b.first() {
            Some(b'w') => Ok(FromPrimary::XLogData {
                start: Lsn(u64_at(b, 1)?),
                end: Lsn(u64_at(b, 9)?),
                time: u64_at(b, 17)? as i64,
                frames: b[25..].to_vec(),
            }),
            Some(b'k') if b.len() >= 18 => {
                Ok(FromPrimary::Keepalive { end: Lsn(u64_at(b, 1)?), time: u64_at(b, 9)? as i64, reply: b[17] != 0 })
            }
            other => Err(Malformed(format!("unexpected message type {other:?}"))),
        }
    }
}

impl StatusUpdate {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(34);
        out.push(b'r');
        out.extend_from_slice(&self.write.0.to_be_bytes());
        out.extend_from_slice(&self.flush.0.to_be_bytes());
        out.extend_from_slice(&self.apply.0.to_be_bytes());
        out.extend_from_slice(&self.time.to_be_bytes());
        out.push(self.reply as u8);
        out
    }

    pub fn decode(b: &[u8]) -> Result<StatusUpdate, Malformed> {
        if b.first() != Some(&b'r') || b.len() < 34 {
            return Err(Malformed(format!("expected a standby status update, got {} bytes", b.len())));
        }
        Ok(StatusUpdate {
            write: Lsn(u64_at(b, 1)?),
            flush: Lsn(u64_at(b, 9)?),
            apply: Lsn(u64_at(b, 17)?),
            time: u64_at(b, 25)? as i64,
            reply: b[33] != 0,
        })
    }
}

/// One chunk of a base backup stream.
#[derive(Clone, Debug, PartialEq)]
pub enum BackupChunk {
    Manifest(Vec<u8>),
    FileStart { name: String, size: u64 },
    Data(Vec<u8>),
    End,
}

impl BackupChunk {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            BackupChunk::Manifest(json) => [&[b'M'][..], json].concat(),
            BackupChunk::FileStart { name, size } => {
                let mut out = vec![b'F'];
                out.extend_from_slice(&(name.len() as u32).to_be_bytes());
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(&size.to_be_bytes());
                out
            }
            BackupChunk::Data(d) => [&[b'D'][..], d].concat(),
            BackupChunk::End => vec![b'E'],
        }
    }

    pub fn decode(b: &[u8]) -> Result<BackupChunk, Malformed> {
        match b.first() {
            Some(b'M') => Ok(BackupChunk::Manifest(b[1..].to_vec())),
            Some(b'F') => {
                let len = b
                    .get(1..5)
                    .map(|s| u32::from_be_bytes(s.try_into().unwrap()) as usize)
                    .ok_or_else(|| Malformed("short file header".into()))?;
                let name = b.get(5..5 + len).ok_or_else(|| Malformed("short file name".into()))?;
                let name = String::from_utf8(name.to_vec()).map_err(|_| Malformed("file name is not UTF-8".into()))?;
                if name.contains('/') || name.contains("..") || name.is_empty() {
                    return Err(Malformed(format!("unsafe file name {name:?} in base backup")));
                }
                Ok(BackupChunk::FileStart { name, size: u64_at(b, 5 + len)? })
            }
            Some(b'D') => Ok(BackupChunk::Data(b[1..].to_vec())),
            Some(b'E') => Ok(BackupChunk::End),
            other => Err(Malformed(format!("unexpected base backup chunk {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let m = FromPrimary::XLogData { start: Lsn(10), end: Lsn(99), time: 5, frames: vec![1, 2, 3] };
        assert_eq!(FromPrimary::decode(&m.encode()).unwrap(), m);
        let k = FromPrimary::Keepalive { end: Lsn(7), time: -3, reply: true };
        assert_eq!(FromPrimary::decode(&k.encode()).unwrap(), k);
        let s = StatusUpdate { write: Lsn(1), flush: Lsn(2), apply: Lsn(3), time: 4, reply: false };
        assert_eq!(StatusUpdate::decode(&s.encode()).unwrap(), s);
        for c in [
            BackupChunk::Manifest(b"{}".to_vec()),
            BackupChunk::FileStart { name: "1.parquet".into(), size: 9 },
            BackupChunk::Data(vec![0; 3]),
            BackupChunk::End,
        ] {
            assert_eq!(BackupChunk::decode(&c.encode()).unwrap(), c);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for b in [&b""[..], b"w", b"w123", b"k1", b"r", b"F\0\0\0\x09ab", b"F\0\0\0\x02..\0\0\0\0\0\0\0\0", b"x"] {
            assert!(FromPrimary::decode(b).is_err() || BackupChunk::decode(b).is_err());
            let _ = StatusUpdate::decode(b);
            let _ = BackupChunk::decode(b);
        }
    }
}
