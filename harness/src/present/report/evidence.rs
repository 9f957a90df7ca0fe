//! Runtime evidence beside a claim's latency figure: for every runtime
//! panel a claim shows (`plots = ["runtime-<scenario>"]` in claims.toml),
//! each variant's median of the claim's figure in that scenario, next to
//! the runtime's own view of the same measured windows (the medians of
//! `runtime.*`), e.g. "go: light p99 16.9 ms; scheduling latency p99 in the
//! same windows 10.2 ms (from 412 sampled waits); 0 GC cycles".

use super::data::RunData;
use super::doc::{Block, Inline, Line, plain, text};
use super::units::{self, Unit};
use super::words::short;
use crate::analyse::summary::ScenarioSummary;
use crate::analyse::verdict::ClaimResult;
use crate::config::claims::{Claim, Claims};
use crate::config::profile::Language;
use crate::present::plots::runtime::scenario_plot_name;

/// The scenarios whose runtime panel the claim shows.
fn panel_scenarios(claim: &Claim, run: &RunData) -> Vec<String> {
    run.summary
        .scenarios
        .iter()
        .filter(|s| claim.plots.contains(&scenario_plot_name(&s.id)))
        .map(|s| s.id.clone())
        .collect()
}

/// The figure the claim is about in scenario `sc`: the headline's metric
/// when the headline names this scenario, else the first latency metric
/// (else the first metric) a check of the claim reads there, a pattern
/// resolved against the scenario's metrics.
pub fn claim_metric(claim: &Claim, sc: &ScenarioSummary) -> Option<String> {
    let resolve = |pattern: &str| -> Option<String> {
        sc.metrics
            .keys()
            .find(|m| crate::analyse::verdict::match_metric(pattern, m).is_some())
            .cloned()
    };
    if let Some(cond) = &claim.headline.condition {
        let mut parts = cond.split_whitespace();
        if parts.next() == Some(sc.id.as_str())
            && let Some(m) = parts.next().and_then(resolve)
        {
            return Some(m);
        }
    }
    let patterns: Vec<&str> = claim
        .checks
        .iter()
        .filter(|k| k.scenarios.contains(&sc.id))
        .flat_map(|k| k.rule.metrics())
        .filter(|m| !m.starts_with("runtime."))
        .collect();
    patterns
        .iter()
        .filter(|m| m.contains("latency_us"))
        .chain(patterns.iter())
        .find_map(|p| resolve(p))
}

/// A latency metric as a reader says it ("light p99", "probe p99"); any
/// other metric as the report names it elsewhere.
pub fn label(metric: &str) -> String {
    let Some(i) = metric.find("latency_us.") else {
        return short(metric);
    };
    let who: Vec<&str> = metric[..i]
        .split('.')
        .filter(|s| !s.is_empty() && *s != "main" && *s != "classes")
        .collect();
    let (kind, q) = metric[i + "latency_us.".len()..]
        .split_once('.')
        .unwrap_or(("corrected", ""));
    let who = if who.is_empty() {
        String::new()
    } else {
        format!("{} ", who.join(" "))
    };
    let uncorrected = if kind == "uncorrected" {
        " (uncorrected)"
    } else {
        ""
    };
    format!("{who}{q}{uncorrected}")
}

/// `runtime.` or `runtime.stepN.` for the step the metric is of.
fn runtime_prefix(metric: &str) -> String {
    match metric.split('.').find(|seg| {
        seg.strip_prefix("step")
            .is_some_and(|n| n.parse::<u32>().is_ok())
    }) {
        Some(step) => format!("runtime.{step}."),
        None => "runtime.".into(),
    }
}

/// One variant's sentence, from the scenario's medians.
pub fn variant_text(sc: &ScenarioSummary, variant: &str, lang: Language, metric: &str) -> String {
    let est = |m: &str| sc.metrics.get(m)?.get(variant);
    let med = |m: &str| Some(est(m)?.median);
    let p = runtime_prefix(metric);
    let rt = |name: &str| med(&format!("{p}{name}"));
    let count = |x: f64| units::sig(x.round());
    // A figure left out of some rounds (an untrusted percentile) has its
    // median over fewer rounds than the runtime's: say so.
    let rounds = |m: &str| est(m).map(|e| e.n);
    let (n_fig, n_rt) = (rounds(metric), rounds(&format!("{p}span_ms")));
    let differ = n_fig.is_some() && n_rt.is_some() && n_fig != n_rt;
    let over = |n: Option<usize>| match n {
        Some(n) if differ => format!(" ({n} rounds)"),
        _ => String::new(),
    };
    let mut parts = vec![match med(metric) {
        Some(v) => format!(
            "{} {}{}",
            label(metric),
            units::unit_of(metric).fmt(v),
            over(n_fig)
        ),
        None => format!("{}: no usable value", label(metric)),
    }];
    if differ {
        parts.push(format!("runtime figures{}", over(n_rt)));
    }
    match (rt("sched_latency_p99_us"), rt("sched_latency_events")) {
        (Some(p99), events) => parts.push(format!(
            "scheduling latency p99 in the same windows {}{}",
            Unit::Micros.fmt(p99),
            events
                .map(|n| match lang {
                    Language::Go => format!(" (from {} sampled waits)", count(n)),
                    Language::Rust => format!(" (over {} scheduled tasks)", count(n)),
                })
                .unwrap_or_default()
        )),
        (None, Some(_)) => parts.push("no scheduling waits sampled in the window".into()),
        (None, None) if lang == Language::Rust => {
            parts.push("scheduling latency not sampled (stable tokio build)".into())
        }
        (None, None) => {}
    }
    if let Some(n) = rt("gc_cycles") {
        let pause = rt("gc_pause_total_ms")
            .filter(|_| n > 0.0)
            .map(|ms| format!(", {} paused", Unit::Millis.fmt(ms)))
            .unwrap_or_default();
        parts.push(format!(
            "{} GC cycle{}{pause}",
            count(n),
            if count(n) == "1" { "" } else { "s" }
        ));
    }
    if let Some(b) = rt("worker_busy_fraction") {
        parts.push(format!("workers busy {}", super::words::pct(b)));
    }
    if let Some(y) = rt("forced_yields") {
        parts.push(format!("{} forced yields", count(y)));
    }
    match (rt("run_queue_depth_max"), rt("global_queue_depth_max")) {
        (Some(q), _) => parts.push(format!("run queue at most {}", count(q))),
        (None, Some(q)) => parts.push(format!("global queue at most {}", count(q))),
        _ => {}
    }
    if let Some(q) = rt("blocking_queue_depth_max").filter(|q| *q > 0.0) {
        parts.push(format!("blocking-pool queue at most {}", count(q)));
    }
    format!("{variant}: {}", parts.join("; "))
}

/// The claim's runtime evidence, one paragraph and list per panel scenario.
pub fn blocks(run: &RunData, claims: &Claims, c: &ClaimResult) -> Vec<Block> {
    let claim = &claims.claims[c.claim];
    let mut b = Vec::new();
    for id in panel_scenarios(claim, run) {
        let Some(sc) = run.scenario(&id) else {
            continue;
        };
        let Some(metric) = claim_metric(claim, sc) else {
            continue;
        };
        let p = runtime_prefix(&metric);
        let with_runtime: Vec<&String> = sc
            .variants
            .iter()
            // A/A copies repeat their original's figures.
            .filter(|v| crate::config::expand::aa_original(v).is_none())
            .filter(|v| {
                sc.metrics
                    .iter()
                    .any(|(m, by)| m.starts_with(&p) && by.contains_key(*v))
            })
            .collect();
        if with_runtime.is_empty() {
            continue;
        }
        let span = with_runtime
            .iter()
            .filter_map(|v| Some(sc.metrics.get(&format!("{p}span_ms"))?.get(*v)?.median))
            .reduce(f64::max);
        b.push(Block::Para(vec![
            Inline::Strong(format!("Runtime evidence, {id}: ")),
            plain(format!(
                "each variant's median {} beside its runtime's own telemetry over the same measured windows (medians over the valid rounds; the runtime figures are differences between the samples bracketing each window{}; the panel is runtime-{id}).",
                label(&metric),
                span.map(|s| format!(", at most {} long", Unit::Millis.fmt(s)))
                    .unwrap_or_default()
            )),
        ]));
        let lines: Vec<Line> = with_runtime
            .iter()
            .map(|v| text(variant_text(sc, v, run.language(v), &metric)))
            .collect();
        b.push(Block::Bullets(lines));
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::stats::Estimate;
    use std::collections::BTreeMap;

    fn est(median: f64) -> Estimate {
        Estimate {
            n: 6,
            median,
            lo: median,
            hi: median,
            confidence: 0.969,
            values: vec![median; 6],
            rounds: (0..6).collect(),
        }
    }

    fn scenario(metrics: &[(&str, &str, f64)]) -> ScenarioSummary {
        let mut m: BTreeMap<String, BTreeMap<String, Estimate>> = BTreeMap::new();
        for (k, v, x) in metrics {
            m.entry(k.to_string())
                .or_default()
                .insert(v.to_string(), est(*x));
        }
        ScenarioSummary {
            id: "hol-cpu-10ms".into(),
            title: String::new(),
            claims: vec![],
            workload: "work".into(),
            variants: vec!["go".into(), "rust".into(), "rust-unstable".into()],
            counts: BTreeMap::new(),
            problems: vec![],
            metrics: m,
            ratios: BTreeMap::new(),
            capacity_rps: None,
        }
    }

    #[test]
    fn each_runtime_is_cited_in_its_own_terms() {
        let light = "main.classes.light.latency_us.corrected.p99";
        let sc = scenario(&[
            (light, "go", 16_900.0),
            (light, "rust", 9_500.0),
            (light, "rust-unstable", 9_600.0),
            ("runtime.sched_latency_p99_us", "go", 10_200.0),
            ("runtime.sched_latency_events", "go", 412.0),
            ("runtime.gc_cycles", "go", 0.0),
            ("runtime.gc_pause_total_ms", "go", 0.0),
            ("runtime.run_queue_depth_max", "go", 3.0),
            ("runtime.worker_busy_fraction", "rust", 0.42),
            ("runtime.global_queue_depth_max", "rust", 1.0),
            ("runtime.sched_latency_p99_us", "rust-unstable", 9_000.0),
            ("runtime.sched_latency_events", "rust-unstable", 5_000.0),
            ("runtime.forced_yields", "rust-unstable", 0.0),
            ("runtime.worker_busy_fraction", "rust-unstable", 0.43),
            ("runtime.run_queue_depth_max", "rust-unstable", 2.0),
            ("runtime.global_queue_depth_max", "rust-unstable", 1.0),
            ("runtime.blocking_queue_depth_max", "rust-unstable", 0.0),
        ]);
        assert_eq!(
            variant_text(&sc, "go", Language::Go, light),
            "go: light p99 16.9 ms; scheduling latency p99 in the same windows 10.2 ms (from 412 sampled waits); 0 GC cycles; run queue at most 3"
        );
        assert_eq!(
            variant_text(&sc, "rust", Language::Rust, light),
            "rust: light p99 9.5 ms; scheduling latency not sampled (stable tokio build); workers busy 42 %; global queue at most 1"
        );
        assert_eq!(
            variant_text(&sc, "rust-unstable", Language::Rust, light),
            "rust-unstable: light p99 9.6 ms; scheduling latency p99 in the same windows 9 ms (over 5000 scheduled tasks); workers busy 43 %; 0 forced yields; run queue at most 2"
        );
    }

    #[test]
    fn a_figure_over_fewer_rounds_than_the_runtimes_says_so() {
        let light = "main.classes.light.latency_us.corrected.p99";
        let mut sc = scenario(&[
            (light, "go", 16_900.0),
            ("runtime.span_ms", "go", 900.0),
            ("runtime.gc_cycles", "go", 1.0),
        ]);
        let e = sc.metrics.get_mut(light).unwrap().get_mut("go").unwrap();
        e.n = 4;
        assert_eq!(
            variant_text(&sc, "go", Language::Go, light),
            "go: light p99 16.9 ms (4 rounds); runtime figures (6 rounds); 1 GC cycle"
        );
        assert_eq!(
            variant_text(&sc, "go", Language::Go, "main.latency_us.corrected.p99"),
            "go: p99: no usable value; 1 GC cycle"
        );
    }

    #[test]
    fn latency_figures_are_named_as_a_reader_says_them() {
        assert_eq!(
            label("main.classes.light.latency_us.corrected.p99"),
            "light p99"
        );
        assert_eq!(label("probe.latency_us.corrected.p99"), "probe p99");
        assert_eq!(label("main.latency_us.corrected.p50"), "p50");
        assert_eq!(
            label("main.classes.heavy.latency_us.uncorrected.p50"),
            "heavy p50 (uncorrected)"
        );
        assert_eq!(
            label("server.threads_in_window_max"),
            "threads_in_window_max"
        );
    }

    #[test]
    fn a_stepped_figure_reads_the_runtime_of_its_step() {
        assert_eq!(
            runtime_prefix("server.step2.cpu_us_per_request"),
            "runtime.step2."
        );
        assert_eq!(runtime_prefix("main.latency_us.corrected.p99"), "runtime.");
        let sc = scenario(&[
            ("server.step2.cpu_us_per_request", "go", 12.6),
            ("runtime.step2.gc_cycles", "go", 2.0),
            ("runtime.step2.gc_pause_total_ms", "go", 0.25),
        ]);
        assert_eq!(
            variant_text(&sc, "go", Language::Go, "server.step2.cpu_us_per_request"),
            "go: step2.cpu_us_per_request 12.6 µs/req; 2 GC cycles, 250 µs paused"
        );
    }
}
