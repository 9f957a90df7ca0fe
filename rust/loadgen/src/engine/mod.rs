//! Threads, connections and pacing.
//!
//! `--threads` OS threads, each pinned to one CPU and running its own tokio
//! current-thread runtime with a `LocalSet`. A thread owns a slice of every
//! class's connections and its own recorders; per-connection state is shared
//! between that thread's tasks through `Rc<RefCell<…>>` — no locks or atomics
//! on the per-request path. Recorders are merged after each step.
//!
//! Open loop: one pacer task per thread owns the schedule (a heap of due
//! times) and writes each request the moment it is due. It sleeps on a
//! `timerfd` (an hrtimer, not tokio's 1 ms wheel) until shortly before the
//! next due time, lets the runtime poll I/O while the rest of the margin
//! passes, and busy-waits only the last few microseconds. Bytes that do not
//! fit in the socket stay queued for that connection and a flusher task
//! writes them when it becomes writable. Per-connection reader tasks read
//! with `recvmsg`, taking the kernel's receive timestamp with the bytes,
//! and match responses FIFO against the in-flight queue. Closed loop: no
//! pacer; each response's reader sends the next request(s), one write per
//! batch. Idle mode: connections are primed, then held without traffic.
//!
//! Files by role: `run` (orchestration of threads and steps), `thread` (one
//! generator thread and its shared state), `step` (one step on a thread),
//! `pacer` (open-loop sending), `send` (writing), `reader` (responses),
//! `conn` (connect, fail, reconnect), `drain` (end of a step, timeouts),
//! `verifier` (SHA bodies, checked after the run).

mod conn;
mod drain;
mod pacer;
mod reader;
mod run;
mod send;
mod step;
mod thread;
mod verifier;

pub(crate) use run::execute;

use crate::opts::Config;
use crate::record::Recorder;
use std::sync::Arc;
use std::time::SystemTime;

/// One connection's place in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnPlan {
    /// Unique over the run (payload keys derive from it).
    pub uid: u64,
    pub class: usize,
    /// Index among its class's connections (its phase in the schedule).
    pub index: usize,
}

/// Deals the connections of every class round-robin over the threads.
pub(crate) fn assign(cfg: &Config) -> Vec<Vec<ConnPlan>> {
    let mut per: Vec<Vec<ConnPlan>> = vec![Vec::new(); cfg.threads];
    let mut uid = 0u64;
    for class in 0..cfg.classes.len() {
        for index in 0..cfg.class_conns(class) {
            per[uid as usize % cfg.threads].push(ConnPlan { uid, class, index });
            uid += 1;
        }
    }
    per
}

/// Everything measured in one step (one rate), merged over threads.
#[derive(Debug, Clone)]
pub struct StepData {
    pub index: usize,
    /// Offered rate (None in closed loop).
    pub rate: Option<f64>,
    /// One merged recorder per class.
    pub classes: Vec<Recorder>,
    /// Each generator thread's CPU time over the window / the window.
    pub thread_cpu_shares: Vec<f64>,
    /// This process's CPU over the measured window, µs.
    pub client_cpu_us: u64,
    pub server_cpu_us: Option<u64>,
    /// Start of the measured window, ns after the run's epoch.
    pub window_start_ns: u64,
    pub duration_s: f64,
    /// Server problems beyond the counters (e.g. nothing could connect).
    pub notes: Vec<String>,
    /// Measurement problems beyond the counters (e.g. the warm-up began
    /// late for `--start-at`, idle connections not primed).
    pub measurement_notes: Vec<String>,
    /// Idle mode: connections open when the hold ended.
    pub conns_open_at_end: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct RunData {
    pub cfg: Arc<Config>,
    pub started_at: SystemTime,
    /// Wall-clock time of the epoch all `*_ns` times count from.
    pub epoch_wall: SystemTime,
    pub steps: Vec<StepData>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opts::parse_args;

    #[test]
    fn assign_deals_every_class_over_the_threads() {
        let o = parse_args([
            "loadgen",
            "--address",
            "127.0.0.1:9",
            "--rate",
            "1",
            "--workload",
            "work",
            "--mix",
            "a:conns=3;b:conns=2",
            "--threads",
            "2",
        ])
        .unwrap();
        let cfg = o.validate().unwrap();
        let per = assign(&cfg);
        assert_eq!(per.len(), 2);
        assert_eq!(per[0].len() + per[1].len(), 5);
        assert_eq!(per[0].len(), 3);
        let mut uids: Vec<u64> = per.iter().flatten().map(|c| c.uid).collect();
        uids.sort_unstable();
        assert_eq!(uids, vec![0, 1, 2, 3, 4]);
        assert!(per.iter().all(|t| t.iter().any(|c| c.class == 0)));
        let b: Vec<usize> = per
            .iter()
            .flatten()
            .filter(|c| c.class == 1)
            .map(|c| c.index)
            .collect();
        assert_eq!(b.len(), 2);
    }
}
