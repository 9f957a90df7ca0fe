//! Verdicts, computed — never written. The claims (config::claims),
//! expanded against the profile into comparisons (config::expand), are
//! evaluated here on the run's per-round values: each comparison becomes a
//! condition with a value, an interval and a decision; a check combines
//! its conditions, a claim its checks (`all` or `any`), and "mixed" needs
//! conditions on both sides that survive Holm's adjustment. Pure and
//! structured: no sentence is made here (the report words the results),
//! so tests feed it synthetic evidence and read the decisions.

use crate::analyse::stats::{
    self, Comparison as Stat, Estimate, Method, Nested, multiple, order, signed_rank,
};
use crate::analyse::summary::Summary;
pub use crate::config::claims::Verdict;
use crate::config::claims::{Check, Claims, Combine, Failure, Mode, Rule};
use crate::config::expand::{AaComparison, Expanded, SideRef, Sides};
use crate::run::trial::{Status, TrialRecord};
use bracket::Round;
use serde::Serialize;

// ------------------------------------------------------------ metric names

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

// ------------------------------------------------------------ the evidence

/// What the rules need of one trial beyond its metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialFacts {
    pub trial_id: String,
    pub scenario: String,
    pub variant: String,
    /// 0-based round.
    pub round: usize,
    pub status: Status,
    /// A load generator said its own CPU, not the server, was the limit.
    pub client_bound: bool,
    pub server_ok: bool,
    pub crashed: bool,
    pub errors: u64,
    pub timeouts: u64,
    pub overloaded: bool,
    /// Metric prefixes left out of this trial (a rate step the generator
    /// could not keep, a percentile its own lag could have made), with why.
    pub dropped: Vec<(String, String)>,
    /// Invalid only because a load generator sent late.
    pub late_only: bool,
    pub problems: Vec<String>,
}

impl TrialFacts {
    pub fn of(t: &TrialRecord) -> TrialFacts {
        TrialFacts {
            trial_id: t.trial_id.clone(),
            scenario: t.scenario.clone(),
            variant: t.variant.clone(),
            round: t.repeat.saturating_sub(1),
            status: t.status,
            client_bound: t.client_bound(),
            server_ok: t.server_outcome.ok,
            crashed: t.server_outcome.crashed,
            errors: t.server_outcome.errors,
            timeouts: t.server_outcome.timeouts,
            overloaded: t.server_outcome.overloaded,
            dropped: t
                .measurement
                .dropped
                .iter()
                .map(|d| (d.prefix.clone(), d.reason.clone()))
                .collect(),
            late_only: t.measurement.late_only,
            problems: t.problems.clone(),
        }
    }

    /// The server's only failure was overload: alive, no errors, nothing
    /// timed out, so every request was answered and its latency recorded.
    fn only_overloaded(&self) -> bool {
        self.overloaded && !self.crashed && self.errors == 0 && self.timeouts == 0
    }

    fn dropped_for(&self, metric: &str) -> Option<&str> {
        self.dropped
            .iter()
            .find(|(p, _)| {
                let p = p.trim_end_matches('.');
                metric == p
                    || metric
                        .strip_prefix(p)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .map(|(_, r)| r.as_str())
    }

    fn fails(&self, on: &[Failure]) -> bool {
        on.iter().any(|f| match f {
            Failure::Crashed => self.crashed,
            Failure::Errors => self.errors > 0,
            Failure::Timeouts => self.timeouts > 0,
            Failure::Overloaded => self.overloaded,
        })
    }
}

pub struct Evidence<'a> {
    pub summary: &'a Summary,
    pub trials: &'a [TrialFacts],
}

impl Evidence<'_> {
    fn value(&self, side: &SideRef, metric: &str, round: usize) -> Option<f64> {
        let s = self
            .summary
            .scenarios
            .iter()
            .find(|s| s.id == side.scenario)?;
        s.metrics
            .get(metric)?
            .get(&side.variant)?
            .by_round()
            .into_iter()
            .find(|(r, _)| *r == round)
            .map(|(_, v)| v)
    }
}

// ------------------------------------------------------------ the results

/// Why a side (or a condition) has no usable value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The scenario ran, the variant did not.
    VariantNotRun { scenario: String, variant: String },
    /// Too few usable rounds; `left_out` says why the others were left out.
    TooFewRounds {
        scenario: String,
        variant: String,
        usable: usize,
        need: usize,
        left_out: Vec<LeftOut>,
    },
    /// The two sides share too few rounds to pair.
    TooFewPairs { pairs: usize, need: usize },
    /// A ratio of a value that is zero or negative.
    NotPositive {
        scenario: String,
        variant: String,
        metric: String,
    },
}

/// Why a trial's value was left out of a side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeftOut {
    pub trial_id: String,
    pub why: LeftOutWhy,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeftOutWhy {
    /// The harness could not run the trial (not the server's doing).
    Failed { problem: String },
    /// The measurement itself was invalid (the generator's fault).
    Invalid { problem: String },
    /// The generator, not the server, was the limit.
    ClientBound,
    /// The server failed (crash, errors, timeouts, overload): a server
    /// outcome, which `outcome` rules read.
    ServerOutcome { problem: String },
    /// The metric was dropped from the trial (an invalid rate step, an
    /// untrusted percentile).
    Dropped { reason: String },
    /// The trial has no such metric.
    Missing,
}

/// What a rule decided on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Value {
    pub kind: ValueKind,
    pub point: f64,
    pub lo: f64,
    pub hi: f64,
    /// The interval's real coverage.
    pub coverage: f64,
    pub method: Method,
    /// Rounds (pairs) the value rests on.
    pub n: usize,
    /// Rank test p-value (paired comparisons).
    pub p_value: Option<f64>,
    pub min_p: Option<f64>,
    #[serde(skip)]
    pub family: Vec<Nested>,
    /// The metric whose unit a difference or median is in.
    pub metric: String,
    /// The per-round (per-trial) values the estimate is made of.
    pub per_round: Vec<f64>,
    /// Where the value rests on corrected latencies the load generator's
    /// own lateness may be in: the largest share of a round's figure
    /// between it and the same percentile counted from the actual send.
    /// The interval covers every round's whole bracket (`bracket.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bracket_share: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    Ratio,
    Difference,
    Median,
}

/// A side's estimate over the rounds a condition used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideValue {
    pub side: SideRef,
    pub estimate: Estimate,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The interval lies in the supported regions; `p` is the one-sided
    /// p-value of that containment (for Holm).
    Supported {
        p: f64,
    },
    Refuted {
        p: f64,
    },
    /// The interval lies in neither.
    Straddles,
    /// No usable value.
    NoData {
        problem: Problem,
    },
}

impl Decision {
    pub fn verdict(&self) -> Verdict {
        match self {
            Decision::Supported { .. } => Verdict::Supported,
            Decision::Refuted { .. } => Verdict::Refuted,
            _ => Verdict::Inconclusive,
        }
    }
    fn p(&self) -> Option<f64> {
        match self {
            Decision::Supported { p } | Decision::Refuted { p } => Some(*p),
            _ => None,
        }
    }
}

/// The outcome facts an `outcome` condition read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeFacts {
    pub trials: usize,
    /// Trials whose server failed in one of the rule's ways, with how.
    pub failed: Vec<(String, Vec<Failure>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionResult {
    #[serde(skip)]
    pub sides: Sides,
    pub decision: Decision,
    pub value: Option<Value>,
    pub side_values: Vec<SideValue>,
    /// Trials of the condition's sides left out (their rounds not used).
    pub left_out: Vec<LeftOut>,
    pub outcome: Option<OutcomeFacts>,
    /// Decided and kept by Holm's adjustment over the claim's conditions.
    pub significant: bool,
}

/// Why a check or claim came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Nothing of it was measured in this run.
    NotMeasured,
    /// Every condition (check) supported.
    AllSupported,
    /// Every condition (check) refuted.
    AllRefuted,
    /// `any`: at least one check supported, with a condition kept by Holm.
    AnySupported,
    /// Significant conditions on both sides after Holm.
    Mixed,
    /// Supported and refuted conditions, but not both significant after
    /// Holm: the difference could be chance.
    ConflictNotSignificant,
    /// Some condition's interval straddles a threshold.
    Straddles,
    /// Some condition has no usable data.
    NoData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub claim: usize,
    pub check: usize,
    pub name: String,
    pub informational: bool,
    /// Optional and not measured: shown, never counted.
    pub skipped: bool,
    pub not_measured: bool,
    pub not_run: Vec<String>,
    pub verdict: Verdict,
    pub basis: Basis,
    pub conditions: Vec<ConditionResult>,
}

impl CheckResult {
    pub fn counted(&self) -> bool {
        !self.informational && !self.skipped
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimResult {
    pub claim: usize,
    pub id: String,
    pub verdict: Verdict,
    pub basis: Basis,
    pub not_measured: bool,
    pub checks: Vec<CheckResult>,
    /// (check index, condition index) of the headline figure.
    pub headline: Option<(usize, usize)>,
}

impl ClaimResult {
    pub fn headline_value(&self) -> Option<&Value> {
        let (k, c) = self.headline?;
        self.checks.get(k)?.conditions.get(c)?.value.as_ref()
    }
}

/// One A/A comparison's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AaResult {
    #[serde(skip)]
    pub comparison: AaComparison,
    pub value: Option<Value>,
    pub problem: Option<Problem>,
    /// The interval lies wholly beyond the margin: a false difference.
    pub false_difference: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdicts {
    pub claims: Vec<ClaimResult>,
    pub aa: Vec<AaResult>,
}

// ------------------------------------------------------------ the engine

struct Ctx<'a> {
    ev: &'a Evidence<'a>,
    level: f64,
    min_rounds: usize,
    server_bound: bool,
    /// `Check::counts_overloaded`.
    counts_overloaded: bool,
    /// `Check::timing_free`.
    timing_free: bool,
}

/// Usable (round, value) pairs of a side, and the trials left out.
type Rounds = (Vec<(usize, f64)>, Vec<LeftOut>);

impl Ctx<'_> {
    /// Usable (round, value) pairs of a side's metric, and the trials left out.
    fn rounds(&self, side: &SideRef, metric: &str) -> Result<Rounds, Problem> {
        let trials: Vec<&TrialFacts> = self
            .ev
            .trials
            .iter()
            .filter(|t| t.scenario == side.scenario && t.variant == side.variant)
            .collect();
        if trials.is_empty() {
            return Err(Problem::VariantNotRun {
                scenario: side.scenario.clone(),
                variant: side.variant.clone(),
            });
        }
        let mut usable = Vec::new();
        let mut left = Vec::new();
        let first = |t: &TrialFacts| t.problems.first().cloned().unwrap_or_default();
        // A server failure leaves the trial out, unless the check counts an
        // overload and that was all.
        let server_usable =
            |t: &TrialFacts| t.server_ok || (self.counts_overloaded && t.only_overloaded());
        for t in trials {
            let why = match t.status {
                Status::Failed => Some(LeftOutWhy::Failed { problem: first(t) }),
                Status::Invalid if !(self.timing_free && t.late_only) => {
                    Some(LeftOutWhy::Invalid { problem: first(t) })
                }
                Status::Invalid | Status::Ok if self.server_bound && t.client_bound => {
                    Some(LeftOutWhy::ClientBound)
                }
                Status::Invalid | Status::Ok if !server_usable(t) => {
                    Some(LeftOutWhy::ServerOutcome { problem: first(t) })
                }
                Status::Invalid | Status::Ok => {
                    t.dropped_for(metric).map(|r| LeftOutWhy::Dropped {
                        reason: r.to_string(),
                    })
                }
            };
            let why = why.or_else(|| match self.ev.value(side, metric, t.round) {
                Some(v) => {
                    usable.push((t.round, v));
                    None
                }
                None => Some(LeftOutWhy::Missing),
            });
            if let Some(why) = why {
                left.push(LeftOut {
                    trial_id: t.trial_id.clone(),
                    why,
                });
            }
        }
        if usable.len() < self.min_rounds {
            return Err(Problem::TooFewRounds {
                scenario: side.scenario.clone(),
                variant: side.variant.clone(),
                usable: usable.len(),
                need: self.min_rounds,
                left_out: left,
            });
        }
        usable.sort_by_key(|x| x.0);
        Ok((usable, left))
    }

    /// A side's usable rounds with their brackets (`bracket.rs`).
    fn bracketed(&self, side: &SideRef, metric: &str, rounds: &[(usize, f64)]) -> Vec<Round> {
        let floor = bracket::floor_metric(metric);
        rounds
            .iter()
            .map(|&(r, v)| {
                let f = floor.as_ref().and_then(|m| self.ev.value(side, m, r));
                bracket::with_floor(r, v, f)
            })
            .collect()
    }

    fn side_value(&self, side: &SideRef, rounds: &[(usize, f64)]) -> SideValue {
        let (r, v): (Vec<usize>, Vec<f64>) = rounds.iter().copied().unzip();
        SideValue {
            side: side.clone(),
            estimate: order::estimate_rounds(&v, &r, self.level)
                .expect("at least one finite value"),
        }
    }
}

fn stat_value(s: Stat, kind: ValueKind, metric: &str) -> Value {
    Value {
        kind,
        point: s.point,
        lo: s.lo,
        hi: s.hi,
        coverage: s.coverage,
        method: s.method,
        n: s.n,
        p_value: Some(s.p_value),
        min_p: Some(s.min_p),
        family: s.family,
        metric: metric.to_string(),
        per_round: s.per_round,
        bracket_share: None,
    }
}

fn median_value(values: &[f64], level: f64, metric: &str, kind: ValueKind) -> Option<Value> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let family = order::family(&sorted);
    let chosen = stats::pick(&family, level)?;
    Some(Value {
        kind,
        point: stats::median(&sorted),
        lo: chosen.lo,
        hi: chosen.hi,
        coverage: if sorted.len() < 2 {
            0.0
        } else {
            chosen.coverage
        },
        method: Method::OrderStatistic,
        n: sorted.len(),
        p_value: None,
        min_p: None,
        family,
        metric: metric.to_string(),
        per_round: values.to_vec(),
        bracket_share: None,
    })
}

/// The median of bracketed rounds, its interval covering the brackets: the
/// order statistics of the lowest ends below, of the highest above.
fn bracketed_median(rounds: &[Round], level: f64, metric: &str, kind: ValueKind) -> Option<Value> {
    let of = |f: fn(&Round) -> f64| rounds.iter().map(f).collect::<Vec<f64>>();
    let mut v = median_value(&of(|r| r.value), level, metric, kind)?;
    if let Some(share) = bracket::largest_share(&[rounds]) {
        let lo = median_value(&of(|r| r.lo), level, metric, kind)?;
        let hi = median_value(&of(|r| r.hi), level, metric, kind)?;
        bracket::cover(
            &mut v,
            &[(lo.lo, lo.hi, &lo.family), (hi.lo, hi.hi, &hi.family)],
        );
        v.bracket_share = Some(share);
    }
    Some(v)
}

/// Widens a paired comparison computed on the measured values to cover the
/// extreme pairings of the two sides' brackets.
fn widen_paired(v: &mut Value, a: &[Round], b: &[Round], mode: Mode, level: f64) {
    let (_, Some((low, high))) = bracket::pairings(a, b) else {
        return;
    };
    let of = |p: &[(f64, f64)]| match mode {
        Mode::Ratio => signed_rank::paired_ratio(p, level),
        Mode::Difference => signed_rank::paired_difference(p, level),
    };
    let ext: Vec<_> = [low, high].iter().filter_map(|p| of(p)).collect();
    let others: Vec<_> = ext
        .iter()
        .map(|c| (c.lo, c.hi, c.family.as_slice()))
        .collect();
    bracket::cover(v, &others);
    v.bracket_share = bracket::largest_share(&[a, b]);
}

/// The value of a comparison, with the sides it used and the trials left out.
type Computed = (Value, Vec<SideValue>, Vec<LeftOut>);

fn compute(ctx: &Ctx, sides: &Sides) -> Result<Computed, Problem> {
    match sides {
        Sides::Paired { a, b, mode } => {
            let (ra, la) = ctx.rounds(a, &a.metric)?;
            let (rb, lb) = ctx.rounds(b, &b.metric)?;
            let pairs = signed_rank::pair_by_round(&ra, &rb);
            if pairs.len() < ctx.min_rounds {
                return Err(Problem::TooFewPairs {
                    pairs: pairs.len(),
                    need: ctx.min_rounds,
                });
            }
            let (stat, kind) = match mode {
                Mode::Ratio => (
                    signed_rank::paired_ratio(&pairs, ctx.level),
                    ValueKind::Ratio,
                ),
                Mode::Difference => (
                    signed_rank::paired_difference(&pairs, ctx.level),
                    ValueKind::Difference,
                ),
            };
            let Some(stat) = stat else {
                let zero_a = pairs.iter().any(|(x, _)| *x <= 0.0);
                let s = if zero_a { a } else { b };
                return Err(Problem::NotPositive {
                    scenario: s.scenario.clone(),
                    variant: s.variant.clone(),
                    metric: s.metric.clone(),
                });
            };
            let used: Vec<usize> = ra
                .iter()
                .filter(|(r, _)| rb.iter().any(|(s, _)| s == r))
                .map(|(r, _)| *r)
                .collect();
            let keep = |rs: &[(usize, f64)]| -> Vec<(usize, f64)> {
                rs.iter()
                    .copied()
                    .filter(|(r, _)| used.contains(r))
                    .collect()
            };
            let (ka, kb) = (keep(&ra), keep(&rb));
            let mut value = stat_value(stat, kind, &a.metric);
            widen_paired(
                &mut value,
                &ctx.bracketed(a, &a.metric, &ka),
                &ctx.bracketed(b, &b.metric, &kb),
                *mode,
                ctx.level,
            );
            let sv = vec![ctx.side_value(a, &ka), ctx.side_value(b, &kb)];
            let mut left = la;
            left.extend(lb);
            Ok((value, sv, left))
        }
        Sides::WithinTrial { side, of, mode } => {
            let (ra, la) = ctx.rounds(side, &side.metric)?;
            let (rb, lb) = ctx.rounds(side, of)?;
            let pairs = signed_rank::pair_by_round(&ra, &rb);
            if pairs.len() < ctx.min_rounds {
                return Err(Problem::TooFewPairs {
                    pairs: pairs.len(),
                    need: ctx.min_rounds,
                });
            }
            let derived = bracket::derive(
                &ctx.bracketed(side, &side.metric, &ra),
                &ctx.bracketed(side, of, &rb),
                *mode,
            )
            .ok_or_else(|| Problem::NotPositive {
                scenario: side.scenario.clone(),
                variant: side.variant.clone(),
                metric: of.clone(),
            })?;
            let kind = match mode {
                Mode::Ratio => ValueKind::Ratio,
                Mode::Difference => ValueKind::Difference,
            };
            let v = bracketed_median(&derived, ctx.level, &side.metric, kind).ok_or(
                Problem::TooFewPairs {
                    pairs: 0,
                    need: ctx.min_rounds,
                },
            )?;
            let other = SideRef {
                metric: of.clone(),
                ..side.clone()
            };
            let mut left = la;
            left.extend(lb);
            Ok((
                v,
                vec![ctx.side_value(side, &ra), ctx.side_value(&other, &rb)],
                left,
            ))
        }
        Sides::Single { side } => {
            let (r, left) = ctx.rounds(side, &side.metric)?;
            let v = bracketed_median(
                &ctx.bracketed(side, &side.metric, &r),
                ctx.level,
                &side.metric,
                ValueKind::Median,
            )
            .expect("rounds gives at least one value");
            Ok((v, vec![ctx.side_value(side, &r)], left))
        }
        Sides::Outcome { .. } => unreachable!("outcome conditions are not computed"),
    }
}

fn decide_value(rule: &Rule, v: &Value) -> Decision {
    let d = rule.decide().expect("metric rules have regions");
    let one_sided = |u: &crate::config::regions::Union| {
        multiple::containment_p(&v.family, |lo, hi| u.holding(lo, hi).is_some())
    };
    if d.supported.holding(v.lo, v.hi).is_some() {
        Decision::Supported {
            p: one_sided(&d.supported),
        }
    } else if d.refuted.holding(v.lo, v.hi).is_some() {
        Decision::Refuted {
            p: one_sided(&d.refuted),
        }
    } else {
        Decision::Straddles
    }
}

fn outcome_condition(ctx: &Ctx, sides: &Sides, rule: &Rule) -> ConditionResult {
    let Sides::Outcome {
        scenario,
        variant,
        fails_on,
    } = sides
    else {
        unreachable!()
    };
    let Rule::Outcome {
        if_ok, if_failed, ..
    } = rule
    else {
        unreachable!()
    };
    let trials: Vec<&TrialFacts> = ctx
        .ev
        .trials
        .iter()
        .filter(|t| &t.scenario == scenario && &t.variant == variant)
        .collect();
    let mk = |decision, left_out, outcome| ConditionResult {
        sides: sides.clone(),
        decision,
        value: None,
        side_values: Vec::new(),
        left_out,
        outcome,
        significant: false,
    };
    if trials.is_empty() {
        return mk(
            Decision::NoData {
                problem: Problem::VariantNotRun {
                    scenario: scenario.clone(),
                    variant: variant.clone(),
                },
            },
            Vec::new(),
            None,
        );
    }
    // A server that failed is the result, whatever else happened; a trial
    // the harness or the generator could not measure says nothing.
    let failed: Vec<(String, Vec<Failure>)> = trials
        .iter()
        .filter(|t| t.status != Status::Failed && t.fails(fails_on))
        .map(|t| {
            let how = fails_on
                .iter()
                .copied()
                .filter(|f| t.fails(&[*f]))
                .collect();
            (t.trial_id.clone(), how)
        })
        .collect();
    let unusable: Vec<LeftOut> = trials
        .iter()
        .filter(|t| t.status != Status::Ok && !failed.iter().any(|f| f.0 == t.trial_id))
        .map(|t| LeftOut {
            trial_id: t.trial_id.clone(),
            why: match t.status {
                Status::Failed => LeftOutWhy::Failed {
                    problem: t.problems.first().cloned().unwrap_or_default(),
                },
                _ => LeftOutWhy::Invalid {
                    problem: t.problems.first().cloned().unwrap_or_default(),
                },
            },
        })
        .collect();
    let facts = OutcomeFacts {
        trials: trials.len(),
        failed: failed.clone(),
    };
    let usable = trials.len() - unusable.len();
    if !failed.is_empty() {
        let d = if *if_failed == Verdict::Supported {
            Decision::Supported { p: 0.0 }
        } else {
            Decision::Refuted { p: 0.0 }
        };
        return mk(d, unusable, Some(facts));
    }
    if usable < ctx.min_rounds {
        return mk(
            Decision::NoData {
                problem: Problem::TooFewRounds {
                    scenario: scenario.clone(),
                    variant: variant.clone(),
                    usable,
                    need: ctx.min_rounds,
                    left_out: unusable.clone(),
                },
            },
            unusable,
            Some(facts),
        );
    }
    let d = if *if_ok == Verdict::Supported {
        Decision::Supported { p: 0.0 }
    } else {
        Decision::Refuted { p: 0.0 }
    };
    mk(d, unusable, Some(facts))
}

fn condition(ctx: &Ctx, check: &Check, sides: &Sides) -> ConditionResult {
    if let Sides::Outcome { .. } = sides {
        return outcome_condition(ctx, sides, &check.rule);
    }
    match compute(ctx, sides) {
        Ok((value, side_values, left_out)) => ConditionResult {
            sides: sides.clone(),
            decision: decide_value(&check.rule, &value),
            value: Some(value),
            side_values,
            left_out,
            outcome: None,
            significant: false,
        },
        Err(problem) => ConditionResult {
            sides: sides.clone(),
            decision: Decision::NoData { problem },
            value: None,
            side_values: Vec::new(),
            left_out: Vec::new(),
            outcome: None,
            significant: false,
        },
    }
}

/// The verdict of a set of decisions: all supported, all refuted, mixed
/// (both present and both significant), or inconclusive with the reason.
fn combine(items: &[(Verdict, bool, bool)]) -> (Verdict, Basis) {
    // (verdict, significant, no data)
    if items.is_empty() {
        return (Verdict::Inconclusive, Basis::NotMeasured);
    }
    let sup = items.iter().filter(|i| i.0 == Verdict::Supported).count();
    let refu = items.iter().filter(|i| i.0 == Verdict::Refuted).count();
    let sig_sup = items.iter().any(|i| i.0 == Verdict::Supported && i.1);
    let sig_ref = items.iter().any(|i| i.0 == Verdict::Refuted && i.1);
    let mixed_child = items.iter().any(|i| i.0 == Verdict::Mixed);
    if sup == items.len() {
        return (Verdict::Supported, Basis::AllSupported);
    }
    if refu == items.len() {
        return (Verdict::Refuted, Basis::AllRefuted);
    }
    if (sig_sup && sig_ref) || mixed_child {
        return (Verdict::Mixed, Basis::Mixed);
    }
    if items.iter().any(|i| i.2) {
        return (Verdict::Inconclusive, Basis::NoData);
    }
    if sup > 0 && refu > 0 {
        return (Verdict::Inconclusive, Basis::ConflictNotSignificant);
    }
    (Verdict::Inconclusive, Basis::Straddles)
}

fn check_result(ctx: &Ctx, claims: &Claims, ex: &Expanded, ci: usize, ki: usize) -> CheckResult {
    let check = &claims.claims[ci].checks[ki];
    let plan = ex.check(ci, ki);
    let measured = plan.run.iter().any(|s| {
        ctx.ev.summary.scenarios.iter().any(|x| &x.id == s)
            || ctx.ev.trials.iter().any(|t| &t.scenario == s)
    });
    let ctx = Ctx {
        ev: ctx.ev,
        level: ctx.level,
        min_rounds: check.min_rounds.unwrap_or(ctx.min_rounds).max(1),
        server_bound: check.server_bound,
        counts_overloaded: check.counts_overloaded,
        timing_free: check.timing_free,
    };
    let conditions: Vec<ConditionResult> = if measured {
        plan.comparisons
            .iter()
            .map(|c| condition(&ctx, check, &c.sides))
            .collect()
    } else {
        Vec::new()
    };
    let not_run: Vec<String> = plan
        .not_run
        .iter()
        .cloned()
        .chain(
            plan.run
                .iter()
                .filter(|s| !ctx.ev.trials.iter().any(|t| &t.scenario == *s))
                .cloned(),
        )
        .collect();
    CheckResult {
        claim: ci,
        check: ki,
        name: check.name.clone(),
        informational: check.informational,
        skipped: !measured && !check.required,
        not_measured: !measured,
        not_run,
        verdict: Verdict::Inconclusive,
        basis: Basis::NotMeasured,
        conditions,
    }
}

fn finish_check(k: &mut CheckResult) {
    if k.not_measured {
        k.verdict = Verdict::Inconclusive;
        k.basis = Basis::NotMeasured;
        return;
    }
    let items: Vec<(Verdict, bool, bool)> = k
        .conditions
        .iter()
        .map(|c| {
            (
                c.decision.verdict(),
                c.significant,
                matches!(c.decision, Decision::NoData { .. }),
            )
        })
        .collect();
    let (v, b) = combine(&items);
    k.verdict = v;
    k.basis = b;
}

/// The claim's headline condition: the named check's condition whose
/// scenario (and metric, when given) matches, else its first with a value.
fn headline(
    claim: &crate::config::claims::Claim,
    checks: &[CheckResult],
) -> Option<(usize, usize)> {
    let ki = checks.iter().position(|k| k.name == claim.headline.check)?;
    let conds = &checks[ki].conditions;
    let wanted = |c: &ConditionResult| match &claim.headline.condition {
        None => true,
        Some(sel) => {
            let mut parts = sel.split_whitespace();
            let sc = parts.next().unwrap_or("");
            let metric = parts.next();
            let variant = parts.next();
            let (s_ok, m_ok, v_ok) = match &c.sides {
                Sides::Paired { a, .. } => (
                    a.scenario == sc,
                    metric.is_none_or(|m| a.metric == m),
                    variant.is_none_or(|v| a.variant == v),
                ),
                Sides::WithinTrial { side, .. } | Sides::Single { side } => (
                    side.scenario == sc,
                    metric.is_none_or(|m| side.metric == m),
                    variant.is_none_or(|v| side.variant == v),
                ),
                Sides::Outcome {
                    scenario,
                    variant: vv,
                    ..
                } => (scenario == sc, true, variant.is_none_or(|v| vv == v)),
            };
            s_ok && m_ok && v_ok
        }
    };
    let usable = |c: &ConditionResult| c.value.is_some() || c.outcome.is_some();
    conds
        .iter()
        .position(|c| wanted(c) && usable(c))
        .or_else(|| conds.iter().position(usable))
        .map(|ci| (ki, ci))
}

fn aa_result(ctx: &Ctx, a: &AaComparison) -> AaResult {
    match compute(ctx, &a.sides) {
        Ok((v, _, _)) => {
            let (lo_band, hi_band) = match v.kind {
                ValueKind::Ratio => (1.0 / a.margin, a.margin),
                _ => (-a.margin, a.margin),
            };
            let false_difference = v.hi < lo_band || v.lo > hi_band;
            AaResult {
                comparison: a.clone(),
                value: Some(v),
                problem: None,
                false_difference,
            }
        }
        Err(p) => AaResult {
            comparison: a.clone(),
            value: None,
            problem: Some(p),
            false_difference: false,
        },
    }
}

/// An A/A comparison of a within-trial value becomes a paired comparison
/// of the two copies' derived values, round by round.
fn aa_compute(ctx: &Ctx, a: &AaComparison) -> AaResult {
    match &a.sides {
        Sides::WithinTrial { side, of, mode } => {
            let orig = SideRef {
                variant: crate::config::expand::aa_original(&side.variant)
                    .unwrap_or(&side.variant)
                    .to_string(),
                ..side.clone()
            };
            let derive = |s: &SideRef| -> Result<Vec<Round>, Problem> {
                let (x, _) = ctx.rounds(s, &s.metric)?;
                let (d, _) = ctx.rounds(s, of)?;
                bracket::derive(
                    &ctx.bracketed(s, &s.metric, &x),
                    &ctx.bracketed(s, of, &d),
                    *mode,
                )
                .ok_or_else(|| Problem::NotPositive {
                    scenario: s.scenario.clone(),
                    variant: s.variant.clone(),
                    metric: of.clone(),
                })
            };
            let (copy, base) = match (derive(side), derive(&orig)) {
                (Ok(c), Ok(b)) => (c, b),
                (Err(p), _) | (_, Err(p)) => {
                    return AaResult {
                        comparison: a.clone(),
                        value: None,
                        problem: Some(p),
                        false_difference: false,
                    };
                }
            };
            let (pairs, _) = bracket::pairings(&copy, &base);
            let stat = match mode {
                Mode::Ratio => signed_rank::paired_ratio(&pairs, ctx.level),
                Mode::Difference => signed_rank::paired_difference(&pairs, ctx.level),
            };
            match stat.filter(|s| s.n >= ctx.min_rounds) {
                Some(s) => {
                    let kind = if *mode == Mode::Ratio {
                        ValueKind::Ratio
                    } else {
                        ValueKind::Difference
                    };
                    let mut v = stat_value(s, kind, &side.metric);
                    widen_paired(&mut v, &copy, &base, *mode, ctx.level);
                    let (lo_band, hi_band) = match kind {
                        ValueKind::Ratio => (1.0 / a.margin, a.margin),
                        _ => (-a.margin, a.margin),
                    };
                    AaResult {
                        comparison: a.clone(),
                        false_difference: v.hi < lo_band || v.lo > hi_band,
                        value: Some(v),
                        problem: None,
                    }
                }
                None => AaResult {
                    comparison: a.clone(),
                    value: None,
                    problem: Some(Problem::TooFewPairs {
                        pairs: pairs.len(),
                        need: ctx.min_rounds,
                    }),
                    false_difference: false,
                },
            }
        }
        _ => aa_result(ctx, a),
    }
}

/// Every claim's verdict, and the A/A control, from the run's evidence.
pub fn evaluate(claims: &Claims, ex: &Expanded, ev: &Evidence) -> Verdicts {
    let base = Ctx {
        ev,
        level: claims.level,
        min_rounds: claims.min_rounds,
        server_bound: false,
        counts_overloaded: false,
        timing_free: false,
    };
    let mut out = Vec::new();
    for (ci, claim) in claims.claims.iter().enumerate() {
        let mut checks: Vec<CheckResult> = (0..claim.checks.len())
            .map(|ki| check_result(&base, claims, ex, ci, ki))
            .collect();
        // Holm over every decided condition of the counted checks.
        let mut idx = Vec::new();
        let mut ps = Vec::new();
        for (ki, k) in checks.iter().enumerate() {
            if !k.counted() {
                continue;
            }
            for (cj, c) in k.conditions.iter().enumerate() {
                if let Some(p) = c.decision.p() {
                    idx.push((ki, cj));
                    ps.push(p);
                }
            }
        }
        let kept = multiple::holm(&ps, claims.familywise_alpha);
        for ((ki, cj), keep) in idx.into_iter().zip(kept) {
            checks[ki].conditions[cj].significant = keep;
        }
        // Informational checks: Holm within the check alone.
        for k in checks.iter_mut().filter(|k| !k.counted()) {
            let ps: Vec<f64> = k.conditions.iter().filter_map(|c| c.decision.p()).collect();
            let kept = multiple::holm(&ps, claims.familywise_alpha);
            let mut it = kept.into_iter();
            for c in k.conditions.iter_mut().filter(|c| c.decision.p().is_some()) {
                c.significant = it.next().unwrap_or(false);
            }
        }
        for k in checks.iter_mut() {
            finish_check(k);
        }
        let counted: Vec<&CheckResult> = checks.iter().filter(|k| k.counted()).collect();
        let not_measured = counted.iter().all(|k| k.not_measured);
        let (verdict, basis) = if not_measured {
            (Verdict::Inconclusive, Basis::NotMeasured)
        } else {
            match claim.combine {
                Combine::All => {
                    // Judged over conditions, so that chance in one of many
                    // conditions does not make it mixed.
                    let conds = || counted.iter().flat_map(|k| &k.conditions);
                    let sig =
                        |v: Verdict| conds().any(|c| c.decision.verdict() == v && c.significant);
                    let any = |v: Verdict| conds().any(|c| c.decision.verdict() == v);
                    if counted.iter().all(|k| k.verdict == Verdict::Supported) {
                        (Verdict::Supported, Basis::AllSupported)
                    } else if counted.iter().all(|k| k.verdict == Verdict::Refuted) {
                        (Verdict::Refuted, Basis::AllRefuted)
                    } else if sig(Verdict::Supported) && sig(Verdict::Refuted) {
                        (Verdict::Mixed, Basis::Mixed)
                    } else if counted
                        .iter()
                        .any(|k| k.not_measured || k.basis == Basis::NoData)
                    {
                        (Verdict::Inconclusive, Basis::NoData)
                    } else if any(Verdict::Supported) && any(Verdict::Refuted) {
                        (Verdict::Inconclusive, Basis::ConflictNotSignificant)
                    } else {
                        (Verdict::Inconclusive, Basis::Straddles)
                    }
                }
                Combine::Any => {
                    // A check supported in every one of its conditions, as
                    // `all` asks of every check. (It used to need one
                    // condition beyond chance after Holm over the whole
                    // claim: with 6 rounds no interval gives p below
                    // 0.0156, so beside 8 outcome facts 4 supported
                    // conditions could never count, and C6 read
                    // inconclusive in the full profile.)
                    if counted.iter().any(|k| k.verdict == Verdict::Supported) {
                        (Verdict::Supported, Basis::AnySupported)
                    } else if counted.iter().all(|k| k.verdict == Verdict::Refuted) {
                        (Verdict::Refuted, Basis::AllRefuted)
                    } else if counted
                        .iter()
                        .any(|k| k.basis == Basis::NoData || k.not_measured)
                    {
                        (Verdict::Inconclusive, Basis::NoData)
                    } else {
                        (Verdict::Inconclusive, Basis::Straddles)
                    }
                }
            }
        };
        let hl = headline(claim, &checks);
        out.push(ClaimResult {
            claim: ci,
            id: claim.id.clone(),
            verdict,
            basis,
            not_measured,
            checks,
            headline: hl,
        });
    }
    let aa = ex.aa.iter().map(|a| aa_compute(&base, a)).collect();
    Verdicts { claims: out, aa }
}

/// Evaluates the claims of `root` on a run's summary and trials.
pub fn evaluate_run(
    claims: &Claims,
    ex: &Expanded,
    summary: &Summary,
    trials: &[TrialRecord],
) -> Verdicts {
    let facts: Vec<TrialFacts> = trials.iter().map(TrialFacts::of).collect();
    evaluate(
        claims,
        ex,
        &Evidence {
            summary,
            trials: &facts,
        },
    )
}

mod bracket;
#[cfg(test)]
mod tests;
