//! Turns one trial's raw material (load-generator documents, `/proc`
//! samples) into flat, named metrics — the numbers the statistics, verdicts
//! and plots use. Names carry their units.
//!
//! Client metrics: `<client>.<path in the load generator's JSON>`, e.g.
//! `main.latency_us.corrected.p99`, `main.classes.light.latency_us.corrected.p99`,
//! `main.step2.achieved_rps`. Server metrics: `server.cpu_us_per_request`,
//! `server.ctx_switches_per_request`, `server.threads_peak`, ... Runtime
//! metrics from the server's telemetry: `runtime.*` (`analyse::runtime`).

use crate::config::profile::{Defaults, ScenarioSpec};
use crate::run::sampler::{ProcSample, counter_at};
use crate::run::telemetry::sample::Sample;
use crate::run::trial::TrialRecord;
use serde_json::Value;
use std::collections::BTreeMap;

/// Parts of the load generator's document that are not scalar metrics.
pub const SKIP_KEYS: &[&str] = &[
    "histograms",
    "histogram",
    "intervals",
    "args",
    "schema_version",
    "first_mismatches",
    "tool",
    "cpus",
    "seed",
    "step",
    "window_start_unix_ms",
    "window_end_unix_ms",
];

/// Numeric leaves of a JSON value as dotted paths (`steps` become `step1`, `step2`...).
pub fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, f64>) {
    match v {
        Value::Number(n) => {
            if let Some(x) = n.as_f64()
                && x.is_finite()
            {
                out.insert(prefix.to_string(), x);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                if SKIP_KEYS.contains(&k.as_str()) {
                    continue;
                }
                if k == "steps" {
                    if let Value::Array(steps) = v {
                        for (i, s) in steps.iter().enumerate() {
                            flatten(&join(prefix, &format!("step{}", i + 1)), s, out);
                        }
                    }
                    continue;
                }
                if k == "spec" {
                    // A class's requested wait (sleep/block), so a timer's
                    // overshoot can be computed: `<...>.io_arg_us`.
                    let io = v.get("io").and_then(Value::as_str).unwrap_or("");
                    if let (true, Some(arg)) = (
                        io == "sleep" || io == "block",
                        v.get("io_arg").and_then(Value::as_f64),
                    ) {
                        out.insert(join(prefix, "io_arg_us"), arg);
                    }
                    continue;
                }
                flatten(&join(prefix, k), v, out);
            }
        }
        _ => {}
    }
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        k.to_string()
    } else {
        format!("{prefix}.{k}")
    }
}

/// A measured window in the trial's time base (ms after its origin).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub label: String,
    pub start_ms: f64,
    pub end_ms: f64,
    pub requests: f64,
    pub conns: f64,
}

/// The measured windows of a client: from the document's own window
/// timestamps when it gives them (`window_start_unix_ms`/`window_end_unix_ms`,
/// per step too), else launch + warm-up .. + duration.
pub fn client_windows(
    doc: &Value,
    launched_ms: f64,
    origin_unix_ms: f64,
    warmup_s: f64,
    duration_s: f64,
) -> Vec<Window> {
    let one = |d: &Value, label: String, fallback_start: f64| -> Window {
        let ts = |k: &str| d.get(k).and_then(Value::as_f64).map(|u| u - origin_unix_ms);
        let start = ts("window_start_unix_ms").unwrap_or(fallback_start);
        let end = ts("window_end_unix_ms").unwrap_or(start + duration_s * 1e3);
        Window {
            label,
            start_ms: start,
            end_ms: end,
            requests: d.get("requests").and_then(Value::as_f64).unwrap_or(0.0),
            conns: d.get("conns").and_then(Value::as_f64).unwrap_or(0.0),
        }
    };
    match doc.get("steps").and_then(Value::as_array) {
        Some(steps) if !steps.is_empty() => steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let fallback =
                    launched_ms + (i as f64) * (warmup_s + duration_s + 0.5) * 1e3 + warmup_s * 1e3;
                let mut w = one(s, format!("step{}", i + 1), fallback);
                if w.conns == 0.0 {
                    w.conns = doc.get("conns").and_then(Value::as_f64).unwrap_or(0.0);
                }
                w
            })
            .collect(),
        _ => vec![one(doc, String::new(), launched_ms + warmup_s * 1e3)],
    }
}

/// A load generator document's measured windows, each with the part of
/// the document that measured it (each rate step's, or the whole), the
/// warm-up and duration read from the document itself.
pub fn document_windows(
    doc: &Value,
    launched_ms: f64,
    origin_unix_ms: f64,
) -> Vec<(Window, &Value)> {
    let f = |k: &str| doc.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let windows = client_windows(
        doc,
        launched_ms,
        origin_unix_ms,
        f("warmup_s"),
        f("duration_s"),
    );
    let parts: Vec<&Value> = match doc.get("steps").and_then(Value::as_array) {
        Some(s) if !s.is_empty() => s.iter().collect(),
        _ => vec![doc],
    };
    windows.into_iter().zip(parts).collect()
}

/// Server metrics over a window, given the requests all clients completed in it.
pub fn server_window_metrics(
    samples: &[ProcSample],
    w: &Window,
    requests: f64,
    conns: f64,
    out: &mut BTreeMap<String, f64>,
    prefix: &str,
) {
    let span_us = (w.end_ms - w.start_ms) * 1e3;
    if samples.len() < 2 || span_us <= 0.0 {
        return;
    }
    // Cumulative per-thread counters come from full samples only.
    let full = crate::run::sampler::full_only(samples);
    let delta = |f: fn(&ProcSample) -> u64| {
        Some(counter_at(&full, w.end_ms, f)? - counter_at(&full, w.start_ms, f)?)
    };
    if let (Some(cpu), true) = (delta(ProcSample::cpu_us), requests > 0.0) {
        out.insert(format!("{prefix}cpu_us_per_request"), cpu / requests);
        out.insert(format!("{prefix}cpu_utilization"), cpu / span_us);
    }
    if let (Some(cs), true) = (delta(ProcSample::ctx_switches), requests > 0.0) {
        out.insert(format!("{prefix}ctx_switches_per_request"), cs / requests);
    }
    if let (Some(v), true) = (delta(|s| s.ctx_voluntary), requests > 0.0) {
        out.insert(format!("{prefix}ctx_voluntary_per_request"), v / requests);
    }
    let inside: Vec<&ProcSample> = samples
        .iter()
        .filter(|s| s.t_ms >= w.start_ms && s.t_ms <= w.end_ms)
        .collect();
    if !inside.is_empty() {
        let mut rss: Vec<f64> = inside.iter().map(|s| s.rss_bytes as f64).collect();
        out.insert(
            format!("{prefix}rss_bytes_loaded"),
            crate::analyse::stats::median(&rss),
        );
        let threads = inside.iter().map(|s| s.threads).max().unwrap_or(0);
        out.insert(format!("{prefix}threads_in_window_max"), threads as f64);
        if conns > 0.0
            && let Some(base) = samples.first()
        {
            rss.sort_by(f64::total_cmp);
            out.insert(
                format!("{prefix}rss_bytes_per_conn"),
                (crate::analyse::stats::median(&rss) - base.rss_bytes as f64).max(0.0) / conns,
            );
        }
    }
}

/// All metrics of a finished trial; `telemetry` is its server's samples
/// (`run::telemetry`), empty without.
pub fn derive(
    rec: &TrialRecord,
    scenario: &ScenarioSpec,
    d: &Defaults,
    telemetry: &[Sample],
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut windows: Vec<Vec<Window>> = Vec::new();
    for (c, spec) in rec.clients.iter().zip(&scenario.clients) {
        let Some(doc) = &c.document else { continue };
        flatten(&c.name, doc, &mut out);
        let warmup = spec.warmup_s.unwrap_or(scenario.warmup_s(d));
        let duration = spec.duration_s.unwrap_or(scenario.duration_s(d));
        let ws = client_windows(doc, c.launched_ms, rec.origin_unix_ms, warmup, duration);
        // The generator's own CPU per request, from its samples (closed loop:
        // meaningful; open loop spins to pace, see the load generator's README).
        let reqs: f64 = ws.iter().map(|w| w.requests).sum();
        if let (Some(first), Some(last)) = (ws.first(), ws.last()) {
            let span = Window {
                label: String::new(),
                start_ms: first.start_ms,
                end_ms: last.end_ms,
                requests: reqs,
                conns: 0.0,
            };
            let mut tmp = BTreeMap::new();
            server_window_metrics(&c.samples, &span, reqs, 0.0, &mut tmp, "");
            for (k, v) in tmp {
                if k == "cpu_us_per_request" || k == "cpu_utilization" {
                    out.insert(format!("{}.client_{k}", c.name), v);
                }
            }
        }
        windows.push(ws);
    }
    let s = &rec.server_samples;
    if let (Some(first), Some(_)) = (s.first(), s.last()) {
        out.insert("server.threads_baseline".into(), first.threads as f64);
        out.insert("server.rss_bytes_baseline".into(), first.rss_bytes as f64);
        out.insert(
            "server.threads_peak".into(),
            s.iter().map(|x| x.threads).max().unwrap_or(0) as f64,
        );
        out.insert(
            "server.rss_peak_bytes".into(),
            s.iter().map(|x| x.rss_peak_bytes).max().unwrap_or(0) as f64,
        );
        out.insert(
            "server.threads_end".into(),
            s.last().map(|x| x.threads).unwrap_or(0) as f64,
        );
        if let Some(end) = rec.load_end_ms {
            // Seconds after the load ended until the thread count was back
            // within one of its pre-load baseline (blocking-pool shrink).
            if let Some(back) = s
                .iter()
                .find(|x| x.t_ms >= end && x.threads <= first.threads + 1)
            {
                out.insert("server.threads_settle_s".into(), (back.t_ms - end) / 1e3);
            }
        }
    }
    // Server metrics per window of the first client (the others run alongside).
    if let Some(main) = windows.first() {
        let total_conns: f64 = scenario.clients.iter().map(|c| c.conns as f64).sum();
        for w in main {
            // Requests of every client in the same window index.
            let reqs: f64 = windows
                .iter()
                .filter_map(|ws| ws.iter().find(|x| x.label == w.label))
                .map(|x| x.requests)
                .sum();
            let prefix = if w.label.is_empty() {
                "server.".to_string()
            } else {
                format!("server.{}.", w.label)
            };
            server_window_metrics(s, w, reqs, total_conns, &mut out, &prefix);
        }
        // The runtime's own view over the same windows.
        crate::analyse::runtime::derive(telemetry, rec.origin_unix_ms, main, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(t_ms: f64, cpu_us: u64, rss: u64, threads: u64, ctx: u64) -> ProcSample {
        ProcSample {
            t_ms,
            cpu_user_us: cpu_us,
            cpu_sys_us: 0,
            cpu_runtime_ns: 0,
            rss_bytes: rss,
            rss_peak_bytes: rss,
            threads,
            ctx_voluntary: ctx,
            ctx_involuntary: 0,
            per_thread: true,
        }
    }

    #[test]
    fn flattens_documents_with_steps_and_classes() {
        let doc = json!({
            "schema_version": 1, "achieved_rps": 100.0, "valid": true,
            "latency_us": {"corrected": {"p99": 12.5}},
            "classes": {"light": {"latency_us": {"corrected": {"p99": 3.0}}},
                        "nap": {"spec": {"io": "sleep", "io_arg": 1000, "weight": 1.0}}},
            "histograms": {"corrected": "HISTFAAA"},
            "steps": [{"achieved_rps": 10.0}, {"achieved_rps": 20.0}]
        });
        let mut m = BTreeMap::new();
        flatten("main", &doc, &mut m);
        assert_eq!(m["main.achieved_rps"], 100.0);
        assert_eq!(m["main.latency_us.corrected.p99"], 12.5);
        assert_eq!(m["main.classes.light.latency_us.corrected.p99"], 3.0);
        assert_eq!(m["main.step2.achieved_rps"], 20.0);
        assert_eq!(m["main.classes.nap.io_arg_us"], 1000.0);
        assert!(!m.contains_key("main.classes.nap.spec.weight"));
        assert!(!m.contains_key("main.schema_version"));
        assert_eq!(m.len(), 6);
    }

    #[test]
    fn windows_prefer_the_documents_timestamps() {
        let doc =
            json!({"requests": 50.0, "window_start_unix_ms": 1500.0, "window_end_unix_ms": 2500.0});
        let w = client_windows(&doc, 100.0, 1000.0, 1.0, 2.0);
        assert_eq!(
            (w[0].start_ms, w[0].end_ms, w[0].requests),
            (500.0, 1500.0, 50.0)
        );
        let w = client_windows(&json!({"requests": 5}), 100.0, 0.0, 1.0, 2.0);
        assert_eq!((w[0].start_ms, w[0].end_ms), (1100.0, 3100.0));
        let w = client_windows(
            &json!({"conns": 4, "steps": [{"requests": 1}, {"requests": 2}]}),
            0.0,
            0.0,
            1.0,
            2.0,
        );
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[1].label.as_str(), w[1].start_ms, w[1].conns),
            ("step2", 4500.0, 4.0)
        );
    }

    #[test]
    fn server_cpu_and_switches_per_request_over_the_window() {
        // 1 s window with 2,000 requests; CPU grows 500 us per 100 ms = 5,000 us.
        let samples: Vec<ProcSample> = (0..=20)
            .map(|i| {
                sample(
                    i as f64 * 100.0,
                    i * 500,
                    10_000_000 + if i >= 5 { 1_000_000 } else { 0 },
                    3,
                    i * 10,
                )
            })
            .collect();
        let w = Window {
            label: String::new(),
            start_ms: 500.0,
            end_ms: 1500.0,
            requests: 2000.0,
            conns: 100.0,
        };
        let mut m = BTreeMap::new();
        server_window_metrics(&samples, &w, 2000.0, 100.0, &mut m, "server.");
        assert!((m["server.cpu_us_per_request"] - 2.5).abs() < 1e-9);
        assert!((m["server.cpu_utilization"] - 0.005).abs() < 1e-9);
        assert!((m["server.ctx_switches_per_request"] - 0.05).abs() < 1e-9);
        assert_eq!(m["server.rss_bytes_per_conn"], 10_000.0);
        assert_eq!(m["server.threads_in_window_max"], 3.0);
    }
}
