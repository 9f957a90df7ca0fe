//! Facts of the run a claim's section shows beside its verdict (not
//! verdict inputs): the runtimes' thread limits as each program recorded
//! them, the C12 compile probes, the microbenchmarks' arguments as run.

use super::data::RunData;
use super::doc::{Block, Inline, Line, plain, text};
use crate::analyse::verdict::ClaimResult;
use crate::config::claims::Claims;
use crate::run::trial::Status;
use std::path::Path;

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
pub fn fact_blocks(run: &RunData, claims: &Claims, c: &ClaimResult) -> Vec<Block> {
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
