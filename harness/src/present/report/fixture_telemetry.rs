//! Synthetic `--telemetry` lines for the report fixture, shaped exactly
//! like the servers' (schemas/telemetry.schema.json): a sample every
//! 100 ms from the server's start to after the load, Go's keys with
//! histograms in seconds, tokio's with per-worker arrays (and the unstable
//! build's keys for the `*-unstable` variants). The made-up behaviour is
//! what the report's tests expect to find: Go's run-queue waits reach about
//! the heavy job's length in the head-of-line scenarios (tokio's schedule
//! latency does not: its tasks are woken after the job), a GC cycle about
//! every second of load (Go),
//! forced yields beside the firehose only with tokio's budget on.

use crate::run::telemetry::TelemetryRef;
use crate::run::trial::TrialRecord;
use serde_json::{Value, json};

pub const INTERVAL_MS: u64 = 100;

/// Go's histogram bounds (seconds) and tokio's (ns): 1-2-5 steps.
fn bounds(scale: f64) -> Vec<Value> {
    let mut b = vec![json!(0.0)];
    for e in -7..=-1 {
        for m in [1.0, 2.0, 5.0] {
            b.push(json!(m * 10f64.powi(e) * scale));
        }
    }
    b.push(Value::Null);
    b
}

/// The bucket holding `seconds` in `bounds(1)`.
fn bucket(seconds: f64) -> usize {
    let b = bounds(1.0);
    (0..b.len() - 1)
        .rev()
        .find(|&i| b[i].as_f64().is_some_and(|lo| lo <= seconds))
        .unwrap_or(0)
}

/// Cumulative state of one synthetic server.
#[derive(Default)]
struct State {
    sched: Vec<u64>,
    pauses: Vec<u64>,
    gc_cycles: u64,
    cpu_gc_s: f64,
    cpu_total_s: f64,
    busy_ns: u64,
    parks: u64,
    polls: u64,
    forced_yields: u64,
}

/// The lines a server of trial `t` would have written (deterministic in
/// its scenario, variant and times).
pub fn lines(t: &TrialRecord, observe_after_s: f64) -> Vec<String> {
    let go = t.variant.starts_with("go");
    let unstable = t.variant.ends_with("-unstable");
    let (start, end) = (t.load_start_ms.unwrap_or(0.0), t.load_end_ms.unwrap_or(0.0));
    // The run-queue wait a stall shows as, seconds: Go's goroutines wait
    // runnable behind a job; tokio's tasks are woken only after it (the
    // I/O driver is polled when the job ends), so only the firehose's
    // unconstrained loop shows in tokio's schedule latency.
    let stall_s = if t.scenario.starts_with("hol-cpu") && go {
        0.008
    } else if t.scenario == "firehose-probe" && t.variant.contains("coop-off") {
        0.015
    } else {
        0.0
    };
    let firehose = t.scenario == "firehose-probe";
    let n_buckets = bounds(1.0).len() - 1;
    let mut s = State {
        sched: vec![0; n_buckets],
        pauses: vec![0; n_buckets],
        ..State::default()
    };
    let mut out = Vec::new();
    let last = end + observe_after_s * 1e3 + 150.0;
    let (mut ms, mut seq) = (50.0, 0u64);
    while ms <= last {
        let loaded = seq > 0 && ms > start && ms <= end + 50.0;
        if loaded {
            // Waits are sampled 1 in 8 in Go: fewer events than tokio's.
            s.sched[bucket(1.5e-5)] += if go { 6 } else { 40 };
            if stall_s > 0.0 {
                s.sched[bucket(stall_s)] += 1;
            }
            s.busy_ns += if firehose { 95_000_000 } else { 40_000_000 };
            s.parks += 30;
            s.polls += 45;
            if firehose && !t.variant.contains("coop-off") {
                s.forced_yields += 500;
            }
            if go && seq % 10 == 0 {
                s.gc_cycles += 1;
                s.pauses[bucket(7e-5)] += 2;
                s.cpu_gc_s += 0.002;
                s.cpu_total_s += 0.1;
            }
        }
        let t_unix_ms = t.origin_unix_ms + ms;
        let queued = if loaded { 1 } else { 0 };
        let metrics = if go {
            json!({
                "/sched/latencies:seconds": {"unit": "s", "bounds": bounds(1.0), "counts": s.sched},
                "/sched/pauses/total/gc:seconds": {"unit": "s", "bounds": bounds(1.0), "counts": s.pauses},
                "/gc/cycles/total:gc-cycles": s.gc_cycles,
                "/sched/goroutines:goroutines": 20,
                "/sched/goroutines/runnable:goroutines": queued,
                "/sched/gomaxprocs:threads": 1,
                "/cpu/classes/gc/total:cpu-seconds": s.cpu_gc_s,
                "/cpu/classes/total:cpu-seconds": s.cpu_total_s
            })
        } else {
            let mut m = json!({
                "num_workers": 1,
                "num_alive_tasks": 12,
                "global_queue_depth": queued,
                "worker_total_busy_duration_ns": [s.busy_ns],
                "worker_park_count": [s.parks],
                "worker_park_unpark_count": [s.parks * 2]
            });
            if unstable {
                let extra = json!({
                    "budget_forced_yield_count": s.forced_yields,
                    "worker_steal_count": [0],
                    "worker_poll_count": [s.polls],
                    "worker_local_queue_depth": [queued],
                    "num_blocking_threads": 0,
                    "blocking_queue_depth": 0,
                    "schedule_latency_histogram": {"unit": "ns", "bounds": bounds(1e9), "counts": s.sched}
                });
                for (k, v) in extra.as_object().expect("an object") {
                    m[k] = v.clone();
                }
            }
            m
        };
        out.push(
            json!({
                "schema_version": 1,
                "runtime": if go { "go" } else { "tokio" },
                "seq": seq,
                "t_unix_ms": t_unix_ms,
                "metrics": metrics
            })
            .to_string(),
        );
        ms += INTERVAL_MS as f64;
        seq += 1;
    }
    out
}

/// The trial's record of its stored file, as `run::telemetry::collect`
/// would write it.
pub fn reference(t: &TrialRecord, samples: usize) -> TelemetryRef {
    TelemetryRef {
        file: Some(format!("telemetry/{}.jsonl", t.trial_id)),
        runtime: Some(
            if t.variant.starts_with("go") {
                "go"
            } else {
                "tokio"
            }
            .into(),
        ),
        samples,
        interval_ms: INTERVAL_MS,
        problems: Vec::new(),
    }
}
