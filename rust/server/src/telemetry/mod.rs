//! `--telemetry PATH`: the runtime's own view, sampled from
//! `Handle::metrics()` on a thread of its own and appended as one JSON line
//! per sample, written whole and at once. A std::thread, not a runtime
//! task, so sampling never sits in the workers' queues it reports on. One
//! sample at start, one every interval, and a final one on
//! `finish` (the signal handler's last act, or when dropped).
//! Without the flag none of this exists.

pub mod sample;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::runtime::Handle;

use crate::config::Settings;

/// The sampler of one runtime; `finish` (or drop) writes the final sample.
pub struct Sampler {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    out: Mutex<Output>,
    stopped: Mutex<bool>,
    wake: Condvar,
}

struct Output {
    path: PathBuf,
    file: File,
    handle: Handle,
    seq: u64,
    /// After a write error or the final sample nothing more is written.
    closed: bool,
}

impl Output {
    fn write_sample(&mut self) {
        if self.closed {
            return;
        }
        let t_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3);
        let metrics = sample::collect(&self.handle.metrics());
        let mut line = sample::line(self.seq, t_unix_ms, &metrics);
        line.push('\n');
        // One write per line: a reader never sees half a sample.
        match self.file.write_all(line.as_bytes()) {
            Ok(()) => self.seq += 1,
            Err(e) => {
                // The server keeps serving; the trial will see the gap.
                eprintln!(
                    "rust-server: telemetry: cannot write {}: {e} (sampling stopped)",
                    self.path.display()
                );
                self.closed = true;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sampler {
    /// Creates (truncates) `path`, writes sample 0 and starts the thread.
    /// An error is one line naming the file.
    pub fn start(path: &Path, interval: Duration, handle: Handle) -> Result<Sampler, String> {
        let what = |e: std::io::Error| format!("--telemetry {}: {e}", path.display());
        let file = File::create(path).map_err(what)?;
        let mut out = Output {
            path: path.to_path_buf(),
            file,
            handle,
            seq: 0,
            closed: false,
        };
        out.write_sample();
        if out.closed {
            return Err(format!("--telemetry {}: cannot write", path.display()));
        }
        let shared = Arc::new(Shared {
            out: Mutex::new(out),
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("rtc-telemetry".into())
            .spawn(move || sample_every(&s, interval))
            .map_err(what)?;
        Ok(Sampler {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread and writes the final sample; later calls do nothing.
    pub fn finish(&self) {
        *lock(&self.shared.stopped) = true;
        self.shared.wake.notify_all();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
            let mut out = lock(&self.shared.out);
            out.write_sample();
            out.closed = true;
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The sampler `--telemetry` asks for, if it does.
pub fn start_if_asked(s: &Settings, handle: &Handle) -> Result<Option<Sampler>, String> {
    s.telemetry
        .as_deref()
        .map(|path| Sampler::start(path, s.telemetry_interval, handle.clone()))
        .transpose()
}

/// Samples on a fixed schedule (start + k × interval) until stopped; a
/// sample that overran skips the ticks it missed rather than bunching up.
fn sample_every(shared: &Shared, interval: Duration) {
    let mut next = Instant::now() + interval;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        let stopped = lock(&shared.stopped);
        let (stopped, _) = shared
            .wake
            .wait_timeout_while(stopped, wait, |s| !*s)
            .unwrap_or_else(|e| e.into_inner());
        if *stopped {
            return;
        }
        drop(stopped);
        lock(&shared.out).write_sample();
        next += interval;
        let now = Instant::now();
        if next <= now {
            next = now + interval;
        }
    }
}
