//! A synthetic run directory for tests: a small profile, trials with load
//! generator documents (histograms, classes, steps, per-second intervals)
//! and `/proc` samples made up from a seeded generator, the servers'
//! telemetry (`fixture_telemetry`), metrics derived by the real
//! `metrics::derive`, and `summary.json` from `summary::summarize`
//! — so the report, plots and verdicts are tested on files shaped exactly
//! like a real run's, without running anything.

use crate::analyse::stats::SplitMix64;
use crate::analyse::summary;
use crate::config::profile::{self, Profile, ScenarioSpec};
use crate::run::results::{self, RunDir};
use crate::run::trial::TrialRecord;
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub const PROFILE: &str = r#"
name = "fixture"
description = "synthetic"
[defaults]
repeats = 6
warmup_s = 0.5
duration_s = 2.0
pause_s = 0.0
data_file_bytes = 1048576

[[scenario]]
id = "echo-cap-64b"
title = "Echo 64 B, closed loop"
claims = ["C1"]
workload = "echo"
variants = ["go", "rust"]
[[scenario.client]]
model = "closed"
conns = 100
size_bytes = 64

[[scenario]]
id = "echo-open-64b"
title = "Echo 64 B, open loop steps"
claims = ["C1"]
workload = "echo"
variants = ["go", "rust"]
aa_control = ["go", "rust"]
[[scenario.client]]
model = "open"
conns = 100
size_bytes = 64
rate_fractions = [0.25, 0.5, 0.75]
of_capacity = "echo-cap-64b"

[[scenario]]
id = "hol-baseline"
title = "Light requests alone"
claims = ["C3", "C4", "C5"]
workload = "work"
variants = ["go", "rust", "rust-current-thread"]
[[scenario.client]]
model = "open"
conns = 8
rate = 400.0
mix = "light:weight=1,size=64"

[[scenario]]
id = "hol-cpu-10ms"
title = "Light + 5 % heavy 10 ms jobs"
claims = ["C3", "C4", "C5", "C6"]
workload = "work"
variants = ["go", "rust", "rust-current-thread", "rust-spawn-blocking", "rust-unstable"]
[[scenario.client]]
model = "open"
conns = 12
rate = 400.0
mix = "light:weight=95,size=64;heavy:weight=5,size=64,cpu_ms=10"

[[scenario]]
id = "burst-block-50ms"
title = "Burst of blocking calls, then idle"
claims = ["C7"]
workload = "work"
variants = ["go", "rust-spawn-blocking"]
observe_after_s = 11.0
[[scenario.client]]
model = "open"
conns = 200
rate = 2000.0
mix = "block:weight=1,size=0,io=block,io_arg=50000"

[[scenario]]
id = "firehose-probe"
title = "Firehose and probes"
claims = ["C8"]
workload = "echo"
variants = ["rust", "rust-coop-off", "go", "rust-unstable", "rust-coop-off-unstable"]
workers = 1
[[scenario.client]]
name = "probe"
model = "open"
conns = 4
size_bytes = 64
rate = 200.0
[[scenario.client]]
name = "firehose"
model = "closed"
conns = 1
depth = 8
size_bytes = 65536

[[micro]]
id = "micro-blocking-burst"
title = "1,000 concurrent 50 ms blocking calls, then idle"
claims = ["C7"]
bench = "blocking-burst"
args = ["--n", "1000", "--ms", "50", "--idle", "11"]

[[micro]]
id = "micro-c12"
title = "Compile check"
claims = ["C12"]
bench = "c12"
languages = ["rust"]
repeats = 1
inner_repeats = 1
"#;

pub const SHA_ROUNDS_PER_MS: f64 = 600.0;

fn hist_b64(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .expect("serializes");
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// Latencies (µs) around `base`, with a share `stall_share` of requests
/// delayed by up to `stall_us` (head-of-line blocking).
fn latencies(
    rng: &mut SplitMix64,
    n: usize,
    base: f64,
    stall_share: f64,
    stall_us: f64,
) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let u = (rng.next_u64() % 1_000_000) as f64 / 1e6;
            let w = (rng.next_u64() % 1_000_000) as f64 / 1e6;
            let mut v = base * (0.7 + 0.6 * u) * (1.0 + (-(1.0 - w).max(1e-6).ln()) * 0.3);
            if u < stall_share {
                v += stall_us * w;
            }
            v
        })
        .collect()
}

fn percentiles(h: &Histogram<u64>) -> Value {
    let q = |x: f64| h.value_at_quantile(x) as f64 / 1e3;
    json!({"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999), "p9999": q(0.9999), "max": h.max() as f64 / 1e3, "mean": h.mean() / 1e3})
}

/// One level (whole, class or step) of a load generator document.
fn level(
    lat_us: &[f64],
    lag_us: &[f64],
    rate: Option<f64>,
    duration_s: f64,
    t0_unix_ms: Option<f64>,
) -> Value {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    let mut lag = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    for v in lat_us {
        h.record((v * 1e3).max(1.0) as u64).expect("in range");
    }
    for v in lag_us {
        lag.record((v * 1e3).max(1.0) as u64).expect("in range");
    }
    let n = lat_us.len();
    let per_s = (n as f64 / duration_s).round();
    let secs = duration_s.ceil() as usize;
    let intervals: Vec<Value> = (0..secs)
        .map(|i| {
            let chunk = &lat_us[(i * n / secs)..((i + 1) * n / secs)];
            let mut v = chunk.to_vec();
            v.sort_by(f64::total_cmp);
            let p99 = v.get(((v.len() as f64) * 0.99) as usize).copied().unwrap_or(0.0);
            json!({"t_s": i as f64, "requests": chunk.len(), "achieved_rps": chunk.len() as f64, "p99_us": p99})
        })
        .collect();
    let mut doc = json!({
        "offered_rps": rate,
        "achieved_rps": per_s,
        "requests": n,
        "errors": {"total": 0, "connect": 0, "reset": 0, "closed": 0, "timeout": 0, "mismatch": 0},
        "valid": true,
        "invalid_reasons": [],
        "invalid_late_only": false,
        "latency_us": {"corrected": percentiles(&h), "uncorrected": percentiles(&h)},
        "send_lag_us": percentiles(&lag),
        "intervals": intervals,
        "histograms": {"encoding": "hdrhistogram-v2-deflate-base64", "latency_corrected_ns": hist_b64(&h), "latency_uncorrected_ns": hist_b64(&h), "send_lag_ns": hist_b64(&lag)}
    });
    if let Some(t0) = t0_unix_ms {
        doc["window_start_unix_ms"] = json!(t0);
        doc["window_end_unix_ms"] = json!(t0 + duration_s * 1e3);
    }
    doc
}

/// Per variant: (base latency µs, CPU µs per request, heavy stall share, idle threads).
fn variant_traits(v: &str) -> (f64, f64, f64, u64) {
    match v {
        "go" => (60.0, 9.0, 0.2, 5),
        "go-pool" => (62.0, 9.5, 0.2, 5),
        "rust" => (50.0, 7.0, 0.2, 2),
        "rust-current-thread" => (48.0, 6.8, 0.2, 1),
        "rust-spawn-blocking" => (55.0, 8.0, 0.004, 2),
        "rust-coop-off" | "rust-coop-off-unstable" => (50.0, 7.0, 0.15, 2),
        "rust-unstable" => (50.0, 7.0, 0.2, 2),
        _ => (55.0, 8.0, 0.05, 2),
    }
}

fn make_trial(p: &Profile, s: &ScenarioSpec, v: &str, repeat: usize, seed: u64) -> TrialRecord {
    let mut rng = SplitMix64::new(seed);
    let (base, cpu_per_req, stall_share, idle_threads) =
        variant_traits(crate::config::expand::aa_original(v).unwrap_or(v));
    let wobble = 1.0 + ((rng.next_u64() % 100) as f64 - 50.0) / 1000.0;
    let origin_unix_ms = 1_795_590_900_000.0 + seed as f64 * 100_000.0;
    let warmup = s.warmup_s(&p.defaults);
    let duration = s.duration_s(&p.defaults);
    let load_start = 300.0;
    let mut clients = Vec::new();
    let mut total_requests = 0.0;
    let mut load_end = load_start;
    for c in &s.clients {
        let launched = load_start;
        let open = c.model == profile::LoadModel::Open;
        let lag: Vec<f64> = (0..500)
            .map(|_| {
                if open {
                    5.0 + (rng.next_u64() % 40) as f64
                } else {
                    1.0 + (rng.next_u64() % 5) as f64
                }
            })
            .collect();
        let mut doc;
        let steps = c.rate_fractions.as_ref().map(|f| f.len()).unwrap_or(0);
        if steps > 0 {
            let mut step_docs = Vec::new();
            for k in 0..steps {
                let rate = 20_000.0 * c.rate_fractions.as_ref().expect("steps")[k];
                let n = (rate * duration) as usize / 20;
                let lat = latencies(
                    &mut rng,
                    n,
                    base * wobble * (1.0 + k as f64 * 0.4),
                    0.01 * (k as f64 + 1.0),
                    base * 4.0,
                );
                let t0 = origin_unix_ms
                    + launched
                    + (k as f64) * (warmup + duration + 0.5) * 1e3
                    + warmup * 1e3;
                let mut d = level(&lat, &lag, Some(rate), duration, Some(t0));
                d["achieved_rps"] =
                    json!(rate * (0.995 + 0.01 * (rng.next_u64() % 100) as f64 / 100.0));
                d["requests"] = json!(rate * duration);
                total_requests += rate * duration;
                d["step"] = json!(k + 1);
                d["rate_rps"] = json!(rate);
                step_docs.push(d);
            }
            load_end = load_end.max(launched + steps as f64 * (warmup + duration + 0.5) * 1e3);
            let lat = latencies(&mut rng, 1000, base, 0.01, base * 4.0);
            doc = level(&lat, &lag, None, duration * steps as f64, None);
            doc["steps"] = json!(step_docs);
            doc["classes"] = json!({});
        } else {
            let rate = c.rate;
            let n = 2000usize;
            let classes: Vec<(String, f64, Value)> = match &c.mix {
                Some(m) => m
                    .split(';')
                    .map(|part| {
                        let name = part.split(':').next().unwrap_or("c").to_string();
                        let kv = |k: &str| part.split([':', ',']).find_map(|x| x.strip_prefix(&format!("{k}="))).map(str::to_string);
                        let weight: f64 = kv("weight").and_then(|w| w.parse().ok()).unwrap_or(1.0);
                        let cpu_ms: f64 = kv("cpu_ms").and_then(|w| w.parse().ok()).unwrap_or(0.0);
                        let io = kv("io").unwrap_or_else(|| "none".into());
                        let io_arg: f64 = kv("io_arg").and_then(|w| w.parse().ok()).unwrap_or(0.0);
                        let spec = json!({"weight": weight, "size_bytes": 64, "cpu_rounds": (cpu_ms * SHA_ROUNDS_PER_MS).round(), "io": io, "io_arg": io_arg, "io_offset_bytes": null, "conns": c.conns});
                        (name, weight, spec)
                    })
                    .collect(),
                None => Vec::new(),
            };
            let heavy_us: f64 = classes
                .iter()
                .map(|(_, _, sp)| {
                    sp["cpu_rounds"].as_f64().unwrap_or(0.0) / SHA_ROUNDS_PER_MS * 1e3
                })
                .fold(0.0, f64::max);
            let share = if heavy_us > 0.0 { stall_share } else { 0.0 };
            let probe_starved = c.name == "probe" && v.starts_with("rust-coop-off");
            let lat = latencies(
                &mut rng,
                n,
                base * wobble,
                if probe_starved { 0.1 } else { share },
                if probe_starved { 20_000.0 } else { heavy_us },
            );
            let t0 = origin_unix_ms + launched + warmup * 1e3;
            doc = level(&lat, &lag, rate, duration, Some(t0));
            let mut cl = serde_json::Map::new();
            let total_w: f64 = classes.iter().map(|c| c.1).sum::<f64>().max(1.0);
            for (name, w, spec) in &classes {
                let nn = ((n as f64) * w / total_w).max(50.0) as usize;
                let is_heavy = spec["cpu_rounds"].as_f64().unwrap_or(0.0) > 0.0;
                let io_us = if spec["io"] == "none" {
                    0.0
                } else {
                    spec["io_arg"].as_f64().unwrap_or(0.0)
                };
                let own = if is_heavy { heavy_us } else { 0.0 } + io_us;
                let l = latencies(
                    &mut rng,
                    nn,
                    base * wobble + own,
                    if is_heavy { 0.0 } else { share },
                    heavy_us,
                );
                let mut d = level(&l, &lag, rate.map(|r| r * w / total_w), duration, None);
                d["spec"] = spec.clone();
                cl.insert(name.clone(), d);
            }
            doc["classes"] = Value::Object(cl);
            doc["steps"] = json!([]);
            total_requests += doc["requests"].as_f64().unwrap_or(0.0)
                * if c.model == profile::LoadModel::Closed {
                    10.0
                } else {
                    1.0
                };
            if c.model == profile::LoadModel::Closed {
                let cap = if v.starts_with("go") {
                    90_000.0
                } else {
                    105_000.0
                } * wobble;
                doc["achieved_rps"] = json!(cap);
                doc["requests"] = json!(cap * duration);
            }
            load_end = load_end.max(launched + (warmup + duration) * 1e3);
        }
        doc["warmup_s"] = json!(warmup);
        doc["duration_s"] = json!(duration);
        doc["conns"] = json!(c.conns);
        doc["schema_version"] = json!(1);
        // Built as JSON so fields the harness adds later (with serde
        // defaults) do not break the fixture.
        clients.push(json!({
            "name": c.name,
            "args": [],
            "pid": 1000,
            "cpus_allowed_list": "1",
            "exit_code": 0,
            "launched_ms": launched,
            "finished_ms": load_end,
            "document": doc,
            "hlog": null,
            "hgrm": null,
            "stderr_tail": [],
            "samples": []
        }));
    }
    // Server samples every 100 ms from the origin to the end of observation.
    let end = load_end + s.observe_after_s * 1e3 + 200.0;
    let burst = s.id.starts_with("burst");
    let mut samples = Vec::new();
    let (mut cpu, mut ctx) = (0.0f64, 0u64);
    let mut t = 0.0;
    let per_ms_requests = total_requests / (load_end - load_start).max(1.0);
    while t <= end {
        let loaded = t >= load_start && t < load_end;
        if loaded {
            cpu += 100.0 * per_ms_requests * cpu_per_req;
            ctx += (100.0 * per_ms_requests * 0.5) as u64;
        }
        let since_end = (t - load_end) / 1e3;
        let threads = if burst && t >= load_start {
            let peak = if v.starts_with("go") { 110 } else { 100 };
            // Go keeps its threads; tokio's exit after 10 s idle.
            if loaded || v.starts_with("go") || since_end < 10.0 {
                idle_threads + peak
            } else {
                idle_threads
            }
        } else {
            idle_threads
        };
        let rss = 6_000_000 + if t >= load_start { 1_000_000 } else { 0 } + threads * 40_000;
        samples.push(json!({
            "t_ms": t,
            "cpu_user_us": cpu as u64,
            "cpu_sys_us": (cpu * 0.3) as u64,
            "rss_bytes": rss,
            "rss_peak_bytes": rss,
            "threads": threads,
            "ctx_voluntary": ctx,
            "ctx_involuntary": ctx / 10
        }));
        t += 100.0;
    }
    let variants_lang = if v.starts_with("go") {
        profile::Language::Go
    } else {
        profile::Language::Rust
    };
    let trial_id = format!("{}--{v}--r{repeat}", s.id);
    let lang = if variants_lang == profile::Language::Go {
        "go"
    } else {
        "rust"
    };
    let mut rec: TrialRecord = serde_json::from_value(json!({
        "schema_version": results::SCHEMA_VERSION,
        "trial_id": trial_id,
        "scenario": s.id,
        "variant": v,
        "language": lang,
        "repeat": repeat,
        "claims": s.claims,
        "status": "ok",
        "problems": [],
        "started_at": "2026-11-25T07:15:00Z",
        "ended_at": "2026-11-25T07:15:05Z",
        "origin_unix_ms": origin_unix_ms,
        "load_start_ms": load_start,
        "load_end_ms": load_end,
        "server": {
            "binary": format!("{lang}-server"),
            "args": [],
            "pid": 999,
            "workers": 1,
            "cpus_requested": "0",
            "cpus_allowed_list": "0",
            "config": if lang == "go" {
                json!({"server": "go", "workers": 1, "gomaxprocs": 1, "go_version": "go1.26", "max_threads": 10000})
            } else {
                json!({"server": "rust", "workers": 1, "tokio_version": "1.47.0", "max_blocking_threads": 512})
            },
            "threads_at_start": idle_threads,
            "alive_after_load": true,
            "exit_code": 0,
            "exit_signal": null,
            "needed_sigkill": false,
            "stderr_tail": []
        },
        "clients": clients,
        "server_samples": samples,
        "metrics": {}
    }))
    .expect("the fixture's trial matches TrialRecord");
    // The server's telemetry, read back by the real reader.
    let lines = super::fixture_telemetry::lines(&rec, s.observe_after_s);
    let read = crate::run::telemetry::validate::read(
        &lines.join("\n"),
        Some(crate::run::telemetry::runtime_of(rec.language)),
    );
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    rec.telemetry = Some(super::fixture_telemetry::reference(
        &rec,
        read.samples.len(),
    ));
    rec.metrics = crate::analyse::metrics::derive(&rec, s, &p.defaults, &read.samples);
    rec
}

/// A blocking-burst microbenchmark trial. The synthetic data is made so
/// that Go's thread count stays up and tokio's falls after the keep-alive
/// (what the tests expect the verdicts to find in it).
fn micro_trial(
    m: &crate::config::profile::MicroSpec,
    lang: &str,
    repeat: usize,
    seed: u64,
) -> TrialRecord {
    let (id, claims) = (m.id.as_str(), &m.claims);
    if m.bench == "c12" {
        return c12_trial(m, repeat);
    }
    let go = lang == "go";
    let (base, peak) = (
        if go { 5.0 } else { 3.0 },
        if go { 1005.0 } else { 515.0 } + (seed % 3) as f64,
    );
    let after = if go { peak } else { base };
    let timeline: Vec<Value> = (0..120)
        .map(|i| {
            let t = i as f64 * 100.0;
            let threads = if t < 100.0 { base } else if t < 1200.0 || go || t < 10_800.0 { peak } else { base };
            json!({"repeat": 0, "t_ms": t, "os_threads": threads, "rss_bytes": 4_000_000.0 + threads * 20_000.0})
        })
        .collect();
    let env = if go {
        json!({"workers": 1, "gomaxprocs": 1, "go_version": "go1.26", "max_threads": 10000})
    } else {
        json!({"workers": 1, "max_blocking_threads": 512, "blocking_keep_alive_ms": 10000, "rustc_version": "1.95.0", "tokio_unstable": false})
    };
    let mut args = vec![m.bench.clone()];
    args.extend(m.args.iter().cloned());
    args.extend(["--repeats", "1", "--json", "/tmp/scratch.json"].map(String::from));
    let doc = json!({
        "schema_version": 1, "tool": format!("{lang}-micro"), "runtime": lang, "runtime_version": "x", "bench": "blocking-burst",
        "params": {}, "env": env,
        "cases": [{"case": "blocking_burst", "variant": "default", "params": {}, "notes": "",
                   "metrics": {"peak_os_threads": [peak], "baseline_os_threads": [base], "os_threads_after_idle": [after], "drain_ms": [60.0 + (seed % 5) as f64]}}],
        "timeline": timeline
    });
    let mut t: TrialRecord = serde_json::from_value(json!({
        "schema_version": results::SCHEMA_VERSION,
        "trial_id": format!("{id}--{lang}--r{repeat}"),
        "scenario": id, "variant": lang, "language": lang, "repeat": repeat, "claims": claims,
        "status": "ok", "problems": [], "started_at": "2026-11-25T07:15:00Z", "ended_at": "2026-11-25T07:15:15Z",
        "origin_unix_ms": 1_795_590_900_000.0, "load_start_ms": 0.0, "load_end_ms": 12_000.0,
        "server": {"binary": format!("{lang}-micro"), "args": args, "pid": 1, "workers": 1, "cpus_requested": "0",
                   "cpus_allowed_list": "0", "config": env, "threads_at_start": null, "alive_after_load": null,
                   "exit_code": 0, "exit_signal": null, "needed_sigkill": false, "stderr_tail": []},
        "clients": [], "server_samples": [], "metrics": {}
    }))
    .expect("the fixture's micro trial matches TrialRecord");
    t.metrics = crate::run::micro::metrics_of(&doc);
    t.micro_document = Some(doc);
    t
}

/// A C12 compile-probe trial as `micro::c12` writes it: the spawn probe
/// failed with E0277, the LocalSet probe ran and printed 42.
fn c12_trial(m: &crate::config::profile::MicroSpec, repeat: usize) -> TrialRecord {
    let doc = json!({
        "schema_version": 1,
        "bench": "c12",
        "spawn_rc": {"source": "rust/micro/c12/spawn_rc.rs", "compiles": false,
                     "compiler_error": "error[E0277]: `Rc<u64>` cannot be sent between threads safely"},
        "local_set": {"source": "rust/micro/c12/local_set.rs", "runs": true, "output": "42", "stderr_tail": ""}
    });
    let mut t: TrialRecord = serde_json::from_value(json!({
        "schema_version": results::SCHEMA_VERSION,
        "trial_id": format!("{}--rust--r{repeat}", m.id),
        "scenario": m.id, "variant": "rust", "language": "rust", "repeat": repeat, "claims": m.claims,
        "status": "ok", "problems": [], "started_at": "2026-11-25T07:15:00Z", "ended_at": "2026-11-25T07:15:15Z",
        "origin_unix_ms": 1_795_590_900_000.0, "load_start_ms": 0.0, "load_end_ms": 0.0,
        "server": {"binary": "cargo", "args": ["build", "--release", "--example", "c12_spawn_rc"], "pid": null, "workers": 0,
                   "cpus_requested": "", "cpus_allowed_list": null, "config": null, "threads_at_start": null,
                   "alive_after_load": null, "exit_code": null, "exit_signal": null, "needed_sigkill": false, "stderr_tail": []},
        "clients": [], "server_samples": [], "metrics": {}
    }))
    .expect("the fixture's c12 trial matches TrialRecord");
    t.metrics
        .insert("c12.spawn.spawn_non_send_compiles".into(), 0.0);
    t.metrics
        .insert("c12.local_set.local_set_runs_non_send".into(), 1.0);
    t.micro_document = Some(doc);
    t
}

/// The placement and provenance of today's 2-vCPU VM, read from its
/// sysfs fixture by the real readers, as a run of it would record them.
pub fn host_record() -> (Value, Value) {
    use crate::run::{placement, provenance, topology::fixtures};
    let t = fixtures::topology("vm-2cpu");
    let p = placement::place(&t, &fixtures::allowed("vm-2cpu"), None).expect("placement");
    let virt = provenance::DetectVirt {
        vm: Some("kvm".into()),
        container: None,
    };
    let host = provenance::HostPaths::under(&fixtures::root("vm-2cpu"));
    let mut prov = provenance::read(&host, &t, &p, &virt);
    prov.tokio_version = Some("1.54.1".into());
    prov.steal = Some(provenance::Steal {
        cpus: "0-1".into(),
        fraction: 0.004,
        limit_fraction: provenance::STEAL_LIMIT_FRACTION,
    });
    prov.assess(Some(false));
    (
        serde_json::to_value(&p).expect("placement JSON"),
        serde_json::to_value(&prov).expect("provenance JSON"),
    )
}

pub fn meta(profile: &str) -> Value {
    let (placement, provenance) = host_record();
    json!({
        "schema_version": results::SCHEMA_VERSION,
        "harness_version": "0.1.0",
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "git_dirty": false,
        "profile": profile,
        "profile_file": "harness/profiles/fixture.toml",
        "only": [],
        "order_seed": 1,
        "started_at": "2026-11-25T07:15:00Z",
        "ended_at": "2026-11-25T07:20:00Z",
        "interrupted": false,
        "cpu_model": "Synthetic CPU",
        "cpu_count_online": 2,
        "cpus_allowed": "0-1",
        "server_cpus": "0",
        "client_cpus": "1",
        "kernel": "6.1.0",
        "go_version": "go1.26",
        "rustc_version": "rustc 1.95.0",
        "placement": placement,
        "scenario_placements": {},
        "provenance": provenance,
        "nofile_soft": 1048576,
        "nofile_hard": 1048576,
        "data_file": "/tmp/data",
        "data_file_bytes": 1048576,
        "sha_rounds_per_ms": SHA_ROUNDS_PER_MS,
        "sha_rounds_per_ms_by_language": {"go": SHA_ROUNDS_PER_MS, "rust": SHA_ROUNDS_PER_MS},
        "planned_trials": 0,
        "estimated_s": 0.0,
        "warnings": []
    })
}

/// Writes the fixture run under `dir` (created) and returns its path.
/// `tweak` may change trials before the summary is computed.
pub fn write_run(dir: &Path, tweak: impl Fn(&mut TrialRecord)) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf();
    let vtext = std::fs::read_to_string(root.join("harness/variants.toml")).expect("variants.toml");
    let variants = profile::parse_variants(Path::new("variants.toml"), &vtext).expect("variants");
    let p = profile::parse_profile(Path::new("fixture.toml"), PROFILE, &variants)
        .expect("fixture profile");
    let _ = profile::with_aa_copies(variants, &p);
    let _ = std::fs::remove_dir_all(dir);
    for sub in ["trials", "hlog", "hgrm", crate::run::telemetry::DIR] {
        std::fs::create_dir_all(dir.join(sub)).expect("create the run directory");
    }
    let run = RunDir::open(dir);
    let mut trials = Vec::new();
    let mut seed = 1u64;
    for s in &p.scenarios {
        for r in 1..=p.defaults.repeats {
            for v in &s.variants {
                seed += 1;
                let mut t = make_trial(&p, s, v, r, seed);
                tweak(&mut t);
                results::write_json(&run.trial(&t.trial_id), &t).expect("write trial");
                let lines = super::fixture_telemetry::lines(&t, s.observe_after_s);
                results::write_atomic(
                    &crate::run::telemetry::stored_file(&run, &t.trial_id),
                    (lines.join("\n") + "\n").as_bytes(),
                )
                .expect("write telemetry");
                trials.push(t);
            }
        }
    }
    for (mi, m) in p.micro.iter().enumerate() {
        for r in 1..=m.repeats.unwrap_or(p.defaults.repeats) {
            for lang in m.languages() {
                seed += 1;
                let mut t = micro_trial(m, &lang, r, seed + mi as u64);
                tweak(&mut t);
                results::write_json(&run.trial(&t.trial_id), &t).expect("write trial");
                trials.push(t);
            }
        }
    }
    let mut m = meta(&p.name);
    m["planned_trials"] = json!(trials.len());
    results::write_json(&run.meta(), &m).expect("meta");
    results::write_atomic(&dir.join("profile.toml"), PROFILE.as_bytes()).expect("profile");
    let s = summary::summarize(&p, &trials, true, false);
    results::write_json(&run.summary(), &s).expect("summary");
    dir.to_path_buf()
}
