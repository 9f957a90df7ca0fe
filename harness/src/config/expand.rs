//! Claims × profile, expanded at load into a flat list of comparisons:
//! which two sides (or one), how they combine, and the regions that decide.
//! Every metric name is checked here against what the profile's scenarios
//! emit (`catalogue`), so a misspelt metric stops `harness check` and
//! `harness run` with the claim, the check and the closest real name.
//! The A/A control's comparisons are derived here too.

use crate::config::catalogue;
use crate::config::claims::{Check, Claims, Decide, Failure, Mode, Rule};
use crate::config::profile::Profile;
use std::collections::BTreeSet;

/// One side of a comparison: a metric of a variant in a scenario.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct SideRef {
    pub scenario: String,
    pub variant: String,
    pub metric: String,
}

/// What one condition compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Sides {
    /// a / b (or a − b), paired by round: two variants of a scenario, or a
    /// variant against a baseline scenario.
    Paired { a: SideRef, b: SideRef, mode: Mode },
    /// `metric` / `of` (or −) of the same trial, per trial, then the median.
    WithinTrial {
        side: SideRef,
        of: String,
        mode: Mode,
    },
    /// A metric's median.
    Single { side: SideRef },
    /// The server's outcome.
    Outcome {
        scenario: String,
        variant: String,
        fails_on: Vec<Failure>,
    },
}

impl Sides {
    pub fn scenario(&self) -> &str {
        match self {
            Sides::Paired { a, .. } => &a.scenario,
            Sides::WithinTrial { side, .. } | Sides::Single { side } => &side.scenario,
            Sides::Outcome { scenario, .. } => scenario,
        }
    }
    /// Every scenario the condition reads.
    pub fn scenarios(&self) -> Vec<&str> {
        match self {
            Sides::Paired { a, b, .. } if a.scenario != b.scenario => {
                vec![&a.scenario, &b.scenario]
            }
            _ => vec![self.scenario()],
        }
    }
}

/// One condition of a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub claim: usize,
    pub check: usize,
    pub sides: Sides,
}

/// An A/A comparison: a variant against its identical copy, with the
/// margin of the check it stands in for.
#[derive(Debug, Clone, PartialEq)]
pub struct AaComparison {
    pub sides: Sides,
    /// Ratio: the interval must stay within [1/margin, margin];
    /// difference: within [−margin, margin].
    pub margin: f64,
    /// "C1: CPU per request at equal offered rates".
    pub stands_for: String,
}

/// The expansion of one check against the profile.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckPlan {
    pub claim: usize,
    pub check: usize,
    /// The check's scenarios the profile runs.
    pub run: Vec<String>,
    /// The check's scenarios the profile does not run.
    pub not_run: Vec<String>,
    pub comparisons: Vec<Comparison>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expanded {
    pub checks: Vec<CheckPlan>,
    pub aa: Vec<AaComparison>,
}

impl Expanded {
    pub fn check(&self, claim: usize, check: usize) -> &CheckPlan {
        self.checks
            .iter()
            .find(|c| c.claim == claim && c.check == check)
            .expect("every check is expanded")
    }
    /// Pairs of scenarios compared with each other within a round.
    pub fn linked_scenarios(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for c in self.checks.iter().flat_map(|k| &k.comparisons) {
            if let [a, b] = c.sides.scenarios()[..] {
                let pair = (a.to_string(), b.to_string());
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
        out
    }
}

/// The suffix of an A/A copy's variant name.
pub const AA_SUFFIX: &str = "-aa";

/// A/A copy -> the variant it copies.
pub fn aa_original(variant: &str) -> Option<&str> {
    variant.strip_suffix(AA_SUFFIX)
}

#[derive(Debug, thiserror::Error)]
#[error("harness/claims.toml: claim '{claim}', check '{check}': {message}")]
pub struct ExpandError {
    pub claim: String,
    pub check: String,
    pub message: String,
}

/// Metric names matching `pattern` among `names`, with the `*` captures,
/// less those matching an `exclude` pattern.
fn matching(
    pattern: &str,
    names: &BTreeSet<String>,
    exclude: &[String],
) -> Vec<(String, Vec<String>)> {
    names
        .iter()
        .filter(|m| {
            !exclude
                .iter()
                .any(|x| crate::analyse::verdict::match_metric(x, m).is_some())
        })
        .filter_map(|m| crate::analyse::verdict::match_metric(pattern, m).map(|c| (m.clone(), c)))
        .collect()
}

fn unknown(pattern: &str, scenario: &str, names: &BTreeSet<String>) -> String {
    let hint = catalogue::closest(&pattern.replace('*', ""), names)
        .map(|c| format!("; the closest real name is {c:?}"))
        .unwrap_or_default();
    format!("metric {pattern:?} is not emitted by scenario {scenario}{hint}")
}

/// The check's variants that the scenario runs (empty list: all of its
/// variants that are not A/A copies).
fn chosen<'a>(list: &'a [String], scenario_variants: &'a [String]) -> Vec<&'a String> {
    if list.is_empty() {
        scenario_variants
            .iter()
            .filter(|v| aa_original(v).is_none())
            .collect()
    } else {
        list.iter()
            .filter(|v| scenario_variants.contains(v))
            .collect()
    }
}

fn expand_check(p: &Profile, claims: &Claims, ci: usize, ki: usize) -> Result<CheckPlan, String> {
    let check: &Check = &claims.claims[ci].checks[ki];
    let variants_of = |id: &str| -> Option<Vec<String>> {
        if let Some(s) = p.scenarios.iter().find(|s| s.id == id) {
            return Some(s.variants.clone());
        }
        p.micro.iter().find(|m| m.id == id).map(|m| m.languages())
    };
    let mut run = Vec::new();
    let mut not_run = Vec::new();
    let mut comparisons = Vec::new();
    for sid in &check.scenarios {
        let (Some(names), Some(vars)) = (catalogue::metrics_of(p, sid), variants_of(sid)) else {
            not_run.push(sid.clone());
            continue;
        };
        run.push(sid.clone());
        let mut push = |sides: Sides| {
            comparisons.push(Comparison {
                claim: ci,
                check: ki,
                sides,
            })
        };
        let side = |v: &str, m: &str| SideRef {
            scenario: sid.clone(),
            variant: v.to_string(),
            metric: m.to_string(),
        };
        for pattern in check.rule.metrics() {
            if matching(pattern, &names, &[]).is_empty() {
                return Err(unknown(pattern, sid, &names));
            }
        }
        match &check.rule {
            Rule::Ratio {
                metric,
                numerator,
                denominator,
                mode,
                ..
            } => {
                let pairs: Vec<(&String, &String)> = numerator
                    .iter()
                    .flat_map(|a| denominator.iter().map(move |b| (a, b)))
                    .filter(|(a, b)| a != b && vars.contains(a) && vars.contains(b))
                    .collect();
                if pairs.is_empty() {
                    return Err(format!(
                        "scenario {sid} runs none of the compared pairs ({} against {})",
                        numerator.join(", "),
                        denominator.join(", ")
                    ));
                }
                for (m, _) in matching(metric, &names, &check.exclude) {
                    for (a, b) in &pairs {
                        push(Sides::Paired {
                            a: side(a, &m),
                            b: side(b, &m),
                            mode: *mode,
                        });
                    }
                }
            }
            Rule::Baseline {
                metric,
                variants,
                baseline_scenario,
                baseline_variant,
                mode,
                ..
            } => {
                let Some(base_vars) = variants_of(baseline_scenario) else {
                    return Err(format!(
                        "baseline scenario {baseline_scenario} is not in this profile"
                    ));
                };
                let base_names = catalogue::metrics_of(p, baseline_scenario).unwrap_or_default();
                for v in chosen(variants, &vars) {
                    let bv = if base_vars.contains(v) {
                        v.clone()
                    } else if let Some(b) = baseline_variant.get(v) {
                        b.clone()
                    } else {
                        return Err(format!(
                            "baseline scenario {baseline_scenario} does not run variant {v}: name its counterpart in 'baseline_variant'"
                        ));
                    };
                    if !base_vars.contains(&bv) {
                        return Err(format!(
                            "baseline scenario {baseline_scenario} does not run variant {bv}"
                        ));
                    }
                    for (m, _) in matching(metric, &names, &check.exclude) {
                        if !base_names.contains(&m) {
                            return Err(unknown(&m, baseline_scenario, &base_names));
                        }
                        push(Sides::Paired {
                            a: side(v, &m),
                            b: SideRef {
                                scenario: baseline_scenario.clone(),
                                variant: bv.clone(),
                                metric: m.clone(),
                            },
                            mode: *mode,
                        });
                    }
                }
            }
            Rule::WithinTrial {
                metric,
                of,
                variants,
                mode,
                ..
            } => {
                for v in chosen(variants, &vars) {
                    for (m, caps) in matching(metric, &names, &check.exclude) {
                        let o = crate::analyse::verdict::fill_metric(of, &caps);
                        if !names.contains(&o) {
                            return Err(unknown(&o, sid, &names));
                        }
                        push(Sides::WithinTrial {
                            side: side(v, &m),
                            of: o,
                            mode: *mode,
                        });
                    }
                }
            }
            Rule::Threshold {
                metric, variants, ..
            } => {
                for v in chosen(variants, &vars) {
                    for (m, _) in matching(metric, &names, &check.exclude) {
                        push(Sides::Single { side: side(v, &m) });
                    }
                }
            }
            Rule::Outcome {
                variants, fails_on, ..
            } => {
                for v in chosen(variants, &vars) {
                    push(Sides::Outcome {
                        scenario: sid.clone(),
                        variant: v.clone(),
                        fails_on: fails_on.clone(),
                    });
                }
            }
        }
    }
    Ok(CheckPlan {
        claim: ci,
        check: ki,
        run,
        not_run,
        comparisons,
    })
}

/// The margin an A/A comparison inherits from a check's regions: the
/// boundary closest to "no difference" (1 for a ratio, 0 for a difference).
pub fn margin(decide: &Decide, mode: Mode) -> f64 {
    let bounds = decide
        .supported
        .boundaries()
        .into_iter()
        .chain(decide.refuted.boundaries());
    match mode {
        Mode::Ratio => bounds
            .filter(|b| *b > 0.0)
            .map(|b| b.ln().abs())
            .fold(f64::INFINITY, f64::min)
            .exp(),
        Mode::Difference => bounds.map(f64::abs).fold(f64::INFINITY, f64::min),
    }
}

fn aa_for(p: &Profile, claims: &Claims, checks: &[CheckPlan]) -> Vec<AaComparison> {
    let mut out: Vec<AaComparison> = Vec::new();
    for s in &p.scenarios {
        for copy in s.variants.iter().filter(|v| aa_original(v).is_some()) {
            let orig = aa_original(copy).expect("filtered");
            for plan in checks {
                let claim = &claims.claims[plan.claim];
                let check = &claim.checks[plan.check];
                let (Some(decide), Some(mode)) = (check.rule.decide(), check.rule.mode()) else {
                    continue;
                };
                let m = margin(decide, mode);
                if !m.is_finite() {
                    continue;
                }
                for c in &plan.comparisons {
                    let sides = match &c.sides {
                        Sides::Paired { a, b, .. } => [a, b]
                            .into_iter()
                            .find(|x| x.scenario == s.id && x.variant == orig)
                            .map(|x| Sides::Paired {
                                a: SideRef {
                                    variant: copy.clone(),
                                    ..x.clone()
                                },
                                b: x.clone(),
                                mode,
                            }),
                        Sides::WithinTrial { side, of, .. }
                            if side.scenario == s.id && side.variant == orig =>
                        {
                            Some(Sides::WithinTrial {
                                side: SideRef {
                                    variant: copy.clone(),
                                    ..side.clone()
                                },
                                of: of.clone(),
                                mode,
                            })
                        }
                        _ => None,
                    };
                    let Some(sides) = sides else { continue };
                    if out.iter().any(|x| x.sides == sides && x.margin == m) {
                        continue;
                    }
                    out.push(AaComparison {
                        sides,
                        margin: m,
                        stands_for: format!("{}: {}", claim.id, check.name),
                    });
                }
            }
        }
    }
    out
}

/// Expands every check of `claims` against profile `p`.
pub fn expand(p: &Profile, claims: &Claims) -> Result<Expanded, ExpandError> {
    let mut checks = Vec::new();
    for (ci, c) in claims.claims.iter().enumerate() {
        for (ki, k) in c.checks.iter().enumerate() {
            checks.push(
                expand_check(p, claims, ci, ki).map_err(|message| ExpandError {
                    claim: c.id.clone(),
                    check: k.name.clone(),
                    message,
                })?,
            );
        }
    }
    let aa = aa_for(p, claims, &checks);
    Ok(Expanded { checks, aa })
}
