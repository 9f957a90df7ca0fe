//! The engine on synthetic evidence: every rule kind and every shipped
//! claim reaches its verdict words; unions of regions, `any` against
//! `all`, Holm before "mixed", per-trial derived values, server outcomes
//! read as data, and the A/A control's false-difference rate.

use super::*;
use crate::analyse::summary::{Counts, ScenarioSummary, Summary};
use crate::config::claims::{self, Claims};
use crate::config::expand::{self, Expanded, SideRef, Sides};
use crate::config::profile::{self, Profile};
use crate::config::regions::{Piece, Union};
use std::collections::BTreeMap;
use std::path::Path;

// ------------------------------------------------------------ synthetic runs

/// A synthetic run: per (scenario, variant, metric) one value per round,
/// and one trial fact per (scenario, variant, round).
#[derive(Default, Clone)]
struct Syn {
    rounds: usize,
    values: BTreeMap<(String, String, String), Vec<f64>>,
    facts: BTreeMap<(String, String, usize), TrialFacts>,
}

impl Syn {
    fn new(rounds: usize) -> Syn {
        Syn {
            rounds,
            ..Syn::default()
        }
    }
    fn key(s: &SideRef) -> (String, String, String) {
        (s.scenario.clone(), s.variant.clone(), s.metric.clone())
    }
    fn get(&self, s: &SideRef) -> Option<&Vec<f64>> {
        self.values.get(&Self::key(s))
    }
    fn set(&mut self, s: &SideRef, v: Vec<f64>) {
        for r in 0..self.rounds {
            self.fact(&s.scenario, &s.variant, r);
        }
        self.values.insert(Self::key(s), v);
    }
    fn fact(&mut self, scenario: &str, variant: &str, round: usize) -> &mut TrialFacts {
        self.facts
            .entry((scenario.into(), variant.into(), round))
            .or_insert_with(|| TrialFacts {
                trial_id: format!("{scenario}--{variant}--r{}", round + 1),
                scenario: scenario.into(),
                variant: variant.into(),
                round,
                status: Status::Ok,
                client_bound: false,
                server_ok: true,
                crashed: false,
                errors: 0,
                timeouts: 0,
                overloaded: false,
                dropped: vec![],
                late_only: false,
                problems: vec![],
            })
    }
    fn summary(&self) -> Summary {
        let mut scen: BTreeMap<String, ScenarioSummary> = BTreeMap::new();
        for ((s, v, m), vals) in &self.values {
            let sc = scen.entry(s.clone()).or_insert_with(|| ScenarioSummary {
                id: s.clone(),
                title: s.clone(),
                claims: vec![],
                workload: "echo".into(),
                variants: vec![],
                counts: BTreeMap::new(),
                problems: vec![],
                metrics: BTreeMap::new(),
                ratios: BTreeMap::new(),
                capacity_rps: None,
            });
            if !sc.variants.contains(v) {
                sc.variants.push(v.clone());
                sc.counts.insert(v.clone(), Counts::default());
            }
            let rounds: Vec<usize> = (0..vals.len()).collect();
            sc.metrics.entry(m.clone()).or_default().insert(
                v.clone(),
                stats::order::estimate_rounds(vals, &rounds, 0.95).unwrap(),
            );
        }
        // Scenarios with only outcome facts still appear.
        for (s, v, _) in self.facts.keys() {
            let sc = scen.entry(s.clone()).or_insert_with(|| ScenarioSummary {
                id: s.clone(),
                title: s.clone(),
                claims: vec![],
                workload: "work".into(),
                variants: vec![],
                counts: BTreeMap::new(),
                problems: vec![],
                metrics: BTreeMap::new(),
                ratios: BTreeMap::new(),
                capacity_rps: None,
            });
            if !sc.variants.contains(v) {
                sc.variants.push(v.clone());
            }
        }
        Summary {
            schema_version: 2,
            profile: "syn".into(),
            generated_at: "2026-12-01T00:00:00Z".into(),
            complete: true,
            interrupted: false,
            confidence_level: 0.95,
            trials: Counts::default(),
            scenarios: scen.into_values().collect(),
        }
    }
    fn eval(&self, c: &Claims, ex: &Expanded) -> Verdicts {
        let facts: Vec<TrialFacts> = self.facts.values().cloned().collect();
        let s = self.summary();
        evaluate(
            c,
            ex,
            &Evidence {
                summary: &s,
                trials: &facts,
            },
        )
    }
}

/// What a comparison's value should be.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Supported,
    Refuted,
    /// Its interval straddles a boundary, or sits in a gap.
    Unclear,
}

/// A point well inside a piece of a union.
fn inside(p: &Piece, mode: Mode) -> f64 {
    match (p.lo.is_finite(), p.hi.is_finite(), mode) {
        (true, true, _) => (p.lo + p.hi) / 2.0,
        (true, false, Mode::Ratio) if p.lo > 0.0 => p.lo * 2.0,
        (true, false, _) => p.lo + p.lo.abs().max(1.0),
        (false, true, Mode::Ratio) if p.hi > 0.0 => p.hi / 2.0,
        (false, true, _) => p.hi - p.hi.abs().max(1.0),
        _ => 1.0,
    }
}

/// Per-round target values (ratios or differences) for `want`.
fn targets(u_sup: &Union, u_ref: &Union, mode: Mode, want: Want, rounds: usize) -> Vec<f64> {
    let pick = |u: &Union| {
        let p = u
            .pieces
            .iter()
            .find(|p| mode == Mode::Difference || p.hi > 0.0)
            .unwrap_or(&u.pieces[0]);
        let mut x = inside(p, mode);
        if mode == Mode::Ratio && x <= 0.0 {
            x = 1e-3;
        }
        vec![x; rounds]
    };
    match want {
        Want::Supported => pick(u_sup),
        Want::Refuted => pick(u_ref),
        Want::Unclear => {
            // Alternate across the first boundary: the interval spans it.
            let b = u_sup.boundaries().first().copied().unwrap_or(1.0);
            let (lo, hi) = match mode {
                Mode::Ratio if b > 0.0 => (b * 0.6, b / 0.6),
                _ => (b - 1.0 - b.abs() * 0.5, b + 1.0 + b.abs() * 0.5),
            };
            (0..rounds)
                .map(|i| if i % 2 == 0 { lo } else { hi })
                .collect()
        }
    }
}

fn base(rounds: usize) -> Vec<f64> {
    (0..rounds).map(|i| 100.0 + (i % 3) as f64).collect()
}

/// Puts values in `syn` so that comparison `c` comes out as `want`.
/// Returns false when earlier comparisons already fixed both its sides.
fn place(syn: &mut Syn, claims: &Claims, c: &expand::Comparison, want: Want) -> bool {
    let check = &claims.claims[c.claim].checks[c.check];
    let n = syn.rounds;
    let combine = |mode: Mode, b: &[f64], t: &[f64]| -> Vec<f64> {
        b.iter()
            .zip(t)
            .map(|(x, t)| if mode == Mode::Ratio { x * t } else { x + t })
            .collect()
    };
    let invert = |mode: Mode, a: &[f64], t: &[f64]| -> Vec<f64> {
        a.iter()
            .zip(t)
            .map(|(x, t)| if mode == Mode::Ratio { x / t } else { x - t })
            .collect()
    };
    let (a, b, mode) = match &c.sides {
        Sides::Paired { a, b, mode } => (a.clone(), b.clone(), *mode),
        Sides::WithinTrial { side, of, mode } => (
            side.clone(),
            SideRef {
                metric: of.clone(),
                ..side.clone()
            },
            *mode,
        ),
        _ => unreachable!("single and outcome sides are placed elsewhere"),
    };
    let d = check.rule.decide().unwrap();
    let t = targets(&d.supported, &d.refuted, mode, want, n);
    match (syn.get(&a).cloned(), syn.get(&b).cloned()) {
        (None, None) => {
            syn.set(&b, base(n));
            syn.set(&a, combine(mode, &base(n), &t));
        }
        (None, Some(bv)) => syn.set(&a, combine(mode, &bv, &t)),
        (Some(av), None) => syn.set(&b, invert(mode, &av, &t)),
        (Some(av), Some(bv)) => {
            // Both sides were fixed by earlier comparisons: fine if what
            // they give already comes out as wanted.
            let got = invert(mode, &av, &bv);
            let achieved: Vec<f64> = if mode == Mode::Ratio {
                av.iter().zip(&bv).map(|(x, y)| x / y).collect()
            } else {
                got.iter().zip(&av).map(|(g, x)| x - g).collect()
            };
            let lo = achieved.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = achieved.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            return match want {
                Want::Supported => d.supported.holding(lo, hi).is_some(),
                Want::Refuted => d.refuted.holding(lo, hi).is_some(),
                Want::Unclear => {
                    d.supported.holding(lo, hi).is_none() && d.refuted.holding(lo, hi).is_none()
                }
            };
        }
    }
    true
}

fn place_single(syn: &mut Syn, claims: &Claims, c: &expand::Comparison, want: Want) -> bool {
    let check = &claims.claims[c.claim].checks[c.check];
    match &c.sides {
        Sides::Single { side } => {
            let d = check.rule.decide().unwrap();
            if let Some(v) = syn.get(side) {
                let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                return match want {
                    Want::Supported => d.supported.holding(lo, hi).is_some(),
                    Want::Refuted => d.refuted.holding(lo, hi).is_some(),
                    Want::Unclear => {
                        d.supported.holding(lo, hi).is_none() && d.refuted.holding(lo, hi).is_none()
                    }
                };
            }
            let t = targets(&d.supported, &d.refuted, Mode::Difference, want, syn.rounds);
            syn.set(side, t);
            true
        }
        Sides::Outcome {
            scenario,
            variant,
            fails_on,
        } => {
            let Rule::Outcome {
                if_ok, if_failed, ..
            } = &check.rule
            else {
                unreachable!()
            };
            let fail = match want {
                Want::Supported => *if_failed == Verdict::Supported,
                Want::Refuted => *if_failed == Verdict::Refuted,
                Want::Unclear => {
                    // Too few measured trials: all invalid.
                    for r in 0..syn.rounds {
                        syn.fact(scenario, variant, r).status = Status::Invalid;
                    }
                    return true;
                }
            };
            let _ = if_ok;
            for r in 0..syn.rounds {
                let f = syn.fact(scenario, variant, r);
                if fail && r == 0 {
                    match fails_on[0] {
                        Failure::Crashed => f.crashed = true,
                        Failure::Errors => f.errors = 3,
                        Failure::Timeouts => f.timeouts = 3,
                        Failure::Overloaded => f.overloaded = true,
                    }
                    f.server_ok = false;
                }
            }
            true
        }
        _ => place(syn, claims, c, want),
    }
}

fn shipped() -> (Claims, Vec<Profile>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let claims = claims::load(root).unwrap();
    let profiles = ["quick", "full"]
        .iter()
        .map(|p| profile::load(root, p).unwrap().0)
        .collect();
    (claims, profiles)
}

/// Evaluates one claim with every counted comparison placed as `want(i)`.
fn claim_with(
    claims: &Claims,
    ex: &Expanded,
    ci: usize,
    rounds: usize,
    want: &dyn Fn(usize) -> Want,
) -> (ClaimResult, bool) {
    let mut syn = Syn::new(rounds);
    let mut ok = true;
    let mut i = 0;
    for plan in ex.checks.iter().filter(|k| k.claim == ci) {
        let check = &claims.claims[ci].checks[plan.check];
        for c in &plan.comparisons {
            let w = if check.informational {
                Want::Supported
            } else {
                want(i)
            };
            if !check.informational {
                i += 1;
            }
            let placed = place_single(&mut syn, claims, c, w);
            ok &= placed || check.informational;
        }
    }
    (syn.eval(claims, ex).claims[ci].clone(), ok)
}

// ------------------------------------------------------------ shipped claims

#[test]
fn every_shipped_claim_reaches_its_verdict_words() {
    let (claims, profiles) = shipped();
    for p in &profiles {
        let ex = expand::expand(p, &claims).unwrap();
        for (ci, claim) in claims.claims.iter().enumerate() {
            let counted: usize = ex
                .checks
                .iter()
                .filter(|k| k.claim == ci && !claims.claims[ci].checks[k.check].informational)
                .map(|k| k.comparisons.len())
                .sum();
            if counted == 0 {
                continue;
            }
            let ctx = format!("{} in {}", claim.id, p.name);
            let (r, ok) = claim_with(&claims, &ex, ci, 6, &|_| Want::Supported);
            assert!(ok, "{ctx}: sides fixed twice");
            assert_eq!(r.verdict, Verdict::Supported, "{ctx}: {r:#?}");
            let (r, _) = claim_with(&claims, &ex, ci, 6, &|_| Want::Refuted);
            assert_eq!(r.verdict, Verdict::Refuted, "{ctx}");
            let (r, _) = claim_with(&claims, &ex, ci, 6, &|_| Want::Unclear);
            assert_eq!(r.verdict, Verdict::Inconclusive, "{ctx}");
            // Mixed: the first counted condition supported, the others
            // refuted, with enough rounds for Holm over all of them.
            if counted >= 2 && claim.combine == Combine::All {
                let (r, _) = claim_with(&claims, &ex, ci, 14, &|i| {
                    if i == 0 {
                        Want::Supported
                    } else {
                        Want::Refuted
                    }
                });
                assert_eq!(r.verdict, Verdict::Mixed, "{ctx}: {:?}", r.basis);
            }
        }
    }
}

/// Every comparison a counted check makes gets at least six paired rounds
/// (96.9 %) in both shipped profiles; a check that says fewer suffice (a
/// compile fact, an outcome) gets at least that many.
#[test]
fn every_checked_comparison_gets_six_rounds() {
    let (claims, profiles) = shipped();
    for p in &profiles {
        let ex = expand::expand(p, &claims).unwrap();
        for plan in &ex.checks {
            let check = &claims.claims[plan.claim].checks[plan.check];
            let need = check.min_rounds.unwrap_or(6);
            for c in &plan.comparisons {
                for sc in c.sides.scenarios() {
                    let rounds = p
                        .scenarios
                        .iter()
                        .find(|s| s.id == sc)
                        .map(|s| s.repeats(&p.defaults))
                        .or_else(|| {
                            p.micro
                                .iter()
                                .find(|m| m.id == sc)
                                .map(|m| m.repeats.unwrap_or(p.defaults.repeats))
                        })
                        .unwrap();
                    assert!(
                        rounds >= need || check.informational,
                        "{}: {} / {}: {sc} runs {rounds} rounds, needs {need}",
                        p.name,
                        claims.claims[plan.claim].id,
                        check.name
                    );
                }
            }
        }
    }
}

#[test]
fn the_shipped_profiles_expand_with_every_metric_known() {
    let (claims, profiles) = shipped();
    for p in &profiles {
        let ex = expand::expand(p, &claims).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        assert!(!ex.aa.is_empty(), "{}: no A/A control", p.name);
        // Baseline scenarios share rounds with what is compared with them.
        assert!(
            ex.linked_scenarios()
                .contains(&("hol-cpu-10ms".into(), "hol-baseline".into())),
            "{}",
            p.name
        );
    }
}

// ------------------------------------------------------------ rules

fn one(rule: &str) -> (Claims, Profile) {
    let c = claims::parse(
        Path::new("c.toml"),
        &claims::tests::one_check(rule)
            .replace("scenarios = [\"a\"]", "scenarios = [\"s\", \"t\"]"),
    )
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let vtext = std::fs::read_to_string(root.join("harness/variants.toml")).unwrap();
    let variants = profile::parse_variants(Path::new("v.toml"), &vtext).unwrap();
    let p = profile::parse_profile(
        Path::new("p.toml"),
        r#"
        name = "p"
        description = "p"
        [[scenario]]
        id = "s"
        title = "s"
        claims = ["C1"]
        workload = "echo"
        variants = ["go", "rust"]
        aa_control = ["go"]
        [[scenario.client]]
        model = "closed"
        conns = 1
        size_bytes = 64
        [[scenario]]
        id = "t"
        title = "t"
        claims = ["C1"]
        workload = "echo"
        variants = ["go", "rust"]
        [[scenario.client]]
        model = "closed"
        conns = 1
        size_bytes = 64
        "#,
        &variants,
    )
    .unwrap();
    (c, p)
}

/// A profile of closed-loop echo scenarios with these ids (go, rust).
fn profile_with(ids: &[&str]) -> Profile {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let vtext = std::fs::read_to_string(root.join("harness/variants.toml")).unwrap();
    let variants = profile::parse_variants(Path::new("v.toml"), &vtext).unwrap();
    let mut text = "name = \"p\"\ndescription = \"p\"\n".to_string();
    for id in ids {
        text += &format!(
            "[[scenario]]\nid = \"{id}\"\ntitle = \"{id}\"\nclaims = [\"C1\"]\nworkload = \"echo\"\nvariants = [\"go\", \"rust\"]\n[[scenario.client]]\nmodel = \"closed\"\nconns = 1\nsize_bytes = 64\n"
        );
    }
    profile::parse_profile(Path::new("p.toml"), &text, &variants).unwrap()
}

const CPU: &str = "server.cpu_us_per_request";

fn side(s: &str, v: &str, m: &str) -> SideRef {
    SideRef {
        scenario: s.into(),
        variant: v.into(),
        metric: m.into(),
    }
}

#[test]
fn a_list_of_regions_is_their_union() {
    // Refuted: above 1.1 or within [0.9, 1.1]; an interval [0.95, 1.15]
    // lies in their union, so it is refuted (not inconclusive).
    let (c, p) = one(&format!(
        "kind = \"ratio\"\nmetric = \"{CPU}\"\nnumerator = [\"rust\"]\ndenominator = [\"go\"]\nsupported = {{ below = 0.9 }}\nrefuted = [{{ above = 1.1 }}, {{ within = [0.9, 1.1] }}]"
    ));
    let ex = expand::expand(&p, &c).unwrap();
    let mut syn = Syn::new(6);
    for s in ["s", "t"] {
        syn.set(&side(s, "go", CPU), vec![100.0; 6]);
        syn.set(
            &side(s, "rust", CPU),
            vec![95.0, 115.0, 100.0, 105.0, 98.0, 110.0],
        );
    }
    let v = syn.eval(&c, &ex);
    let k = &v.claims[0].checks[0];
    let val = k.conditions[0].value.as_ref().unwrap();
    assert!(
        (val.lo - 0.95).abs() < 1e-9 && (val.hi - 1.15).abs() < 1e-9,
        "{val:?}"
    );
    assert_eq!(k.verdict, Verdict::Refuted, "{:?}", k.basis);
}

#[test]
fn a_per_trial_ratio_is_taken_before_the_median() {
    // light / heavy per trial: 0.6 in every round although the medians of
    // the two sides, taken apart, would give 50/100 = 0.5.
    let (c, p) = one(
        "kind = \"within_trial\"\nmetric = \"main.latency_us.corrected.p99\"\nof = \"main.latency_us.uncorrected.p50\"\nvariants = [\"rust\"]\nsupported = { above = 0.55 }\nrefuted = { below = 0.2 }",
    );
    let ex = expand::expand(&p, &c).unwrap();
    let mut syn = Syn::new(6);
    let heavy = [50.0, 60.0, 100.0, 110.0, 150.0, 160.0];
    let light: Vec<f64> = heavy.iter().map(|h| h * 0.6).collect();
    for s in ["s", "t"] {
        syn.set(
            &side(s, "rust", "main.latency_us.uncorrected.p50"),
            heavy.to_vec(),
        );
        syn.set(
            &side(s, "rust", "main.latency_us.corrected.p99"),
            light.clone(),
        );
    }
    let v = syn.eval(&c, &ex);
    let cond = &v.claims[0].checks[0].conditions[0];
    let val = cond.value.as_ref().unwrap();
    assert!(
        (val.point - 0.6).abs() < 1e-9 && (val.lo - 0.6).abs() < 1e-9,
        "{val:?}"
    );
    assert_eq!(val.method, Method::OrderStatistic);
    assert_eq!(v.claims[0].verdict, Verdict::Supported);
}

#[test]
fn a_corrected_latency_is_bracketed_by_its_uncorrected_one() {
    // rust 40 µs against go 100 µs: 0.4×, below 0.5. But go's p99 counted
    // from the actual send is 70 µs (its generator ran late): a server
    // that could have shown 70 makes the ratio up to 0.57, across 0.5.
    // Every round is kept; the interval covers the bracket.
    const P99: &str = "main.latency_us.corrected.p99";
    const FLOOR: &str = "main.latency_us.uncorrected.p99";
    let (c, p) = one(&format!(
        "kind = \"ratio\"\nmetric = \"{P99}\"\nnumerator = [\"rust\"]\ndenominator = [\"go\"]\nsupported = {{ below = 0.5 }}\nrefuted = {{ above = 0.8 }}"
    ));
    let ex = expand::expand(&p, &c).unwrap();
    let run = |go_floor: f64| {
        let mut syn = Syn::new(6);
        for s in ["s", "t"] {
            syn.set(&side(s, "go", P99), vec![100.0; 6]);
            syn.set(&side(s, "go", FLOOR), vec![go_floor; 6]);
            syn.set(&side(s, "rust", P99), vec![40.0; 6]);
            syn.set(&side(s, "rust", FLOOR), vec![40.0; 6]);
        }
        let v = syn.eval(&c, &ex);
        let cond = v.claims[0].checks[0].conditions[0].clone();
        (v.claims[0].verdict, cond)
    };
    let (verdict, cond) = run(70.0);
    let val = cond.value.unwrap();
    assert_eq!(val.n, 6, "no round is left out");
    assert!(cond.left_out.is_empty());
    assert!((val.point - 0.4).abs() < 1e-9, "{val:?}");
    assert!((val.lo - 0.4).abs() < 1e-9 && (val.hi - 40.0 / 70.0).abs() < 1e-9);
    assert!((val.bracket_share.unwrap() - 0.3).abs() < 1e-9);
    assert_eq!(verdict, Verdict::Inconclusive);
    // A late generator that cannot move the ratio across 0.5 decides.
    let (verdict, cond) = run(90.0);
    assert!((cond.value.unwrap().hi - 40.0 / 90.0).abs() < 1e-9);
    assert_eq!(verdict, Verdict::Supported);
    // Nothing between the two: nothing widened.
    let (_, cond) = run(100.0);
    assert_eq!(cond.value.unwrap().bracket_share, None);
}

#[test]
fn a_per_trial_ratio_spans_its_numerators_bracket() {
    // light p99 / heavy p50 per trial: 0.6 measured, 0.3 counted from the
    // actual sends; supported above 0.5 only if the bracket stays above.
    const P99: &str = "main.latency_us.corrected.p99";
    let (c, p) = one(&format!(
        "kind = \"within_trial\"\nmetric = \"{P99}\"\nof = \"main.latency_us.uncorrected.p50\"\nvariants = [\"rust\"]\nsupported = {{ above = 0.5 }}\nrefuted = {{ below = 0.2 }}"
    ));
    let ex = expand::expand(&p, &c).unwrap();
    let mut syn = Syn::new(6);
    for s in ["s", "t"] {
        syn.set(
            &side(s, "rust", "main.latency_us.uncorrected.p50"),
            vec![100.0; 6],
        );
        syn.set(&side(s, "rust", P99), vec![60.0; 6]);
        syn.set(
            &side(s, "rust", "main.latency_us.uncorrected.p99"),
            vec![30.0; 6],
        );
    }
    let v = syn.eval(&c, &ex);
    let val = v.claims[0].checks[0].conditions[0].value.clone().unwrap();
    assert!(
        (val.point - 0.6).abs() < 1e-9 && (val.lo - 0.3).abs() < 1e-9,
        "{val:?}"
    );
    assert_eq!(v.claims[0].verdict, Verdict::Inconclusive);
}

#[test]
fn paired_rounds_cancel_drift_between_rounds() {
    // Both sides drift from 100 to 200 over the rounds; rust is 0.8× go in
    // every round. Unpaired, the spread would hide it; paired it is exact.
    let (c, p) = one(&format!(
        "kind = \"ratio\"\nmetric = \"{CPU}\"\nnumerator = [\"rust\"]\ndenominator = [\"go\"]\nsupported = {{ below = 0.9 }}\nrefuted = [{{ above = 1.1 }}, {{ within = [0.9, 1.1] }}]"
    ));
    let ex = expand::expand(&p, &c).unwrap();
    let mut syn = Syn::new(6);
    let go: Vec<f64> = (0..6).map(|i| 100.0 + 20.0 * i as f64).collect();
    for s in ["s", "t"] {
        syn.set(&side(s, "go", CPU), go.clone());
        syn.set(&side(s, "rust", CPU), go.iter().map(|x| x * 0.8).collect());
    }
    let v = syn.eval(&c, &ex);
    let val = v.claims[0].checks[0].conditions[0].value.clone().unwrap();
    assert!(
        (val.point - 0.8).abs() < 1e-9 && (val.hi - 0.8).abs() < 1e-9,
        "{val:?}"
    );
    assert!((val.coverage - 0.968_75).abs() < 1e-9);
    assert_eq!(val.method, Method::SignedRank);
    assert_eq!(v.claims[0].verdict, Verdict::Supported);
}

#[test]
fn mixed_needs_both_sides_beyond_chance_after_holm() {
    let rule = format!(
        "kind = \"ratio\"\nmetric = \"{CPU}\"\nnumerator = [\"rust\"]\ndenominator = [\"go\"]\nsupported = {{ below = 0.9 }}\nrefuted = {{ above = 1.1 }}"
    );
    let (c, p) = one(&rule);
    let ex = expand::expand(&p, &c).unwrap();
    let run = |rounds: usize| {
        let mut syn = Syn::new(rounds);
        syn.set(&side("s", "go", CPU), base(rounds));
        syn.set(
            &side("s", "rust", CPU),
            base(rounds).iter().map(|x| x * 0.5).collect(),
        );
        syn.set(&side("t", "go", CPU), base(rounds));
        syn.set(
            &side("t", "rust", CPU),
            base(rounds).iter().map(|x| x * 2.0).collect(),
        );
        syn.eval(&c, &ex)
    };
    // Five rounds: each condition's p is (1 - 0.9375)/2 = 0.031, above
    // 0.05/2 for two conditions: not both beyond chance, so not mixed.
    let v = run(5);
    assert_eq!(v.claims[0].verdict, Verdict::Inconclusive);
    assert_eq!(v.claims[0].basis, Basis::ConflictNotSignificant);
    // Six rounds: p = 0.0156 each, within Holm's 0.025 and 0.05: mixed.
    let v = run(6);
    assert_eq!(v.claims[0].verdict, Verdict::Mixed);
    assert!(
        v.claims[0].checks[0]
            .conditions
            .iter()
            .all(|c| c.significant)
    );
}

#[test]
fn any_is_satisfied_by_one_check_all_by_every() {
    let text = |combine: &str| {
        format!(
            r#"{}
[[claim]]
id = "X"
title = "t"
statement = "s"
prediction = "p"
experiment = "e"
combine = "{combine}"
headline = {{ check = "crash", text = "{{value}}" }}
[[claim.check]]
name = "crash"
statement = "s"
why = "w"
scenarios = ["s"]
[claim.check.rule]
kind = "outcome"
variants = ["rust"]
fails_on = ["crashed", "timeouts"]
if_ok = "refuted"
if_failed = "supported"
[[claim.check]]
name = "slow"
statement = "s"
why = "w"
scenarios = ["s"]
[claim.check.rule]
kind = "threshold"
metric = "{CPU}"
variants = ["rust"]
supported = {{ above = 3.0 }}
refuted = {{ below = 1.5 }}
"#,
            claims::tests::HEAD
        )
    };
    let (_, p) = one(
        "kind = \"threshold\"\nmetric = \"m\"\nsupported = { below = 1.0 }\nrefuted = { above = 2.0 }",
    );
    for (combine, want) in [("any", Verdict::Supported), ("all", Verdict::Mixed)] {
        let c = claims::parse(Path::new("c.toml"), &text(combine)).unwrap();
        let ex = expand::expand(&p, &c).unwrap();
        let mut syn = Syn::new(6);
        // Alive and answering (crash refuted), but slow (supported).
        syn.set(&side("s", "rust", CPU), vec![5.0; 6]);
        let v = syn.eval(&c, &ex);
        assert_eq!(
            v.claims[0].verdict, want,
            "{combine}: {:?}",
            v.claims[0].basis
        );
    }
    // `any` with a check supported in each of many conditions, none of
    // them beyond chance after Holm over the claim (4 scenarios, 6 rounds:
    // p = 0.0156 each against α/4): still supported.
    let many = text("any").replace(
        "scenarios = [\"s\"]",
        "scenarios = [\"s\", \"t\", \"u\", \"w\"]",
    );
    let c = claims::parse(Path::new("c.toml"), &many).unwrap();
    let p4 = profile_with(&["s", "t", "u", "w"]);
    let ex = expand::expand(&p4, &c).unwrap();
    let mut syn = Syn::new(6);
    for s in ["s", "t", "u", "w"] {
        syn.set(&side(s, "rust", CPU), vec![5.0; 6]);
    }
    let v = syn.eval(&c, &ex);
    let slow = &v.claims[0].checks[1];
    assert_eq!(slow.conditions.len(), 4);
    assert!(slow.conditions.iter().all(|c| !c.significant));
    assert_eq!(v.claims[0].verdict, Verdict::Supported);
    // `any`: a server that stops answering is a result, so the claim is
    // supported although its latency cannot be used.
    let c = claims::parse(Path::new("c.toml"), &text("any")).unwrap();
    let ex = expand::expand(&p, &c).unwrap();
    let mut syn = Syn::new(6);
    syn.set(&side("s", "rust", CPU), vec![5.0; 6]);
    for r in 0..6 {
        let f = syn.fact("s", "rust", r);
        f.timeouts = 40;
        f.server_ok = false;
    }
    let v = syn.eval(&c, &ex);
    assert_eq!(v.claims[0].verdict, Verdict::Supported);
    let slow = &v.claims[0].checks[1];
    assert!(matches!(
        slow.conditions[0].decision,
        Decision::NoData { .. }
    ));
}

#[test]
fn invalid_measurements_and_server_outcomes_are_kept_apart() {
    let (c, p) = one(&format!(
        "kind = \"ratio\"\nmetric = \"{CPU}\"\nnumerator = [\"rust\"]\ndenominator = [\"go\"]\nsupported = {{ below = 0.9 }}\nrefuted = {{ above = 1.1 }}"
    ));
    let ex = expand::expand(&p, &c).unwrap();
    let mut syn = Syn::new(6);
    for s in ["s", "t"] {
        syn.set(&side(s, "go", CPU), base(6));
        syn.set(
            &side(s, "rust", CPU),
            base(6).iter().map(|x| x * 0.5).collect(),
        );
    }
    // One invalid measurement: five rounds left, still decided (93.8 %).
    syn.fact("s", "rust", 2).status = Status::Invalid;
    syn.fact("s", "rust", 2).problems = vec!["send lag p99 4000 µs".into()];
    let v = syn.eval(&c, &ex);
    let cond = &v.claims[0].checks[0].conditions[0];
    assert!(matches!(cond.decision, Decision::Supported { .. }));
    assert_eq!(cond.left_out.len(), 1);
    assert!(matches!(cond.left_out[0].why, LeftOutWhy::Invalid { .. }));
    assert!((cond.value.as_ref().unwrap().coverage - 0.9375).abs() < 1e-9);
    // Two server failures in the other scenario: too few rounds, with the
    // reason named as the server's, not the instrument's.
    for r in [0, 1] {
        let f = syn.fact("t", "go", r);
        f.server_ok = false;
        f.crashed = true;
        f.problems = vec!["server exited".into()];
    }
    let v = syn.eval(&c, &ex);
    let cond = &v.claims[0].checks[0].conditions[1];
    match &cond.decision {
        Decision::NoData {
            problem: Problem::TooFewRounds {
                usable, left_out, ..
            },
        } => {
            assert_eq!(*usable, 4);
            assert!(
                left_out
                    .iter()
                    .all(|l| matches!(l.why, LeftOutWhy::ServerOutcome { .. }))
            );
        }
        d => panic!("{d:?}"),
    }
    assert_eq!(v.claims[0].verdict, Verdict::Inconclusive);
}

#[test]
fn client_bound_trials_decide_nothing_for_a_server_bound_check() {
    let (c, p) = one(
        "kind = \"ratio\"\nmetric = \"main.achieved_rps\"\nnumerator = [\"rust\"]\ndenominator = [\"go\"]\nsupported = { above = 1.1 }\nrefuted = { below = 0.9 }",
    );
    let mut c = c;
    c.claims[0].checks[0].server_bound = true;
    let ex = expand::expand(&p, &c).unwrap();
    let mut syn = Syn::new(6);
    for s in ["s", "t"] {
        syn.set(&side(s, "go", "main.achieved_rps"), base(6));
        syn.set(
            &side(s, "rust", "main.achieved_rps"),
            base(6).iter().map(|x| x * 2.0).collect(),
        );
        for r in 0..6 {
            syn.fact(s, "rust", r).client_bound = true;
        }
    }
    let v = syn.eval(&c, &ex);
    let cond = &v.claims[0].checks[0].conditions[0];
    match &cond.decision {
        Decision::NoData {
            problem: Problem::TooFewRounds { left_out, .. },
        } => assert!(matches!(left_out[0].why, LeftOutWhy::ClientBound)),
        d => panic!("{d:?}"),
    }
}

#[test]
fn an_overload_counts_where_the_check_measures_it_and_nothing_worse_does() {
    let (c, p) = one(&format!(
        "kind = \"ratio\"\nmetric = \"{CPU}\"\nnumerator = [\"rust\"]\ndenominator = [\"go\"]\nsupported = {{ below = 0.5 }}\nrefuted = {{ above = 0.8 }}"
    ));
    let ex = expand::expand(&p, &c).unwrap();
    let mut syn = Syn::new(6);
    for s in ["s", "t"] {
        syn.set(
            &side(s, "go", CPU),
            base(6).iter().map(|x| x * 5.0).collect(),
        );
        syn.set(&side(s, "rust", CPU), base(6));
    }
    // The starved side is overloaded in two rounds of "s"; in "t" one of
    // those two rounds also timed out.
    for (s, r) in [("s", 0), ("s", 1), ("t", 0), ("t", 1)] {
        let f = syn.fact(s, "go", r);
        f.server_ok = false;
        f.overloaded = true;
        f.problems = vec!["overloaded: 219 of 240".into()];
    }
    syn.fact("t", "go", 1).timeouts = 3;
    let usable = |v: &Verdicts, i: usize| usable_rounds(&v.claims[0].checks[0].conditions[i]);
    // By default a server failure leaves the round out: 4 of 6 left.
    let v = syn.eval(&c, &ex);
    assert_eq!(usable(&v, 0), 4);
    // Counted where the overload is the effect: all 6 in "s"; in "t" the
    // round that also timed out is still left out.
    let mut c = c;
    c.claims[0].checks[0].counts_overloaded = true;
    let v = syn.eval(&c, &ex);
    let cond = &v.claims[0].checks[0].conditions[0];
    assert!(
        matches!(cond.decision, Decision::Supported { .. }),
        "{cond:?}"
    );
    assert!(cond.left_out.is_empty());
    let cond = &v.claims[0].checks[0].conditions[1];
    assert_eq!(cond.left_out.len(), 1);
    assert!(matches!(
        cond.left_out[0].why,
        LeftOutWhy::ServerOutcome { .. }
    ));
}

#[test]
fn a_late_generator_voids_timings_but_not_a_count_the_server_kept() {
    let (c, p) = one(
        "kind = \"threshold\"\nmetric = \"server.threads_in_window_max\"\nsupported = { below = 20.0 }\nrefuted = { above = 500.0 }",
    );
    let ex = expand::expand(&p, &c).unwrap();
    let mut syn = Syn::new(6);
    for s in ["s", "t"] {
        for v in ["go", "rust"] {
            syn.set(&side(s, v, "server.threads_in_window_max"), vec![6.0; 6]);
        }
    }
    // Rounds 0 and 1 of go in "s": invalid, one only for lateness.
    for r in [0, 1] {
        let f = syn.fact("s", "go", r);
        f.status = Status::Invalid;
        f.problems = vec!["send lag p99 3660 µs exceeds 1000 µs".into()];
    }
    syn.fact("s", "go", 0).late_only = true;
    let usable = |v: &Verdicts| -> Vec<usize> {
        v.claims[0].checks[0]
            .conditions
            .iter()
            .map(usable_rounds)
            .collect()
    };
    // Conditions in order: s/go, s/rust, t/go, t/rust.
    assert_eq!(usable(&syn.eval(&c, &ex)), vec![4, 6, 6, 6]);
    let mut c = c;
    c.claims[0].checks[0].timing_free = true;
    // The late-only round counts again; the other invalid one does not.
    let v = syn.eval(&c, &ex);
    assert_eq!(usable(&v), vec![5, 6, 6, 6]);
    assert_eq!(v.claims[0].verdict, Verdict::Supported);
}

/// Rounds a condition used (6 in these tests, less those left out).
fn usable_rounds(c: &ConditionResult) -> usize {
    match &c.decision {
        Decision::NoData {
            problem: Problem::TooFewRounds { usable, .. },
        } => *usable,
        _ => 6 - c.left_out.len(),
    }
}

#[test]
fn a_misspelt_metric_is_refused_with_the_closest_name() {
    let (c, p) = one(
        "kind = \"ratio\"\nmetric = \"server.cpu_us_per_requests\"\nnumerator = [\"rust\"]\ndenominator = [\"go\"]\nsupported = { below = 0.9 }\nrefuted = { above = 1.1 }",
    );
    let e = expand::expand(&p, &c).unwrap_err().to_string();
    assert!(e.contains("claim 'X', check 'k'"), "{e}");
    assert!(e.contains("\"server.cpu_us_per_request\""), "{e}");
    // The old C13 typo: a class's requested wait is `io_arg_us`.
    let (c, p) = one(
        "kind = \"within_trial\"\nmode = \"difference\"\nmetric = \"main.latency_us.uncorrected.p50\"\nof = \"main.spec.io_arg\"\nsupported = { below = 500.0 }\nrefuted = { above = 900.0 }",
    );
    assert!(expand::expand(&p, &c).is_err());
}

// ------------------------------------------------------------ the A/A control

/// A/A on synthetic data from one distribution: over 1,000 fixed seeds the
/// false-difference rate stays within what the interval's coverage allows,
/// and a real shift of the margin's size is detected in most seeds.
#[test]
fn aa_control_false_differences_stay_within_coverage() {
    let (c, p) = one(&format!(
        "kind = \"ratio\"\nmetric = \"{CPU}\"\nnumerator = [\"rust\"]\ndenominator = [\"go\"]\nsupported = {{ below = 0.9 }}\nrefuted = [{{ above = 1.1 }}, {{ within = [0.9, 1.1] }}]"
    ));
    let ex = expand::expand(&p, &c).unwrap();
    assert_eq!(ex.aa.len(), 1, "{:?}", ex.aa);
    assert!((ex.aa[0].margin - 1.0 / 0.9).abs() < 1e-9);
    let mut false_diff = 0;
    let mut detected = 0;
    let mut contains_truth = 0;
    for seed in 0..1000u64 {
        let mut rng = stats::SplitMix64::new(seed);
        // 4 % per-trial noise (lognormal) around a drift shared by the
        // round (the pairing removes it).
        let mut draw = |drift: f64| 100.0 * drift * (0.04 * rng.normal()).exp();
        let mut syn = Syn::new(6);
        let (mut go, mut copy, mut shifted) = (vec![], vec![], vec![]);
        for r in 0..6 {
            let drift = 1.0 + 0.05 * r as f64;
            go.push(draw(drift));
            copy.push(draw(drift));
            shifted.push(draw(drift) / 0.9);
        }
        syn.set(&side("s", "go", CPU), go.clone());
        syn.set(&side("s", "go-aa", CPU), copy.clone());
        let v = syn.eval(&c, &ex);
        let a = &v.aa[0];
        if a.false_difference {
            false_diff += 1;
        }
        let val = a.value.as_ref().unwrap();
        if val.lo <= 1.0 && 1.0 <= val.hi {
            contains_truth += 1;
        }
        syn.set(&side("s", "go-aa", CPU), shifted);
        let v = syn.eval(&c, &ex);
        if v.aa[0].value.as_ref().is_some_and(|x| x.lo > 1.0) {
            detected += 1;
        }
    }
    // The interval covers the true ratio (1) at least at its coverage
    // (96.9 %); a false difference needs it wholly beyond 1.11, rarer still.
    assert!(contains_truth >= 955, "coverage: {contains_truth} of 1000");
    assert!(false_diff <= 1000 - 955, "false differences: {false_diff}");
    // A real shift of the margin's size (1/0.9) is told from no difference
    // (the interval excludes 1) in most seeds.
    assert!(detected >= 800, "detected {detected} of 1000");
}
