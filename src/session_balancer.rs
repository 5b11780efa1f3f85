//! Which connection thread each session should run on: sessions that one
//! client thread drives belong together.
//!
//! The signal is the CPU each session's client last sent from
//! (`SO_INCOMING_CPU`), sampled by every busy session once per interval.
//! Within one interval, sessions whose client sent from the same CPU are one
//! group — a client thread, or several sharing that CPU. The plan gives each
//! group a thread of its own where it can (the thread that already holds
//! most of it, so as few sessions move as possible), and nothing else:
//!
//! ```text
//!   sampled:  a1 a2 b1 b2 on conn-0, a3 a4 b3 b4 on conn-1;  a* from CPU 0, b* from CPU 1
//!   groups:   {a1 a2 a3 a4} {b1 b2 b3 b4}
//!   plan:     a* → conn-0 (holds 2 of them; first by size, then CPU), b* → conn-1
//! ```
//!
//! Invariants of a plan: sessions not sampled in the interval (idle ones)
//! stay; with fewer than two groups there is nothing to learn and nothing
//! moves (all clients on one CPU say nothing about which belong together);
//! no thread is planned more than `ceil(sessions / threads) + 1` sessions
//! unless it held them already — balance bounds affinity, so one client
//! thread's many connections still spread over the cores.

use std::collections::BTreeMap;

/// A session as the balancer sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The thread it runs on.
    pub thread: usize,
    /// The CPU its client sent from in this interval; None if it did not
    /// sample (idle).
    pub cpu: Option<usize>,
}

/// Each session's planned thread, in the order given.
pub fn plan(sessions: &[Seen], threads: usize) -> Vec<usize> {
    assert!(threads >= 1);
    let mut planned: Vec<usize> = sessions.iter().map(|s| s.thread).collect();
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, s) in sessions.iter().enumerate() {
        if let Some(cpu) = s.cpu {
            groups.entry(cpu).or_default().push(i);
        }
    }
    if groups.len() < 2 || threads < 2 {
        return planned;
    }
    // Largest groups choose first; BTreeMap order (by CPU) breaks ties, so a
    // plan is the same from one interval to the next for the same input.
    let mut order: Vec<&Vec<usize>> = groups.values().collect();
    order.sort_by_key(|members| std::cmp::Reverse(members.len()));
    let mut claimed = vec![false; threads];
    for members in order {
        let mut overlap = vec![0usize; threads];
        for &i in members {
            overlap[sessions[i].thread] += 1;
        }
        let free = claimed.iter().any(|c| !c);
        let home = (0..threads).filter(|&t| !free || !claimed[t]).max_by_key(|&t| (overlap[t], std::cmp::Reverse(t))).expect("threads ≥ 1");
        claimed[home] = true;
        for &i in members {
            planned[i] = home;
        }
    }
    keep_balance(sessions, &mut planned, threads);
    planned
}

/// Undoes planned moves into any thread that would hold more than its share
/// plus one, the last planned first.
fn keep_balance(sessions: &[Seen], planned: &mut [usize], threads: usize) {
    let cap = sessions.len().div_ceil(threads) + 1;
    let mut load = vec![0usize; threads];
    for &t in planned.iter() {
        load[t] += 1;
    }
    for i in (0..sessions.len()).rev() {
        let (to, from) = (planned[i], sessions[i].thread);
        if to != from && load[to] > cap {
            planned[i] = from;
            load[to] -= 1;
            load[from] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(list: &[(usize, Option<usize>)]) -> Vec<Seen> {
        list.iter().map(|&(thread, cpu)| Seen { thread, cpu }).collect()
    }

    #[test]
    fn two_client_threads_mixed_over_two_threads_are_gathered() {
        // pgbench -j 2 -c 8, dealt round-robin: a a b b on 0, a a b b on 1.
        let s = seen(&[(0, Some(0)), (0, Some(0)), (0, Some(1)), (0, Some(1)), (1, Some(0)), (1, Some(0)), (1, Some(1)), (1, Some(1))]);
        assert_eq!(plan(&s, 2), vec![0, 0, 1, 1, 0, 0, 1, 1]);
    }

    #[test]
    fn a_group_keeps_the_thread_that_holds_most_of_it() {
        // The CPU-1 client is mostly on thread 0: it keeps thread 0.
        let s = seen(&[(0, Some(1)), (0, Some(1)), (0, Some(1)), (1, Some(1)), (1, Some(0)), (1, Some(0)), (0, Some(0))]);
        assert_eq!(plan(&s, 2), vec![0, 0, 0, 0, 1, 1, 1]);
    }

    #[test]
    fn one_group_says_nothing_and_nothing_moves() {
        let s = seen(&[(0, Some(3)), (1, Some(3)), (0, Some(3)), (1, None)]);
        assert_eq!(plan(&s, 2), vec![0, 1, 0, 1]);
    }

    #[test]
    fn idle_sessions_stay() {
        let s = seen(&[(1, None), (0, Some(0)), (1, Some(0)), (0, Some(1)), (1, Some(1))]);
        let p = plan(&s, 2);
        assert_eq!(p[0], 1);
        assert_eq!(p[1], p[2]);
        assert_eq!(p[3], p[4]);
        assert_ne!(p[1], p[3]);
    }

    #[test]
    fn balance_bounds_a_large_group() {
        // Six sessions from CPU 0, two from CPU 1, all mixed: thread 0 may
        // take at most ceil(8/2) + 1 = 5.
        let s = seen(&[(0, Some(0)), (1, Some(0)), (0, Some(0)), (1, Some(0)), (0, Some(0)), (1, Some(0)), (0, Some(1)), (1, Some(1))]);
        let p = plan(&s, 2);
        assert!(p.iter().filter(|&&t| t == 0).count() <= 5, "{p:?}");
        assert_eq!(p[6], p[7], "the small group is gathered");
    }

    #[test]
    fn more_client_threads_than_threads_share_them() {
        // Three client CPUs on two threads: every group is gathered somewhere.
        let s = seen(&[(0, Some(0)), (1, Some(0)), (0, Some(1)), (1, Some(1)), (0, Some(2)), (1, Some(2))]);
        let p = plan(&s, 2);
        assert_eq!(p[0], p[1]);
        assert_eq!(p[2], p[3]);
        assert_eq!(p[4], p[5]);
    }

    #[test]
    fn a_plan_is_stable() {
        let s = seen(&[(0, Some(0)), (0, Some(0)), (0, Some(1)), (0, Some(1)), (1, Some(0)), (1, Some(0)), (1, Some(1)), (1, Some(1))]);
        let p = plan(&s, 2);
        let after: Vec<Seen> = s.iter().zip(&p).map(|(s, &t)| Seen { thread: t, cpu: s.cpu }).collect();
        assert_eq!(plan(&after, 2), p, "a plan carried out plans no further moves");
    }
}
