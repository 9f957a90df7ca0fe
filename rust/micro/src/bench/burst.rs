//! `blocking-burst --n 1000 --ms 50 --idle 15`: N concurrent blocking OS
//! calls (`spawn_blocking(|| std::thread::sleep(ms))`), then idle; OS
//! threads sampled over the whole time. Each repeat is a fresh child
//! process: tokio's pool shrinks after its keep-alive but Go's threads never
//! do, so a second burst in one process would start from the first's threads.

use crate::doc::{Case, Document, TimelineSample};
use crate::{BurstArgs, Error, child, obj, procinfo};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Calls in the pilot burst that sizes a big N.
pub const PILOT_CALLS: u64 = 64;
/// While the burst runs, threads are sampled at least this often (ms), so
/// the peak of a burst shorter than the timeline period is not missed.
pub const BURST_SAMPLE_MS: u64 = 5;
/// Threads the runtime may add beside workers and the blocking pool.
const SPARE_THREADS: u64 = 8;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub baseline_os_threads: u64,
    pub baseline_rss_bytes: u64,
    pub peak_os_threads: u64,
    pub peak_rss_bytes: u64,
    pub drain_ms: f64,
    pub os_threads_after_idle: u64,
    /// (t_ms, os_threads, rss_bytes), t from the burst's start.
    pub timeline: Vec<(f64, u64, u64)>,
}

fn point(t0: Instant) -> (f64, u64, u64) {
    (
        t0.elapsed().as_secs_f64() * 1e3,
        procinfo::os_threads().unwrap_or(0),
        procinfo::rss_bytes().unwrap_or(0),
    )
}

/// One burst in this process.
pub fn measure(
    n: u64,
    call: Duration,
    idle: Duration,
    sample_ms: u64,
    workers: usize,
    max_blocking_threads: usize,
    keep_alive: Duration,
) -> anyhow::Result<Sample> {
    let rt = crate::runtime_with_keep_alive(workers, max_blocking_threads, keep_alive)?;
    rt.block_on(async move {
        let baseline_os_threads = procinfo::os_threads()?;
        let baseline_rss_bytes = procinfo::rss_bytes()?;
        let timeline = Arc::new(Mutex::new(Vec::new()));
        let drained = Arc::new(AtomicBool::new(false));
        let t0 = Instant::now();
        // The sampler is a task, not a thread, so it adds no thread to the count
        // (go-micro's sampler is a goroutine).
        let sampler = {
            let (timeline, drained) = (timeline.clone(), drained.clone());
            tokio::spawn(async move {
                let mut next = tokio::time::Instant::from_std(t0);
                loop {
                    timeline.lock().unwrap().push(point(t0));
                    let step = if drained.load(Ordering::Relaxed) {
                        sample_ms
                    } else {
                        sample_ms.min(BURST_SAMPLE_MS)
                    };
                    next += Duration::from_millis(step);
                    tokio::time::sleep_until(next).await;
                }
            })
        };
        let calls: Vec<_> = (0..n)
            .map(|_| tokio::task::spawn_blocking(move || std::thread::sleep(call)))
            .collect();
        for c in calls {
            c.await?;
        }
        let drain_ms = t0.elapsed().as_secs_f64() * 1e3;
        drained.store(true, Ordering::Relaxed);
        timeline.lock().unwrap().push(point(t0));
        tokio::time::sleep(idle).await;
        let os_threads_after_idle = procinfo::os_threads()?;
        sampler.abort();
        let _ = sampler.await;
        let mut timeline = std::mem::take(&mut *timeline.lock().unwrap());
        timeline.push(point(t0));
        timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(Sample {
            baseline_os_threads,
            baseline_rss_bytes,
            peak_os_threads: timeline.iter().map(|p| p.1).max().unwrap_or(0),
            peak_rss_bytes: timeline.iter().map(|p| p.2).max().unwrap_or(0),
            drain_ms,
            os_threads_after_idle,
            timeline,
        })
    })
}

/// Refuses a burst that needs more threads than the machine allows, or more
/// memory than the budget at `bytes_per_thread` (from the pilot).
pub fn check_limits(
    threads_needed: u64,
    thread_room: u64,
    bytes_per_thread: f64,
    budget_bytes: u64,
) -> Result<(), String> {
    if threads_needed > thread_room {
        return Err(format!(
            "blocking-burst refused: needs up to {threads_needed} threads, the machine allows {thread_room} more"
        ));
    }
    let need = bytes_per_thread.max(16_384.0) * threads_needed as f64 * 1.25;
    if need > budget_bytes as f64 {
        return Err(format!(
            "blocking-burst refused: about {} needed for {threads_needed} threads ({bytes_per_thread:.0} bytes/thread from a {PILOT_CALLS}-call pilot), more than half of MemAvailable ({})",
            super::mib(need),
            super::mib(budget_bytes as f64)
        ));
    }
    Ok(())
}

fn child_args(a: &BurstArgs, n: u64, ms: u64, idle_s: f64, sample_ms: u64) -> Vec<String> {
    [
        "blocking-burst".to_string(),
        format!("--n={n}"),
        format!("--ms={ms}"),
        format!("--idle={idle_s}"),
        format!("--sample-ms={sample_ms}"),
        format!("--workers={}", a.common.workers()),
        format!("--max-blocking-threads={}", a.common.max_blocking_threads),
        format!("--keep-alive-ms={}", a.keep_alive_ms),
    ]
    .into()
}

pub fn run(a: &BurstArgs, exe: &Path) -> Result<Option<Document>, Error> {
    if !a.idle.is_finite() || !(0.0..=3600.0).contains(&a.idle) {
        return Err(Error::Usage(format!(
            "--idle must be 0..=3600 seconds, got {}",
            a.idle
        )));
    }
    let c = &a.common;
    let workers = c.workers();
    let mbt = c.max_blocking_threads as usize;
    if c.child {
        let s = measure(
            a.n,
            Duration::from_millis(a.ms),
            Duration::from_secs_f64(a.idle),
            a.sample_ms,
            workers,
            mbt,
            Duration::from_millis(a.keep_alive_ms),
        )?;
        child::print(&s)?;
        return Ok(None);
    }

    // tokio caps the burst at max_blocking_threads: a cap, not a failure.
    let threads_needed = a.n.min(c.max_blocking_threads) + workers as u64 + SPARE_THREADS;
    let mut per_thread = 0.0;
    if a.n > PILOT_CALLS {
        let pilot: Sample = child::run(
            exe,
            &child_args(a, PILOT_CALLS, a.ms.max(20), 0.0, BURST_SAMPLE_MS),
        )?;
        let threads = pilot
            .peak_os_threads
            .saturating_sub(pilot.baseline_os_threads)
            .max(1);
        per_thread = pilot
            .peak_rss_bytes
            .saturating_sub(pilot.baseline_rss_bytes) as f64
            / threads as f64;
    }
    check_limits(
        threads_needed,
        procinfo::thread_room(),
        per_thread,
        super::memory_budget_bytes(),
    )
    .map_err(Error::Refused)?;

    let warmup = c.warmup_or(0);
    let mut timeline = Vec::new();
    let metrics = crate::repeat(warmup, c.repeats, || {
        let s: Sample = child::run(exe, &child_args(a, a.n, a.ms, a.idle, a.sample_ms))?;
        let metrics = vec![
            ("peak_os_threads", s.peak_os_threads as f64),
            ("baseline_os_threads", s.baseline_os_threads as f64),
            ("os_threads_after_idle", s.os_threads_after_idle as f64),
            ("drain_ms", s.drain_ms),
            ("peak_rss_bytes", s.peak_rss_bytes as f64),
        ];
        timeline.push(s.timeline);
        Ok(metrics)
    })?;
    // Warm-up runs pushed their timelines first: keep the measured ones.
    let skip = timeline.len() - c.repeats as usize;
    let mut samples = Vec::new();
    for (measured, points) in timeline.into_iter().skip(skip).enumerate() {
        for (t_ms, os_threads, rss_bytes) in points {
            samples.push(TimelineSample {
                repeat: measured as u32,
                t_ms,
                os_threads,
                rss_bytes,
            });
        }
    }

    let mut params = c.base_params(warmup);
    params.insert("n".into(), a.n.into());
    params.insert("call_ms".into(), a.ms.into());
    params.insert("idle_s".into(), a.idle.into());
    params.insert("sample_ms".into(), a.sample_ms.into());
    params.insert("keep_alive_ms".into(), a.keep_alive_ms.into());
    let mut env = crate::doc::env(workers, mbt);
    env.insert("blocking_keep_alive_ms".into(), a.keep_alive_ms.into());
    let mut doc = Document::new("blocking-burst", params, env);
    let mut case = Case::new(
        "blocking_burst",
        "default",
        obj! {
            "n" => a.n, "call_ms" => a.ms, "idle_s" => a.idle, "sample_ms" => a.sample_ms,
            "workers" => workers, "max_blocking_threads" => mbt, "keep_alive_ms" => a.keep_alive_ms,
            "mechanism" => "tokio::task::spawn_blocking(std::thread::sleep)",
        },
        &format!(
            "Each repeat in a fresh process. Threads from /proc/self/status, sampled by a task every {BURST_SAMPLE_MS} ms until the burst drains, then every sample_ms, plus once at drain and at the end. tokio runs at most max_blocking_threads calls at once (the rest queue); idle pool threads exit after {} ms (Builder::thread_keep_alive; tokio's default is {} ms).",
            a.keep_alive_ms,
            crate::doc::BLOCKING_KEEP_ALIVE_MS
        ),
    );
    case.metrics = metrics;
    doc.cases.push(case);
    doc.timeline = Some(samples);
    Ok(Some(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_threads_and_memory() {
        assert!(check_limits(520, 10_000, 50_000.0, 1 << 30).is_ok());
        let e = check_limits(20_000, 10_000, 0.0, 1 << 30).unwrap_err();
        assert!(e.contains("20000 threads"), "{e}");
        assert!(check_limits(5_000, 100_000, 1e6, 1 << 30).is_err());
    }
}
