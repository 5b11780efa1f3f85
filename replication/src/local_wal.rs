//! The standby's copy of the WAL it received, so that what it reports as
//! flushed survives a crash.
//!
//! ```text
//!   standby_wal/0000000001000000.wal   bytes of the primary's WAL from that LSN
//!               00000000010A3F20.wal   (a new file at each rotation)
//!   XLogData(start, bytes) ─► append ─► sync before each status report
//!   flush LSN reported to the primary = synced end (min received)
//! ```
//!
//! The bytes are the primary's frames, unchanged, so a restarted standby
//! replays them through the same `Applier` that checks LSN continuity and each
//! frame's CRC: a torn tail stops at the last complete frame and is cut off.
//! Files wholly before the resume point of the newest persisted column
//! snapshot are removed (`remove_before`); the newest file is never removed.
//!
//! Invariants: the files are contiguous (each starts where the previous one
//! ends); `end` is the LSN after the last byte written; a rotation happens only
//! at a frame boundary, so the newest file starts at or before the applier's
//! `received`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use duetdb_storage::Lsn;

pub struct LocalWal {
    dir: PathBuf,
    file: File,
    /// Start of the newest file.
    start: Lsn,
    /// LSN after the last byte written.
    end: Lsn,
    /// LSN after the last byte made durable.
    synced: Lsn,
}

fn file_name(lsn: Lsn) -> String {
    format!("{:016X}.wal", lsn.0)
}

/// Start LSNs of the WAL files in `dir`, oldest first.
fn list(dir: &Path) -> io::Result<Vec<Lsn>> {
    let mut out = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries {
                let name = e?.file_name();
                let Some(name) = name.to_str() else { continue };
                if let Some(hex) = name.strip_suffix(".wal")
                    && hex.len() == 16
                    && let Ok(v) = u64::from_str_radix(hex, 16)
                {
                    out.push(Lsn(v));
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    out.sort();
    Ok(out)
}

impl LocalWal {
    /// Starts an empty WAL at `start`, removing whatever `dir` held.
    pub fn create(dir: &Path, start: Lsn) -> io::Result<LocalWal> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let file = OpenOptions::new().create(true).write(true).truncate(true).open(dir.join(file_name(start)))?;
        sync_dir(dir)?;
        Ok(LocalWal { dir: dir.to_path_buf(), file, start, end: start, synced: start })
    }

    /// Opens the WAL in `dir` to append after its last byte; `read_range`
    /// replays it and `truncate_to` cuts what replay could not use.
    pub fn open(dir: &Path) -> io::Result<LocalWal> {
        let files = list(dir)?;
        let last = *files.last().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no local WAL in {}", dir.display())))?;
        let mut file = OpenOptions::new().write(true).open(dir.join(file_name(last)))?;
        let len = file.seek(SeekFrom::End(0))?;
        let end = Lsn(last.0 + len);
        Ok(LocalWal { dir: dir.to_path_buf(), file, start: last, end, synced: end })
    }

    /// Calls `f` with the bytes in `[from, to)` in order, at most `chunk`
    /// bytes at a time, each with the LSN it starts at. Reads only what it
    /// hands out, so a gigabyte of WAL needs a chunk of memory, not a
    /// gigabyte.
    pub fn read_range<E: From<io::Error>>(
        dir: &Path,
        from: Lsn,
        to: Lsn,
        chunk: usize,
        mut f: impl FnMut(Lsn, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        assert!(chunk > 0);
        let files = list(dir)?;
        let first = files
            .iter()
            .rposition(|s| *s <= from)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no local WAL file covers {from}")))?;
        let mut at = from;
        let mut buf = vec![0u8; chunk];
        for (i, &s) in files.iter().enumerate().skip(first) {
            if at >= to {
                break;
            }
            if s > at {
                return Err(
                    io::Error::new(io::ErrorKind::InvalidData, format!("local WAL gap: file {s} follows data ending at {at}")).into()
                );
            }
            let mut file = File::open(dir.join(file_name(s)))?;
            let len = file.metadata()?.len();
            // The newest file may be longer than what was handed to the
            // applier; older ones end where the next starts.
            let end = files.get(i + 1).map_or(Lsn(s.0 + len), |next| *next).min(to);
            file.seek(SeekFrom::Start(at.0 - s.0))?;
            while at < end {
                let n = ((end.0 - at.0) as usize).min(chunk);
                file.read_exact(&mut buf[..n])?;
                f(at, &buf[..n])?;
                at = Lsn(at.0 + n as u64);
            }
        }
        if at < to {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("local WAL ends at {at}, before {to}")).into());
        }
        Ok(())
    }

    pub fn end(&self) -> Lsn {
        self.end
    }

    pub fn synced(&self) -> Lsn {
        self.synced
    }

    /// Appends the bytes that start at `at`, which must be the current end.
    pub fn append(&mut self, at: Lsn, bytes: &[u8]) -> io::Result<()> {
        assert_eq!(at, self.end, "local WAL appends are contiguous");
        self.file.write_all(bytes)?;
        self.end = Lsn(self.end.0 + bytes.len() as u64);
        Ok(())
    }

    /// Makes everything appended durable.
    pub fn sync(&mut self) -> io::Result<Lsn> {
        if self.synced < self.end {
            self.file.sync_data()?;
            self.synced = self.end;
        }
        Ok(self.synced)
    }

    /// Cuts the WAL back to `lsn` (a partial frame after a reconnect, a torn
    /// tail after a crash). `lsn` must lie in the newest file.
    pub fn truncate_to(&mut self, lsn: Lsn) -> io::Result<()> {
        if lsn >= self.end {
            return Ok(());
        }
        assert!(lsn >= self.start, "truncation stays inside the newest local WAL file");
        self.file.set_len(lsn.0 - self.start.0)?;
        self.file.seek(SeekFrom::End(0))?;
        self.file.sync_data()?;
        self.end = lsn;
        self.synced = self.synced.min(lsn);
        Ok(())
    }

    /// Starts a new file at the current end (call only at a frame boundary).
    pub fn rotate(&mut self) -> io::Result<()> {
        if self.end == self.start {
            return Ok(());
        }
        self.sync()?;
        let file = OpenOptions::new().create(true).write(true).truncate(true).open(self.dir.join(file_name(self.end)))?;
        sync_dir(&self.dir)?;
        self.file = file;
        self.start = self.end;
        Ok(())
    }

    /// Cuts the WAL at `lsn`, makes it durable and moves its files into
    /// `to` (a promoted standby's WAL directory: the names and frames are the
    /// storage engine's own).
    pub fn hand_over(mut self, lsn: Lsn, to: &Path) -> io::Result<()> {
        self.truncate_to(lsn)?;
        self.sync()?;
        for start in list(&self.dir)? {
            std::fs::rename(self.dir.join(file_name(start)), to.join(file_name(start)))?;
        }
        sync_dir(to)?;
        sync_dir(&self.dir)
    }

    /// Removes files that end at or before `lsn`; never the newest.
    pub fn remove_before(dir: &Path, lsn: Lsn) -> io::Result<usize> {
        let files = list(dir)?;
        let mut removed = 0;
        for w in files.windows(2) {
            if w[1] <= lsn {
                std::fs::remove_file(dir.join(file_name(w[0])))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `read_range` hands out for `[from, to)`, checking that the
    /// chunks are contiguous and at most `chunk` bytes.
    fn read(dir: &Path, from: u64, to: u64, chunk: usize) -> io::Result<Vec<u8>> {
        let mut got = Vec::new();
        LocalWal::read_range::<io::Error>(dir, Lsn(from), Lsn(to), chunk, |at, b| {
            assert_eq!(at.0, from + got.len() as u64, "chunks are contiguous");
            assert!(b.len() <= chunk);
            got.extend_from_slice(b);
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn appends_rotates_replays_and_truncates() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let mut w = LocalWal::create(&dir, Lsn(100)).unwrap();
        w.append(Lsn(100), b"abcdef").unwrap();
        w.rotate().unwrap();
        w.append(Lsn(106), b"ghij").unwrap();
        assert_eq!(w.sync().unwrap(), Lsn(110));
        drop(w);
        let all = |from: u64| read(&dir, from, LocalWal::open(&dir).unwrap().end().0, 1 << 20);
        assert_eq!(all(103).unwrap(), b"defghij");
        let mut w = LocalWal::open(&dir).unwrap();
        assert_eq!(w.end(), Lsn(110));
        w.truncate_to(Lsn(108)).unwrap();
        w.append(Lsn(108), b"XY").unwrap();
        drop(w);
        assert_eq!(all(100).unwrap(), b"abcdefghXY");
        assert_eq!(LocalWal::remove_before(&dir, Lsn(107)).unwrap(), 1);
        assert!(all(100).is_err(), "the first file is gone");
        assert_eq!(all(106).unwrap(), b"ghXY");
    }

    #[test]
    fn reads_ranges_across_files_in_chunks() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let mut w = LocalWal::create(&dir, Lsn(100)).unwrap();
        w.append(Lsn(100), b"abcdef").unwrap();
        w.rotate().unwrap();
        w.append(Lsn(106), b"ghijkl").unwrap();
        let read = |from: u64, to: u64| read(&dir, from, to, 4).map(|got| String::from_utf8(got).unwrap());
        assert_eq!(read(100, 112).unwrap(), "abcdefghijkl");
        assert_eq!(read(103, 109).unwrap(), "defghi");
        assert_eq!(read(106, 106).unwrap(), "");
        assert!(read(104, 113).is_err(), "past the end is an error, not a short read");
        assert!(read(90, 100).is_err(), "before the first file");
    }
}
