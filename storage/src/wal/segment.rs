//! WAL segment files.
//!
//! The log is cut into files named by the LSN of their first byte
//! (`00000000014C0000.wal`), so finding the file that holds an LSN is a search
//! in a sorted list and removing old log is deleting whole files. A record never
//! spans two files: the writer starts a new file at the first record boundary
//! past the target size, so files are roughly, not exactly, `segment_size` long.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::lsn::Lsn;

pub const SUFFIX: &str = ".wal";

pub fn segment_path(dir: &Path, start: Lsn) -> PathBuf {
    dir.join(format!("{:016X}{SUFFIX}", start.0))
}

/// Start LSNs of all segment files in `dir`, ascending.
pub fn list_segments(dir: &Path) -> Result<Vec<Lsn>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(hex) = name.strip_suffix(SUFFIX) else { continue };
        if hex.len() != 16 {
            continue;
        }
        if let Ok(v) = u64::from_str_radix(hex, 16) {
            out.push(Lsn(v));
        }
    }
    out.sort();
    Ok(out)
}

/// The segment (by start LSN) that holds `lsn`: the last one starting at or before it.
pub fn segment_for(segments: &[Lsn], lsn: Lsn) -> Option<Lsn> {
    match segments.binary_search(&lsn) {
        Ok(i) => Some(segments[i]),
        Err(0) => None,
        Err(i) => Some(segments[i - 1]),
    }
}

/// Makes a directory entry durable (a new or removed file survives power loss
/// only once its directory is synced).
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}
