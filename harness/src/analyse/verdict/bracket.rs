//! A round's figure as a bracket. A corrected latency percentile counts
//! from each request's intended send time, so the load generator's own
//! lateness (a timer that woke late, its CPU taken) may be in it; the same
//! percentile counted from the actual send (uncorrected) has none of it.
//! What the server would have shown a generator that kept its schedule
//! exactly lies between the two: for a server that answers in arrival
//! order every request's latency does (a later send never makes a response
//! come sooner, nor the wait after the send longer), so every percentile
//! does. Not covered: late requests that went out together and queued
//! behind each other; a send lag p99 over 1 ms, or over one inter-send
//! gap of a slower schedule (a burst held back), already makes the run
//! invalid.
//!
//! Rules decide on intervals that cover the whole bracket: each extreme
//! pairing of the sides (one at its lowest against the other at its
//! highest) gets its own interval, and the decision uses their union. A
//! claim is then decided only if it holds wherever in its bracket each
//! round's figure really was, instead of leaving out the rounds whose
//! generator was late (this machine's timer wake-ups are late by tens of
//! µs at p99, which a 100 µs p99 cannot ignore).

use super::Value;
use crate::analyse::stats::Nested;
use crate::config::claims::Mode;

/// One round's figure: as measured, and its bracket (`lo ≤ value ≤ hi`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Round {
    pub round: usize,
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Round {
    #[cfg(test)]
    pub fn exact(round: usize, value: f64) -> Round {
        Round {
            round,
            value,
            lo: value,
            hi: value,
        }
    }
    fn widened(&self) -> bool {
        self.lo < self.value || self.hi > self.value
    }
}

/// The metric holding the other end of `metric`'s bracket: the uncorrected
/// percentile of a corrected one; None for every other metric.
pub fn floor_metric(metric: &str) -> Option<String> {
    let (head, p) = metric.rsplit_once("latency_us.corrected.")?;
    (head.is_empty() || head.ends_with('.')).then(|| format!("{head}latency_us.uncorrected.{p}"))
}

/// A round's bracket from its value and the floor metric's value (ignored
/// when not a finite positive number at or below the value).
pub fn with_floor(round: usize, value: f64, floor: Option<f64>) -> Round {
    let lo = match floor {
        Some(f) if f.is_finite() && f > 0.0 && f <= value => f,
        _ => value,
    };
    Round {
        round,
        value,
        lo,
        hi: value,
    }
}

/// Per round of both, `x` over (or minus) `d`, bracketed: the lowest
/// quotient is x's lowest over d's highest. None when a ratio's divisor (at
/// any end) is not positive.
pub fn derive(x: &[Round], d: &[Round], mode: Mode) -> Option<Vec<Round>> {
    let mut out = Vec::new();
    for a in x {
        let Some(b) = d.iter().find(|b| b.round == a.round) else {
            continue;
        };
        out.push(match mode {
            Mode::Ratio => {
                if b.lo <= 0.0 {
                    return None;
                }
                Round {
                    round: a.round,
                    value: a.value / b.value,
                    lo: a.lo / b.hi,
                    hi: a.hi / b.lo,
                }
            }
            Mode::Difference => Round {
                round: a.round,
                value: a.value - b.value,
                lo: a.lo - b.hi,
                hi: a.hi - b.lo,
            },
        });
    }
    Some(out)
}

/// Pairs of (a, b) by round for the measured values and for the two
/// extreme pairings (a lowest against b highest, a highest against b
/// lowest); None for the extremes when nothing is bracketed.
pub type Pairs = Vec<(f64, f64)>;
pub fn pairings(a: &[Round], b: &[Round]) -> (Pairs, Option<(Pairs, Pairs)>) {
    let mut both: Vec<(&Round, &Round)> = a
        .iter()
        .filter_map(|x| b.iter().find(|y| y.round == x.round).map(|y| (x, y)))
        .collect();
    both.sort_by_key(|(x, _)| x.round);
    let measured = both.iter().map(|(x, y)| (x.value, y.value)).collect();
    if !both.iter().any(|(x, y)| x.widened() || y.widened()) {
        return (measured, None);
    }
    let low = both.iter().map(|(x, y)| (x.lo, y.hi)).collect();
    let high = both.iter().map(|(x, y)| (x.hi, y.lo)).collect();
    (measured, Some((low, high)))
}

/// Widens `v` (computed from the measured values) to cover `others`
/// (the same computation on the extremes): interval and every nested
/// interval of its family. Families of the same computation over the same
/// number of rounds nest alike, so they are joined index by index.
pub fn cover(v: &mut Value, others: &[(f64, f64, &[Nested])]) {
    for (lo, hi, fam) in others {
        v.lo = v.lo.min(*lo);
        v.hi = v.hi.max(*hi);
        for (n, o) in v.family.iter_mut().zip(fam.iter()) {
            n.lo = n.lo.min(o.lo);
            n.hi = n.hi.max(o.hi);
        }
    }
}

/// The largest share of a bracketed round's value its bracket spans (the
/// report's "up to N % of a round's figure"); None when nothing is.
pub fn largest_share(rounds: &[&[Round]]) -> Option<f64> {
    rounds
        .iter()
        .flat_map(|r| r.iter())
        .filter(|r| r.widened() && r.value != 0.0)
        .map(|r| ((r.hi - r.lo) / r.value.abs()).abs())
        .max_by(f64::total_cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_corrected_percentiles_have_a_floor() {
        assert_eq!(
            floor_metric("main.classes.light.latency_us.corrected.p99").as_deref(),
            Some("main.classes.light.latency_us.uncorrected.p99")
        );
        assert_eq!(
            floor_metric("main.step2.latency_us.corrected.p999").as_deref(),
            Some("main.step2.latency_us.uncorrected.p999")
        );
        assert_eq!(floor_metric("main.latency_us.uncorrected.p99"), None);
        assert_eq!(floor_metric("server.cpu_us_per_request"), None);
        assert_eq!(floor_metric("main.xlatency_us.corrected.p99"), None);
    }

    #[test]
    fn a_floor_above_the_value_or_not_positive_is_ignored() {
        assert_eq!(with_floor(0, 100.0, Some(80.0)).lo, 80.0);
        assert_eq!(with_floor(0, 100.0, Some(120.0)).lo, 100.0);
        assert_eq!(with_floor(0, 100.0, Some(0.0)).lo, 100.0);
        assert_eq!(with_floor(0, 100.0, None).lo, 100.0);
        assert_eq!(with_floor(0, 100.0, Some(80.0)).hi, 100.0);
    }

    #[test]
    fn a_derived_ratio_spans_the_extreme_quotients() {
        let x = [with_floor(0, 100.0, Some(60.0)), with_floor(1, 90.0, None)];
        let d = [with_floor(0, 10.0, Some(5.0)), with_floor(2, 1.0, None)];
        let r = derive(&x, &d, Mode::Ratio).unwrap();
        assert_eq!(r.len(), 1, "only rounds both have");
        assert_eq!((r[0].value, r[0].lo, r[0].hi), (10.0, 6.0, 20.0));
        let diff = derive(&x, &d, Mode::Difference).unwrap();
        assert_eq!((diff[0].value, diff[0].lo, diff[0].hi), (90.0, 50.0, 95.0));
        let zero = [Round::exact(0, 0.0)];
        assert!(derive(&x, &zero, Mode::Ratio).is_none());
    }

    #[test]
    fn extremes_pair_one_side_low_against_the_other_high() {
        let a = [with_floor(1, 100.0, Some(70.0)), with_floor(0, 50.0, None)];
        let b = [Round::exact(0, 10.0), with_floor(1, 20.0, Some(15.0))];
        let (m, ext) = pairings(&a, &b);
        assert_eq!(m, vec![(50.0, 10.0), (100.0, 20.0)], "in round order");
        let (low, high) = ext.unwrap();
        assert_eq!(low, vec![(50.0, 10.0), (70.0, 20.0)]);
        assert_eq!(high, vec![(50.0, 10.0), (100.0, 15.0)]);
        let exact = [Round::exact(0, 1.0)];
        assert!(pairings(&exact, &exact).1.is_none());
    }

    #[test]
    fn the_share_is_the_widest_bracket_over_its_value() {
        let a = [
            with_floor(0, 100.0, Some(70.0)),
            with_floor(1, 50.0, Some(45.0)),
        ];
        assert_eq!(largest_share(&[&a]), Some(0.3));
        assert_eq!(largest_share(&[&[Round::exact(0, 3.0)]]), None);
    }
}
