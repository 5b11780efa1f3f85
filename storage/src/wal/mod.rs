//! The write-ahead log.
//!
//! Every committed change reaches disk here first, as logical redo (see
//! `record`), in one contiguous byte stream addressed by LSN and cut into
//! segment files (`segment`). One writer thread makes appends durable with
//! group commit (`writer`), by direct synchronous writes where the file system
//! allows (`segment_file`), in segment files zero-filled ahead of need
//! (`prealloc`); recovery and WAL senders read it back (`reader`).

pub mod prealloc;
pub mod reader;
pub mod record;
pub mod segment;
pub mod segment_file;
pub mod writer;

pub use reader::{RawRecord, Stop, WalReader};
pub use record::{Change, Kind, WalRecord};
pub use writer::{FIRST_LSN, Wal, WalConfig};
