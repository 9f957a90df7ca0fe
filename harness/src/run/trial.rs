//! One trial: a fresh server pinned to the server CPUs, a correctness probe,
//! the load generator(s) pinned to the client CPUs, `/proc` sampling
//! throughout, then a trial JSON written whole. Every child is ended before
//! this returns, whatever happens.

use crate::analyse::metrics;
use crate::config::profile::{Profile, Variants};
use crate::run::plan::{self, ClientRun, PlannedTrial};
use crate::run::results::{self, RunDir};
use crate::run::sampler::{ProcSample, Sampler};
use crate::run::signals::{self, Interrupted};
use rtc_common::child::{ListeningChild, SpawnOptions, spawn_listening};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

pub const SAMPLE_PERIOD: Duration = Duration::from_millis(100);

/// Everything a trial needs that does not change between trials.
pub struct Context<'a> {
    /// Repository root (the c12 compile check builds from its sources).
    pub root: &'a Path,
    pub bin_dir: &'a Path,
    pub run: &'a RunDir,
    pub profile: &'a Profile,
    pub variants: &'a Variants,
    pub server_cpus: &'a [usize],
    pub client_cpus: &'a [usize],
    /// Every CPU the harness may use: microbenchmarks run alone, on all of them.
    pub all_cpus: &'a [usize],
    pub data_file: &'a Path,
    pub rounds_per_ms: f64,
    /// scenario id -> variant -> median closed-loop throughput (req/s).
    pub capacities: &'a BTreeMap<String, BTreeMap<String, f64>>,
    pub probe: &'a [rtc_conformance::Vector],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Ran, and every load generator marked its run valid.
    Ok,
    /// Ran, but a load generator marked its run invalid (kept, never used as valid).
    Invalid,
    /// Could not run or did not finish: server failed to start, crashed, probe failed...
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerRecord {
    pub binary: String,
    pub args: Vec<String>,
    pub pid: Option<u32>,
    pub workers: usize,
    pub cpus_requested: String,
    /// What the kernel says the process may run on (Cpus_allowed_list).
    pub cpus_allowed_list: Option<String>,
    /// The server's own configuration line (JSON on stderr at start).
    pub config: Option<serde_json::Value>,
    /// Threads right after start, before any load.
    pub threads_at_start: Option<u64>,
    pub alive_after_load: Option<bool>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub needed_sigkill: bool,
    pub stderr_tail: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRecord {
    pub name: String,
    pub args: Vec<String>,
    pub pid: Option<u32>,
    pub cpus_allowed_list: Option<String>,
    pub exit_code: Option<i32>,
    /// Launch time, ms after the trial's origin (samples use the same origin).
    pub launched_ms: f64,
    pub finished_ms: f64,
    /// The load generator's JSON document, verbatim.
    pub document: Option<serde_json::Value>,
    pub hlog: Option<String>,
    pub hgrm: Option<String>,
    /// Per-class and per-step distributions (`hgrm/<trial>--<client>.<part>.hgrm`).
    #[serde(default)]
    pub hgrm_parts: Vec<String>,
    pub stderr_tail: Vec<String>,
    pub samples: Vec<ProcSample>,
}

/// The measurement's own validity: faults of the load generator (it fell
/// behind, was client-bound, its lag too large for a percentile) and of
/// nothing else.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub valid: bool,
    pub reasons: Vec<String>,
    /// Metric prefixes left out of an otherwise valid trial, with why.
    pub dropped: Vec<Dropped>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    /// A metric name or a prefix of dotted segments (`main.step3`).
    pub prefix: String,
    pub reason: String,
}

/// The server's outcome over the trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerOutcome {
    pub ok: bool,
    /// The process died during the load.
    pub crashed: bool,
    /// Requests that failed: resets, closed connections, wrong answers.
    pub errors: u64,
    /// Requests unanswered within the generator's timeout.
    pub timeouts: u64,
    /// The server fell behind the offered rate (its backlog grew).
    pub overloaded: bool,
    pub reasons: Vec<String>,
}

impl Default for ServerOutcome {
    fn default() -> Self {
        ServerOutcome {
            ok: true,
            crashed: false,
            errors: 0,
            timeouts: 0,
            overloaded: false,
            reasons: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialRecord {
    pub schema_version: u32,
    pub trial_id: String,
    pub scenario: String,
    pub variant: String,
    pub language: crate::config::profile::Language,
    pub repeat: usize,
    pub claims: Vec<String>,
    pub status: Status,
    pub problems: Vec<String>,
    pub started_at: String,
    pub ended_at: String,
    /// Unix time (ms) of the trial's origin: samples' `t_ms` count from it.
    pub origin_unix_ms: f64,
    /// ms after the origin when the load began and ended (all clients).
    pub load_start_ms: Option<f64>,
    pub load_end_ms: Option<f64>,
    pub server: ServerRecord,
    pub clients: Vec<ClientRecord>,
    pub server_samples: Vec<ProcSample>,
    /// Flat metric name -> value, what the statistics are computed from.
    pub metrics: BTreeMap<String, f64>,
    /// Whether the instrument measured what it was asked to, and the
    /// parts of the trial left out (a rate step it could not keep).
    #[serde(default)]
    pub measurement: Measurement,
    /// How the server fared: a result the claims may read, never a
    /// broken measurement.
    #[serde(default)]
    pub server_outcome: ServerOutcome,
    /// Microbenchmark trials: the program's JSON document, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub micro_document: Option<serde_json::Value>,
}

impl TrialRecord {
    /// Whether a load generator of the trial said its own CPU, not the
    /// server, limited the throughput (closed loop) or the schedule (open).
    pub fn client_bound(&self) -> bool {
        self.clients.iter().any(|c| {
            c.document
                .as_ref()
                .and_then(|d| d.pointer("/client_bound")?.as_bool())
                .unwrap_or(false)
        })
    }
}

/// Runs one trial, writes its JSON, then pauses. Err only when interrupted
/// before the trial finished (children already ended; nothing written for
/// the unfinished trial). A finished trial is always returned — also when
/// the interrupt arrives during the pause after it, which the caller sees in
/// `signals::interrupted()`.
pub fn run(ctx: &Context, planned: &PlannedTrial) -> Result<TrialRecord, Interrupted> {
    let scenario = &ctx.profile.scenarios[planned.scenario];
    let variant = &ctx.variants[&planned.variant];
    let d = &ctx.profile.defaults;
    let trial_id = planned.id(ctx.profile);
    let origin = Instant::now();
    let now = SystemTime::now();
    let started_at = results::rfc3339(now);
    let origin_unix_ms = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0);
    let workers = plan::workers_for(variant, scenario, ctx.server_cpus.len());
    let data_file = ctx.data_file.to_string_lossy().into_owned();
    let server_args = plan::server_args(variant, scenario, workers, Some(&data_file));
    let server_bin = ctx.bin_dir.join(&variant.server);

    let mut rec = TrialRecord {
        schema_version: results::SCHEMA_VERSION,
        trial_id: trial_id.clone(),
        scenario: scenario.id.clone(),
        variant: planned.variant.clone(),
        language: variant.language,
        repeat: planned.repeat + 1,
        claims: scenario.claims.clone(),
        status: Status::Ok,
        problems: Vec::new(),
        started_at,
        ended_at: String::new(),
        origin_unix_ms,
        load_start_ms: None,
        load_end_ms: None,
        server: ServerRecord {
            binary: variant.server.clone(),
            args: server_args.clone(),
            pid: None,
            workers,
            cpus_requested: rtc_common::affinity::format_cpu_list(ctx.server_cpus),
            cpus_allowed_list: None,
            config: None,
            threads_at_start: None,
            alive_after_load: None,
            exit_code: None,
            exit_signal: None,
            needed_sigkill: false,
            stderr_tail: Vec::new(),
        },
        clients: Vec::new(),
        server_samples: Vec::new(),
        metrics: BTreeMap::new(),
        measurement: Measurement::default(),
        server_outcome: ServerOutcome::default(),
        micro_document: None,
    };

    let outcome = drive(ctx, planned, &mut rec, &server_bin, &server_args, origin);
    rec.ended_at = results::rfc3339(SystemTime::now());
    if let Err(Interrupted) = outcome {
        return Err(Interrupted);
    }
    if rec.status != Status::Failed {
        rec.metrics = metrics::derive(&rec, scenario, d);
    }
    if let Err(e) = results::write_json(&ctx.run.trial(&trial_id), &rec) {
        rec.status = Status::Failed;
        rec.problems.push(e.to_string());
    }
    // The trial is on disk: an interrupt from here on only cuts the pause.
    signals::sleep(Duration::from_secs_f64(d.pause_s));
    Ok(rec)
}

fn fail(rec: &mut TrialRecord, why: impl Into<String>) {
    rec.status = Status::Failed;
    rec.problems.push(why.into());
}

/// The trial proper; `rec` is filled in as far as it gets.
fn drive(
    ctx: &Context,
    planned: &PlannedTrial,
    rec: &mut TrialRecord,
    server_bin: &Path,
    server_args: &[String],
    origin: Instant,
) -> Result<(), Interrupted> {
    let scenario = &ctx.profile.scenarios[planned.scenario];
    let d = &ctx.profile.defaults;

    // Resolve what each client sends before anything starts.
    let mut client_runs = Vec::new();
    for c in &scenario.clients {
        let rates = match (&c.rate, &c.rate_steps, &c.rate_fractions) {
            (Some(r), _, _) => vec![*r],
            (_, Some(steps), _) => steps.clone(),
            (_, _, Some(fr)) => {
                let cap_id = c.of_capacity.as_deref().unwrap_or_default();
                let caps = ctx.capacities.get(cap_id).cloned().unwrap_or_default();
                let originals: Vec<String> = scenario
                    .variants
                    .iter()
                    .filter(|v| crate::config::expand::aa_original(v).is_none())
                    .cloned()
                    .collect();
                match plan::rates_from_capacity(fr, &caps, &originals) {
                    Ok(r) => r,
                    Err(e) => {
                        fail(
                            rec,
                            format!("client {}: rates from scenario {cap_id}: {e}", c.name),
                        );
                        return Ok(());
                    }
                }
            }
            _ => Vec::new(),
        };
        let mix = match &c.mix {
            Some(m) => match plan::resolve_mix(m, ctx.rounds_per_ms) {
                Ok(m) => Some(m),
                Err(e) => {
                    fail(rec, format!("client {}: {e}", c.name));
                    return Ok(());
                }
            },
            None => None,
        };
        client_runs.push((c, rates, mix));
    }

    if let Some(why) = scenario
        .needs_threads
        .and_then(|n| plan::refuse_threads(n, plan::thread_room()))
    {
        fail(rec, why);
        return Ok(());
    }

    // A fresh server for every trial.
    let mut cmd = Command::new(server_bin);
    cmd.args(server_args).env(RUN_MARKER_ENV, &ctx.run.root);
    let opts = SpawnOptions {
        cpus: Some(ctx.server_cpus.to_vec()),
        die_with_parent: true,
        timeout: Some(Duration::from_secs(10)),
    };
    let mut server = match spawn_listening(cmd, &opts) {
        Ok(s) => s,
        Err(e) => {
            use rtc_common::child::ChildError;
            // The child is gone with its stderr; the error carries the last lines.
            if let ChildError::ExitedEarly { stderr, .. }
            | ChildError::NoListeningLine { stderr, .. } = &e
            {
                rec.server.stderr_tail = stderr
                    .split(" | ")
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
            }
            fail(rec, format!("server did not start: {e}"));
            return Ok(());
        }
    };
    rec.server.pid = Some(server.pid());
    rec.server.cpus_allowed_list = cpus_allowed_list(server.pid());
    rec.server.config = wait_config_line(&server);
    rec.server.threads_at_start =
        crate::run::sampler::sample_once(server.pid(), 0.0).map(|s| s.threads);

    let result = with_server(ctx, rec, &mut server, &client_runs, origin, scenario, d);

    // Always end the server, and record how it ended.
    let alive = matches!(server.child.try_wait(), Ok(None));
    if rec.server.alive_after_load.is_none() {
        rec.server.alive_after_load = Some(alive);
    }
    let (status, killed) = server.terminate(Duration::from_secs(2));
    rec.server.needed_sigkill = killed;
    if let Some(s) = status {
        use std::os::unix::process::ExitStatusExt;
        rec.server.exit_code = s.code();
        rec.server.exit_signal = s.signal();
    }
    std::thread::sleep(Duration::from_millis(30)); // let the stderr reader catch the last lines
    rec.server.stderr_tail = server
        .stderr_lines()
        .into_iter()
        .rev()
        .take(20)
        .rev()
        .collect();
    if rec.server.alive_after_load == Some(false) {
        // A server that dies under load is a result (server_outcome), not a
        // broken trial: the claims' outcome rules read it.
        let tail = server.stderr_tail(3);
        rec.problems.push(format!(
            "server exited during the trial ({}); stderr: {tail}",
            exit_text(rec.server.exit_code, rec.server.exit_signal)
        ));
    } else if killed {
        rec.problems
            .push("server ignored SIGTERM for 2 s and was killed".into());
    } else if rec.server.exit_code != Some(0) && result.is_ok() {
        rec.problems.push(format!(
            "server exit after SIGTERM: {}",
            exit_text(rec.server.exit_code, rec.server.exit_signal)
        ));
    }
    if rec.status != Status::Failed {
        judge(rec);
    }
    // An interrupt that arrived while the load ran may have reached the
    // children too (Ctrl-C signals the whole foreground process group), so
    // what they measured is not a finished trial.
    if result.is_ok() && signals::interrupted() {
        return Err(Interrupted);
    }
    result
}

fn exit_text(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exit code {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown exit".into(),
    }
}

type ClientPlan<'a> = (
    &'a crate::config::profile::ClientSpec,
    Vec<f64>,
    Option<String>,
);

fn with_server(
    ctx: &Context,
    rec: &mut TrialRecord,
    server: &mut ListeningChild,
    client_runs: &[ClientPlan],
    origin: Instant,
    scenario: &crate::config::profile::ScenarioSpec,
    d: &crate::config::profile::Defaults,
) -> Result<(), Interrupted> {
    // Verify before load, as TechEmpower does: a few requests of each kind, bytes checked.
    for v in ctx.probe.iter().filter(|v| {
        v.workload == scenario.workload.as_str()
            && (v.workload == "echo" || v.data_file == scenario.data_file)
    }) {
        if let Err(e) = rtc_conformance::run_vector(server.addr, v, Duration::from_secs(5)) {
            fail(rec, format!("correctness probe {} failed: {e}", v.name));
            return Ok(());
        }
    }
    if signals::interrupted() {
        return Err(Interrupted);
    }

    let sampler = Sampler::start(server.pid(), origin, SAMPLE_PERIOD);
    // A few samples of the idle server: the RSS and thread baseline.
    if !signals::sleep(Duration::from_millis(120)) {
        drop(sampler);
        return Err(Interrupted);
    }

    let scratch = ctx.run.scratch();
    let _ = std::fs::create_dir_all(&scratch);
    let client_cpus = rtc_common::affinity::format_cpu_list(ctx.client_cpus);
    let mut running: Vec<(
        ClientRecord,
        Child,
        Sampler,
        PathBuf,
        PathBuf,
        PathBuf,
        PathBuf,
    )> = Vec::new();
    let mut deadline_s: f64 = 0.0;
    rec.load_start_ms = Some(origin.elapsed().as_secs_f64() * 1e3);
    for (c, rates, mix) in client_runs {
        let base = format!("{}--{}", rec.trial_id, c.name);
        let (json, hlog, hgrm, errf) = (
            scratch.join(format!("{base}.json")),
            scratch.join(format!("{base}.hlog")),
            scratch.join(format!("{base}.hgrm")),
            scratch.join(format!("{base}.stderr")),
        );
        let (js, hl, hg) = (
            json.to_string_lossy().into_owned(),
            hlog.to_string_lossy().into_owned(),
            hgrm.to_string_lossy().into_owned(),
        );
        let run = ClientRun {
            addr: server.addr,
            client_cpus: &client_cpus,
            threads: ctx.client_cpus.len(),
            rates: rates.clone(),
            mix: mix.clone(),
            data_file_bytes: d.data_file_bytes,
            json: &js,
            hlog: &hl,
            hgrm: &hg,
            server_pid: Some(server.pid()),
        };
        let args = plan::loadgen_args(c, scenario, d, &run);
        let timeout_s = c.timeout_s.unwrap_or(5.0);
        deadline_s = deadline_s.max(plan::client_seconds(c, scenario, d) + timeout_s + 10.0);
        let launched_ms = origin.elapsed().as_secs_f64() * 1e3;
        match spawn_client(
            &ctx.bin_dir.join("loadgen"),
            &args,
            ctx.client_cpus,
            c.nice.unwrap_or(0),
            &ctx.run.root,
            &errf,
        ) {
            Ok(child) => {
                let pid = child.id();
                let crec = ClientRecord {
                    name: c.name.clone(),
                    args,
                    pid: Some(pid),
                    cpus_allowed_list: cpus_allowed_list(pid),
                    exit_code: None,
                    launched_ms,
                    finished_ms: 0.0,
                    document: None,
                    hlog: None,
                    hgrm: None,
                    hgrm_parts: Vec::new(),
                    stderr_tail: Vec::new(),
                    samples: Vec::new(),
                };
                let s = Sampler::start(pid, origin, SAMPLE_PERIOD);
                running.push((crec, child, s, json, hlog, hgrm, errf));
            }
            Err(e) => {
                fail(rec, format!("cannot start the load generator: {e}"));
                break;
            }
        }
    }

    // Wait for every client, bounded; the server dying ends nothing early —
    // the clients see it and stop on their own timeout.
    let wait_start = Instant::now();
    let mut interrupted = false;
    loop {
        let mut all_done = true;
        for (crec, child, ..) in running.iter_mut() {
            if crec.exit_code.is_none() && crec.finished_ms == 0.0 {
                match child.try_wait() {
                    Ok(Some(st)) => {
                        crec.exit_code = Some(st.code().unwrap_or(-1));
                        crec.finished_ms = origin.elapsed().as_secs_f64() * 1e3;
                    }
                    _ => all_done = false,
                }
            }
        }
        if all_done {
            break;
        }
        if signals::interrupted() {
            interrupted = true;
            break;
        }
        if wait_start.elapsed().as_secs_f64() > deadline_s {
            rec.problems.push(format!(
                "load generator still running after {deadline_s:.0} s: killed"
            ));
            break;
        }
        if rec.server.alive_after_load.is_none() && !matches!(server.child.try_wait(), Ok(None)) {
            rec.server.alive_after_load = Some(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    rec.load_end_ms = Some(origin.elapsed().as_secs_f64() * 1e3);
    for (crec, child, ..) in running.iter_mut() {
        if crec.exit_code.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            crec.finished_ms = origin.elapsed().as_secs_f64() * 1e3;
            if !interrupted {
                fail(
                    rec,
                    format!("load generator {} did not finish in time", crec.name),
                );
            }
        }
    }
    if interrupted {
        drop(running);
        drop(sampler);
        return Err(Interrupted);
    }

    // Idle observation (blocking-pool shrink, threads left behind).
    if scenario.observe_after_s > 0.0
        && !signals::sleep(Duration::from_secs_f64(scenario.observe_after_s))
    {
        return Err(Interrupted);
    }
    if rec.server.alive_after_load.is_none() {
        rec.server.alive_after_load = Some(matches!(server.child.try_wait(), Ok(None)));
    }
    rec.server_samples = sampler.stop();

    for (mut crec, _child, s, json, hlog, hgrm, errf) in running {
        crec.samples = s.stop();
        crec.stderr_tail = std::fs::read_to_string(&errf)
            .map(|t| {
                t.lines()
                    .rev()
                    .take(10)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let _ = std::fs::remove_file(&errf);
        match std::fs::read(&json)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        {
            Some(doc) => crec.document = Some(doc),
            None => fail(
                rec,
                format!(
                    "load generator {} wrote no JSON (exit {:?}): {}",
                    crec.name,
                    crec.exit_code,
                    crec.stderr_tail.last().cloned().unwrap_or_default()
                ),
            ),
        }
        let _ = std::fs::remove_file(&json);
        for (from, to, slot) in [
            (
                &hlog,
                ctx.run.hlog(&rec.trial_id, &crec.name),
                &mut crec.hlog,
            ),
            (
                &hgrm,
                ctx.run.hgrm(&rec.trial_id, &crec.name),
                &mut crec.hgrm,
            ),
        ] {
            if from.exists() && results::adopt(from, &to).is_ok() {
                *slot = Some(ctx.run.rel(&to));
            }
        }
        // The load generator also writes one distribution per class and per
        // rate step next to the merged one (`X.CLASS.hgrm`, `X.stepN.hgrm`).
        let prefix = format!("{}--{}.", rec.trial_id, crec.name);
        if let Ok(dir) = std::fs::read_dir(&scratch) {
            let mut parts: Vec<String> = dir
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix) && n.ends_with(".hgrm"))
                .collect();
            parts.sort();
            for name in parts {
                let to = ctx.run.root.join("hgrm").join(&name);
                if results::adopt(&scratch.join(&name), &to).is_ok() {
                    crec.hgrm_parts.push(ctx.run.rel(&to));
                }
            }
        }
        match crec.exit_code {
            Some(0) | Some(1) => {}
            other => fail(
                rec,
                format!(
                    "load generator {} exited with {other:?}: {}",
                    crec.name,
                    crec.stderr_tail.join(" | ")
                ),
            ),
        }
        rec.clients.push(crec);
    }
    Ok(())
}

/// Sorts the trial's faults: the load generators' measurement faults make
/// it invalid; the server's failures are its outcome.
fn judge(rec: &mut TrialRecord) {
    let docs: Vec<(&str, &serde_json::Value)> = rec
        .clients
        .iter()
        .filter_map(|c| c.document.as_ref().map(|d| (c.name.as_str(), d)))
        .collect();
    let (m, o) = crate::run::outcome::judge(&docs, rec.server.alive_after_load);
    if !m.valid {
        rec.status = Status::Invalid;
        rec.problems
            .push(format!("measurement invalid: {}", m.reasons.join("; ")));
    }
    for d in &m.dropped {
        if d.prefix.starts_with("server.") || !d.prefix.contains("latency_us") {
            // One line per dropped step (not per merged figure).
            if !rec.problems.iter().any(|p| p.ends_with(&d.reason)) {
                rec.problems.push(format!("{}: {}", d.prefix, d.reason));
            }
        }
    }
    if !o.ok {
        rec.problems
            .push(format!("server outcome: {}", o.reasons.join("; ")));
    }
    rec.measurement = m;
    rec.server_outcome = o;
}

/// Every child carries this variable (the run directory), so a test can
/// prove that none outlives the harness.
pub const RUN_MARKER_ENV: &str = "RTC_HARNESS_RUN";

pub fn spawn_client(
    bin: &Path,
    args: &[String],
    cpus: &[usize],
    nice: i32,
    run_root: &Path,
    stderr_file: &Path,
) -> std::io::Result<Child> {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env(RUN_MARKER_ENV, run_root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr_file)?);
    let cpus = cpus.to_vec();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if nice != 0 && libc::setpriority(libc::PRIO_PROCESS, 0, nice) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            rtc_common::affinity::pin_current_thread(&cpus)
        });
    }
    cmd.spawn()
}

pub fn cpus_allowed_list(pid: u32) -> Option<String> {
    let st = procfs::process::Process::new(pid as i32)
        .ok()?
        .status()
        .ok()?;
    let ranges = st.cpus_allowed_list?;
    Some(
        ranges
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The server prints its configuration as one JSON line on stderr before
/// LISTENING; the reader thread may need a moment to hand it over.
fn wait_config_line(server: &ListeningChild) -> Option<serde_json::Value> {
    let end = Instant::now() + Duration::from_secs(1);
    loop {
        for line in server.stderr_lines() {
            if let Ok(v @ serde_json::Value::Object(_)) =
                serde_json::from_str::<serde_json::Value>(&line)
            {
                return Some(v);
            }
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
