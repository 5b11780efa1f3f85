//! WAL records: framing on disk and the logical changes they carry.
//!
//! Every record is framed the same way; the frame makes a record checkable on
//! its own, which is what lets recovery tell a torn tail from corruption:
//!
//! ```text
//!   0        4        8                16               24     25
//!   +--------+--------+----------------+----------------+------+-----------+
//!   | crc32c | len    | lsn            | durable        | kind | payload   |
//!   | u32 LE | u32 LE | u64 LE (own    | u64 LE (log    | u8   | len bytes |
//!   |        |        | position)      | flushed up to  |      |           |
//!   |        |        |                | when appended) |      |           |
//!   +--------+--------+----------------+----------------+------+-----------+
//!   crc32c covers bytes 4.. (everything after itself)
//! ```
//!
//! `lsn` makes a stray valid-looking frame at the wrong offset detectable;
//! `durable` is the proof recovery needs: a valid record whose `durable` is past
//! a bad record shows the bad record had been flushed, so it is corruption, not
//! a write cut short by a crash.
//!
//! Payloads are logical redo, keyed by table OID and stable row id:
//!
//! ```text
//!   Changes  { txn, first_seq, [Change] }   a running txn's changes, flushed early when its buffer fills
//!   Commit   { txn, first_seq, time, [Change] }   the last changes + the commit, in one record
//!   Abort    { txn }                        a txn that had written Changes rolled back
//!   SubAbort { txn, seq }                   ROLLBACK TO SAVEPOINT: drop the txn's changes from seq on
//!   Sequence { id, value, is_called }       a sequence moved (not transactional, like PostgreSQL)
//!   Timeline { timeline }                   a promoted standby started a new history here
//!
//!   Change = Insert { table, rowid, row } | Update { table, rowid, row } | Delete { table, rowid }
//!          | Catalog { the whole new catalog, JSON }
//! ```
//!
//! A reader applies a transaction's changes in order when its Commit arrives and
//! drops them on Abort, so no reader ever sees part of a transaction. Big
//! transactions do not build one giant record: they flush `Changes` records of
//! bounded size as they go.

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::lsn::Lsn;
use crate::{RowId, TxnId};

pub const HEADER_LEN: usize = 25;
/// Largest payload a record may have; a length past this is corruption.
pub const MAX_PAYLOAD: usize = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Changes = 1,
    Commit = 2,
    Abort = 3,
    SubAbort = 4,
    Sequence = 5,
    Timeline = 6,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Changes,
            2 => Kind::Commit,
            3 => Kind::Abort,
            4 => Kind::SubAbort,
            5 => Kind::Sequence,
            6 => Kind::Timeline,
            _ => return None,
        })
    }
}

/// A decoded WAL record.
#[derive(Clone, Debug, PartialEq)]
pub enum WalRecord {
    Changes { txn: TxnId, first_seq: u64, changes: Vec<Change> },
    Commit { txn: TxnId, first_seq: u64, commit_time: i64, changes: Vec<Change> },
    Abort { txn: TxnId },
    SubAbort { txn: TxnId, seq: u64 },
    Sequence { id: u32, value: i64, is_called: bool },
    Timeline { timeline: u32 },
}

/// One logical change inside a transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Insert { table: u32, rowid: RowId, row: Box<[u8]> },
    Update { table: u32, rowid: RowId, row: Box<[u8]> },
    Delete { table: u32, rowid: RowId },
    Catalog(Box<Catalog>),
}

const CH_INSERT: u8 = 1;
const CH_UPDATE: u8 = 2;
const CH_DELETE: u8 = 3;
const CH_CATALOG: u8 = 4;

/// Accumulates encoded changes for one transaction without building `Change` values.
#[derive(Debug, Default)]
pub struct ChangeBuf {
    pub bytes: Vec<u8>,
    pub count: u32,
}

impl ChangeBuf {
    pub fn insert(&mut self, table: u32, rowid: RowId, row: &[u8]) {
        self.row_change(CH_INSERT, table, rowid, row)
    }

    pub fn update(&mut self, table: u32, rowid: RowId, row: &[u8]) {
        self.row_change(CH_UPDATE, table, rowid, row)
    }

    fn row_change(&mut self, tag: u8, table: u32, rowid: RowId, row: &[u8]) {
        self.bytes.reserve(17 + row.len());
        self.bytes.push(tag);
        self.bytes.extend_from_slice(&table.to_le_bytes());
        self.bytes.extend_from_slice(&rowid.to_le_bytes());
        self.bytes.extend_from_slice(&(row.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(row);
        self.count += 1;
    }

    pub fn delete(&mut self, table: u32, rowid: RowId) {
        self.bytes.push(CH_DELETE);
        self.bytes.extend_from_slice(&table.to_le_bytes());
        self.bytes.extend_from_slice(&rowid.to_le_bytes());
        self.count += 1;
    }

    pub fn catalog(&mut self, catalog: &Catalog) {
        let json = serde_json::to_vec(catalog).expect("catalog serializes");
        self.bytes.push(CH_CATALOG);
        self.bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(&json);
        self.count += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
    }
}

/// Builds the payload of a Changes or Commit record from a transaction's buffer.
pub fn encode_changes_payload(txn: TxnId, first_seq: u64, commit_time: Option<i64>, buf: &ChangeBuf) -> Vec<u8> {
    let mut p = Vec::with_capacity(28 + buf.bytes.len());
    p.extend_from_slice(&txn.to_le_bytes());
    p.extend_from_slice(&first_seq.to_le_bytes());
    if let Some(t) = commit_time {
        p.extend_from_slice(&t.to_le_bytes());
    }
    p.extend_from_slice(&buf.count.to_le_bytes());
    p.extend_from_slice(&buf.bytes);
    p
}

pub fn encode_abort(txn: TxnId) -> Vec<u8> {
    txn.to_le_bytes().to_vec()
}

pub fn encode_sub_abort(txn: TxnId, seq: u64) -> Vec<u8> {
    let mut p = txn.to_le_bytes().to_vec();
    p.extend_from_slice(&seq.to_le_bytes());
    p
}

pub fn encode_sequence(id: u32, value: i64, is_called: bool) -> Vec<u8> {
    let mut p = id.to_le_bytes().to_vec();
    p.extend_from_slice(&value.to_le_bytes());
    p.push(is_called as u8);
    p
}

pub fn encode_timeline(timeline: u32) -> Vec<u8> {
    timeline.to_le_bytes().to_vec()
}

/// Writes a complete frame (header + payload) for a record at `lsn`.
pub fn encode_frame(out: &mut Vec<u8>, lsn: Lsn, durable: Lsn, kind: Kind, payload: &[u8]) {
    assert!(payload.len() <= MAX_PAYLOAD, "WAL record of {} bytes", payload.len());
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&lsn.0.to_le_bytes());
    out.extend_from_slice(&durable.0.to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug)]
pub struct FrameHeader {
    pub crc: u32,
    pub len: usize,
    pub lsn: Lsn,
    pub durable: Lsn,
    pub kind: u8,
}

pub fn parse_header(b: &[u8; HEADER_LEN]) -> FrameHeader {
    FrameHeader {
        crc: u32::from_le_bytes(b[0..4].try_into().unwrap()),
        len: u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize,
        lsn: Lsn(u64::from_le_bytes(b[8..16].try_into().unwrap())),
        durable: Lsn(u64::from_le_bytes(b[16..24].try_into().unwrap())),
        kind: b[24],
    }
}

/// Checks a frame's CRC given its header bytes and payload.
pub fn frame_crc_ok(header: &[u8; HEADER_LEN], payload: &[u8]) -> bool {
    let stored = u32::from_le_bytes(header[0..4].try_into().unwrap());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[4..]), payload);
    crc == stored
}

/// A little-endian cursor over untrusted bytes: every read is bounds-checked.
struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() < n {
            return Err(Error::Corrupt("WAL record payload is truncated".into()));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
}

/// Decodes a payload whose frame already passed its CRC check.
pub fn decode_payload(kind: u8, payload: &[u8]) -> Result<WalRecord> {
    let mut c = Cursor { b: payload };
    let kind = Kind::from_u8(kind).ok_or_else(|| Error::Corrupt(format!("unknown WAL record kind {kind}")))?;
    let rec = match kind {
        Kind::Changes | Kind::Commit => {
            let txn = c.u64()?;
            let first_seq = c.u64()?;
            let commit_time = if kind == Kind::Commit { Some(c.i64()?) } else { None };
            let count = c.u32()? as usize;
            let mut changes = Vec::with_capacity(count.min(1 << 16));
            for _ in 0..count {
                changes.push(decode_change(&mut c)?);
            }
            match commit_time {
                Some(commit_time) => WalRecord::Commit { txn, first_seq, commit_time, changes },
                None => WalRecord::Changes { txn, first_seq, changes },
            }
        }
        Kind::Abort => WalRecord::Abort { txn: c.u64()? },
        Kind::SubAbort => WalRecord::SubAbort { txn: c.u64()?, seq: c.u64()? },
        Kind::Sequence => WalRecord::Sequence { id: c.u32()?, value: c.i64()?, is_called: c.u8()? != 0 },
        Kind::Timeline => WalRecord::Timeline { timeline: c.u32()? },
    };
    if !c.b.is_empty() {
        return Err(Error::Corrupt("WAL record has trailing bytes".into()));
    }
    Ok(rec)
}

fn decode_change(c: &mut Cursor<'_>) -> Result<Change> {
    Ok(match c.u8()? {
        tag @ (CH_INSERT | CH_UPDATE) => {
            let table = c.u32()?;
            let rowid = c.u64()?;
            let len = c.u32()? as usize;
            let row = c.take(len)?.to_vec().into_boxed_slice();
            if tag == CH_INSERT { Change::Insert { table, rowid, row } } else { Change::Update { table, rowid, row } }
        }
        CH_DELETE => Change::Delete { table: c.u32()?, rowid: c.u64()? },
        CH_CATALOG => {
            let len = c.u32()? as usize;
            let json = c.take(len)?;
            let catalog: Catalog =
                serde_json::from_slice(json).map_err(|e| Error::Corrupt(format!("catalog in WAL does not parse: {e}")))?;
            Change::Catalog(Box::new(catalog))
        }
        t => return Err(Error::Corrupt(format!("unknown change tag {t}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let mut buf = ChangeBuf::default();
        buf.insert(16384, 7, b"\x01\x00\x00");
        buf.update(16384, 7, b"\x01\x00\x01");
        buf.delete(16384, 7);
        buf.catalog(&Catalog::bootstrap("duet", None));
        let payload = encode_changes_payload(42, 3, Some(1234), &buf);
        let mut frame = Vec::new();
        encode_frame(&mut frame, Lsn(100), Lsn(50), Kind::Commit, &payload);

        let header: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        let h = parse_header(&header);
        assert_eq!((h.lsn, h.durable, h.len), (Lsn(100), Lsn(50), payload.len()));
        assert!(frame_crc_ok(&header, &frame[HEADER_LEN..]));
        let rec = decode_payload(h.kind, &frame[HEADER_LEN..]).unwrap();
        match rec {
            WalRecord::Commit { txn: 42, first_seq: 3, commit_time: 1234, changes } => {
                assert_eq!(changes.len(), 4);
                assert_eq!(changes[2], Change::Delete { table: 16384, rowid: 7 });
            }
            other => panic!("{other:?}"),
        }

        for i in 0..frame.len() {
            let mut bad = frame.clone();
            bad[i] ^= 0x40;
            let header: [u8; HEADER_LEN] = bad[..HEADER_LEN].try_into().unwrap();
            assert!(!frame_crc_ok(&header, &bad[HEADER_LEN..]), "flip at {i} undetected");
        }
    }

    #[test]
    fn truncated_payloads_are_errors_not_panics() {
        let mut buf = ChangeBuf::default();
        buf.insert(1, 2, b"abc");
        let payload = encode_changes_payload(1, 0, None, &buf);
        for cut in 0..payload.len() {
            assert!(decode_payload(Kind::Changes as u8, &payload[..cut]).is_err());
        }
        assert!(decode_payload(99, &payload).is_err());
    }
}
