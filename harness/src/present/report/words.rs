//! Every sentence about a verdict: the analysis returns decisions and
//! numbers (`analyse::verdict`); this module words them — labels of
//! conditions, values with their intervals and coverage, why a condition
//! has no data, a check's and a claim's reason, the rule itself, where a
//! claim holds, and the headline.

use crate::analyse::stats::Method;
use crate::analyse::verdict::{
    AaResult, Basis, CheckResult, ClaimResult, ConditionResult, Decision, LeftOut, LeftOutWhy,
    Problem, Value, ValueKind,
};
use crate::config::claims::{Check, Claim, Claims, Failure, Mode, Rule};
use crate::config::expand::Sides;
use crate::config::regions::{Region, Union};
use crate::present::report::units::{self, Unit};

pub fn pct(x: f64) -> String {
    let s = format!("{:.1} %", x * 100.0);
    s.replace(".0 %", " %")
}

/// A metric name without the client prefix's noise.
pub fn short(m: &str) -> String {
    m.strip_prefix("server.")
        .or_else(|| m.strip_prefix("main."))
        .unwrap_or(m)
        .to_string()
}

fn unit_of_value(v: &Value) -> Unit {
    match v.kind {
        ValueKind::Ratio => Unit::Ratio,
        _ => units::unit_of(&v.metric),
    }
}

/// "0.82× [0.75×, 0.9×]".
pub fn value_text(v: &Value) -> String {
    let u = unit_of_value(v);
    format!("{} [{}, {}]", u.fmt(v.point), u.fmt(v.lo), u.fmt(v.hi))
}

/// "96.9 %, Wilcoxon signed-rank over 6 paired rounds".
pub fn coverage_text(v: &Value) -> String {
    if v.n < 2 {
        return "none: a single value".into();
    }
    let how = match v.method {
        Method::OrderStatistic => format!("order statistics over {} rounds", v.n),
        Method::SignedRank => format!("Wilcoxon signed-rank over {} paired rounds", v.n),
        Method::RankSum => format!("Moses / Mann–Whitney, {} per side", v.n),
    };
    format!("{} ({how})", pct(v.coverage))
}

/// "0.80× [0.74×, 0.87×], 96.9 %".
pub fn figure(v: &Value) -> String {
    format!("{}, {}", value_text(v), pct(v.coverage))
}

/// What a condition compares, e.g. "echo-open-64b step2: rust / go".
pub fn label(check: &Check, sides: &Sides) -> String {
    let wild = check.rule.metrics().iter().any(|m| m.contains('*'));
    let metric = |m: &str| {
        if wild {
            format!(" ({})", short(m))
        } else {
            String::new()
        }
    };
    match sides {
        Sides::Paired { a, b, mode } => {
            let op = if *mode == Mode::Ratio { "/" } else { "−" };
            if a.scenario == b.scenario {
                format!(
                    "{}{}: {} {op} {}",
                    a.scenario,
                    metric(&a.metric),
                    a.variant,
                    b.variant
                )
            } else {
                let bv = if a.variant == b.variant {
                    String::new()
                } else {
                    format!(" ({})", b.variant)
                };
                format!(
                    "{} {op} {}{bv}: {}{}",
                    a.scenario,
                    b.scenario,
                    a.variant,
                    metric(&a.metric)
                )
            }
        }
        Sides::WithinTrial { side, of, mode } => {
            let op = if *mode == Mode::Ratio { "/" } else { "−" };
            format!(
                "{}: {}, {} {op} {}",
                side.scenario,
                side.variant,
                short(&side.metric),
                short(of)
            )
        }
        Sides::Single { side } => format!(
            "{}: {}{}",
            side.scenario,
            side.variant,
            metric(&side.metric)
        ),
        Sides::Outcome {
            scenario, variant, ..
        } => format!("{scenario}: {variant}"),
    }
}

fn region_text(r: &Region, u: Unit) -> String {
    match *r {
        Region::Below(x) => format!("below {}", u.fmt(x)),
        Region::Above(x) => format!("above {}", u.fmt(x)),
        Region::Within([a, b]) => format!("within [{}, {}]", u.fmt(a), u.fmt(b)),
    }
}

/// The regions of a union, as written: "above 1.1× or within [0.9×, 1.1×]".
pub fn union_text(un: &Union, u: Unit) -> String {
    un.regions
        .iter()
        .map(|r| region_text(r, u))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn rule_unit(rule: &Rule) -> Unit {
    match (rule.mode(), rule.metrics().first()) {
        (Some(Mode::Ratio), _) => Unit::Ratio,
        (_, Some(m)) => units::unit_of(m),
        _ => Unit::Plain,
    }
}

fn failure_word(f: Failure) -> &'static str {
    match f {
        Failure::Crashed => "crashed",
        Failure::Errors => "failed requests",
        Failure::Timeouts => "timed out",
        Failure::Overloaded => "overloaded",
    }
}

/// Why a trial was left out, briefly.
pub fn left_out_text(l: &LeftOut) -> String {
    let round = l.trial_id.rsplit("--").next().unwrap_or(&l.trial_id);
    let why = match &l.why {
        LeftOutWhy::Failed { problem } => format!("failed to run ({})", short_problem(problem)),
        LeftOutWhy::Invalid { problem } => {
            format!("measurement invalid ({})", short_problem(problem))
        }
        LeftOutWhy::ClientBound => {
            "client-bound: the load generator, not the server, was the limit".into()
        }
        LeftOutWhy::ServerOutcome { problem } => {
            format!(
                "the server failed ({}) — a server outcome, read by the outcome checks",
                short_problem(problem)
            )
        }
        LeftOutWhy::Dropped { reason } => format!("dropped ({})", short_problem(reason)),
        LeftOutWhy::Missing => "metric not measured".into(),
    };
    format!("{round}: {why}")
}

fn left_out_list(ls: &[LeftOut]) -> String {
    let shown: Vec<String> = ls.iter().take(2).map(left_out_text).collect();
    let more = if ls.len() > 2 {
        format!(" (and {} more)", ls.len() - 2)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join("; "))
}

/// A trial problem cut to its first clause.
pub fn short_problem(p: &str) -> String {
    const MARK: &str = "marked its run invalid: ";
    let p = match p.find(MARK) {
        Some(i) => p[i + MARK.len()..].to_string(),
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

pub fn problem_text(p: &Problem) -> String {
    match p {
        Problem::VariantNotRun { scenario, variant } => {
            format!("{scenario}/{variant}: not run")
        }
        Problem::TooFewRounds {
            scenario,
            variant,
            usable,
            need,
            left_out,
        } => {
            let why = if left_out.is_empty() {
                String::new()
            } else {
                format!(" — {}", left_out_list(left_out))
            };
            format!(
                "{scenario}/{variant}: {usable} usable round{} (at least {need} needed){why}",
                if *usable == 1 { "" } else { "s" }
            )
        }
        Problem::TooFewPairs { pairs, need } => format!(
            "the two sides share {pairs} usable round{} (at least {need} needed to pair them)",
            if *pairs == 1 { "" } else { "s" }
        ),
        Problem::NotPositive {
            scenario,
            variant,
            metric,
        } => format!(
            "{scenario}/{variant}: {} is 0 in some round: no ratio",
            short(metric)
        ),
    }
}

/// Why the condition came out as it did.
pub fn condition_reason(check: &Check, c: &ConditionResult) -> String {
    let mut out = match (&c.decision, &c.value, &c.outcome) {
        (Decision::NoData { problem }, _, _) => problem_text(problem),
        (d, _, Some(o)) => {
            if o.failed.is_empty() {
                format!(
                    "in all {} trials the server stayed alive and answered every request",
                    o.trials
                )
            } else {
                let (id, how) = &o.failed[0];
                let how: Vec<&str> = how.iter().map(|f| failure_word(*f)).collect();
                let _ = d;
                format!(
                    "{} of {} trials: the server {} (e.g. {id})",
                    o.failed.len(),
                    o.trials,
                    how.join(" and "),
                )
            }
        }
        (d, Some(v), None) => {
            let decide = check.rule.decide().expect("metric rule");
            let u = unit_of_value(v);
            let what = match v.kind {
                ValueKind::Ratio => "ratio",
                ValueKind::Difference => "difference",
                ValueKind::Median => "median",
            };
            let iv = format!("{what} [{}, {}]", u.fmt(v.lo), u.fmt(v.hi));
            match d {
                Decision::Supported { .. } => {
                    format!("{iv} lies {}", union_text(&decide.supported, u))
                }
                Decision::Refuted { .. } => format!("{iv} lies {}", union_text(&decide.refuted, u)),
                _ => format!(
                    "{iv} is neither entirely {} nor entirely {}",
                    union_text(&decide.supported, u),
                    union_text(&decide.refuted, u)
                ),
            }
        }
        _ => "no value".into(),
    };
    if let Some(share) = c.value.as_ref().and_then(|v| v.bracket_share) {
        out.push_str(&format!(
            "; the interval also covers each round's latency counted from the actual send, which the load generator's own lateness is not in (up to {:.0} % below a round's figure)",
            share * 100.0
        ));
    }
    if !c.left_out.is_empty() && !matches!(c.decision, Decision::NoData { .. }) {
        out.push_str(&format!(
            " ({} trial{} left out: {})",
            c.left_out.len(),
            if c.left_out.len() == 1 { "" } else { "s" },
            left_out_list(&c.left_out)
        ));
    }
    out
}

fn labels(check: &Check, conds: &[&ConditionResult]) -> String {
    let ls: Vec<String> = conds.iter().map(|c| label(check, &c.sides)).collect();
    if ls.len() <= 3 {
        ls.join("; ")
    } else {
        format!("{}; … ({} in all)", ls[..3].join("; "), ls.len())
    }
}

/// A check's reason.
pub fn check_reason(claims: &Claims, k: &CheckResult) -> String {
    let check = &claims.claims[k.claim].checks[k.check];
    let by = |f: &dyn Fn(&ConditionResult) -> bool| -> Vec<&ConditionResult> {
        k.conditions.iter().filter(|c| f(c)).collect()
    };
    let sup = by(&|c| matches!(c.decision, Decision::Supported { .. }));
    let refu = by(&|c| matches!(c.decision, Decision::Refuted { .. }));
    let straddle = by(&|c| matches!(c.decision, Decision::Straddles));
    let nodata = by(&|c| matches!(c.decision, Decision::NoData { .. }));
    let mut r = match k.basis {
        Basis::NotMeasured => format!(
            "not measured in this run (needs {})",
            check.scenarios.join(" or ")
        ),
        Basis::AllSupported | Basis::AnySupported => {
            format!("supported in every condition: {}", labels(check, &sup))
        }
        Basis::AllRefuted => format!("refuted in every condition: {}", labels(check, &refu)),
        Basis::Mixed => format!(
            "supported in {}; refuted in {} (each side beyond chance after Holm's adjustment)",
            labels(check, &sup),
            labels(check, &refu)
        ),
        Basis::ConflictNotSignificant => format!(
            "supported in {} but refuted in {}; after Holm's adjustment over the claim's conditions not both sides are beyond chance, so this is not called mixed",
            labels(check, &sup),
            labels(check, &refu)
        ),
        Basis::Straddles => {
            let decided = if !sup.is_empty() {
                format!(" (supported in {})", labels(check, &sup))
            } else if !refu.is_empty() {
                format!(" (refuted in {})", labels(check, &refu))
            } else {
                String::new()
            };
            format!(
                "intervals too wide to decide: {}{decided}",
                straddle
                    .iter()
                    .take(3)
                    .map(|c| format!(
                        "{} ({})",
                        label(check, &c.sides),
                        condition_reason(check, c)
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
        Basis::NoData => {
            let first = nodata
                .first()
                .map(|c| format!("{}: {}", label(check, &c.sides), condition_reason(check, c)));
            let more = if nodata.len() > 1 {
                format!(" (and {} more)", nodata.len() - 1)
            } else {
                String::new()
            };
            let decided = if !sup.is_empty() {
                format!("; supported in {}", labels(check, &sup))
            } else if !refu.is_empty() {
                format!("; refuted in {}", labels(check, &refu))
            } else {
                String::new()
            };
            format!("{}{more}{decided}", first.unwrap_or_default())
        }
    };
    if !k.not_run.is_empty() && !k.not_measured {
        r.push_str(&format!(
            " — not run in this profile: {}",
            k.not_run.join(", ")
        ));
    }
    r
}

/// A claim's reason: each counted check's verdict and reason.
pub fn claim_reason(claims: &Claims, c: &ClaimResult) -> String {
    if c.not_measured {
        let claim = &claims.claims[c.claim];
        let mut needs: Vec<&str> = Vec::new();
        for k in claim.checks.iter().filter(|k| !k.informational) {
            for s in &k.scenarios {
                if !needs.contains(&s.as_str()) {
                    needs.push(s);
                }
            }
        }
        return format!("not measured in this run (needs {})", needs.join(", "));
    }
    let lead = match c.basis {
        Basis::ConflictNotSignificant => {
            "checks disagree, but not beyond chance after Holm's adjustment. "
        }
        Basis::AnySupported => "one supported check is enough (crash or slow). ",
        _ => "",
    };
    let parts: Vec<String> = c
        .checks
        .iter()
        .filter(|k| k.counted())
        .map(|k| format!("{} — {}: {}", k.name, k.verdict, check_reason(claims, k)))
        .collect();
    format!("{lead}{}", parts.join(". "))
}

/// Where the claim holds: each scenario's verdict over the counted
/// checks, e.g. "supported in hol-cpu-10ms, hol-cpu-40ms; inconclusive in
/// hol-cpu-1ms (interval too wide)".
pub fn where_text(c: &ClaimResult) -> Option<String> {
    use std::collections::BTreeMap;
    let mut per: BTreeMap<String, Vec<&ConditionResult>> = BTreeMap::new();
    for k in c.checks.iter().filter(|k| k.counted()) {
        for cond in &k.conditions {
            per.entry(cond.sides.scenario().to_string())
                .or_default()
                .push(cond);
        }
    }
    if per.len() < 2 {
        return None;
    }
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (s, conds) in &per {
        let all = |f: &dyn Fn(&Decision) -> bool| conds.iter().all(|c| f(&c.decision));
        let word = if all(&|d| matches!(d, Decision::Supported { .. })) {
            "supported"
        } else if all(&|d| matches!(d, Decision::Refuted { .. })) {
            "refuted"
        } else if conds
            .iter()
            .any(|c| matches!(c.decision, Decision::NoData { .. }))
        {
            "no usable data"
        } else if conds
            .iter()
            .any(|c| matches!(c.decision, Decision::Straddles))
        {
            "within noise (an interval straddles a threshold)"
        } else {
            "split between its conditions"
        };
        groups.entry(word).or_default().push(s.clone());
    }
    if groups.len() < 2 {
        return None;
    }
    Some(
        groups
            .iter()
            .map(|(w, ss)| format!("{w} in {}", ss.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// The headline sentence with its figure (an outcome check's condition
/// gives its facts instead of a number).
pub fn headline(claims: &Claims, c: &ClaimResult) -> String {
    let claim: &Claim = &claims.claims[c.claim];
    let fill = match (c.headline_value(), c.headline) {
        (Some(v), _) => figure(v),
        (None, Some((k, ci))) => {
            let check = &claim.checks[c.checks[k].check];
            condition_reason(check, &c.checks[k].conditions[ci])
        }
        _ => "(no value in this run)".into(),
    };
    claim.headline.text.replace("{value}", &fill)
}

/// The rule in words, from the data.
pub fn rule_text(check: &Check, level: f64, min_rounds: usize) -> String {
    let mut bound = String::new();
    if check.server_bound {
        bound += " A trial whose load generator was client-bound is left out: its throughput is the client's, not the server's.";
    }
    if check.timing_free {
        bound += " A trial whose load generator only sent late (its send lag over the limit, nothing else wrong, the load delivered) still counts: the server's count under that load does not depend on when each request left.";
    }
    if check.counts_overloaded {
        bound += " A trial whose server was overloaded (and did nothing worse: no crash, error or timeout) still counts: the overload is the effect measured, and every request it was sent was answered and is in its latency.";
    }
    let u = rule_unit(&check.rule);
    let regions = || {
        let d = check.rule.decide().expect("metric rule");
        format!(
            "supported if the whole interval lies {}; refuted if it lies {}; otherwise inconclusive.{bound}",
            union_text(&d.supported, u),
            union_text(&d.refuted, u)
        )
    };
    let target = format!(
        "the interval aims at {} coverage and states its real one; a side needs {min_rounds} usable rounds",
        pct(level)
    );
    let vars = |v: &[String]| {
        if v.is_empty() {
            "every variant".to_string()
        } else {
            v.join(", ")
        }
    };
    let op = |m: Mode| {
        if m == Mode::Ratio {
            "ratio"
        } else {
            "difference"
        }
    };
    let scen = check.scenarios.join(", ");
    match &check.rule {
        Rule::Ratio {
            metric,
            numerator,
            denominator,
            mode,
            ..
        } => format!(
            "{} of `{metric}`, {} {} {}, paired by round in {scen}: Hodges–Lehmann estimate with the exact Wilcoxon signed-rank interval ({target}): {}",
            op(*mode),
            numerator.join("|"),
            if *mode == Mode::Ratio { "/" } else { "−" },
            denominator.join("|"),
            regions()
        ),
        Rule::Baseline {
            metric,
            variants,
            baseline_scenario,
            mode,
            ..
        } => format!(
            "{} of `{metric}` ({}, in {scen}) to the same metric in {baseline_scenario}, paired by round (the baseline runs in the same rounds): Hodges–Lehmann estimate with the exact Wilcoxon signed-rank interval ({target}): {}",
            op(*mode),
            vars(variants),
            regions()
        ),
        Rule::WithinTrial {
            metric,
            of,
            variants,
            mode,
            ..
        } => format!(
            "`{metric}` {} `{of}` of the same trial, per trial ({}, in {scen}), then the median over rounds with its order-statistic interval ({target}): {}",
            if *mode == Mode::Ratio {
                "divided by"
            } else {
                "minus"
            },
            vars(variants),
            regions()
        ),
        Rule::Threshold {
            metric, variants, ..
        } => format!(
            "the median of `{metric}` over rounds with its order-statistic interval ({}, in {scen}; {target}): {}",
            vars(variants),
            regions()
        ),
        Rule::Outcome {
            variants,
            fails_on,
            if_ok,
            if_failed,
        } => format!(
            "reads the server's outcome, not a metric ({}, in {scen}): {if_failed} if the server {} in any trial whose measurement was valid; {if_ok} if in every trial it did none of that; inconclusive if too few trials were measured",
            vars(variants),
            fails_on
                .iter()
                .map(|f| failure_word(*f))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

/// One A/A result in words: what it stands for and whether it was a
/// false difference.
pub fn aa_text(a: &AaResult) -> String {
    let band = |m: f64, ratio: bool| {
        if ratio {
            format!("[{}, {}]", Unit::Ratio.fmt(1.0 / m), Unit::Ratio.fmt(m))
        } else {
            format!("[−{}, {}]", units::sig(m), units::sig(m))
        }
    };
    match (&a.value, &a.problem) {
        (Some(v), _) => format!(
            "{} — band {}: {}",
            if a.false_difference {
                "FALSE DIFFERENCE"
            } else {
                "no difference"
            },
            band(a.comparison.margin, v.kind == ValueKind::Ratio),
            figure(v)
        ),
        (None, Some(p)) => format!("not evaluated: {}", problem_text(p)),
        _ => "not evaluated".into(),
    }
}
