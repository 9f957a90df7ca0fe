//! One trial: a fresh server pinned to the server CPUs (`server`), a
//! correctness probe (`probe`), the load generator(s) pinned to the client
//! CPUs (`clients`), `/proc` sampling throughout, what the generators leave
//! (`collect`), the measurement judged apart from the server's outcome
//! (`judge`), then a trial JSON (`record`) written whole. Every child is
//! ended before this returns, whatever happens.

mod clients;
mod collect;
mod judge;
mod probe;
mod record;
mod server;

pub use clients::spawn_client;
pub use record::*;
pub use server::cpus_allowed_list;

use crate::analyse::metrics;
use crate::config::profile::{Defaults, Profile, ScenarioSpec, Variants};
use crate::run::plan::{self, PlannedTrial};
use crate::run::results::{self, RunDir};
use crate::run::sampler::Sampler;
use crate::run::signals::{self, Interrupted};
use crate::run::telemetry;
use clients::ClientPlan;
use rtc_common::child::ListeningChild;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

pub const SAMPLE_PERIOD: Duration = Duration::from_millis(100);

/// Every child carries this variable (the run directory), so a test can
/// prove that none outlives the harness.
pub const RUN_MARKER_ENV: &str = "RTC_HARNESS_RUN";

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
    let mut server_args = plan::server_args(variant, scenario, workers, Some(&data_file));
    let telemetry_file = telemetry::scratch_file(ctx.run, &trial_id);
    server_args.extend(telemetry::server_flags(
        &telemetry_file,
        d.telemetry_interval_ms,
    ));
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
        telemetry: None,
        micro_document: None,
    };

    let outcome = drive(ctx, planned, &mut rec, &server_bin, &server_args, origin);
    rec.ended_at = results::rfc3339(SystemTime::now());
    if let Err(Interrupted) = outcome {
        return Err(Interrupted);
    }
    let samples = telemetry::collect(ctx.run, &mut rec, &telemetry_file, d.telemetry_interval_ms);
    if rec.status != Status::Failed {
        rec.metrics = metrics::derive(&rec, scenario, d, &samples);
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
    let Some(plans) = clients::resolve(ctx, scenario, rec) else {
        return Ok(());
    };
    if let Some(why) = scenario
        .needs_threads
        .and_then(|n| plan::refuse_threads(n, plan::thread_room()))
    {
        fail(rec, why);
        return Ok(());
    }
    // A fresh server for every trial.
    let Some(mut server) = server::start(ctx, rec, server_bin, server_args) else {
        return Ok(());
    };
    let result = with_server(ctx, rec, &mut server, &plans, origin, scenario, d);
    // Always end the server, and record how it ended.
    server::stop(rec, server, result.is_ok());
    if rec.status != Status::Failed {
        judge::judge(rec);
    }
    // An interrupt that arrived while the load ran may have reached the
    // children too (Ctrl-C signals the whole foreground process group), so
    // what they measured is not a finished trial.
    if result.is_ok() && signals::interrupted() {
        return Err(Interrupted);
    }
    result
}

/// Probe, idle baseline, load, idle observation, collection: everything
/// that happens while the server runs.
fn with_server(
    ctx: &Context,
    rec: &mut TrialRecord,
    server: &mut ListeningChild,
    plans: &[ClientPlan],
    origin: Instant,
    scenario: &ScenarioSpec,
    d: &Defaults,
) -> Result<(), Interrupted> {
    if !probe::passes(ctx.probe, scenario, server.addr, rec) {
        return Ok(());
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

    let (mut running, deadline_s) = clients::launch(ctx, rec, server, plans, origin, scenario, d);
    if clients::wait(rec, &mut running, server, origin, deadline_s) {
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

    for r in running {
        let mut crec = r.rec;
        crec.samples = r.sampler.stop();
        let crec = collect::collect(ctx.run, rec, crec, &r.files);
        rec.clients.push(crec);
    }
    Ok(())
}
