//! The controller's end of a `harness sample` session on a host: started
//! through the host's transport, its event lines gathered by a reader
//! thread, ended with `stop` (or by closing its input), and never left
//! behind — dropping a `Session` ends the command on the host and the
//! local ssh or `ip netns exec` process.

use super::events::{EndCause, Event, STOP};
use super::transport::Transport;
use crate::run::sampler::ProcSample;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the command ended, as `harness sample` saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub needed_sigkill: bool,
    pub cause: EndCause,
}

/// Everything the session has said so far.
#[derive(Debug, Default, Clone)]
pub struct State {
    pub pid: Option<u32>,
    /// The host's wall clock when its samples' time began.
    pub origin_unix_ms: Option<f64>,
    pub cpus_allowed_list: Option<String>,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    pub samples: Vec<ProcSample>,
    pub exit: Option<Exit>,
    pub files: Vec<(String, String)>,
    /// `harness sample` could not start the command.
    pub failed: Option<String>,
    pub done: bool,
    /// The event stream ended (with or without `done`).
    pub closed: bool,
    /// Lines of the transport's own stderr (ssh, `ip`, `harness` itself).
    pub transport_stderr: Vec<String>,
    pub bad_lines: Vec<String>,
}

impl State {
    /// The address of the command's `LISTENING` line, if printed.
    pub fn listening(&self) -> Option<SocketAddr> {
        self.stdout
            .iter()
            .find_map(|l| rtc_common::child::parse_listening_line(l))
    }

    /// The last lines of the command's stderr, or else of the transport's.
    pub fn stderr_tail(&self, n: usize) -> Vec<String> {
        let from = if self.stderr.is_empty() {
            &self.transport_stderr
        } else {
            &self.stderr
        };
        from.iter().rev().take(n).rev().cloned().collect()
    }

    fn take(&mut self, e: Event) {
        match e {
            Event::Started {
                pid,
                origin_unix_ms,
                cpus_allowed_list,
            } => {
                self.pid = Some(pid);
                self.origin_unix_ms = Some(origin_unix_ms);
                self.cpus_allowed_list = cpus_allowed_list;
            }
            Event::Stdout { line } => self.stdout.push(line),
            Event::Stderr { line } => self.stderr.push(line),
            Event::Sample { sample } => self.samples.push(sample),
            Event::Exited {
                code,
                signal,
                needed_sigkill,
                cause,
            } => {
                self.exit = Some(Exit {
                    code,
                    signal,
                    needed_sigkill,
                    cause,
                })
            }
            Event::File { name, text } => self.files.push((name, text)),
            Event::Failed { message } => self.failed = Some(message),
            Event::Done => self.done = true,
        }
    }
}

pub struct Session {
    pub host: String,
    transport: Child,
    input: Option<ChildStdin>,
    state: Arc<Mutex<State>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Session {
    /// Starts `argv` (a `harness sample` command line) on the host.
    pub fn start(t: &Transport, argv: &[String]) -> Result<Session, String> {
        let mut child = t
            .spawn_piped(argv)
            .map_err(|e| format!("{}: cannot start a session: {e}", t.describe()))?;
        let state = Arc::new(Mutex::new(State::default()));
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let s1 = Arc::clone(&state);
        let events = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let mut s = s1.lock().unwrap_or_else(|p| p.into_inner());
                match Event::parse(&line) {
                    Ok(e) => s.take(e),
                    // ssh banners or a login shell's chatter: kept, not fatal.
                    Err(_) => s.bad_lines.push(line),
                }
            }
            s1.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        });
        let s2 = Arc::clone(&state);
        let errors = std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut s = s2.lock().unwrap_or_else(|p| p.into_inner());
                if s.transport_stderr.len() < 200 {
                    s.transport_stderr.push(line);
                }
            }
        });
        Ok(Session {
            host: t.host.clone(),
            input: child.stdin.take(),
            transport: child,
            state,
            readers: vec![events, errors],
        })
    }

    /// A copy of what the session has said so far.
    pub fn state(&self) -> State {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the state under its lock.
    pub fn with<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Polls until `f` gives an answer, the stream closes, or `limit`.
    pub fn wait_for<T>(
        &self,
        limit: Duration,
        mut f: impl FnMut(&State) -> Option<T>,
    ) -> Option<T> {
        let end = Instant::now() + limit;
        loop {
            let (answer, closed) = self.with(|s| (f(s), s.closed));
            if answer.is_some() || closed || Instant::now() >= end {
                return answer;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the command's `LISTENING` line.
    pub fn wait_listening(&self, limit: Duration) -> Result<SocketAddr, String> {
        // Some(None): it ended without listening; stop waiting.
        let found = self.wait_for(limit, |s| match s.listening() {
            Some(a) => Some(Some(a)),
            None if s.exit.is_some() || s.failed.is_some() => Some(None),
            None => None,
        });
        if let Some(Some(a)) = found {
            return Ok(a);
        }
        let s = self.state();
        let tail = s.stderr_tail(3).join(" | ");
        Err(match (&s.failed, &s.exit) {
            (Some(m), _) => m.clone(),
            (_, Some(x)) => format!(
                "exited ({}) before listening; stderr: {tail}",
                exit_words(x.code, x.signal)
            ),
            _ if s.closed => format!("the session ended before a LISTENING line: {tail}"),
            _ => format!(
                "no LISTENING line within {} ms; stderr: {tail}",
                limit.as_millis()
            ),
        })
    }

    /// Whether the command has exited (by itself or otherwise).
    pub fn exited(&self) -> bool {
        self.with(|s| s.exit.is_some() || s.failed.is_some() || s.closed)
    }

    /// Asks for the end: `stop`, then the end of input.
    pub fn stop(&mut self) {
        if let Some(mut i) = self.input.take() {
            let _ = i.write_all(format!("{STOP}\n").as_bytes());
            let _ = i.flush();
        }
    }

    /// Ends the session and returns all it said: `stop`, then up to
    /// `limit` for its `done`; after that the local transport process is
    /// killed (an ssh session closing ends the remote side on its own).
    pub fn finish(mut self, limit: Duration) -> State {
        self.stop();
        self.wait_for(limit, |s| s.done.then_some(()));
        self.close_transport(Duration::from_secs(1));
        self.state()
    }

    fn close_transport(&mut self, grace: Duration) {
        self.input = None;
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.transport.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Ok(None) = self.transport.try_wait() {
            let _ = self.transport.kill();
            let _ = self.transport.wait();
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.readers.is_empty() {
            self.stop();
            self.wait_for(Duration::from_secs(5), |s| s.done.then_some(()));
            self.close_transport(Duration::from_secs(1));
        }
    }
}

pub fn exit_words(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exit code {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown exit".into(),
    }
}

/// The `harness sample` command line for `program args` on a host whose
/// harness is `harness`; `marker` is set in the environment of both, so a
/// test can find any process a run left.
#[allow(clippy::too_many_arguments)]
pub fn sample_argv(
    harness: &Path,
    marker: &str,
    cpus: Option<&[usize]>,
    self_cpus: Option<&[usize]>,
    nice: i32,
    collect: Option<&Path>,
    max: Duration,
    program: &[String],
) -> Vec<String> {
    let fmt = rtc_common::affinity::format_cpu_list;
    let mut v = vec![
        "env".to_string(),
        format!("{}={marker}", crate::run::trial::RUN_MARKER_ENV),
        harness.to_string_lossy().into_owned(),
        "sample".into(),
    ];
    if let Some(c) = cpus {
        v.extend(["--cpus".into(), fmt(c)]);
    }
    if let Some(c) = self_cpus {
        v.extend(["--self-cpus".into(), fmt(c)]);
    }
    if nice != 0 {
        v.extend(["--nice".into(), nice.to_string()]);
    }
    if let Some(p) = collect {
        v.extend(["--collect".into(), p.to_string_lossy().into_owned()]);
    }
    v.extend(["--max-s".into(), format!("{:.0}", max.as_secs_f64().ceil())]);
    v.push("--".into());
    v.extend(program.iter().cloned());
    v
}
