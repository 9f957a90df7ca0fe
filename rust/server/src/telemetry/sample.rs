//! One telemetry sample: what is read from `Handle::metrics()` and the JSON
//! line it becomes (schemas/telemetry.schema.json, shared with the Go server).
//!
//! Keys are the `RuntimeMetrics` method names; a duration gets its unit as
//! a suffix (`worker_total_busy_duration_ns`); per-worker values are arrays
//! indexed by worker. Counters are cumulative since the runtime started:
//! readers take differences between samples.

use std::ops::Range;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use tokio::runtime::RuntimeMetrics;

/// `schema_version` of every line.
pub const SCHEMA_VERSION: u32 = 1;

/// One metric's value.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum Value {
    Number(u64),
    PerWorker(Vec<u64>),
    Histogram(Histogram),
}

/// Bucket `i` counts values in `[bounds[i], bounds[i + 1])`, cumulative over
/// the runtime's life (not over buckets); `None` is an unbounded end.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Histogram {
    pub unit: &'static str,
    pub bounds: Vec<Option<u64>>,
    pub counts: Vec<u64>,
}

impl Histogram {
    /// From tokio's bucket ranges in nanoseconds (contiguous; the last ends
    /// at `u64::MAX`, tokio's "unbounded") and the counts of each bucket.
    pub fn from_ranges_ns(ranges: &[Range<u64>], counts: Vec<u64>) -> Histogram {
        let open = |b: u64| (b != u64::MAX).then_some(b);
        let bounds = ranges
            .first()
            .map(|r| r.start)
            .into_iter()
            .chain(ranges.iter().map(|r| r.end))
            .map(open)
            .collect();
        Histogram {
            unit: "ns",
            bounds,
            counts,
        }
    }
}

/// Metrics in the order they are read; serialized as one JSON object.
pub type Metrics = Vec<(&'static str, Value)>;

/// The metrics every build has (tokio's stable API).
pub fn collect(m: &RuntimeMetrics) -> Metrics {
    let per_worker =
        |f: &dyn Fn(usize) -> u64| Value::PerWorker((0..m.num_workers()).map(f).collect());
    #[cfg_attr(not(tokio_unstable), allow(unused_mut))]
    let mut out = vec![
        ("num_workers", Value::Number(m.num_workers() as u64)),
        ("num_alive_tasks", Value::Number(m.num_alive_tasks() as u64)),
        (
            "global_queue_depth",
            Value::Number(m.global_queue_depth() as u64),
        ),
        (
            "worker_total_busy_duration_ns",
            per_worker(&|w| nanos(m.worker_total_busy_duration(w))),
        ),
        ("worker_park_count", per_worker(&|w| m.worker_park_count(w))),
        (
            "worker_park_unpark_count",
            per_worker(&|w| m.worker_park_unpark_count(w)),
        ),
    ];
    #[cfg(tokio_unstable)]
    collect_unstable(m, &mut out);
    out
}

/// What `--cfg tokio_unstable` adds.
#[cfg(tokio_unstable)]
fn collect_unstable(m: &RuntimeMetrics, out: &mut Metrics) {
    let per_worker =
        |f: &dyn Fn(usize) -> u64| Value::PerWorker((0..m.num_workers()).map(f).collect());
    out.extend([
        (
            "budget_forced_yield_count",
            Value::Number(m.budget_forced_yield_count()),
        ),
        (
            "worker_steal_count",
            per_worker(&|w| m.worker_steal_count(w)),
        ),
        ("worker_poll_count", per_worker(&|w| m.worker_poll_count(w))),
        (
            "worker_local_queue_depth",
            per_worker(&|w| m.worker_local_queue_depth(w) as u64),
        ),
        (
            "num_blocking_threads",
            Value::Number(m.num_blocking_threads() as u64),
        ),
        (
            "blocking_queue_depth",
            Value::Number(m.blocking_queue_depth() as u64),
        ),
    ]);
    if m.schedule_latency_histogram_enabled() {
        // One histogram for the runtime: the workers' buckets summed.
        let buckets = 0..m.schedule_latency_histogram_num_buckets();
        let ranges: Vec<Range<u64>> = buckets
            .clone()
            .map(|b| {
                let r = m.schedule_latency_histogram_bucket_range(b);
                nanos(r.start)..nanos(r.end)
            })
            .collect();
        let counts = buckets
            .map(|b| {
                (0..m.num_workers())
                    .map(|w| m.schedule_latency_histogram_bucket_count(w, b))
                    .sum()
            })
            .collect();
        out.push((
            "schedule_latency_histogram",
            Value::Histogram(Histogram::from_ranges_ns(&ranges, counts)),
        ));
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The JSON line (without its newline) for sample `seq` taken at `t_unix_ms`.
pub fn line(seq: u64, t_unix_ms: f64, metrics: &Metrics) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        schema_version: u32,
        runtime: &'static str,
        seq: u64,
        t_unix_ms: f64,
        metrics: AsMap<'a>,
    }
    struct AsMap<'a>(&'a Metrics);
    impl Serialize for AsMap<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in self.0 {
                map.serialize_entry(k, v)?;
            }
            map.end()
        }
    }
    let l = Line {
        schema_version: SCHEMA_VERSION,
        runtime: "tokio",
        seq,
        t_unix_ms,
        metrics: AsMap(metrics),
    };
    // Numbers, strings and arrays of them: serializing cannot fail.
    serde_json::to_string(&l).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bounds_are_the_starts_then_every_end_with_open_ends_null() {
        let h = Histogram::from_ranges_ns(&[0..100, 100..200, 200..u64::MAX], vec![5, 0, 2]);
        assert_eq!(h.bounds, vec![Some(0), Some(100), Some(200), None]);
        assert_eq!(h.counts, vec![5, 0, 2]);
        assert_eq!(h.bounds.len(), h.counts.len() + 1);
        let empty = Histogram::from_ranges_ns(&[], vec![]);
        assert!(empty.bounds.is_empty());
    }

    #[test]
    fn a_line_has_the_shared_envelope_and_the_metrics_in_order() {
        let metrics: Metrics = vec![
            ("num_workers", Value::Number(2)),
            ("worker_park_count", Value::PerWorker(vec![3, 4])),
            (
                "schedule_latency_histogram",
                Value::Histogram(Histogram::from_ranges_ns(
                    &[0..1000, 1000..u64::MAX],
                    vec![7, 1],
                )),
            ),
        ];
        assert_eq!(
            line(5, 1_700_000_000_123.5, &metrics),
            concat!(
                r#"{"schema_version":1,"runtime":"tokio","seq":5,"t_unix_ms":1700000000123.5,"#,
                r#""metrics":{"num_workers":2,"worker_park_count":[3,4],"#,
                r#""schedule_latency_histogram":{"unit":"ns","bounds":[0,1000,null],"counts":[7,1]}}}"#
            )
        );
    }

    #[test]
    fn a_runtime_yields_the_stable_metrics_sized_by_its_workers() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(3)
            .build()
            .unwrap();
        let m = collect(&rt.handle().metrics());
        let keys: Vec<&str> = m.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys[..6],
            [
                "num_workers",
                "num_alive_tasks",
                "global_queue_depth",
                "worker_total_busy_duration_ns",
                "worker_park_count",
                "worker_park_unpark_count"
            ]
        );
        assert_eq!(m[0].1, Value::Number(3));
        for (k, v) in &m {
            if let Value::PerWorker(a) = v {
                assert_eq!(a.len(), 3, "{k}");
            }
        }
        assert_eq!(keys.len() > 6, cfg!(tokio_unstable), "{keys:?}");
    }
}
