//! Command-line interface: `harness run | report | list | check | diff`.

use crate::config::profile;
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
    /// Preflight only: binaries, versions, CPUs, limits, data file, disk.
    Check {
        #[arg(long, default_value = "quick")]
        profile: String,
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

/// Runs a parsed command line; returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    let paths = paths(&cli)?;
    match cli.command {
        Cmd::Run {
            profile,
            only,
            out,
            seed,
        } => {
            let opts = runner::RunOptions {
                root: paths.root,
                bin_dir: paths.bin_dir,
                results_dir: paths.results_dir,
                profile,
                only,
                out,
                seed,
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
        Cmd::Check { profile } => {
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
            Ok(if pf.errors.is_empty() { 0 } else { 1 })
        }
    }
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
