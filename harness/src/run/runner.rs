//! `harness run`: preflight, calibration, every trial in interleaved order,
//! the summary rewritten after each scenario, and on Ctrl-C every child
//! ended, what finished summarized, exit 130.

use crate::analyse::summary;
use crate::config::hosts::Hosts;
use crate::config::profile::{self, Profile, Variants};
use crate::run::census;
use crate::run::hosts::check::Ready;
use crate::run::hosts::setup::{self, HostsMeta};
use crate::run::placement::Placement;
use crate::run::plan;
use crate::run::preflight;
use crate::run::provenance::{self, HostPaths, Provenance};
use crate::run::results::{self, RunDir};
use crate::run::signals;
use crate::run::trial::{self, Status, TrialRecord};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

pub struct RunOptions {
    pub root: PathBuf,
    pub bin_dir: PathBuf,
    pub results_dir: PathBuf,
    pub profile: String,
    pub only: Vec<String>,
    /// Write into this directory instead of results/<stamp>-<profile>.
    pub out: Option<PathBuf>,
    /// Seed of the trial order (default: drawn from the clock; recorded).
    pub seed: Option<u64>,
    /// Run across these hosts (`--hosts`), copying binaries when asked.
    pub hosts: Option<Hosts>,
    pub copy_binaries: bool,
}

/// How a run ended, for the exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum RunEnd {
    AllRan { failed: usize },
    Interrupted,
}

#[derive(Serialize)]
struct Meta<'a> {
    schema_version: u32,
    harness_version: &'a str,
    git_commit: String,
    git_dirty: Option<bool>,
    profile: &'a str,
    profile_file: String,
    only: &'a [String],
    /// Seed of the trial order: the same seed replays the same order.
    order_seed: u64,
    started_at: String,
    ended_at: Option<String>,
    interrupted: bool,
    cpu_model: Option<String>,
    cpu_count_online: usize,
    cpus_allowed: String,
    server_cpus: String,
    client_cpus: String,
    kernel: Option<String>,
    go_version: Option<String>,
    rustc_version: Option<String>,
    /// Where each side runs, per CPU, and why.
    placement: &'a Placement,
    /// Scenarios that fix `server_cpus`: their own placement.
    scenario_placements: &'a BTreeMap<String, Placement>,
    /// SMT, NUMA, L3, governors, VM and steal, kernel settings, tokio.
    provenance: Provenance,
    nofile_soft: u64,
    nofile_hard: u64,
    data_file: Option<String>,
    data_file_bytes: u64,
    sha_rounds_per_ms: f64,
    /// Each server's own SHA-256 chain speed (what `cpu_ms` is sized with).
    sha_rounds_per_ms_by_language: &'a BTreeMap<crate::config::profile::Language, f64>,
    planned_trials: usize,
    estimated_s: f64,
    warnings: &'a [String],
    /// A run across hosts: every host, its placement and provenance. The
    /// machine fields above then describe the server host.
    #[serde(skip_serializing_if = "Option::is_none")]
    hosts: Option<HostsMeta>,
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Uncommitted changes to tracked files; None without git.
pub fn git_dirty(root: &Path) -> Option<bool> {
    git(root, &["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty())
}

fn cpu_model() -> Option<String> {
    use procfs::Current;
    let info = procfs::CpuInfo::current().ok()?;
    info.model_name(0).map(str::to_string)
}

struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    done: usize,
}

impl Progress {
    fn new(total: usize, estimated_s: f64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(total as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} trials, eta {eta} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        if bar.is_none() {
            eprintln!("harness: {total} trials, about {:.0} s", estimated_s);
        }
        Progress {
            bar,
            total,
            done: 0,
        }
    }
    fn finished(&mut self, t: &TrialRecord, secs: f64) {
        self.done += 1;
        let status = match t.status {
            Status::Ok => "ok".to_string(),
            Status::Invalid => format!(
                "INVALID: {}",
                t.problems.first().cloned().unwrap_or_default()
            ),
            Status::Failed => format!(
                "FAILED: {}",
                t.problems.first().cloned().unwrap_or_default()
            ),
        };
        match &self.bar {
            Some(b) => {
                b.inc(1);
                b.set_message(t.trial_id.clone());
                if t.status != Status::Ok {
                    b.println(format!("{} {status}", t.trial_id));
                }
            }
            None => eprintln!(
                "[{}/{}] {} {status} ({secs:.1} s)",
                self.done, self.total, t.trial_id
            ),
        }
    }
    /// A line beside the bar (or on stderr without one).
    fn note(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(format!("harness: {line}")),
            None => eprintln!("harness: {line}"),
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

pub fn run(opts: &RunOptions) -> Result<(RunEnd, PathBuf)> {
    signals::install();
    let (p, variants) = profile::load(&opts.root, &opts.profile)?;
    // The claims are checked against this profile before anything runs: a
    // rule naming a metric no scenario emits stops the run here.
    let claims = crate::config::claims::load(&opts.root)?;
    let expanded = crate::config::expand::expand(&p, &claims)?;
    for id in &opts.only {
        if !p.scenarios.iter().any(|s| &s.id == id) && !p.micro.iter().any(|m| &m.id == id) {
            bail!(
                "{}: --only {id:?}: no such scenario (see `harness list --profile {}`)",
                p.path.display(),
                opts.profile
            );
        }
    }
    let mut pf = preflight::run(&opts.bin_dir, &opts.results_dir, &variants, Some(&p));
    // Across hosts, every host is checked before anything starts, and the
    // server host's placement and provenance replace this machine's.
    let across = match &opts.hosts {
        Some(h) => Some(prepare_hosts(h, opts, &variants, &p, &mut pf)?),
        None => None,
    };
    let dirty = git_dirty(&opts.root);
    let mut prov = pf.provenance.clone();
    prov.assess(dirty);
    for w in pf.warnings.iter().chain(&prov.warnings) {
        eprintln!("harness: warning: {w}");
    }
    if let Some(e) = pf.errors.first() {
        bail!(
            "preflight: {e}{}",
            if pf.errors.len() > 1 {
                format!(" (and {} more; see `harness check`)", pf.errors.len() - 1)
            } else {
                String::new()
            }
        );
    }
    // The harness itself stays off the server's CPUs (across hosts it
    // runs none of the measured processes).
    if across.is_none() {
        let _ = rtc_common::affinity::pin_current_thread(&harness_cpus(&pf));
    }
    let rounds_per_ms = match &across {
        Some((r, _)) => r.server.info.sha_rounds_per_ms.unwrap_or(0.0),
        None => preflight::calibrate_sha_rounds_per_ms(&pf.server_cpus),
    };
    // Each server hashes at its own speed: `cpu_ms` becomes rounds per
    // language, measured through the servers themselves.
    let mut sha_by_language: BTreeMap<crate::config::profile::Language, f64> = BTreeMap::new();
    let mut sha_warnings: Vec<String> = Vec::new();
    for (lang, bin) in [
        (crate::config::profile::Language::Go, "go-server"),
        (crate::config::profile::Language::Rust, "rust-server"),
    ] {
        // Across hosts: measured on the server host by `harness host-info`.
        let measured = match &across {
            Some((r, _)) => r
                .server
                .info
                .sha_rounds_per_ms_by_language
                .get(&lang)
                .copied()
                .ok_or_else(|| format!("{bin} on the server host was not calibrated")),
            None => preflight::calibrate_server_sha(&opts.bin_dir.join(bin), &pf.server_cpus),
        };
        let r = measured.unwrap_or_else(|e| {
            sha_warnings.push(format!(
                "{e}: {bin}'s jobs sized with the harness's own SHA-256 speed instead"
            ));
            rounds_per_ms
        });
        sha_by_language.insert(lang, r);
    }
    for w in &sha_warnings {
        eprintln!("harness: warning: {w}");
    }

    let now = SystemTime::now();
    let run = match &opts.out {
        Some(dir) => {
            for sub in ["trials", "hlog", "hgrm"] {
                std::fs::create_dir_all(dir.join(sub))
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            RunDir::open(dir)
        }
        None => RunDir::create(&opts.results_dir, &results::utc_stamp(now), &p.name)?,
    };
    let ptext = std::fs::read(&p.path)?;
    results::write_atomic(&run.root.join("profile.toml"), &ptext)?;

    let selection = plan::with_dependencies(&p, &opts.only);
    let seed = opts.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let links = expanded.linked_scenarios();
    let trials = plan::order_trials(&p, &selection, &links, seed);
    // Microbenchmarks are single processes on one machine.
    let micro = match across {
        Some(_) => {
            if !p.micro.is_empty() {
                eprintln!(
                    "harness: warning: the profile's microbenchmarks run on one machine: not run across hosts (run them without --hosts)"
                );
            }
            Vec::new()
        }
        None => plan::order_micro(&p, &selection, seed),
    };
    // The census attaches perf to a local server: not across hosts.
    let census_on = across.is_none();
    if !census_on && !census::scenarios(&p, &selection).is_empty() {
        eprintln!(
            "harness: warning: the syscall census counts a local server's syscalls: not run across hosts"
        );
    }
    let estimated_s = plan::profile_seconds(&p, &trials)
        + plan::micro_seconds(&p, &micro)
        + if census_on {
            census::seconds(&p, &selection)
        } else {
            0.0
        };
    // Whether perf can count syscalls here, asked once; where it cannot,
    // one line says why and the census records say so.
    let census_perf =
        (census_on && !census::scenarios(&p, &selection).is_empty()).then(census::perf::probe);
    if let Some(census::perf::Availability::Unusable(why)) = &census_perf {
        eprintln!("harness: syscall census not measured: {why}; the run goes on without it");
    }
    let vectors = rtc_conformance::load(&opts.root.join("testdata/protocol/vectors.json"))
        .context("cannot load the protocol vectors for the correctness probe")?;
    let probe = probe_vectors(
        &vectors.vectors,
        p.defaults.data_file_bytes,
        vectors.data_file_bytes,
    );

    let mut meta = Meta {
        schema_version: results::SCHEMA_VERSION,
        harness_version: env!("CARGO_PKG_VERSION"),
        git_commit: git(&opts.root, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into()),
        git_dirty: dirty,
        profile: &p.name,
        profile_file: p.path.display().to_string(),
        only: &opts.only,
        order_seed: seed,
        started_at: results::rfc3339(now),
        ended_at: None,
        interrupted: false,
        cpu_model: match &across {
            Some((r, _)) => r.server.info.cpu_model.clone(),
            None => cpu_model(),
        },
        cpu_count_online: match &across {
            Some((r, _)) => r.server.info.topology.cpus.len(),
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        },
        cpus_allowed: rtc_common::affinity::format_cpu_list(&pf.cpus_allowed),
        server_cpus: rtc_common::affinity::format_cpu_list(&pf.server_cpus),
        client_cpus: rtc_common::affinity::format_cpu_list(&pf.client_cpus),
        kernel: match &across {
            Some((r, _)) => Some(r.server.info.kernel.clone()),
            None => std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_string()),
        },
        go_version: pf.go_version.clone(),
        rustc_version: pf.rustc_version.clone(),
        placement: &pf.placement,
        scenario_placements: &pf.scenario_placements,
        provenance: prov,
        nofile_soft: pf.nofile_soft,
        nofile_hard: pf.nofile_hard,
        data_file: pf.data_file.as_ref().map(|d| d.display().to_string()),
        data_file_bytes: p.defaults.data_file_bytes,
        sha_rounds_per_ms: rounds_per_ms,
        sha_rounds_per_ms_by_language: &sha_by_language,
        planned_trials: trials.len() + micro.len(),
        estimated_s,
        warnings: &pf.warnings,
        hosts: across.as_ref().map(|(r, h)| setup::meta(h, r)),
    };
    results::write_json(&run.meta(), &meta)?;
    eprintln!("harness: writing {}", run.root.display());
    let stat_at_start = provenance::read_proc_stat(&HostPaths::local());

    let data_file = pf.data_file.clone().context("no data file")?;
    let across_hosts = across.as_ref().map(|(r, h)| trial::AcrossHosts {
        ready: r,
        address: h.address,
        start_lead_s: h.start_lead_s,
        scratch_name: format!(
            "rtc-harness-{}",
            run.root.file_name().unwrap_or_default().to_string_lossy()
        ),
        marker: run.root.display().to_string(),
    });
    let mut capacities: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut records: Vec<TrialRecord> = Vec::new();
    let mut progress = Progress::new(trials.len() + micro.len(), estimated_s);
    let mut interrupted = false;
    let mut i = 0;
    while i < trials.len() {
        let group = trials[i].group;
        let group_start = i;
        while i < trials.len() && trials[i].group == group {
            let ctx = trial::Context {
                root: &opts.root,
                bin_dir: &opts.bin_dir,
                run: &run,
                profile: &p,
                variants: &variants,
                server_cpus: &placement_of(&pf, &p.scenarios[trials[i].scenario].id).server_cpus,
                client_cpus: &placement_of(&pf, &p.scenarios[trials[i].scenario].id).client_cpus,
                all_cpus: &pf.cpus_allowed,
                data_file: &data_file,
                rounds_per_ms: &sha_by_language,
                capacities: &capacities,
                probe: &probe,
            };
            if signals::interrupted() {
                interrupted = true;
                break;
            }
            let t0 = Instant::now();
            let outcome = match &across_hosts {
                Some(h) => trial::run_across(&ctx, h, &trials[i]),
                None => trial::run(&ctx, &trials[i]),
            };
            match outcome {
                Ok(rec) => {
                    progress.finished(&rec, t0.elapsed().as_secs_f64());
                    records.push(rec);
                }
                Err(signals::Interrupted) => interrupted = true,
            }
            i += 1;
            // A finished trial is kept even when the interrupt came during
            // the pause after it; then nothing more starts.
            if interrupted || signals::interrupted() {
                interrupted = true;
                break;
            }
        }
        // A group's rounds are done: its capacities feed later groups.
        let s = summary::summarize(&p, &records, false, interrupted);
        for x in &s.scenarios {
            if let Some(cap) = x.capacity_rps.clone() {
                capacities.insert(x.id.clone(), cap);
            }
        }
        results::write_json(&run.summary(), &s)?;
        if interrupted {
            break;
        }
        // The group's rounds are done: the census trials of its scenarios
        // run now, apart from every timed trial.
        let mut group_scenarios: Vec<usize> =
            trials[group_start..i].iter().map(|t| t.scenario).collect();
        group_scenarios.sort_unstable();
        group_scenarios.dedup();
        for si in group_scenarios
            .into_iter()
            .filter(|&si| p.scenarios[si].census)
        {
            let Some(availability) = &census_perf else {
                break;
            };
            let placement = placement_of(&pf, &p.scenarios[si].id);
            let ctx = trial::Context {
                root: &opts.root,
                bin_dir: &opts.bin_dir,
                run: &run,
                profile: &p,
                variants: &variants,
                server_cpus: &placement.server_cpus,
                client_cpus: &placement.client_cpus,
                all_cpus: &pf.cpus_allowed,
                data_file: &data_file,
                rounds_per_ms: &sha_by_language,
                capacities: &capacities,
                probe: &probe,
            };
            if census::run_scenario(&ctx, si, availability, &mut |l| progress.note(&l)).is_err() {
                interrupted = true;
                break;
            }
        }
        if interrupted {
            break;
        }
    }
    // Microbenchmarks after the network scenarios, interleaved the same way.
    let mut current = None;
    for m in &micro {
        if interrupted || signals::interrupted() {
            interrupted = true;
            break;
        }
        if current.is_some_and(|c| c != m.micro) {
            results::write_json(
                &run.summary(),
                &summary::summarize(&p, &records, false, false),
            )?;
        }
        current = Some(m.micro);
        let ctx = trial::Context {
            root: &opts.root,
            bin_dir: &opts.bin_dir,
            run: &run,
            profile: &p,
            variants: &variants,
            server_cpus: &pf.server_cpus,
            client_cpus: &pf.client_cpus,
            all_cpus: &pf.cpus_allowed,
            data_file: &data_file,
            rounds_per_ms: &sha_by_language,
            capacities: &capacities,
            probe: &probe,
        };
        let t0 = Instant::now();
        match crate::run::micro::run(&ctx, m) {
            Ok(rec) => {
                progress.finished(&rec, t0.elapsed().as_secs_f64());
                records.push(rec);
            }
            Err(signals::Interrupted) => interrupted = true,
        }
        interrupted |= signals::interrupted();
    }
    progress.finish();
    let _ = std::fs::remove_dir_all(run.scratch());
    let s = summary::summarize(&p, &records, !interrupted, interrupted);
    results::write_json(&run.summary(), &s)?;
    meta.ended_at = Some(results::rfc3339(SystemTime::now()));
    meta.interrupted = interrupted;
    finish_provenance(
        &mut meta.provenance,
        &pf,
        stat_at_start.as_deref(),
        &records,
        dirty,
    );
    if let (Some(hm), Some((r, _))) = (meta.hosts.as_mut(), &across) {
        finish_hosts(hm, r);
        if let Some(h) = &across_hosts {
            setup::remove_scratch(r, &h.scratch_name);
        }
        // The top-level provenance is the server host's.
        let tokio = meta.provenance.tokio_version.clone();
        meta.provenance = hm.server.provenance.clone();
        meta.provenance.tokio_version = tokio;
        meta.provenance.assess(dirty);
    }
    results::write_json(&run.meta(), &meta)?;
    // `latest` names the newest run that ran to its end (failed trials
    // included); an interrupted run leaves it where it was.
    if opts.out.is_none() && !interrupted {
        results::update_latest(&opts.results_dir, &run.root)?;
    }
    let failed: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    let invalid = records
        .iter()
        .filter(|r| r.status == Status::Invalid)
        .count();
    eprintln!(
        "harness: {} trials: {} ok, {invalid} invalid, {} failed{} -> {}",
        records.len(),
        records.len() - invalid - failed.len(),
        failed.len(),
        if interrupted { " (interrupted)" } else { "" },
        run.root.display()
    );
    if let Some(f) = failed.first() {
        eprintln!(
            "harness: first failure: {}: {}",
            f.trial_id,
            f.problems.first().cloned().unwrap_or_default()
        );
    }
    println!("{}", run.root.display());
    let end = if interrupted {
        RunEnd::Interrupted
    } else {
        RunEnd::AllRan {
            failed: failed.len(),
        }
    };
    Ok((end, run.root.clone()))
}

/// Checks every host (one line per problem, then an error), and puts the
/// server host's placement, provenance and data file where this
/// machine's were.
fn prepare_hosts(
    hosts: &Hosts,
    opts: &RunOptions,
    variants: &Variants,
    p: &Profile,
    pf: &mut preflight::Preflight,
) -> Result<(Ready, Hosts)> {
    let ready = match setup::check_hosts(hosts, &opts.bin_dir, variants, p, opts.copy_binaries) {
        Ok(r) => r,
        Err(lines) => {
            for l in &lines {
                eprintln!("harness: {l}");
            }
            bail!(
                "{} with the hosts of {} (each above)",
                match lines.len() {
                    1 => "1 problem".to_string(),
                    n => format!("{n} problems"),
                },
                hosts.path.display()
            );
        }
    };
    let info = &ready.server.info;
    let local = pf.placement.warnings.clone();
    pf.errors.retain(|e| !preflight::is_placement_error(e, p));
    pf.warnings.retain(|w| !local.contains(w));
    pf.warnings.extend(info.placement.warnings.iter().cloned());
    pf.cpus_allowed = info.cpus_allowed.clone();
    pf.placement = info.placement.clone();
    pf.server_cpus = info.placement.server_cpus.clone();
    pf.client_cpus = info.placement.client_cpus.clone();
    pf.scenario_placements = setup::placements(info, p).unwrap_or_default();
    pf.provenance = info.provenance.clone();
    pf.data_file = Some(crate::run::hosts::check::data_file_path(
        &ready.server.host,
        p.defaults.data_file_bytes,
    ));
    for h in std::iter::once(&ready.server).chain(&ready.generators) {
        eprintln!("harness: {}", h.summary());
        for w in &h.info.warnings {
            eprintln!("harness: warning: host {}: {w}", h.host.name);
        }
    }
    Ok((ready, hosts.clone()))
}

/// Every host's steal time over the run.
fn finish_hosts(hm: &mut HostsMeta, ready: &Ready) {
    let hosts = std::iter::once(&ready.server).chain(&ready.generators);
    let recs = std::iter::once(&mut hm.server).chain(hm.generators.iter_mut());
    for (h, rec) in hosts.zip(recs) {
        let end = setup::proc_stat_now(h);
        setup::finish_steal(rec, h.info.proc_stat.as_deref(), end.as_deref());
        if let Some(w) = rec
            .provenance
            .warnings
            .iter()
            .find(|w| w.starts_with("steal"))
        {
            eprintln!("harness: warning: host {}: {w}", rec.name);
        }
    }
}

/// The placement a scenario's trials use: its own when it fixes
/// `server_cpus`, else the run's.
fn placement_of<'a>(pf: &'a preflight::Preflight, scenario: &str) -> &'a Placement {
    pf.scenario_placements
        .get(scenario)
        .unwrap_or(&pf.placement)
}

/// Where the harness and its sampler run: the load generator's CPUs that
/// no scenario gives the server (the run's client CPUs if none are).
fn harness_cpus(pf: &preflight::Preflight) -> Vec<usize> {
    let common: Vec<usize> = pf
        .client_cpus
        .iter()
        .copied()
        .filter(|c| {
            pf.scenario_placements
                .values()
                .all(|p| p.client_cpus.contains(c))
        })
        .collect();
    if common.is_empty() {
        pf.client_cpus.clone()
    } else {
        common
    }
}

/// What only the end of a run knows: the steal time over it (on every
/// CPU a server or load generator used) and the tokio version the Rust
/// server reported; then the notes and warnings again.
fn finish_provenance(
    prov: &mut Provenance,
    pf: &preflight::Preflight,
    stat_at_start: Option<&str>,
    records: &[TrialRecord],
    dirty: Option<bool>,
) {
    let mut used: Vec<usize> = std::iter::once(&pf.placement)
        .chain(pf.scenario_placements.values())
        .flat_map(|p| p.server_cpus.iter().chain(&p.client_cpus).copied())
        .collect();
    used.sort_unstable();
    used.dedup();
    let end = provenance::read_proc_stat(&HostPaths::local());
    prov.steal = match (stat_at_start, end.as_deref()) {
        (Some(a), Some(b)) => match provenance::steal_fraction(a, b, &used) {
            Ok(f) => Some(provenance::Steal {
                cpus: rtc_common::affinity::format_cpu_list(&used),
                fraction: f,
                limit_fraction: provenance::STEAL_LIMIT_FRACTION,
            }),
            Err(e) => {
                eprintln!("harness: steal time not recorded: {e}");
                None
            }
        },
        _ => None,
    };
    prov.tokio_version = records
        .iter()
        .filter_map(|r| r.server.config.as_ref()?.get("tokio_version")?.as_str())
        .next()
        .map(String::from);
    prov.assess(dirty);
    if let Some(w) = prov.warnings.iter().find(|w| w.starts_with("steal")) {
        eprintln!("harness: warning: {w}");
    }
}

/// The vectors of the probe before every trial: one of each kind of work
/// (plain, SHA, sleep, block, file, pipelined, bad input), and echo small,
/// large and split — what catches a wrong server or mode, in a few ms
/// (the whole suite runs in `make test`).
pub const PROBE: &[&str] = &[
    "echo_64_bytes",
    "echo_16384_bytes",
    "echo_several_sends",
    "work_small_payload",
    "work_sha_3_rounds",
    "work_sleep_0us",
    "work_block_1000us",
    "work_file_offset0_len100",
    "work_file_sha",
    "work_pipelined_20_mixed",
    "work_unknown_io_kind_4_then_ok",
    "work_version_2_closes",
    "work_no_data_file_then_ok",
];

/// A few small vectors of each kind: enough to catch a wrong server or
/// mode before load, cheap enough to run before every trial. File vectors
/// are kept only when each read lands on the same side of the end of the
/// harness's data file (`data_file_bytes`) as of the vectors' own
/// (`vector_file_bytes`), so their expected answers hold for both.
pub fn probe_vectors(
    all: &[rtc_conformance::Vector],
    data_file_bytes: u64,
    vector_file_bytes: u64,
) -> Vec<rtc_conformance::Vector> {
    all.iter()
        .filter(|v| {
            let send = rtc_conformance::bytes_of(&v.send);
            let bytes = send.len() + rtc_conformance::bytes_of(&v.expect).len();
            let small = bytes <= 20_000 && !v.name.contains("limit") && !v.name.contains("1000000");
            small
                && PROBE.contains(&v.name.as_str())
                && (v.workload != "work"
                    || file_reads_agree(&send, data_file_bytes, vector_file_bytes))
        })
        .cloned()
        .collect()
}

fn file_reads_agree(mut send: &[u8], a: u64, b: u64) -> bool {
    use rtc_common::protocol::{Disposition, IoKind, REQUEST_HEADER_LEN, RequestHeader};
    while send.len() >= REQUEST_HEADER_LEN {
        let h = RequestHeader::decode(send[..REQUEST_HEADER_LEN].try_into().expect("24 bytes"));
        match h.disposition() {
            Disposition::Close(_) => return true,
            Disposition::Process(IoKind::File) => {
                let end = u64::from(h.io_offset) + u64::from(h.io_arg);
                if (end <= a) != (end <= b) {
                    return false;
                }
            }
            _ => {}
        }
        let next = REQUEST_HEADER_LEN + h.payload_len as usize;
        send = send.get(next..).unwrap_or(&[]);
    }
    true
}

/// `harness list`: scenarios with what each measures.
pub fn list(root: &Path, profile_name: &str) -> Result<String> {
    let (p, variants): (Profile, Variants) = profile::load(root, profile_name)?;
    let mut out = format!("profile {} — {}\n", p.name, p.description);
    let trials = plan::order_trials(&p, &[], &[], 1);
    let micro = plan::order_micro(&p, &[], 1);
    out += &format!(
        "{} trials, about {:.0} s\n\n",
        trials.len() + micro.len(),
        plan::profile_seconds(&p, &trials)
            + plan::micro_seconds(&p, &micro)
            + census::seconds(&p, &[])
    );
    for s in &p.scenarios {
        out += &format!("{:<28} [{}] {}\n", s.id, s.claims.join(","), s.title);
        out += &format!(
            "{:<28} variants: {}; repeats: {}{}\n",
            "",
            s.variants.join(", "),
            s.repeats(&p.defaults),
            if s.census { "; syscall census" } else { "" }
        );
    }
    for m in &p.micro {
        out += &format!("{:<28} [{}] {}\n", m.id, m.claims.join(","), m.title);
        out += &format!(
            "{:<28} go-micro / rust-micro {} {}; processes: {}\n",
            "",
            m.bench,
            m.args.join(" "),
            m.repeats.unwrap_or(p.defaults.repeats)
        );
    }
    out += "\nvariants:\n";
    for (name, v) in &variants {
        out += &format!("  {name:<22} {}\n", v.description);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_harness_runs_where_no_scenario_puts_a_server() {
        let placed = |s: Vec<usize>, c: Vec<usize>| Placement {
            server_cpus: s,
            client_cpus: c,
            ..Default::default()
        };
        let mut pf = preflight::Preflight {
            placement: placed(vec![0, 8], vec![1, 2, 3, 9, 10, 11]),
            client_cpus: vec![1, 2, 3, 9, 10, 11],
            ..Default::default()
        };
        assert_eq!(harness_cpus(&pf), pf.client_cpus);
        pf.scenario_placements
            .insert("wide".into(), placed(vec![0, 1, 8, 9], vec![2, 3, 10, 11]));
        assert_eq!(harness_cpus(&pf), vec![2, 3, 10, 11]);
        assert_eq!(placement_of(&pf, "wide").server_cpus, vec![0, 1, 8, 9]);
        assert_eq!(placement_of(&pf, "other").server_cpus, vec![0, 8]);
    }

    #[test]
    fn probe_keeps_file_vectors_only_when_both_lengths_agree() {
        let vf = rtc_conformance::load(&rtc_conformance::default_vectors_path()).unwrap();
        let same = probe_vectors(&vf.vectors, vf.data_file_bytes, vf.data_file_bytes);
        let other = probe_vectors(&vf.vectors, 50, vf.data_file_bytes);
        assert!(same.iter().any(|v| v.name == "work_file_offset0_len100"));
        assert!(
            !other.iter().any(|v| v.name == "work_file_offset0_len100"),
            "a read of 100 bytes must drop out with a 50-byte data file"
        );
        assert!(
            other.iter().any(|v| v.workload == "echo")
                && other.iter().any(|v| v.workload == "work")
        );
        assert!(!other.iter().any(|v| v.name == "work_file_at_end_len0"));
        // Every probe vector exists in the shared set: a rename cannot
        // silently shrink the probe.
        for name in PROBE {
            assert!(
                vf.vectors.iter().any(|v| v.name == *name),
                "probe vector {name} is not in testdata/protocol/vectors.json"
            );
        }
        assert!(same.len() >= PROBE.len() - 1, "{}", same.len());
    }
}
