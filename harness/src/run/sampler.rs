//! Samples a process's `/proc` entries every 100 ms on a thread of its own:
//! CPU (user, system), RSS and peak RSS, OS threads, and voluntary and
//! involuntary context switches summed over its threads (exited ones kept).

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProcSample {
    /// Milliseconds since the trial's time origin.
    pub t_ms: f64,
    /// Cumulative CPU of the whole process (exited threads included), from
    /// /proc/PID/stat: clock ticks (10 ms), too coarse for per-request figures.
    pub cpu_user_us: u64,
    pub cpu_sys_us: u64,
    /// Cumulative CPU in nanoseconds from each thread's schedstat: live
    /// threads' runtimes plus the last reading of threads that have exited
    /// (they lose at most one sampling period). 0 when unavailable.
    #[serde(default)]
    pub cpu_runtime_ns: u64,
    pub rss_bytes: u64,
    pub rss_peak_bytes: u64,
    pub threads: u64,
    /// Summed over every thread seen so far: live threads' counts plus the
    /// last reading of threads that have exited (see `ThreadCounters`).
    pub ctx_voluntary: u64,
    pub ctx_involuntary: u64,
    /// False when this sample skipped the per-thread pass (a process with
    /// many threads, whose pass costs the sampler's CPU — the load
    /// generator's — too much to make every 100 ms): its `cpu_runtime_ns`
    /// and context switches repeat the last full sample's. Cumulative
    /// per-thread counters are read from full samples only (`full_only`).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub per_thread: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// The samples whose per-thread counters are fresh, for deltas of them.
pub fn full_only(samples: &[ProcSample]) -> Vec<ProcSample> {
    samples.iter().filter(|s| s.per_thread).copied().collect()
}

/// The most of its time the sampler may spend on per-thread passes: a
/// pass that took `d` waits at least `d / MAX_PASS_SHARE` before the next.
pub const MAX_PASS_SHARE: f64 = 0.02;

/// Threads read between two yields of the sampler's CPU (~0.1 ms of work).
const THREADS_PER_BITE: usize = 16;

impl ProcSample {
    /// CPU in microseconds: the schedstat sum when there is one, else ticks.
    pub fn cpu_us(&self) -> u64 {
        if self.cpu_runtime_ns > 0 {
            self.cpu_runtime_ns / 1000
        } else {
            self.cpu_user_us + self.cpu_sys_us
        }
    }
    pub fn ctx_switches(&self) -> u64 {
        self.ctx_voluntary + self.ctx_involuntary
    }
}

/// Per-thread counters seen so far (schedstat runtime, voluntary and
/// involuntary context switches), so a thread that exits — a blocking-pool
/// thread let go after its keep-alive — does not take its counts along; it
/// loses at most what it did since the last sample.
#[derive(Debug, Default)]
pub struct ThreadCounters {
    last: std::collections::HashMap<i32, [u64; 3]>,
}

impl ThreadCounters {
    /// Updates with this sample's live threads `(tid, [runtime_ns,
    /// voluntary, involuntary])`; returns the cumulative totals.
    pub fn totals(&mut self, live: &[(i32, [u64; 3])]) -> [u64; 3] {
        for &(tid, counts) in live {
            let e = self.last.entry(tid).or_insert([0; 3]);
            for (a, b) in e.iter_mut().zip(counts) {
                *a = (*a).max(b);
            }
        }
        self.last.values().fold([0; 3], |mut acc, c| {
            for (a, b) in acc.iter_mut().zip(c) {
                *a += b;
            }
            acc
        })
    }
}

/// One reading of `pid`, or None if it has gone.
pub fn sample_once(pid: u32, t_ms: f64) -> Option<ProcSample> {
    sample_with(pid, t_ms, &mut ThreadCounters::default(), true)
}

/// One reading; `full` adds the per-thread pass (else the per-thread
/// counters repeat `counters`' last totals).
fn sample_with(
    pid: u32,
    t_ms: f64,
    counters: &mut ThreadCounters,
    full: bool,
) -> Option<ProcSample> {
    let p = procfs::process::Process::new(pid as i32).ok()?;
    let stat = p.stat().ok()?;
    let status = p.status().ok()?;
    let us_per_tick = 1_000_000 / procfs::ticks_per_second();
    let mut live = Vec::new();
    if !full {
        // No thread is read: the totals stay as they were.
    } else if let Ok(tasks) = p.tasks() {
        for (i, t) in tasks.flatten().enumerate() {
            // Small bites: the load generator shares this CPU and spins; one
            // long pass would hold it off for milliseconds (send lag).
            if i > 0 && i % THREADS_PER_BITE == 0 {
                std::thread::yield_now();
            }
            let (vol, invol) = t.status().map_or((0, 0), |s| {
                (
                    s.voluntary_ctxt_switches.unwrap_or(0),
                    s.nonvoluntary_ctxt_switches.unwrap_or(0),
                )
            });
            let runtime_ns = t.schedstat().map_or(0, |ss| ss.sum_exec_runtime);
            live.push((t.tid, [runtime_ns, vol, invol]));
        }
    }
    let [cpu_runtime_ns, vol, invol] = counters.totals(&live);
    Some(ProcSample {
        t_ms,
        cpu_user_us: stat.utime * us_per_tick,
        cpu_sys_us: stat.stime * us_per_tick,
        cpu_runtime_ns,
        rss_bytes: status.vmrss.unwrap_or(0) * 1024,
        rss_peak_bytes: status.vmhwm.unwrap_or(0) * 1024,
        threads: status.threads,
        ctx_voluntary: vol,
        ctx_involuntary: invol,
        per_thread: full,
    })
}

pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<ProcSample>>>,
}

impl Sampler {
    /// Starts sampling `pid` every `period`, timing samples from `origin`;
    /// `stop` returns them all.
    pub fn start(pid: u32, origin: Instant, period: Duration) -> Sampler {
        Sampler::spawn(pid, origin, period, Vec::new(), |out, s| out.push(s))
    }

    /// The same sampling, each sample handed to `sink` as it is taken
    /// (`harness sample` streams them to the controller); `stop` then
    /// returns nothing.
    pub fn stream(
        pid: u32,
        origin: Instant,
        period: Duration,
        mut sink: impl FnMut(ProcSample) + Send + 'static,
    ) -> Sampler {
        Sampler::spawn(pid, origin, period, Vec::new(), move |_, s| sink(s))
    }

    fn spawn(
        pid: u32,
        origin: Instant,
        period: Duration,
        mut out: Vec<ProcSample>,
        mut keep: impl FnMut(&mut Vec<ProcSample>, ProcSample) + Send + 'static,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                stand_back();
                let mut counters = ThreadCounters::default();
                let mut next = Instant::now();
                // The per-thread pass reads two files per thread: with hundreds
                // of threads (a blocking pool) that is milliseconds of the CPU
                // the sampler shares with the load generator. Its share is
                // capped; the cheap process-wide reading stays every period.
                let mut next_full = Instant::now();
                loop {
                    let stopping = flag.load(Ordering::Relaxed);
                    let t_ms = origin.elapsed().as_secs_f64() * 1e3;
                    let began = Instant::now();
                    let full = stopping || began >= next_full;
                    match sample_with(pid, t_ms, &mut counters, full) {
                        Some(s) => keep(&mut out, s),
                        None => break,
                    }
                    if full {
                        next_full = began + began.elapsed().div_f64(MAX_PASS_SHARE);
                    }
                    if stopping {
                        break;
                    }
                    // Fixed schedule: a slow read does not shift later samples.
                    next += period;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else {
                        next = now;
                    }
                }
                out
            });
        Sampler {
            stop,
            // A thread that cannot start leaves the trial without samples
            // (its figures say so), not the harness without a run.
            handle: spawned.ok(),
        }
    }

    /// Takes one last sample and returns them all.
    pub fn stop(mut self) -> Vec<ProcSample> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Puts the calling thread under SCHED_IDLE. On a small machine the
/// sampler has no CPU of its own, and a sampler that starts a read just
/// before the pacer's timer fires keeps the generator's CPU for the rest of
/// its time slice unless the kernel preempts it: a niceness does not make
/// it (the scheduler lets the running task reach its slice's end), the
/// idle policy does (a waking normal task preempts an idle-policy one at
/// once). It still runs whenever the measured processes leave room, and
/// late samples only move the interpolation points. Lowering one's own
/// policy needs no privilege; children are started from other threads, so
/// they keep theirs.
fn stand_back() {
    let p = libc::sched_param { sched_priority: 0 };
    // SAFETY: changes the calling thread's policy only (pid 0).
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &p);
    }
}

/// Linear interpolation of a cumulative counter at time `t_ms`.
pub fn counter_at(
    samples: &[ProcSample],
    t_ms: f64,
    f: impl Fn(&ProcSample) -> u64,
) -> Option<f64> {
    let first = samples.first()?;
    if t_ms <= first.t_ms {
        return Some(f(first) as f64);
    }
    for w in samples.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if t_ms <= b.t_ms {
            let span = b.t_ms - a.t_ms;
            let frac = if span > 0.0 {
                (t_ms - a.t_ms) / span
            } else {
                1.0
            };
            return Some(f(a) as f64 + frac * (f(b) as f64 - f(a) as f64));
        }
    }
    samples.last().map(|s| f(s) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t_ms: f64, cpu: u64) -> ProcSample {
        ProcSample {
            t_ms,
            cpu_user_us: cpu,
            cpu_sys_us: 0,
            cpu_runtime_ns: 0,
            rss_bytes: 0,
            rss_peak_bytes: 0,
            threads: 1,
            ctx_voluntary: 0,
            ctx_involuntary: 0,
            per_thread: true,
        }
    }

    #[test]
    fn interpolates_counters_inside_and_clamps_outside() {
        let v = [s(0.0, 0), s(100.0, 1000), s(200.0, 1000)];
        assert_eq!(counter_at(&v, 50.0, ProcSample::cpu_us), Some(500.0));
        assert_eq!(counter_at(&v, -5.0, ProcSample::cpu_us), Some(0.0));
        assert_eq!(counter_at(&v, 150.0, ProcSample::cpu_us), Some(1000.0));
        assert_eq!(counter_at(&v, 999.0, ProcSample::cpu_us), Some(1000.0));
        assert_eq!(counter_at(&[], 1.0, ProcSample::cpu_us), None);
    }

    #[test]
    fn exited_threads_keep_their_counts() {
        let mut r = ThreadCounters::default();
        assert_eq!(r.totals(&[(1, [100, 1, 0]), (2, [50, 2, 1])]), [150, 3, 1]);
        // Thread 2 exits; its last readings still count.
        assert_eq!(r.totals(&[(1, [180, 4, 0])]), [230, 6, 1]);
        assert_eq!(r.totals(&[(1, [180, 4, 0]), (3, [5, 1, 1])]), [235, 7, 2]);
    }

    /// Scheduling policy of each thread of this process named `name`.
    fn policies_of(name: &str) -> Vec<i32> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            if comm.trim() != name {
                continue;
            }
            let tid: i32 = e.file_name().to_string_lossy().parse().unwrap();
            // SAFETY: reads a thread's policy.
            out.push(unsafe { libc::sched_getscheduler(tid) });
        }
        out
    }

    #[test]
    fn the_sampler_stands_back_and_the_caller_does_not() {
        let s = Sampler::start(std::process::id(), Instant::now(), Duration::from_millis(5));
        std::thread::sleep(Duration::from_millis(50));
        let policies = policies_of("sampler");
        let _ = s.stop();
        assert!(
            policies.contains(&libc::SCHED_IDLE),
            "sampler threads' policies: {policies:?}"
        );
        // SAFETY: reads the calling thread's policy.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }

    #[test]
    fn many_threads_thin_the_per_thread_passes_but_not_the_last() {
        // 300 parked threads: a per-thread pass reads 600 files (well over
        // 0.2 ms anywhere), so at a 10 ms period most samples skip it.
        let stop = Arc::new(AtomicBool::new(false));
        let parked: Vec<_> = (0..300)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        let sampler = Sampler::start(
            std::process::id(),
            Instant::now(),
            Duration::from_millis(10),
        );
        std::thread::sleep(Duration::from_millis(400));
        let v = sampler.stop();
        stop.store(true, Ordering::Relaxed);
        for t in parked {
            t.join().unwrap();
        }
        assert!(v.iter().any(|s| !s.per_thread), "no pass was skipped");
        assert!(v[0].per_thread && v.last().unwrap().per_thread);
        assert!(v.iter().all(|s| s.threads >= 300));
        // Light samples repeat the counters; full ones never go back.
        let full = full_only(&v);
        assert!(
            full.windows(2)
                .all(|w| w[0].cpu_runtime_ns <= w[1].cpu_runtime_ns)
        );
        for w in v.windows(2).filter(|w| !w[1].per_thread) {
            assert_eq!(w[0].cpu_runtime_ns, w[1].cpu_runtime_ns);
            assert_eq!(w[0].ctx_switches(), w[1].ctx_switches());
        }
    }

    #[test]
    fn samples_this_process() {
        let me = sample_once(std::process::id(), 0.0).unwrap();
        assert!(me.rss_bytes > 0 && me.threads >= 1);
        assert!(
            me.cpu_runtime_ns > 0,
            "schedstat gives this process some runtime"
        );
        assert!(me.rss_peak_bytes >= me.rss_bytes);
        let sampler = Sampler::start(
            std::process::id(),
            Instant::now(),
            Duration::from_millis(10),
        );
        std::thread::sleep(Duration::from_millis(60));
        let v = sampler.stop();
        assert!(v.len() >= 2, "{}", v.len());
        assert!(v.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        assert!(sample_once(u32::MAX / 2, 0.0).is_none());
    }

    #[test]
    fn a_stream_hands_over_every_sample_and_a_last_one_at_stop() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sampler = Sampler::stream(
            std::process::id(),
            Instant::now(),
            Duration::from_millis(10),
            move |s| {
                let _ = tx.send(s);
            },
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(sampler.stop().is_empty());
        let got: Vec<ProcSample> = rx.try_iter().collect();
        assert!(got.len() >= 2, "{}", got.len());
        assert!(
            got.last().unwrap().per_thread,
            "the last sample is a full one"
        );
        assert!(got.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
    }
}
