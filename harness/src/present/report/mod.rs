//! `harness report DIR`: reads a run directory, evaluates every claim's
//! rules (`verdict`), draws the plots (`plots`), and writes `report.md` and
//! a self-contained `report.html` — the verdict table first, then one
//! section per claim with its checks, numbers and plots, then the other
//! plots, method, environment and caveats. Ends by printing the verdict
//! table and the report's path.
//!
//! Modules: `data` (the run read back), `doc` (the document tree and the
//! `Exporter` trait), `markdown`/`html` (one file per format), `units`,
//! `environment` (the Environment section), `census` (the syscall census).

pub mod census;
pub mod claims;
pub mod data;
pub mod doc;
pub mod environment;
#[cfg(test)]
pub mod fixture;
pub mod html;
pub mod markdown;
pub mod units;
pub mod words;

use crate::analyse::verdict::{self, ClaimResult, Verdicts};
use crate::config::claims::Claims;
use crate::present::plots::{self, Figure, PlotPaths};
use crate::run::trial::Status;
use anyhow::Result;
use data::RunData;
use doc::{Block, Doc, Exporter, Inline, Line, anchor, plain, text};
use environment::environment;
use std::path::{Path, PathBuf};

/// What `run` produced.
pub struct Outcome {
    pub claims: Claims,
    pub verdicts: Verdicts,
    pub figures: Vec<Figure>,
    pub files: Vec<PathBuf>,
    pub problems: Vec<String>,
}

/// Writes the report of the run in `dir`; prints the verdict table and the path.
pub fn run(root: &Path, dir: &Path) -> Result<()> {
    let out = write(root, dir)?;
    print!("{}", claims::verdict_table_text(&out.claims, &out.verdicts));
    for p in &out.problems {
        eprintln!("harness: report: {p}");
    }
    for f in &out.files {
        println!("report: {}", f.display());
    }
    Ok(())
}

/// Everything but printing (tests call this).
pub fn write(root: &Path, dir: &Path) -> Result<Outcome> {
    let claims = crate::config::claims::load(root)?;
    let run = RunData::load(dir)?;
    let profile_file = dir.join("profile.toml");
    let (profile, _) = crate::config::profile::load(root, &profile_file.to_string_lossy())
        .map_err(|e| {
            anyhow::anyhow!("{e} (the run's copy of its profile is needed to expand the claims)")
        })?;
    let expanded = crate::config::expand::expand(&profile, &claims)?;
    let results = verdict::evaluate_run(&claims, &expanded, &run.summary, &run.trials);
    let paths = PlotPaths::new(dir);
    let (mut figures, mut problems) = plots::render_all(&run, &paths);
    match plots::forest::render(&claims, &results, &paths) {
        Ok(Some(f)) => figures.insert(0, f),
        Ok(None) => {}
        Err(e) => problems.push(format!("forest plot: {e:#}")),
    }
    problems.extend(run.problems.iter().cloned());
    let doc = build(&run, &claims, &results, &figures, &problems);
    let mut files = Vec::new();
    let exporters: [&dyn Exporter; 2] = [&html::Html, &markdown::Markdown];
    for ex in exporters {
        let path = dir.join(ex.file_name());
        crate::run::results::write_atomic(&path, ex.export(&doc, dir)?.as_bytes())?;
        files.push(path);
    }
    Ok(Outcome {
        claims,
        verdicts: results,
        figures,
        files,
        problems,
    })
}

fn figure_block(f: &Figure) -> Block {
    Block::Figure {
        name: f.name.clone(),
        title: f.title.clone(),
        caption: f.caption.clone(),
    }
}

/// The whole document.
pub fn build(
    run: &RunData,
    claims: &Claims,
    verdicts: &Verdicts,
    figures: &[Figure],
    problems: &[String],
) -> Doc {
    let mut b = Vec::new();
    let s = &run.summary;
    let run_name = run
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let status = if s.interrupted {
        "interrupted: only the trials that finished are counted"
    } else if !s.complete {
        "incomplete (still running, or stopped)"
    } else {
        "complete"
    };
    b.push(Block::Para(vec![
        plain(format!("Run {run_name}, profile ")),
        Inline::Strong(s.profile.clone()),
        plain(format!(
            ", {}; {} trials ok, {} invalid, {} failed. Every verdict below is computed from these measurements by the rule shown next to it (harness/claims.toml); none is written by hand. Every interval is labelled with its real coverage, which with few repeats is below 95 % (see under the verdict table and Method).",
            status,
            s.trials.ok,
            s.trials.invalid,
            s.trials.failed,
        )),
    ]));
    environment::header(run, &mut b);

    // ---- the control first: how far this machine's noise alone goes
    b.extend(claims::aa_blocks(verdicts));
    if let Some(f) = figures.iter().find(|f| f.name == "forest") {
        b.push(figure_block(f));
    }

    // ---- verdict table
    b.push(Block::Heading {
        level: 2,
        text: "Verdicts".into(),
        id: "verdicts".into(),
    });
    let compile = compile_tests(run);
    let instead = |c: &ClaimResult| {
        let facts = &claims.claims[c.claim].facts;
        (facts.iter().any(|f| f == "compile-test") && !compile.is_empty()).then(|| {
            compile
                .iter()
                .map(CompileTest::summary)
                .collect::<Vec<_>>()
                .join(" · ")
        })
    };
    b.push(claims::verdict_table(claims, verdicts, figures, &instead));
    b.push(Block::Para(text(
        "supported / refuted: every condition the claim's counted checks cover came out the same way; mixed: supported in some conditions and refuted in others, each side beyond chance after Holm's adjustment over the claim's conditions (named in its section); inconclusive: an interval straddles a threshold, too few rounds were usable, or the run did not measure it. Scenarios a check names but this profile did not run are listed with its verdict.",
    )));
    b.push(Block::Para(text(interval_note(claims))));

    // ---- one section per claim
    let mut shown: Vec<String> = figures
        .iter()
        .filter(|f| f.name == "forest")
        .map(|f| f.name.clone())
        .collect();
    let facts = |c: &ClaimResult| fact_blocks(run, claims, c);
    b.extend(claims::claim_sections(
        claims, verdicts, figures, &facts, &mut shown,
    ));
    b.extend(census::blocks(run, figures, &mut shown));

    // ---- the rest of the plots, scenario by scenario
    b.push(Block::Heading {
        level: 2,
        text: "Every scenario".into(),
        id: "scenarios".into(),
    });
    b.push(Block::Para(text("Plots not shown with a claim above, and each scenario's trial counts and problems. Every trial also has its own timeline.")));
    for sc in &s.scenarios {
        b.push(Block::Heading {
            level: 3,
            text: format!("{} — {}", sc.id, sc.title),
            id: anchor(&format!("scenario {}", sc.id)),
        });
        let counts: Vec<String> = sc
            .variants
            .iter()
            .map(|v| {
                let c = sc.counts.get(v).cloned().unwrap_or_default();
                format!(
                    "{v}: {} ok{}{}",
                    c.ok,
                    if c.invalid > 0 {
                        format!(", {} invalid", c.invalid)
                    } else {
                        String::new()
                    },
                    if c.failed > 0 {
                        format!(", {} failed", c.failed)
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        b.push(Block::Para(text(format!(
            "Claims {}. Trials — {}.",
            sc.claims.join(", "),
            counts.join("; ")
        ))));
        if !sc.problems.is_empty() {
            b.push(Block::Bullets(
                sc.problems.iter().map(|p| text(p.clone())).collect(),
            ));
        }
        for f in figures
            .iter()
            .filter(|f| f.scenario.as_deref() == Some(&sc.id) && f.kind != "trial-timeline")
        {
            if !shown.contains(&f.name) {
                b.push(figure_block(f));
                shown.push(f.name.clone());
            }
        }
        let per_trial: Vec<Line> = figures
            .iter()
            .filter(|f| f.scenario.as_deref() == Some(&sc.id) && f.kind == "trial-timeline")
            .map(|f| {
                vec![Inline::Link(
                    f.name.trim_start_matches("trials/timeline--").to_string(),
                    format!("plots/{}.svg", f.name),
                )]
            })
            .collect();
        if !per_trial.is_empty() {
            b.push(Block::Details {
                summary: format!("Timelines of each trial of {} ({})", sc.id, per_trial.len()),
                blocks: vec![Block::Bullets(per_trial)],
            });
        }
    }
    let rest: Vec<&Figure> = figures
        .iter()
        .filter(|f| f.scenario.is_none() && !shown.contains(&f.name) && f.kind != "send-lag")
        .collect();
    if !rest.is_empty() {
        b.push(Block::Heading {
            level: 3,
            text: "Other comparisons".into(),
            id: "other-plots".into(),
        });
        for f in rest {
            b.push(figure_block(f));
        }
    }

    // ---- the instrument
    b.push(Block::Heading {
        level: 2,
        text: "The load generator".into(),
        id: "load-generator".into(),
    });
    b.push(Block::Para(text(
        "A measurement is only as good as the instrument. The load generator records how late it sent each request against its schedule (send lag); a run whose send-lag p99 exceeds 1 ms, that delivered less than 99 % of the scheduled requests, or that saw any error is marked invalid by the generator itself and never used as valid.",
    )));
    if let Some(f) = figures.iter().find(|f| f.kind == "send-lag") {
        b.push(figure_block(f));
    }

    method(run, claims, &mut b);
    environment(run, &mut b);
    caveats(run, verdicts, &mut b);

    b.push(Block::Heading {
        level: 2,
        text: "Problems".into(),
        id: "problems".into(),
    });
    let mut probs: Vec<Line> = Vec::new();
    for t in run.trials.iter().filter(|t| t.status != Status::Ok) {
        probs.push(vec![
            Inline::Code(t.trial_id.clone()),
            plain(format!(
                " {}: {}",
                if t.status == Status::Invalid {
                    "invalid"
                } else {
                    "failed"
                },
                t.problems.join("; ")
            )),
        ]);
    }
    probs.extend(problems.iter().map(|p| text(p.clone())));
    if probs.is_empty() {
        b.push(Block::Para(text(
            "None: every trial was valid and every plot was drawn.",
        )));
    } else {
        b.push(Block::Bullets(probs));
    }
    b.push(Block::Para(vec![
        plain("Files of this run: see "),
        Inline::Link("results/README.md".into(), "../README.md".into()),
        plain(" (layout, how to re-plot the .hgrm/.hlog files with HdrHistogram's tools, how to compare two runs with "),
        Inline::Code("harness diff".into()),
        plain(")."),
    ]));
    Doc {
        title: format!("Go vs tokio: what the measurements say — {run_name}"),
        blocks: b,
    }
}

/// What the intervals of this report are and what they cover — the same
/// words under the verdict table and in the method section.
pub fn interval_note(claims: &Claims) -> String {
    format!(
        "Intervals, all exact and distribution-free, each with its real coverage (aiming at {}): a single median (threshold checks, bars) comes with its order-statistic interval — with 6 rounds that is min..max, 96.9 %; a comparison of two variants, or of a variant with its baseline scenario, is paired by round (both ran in the same round, so drift between rounds cancels) and comes with the Hodges–Lehmann estimate and the exact Wilcoxon signed-rank interval of the per-round log-ratios (differences) — with 6 rounds also min..max of the per-round values, 96.9 %; a ratio of two metrics of the same trial is taken per trial first, then its median. A side needs {} usable rounds. No bootstrap is used anywhere.",
        words::pct(claims.level),
        claims.min_rounds
    )
}

/// The profile's default repeat count.
fn profile_repeats(run: &RunData) -> Option<usize> {
    run.profile
        .as_ref()?
        .get("defaults")?
        .get("repeats")?
        .as_integer()
        .map(|n| n as usize)
}

/// Fewest valid repeats any variant of any scenario had.
fn min_repeats(run: &RunData) -> Option<usize> {
    run.summary
        .scenarios
        .iter()
        .flat_map(|s| s.counts.values().map(|c| c.ok))
        .filter(|n| *n > 0)
        .min()
}

/// Coverage of the min..max interval of a median with n values.
fn order_stat_coverage(n: usize) -> f64 {
    crate::analyse::stats::estimate(
        &(0..n).map(|i| i as f64).collect::<Vec<_>>(),
        crate::analyse::summary::CONFIDENCE,
    )
    .map(|e| e.confidence)
    .unwrap_or(0.0)
}

fn method(run: &RunData, claims: &Claims, b: &mut Vec<Block>) {
    let d = run.profile.as_ref().and_then(|p| p.get("defaults"));
    let g = |k: &str| {
        d.and_then(|d| d.get(k))
            .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
    };
    b.push(Block::Heading {
        level: 2,
        text: "Method".into(),
        id: "method".into(),
    });
    b.push(Block::Bullets(vec![
        text("Open loop and coordinated omission. Open-loop clients send on a fixed schedule whatever the server does; latency is measured from each request's intended send time (wrk2's correction), so a server stall counts against every request it delayed, not only the one in flight. The uncorrected latency (from the actual write) is kept beside it. Closed-loop scenarios (a fixed number of requests in flight) measure maximum throughput; the open-loop rate steps then run both servers at the same absolute rates, fractions of the lower capacity."),
        text("Histograms, not averages. Every latency is recorded in an HdrHistogram (3 significant digits); percentiles are read from the merged histogram of the measured window after an unrecorded warm-up. Each trial's distribution is kept as .hgrm text and .hlog interval logs."),
        text(format!(
            "Pinning. The server runs on its own CPU(s) ({}), the load generator on the other(s) ({}); the harness and its /proc sampler stay off the server's CPUs. Worker threads = GOMAXPROCS = the server's CPU count unless a scenario sets it.",
            run.meta_str("server_cpus").unwrap_or_else(|| "n/a".into()),
            run.meta_str("client_cpus").unwrap_or_else(|| "n/a".into())
        )),
        text(format!(
            "Repeats and order. Each variant runs {} times per scenario (some scenarios set their own count), with a fresh server per trial, {} s warm-up and {} s measured windows; repeats are interleaved and the variant order rotates each round, so drift hits every variant alike. A correctness probe (the shared protocol vectors) runs before any load.",
            g("repeats").map(|x| x.to_string()).unwrap_or_else(|| "several".into()),
            g("warmup_s").map(units::sig).unwrap_or_else(|| "a short".into()),
            g("duration_s").map(units::sig).unwrap_or_else(|| "short".into())
        )),
        text(format!("Statistics. {} Rank tests are exact with ties (mid-ranks, the permutation distribution). Invalid and failed trials are kept and listed, never used as valid; a server's failure (crash, errors, timeouts, overload) is a result the outcome checks read, not a broken measurement.", interval_note(claims))),
        text("Verdicts. Each claim's checks are data in harness/claims.toml: which scenarios and metrics, and the regions its interval must lie in to support or refute the claim. The whole interval must lie in a region; otherwise the check is inconclusive. The rule is printed next to every verdict."),
        text("Fairness. Both servers speak the same protocol bytes with the same buffer sizes (16 KiB), TCP_NODELAY, the same SHA-256 chain for CPU work, the same worker count, and a correctness probe checks each before load. Each is written the way its practitioners write it: a goroutine per connection in Go; a task per connection in tokio, with every offloading strategy (spawn_blocking, block_in_place, rayon, tokio::fs) side by side as separate variants."),
    ]));
}

// ------------------------------------------------------- facts of the run

/// A key of the configuration a program recorded (a server's config line,
/// a microbenchmark's `env`), as text.
fn config_value(cfg: &serde_json::Value, key: &str) -> Option<String> {
    let v = cfg.get(key).filter(|v| !v.is_null())?;
    Some(
        v.as_str()
            .map(String::from)
            .unwrap_or_else(|| v.to_string()),
    )
}

/// The program a trial ran and whether it is Go: network servers from
/// their config line's `server`, microbenchmarks from their binary.
fn program_of(t: &crate::run::trial::TrialRecord) -> Option<(String, bool)> {
    let cfg = t.server.config.as_ref()?;
    let bin = Path::new(&t.server.binary)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| t.server.binary.clone());
    if t.micro_document.is_some() {
        return Some((bin, t.language == crate::config::profile::Language::Go));
    }
    match cfg.get("server").and_then(|v| v.as_str()) {
        Some("go") => Some((
            if bin.is_empty() {
                "go-server".into()
            } else {
                bin
            },
            true,
        )),
        Some("rust") => Some((
            if bin.is_empty() {
                "rust-server".into()
            } else {
                bin
            },
            false,
        )),
        _ => None,
    }
}

/// One configuration key over every trial of the programs of one language:
/// "go-server 10000 (every trial); go-micro 10000 (every trial)", with the
/// scenarios named where a program's value differs between them.
fn config_over_trials(run: &RunData, go: bool, key: &str, unit: &str) -> Option<String> {
    use std::collections::BTreeMap;
    // program -> value -> scenarios
    let mut seen: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for t in &run.trials {
        let Some((program, is_go)) = program_of(t) else {
            continue;
        };
        if is_go != go {
            continue;
        }
        let cfg = t.server.config.as_ref().expect("program_of checked");
        let value = config_value(cfg, key)
            .map(|v| format!("{v}{unit}"))
            .unwrap_or_else(|| "not recorded".into());
        let scenarios = seen.entry(program).or_default().entry(value).or_default();
        if !scenarios.contains(&t.scenario) {
            scenarios.push(t.scenario.clone());
        }
    }
    seen.retain(|_, values| values.keys().any(|v| v != "not recorded"));
    if seen.is_empty() {
        return None;
    }
    Some(
        seen.iter()
            .map(|(program, values)| {
                if values.len() == 1 {
                    let v = values.keys().next().expect("one value");
                    format!("{program} {v} (every trial)")
                } else {
                    let parts: Vec<String> = values
                        .iter()
                        .map(|(v, sc)| format!("{v} ({})", sc.join(", ")))
                        .collect();
                    format!("{program} {}", parts.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Go's OS-thread limit (debug.SetMaxThreads) and tokio's blocking-pool
/// limit and keep-alive, as the servers' config lines and the
/// microbenchmarks' `env` recorded them: (label, value) rows.
pub fn thread_limits(run: &RunData) -> Vec<(String, String)> {
    let none = || "not recorded by any program in this run".to_string();
    vec![
        (
            "Go thread limit (debug.SetMaxThreads: max_threads)".into(),
            config_over_trials(run, true, "max_threads", "").unwrap_or_else(none),
        ),
        (
            "tokio blocking-pool limit (max_blocking_threads)".into(),
            config_over_trials(run, false, "max_blocking_threads", "").unwrap_or_else(none),
        ),
        (
            "tokio blocking-thread keep-alive (blocking_keep_alive_ms)".into(),
            config_over_trials(run, false, "blocking_keep_alive_ms", " ms").unwrap_or_else(none),
        ),
    ]
}

/// The outcome of one C12 compile-probe trial, from its `micro_document`
/// (written by `micro::c12`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompileTest {
    pub trial_id: String,
    pub status: Status,
    pub problems: Vec<String>,
    pub spawn_source: String,
    /// None when the trial recorded no outcome (it failed before).
    pub spawn_compiles: Option<bool>,
    /// The compiler's `error[...]` line.
    pub compiler_error: String,
    pub local_source: String,
    pub local_runs: Option<bool>,
    pub local_output: String,
    pub local_stderr: String,
}

/// Every C12 compile-probe trial of the run, in trial order.
pub fn compile_tests(run: &RunData) -> Vec<CompileTest> {
    let s =
        |v: Option<&serde_json::Value>| v.and_then(|x| x.as_str()).unwrap_or_default().to_string();
    run.trials
        .iter()
        .filter(|t| {
            t.micro_document
                .as_ref()
                .and_then(|d| d.get("bench"))
                .and_then(|b| b.as_str())
                == Some("c12")
                || (t.micro_document.is_none() && t.server.binary == "cargo")
        })
        .map(|t| {
            let d = t.micro_document.as_ref();
            let spawn = d.and_then(|d| d.get("spawn_rc"));
            let local = d.and_then(|d| d.get("local_set"));
            CompileTest {
                trial_id: t.trial_id.clone(),
                status: t.status,
                problems: t.problems.clone(),
                spawn_source: s(spawn.and_then(|x| x.get("source"))),
                spawn_compiles: spawn
                    .and_then(|x| x.get("compiles"))
                    .and_then(|x| x.as_bool()),
                compiler_error: s(spawn.and_then(|x| x.get("compiler_error"))),
                local_source: s(local.and_then(|x| x.get("source"))),
                local_runs: local.and_then(|x| x.get("runs")).and_then(|x| x.as_bool()),
                local_output: s(local.and_then(|x| x.get("output"))),
                local_stderr: s(local.and_then(|x| x.get("stderr_tail"))),
            }
        })
        .collect()
}

impl CompileTest {
    /// One line for the verdict table.
    pub fn summary(&self) -> String {
        let spawn = match self.spawn_compiles {
            Some(false) if !self.compiler_error.is_empty() => {
                format!("does not compile ({})", self.compiler_error)
            }
            Some(false) => "does not compile".to_string(),
            Some(true) => "compiles".to_string(),
            None => "no outcome recorded".to_string(),
        };
        let local = match self.local_runs {
            Some(true) => format!("built and ran (printed {})", self.local_output),
            Some(false) => "did not build or run".to_string(),
            None => "no outcome recorded".to_string(),
        };
        format!(
            "compile test {}: tokio::spawn of an Rc-holding future {spawn}; the same future under LocalSet::spawn_local {local}",
            self.trial_id
        )
    }

    fn blocks(&self) -> Vec<Line> {
        let src = |x: &str, default: &str| {
            if x.is_empty() {
                default.to_string()
            } else {
                x.to_string()
            }
        };
        let mut spawn = vec![
            Inline::Code(src(&self.spawn_source, "rust/micro/c12/spawn_rc.rs")),
            plain(" — "),
            Inline::Code("tokio::spawn".into()),
            plain(" of a future holding an "),
            Inline::Code("Rc".into()),
            plain(" across an "),
            Inline::Code(".await".into()),
            plain(": "),
        ];
        match self.spawn_compiles {
            Some(false) => {
                spawn.push(Inline::Strong("did not compile".into()));
                if self.compiler_error.is_empty() {
                    spawn.push(plain(" (no error[...] line recorded)"));
                } else {
                    spawn.push(plain("; the compiler said "));
                    spawn.push(Inline::Code(self.compiler_error.clone()));
                }
            }
            Some(true) => spawn.push(Inline::Strong("compiled".into())),
            None => spawn.push(plain("no outcome recorded")),
        }
        spawn.push(plain(format!(" (trial {}).", self.trial_id)));
        let mut local = vec![
            Inline::Code(src(&self.local_source, "rust/micro/c12/local_set.rs")),
            plain(" — the same future under "),
            Inline::Code("LocalSet::spawn_local".into()),
            plain(": "),
        ];
        match self.local_runs {
            Some(true) => {
                local.push(Inline::Strong("compiled and ran".into()));
                local.push(plain(format!(
                    ", printing {} as expected.",
                    self.local_output
                )));
            }
            Some(false) => {
                local.push(Inline::Strong("did not compile or did not run".into()));
                local.push(plain(if self.local_stderr.is_empty() {
                    ".".to_string()
                } else {
                    format!(" (cargo's last line: {}).", self.local_stderr)
                }));
            }
            None => local.push(plain("no outcome recorded.")),
        }
        let mut out = vec![spawn, local];
        if self.status != Status::Ok {
            out.push(text(format!(
                "The trial is {}: {}",
                if self.status == Status::Invalid {
                    "invalid"
                } else {
                    "failed"
                },
                self.problems.join("; ")
            )));
        }
        out
    }
}

/// The C12 section's account of the compile test.
fn compile_test_blocks(run: &RunData) -> Vec<Block> {
    let tests = compile_tests(run);
    let mut b = vec![Block::Para(vec![Inline::Strong(
        "The compile test (what the compiler said in this run): ".into(),
    )])];
    if tests.is_empty() {
        b.push(Block::Para(text(
            "Not run in this run: the profile has no c12 microbenchmark.",
        )));
    } else {
        b.push(Block::Bullets(
            tests.iter().flat_map(|t| t.blocks()).collect(),
        ));
    }
    b.push(Block::Para(vec![
        plain("The test suite checks the same facts: "),
        Inline::Code("cargo test -p rtc-micro --test c12_send".into()),
        plain(" (rust/micro/tests/c12_send.rs: the trybuild compile-fail case rust/micro/tests/ui/spawn_rc_fails.rs, whose expected compiler output is checked in as rust/micro/tests/ui/spawn_rc_fails.stderr, and a test that runs the future with spawn_local). "),
        Inline::Code("make test".into()),
        plain(" runs it; a harness run does not, so its result is not part of this report — the probes above are."),
    ]));
    b
}

/// The microbenchmarks' arguments as run, for the claim's scenarios:
/// "micro-spawn: spawn --n 100000 --repeats 3 (go-micro, rust-micro)".
pub fn micro_parameters(run: &RunData, scenarios: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for sc in scenarios {
        let mut by_args: Vec<(String, Vec<String>)> = Vec::new();
        for t in run.trials.iter().filter(|t| {
            &t.scenario == sc && t.micro_document.is_some() && t.server.binary != "cargo"
        }) {
            let mut args = Vec::new();
            let mut it = t.server.args.iter();
            while let Some(a) = it.next() {
                if a == "--json" {
                    it.next();
                } else {
                    args.push(a.clone());
                }
            }
            let args = args.join(" ");
            match by_args.iter_mut().find(|(a, _)| *a == args) {
                Some((_, programs)) => {
                    if !programs.contains(&t.server.binary) {
                        programs.push(t.server.binary.clone());
                    }
                }
                None => by_args.push((args, vec![t.server.binary.clone()])),
            }
        }
        for (args, programs) in by_args {
            out.push(format!("{sc}: {args} ({})", programs.join(", ")));
        }
    }
    out
}

/// The facts a claim asks for (`facts` in claims.toml), as blocks.
fn fact_blocks(run: &RunData, claims: &Claims, c: &ClaimResult) -> Vec<Block> {
    let claim = &claims.claims[c.claim];
    let mut b = Vec::new();
    for f in &claim.facts {
        match f.as_str() {
            "thread-limits" => {
                let mut line = vec![Inline::Strong(
                    "Thread limits in this run (as each program recorded them): ".into(),
                )];
                line.push(plain(
                    thread_limits(run)
                        .iter()
                        .map(|(l, v)| format!("{l}: {v}"))
                        .collect::<Vec<_>>()
                        .join(". "),
                ));
                line.push(plain("."));
                b.push(Block::Para(line));
            }
            "compile-test" => b.extend(compile_test_blocks(run)),
            "parameters" => {
                let mut scenarios: Vec<String> = Vec::new();
                for k in &c.checks {
                    for cond in &k.conditions {
                        let sc = cond.sides.scenario().to_string();
                        if !scenarios.contains(&sc) {
                            scenarios.push(sc);
                        }
                    }
                }
                let params = micro_parameters(run, &scenarios);
                if !params.is_empty() {
                    let mut line = vec![Inline::Strong(
                        "Microbenchmark parameters in this run: ".into(),
                    )];
                    for (i, p) in params.iter().enumerate() {
                        if i > 0 {
                            line.push(plain("; "));
                        }
                        line.push(Inline::Code(p.clone()));
                    }
                    line.push(plain("."));
                    b.push(Block::Para(line));
                }
            }
            _ => {}
        }
    }
    b
}

fn caveats(run: &RunData, verdicts: &Verdicts, b: &mut Vec<Block>) {
    b.push(Block::Heading {
        level: 2,
        text: "Caveats".into(),
        id: "caveats".into(),
    });
    let mut items: Vec<Line> = Vec::new();
    let server_cpus = run
        .meta_str("server_cpus")
        .and_then(|s| rtc_common::affinity::parse_cpu_list(&s).ok())
        .map(|v| v.len());
    if server_cpus.is_none_or(|n| n <= 1) {
        items.push(text("The server had one CPU, so one tokio worker and GOMAXPROCS=1. What needs several cores cannot show here: tokio's work stealing between workers, Go handing a P to another idle P, parallel speed-up, and contention between workers. On a one-worker server a blocked worker has no other worker to take its tasks; what a stall does with several workers (where tokio's documentation says other workers can steal queued tasks) is not measured by a one-CPU run."));
    }
    items.push(text("The load generator, the harness and its /proc sampler share the other CPU. The send-lag plot shows whether the generator kept its schedule; an open-loop run that fell behind is invalid, but a closed-loop run at saturation may be limited by the client as much as by the server (the generator flags that as client_bound)."));
    let (bad, total) = (
        run.summary.trials.invalid + run.summary.trials.failed,
        run.summary.trials.ok + run.summary.trials.invalid + run.summary.trials.failed,
    );
    if bad > 0 {
        let lag = run
            .trials
            .iter()
            .filter(|t| t.problems.iter().any(|p| p.contains("send lag")))
            .count();
        items.push(text(format!(
            "{bad} of {total} trials were invalid or failed{}. They are listed under Problems and left out of every statistic, so the claims they would have decided are inconclusive. The load generator shares its CPU with the harness; anything else running on the machine (a build, another test) shows up here first. Re-run on an otherwise idle machine.",
            if lag > 0 { format!(" ({lag} because the load generator fell behind its schedule: see the send-lag plot)") } else { String::new() }
        )));
    }
    if let Some(n) = profile_repeats(run).or(min_repeats(run))
        && order_stat_coverage(n) < 0.95
    {
        items.push(text(format!(
            "Few rounds: with {n} rounds an interval covers its parameter with {} only, and a rank test cannot reach small p-values. Verdicts of this run are provisional.",
            words::pct(order_stat_coverage(n))
        )));
    }
    items.push(text("Loopback only: no NIC, no interrupts, no real network latency; kernel TCP costs are shared by both servers and can dominate small-message CPU figures. CPU time comes from /proc at clock-tick (10 ms) granularity, integrated over windows of one second or more."));
    if let Some(cpu) = run.meta_str("cpu_model") {
        items.push(text(format!("Hardware: {cpu}. On a shared or virtual machine, neighbours' load adds noise the intervals only partly capture.")));
    }
    let unmeasured: Vec<&str> = verdicts
        .claims
        .iter()
        .filter(|c| c.not_measured)
        .map(|c| c.id.as_str())
        .collect();
    if !unmeasured.is_empty() {
        items.push(text(format!("Not measured in this run: {} (their scenarios or microbenchmarks are not in this profile or did not run).", unmeasured.join(", "))));
    }
    if run.summary.interrupted || !run.summary.complete {
        items.push(text(
            "This run did not complete: the statistics cover only the trials that finished.",
        ));
    }
    b.push(Block::Bullets(items));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::verdict::Verdict;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    /// The text of the section whose heading starts with `start`, up to the
    /// next heading of the same level.
    fn section(md: &str, start: &str) -> String {
        let head = format!("## {start}");
        let i = md
            .lines()
            .position(|l| l.starts_with(&head))
            .unwrap_or_else(|| panic!("no section {start}"));
        md.lines()
            .skip(i + 1)
            .take_while(|l| !l.starts_with("## "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn fixture_profile() -> (crate::config::profile::Profile, ()) {
        let root = root();
        let vtext = std::fs::read_to_string(root.join("harness/variants.toml")).unwrap();
        let variants =
            crate::config::profile::parse_variants(Path::new("variants.toml"), &vtext).unwrap();
        (
            crate::config::profile::parse_profile(
                Path::new("fixture.toml"),
                fixture::PROFILE,
                &variants,
            )
            .unwrap(),
            (),
        )
    }

    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("rtc-report-{name}-{}", std::process::id()))
    }

    #[test]
    fn report_of_a_synthetic_run() {
        // RTC_KEEP_FIXTURE=/some/dir keeps the run (and its plots) for a look.
        let dir = std::env::var_os("RTC_KEEP_FIXTURE")
            .map(PathBuf::from)
            .unwrap_or_else(|| scratch("fixture"));
        fixture::write_run(&dir, |_| {});
        let out = write(&root(), &dir).unwrap();
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        // Every claim has a verdict row linking to its section, and the
        // section's heading (and each check's) is in both files.
        let reason = |c: &ClaimResult| words::claim_reason(&out.claims, c);
        for c in &out.verdicts.claims {
            let heading = format!("{} — {}", c.id, out.claims.claims[c.claim].title);
            let md_heading = format!(
                "<a id=\"{}\"></a>\n## {}\n",
                claims::claim_anchor(c),
                markdown::esc(&heading)
            );
            assert!(md.contains(&md_heading), "report.md lacks {md_heading:?}");
            assert!(
                md.contains(&format!("(#{})", claims::claim_anchor(c))),
                "report.md's verdict table does not link to {}",
                c.id
            );
            let html_heading = format!(
                "<h2 id=\"{}\">{}</h2>",
                claims::claim_anchor(c),
                html::esc(&heading)
            );
            assert!(
                html.contains(&html_heading),
                "report.html lacks {html_heading:?}"
            );
            for k in &c.checks {
                let id = anchor(&format!("{} {}", c.id, k.name));
                assert!(
                    md.contains(&format!(
                        "<a id=\"{id}\"></a>\n### {}",
                        markdown::esc(&format!("{}: {}", c.id, k.name))
                    )),
                    "report.md lacks the section of check {} {}",
                    c.id,
                    k.name
                );
            }
        }
        // The fixture measures C1, C3-C8 and C12; C9 and C11 are not measured.
        let by_id = |id: &str| out.verdicts.claims.iter().find(|c| c.id == id).unwrap();
        for id in ["C9", "C11"] {
            assert!(
                by_id(id).not_measured && by_id(id).verdict == Verdict::Inconclusive,
                "{id}"
            );
            assert!(
                reason(by_id(id)).contains("not measured in this run"),
                "{}",
                reason(by_id(id))
            );
        }
        assert_eq!(
            by_id("C6").checks[0].verdict,
            Verdict::Refuted,
            "{}",
            words::check_reason(&out.claims, &by_id("C6").checks[0])
        );
        assert!(!by_id("C1").not_measured);
        // C12 cites the compile probes' outcome and the test that checks it.
        assert_eq!(
            by_id("C12").verdict,
            Verdict::Refuted,
            "{}",
            reason(by_id("C12"))
        );
        let c12 = section(&md, "C12");
        for want in [
            "did not compile",
            "error[E0277]: 'Rc<u64>' cannot be sent between threads safely",
            "compiled and ran",
            "rust/micro/tests/c12\\_send.rs",
            "spawn\\_rc\\_fails.rs",
        ] {
            assert!(c12.contains(want), "C12 section lacks {want:?}:\n{c12}");
        }
        let row = md
            .lines()
            .find(|l| l.starts_with("| [C12 "))
            .expect("C12's verdict row");
        assert!(
            row.contains("does not compile") && row.contains("E0277"),
            "{row}"
        );
        // Thread limits: in the environment and with C7, for servers and microbenchmarks.
        let env = section(&md, "Environment");
        for want in [
            "go-server 10000 (every trial)",
            "go-micro 10000 (every trial)",
            "rust-server 512 (every trial)",
            "rust-micro 512 (every trial)",
            "rust-micro 10000 ms (every trial)",
        ] {
            assert!(env.contains(want), "Environment lacks {want:?}:\n{env}");
        }
        // Placement and provenance (the 2-vCPU fixture host).
        for want in [
            "| placement | server: CPUs 0, 1 core, package/node/L3 0/0/0; load generator: CPUs 1",
            "| host CPUs | 2 cores, 2 threads, 1 package; SMT inactive",
            "| virtualization | VM: kvm (systemd-detect-virt), hypervisor CPU flag |",
            "| frequency governor | unavailable: CPUs 0-1 |",
            "| steal time over the run | 0.40 % of CPUs 0-1's time (warning above 2 %) |",
            "| tokio (linked) | 1.54.1",
            "| transparent huge pages | madvise |",
            "no cpufreq in this VM",
        ] {
            assert!(env.contains(want), "Environment lacks {want:?}:\n{env}");
        }
        let head: String = md.lines().take_while(|l| !l.starts_with("## ")).collect();
        assert!(
            head.contains("Machine and run warnings")
                && head.contains("capacity checks will be client-bound"),
            "{head}"
        );
        let c7 = section(&md, "C7");
        assert!(
            c7.contains("Thread limits in this run")
                && c7.contains("debug.SetMaxThreads")
                && c7.contains("go-micro 10000")
                && c7.contains("rust-server 512"),
            "{c7}"
        );
        // Parameters as run: the idle period of the burst.
        assert!(
            c7.contains("blocking-burst --n 1000 --ms 50 --idle 11"),
            "{c7}"
        );
        // C7's network checks name the scenario... and the fixture has both.
        // C1 lists scenarios the fixture does not run: its verdict says which.
        let c1 = section(&md, "C1");
        assert!(
            c1.contains("not run in this profile: echo-cap-16k, echo-cap-64b-1k"),
            "{c1}"
        );
        // Intervals are labelled with their real coverage.
        assert!(
            md.contains("with 6 rounds that is min..max, 96.9 %"),
            "intro/method"
        );
        assert!(!md.contains("bootstrap interval"), "no bootstrap anywhere");
        for f in out.figures.iter().filter(|f| f.kind == "bars") {
            assert!(
                f.caption.contains("96.9 %") && f.caption.contains("min..max"),
                "{}: {}",
                f.name,
                f.caption
            );
        }
        // The fixture's metrics come from the real metrics::derive: every
        // check names a metric its scenarios really have.
        for c in &out.verdicts.claims {
            for k in &c.checks {
                for cond in &k.conditions {
                    let missing = cond
                        .left_out
                        .iter()
                        .any(|l| matches!(l.why, crate::analyse::verdict::LeftOutWhy::Missing));
                    assert!(!missing, "{} {}: a metric the fixture lacks", c.id, k.name);
                }
            }
        }
        // Every plot drawn is one the plot module says it can draw.
        let (p, _) = fixture_profile();
        let possible = crate::present::plots::possible_names(&p);
        for f in out.figures.iter().filter(|f| f.kind != "trial-timeline") {
            assert!(possible.contains(&f.name), "{} not in {possible:?}", f.name);
        }
        // C7 from the blocking-burst microbenchmark: tokio grows and shrinks, Go hands off.
        assert_eq!(
            by_id("C7").verdict,
            Verdict::Supported,
            "{}",
            reason(by_id("C7"))
        );
        assert!(
            out.figures
                .iter()
                .any(|f| f.name == "timeline-micro-blocking-burst")
        );
        assert!(
            out.figures
                .iter()
                .any(|f| f.name == "bars-micro-blocking-burst")
        );
        // Plots: SVG and PNG for each, inlined in the HTML, linked from the Markdown.
        for kind in [
            "spectrum",
            "knee",
            "hol",
            "bars",
            "timeline",
            "trial-timeline",
            "send-lag",
        ] {
            assert!(out.figures.iter().any(|f| f.kind == kind), "no {kind} plot");
        }
        for f in &out.figures {
            let svg = dir.join(format!("plots/{}.svg", f.name));
            let png = dir.join(format!("plots/{}.png", f.name));
            assert!(
                std::fs::metadata(&svg).unwrap().len() > 1000,
                "{}",
                svg.display()
            );
            let bytes = std::fs::read(&png).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
        }
        assert!(html.contains("<svg") && !html.contains("<img"));
        let no_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !no_ns.contains("src=\"http") && !no_ns.contains("href=\"http"),
            "report.html fetches nothing"
        );
        assert!(md.contains("(plots/spectrum-echo-cap-64b.png)"));
        assert!(
            html.contains("Method") && html.contains("Environment") && html.contains("Caveats")
        );
        assert!(html.contains("Synthetic CPU"));
        // The terminal table lists every claim.
        let t = claims::verdict_table_text(&out.claims, &out.verdicts);
        for c in &out.verdicts.claims {
            assert!(t.contains(&c.id));
        }
        assert!(t.contains("A/A control"), "{t}");
        if std::env::var_os("RTC_KEEP_FIXTURE").is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn invalid_trials_make_their_claims_inconclusive_with_the_reason() {
        let dir = scratch("invalid");
        fixture::write_run(&dir, |t| {
            if t.scenario == "firehose-probe" && t.variant == "rust-coop-off" && t.repeat <= 2 {
                t.status = Status::Invalid;
                t.problems.push("load generator probe marked its run invalid: send lag p99 2000 µs exceeds 1000 µs".into());
            }
        });
        let out = write(&root(), &dir).unwrap();
        let c8 = out.verdicts.claims.iter().find(|c| c.id == "C8").unwrap();
        assert_eq!(c8.verdict, Verdict::Inconclusive);
        let r = words::claim_reason(&out.claims, c8);
        assert!(
            r.contains("4 usable rounds")
                && r.contains("measurement invalid")
                && r.contains("send lag"),
            "{r}"
        );
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(html.contains("firehose-probe--rust-coop-off--r2"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_summary_is_one_clear_error() {
        let dir = scratch("empty");
        std::fs::create_dir_all(&dir).unwrap();
        let e = write(&root(), &dir).err().unwrap().to_string();
        assert!(e.contains("no summary.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The JSON Schemas of schemas/ checked against files a run writes, with
/// the validator in `crate::schema_check`.
#[cfg(test)]
mod schema_tests {
    use crate::schema_check::{check, check_run};
    use std::path::Path;

    fn schema(name: &str) -> serde_json::Value {
        crate::schema_check::schema(name).unwrap()
    }

    #[test]
    fn run_files_follow_their_schemas() {
        let dir = std::env::temp_dir().join(format!("rtc-report-schema-{}", std::process::id()));
        super::fixture::write_run(&dir, |_| {});
        let errs = check_run(&dir);
        assert!(errs.is_empty(), "{errs:#?}");
        // A real run directory, when given (e.g. after `harness run`).
        if let Some(real) = std::env::var_os("RTC_SCHEMA_CHECK_DIR") {
            let errs = check_run(Path::new(&real));
            assert!(errs.is_empty(), "{errs:#?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_validator_catches_missing_keys_and_wrong_types() {
        let s = schema("meta.schema.json");
        let mut m = super::fixture::meta("x");
        m.as_object_mut().unwrap().remove("git_commit");
        m["cpu_count_online"] = serde_json::json!("two");
        let mut errs = Vec::new();
        check(&s, &m, &s, "meta", &mut errs);
        assert!(errs.iter().any(|e| e.contains("git_commit")), "{errs:?}");
        assert!(
            errs.iter().any(|e| e.contains("cpu_count_online")),
            "{errs:?}"
        );
    }
}
