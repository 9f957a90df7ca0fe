//! `spawn --n N`: N tasks that each wait on one shared signal, then the
//! signal releases them all. Each repeat is a fresh child process (see the
//! crate docs), so RSS per task is the cost of new tasks, not of reused memory.

use crate::doc::{Case, Document};
use crate::{Error, SpawnArgs, child, obj, procinfo};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Tasks in the pilot run that sizes a big N before it starts.
pub const PILOT_TASKS: u64 = 10_000;
/// Estimates are inflated by this much before comparing with the budget.
const SAFETY: f64 = 1.25;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Sample {
    pub ns_per_spawn: f64,
    pub ns_per_completion: f64,
    pub rss_bytes_per_task: f64,
    pub heap_bytes_per_task: f64,
    pub os_threads: f64,
}

struct Shared {
    release: Notify,
    started: AtomicUsize,
    remaining: AtomicUsize,
    all_done: Notify,
}

/// One measurement in this process: spawn `n` parked tasks from a task on
/// a worker (where tasks usually spawn tasks), measure, release them.
pub fn measure(n: usize, workers: usize, max_blocking_threads: usize) -> anyhow::Result<Sample> {
    let rt = crate::runtime(workers, max_blocking_threads)?;
    rt.block_on(async move { tokio::spawn(spawn_and_release(n)).await? })
}

async fn spawn_and_release(n: usize) -> anyhow::Result<Sample> {
    let shared = Arc::new(Shared {
        release: Notify::new(),
        started: AtomicUsize::new(0),
        remaining: AtomicUsize::new(n),
        all_done: Notify::new(),
    });
    let rss0 = procinfo::rss_bytes()?;
    let heap0 = procinfo::heap_bytes();

    let t0 = Instant::now();
    for _ in 0..n {
        let s = shared.clone();
        // The JoinHandle is dropped: the task is detached, as Go's goroutines
        // are; completion is counted through `remaining` like a WaitGroup.
        drop(tokio::spawn(async move {
            let released = s.release.notified();
            tokio::pin!(released);
            // Register as a waiter before counting as started, so a
            // notify_waiters() after the count reached n wakes every task.
            released.as_mut().enable();
            s.started.fetch_add(1, Ordering::Release);
            released.await;
            if s.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                s.all_done.notify_one();
            }
        }));
    }
    let spawn_time = t0.elapsed();

    while shared.started.load(Ordering::Acquire) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rss1 = procinfo::rss_bytes()?;
    let heap1 = procinfo::heap_bytes();
    let threads = procinfo::os_threads()?;

    let t2 = Instant::now();
    shared.release.notify_waiters();
    shared.all_done.notified().await;
    let completion_time = t2.elapsed();

    let nf = n as f64;
    Ok(Sample {
        ns_per_spawn: spawn_time.as_nanos() as f64 / nf,
        ns_per_completion: completion_time.as_nanos() as f64 / nf,
        rss_bytes_per_task: (rss1 as f64 - rss0 as f64).max(0.0) / nf,
        heap_bytes_per_task: (heap1 as f64 - heap0 as f64).max(0.0) / nf,
        os_threads: threads as f64,
    })
}

/// Refuses `n` tasks when `bytes_per_task` (from the pilot) says they would
/// take more than `budget_bytes`.
pub fn check_memory(n: u64, bytes_per_task: f64, budget_bytes: u64) -> Result<(), String> {
    let per = bytes_per_task.max(64.0);
    let need = per * n as f64 * SAFETY;
    if need > budget_bytes as f64 {
        return Err(format!(
            "spawn --n {n} refused: about {} needed ({per:.0} bytes/task from a {PILOT_TASKS}-task pilot), more than half of MemAvailable ({})",
            super::mib(need),
            super::mib(budget_bytes as f64)
        ));
    }
    Ok(())
}

fn child_args(n: u64, a: &SpawnArgs) -> Vec<String> {
    vec![
        "spawn".into(),
        "--n".into(),
        n.to_string(),
        "--workers".into(),
        a.common.workers().to_string(),
        "--max-blocking-threads".into(),
        a.common.max_blocking_threads.to_string(),
    ]
}

pub fn run(a: &SpawnArgs, exe: &Path) -> Result<Option<Document>, Error> {
    let c = &a.common;
    let workers = c.workers();
    let mbt = c.max_blocking_threads as usize;
    if c.child {
        let s = measure(a.n as usize, workers, mbt)?;
        child::print(&s)?;
        return Ok(None);
    }
    if a.n > PILOT_TASKS {
        let pilot: Sample = child::run(exe, &child_args(PILOT_TASKS, a))?;
        let per = pilot.rss_bytes_per_task.max(pilot.heap_bytes_per_task);
        check_memory(a.n, per, super::memory_budget_bytes()).map_err(Error::Refused)?;
    }
    let warmup = c.warmup_or(1);
    let metrics = crate::repeat(warmup, c.repeats, || {
        let s: Sample = child::run(exe, &child_args(a.n, a))?;
        Ok(vec![
            ("ns_per_spawn", s.ns_per_spawn),
            ("ns_per_completion", s.ns_per_completion),
            ("rss_bytes_per_task", s.rss_bytes_per_task),
            ("heap_bytes_per_task", s.heap_bytes_per_task),
            ("os_threads", s.os_threads),
        ])
    })?;
    let mut params = c.base_params(warmup);
    params.insert("n".into(), a.n.into());
    let mut doc = Document::new("spawn", params, crate::doc::env(workers, mbt));
    let mut case = Case::new(
        "spawn",
        "default",
        obj! { "n" => a.n, "workers" => workers, "mechanism" => "tokio::spawn + Notify::notify_waiters" },
        "Each repeat in a fresh process. Tasks are spawned from a task on a worker and each awaits \
         one shared Notify (registered with Notified::enable before counting as started); \
         ns_per_spawn = spawn loop / N; ns_per_completion = notify_waiters until the last task \
         finished / N; rss_bytes_per_task = VmRSS delta / N once all are parked; \
         heap_bytes_per_task = glibc mallinfo2 (uordblks+hblkhd) delta / N.",
    );
    case.metrics = metrics;
    doc.cases.push(case);
    Ok(Some(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_check_refuses_what_does_not_fit() {
        assert!(check_memory(1_000_000, 300.0, 1 << 30).is_ok());
        let e = check_memory(100_000_000, 3000.0, 1 << 30).unwrap_err();
        assert!(e.contains("refused") && !e.contains('\n'), "{e}");
        // A pilot that measured nothing still counts 64 bytes per task.
        assert!(check_memory(100_000_000, 0.0, 1 << 30).is_err());
    }

    #[test]
    fn measures_a_few_tasks_in_process() {
        let s = measure(500, 2, 16).unwrap();
        assert!(s.ns_per_spawn > 0.0 && s.ns_per_completion > 0.0);
        assert!(s.os_threads >= 3.0, "{s:?}");
    }
}
