//! Starting a program that follows the process contract (PROTOCOL.md §3):
//! wait for its `LISTENING ip:port` line, keep its stderr, and never leave it
//! running — a `ListeningChild` is killed when dropped, and with
//! `die_with_parent` also if this process dies first.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} exited ({status}) before listening; stderr: {stderr}")]
    ExitedEarly {
        program: String,
        status: String,
        stderr: String,
    },
    #[error("{program} did not print a LISTENING line within {waited_ms} ms; stderr: {stderr}")]
    NoListeningLine {
        program: String,
        waited_ms: u128,
        stderr: String,
    },
    #[error("{program} printed an unparsable LISTENING line {line:?}")]
    BadListeningLine { program: String, line: String },
}

/// Parses `LISTENING 127.0.0.1:4000`.
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    line.trim().strip_prefix("LISTENING ")?.trim().parse().ok()
}

pub struct ListeningChild {
    pub child: Child,
    pub addr: SocketAddr,
    program: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// Options for `spawn_listening`.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    /// Pin the child (and every thread it starts) to these CPUs.
    pub cpus: Option<Vec<usize>>,
    /// Ask the kernel to SIGKILL the child if the spawning thread dies.
    /// Tied to the *thread* that spawns: spawn from a long-lived thread.
    pub die_with_parent: bool,
    /// How long to wait for the LISTENING line (default 10 s).
    pub timeout: Option<Duration>,
}

pub fn spawn_listening(
    mut cmd: Command,
    opts: &SpawnOptions,
) -> Result<ListeningChild, ChildError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let cpus = opts.cpus.clone();
    let die = opts.die_with_parent;
    // SAFETY: the closure calls only async-signal-safe functions
    // (sched_setaffinity, prctl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if die && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(cpus) = &cpus {
                crate::affinity::pin_current_thread(cpus)?;
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| ChildError::Spawn {
        program: program.clone(),
        source,
    })?;

    let stderr = Arc::new(Mutex::new(Vec::new()));
    if let Some(err) = child.stderr.take() {
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut v = sink.lock().unwrap();
                // Keep the first lines (the config line) and a bounded tail.
                if v.len() >= 200 {
                    v.remove(20);
                }
                v.push(line);
            }
        });
    }

    let out = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(out);
        let mut line = String::new();
        let _ = tx.send(reader.read_line(&mut line).map(|_| line));
        // Drain the rest so the child never blocks on a full pipe.
        let mut sink = [0u8; 4096];
        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    });

    let timeout = opts.timeout.unwrap_or(Duration::from_secs(10));
    let start = Instant::now();
    let mut lc = ListeningChild {
        child,
        addr: "0.0.0.0:0".parse().unwrap(),
        program: program.clone(),
        stderr,
    };
    match rx.recv_timeout(timeout) {
        Ok(Ok(line)) if !line.is_empty() => match parse_listening_line(&line) {
            Some(addr) => {
                lc.addr = addr;
                Ok(lc)
            }
            None => Err(ChildError::BadListeningLine {
                program,
                line: line.trim().to_string(),
            }),
        },
        Ok(_) => {
            // stdout closed: the child is exiting; give stderr a moment to arrive.
            let status = lc.wait_timeout(Duration::from_secs(2));
            std::thread::sleep(Duration::from_millis(50));
            Err(ChildError::ExitedEarly {
                program,
                status: status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "still running".into()),
                stderr: lc.stderr_tail(5),
            })
        }
        Err(_) => Err(ChildError::NoListeningLine {
            program,
            waited_ms: start.elapsed().as_millis(),
            stderr: lc.stderr_tail(5),
        }),
    }
}

impl ListeningChild {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    /// Every stderr line kept so far (the first 20 and the latest ones).
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The last `n` stderr lines joined with " | ", for one-line error reports.
    pub fn stderr_tail(&self, n: usize) -> String {
        let v = self.stderr.lock().unwrap();
        let start = v.len().saturating_sub(n);
        v[start..].join(" | ")
    }

    /// Polls for exit for up to `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the child.
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) on a pid we own and have not reaped.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status and
    /// whether SIGKILL was needed.
    pub fn terminate(&mut self, grace: Duration) -> (Option<ExitStatus>, bool) {
        if let Ok(Some(s)) = self.child.try_wait() {
            return (Some(s), false);
        }
        self.signal(libc::SIGTERM);
        if let Some(s) = self.wait_timeout(grace) {
            return (Some(s), false);
        }
        let _ = self.child.kill();
        (self.child.wait().ok(), true)
    }
}

impl Drop for ListeningChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_lines() {
        assert_eq!(
            parse_listening_line("LISTENING 127.0.0.1:80\n"),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            parse_listening_line("LISTENING [::1]:9"),
            Some("[::1]:9".parse().unwrap())
        );
        assert_eq!(parse_listening_line("listening 127.0.0.1:80"), None);
        assert_eq!(parse_listening_line("LISTENING nowhere"), None);
    }

    #[test]
    fn reports_a_child_that_exits_before_listening() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo boom >&2; exit 3"]);
        match spawn_listening(cmd, &SpawnOptions::default()) {
            Err(ChildError::ExitedEarly { stderr, .. }) => {
                assert!(stderr.contains("boom"), "{stderr}")
            }
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("sh does not listen"),
        }
    }

    #[test]
    fn accepts_a_child_that_prints_the_line_and_kills_it_on_drop() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo config >&2; echo LISTENING 127.0.0.1:5; exec sleep 30",
        ]);
        let c = spawn_listening(
            cmd,
            &SpawnOptions {
                die_with_parent: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.addr.port(), 5);
        let pid = c.pid() as i32;
        drop(c);
        // SAFETY: probing a pid with signal 0.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!alive, "child {pid} survived drop");
    }
}
