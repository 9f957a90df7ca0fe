//! `harness sample -- PROGRAM ARGS...`, run on a host through a transport:
//! starts the program pinned, streams its output and its `/proc` samples
//! (the sampler of `run::sampler`, unchanged) back as event lines, and
//! ends it — with every process of its group — on whichever comes first:
//! its own exit, `stop` from the controller, the end of its input (the
//! ssh session died, the harness was killed), SIGINT/SIGTERM/SIGHUP, or
//! `--max-s`. The program also gets SIGKILL if this process dies first, so
//! nothing of ours outlives the session that started it.

use super::events::{EndCause, Event, STOP};
use crate::run::sampler::Sampler;
use crate::run::signals;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone)]
pub struct Options {
    /// Pin the program to these CPUs.
    pub cpus: Option<Vec<usize>>,
    /// Pin this process (and its sampler) here: off the program's CPUs.
    pub self_cpus: Option<Vec<usize>>,
    pub nice: i32,
    pub period: Duration,
    /// Files whose path starts with this are sent back and removed after
    /// the program ends; its folder is made first.
    pub collect: Option<PathBuf>,
    /// The program is ended after this long whatever else happens.
    pub max: Duration,
    /// SIGTERM, then SIGKILL after this.
    pub grace: Duration,
    pub argv: Vec<String>,
}

/// Event lines out, one writer at a time; remembers when the reader is gone.
#[derive(Clone)]
struct Emitter {
    out: Arc<Mutex<std::io::Stdout>>,
    gone: Arc<AtomicBool>,
}

impl Emitter {
    fn emit(&self, e: &Event) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if out
            .write_all(e.to_line().as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            self.gone.store(true, Ordering::SeqCst);
        }
    }
}

const NOT_ASKED: u8 = 0;
const ASKED_STOP: u8 = 1;
const INPUT_ENDED: u8 = 2;

/// Runs the whole session; returns the exit code of `harness sample`.
pub fn run(opts: &Options) -> i32 {
    signals::install();
    let emitter = Emitter {
        out: Arc::new(Mutex::new(std::io::stdout())),
        gone: Arc::new(AtomicBool::new(false)),
    };
    if let Some(cpus) = &opts.self_cpus {
        let _ = rtc_common::affinity::pin_current_thread(cpus);
    }
    if let Some(dir) = opts.collect.as_deref().and_then(Path::parent) {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut child = match spawn(opts) {
        Ok(c) => c,
        Err(e) => {
            emitter.emit(&Event::Failed {
                message: format!("cannot start {}: {e}", opts.argv[0]),
            });
            emitter.emit(&Event::Done);
            return 1;
        }
    };
    let pid = child.id();
    let origin = Instant::now();
    emitter.emit(&Event::Started {
        pid,
        origin_unix_ms: unix_ms(),
        cpus_allowed_list: crate::run::trial::cpus_allowed_list(pid),
    });
    let relays = [
        relay(child.stdout.take(), emitter.clone(), |line| Event::Stdout {
            line,
        }),
        relay(child.stderr.take(), emitter.clone(), |line| Event::Stderr {
            line,
        }),
    ];
    let asked = Arc::new(AtomicU8::new(NOT_ASKED));
    watch_input(Arc::clone(&asked));
    let sink = emitter.clone();
    let sampler = Sampler::stream(pid, origin, opts.period, move |sample| {
        sink.emit(&Event::Sample { sample })
    });

    let cause = loop {
        if let Ok(Some(_)) = child.try_wait() {
            break EndCause::Exited;
        }
        let cause = if signals::interrupted() {
            Some(EndCause::Interrupted)
        } else if asked.load(Ordering::SeqCst) == ASKED_STOP {
            Some(EndCause::Stopped)
        } else if asked.load(Ordering::SeqCst) == INPUT_ENDED || emitter.gone.load(Ordering::SeqCst)
        {
            Some(EndCause::ControllerGone)
        } else if origin.elapsed() > opts.max {
            Some(EndCause::Deadline)
        } else {
            None
        };
        if let Some(c) = cause {
            break c;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The last sample is taken while the program still runs.
    drop(sampler.stop());
    let (status, needed_sigkill) = match cause {
        EndCause::Exited => (child.wait().ok(), false),
        _ => terminate_group(&mut child, opts.grace),
    };
    // Whatever the program started in its group goes with it.
    kill_group(pid, libc::SIGKILL);
    for r in relays {
        let _ = r.join();
    }
    use std::os::unix::process::ExitStatusExt;
    emitter.emit(&Event::Exited {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        needed_sigkill,
        cause,
    });
    if let Some(prefix) = &opts.collect {
        for (name, text) in take_files(prefix) {
            emitter.emit(&Event::File { name, text });
        }
    }
    emitter.emit(&Event::Done);
    0
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

fn spawn(opts: &Options) -> std::io::Result<Child> {
    let mut cmd = Command::new(&opts.argv[0]);
    cmd.args(&opts.argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own: ended as one, and Ctrl-C at the controller's
        // terminal reaches it only through this process.
        .process_group(0);
    crate::run::trial::tie_and_pin(&mut cmd, opts.cpus.clone(), opts.nice);
    cmd.spawn()
}

fn relay<R: Read + Send + 'static>(
    from: Option<R>,
    emitter: Emitter,
    make: fn(String) -> Event,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Some(from) = from else { return };
        for line in BufReader::new(from).lines() {
            match line {
                Ok(l) => emitter.emit(&make(l)),
                Err(_) => break,
            }
        }
    })
}

/// `stop` on stdin asks for the end; the end of stdin means the controller
/// (or its ssh session) is gone.
fn watch_input(asked: Arc<AtomicU8>) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            match line {
                Ok(l) if l.trim() == STOP => {
                    asked.store(ASKED_STOP, Ordering::SeqCst);
                    return;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = asked.compare_exchange(NOT_ASKED, INPUT_ENDED, Ordering::SeqCst, Ordering::SeqCst);
    });
}

fn kill_group(pgid: u32, sig: i32) {
    // SAFETY: a signal to the process group this process created.
    unsafe {
        libc::kill(-(pgid as i32), sig);
    }
}

/// SIGTERM to the program's group, SIGKILL after `grace`.
fn terminate_group(child: &mut Child, grace: Duration) -> (Option<std::process::ExitStatus>, bool) {
    kill_group(child.id(), libc::SIGTERM);
    let end = Instant::now() + grace;
    while Instant::now() < end {
        if let Ok(Some(st)) = child.try_wait() {
            return (Some(st), false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    kill_group(child.id(), libc::SIGKILL);
    (child.wait().ok(), true)
}

/// The files under `prefix` (its folder, names starting with its file
/// name), read and removed; sorted by name.
pub fn take_files(prefix: &Path) -> Vec<(String, String)> {
    let (Some(dir), Some(stem)) = (prefix.parent(), prefix.file_name()) else {
        return Vec::new();
    };
    let stem = stem.to_string_lossy().into_owned();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&stem))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .filter_map(|n| {
            let p = dir.join(&n);
            let text = std::fs::read(&p).ok()?;
            let _ = std::fs::remove_file(&p);
            Some((n, String::from_utf8_lossy(&text).into_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_files_are_the_prefixs_own_and_are_removed() {
        let dir = std::env::temp_dir().join(format!("rtc-guard-take-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for n in [
            "t--main.json",
            "t--main.hgrm",
            "t--main.light.hgrm",
            "t--other.json",
        ] {
            std::fs::write(dir.join(n), n).unwrap();
        }
        let got = take_files(&dir.join("t--main."));
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["t--main.hgrm", "t--main.json", "t--main.light.hgrm"]
        );
        assert_eq!(got[1].1, "t--main.json");
        assert!(!dir.join("t--main.json").exists());
        assert!(dir.join("t--other.json").exists());
        assert!(take_files(&dir.join("none.")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
