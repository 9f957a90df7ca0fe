//! The results: the versioned JSON document (serde types other crates
//! deserialize), the human summary, the `.hgrm` percentile distribution and
//! the `.hlog` interval log. Schema: schemas/loadgen.schema.json.

use crate::engine::{RunData, StepData};
use crate::mix::io_name;
use crate::opts::Config;
use crate::record::{DrainCounts, ErrorCounts, Hist, Recorder, new_hist};
use crate::schedule::Arrival;
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

pub const SCHEMA_VERSION: u32 = 2;
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
    /// "open" | "closed" | "idle".
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
    /// `--start-at`: the wall-clock instant the warm-up was to begin.
    pub start_at_unix_ms: Option<f64>,
    /// `--idle`: requests sent on each connection before the idle hold.
    pub prime: Option<u32>,
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
    /// Null in closed loop and idle mode.
    pub offered_rps: Option<f64>,
    /// Correct responses completed inside the measured window (whatever
    /// their intended time) / the window.
    pub achieved_rps: f64,
    /// Correct responses to requests intended in the window, answered in it
    /// or in the drain after it (idle mode: primed responses).
    pub requests: u64,
    /// Correct responses completed inside the window (`achieved_rps` × window).
    pub requests_completed_in_window: u64,
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
    /// The measurement is usable: the generator kept its schedule and read
    /// its responses in time (see `invalid_reasons`). Says nothing about the
    /// server: see `server_outcome`.
    pub valid: bool,
    /// Measurement faults only.
    pub invalid_reasons: Vec<String>,
    /// Invalid only because requests went out late (the send-lag rule, here
    /// or in a class): what the server counts (threads, memory) under the
    /// load it was sent is still a measurement; its timings are not.
    pub invalid_late_only: bool,
    pub server_outcome: ServerOutcome,
    /// Open loop: in-window completions under 99 % of the schedule, or the
    /// backlog grew through the window.
    pub overloaded: bool,
    pub overload_reason: Option<String>,
    pub drain: Drain,
    pub latency_us: Latency,
    pub send_lag_us: Percentiles,
    /// Null when the kernel gave no receive timestamps.
    pub receive_lag_us: Option<Percentiles>,
    /// "kernel" | "unavailable".
    pub receive_timestamps: String,
    pub latency_trusted: Trusted,
    /// Timed-out or lost requests recorded in the corrected histogram at
    /// (failure − intended time), as lower bounds of their latency.
    pub censored: u64,
    /// censored / values in the corrected histogram.
    pub censored_fraction: f64,
    /// Percentiles of the corrected latency at or above this one (0–100)
    /// may be lower bounds (a censored value lies at or below them); null
    /// when nothing was censored.
    pub lower_bound_from_percentile: Option<f64>,
    /// The generator's user+system CPU over the window (run and step level).
    pub client_cpu_us: Option<f64>,
    /// Per response completed in the window.
    pub client_cpu_us_per_request: Option<f64>,
    /// `--server-pid`'s CPU over the window.
    pub server_cpu_us: Option<f64>,
    /// The measured window in wall-clock Unix milliseconds, so another
    /// tool's samples (the harness's /proc readings) can be cut to it.
    #[serde(default)]
    pub window_start_unix_ms: Option<f64>,
    #[serde(default)]
    pub window_end_unix_ms: Option<f64>,
    /// Per response completed in the window (the CPU's own window).
    pub server_cpu_us_per_request: Option<f64>,
    pub client_bound: Option<bool>,
    pub client_bound_reason: Option<String>,
    /// Idle mode: connections still open when the hold ended; null otherwise.
    pub conns_open_at_end: Option<u64>,
    /// Per second of the window, by completion time.
    pub intervals: Vec<IntervalReport>,
    pub histograms: Histograms,
}

/// What the run says about the server, apart from the measurement's validity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerOutcome {
    /// Every scheduled request answered correctly, in time, no error, not
    /// overloaded.
    pub ok: bool,
    pub reasons: Vec<String>,
    /// The same counts as the result's `errors`.
    pub errors: ErrorCounts,
    pub overloaded: bool,
    /// Fewer than 99 % of the scheduled requests were ever answered correctly.
    pub shortfall: bool,
}

/// Requests intended in the window and still unresolved at its end.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Drain {
    /// = answered + timed_out + failed.
    pub outstanding_at_window_end: u64,
    /// Answered correctly after the window.
    pub answered: u64,
    /// Timed out (or never sent) after the window.
    pub timed_out: u64,
    /// Lost with their connection or answered wrongly after the window.
    pub failed: u64,
    /// From the window's end to the last of them resolved.
    pub duration_ms: f64,
}

pub use crate::validity::Trusted;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Response complete − intended send time (closed loop: the intended
    /// time is when the slot freed, so this is service time), with censored
    /// timeouts and losses.
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
    /// Empty histogram when receive timestamps were unavailable.
    pub receive_lag_ns: String,
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
    idle: bool,
    offered_rps: Option<f64>,
    /// The whole step's rate, all classes (`validity::max_send_lag_p99_us`).
    schedule_rps: Option<f64>,
    duration_s: f64,
    /// The window's end, ns on the run's clock (the drain counts from it).
    window_end_ns: u64,
    client_cpu_us: Option<u64>,
    server_cpu_us: Option<u64>,
    thread_cpu_shares: Option<&'a [f64]>,
    with_intervals: bool,
    /// Measurement faults and server problems found beside the recorder.
    measurement_notes: Vec<String>,
    /// Of `measurement_notes`, how many are a class's send-lag faults only.
    late_notes: usize,
    server_notes: Vec<String>,
    conns_open_at_end: Option<u64>,
    /// One class of a mix: see `validity::MIN_CLASS_REQUESTS_FOR_LAG_RULE`.
    class_level: bool,
}

/// The percentile (0–100) from which the corrected histogram's values may
/// be lower bounds: the share of values below the smallest censored one.
pub fn lower_bound_from_percentile(h: &Hist, censored: u64, min_censored_ns: u64) -> Option<f64> {
    if censored == 0 || h.is_empty() {
        return None;
    }
    let below = if min_censored_ns == 0 {
        0
    } else {
        h.count_between(0, h.lowest_equivalent(min_censored_ns).saturating_sub(1))
    };
    Some(below as f64 / h.len() as f64 * 100.0)
}

fn result_of(rec: &Recorder, l: Level) -> RunResult {
    let corrected = percentiles_us(&rec.corrected);
    let uncorrected = percentiles_us(&rec.uncorrected);
    let send_lag = percentiles_us(&rec.send_lag);
    let receive_lag = (!rec.receive_lag.is_empty()).then(|| percentiles_us(&rec.receive_lag));
    let achieved = if l.duration_s > 0.0 {
        rec.completed_in_window as f64 / l.duration_s
    } else {
        0.0
    };
    let mut j = validity::judge(&validity::Facts {
        open_loop: l.open_loop,
        idle: l.idle,
        offered_rps: l.offered_rps,
        schedule_rps: l.schedule_rps,
        send_lag_p99_us: send_lag.p99,
        requests: rec.requests,
        completed_in_window: rec.completed_in_window,
        requests_scheduled: l.open_loop.then_some(rec.requests_scheduled),
        backlog: &rec.backlog,
        errors: &rec.errors,
        record_errors: rec.record_errors,
        body_checks_skipped: rec.body_checks_skipped,
        class_level: l.class_level,
    });
    let others =
        j.invalid_reasons.len() - usize::from(j.late) + l.measurement_notes.len() - l.late_notes;
    let invalid_late_only = !j.invalid_reasons.is_empty() || !l.measurement_notes.is_empty();
    let invalid_late_only = invalid_late_only && others == 0;
    j.invalid_reasons.extend(l.measurement_notes);
    j.server_reasons.extend(l.server_notes);
    let per_req = |cpu: Option<u64>| {
        cpu.filter(|_| rec.completed_in_window > 0)
            .map(|c| c as f64 / rec.completed_in_window as f64)
    };
    let (client_bound, client_bound_reason) = match l.thread_cpu_shares {
        Some(shares) => {
            let (b, why) =
                validity::client_bound(l.open_loop, l.schedule_rps, send_lag.p99, shares);
            (Some(b), why)
        }
        None => (None, None),
    };
    let intervals = if l.with_intervals {
        interval_reports(&rec.intervals, l.duration_s)
    } else {
        Vec::new()
    };
    let d = &rec.drain;
    let overloaded = j.overload_reason.is_some();
    RunResult {
        offered_rps: l.offered_rps,
        achieved_rps: achieved,
        requests: rec.requests,
        requests_completed_in_window: rec.completed_in_window,
        requests_scheduled: l.open_loop.then_some(rec.requests_scheduled),
        requests_sent: rec.requests_sent,
        requests_lost: rec.requests_lost,
        in_flight_cap_hits: rec.in_flight_cap_hits,
        body_checks: rec.body_checks,
        body_checks_skipped: rec.body_checks_skipped,
        errors: rec.errors,
        first_mismatches: rec.first_mismatches.clone(),
        valid: j.invalid_reasons.is_empty(),
        invalid_reasons: j.invalid_reasons,
        invalid_late_only,
        server_outcome: ServerOutcome {
            ok: j.server_reasons.is_empty(),
            reasons: j.server_reasons,
            errors: rec.errors,
            overloaded,
            shortfall: j.shortfall,
        },
        overloaded,
        overload_reason: j.overload_reason,
        drain: drain_report(d, l.window_end_ns),
        // Completions carry the kernel's receive stamp where it gave one,
        // so the reader's own delay is not in the latency; where it gave
        // none there is no receive lag to add either.
        latency_trusted: validity::latency_trusted(
            &corrected,
            &send_lag,
            None,
            !rec.corrected.is_empty(),
        ),
        latency_us: Latency {
            corrected,
            uncorrected,
        },
        send_lag_us: send_lag,
        receive_timestamps: if receive_lag.is_some() {
            "kernel"
        } else {
            "unavailable"
        }
        .into(),
        receive_lag_us: receive_lag,
        censored: rec.censored,
        censored_fraction: if rec.corrected.is_empty() {
            0.0
        } else {
            rec.censored as f64 / rec.corrected.len() as f64
        },
        lower_bound_from_percentile: lower_bound_from_percentile(
            &rec.corrected,
            rec.censored,
            rec.min_censored_ns,
        ),
        client_cpu_us: l.client_cpu_us.map(|c| c as f64),
        client_cpu_us_per_request: per_req(l.client_cpu_us),
        server_cpu_us: l.server_cpu_us.map(|c| c as f64),
        server_cpu_us_per_request: per_req(l.server_cpu_us),
        window_start_unix_ms: None,
        window_end_unix_ms: None,
        client_bound,
        client_bound_reason,
        conns_open_at_end: l.conns_open_at_end,
        intervals,
        histograms: Histograms {
            encoding: HISTOGRAM_ENCODING.into(),
            latency_corrected_ns: encode_histogram(&rec.corrected),
            latency_uncorrected_ns: encode_histogram(&rec.uncorrected),
            send_lag_ns: encode_histogram(&rec.send_lag),
            receive_lag_ns: encode_histogram(&rec.receive_lag),
        },
    }
}

fn drain_report(d: &DrainCounts, window_end_ns: u64) -> Drain {
    Drain {
        outstanding_at_window_end: d.outstanding_at_window_end,
        answered: d.answered,
        timed_out: d.timed_out,
        failed: d.failed,
        duration_ms: if d.outstanding_at_window_end > 0 {
            d.last_resolved_ns.saturating_sub(window_end_ns) as f64 / 1e6
        } else {
            0.0
        },
    }
}

/// Folds the verdicts of parts (steps, or one class over the steps) into
/// `r`, the result of their merged recorders: valid only if every part is;
/// each part's reasons prefixed with its label; overloaded or short if any
/// part was; the drains added up.
fn fold(r: &mut RunResult, parts: &[(String, &RunResult)]) {
    r.valid = parts.iter().all(|(_, p)| p.valid);
    r.invalid_late_only = !r.valid && parts.iter().all(|(_, p)| p.valid || p.invalid_late_only);
    r.invalid_reasons = parts
        .iter()
        .flat_map(|(l, p)| p.invalid_reasons.iter().map(move |x| format!("{l}: {x}")))
        .collect();
    let so = &mut r.server_outcome;
    so.reasons = parts
        .iter()
        .flat_map(|(l, p)| {
            p.server_outcome
                .reasons
                .iter()
                .map(move |x| format!("{l}: {x}"))
        })
        .collect();
    so.ok = parts.iter().all(|(_, p)| p.server_outcome.ok);
    so.overloaded = parts.iter().any(|(_, p)| p.overloaded);
    so.shortfall = parts.iter().any(|(_, p)| p.server_outcome.shortfall);
    r.overloaded = so.overloaded;
    let why: Vec<String> = parts
        .iter()
        .filter_map(|(l, p)| p.overload_reason.as_ref().map(|x| format!("{l}: {x}")))
        .collect();
    r.overload_reason = (!why.is_empty()).then(|| why.join("; "));
    let mut d = Drain {
        outstanding_at_window_end: 0,
        answered: 0,
        timed_out: 0,
        failed: 0,
        duration_ms: 0.0,
    };
    for (_, p) in parts {
        d.outstanding_at_window_end += p.drain.outstanding_at_window_end;
        d.answered += p.drain.answered;
        d.timed_out += p.drain.timed_out;
        d.failed += p.drain.failed;
        d.duration_ms += p.drain.duration_ms;
    }
    r.drain = d;
}

fn merge_all<'a>(recs: impl IntoIterator<Item = &'a Recorder>) -> Recorder {
    let mut m = Recorder::new();
    for r in recs {
        m.merge(r);
    }
    m
}

fn window_end_ns(s: &StepData) -> u64 {
    s.window_start_ns + (s.duration_s * 1e9) as u64
}

/// Classes and the whole of one step. With several classes, each class's
/// measurement faults and overload also mark the step.
fn step_results(cfg: &Config, s: &StepData) -> (RunResult, BTreeMap<String, ClassReport>) {
    let mut classes = BTreeMap::new();
    let mut class_faults = Vec::new();
    let mut class_overload = Vec::new();
    let mut class_late = 0;
    let several = cfg.classes.len() > 1;
    for (i, rec) in s.classes.iter().enumerate() {
        let spec = &cfg.classes[i];
        let r = result_of(
            rec,
            Level {
                open_loop: cfg.open_loop,
                idle: cfg.idle,
                offered_rps: s.rate.map(|r| cfg.class_rate(i, r)),
                schedule_rps: s.rate.filter(|_| cfg.arrival == Arrival::Uniform),
                duration_s: s.duration_s,
                window_end_ns: window_end_ns(s),
                client_cpu_us: None,
                server_cpu_us: None,
                thread_cpu_shares: None,
                with_intervals: true,
                measurement_notes: Vec::new(),
                late_notes: 0,
                server_notes: Vec::new(),
                conns_open_at_end: None,
                class_level: several,
            },
        );
        if several {
            if r.invalid_late_only {
                class_late += r.invalid_reasons.len();
            }
            class_faults.extend(
                r.invalid_reasons
                    .iter()
                    .map(|x| format!("class {}: {x}", spec.name)),
            );
            if let Some(o) = &r.overload_reason {
                class_overload.push(format!("class {}: {o}", spec.name));
            }
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
    let mut measurement_notes = s.measurement_notes.clone();
    measurement_notes.extend(class_faults);
    let mut r = result_of(
        &total,
        Level {
            open_loop: cfg.open_loop,
            idle: cfg.idle,
            offered_rps: s.rate,
            schedule_rps: s.rate.filter(|_| cfg.arrival == Arrival::Uniform),
            duration_s: s.duration_s,
            window_end_ns: window_end_ns(s),
            client_cpu_us: Some(s.client_cpu_us),
            server_cpu_us: s.server_cpu_us,
            thread_cpu_shares: Some(&s.thread_cpu_shares),
            with_intervals: true,
            measurement_notes,
            late_notes: class_late,
            server_notes: s.notes.clone(),
            conns_open_at_end: s.conns_open_at_end,
            class_level: false,
        },
    );
    if !class_overload.is_empty() {
        // A class overloaded is the step overloaded, even when the other
        // classes' traffic hides it in the totals.
        r.server_outcome
            .reasons
            .extend(class_overload.iter().cloned());
        r.server_outcome.ok = false;
        let mut why: Vec<String> = r.overload_reason.take().into_iter().collect();
        why.extend(class_overload);
        r.overload_reason = Some(why.join("; "));
        r.overloaded = true;
        r.server_outcome.overloaded = true;
    }
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
        // The top level merges the steps' recorders (histograms, counters);
        // its verdicts fold the steps' (see `fold`).
        let total_s: f64 = data.steps.iter().map(|s| s.duration_s).sum();
        let offered = cfg.open_loop.then(|| {
            data.steps
                .iter()
                .map(|s| s.rate.unwrap_or(0.0) * s.duration_s)
                .sum::<f64>()
                / total_s
        });
        let label =
            |s: &StepData| format!("step {} ({} req/s)", s.index + 1, s.rate.unwrap_or(0.0));
        // The merged levels' verdicts are the steps' (`fold`).
        let merged_level = |offered_rps: Option<f64>, class_level: bool| Level {
            open_loop: cfg.open_loop,
            idle: cfg.idle,
            offered_rps,
            schedule_rps: offered.filter(|_| cfg.arrival == Arrival::Uniform),
            duration_s: total_s,
            window_end_ns: 0,
            client_cpu_us: None,
            server_cpu_us: None,
            thread_cpu_shares: None,
            with_intervals: false,
            measurement_notes: Vec::new(),
            late_notes: 0,
            server_notes: Vec::new(),
            conns_open_at_end: None,
            class_level,
        };
        let mut classes = BTreeMap::new();
        for (i, spec) in cfg.classes.iter().enumerate() {
            let rec = merge_all(data.steps.iter().map(|s| &s.classes[i]));
            let mut r = result_of(
                &rec,
                merged_level(offered.map(|o| cfg.class_rate(i, o)), cfg.classes.len() > 1),
            );
            let parts: Vec<(String, &RunResult)> = data
                .steps
                .iter()
                .zip(&per_step)
                .filter_map(|(s, (_, cl))| cl.get(&spec.name).map(|c| (label(s), &c.result)))
                .collect();
            fold(&mut r, &parts);
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
                client_cpu_us: Some(client_cpu),
                server_cpu_us: server_cpu,
                ..merged_level(offered, false)
            },
        );
        let parts: Vec<(String, &RunResult)> = data
            .steps
            .iter()
            .zip(&per_step)
            .map(|(s, (r, _))| (label(s), r))
            .collect();
        fold(&mut r, &parts);
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
        load_model: cfg.load_model().into(),
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
        depth: cfg.closed_loop().then_some(cfg.depth),
        size_bytes: cfg.echo.then_some(cfg.size),
        data_size_bytes: (!cfg.echo).then_some(cfg.data_size),
        rate_steps_rps: cfg.rate_steps.then(|| cfg.rates.clone()),
        start_at_unix_ms: cfg.start_at_unix_ms,
        prime: cfg.idle.then_some(cfg.prime),
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

/// Like `fmt_pcts`, with a `*` after each percentile the generator's own
/// error leaves untrusted (p50, p99, p99.9).
fn fmt_pcts_trust(p: &Percentiles, t: &Trusted) -> String {
    let m = |v: f64, ok: bool, w: usize| {
        let mark = if ok { " " } else { "*" };
        format!("{:>w$}{mark}", format!("{v:.1}"), w = w - 1)
    };
    format!(
        "{}{:>9.1}{}{}{:>10.1}{:>10.1}{:>9.1}",
        m(p.p50, t.p50, 9),
        p.p90,
        m(p.p99, t.p99, 9),
        m(p.p999, t.p999, 10),
        p.p9999,
        p.max,
        p.mean
    )
}

fn summary_block(s: &mut String, indent: &str, r: &RunResult) {
    let offered = r.offered_rps.map_or("no schedule".to_string(), |o| {
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
        "{indent}rate: {offered}, achieved {:.1} req/s (completed in the window); requests {}{scheduled} (sent {}), errors {}{}",
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
    let d = &r.drain;
    if d.outstanding_at_window_end > 0 {
        let _ = writeln!(
            s,
            "{indent}drain: {} outstanding at the window's end: {} answered, {} timed out, {} failed, over {:.1} ms",
            d.outstanding_at_window_end, d.answered, d.timed_out, d.failed, d.duration_ms
        );
    }
    if let Some(why) = &r.overload_reason {
        let _ = writeln!(s, "{indent}OVERLOADED: {why}");
    }
    let _ = writeln!(
        s,
        "{indent}latency µs      {:>9}{:>9}{:>9}{:>10}{:>10}{:>10}{:>9}",
        "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"
    );
    let _ = writeln!(
        s,
        "{indent}  corrected     {}",
        fmt_pcts_trust(&r.latency_us.corrected, &r.latency_trusted)
    );
    let _ = writeln!(
        s,
        "{indent}  uncorrected   {}",
        fmt_pcts(&r.latency_us.uncorrected)
    );
    let t = &r.latency_trusted;
    if !(t.p50 && t.p99 && t.p999) && r.requests > 0 {
        let _ = writeln!(
            s,
            "{indent}  * untrusted: the generator's send + receive lag there is not under max(10 % of it, 25 µs)"
        );
    }
    if let Some(p) = r.lower_bound_from_percentile {
        let _ = writeln!(
            s,
            "{indent}  censored: {} timed-out or lost requests ({:.2} %) recorded at their failure time; \
             percentiles from p{p:.2} on are lower bounds",
            r.censored,
            r.censored_fraction * 100.0
        );
    }
    let _ = writeln!(
        s,
        "{indent}send lag µs: p50 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1}{}",
        r.send_lag_us.p50,
        r.send_lag_us.p99,
        r.send_lag_us.p999,
        r.send_lag_us.max,
        if r.in_flight_cap_hits > 0 {
            format!("; in-flight cap hit {} times", r.in_flight_cap_hits)
        } else {
            String::new()
        }
    );
    match &r.receive_lag_us {
        Some(l) => {
            let _ = writeln!(
                s,
                "{indent}receive lag µs: p50 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1}",
                l.p50, l.p99, l.p999, l.max
            );
        }
        None => {
            let _ = writeln!(
                s,
                "{indent}receive lag: unavailable (no kernel receive timestamps)"
            );
        }
    }
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
    if let Some(n) = r.conns_open_at_end {
        let _ = writeln!(s, "{indent}connections open at the end of the hold: {n}");
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
            let _ = writeln!(
                s,
                "  {} measurement, server {}",
                if st.result.valid { "valid" } else { "INVALID" },
                if st.result.server_outcome.ok {
                    "ok"
                } else {
                    "NOT ok"
                }
            );
        }
        let _ = writeln!(s, "all steps:");
        summary_block(&mut s, "  ", &rep.result);
    }
    if let (Some(true), Some(why)) = (rep.result.client_bound, &rep.result.client_bound_reason) {
        let _ = writeln!(s, "client-bound: {why}");
    }
    let r = &rep.result;
    if r.valid {
        let _ = writeln!(
            s,
            "VALID measurement: the generator kept its schedule and read in time"
        );
    } else {
        let _ = writeln!(s, "INVALID measurement: {}", r.invalid_reasons.join("; "));
    }
    if r.server_outcome.ok {
        let _ = writeln!(
            s,
            "SERVER OK: every request answered correctly, in time, not overloaded"
        );
    } else {
        let _ = writeln!(s, "SERVER: {}", r.server_outcome.reasons.join("; "));
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
