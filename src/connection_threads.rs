//! Connection threads: where client sessions run.
//!
//! A connection is served, from its startup packet to its last message, on
//! one of N threads, each a single-threaded tokio runtime of its own
//! (`connection_threads`, default one per CPU core). The accept loop deals
//! new connections out round-robin, and sessions move to the thread of their
//! client (below):
//!
//! ```text
//!   accept loop ──┬──▶ connection thread 0: session, session, …
//!  (shared pool)  └──▶ connection thread 1: session, session, …
//!                              │ a DataFusion plan's execution
//!                              ▼
//!                       shared worker pool (query::execute), batches back
//! ```
//!
//! Why: on tokio's work-stealing pool a statement's round trip — socket
//! readable, session runs, waits for its WAL flush, answers — woke tasks on
//! one worker and handed them to others, and the futex wakeups and context
//! switches that cost were a quarter of the server's CPU per transaction. A
//! session on its own thread is woken by the kernel where it runs. Measured
//! (docs/benchmarks.md, 2026-12-05): pgbench tpcb-like `-M prepared` 8.1–8.5K
//! → 9.1K TPS, server CPU 122–129 → 109–112 µs per transaction.
//!
//! The cost: sessions that share a thread share its CPU, so a statement that
//! computes long without awaiting delays the others on its thread. What runs
//! long — DataFusion's scans, joins and aggregates — therefore runs on the
//! shared pool (its partitions in parallel, as before) and the session awaits
//! the batches; the session thread keeps protocol work, the key-lookup fast
//! path and applying DML, whose row writes yield now and then.
//!
//! Sessions follow their client. A client that drives several connections
//! from one thread (pgbench's threads, an async application's pool) sends
//! to all of them in one burst and reads all the replies in one wakeup — if
//! the server's side of them is one thread too. Spread over two threads,
//! each burst wakes both and each thread's replies wake the client
//! separately: pgbench select-only at 8 clients, 2 threads, ran 83–89K TPS
//! with its connections mixed over the server's threads and 122–130K with
//! each pgbench thread's on one (docs/benchmarks.md, 2026-12-05 10:30). The
//! server cannot tell at accept time which client thread a connection
//! belongs to, so it learns it: once per `BALANCE_EVERY` each busy session
//! asks the kernel which CPU its client's last message came from
//! (`SO_INCOMING_CPU`: the CPU the sending thread ran on, for a local client;
//! the receive queue's, for a remote one; while no session is busy the
//! balancer backs off to once a second), and a balancer thread groups the
//! sessions by it and gives each group a thread (`session_balancer`); a
//! session whose thread two plans in a row agree on moves there:
//!
//! ```text
//!   client thread A (CPU 0): a1 a2 a3 a4      client thread B (CPU 1): b1 b2 b3 b4
//!   before:  conn-0: a1 a2 b1 b2   conn-1: a3 a4 b3 b4
//!   after:   conn-0: a1 a2 a3 a4   conn-1: b1 b2 b3 b4   (moves of a3 a4 b1 b2)
//! ```
//!
//! Balance bounds affinity (no thread is planned more than its share plus
//! one), so a single client thread's many connections still use every core.
//! A move happens only between messages — the session waits for its client,
//! its output flushed — so no statement, COPY or result is split over
//! threads; TLS sessions stay where they started.
//!
//! Invariants: a session runs on one thread at a time and moves only when
//! idle; the queue between the accept loop and a thread holds sockets and
//! idle sessions only, and a thread takes each as soon as it next waits (a
//! row-writing statement yields every 128 writes, see `take_turn` in the
//! engine), so the queue is as long as what was handed over in that moment —
//! max_connections is enforced at startup, on the thread; a thread ends only
//! once the accept loop has ended *and* no session is left anywhere (each
//! holds the queues' senders), so a smart shutdown, which stops accepting and
//! then waits for sessions, does not cut them off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::server::Server;
use crate::session_balancer::{Seen, plan};

/// Whether this code runs on a connection thread's own runtime (a
/// single-threaded one), not on a worker of the shared pool.
pub fn on_connection_thread() -> bool {
    tokio::runtime::Handle::try_current().is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

/// Runs `f`, which blocks (a sleep, a file read). On a worker of the shared
/// pool tokio is told first (`block_in_place`), so the worker's other tasks
/// move on; a single-threaded runtime has nowhere to move them to, and
/// `block_in_place` would panic there, so `f` just runs.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// What a thread is handed: a new connection, whose socket leaves the
/// accepting runtime's reactor and joins the thread's, or an idle session
/// moving in from another thread.
enum Handoff {
    New { socket: std::net::TcpStream, peer: SocketAddr, server: Arc<Server>, tls: Option<tokio_rustls::TlsAcceptor>, placement: Placement },
    Moved(Box<crate::protocol::IdleSession>),
}

/// How sessions choose their thread after the first (`session_affinity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Affinity {
    /// Stay where dealt.
    None,
    /// Gather the sessions one client thread drives on one thread, grouped
    /// by the CPU their client sends from (the default).
    ClientCpu,
    /// Move to the next thread at every idle point: a test of moving itself.
    DebugRotate,
}

impl Affinity {
    pub fn parse(s: &str) -> Affinity {
        match s {
            "none" => Affinity::None,
            "debug_rotate" => Affinity::DebugRotate,
            _ => Affinity::ClientCpu,
        }
    }
}

/// How often the balancer plans (`session_balancer`); each busy session
/// samples its client's CPU once per interval (one `getsockopt`).
const BALANCE_EVERY: Duration = Duration::from_millis(25);

/// While no session is busy, the balancer backs off to this (an idle server
/// should not wake 40 times a second); the first busy interval after it ends
/// the backoff, so a new load is grouped at most this late.
const BALANCE_IDLE_MAX: Duration = Duration::from_secs(1);

/// The balancer's next sleep after `idle` intervals in a row in which no
/// session sampled: doubling from `BALANCE_EVERY` up to `BALANCE_IDLE_MAX`.
fn balance_sleep(idle: u32) -> Duration {
    BALANCE_EVERY.saturating_mul(1u32 << idle.min(16)).min(BALANCE_IDLE_MAX)
}

/// The threads and their queues, shared by the accept loop and every
/// session's `Placement`.
struct Threads {
    queues: Vec<tokio::sync::mpsc::UnboundedSender<Handoff>>,
    next: AtomicUsize,
    affinity: Affinity,
    /// The balancer's interval number; a session's sample is of the interval
    /// it names.
    interval: AtomicU64,
    /// Every session's slot, for the balancer (dead ones pruned as it goes).
    slots: parking_lot::Mutex<Vec<Weak<Slot>>>,
}

/// What a session shares with the balancer.
struct Slot {
    /// The thread it runs on.
    thread: AtomicUsize,
    /// The thread the balancer wants it on.
    target: AtomicUsize,
    /// Its client's CPU, as last sampled, and the balancer interval that
    /// sample belongs to (0: never sampled).
    cpu: AtomicUsize,
    sampled: AtomicU64,
}

pub struct ConnectionThreads {
    threads: Arc<Threads>,
}

impl ConnectionThreads {
    /// Starts `n` threads (n ≥ 1), and the balancer if sessions follow their
    /// clients. Their DataFusion work goes to the pool of the runtime this is
    /// called on.
    pub fn start(n: usize, affinity: Affinity) -> std::io::Result<ConnectionThreads> {
        assert!(n >= 1, "at least one connection thread");
        // With one thread there is nowhere to move to: no balancer, and no
        // session registers a slot that only the balancer would prune.
        let affinity = if n == 1 { Affinity::None } else { affinity };
        if let Ok(pool) = tokio::runtime::Handle::try_current() {
            crate::sql::query::set_query_pool(pool);
        }
        let mut queues = Vec::with_capacity(n);
        let mut receivers = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            queues.push(tx);
            receivers.push(rx);
        }
        let threads = Arc::new(Threads {
            queues,
            next: AtomicUsize::new(0),
            affinity,
            interval: AtomicU64::new(0),
            slots: parking_lot::Mutex::new(Vec::new()),
        });
        for (i, rx) in receivers.into_iter().enumerate() {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            std::thread::Builder::new().name(format!("duetdb-conn-{i}")).spawn(move || runtime.block_on(serve_handoffs(rx)))?;
        }
        if affinity == Affinity::ClientCpu {
            let weak = Arc::downgrade(&threads);
            std::thread::Builder::new().name("duetdb-balancer".into()).spawn(move || balance(weak))?;
        }
        Ok(ConnectionThreads { threads })
    }

    /// Serves a connection on the next thread in turn.
    pub fn serve(&self, socket: tokio::net::TcpStream, peer: SocketAddr, server: Arc<Server>, tls: Option<tokio_rustls::TlsAcceptor>) {
        let socket = match socket.into_std() {
            Ok(s) => s,
            Err(e) => return tracing::warn!(%peer, error = %e, "could not hand the connection to a session thread"),
        };
        let t = &self.threads;
        let i = t.next.fetch_add(1, Ordering::Relaxed) % t.queues.len();
        let placement = Placement::enter(t.clone(), i);
        // A thread's loop ends only when every sender is dropped, so this
        // cannot fail while the thread lives; should the thread have died,
        // the client sees its connection closed and accepting goes on.
        if t.queues[i].send(Handoff::New { socket, peer, server, tls, placement }).is_err() {
            tracing::error!(%peer, thread = i, "connection thread has ended; connection closed");
        }
    }
}

/// The balancer's loop: every interval, plans from the sessions' samples
/// and sets the targets that two plans in a row agree on (a client thread
/// that passes through another CPU moves no one). Ends with the threads.
fn balance(threads: Weak<Threads>) {
    let mut last: HashMap<*const Slot, usize> = HashMap::new();
    let mut idle = 0;
    loop {
        std::thread::sleep(balance_sleep(idle));
        let Some(t) = threads.upgrade() else { return };
        let interval = t.interval.fetch_add(1, Ordering::Relaxed) + 1;
        let slots: Vec<Arc<Slot>> = {
            let mut all = t.slots.lock();
            all.retain(|w| w.strong_count() > 0);
            all.iter().filter_map(Weak::upgrade).collect()
        };
        let seen: Vec<Seen> = slots
            .iter()
            .map(|s| Seen {
                thread: s.thread.load(Ordering::Relaxed),
                cpu: (s.sampled.load(Ordering::Relaxed) == interval).then(|| s.cpu.load(Ordering::Relaxed)),
            })
            .collect();
        idle = if seen.iter().any(|s| s.cpu.is_some()) { 0 } else { idle.saturating_add(1) };
        let planned = plan(&seen, t.queues.len());
        let mut now = HashMap::with_capacity(slots.len());
        for ((slot, seen), &to) in slots.iter().zip(&seen).zip(&planned) {
            let key = Arc::as_ptr(slot);
            if to == seen.thread || last.get(&key) == Some(&to) {
                slot.target.store(to, Ordering::Relaxed);
            }
            now.insert(key, to);
        }
        last = now;
    }
}

/// Where a session runs, and whether it should move: one per session on a
/// connection thread.
pub struct Placement {
    threads: Arc<Threads>,
    slot: Arc<Slot>,
    /// Set by a move, cleared at the next idle point: a session that has
    /// just moved waits for a message before it may move again, so that it
    /// cannot be passed around without being served.
    arrived: bool,
}

impl Placement {
    fn enter(threads: Arc<Threads>, index: usize) -> Placement {
        let slot = Arc::new(Slot {
            thread: AtomicUsize::new(index),
            target: AtomicUsize::new(index),
            cpu: AtomicUsize::new(0),
            sampled: AtomicU64::new(0),
        });
        if threads.affinity == Affinity::ClientCpu {
            threads.slots.lock().push(Arc::downgrade(&slot));
        }
        Placement { threads, slot, arrived: false }
    }

    /// Called each time the session goes idle, with its socket: the thread
    /// it should move to now, if any.
    pub fn should_move(&mut self, socket: &impl std::os::fd::AsRawFd) -> Option<usize> {
        if std::mem::take(&mut self.arrived) {
            return None;
        }
        let n = self.threads.queues.len();
        let here = self.slot.thread.load(Ordering::Relaxed);
        match self.threads.affinity {
            Affinity::None => None,
            Affinity::DebugRotate => (n > 1).then_some((here + 1) % n),
            Affinity::ClientCpu => {
                // Sample once per interval: the sample is of the interval
                // the balancer will close next.
                let interval = self.threads.interval.load(Ordering::Relaxed) + 1;
                if self.slot.sampled.load(Ordering::Relaxed) != interval {
                    if let Some(cpu) = incoming_cpu(socket.as_raw_fd()) {
                        self.slot.cpu.store(cpu, Ordering::Relaxed);
                        self.slot.sampled.store(interval, Ordering::Relaxed);
                    }
                }
                let target = self.slot.target.load(Ordering::Relaxed);
                (target != here && target < n).then_some(target)
            }
        }
    }

    /// Hands an idle session to thread `to`; it goes on there.
    pub fn move_to(mut session: Box<crate::protocol::IdleSession>, to: usize) {
        let placement = session.placement_mut();
        let threads = placement.threads.clone();
        placement.arrived = true;
        placement.slot.thread.store(to, Ordering::Relaxed);
        session.server().metrics.session_moves.fetch_add(1, Ordering::Relaxed);
        // Cannot fail: this session holds the queues' senders, so every
        // thread's loop is still running.
        if threads.queues[to].send(Handoff::Moved(session)).is_err() {
            tracing::error!(thread = to, "connection thread has ended; session closed");
        }
    }
}

/// The CPU that handled the socket's last incoming packet (Linux's
/// `SO_INCOMING_CPU`); None where the system does not say.
fn incoming_cpu(fd: std::os::fd::RawFd) -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        let mut cpu: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `fd` is an open socket, and the buffer is an int with its length.
        let rc = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_INCOMING_CPU, (&mut cpu as *mut libc::c_int).cast(), &mut len) };
        if rc == 0 && cpu >= 0 {
            return Some(cpu as usize);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
    None
}

/// One thread's loop: serves what it is handed until no session is left
/// anywhere and the accept loop has ended (the queue closes only then).
async fn serve_handoffs(mut queue: tokio::sync::mpsc::UnboundedReceiver<Handoff>) {
    while let Some(h) = queue.recv().await {
        match h {
            Handoff::New { socket, peer, server, tls, placement } => match tokio::net::TcpStream::from_std(socket) {
                Ok(socket) => drop(tokio::spawn(crate::protocol::serve(server, socket, peer, tls, Some(placement)))),
                Err(e) => tracing::warn!(%peer, error = %e, "could not register the connection"),
            },
            Handoff::Moved(session) => drop(tokio::spawn(crate::protocol::resume(session))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balancer_backs_off_while_idle_up_to_its_bound() {
        assert_eq!(balance_sleep(0), BALANCE_EVERY);
        assert_eq!(balance_sleep(1), BALANCE_EVERY * 2);
        assert!(balance_sleep(3) < BALANCE_IDLE_MAX);
        assert_eq!(balance_sleep(6), BALANCE_IDLE_MAX);
        assert_eq!(balance_sleep(u32::MAX), BALANCE_IDLE_MAX);
    }
}
