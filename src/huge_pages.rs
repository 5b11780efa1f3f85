//! `huge_pages`: whether the server's memory is backed by transparent huge
//! pages (THP).
//!
//! duetdb's tables live in process memory allocated by mimalloc, which asks
//! the kernel for transparent huge pages (`madvise(MADV_HUGEPAGE)`) wherever
//! it can. Huge pages trade two costs:
//!
//! ```text
//!   with THP     a point lookup misses the TLB less     (430 ns vs 530 ns, criterion)
//!                first touch of fresh memory zeroes 2 MiB at a time, and on a
//!                virtual machine that hands free 2 MiB blocks back to its host
//!                (free page reporting) every fault is also a host fault:
//!                5.8 s/GiB measured here, against 0.3 s/GiB for 4 KiB pages
//!   without      the OS reuses recently freed small pages; a bulk load or an
//!                index build of 1M rows costs the same on a fresh server as
//!                on a warm one (pgbench -i -s 10: 0.67 s vs 1.9-2.6 s with THP)
//! ```
//!
//! The default is `off`, as Redis, MongoDB and most PostgreSQL tuning guides
//! advise for latency-sensitive servers: a stall proportional to memory
//! touched, at unpredictable moments, is worse than a steady 20 % on a lookup
//! that is a small part of a statement's cost (pgbench's select-only TPS did
//! not change). `try` lets mimalloc use them; `on` also refuses to start when
//! the kernel has THP switched off, as PostgreSQL's `huge_pages = on` refuses
//! to start without huge pages.
//!
//! The choice is the process's (`prctl(PR_SET_THP_DISABLE)`): the kernel
//! checks it at every page fault, so it holds for memory allocated before the
//! call too, from the next fault on.

use crate::error::{SqlError, SqlResult};

/// The values the setting takes.
pub const VALUES: &[&str] = &["off", "try", "on"];

/// Applies `huge_pages` to this process.
pub fn apply(value: &str) -> SqlResult<()> {
    let allow = match value {
        "off" => false,
        "try" => true,
        "on" => {
            if !kernel_allows_thp() {
                return Err(SqlError::new("0A000", "huge_pages is \"on\", but the kernel has transparent huge pages disabled")
                    .with_hint("Set huge_pages to \"try\" or \"off\", or enable THP in /sys/kernel/mm/transparent_hugepage/enabled."));
            }
            true
        }
        other => return Err(SqlError::new("22023", format!("invalid value for parameter \"huge_pages\": \"{other}\""))),
    };
    set_process_thp(allow)
}

#[cfg(target_os = "linux")]
fn set_process_thp(allow: bool) -> SqlResult<()> {
    // SAFETY: PR_SET_THP_DISABLE takes one integer flag and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, if allow { 0 } else { 1 } as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        // Old kernels (< 3.15) lack the flag; the server runs either way.
        tracing::warn!(error = %std::io::Error::last_os_error(), "could not set the process's transparent huge pages");
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_process_thp(_allow: bool) -> SqlResult<()> {
    Ok(())
}

/// Whether the kernel gives huge pages to a process that asks for them
/// (`always` or `madvise`, not `never`).
fn kernel_allows_thp() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").is_ok_and(|s| !s.contains("[never]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_refused() {
        assert_eq!(apply("sometimes").unwrap_err().code, "22023");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn off_and_try_set_the_process_flag() {
        let flag = || unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        apply("off").unwrap();
        assert_eq!(flag(), 1);
        apply("try").unwrap();
        assert_eq!(flag(), 0);
    }
}
