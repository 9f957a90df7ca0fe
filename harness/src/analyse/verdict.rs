//! Verdicts, computed — never written. Each claim of `harness/claims.toml`
//! names its checks as data: which scenarios and metrics, and the rule that
//! turns the statistics of `summary.json` into a verdict word. This module
//! parses that file and interprets the rules; it is pure (statistics and
//! trial facts in, verdicts with the numbers they used out), so tests feed it
//! synthetic statistics.
//!
//! Rule kinds:
//! - `ratio`: median(metric, variant A) / median(metric, variant B) in the
//!   same scenario, for every numerator × denominator pair; the decision
//!   reads the ratio's bootstrap interval (`mode = "difference"`: A − B).
//! - `baseline`: a variant's metric against the same variant in a baseline
//!   scenario and/or against another metric (`baseline_metric`), as a ratio
//!   or a difference.
//! - `threshold`: the interval of a metric's median against fixed values.
//! - `all_alive`: every trial ran to the end, the server never died and
//!   every request was answered.
//!
//! A rule's `supported` and `refuted` regions say where the whole interval
//! must lie (`below`, `above`, `within`); an interval in neither is
//! inconclusive. Each (scenario, variant, metric) a rule applies to is a
//! condition; a check is supported when every condition is, refuted when
//! every one is, mixed when some are supported and others refuted. Invalid
//! or failed trials, missing metrics and scenarios the run did not measure
//! make a condition inconclusive with the reason.

use crate::analyse::stats::{self, Estimate};
use crate::analyse::summary::{ScenarioSummary, Summary};
use crate::present::report::units::{self, Unit};
use crate::run::trial::{Status, TrialRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub const CLAIMS_SCHEMA_VERSION: u32 = 1;
/// Bootstrap resamples for difference intervals (as `stats::ratio`).
const RESAMPLES: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Supported,
    Refuted,
    Mixed,
    Inconclusive,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Refuted => "refuted",
            Verdict::Mixed => "mixed",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

// ------------------------------------------------------------------ the file

#[derive(Debug, thiserror::Error)]
#[error("{file}: {context}: {message}")]
pub struct ClaimsError {
    pub file: String,
    pub context: String,
    pub message: String,
}

/// Where an interval must lie for a verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Region {
    /// The whole interval below x.
    Below(f64),
    /// The whole interval above x.
    Above(f64),
    /// The whole interval inside [a, b].
    Within(f64, f64),
}

impl Region {
    pub fn holds(&self, lo: f64, hi: f64) -> bool {
        match *self {
            Region::Below(x) => hi < x,
            Region::Above(x) => lo > x,
            Region::Within(a, b) => a <= lo && hi <= b,
        }
    }
    pub fn describe(&self, unit: Unit) -> String {
        match *self {
            Region::Below(x) => format!("below {}", unit.fmt(x)),
            Region::Above(x) => format!("above {}", unit.fmt(x)),
            Region::Within(a, b) => format!("within [{}, {}]", unit.fmt(a), unit.fmt(b)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ratio,
    Difference,
}

/// The regions of a rule, and the unit its compared value is in.
#[derive(Debug, Clone, PartialEq)]
pub struct Decide {
    pub supported: Vec<Region>,
    pub refuted: Vec<Region>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Ratio {
        metric: String,
        numerator: Vec<String>,
        denominator: Vec<String>,
        mode: Mode,
        decide: Decide,
    },
    Baseline {
        metric: String,
        variants: Vec<String>,
        baseline_scenario: Option<String>,
        baseline_metric: Option<String>,
        /// variant -> the variant of the baseline scenario to compare with,
        /// when the baseline scenario does not run the same variant.
        baseline_variant: BTreeMap<String, String>,
        mode: Mode,
        decide: Decide,
    },
    Threshold {
        metric: String,
        variants: Vec<String>,
        decide: Decide,
    },
    AllAlive {
        variants: Vec<String>,
        if_alive: Verdict,
        if_crashed: Verdict,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    /// What a `supported` outcome of this check means, in words.
    pub statement: String,
    /// Why the thresholds are where they are.
    pub why: Option<String>,
    /// Shown with its own verdict but not counted in the claim's.
    pub informational: bool,
    /// When false, a run without any of the check's scenarios skips it
    /// (noted) instead of making the claim inconclusive.
    pub required: bool,
    pub scenarios: Vec<String>,
    /// Metric patterns a `*` in the rule's metric must not match (e.g. a
    /// microbenchmark case whose two sides are not equivalent).
    pub exclude: Vec<String>,
    /// Overrides the file's `min_repeats` (1 for a deterministic fact such
    /// as whether a program compiles).
    pub min_repeats: Option<usize>,
    /// The metric means something only when the server, not the load
    /// generator, was the bottleneck (a closed-loop maximum): a trial the
    /// generator marked `client_bound` makes its condition inconclusive.
    pub server_bound: bool,
    pub rule: Rule,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub id: String,
    pub title: String,
    pub statement: String,
    pub prediction: String,
    pub experiment: String,
    /// Plot names (files under plots/) that show this claim's evidence.
    pub plots: Vec<String>,
    pub notes: Option<String>,
    /// Facts of the run (not verdict inputs) the report shows with this
    /// claim: see [`KNOWN_FACTS`].
    pub facts: Vec<String>,
    pub checks: Vec<Check>,
}

/// What `facts = [...]` may name: `thread-limits` (Go's debug.SetMaxThreads
/// and tokio's max_blocking_threads as each program recorded them),
/// `compile-test` (the outcome of the C12 compile probes, with the
/// compiler's error line), `parameters` (the microbenchmarks' arguments as
/// run, e.g. the N of `spawn --n N`).
pub const KNOWN_FACTS: &[&str] = &["thread-limits", "compile-test", "parameters"];

#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// Fewer valid repeats than this for a variant makes its conditions inconclusive.
    pub min_repeats: usize,
    pub claims: Vec<Claim>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    schema_version: u32,
    #[serde(default = "d_min_repeats")]
    min_repeats: usize,
    #[serde(rename = "claim")]
    claims: Vec<RawClaim>,
}

fn d_min_repeats() -> usize {
    2
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaim {
    id: String,
    title: String,
    statement: String,
    prediction: String,
    experiment: String,
    #[serde(default)]
    plots: Vec<String>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    facts: Vec<String>,
    #[serde(rename = "check", default)]
    checks: Vec<RawCheck>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRegions {
    One(RawRegion),
    Many(Vec<RawRegion>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    below: Option<f64>,
    above: Option<f64>,
    within: Option<[f64; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: String,
    statement: String,
    kind: String,
    #[serde(default)]
    why: Option<String>,
    #[serde(default)]
    informational: bool,
    #[serde(default = "d_true")]
    required: bool,
    #[serde(default)]
    scenarios: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    min_repeats: Option<usize>,
    #[serde(default)]
    server_bound: bool,
    #[serde(default)]
    metric: Option<String>,
    #[serde(default)]
    numerator: Vec<String>,
    #[serde(default)]
    denominator: Vec<String>,
    #[serde(default)]
    variants: Vec<String>,
    #[serde(default)]
    baseline_scenario: Option<String>,
    #[serde(default)]
    baseline_metric: Option<String>,
    #[serde(default)]
    baseline_variant: BTreeMap<String, String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    supported: Option<RawRegions>,
    #[serde(default)]
    refuted: Option<RawRegions>,
    #[serde(default)]
    if_alive: Option<Verdict>,
    #[serde(default)]
    if_crashed: Option<Verdict>,
}

fn d_true() -> bool {
    true
}

fn regions(raw: Option<RawRegions>, key: &str) -> Result<Vec<Region>, String> {
    let list = match raw {
        None => return Err(format!("key '{key}': a rule needs '{key}' regions")),
        Some(RawRegions::One(r)) => vec![r],
        Some(RawRegions::Many(v)) => v,
    };
    if list.is_empty() {
        return Err(format!("key '{key}': at least one region"));
    }
    list.into_iter()
        .map(|r| {
            let region = match (r.below, r.above, r.within) {
                (Some(x), None, None) => Region::Below(x),
                (None, Some(x), None) => Region::Above(x),
                (None, None, Some([a, b])) if a <= b => Region::Within(a, b),
                (None, None, Some(_)) => {
                    return Err(format!(
                        "key '{key}': 'within' needs [low, high] with low <= high"
                    ));
                }
                _ => {
                    return Err(format!(
                        "key '{key}': each region has exactly one of 'below', 'above', 'within'"
                    ));
                }
            };
            let finite = match region {
                Region::Below(x) | Region::Above(x) => x.is_finite(),
                Region::Within(a, b) => a.is_finite() && b.is_finite(),
            };
            if finite {
                Ok(region)
            } else {
                Err(format!("key '{key}': thresholds must be finite numbers"))
            }
        })
        .collect()
}

/// A point interval that both regions accept would make the verdict depend
/// on the order of the checks: refuse such rules when the file is read.
fn check_disjoint(d: &Decide) -> Result<(), String> {
    let mut probes: Vec<f64> = Vec::new();
    for r in d.supported.iter().chain(&d.refuted) {
        match *r {
            Region::Below(x) | Region::Above(x) => {
                probes.extend([x - 1e-9 * x.abs().max(1.0), x + 1e-9 * x.abs().max(1.0)])
            }
            Region::Within(a, b) => probes.extend([a, b, (a + b) / 2.0]),
        }
    }
    probes.extend([-1e300, 1e300]);
    for p in probes {
        if d.supported.iter().any(|r| r.holds(p, p)) && d.refuted.iter().any(|r| r.holds(p, p)) {
            return Err(format!(
                "'supported' and 'refuted' regions overlap (both accept {})",
                units::sig(p)
            ));
        }
    }
    Ok(())
}

fn mode(raw: Option<&str>) -> Result<Mode, String> {
    match raw {
        None | Some("ratio") => Ok(Mode::Ratio),
        Some("difference") => Ok(Mode::Difference),
        Some(other) => Err(format!(
            "key 'mode': {other:?} is not \"ratio\" or \"difference\""
        )),
    }
}

fn check_of(r: RawCheck) -> Result<Check, String> {
    let need_metric = |m: &Option<String>| {
        m.clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("kind {:?} needs 'metric'", r.kind))
    };
    if r.scenarios.is_empty() {
        return Err("key 'scenarios': name at least one scenario".into());
    }
    let decide = |sup: Option<RawRegions>, refu: Option<RawRegions>| -> Result<Decide, String> {
        let d = Decide {
            supported: regions(sup, "supported")?,
            refuted: regions(refu, "refuted")?,
        };
        check_disjoint(&d)?;
        Ok(d)
    };
    let unused = |keys: &[(&str, bool)]| -> Result<(), String> {
        match keys.iter().find(|(_, set)| *set) {
            Some((k, _)) => Err(format!("key '{k}' does not apply to kind {:?}", r.kind)),
            None => Ok(()),
        }
    };
    let rule = match r.kind.as_str() {
        "ratio" => {
            unused(&[
                ("variants", !r.variants.is_empty()),
                ("baseline_scenario", r.baseline_scenario.is_some()),
                ("baseline_metric", r.baseline_metric.is_some()),
                ("baseline_variant", !r.baseline_variant.is_empty()),
                ("if_alive", r.if_alive.is_some()),
                ("if_crashed", r.if_crashed.is_some()),
            ])?;
            if r.numerator.is_empty() || r.denominator.is_empty() {
                return Err("kind \"ratio\" needs 'numerator' and 'denominator' variants".into());
            }
            Rule::Ratio {
                metric: need_metric(&r.metric)?,
                numerator: r.numerator,
                denominator: r.denominator,
                mode: mode(r.mode.as_deref())?,
                decide: decide(r.supported, r.refuted)?,
            }
        }
        "baseline" => {
            unused(&[
                ("numerator", !r.numerator.is_empty()),
                ("denominator", !r.denominator.is_empty()),
                ("if_alive", r.if_alive.is_some()),
                ("if_crashed", r.if_crashed.is_some()),
            ])?;
            if r.baseline_scenario.is_none() && r.baseline_metric.is_none() {
                return Err(
                    "kind \"baseline\" needs 'baseline_scenario' or 'baseline_metric' (or both)"
                        .into(),
                );
            }
            let metric = need_metric(&r.metric)?;
            if let Some(bm) = &r.baseline_metric
                && bm.matches('*').count() > metric.matches('*').count()
            {
                return Err("key 'baseline_metric': more '*' than 'metric' has".into());
            }
            Rule::Baseline {
                metric,
                variants: r.variants,
                baseline_scenario: r.baseline_scenario,
                baseline_metric: r.baseline_metric,
                baseline_variant: r.baseline_variant,
                mode: mode(r.mode.as_deref())?,
                decide: decide(r.supported, r.refuted)?,
            }
        }
        "threshold" => {
            unused(&[
                ("numerator", !r.numerator.is_empty()),
                ("denominator", !r.denominator.is_empty()),
                ("baseline_scenario", r.baseline_scenario.is_some()),
                ("baseline_metric", r.baseline_metric.is_some()),
                ("baseline_variant", !r.baseline_variant.is_empty()),
                ("mode", r.mode.is_some()),
                ("if_alive", r.if_alive.is_some()),
                ("if_crashed", r.if_crashed.is_some()),
            ])?;
            Rule::Threshold {
                metric: need_metric(&r.metric)?,
                variants: r.variants,
                decide: decide(r.supported, r.refuted)?,
            }
        }
        "all_alive" => {
            unused(&[
                ("metric", r.metric.is_some()),
                ("numerator", !r.numerator.is_empty()),
                ("denominator", !r.denominator.is_empty()),
                ("baseline_scenario", r.baseline_scenario.is_some()),
                ("baseline_metric", r.baseline_metric.is_some()),
                ("mode", r.mode.is_some()),
                ("supported", r.supported.is_some()),
                ("refuted", r.refuted.is_some()),
            ])?;
            let (Some(if_alive), Some(if_crashed)) = (r.if_alive, r.if_crashed) else {
                return Err("kind \"all_alive\" needs 'if_alive' and 'if_crashed' verdicts".into());
            };
            if [if_alive, if_crashed]
                .iter()
                .any(|v| !matches!(v, Verdict::Supported | Verdict::Refuted))
                || if_alive == if_crashed
            {
                return Err(
                    "'if_alive' and 'if_crashed' must be \"supported\" and \"refuted\", one each"
                        .into(),
                );
            }
            Rule::AllAlive {
                variants: r.variants,
                if_alive,
                if_crashed,
            }
        }
        other => {
            return Err(format!(
                "key 'kind': unknown rule kind {other:?} (known: ratio, baseline, threshold, all_alive)"
            ));
        }
    };
    Ok(Check {
        name: r.name,
        statement: r.statement,
        why: r.why,
        informational: r.informational,
        required: r.required,
        scenarios: r.scenarios,
        exclude: r.exclude,
        min_repeats: r.min_repeats,
        server_bound: r.server_bound,
        rule,
    })
}

pub fn parse(file: &Path, text: &str) -> Result<Claims, ClaimsError> {
    let e = |context: String, message: String| ClaimsError {
        file: file.display().to_string(),
        context,
        message,
    };
    let raw: RawFile =
        toml::from_str(text).map_err(|x| e("claims".into(), one_line(&x.to_string())))?;
    if raw.schema_version != CLAIMS_SCHEMA_VERSION {
        return Err(e(
            "claims".into(),
            format!(
                "schema_version {} is not {CLAIMS_SCHEMA_VERSION}",
                raw.schema_version
            ),
        ));
    }
    if raw.min_repeats == 0 {
        return Err(e("claims".into(), "min_repeats must be at least 1".into()));
    }
    let mut claims: Vec<Claim> = Vec::new();
    for c in raw.claims {
        let ctx = format!("claim '{}'", c.id);
        if claims.iter().any(|x| x.id == c.id) {
            return Err(e(ctx, "id used twice".into()));
        }
        if c.checks.is_empty() {
            return Err(e(ctx, "at least one [[claim.check]]".into()));
        }
        if let Some(f) = c.facts.iter().find(|f| !KNOWN_FACTS.contains(&f.as_str())) {
            return Err(e(
                ctx,
                format!(
                    "key 'facts': unknown fact {f:?} (known: {})",
                    KNOWN_FACTS.join(", ")
                ),
            ));
        }
        let mut checks: Vec<Check> = Vec::new();
        for rc in c.checks {
            let cctx = format!("claim '{}', check '{}'", c.id, rc.name);
            if checks.iter().any(|x| x.name == rc.name) {
                return Err(e(cctx, "check name used twice".into()));
            }
            checks.push(check_of(rc).map_err(|m| e(cctx, m))?);
        }
        if checks.iter().all(|c| c.informational) {
            return Err(e(
                ctx,
                "every check is informational: nothing decides the verdict".into(),
            ));
        }
        claims.push(Claim {
            id: c.id,
            title: c.title,
            statement: c.statement,
            prediction: c.prediction,
            experiment: c.experiment,
            plots: c.plots,
            notes: c.notes,
            facts: c.facts,
            checks,
        });
    }
    Ok(Claims {
        min_repeats: raw.min_repeats,
        claims,
    })
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('|')
                && !l.chars().all(|c| c.is_ascii_digit() || "| ^".contains(c))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `<root>/harness/claims.toml`.
pub fn load(root: &Path) -> Result<Claims, ClaimsError> {
    let path = root.join("harness/claims.toml");
    let text = std::fs::read_to_string(&path).map_err(|x| ClaimsError {
        file: path.display().to_string(),
        context: "claims".into(),
        message: format!("cannot read: {x}"),
    })?;
    parse(&path, &text)
}

// ------------------------------------------------------------- the evidence

/// What the rules need of one trial beyond the summary's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialFacts {
    pub trial_id: String,
    pub scenario: String,
    pub variant: String,
    pub status: Status,
    /// None when the trial never got a server running.
    pub server_alive: Option<bool>,
    pub exit_signal: Option<i32>,
    /// Requests that failed (errors.total over every client).
    pub errors_total: f64,
    /// A load generator of the trial said its own CPU, not the server,
    /// limited the throughput (closed loop) or the schedule (open loop).
    pub client_bound: bool,
    pub problems: Vec<String>,
}

impl TrialFacts {
    pub fn of(t: &TrialRecord) -> TrialFacts {
        let errors_total = t
            .clients
            .iter()
            .filter_map(|c| c.document.as_ref()?.pointer("/errors/total")?.as_f64())
            .sum();
        TrialFacts {
            trial_id: t.trial_id.clone(),
            scenario: t.scenario.clone(),
            variant: t.variant.clone(),
            status: t.status,
            server_alive: t.server.alive_after_load,
            exit_signal: t.server.exit_signal,
            errors_total,
            client_bound: t.client_bound(),
            problems: t.problems.clone(),
        }
    }
}

pub struct Evidence<'a> {
    pub summary: &'a Summary,
    pub trials: &'a [TrialFacts],
}

// ------------------------------------------------------------- the results

/// One side of a comparison: the estimate it used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    pub scenario: String,
    pub variant: String,
    pub metric: String,
    pub estimate: Estimate,
}

/// The value a rule decided on, with its interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Value {
    /// "ratio", "difference" or "median".
    pub kind: &'static str,
    pub point: f64,
    pub lo: f64,
    pub hi: f64,
    /// The interval's coverage: real for a median's order-statistic interval,
    /// nominal for a bootstrap interval.
    pub confidence: f64,
    /// Mann-Whitney two-sided p-value, for ratios and differences.
    pub p_value: Option<f64>,
    /// False when the samples are too small for p to reach 0.05.
    pub test_can_reach_005: Option<bool>,
    #[serde(skip)]
    pub unit: Option<Unit>,
}

impl Value {
    pub fn unit(&self) -> Unit {
        self.unit.unwrap_or(Unit::Plain)
    }
    /// "0.82× [0.75×, 0.9×]".
    pub fn text(&self) -> String {
        let u = self.unit();
        format!(
            "{} [{}, {}]",
            u.fmt(self.point),
            u.fmt(self.lo),
            u.fmt(self.hi)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    /// e.g. "echo-cap-64b: rust / go".
    pub label: String,
    pub scenario: String,
    pub verdict: Verdict,
    /// Why this verdict: which region the interval fell in, or what was missing.
    pub reason: String,
    /// True when the verdict is inconclusive for want of valid data (not
    /// because the interval straddled a threshold).
    pub data_problem: bool,
    pub value: Option<Value>,
    pub sides: Vec<Side>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub statement: String,
    /// The rule in words, generated from the data.
    pub rule_text: String,
    pub why: Option<String>,
    pub informational: bool,
    /// None of the check's scenarios are in the run.
    pub not_measured: bool,
    /// The check's scenarios this run did not include, when it included
    /// some (the verdict covers only the others, and its reason says so).
    pub not_run: Vec<String>,
    /// Skipped (optional and not measured): shown, never counted.
    pub skipped: bool,
    pub verdict: Verdict,
    pub reason: String,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimResult {
    pub id: String,
    pub title: String,
    pub statement: String,
    pub prediction: String,
    pub experiment: String,
    pub plots: Vec<String>,
    pub notes: Option<String>,
    pub facts: Vec<String>,
    pub verdict: Verdict,
    pub reason: String,
    /// Nothing of this claim was measured in this run.
    pub not_measured: bool,
    pub checks: Vec<CheckResult>,
}

// ------------------------------------------------------------ the engine

/// Whether `name` matches `pattern`, where `*` stands for one dotted
/// segment; returns what each `*` matched.
pub fn match_metric(pattern: &str, name: &str) -> Option<Vec<String>> {
    let p: Vec<&str> = pattern.split('.').collect();
    let n: Vec<&str> = name.split('.').collect();
    if p.len() != n.len() {
        return None;
    }
    let mut caps = Vec::new();
    for (a, b) in p.iter().zip(&n) {
        if *a == "*" {
            caps.push(b.to_string());
        } else if a != b {
            return None;
        }
    }
    Some(caps)
}

/// `pattern` with its `*`s replaced, in order, by `caps`.
pub fn fill_metric(pattern: &str, caps: &[String]) -> String {
    let mut it = caps.iter();
    pattern
        .split('.')
        .map(|seg| {
            if seg == "*" {
                it.next().cloned().unwrap_or_else(|| "*".into())
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Every metric of the scenario matching the pattern (sorted), with its
/// captures, less the excluded ones.
fn metric_matches(
    s: &ScenarioSummary,
    pattern: &str,
    exclude: &[String],
) -> Vec<(String, Vec<String>)> {
    if !pattern.contains('*') {
        return vec![(pattern.to_string(), Vec::new())];
    }
    s.metrics
        .keys()
        .filter(|m| !exclude.iter().any(|x| match_metric(x, m).is_some()))
        .filter_map(|m| match_metric(pattern, m).map(|c| (m.clone(), c)))
        .collect()
}

/// Median(a) − median(b) with a percentile-bootstrap interval (fixed seed).
pub fn difference(a: &[f64], b: &[f64], level: f64) -> Option<(f64, f64, f64)> {
    let a: Vec<f64> = a.iter().copied().filter(|x| x.is_finite()).collect();
    let b: Vec<f64> = b.iter().copied().filter(|x| x.is_finite()).collect();
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let d = stats::median(&a) - stats::median(&b);
    let mut rng = stats::SplitMix64::new(0x5eed);
    let mut boots = Vec::with_capacity(RESAMPLES);
    let (mut ra, mut rb) = (vec![0.0; a.len()], vec![0.0; b.len()]);
    for _ in 0..RESAMPLES {
        for x in ra.iter_mut() {
            *x = a[rng.below(a.len())];
        }
        for x in rb.iter_mut() {
            *x = b[rng.below(b.len())];
        }
        boots.push(stats::median(&ra) - stats::median(&rb));
    }
    boots.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    let at = |p: f64| boots[((p * (boots.len() - 1) as f64).round() as usize).min(boots.len() - 1)];
    Some((d, at(tail).min(d), at(1.0 - tail).max(d)))
}

struct Ctx<'a> {
    ev: &'a Evidence<'a>,
    min_repeats: usize,
    server_bound: bool,
}

impl Ctx<'_> {
    fn scenario(&self, id: &str) -> Option<&ScenarioSummary> {
        self.ev.summary.scenarios.iter().find(|s| s.id == id)
    }

    /// Why the (scenario, variant) data cannot be used, if it cannot.
    fn data_problem(&self, s: &ScenarioSummary, variant: &str) -> Option<String> {
        let Some(c) = s.counts.get(variant) else {
            return Some(format!("{}: variant {variant} did not run", s.id));
        };
        let n = c.ok + c.invalid + c.failed;
        if n == 0 {
            return Some(format!("{}: variant {variant} did not run", s.id));
        }
        let first_problem = || {
            let prefix = format!("{}--{variant}--", s.id);
            s.problems
                .iter()
                .find(|p| p.starts_with(&prefix))
                .map(|p| {
                    format!(
                        " (e.g. {})",
                        short_problem(p.strip_prefix(&prefix).unwrap_or(p))
                    )
                })
                .unwrap_or_default()
        };
        if c.failed > 0 {
            return Some(format!(
                "{}/{variant}: {} of {n} trials failed{}",
                s.id,
                c.failed,
                first_problem()
            ));
        }
        if c.invalid > 0 {
            return Some(format!(
                "{}/{variant}: {} of {n} trials invalid{}",
                s.id,
                c.invalid,
                first_problem()
            ));
        }
        if self.server_bound {
            let bound: Vec<&TrialFacts> = self
                .ev
                .trials
                .iter()
                .filter(|t| t.scenario == s.id && t.variant == variant && t.client_bound)
                .collect();
            if let Some(t) = bound.first() {
                return Some(format!(
                    "{}/{variant}: {} of {n} trials client-bound (e.g. {}): the load generator, not the server, was the limit",
                    s.id,
                    bound.len(),
                    t.trial_id
                ));
            }
        }
        if c.ok < self.min_repeats {
            return Some(format!(
                "{}/{variant}: only {} valid repeat{} (at least {} needed for an interval)",
                s.id,
                c.ok,
                if c.ok == 1 { "" } else { "s" },
                self.min_repeats
            ));
        }
        None
    }

    /// The side's estimate, or why there is none.
    fn side(&self, s: &ScenarioSummary, variant: &str, metric: &str) -> Result<Side, String> {
        if let Some(p) = self.data_problem(s, variant) {
            return Err(p);
        }
        match s.metrics.get(metric).and_then(|m| m.get(variant)) {
            Some(e) => Ok(Side {
                scenario: s.id.clone(),
                variant: variant.to_string(),
                metric: metric.to_string(),
                estimate: e.clone(),
            }),
            None => Err(format!(
                "{}/{variant}: metric {metric} was not measured (n/a)",
                s.id
            )),
        }
    }
}

/// A trial problem cut to its first clause: "r2: send lag p99 4190 µs
/// exceeds 1000 µs" rather than the load generator's whole list.
pub fn short_problem(p: &str) -> String {
    const MARK: &str = "marked its run invalid: ";
    let p = match p.find(MARK) {
        Some(i) => {
            let tag = p[..i].split(':').next().unwrap_or("").trim();
            let rest = &p[i + MARK.len()..];
            if tag.is_empty() || tag.contains(' ') {
                rest.to_string()
            } else {
                format!("{tag}: {rest}")
            }
        }
        None => p.to_string(),
    };
    let first = p.split(';').next().unwrap_or(&p).trim();
    let first = first
        .split(": the generator fell behind")
        .next()
        .unwrap_or(first);
    if first.chars().count() > 110 {
        format!("{}…", first.chars().take(109).collect::<String>())
    } else {
        first.to_string()
    }
}

/// The distinct reasons of the two sides of a comparison.
fn join_reasons<'a>(rs: impl IntoIterator<Item = Option<&'a String>>) -> String {
    let mut out: Vec<&String> = Vec::new();
    for r in rs.into_iter().flatten() {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

fn inconclusive_data(label: String, scenario: &str, reason: String, sides: Vec<Side>) -> Condition {
    Condition {
        label,
        scenario: scenario.to_string(),
        verdict: Verdict::Inconclusive,
        reason,
        data_problem: true,
        value: None,
        sides,
    }
}

/// The verdict for one interval.
fn decide(d: &Decide, v: Value, label: String, scenario: &str, sides: Vec<Side>) -> Condition {
    let u = v.unit();
    let s = d.supported.iter().find(|r| r.holds(v.lo, v.hi));
    let r = d.refuted.iter().find(|r| r.holds(v.lo, v.hi));
    let interval = format!("{} [{}, {}]", v.kind, u.fmt(v.lo), u.fmt(v.hi));
    let (verdict, reason) = match (s, r) {
        (Some(x), None) => (
            Verdict::Supported,
            format!("{interval} lies {}", x.describe(u)),
        ),
        (None, Some(x)) => (
            Verdict::Refuted,
            format!("{interval} lies {}", x.describe(u)),
        ),
        (Some(_), Some(_)) => (
            Verdict::Inconclusive,
            format!("{interval} satisfies both the supported and the refuted region (rule error)"),
        ),
        (None, None) => (
            Verdict::Inconclusive,
            format!(
                "{interval} is neither entirely {} nor entirely {}",
                alternatives(&d.supported, u),
                alternatives(&d.refuted, u)
            ),
        ),
    };
    Condition {
        label,
        scenario: scenario.to_string(),
        verdict,
        reason,
        data_problem: false,
        value: Some(v),
        sides,
    }
}

fn alternatives(rs: &[Region], u: Unit) -> String {
    rs.iter()
        .map(|r| r.describe(u))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn compare(a: &Side, b: &Side, mode: Mode, level: f64, unit: Unit) -> Option<Value> {
    let (va, vb) = (&a.estimate.values, &b.estimate.values);
    let p = stats::mann_whitney_p(va, vb);
    let reach = stats::min_exact_p(va.len(), vb.len()) <= 0.05;
    match mode {
        Mode::Ratio => {
            let r = stats::ratio(va, vb, level)?;
            Some(Value {
                kind: "ratio",
                point: r.ratio,
                lo: r.lo,
                hi: r.hi,
                confidence: r.confidence,
                p_value: Some(r.p_value),
                test_can_reach_005: Some(r.test_can_reach_005),
                unit: Some(Unit::Ratio),
            })
        }
        Mode::Difference => {
            let (d, lo, hi) = difference(va, vb, level)?;
            Some(Value {
                kind: "difference",
                point: d,
                lo,
                hi,
                confidence: level,
                p_value: Some(p),
                test_can_reach_005: Some(reach),
                unit: Some(unit),
            })
        }
    }
}

fn pick_variants<'a>(list: &'a [String], s: &'a ScenarioSummary) -> Vec<&'a String> {
    if list.is_empty() {
        s.variants.iter().collect()
    } else {
        list.iter().filter(|v| s.variants.contains(v)).collect()
    }
}

fn conditions(ctx: &Ctx, check: &Check) -> Vec<Condition> {
    let level = ctx.ev.summary.confidence_level;
    let mut out = Vec::new();
    for sid in &check.scenarios {
        let Some(s) = ctx.scenario(sid) else { continue };
        match &check.rule {
            Rule::Ratio {
                metric,
                numerator,
                denominator,
                mode,
                decide: d,
            } => {
                let pairs: Vec<(&String, &String)> = numerator
                    .iter()
                    .flat_map(|a| denominator.iter().map(move |b| (a, b)))
                    .filter(|(a, b)| a != b && s.variants.contains(a) && s.variants.contains(b))
                    .collect();
                if pairs.is_empty() {
                    let want: Vec<&str> = numerator
                        .iter()
                        .chain(denominator)
                        .map(String::as_str)
                        .collect();
                    out.push(inconclusive_data(
                        sid.clone(),
                        sid,
                        format!("runs none of the compared pairs ({})", want.join(", ")),
                        Vec::new(),
                    ));
                }
                let matches = metric_matches(s, metric, &check.exclude);
                if matches.is_empty() {
                    out.push(inconclusive_data(
                        format!("{sid}: {metric}"),
                        sid,
                        format!("{sid}: no metric matches {metric} (n/a)"),
                        Vec::new(),
                    ));
                }
                for (m, _) in &matches {
                    for (a, b) in &pairs {
                        let label = if metric.contains('*') {
                            format!("{sid} {m}: {a} {} {b}", op(*mode))
                        } else {
                            format!("{sid}: {a} {} {b}", op(*mode))
                        };
                        match (ctx.side(s, a, m), ctx.side(s, b, m)) {
                            (Ok(sa), Ok(sb)) => {
                                match compare(&sa, &sb, *mode, level, units::unit_of(m)) {
                                    Some(v) => out.push(decide(d, v, label, sid, vec![sa, sb])),
                                    None => out.push(inconclusive_data(
                                        label,
                                        sid,
                                        format!("{sid}/{b}: median of {m} is 0: no ratio"),
                                        vec![sa, sb],
                                    )),
                                }
                            }
                            (ea, eb) => {
                                let why = join_reasons([ea.as_ref().err(), eb.as_ref().err()]);
                                out.push(inconclusive_data(
                                    label,
                                    sid,
                                    why,
                                    [ea.ok(), eb.ok()].into_iter().flatten().collect(),
                                ));
                            }
                        }
                    }
                }
            }
            Rule::Baseline {
                metric,
                variants,
                baseline_scenario,
                baseline_metric,
                baseline_variant,
                mode,
                decide: d,
            } => {
                let base_id = baseline_scenario.as_deref().unwrap_or(sid);
                let base = ctx.scenario(base_id);
                let matches = metric_matches(s, metric, &check.exclude);
                if matches.is_empty() {
                    out.push(inconclusive_data(
                        format!("{sid}: {metric}"),
                        sid,
                        format!("{sid}: no metric matches {metric} (n/a)"),
                        Vec::new(),
                    ));
                }
                for v in pick_variants(variants, s) {
                    for (m, caps) in &matches {
                        let bm = baseline_metric
                            .as_deref()
                            .map(|p| fill_metric(p, caps))
                            .unwrap_or_else(|| m.clone());
                        let label = match (baseline_scenario.is_some(), baseline_metric.is_some()) {
                            (true, false) => format!(
                                "{sid} {} {base_id}: {v}{}",
                                op(*mode),
                                if metric.contains('*') {
                                    format!(" ({m})")
                                } else {
                                    String::new()
                                }
                            ),
                            (false, _) => {
                                format!("{sid}: {v}, {} {} {}", short(m), op(*mode), short(&bm))
                            }
                            (true, true) => format!(
                                "{sid} {} {base_id}: {v}, {} {} {}",
                                op(*mode),
                                short(m),
                                op(*mode),
                                short(&bm)
                            ),
                        };
                        let Some(base) = base else {
                            out.push(inconclusive_data(
                                label,
                                sid,
                                format!("baseline scenario {base_id} is not in this run"),
                                Vec::new(),
                            ));
                            continue;
                        };
                        let bv = if base.variants.contains(v) {
                            v.clone()
                        } else {
                            baseline_variant
                                .get(v)
                                .cloned()
                                .unwrap_or_else(|| v.clone())
                        };
                        match (ctx.side(s, v, m), ctx.side(base, &bv, &bm)) {
                            (Ok(sa), Ok(sb)) => {
                                match compare(&sa, &sb, *mode, level, units::unit_of(m)) {
                                    Some(val) => out.push(decide(d, val, label, sid, vec![sa, sb])),
                                    None => out.push(inconclusive_data(
                                        label,
                                        sid,
                                        format!("{base_id}/{bv}: median of {bm} is 0: no ratio"),
                                        vec![sa, sb],
                                    )),
                                }
                            }
                            (ea, eb) => {
                                let why = join_reasons([ea.as_ref().err(), eb.as_ref().err()]);
                                out.push(inconclusive_data(
                                    label,
                                    sid,
                                    why,
                                    [ea.ok(), eb.ok()].into_iter().flatten().collect(),
                                ));
                            }
                        }
                    }
                }
            }
            Rule::Threshold {
                metric,
                variants,
                decide: d,
            } => {
                let matches = metric_matches(s, metric, &check.exclude);
                if matches.is_empty() {
                    out.push(inconclusive_data(
                        format!("{sid}: {metric}"),
                        sid,
                        format!("{sid}: no metric matches {metric} (n/a)"),
                        Vec::new(),
                    ));
                }
                for v in pick_variants(variants, s) {
                    for (m, _) in &matches {
                        let label = if metric.contains('*') {
                            format!("{sid}: {v} ({m})")
                        } else {
                            format!("{sid}: {v}")
                        };
                        match ctx.side(s, v, m) {
                            Ok(side) => {
                                let e = &side.estimate;
                                let val = Value {
                                    kind: "median",
                                    point: e.median,
                                    lo: e.lo,
                                    hi: e.hi,
                                    confidence: e.confidence,
                                    p_value: None,
                                    test_can_reach_005: None,
                                    unit: Some(units::unit_of(m)),
                                };
                                out.push(decide(d, val, label, sid, vec![side]));
                            }
                            Err(why) => out.push(inconclusive_data(label, sid, why, Vec::new())),
                        }
                    }
                }
            }
            Rule::AllAlive {
                variants,
                if_alive,
                if_crashed,
            } => {
                for v in pick_variants(variants, s) {
                    out.push(alive_condition(ctx, s, v, *if_alive, *if_crashed));
                }
            }
        }
    }
    out
}

fn op(m: Mode) -> &'static str {
    match m {
        Mode::Ratio => "/",
        Mode::Difference => "−",
    }
}

/// A metric name without the client prefix's noise, for labels.
fn short(m: &str) -> String {
    m.strip_prefix("server.")
        .or_else(|| m.strip_prefix("main."))
        .unwrap_or(m)
        .to_string()
}

fn alive_condition(
    ctx: &Ctx,
    s: &ScenarioSummary,
    variant: &str,
    if_alive: Verdict,
    if_crashed: Verdict,
) -> Condition {
    let label = format!("{}: {variant}", s.id);
    let trials: Vec<&TrialFacts> = ctx
        .ev
        .trials
        .iter()
        .filter(|t| t.scenario == s.id && t.variant == variant)
        .collect();
    if trials.is_empty() {
        return inconclusive_data(
            label,
            &s.id,
            format!("{}/{variant}: no trial files", s.id),
            Vec::new(),
        );
    }
    let n = trials.len();
    let crashed: Vec<&&TrialFacts> = trials
        .iter()
        .filter(|t| t.server_alive == Some(false))
        .collect();
    let mk = |verdict, reason: String, data_problem| Condition {
        label: label.clone(),
        scenario: s.id.clone(),
        verdict,
        reason,
        data_problem,
        value: None,
        sides: Vec::new(),
    };
    // A server that died is the measurement itself, whatever else the
    // trial's status says.
    if let Some(t) = crashed.first() {
        let how = t
            .exit_signal
            .map(|sig| format!(" (signal {sig})"))
            .unwrap_or_default();
        return mk(
            if_crashed,
            format!(
                "{} of {n} trials: the server died during the load{how}, e.g. {}",
                crashed.len(),
                t.trial_id
            ),
            false,
        );
    }
    // Any other invalid or failed trial: the run cannot say the server
    // survived the load it was meant to get, as for every other rule.
    let bad: Vec<&&TrialFacts> = trials.iter().filter(|t| t.status != Status::Ok).collect();
    if let Some(t) = bad.first() {
        let word = |st: Status| match st {
            Status::Invalid => "invalid",
            _ => "failed",
        };
        let what = if bad.iter().all(|x| x.status == t.status) {
            word(t.status)
        } else {
            "invalid or failed"
        };
        let problem = t
            .problems
            .first()
            .map(|p| format!(": {}", short_problem(p)))
            .unwrap_or_default();
        return mk(
            Verdict::Inconclusive,
            format!(
                "{}/{variant}: {} of {n} trials {what}, e.g. {} ({}{problem})",
                s.id,
                bad.len(),
                t.trial_id,
                word(t.status)
            ),
            true,
        );
    }
    let errors: f64 = trials.iter().map(|t| t.errors_total).sum();
    if errors > 0.0 {
        return mk(
            Verdict::Inconclusive,
            format!(
                "server stayed alive in all {n} trials but {errors:.0} requests failed (timeouts or resets)"
            ),
            true,
        );
    }
    mk(
        if_alive,
        format!(
            "all {n} trials ran to the end, the server stayed alive and answered every request"
        ),
        false,
    )
}

/// Counts of verdict words in a set of outcomes.
#[derive(Default)]
struct Tally<'a> {
    supported: Vec<(&'a str, &'a str)>,
    refuted: Vec<(&'a str, &'a str)>,
    mixed: Vec<(&'a str, &'a str)>,
    inconclusive: Vec<(&'a str, &'a str)>,
    data: Vec<(&'a str, &'a str)>,
}

/// Combines outcomes (label, verdict, reason, data problem) into one
/// verdict and its reason: any data problem makes it inconclusive;
/// supported and refuted together make it mixed; otherwise all must agree.
pub fn combine<'a>(
    items: impl IntoIterator<Item = (&'a str, Verdict, &'a str, bool)>,
) -> (Verdict, String) {
    let mut t = Tally::default();
    let mut n = 0;
    for (label, v, reason, data) in items {
        n += 1;
        if data {
            t.data.push((label, reason));
            continue;
        }
        match v {
            Verdict::Supported => t.supported.push((label, reason)),
            Verdict::Refuted => t.refuted.push((label, reason)),
            Verdict::Mixed => t.mixed.push((label, reason)),
            Verdict::Inconclusive => t.inconclusive.push((label, reason)),
        }
    }
    if n == 0 {
        return (Verdict::Inconclusive, "not measured in this run".into());
    }
    // A few outcomes are named with their reasons; many, by label only
    // (the report's condition tables carry the rest).
    let list = |xs: &[(&str, &str)]| {
        if xs.len() <= 3 {
            xs.iter()
                .map(|(l, r)| {
                    if r.is_empty() {
                        l.to_string()
                    } else {
                        format!("{l} ({r})")
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            xs.iter().map(|(l, _)| *l).collect::<Vec<_>>().join("; ")
        }
    };
    if let Some((label, reason)) = t.data.first() {
        let more = if t.data.len() > 1 {
            format!(" (and {} more)", t.data.len() - 1)
        } else {
            String::new()
        };
        return (Verdict::Inconclusive, format!("{label}: {reason}{more}"));
    }
    let unclear = || {
        t.inconclusive
            .iter()
            .map(|(l, r)| format!("{l} ({r})"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if !t.mixed.is_empty() || (!t.supported.is_empty() && !t.refuted.is_empty()) {
        let mut parts = Vec::new();
        if !t.supported.is_empty() {
            parts.push(format!("supported in {}", list(&t.supported)));
        }
        if !t.refuted.is_empty() {
            parts.push(format!("refuted in {}", list(&t.refuted)));
        }
        if !t.mixed.is_empty() {
            parts.push(format!("mixed in {}", list(&t.mixed)));
        }
        if !t.inconclusive.is_empty() {
            parts.push(format!(
                "inconclusive in {}",
                t.inconclusive
                    .iter()
                    .map(|(l, _)| *l)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        return (Verdict::Mixed, parts.join("; "));
    }
    if !t.inconclusive.is_empty() {
        let decided = if !t.supported.is_empty() {
            format!(" (supported in {})", list(&t.supported))
        } else if !t.refuted.is_empty() {
            format!(" (refuted in {})", list(&t.refuted))
        } else {
            String::new()
        };
        return (
            Verdict::Inconclusive,
            format!("intervals too wide to decide: {}{decided}", unclear()),
        );
    }
    if !t.supported.is_empty() {
        (
            Verdict::Supported,
            format!("supported in every condition: {}", list(&t.supported)),
        )
    } else {
        (
            Verdict::Refuted,
            format!("refuted in every condition: {}", list(&t.refuted)),
        )
    }
}

/// The rule in words, from the data.
pub fn rule_text(check: &Check, confidence_level: f64) -> String {
    let bound = if check.server_bound {
        " (a trial whose load generator was client-bound makes its condition inconclusive: its throughput is the client's, not the server's)"
    } else {
        ""
    };
    let regions = |d: &Decide, u: Unit| {
        format!(
            "supported if it lies {}; refuted if it lies {}; otherwise inconclusive{bound}",
            alternatives(&d.supported, u),
            alternatives(&d.refuted, u)
        )
    };
    let boot = format!(
        "percentile-bootstrap interval (nominal {:.0} %; its real coverage with few repeats is stated with each value)",
        confidence_level * 100.0
    );
    match &check.rule {
        Rule::Ratio {
            metric,
            numerator,
            denominator,
            mode,
            decide,
        } => {
            let what = match mode {
                Mode::Ratio => "ratio",
                Mode::Difference => "difference",
            };
            let u = if *mode == Mode::Ratio {
                Unit::Ratio
            } else {
                units::unit_of(metric)
            };
            format!(
                "{what} of the medians of `{metric}`, {} {} {}, in {}: the {boot}: {}",
                numerator.join("|"),
                op(*mode),
                denominator.join("|"),
                check.scenarios.join(", "),
                regions(decide, u)
            )
        }
        Rule::Baseline {
            metric,
            variants,
            baseline_scenario,
            baseline_metric,
            mode,
            decide,
            ..
        } => {
            let u = if *mode == Mode::Ratio {
                Unit::Ratio
            } else {
                units::unit_of(metric)
            };
            let against = match (baseline_scenario, baseline_metric) {
                (Some(s), None) => format!("the same metric in {s}"),
                (None, Some(m)) => format!("`{m}` of the same trials"),
                (Some(s), Some(m)) => format!("`{m}` in {s}"),
                (None, None) => String::new(),
            };
            format!(
                "{} of the median of `{metric}` ({}, in {}) {} {against}: the {boot}: {}",
                if *mode == Mode::Ratio {
                    "ratio"
                } else {
                    "difference"
                },
                if variants.is_empty() {
                    "every variant".to_string()
                } else {
                    variants.join(", ")
                },
                check.scenarios.join(", "),
                if *mode == Mode::Ratio { "to" } else { "minus" },
                regions(decide, u)
            )
        }
        Rule::Threshold {
            metric,
            variants,
            decide,
        } => format!(
            "the order-statistic interval of the median of `{metric}` over repeats (its real coverage — 75 % with 3 repeats — is stated with each value; {}, in {}): {}",
            if variants.is_empty() {
                "every variant".to_string()
            } else {
                variants.join(", ")
            },
            check.scenarios.join(", "),
            regions(decide, units::unit_of(metric))
        ),
        Rule::AllAlive {
            variants,
            if_alive,
            if_crashed,
        } => format!(
            "{if_alive} if every trial of {} ({}) ran to the end with the server alive and every request answered; {if_crashed} if the server died in any trial; inconclusive if any other trial was invalid or failed, or requests failed",
            check.scenarios.join(", "),
            if variants.is_empty() {
                "every variant".to_string()
            } else {
                variants.join(", ")
            },
        ),
    }
}

pub fn evaluate_check(ctx_claims: &Claims, ev: &Evidence, check: &Check) -> CheckResult {
    let ctx = Ctx {
        ev,
        min_repeats: check.min_repeats.unwrap_or(ctx_claims.min_repeats).max(1),
        server_bound: check.server_bound,
    };
    let measured = check.scenarios.iter().any(|s| ctx.scenario(s).is_some());
    let conditions = if measured {
        conditions(&ctx, check)
    } else {
        Vec::new()
    };
    let not_run: Vec<String> = if measured {
        check
            .scenarios
            .iter()
            .filter(|s| ctx.scenario(s).is_none())
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let (verdict, reason) = if !measured {
        (
            Verdict::Inconclusive,
            format!(
                "not measured in this run (needs {})",
                check.scenarios.join(" or ")
            ),
        )
    } else {
        let (v, r) = combine(conditions.iter().map(|c| {
            (
                c.label.as_str(),
                c.verdict,
                c.reason.as_str(),
                c.data_problem,
            )
        }));
        if not_run.is_empty() {
            (v, r)
        } else {
            // Scenarios the profile did not run are not silently dropped.
            (
                v,
                format!(
                    "{r} — {v} in the {} of {} scenarios measured; not run in this profile: {}",
                    check.scenarios.len() - not_run.len(),
                    check.scenarios.len(),
                    not_run.join(", ")
                ),
            )
        }
    };
    CheckResult {
        name: check.name.clone(),
        statement: check.statement.clone(),
        rule_text: rule_text(check, ev.summary.confidence_level),
        why: check.why.clone(),
        informational: check.informational,
        not_measured: !measured,
        not_run,
        skipped: !measured && !check.required,
        verdict,
        reason,
        conditions,
    }
}

/// Every claim's verdict from the run's statistics.
pub fn evaluate(claims: &Claims, ev: &Evidence) -> Vec<ClaimResult> {
    claims
        .claims
        .iter()
        .map(|c| {
            let checks: Vec<CheckResult> = c
                .checks
                .iter()
                .map(|k| evaluate_check(claims, ev, k))
                .collect();
            let counted: Vec<&CheckResult> = checks
                .iter()
                .filter(|k| !k.informational && !k.skipped)
                .collect();
            let not_measured = counted.iter().all(|k| k.not_measured);
            let (verdict, reason) = if not_measured {
                // Every scenario a counted (or optional) check could have used.
                let mut needs: Vec<String> = Vec::new();
                for x in c.checks.iter().filter(|x| !x.informational) {
                    for sc in &x.scenarios {
                        if !needs.contains(sc) {
                            needs.push(sc.clone());
                        }
                    }
                }
                (
                    Verdict::Inconclusive,
                    format!("not measured in this run (needs {})", needs.join(", ")),
                )
            } else {
                // A required check that was not measured is missing data.
                let (v, r) = combine(counted.iter().map(|k| {
                    (
                        k.name.as_str(),
                        k.verdict,
                        k.reason.as_str(),
                        k.not_measured || is_data(k),
                    )
                }));
                if v == Verdict::Inconclusive
                    && counted.iter().any(|k| k.not_measured || is_data(k))
                {
                    (v, r)
                } else {
                    // Each check's own verdict and reason: the reader sees which condition said what.
                    (
                        v,
                        counted
                            .iter()
                            .map(|k| format!("{} — {}: {}", k.name, k.verdict, k.reason))
                            .collect::<Vec<_>>()
                            .join(". "),
                    )
                }
            };
            ClaimResult {
                id: c.id.clone(),
                title: c.title.clone(),
                statement: c.statement.clone(),
                prediction: c.prediction.clone(),
                experiment: c.experiment.clone(),
                plots: c.plots.clone(),
                notes: c.notes.clone(),
                facts: c.facts.clone(),
                verdict,
                reason,
                not_measured,
                checks,
            }
        })
        .collect()
}

/// A check is inconclusive for want of data when any of its conditions is.
fn is_data(k: &CheckResult) -> bool {
    k.verdict == Verdict::Inconclusive && k.conditions.iter().any(|c| c.data_problem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::summary::Counts;

    fn est(values: &[f64]) -> Estimate {
        stats::estimate(values, 0.95).unwrap()
    }

    /// A scenario with `metric` -> variant -> values, every variant with
    /// `ok` valid trials.
    fn scenario(id: &str, data: &[(&str, &str, &[f64])]) -> ScenarioSummary {
        let mut variants: Vec<String> = Vec::new();
        let mut metrics: BTreeMap<String, BTreeMap<String, Estimate>> = BTreeMap::new();
        for (m, v, xs) in data {
            if !variants.contains(&v.to_string()) {
                variants.push(v.to_string());
            }
            metrics
                .entry(m.to_string())
                .or_default()
                .insert(v.to_string(), est(xs));
        }
        let counts = variants
            .iter()
            .map(|v| {
                (
                    v.clone(),
                    Counts {
                        ok: 3,
                        invalid: 0,
                        failed: 0,
                    },
                )
            })
            .collect();
        ScenarioSummary {
            id: id.into(),
            title: id.into(),
            claims: vec![],
            workload: "echo".into(),
            variants,
            counts,
            problems: vec![],
            metrics,
            ratios: BTreeMap::new(),
            capacity_rps: None,
        }
    }

    fn summary(scenarios: Vec<ScenarioSummary>) -> Summary {
        Summary {
            schema_version: 1,
            profile: "test".into(),
            generated_at: "2026-01-01T00:00:00Z".into(),
            complete: true,
            interrupted: false,
            confidence_level: 0.95,
            trials: Counts::default(),
            scenarios,
        }
    }

    fn claims(text: &str) -> Claims {
        parse(Path::new("claims.toml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    const CPU: &str = "server.cpu_us_per_request";

    const RATIO_CLAIM: &str = r#"
        schema_version = 1
        [[claim]]
        id = "C1"
        title = "t"
        statement = "s"
        prediction = "p"
        experiment = "e"
        [[claim.check]]
        name = "cpu"
        statement = "tokio spends less CPU per request"
        kind = "ratio"
        scenarios = ["a", "b"]
        metric = "server.cpu_us_per_request"
        numerator = ["rust"]
        denominator = ["go"]
        supported = { below = 0.9 }
        refuted = [{ above = 1.1 }, { within = [0.9, 1.1] }]
    "#;

    fn run(c: &Claims, s: &Summary) -> Vec<ClaimResult> {
        evaluate(
            c,
            &Evidence {
                summary: s,
                trials: &[],
            },
        )
    }

    #[test]
    fn ratio_rule_reaches_every_word() {
        let c = claims(RATIO_CLAIM);
        let low = [
            (CPU, "go", &[10.0, 10.2, 9.9][..]),
            (CPU, "rust", &[7.0, 7.1, 6.9][..]),
        ];
        let same = [
            (CPU, "go", &[10.0, 10.2, 9.9][..]),
            (CPU, "rust", &[10.1, 9.95, 10.05][..]),
        ];
        let wide = [
            (CPU, "go", &[10.0, 10.2, 9.9][..]),
            (CPU, "rust", &[6.0, 9.5, 12.0][..]),
        ];
        // Both scenarios: tokio cheaper -> supported.
        let r = run(&c, &summary(vec![scenario("a", &low), scenario("b", &low)]));
        assert_eq!(r[0].verdict, Verdict::Supported, "{}", r[0].reason);
        let cond = &r[0].checks[0].conditions[0];
        let v = cond.value.as_ref().unwrap();
        assert!((v.point - 0.7).abs() < 1e-9 && v.hi < 0.9, "{v:?}");
        assert_eq!(cond.sides.len(), 2);
        assert_eq!(cond.sides[0].estimate.median, 7.0);
        // Equal within 10 % -> refuted.
        let r = run(
            &c,
            &summary(vec![scenario("a", &same), scenario("b", &same)]),
        );
        assert_eq!(r[0].verdict, Verdict::Refuted, "{}", r[0].reason);
        // Cheaper in one, equal in the other -> mixed, naming both.
        let r = run(
            &c,
            &summary(vec![scenario("a", &low), scenario("b", &same)]),
        );
        assert_eq!(r[0].verdict, Verdict::Mixed);
        assert!(
            r[0].reason.contains("supported in") && r[0].reason.contains("refuted in"),
            "{}",
            r[0].reason
        );
        // A wide interval -> inconclusive.
        let r = run(
            &c,
            &summary(vec![scenario("a", &wide), scenario("b", &low)]),
        );
        assert_eq!(r[0].verdict, Verdict::Inconclusive, "{}", r[0].reason);
        assert!(r[0].reason.contains("too wide"), "{}", r[0].reason);
    }

    #[test]
    fn invalid_or_failed_trials_force_inconclusive_with_the_reason() {
        let c = claims(RATIO_CLAIM);
        let low = [
            (CPU, "go", &[10.0, 10.2, 9.9][..]),
            (CPU, "rust", &[7.0, 7.1, 6.9][..]),
        ];
        let mut a = scenario("a", &low);
        a.counts.get_mut("rust").unwrap().invalid = 1;
        a.problems
            .push("a--rust--r2: load generator main marked its run invalid: send lag".into());
        let r = run(&c, &summary(vec![a, scenario("b", &low)]));
        assert_eq!(r[0].verdict, Verdict::Inconclusive);
        assert!(
            r[0].reason.contains("1 of 4 trials invalid") && r[0].reason.contains("send lag"),
            "{}",
            r[0].reason
        );
        let mut b = scenario("b", &low);
        b.counts.get_mut("go").unwrap().failed = 2;
        let r = run(&c, &summary(vec![scenario("a", &low), b]));
        assert_eq!(r[0].verdict, Verdict::Inconclusive);
        assert!(
            r[0].reason.contains("2 of 5 trials failed"),
            "{}",
            r[0].reason
        );
        // Even a would-be mixed result is inconclusive when data is missing.
        let same = [
            (CPU, "go", &[10.0, 10.2, 9.9][..]),
            (CPU, "rust", &[10.1, 9.95, 10.05][..]),
        ];
        let mut b = scenario("b", &same);
        b.metrics.get_mut(CPU).unwrap().remove("rust");
        b.counts.insert("rust".into(), Counts::default());
        let r = run(&c, &summary(vec![scenario("a", &low), b]));
        assert_eq!(r[0].verdict, Verdict::Inconclusive);
        assert!(r[0].reason.contains("rust did not run"), "{}", r[0].reason);
    }

    #[test]
    fn a_client_bound_maximum_decides_nothing_for_a_server_bound_check() {
        let text = RATIO_CLAIM.replace("kind = \"ratio\"", "kind = \"ratio\"\nserver_bound = true");
        let c = claims(&text);
        assert!(c.claims[0].checks[0].server_bound);
        let low = [
            (CPU, "go", &[10.0, 10.2, 9.9][..]),
            (CPU, "rust", &[7.0, 7.1, 6.9][..]),
        ];
        let sum = summary(vec![scenario("a", &low), scenario("b", &low)]);
        let fact = |sid: &str, v: &str, r: usize, bound: bool| TrialFacts {
            trial_id: format!("{sid}--{v}--r{r}"),
            scenario: sid.into(),
            variant: v.into(),
            status: Status::Ok,
            server_alive: Some(true),
            exit_signal: None,
            errors_total: 0.0,
            client_bound: bound,
            problems: vec![],
        };
        let mut facts: Vec<TrialFacts> = ["a", "b"]
            .iter()
            .flat_map(|s| ["go", "rust"].map(move |v| (s, v)))
            .flat_map(|(s, v)| (1..=3).map(move |r| fact(s, v, r, false)))
            .collect();
        let eval = |facts: &[TrialFacts], c: &Claims| {
            evaluate(
                c,
                &Evidence {
                    summary: &sum,
                    trials: facts,
                },
            )
        };
        assert_eq!(eval(&facts, &c)[0].verdict, Verdict::Supported);
        // One client-bound trial: its condition cannot be decided.
        facts[4].client_bound = true;
        let r = eval(&facts, &c);
        assert_eq!(r[0].verdict, Verdict::Inconclusive, "{}", r[0].reason);
        assert!(
            r[0].reason
                .contains("1 of 3 trials client-bound (e.g. a--rust--r2)"),
            "{}",
            r[0].reason
        );
        assert!(rule_text(&c.claims[0].checks[0], 0.95).contains("client-bound"));
        // A check that does not ask for a server maximum ignores it.
        assert_eq!(
            eval(&facts, &claims(RATIO_CLAIM))[0].verdict,
            Verdict::Supported
        );
    }

    #[test]
    fn a_fact_needs_one_repeat() {
        let text = r#"
            schema_version = 1
            [[claim]]
            id = "C12"
            title = "t"
            statement = "s"
            prediction = "p"
            experiment = "e"
            [[claim.check]]
            name = "compiles"
            statement = "spawn takes a !Send future"
            min_repeats = 1
            kind = "threshold"
            scenarios = ["micro-c12"]
            variants = ["rust"]
            metric = "c12.*.spawn_non_send_compiles"
            supported = { above = 0.5 }
            refuted = { below = 0.5 }
        "#;
        let c = claims(text);
        let mut sc = scenario(
            "micro-c12",
            &[("c12.spawn.spawn_non_send_compiles", "rust", &[0.0][..])],
        );
        sc.counts.get_mut("rust").unwrap().ok = 1;
        let r = run(&c, &summary(vec![sc.clone()]));
        assert_eq!(r[0].verdict, Verdict::Refuted, "{}", r[0].reason);
        let strict = claims(&text.replace("min_repeats = 1\n", ""));
        assert_eq!(
            run(&strict, &summary(vec![sc]))[0].verdict,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn problems_are_shortened_to_their_first_clause() {
        let p = "r2: load generator main marked its run invalid: send lag p99 4190 µs exceeds 1000 µs: the generator fell behind its schedule; step 1 (8556 req/s): more";
        assert_eq!(short_problem(p), "r2: send lag p99 4190 µs exceeds 1000 µs");
        assert_eq!(
            short_problem("r1: server exited during the trial (signal 9)"),
            "r1: server exited during the trial (signal 9)"
        );
    }

    #[test]
    fn missing_scenarios_and_metrics_say_why() {
        let c = claims(RATIO_CLAIM);
        let r = run(
            &c,
            &summary(vec![scenario("other", &[(CPU, "go", &[1.0, 1.0][..])])]),
        );
        assert_eq!(r[0].verdict, Verdict::Inconclusive);
        assert!(r[0].not_measured);
        assert!(
            r[0].reason.contains("not measured in this run"),
            "{}",
            r[0].reason
        );
        let only_rps = [
            ("main.achieved_rps", "go", &[1.0, 2.0, 3.0][..]),
            ("main.achieved_rps", "rust", &[1.0, 2.0, 3.0][..]),
        ];
        let r = run(&c, &summary(vec![scenario("a", &only_rps)]));
        assert_eq!(r[0].verdict, Verdict::Inconclusive);
        assert!(
            r[0].reason.contains("was not measured (n/a)"),
            "{}",
            r[0].reason
        );
        // One valid repeat is not enough for an interval.
        let mut a = scenario("a", &[(CPU, "go", &[10.0][..]), (CPU, "rust", &[7.0][..])]);
        for c in a.counts.values_mut() {
            c.ok = 1;
        }
        let r = run(&c, &summary(vec![a]));
        assert!(
            r[0].reason.contains("only 1 valid repeat"),
            "{}",
            r[0].reason
        );
    }

    #[test]
    fn baseline_rule_compares_with_another_scenario_and_metric() {
        let text = r#"
            schema_version = 1
            [[claim]]
            id = "C3"
            title = "t"
            statement = "s"
            prediction = "p"
            experiment = "e"
            [[claim.check]]
            name = "vs baseline"
            statement = "light p99 rises"
            kind = "baseline"
            scenarios = ["hol"]
            variants = ["rust", "rust-sb"]
            metric = "main.classes.light.latency_us.corrected.p99"
            baseline_scenario = "base"
            baseline_variant = { rust-sb = "rust" }
            supported = { above = 3.0 }
            refuted = { below = 1.5 }
            [[claim.check]]
            name = "overshoot"
            statement = "the timer overshoots by less than 0.5 ms"
            kind = "baseline"
            scenarios = ["hol"]
            variants = ["rust"]
            mode = "difference"
            metric = "main.classes.*.latency_us.uncorrected.p50"
            baseline_metric = "main.classes.*.spec.io_arg"
            supported = { below = 500.0 }
            refuted = { above = 900.0 }
        "#;
        let c = claims(text);
        let light = "main.classes.light.latency_us.corrected.p99";
        let hol = scenario(
            "hol",
            &[
                (light, "rust", &[9000.0, 9500.0, 9800.0][..]),
                (light, "rust-sb", &[100.0, 105.0, 115.0][..]),
                (
                    "main.classes.s1.latency_us.uncorrected.p50",
                    "rust",
                    &[1100.0, 1150.0, 1120.0][..],
                ),
                (
                    "main.classes.s1.spec.io_arg",
                    "rust",
                    &[100.0, 100.0, 100.0][..],
                ),
            ],
        );
        let base = scenario("base", &[(light, "rust", &[100.0, 110.0, 120.0][..])]);
        let r = run(&c, &summary(vec![hol, base]));
        let k = &r[0].checks[0];
        assert_eq!(k.conditions.len(), 2);
        assert_eq!(
            k.conditions[0].verdict,
            Verdict::Supported,
            "{}",
            k.conditions[0].reason
        );
        assert_eq!(
            k.conditions[1].verdict,
            Verdict::Refuted,
            "{}",
            k.conditions[1].reason
        );
        assert_eq!(
            k.conditions[1].sides[1].variant, "rust",
            "fell back to the mapped baseline variant"
        );
        assert_eq!(k.verdict, Verdict::Mixed);
        let o = &r[0].checks[1];
        assert_eq!(o.conditions.len(), 1);
        let v = o.conditions[0].value.as_ref().unwrap();
        assert_eq!(v.point, 1020.0);
        assert_eq!(o.verdict, Verdict::Refuted, "{}", o.reason);
        assert_eq!(r[0].verdict, Verdict::Mixed);
    }

    #[test]
    fn threshold_rule_and_informational_checks() {
        let text = r#"
            schema_version = 1
            [[claim]]
            id = "C7"
            title = "t"
            statement = "s"
            prediction = "p"
            experiment = "e"
            [[claim.check]]
            name = "grows"
            statement = "threads grow"
            kind = "threshold"
            scenarios = ["burst"]
            metric = "server.threads_peak"
            supported = { above = 20.0 }
            refuted = { below = 5.0 }
            [[claim.check]]
            name = "info"
            statement = "never counted"
            informational = true
            kind = "threshold"
            scenarios = ["burst"]
            metric = "server.threads_end"
            supported = { above = 1000.0 }
            refuted = { below = 1000.0 }
            [[claim.check]]
            name = "micro"
            statement = "optional"
            required = false
            kind = "threshold"
            scenarios = ["micro-x"]
            metric = "x.*.y"
            supported = { above = 1.0 }
            refuted = { below = 1.0 }
        "#;
        let c = claims(text);
        let s = scenario(
            "burst",
            &[
                ("server.threads_peak", "go", &[100.0, 120.0, 110.0][..]),
                ("server.threads_end", "go", &[5.0, 5.0, 5.0][..]),
            ],
        );
        let r = run(&c, &summary(vec![s]));
        assert_eq!(r[0].verdict, Verdict::Supported, "{}", r[0].reason);
        assert_eq!(r[0].checks[1].verdict, Verdict::Refuted);
        assert!(r[0].checks[2].skipped && r[0].checks[2].not_measured);
        let v = r[0].checks[0].conditions[0].value.as_ref().unwrap();
        assert_eq!((v.lo, v.hi), (100.0, 120.0));
        assert!(
            (v.confidence - 0.75).abs() < 1e-9,
            "three repeats cover 75 %"
        );
        let s = scenario(
            "burst",
            &[("server.threads_peak", "go", &[2.0, 3.0, 4.0][..])],
        );
        assert_eq!(run(&c, &summary(vec![s]))[0].verdict, Verdict::Refuted);
    }

    #[test]
    fn all_alive_rule() {
        let text = r#"
            schema_version = 1
            [[claim]]
            id = "C6"
            title = "t"
            statement = "s"
            prediction = "p"
            experiment = "e"
            [[claim.check]]
            name = "crash"
            statement = "the server crashes"
            kind = "all_alive"
            scenarios = ["hol"]
            variants = ["rust"]
            if_alive = "refuted"
            if_crashed = "supported"
        "#;
        let c = claims(text);
        let s = summary(vec![scenario(
            "hol",
            &[(CPU, "rust", &[1.0, 1.0, 1.0][..])],
        )]);
        let fact = |i: usize, status: Status, alive: Option<bool>, errors: f64| TrialFacts {
            trial_id: format!("hol--rust--r{i}"),
            scenario: "hol".into(),
            variant: "rust".into(),
            status,
            server_alive: alive,
            exit_signal: if alive == Some(false) { Some(11) } else { None },
            errors_total: errors,
            client_bound: false,
            problems: vec!["p".into()],
        };
        let eval = |facts: Vec<TrialFacts>| {
            evaluate(
                &c,
                &Evidence {
                    summary: &s,
                    trials: &facts,
                },
            )[0]
            .clone()
        };
        let ok = eval(vec![
            fact(1, Status::Ok, Some(true), 0.0),
            fact(2, Status::Ok, Some(true), 0.0),
        ]);
        assert_eq!(ok.verdict, Verdict::Refuted, "{}", ok.reason);
        let crash = eval(vec![
            fact(1, Status::Ok, Some(true), 0.0),
            fact(2, Status::Failed, Some(false), 0.0),
        ]);
        assert_eq!(crash.verdict, Verdict::Supported);
        assert!(crash.reason.contains("signal 11"), "{}", crash.reason);
        let other = eval(vec![fact(1, Status::Failed, None, 0.0)]);
        assert_eq!(other.verdict, Verdict::Inconclusive);
        let errs = eval(vec![fact(1, Status::Ok, Some(true), 12.0)]);
        assert_eq!(errs.verdict, Verdict::Inconclusive);
        assert!(
            errs.reason.contains("12 requests failed"),
            "{}",
            errs.reason
        );
        // An invalid trial with a live server is not evidence of survival.
        let invalid = eval(vec![
            fact(1, Status::Ok, Some(true), 0.0),
            fact(2, Status::Invalid, Some(true), 0.0),
        ]);
        assert_eq!(invalid.verdict, Verdict::Inconclusive, "{}", invalid.reason);
        assert!(
            invalid.reason.contains("1 of 2 trials invalid"),
            "{}",
            invalid.reason
        );
    }

    #[test]
    fn combine_reaches_every_word() {
        let s = |l| (l, Verdict::Supported, "", false);
        let r = |l| (l, Verdict::Refuted, "", false);
        let i = |l| (l, Verdict::Inconclusive, "wide", false);
        let d = |l| (l, Verdict::Inconclusive, "invalid", true);
        assert_eq!(combine([s("a"), s("b")]).0, Verdict::Supported);
        assert_eq!(combine([r("a"), r("b")]).0, Verdict::Refuted);
        assert_eq!(combine([s("a"), r("b"), i("c")]).0, Verdict::Mixed);
        assert_eq!(combine([s("a"), i("c")]).0, Verdict::Inconclusive);
        assert_eq!(combine([s("a"), r("b"), d("c")]).0, Verdict::Inconclusive);
        assert_eq!(
            combine([("m", Verdict::Mixed, "", false), s("a")]).0,
            Verdict::Mixed
        );
        assert_eq!(combine(std::iter::empty()).0, Verdict::Inconclusive);
    }

    #[test]
    fn difference_interval_brackets_the_point() {
        let (d, lo, hi) = difference(&[10.0, 11.0, 12.0], &[1.0, 2.0, 3.0], 0.95).unwrap();
        assert_eq!(d, 9.0);
        assert!(
            lo <= 9.0 && hi >= 9.0 && lo >= 7.0 && hi <= 11.0,
            "{lo} {hi}"
        );
        assert!(difference(&[], &[1.0], 0.95).is_none());
    }

    #[test]
    fn metric_patterns() {
        assert_eq!(
            match_metric(
                "main.classes.*.latency_us.corrected.p99",
                "main.classes.light.latency_us.corrected.p99"
            ),
            Some(vec!["light".to_string()])
        );
        assert_eq!(
            match_metric("server.*.cpu_us_per_request", "server.cpu_us_per_request"),
            None
        );
        assert_eq!(
            fill_metric("main.classes.*.spec.io_arg", &["s1".into()]),
            "main.classes.s1.spec.io_arg"
        );
    }

    #[test]
    fn bad_rules_are_refused_with_the_place() {
        let bad = |from: &str, to: &str| {
            parse(Path::new("claims.toml"), &RATIO_CLAIM.replace(from, to))
                .unwrap_err()
                .to_string()
        };
        let e = bad("kind = \"ratio\"", "kind = \"vibes\"");
        assert!(
            e.contains("claim 'C1', check 'cpu'") && e.contains("unknown rule kind"),
            "{e}"
        );
        let e = bad(
            "refuted = [{ above = 1.1 }, { within = [0.9, 1.1] }]",
            "refuted = { above = 0.5 }",
        );
        assert!(e.contains("overlap"), "{e}");
        let e = bad("numerator = [\"rust\"]", "numerator = []");
        assert!(e.contains("needs 'numerator'"), "{e}");
        let e = bad(
            "supported = { below = 0.9 }",
            "supported = { below = 0.9, above = 2.0 }",
        );
        assert!(e.contains("exactly one of"), "{e}");
        let e = bad("metric = \"server", "colour = 1\nmetric = \"server");
        assert!(e.contains("colour"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn rule_text_says_the_rule() {
        let c = claims(RATIO_CLAIM);
        let t = rule_text(&c.claims[0].checks[0], 0.95);
        assert!(
            t.contains("rust / go")
                && t.contains("below 0.9×")
                && t.contains("within [0.9×, 1.1×]")
                && t.contains("percentile-bootstrap interval (nominal 95 %"),
            "{t}"
        );
    }

    fn shipped_profiles() -> Vec<crate::config::profile::Profile> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        ["quick", "full"]
            .iter()
            .map(|name| {
                crate::config::profile::load(root, name)
                    .unwrap_or_else(|e| panic!("profile {name}: {e}"))
                    .0
            })
            .collect()
    }

    fn shipped_claims() -> Claims {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        load(root).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The shipped claims.toml: parses, covers every claim of claims.md, and
    /// names only scenarios and microbenchmarks a shipped profile has — a
    /// misspelled id (micro or not) fails here.
    #[test]
    fn shipped_claims_file_is_valid_and_complete() {
        let c = shipped_claims();
        for id in crate::config::profile::KNOWN_CLAIMS {
            assert!(
                c.claims.iter().any(|x| &x.id == id),
                "claims.toml has no entry for {id}"
            );
        }
        let mut scenario_ids = Vec::new();
        for p in shipped_profiles() {
            scenario_ids.extend(p.scenarios.iter().map(|s| s.id.clone()));
            scenario_ids.extend(p.micro.iter().map(|m| m.id.clone()));
        }
        for claim in &c.claims {
            for k in &claim.checks {
                for s in k.scenarios.iter().chain(match &k.rule {
                    Rule::Baseline {
                        baseline_scenario: Some(b),
                        ..
                    } => Some(b),
                    _ => None,
                }) {
                    assert!(
                        scenario_ids.contains(s),
                        "claim {} check {}: scenario {s} is in neither shipped profile",
                        claim.id,
                        k.name
                    );
                }
            }
        }
    }

    /// Every plot a claim names is one the plot module can draw for a run
    /// of some shipped profile.
    #[test]
    fn shipped_claims_name_only_plots_that_can_be_drawn() {
        let mut possible: Vec<String> = Vec::new();
        for p in shipped_profiles() {
            possible.extend(crate::present::plots::possible_names(&p));
        }
        for claim in &shipped_claims().claims {
            for plot in &claim.plots {
                assert!(
                    possible.contains(plot),
                    "claim {}: plot {plot:?} is not one the plot module draws for the shipped profiles",
                    claim.id
                );
            }
        }
        // A misspelling is caught.
        assert!(!possible.contains(&"bars-micro-spawm".to_string()));
        assert!(possible.contains(&"spectrum-hol-cpu-10ms-light".to_string()));
    }

    // ------------------------------------------------ synthetic statistics
    //
    // A generator of synthetic statistics that puts each condition of a
    // claim's checks where a test wants it: inside the supported region,
    // inside the refuted region, or straddling the supported region's edge
    // (a wide interval). It mirrors the engine's conditions (scenarios ×
    // variant pairs or variants × metrics), so the shipped claims.toml can
    // be fed through the real rules without a run.

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Want {
        Supported,
        Refuted,
        Straddle,
    }

    type Key = (String, String, String);

    #[derive(Default)]
    struct Synth {
        values: BTreeMap<Key, Vec<f64>>,
        variants: BTreeMap<String, Vec<String>>,
        facts: Vec<TrialFacts>,
        /// Conditions placed, in order: (check name, want).
        placed: Vec<(String, Want)>,
    }

    const B: f64 = 100.0;

    fn concrete(pattern: &str) -> String {
        fill_metric(
            pattern,
            &vec!["synthetic".to_string(); pattern.matches('*').count()],
        )
    }

    fn margin(x: f64) -> f64 {
        if x == 0.0 { 1.0 } else { x.abs() * 0.5 }
    }

    fn width(x: f64) -> f64 {
        if x == 0.0 { 1.0 } else { x.abs() * 0.3 }
    }

    fn inside(r: &Region) -> f64 {
        match *r {
            Region::Below(x) => x - margin(x),
            Region::Above(x) => x + margin(x),
            Region::Within(a, b) => (a + b) / 2.0,
        }
    }

    /// The target value of a condition and whether its interval is wide.
    fn target(d: &Decide, want: Want) -> (f64, bool) {
        match want {
            Want::Supported => (inside(&d.supported[0]), false),
            Want::Refuted => (inside(&d.refuted[0]), false),
            Want::Straddle => (
                match d.supported[0] {
                    Region::Below(x) | Region::Above(x) => x,
                    Region::Within(a, _) => a,
                },
                true,
            ),
        }
    }

    fn around(c: f64, w: Option<f64>) -> Vec<f64> {
        match w {
            None => vec![c, c, c],
            Some(w) => vec![c - w, c, c + w],
        }
    }

    impl Synth {
        fn add_variant(&mut self, scenario: &str, v: &str) {
            let vs = self.variants.entry(scenario.to_string()).or_default();
            if !vs.iter().any(|x| x == v) {
                vs.push(v.to_string());
            }
        }

        fn variants_of(&self, scenario: &str, list: &[String]) -> Vec<String> {
            let all = self.variants.get(scenario).cloned().unwrap_or_default();
            if list.is_empty() {
                all
            } else {
                list.iter().filter(|v| all.contains(v)).cloned().collect()
            }
        }

        fn key(s: &str, v: &str, m: &str) -> Key {
            (s.to_string(), v.to_string(), m.to_string())
        }

        /// Sets values, unless a check before already did (shared keys).
        fn set(&mut self, k: Key, vals: Vec<f64>) {
            self.values.entry(k).or_insert(vals);
        }

        /// num = den × t (ratio) or den + t (difference).
        fn relate(&mut self, n: Key, d: Key, mode: Mode, t: f64, wide: bool) {
            let med = |v: &Vec<f64>| stats::median(v);
            let (has_n, has_d) = (self.values.contains_key(&n), self.values.contains_key(&d));
            let spread = |c: f64| match mode {
                Mode::Ratio => wide.then(|| c.abs() * 0.3),
                Mode::Difference => wide.then(|| width(t)),
            };
            match (has_n, has_d) {
                (false, _) => {
                    if !has_d {
                        self.set(d.clone(), around(B, None));
                    }
                    let base = med(&self.values[&d]);
                    let c = match mode {
                        Mode::Ratio => base * t,
                        Mode::Difference => base + t,
                    };
                    self.set(n, around(c, spread(c)));
                }
                (true, false) => {
                    let top = med(&self.values[&n]);
                    let c = match mode {
                        Mode::Ratio => top / t,
                        Mode::Difference => top - t,
                    };
                    self.set(d, around(c, spread(c)));
                }
                (true, true) => {}
            }
        }

        /// Registers the variants every check of `claim` needs.
        fn variants_for(&mut self, claim: &Claim) {
            let default = ["go".to_string(), "rust".to_string()];
            for k in &claim.checks {
                for sid in &k.scenarios {
                    match &k.rule {
                        Rule::Ratio {
                            numerator,
                            denominator,
                            ..
                        } => {
                            for v in numerator.iter().chain(denominator) {
                                self.add_variant(sid, v);
                            }
                        }
                        Rule::Baseline {
                            variants,
                            baseline_scenario,
                            baseline_variant,
                            ..
                        } => {
                            let vs = if variants.is_empty() {
                                &default[..]
                            } else {
                                variants
                            };
                            for v in vs {
                                self.add_variant(sid, v);
                                let bv = baseline_variant.get(v).unwrap_or(v);
                                self.add_variant(baseline_scenario.as_deref().unwrap_or(sid), bv);
                            }
                        }
                        Rule::Threshold { variants, .. } | Rule::AllAlive { variants, .. } => {
                            let vs = if variants.is_empty() {
                                &default[..]
                            } else {
                                variants
                            };
                            for v in vs {
                                self.add_variant(sid, v);
                            }
                        }
                    }
                }
            }
        }

        fn alive_facts(&mut self, sid: &str, v: &str, crashed: bool, invalid: bool) {
            for r in 1..=3 {
                let died = crashed && r == 2;
                let bad = invalid && r == 3;
                self.facts.push(TrialFacts {
                    trial_id: format!("{sid}--{v}--r{r}"),
                    scenario: sid.into(),
                    variant: v.into(),
                    status: if died {
                        Status::Failed
                    } else if bad {
                        Status::Invalid
                    } else {
                        Status::Ok
                    },
                    server_alive: Some(!died),
                    exit_signal: died.then_some(9),
                    errors_total: 0.0,
                    client_bound: false,
                    problems: if died {
                        vec!["r2: server exited during the trial (signal 9)".into()]
                    } else if bad {
                        vec!["r3: load generator main marked its run invalid: send lag p99 4190 µs exceeds 1000 µs".into()]
                    } else {
                        vec![]
                    },
                });
            }
        }

        /// Places every condition of `check` (scenarios in `only`, or all).
        fn place(&mut self, check: &Check, want: &mut dyn FnMut() -> Want) {
            for sid in &check.scenarios {
                match &check.rule {
                    Rule::Ratio {
                        metric,
                        numerator,
                        denominator,
                        mode,
                        decide,
                    } => {
                        let m = concrete(metric);
                        for a in numerator {
                            for b in denominator {
                                if a == b {
                                    continue;
                                }
                                let w = want();
                                self.placed.push((check.name.clone(), w));
                                let (t, wide) = target(decide, w);
                                self.relate(
                                    Self::key(sid, a, &m),
                                    Self::key(sid, b, &m),
                                    *mode,
                                    t,
                                    wide,
                                );
                            }
                        }
                    }
                    Rule::Baseline {
                        metric,
                        variants,
                        baseline_scenario,
                        baseline_metric,
                        baseline_variant,
                        mode,
                        decide,
                    } => {
                        let m = concrete(metric);
                        let bm = baseline_metric
                            .as_deref()
                            .map(concrete)
                            .unwrap_or(m.clone());
                        let bs = baseline_scenario.as_deref().unwrap_or(sid);
                        for v in self.variants_of(sid, variants) {
                            let bv = baseline_variant.get(&v).cloned().unwrap_or(v.clone());
                            let w = want();
                            self.placed.push((check.name.clone(), w));
                            let (t, wide) = target(decide, w);
                            self.relate(
                                Self::key(sid, &v, &m),
                                Self::key(bs, &bv, &bm),
                                *mode,
                                t,
                                wide,
                            );
                        }
                    }
                    Rule::Threshold {
                        metric,
                        variants,
                        decide,
                    } => {
                        let m = concrete(metric);
                        for v in self.variants_of(sid, variants) {
                            let w = want();
                            self.placed.push((check.name.clone(), w));
                            let (t, wide) = target(decide, w);
                            self.set(Self::key(sid, &v, &m), around(t, wide.then(|| width(t))));
                        }
                    }
                    Rule::AllAlive {
                        variants,
                        if_crashed,
                        ..
                    } => {
                        for v in self.variants_of(sid, variants) {
                            let w = want();
                            self.placed.push((check.name.clone(), w));
                            match w {
                                Want::Straddle => self.alive_facts(sid, &v, false, true),
                                w => {
                                    let crash_word = *if_crashed;
                                    let want_word = if w == Want::Supported {
                                        Verdict::Supported
                                    } else {
                                        Verdict::Refuted
                                    };
                                    self.alive_facts(sid, &v, crash_word == want_word, false)
                                }
                            }
                        }
                    }
                }
            }
        }

        /// Every variant of every scenario gets a value for every metric
        /// the scenario has (a '*' pattern must not find holes), then the
        /// summary.
        fn summary(&self) -> Summary {
            let mut scenarios = Vec::new();
            for (sid, vs) in &self.variants {
                let mut sc = scenario(sid, &[]);
                sc.variants = vs.clone();
                sc.counts = vs
                    .iter()
                    .map(|v| {
                        (
                            v.clone(),
                            Counts {
                                ok: 3,
                                invalid: 0,
                                failed: 0,
                            },
                        )
                    })
                    .collect();
                for ((s, v, m), xs) in &self.values {
                    if s == sid {
                        sc.metrics
                            .entry(m.clone())
                            .or_default()
                            .insert(v.clone(), est(xs));
                    }
                }
                scenarios.push(sc);
            }
            summary(scenarios)
        }
    }

    /// Synthetic statistics for `claim`, every condition of its checks
    /// placed by `want` (called once per condition, in order).
    fn synth(claim: &Claim, want: &mut dyn FnMut(&Check) -> Want) -> Synth {
        let mut s = Synth::default();
        s.variants_for(claim);
        for k in &claim.checks {
            let mut w = || want(k);
            s.place(k, &mut w);
        }
        s
    }

    fn eval_synth(claims: &Claims, claim: &Claim, s: &Synth) -> ClaimResult {
        let sum = s.summary();
        let mut all = evaluate(
            &Claims {
                min_repeats: claims.min_repeats,
                claims: vec![claim.clone()],
            },
            &Evidence {
                summary: &sum,
                trials: &s.facts,
            },
        );
        all.remove(0)
    }

    fn counted(k: &Check) -> bool {
        !k.informational
    }

    /// The verdict words each mode gives `claim`, checking along the way
    /// that every counted condition came out as placed (shared keys aside).
    fn words_of(claims: &Claims, claim: &Claim) -> BTreeMap<&'static str, ClaimResult> {
        let mut out = BTreeMap::new();
        for (name, w) in [
            ("supported", Want::Supported),
            ("refuted", Want::Refuted),
            ("straddle", Want::Straddle),
        ] {
            let s = synth(claim, &mut |_| w);
            out.insert(name, eval_synth(claims, claim, &s));
        }
        // Mixed: the first counted condition supported, the rest refuted.
        let mut first = true;
        let s = synth(claim, &mut |k| {
            if counted(k) && first {
                first = false;
                Want::Supported
            } else {
                Want::Refuted
            }
        });
        let n_counted = s
            .placed
            .iter()
            .filter(|(name, _)| claim.checks.iter().any(|k| &k.name == name && counted(k)))
            .count();
        let mut mixed = eval_synth(claims, claim, &s);
        // Record how many counted conditions there were in the reason's
        // place for the caller (mixed needs at least two).
        mixed.not_measured = n_counted < 2;
        out.insert("mixed", mixed);
        // Invalid: one variant of the first scenario with an invalid trial
        // (all_alive placed on its "alive" side: a crash would be a
        // measurement that outranks an invalid trial).
        let s = synth(claim, &mut |k| match k.rule {
            Rule::AllAlive {
                if_alive: Verdict::Refuted,
                ..
            } => Want::Refuted,
            _ => Want::Supported,
        });
        let mut sum = s.summary();
        let first_check = claim.checks.iter().find(|k| counted(k)).unwrap();
        let sc = sum
            .scenarios
            .iter_mut()
            .find(|x| x.id == first_check.scenarios[0])
            .unwrap();
        let v = sc.variants[0].clone();
        sc.counts.get_mut(&v).unwrap().invalid = 1;
        sc.problems.push(format!(
            "{}--{v}--r4: load generator main marked its run invalid: send lag p99 4190 µs exceeds 1000 µs",
            sc.id
        ));
        let mut facts = s.facts.clone();
        for f in facts
            .iter_mut()
            .filter(|f| f.scenario == sc.id && f.variant == v)
            .take(1)
        {
            f.status = Status::Invalid;
            f.problems = vec!["r1: load generator main marked its run invalid: send lag p99 4190 µs exceeds 1000 µs".into()];
        }
        let one = Claims {
            min_repeats: claims.min_repeats,
            claims: vec![claim.clone()],
        };
        out.insert(
            "invalid",
            evaluate(
                &one,
                &Evidence {
                    summary: &sum,
                    trials: &facts,
                },
            )
            .remove(0),
        );
        out
    }

    /// For every claim of the shipped claims.toml: synthetic statistics for
    /// its own scenarios and metrics, fed through its own rules, give
    /// supported, refuted, inconclusive (wide intervals, and invalid
    /// trials), and mixed wherever it has two or more counted conditions.
    #[test]
    fn every_shipped_claim_reaches_its_verdict_words() {
        let claims = shipped_claims();
        let mut no_mixed = Vec::new();
        for claim in &claims.claims {
            let w = words_of(&claims, claim);
            let id = &claim.id;
            let r = &w["supported"];
            assert_eq!(r.verdict, Verdict::Supported, "{id}: {}", r.reason);
            assert!(!r.not_measured, "{id}");
            let r = &w["refuted"];
            assert_eq!(r.verdict, Verdict::Refuted, "{id}: {}", r.reason);
            let r = &w["straddle"];
            assert_eq!(r.verdict, Verdict::Inconclusive, "{id}: {}", r.reason);
            // Wide intervals, not missing data (all_alive has no interval:
            // its straddle is an invalid trial).
            let only_alive = claim
                .checks
                .iter()
                .filter(|k| counted(k))
                .all(|k| matches!(k.rule, Rule::AllAlive { .. }));
            if !only_alive {
                assert!(
                    r.checks
                        .iter()
                        .filter(|k| counted_result(k))
                        .any(|k| k.reason.contains("too wide")),
                    "{id}: {}",
                    r.reason
                );
            }
            let r = &w["invalid"];
            assert_eq!(r.verdict, Verdict::Inconclusive, "{id}: {}", r.reason);
            assert!(r.reason.contains("invalid"), "{id}: {}", r.reason);
            let m = &w["mixed"];
            if m.not_measured {
                // One counted condition: nothing to mix.
                assert_ne!(m.verdict, Verdict::Mixed, "{id}");
                no_mixed.push(id.clone());
            } else {
                assert_eq!(m.verdict, Verdict::Mixed, "{id}: {}", m.reason);
                assert!(
                    m.reason.contains("supported") && m.reason.contains("refuted"),
                    "{id}: {}",
                    m.reason
                );
            }
            // Every check, informational ones too, was evaluated on data.
            for k in &w["supported"].checks {
                assert!(
                    !k.not_measured && !k.conditions.is_empty(),
                    "{id} {}",
                    k.name
                );
            }
        }
        // The claims decided by one condition: C12 (one compilation) and F1
        // (one ratio); every other claim can come out mixed.
        assert_eq!(no_mixed, ["C12", "F1"]);
    }

    fn counted_result(k: &CheckResult) -> bool {
        !k.informational && !k.skipped
    }

    /// C7's "tokio pool limit" checks read the metric each scenario really
    /// has: the network one server.threads_peak, the microbenchmark's
    /// blocking_burst.default.peak_os_threads; both decide.
    #[test]
    fn tokio_pool_limit_checks_can_be_decided() {
        let claims = shipped_claims();
        let c7 = claims.claims.iter().find(|c| c.id == "C7").unwrap();
        for (name, scenario, variant, metric) in [
            (
                "tokio pool limit",
                "burst-block-50ms",
                "rust-spawn-blocking",
                "server.threads_peak",
            ),
            (
                "tokio pool limit (microbenchmark)",
                "micro-blocking-burst",
                "rust",
                "blocking_burst.default.peak_os_threads",
            ),
        ] {
            let k = c7.checks.iter().find(|k| k.name == name).unwrap();
            for (peak, want) in [(515.0, Verdict::Supported), (1003.0, Verdict::Refuted)] {
                let sum = summary(vec![scenario_of(
                    scenario,
                    &[(metric, variant, &[peak - 1.0, peak, peak + 1.0][..])],
                )]);
                let r = evaluate_check(
                    &claims,
                    &Evidence {
                        summary: &sum,
                        trials: &[],
                    },
                    k,
                );
                assert_eq!(r.verdict, want, "{name}: {}", r.reason);
            }
        }
    }

    fn scenario_of(id: &str, data: &[(&str, &str, &[f64])]) -> ScenarioSummary {
        scenario(id, data)
    }

    // ----------------------------------------------- each rule kind's words

    fn one_check_claim(check: &str) -> Claims {
        claims(&format!(
            r#"
            schema_version = 1
            [[claim]]
            id = "X"
            title = "t"
            statement = "s"
            prediction = "p"
            experiment = "e"
            [[claim.check]]
            name = "k"
            statement = "s"
            {check}
        "#
        ))
    }

    /// The check's verdict for each placement mode, and the reasons.
    fn check_words(c: &Claims) -> Vec<(Want, Verdict, String)> {
        let claim = &c.claims[0];
        let mut out = Vec::new();
        for w in [Want::Supported, Want::Refuted, Want::Straddle] {
            let s = synth(claim, &mut |_| w);
            let r = eval_synth(c, claim, &s);
            out.push((w, r.checks[0].verdict, r.checks[0].reason.clone()));
        }
        out
    }

    fn mixed_word(c: &Claims) -> (Verdict, String) {
        let claim = &c.claims[0];
        let mut first = true;
        let s = synth(claim, &mut |_| {
            if std::mem::take(&mut first) {
                Want::Supported
            } else {
                Want::Refuted
            }
        });
        let r = eval_synth(c, claim, &s);
        (r.checks[0].verdict, r.checks[0].reason.clone())
    }

    fn assert_all_words(c: &Claims, what: &str) {
        let words = check_words(c);
        assert_eq!(words[0].1, Verdict::Supported, "{what}: {}", words[0].2);
        assert!(
            words[0].2.contains("supported in every condition"),
            "{what}: {}",
            words[0].2
        );
        assert_eq!(words[1].1, Verdict::Refuted, "{what}: {}", words[1].2);
        assert!(
            words[1].2.contains("refuted in every condition"),
            "{what}: {}",
            words[1].2
        );
        assert_eq!(words[2].1, Verdict::Inconclusive, "{what}: {}", words[2].2);
        assert!(words[2].2.contains("too wide"), "{what}: {}", words[2].2);
        let (v, reason) = mixed_word(c);
        assert_eq!(v, Verdict::Mixed, "{what}: {reason}");
        assert!(
            reason.contains("supported in") && reason.contains("refuted in"),
            "{what}: {reason}"
        );
    }

    #[test]
    fn ratio_rule_words_in_both_modes() {
        let ratio = one_check_claim(
            r#"kind = "ratio"
            scenarios = ["a", "b"]
            metric = "server.cpu_us_per_request"
            numerator = ["rust"]
            denominator = ["go"]
            supported = { below = 0.9 }
            refuted = { above = 1.1 }"#,
        );
        assert_all_words(&ratio, "ratio");
        let diff = one_check_claim(
            r#"kind = "ratio"
            mode = "difference"
            scenarios = ["a", "b"]
            metric = "server.threads_in_window_max"
            numerator = ["rust"]
            denominator = ["go"]
            supported = { within = [-0.5, 0.5] }
            refuted = { above = 0.5 }"#,
        );
        assert_all_words(&diff, "ratio, difference mode");
        // One scenario but two pairs: mixed across pairs.
        let pairs = one_check_claim(
            r#"kind = "ratio"
            scenarios = ["a"]
            metric = "*.default.ns_per_msg"
            numerator = ["rust", "rust-b"]
            denominator = ["go"]
            supported = { within = [0.5, 2.0] }
            refuted = [{ below = 0.5 }, { above = 2.0 }]"#,
        );
        assert_all_words(&pairs, "ratio over pairs");
    }

    #[test]
    fn baseline_rule_words() {
        let other_scenario = one_check_claim(
            r#"kind = "baseline"
            scenarios = ["hol-1", "hol-2"]
            variants = ["rust"]
            metric = "main.classes.light.latency_us.corrected.p99"
            baseline_scenario = "base"
            supported = { above = 3.0 }
            refuted = { below = 1.5 }"#,
        );
        assert_all_words(&other_scenario, "baseline scenario");
        let other_metric = one_check_claim(
            r#"kind = "baseline"
            scenarios = ["burst"]
            variants = ["go", "rust"]
            mode = "difference"
            metric = "server.threads_peak"
            baseline_metric = "server.threads_baseline"
            supported = { above = 10.0 }
            refuted = { below = 3.0 }"#,
        );
        assert_all_words(&other_metric, "baseline metric, difference");
        let mapped = one_check_claim(
            r#"kind = "baseline"
            scenarios = ["hol"]
            variants = ["rust-sb", "rust-rayon"]
            metric = "main.classes.light.latency_us.corrected.p99"
            baseline_scenario = "base"
            baseline_variant = { rust-sb = "rust", rust-rayon = "rust" }
            supported = { below = 3.0 }
            refuted = { above = 10.0 }"#,
        );
        assert_all_words(&mapped, "baseline variant mapped");
        // A missing baseline scenario: inconclusive, named.
        let claim = &other_scenario.claims[0];
        let s = synth(claim, &mut |_| Want::Supported);
        let mut sum = s.summary();
        sum.scenarios.retain(|x| x.id != "base");
        let r = evaluate(
            &other_scenario,
            &Evidence {
                summary: &sum,
                trials: &[],
            },
        );
        assert_eq!(r[0].verdict, Verdict::Inconclusive);
        assert!(
            r[0].reason
                .contains("baseline scenario base is not in this run"),
            "{}",
            r[0].reason
        );
    }

    #[test]
    fn threshold_rule_words() {
        let t = one_check_claim(
            r#"kind = "threshold"
            scenarios = ["micro-pingpong"]
            metric = "pingpong_1_worker.*.os_ctx_switches_per_round_trip"
            supported = { below = 0.1 }
            refuted = { above = 0.5 }"#,
        );
        // No variants listed: every variant of the scenario (go and rust) is a condition.
        assert_all_words(&t, "threshold");
        let fact = one_check_claim(
            r#"kind = "threshold"
            min_repeats = 1
            scenarios = ["micro-c12", "micro-c12-again"]
            variants = ["rust"]
            metric = "c12.*.spawn_non_send_compiles"
            supported = { above = 0.5 }
            refuted = { below = 0.5 }"#,
        );
        assert_all_words(&fact, "threshold on a fact");
        // The threshold's interval is the median's own, with its real coverage.
        let s = synth(&t.claims[0], &mut |_| Want::Straddle);
        let r = eval_synth(&t, &t.claims[0], &s);
        let v = r.checks[0].conditions[0].value.as_ref().unwrap();
        assert_eq!(v.kind, "median");
        assert!((v.confidence - 0.75).abs() < 1e-9);
    }

    #[test]
    fn all_alive_rule_words() {
        let c = one_check_claim(
            r#"kind = "all_alive"
            scenarios = ["hol-1", "hol-2"]
            variants = ["rust"]
            if_alive = "refuted"
            if_crashed = "supported""#,
        );
        let words = check_words(&c);
        assert_eq!(words[0].1, Verdict::Supported, "{}", words[0].2);
        assert!(
            words[0]
                .2
                .contains("the server died during the load (signal 9)"),
            "{}",
            words[0].2
        );
        assert_eq!(words[1].1, Verdict::Refuted, "{}", words[1].2);
        assert!(
            words[1].2.contains("answered every request"),
            "{}",
            words[1].2
        );
        // Straddle for all_alive: an invalid trial with a live server.
        assert_eq!(words[2].1, Verdict::Inconclusive, "{}", words[2].2);
        assert!(
            words[2].2.contains("1 of 3 trials invalid") && words[2].2.contains("send lag"),
            "{}",
            words[2].2
        );
        let (v, reason) = mixed_word(&c);
        assert_eq!(v, Verdict::Mixed, "{reason}");
        // The other way round (if_alive = supported) maps the same facts.
        let flipped = one_check_claim(
            r#"kind = "all_alive"
            scenarios = ["hol-1"]
            variants = ["rust"]
            if_alive = "supported"
            if_crashed = "refuted""#,
        );
        let words = check_words(&flipped);
        assert_eq!(words[0].1, Verdict::Supported, "{}", words[0].2);
        assert!(words[0].2.contains("stayed alive"), "{}", words[0].2);
        assert_eq!(words[1].1, Verdict::Refuted, "{}", words[1].2);
    }

    /// Issue 5: invalid or failed trials make every rule inconclusive with
    /// the reason — all_alive too, even when the server stayed alive.
    #[test]
    fn all_alive_with_invalid_or_failed_trials_is_inconclusive() {
        let c = one_check_claim(
            r#"kind = "all_alive"
            scenarios = ["hol"]
            variants = ["rust"]
            if_alive = "refuted"
            if_crashed = "supported""#,
        );
        let sum = summary(vec![scenario(
            "hol",
            &[(CPU, "rust", &[1.0, 1.0, 1.0][..])],
        )]);
        let fact = |r: usize, status: Status, problem: &str| TrialFacts {
            trial_id: format!("hol--rust--r{r}"),
            scenario: "hol".into(),
            variant: "rust".into(),
            status,
            server_alive: Some(true),
            exit_signal: None,
            errors_total: 0.0,
            client_bound: false,
            problems: if problem.is_empty() {
                vec![]
            } else {
                vec![problem.into()]
            },
        };
        let eval = |facts: &[TrialFacts]| {
            evaluate(
                &c,
                &Evidence {
                    summary: &sum,
                    trials: facts,
                },
            )
            .remove(0)
        };
        let invalid = eval(&[
            fact(1, Status::Ok, ""),
            fact(
                2,
                Status::Invalid,
                "r2: load generator main marked its run invalid: send lag p99 4190 µs exceeds 1000 µs: the generator fell behind",
            ),
            fact(3, Status::Ok, ""),
        ]);
        assert_eq!(invalid.verdict, Verdict::Inconclusive, "{}", invalid.reason);
        assert!(
            invalid.reason.contains("hol/rust: 1 of 3 trials invalid, e.g. hol--rust--r2 (invalid: r2: send lag p99 4190 µs exceeds 1000 µs)"),
            "{}",
            invalid.reason
        );
        assert!(invalid.checks[0].conditions[0].data_problem);
        let failed = eval(&[
            fact(1, Status::Failed, "r1: probe failed: mismatch"),
            fact(2, Status::Invalid, "x"),
        ]);
        assert_eq!(failed.verdict, Verdict::Inconclusive);
        assert!(
            failed.reason.contains("2 of 2 trials invalid or failed"),
            "{}",
            failed.reason
        );
        // All valid and alive: the if_alive word.
        let ok = eval(&[fact(1, Status::Ok, ""), fact(2, Status::Ok, "")]);
        assert_eq!(ok.verdict, Verdict::Refuted, "{}", ok.reason);
    }

    /// A check's scenarios the run did not include are named in its verdict.
    #[test]
    fn scenarios_not_run_are_named() {
        let c = claims(RATIO_CLAIM);
        let low = [
            (CPU, "go", &[10.0, 10.2, 9.9][..]),
            (CPU, "rust", &[7.0, 7.1, 6.9][..]),
        ];
        let r = run(&c, &summary(vec![scenario("a", &low)]));
        assert_eq!(r[0].verdict, Verdict::Supported, "{}", r[0].reason);
        let k = &r[0].checks[0];
        assert_eq!(k.not_run, vec!["b".to_string()]);
        assert!(
            k.reason
                .contains("supported in the 1 of 2 scenarios measured; not run in this profile: b"),
            "{}",
            k.reason
        );
        assert!(
            r[0].reason.contains("not run in this profile: b"),
            "{}",
            r[0].reason
        );
        // Nothing not run: nothing said.
        let r = run(&c, &summary(vec![scenario("a", &low), scenario("b", &low)]));
        assert!(r[0].checks[0].not_run.is_empty());
        assert!(!r[0].reason.contains("not run"), "{}", r[0].reason);
    }

    /// Claim level: counted checks combine; informational ones never count;
    /// an optional check without data is skipped; a required one makes the
    /// claim inconclusive.
    #[test]
    fn claim_level_words() {
        let text = r#"
            schema_version = 1
            [[claim]]
            id = "X"
            title = "t"
            statement = "s"
            prediction = "p"
            experiment = "e"
            [[claim.check]]
            name = "one"
            statement = "s"
            kind = "threshold"
            scenarios = ["a"]
            metric = "m.x"
            supported = { above = 1.0 }
            refuted = { below = 1.0 }
            [[claim.check]]
            name = "two"
            statement = "s"
            kind = "threshold"
            scenarios = ["b"]
            metric = "m.y"
            supported = { above = 1.0 }
            refuted = { below = 1.0 }
            [[claim.check]]
            name = "info"
            statement = "s"
            informational = true
            kind = "threshold"
            scenarios = ["a"]
            metric = "m.z"
            supported = { above = 1.0 }
            refuted = { below = 1.0 }
            [[claim.check]]
            name = "optional"
            statement = "s"
            required = false
            kind = "threshold"
            scenarios = ["c"]
            metric = "m.w"
            supported = { above = 1.0 }
            refuted = { below = 1.0 }
        "#;
        let c = claims(text);
        let sc = |id: &str, m: &str, x: f64| scenario(id, &[(m, "go", &[x, x, x][..])]);
        // Scenario a has m.x only: the informational check (m.z) has no
        // data, which must not make the claim inconclusive.
        let v = |a: f64, b: f64| {
            run(&c, &summary(vec![sc("a", "m.x", a), sc("b", "m.y", b)])).remove(0)
        };
        assert_eq!(
            v(2.0, 2.0).verdict,
            Verdict::Supported,
            "{}",
            v(2.0, 2.0).reason
        );
        assert_eq!(v(0.5, 0.5).verdict, Verdict::Refuted);
        let m = v(2.0, 0.5);
        assert_eq!(m.verdict, Verdict::Mixed);
        assert!(
            m.reason.contains("one — supported") && m.reason.contains("two — refuted"),
            "{}",
            m.reason
        );
        assert_eq!(
            v(1.0, 2.0).verdict,
            Verdict::Inconclusive,
            "a point on the edge"
        );
        let r = v(2.0, 2.0);
        assert!(r.checks[3].skipped, "optional check skipped");
        assert_eq!(r.checks[2].verdict, Verdict::Inconclusive);
        assert!(r.checks[2].informational);
        // A required check without its scenario: inconclusive.
        let r = run(&c, &summary(vec![sc("a", "m.x", 2.0)]));
        assert_eq!(r[0].verdict, Verdict::Inconclusive, "{}", r[0].reason);
        assert!(r[0].reason.contains("not measured"), "{}", r[0].reason);
    }

    #[test]
    fn unknown_facts_are_refused() {
        let e = parse(
            Path::new("claims.toml"),
            &RATIO_CLAIM.replace(
                "experiment = \"e\"",
                "experiment = \"e\"\n        facts = [\"vibes\"]",
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown fact \"vibes\""), "{e}");
        let ok = parse(
            Path::new("claims.toml"),
            &RATIO_CLAIM.replace(
                "experiment = \"e\"",
                "experiment = \"e\"\n        facts = [\"thread-limits\"]",
            ),
        )
        .unwrap();
        assert_eq!(ok.claims[0].facts, ["thread-limits"]);
    }
}
