//! CPU time per query, split between this process (the client side: sqlx,
//! tokio, the runtime's routing; from `getrusage`) and the server backends
//! of an arm's connections (from `/proc/<pid>/task/*/schedstat`, nanoseconds
//! on CPU), so the server side works only on Linux and only when the server
//! runs on this machine; otherwise it is reported as unknown.
//!
//! Why: throughput alone cannot say whether an arm loses time in the client
//! (more round trips, more work per query) or in PostgreSQL (planning, cold
//! catalog caches); the split does.

use std::path::Path;

/// CPU time of every thread of process `pid`, in nanoseconds.
pub fn process_cpu_ns(pid: u32) -> Option<u64> {
    tasks_cpu_ns(&Path::new("/proc").join(pid.to_string()))
}

/// CPU time of this process (every thread, including threads that have
/// exited, such as idle tokio blocking threads), in nanoseconds.
pub fn own_cpu_ns() -> Option<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `getrusage` writes a `rusage` into the pointer it is given,
    // which points at one valid, writable `rusage`.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    // SAFETY: `getrusage` succeeded, so it filled the struct (which was
    // zeroed to begin with, so every field is initialised either way).
    let usage = unsafe { usage.assume_init() };
    let nanos = |time: libc::timeval| -> Option<u64> {
        let seconds = u64::try_from(time.tv_sec).ok()?;
        let micros = u64::try_from(time.tv_usec).ok()?;
        Some(seconds * 1_000_000_000 + micros * 1_000)
    };
    Some(nanos(usage.ru_utime)? + nanos(usage.ru_stime)?)
}

/// The CPU time of the live threads of a process. A thread that exits
/// between listing and reading is skipped (a backend has only one).
fn tasks_cpu_ns(process: &Path) -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir(process.join("task")).ok()? {
        let Ok(task) = task else { continue };
        let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        // "<ns on cpu> <ns waiting> <timeslices>"
        total += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Whether `pid` is a PostgreSQL backend on this machine (its process title
/// starts with `postgres:`), so that its CPU time can be read. A server on
/// another host reuses pids that mean nothing here.
pub fn is_local_backend(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| cmdline.starts_with(b"postgres:"))
        .unwrap_or(false)
}

/// CPU time of several local backends, `None` when any cannot be read.
pub fn backends_cpu_ns(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&pid| process_cpu_ns(pid)).sum()
}

/// The machine's CPU time so far, from the first line of `/proc/stat`
/// (clock ticks summed over every CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineTicks {
    /// Every state, steal included.
    pub total: u64,
    /// Time the hypervisor ran something else while a virtual CPU wanted to run.
    pub steal: u64,
}

/// Reads [`MachineTicks`]; `None` off Linux or when `/proc/stat` has no
/// steal column (kernels before 2.6.11).
pub fn machine_ticks() -> Option<MachineTicks> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// Why: on a virtual machine the host takes CPU time from the guest
/// ("steal"), which slows an arm without any cause in the benchmark; runs
/// on shared hosts varied far more than slices within a run, and the
/// stolen share says which runs to distrust.
fn parse_machine_ticks(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().next()?;
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    // user nice system idle iowait irq softirq steal [guest guest_nice]:
    // guest time is already counted in user and nice.
    let values: Vec<u64> = fields
        .take(8)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    if values.len() < 8 {
        return None;
    }
    Some(MachineTicks {
        total: values.iter().sum(),
        steal: values[7],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_steal_and_total_are_read_from_the_cpu_line() {
        let stat = "cpu  72584 0 17240 73509 1257 0 3861 5886 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(
            parse_machine_ticks(stat),
            Some(MachineTicks {
                total: 72584 + 17240 + 73509 + 1257 + 3861 + 5886,
                steal: 5886,
            })
        );
        assert_eq!(
            parse_machine_ticks("cpu  1 2 3 4\n"),
            None,
            "no steal column"
        );
        assert_eq!(parse_machine_ticks("intr 1 2 3 4 5 6 7 8\n"), None);
        assert_eq!(parse_machine_ticks(""), None);
        let live = machine_ticks().expect("Linux has /proc/stat with a steal column");
        assert!(live.total > 0 && live.steal <= live.total);
    }

    #[test]
    fn own_cpu_time_grows_with_work() {
        let before = own_cpu_ns().expect("getrusage(RUSAGE_SELF) succeeds");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        std::hint::black_box(x);
        let after = own_cpu_ns().expect("getrusage(RUSAGE_SELF) succeeds");
        assert!(after > before, "CPU time did not grow: {before} -> {after}");
    }

    #[test]
    fn this_process_threads_are_read_while_threads_come_and_go() {
        // Threads exit while the task directory is read: never a failure.
        let churn: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(|| std::hint::black_box(1 + 1)))
            .collect();
        for _ in 0..50 {
            assert!(process_cpu_ns(std::process::id()).is_some());
        }
        for thread in churn {
            thread.join().expect("the thread ran");
        }
    }

    #[test]
    fn a_non_postgres_process_is_not_a_backend() {
        assert!(!is_local_backend(std::process::id()));
        assert!(!is_local_backend(u32::MAX));
    }
}
