//! Freeing large structures off the statement's path.
//!
//! Dropping a table of a million rows frees a million allocations and an
//! index or two: tens of milliseconds. DROP TABLE and TRUNCATE should return
//! as soon as the change is committed — PostgreSQL's return once the files are
//! scheduled for unlinking — and a connection thread's other sessions should
//! not wait for the free either. `later` hands the value to one background
//! thread that drops it:
//!
//! ```text
//!   commit of DROP TABLE ──later(old storage)──▶ [bounded queue] ──▶ duetdb-reclaim: drop
//!                        (queue full, or no thread: the caller drops it)
//! ```
//!
//! The queue is bounded, so memory waiting to be freed is at most its worth;
//! the value must not need the caller (no locks held, no waiting on others).

use std::sync::OnceLock;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

/// Values waiting to be dropped before `later` drops in place.
const QUEUE: usize = 16;

type Garbage = Box<dyn Send>;

/// Drops `value` on the background thread, or here when its queue is full.
pub fn later<T: Send + 'static>(value: T) {
    static QUEUE_TX: OnceLock<Option<SyncSender<Garbage>>> = OnceLock::new();
    let tx = QUEUE_TX.get_or_init(|| {
        let (tx, rx) = sync_channel::<Garbage>(QUEUE);
        let started = std::thread::Builder::new().name("duetdb-reclaim".into()).spawn(move || {
            for garbage in rx {
                drop(garbage);
            }
        });
        match started {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!("no reclaim thread ({e}): large structures are freed where they are released");
                None
            }
        }
    });
    match tx {
        Some(tx) => match tx.try_send(Box::new(value)) {
            Ok(()) => {}
            // Dropped here, now: the value comes back inside the error.
            Err(TrySendError::Full(garbage) | TrySendError::Disconnected(garbage)) => drop(garbage),
        },
        None => drop(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Sender, channel};
    use std::thread::ThreadId;

    /// Reports the thread that drops it.
    struct Probe(Sender<ThreadId>);

    impl Drop for Probe {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::current().id());
        }
    }

    #[test]
    fn values_are_dropped_on_another_thread() {
        // Other tests share the queue: a probe that met a full queue was
        // dropped here; the next one, after a pause, finds room.
        let me = std::thread::current().id();
        let elsewhere = (0..100).any(|_| {
            let (tx, rx) = channel();
            later(Probe(tx));
            let dropped_on = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the probe is dropped");
            std::thread::sleep(std::time::Duration::from_millis(10));
            dropped_on != me
        });
        assert!(elsewhere, "every probe was dropped by the caller");
    }

    #[test]
    fn every_value_is_dropped_even_past_the_queue() {
        let (tx, rx) = channel();
        let n = QUEUE * 8;
        for _ in 0..n {
            later(Probe(tx.clone()));
        }
        drop(tx);
        let dropped = rx.iter().take(n).count();
        assert_eq!(dropped, n);
    }
}
