//! One load-generator document from several: the documents of the
//! generators that shared a client across hosts, merged losslessly — each
//! serialized HdrHistogram (V2, deflate, base64) decoded and added, the
//! percentiles recomputed from the sum, counts and rates added — so the
//! trial reads as one client, with the same metric names as on one
//! machine. Validity is kept per host: the merged measurement is valid
//! only when every generator's was, and every reason names its host.
//! Pure: documents in, a document out (schemas/loadgen.schema.json).
//!
//! A few figures cannot be recomputed from what the documents hold and are
//! bounded instead, as their comments say: a per-second p99 (the largest of
//! the hosts'), the percentile from which the corrected latency may be a
//! lower bound (the smallest), and whether a percentile is trusted (all
//! hosts must trust theirs).

use base64::Engine as _;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use rtc_loadgen::report::{decode_histogram, percentiles_us};
use serde_json::{Map, Value, json};

type Hist = hdrhistogram::Histogram<u64>;

/// Counts: added.
const SUM: &[&str] = &[
    "requests",
    "requests_completed_in_window",
    "requests_scheduled",
    "requests_sent",
    "requests_lost",
    "in_flight_cap_hits",
    "body_checks",
    "body_checks_skipped",
    "censored",
    "conns",
    "threads",
    "conns_open_at_end",
    // Rates over the same (agreed) window: the hosts' shares add up.
    "offered_rps",
    "achieved_rps",
    "rate_rps",
    "client_cpu_us",
];

/// True only when true for every host.
const ALL: &[&str] = &["valid"];
/// True when true for any host.
const ANY: &[&str] = &["overloaded", "client_bound"];
/// Reasons: every host's, each prefixed with its host.
const REASONS: &[&str] = &["invalid_reasons", "first_mismatches"];
/// One reason string per host that has one, joined.
const REASON_TEXT: &[&str] = &["overload_reason", "client_bound_reason"];

/// Merges `docs` (host name, document); the first document's shape is the
/// merged one's. Err when they cannot describe one client (different
/// step counts, a histogram that does not decode).
pub fn merge(docs: &[(&str, &Value)]) -> Result<Value, String> {
    match docs {
        [] => Err("no documents to merge".into()),
        [(_, only)] => Ok((*only).clone()),
        _ => {
            let parts: Vec<(&str, &Value)> = docs.to_vec();
            let mut out = level(&parts, true)?;
            // Metadata of the whole document.
            let starts = parts
                .iter()
                .filter_map(|(_, d)| d.get("started_at").and_then(Value::as_str));
            if let Some(first) = starts.min() {
                out.insert("started_at".into(), json!(first));
            }
            out.insert("args".into(), json!([]));
            out.insert("cpus".into(), Value::Null);
            let start_at = parts
                .iter()
                .filter_map(|(_, d)| d.get("start_at_unix_ms").and_then(Value::as_f64))
                .reduce(f64::min);
            if let Some(m) = start_at {
                out.insert("start_at_unix_ms".into(), json!(m));
            }
            if let Some(seed) = parts[0].1.get("seed") {
                // Each host has its own seed; the first stands for them.
                out.insert("seed".into(), seed.clone());
            }
            let steps: Vec<&[Value]> = parts
                .iter()
                .map(|(_, d)| {
                    d.get("steps")
                        .and_then(Value::as_array)
                        .map_or(&[][..], |v| &v[..])
                })
                .collect();
            if steps.iter().any(|s| s.len() != steps[0].len()) {
                return Err("the generators ran different numbers of rate steps".into());
            }
            let mut merged = Vec::new();
            for i in 0..steps[0].len() {
                let step_parts: Vec<(&str, &Value)> = parts
                    .iter()
                    .zip(&steps)
                    .map(|((h, _), s)| (*h, &s[i]))
                    .collect();
                merged.push(Value::Object(level(&step_parts, false)?));
            }
            out.insert("steps".into(), Value::Array(merged));
            Ok(Value::Object(out))
        }
    }
}

/// One result level (the run, a step, a class) merged; `classes` are
/// merged by name inside it.
fn level(parts: &[(&str, &Value)], top: bool) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let keys = keys_in_order(parts);
    for key in &keys {
        let vals: Vec<(&str, &Value)> = parts
            .iter()
            .filter_map(|(h, d)| d.get(key.as_str()).map(|v| (*h, v)))
            .collect();
        let v = match key.as_str() {
            "steps" if top => continue,
            "histograms" => histograms(&vals)?,
            "classes" => classes(&vals)?,
            "errors" => sum_object(&vals),
            "drain" => drain(&vals),
            "server_outcome" => server_outcome(&vals),
            "intervals" => intervals(&vals),
            "latency_trusted" => trusted(&vals),
            "spec" => spec(&vals),
            "window_start_unix_ms" => extreme(&vals, f64::min),
            "window_end_unix_ms" => extreme(&vals, f64::max),
            // The smallest is the safe bound: from there up a percentile
            // may be a lower bound in some host's data.
            "lower_bound_from_percentile" => extreme(&vals, f64::min),
            "rate_steps_rps" => sum_elementwise(&vals),
            "receive_timestamps" => {
                let all_kernel = vals.len() == parts.len()
                    && vals.iter().all(|(_, v)| v.as_str() == Some("kernel"));
                json!(if all_kernel { "kernel" } else { "unavailable" })
            }
            // Invalid only for lateness when some host was invalid and every
            // invalid host only for lateness.
            "invalid_late_only" => {
                let flag = |d: &Value, k: &str| d.get(k).and_then(Value::as_bool).unwrap_or(false);
                let valid = parts.iter().all(|(_, d)| flag(d, "valid"));
                let late = parts
                    .iter()
                    .all(|(_, d)| flag(d, "valid") || flag(d, "invalid_late_only"));
                json!(!valid && late)
            }
            k if SUM.contains(&k) => sum(&vals),
            k if ALL.contains(&k) => all_true(&vals),
            k if ANY.contains(&k) => any_true(&vals),
            k if REASONS.contains(&k) => reasons(&vals),
            k if REASON_TEXT.contains(&k) => reason_text(&vals),
            // Recomputed below from the merged histograms and counts.
            "latency_us"
            | "send_lag_us"
            | "receive_lag_us"
            | "censored_fraction"
            | "client_cpu_us_per_request" => continue,
            _ => same_or_null(&vals),
        };
        out.insert(key.clone(), v);
    }
    recompute(&mut out, parts)?;
    Ok(out)
}

/// Every key of every part, in the first part's order, then any others.
fn keys_in_order(parts: &[(&str, &Value)]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for (_, d) in parts {
        if let Some(o) = d.as_object() {
            for k in o.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    keys
}

fn decode(b64: &str) -> Result<Hist, String> {
    decode_histogram(b64).map_err(|e| format!("{e:#}"))
}

fn encode(h: &Hist) -> Result<String, String> {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| format!("cannot serialize a merged histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// The sum of the hosts' histograms of one kind.
pub fn added(b64s: &[&str]) -> Result<Hist, String> {
    let mut sum: Option<Hist> = None;
    for b in b64s {
        let mut h = decode(b)?;
        match sum.as_mut() {
            None => {
                // A decoded histogram covers only its own values; the sum
                // grows to hold the others'.
                h.auto(true);
                sum = Some(h)
            }
            Some(s) => s
                .add(&h)
                .map_err(|e| format!("histograms of different ranges: {e:?}"))?,
        }
    }
    sum.ok_or_else(|| "no histogram".to_string())
}

fn histograms(vals: &[(&str, &Value)]) -> Result<Value, String> {
    let mut out = Map::new();
    let first = vals[0].1.as_object().cloned().unwrap_or_default();
    for (k, v) in &first {
        if k == "encoding" {
            if vals.iter().any(|(_, x)| x.get("encoding") != Some(v)) {
                return Err("the generators' histograms have different encodings".into());
            }
            out.insert(k.clone(), v.clone());
            continue;
        }
        let b64s: Vec<&str> = vals
            .iter()
            .filter_map(|(_, x)| x.get(k).and_then(Value::as_str))
            .collect();
        if b64s.len() != vals.len() {
            return Err(format!(
                "histogram {k} is missing from a generator's document"
            ));
        }
        out.insert(k.clone(), json!(encode(&added(&b64s)?)?));
    }
    Ok(Value::Object(out))
}

/// Percentiles, the censored fraction and CPU per request, from the
/// merged histograms and counts of this level.
fn recompute(out: &mut Map<String, Value>, parts: &[(&str, &Value)]) -> Result<(), String> {
    let Some(h) = out.get("histograms").cloned() else {
        return Ok(());
    };
    let get = |k: &str| h.get(k).and_then(Value::as_str).map(decode).transpose();
    let pct = |x: &Hist| serde_json::to_value(percentiles_us(x)).expect("percentiles serialize");
    let corrected = get("latency_corrected_ns")?;
    if let (Some(c), Some(u)) = (&corrected, get("latency_uncorrected_ns")?) {
        out.insert(
            "latency_us".into(),
            json!({ "corrected": pct(c), "uncorrected": pct(&u) }),
        );
    }
    if let Some(s) = get("send_lag_ns")? {
        out.insert("send_lag_us".into(), pct(&s));
    }
    if parts.iter().any(|(_, d)| d.get("receive_lag_us").is_some()) {
        let r = match get("receive_lag_ns")? {
            Some(r) if !r.is_empty() => pct(&r),
            _ => Value::Null,
        };
        out.insert("receive_lag_us".into(), r);
    }
    if parts
        .iter()
        .any(|(_, d)| d.get("censored_fraction").is_some())
        && let (Some(c), Some(n)) = (&corrected, out.get("censored").and_then(Value::as_u64))
    {
        let f = if c.is_empty() {
            0.0
        } else {
            n as f64 / c.len() as f64
        };
        out.insert("censored_fraction".into(), json!(f));
    }
    if parts
        .iter()
        .any(|(_, d)| d.get("client_cpu_us_per_request").is_some())
    {
        let done = out
            .get("requests_completed_in_window")
            .or(out.get("requests"))
            .and_then(Value::as_f64);
        let v = match (out.get("client_cpu_us").and_then(Value::as_f64), done) {
            (Some(cpu), Some(n)) if n > 0.0 => json!(cpu / n),
            _ => Value::Null,
        };
        out.insert("client_cpu_us_per_request".into(), v);
    }
    Ok(())
}

fn sum(vals: &[(&str, &Value)]) -> Value {
    let nums: Vec<&Value> = vals
        .iter()
        .map(|(_, v)| *v)
        .filter(|v| !v.is_null())
        .collect();
    if nums.is_empty() {
        return Value::Null;
    }
    if nums.iter().all(|v| v.is_u64()) {
        json!(nums.iter().filter_map(|v| v.as_u64()).sum::<u64>())
    } else {
        json!(nums.iter().filter_map(|v| v.as_f64()).sum::<f64>())
    }
}

/// Arrays of numbers (each host's share of every step's rate) added
/// position by position; null where any is not such an array.
fn sum_elementwise(vals: &[(&str, &Value)]) -> Value {
    let arrays: Option<Vec<&Vec<Value>>> = vals.iter().map(|(_, v)| v.as_array()).collect();
    match arrays {
        Some(a) if !a.is_empty() && a.iter().all(|x| x.len() == a[0].len()) => Value::Array(
            (0..a[0].len())
                .map(|i| json!(a.iter().filter_map(|x| x[i].as_f64()).sum::<f64>()))
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn sum_object(vals: &[(&str, &Value)]) -> Value {
    let mut out = Map::new();
    for k in keys_in_order(vals) {
        let v: Vec<(&str, &Value)> = vals
            .iter()
            .filter_map(|(h, o)| o.get(&k).map(|x| (*h, x)))
            .collect();
        out.insert(
            k,
            if v.iter().all(|(_, x)| x.is_object()) {
                sum_object(&v)
            } else {
                sum(&v)
            },
        );
    }
    Value::Object(out)
}

fn all_true(vals: &[(&str, &Value)]) -> Value {
    json!(vals.iter().all(|(_, v)| v.as_bool() == Some(true)))
}

fn any_true(vals: &[(&str, &Value)]) -> Value {
    if vals.iter().all(|(_, v)| v.is_null()) {
        return Value::Null;
    }
    json!(vals.iter().any(|(_, v)| v.as_bool() == Some(true)))
}

fn reasons(vals: &[(&str, &Value)]) -> Value {
    Value::Array(
        vals.iter()
            .flat_map(|(h, v)| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(move |r| json!(format!("host {h}: {r}")))
            })
            .collect(),
    )
}

fn reason_text(vals: &[(&str, &Value)]) -> Value {
    let t: Vec<String> = vals
        .iter()
        .filter_map(|(h, v)| v.as_str().map(|r| format!("host {h}: {r}")))
        .collect();
    if t.is_empty() {
        Value::Null
    } else {
        json!(t.join("; "))
    }
}

fn extreme(vals: &[(&str, &Value)], pick: fn(f64, f64) -> f64) -> Value {
    vals.iter()
        .filter_map(|(_, v)| v.as_f64())
        .reduce(pick)
        .map_or(Value::Null, |x| json!(x))
}

/// Equal in every host: kept; otherwise null (a figure that differs and
/// has no merge rule is not passed off as the whole's).
fn same_or_null(vals: &[(&str, &Value)]) -> Value {
    match vals.first() {
        Some((_, v)) if vals.iter().all(|(_, x)| x == v) => (*v).clone(),
        _ => Value::Null,
    }
}

fn drain(vals: &[(&str, &Value)]) -> Value {
    let mut out = sum_object(vals);
    if let Some(o) = out.as_object_mut() {
        let d: Vec<(&str, &Value)> = vals
            .iter()
            .filter_map(|(h, v)| v.get("duration_ms").map(|x| (*h, x)))
            .collect();
        o.insert("duration_ms".into(), extreme(&d, f64::max));
    }
    out
}

fn server_outcome(vals: &[(&str, &Value)]) -> Value {
    let field = |k: &str| -> Vec<(&str, &Value)> {
        vals.iter()
            .filter_map(|(h, v)| v.get(k).map(|x| (*h, x)))
            .collect()
    };
    let mut out = Map::new();
    for k in keys_in_order(vals) {
        let f = field(&k);
        let v = match k.as_str() {
            "ok" => all_true(&f),
            "reasons" => reasons(&f),
            "errors" => sum_object(&f),
            "overloaded" | "shortfall" => any_true(&f),
            _ => same_or_null(&f),
        };
        out.insert(k, v);
    }
    Value::Object(out)
}

/// Per second of the window: counts and rates added; the p99 is the
/// largest host's — an upper bound of the merged second's p99 (a mixture's
/// quantile never exceeds its largest component's).
fn intervals(vals: &[(&str, &Value)]) -> Value {
    let lists: Vec<&Vec<Value>> = vals.iter().filter_map(|(_, v)| v.as_array()).collect();
    let n = lists.iter().map(|l| l.len()).max().unwrap_or(0);
    let out = (0..n)
        .map(|i| {
            let at: Vec<(&str, &Value)> = lists
                .iter()
                .filter_map(|l| l.get(i))
                .map(|v| ("", v))
                .collect();
            let f = |k: &str| -> Vec<(&str, &Value)> {
                at.iter()
                    .filter_map(|(h, v)| v.get(k).map(|x| (*h, x)))
                    .collect()
            };
            json!({
                "t_s": extreme(&f("t_s"), f64::min),
                "requests": sum(&f("requests")),
                "achieved_rps": sum(&f("achieved_rps")),
                "p99_us": extreme(&f("p99_us"), f64::max),
            })
        })
        .collect();
    Value::Array(out)
}

/// A percentile is trusted only when every host trusted its own.
fn trusted(vals: &[(&str, &Value)]) -> Value {
    let mut out = Map::new();
    for k in keys_in_order(vals) {
        let all = vals
            .iter()
            .all(|(_, v)| v.get(&k).and_then(Value::as_bool) == Some(true));
        out.insert(k, json!(all));
    }
    Value::Object(out)
}

/// A class's spec: the same on every host but its connections.
fn spec(vals: &[(&str, &Value)]) -> Value {
    let mut out = Map::new();
    for k in keys_in_order(vals) {
        let f: Vec<(&str, &Value)> = vals
            .iter()
            .filter_map(|(h, v)| v.get(&k).map(|x| (*h, x)))
            .collect();
        out.insert(
            k.clone(),
            if k == "conns" {
                sum(&f)
            } else {
                same_or_null(&f)
            },
        );
    }
    Value::Object(out)
}

fn classes(vals: &[(&str, &Value)]) -> Result<Value, String> {
    let mut out = Map::new();
    for name in keys_in_order(vals) {
        let parts: Vec<(&str, &Value)> = vals
            .iter()
            .filter_map(|(h, v)| v.get(&name).map(|x| (*h, x)))
            .collect();
        out.insert(name, Value::Object(level(&parts, false)?));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_ns: &[u64]) -> Hist {
        let mut h = Hist::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for v in values_ns {
            h.record(*v).unwrap();
        }
        h
    }

    fn b64(values_ns: &[u64]) -> String {
        encode(&hist(values_ns)).unwrap()
    }

    /// A generator's document in the shape of loadgen.schema.json, with
    /// `n` requests of latencies `lat_ns`.
    fn doc(lat_ns: &[u64], valid: bool, reasons: &[&str], conns: u64, rate: f64) -> Value {
        let n = lat_ns.len() as u64;
        let h = json!({
            "encoding": "hdrhistogram-v2-deflate-base64",
            "latency_corrected_ns": b64(lat_ns),
            "latency_uncorrected_ns": b64(lat_ns),
            "send_lag_ns": b64(&[1000; 3]),
            "receive_lag_ns": b64(&[2000; 3]),
        });
        let pct = serde_json::to_value(percentiles_us(&hist(lat_ns))).unwrap();
        let result = |extra: Value| {
            let mut r = json!({
                "offered_rps": rate, "achieved_rps": rate, "requests": n,
                "requests_scheduled": n, "requests_sent": n, "requests_lost": 0,
                "in_flight_cap_hits": 0, "body_checks": n, "body_checks_skipped": 0,
                "errors": {"total": 1, "connect": 0, "reset": 1, "closed": 0, "timeout": 0, "mismatch": 0},
                "first_mismatches": [], "valid": valid, "invalid_reasons": reasons,
                "invalid_late_only": !valid,
                "latency_us": {"corrected": pct, "uncorrected": pct}, "send_lag_us": pct,
                "client_cpu_us": 1000.0, "client_cpu_us_per_request": 1000.0 / n as f64,
                "server_cpu_us": null, "server_cpu_us_per_request": null,
                "window_start_unix_ms": 1000.0 + rate, "window_end_unix_ms": 2000.0 + rate,
                "client_bound": false, "client_bound_reason": null,
                "intervals": [{"t_s": 0.0, "requests": n, "achieved_rps": rate, "p99_us": pct["p99"]}],
                "histograms": h,
                "requests_completed_in_window": n,
                "server_outcome": {"ok": valid, "reasons": if valid { json!([]) } else { json!(["2 requests timed out"]) },
                    "errors": {"total": 1, "connect": 0, "reset": 1, "closed": 0, "timeout": 0, "mismatch": 0},
                    "overloaded": false, "shortfall": false},
                "overloaded": false, "overload_reason": null,
                "drain": {"outstanding_at_window_end": 2, "answered": 2, "timed_out": 0, "failed": 0, "duration_ms": rate / 100.0},
                "receive_lag_us": pct, "receive_timestamps": "kernel",
                "latency_trusted": {"p50": true, "p99": valid, "p999": false},
                "censored": 1, "censored_fraction": 1.0 / n as f64,
                "lower_bound_from_percentile": 99.0, "conns_open_at_end": null,
            });
            r.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            r
        };
        let mut d = result(json!({
            "schema_version": rtc_loadgen::report::SCHEMA_VERSION, "tool": {"name": "loadgen", "version": "0.1.0"},
            "started_at": format!("2026-01-01T00:00:0{}Z", conns % 10), "args": ["--rate", rate.to_string()],
            "address": "198.18.0.1:4000", "workload": "work", "load_model": "open",
            "arrival": "uniform", "seed": conns, "conns": conns, "threads": 1, "cpus": [1],
            "duration_s": 1.0, "warmup_s": 0.5, "settle_s": 0.0, "timeout_s": 5.0,
            "max_in_flight": 1000, "depth": null, "size_bytes": null, "data_size_bytes": 1048576,
            "rate_steps_rps": null, "steps": [], "start_at_unix_ms": 5000.0 + rate, "prime": null,
        }));
        d["classes"] = json!({
            "light": result(json!({"spec": {"weight": 1.0, "size_bytes": 64, "cpu_rounds": 0,
                "io": "none", "io_arg": 0, "io_offset_bytes": null, "conns": conns}}))
        });
        d
    }

    #[test]
    fn histograms_add_losslessly_and_percentiles_come_from_the_sum() {
        let a_lat: Vec<u64> = (1..=90).map(|i| i * 10_000).collect(); // 10..900 µs
        let b_lat: Vec<u64> = vec![5_000_000; 10]; // ten of 5 ms
        let (a, b) = (
            doc(&a_lat, true, &[], 6, 600.0),
            doc(&b_lat, true, &[], 4, 400.0),
        );
        let m = merge(&[("gen1", &a), ("gen2", &b)]).unwrap();

        let mut all = a_lat.clone();
        all.extend(&b_lat);
        let whole = hist(&all);
        let merged = decode(m["histograms"]["latency_corrected_ns"].as_str().unwrap()).unwrap();
        assert_eq!(merged.len(), 100);
        assert_eq!(
            merged, whole,
            "the sum of the two is the histogram of all values"
        );
        // p90 of the union is the largest fast value; p99 is in the slow ten.
        let p = &m["latency_us"]["corrected"];
        assert_eq!(
            p["p90"].as_f64().unwrap(),
            whole.value_at_quantile(0.9) as f64 / 1e3
        );
        assert!((p["p90"].as_f64().unwrap() - 900.0).abs() < 1.0, "{p}");
        assert!((p["p99"].as_f64().unwrap() - 5000.0).abs() < 5.0, "{p}");
        assert_eq!(m["requests"], 100);
        assert_eq!(m["conns"], 10);
        assert_eq!(m["achieved_rps"].as_f64(), Some(1000.0));
        assert_eq!(m["errors"]["total"], 2);
        assert_eq!(m["errors"]["reset"], 2);
        assert!((m["client_cpu_us_per_request"].as_f64().unwrap() - 20.0).abs() < 1e-9);
        assert_eq!(m["window_start_unix_ms"].as_f64(), Some(1400.0));
        assert_eq!(m["window_end_unix_ms"].as_f64(), Some(2600.0));
        assert_eq!(m["intervals"][0]["requests"], 100);
        assert_eq!(m["intervals"][0]["p99_us"], b["intervals"][0]["p99_us"]);
        // Metadata: equal kept, per-host replaced by what stands for all.
        assert_eq!(m["address"], "198.18.0.1:4000");
        assert_eq!(m["args"], json!([]));
        assert_eq!(m["cpus"], Value::Null);
        assert_eq!(m["started_at"], "2026-01-01T00:00:04Z");
        assert_eq!(m["threads"], 2);
        // Classes merge by name, their spec's connections added.
        assert_eq!(m["classes"]["light"]["requests"], 100);
        assert_eq!(m["classes"]["light"]["spec"]["conns"], 10);
        assert_eq!(m["classes"]["light"]["spec"]["size_bytes"], 64);
        assert_eq!(
            m["classes"]["light"]["latency_us"]["corrected"],
            m["latency_us"]["corrected"]
        );
        assert!(m["valid"].as_bool().unwrap());
        // The server's outcome and the drain add up; lags recomputed too.
        assert_eq!(m["server_outcome"]["errors"]["total"], 2);
        assert_eq!(m["server_outcome"]["ok"], true);
        assert_eq!(m["drain"]["outstanding_at_window_end"], 4);
        assert_eq!(m["drain"]["duration_ms"].as_f64(), Some(6.0));
        assert_eq!(m["receive_lag_us"]["p50"].as_f64(), Some(2.0));
        assert_eq!(m["receive_timestamps"], "kernel");
        assert_eq!(m["censored"], 2);
        assert_eq!(m["censored_fraction"].as_f64(), Some(0.02));
        assert_eq!(m["start_at_unix_ms"].as_f64(), Some(5400.0));

        // It is still a load-generator document.
        let schema: Value =
            serde_json::from_str(include_str!("../../../../schemas/loadgen.schema.json")).unwrap();
        let mut errs = Vec::new();
        crate::schema_check::check(&schema, &m, &schema, "merged", &mut errs);
        assert!(errs.is_empty(), "{errs:#?}");
    }

    #[test]
    fn an_invalid_generator_makes_the_whole_invalid_naming_its_host() {
        let ok = doc(&[1000; 5], true, &[], 1, 10.0);
        let bad = doc(
            &[1000; 5],
            false,
            &["send lag p99 2.1 ms over 1 ms"],
            1,
            10.0,
        );
        let m = merge(&[("gen1", &ok), ("gen2", &bad)]).unwrap();
        assert_eq!(m["valid"], false);
        // Valid beside late only: the whole is late only.
        assert_eq!(m["invalid_late_only"], true);
        assert_eq!(
            m["invalid_reasons"],
            json!(["host gen2: send lag p99 2.1 ms over 1 ms"])
        );
        assert_eq!(m["classes"]["light"]["valid"], false);
        assert_eq!(m["server_outcome"]["ok"], false);
        assert_eq!(
            m["server_outcome"]["reasons"],
            json!(["host gen2: 2 requests timed out"])
        );
        assert_eq!(
            m["latency_trusted"],
            json!({"p50": true, "p99": false, "p999": false})
        );
        let (meas, _) = crate::run::outcome::judge(&[("main", &m)], Some(true));
        assert!(!meas.valid);
        assert!(meas.reasons[0].contains("host gen2"), "{:?}", meas.reasons);
    }

    #[test]
    fn steps_merge_step_by_step_and_must_agree_in_number() {
        let mut a = doc(&[1000; 4], true, &[], 2, 100.0);
        let mut b = doc(&[3000; 4], true, &[], 2, 100.0);
        let step = |d: &Value, r: f64| {
            let mut s = d.clone();
            let o = s.as_object_mut().unwrap();
            o.retain(|k, _| {
                !["schema_version", "tool", "started_at", "args", "steps"].contains(&k.as_str())
            });
            o.insert("step".into(), json!(1));
            o.insert("rate_rps".into(), json!(r));
            s
        };
        a["steps"] = json!([step(&a, 100.0)]);
        b["steps"] = json!([step(&b, 100.0)]);
        a["rate_steps_rps"] = json!([100.0]);
        b["rate_steps_rps"] = json!([100.0]);
        let m = merge(&[("gen1", &a), ("gen2", &b)]).unwrap();
        assert_eq!(m["rate_steps_rps"], json!([200.0]));
        assert_eq!(m["steps"][0]["rate_rps"].as_f64(), Some(200.0));
        assert_eq!(m["steps"][0]["step"], 1);
        assert_eq!(m["steps"][0]["requests"], 8);
        for other in [json!([]), json!([step(&b, 1.0), step(&b, 2.0)])] {
            b["steps"] = other;
            assert!(
                merge(&[("gen1", &a), ("gen2", &b)])
                    .unwrap_err()
                    .contains("rate steps")
            );
        }
    }

    #[test]
    fn one_document_is_itself_and_bad_histograms_are_errors() {
        let a = doc(&[1000; 3], true, &[], 1, 10.0);
        assert_eq!(merge(&[("gen1", &a)]).unwrap(), a);
        assert!(merge(&[]).is_err());
        let mut b = a.clone();
        b["histograms"]["send_lag_ns"] = json!("not base64!");
        assert!(merge(&[("gen1", &a), ("gen2", &b)]).is_err());
    }
}
