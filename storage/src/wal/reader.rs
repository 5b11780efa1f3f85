//! Reading the WAL: for recovery, and for WAL senders tailing it.
//!
//! A reader starts at an LSN and hands out one framed record at a time, never
//! past a limit the caller gives — the flushed LSN when tailing, so a standby
//! never receives a record the primary could still lose in a crash.
//!
//! Recovery reads to the end and must decide what a bad frame means:
//!
//! ```text
//!   … good │ bad frame at P │ (bytes after P)
//!                 │
//!                 ├─ no valid frame after P whose `durable` is past P
//!                 │     → a write cut short by the crash: the log ends at P (torn tail)
//!                 └─ a valid frame after P that says "the log was flushed past P"
//!                       → P had been on disk, so it was damaged later: corruption, stop
//! ```
//!
//! Reads go through a read-ahead window (pread of up to 4 MiB), so replaying a
//! log of small records costs one syscall per window, not two per record.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::record::{HEADER_LEN, MAX_PAYLOAD, frame_crc_ok, parse_header};
use super::segment::{list_segments, segment_for, segment_path};
use crate::error::{Error, Result};
use crate::lsn::Lsn;

const WINDOW: usize = 4 << 20;

fn removed(lsn: Lsn) -> Error {
    Error::Io(format!("requested WAL segment for {lsn} has already been removed"))
}

/// A framed record as read from disk (header + payload), CRC-checked.
#[derive(Clone, Debug)]
pub struct RawRecord {
    pub lsn: Lsn,
    pub kind: u8,
    /// The whole frame, header included: what a WAL sender forwards unchanged.
    pub frame: Vec<u8>,
}

impl RawRecord {
    pub fn end(&self) -> Lsn {
        Lsn(self.lsn.0 + self.frame.len() as u64)
    }

    pub fn payload(&self) -> &[u8] {
        &self.frame[HEADER_LEN..]
    }
}

/// Why reading stopped short of the limit.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    /// There are no bytes at `at`: the log ends cleanly here.
    End { at: Lsn },
    /// Only zeros at `at`: the never-written rest of a preallocated segment,
    /// so the log ends here — unless a later frame proves the bytes had been
    /// written (see `find_durable_record_after`).
    Unwritten { at: Lsn },
    /// The frame at `at` is incomplete or fails its checks.
    BadFrame { at: Lsn, reason: String },
}

struct OpenSegment {
    start: Lsn,
    file: File,
    len: u64,
    /// Read-ahead window: file bytes [win_off, win_off + win.len()), never
    /// past the `limit` of the read that filled it. Bytes before a flushed
    /// LSN never change, but those after it do (a preallocated segment's
    /// zeros, or a direct write's zero padding, become records): a window
    /// reaching past the limit would keep serving stale zeros to a reader
    /// tailing the live log.
    win_off: u64,
    win: Vec<u8>,
}

impl OpenSegment {
    /// Bytes [off, off+n) of the file, or None if the file is shorter.
    /// Read-ahead stops at file offset `cap` (the caller's limit).
    fn bytes(&mut self, off: u64, n: usize, cap: u64) -> Result<Option<&[u8]>> {
        if off + n as u64 > self.len {
            // The file may have grown (tailing the live segment).
            self.len = self.file.metadata()?.len();
            if off + n as u64 > self.len {
                return Ok(None);
            }
        }
        let in_window = off >= self.win_off && off + n as u64 <= self.win_off + self.win.len() as u64;
        if !in_window {
            let want = (WINDOW as u64).min(self.len - off).min(cap.saturating_sub(off)).max(n as u64) as usize;
            self.win.resize(want, 0);
            self.file.read_exact_at(&mut self.win, off)?;
            self.win_off = off;
        }
        let s = (off - self.win_off) as usize;
        Ok(Some(&self.win[s..s + n]))
    }
}

pub struct WalReader {
    dir: PathBuf,
    segments: Vec<Lsn>,
    seg: Option<OpenSegment>,
    next: Lsn,
}

impl WalReader {
    pub fn new(dir: &Path, start: Lsn) -> Result<WalReader> {
        Ok(WalReader { dir: dir.to_path_buf(), segments: list_segments(dir)?, seg: None, next: start })
    }

    /// LSN of the next record this reader will return.
    pub fn next_lsn(&self) -> Lsn {
        self.next
    }

    /// Reads the record at `next_lsn()` if it lies before `limit`.
    /// `Ok(Ok(None))`: caught up with `limit`. `Ok(Err(stop))`: a bad frame.
    pub fn read(&mut self, limit: Lsn) -> Result<std::result::Result<Option<RawRecord>, Stop>> {
        if self.next >= limit {
            return Ok(Ok(None));
        }
        if !self.position()? {
            return Ok(Err(Stop::End { at: self.next }));
        }
        let at = self.next;
        let seg = self.seg.as_mut().unwrap();
        let off = at.0 - seg.start.0;
        let bad = |reason: String| Ok(Err(Stop::BadFrame { at, reason }));
        let cap = limit.0.saturating_sub(seg.start.0);
        let header: [u8; HEADER_LEN] = match seg.bytes(off, HEADER_LEN, cap)? {
            Some(h) => h.try_into().unwrap(),
            None => return bad("incomplete record header".into()),
        };
        if header == [0; HEADER_LEN] {
            if self.a_segment_begins_at(at)? {
                return self.read(limit);
            }
            return Ok(Err(Stop::Unwritten { at }));
        }
        let h = parse_header(&header);
        if h.lsn != at {
            return bad(format!("record header claims LSN {} at LSN {}", h.lsn, at));
        }
        if h.len > MAX_PAYLOAD {
            return bad(format!("record length {} is impossible", h.len));
        }
        let payload = match seg.bytes(off + HEADER_LEN as u64, h.len, cap)? {
            Some(p) => p,
            None => return bad("incomplete record".into()),
        };
        if !frame_crc_ok(&header, payload) {
            return bad("checksum mismatch".into());
        }
        let mut frame = Vec::with_capacity(HEADER_LEN + h.len);
        frame.extend_from_slice(&header);
        frame.extend_from_slice(payload);
        let rec = RawRecord { lsn: at, kind: h.kind, frame };
        self.next = rec.end();
        Ok(Ok(Some(rec)))
    }

    /// Zeros at `at` in one segment while the writer has begun the next one
    /// exactly there: the old file's rest (its preallocated zeros, or the
    /// padding of its last direct write) is never written. Lists the
    /// directory again, and if a segment starts at `at`, makes it current.
    fn a_segment_begins_at(&mut self, at: Lsn) -> Result<bool> {
        if self.seg.as_ref().is_some_and(|s| s.start == at) {
            return Ok(false);
        }
        self.segments = list_segments(&self.dir)?;
        if self.segments.binary_search(&at).is_ok() {
            self.seg = None;
            return Ok(true);
        }
        Ok(false)
    }

    /// Opens the segment holding `next` (the last file starting at or before it,
    /// which is the next file when the current one ends exactly at `next`).
    /// False if no file has bytes at `next`.
    fn position(&mut self) -> Result<bool> {
        let mut refreshed = false;
        loop {
            let Some(start) = segment_for(&self.segments, self.next) else {
                if !refreshed {
                    self.segments = list_segments(&self.dir)?;
                    refreshed = true;
                    continue;
                }
                if self.segments.first().is_some_and(|&f| f > self.next) {
                    return Err(removed(self.next));
                }
                return Ok(false);
            };
            if self.seg.as_ref().map(|s| s.start) != Some(start) {
                let file = match File::open(segment_path(&self.dir, start)) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(removed(self.next)),
                    Err(e) => return Err(e.into()),
                };
                let len = file.metadata()?.len();
                self.seg = Some(OpenSegment { start, file, len, win_off: 0, win: Vec::new() });
            }
            let seg = self.seg.as_mut().unwrap();
            let off = self.next.0 - start.0;
            if off < seg.len {
                return Ok(true);
            }
            seg.len = seg.file.metadata()?.len();
            if off < seg.len {
                return Ok(true);
            }
            if !refreshed {
                // A new segment may begin right here since we listed the directory.
                self.segments = list_segments(&self.dir)?;
                refreshed = true;
                continue;
            }
            return Ok(false);
        }
    }

    /// After a bad frame at `at`: is there proof it had been flushed, i.e. a valid
    /// frame later in the log whose `durable` field is past `at`? Returns the LSN
    /// of the first such frame. Scans every byte after `at` (only on this rare path).
    pub fn find_durable_record_after(&mut self, at: Lsn) -> Result<Option<Lsn>> {
        self.segments = list_segments(&self.dir)?;
        // The segment holding `at` and every later one can hold bytes after it.
        let first = segment_for(&self.segments, at).unwrap_or(Lsn::ZERO);
        for &start in self.segments.iter().filter(|&&s| s >= first) {
            let data = std::fs::read(segment_path(&self.dir, start))?;
            let from = if start < at { (at.0 - start.0 + 1) as usize } else { 0 };
            for off in from..data.len().saturating_sub(HEADER_LEN - 1) {
                let header: [u8; HEADER_LEN] = data[off..off + HEADER_LEN].try_into().unwrap();
                let h = parse_header(&header);
                let pos = Lsn(start.0 + off as u64);
                if h.lsn != pos || h.len > data.len() - off - HEADER_LEN {
                    continue;
                }
                if h.durable > at && frame_crc_ok(&header, &data[off + HEADER_LEN..off + HEADER_LEN + h.len]) {
                    return Ok(Some(pos));
                }
            }
        }
        Ok(None)
    }
}
