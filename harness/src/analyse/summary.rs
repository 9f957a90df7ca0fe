//! `summary.json`: for every scenario, each metric's median and interval per
//! variant over the valid rounds (with the round of each value, so any two
//! sides can be paired later), and each pair of variants' ratio, paired by
//! round, with its signed-rank interval and p-value. Recomputed from the
//! trial files alone, so it can be rebuilt (and `harness report` re-run)
//! long after the run.

use crate::analyse::stats::{self, Comparison, Estimate, signed_rank};
use crate::config::profile::{LoadModel, Profile};
use crate::run::trial::{Status, TrialRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const CONFIDENCE: f64 = 0.95;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub ok: usize,
    pub invalid: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairRatio {
    /// a / b, paired by round (Hodges–Lehmann on per-round log-ratios).
    pub a: String,
    pub b: String,
    #[serde(flatten)]
    pub ratio: Comparison,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSummary {
    pub id: String,
    pub title: String,
    pub claims: Vec<String>,
    pub workload: String,
    pub variants: Vec<String>,
    pub counts: BTreeMap<String, Counts>,
    /// "trial id: problem" for every trial that was not ok.
    pub problems: Vec<String>,
    /// metric -> variant -> estimate over the valid rounds.
    pub metrics: BTreeMap<String, BTreeMap<String, Estimate>>,
    /// metric -> ratios for each pair of variants, for every metric.
    pub ratios: BTreeMap<String, Vec<PairRatio>>,
    /// Closed-loop scenarios: each variant's median throughput, the capacity
    /// open-loop scenarios take their rates from.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub capacity_rps: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    pub profile: String,
    pub generated_at: String,
    /// False while the run is going on or when it was interrupted.
    pub complete: bool,
    pub interrupted: bool,
    pub confidence_level: f64,
    pub trials: Counts,
    pub scenarios: Vec<ScenarioSummary>,
}

/// The metrics `harness diff` lists by default (the summary has ratios for all).
pub fn is_headline(metric: &str) -> bool {
    metric.starts_with("server.")
        || metric.ends_with("achieved_rps")
        || (metric.contains("latency_us.corrected.")
            && ["p50", "p99", "p999", "max"]
                .iter()
                .any(|p| metric.ends_with(&format!(".{p}"))))
}

/// What the summary needs to know of a network scenario or a microbenchmark.
pub struct Unit {
    pub id: String,
    pub title: String,
    pub claims: Vec<String>,
    pub workload: String,
    pub variants: Vec<String>,
    /// Closed-loop scenarios: the metric that is each variant's capacity.
    pub capacity_metric: Option<String>,
}

/// Every scenario and microbenchmark of a profile, in profile order.
pub fn units(p: &Profile) -> Vec<Unit> {
    let mut out: Vec<Unit> = p
        .scenarios
        .iter()
        .map(|s| Unit {
            id: s.id.clone(),
            title: s.title.clone(),
            claims: s.claims.clone(),
            workload: s.workload.as_str().into(),
            variants: s.variants.clone(),
            capacity_metric: s
                .clients
                .iter()
                .all(|c| c.model == LoadModel::Closed)
                .then(|| format!("{}.achieved_rps", s.clients[0].name)),
        })
        .collect();
    out.extend(p.micro.iter().map(|m| Unit {
        id: m.id.clone(),
        title: m.title.clone(),
        claims: m.claims.clone(),
        workload: "micro".into(),
        variants: m.languages(),
        capacity_metric: None,
    }));
    out
}

pub fn unit_summary(u: &Unit, trials: &[&TrialRecord]) -> ScenarioSummary {
    let mut counts: BTreeMap<String, Counts> = u
        .variants
        .iter()
        .map(|v| (v.clone(), Counts::default()))
        .collect();
    let mut problems = Vec::new();
    // metric -> variant -> (round, value)
    let mut values: BTreeMap<String, BTreeMap<String, Vec<(usize, f64)>>> = BTreeMap::new();
    for t in trials.iter().filter(|t| t.scenario == u.id) {
        let c = counts.entry(t.variant.clone()).or_default();
        match t.status {
            Status::Ok => c.ok += 1,
            Status::Invalid => c.invalid += 1,
            Status::Failed => c.failed += 1,
        }
        for pr in &t.problems {
            problems.push(format!("{}: {pr}", t.trial_id));
        }
        // A trial invalid only because its generator sent late keeps the
        // counts the server kept (threads, RSS): `timing_free` checks use them.
        let late_only = t.status == Status::Invalid && t.measurement.late_only;
        if t.status != Status::Ok && !late_only {
            continue;
        }
        let round = t.repeat.saturating_sub(1);
        for (m, v) in &t.metrics {
            if late_only && !crate::config::claims::is_timing_free(m) {
                continue;
            }
            if t.measurement.dropped.iter().any(|d| {
                let p = d.prefix.trim_end_matches('.');
                m == p || m.strip_prefix(p).is_some_and(|r| r.starts_with('.'))
            }) {
                continue;
            }
            values
                .entry(m.clone())
                .or_default()
                .entry(t.variant.clone())
                .or_default()
                .push((round, *v));
        }
    }
    let mut metrics = BTreeMap::new();
    let mut ratios = BTreeMap::new();
    for (m, per_variant) in &values {
        let est: BTreeMap<String, Estimate> = per_variant
            .iter()
            .filter_map(|(v, xs)| {
                let (r, x): (Vec<usize>, Vec<f64>) = xs.iter().copied().unzip();
                stats::order::estimate_rounds(&x, &r, CONFIDENCE).map(|e| (v.clone(), e))
            })
            .collect();
        let mut pairs = Vec::new();
        for (i, a) in u.variants.iter().enumerate() {
            for b in &u.variants[i + 1..] {
                if let (Some(xa), Some(xb)) = (per_variant.get(a), per_variant.get(b))
                    && let Some(r) =
                        signed_rank::paired_ratio(&signed_rank::pair_by_round(xa, xb), CONFIDENCE)
                {
                    pairs.push(PairRatio {
                        a: a.clone(),
                        b: b.clone(),
                        ratio: r,
                    });
                }
            }
        }
        if !pairs.is_empty() {
            ratios.insert(m.clone(), pairs);
        }
        metrics.insert(m.clone(), est);
    }
    let capacity_rps = u
        .capacity_metric
        .as_ref()
        .and_then(|key| metrics.get(key))
        .map(|per: &BTreeMap<String, Estimate>| {
            per.iter().map(|(v, e)| (v.clone(), e.median)).collect()
        });
    ScenarioSummary {
        id: u.id.clone(),
        title: u.title.clone(),
        claims: u.claims.clone(),
        workload: u.workload.clone(),
        variants: u.variants.clone(),
        counts,
        problems,
        metrics,
        ratios,
        capacity_rps,
    }
}

pub fn summarize(
    p: &Profile,
    trials: &[TrialRecord],
    complete: bool,
    interrupted: bool,
) -> Summary {
    let refs: Vec<&TrialRecord> = trials.iter().collect();
    let mut total = Counts::default();
    for t in trials {
        match t.status {
            Status::Ok => total.ok += 1,
            Status::Invalid => total.invalid += 1,
            Status::Failed => total.failed += 1,
        }
    }
    let scenarios = units(p)
        .iter()
        .filter(|u| trials.iter().any(|t| t.scenario == u.id))
        .map(|u| unit_summary(u, &refs))
        .collect();
    Summary {
        schema_version: crate::run::results::SCHEMA_VERSION,
        profile: p.name.clone(),
        generated_at: crate::run::results::rfc3339(std::time::SystemTime::now()),
        complete,
        interrupted,
        confidence_level: CONFIDENCE,
        trials: total,
        scenarios,
    }
}

/// Reads every trial file of a run directory.
pub fn load_trials(run: &crate::run::results::RunDir) -> anyhow::Result<Vec<TrialRecord>> {
    let mut out = Vec::new();
    let dir = run.root.join("trials");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for p in paths {
        let bytes = std::fs::read(&p)?;
        let t: TrialRecord =
            serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        out.push(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_only_trial_keeps_its_server_counts_and_nothing_else() {
        let doc = serde_json::json!({});
        let mut ts: Vec<TrialRecord> = (1..=3)
            .map(|r| {
                let mut t = crate::analyse::runtime::tests::trial("go", (0.0, 1.0), doc.clone());
                t.scenario = "s".into();
                t.repeat = r;
                t.metrics = [
                    ("server.threads_in_window_max".to_string(), 6.0 + r as f64),
                    (
                        "main.latency_us.corrected.p99".to_string(),
                        100.0 * r as f64,
                    ),
                ]
                .into_iter()
                .collect();
                t
            })
            .collect();
        ts[0].status = Status::Invalid;
        ts[0].measurement.late_only = true;
        ts[1].status = Status::Invalid;
        let u = Unit {
            id: "s".into(),
            title: "t".into(),
            claims: vec![],
            workload: "echo".into(),
            variants: vec!["go".into()],
            capacity_metric: None,
        };
        let refs: Vec<&TrialRecord> = ts.iter().collect();
        let s = unit_summary(&u, &refs);
        let rounds = |m: &str| -> Vec<usize> { s.metrics[m]["go"].rounds.clone() };
        // Late only (round 0): its thread count stays, its latency does not;
        // invalid for another reason (round 1): nothing stays.
        assert_eq!(rounds("server.threads_in_window_max"), vec![0, 2]);
        assert_eq!(rounds("main.latency_us.corrected.p99"), vec![2]);
        assert_eq!(s.counts["go"].invalid, 2);
    }

    #[test]
    fn headline_metrics() {
        assert!(is_headline("server.cpu_us_per_request"));
        assert!(is_headline("main.classes.light.latency_us.corrected.p99"));
        assert!(is_headline("main.step2.achieved_rps"));
        assert!(!is_headline("main.latency_us.corrected.p90"));
        assert!(!is_headline("main.latency_us.uncorrected.p99"));
        assert!(!is_headline("main.errors.total"));
    }
}
