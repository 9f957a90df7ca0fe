//! The `perf` binary as the census's counter: whether it can count the
//! kernel's syscall tracepoints on this machine, one `perf stat --pid`
//! process per census window (attached with its counters off, switched
//! on and off through its control FIFOs, so attaching costs nothing
//! inside the window), and its CSV output parsed.
//!
//! Which events: one `syscalls:sys_enter_<name>` per syscall the two
//! runtimes make per request or per connection ([`SYSCALLS`], 35 of them),
//! plus `raw_syscalls:sys_enter`, which fires for every syscall: the total,
//! so whatever the list does not name is counted as "other", never lost.
//! Not all ~360 `syscalls:sys_enter_*`: each counting event of a task is
//! switched in and out with the task, so every context switch of the
//! server pays per event. Measured on the 2-vCPU development VM at 5,000
//! req/s of 64 B echo: all 360 doubled the Go server's CPU per request
//! (27 → 60 µs), while 9 and 36 events were within the noise of each other.
//!
//! New threads: `perf stat` opens its counters with `inherit` set (unless
//! `--no-inherit`), so a thread the server creates after the attach, from
//! any of its threads, carries the counters and its counts are summed into
//! them — checked with a process that starts four threads after the attach
//! (all 4,000 of their syscalls counted).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The syscalls counted by name, each with its family (what the report
/// groups and the strace comparison checks): I/O on sockets and files,
/// the pollers, waiting (futex, sleeps, yields), signals (Go's async
/// preemption is tgkill + rt_sigreturn), connection set-up and close,
/// memory, thread creation.
pub const SYSCALLS: &[(&str, Family)] = &[
    ("read", Family::Read),
    ("readv", Family::Read),
    ("recvfrom", Family::Read),
    ("recvmsg", Family::Read),
    ("pread64", Family::Read),
    ("write", Family::Write),
    ("writev", Family::Write),
    ("sendto", Family::Write),
    ("sendmsg", Family::Write),
    ("pwrite64", Family::Write),
    ("epoll_wait", Family::Poll),
    ("epoll_pwait", Family::Poll),
    ("epoll_pwait2", Family::Poll),
    ("epoll_ctl", Family::Poll),
    ("futex", Family::Wait),
    ("nanosleep", Family::Wait),
    ("clock_nanosleep", Family::Wait),
    ("sched_yield", Family::Wait),
    ("tgkill", Family::Signal),
    ("getpid", Family::Signal),
    ("rt_sigreturn", Family::Signal),
    ("rt_sigprocmask", Family::Signal),
    ("accept4", Family::Connection),
    ("close", Family::Connection),
    ("setsockopt", Family::Connection),
    ("getsockname", Family::Connection),
    ("shutdown", Family::Connection),
    ("mmap", Family::Memory),
    ("munmap", Family::Memory),
    ("madvise", Family::Memory),
    ("mprotect", Family::Memory),
    ("brk", Family::Memory),
    ("clone", Family::Thread),
    ("clone3", Family::Thread),
    ("openat", Family::File),
];

/// Fires on every syscall: the total.
pub const TOTAL_EVENT: &str = "raw_syscalls:sys_enter";
const NAMED_PREFIX: &str = "syscalls:sys_enter_";

/// Where tracefs keeps the syscall tracepoints.
pub const TRACEFS: &[&str] = &[
    "/sys/kernel/tracing/events",
    "/sys/kernel/debug/tracing/events",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Read,
    Write,
    Poll,
    Wait,
    Signal,
    Connection,
    Memory,
    Thread,
    File,
    Other,
}

impl Family {
    pub fn word(self) -> &'static str {
        match self {
            Family::Read => "read",
            Family::Write => "write",
            Family::Poll => "poll",
            Family::Wait => "wait",
            Family::Signal => "signal",
            Family::Connection => "connection",
            Family::Memory => "memory",
            Family::Thread => "thread",
            Family::File => "file",
            Family::Other => "other",
        }
    }
}

/// The family of a syscall name ("other" for names the list leaves out).
pub fn family(name: &str) -> Family {
    SYSCALLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap_or(Family::Other)
}

/// `perf` as found on this machine, able to count the events.
#[derive(Debug, Clone, PartialEq)]
pub struct Perf {
    pub program: PathBuf,
    /// `perf --version`, e.g. "perf version 6.1.187".
    pub version: String,
    /// Every event to open: the named tracepoints this kernel has, then the total.
    pub events: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Availability {
    Usable(Perf),
    /// Why not, in one line.
    Unusable(String),
}

/// Whether `perf` can count the syscall tracepoints here: on PATH, tracefs
/// mounted and readable, and a real count of a short command works (the
/// kernel's rules — perf_event_paranoid, capabilities — are then what they
/// are; a refusal is reported with them).
pub fn probe() -> Availability {
    let tracefs: Vec<PathBuf> = TRACEFS.iter().map(PathBuf::from).collect();
    probe_with(Path::new("perf"), &tracefs)
}

pub fn probe_with(program: &Path, tracefs: &[PathBuf]) -> Availability {
    let version = match Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => {
            return Availability::Unusable(format!(
                "{} --version failed: {}",
                program.display(),
                first_line(&String::from_utf8_lossy(&o.stderr))
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Availability::Unusable(format!(
                "perf is not installed (no {} on PATH)",
                program.display()
            ));
        }
        Err(e) => {
            return Availability::Unusable(format!("cannot run {}: {e}", program.display()));
        }
    };
    let Some(events_dir) = tracefs.iter().find(|d| d.join("syscalls").is_dir()) else {
        return Availability::Unusable(format!(
            "tracefs is not mounted or not readable here (no {}/syscalls){}",
            tracefs
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            permission_context()
        ));
    };
    if !events_dir.join("raw_syscalls/sys_enter").is_dir() {
        return Availability::Unusable(format!(
            "no {TOTAL_EVENT} tracepoint in {}: the total cannot be counted",
            events_dir.display()
        ));
    }
    let mut events: Vec<String> = SYSCALLS
        .iter()
        .filter(|(n, _)| events_dir.join(format!("syscalls/sys_enter_{n}")).is_dir())
        .map(|(n, _)| format!("{NAMED_PREFIX}{n}"))
        .collect();
    events.push(TOTAL_EVENT.to_string());
    let perf = Perf {
        program: program.to_path_buf(),
        version,
        events,
    };
    match count_true(&perf) {
        Ok(()) => Availability::Usable(perf),
        Err(e) => Availability::Unusable(e),
    }
}

/// Counts `true` under `perf stat` with every census event: the least the
/// census needs to work.
fn count_true(perf: &Perf) -> Result<(), String> {
    let out = Command::new(&perf.program)
        .args([
            "stat",
            "-x",
            ",",
            "-e",
            &perf.events.join(","),
            "--",
            "true",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run perf stat: {e}"))?;
    // perf stat writes its counts to stderr when there is no -o.
    let text = String::from_utf8_lossy(&out.stderr);
    match parse_csv(&text) {
        Ok(c) if out.status.success() && c.get(TOTAL_EVENT).copied().flatten().unwrap_or(0) > 0 => {
            Ok(())
        }
        _ => Err(format!(
            "perf cannot count syscall tracepoints here{}: {}",
            permission_context(),
            first_line(&text)
        )),
    }
}

/// " (perf_event_paranoid=2, not root)" — the settings a refusal depends on.
fn permission_context() -> String {
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    format!(
        " (perf_event_paranoid={paranoid}, {})",
        if root { "root" } else { "not root" }
    )
}

/// The first line worth quoting from perf's stderr (not its progress notes).
fn first_line(text: &str) -> String {
    let l = text
        .lines()
        .map(str::trim)
        .find(|l| {
            !l.is_empty() && !l.starts_with('#') && !l.starts_with("Events ") && !l.contains(",,")
        })
        .unwrap_or("no message");
    if l.chars().count() > 200 {
        format!("{}…", l.chars().take(199).collect::<String>())
    } else {
        l.to_string()
    }
}

/// Counts by event from `perf stat -x ,` output: `value,unit,event,...`;
/// `<not counted>` / `<not supported>` give None. Comment and note lines
/// are skipped; a file with no event line is an error.
pub fn parse_csv(text: &str) -> Result<BTreeMap<String, Option<u64>>, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() < 3 || !fields[2].contains(':') {
            continue;
        }
        let value = match fields[0] {
            v if v.starts_with('<') => None,
            v => Some(
                v.parse::<u64>()
                    .map_err(|_| format!("perf output: {v:?} is not a count in {line:?}"))?,
            ),
        };
        out.insert(fields[2].to_string(), value);
    }
    if out.is_empty() {
        return Err("perf wrote no counts".into());
    }
    Ok(out)
}

/// Counts by syscall name ("read", ...) and the total, from parsed output.
/// An event perf did not count is left out; a missing total is None.
pub fn by_name(counts: &BTreeMap<String, Option<u64>>) -> (BTreeMap<String, u64>, Option<u64>) {
    let named = counts
        .iter()
        .filter_map(|(e, v)| Some((e.strip_prefix(NAMED_PREFIX)?.to_string(), (*v)?)))
        .collect();
    (named, counts.get(TOTAL_EVENT).copied().flatten())
}

/// One `perf stat --pid` process, counters off until `enable`.
pub struct Attached {
    child: Child,
    ctl: File,
    ack: File,
    files: Vec<PathBuf>,
    out: PathBuf,
    err: PathBuf,
    pub command: Vec<String>,
}

/// How long perf may take to open its counters (one per event and
/// thread of the server) and answer.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

impl Attached {
    /// Attaches to `pid`, perf itself pinned to `cpus` (never the
    /// server's), its files named `<base>.perf-*` (the FIFOs are made
    /// here). `env` is set on perf (the harness's run marker).
    pub fn start(
        perf: &Perf,
        pid: u32,
        cpus: &[usize],
        base: &Path,
        env: (&str, &Path),
    ) -> Result<Attached, String> {
        let with = |suffix: &str| {
            let mut s = base.as_os_str().to_owned();
            s.push(suffix);
            PathBuf::from(s)
        };
        let (ctl_path, ack_path, out, err) = (
            with(".perf-ctl"),
            with(".perf-ack"),
            with(".perf.csv"),
            with(".perf.stderr"),
        );
        let files = vec![ctl_path.clone(), ack_path.clone(), out.clone(), err.clone()];
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        for fifo in [&ctl_path, &ack_path] {
            mkfifo(fifo)?;
        }
        let command: Vec<String> = [
            "stat".to_string(),
            "--pid".into(),
            pid.to_string(),
            "-x".into(),
            ",".into(),
            "-o".into(),
            out.display().to_string(),
            "--delay".into(),
            "-1".into(),
            "--control".into(),
            format!("fifo:{},{}", ctl_path.display(), ack_path.display()),
            "-e".into(),
            perf.events.join(","),
        ]
        .into_iter()
        .collect();
        // Opened read-write, so neither open waits for perf's end (a FIFO
        // opened for one direction blocks until the other side opens).
        let open = |p: &Path| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .map_err(|e| format!("cannot open {}: {e}", p.display()))
        };
        let (ctl, ack) = (open(&ctl_path)?, open(&ack_path)?);
        let mut cmd = Command::new(&perf.program);
        cmd.args(&command)
            .env(env.0, env.1)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&err).map_err(|e| format!("{}: {e}", err.display()))?);
        let cpus = cpus.to_vec();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                rtc_common::affinity::pin_current_thread(&cpus)
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", perf.program.display()))?;
        let mut full = vec![perf.program.display().to_string()];
        full.extend(command);
        Ok(Attached {
            child,
            ctl,
            ack,
            files,
            out,
            err,
            command: full,
        })
    }

    pub fn enable(&mut self) -> Result<(), String> {
        self.control("enable")
    }

    pub fn disable(&mut self) -> Result<(), String> {
        self.control("disable")
    }

    /// Sends one command and waits for perf's "ack".
    fn control(&mut self, what: &str) -> Result<(), String> {
        self.ctl
            .write_all(format!("{what}\n").as_bytes())
            .map_err(|e| format!("perf control FIFO: {e}"))?;
        let deadline = Instant::now() + ACK_TIMEOUT;
        let mut got = Vec::new();
        loop {
            let mut pfd = libc::pollfd {
                fd: self.ack.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let n = unsafe { libc::poll(&mut pfd, 1, 50) };
            if n > 0 {
                let mut buf = [0u8; 64];
                let k = self
                    .ack
                    .read(&mut buf)
                    .map_err(|e| format!("perf ack FIFO: {e}"))?;
                got.extend_from_slice(&buf[..k]);
                if got.windows(4).any(|w| w == b"ack\n") {
                    return Ok(());
                }
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!(
                    "perf exited ({st}) before it acknowledged '{what}': {}",
                    self.stderr_line()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "perf did not acknowledge '{what}' within {} s",
                    ACK_TIMEOUT.as_secs()
                ));
            }
        }
    }

    fn stderr_line(&self) -> String {
        first_line(&std::fs::read_to_string(&self.err).unwrap_or_default())
    }

    /// Stops perf (SIGINT makes it print its counts) and returns them.
    pub fn finish(mut self) -> Result<BTreeMap<String, Option<u64>>, String> {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                _ if Instant::now() > deadline => {
                    return Err("perf did not exit within 5 s of SIGINT".into());
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        parse_csv(&text).map_err(|e| format!("{e}: {}", self.stderr_line()))
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn mkfifo(p: &Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| format!("{}: a NUL in the path", p.display()))?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(format!(
            "cannot make the FIFO {}: {}",
            p.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "# started on Tue Dec  1 16:12:36 2026\n\n\
        4500,,syscalls:sys_enter_getppid,2792095,100.00,,\n\
        4582,,raw_syscalls:sys_enter,2792095,100.00,,\n\
        <not counted>,,syscalls:sys_enter_clone3,0,100.00,,\n\
        0,,syscalls:sys_enter_clone,2792095,100.00,,\n\
        Events disabled\n";

    #[test]
    fn parses_perf_stat_csv() {
        let c = parse_csv(OUT).unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c["syscalls:sys_enter_getppid"], Some(4500));
        assert_eq!(c["syscalls:sys_enter_clone3"], None);
        assert_eq!(c[TOTAL_EVENT], Some(4582));
        let (named, total) = by_name(&c);
        assert_eq!(named.get("getppid"), Some(&4500));
        assert_eq!(named.get("clone"), Some(&0));
        assert!(!named.contains_key("clone3"), "not counted is not zero");
        assert_eq!(total, Some(4582));
        assert!(parse_csv("# nothing\n\n").is_err());
        assert!(parse_csv("12x,,syscalls:sys_enter_read,1,100.00,,").is_err());
    }

    #[test]
    fn families_cover_the_list() {
        assert_eq!(family("recvfrom"), Family::Read);
        assert_eq!(family("sendto"), Family::Write);
        assert_eq!(family("epoll_pwait"), Family::Poll);
        assert_eq!(family("futex"), Family::Wait);
        assert_eq!(family("rseq"), Family::Other);
        let mut names: Vec<&str> = SYSCALLS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SYSCALLS.len(), "a syscall listed twice");
    }

    #[test]
    fn refusals_are_one_line_with_the_reason() {
        let missing = probe_with(Path::new("/nonexistent/perf"), &[]);
        match missing {
            Availability::Unusable(r) => {
                assert!(r.contains("not installed"), "{r}");
                assert!(!r.contains('\n'));
            }
            other => panic!("{other:?}"),
        }
        // A perf that runs but a tracefs that is not there.
        let no_tracefs = probe_with(Path::new("true"), &[PathBuf::from("/nonexistent/events")]);
        match no_tracefs {
            Availability::Unusable(r) => {
                assert!(
                    r.contains("tracefs") && r.contains("perf_event_paranoid"),
                    "{r}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            first_line("Events disabled\n\nError: no access\nmore"),
            "Error: no access"
        );
    }
}
