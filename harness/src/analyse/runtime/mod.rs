//! Runtime metrics of a trial from its servers' telemetry samples
//! (`run::telemetry`), over the same measured windows as the load
//! generator's latency: for each window, the samples bracketing it (the
//! last at or before its start, the first at or after its end) give the
//! differences of cumulative values — histogram buckets, GC cycles, busy
//! time, forced yields — and the gauges' maxima over the samples between.
//! The bracketing span is up to one sampling interval longer at each end
//! than the window; `runtime.span_ms` says how long it was.
//!
//! Names, after `runtime.` (or `runtime.stepN.` for each rate step):
//! `sched_latency_{p50,p99,max}_us` and `sched_latency_events` (Go
//! `/sched/latencies`, a 1-in-8 sample of run-queue waits; tokio's
//! schedule-latency histogram, `tokio_unstable` build only),
//! `gc_cycles`, `gc_pause_total_ms`, `gc_pause_max_us`, `gc_cpu_fraction`
//! (Go), `worker_busy_fraction`, `forced_yields`,
//! `global_queue_depth_max`, `blocking_queue_depth_max` (tokio; forced
//! yields and the blocking queue in the unstable build),
//! `run_queue_depth_max` (Go runnable goroutines; tokio global + local
//! queues, unstable build). A metric the runtime or build does not
//! sample is absent, never zero.
//!
//! `align` lays the same figures out per sampling interval and per second
//! of the load generator, for the timeline.

pub mod align;
pub mod hist;

use crate::analyse::metrics::Window;
use crate::run::telemetry::sample::{Sample, keys};
use std::collections::BTreeMap;

/// Every name `derive` can emit (after `runtime.` or `runtime.stepN.`).
pub const METRICS: &[&str] = &[
    "span_ms",
    "sched_latency_p50_us",
    "sched_latency_p99_us",
    "sched_latency_max_us",
    "sched_latency_events",
    "gc_cycles",
    "gc_pause_total_ms",
    "gc_pause_max_us",
    "gc_cpu_fraction",
    "worker_busy_fraction",
    "forced_yields",
    "global_queue_depth_max",
    "run_queue_depth_max",
    "blocking_queue_depth_max",
];

/// The runtime's view of one span between two samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub start_ms: f64,
    pub end_ms: f64,
    pub sched_latency_p50_us: Option<f64>,
    pub sched_latency_p99_us: Option<f64>,
    pub sched_latency_max_us: Option<f64>,
    pub sched_latency_events: Option<f64>,
    pub gc_cycles: Option<f64>,
    pub gc_pause_total_ms: Option<f64>,
    pub gc_pause_max_us: Option<f64>,
    pub gc_cpu_fraction: Option<f64>,
    pub worker_busy_fraction: Option<f64>,
    pub forced_yields: Option<f64>,
    pub global_queue_depth_max: Option<f64>,
    pub run_queue_depth_max: Option<f64>,
    pub blocking_queue_depth_max: Option<f64>,
}

impl Figures {
    pub fn span_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }

    /// (name, value) of every figure measured, names as in `METRICS`.
    pub fn named(&self) -> Vec<(&'static str, f64)> {
        let all = [
            ("span_ms", Some(self.span_ms())),
            ("sched_latency_p50_us", self.sched_latency_p50_us),
            ("sched_latency_p99_us", self.sched_latency_p99_us),
            ("sched_latency_max_us", self.sched_latency_max_us),
            ("sched_latency_events", self.sched_latency_events),
            ("gc_cycles", self.gc_cycles),
            ("gc_pause_total_ms", self.gc_pause_total_ms),
            ("gc_pause_max_us", self.gc_pause_max_us),
            ("gc_cpu_fraction", self.gc_cpu_fraction),
            ("worker_busy_fraction", self.worker_busy_fraction),
            ("forced_yields", self.forced_yields),
            ("global_queue_depth_max", self.global_queue_depth_max),
            ("run_queue_depth_max", self.run_queue_depth_max),
            ("blocking_queue_depth_max", self.blocking_queue_depth_max),
        ];
        all.into_iter()
            .filter_map(|(k, v)| Some((k, v.filter(|x| x.is_finite())?)))
            .collect()
    }
}

/// A sample's time on the trial's axis (ms after its origin): the server
/// and the harness read the same wall clock.
pub fn t_ms(s: &Sample, origin_unix_ms: f64) -> f64 {
    s.t_unix_ms - origin_unix_ms
}

/// The samples bracketing `[start_ms, end_ms]` (trial time): the last at
/// or before the start, the first at or after the end (the first and last
/// samples where the file does not reach that far); None without two.
pub fn bracket(
    samples: &[Sample],
    origin_unix_ms: f64,
    start_ms: f64,
    end_ms: f64,
) -> Option<(usize, usize)> {
    let t = |i: usize| t_ms(&samples[i], origin_unix_ms);
    let a = (0..samples.len())
        .rev()
        .find(|&i| t(i) <= start_ms)
        .unwrap_or(0);
    let b = (0..samples.len())
        .find(|&i| t(i) >= end_ms)
        .unwrap_or(samples.len().checked_sub(1)?);
    (a < b).then_some((a, b))
}

/// The difference of a cumulative value between two samples.
fn diff(a: &Sample, b: &Sample, f: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
    Some(f(b)? - f(a)?)
}

/// The runtime's figures between samples `a` and `b` (indices, a < b).
pub fn between(samples: &[Sample], origin_unix_ms: f64, a: usize, b: usize) -> Figures {
    let (sa, sb) = (&samples[a], &samples[b]);
    let mut f = Figures {
        start_ms: t_ms(sa, origin_unix_ms),
        end_ms: t_ms(sb, origin_unix_ms),
        ..Figures::default()
    };
    let span_ns = (sb.t_unix_ms - sa.t_unix_ms) * 1e6;
    let hist = |key: &str| {
        let (ha, hb) = (sa.histogram(key)?, sb.histogram(key)?);
        Some((hb.bounds_us.clone(), hist::delta(ha, hb)?))
    };
    if let Some((bounds, d)) =
        hist(keys::GO_SCHED_LATENCIES).or_else(|| hist(keys::TOKIO_SCHED_LATENCY))
    {
        f.sched_latency_events = Some(d.iter().sum::<u64>() as f64);
        f.sched_latency_p50_us = hist::quantile_us(&bounds, &d, 0.5);
        f.sched_latency_p99_us = hist::quantile_us(&bounds, &d, 0.99);
        f.sched_latency_max_us = hist::max_us(&bounds, &d);
    }
    f.gc_cycles = diff(sa, sb, |s| s.number(keys::GO_GC_CYCLES));
    if let Some((bounds, d)) = hist(keys::GO_GC_PAUSES) {
        f.gc_pause_total_ms = Some(hist::sum_us(&bounds, &d) / 1e3);
        // No pause: 0, not "unknown".
        f.gc_pause_max_us = Some(hist::max_us(&bounds, &d).unwrap_or(0.0));
    }
    // The /cpu/classes counters move only at the end of a GC cycle: their
    // ratio covers the GC cycles that ended in the span, and is absent
    // when none did.
    if let (Some(gc), Some(total)) = (
        diff(sa, sb, |s| s.number(keys::GO_CPU_GC)),
        diff(sa, sb, |s| s.number(keys::GO_CPU_TOTAL)),
    ) && total > 0.0
    {
        f.gc_cpu_fraction = Some(gc / total);
    }
    if let (Some(busy), Some(workers)) = (
        diff(sa, sb, |s| s.worker_sum(keys::TOKIO_BUSY_NS)),
        sb.number(keys::TOKIO_WORKERS),
    ) && workers > 0.0
        && span_ns > 0.0
    {
        // tokio adds a busy stretch when the worker parks: one short span
        // after a long stretch can read above 1.
        f.worker_busy_fraction = Some(busy / (workers * span_ns));
    }
    f.forced_yields = diff(sa, sb, |s| s.number(keys::TOKIO_FORCED_YIELDS));
    let gauge_max =
        |g: &dyn Fn(&Sample) -> Option<f64>| samples[a..=b].iter().filter_map(g).reduce(f64::max);
    f.global_queue_depth_max = gauge_max(&|s| s.number(keys::TOKIO_GLOBAL_QUEUE));
    f.blocking_queue_depth_max = gauge_max(&|s| s.number(keys::TOKIO_BLOCKING_QUEUE));
    f.run_queue_depth_max = gauge_max(&|s| {
        s.number(keys::GO_RUNNABLE).or_else(|| {
            Some(s.number(keys::TOKIO_GLOBAL_QUEUE)? + s.worker_sum(keys::TOKIO_LOCAL_QUEUES)?)
        })
    });
    f
}

/// The figures over one window (trial time), from its bracketing samples.
pub fn over_window(
    samples: &[Sample],
    origin_unix_ms: f64,
    start_ms: f64,
    end_ms: f64,
) -> Option<Figures> {
    let (a, b) = bracket(samples, origin_unix_ms, start_ms, end_ms)?;
    Some(between(samples, origin_unix_ms, a, b))
}

/// `runtime.<name>` (one window) or `runtime.<label>.<name>` (each rate
/// step) for the first client's measured windows.
pub fn derive(
    samples: &[Sample],
    origin_unix_ms: f64,
    windows: &[Window],
    out: &mut BTreeMap<String, f64>,
) {
    for w in windows {
        let Some(f) = over_window(samples, origin_unix_ms, w.start_ms, w.end_ms) else {
            continue;
        };
        let prefix = if w.label.is_empty() {
            "runtime.".to_string()
        } else {
            format!("runtime.{}.", w.label)
        };
        for (k, v) in f.named() {
            out.insert(format!("{prefix}{k}"), v);
        }
    }
}

#[cfg(test)]
pub mod tests;
