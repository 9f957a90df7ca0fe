//! `harness report DIR`: reads a run directory, evaluates every claim's
//! rules (`verdict`), draws the plots (`plots`), and writes `report.md` and
//! a self-contained `report.html` — the verdict table first, then one
//! section per claim with its checks, numbers and plots, then the other
//! plots, method, environment and caveats. Ends by printing the verdict
//! table and the report's path.
//!
//! Modules: `data` (the run read back), `doc` (the document tree and the
//! `Exporter` trait), `markdown`/`html` (one file per format), `units`.

pub mod data;
pub mod doc;
#[cfg(test)]
pub mod fixture;
pub mod html;
pub mod markdown;
pub mod units;

use crate::plots::{self, Figure, PlotPaths};
use crate::trial::Status;
use crate::verdict::{self, CheckResult, ClaimResult, Condition, Evidence, TrialFacts};
use anyhow::Result;
use data::RunData;
use doc::{Block, Doc, Exporter, Inline, Line, anchor, rich, text};
use std::path::{Path, PathBuf};

/// What `run` produced.
pub struct Outcome {
    pub claims: Vec<ClaimResult>,
    pub figures: Vec<Figure>,
    pub files: Vec<PathBuf>,
    pub problems: Vec<String>,
}

/// Writes the report of the run in `dir`; prints the verdict table and the path.
pub fn run(root: &Path, dir: &Path) -> Result<()> {
    let out = write(root, dir)?;
    print!("{}", verdict_table_text(&out.claims));
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
    let claims = verdict::load(root)?;
    let run = RunData::load(dir)?;
    let facts: Vec<TrialFacts> = run.trials.iter().map(TrialFacts::of).collect();
    let results = verdict::evaluate(
        &claims,
        &Evidence {
            summary: &run.summary,
            trials: &facts,
        },
    );
    let paths = PlotPaths::new(dir);
    let (figures, mut problems) = plots::render_all(&run, &paths);
    problems.extend(run.problems.iter().cloned());
    let doc = build(&run, &results, &figures, &problems);
    let mut files = Vec::new();
    let exporters: [&dyn Exporter; 2] = [&html::Html, &markdown::Markdown];
    for ex in exporters {
        let path = dir.join(ex.file_name());
        crate::results::write_atomic(&path, ex.export(&doc, dir)?.as_bytes())?;
        files.push(path);
    }
    Ok(Outcome {
        claims: results,
        figures,
        files,
        problems,
    })
}

/// The verdict table for the terminal.
pub fn verdict_table_text(claims: &[ClaimResult]) -> String {
    let mut out = String::from("\nclaim  verdict       key numbers\n");
    for c in claims {
        let numbers = key_numbers(c);
        let mut first = true;
        let lines = if numbers.is_empty() {
            vec![c.reason.clone()]
        } else {
            numbers
        };
        for l in lines.iter().take(3) {
            let l: String = if l.chars().count() > 110 {
                format!("{}…", l.chars().take(109).collect::<String>())
            } else {
                l.clone()
            };
            if first {
                out.push_str(&format!("{:<6} {:<13} {l}\n", c.id, c.verdict.word()));
                first = false;
            } else {
                out.push_str(&format!("{:<20} {l}\n", ""));
            }
        }
    }
    out
}

/// Short "check: condition value [lo, hi]" lines for a claim's counted checks.
pub fn key_numbers(c: &ClaimResult) -> Vec<String> {
    let mut out = Vec::new();
    for k in c.checks.iter().filter(|k| !k.informational && !k.skipped) {
        if k.not_measured {
            out.push(format!("{}: not measured in this run", k.name));
            continue;
        }
        let with_values: Vec<&Condition> =
            k.conditions.iter().filter(|c| c.value.is_some()).collect();
        if with_values.is_empty() {
            // Rules without a number (all_alive): the verdict and its reason.
            let line = match k
                .conditions
                .iter()
                .find(|c| c.data_problem)
                .or(k.conditions.first())
            {
                Some(c) if c.data_problem => format!("{}: n/a ({})", k.name, c.reason),
                Some(c) => format!("{}: {} ({})", k.name, k.verdict, c.reason),
                None => format!("{}: no data", k.name),
            };
            out.push(line);
            continue;
        }
        let shown: Vec<String> = with_values
            .iter()
            .take(2)
            .map(|c| {
                format!(
                    "{} {}",
                    c.label,
                    c.value.as_ref().map(|v| v.text()).unwrap_or_default()
                )
            })
            .collect();
        let more = if with_values.len() > 2 {
            format!(" (+{} more)", with_values.len() - 2)
        } else {
            String::new()
        };
        out.push(format!("{}: {}{more}", k.name, shown.join("; ")));
    }
    out
}

fn plain(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0).replace(".0 %", " %")
}

/// The interval's coverage in words.
fn coverage(v: &verdict::Value) -> String {
    match v.kind {
        "median" => format!("{} (order statistics, real coverage)", pct(v.confidence)),
        _ => format!("{} bootstrap (nominal)", pct(v.confidence)),
    }
}

fn side_text(s: &verdict::Side, with_metric: bool) -> String {
    let u = units::unit_of(&s.metric);
    let e = &s.estimate;
    let what = if with_metric {
        format!("{} {} {}", s.scenario, s.variant, s.metric)
    } else {
        format!("{} {}", s.scenario, s.variant)
    };
    format!(
        "{what}: {} [{}, {}] (n={}, {})",
        u.fmt(e.median),
        u.fmt(e.lo),
        u.fmt(e.hi),
        e.n,
        pct(e.confidence)
    )
}

fn condition_rows(k: &CheckResult) -> Vec<Vec<Line>> {
    k.conditions
        .iter()
        .map(|c| {
            let (value, cov, p) = match &c.value {
                Some(v) => (
                    v.text(),
                    coverage(v),
                    v.p_value
                        .map(|p| {
                            format!(
                                "{p:.3}{}",
                                if v.test_can_reach_005 == Some(false) {
                                    " (n too small for p < 0.05)"
                                } else {
                                    ""
                                }
                            )
                        })
                        .unwrap_or_else(|| "—".into()),
                ),
                None => ("n/a".into(), "—".into(), "—".into()),
            };
            let sides = c
                .sides
                .iter()
                .map(|x| side_text(x, c.sides.iter().any(|y| y.metric != x.metric)))
                .collect::<Vec<_>>()
                .join("; ");
            vec![
                text(c.label.clone()),
                vec![Inline::Verdict(c.verdict)],
                text(value),
                text(cov),
                text(if sides.is_empty() {
                    "—".into()
                } else {
                    sides
                }),
                text(p),
                text(c.reason.clone()),
            ]
        })
        .collect()
}

fn figure_block(f: &Figure) -> Block {
    Block::Figure {
        name: f.name.clone(),
        title: f.title.clone(),
        caption: f.caption.clone(),
    }
}

fn claim_anchor(c: &ClaimResult) -> String {
    anchor(&format!("claim {}", c.id))
}

/// The whole document.
pub fn build(
    run: &RunData,
    claims: &[ClaimResult],
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
            ", {}; {} trials ok, {} invalid, {} failed. Every verdict below is computed from these measurements by the rule shown next to it (harness/claims.toml); none is written by hand. Intervals are for the median over repeats, each with its real coverage ({}).",
            status,
            s.trials.ok,
            s.trials.invalid,
            s.trials.failed,
            match profile_repeats(run) {
                Some(n) => format!("this profile runs {n} repeats: a median's interval then covers it with {}", pct(order_stat_coverage(n))),
                None => "stated with each number".into(),
            }
        )),
    ]));

    // ---- verdict table
    b.push(Block::Heading {
        level: 2,
        text: "Verdicts".into(),
        id: "verdicts".into(),
    });
    let fig_names: Vec<&str> = figures.iter().map(|f| f.name.as_str()).collect();
    let rows = claims
        .iter()
        .map(|c| {
            let nums = key_numbers(c);
            let plot = c.plots.iter().find(|p| fig_names.contains(&p.as_str()));
            vec![
                vec![Inline::Link(
                    format!("{} {}", c.id, c.title),
                    format!("#{}", claim_anchor(c)),
                )],
                vec![Inline::Verdict(c.verdict)],
                text(if nums.is_empty() {
                    c.reason.clone()
                } else {
                    nums.join(" · ")
                }),
                match plot {
                    Some(p) => vec![Inline::Link(p.clone(), format!("#plot-{}", anchor(p)))],
                    None => text("—"),
                },
            ]
        })
        .collect();
    b.push(Block::Table {
        head: vec![
            "claim".into(),
            "verdict".into(),
            "key numbers (median ratio or value [interval])".into(),
            "plot".into(),
        ],
        rows,
    });
    b.push(Block::Para(text(
        "supported / refuted: every condition the claim's checks cover came out the same way; mixed: supported in some conditions and refuted in others (named in its section); inconclusive: an interval straddles a threshold, a trial was invalid or failed, or the run did not measure it.",
    )));

    // ---- one section per claim
    let mut shown: Vec<String> = Vec::new();
    for c in claims {
        b.push(Block::Heading {
            level: 2,
            text: format!("{} — {}", c.id, c.title),
            id: claim_anchor(c),
        });
        b.push(Block::Quote(text(c.statement.clone())));
        b.push(Block::Para(vec![
            Inline::Strong("Verdict: ".into()),
            Inline::Verdict(c.verdict),
            plain(format!(" — {}", c.reason)),
        ]));
        b.push(Block::Bullets(vec![
            vec![
                Inline::Strong("Experiment: ".into()),
                plain(c.experiment.clone()),
            ],
            vec![
                Inline::Strong("What the documented internals predict: ".into()),
                plain(c.prediction.clone()),
            ],
        ]));
        if let Some(n) = &c.notes {
            let mut note = vec![Inline::Strong("Note: ".into())];
            note.extend(rich(n));
            b.push(Block::Para(note));
        }
        for k in &c.checks {
            let tag = if k.informational {
                " (informational: not counted in the verdict)"
            } else if k.skipped {
                " (optional, skipped: not in this run)"
            } else {
                ""
            };
            b.push(Block::Heading {
                level: 3,
                text: format!("{}: {}{tag}", c.id, k.name),
                id: anchor(&format!("{} {}", c.id, k.name)),
            });
            b.push(Block::Para(vec![
                Inline::Strong("Check: ".into()),
                plain(k.statement.clone()),
                plain(". "),
                Inline::Verdict(k.verdict),
                plain(format!(" — {}", k.reason)),
            ]));
            let mut rule = vec![Inline::Strong("Rule: ".into())];
            rule.extend(rich(&k.rule_text));
            b.push(Block::Para(rule));
            if let Some(w) = &k.why {
                b.push(Block::Para(vec![
                    Inline::Strong("Why these thresholds: ".into()),
                    plain(w.clone()),
                ]));
            }
            if !k.conditions.is_empty() {
                b.push(Block::Table {
                    head: [
                        "condition",
                        "verdict",
                        "value [interval]",
                        "interval coverage",
                        "medians compared [interval] (repeats, coverage)",
                        "Mann-Whitney p",
                        "why",
                    ]
                    .iter()
                    .map(|h| h.to_string())
                    .collect(),
                    rows: condition_rows(k),
                });
            }
        }
        let mut missing = Vec::new();
        for p in &c.plots {
            match figures.iter().find(|f| &f.name == p) {
                Some(f) if !shown.contains(&f.name) => {
                    b.push(figure_block(f));
                    shown.push(f.name.clone());
                }
                Some(f) => b.push(Block::Para(vec![
                    plain("Plot: "),
                    Inline::Link(f.title.clone(), format!("#plot-{}", anchor(&f.name))),
                    plain(" (shown above)."),
                ])),
                None => missing.push(p.clone()),
            }
        }
        if !missing.is_empty() {
            b.push(Block::Para(text(format!("Not drawn for this run (its scenarios were not measured or had no valid data): {}.", missing.join(", ")))));
        }
    }

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

    method(run, &mut b);
    environment(run, &mut b);
    caveats(run, claims, &mut b);

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
    crate::stats::estimate(
        &(0..n).map(|i| i as f64).collect::<Vec<_>>(),
        crate::summary::CONFIDENCE,
    )
    .map(|e| e.confidence)
    .unwrap_or(0.0)
}

fn method(run: &RunData, b: &mut Vec<Block>) {
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
        text("Statistics (benchstat's). Per metric and variant: the median over valid repeats and a distribution-free interval from order statistics, reported with its real coverage (3 repeats: min..max, 75 %; 6 repeats: 96.9 %). Between variants: the ratio of medians with a 95 % percentile-bootstrap interval (2,000 resamples, fixed seed) and a two-sided Mann-Whitney U p-value; with 3 vs 3 repeats no p-value can go below 0.1, which the tables say. Invalid and failed trials are kept and listed, never used as valid."),
        text("Verdicts. Each claim's checks are data in harness/claims.toml: which scenarios and metrics, and the regions its interval must lie in to support or refute the claim. The whole interval must lie in a region; otherwise the check is inconclusive. The rule is printed next to every verdict."),
        text("Fairness. Both servers speak the same protocol bytes with the same buffer sizes (16 KiB), TCP_NODELAY, the same SHA-256 chain for CPU work, the same worker count, and a correctness probe checks each before load. Each is written the way its practitioners write it: a goroutine per connection in Go; a task per connection in tokio, with every offloading strategy (spawn_blocking, block_in_place, rayon, tokio::fs) side by side as separate variants."),
    ]));
}

fn environment(run: &RunData, b: &mut Vec<Block>) {
    b.push(Block::Heading {
        level: 2,
        text: "Environment".into(),
        id: "environment".into(),
    });
    let keys = [
        ("profile", "profile"),
        ("started_at", "started"),
        ("ended_at", "ended"),
        ("git_commit", "commit"),
        ("git_dirty", "uncommitted changes"),
        ("harness_version", "harness version"),
        ("cpu_model", "CPU"),
        ("cpu_count_online", "CPUs online"),
        ("cpus_allowed", "CPUs allowed"),
        ("server_cpus", "server CPUs"),
        ("client_cpus", "load generator CPUs"),
        ("kernel", "kernel"),
        ("go_version", "Go"),
        ("rustc_version", "rustc"),
        ("nofile_soft", "open files (soft limit)"),
        ("data_file_bytes", "data file bytes"),
        ("sha_rounds_per_ms", "SHA-256 rounds per ms (calibration)"),
    ];
    let mut rows: Vec<Vec<Line>> = keys
        .iter()
        .map(|(k, label)| {
            vec![
                text(*label),
                text(run.meta_str(k).unwrap_or_else(|| "n/a".into())),
            ]
        })
        .collect();
    // The servers' own configuration lines.
    for lang in ["go", "rust"] {
        if let Some(cfg) = run
            .trials
            .iter()
            .filter_map(|t| t.server.config.as_ref())
            .find(|c| c.get("server").and_then(|v| v.as_str()) == Some(lang))
        {
            let fields: Vec<String> = [
                "server_version",
                "go_version",
                "tokio_version",
                "rustc_version",
                "workers",
                "gomaxprocs",
            ]
            .iter()
            .filter_map(|k| {
                cfg.get(*k).filter(|v| !v.is_null()).map(|v| {
                    format!(
                        "{k} {}",
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string())
                    )
                })
            })
            .collect();
            rows.push(vec![
                text(format!("{lang} server")),
                text(fields.join(", ")),
            ]);
        }
    }
    if let Some(w) = run
        .meta
        .as_ref()
        .and_then(|m| m.get("warnings"))
        .and_then(|w| w.as_array())
        .filter(|w| !w.is_empty())
    {
        rows.push(vec![
            text("preflight warnings"),
            text(
                w.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ]);
    }
    b.push(Block::Table {
        head: vec!["".into(), "".into()],
        rows,
    });
}

fn caveats(run: &RunData, claims: &[ClaimResult], b: &mut Vec<Block>) {
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
        items.push(text("The server had one CPU, so one tokio worker and GOMAXPROCS=1. What needs several cores cannot show here: tokio's work stealing between workers, Go handing a P to another idle P, parallel speed-up, and contention between workers. A blocked worker stalls everything on a one-worker server; with more workers the same code would stall only that worker's tasks (until stolen)."));
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
    if let Some(n) = profile_repeats(run).or(min_repeats(run)) {
        let cov = order_stat_coverage(n);
        if cov < 0.95 {
            items.push(text(format!(
                "Few repeats: with {n} valid repeats the interval of a median covers it with {} only, a ratio's bootstrap interval rests on {n} values per side, and the Mann-Whitney test cannot reach p < 0.05. Verdicts of this run are provisional; `make compare PROFILE=full` runs 6 repeats (96.9 %).",
                pct(cov)
            )));
        }
    }
    items.push(text("Loopback only: no NIC, no interrupts, no real network latency; kernel TCP costs are shared by both servers and can dominate small-message CPU figures. CPU time comes from /proc at clock-tick (10 ms) granularity, integrated over windows of one second or more."));
    if let Some(cpu) = run.meta_str("cpu_model") {
        items.push(text(format!("Hardware: {cpu}. On a shared or virtual machine, neighbours' load adds noise the intervals only partly capture.")));
    }
    let unmeasured: Vec<&str> = claims
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
    use crate::verdict::Verdict;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
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
        // Every claim has a verdict row and a section.
        for c in &out.claims {
            assert!(
                html.contains(&format!("id=\"{}\"", claim_anchor(c))),
                "{}",
                c.id
            );
            assert!(
                md.contains(&format!("{} {}", c.id, c.title).replace('\'', "'"))
                    || md.contains(&c.id),
                "{}",
                c.id
            );
        }
        // The fixture measures C1, C3-C8; the micro claims are not measured.
        let by_id = |id: &str| out.claims.iter().find(|c| c.id == id).unwrap();
        for id in ["C9", "C11", "C12"] {
            assert!(
                by_id(id).not_measured && by_id(id).verdict == Verdict::Inconclusive,
                "{id}"
            );
            assert!(
                by_id(id).reason.contains("not measured in this run"),
                "{}",
                by_id(id).reason
            );
        }
        assert_eq!(
            by_id("C6").checks[0].verdict,
            Verdict::Refuted,
            "{}",
            by_id("C6").checks[0].reason
        );
        assert!(!by_id("C1").not_measured);
        // C7 from the blocking-burst microbenchmark: tokio grows and shrinks, Go hands off.
        assert_eq!(
            by_id("C7").verdict,
            Verdict::Supported,
            "{}",
            by_id("C7").reason
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
        let t = verdict_table_text(&out.claims);
        for c in &out.claims {
            assert!(t.contains(&c.id));
        }
        if std::env::var_os("RTC_KEEP_FIXTURE").is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn invalid_trials_make_their_claims_inconclusive_with_the_reason() {
        let dir = scratch("invalid");
        fixture::write_run(&dir, |t| {
            if t.scenario == "firehose-probe" && t.variant == "rust-coop-off" && t.repeat == 2 {
                t.status = Status::Invalid;
                t.problems.push("load generator probe marked its run invalid: send lag p99 2000 µs exceeds 1000 µs".into());
            }
        });
        let out = write(&root(), &dir).unwrap();
        let c8 = out.claims.iter().find(|c| c.id == "C8").unwrap();
        assert_eq!(c8.verdict, Verdict::Inconclusive);
        assert!(
            c8.reason.contains("1 of 3 trials invalid") && c8.reason.contains("send lag"),
            "{}",
            c8.reason
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

/// The JSON Schemas of schemas/ checked against files a run writes: a small
/// validator for the keywords those schemas use (type, required,
/// properties, additionalProperties, items, $ref, anyOf, allOf, enum, const).
#[cfg(test)]
mod schema_tests {
    use serde_json::Value;
    use std::path::{Path, PathBuf};

    fn type_ok(t: &str, v: &Value) -> bool {
        match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        }
    }

    pub fn check(schema: &Value, v: &Value, root: &Value, path: &str, errs: &mut Vec<String>) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/$defs/");
            check(&root["$defs"][name], v, root, path, errs);
        }
        if let Some(t) = schema.get("type") {
            let ok = match t {
                Value::String(s) => type_ok(s, v),
                Value::Array(a) => a.iter().filter_map(Value::as_str).any(|s| type_ok(s, v)),
                _ => true,
            };
            if !ok {
                errs.push(format!("{path}: {v} is not of type {t}"));
                return;
            }
        }
        if let Some(c) = schema.get("const")
            && c != v
        {
            errs.push(format!("{path}: {v} is not {c}"));
        }
        if let Some(Value::Array(e)) = schema.get("enum")
            && !e.contains(v)
        {
            errs.push(format!("{path}: {v} not in {e:?}"));
        }
        if let Some(Value::Array(all)) = schema.get("allOf") {
            for s in all {
                check(s, v, root, path, errs);
            }
        }
        if let Some(Value::Array(any)) = schema.get("anyOf") {
            let ok = any.iter().any(|s| {
                let mut e = Vec::new();
                check(s, v, root, path, &mut e);
                e.is_empty()
            });
            if !ok {
                errs.push(format!("{path}: matches none of anyOf"));
            }
        }
        if let Value::Object(obj) = v {
            for k in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !obj.contains_key(k) {
                    errs.push(format!("{path}: required key {k:?} missing"));
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, x) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => check(s, x, root, &format!("{path}.{k}"), errs),
                    None => {
                        if let Some(ap) =
                            schema.get("additionalProperties").filter(|a| a.is_object())
                        {
                            check(ap, x, root, &format!("{path}.{k}"), errs);
                        }
                    }
                }
            }
        }
        if let (Value::Array(a), Some(items)) = (v, schema.get("items")) {
            for (i, x) in a.iter().enumerate() {
                check(items, x, root, &format!("{path}[{i}]"), errs);
            }
        }
    }

    fn schema(name: &str) -> Value {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("schemas")
            .join(name);
        serde_json::from_slice(
            &std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .unwrap()
    }

    /// Checks a run directory's meta.json, summary.json and trial files.
    pub fn check_run(dir: &Path) -> Vec<String> {
        let mut errs = Vec::new();
        let read =
            |p: PathBuf| -> Value { serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap() };
        for (file, sch) in [
            ("meta.json", "meta.schema.json"),
            ("summary.json", "summary.schema.json"),
        ] {
            let s = schema(sch);
            check(&s, &read(dir.join(file)), &s, file, &mut errs);
        }
        let s = schema("trial.schema.json");
        for e in std::fs::read_dir(dir.join("trials")).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            check(&s, &read(e.path()), &s, &name, &mut errs);
        }
        errs
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
