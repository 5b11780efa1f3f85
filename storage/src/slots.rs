//! Replication slots: how the primary knows which WAL a standby still needs.
//!
//! A slot remembers the oldest LSN its consumer may ask for again
//! (`restart_lsn`, advanced as the standby confirms it has flushed). WAL segments
//! are removed only below every slot's `restart_lsn` and the newest
//! checkpoint's redo point. A slot that falls more than `max_slot_wal_keep_size`
//! behind is invalidated — its WAL may then go — and its consumer is told to
//! rebuild, instead of the primary's disk filling up behind a dead standby.
//!
//! Slots are persisted (a small JSON file written atomically), so a restarted
//! primary keeps the WAL its standbys need.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lsn::Lsn;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub name: String,
    pub restart_lsn: Lsn,
    pub invalidated: bool,
}

pub struct Slots {
    path: PathBuf,
    slots: Mutex<BTreeMap<String, Slot>>,
}

impl Slots {
    pub fn load(dir: &Path) -> Result<Slots> {
        let path = dir.join("slots.json");
        let slots = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(Slots { path, slots: Mutex::new(slots) })
    }

    fn persist(&self, slots: &BTreeMap<String, Slot>) -> Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(slots).unwrap())?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            crate::wal::segment::sync_dir(dir)?;
        }
        Ok(())
    }

    /// Creates a slot holding WAL from `restart_lsn`, or returns the existing one.
    pub fn create(&self, name: &str, restart_lsn: Lsn) -> Result<Slot> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(Error::InvalidText(format!(
                "replication slot name \"{name}\" contains invalid character (use lower case letters, numbers and _)"
            )));
        }
        let mut slots = self.slots.lock();
        if let Some(s) = slots.get(name) {
            return Ok(s.clone());
        }
        let slot = Slot { name: name.to_string(), restart_lsn, invalidated: false };
        slots.insert(name.to_string(), slot.clone());
        self.persist(&slots)?;
        Ok(slot)
    }

    pub fn drop_slot(&self, name: &str) -> Result<()> {
        let mut slots = self.slots.lock();
        if slots.remove(name).is_none() {
            return Err(Error::UndefinedObject(format!("replication slot \"{name}\" does not exist")));
        }
        self.persist(&slots)
    }

    pub fn get(&self, name: &str) -> Option<Slot> {
        self.slots.lock().get(name).cloned()
    }

    /// The consumer confirmed it no longer needs WAL before `lsn`.
    pub fn advance(&self, name: &str, lsn: Lsn) -> Result<()> {
        let mut slots = self.slots.lock();
        let Some(s) = slots.get_mut(name) else { return Ok(()) };
        if lsn > s.restart_lsn && !s.invalidated {
            s.restart_lsn = lsn;
            self.persist(&slots)?;
        }
        Ok(())
    }

    pub fn list(&self) -> Vec<Slot> {
        self.slots.lock().values().cloned().collect()
    }

    /// Invalidates slots whose restart LSN is more than `max_keep` bytes behind
    /// `current` (0 = unlimited); returns their names.
    pub fn invalidate_lagging(&self, current: Lsn, max_keep: u64) -> Result<Vec<String>> {
        if max_keep == 0 {
            return Ok(Vec::new());
        }
        let mut slots = self.slots.lock();
        let mut out = Vec::new();
        for s in slots.values_mut() {
            if !s.invalidated && current.0.saturating_sub(s.restart_lsn.0) > max_keep {
                s.invalidated = true;
                out.push(s.name.clone());
            }
        }
        if !out.is_empty() {
            self.persist(&slots)?;
        }
        Ok(out)
    }

    /// Oldest LSN some valid slot still needs.
    pub fn min_restart_lsn(&self) -> Option<Lsn> {
        self.slots.lock().values().filter(|s| !s.invalidated).map(|s| s.restart_lsn).min()
    }
}
