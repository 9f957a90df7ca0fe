//! Command-line interface: `harness run | report | list | check | diff`,
//! and the three commands a run across hosts starts on each host:
//! `sample`, `host-info`, `probe`.

use crate::config::{hosts, profile};
use crate::run::{preflight, provenance, runner};
use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Runs fair Go-vs-tokio experiments and reports a verdict for each claim"
)]
pub struct Cli {
    /// Repository root (default: found from the binary's location or the current directory).
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Where the binaries are (default: <root>/bin).
    #[arg(long, global = true)]
    pub bin_dir: Option<PathBuf>,
    /// Where runs are written (default: <root>/results).
    #[arg(long, global = true)]
    pub results_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run a profile's scenarios and write a results directory.
    Run {
        /// quick, full, or a path to a profile .toml.
        #[arg(long, default_value = "quick")]
        profile: String,
        /// Run only these scenarios (and the capacity scenarios they need).
        #[arg(long, num_args = 1..)]
        only: Vec<String>,
        /// Results directory to write (default: results/<UTC stamp>-<profile>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed of the trial order (default: from the clock; meta.json records it).
        #[arg(long)]
        seed: Option<u64>,
        /// Run the server and the load generators on the hosts of this file (README: "Two machines").
        #[arg(long, value_name = "HOSTS_TOML")]
        hosts: Option<PathBuf>,
        /// With --hosts: copy binaries that are missing or differ on a host (scp) instead of refusing.
        #[arg(long, requires = "hosts")]
        copy_binaries: bool,
    },
    /// Write report.md and report.html (with plots) for a results directory.
    Report { dir: PathBuf },
    /// List a profile's scenarios and what each measures.
    List {
        #[arg(long, default_value = "quick")]
        profile: String,
    },
    /// Compare two runs: the same metrics side by side, ratios and significance (benchstat-style).
    Diff { a: PathBuf, b: PathBuf },
    /// Preflight only: binaries, versions, CPUs, limits, data file, disk (and every host with --hosts).
    Check {
        #[arg(long, default_value = "quick")]
        profile: String,
        /// Check the hosts of this file too: reachable, Linux, binaries, placement, clock.
        #[arg(long, value_name = "HOSTS_TOML")]
        hosts: Option<PathBuf>,
        /// With --hosts: copy binaries that are missing or differ on a host.
        #[arg(long, requires = "hosts")]
        copy_binaries: bool,
    },
    /// On a host (started by `run --hosts`): run PROGRAM pinned, stream its output and /proc samples as JSON lines, end it on `stop`, on the end of input, on a signal or after --max-s.
    Sample {
        /// Pin PROGRAM to these CPUs (e.g. 0-3,8).
        #[arg(long)]
        cpus: Option<String>,
        /// Pin this process (the sampler) to these CPUs.
        #[arg(long)]
        self_cpus: Option<String>,
        /// Niceness of PROGRAM (20: SCHED_IDLE, below nice 19).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        nice: i32,
        /// Sampling period.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
        period_ms: u64,
        /// Send back (and remove) the files whose path starts with this once PROGRAM has ended.
        #[arg(long, value_name = "PATH_PREFIX")]
        collect: Option<PathBuf>,
        /// End PROGRAM after this many seconds whatever else happens.
        #[arg(long, default_value_t = 3600.0)]
        max_s: f64,
        /// Seconds between SIGTERM and SIGKILL.
        #[arg(long, default_value_t = 2.0)]
        grace_s: f64,
        #[arg(last = true, required = true, value_name = "PROGRAM")]
        program: Vec<String>,
    },
    /// On a host: its topology, placement, provenance and /proc/stat as one JSON line.
    HostInfo {
        #[arg(long, value_enum)]
        role: crate::run::hosts::host_info::HostRole,
        /// Only these CPUs (hosts.toml's `cpus`).
        #[arg(long)]
        cpus: Option<String>,
        /// Measure SHA-256 rounds per ms on the first server CPU.
        #[arg(long)]
        calibrate: bool,
        /// Measure a server's own SHA-256 speed through it (LANG=PATH, e.g. go=/opt/rtc/bin/go-server).
        #[arg(long, value_name = "LANG=PATH")]
        calibrate_server: Vec<String>,
        /// Make (or check) the data file here.
        #[arg(long, requires = "data_file_bytes")]
        data_file: Option<PathBuf>,
        #[arg(long, requires = "data_file")]
        data_file_bytes: Option<u64>,
        /// Then answer each input line with this host's wall clock (Unix ms).
        #[arg(long)]
        clock: bool,
    },
    /// On a host: replay the protocol vectors read as JSON on stdin against a server; one line per failure.
    Probe {
        #[arg(long)]
        address: std::net::SocketAddr,
        #[arg(long, default_value_t = 5.0)]
        timeout_s: f64,
    },
}

pub struct Paths {
    pub root: PathBuf,
    pub bin_dir: PathBuf,
    pub results_dir: PathBuf,
}

fn is_root(p: &Path) -> bool {
    p.join("harness/variants.toml").is_file()
}

pub fn paths(cli: &Cli) -> Result<Paths> {
    let root = match &cli.root {
        Some(r) => r.clone(),
        None => {
            let from_exe = std::env::current_exe()
                .ok()
                .and_then(|e| e.parent()?.parent().map(Path::to_path_buf));
            let cwd = std::env::current_dir()?;
            match from_exe.filter(|p| is_root(p)) {
                Some(p) => p,
                None if is_root(&cwd) => cwd,
                None => bail!(
                    "cannot find the repository root (no harness/variants.toml here): pass --root"
                ),
            }
        }
    };
    if !is_root(&root) {
        bail!(
            "{}: not the repository root (no harness/variants.toml)",
            root.display()
        );
    }
    Ok(Paths {
        bin_dir: cli.bin_dir.clone().unwrap_or_else(|| root.join("bin")),
        results_dir: cli
            .results_dir
            .clone()
            .unwrap_or_else(|| root.join("results")),
        root,
    })
}

/// A CPU list flag, or a one-line usage error (exit 2).
fn cpu_flag(flag: &str, v: &Option<String>) -> Option<Vec<usize>> {
    v.as_ref().map(|s| {
        rtc_common::affinity::parse_cpu_list(s).unwrap_or_else(|e| {
            rtc_common::cli::usage_exit("harness", &format!("--{flag} {s:?}: {e}"))
        })
    })
}

fn seconds_flag(flag: &str, v: f64) -> std::time::Duration {
    if !(0.0..=crate::config::profile::MAX_SECONDS).contains(&v) {
        rtc_common::cli::usage_exit("harness", &format!("--{flag} {v}: not a number of seconds"));
    }
    std::time::Duration::from_secs_f64(v)
}

/// The commands that run on a host: they need no repository there.
fn on_host(cmd: &Cmd) -> Option<i32> {
    use crate::run::hosts::{guard, host_info, probe};
    match cmd {
        Cmd::Sample {
            cpus,
            self_cpus,
            nice,
            period_ms,
            collect,
            max_s,
            grace_s,
            program,
        } => Some(guard::run(&guard::Options {
            cpus: cpu_flag("cpus", cpus),
            self_cpus: cpu_flag("self-cpus", self_cpus),
            nice: *nice,
            period: std::time::Duration::from_millis(*period_ms),
            collect: collect.clone(),
            max: seconds_flag("max-s", *max_s),
            grace: seconds_flag("grace-s", *grace_s),
            argv: program.clone(),
        })),
        Cmd::HostInfo {
            role,
            cpus,
            calibrate,
            calibrate_server,
            data_file,
            data_file_bytes,
            clock,
        } => Some(host_info::run(&host_info::Options {
            role: *role,
            cpus: cpu_flag("cpus", cpus),
            calibrate: *calibrate,
            servers: calibrate_server
                .iter()
                .map(|s| {
                    host_info::server_flag(s)
                        .unwrap_or_else(|e| rtc_common::cli::usage_exit("harness", &e))
                })
                .collect(),
            data_file: data_file.clone().zip(*data_file_bytes),
            clock: *clock,
        })),
        Cmd::Probe { address, timeout_s } => {
            Some(probe::run(*address, seconds_flag("timeout-s", *timeout_s)))
        }
        _ => None,
    }
}

/// Reads a hosts file; a mistake in it is bad input: one line, exit 2.
fn hosts_file(path: &Option<PathBuf>, bin_dir: &Path) -> Option<hosts::Hosts> {
    path.as_ref().map(|p| {
        hosts::load(p, bin_dir)
            .unwrap_or_else(|e| rtc_common::cli::usage_exit("harness", &e.to_string()))
    })
}

/// Runs a parsed command line; returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    if let Some(code) = on_host(&cli.command) {
        return Ok(code);
    }
    let paths = paths(&cli)?;
    match cli.command {
        Cmd::Sample { .. } | Cmd::HostInfo { .. } | Cmd::Probe { .. } => {
            unreachable!("run on a host above")
        }
        Cmd::Run {
            profile,
            only,
            out,
            seed,
            hosts,
            copy_binaries,
        } => {
            let hosts = hosts_file(&hosts, &paths.bin_dir);
            let opts = runner::RunOptions {
                root: paths.root,
                bin_dir: paths.bin_dir,
                results_dir: paths.results_dir,
                profile,
                only,
                out,
                seed,
                hosts,
                copy_binaries,
            };
            let (end, _) = runner::run(&opts)?;
            Ok(match end {
                runner::RunEnd::Interrupted => 130,
                runner::RunEnd::AllRan { failed: 0 } => 0,
                runner::RunEnd::AllRan { .. } => 1,
            })
        }
        Cmd::Report { dir } => {
            crate::present::report::run(&paths.root, &dir)?;
            Ok(0)
        }
        Cmd::Diff { a, b } => {
            print!("{}", crate::present::diff::run(&a, &b)?);
            Ok(0)
        }
        Cmd::List { profile } => {
            print!("{}", runner::list(&paths.root, &profile)?);
            Ok(0)
        }
        Cmd::Check {
            profile,
            hosts,
            copy_binaries,
        } => {
            let hosts = hosts_file(&hosts, &paths.bin_dir);
            let (p, variants) = profile::load(&paths.root, &profile)?;
            let claims = crate::config::claims::load(&paths.root)?;
            let expanded = crate::config::expand::expand(&p, &claims)?;
            let n: usize = expanded.checks.iter().map(|c| c.comparisons.len()).sum();
            println!(
                "claims: {} claims, {} checks, {n} comparisons against this profile, every metric name known; A/A control: {} comparisons",
                claims.claims.len(),
                expanded.checks.len(),
                expanded.aa.len()
            );
            let pf = preflight::run(&paths.bin_dir, &paths.results_dir, &variants, Some(&p));
            let mut prov = pf.provenance.clone();
            prov.assess(runner::git_dirty(&paths.root));
            print!("{}", placement_text(&pf, &prov));
            println!("go: {}", pf.go_version.as_deref().unwrap_or("unavailable"));
            println!(
                "rustc: {}",
                pf.rustc_version.as_deref().unwrap_or("unavailable")
            );
            println!(
                "open files: soft {} hard {} (needed {})",
                pf.nofile_soft, pf.nofile_hard, pf.nofile_needed
            );
            println!(
                "sha-256 chain: {:.0} rounds/ms on the server CPU",
                preflight::calibrate_sha_rounds_per_ms(&pf.server_cpus)
            );
            if let Some(d) = &pf.data_file {
                println!("data file: {}", d.display());
            }
            for n in &prov.notes {
                println!("note: {n}");
            }
            for w in pf.warnings.iter().chain(&prov.warnings) {
                println!("warning: {w}");
            }
            for e in &pf.errors {
                println!("error: {e}");
            }
            let mut host_errors = 0;
            if let Some(h) = &hosts {
                match crate::run::hosts::setup::check_hosts(
                    h,
                    &paths.bin_dir,
                    &variants,
                    &p,
                    copy_binaries,
                ) {
                    Ok(ready) => print!("{}", hosts_text(&ready)),
                    Err(lines) => {
                        host_errors = lines.len();
                        for l in lines {
                            println!("error: {l}");
                        }
                    }
                }
            }
            Ok(if pf.errors.is_empty() && host_errors == 0 {
                0
            } else {
                1
            })
        }
    }
}

/// `harness check --hosts`: each host, where its side runs, its clock.
fn hosts_text(ready: &crate::run::hosts::check::Ready) -> String {
    let mut out = String::new();
    for h in std::iter::once(&ready.server).chain(&ready.generators) {
        out += &format!("{}\n", h.summary());
        for w in h
            .info
            .placement
            .warnings
            .iter()
            .chain(&h.info.provenance.warnings)
            .chain(&h.info.warnings)
        {
            out += &format!("  warning: {w}\n");
        }
    }
    out
}

/// `harness check`'s CPU part: the placement table with its notes, each
/// scenario's own placement, and the host's provenance.
fn placement_text(pf: &preflight::Preflight, prov: &provenance::Provenance) -> String {
    use rtc_common::affinity::format_cpu_list;
    let mut out = format!(
        "cpus allowed {}; placement:\n{}",
        format_cpu_list(&pf.cpus_allowed),
        pf.placement.table()
    );
    for n in &pf.placement.notes {
        out += &format!("  note: {n}\n");
    }
    for (id, p) in &pf.scenario_placements {
        out += &format!(
            "scenario {id} (server_cpus = {}): server {}, load generator {}\n",
            p.server_cpus.len(),
            format_cpu_list(&p.server_cpus),
            format_cpu_list(&p.client_cpus)
        );
    }
    for (label, value) in prov.describe() {
        out += &format!("{label}: {value}\n");
    }
    let mut used: Vec<usize> = pf
        .server_cpus
        .iter()
        .chain(&pf.client_cpus)
        .copied()
        .collect();
    used.sort_unstable();
    used.dedup();
    if let Some(f) = provenance::read_proc_stat(&provenance::HostPaths::local())
        .and_then(|t| provenance::steal_since_boot(&t, &used).ok())
    {
        out += &format!(
            "steal time since boot: {:.2} % of CPUs {}'s time (a run warns above {:.0} %)\n",
            f * 100.0,
            format_cpu_list(&used),
            provenance::STEAL_LIMIT_FRACTION * 100.0
        );
    }
    out
}
