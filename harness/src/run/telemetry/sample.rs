//! One line of a server's `--telemetry` file (schemas/telemetry.schema.json)
//! read back into numbers: histogram bounds in microseconds whatever unit
//! the runtime wrote (Go: seconds, tokio: nanoseconds), per-worker values
//! as they come. The keys stay the runtimes' own names (`keys`).

use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The metric names the harness reads, exactly as each server writes them
/// (PROTOCOL.md lists Go's; rust/server/src/telemetry/sample.rs tokio's).
pub mod keys {
    pub const GO_SCHED_LATENCIES: &str = "/sched/latencies:seconds";
    pub const GO_GC_PAUSES: &str = "/sched/pauses/total/gc:seconds";
    pub const GO_GC_CYCLES: &str = "/gc/cycles/total:gc-cycles";
    pub const GO_CPU_GC: &str = "/cpu/classes/gc/total:cpu-seconds";
    pub const GO_CPU_TOTAL: &str = "/cpu/classes/total:cpu-seconds";
    pub const GO_RUNNABLE: &str = "/sched/goroutines/runnable:goroutines";
    pub const TOKIO_SCHED_LATENCY: &str = "schedule_latency_histogram";
    pub const TOKIO_WORKERS: &str = "num_workers";
    pub const TOKIO_BUSY_NS: &str = "worker_total_busy_duration_ns";
    pub const TOKIO_FORCED_YIELDS: &str = "budget_forced_yield_count";
    pub const TOKIO_GLOBAL_QUEUE: &str = "global_queue_depth";
    pub const TOKIO_LOCAL_QUEUES: &str = "worker_local_queue_depth";
    pub const TOKIO_BLOCKING_QUEUE: &str = "blocking_queue_depth";

    /// Values that only grow over a server's life (histogram counts are
    /// checked as well): a decrease between two lines is a broken file.
    pub fn is_counter(key: &str) -> bool {
        key.starts_with("/cpu/classes/")
            || matches!(
                key,
                GO_GC_CYCLES
                    | "/gc/heap/allocs:objects"
                    | "/gc/heap/allocs:bytes"
                    | TOKIO_BUSY_NS
                    | TOKIO_FORCED_YIELDS
                    | "worker_park_count"
                    | "worker_park_unpark_count"
                    | "worker_steal_count"
                    | "worker_poll_count"
            )
    }
}

/// Bucket `i` counts events in `[bounds_us[i], bounds_us[i + 1])` since the
/// server started; `None` is an open end.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub bounds_us: Vec<Option<f64>>,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    PerWorker(Vec<f64>),
    Histogram(Histogram),
}

/// One sample, its time still on the wall clock it was written with.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub seq: u64,
    pub t_unix_ms: f64,
    pub metrics: BTreeMap<String, Value>,
}

impl Sample {
    pub fn number(&self, key: &str) -> Option<f64> {
        match self.metrics.get(key)? {
            Value::Number(x) => Some(*x),
            _ => None,
        }
    }

    /// A per-worker value summed over the workers.
    pub fn worker_sum(&self, key: &str) -> Option<f64> {
        match self.metrics.get(key)? {
            Value::PerWorker(v) => Some(v.iter().sum()),
            _ => None,
        }
    }

    pub fn histogram(&self, key: &str) -> Option<&Histogram> {
        match self.metrics.get(key)? {
            Value::Histogram(h) => Some(h),
            _ => None,
        }
    }
}

/// Microseconds per unit of a histogram's bounds.
fn us_per(unit: &str) -> Option<f64> {
    match unit {
        "s" => Some(1e6),
        "ns" => Some(1e-3),
        _ => None,
    }
}

fn value(v: &Json) -> Option<Value> {
    match v {
        Json::Number(n) => n.as_f64().map(Value::Number),
        Json::Array(a) => a
            .iter()
            .map(Json::as_f64)
            .collect::<Option<Vec<f64>>>()
            .map(Value::PerWorker),
        Json::Object(o) => {
            let scale = us_per(o.get("unit")?.as_str()?)?;
            let bounds_us = o
                .get("bounds")?
                .as_array()?
                .iter()
                .map(|b| match b {
                    Json::Null => Some(None),
                    b => b.as_f64().map(|x| Some(x * scale)),
                })
                .collect::<Option<Vec<_>>>()?;
            let counts = o
                .get("counts")?
                .as_array()?
                .iter()
                .map(Json::as_u64)
                .collect::<Option<Vec<u64>>>()?;
            Some(Value::Histogram(Histogram { bounds_us, counts }))
        }
        _ => None,
    }
}

/// A line already checked against the schema, as numbers; None when a
/// value has no reading (the schema check names the fault).
pub fn from_json(line: &Json) -> Option<Sample> {
    let metrics = line
        .get("metrics")?
        .as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), value(v)?)))
        .collect::<Option<BTreeMap<_, _>>>()?;
    Some(Sample {
        seq: line.get("seq")?.as_u64()?,
        t_unix_ms: line.get("t_unix_ms")?.as_f64()?,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounds_are_read_in_microseconds_whatever_the_unit() {
        let go = from_json(&json!({"seq": 3, "t_unix_ms": 5.5, "metrics": {
            "/sched/latencies:seconds": {"unit": "s", "bounds": [null, 0.0, 0.001, null], "counts": [0, 4, 1]},
            "/gc/cycles/total:gc-cycles": 2}}))
        .unwrap();
        let h = go.histogram(keys::GO_SCHED_LATENCIES).unwrap();
        assert_eq!(h.bounds_us, vec![None, Some(0.0), Some(1000.0), None]);
        assert_eq!(h.counts, vec![0, 4, 1]);
        assert_eq!(go.number(keys::GO_GC_CYCLES), Some(2.0));
        assert_eq!((go.seq, go.t_unix_ms), (3, 5.5));
        let tokio = from_json(&json!({"seq": 0, "t_unix_ms": 1.0, "metrics": {
            "schedule_latency_histogram": {"unit": "ns", "bounds": [0, 2000, null], "counts": [1, 1]},
            "worker_total_busy_duration_ns": [10, 32]}}))
        .unwrap();
        assert_eq!(
            tokio
                .histogram(keys::TOKIO_SCHED_LATENCY)
                .unwrap()
                .bounds_us,
            vec![Some(0.0), Some(2.0), None]
        );
        assert_eq!(tokio.worker_sum(keys::TOKIO_BUSY_NS), Some(42.0));
        assert_eq!(tokio.number(keys::TOKIO_BUSY_NS), None);
        // A unit nobody writes has no reading.
        assert!(
            from_json(&json!({"seq": 0, "t_unix_ms": 1.0, "metrics": {
            "h": {"unit": "ms", "bounds": [0, 1], "counts": [1]}}}))
            .is_none()
        );
    }

    #[test]
    fn counters_are_known_by_name() {
        assert!(keys::is_counter("/cpu/classes/idle:cpu-seconds"));
        assert!(keys::is_counter(keys::TOKIO_FORCED_YIELDS));
        assert!(!keys::is_counter(keys::TOKIO_GLOBAL_QUEUE));
        assert!(!keys::is_counter(keys::GO_RUNNABLE));
    }
}
