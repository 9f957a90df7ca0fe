//! The syscall census (issue 11): for each scenario with `census = true`,
//! after its timed rounds, one short trial per variant of its own (never
//! overlapping a timed trial) counts the server's syscalls by name with the
//! kernel's syscall tracepoints through `perf stat` (`perf`), under the
//! load of the scenario's first client, and measures what counting costs:
//! server CPU per request in windows with and without perf attached,
//! interleaved. One file per census trial, `census/<scenario>--<variant>.json`
//! (`record`, schemas/census.schema.json).
//!
//! A census never fails the run: where perf is missing or refused, each
//! record says why (the report prints one line); where it breaks, the
//! record is `failed` with the reason.
//!
//! One fresh server per variant serves five load-generator runs: an
//! unrecorded warm-up, then without perf, with, with, without (ABBA, so a
//! drift over the four hits both modes alike). Each run has no warm-up of
//! its own: the counts, the CPU and the requests cover the same span, from
//! the load generator's start (connections included) to its exit.

pub mod perf;
pub mod record;

use crate::config::profile::{ClientSpec, LoadModel, Profile, ScenarioSpec};
use crate::run::plan::{self, ClientRun};
use crate::run::results;
use crate::run::sampler::{self, Sampler};
use crate::run::signals::{self, Interrupted};
use crate::run::trial::{self, Context};
use record::{CensusRecord, LoadUsed, Mode, PerfUsed, ServerUsed, Window};
use rtc_common::child::{ListeningChild, SpawnOptions, spawn_listening};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// Each recorded window's load (seconds): two with perf make the census.
pub const WINDOW_S: f64 = 0.4;
/// The unrecorded first run on the fresh server.
pub const WARMUP_S: f64 = 0.2;
/// The order of the runs on one server.
pub const ORDER: [Mode; 5] = [
    Mode::Warmup,
    Mode::WithoutPerf,
    Mode::WithPerf,
    Mode::WithPerf,
    Mode::WithoutPerf,
];
/// After the load generator exits, before the counters stop: the server
/// reads the clients' closes.
const SETTLE: Duration = Duration::from_millis(50);

/// Scenarios of `p` that ask for a census, among those `only` selects
/// (all when empty), in profile order.
pub fn scenarios(p: &Profile, only: &[String]) -> Vec<usize> {
    (0..p.scenarios.len())
        .filter(|&i| {
            p.scenarios[i].census && (only.is_empty() || only.contains(&p.scenarios[i].id))
        })
        .collect()
}

/// The variants a census counts: the scenario's own, not its A/A copies.
pub fn variants(s: &ScenarioSpec) -> Vec<&String> {
    s.variants
        .iter()
        .filter(|v| crate::config::expand::aa_original(v).is_none())
        .filter(|v| s.census_variants.is_empty() || s.census_variants.contains(v))
        .collect()
}

/// Estimated wall time of the census trials: per variant a server start,
/// five load runs (each ~0.15 s of start, connect and exit around its
/// load) and one perf process (~1 s to end: see `windows`).
pub fn seconds(p: &Profile, only: &[String]) -> f64 {
    let per_variant = 0.3 + WARMUP_S + 4.0 * WINDOW_S + 5.0 * 0.15 + 1.2;
    scenarios(p, only)
        .iter()
        .map(|&i| variants(&p.scenarios[i]).len() as f64 * per_variant)
        .sum()
}

/// Runs the census of scenario `si`, one record per variant written to
/// `census/`; `note` gets one line per variant. Err only when interrupted
/// (nothing is written for the unfinished variant).
pub fn run_scenario(
    ctx: &Context,
    si: usize,
    availability: &perf::Availability,
    note: &mut dyn FnMut(String),
) -> Result<(), Interrupted> {
    let scenario = &ctx.profile.scenarios[si];
    let dir = ctx.run.root.join(record::DIR);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        note(format!(
            "census of {}: cannot create {}: {e}",
            scenario.id,
            dir.display()
        ));
        return Ok(());
    }
    for v in variants(scenario) {
        if signals::interrupted() {
            return Err(Interrupted);
        }
        let language = ctx.variants[v].language;
        let mut rec = CensusRecord::new(
            &scenario.id,
            v,
            language,
            results::rfc3339(SystemTime::now()),
        );
        match availability {
            perf::Availability::Unusable(why) => {
                rec.status = record::Status::Unavailable;
                rec.reason = Some(why.clone());
            }
            perf::Availability::Usable(p) => {
                run_variant(ctx, scenario, v, p, &mut rec)?;
                rec.derive();
                note(summary_line(&rec));
            }
        }
        rec.ended_at = results::rfc3339(SystemTime::now());
        if let Err(e) = results::write_json(&record::path(&ctx.run.root, &scenario.id, v), &rec) {
            note(format!("census of {} {v}: {e:#}", scenario.id));
        }
    }
    Ok(())
}

/// "census echo-open-64b go: 7.9 syscalls/request (read 2.0, futex 1.9,
/// ...); server CPU/request with perf 1.21× without".
pub fn summary_line(r: &CensusRecord) -> String {
    if r.status != record::Status::Ok {
        return format!(
            "census {} {}: {}: {}",
            r.scenario,
            r.variant,
            if r.status == record::Status::Failed {
                "failed"
            } else {
                "not measured"
            },
            r.reason.clone().unwrap_or_default()
        );
    }
    let mut top: Vec<(&String, &f64)> = r.syscalls_per_request.iter().collect();
    top.sort_by(|a, b| b.1.total_cmp(a.1));
    let top: Vec<String> = top
        .iter()
        .take(4)
        .map(|(n, v)| format!("{n} {v:.2}"))
        .collect();
    format!(
        "census {} {}: {} syscalls/request ({}); server CPU/request with perf {} without",
        r.scenario,
        r.variant,
        r.total_per_request
            .map(|t| format!("{t:.2}"))
            .unwrap_or_else(|| "?".into()),
        top.join(", "),
        r.overhead_ratio
            .map(|x| format!("{x:.2}×"))
            .unwrap_or_else(|| "n/a ×".into())
    )
}

/// The load of one census window: the scenario's first client, no
/// warm-up, one rate (the middle step of a stepped client).
struct Load {
    template: ClientSpec,
    rate: Option<f64>,
    step: Option<usize>,
    steps: usize,
    mix: Option<String>,
}

fn load_of(
    ctx: &Context,
    scenario: &ScenarioSpec,
    language: crate::config::profile::Language,
) -> Result<Load, String> {
    let c = &scenario.clients[0];
    if c.model == LoadModel::Idle {
        return Err(format!("client {}: idle, no requests to count", c.name));
    }
    let rates = plan::client_rates(c, scenario, ctx.capacities)
        .map_err(|e| format!("client {}: {e}", c.name))?;
    let (rate, step) = record::pick_rate(&rates);
    let mix = c
        .mix
        .as_ref()
        .map(|m| {
            plan::resolve_mix(
                m,
                ctx.rounds_per_ms.get(&language).copied().unwrap_or(1000.0),
            )
        })
        .transpose()
        .map_err(|e| format!("client {}: {e}", c.name))?;
    let mut template = c.clone();
    template.warmup_s = Some(0.0);
    template.rate = rate;
    template.rate_steps = None;
    template.rate_fractions = None;
    template.of_capacity = None;
    Ok(Load {
        template,
        rate,
        step,
        steps: rates.len(),
        mix,
    })
}

fn run_variant(
    ctx: &Context,
    scenario: &ScenarioSpec,
    variant_name: &str,
    perf: &perf::Perf,
    rec: &mut CensusRecord,
) -> Result<(), Interrupted> {
    let load = match load_of(ctx, scenario, ctx.variants[variant_name].language) {
        Ok(l) => l,
        Err(e) => {
            rec.fail(e);
            return Ok(());
        }
    };
    let variant = &ctx.variants[variant_name];
    let workers = plan::workers_for(variant, scenario, ctx.server_cpus.len());
    let data_file = ctx.data_file.to_string_lossy().into_owned();
    let args = plan::server_args(variant, scenario, workers, Some(&data_file));
    let mut cmd = Command::new(ctx.bin_dir.join(&variant.server));
    cmd.args(&args).env(trial::RUN_MARKER_ENV, &ctx.run.root);
    let opts = SpawnOptions {
        cpus: Some(ctx.server_cpus.to_vec()),
        die_with_parent: true,
        timeout: Some(Duration::from_secs(10)),
    };
    let mut server = match spawn_listening(cmd, &opts) {
        Ok(s) => s,
        Err(e) => {
            rec.fail(format!("server did not start: {e}"));
            return Ok(());
        }
    };
    rec.server = Some(ServerUsed {
        binary: variant.server.clone(),
        args,
        workers,
        cpus_requested: rtc_common::affinity::format_cpu_list(ctx.server_cpus),
        cpus_allowed_list: trial::cpus_allowed_list(server.pid()),
    });
    let result = windows(ctx, scenario, &load, perf, &server, rec);
    let alive = matches!(server.child.try_wait(), Ok(None));
    if !alive {
        rec.fail(format!(
            "the server exited during the census; stderr: {}",
            server.stderr_tail(3)
        ));
    }
    server.terminate(Duration::from_secs(2));
    result
}

/// The five runs on one server, each recorded in `rec.windows`. One perf
/// process spans the two windows with perf, its counters on only while
/// each runs: closing a tracepoint counter waits for an RCU grace period
/// (~25 ms each on the development VM, ~1 s for the 36), so perf is
/// attached and ended once, outside every window.
fn windows(
    ctx: &Context,
    scenario: &ScenarioSpec,
    load: &Load,
    perf: &perf::Perf,
    server: &ListeningChild,
    rec: &mut CensusRecord,
) -> Result<(), Interrupted> {
    let scratch = ctx.run.scratch();
    let _ = std::fs::create_dir_all(&scratch);
    let origin = Instant::now();
    let pid = server.pid();
    let base = scratch.join(format!("census--{}--{}", rec.scenario, rec.variant));
    let mut attached: Option<perf::Attached> = None;
    for (i, &mode) in ORDER.iter().enumerate() {
        if signals::interrupted() {
            return Err(Interrupted);
        }
        if mode == Mode::WithPerf {
            if attached.is_none() {
                match perf::Attached::start(
                    perf,
                    pid,
                    ctx.client_cpus,
                    &base,
                    (trial::RUN_MARKER_ENV, &ctx.run.root),
                ) {
                    Ok(a) => {
                        rec.perf = Some(PerfUsed {
                            version: perf.version.clone(),
                            command: a.command.clone(),
                            events: perf.events.len(),
                        });
                        attached = Some(a);
                    }
                    Err(e) => {
                        rec.fail(format!("perf: {e}"));
                        return Ok(());
                    }
                }
            }
            if let Some(Err(e)) = attached.as_mut().map(perf::Attached::enable) {
                rec.fail(format!("perf: {e}"));
                return Ok(());
            }
        }
        let window_s = if mode == Mode::Warmup {
            WARMUP_S
        } else {
            WINDOW_S
        };
        let sampler = Sampler::start(pid, origin, trial::SAMPLE_PERIOD);
        let t0 = Instant::now();
        let doc = run_load(ctx, scenario, load, window_s, server, &base, rec)?;
        if !signals::sleep(SETTLE) {
            return Err(Interrupted);
        }
        let samples = sampler::full_only(&sampler.stop());
        let duration_ms = t0.elapsed().as_secs_f64() * 1e3;
        if mode == Mode::WithPerf {
            if let Some(Err(e)) = attached.as_mut().map(perf::Attached::disable) {
                rec.fail(format!("perf: {e}"));
                return Ok(());
            }
            if ORDER.get(i + 1) != Some(&Mode::WithPerf) {
                let counts = attached.take().map(perf::Attached::finish);
                match counts {
                    Some(Ok(c)) => (rec.syscalls, rec.syscalls_total) = perf::by_name(&c),
                    Some(Err(e)) => {
                        rec.fail(format!("perf: {e}"));
                        return Ok(());
                    }
                    None => {}
                }
            }
        }
        let doc = match doc {
            Ok(d) => d,
            Err(e) => {
                rec.fail(e);
                return Ok(());
            }
        };
        let delta = |f: fn(&sampler::ProcSample) -> u64| match (samples.first(), samples.last()) {
            (Some(a), Some(b)) if samples.len() >= 2 => Some(f(b).saturating_sub(f(a)) as f64),
            _ => None,
        };
        let num = |k: &str| doc.get(k).and_then(Value::as_u64).unwrap_or(0);
        rec.windows.push(Window {
            mode,
            requests: num("requests"),
            requests_sent: num("requests_sent"),
            errors: doc
                .get("errors")
                .and_then(Value::as_object)
                .map(|o| o.values().filter_map(Value::as_u64).sum())
                .unwrap_or(0),
            valid: doc.get("valid").and_then(Value::as_bool).unwrap_or(false),
            invalid_reasons: doc
                .get("invalid_reasons")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            duration_ms,
            server_cpu_us: delta(sampler::ProcSample::cpu_us),
            server_ctx_switches: delta(sampler::ProcSample::ctx_switches),
        });
    }
    Ok(())
}

/// One load-generator run of `window_s` seconds; its JSON document, or
/// why there is none.
fn run_load(
    ctx: &Context,
    scenario: &ScenarioSpec,
    load: &Load,
    window_s: f64,
    server: &ListeningChild,
    base: &std::path::Path,
    rec: &mut CensusRecord,
) -> Result<Result<Value, String>, Interrupted> {
    let d = &ctx.profile.defaults;
    let mut spec = load.template.clone();
    spec.duration_s = Some(window_s);
    let file = |ext: &str| {
        let mut s = base.as_os_str().to_owned();
        s.push(format!(".loadgen.{ext}"));
        std::path::PathBuf::from(s)
    };
    let (json, hlog, hgrm, errf) = (file("json"), file("hlog"), file("hgrm"), file("stderr"));
    let (js, hl, hg) = (
        json.to_string_lossy().into_owned(),
        hlog.to_string_lossy().into_owned(),
        hgrm.to_string_lossy().into_owned(),
    );
    let client_cpus = rtc_common::affinity::format_cpu_list(ctx.client_cpus);
    let run = ClientRun {
        addr: server.addr,
        client_cpus: &client_cpus,
        threads: ctx.client_cpus.len(),
        rates: load.rate.into_iter().collect(),
        mix: load.mix.clone(),
        data_file_bytes: d.data_file_bytes,
        json: &js,
        hlog: &hl,
        hgrm: &hg,
        server_pid: None,
    };
    let args = plan::loadgen_args(&spec, scenario, d, &run);
    if rec.load.is_none() && window_s == WINDOW_S {
        rec.load = Some(LoadUsed {
            client: spec.name.clone(),
            model: format!("{:?}", spec.model).to_lowercase(),
            conns: spec.conns,
            rate_rps: load.rate,
            step: load.step,
            steps: load.steps,
            window_s: WINDOW_S,
            loadgen_args: args.clone(),
        });
    }
    let cleanup = || {
        for f in [&json, &hlog, &hgrm, &errf] {
            let _ = std::fs::remove_file(f);
        }
    };
    let mut child = match trial::spawn_client(
        &ctx.bin_dir.join("loadgen"),
        &args,
        ctx.client_cpus,
        spec.nice.unwrap_or(0),
        &ctx.run.root,
        &errf,
    ) {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("cannot start the load generator: {e}"))),
    };
    let deadline = Instant::now()
        + Duration::from_secs_f64(plan::client_seconds(&spec, scenario, d))
        + Duration::from_secs_f64(spec.timeout_s.unwrap_or(5.0) + 10.0);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if signals::interrupted() => {
                let _ = child.kill();
                let _ = child.wait();
                cleanup();
                return Err(Interrupted);
            }
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let stderr = std::fs::read_to_string(&errf).unwrap_or_default();
    let doc = std::fs::read(&json)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    cleanup();
    let last = stderr.lines().last().unwrap_or_default().to_string();
    Ok(match (status.and_then(|s| s.code()), doc) {
        (None, _) => Err("the load generator did not finish in time".into()),
        (Some(0 | 1), Some(doc)) => Ok(doc),
        (Some(code), _) => Err(format!(
            "the load generator exited with {code} and no usable JSON: {last}"
        )),
    })
}
