//! What the kernel says about this process and machine: RSS, threads and
//! context switches of the process, memory available, room for new threads.

use std::io;

/// A `Key:   value` field of /proc/self/status as a number (the first word).
fn status_field(key: &str) -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/self/status")?;
    parse_status_field(&text, key).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no {key} in /proc/self/status"),
        )
    })
}

fn parse_status_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k != key {
            return None;
        }
        v.split_whitespace().next()?.parse().ok()
    })
}

/// Resident set size of this process, bytes (VmRSS).
pub fn rss_bytes() -> io::Result<u64> {
    Ok(status_field("VmRSS")? * 1024)
}

/// OS threads of this process right now (Threads).
pub fn os_threads() -> io::Result<u64> {
    status_field("Threads")
}

/// The CPUs this process may run on, as the kernel prints them ("0-1").
pub fn cpus_allowed() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("Cpus_allowed_list:")
                    .map(|v| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Voluntary and involuntary context switches of the whole process so far.
/// getrusage(RUSAGE_SELF) sums every thread, including threads that have
/// exited, which /proc/self/task/*/status would miss.
pub fn ctx_switches() -> (u64, u64) {
    // SAFETY: getrusage fills the struct we own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return (0, 0);
        }
        (ru.ru_nvcsw as u64, ru.ru_nivcsw as u64)
    }
}

/// Bytes glibc's allocator has handed out (arenas plus mmapped chunks): the
/// Rust counterpart of Go's heap + stack in-use figures.
pub fn heap_bytes() -> u64 {
    // SAFETY: mallinfo2 only reads allocator statistics.
    let mi = unsafe { libc::mallinfo2() };
    (mi.uordblks + mi.hblkhd) as u64
}

/// MemAvailable from /proc/meminfo, bytes.
pub fn mem_available_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_status_field(&t, "MemAvailable"))
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// How many more threads the machine lets this process start: the smallest
/// of the kernel's thread and pid limits and the cgroup's pids.max, less the
/// threads that exist (the 4th field of /proc/loadavg); RLIMIT_NPROC too when
/// not root (root is exempt from it).
pub fn thread_room() -> u64 {
    let mut limit = u64::MAX;
    for p in [
        "/proc/sys/kernel/threads-max",
        "/proc/sys/kernel/pid_max",
        "/sys/fs/cgroup/pids.max",
    ] {
        if let Some(v) = read_number(p) {
            limit = limit.min(v);
        }
    }
    // SAFETY: plain libc calls filling structs we own.
    unsafe {
        if libc::geteuid() != 0 {
            let mut rl: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NPROC, &mut rl) == 0
                && rl.rlim_cur != libc::RLIM_INFINITY
            {
                limit = limit.min(rl.rlim_cur);
            }
        }
    }
    let existing = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .nth(3)?
                .split_once('/')?
                .1
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    limit.saturating_sub(existing)
}

/// The kernel release ("6.1.0-…").
pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_fields() {
        let t = "Name:\tx\nVmRSS:\t  1234 kB\nThreads:\t7\n";
        assert_eq!(parse_status_field(t, "VmRSS"), Some(1234));
        assert_eq!(parse_status_field(t, "Threads"), Some(7));
        assert_eq!(parse_status_field(t, "VmHWM"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(rss_bytes().unwrap() > 0);
        assert!(os_threads().unwrap() >= 1);
        assert!(mem_available_bytes() > 0);
        assert!(thread_room() > 0);
        assert_ne!(cpus_allowed(), "unknown");
    }
}
