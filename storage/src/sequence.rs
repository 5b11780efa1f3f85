//! Sequences: `nextval`, `currval`, `setval`.
//!
//! As in PostgreSQL, sequences are not transactional — a rolled-back
//! transaction does not give its numbers back — and they are cheap: the WAL
//! records a value 32 steps ahead of what was handed out, so only every 32nd
//! `nextval` writes a record. After a crash the sequence resumes at the logged
//! value, skipping at most 32 numbers and never repeating one. A transaction
//! that called `nextval` waits at commit for that record to be durable even if
//! it wrote nothing else, so a number a client saw can never come back.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::catalog::SequenceDef;
use crate::error::{Error, Result};

pub const LOG_AHEAD: i64 = 32;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeqState {
    pub last_value: i64,
    pub is_called: bool,
    /// Highest value the WAL promises will not be handed out again after recovery.
    pub logged: i64,
}

#[derive(Default)]
pub struct Sequences {
    states: Mutex<HashMap<u32, SeqState>>,
}

impl Sequences {
    pub fn from_states(states: HashMap<u32, SeqState>) -> Sequences {
        Sequences { states: Mutex::new(states) }
    }

    pub fn snapshot(&self) -> HashMap<u32, SeqState> {
        self.states.lock().clone()
    }

    /// Hands out the next value of `def`. When the logged-ahead value moves,
    /// `log(value)` appends its WAL record *under the sequence lock*: records of
    /// one sequence then reach the WAL in the order their values were decided,
    /// so replay (which keeps the last record) never ends on a stale, lower
    /// value and hands numbers out twice.
    pub fn next<L>(&self, def: &SequenceDef, log: impl FnOnce(i64) -> Result<L>) -> Result<(i64, Option<L>)> {
        let mut states = self.states.lock();
        let st = states.entry(def.id).or_insert(SeqState { last_value: def.start, is_called: false, logged: 0 });
        let value = if !st.is_called {
            st.last_value
        } else {
            match st.last_value.checked_add(def.increment) {
                Some(v) if v <= def.max && v >= def.min => v,
                _ if def.cycle => {
                    if def.increment > 0 {
                        def.min
                    } else {
                        def.max
                    }
                }
                _ => {
                    return Err(Error::ObjectNotInPrerequisiteState(format!(
                        "nextval: reached {} value of sequence \"{}\" ({})",
                        if def.increment > 0 { "maximum" } else { "minimum" },
                        def.name,
                        if def.increment > 0 { def.max } else { def.min }
                    )));
                }
            }
        };
        let needs_log = if def.increment > 0 { value > st.logged || st.logged == 0 } else { value < st.logged || st.logged == 0 };
        if !needs_log {
            st.last_value = value;
            st.is_called = true;
            return Ok((value, None));
        }
        let ahead = value.saturating_add(def.increment.saturating_mul(LOG_AHEAD)).clamp(def.min, def.max);
        // Log first: if the append fails, the value was never handed out.
        let logged = log(ahead)?;
        st.last_value = value;
        st.is_called = true;
        st.logged = ahead;
        Ok((value, Some(logged)))
    }

    /// `setval`: `log` appends the (value, is_called) record under the lock, as in `next`.
    pub fn set<L>(&self, def: &SequenceDef, value: i64, is_called: bool, log: impl FnOnce() -> Result<L>) -> Result<L> {
        if value < def.min || value > def.max {
            return Err(Error::NumericOutOfRange(format!(
                "setval: value {value} is out of bounds for sequence \"{}\" ({}..{})",
                def.name, def.min, def.max
            )));
        }
        let mut states = self.states.lock();
        let logged = log()?;
        states.insert(def.id, SeqState { last_value: value, is_called, logged: value });
        Ok(logged)
    }

    /// Applies a logged value during recovery or on a replica: the sequence
    /// resumes after it.
    pub fn apply_logged(&self, id: u32, value: i64, is_called: bool) {
        self.states.lock().insert(id, SeqState { last_value: value, is_called, logged: value });
    }

    pub fn get(&self, id: u32) -> Option<SeqState> {
        self.states.lock().get(&id).copied()
    }

    pub fn remove(&self, id: u32) {
        self.states.lock().remove(&id);
    }
}
