//! `harness report DIR`: reads a run directory, evaluates every claim's
//! rules (`verdict`), draws the plots (`plots`), and writes `report.md` and
//! a self-contained `report.html` — the verdict table first, then one
//! section per claim with its checks, numbers and plots, then the other
//! plots, method, environment and caveats. Ends by printing the verdict
//! table and the report's path.
//!
//! Modules: `data` (the run read back), `doc` (the document tree and the
//! `Exporter` trait), `markdown`/`html` (one file per format), `claims`
//! (the A/A control, the verdict table, a section per claim), `words`
//! (every sentence about a verdict), `facts` (thread limits, compile
//! probes, parameters as run), `evidence` (the runtimes' telemetry beside
//! a claim's latency figure), `method` (method and caveats),
//! `environment` (the machine and its warnings), `census` (the syscall
//! census), `units`.

pub mod census;
pub mod claims;
pub mod data;
pub mod doc;
pub mod environment;
pub mod evidence;
pub mod facts;
#[cfg(test)]
pub mod fixture;
#[cfg(test)]
pub mod fixture_telemetry;
pub mod html;
pub mod markdown;
pub mod method;
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
use facts::{CompileTest, compile_tests, fact_blocks};
use method::{caveats, interval_note, method};
use std::path::{Path, PathBuf};

/// What `run` produced.
pub struct Outcome {
    pub claims: Claims,
    pub verdicts: Verdicts,
    /// Headlines a fact gives instead of a number, by claim id.
    pub instead: std::collections::BTreeMap<String, String>,
    pub figures: Vec<Figure>,
    pub files: Vec<PathBuf>,
    pub problems: Vec<String>,
}

/// Writes the report of the run in `dir`; prints the verdict table and the path.
pub fn run(root: &Path, dir: &Path) -> Result<()> {
    let out = write(root, dir)?;
    print!(
        "{}",
        claims::verdict_table_text(&out.claims, &out.verdicts, &out.instead)
    );
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
    let instead = results
        .claims
        .iter()
        .filter_map(|c| Some((c.id.clone(), headline_instead(&run, &claims, c)?)))
        .collect();
    Ok(Outcome {
        claims,
        verdicts: results,
        instead,
        figures,
        files,
        problems,
    })
}

/// A claim's headline where a fact says more than a number (C12's compile
/// test): the same words in the report and on the terminal.
fn headline_instead(run: &RunData, claims: &Claims, c: &ClaimResult) -> Option<String> {
    let facts = &claims.claims[c.claim].facts;
    if !facts.iter().any(|f| f == "compile-test") {
        return None;
    }
    let compile = compile_tests(run);
    (!compile.is_empty()).then(|| {
        compile
            .iter()
            .map(CompileTest::summary)
            .collect::<Vec<_>>()
            .join(" · ")
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
    let instead = |c: &ClaimResult| headline_instead(run, claims, c);
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
    let facts = |c: &ClaimResult| {
        let mut b = fact_blocks(run, claims, c);
        b.extend(evidence::blocks(run, claims, c));
        b
    };
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
            .filter(|f| f.scenario.as_deref() == Some(&sc.id) && !f.kind.starts_with("trial-"))
        {
            if !shown.contains(&f.name) {
                b.push(figure_block(f));
                shown.push(f.name.clone());
            }
        }
        for (kind, prefix, what) in [
            ("trial-timeline", "trials/timeline--", "Timelines"),
            ("trial-runtime", "trials/runtime--", "Runtime telemetry"),
        ] {
            let per_trial: Vec<Line> = figures
                .iter()
                .filter(|f| f.scenario.as_deref() == Some(&sc.id) && f.kind == kind)
                .map(|f| {
                    vec![Inline::Link(
                        f.name.trim_start_matches(prefix).to_string(),
                        format!("plots/{}.svg", f.name),
                    )]
                })
                .collect();
            if !per_trial.is_empty() {
                b.push(Block::Details {
                    summary: format!("{what} of each trial of {} ({})", sc.id, per_trial.len()),
                    blocks: vec![Block::Bullets(per_trial)],
                });
            }
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
        "A measurement is only as good as the instrument. The load generator records how late it sent each request against its schedule (send lag) and stamps each response complete at the kernel's receive timestamp (SO_TIMESTAMPING), so how late it then read the response (receive lag, recorded beside) is not in any latency. Its own faults make a measurement invalid: send lag p99 over 1 ms (or over one inter-send gap of a schedule slower than 1,000 req/s: a lag shorter than a gap delays one request and holds back no burst), a rate step it could not keep (only that step is dropped). A percentile its own send lag could have made (over a tenth of it, or 25 µs) is marked untrusted, drawn hollow, and used only as a bracket: the checks' intervals cover it counted from the actual send as well as from the intended one. The server's failures are not the instrument's: errors, timeouts, a crash or an overload (in-window completions short of the schedule, or a backlog growing through the window) are the server's outcome, which the outcome checks read and the other checks name when they leave a trial out. Timed-out requests are recorded at their failure time, so percentiles above the censored fraction are lower bounds.",
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
        for f in out.figures.iter().filter(|f| !f.kind.starts_with("trial-")) {
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
            "runtime",
            "trial-runtime",
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
        let t = claims::verdict_table_text(&out.claims, &out.verdicts, &out.instead);
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
