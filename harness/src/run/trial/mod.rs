//! One trial: a fresh server pinned to the server CPUs (`server`), a
//! correctness probe (`probe`), the load generator(s) pinned to the client
//! CPUs (`clients`), `/proc` sampling throughout, what the generators leave
//! (`collect`), the measurement judged apart from the server's outcome
//! (`judge`), then a trial JSON (`record`) written whole. Every child is
//! ended before this returns, whatever happens. `across_hosts` is the same
//! trial with the server and the generators on other machines.

mod across_hosts;
mod clients;
mod collect;
mod judge;
mod probe;
mod record;
mod server;

pub use across_hosts::AcrossHosts;
pub use clients::{SCHED_IDLE_PRIORITY, spawn_client, tie_and_pin};
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
    /// SHA-256 rounds per ms of each language's server (cpu_ms -> rounds).
    pub rounds_per_ms: &'a BTreeMap<crate::config::profile::Language, f64>,
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
    run_on(ctx, None, planned)
}

/// The same trial with the server and the load generators on the hosts
/// of `hosts` (`harness run --hosts`).
pub fn run_across(
    ctx: &Context,
    hosts: &AcrossHosts,
    planned: &PlannedTrial,
) -> Result<TrialRecord, Interrupted> {
    run_on(ctx, Some(hosts), planned)
}

fn run_on(
    ctx: &Context,
    hosts: Option<&AcrossHosts>,
    planned: &PlannedTrial,
) -> Result<TrialRecord, Interrupted> {
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
    // The server's own telemetry, written to the run's scratch folder (a
    // run across hosts leaves it out: the file would be on the server host).
    let telemetry_file = telemetry::scratch_file(ctx.run, &trial_id);
    if hosts.is_none() {
        server_args.extend(telemetry::server_flags(
            &telemetry_file,
            d.telemetry_interval_ms,
        ));
    }
    let server_bin = match hosts {
        None => ctx.bin_dir.join(&variant.server),
        Some(h) => {
            h.listen_on_host(&mut server_args);
            h.ready.server.host.bin_dir.join(&variant.server)
        }
    };

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
            host: hosts.map(|h| h.ready.server.host.name.clone()),
        },
        clients: Vec::new(),
        server_samples: Vec::new(),
        metrics: BTreeMap::new(),
        measurement: Measurement::default(),
        server_outcome: ServerOutcome::default(),
        steal_fraction: None,
        telemetry: None,
        micro_document: None,
    };

    // Steal over the trial on this machine (across hosts, each host's
    // steal over the run is in meta.json instead).
    let host = crate::run::provenance::HostPaths::local();
    let stat_at_start = hosts
        .is_none()
        .then(|| crate::run::provenance::read_proc_stat(&host))
        .flatten();
    let outcome = match hosts {
        None => drive(ctx, planned, &mut rec, &server_bin, &server_args, origin),
        Some(h) => {
            across_hosts::drive(ctx, h, planned, &mut rec, &server_bin, &server_args, origin)
        }
    };
    rec.ended_at = results::rfc3339(SystemTime::now());
    note_steal(&mut rec, stat_at_start, &host, ctx);
    if let Err(Interrupted) = outcome {
        return Err(Interrupted);
    }
    let samples = if hosts.is_none() {
        telemetry::collect(ctx.run, &mut rec, &telemetry_file, d.telemetry_interval_ms)
    } else {
        Default::default()
    };
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

/// Records the VM's steal time over the trial and flags it above the limit
/// (the trial is kept: steal is the machine's noise, stated, not hidden).
fn note_steal(
    rec: &mut TrialRecord,
    start: Option<String>,
    host: &crate::run::provenance::HostPaths,
    ctx: &Context,
) {
    use crate::run::provenance::{STEAL_LIMIT_FRACTION, read_proc_stat, steal_fraction};
    let cpus: Vec<usize> = ctx
        .server_cpus
        .iter()
        .chain(ctx.client_cpus)
        .copied()
        .collect();
    if let (Some(a), Some(b)) = (start, read_proc_stat(host))
        && let Ok(f) = steal_fraction(&a, &b, &cpus)
    {
        rec.steal_fraction = Some(f);
        if f > STEAL_LIMIT_FRACTION {
            rec.problems.push(format!(
                "steal: the hypervisor took {:.1} % of the CPUs' time during the trial (flagged above {:.0} %)",
                f * 100.0,
                STEAL_LIMIT_FRACTION * 100.0
            ));
        }
    }
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
    let Some(plans) = plans_for(ctx, scenario, rec, plan::thread_room(), "") else {
        return Ok(());
    };
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

/// What each client sends, and whether the server's machine (`room`:
/// threads it can still start; `whose` names it in the refusal) can hold
/// the scenario; None when the trial failed on either.
fn plans_for<'a>(
    ctx: &Context,
    scenario: &'a ScenarioSpec,
    rec: &mut TrialRecord,
    room: Option<u64>,
    whose: &str,
) -> Option<Vec<ClientPlan<'a>>> {
    let plans = clients::resolve(ctx, scenario, rec)?;
    if let Some(why) = scenario
        .needs_threads
        .and_then(|n| plan::refuse_threads(n, room))
    {
        fail(rec, format!("{whose}{why}"));
        return None;
    }
    Some(plans)
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
