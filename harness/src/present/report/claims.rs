//! The report's claim parts: the A/A control, the verdict table with one
//! headline sentence per claim, and one section per claim with where it
//! holds, its checks, their conditions and plots.

use crate::analyse::verdict::{
    AaResult, CheckResult, ClaimResult, ConditionResult, Decision, Verdicts,
};
use crate::config::claims::Claims;
use crate::present::plots::Figure;
use crate::present::report::doc::{Block, Inline, Line, anchor, plain, rich, text};
use crate::present::report::units;
use crate::present::report::words::{self, pct};

pub fn claim_anchor(c: &ClaimResult) -> String {
    anchor(&format!("claim {}", c.id))
}

/// The verdict table for the terminal: id, verdict, headline (or what a
/// fact says instead, by claim id, as in the report).
pub fn verdict_table_text(
    claims: &Claims,
    v: &Verdicts,
    instead: &std::collections::BTreeMap<String, String>,
) -> String {
    let mut out = String::from("\nclaim  verdict       headline\n");
    for c in &v.claims {
        let mut l = instead
            .get(&c.id)
            .cloned()
            .unwrap_or_else(|| words::headline(claims, c));
        if l.chars().count() > 120 {
            l = format!("{}…", l.chars().take(119).collect::<String>());
        }
        out.push_str(&format!("{:<6} {:<13} {l}\n", c.id, c.verdict.word()));
    }
    let (n, f) = aa_counts(&v.aa);
    out.push_str(&format!(
        "A/A control: {n} comparisons of a variant with itself, {f} false difference{}\n",
        if f == 1 { "" } else { "s" }
    ));
    out
}

/// (evaluated, false differences) of the A/A control.
pub fn aa_counts(aa: &[AaResult]) -> (usize, usize) {
    let evaluated = aa.iter().filter(|a| a.value.is_some()).count();
    let false_diff = aa.iter().filter(|a| a.false_difference).count();
    (evaluated, false_diff)
}

/// The A/A control block, at the top of the report.
pub fn aa_blocks(v: &Verdicts) -> Vec<Block> {
    let mut b = vec![Block::Heading {
        level: 2,
        text: "Control: A/A comparisons".into(),
        id: "aa-control".into(),
    }];
    let (n, f) = aa_counts(&v.aa);
    if v.aa.is_empty() {
        b.push(Block::Para(text("This run has no A/A control (the profile names no `aa_control` variants), so nothing here measures how often this machine's noise alone would pass a check's margin.")));
        return b;
    }
    let verdict = if f == 0 {
        format!(
            "{n} comparisons of a variant with an identical copy of itself (same binary, same flags, run in the same rounds), pushed through the same rules as the real comparisons: no false difference. The margins the checks use are wider than this machine's noise in this run."
        )
    } else {
        format!(
            "{n} comparisons of a variant with an identical copy of itself, pushed through the same rules as the real comparisons: {f} false difference{} — an interval wholly beyond a check's margin although both sides are the same thing. The margins of the checks named below are too tight for this machine's noise: treat their verdicts with that in mind.",
            if f == 1 { "" } else { "s" }
        )
    };
    b.push(Block::Para(text(verdict)));
    let rows: Vec<Vec<Line>> =
        v.aa.iter()
            .map(|a| {
                let label = match &a.comparison.sides {
                    crate::config::expand::Sides::Paired { a: x, b: y, .. } => {
                        format!(
                            "{}: {} vs {} ({})",
                            x.scenario,
                            x.variant,
                            y.variant,
                            words::short(&x.metric)
                        )
                    }
                    crate::config::expand::Sides::WithinTrial { side, of, .. } => format!(
                        "{}: {} ({} / {})",
                        side.scenario,
                        side.variant,
                        words::short(&side.metric),
                        words::short(of)
                    ),
                    _ => String::new(),
                };
                vec![
                    text(label),
                    text(a.comparison.stands_for.clone()),
                    text(words::aa_text(a)),
                ]
            })
            .collect();
    b.push(Block::Details {
        summary: format!("The {} A/A comparisons", v.aa.len()),
        blocks: vec![Block::Table {
            head: vec![
                "copy vs original (metric)".into(),
                "stands in for".into(),
                "result [interval], coverage".into(),
            ],
            rows,
        }],
    });
    b
}

/// The verdict table: claim, verdict, headline sentence, plot. `instead`
/// gives a row's text where a fact says more than a number (C12's
/// compile test).
pub fn verdict_table(
    claims: &Claims,
    v: &Verdicts,
    figures: &[Figure],
    instead: &dyn Fn(&ClaimResult) -> Option<String>,
) -> Block {
    let names: Vec<&str> = figures.iter().map(|f| f.name.as_str()).collect();
    let rows = v
        .claims
        .iter()
        .map(|c| {
            let claim = &claims.claims[c.claim];
            let plot = claim.plots.iter().find(|p| names.contains(&p.as_str()));
            let mut summary = instead(c).unwrap_or_else(|| words::headline(claims, c));
            if c.verdict == crate::config::claims::Verdict::Inconclusive {
                summary.push_str(&format!(
                    " — inconclusive: {}",
                    short_reason(&words::claim_reason(claims, c))
                ));
            }
            vec![
                vec![Inline::Link(
                    format!("{} {}", c.id, claim.title),
                    format!("#{}", claim_anchor(c)),
                )],
                vec![Inline::Verdict(c.verdict)],
                text(summary),
                match plot {
                    Some(p) => vec![Inline::Link(p.clone(), format!("#plot-{}", anchor(p)))],
                    None => text("—"),
                },
            ]
        })
        .collect();
    Block::Table {
        head: vec![
            "claim".into(),
            "verdict".into(),
            "headline [interval], its real coverage (details in the claim's section)".into(),
            "plot".into(),
        ],
        rows,
    }
}

fn short_reason(r: &str) -> String {
    let first = r.split(". ").next().unwrap_or(r);
    if first.chars().count() > 160 {
        format!("{}…", first.chars().take(159).collect::<String>())
    } else {
        first.to_string()
    }
}

fn side_text(sv: &crate::analyse::verdict::SideValue, with_metric: bool) -> String {
    let u = units::unit_of(&sv.side.metric);
    let e = &sv.estimate;
    let what = if with_metric {
        format!(
            "{} {} {}",
            sv.side.scenario,
            sv.side.variant,
            words::short(&sv.side.metric)
        )
    } else {
        format!("{} {}", sv.side.scenario, sv.side.variant)
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

fn condition_rows(claims: &Claims, k: &CheckResult) -> Vec<Vec<Line>> {
    let check = &claims.claims[k.claim].checks[k.check];
    k.conditions
        .iter()
        .map(|c: &ConditionResult| {
            let (value, cov, p) = match &c.value {
                Some(v) => (
                    words::value_text(v),
                    words::coverage_text(v),
                    v.p_value
                        .map(|p| {
                            let floor = v
                                .min_p
                                .filter(|m| *m > 0.05)
                                .map(|m| {
                                    format!(" (the floor with n={} is {})", v.n, units::sig(m))
                                })
                                .unwrap_or_default();
                            format!("{}{floor}", units::sig(p))
                        })
                        .unwrap_or_else(|| "—".into()),
                ),
                None => ("n/a".into(), "—".into(), "—".into()),
            };
            let sides = c
                .side_values
                .iter()
                .map(|x| {
                    side_text(
                        x,
                        c.side_values.iter().any(|y| y.side.metric != x.side.metric),
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            let sig = match c.decision {
                Decision::Supported { .. } | Decision::Refuted { .. } if c.significant => {
                    " (beyond chance after Holm)"
                }
                Decision::Supported { .. } | Decision::Refuted { .. } => {
                    " (not beyond chance after Holm)"
                }
                _ => "",
            };
            vec![
                text(words::label(check, &c.sides)),
                vec![Inline::Verdict(c.decision.verdict()), plain(sig)],
                text(value),
                text(cov),
                text(if sides.is_empty() {
                    "—".into()
                } else {
                    sides
                }),
                text(p),
                text(words::condition_reason(check, c)),
            ]
        })
        .collect()
}

/// One section per claim.
pub fn claim_sections(
    claims: &Claims,
    v: &Verdicts,
    figures: &[Figure],
    facts: &dyn Fn(&ClaimResult) -> Vec<Block>,
    shown: &mut Vec<String>,
) -> Vec<Block> {
    let mut b = Vec::new();
    for c in &v.claims {
        let claim = &claims.claims[c.claim];
        b.push(Block::Heading {
            level: 2,
            text: format!("{} — {}", c.id, claim.title),
            id: claim_anchor(c),
        });
        b.push(Block::Quote(text(claim.statement.clone())));
        b.push(Block::Para(vec![
            Inline::Strong("Verdict: ".into()),
            Inline::Verdict(c.verdict),
            plain(format!(" — {}", words::headline(claims, c))),
        ]));
        if let Some(w) = words::where_text(c) {
            b.push(Block::Para(vec![
                Inline::Strong("Where it holds: ".into()),
                plain(w),
            ]));
        }
        b.push(Block::Details {
            summary: "Why: every check's verdict and reason".into(),
            blocks: vec![Block::Para(text(words::claim_reason(claims, c)))],
        });
        b.push(Block::Bullets(vec![
            vec![
                Inline::Strong("Experiment: ".into()),
                plain(claim.experiment.clone()),
            ],
            vec![
                Inline::Strong("What the documented internals predict: ".into()),
                plain(claim.prediction.clone()),
            ],
            vec![
                Inline::Strong("Checks combine: ".into()),
                plain(match claim.combine {
                    crate::config::claims::Combine::All => "all (every counted check must agree; mixed needs conditions on both sides that survive Holm's adjustment)",
                    crate::config::claims::Combine::Any => "any (one supported check is enough)",
                }),
            ],
        ]));
        if let Some(n) = &claim.notes {
            let mut note = vec![Inline::Strong("Note: ".into())];
            note.extend(rich(n));
            b.push(Block::Para(note));
        }
        b.extend(facts(c));
        for k in &c.checks {
            let check = &claims.claims[k.claim].checks[k.check];
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
                plain(check.statement.clone()),
                plain(". "),
                Inline::Verdict(k.verdict),
                plain(format!(" — {}", words::check_reason(claims, k))),
            ]));
            let mut rule = vec![Inline::Strong("Rule: ".into())];
            rule.extend(rich(&words::rule_text(
                check,
                claims.level,
                check.min_rounds.unwrap_or(claims.min_rounds),
            )));
            b.push(Block::Para(rule));
            b.push(Block::Para(vec![
                Inline::Strong("Why these thresholds: ".into()),
                plain(check.why.clone()),
            ]));
            if !k.conditions.is_empty() {
                b.push(Block::Details {
                    summary: format!(
                        "The {} condition{}",
                        k.conditions.len(),
                        if k.conditions.len() == 1 { "" } else { "s" }
                    ),
                    blocks: vec![Block::Table {
                        head: [
                            "condition",
                            "verdict",
                            "value [interval]",
                            "interval coverage",
                            "sides over the rounds used [interval] (n, coverage)",
                            "rank test p",
                            "why",
                        ]
                        .iter()
                        .map(|h| h.to_string())
                        .collect(),
                        rows: condition_rows(claims, k),
                    }],
                });
            }
        }
        let mut missing = Vec::new();
        for p in &claim.plots {
            match figures.iter().find(|f| &f.name == p) {
                Some(f) if !shown.contains(&f.name) => {
                    b.push(Block::Figure {
                        name: f.name.clone(),
                        title: f.title.clone(),
                        caption: f.caption.clone(),
                    });
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
    b
}
