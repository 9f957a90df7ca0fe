//! Every metric name a scenario or microbenchmark of a profile can emit,
//! known before anything runs, so a rule that names a metric nobody
//! emits is refused at load with the closest real name — instead of
//! becoming "missing data" in every report.
//!
//! Network scenarios: the load generator's numeric leaves come from its
//! checked-in schema (schemas/loadgen.schema.json, walked as
//! `analyse::metrics::flatten` walks a document), for each client, class
//! and rate step the scenario declares; the server's from
//! `analyse::metrics`; the runtime's own (`runtime.*`, from the servers'
//! telemetry) from `analyse::runtime::METRICS`. Microbenchmarks: the cases each program reports
//! (`MICRO`), kept in step with the programs by a test that runs them.

use crate::config::profile::{MicroSpec, Profile, ScenarioSpec};
use serde_json::Value;
use std::collections::BTreeSet;

static LOADGEN_SCHEMA: &str = include_str!("../../../schemas/loadgen.schema.json");

/// Server metrics measured over each measured window (per step with a
/// `stepN.` prefix): `analyse::metrics::server_window_metrics`.
pub const SERVER_WINDOW: &[&str] = &[
    "cpu_us_per_request",
    "cpu_utilization",
    "ctx_switches_per_request",
    "ctx_voluntary_per_request",
    "rss_bytes_loaded",
    "rss_bytes_per_conn",
    "threads_in_window_max",
];

/// Server metrics over the whole trial: `analyse::metrics::derive`.
pub const SERVER_TRIAL: &[&str] = &[
    "threads_baseline",
    "rss_bytes_baseline",
    "threads_peak",
    "rss_peak_bytes",
    "threads_end",
    "threads_settle_s",
];

/// Metrics `analyse::metrics::derive` adds per client.
pub const CLIENT_DERIVED: &[&str] = &["client_cpu_us_per_request", "client_cpu_utilization"];

/// Microbenchmarks: bench -> (case, variants, metrics), as the programs
/// name them (`<case>.<variant>.<metric>`).
/// One case of a microbenchmark: (case, variants, metrics).
pub type MicroCase = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

pub const MICRO: &[(&str, &[MicroCase])] = &[
    (
        "spawn",
        &[(
            "spawn",
            &["default"],
            &[
                "ns_per_spawn",
                "ns_per_completion",
                "rss_bytes_per_task",
                "heap_bytes_per_task",
                "stack_bytes_per_task",
                "os_threads",
            ],
        )],
    ),
    (
        "pingpong",
        &[
            ("pingpong_1_worker", PINGPONG_KINDS, PINGPONG_METRICS),
            ("pingpong_2_workers", PINGPONG_KINDS, PINGPONG_METRICS),
        ],
    ),
    (
        "channels",
        &[
            ("one_to_one", &["default", "unbounded"], CHANNEL_METRICS),
            ("many_to_one", &["default", "unbounded"], CHANNEL_METRICS),
            (
                "fan_out",
                &["default"],
                &[
                    "ns_per_msg",
                    "msgs_per_sec",
                    "deliveries_per_sec",
                    "lagged_msgs",
                ],
            ),
            (
                "latest_value",
                &["default"],
                &["ns_per_msg", "msgs_per_sec", "updates_seen_count"],
            ),
            ("oneshot", &["default"], CHANNEL_METRICS),
        ],
    ),
    (
        "blocking-burst",
        &[(
            "blocking_burst",
            &["default"],
            &[
                "baseline_os_threads",
                "peak_os_threads",
                "os_threads_after_idle",
                "drain_ms",
                "peak_rss_bytes",
            ],
        )],
    ),
    (
        "starve",
        &[(
            "starve",
            &["default", "unconstrained", "cpu_loop", "idle"],
            &[
                "probe_delay_p50_us",
                "probe_delay_p99_us",
                "probe_delay_max_us",
                "probe_ticks_count",
            ],
        )],
    ),
    (
        "lifo-wake",
        &[(
            "lifo_wake",
            &["default", "lifo_off"],
            &[
                "wake_delay_p50_us",
                "wake_delay_p99_us",
                "wake_delay_max_us",
                "wake_delay_mean_us",
            ],
        )],
    ),
    (
        "c12",
        &[
            ("c12", &["spawn"], &["spawn_non_send_compiles"]),
            ("c12", &["local_set"], &["local_set_runs_non_send"]),
        ],
    ),
];

const PINGPONG_KINDS: &[&str] = &["chan", "oneshot", "mpsc", "notify"];
const PINGPONG_METRICS: &[&str] = &[
    "ns_per_round_trip",
    "os_ctx_switches_per_round_trip",
    "voluntary_ctx_switches_per_round_trip",
    "involuntary_ctx_switches_per_round_trip",
];
const CHANNEL_METRICS: &[&str] = &["ns_per_msg", "msgs_per_sec"];

fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/")
            .map(|p| {
                p.split('/')
                    .fold(root, |at, seg| at.get(seg).unwrap_or(&Value::Null))
            })
            .unwrap_or(&Value::Null),
        None => v,
    }
}

fn is_numeric(v: &Value) -> bool {
    let t = |s: &str| s == "number" || s == "integer";
    match v.get("type") {
        Some(Value::String(s)) => t(s),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).any(t),
        _ => false,
    }
}

/// Numeric leaves of a schema object (its `properties` and those of every
/// `allOf` part), as dotted paths, skipping what `flatten` skips.
fn leaves(root: &Value, schema: &Value, prefix: &str, skip: &[&str], out: &mut BTreeSet<String>) {
    let schema = resolve(root, schema);
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        leaves(root, part, prefix, skip, out);
    }
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (k, v) in props {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let v = resolve(root, v);
        if is_numeric(v) {
            out.insert(path);
        } else if v.get("properties").is_some() || v.get("allOf").is_some() {
            leaves(root, v, &path, skip, out);
        }
    }
}

/// Classes a client's mix declares (`name:key=v,...;...`), or "echo".
fn classes(mix: Option<&str>) -> Vec<(String, bool)> {
    match mix {
        None => vec![("echo".into(), false)],
        Some(m) => m
            .split(';')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| {
                let (name, keys) = c.split_once(':').unwrap_or((c, ""));
                let waits = keys
                    .split(',')
                    .any(|kv| matches!(kv.trim(), "io=sleep" | "io=block"));
                (name.trim().to_string(), waits)
            })
            .collect(),
    }
}

/// How many rate steps a client runs (0: one rate, no `steps`).
fn steps(c: &crate::config::profile::ClientSpec) -> usize {
    match (&c.rate_steps, &c.rate_fractions) {
        (Some(s), _) => s.len(),
        (None, Some(f)) if f.len() > 1 => f.len(),
        _ => 0,
    }
}

/// Every metric a network scenario's trials can carry.
pub fn scenario_metrics(s: &ScenarioSpec) -> BTreeSet<String> {
    let root: Value =
        serde_json::from_str(LOADGEN_SCHEMA).expect("schemas/loadgen.schema.json is valid JSON");
    let skip = crate::analyse::metrics::SKIP_KEYS;
    let mut result = BTreeSet::new();
    leaves(&root, &root["$defs"]["result"], "", &["spec"], &mut result);
    result.retain(|k| !skip.iter().any(|s| k.split('.').any(|seg| seg == *s)));
    let mut top = BTreeSet::new();
    leaves(&root, &root, "", &["steps", "classes"], &mut top);
    top.retain(|k| !skip.iter().any(|s| k.split('.').any(|seg| seg == *s)));
    let mut out = BTreeSet::new();
    for c in &s.clients {
        let cls = classes(c.mix.as_deref());
        let add_result = |out: &mut BTreeSet<String>, prefix: &str| {
            for r in &result {
                out.insert(format!("{prefix}.{r}"));
            }
            for (name, waits) in &cls {
                for r in &result {
                    out.insert(format!("{prefix}.classes.{name}.{r}"));
                }
                if *waits {
                    out.insert(format!("{prefix}.classes.{name}.io_arg_us"));
                }
            }
        };
        for t in &top {
            out.insert(format!("{}.{t}", c.name));
        }
        add_result(&mut out, &c.name);
        for i in 1..=steps(c) {
            add_result(&mut out, &format!("{}.step{i}", c.name));
        }
        for d in CLIENT_DERIVED {
            out.insert(format!("{}.{d}", c.name));
        }
    }
    let n_steps = s.clients.first().map(steps).unwrap_or(0);
    for m in SERVER_WINDOW {
        if n_steps == 0 {
            out.insert(format!("server.{m}"));
        }
        for i in 1..=n_steps {
            out.insert(format!("server.step{i}.{m}"));
        }
    }
    for m in SERVER_TRIAL {
        out.insert(format!("server.{m}"));
    }
    // The servers' runtime telemetry over the same windows: names a
    // runtime or build does not sample are simply absent from its trials.
    for m in crate::analyse::runtime::METRICS {
        if n_steps == 0 {
            out.insert(format!("runtime.{m}"));
        }
        for i in 1..=n_steps {
            out.insert(format!("runtime.step{i}.{m}"));
        }
    }
    out
}

/// Every metric a microbenchmark's trials can carry.
pub fn micro_metrics(m: &MicroSpec) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (bench, cases) in MICRO {
        if *bench != m.bench {
            continue;
        }
        for (case, variants, metrics) in *cases {
            for v in *variants {
                for x in *metrics {
                    out.insert(format!("{case}.{v}.{x}"));
                }
            }
        }
    }
    out
}

/// Metrics of the scenario or microbenchmark `id` of the profile (None:
/// the profile has no such id).
pub fn metrics_of(p: &Profile, id: &str) -> Option<BTreeSet<String>> {
    if let Some(s) = p.scenarios.iter().find(|s| s.id == id) {
        return Some(scenario_metrics(s));
    }
    p.micro.iter().find(|m| m.id == id).map(micro_metrics)
}

/// Whether `pattern` (with `*` for one dotted segment) names any metric.
pub fn matches_any(pattern: &str, names: &BTreeSet<String>) -> bool {
    names
        .iter()
        .any(|n| crate::analyse::verdict::match_metric(pattern, n).is_some())
}

/// The name closest to `wanted` (edit distance over the whole name).
pub fn closest<'a>(wanted: &str, names: &'a BTreeSet<String>) -> Option<&'a str> {
    names
        .iter()
        .min_by_key(|n| edit_distance(wanted, n))
        .map(String::as_str)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_metrics_follow_the_windows_of_each_scenario() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let (p, _) = crate::config::profile::load(root, "quick").unwrap();
        let of = |id: &str| metrics_of(&p, id).unwrap();
        let firehose = of("firehose-probe");
        for m in [
            "runtime.forced_yields",
            "runtime.sched_latency_p99_us",
            "runtime.gc_cycles",
        ] {
            assert!(firehose.contains(m), "{m}");
        }
        // A stepped scenario has them per step, like the server's.
        let steps = of("echo-open-64b");
        assert!(steps.contains("runtime.step2.worker_busy_fraction"));
        assert!(!steps.contains("runtime.worker_busy_fraction"));
        assert!(
            micro_metrics(&p.micro[0])
                .iter()
                .all(|m| !m.starts_with("runtime."))
        );
    }

    #[test]
    fn edit_distance_known_values() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        let names: BTreeSet<String> = ["a.io_arg_us", "a.requests"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("a.spec.io_arg", &names), Some("a.io_arg_us"));
    }
}
