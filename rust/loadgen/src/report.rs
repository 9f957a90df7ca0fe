//! The results: the versioned JSON document (serde types other crates
//! deserialize), the human summary, the `.hgrm` percentile distribution and
//! the `.hlog` interval log. Schema: schemas/loadgen.schema.json.

use crate::engine::{RunData, StepData};
use crate::mix::io_name;
use crate::opts::Config;
use crate::record::{ErrorCounts, Hist, Recorder, new_hist};
use crate::validity;
use anyhow::Context;
use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SCHEMA_VERSION: u32 = 1;
pub const HISTOGRAM_ENCODING: &str = "hdrhistogram-v2-deflate-base64";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// The whole document. Without `--rate-steps` the top-level result is the
/// run's; with it, `steps` holds one result per rate and the top level merges
/// them (all requests and histograms of all steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub args: Vec<String>,
    pub address: String,
    /// "echo" | "work".
    pub workload: String,
    /// "open" | "closed".
    pub load_model: String,
    /// "uniform" | "poisson"; null in closed loop.
    pub arrival: Option<String>,
    pub seed: u64,
    /// Connections over all classes.
    pub conns: usize,
    pub threads: usize,
    pub cpus: Option<Vec<usize>>,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub settle_s: f64,
    pub timeout_s: f64,
    /// Open loop: the per-connection cap; null in closed loop.
    pub max_in_flight: Option<usize>,
    /// Closed loop: requests in flight per connection; null in open loop.
    pub depth: Option<usize>,
    /// echo: bytes per request; null for work.
    pub size_bytes: Option<u32>,
    /// work: the data-file size offsets are spread over; null for echo.
    pub data_size_bytes: Option<u64>,
    pub rate_steps_rps: Option<Vec<f64>>,
    #[serde(flatten)]
    pub result: RunResult,
    pub classes: BTreeMap<String, ClassReport>,
    /// One entry per `--rate-steps` rate; empty otherwise.
    pub steps: Vec<StepReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub step: usize,
    pub rate_rps: f64,
    #[serde(flatten)]
    pub result: RunResult,
    pub classes: BTreeMap<String, ClassReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    pub spec: ClassSpecReport,
    #[serde(flatten)]
    pub result: RunResult,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassSpecReport {
    pub weight: f64,
    pub size_bytes: u32,
    pub cpu_rounds: u32,
    /// "none" | "sleep" | "block" | "file".
    pub io: String,
    /// sleep/block: µs; file: bytes.
    pub io_arg: u32,
    /// file: fixed offset; null = spread over the data file.
    pub io_offset_bytes: Option<u32>,
    pub conns: usize,
}

/// The figures every level (run, step, class) reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Null in closed loop.
    pub offered_rps: Option<f64>,
    /// Correct responses to requests intended in the window / the window.
    pub achieved_rps: f64,
    /// Correct responses recorded.
    pub requests: u64,
    /// Open loop: requests whose intended time fell in the window (null in
    /// closed loop).
    pub requests_scheduled: Option<u64>,
    pub requests_sent: u64,
    pub requests_lost: u64,
    pub in_flight_cap_hits: u64,
    pub body_checks: u64,
    pub body_checks_skipped: u64,
    pub errors: ErrorCounts,
    pub first_mismatches: Vec<String>,
    pub valid: bool,
    pub invalid_reasons: Vec<String>,
    pub latency_us: Latency,
    pub send_lag_us: Percentiles,
    /// The generator's user+system CPU over the window (run and step level).
    pub client_cpu_us: Option<f64>,
    pub client_cpu_us_per_request: Option<f64>,
    /// `--server-pid`'s CPU over the window.
    pub server_cpu_us: Option<f64>,
    /// The measured window in wall-clock Unix milliseconds, so another
    /// tool's samples (the harness's /proc readings) can be cut to it.
    #[serde(default)]
    pub window_start_unix_ms: Option<f64>,
    #[serde(default)]
    pub window_end_unix_ms: Option<f64>,
    pub server_cpu_us_per_request: Option<f64>,
    pub client_bound: Option<bool>,
    pub client_bound_reason: Option<String>,
    /// Per second of the window, by completion time.
    pub intervals: Vec<IntervalReport>,
    pub histograms: Histograms,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Response complete − intended send time.
    pub corrected: Percentiles,
    /// Response complete − actual write.
    pub uncorrected: Percentiles,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub p9999: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalReport {
    /// Seconds from the window's start to this interval's start.
    pub t_s: f64,
    pub requests: u64,
    pub achieved_rps: f64,
    /// Corrected p99 of the responses completed in this second.
    pub p99_us: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// "hdrhistogram-v2-deflate-base64".
    pub encoding: String,
    pub latency_corrected_ns: String,
    pub latency_uncorrected_ns: String,
    pub send_lag_ns: String,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }
}

/// Decodes a histogram from the JSON (`Histograms` fields).
pub fn decode_histogram(b64: &str) -> anyhow::Result<Hist> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .context("histogram is not base64")?;
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| anyhow::anyhow!("histogram does not decode: {e:?}"))
}

fn encode_histogram(h: &Hist) -> String {
    let mut buf = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut buf) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(buf),
        Err(_) => String::new(),
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

pub fn percentiles_us(h: &Hist) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let q = |x: f64| us(h.value_at_quantile(x));
    Percentiles {
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        p999: q(0.999),
        p9999: q(0.9999),
        max: us(h.max()),
        mean: h.mean() / 1000.0,
    }
}

/// The per-second timeline of one window of `duration_s`. Responses that
/// completed after the window (the drain) were intended in it: they join its
/// last second, and a partial last second's rate is over its length in the
/// window, so the timeline never shows a fall to zero that is only the
/// load's end.
pub fn interval_reports(
    intervals: &[crate::record::Interval],
    duration_s: f64,
) -> Vec<IntervalReport> {
    let n_in = (duration_s.ceil() as usize).max(1);
    let mut folded: Vec<(u64, Hist)> = Vec::new();
    for (i, iv) in intervals.iter().enumerate() {
        let k = i.min(n_in - 1);
        while folded.len() <= k {
            folded.push((0, new_hist()));
        }
        folded[k].0 += iv.requests;
        // Same bounds as the recorder's: adding cannot fail.
        let _ = folded[k].1.add(&iv.corrected);
    }
    folded
        .iter()
        .enumerate()
        .map(|(i, (requests, h))| {
            let span_s = (duration_s - i as f64).clamp(0.0, 1.0);
            IntervalReport {
                t_s: i as f64,
                requests: *requests,
                achieved_rps: if span_s > 0.0 {
                    *requests as f64 / span_s
                } else {
                    *requests as f64
                },
                p99_us: if h.is_empty() {
                    0.0
                } else {
                    us(h.value_at_quantile(0.99))
                },
            }
        })
        .collect()
}

/// Inputs to one level's result besides the recorder.
struct Level<'a> {
    open_loop: bool,
    offered_rps: Option<f64>,
    duration_s: f64,
    client_cpu_us: Option<u64>,
    server_cpu_us: Option<u64>,
    thread_cpu_shares: Option<&'a [f64]>,
    with_intervals: bool,
    extra_reasons: Vec<String>,
    /// One class of a mix: see `validity::MIN_CLASS_REQUESTS_FOR_LAG_RULE`.
    class_level: bool,
}

fn result_of(rec: &Recorder, l: Level) -> RunResult {
    let corrected = percentiles_us(&rec.corrected);
    let uncorrected = percentiles_us(&rec.uncorrected);
    let send_lag = percentiles_us(&rec.send_lag);
    let achieved = if l.duration_s > 0.0 {
        rec.requests as f64 / l.duration_s
    } else {
        0.0
    };
    let mut reasons = validity::invalid_reasons(&validity::Facts {
        open_loop: l.open_loop,
        offered_rps: l.offered_rps,
        achieved_rps: achieved,
        send_lag_p99_us: send_lag.p99,
        requests: rec.requests,
        requests_scheduled: l.open_loop.then_some(rec.requests_scheduled),
        errors: &rec.errors,
        record_errors: rec.record_errors,
        body_checks_skipped: rec.body_checks_skipped,
        class_level: l.class_level,
    });
    reasons.extend(l.extra_reasons);
    let per_req = |cpu: Option<u64>| {
        cpu.filter(|_| rec.requests > 0)
            .map(|c| c as f64 / rec.requests as f64)
    };
    let (client_bound, client_bound_reason) = match l.thread_cpu_shares {
        Some(shares) => {
            let (b, why) = validity::client_bound(l.open_loop, send_lag.p99, shares);
            (Some(b), why)
        }
        None => (None, None),
    };
    let intervals = if l.with_intervals {
        interval_reports(&rec.intervals, l.duration_s)
    } else {
        Vec::new()
    };
    RunResult {
        offered_rps: l.offered_rps,
        achieved_rps: achieved,
        requests: rec.requests,
        requests_scheduled: l.open_loop.then_some(rec.requests_scheduled),
        requests_sent: rec.requests_sent,
        requests_lost: rec.requests_lost,
        in_flight_cap_hits: rec.in_flight_cap_hits,
        body_checks: rec.body_checks,
        body_checks_skipped: rec.body_checks_skipped,
        errors: rec.errors,
        first_mismatches: rec.first_mismatches.clone(),
        valid: reasons.is_empty(),
        invalid_reasons: reasons,
        latency_us: Latency {
            corrected,
            uncorrected,
        },
        send_lag_us: send_lag,
        client_cpu_us: l.client_cpu_us.map(|c| c as f64),
        client_cpu_us_per_request: per_req(l.client_cpu_us),
        server_cpu_us: l.server_cpu_us.map(|c| c as f64),
        server_cpu_us_per_request: per_req(l.server_cpu_us),
        window_start_unix_ms: None,
        window_end_unix_ms: None,
        client_bound,
        client_bound_reason,
        intervals,
        histograms: Histograms {
            encoding: HISTOGRAM_ENCODING.into(),
            latency_corrected_ns: encode_histogram(&rec.corrected),
            latency_uncorrected_ns: encode_histogram(&rec.uncorrected),
            send_lag_ns: encode_histogram(&rec.send_lag),
        },
    }
}

fn merge_all<'a>(recs: impl IntoIterator<Item = &'a Recorder>) -> Recorder {
    let mut m = Recorder::new();
    for r in recs {
        m.merge(r);
    }
    m
}

/// Classes and the whole of one step.
fn step_results(cfg: &Config, s: &StepData) -> (RunResult, BTreeMap<String, ClassReport>) {
    let mut classes = BTreeMap::new();
    let mut class_reasons = Vec::new();
    for (i, rec) in s.classes.iter().enumerate() {
        let spec = &cfg.classes[i];
        let r = result_of(
            rec,
            Level {
                open_loop: cfg.open_loop,
                offered_rps: s.rate.map(|r| cfg.class_rate(i, r)),
                duration_s: s.duration_s,
                client_cpu_us: None,
                server_cpu_us: None,
                thread_cpu_shares: None,
                with_intervals: true,
                extra_reasons: Vec::new(),
                class_level: cfg.classes.len() > 1,
            },
        );
        if cfg.classes.len() > 1 {
            class_reasons.extend(
                r.invalid_reasons
                    .iter()
                    .map(|x| format!("class {}: {x}", spec.name)),
            );
        }
        classes.insert(
            spec.name.clone(),
            ClassReport {
                spec: ClassSpecReport {
                    weight: spec.weight,
                    size_bytes: spec.size,
                    cpu_rounds: spec.cpu,
                    io: io_name(spec.io).into(),
                    io_arg: spec.io_arg,
                    io_offset_bytes: spec.io_offset,
                    conns: cfg.class_conns(i),
                },
                result: r,
            },
        );
    }
    let total = merge_all(&s.classes);
    let mut extra = s.notes.clone();
    extra.extend(class_reasons);
    let r = result_of(
        &total,
        Level {
            open_loop: cfg.open_loop,
            offered_rps: s.rate,
            duration_s: s.duration_s,
            client_cpu_us: Some(s.client_cpu_us),
            server_cpu_us: s.server_cpu_us,
            thread_cpu_shares: Some(&s.thread_cpu_shares),
            with_intervals: true,
            extra_reasons: extra,
            class_level: false,
        },
    );
    (r, classes)
}

/// Builds the JSON document from the measurements.
pub fn build(data: &RunData) -> Report {
    let cfg = &data.cfg;
    let epoch_unix_ms = data
        .epoch_wall
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0);
    let window = |s: &StepData| {
        let start = epoch_unix_ms + s.window_start_ns as f64 / 1e6;
        (start, start + s.duration_s * 1e3)
    };
    let per_step: Vec<(RunResult, BTreeMap<String, ClassReport>)> = data
        .steps
        .iter()
        .map(|s| {
            let (mut r, c) = step_results(cfg, s);
            let (a, b) = window(s);
            (r.window_start_unix_ms, r.window_end_unix_ms) = (Some(a), Some(b));
            (r, c)
        })
        .collect();
    let (result, classes, steps) = if cfg.rate_steps {
        // The top level merges the steps; each step keeps its own figures.
        let total_s: f64 = data.steps.iter().map(|s| s.duration_s).sum();
        let offered = cfg.open_loop.then(|| {
            data.steps
                .iter()
                .map(|s| s.rate.unwrap_or(0.0) * s.duration_s)
                .sum::<f64>()
                / total_s
        });
        let mut step_reasons = Vec::new();
        for (s, (r, _)) in data.steps.iter().zip(&per_step) {
            step_reasons.extend(r.invalid_reasons.iter().map(|x| {
                format!(
                    "step {} ({} req/s): {x}",
                    s.index + 1,
                    s.rate.unwrap_or(0.0)
                )
            }));
        }
        let mut classes = BTreeMap::new();
        for (i, spec) in cfg.classes.iter().enumerate() {
            let rec = merge_all(data.steps.iter().map(|s| &s.classes[i]));
            let mut r = result_of(
                &rec,
                Level {
                    open_loop: cfg.open_loop,
                    offered_rps: offered.map(|o| cfg.class_rate(i, o)),
                    duration_s: total_s,
                    client_cpu_us: None,
                    server_cpu_us: None,
                    thread_cpu_shares: None,
                    with_intervals: false,
                    extra_reasons: Vec::new(),
                    class_level: cfg.classes.len() > 1,
                },
            );
            // The merged class is valid only if it was in every step.
            for (s, (_, cl)) in data.steps.iter().zip(&per_step) {
                if let Some(c) = cl.get(&spec.name)
                    && !c.result.valid
                {
                    r.invalid_reasons
                        .push(format!("invalid in step {}", s.index + 1));
                }
            }
            r.valid = r.invalid_reasons.is_empty();
            let spec_report = per_step[0].1[&spec.name].spec.clone();
            classes.insert(
                spec.name.clone(),
                ClassReport {
                    spec: spec_report,
                    result: r,
                },
            );
        }
        let all: Vec<&Recorder> = data.steps.iter().flat_map(|s| &s.classes).collect();
        let total = merge_all(all);
        let client_cpu: u64 = data.steps.iter().map(|s| s.client_cpu_us).sum();
        let server_cpu: Option<u64> = data.steps.iter().map(|s| s.server_cpu_us).sum();
        let mut r = result_of(
            &total,
            Level {
                open_loop: cfg.open_loop,
                offered_rps: offered,
                duration_s: total_s,
                client_cpu_us: Some(client_cpu),
                server_cpu_us: server_cpu,
                thread_cpu_shares: None,
                with_intervals: false,
                extra_reasons: step_reasons,
                class_level: false,
            },
        );
        let bound: Vec<String> = per_step
            .iter()
            .zip(&data.steps)
            .filter(|((r, _), _)| r.client_bound == Some(true))
            .map(|((r, _), s)| {
                format!(
                    "step {}: {}",
                    s.index + 1,
                    r.client_bound_reason.clone().unwrap_or_default()
                )
            })
            .collect();
        r.client_bound = Some(!bound.is_empty());
        r.client_bound_reason = (!bound.is_empty()).then(|| bound.join("; "));
        // The whole run: first step's start to the last step's end.
        r.window_start_unix_ms = data.steps.first().map(|s| window(s).0);
        r.window_end_unix_ms = data.steps.last().map(|s| window(s).1);
        let steps = data
            .steps
            .iter()
            .zip(per_step)
            .map(|(s, (result, classes))| StepReport {
                step: s.index + 1,
                rate_rps: s.rate.unwrap_or(0.0),
                result,
                classes,
            })
            .collect();
        (r, classes, steps)
    } else {
        let (r, c) = per_step.into_iter().next().expect("one step");
        (r, c, Vec::new())
    };
    Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "loadgen".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        started_at: crate::sys::rfc3339(data.started_at),
        args: cfg.argv.clone(),
        address: cfg.addr.to_string(),
        workload: if cfg.echo { "echo" } else { "work" }.into(),
        load_model: if cfg.open_loop { "open" } else { "closed" }.into(),
        arrival: cfg.open_loop.then(|| cfg.arrival.as_str().to_string()),
        seed: cfg.seed,
        conns: cfg.total_conns(),
        threads: cfg.threads,
        cpus: cfg.cpus.clone(),
        duration_s: cfg.duration.as_secs_f64(),
        warmup_s: cfg.warmup.as_secs_f64(),
        settle_s: cfg.settle.as_secs_f64(),
        timeout_s: cfg.timeout.as_secs_f64(),
        max_in_flight: cfg.open_loop.then_some(cfg.max_in_flight),
        depth: (!cfg.open_loop).then_some(cfg.depth),
        size_bytes: cfg.echo.then_some(cfg.size),
        data_size_bytes: (!cfg.echo).then_some(cfg.data_size),
        rate_steps_rps: cfg.rate_steps.then(|| cfg.rates.clone()),
        result,
        classes,
        steps,
    }
}

/// Writes `bytes` to `path` via a temporary file and a rename, so a reader
/// never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.with_context(|| format!("cannot write {}", path.display()))
}

/// "out.hgrm" + "step2" -> "out.step2.hgrm".
pub fn derived_path(base: &Path, tag: &str) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match base.extension() {
        Some(ext) => format!("{stem}.{tag}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{tag}"),
    };
    base.with_file_name(name)
}

/// The percentile distribution in HdrHistogram's classic text format
/// (as Java's `outputPercentileDistribution` and wrk2 print it), in ms.
pub fn hgrm_text(h: &Hist) -> String {
    const SCALE: f64 = 1e6; // ns -> ms
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if !h.is_empty() {
        let mut total = 0u64;
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / SCALE;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    s,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(s, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, sd, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (h.mean() / SCALE, h.stdev() / SCALE, h.max() as f64 / SCALE)
    };
    let _ = writeln!(s, "#[Mean    = {mean:12.3}, StdDeviation   = {sd:12.3}]");
    let _ = writeln!(
        s,
        "#[Max     = {max:12.3}, Total count    = {:12}]",
        h.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        // Java's subBucketCount: the power of two covering 2 × 10^sigfig.
        1u64 << (2.0 * 10f64.powi(h.sigfig() as i32)).log2().ceil() as u32
    );
    s
}

/// Writes the `.hgrm` files: the whole run's corrected latency at `base`;
/// with several classes also `base.CLASS.hgrm`; with steps `base.stepN.hgrm`.
pub fn write_hgrm(data: &RunData, base: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let cfg = &data.cfg;
    let mut written = Vec::new();
    let mut put = |path: PathBuf, h: &Hist| -> anyhow::Result<()> {
        write_atomic(&path, hgrm_text(h).as_bytes())?;
        written.push(path);
        Ok(())
    };
    let mut all = new_hist();
    for s in &data.steps {
        for r in &s.classes {
            let _ = all.add(&r.corrected);
        }
    }
    put(base.to_path_buf(), &all)?;
    if cfg.classes.len() > 1 {
        for (i, spec) in cfg.classes.iter().enumerate() {
            let mut h = new_hist();
            for s in &data.steps {
                let _ = h.add(&s.classes[i].corrected);
            }
            put(derived_path(base, &spec.name), &h)?;
        }
    }
    if cfg.rate_steps {
        for s in &data.steps {
            let mut h = new_hist();
            for r in &s.classes {
                let _ = h.add(&r.corrected);
            }
            put(derived_path(base, &format!("step{}", s.index + 1)), &h)?;
        }
    }
    Ok(written)
}

/// The standard HdrHistogram interval log: one corrected-latency histogram
/// (ns) per second of each step's window, untagged for all classes together
/// and tagged with the class name when there are several.
pub fn hlog_bytes(data: &RunData) -> anyhow::Result<Vec<u8>> {
    let cfg = &data.cfg;
    let mut out = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    {
        let mut w = IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "loadgen {}: corrected latency in ns per second of the measured window; tags are request classes",
                env!("CARGO_PKG_VERSION")
            ))
            .with_start_time(data.epoch_wall)
            .with_base_time(data.epoch_wall)
            .with_max_value_divisor(1e6)
            .begin_log_with(&mut out, &mut ser)?;
        for s in &data.steps {
            if cfg.rate_steps {
                w.write_comment(&format!(
                    "step {} at {} req/s",
                    s.index + 1,
                    s.rate.unwrap_or(0.0)
                ))?;
            }
            let secs = s
                .classes
                .iter()
                .map(|r| r.intervals.len())
                .max()
                .unwrap_or(0);
            for sec in 0..secs {
                let start = Duration::from_nanos(s.window_start_ns + sec as u64 * 1_000_000_000);
                let mut total = new_hist();
                for r in &s.classes {
                    if let Some(iv) = r.intervals.get(sec) {
                        let _ = total.add(&iv.corrected);
                    }
                }
                w.write_histogram(&total, start, Duration::from_secs(1), None)
                    .map_err(|e| anyhow::anyhow!("hlog: {e}"))?;
                if cfg.classes.len() > 1 {
                    for (i, r) in s.classes.iter().enumerate() {
                        let h = r
                            .intervals
                            .get(sec)
                            .map(|iv| iv.corrected.clone())
                            .unwrap_or_else(new_hist);
                        w.write_histogram(
                            &h,
                            start,
                            Duration::from_secs(1),
                            Tag::new(&cfg.classes[i].name),
                        )
                        .map_err(|e| anyhow::anyhow!("hlog: {e}"))?;
                    }
                }
            }
        }
    }
    Ok(out)
}

fn fmt_pcts(p: &Percentiles) -> String {
    format!(
        "{:>9.1}{:>9.1}{:>9.1}{:>10.1}{:>10.1}{:>10.1}{:>9.1}",
        p.p50, p.p90, p.p99, p.p999, p.p9999, p.max, p.mean
    )
}

fn summary_block(s: &mut String, indent: &str, r: &RunResult) {
    let offered = r.offered_rps.map_or("closed loop".to_string(), |o| {
        format!("offered {o:.1} req/s")
    });
    // Open loop: every scheduled request is recorded or counted as an error;
    // those never written (still held back at the window's end + --timeout)
    // are timeouts, shown here so they cannot pass unnoticed.
    let scheduled = match r.requests_scheduled {
        Some(n) => {
            let unsent = n.saturating_sub(r.requests_sent);
            let mut t = format!(" of {n} scheduled");
            if unsent > 0 {
                let _ = write!(t, ", {unsent} never sent (counted as timeouts)");
            }
            t
        }
        None => String::new(),
    };
    let _ = writeln!(
        s,
        "{indent}rate: {offered}, achieved {:.1} req/s; requests {}{scheduled} (sent {}), errors {}{}",
        r.achieved_rps,
        r.requests,
        r.requests_sent,
        r.errors.total,
        if r.errors.total > 0 {
            format!(" ({})", r.errors.describe())
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        s,
        "{indent}latency µs      {:>9}{:>9}{:>9}{:>10}{:>10}{:>10}{:>9}",
        "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"
    );
    let _ = writeln!(
        s,
        "{indent}  corrected     {}",
        fmt_pcts(&r.latency_us.corrected)
    );
    let _ = writeln!(
        s,
        "{indent}  uncorrected   {}",
        fmt_pcts(&r.latency_us.uncorrected)
    );
    let _ = writeln!(
        s,
        "{indent}send lag µs: p50 {:.1}, p99 {:.1}, max {:.1}{}",
        r.send_lag_us.p50,
        r.send_lag_us.p99,
        r.send_lag_us.max,
        if r.in_flight_cap_hits > 0 {
            format!("; in-flight cap hit {} times", r.in_flight_cap_hits)
        } else {
            String::new()
        }
    );
    if let Some(c) = r.client_cpu_us {
        let mut line = format!("{indent}client CPU {:.3} s", c / 1e6);
        if let Some(p) = r.client_cpu_us_per_request {
            let _ = write!(line, " ({p:.2} µs/request)");
        }
        if let Some(sc) = r.server_cpu_us {
            let _ = write!(line, "; server CPU {:.3} s", sc / 1e6);
            if let Some(p) = r.server_cpu_us_per_request {
                let _ = write!(line, " ({p:.2} µs/request)");
            }
        }
        let _ = writeln!(s, "{line}");
    }
    for m in r.first_mismatches.iter().take(3) {
        let _ = writeln!(s, "{indent}mismatch: {m}");
    }
}

/// The human summary printed on stdout.
pub fn summary(rep: &Report) -> String {
    let mut s = String::new();
    let what = match (&rep.size_bytes, rep.workload.as_str()) {
        (Some(b), "echo") => format!("echo {b} B"),
        _ => match rep.classes.len() {
            1 => "work (1 class)".to_string(),
            n => format!("work ({n} classes)"),
        },
    };
    let model = match (&rep.arrival, rep.depth) {
        (Some(a), _) => format!("open loop ({a})"),
        (None, Some(d)) => format!("closed loop (depth {d})"),
        _ => rep.load_model.clone(),
    };
    let _ = writeln!(
        s,
        "loadgen {} -> {}: {what}, {model}, {} conns, {} thread{}{}; {} s measured after {} s warm-up",
        rep.tool.version,
        rep.address,
        rep.conns,
        rep.threads,
        if rep.threads == 1 { "" } else { "s" },
        rep.cpus
            .as_ref()
            .map(|c| format!(" on CPU {}", rtc_common::affinity::format_cpu_list(c)))
            .unwrap_or_default(),
        rep.duration_s,
        rep.warmup_s
    );
    let body = |s: &mut String, r: &RunResult, classes: &BTreeMap<String, ClassReport>| {
        summary_block(s, "  ", r);
        if classes.len() > 1 {
            for (name, c) in classes {
                let _ = writeln!(s, "  class {name}:");
                summary_block(s, "    ", &c.result);
            }
        }
    };
    if rep.steps.is_empty() {
        body(&mut s, &rep.result, &rep.classes);
    } else {
        for st in &rep.steps {
            let _ = writeln!(s, "step {} at {} req/s:", st.step, st.rate_rps);
            body(&mut s, &st.result, &st.classes);
            let _ = writeln!(s, "  {}", if st.result.valid { "valid" } else { "INVALID" });
        }
        let _ = writeln!(s, "all steps:");
        summary_block(&mut s, "  ", &rep.result);
    }
    if let (Some(true), Some(why)) = (rep.result.client_bound, &rep.result.client_bound_reason) {
        let _ = writeln!(s, "client-bound: {why}");
    }
    if rep.result.valid {
        let _ = writeln!(s, "VALID: every rule held (send lag, rate, no errors)");
    } else {
        let _ = writeln!(s, "INVALID: {}", rep.result.invalid_reasons.join("; "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drain_joins_the_last_second_and_a_partial_second_is_a_rate() {
        let iv = |n: u64, v: u64| {
            let mut h = new_hist();
            for _ in 0..n {
                h.record(v).unwrap();
            }
            crate::record::Interval {
                requests: n,
                corrected: h,
            }
        };
        // A 1.5 s window: seconds 0 and 1 (half in the window), then a drain
        // second with 10 slow responses.
        let r = interval_reports(&[iv(1000, 1_000), iv(500, 1_000), iv(10, 9_000_000)], 1.5);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].t_s, r[0].requests, r[0].achieved_rps),
            (0.0, 1000, 1000.0)
        );
        assert_eq!((r[1].t_s, r[1].requests), (1.0, 510));
        assert_eq!(r[1].achieved_rps, 1020.0);
        // The drained responses' latency is in that second's p99.
        assert!(r[1].p99_us > 8_000.0, "{}", r[1].p99_us);
        // A whole-second window keeps its seconds as they are.
        let r = interval_reports(&[iv(7, 1_000), iv(9, 1_000)], 2.0);
        assert_eq!(
            r.iter().map(|i| i.achieved_rps).collect::<Vec<_>>(),
            [7.0, 9.0]
        );
        assert!(interval_reports(&[], 1.0).is_empty());
    }

    #[test]
    fn derived_paths() {
        assert_eq!(
            derived_path(Path::new("/r/out.hgrm"), "step2"),
            PathBuf::from("/r/out.step2.hgrm")
        );
        assert_eq!(
            derived_path(Path::new("out"), "light"),
            PathBuf::from("out.light")
        );
    }

    #[test]
    fn histograms_round_trip_through_base64() {
        let mut h = new_hist();
        for v in [1u64, 1000, 1_000_000, 2_000_000_000] {
            h.record(v).unwrap();
        }
        let back = decode_histogram(&encode_histogram(&h)).unwrap();
        assert_eq!(back, h);
        assert!(decode_histogram("not base64!").is_err());
    }

    #[test]
    fn percentiles_are_microseconds() {
        let mut h = new_hist();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap(); // 1..1000 µs
        }
        let p = percentiles_us(&h);
        assert!((p.p50 - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() < 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() < 1.0, "{p:?}");
        assert_eq!(percentiles_us(&new_hist()), Percentiles::default());
    }

    #[test]
    fn hgrm_has_the_classic_shape() {
        let mut h = new_hist();
        for v in 1..=10_000u64 {
            h.record(v * 1000).unwrap();
        }
        let t = hgrm_text(&h);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("Value") && lines[0].contains("1/(1-Percentile)"));
        assert_eq!(lines[1], "");
        let first: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(first.len(), 4);
        assert_eq!(first[0], "0.001");
        assert!(t.contains("#[Max     =       10.0"), "{t}");
        assert!(t.contains("SubBuckets     =         2048"), "{t}");
        assert!(t.contains("Total count    =        10000"), "{t}");
        // The last data line is the 100th percentile, without the last column.
        let last = lines.iter().rev().find(|l| !l.starts_with('#')).unwrap();
        assert_eq!(last.split_whitespace().count(), 3);
    }
}
