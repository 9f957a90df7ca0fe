//! Known samples, known figures: every derived metric checked by hand.

use super::*;
use crate::run::telemetry::sample::{Histogram, Value};
use crate::run::trial::TrialRecord;

pub const ORIGIN: f64 = 1_800_000_000_000.0;

/// (-inf, 0) [0, 10) [10, 100) [100, 1000) [1000, +inf) µs
pub fn sched_bounds() -> Vec<Option<f64>> {
    vec![None, Some(0.0), Some(10.0), Some(100.0), Some(1000.0), None]
}

fn hist(bounds: Vec<Option<f64>>, counts: Vec<u64>) -> Value {
    Value::Histogram(Histogram {
        bounds_us: bounds,
        counts,
    })
}

/// Go sample `i` at `100 i` ms: 10 fast scheduling events per interval
/// (under 10 µs) and, from sample 5 on, one slow one (100-1000 µs) per
/// interval; a GC cycle every third sample, each paused 50-100 µs and
/// adding 1 ms of GC CPU to 100 ms of CPU; runnable goroutines i mod 4.
pub fn go_sample(i: u64) -> Sample {
    let cycles = i / 3;
    let m = [
        (
            keys::GO_SCHED_LATENCIES,
            hist(sched_bounds(), vec![0, 10 * i, 0, i.saturating_sub(4), 0]),
        ),
        (
            keys::GO_GC_PAUSES,
            hist(
                vec![None, Some(0.0), Some(50.0), Some(100.0), None],
                vec![0, 0, cycles, 0],
            ),
        ),
        (keys::GO_GC_CYCLES, Value::Number(cycles as f64)),
        (keys::GO_CPU_GC, Value::Number(0.001 * cycles as f64)),
        (keys::GO_CPU_TOTAL, Value::Number(0.1 * cycles as f64)),
        (keys::GO_RUNNABLE, Value::Number((i % 4) as f64)),
    ];
    Sample {
        seq: i,
        t_unix_ms: ORIGIN + 100.0 * i as f64,
        metrics: m.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

/// tokio sample `i` at `100 i` ms, two workers each busy half the time, 7
/// forced yields per interval, global queue depth i, local queues 1 and 2;
/// `unstable`: with forced yields and local queues (the stable build has
/// neither).
pub fn tokio_sample(i: u64, unstable: bool) -> Sample {
    let mut m: Vec<(&str, Value)> = vec![
        (keys::TOKIO_WORKERS, Value::Number(2.0)),
        (
            keys::TOKIO_BUSY_NS,
            Value::PerWorker(vec![50e6 * i as f64, 50e6 * i as f64]),
        ),
        (keys::TOKIO_GLOBAL_QUEUE, Value::Number(i as f64)),
    ];
    if unstable {
        m.push((keys::TOKIO_FORCED_YIELDS, Value::Number(7.0 * i as f64)));
        m.push((keys::TOKIO_LOCAL_QUEUES, Value::PerWorker(vec![1.0, 2.0])));
    }
    Sample {
        seq: i,
        t_unix_ms: ORIGIN + 100.0 * i as f64,
        metrics: m.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

/// A trial of `language` ("go", "rust") whose load ran from `load_ms.0`
/// to `load_ms.1` (ms after `ORIGIN`), its one client `main` launched at
/// the load's start with document `doc`.
pub fn trial(language: &str, load_ms: (f64, f64), doc: serde_json::Value) -> TrialRecord {
    serde_json::from_value(serde_json::json!({
        "schema_version": 2, "trial_id": format!("x--{language}--r1"), "scenario": "x",
        "variant": language, "language": language, "repeat": 1, "claims": [], "status": "ok",
        "problems": [], "started_at": "", "ended_at": "", "origin_unix_ms": ORIGIN,
        "load_start_ms": load_ms.0, "load_end_ms": load_ms.1,
        "server": {"binary": "s", "args": [], "pid": 1, "workers": 1,
            "cpus_requested": "0", "cpus_allowed_list": "0", "config": null,
            "threads_at_start": 1, "alive_after_load": true, "exit_code": 0,
            "exit_signal": null, "needed_sigkill": false, "stderr_tail": []},
        "clients": [{"name": "main", "args": [], "pid": 2, "cpus_allowed_list": "1",
            "exit_code": 0, "launched_ms": load_ms.0, "finished_ms": load_ms.1, "document": doc,
            "hlog": null, "hgrm": null, "stderr_tail": [], "samples": []}],
        "server_samples": [], "metrics": {}
    }))
    .expect("a trial record")
}

fn window(label: &str, start_ms: f64, end_ms: f64) -> Window {
    Window {
        label: label.into(),
        start_ms,
        end_ms,
        requests: 0.0,
        conns: 0.0,
    }
}

#[test]
fn the_samples_bracketing_a_window_are_found() {
    let s: Vec<Sample> = (0..=10).map(go_sample).collect();
    assert_eq!(bracket(&s, ORIGIN, 250.0, 750.0), Some((2, 8)));
    // On a sample's time: that sample.
    assert_eq!(bracket(&s, ORIGIN, 200.0, 800.0), Some((2, 8)));
    // Beyond the file at either end: the first and the last sample.
    assert_eq!(bracket(&s, ORIGIN, -50.0, 2000.0), Some((0, 10)));
    // Between two samples: those two.
    assert_eq!(bracket(&s, ORIGIN, 410.0, 420.0), Some((4, 5)));
    assert_eq!(bracket(&s[..1], ORIGIN, 0.0, 10.0), None);
    assert_eq!(bracket(&[], ORIGIN, 0.0, 10.0), None);
}

#[test]
fn go_figures_over_a_window() {
    let s: Vec<Sample> = (0..=10).map(go_sample).collect();
    let f = over_window(&s, ORIGIN, 250.0, 750.0).unwrap();
    // Samples 2 and 8: 600 ms.
    assert_eq!((f.start_ms, f.end_ms, f.span_ms()), (200.0, 800.0, 600.0));
    // 60 fast events and 4 slow ones (samples 5..=8).
    assert_eq!(f.sched_latency_events, Some(64.0));
    assert_eq!(f.sched_latency_p50_us, Some(10.0));
    // Rank ⌈0.99 × 64⌉ = 64: a slow one, its bucket's upper bound.
    assert_eq!(f.sched_latency_p99_us, Some(1000.0));
    assert_eq!(f.sched_latency_max_us, Some(1000.0));
    // Cycles 0 → 2, each paused 75 µs at its bucket's midpoint.
    assert_eq!(f.gc_cycles, Some(2.0));
    assert_eq!(f.gc_pause_total_ms, Some(0.15));
    assert_eq!(f.gc_pause_max_us, Some(100.0));
    assert!((f.gc_cpu_fraction.unwrap() - 0.01).abs() < 1e-12);
    // i mod 4 over samples 2..=8.
    assert_eq!(f.run_queue_depth_max, Some(3.0));
    // Not Go metrics: absent, not zero.
    assert_eq!(f.worker_busy_fraction, None);
    assert_eq!(f.forced_yields, None);
    assert_eq!(f.global_queue_depth_max, None);
    assert_eq!(f.blocking_queue_depth_max, None);
}

#[test]
fn without_a_gc_cycle_the_gc_cpu_share_is_absent_and_pauses_are_zero() {
    let s: Vec<Sample> = (0..=10).map(go_sample).collect();
    // Samples 3 and 5: cycle count 1 both times.
    let f = over_window(&s, ORIGIN, 300.0, 500.0).unwrap();
    assert_eq!(f.gc_cycles, Some(0.0));
    assert_eq!(f.gc_pause_total_ms, Some(0.0));
    assert_eq!(f.gc_pause_max_us, Some(0.0));
    assert_eq!(f.gc_cpu_fraction, None);
    // Before sample 5 no slow event: ten fast ones per interval.
    let f = over_window(&s, ORIGIN, 100.0, 300.0).unwrap();
    assert_eq!(f.sched_latency_events, Some(20.0));
    assert_eq!(f.sched_latency_p99_us, Some(10.0));
}

#[test]
fn tokio_figures_over_a_window() {
    let s: Vec<Sample> = (0..=10).map(|i| tokio_sample(i, true)).collect();
    let f = over_window(&s, ORIGIN, 250.0, 750.0).unwrap();
    assert_eq!(f.worker_busy_fraction, Some(0.5));
    assert_eq!(f.forced_yields, Some(42.0));
    assert_eq!(f.global_queue_depth_max, Some(8.0));
    assert_eq!(f.run_queue_depth_max, Some(11.0));
    assert_eq!(f.sched_latency_p99_us, None);
    assert_eq!(f.gc_cycles, None);
    // The stable build: no forced yields, no local queues, so no run-queue total.
    let s: Vec<Sample> = (0..=10).map(|i| tokio_sample(i, false)).collect();
    let f = over_window(&s, ORIGIN, 250.0, 750.0).unwrap();
    assert_eq!(f.forced_yields, None);
    assert_eq!(f.run_queue_depth_max, None);
    assert_eq!(f.global_queue_depth_max, Some(8.0));
}

#[test]
fn metrics_are_named_per_window_and_per_step() {
    let s: Vec<Sample> = (0..=20).map(|i| tokio_sample(i, true)).collect();
    let mut out = BTreeMap::new();
    derive(&s, ORIGIN, &[window("", 250.0, 750.0)], &mut out);
    assert_eq!(out["runtime.forced_yields"], 42.0);
    assert_eq!(out["runtime.span_ms"], 600.0);
    assert!(!out.contains_key("runtime.gc_cycles"));
    let mut out = BTreeMap::new();
    derive(
        &s,
        ORIGIN,
        &[window("step1", 0.0, 500.0), window("step2", 1000.0, 1500.0)],
        &mut out,
    );
    assert_eq!(out["runtime.step1.forced_yields"], 35.0);
    assert_eq!(out["runtime.step2.global_queue_depth_max"], 15.0);
    assert!(!out.contains_key("runtime.forced_yields"));
    // Every name emitted is one the catalogue knows.
    for k in out.keys() {
        let name = k.rsplit('.').next().unwrap();
        assert!(METRICS.contains(&name), "{k}");
    }
    // No samples, no metrics.
    let mut out = BTreeMap::new();
    derive(&[], ORIGIN, &[window("", 0.0, 1.0)], &mut out);
    assert!(out.is_empty());
}
