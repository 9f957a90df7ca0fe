//! The median over rounds and its order-statistic interval: [x(k),
//! x(n+1−k)] covers the true median with probability 1 − 2·P(B ≤ k−1),
//! B ~ Binomial(n, ½), whatever the distribution.

use super::{Nested, pick};
use serde::{Deserialize, Serialize};

/// A metric over rounds: its median and an interval for the median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub n: usize,
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
    /// The interval's actual coverage. Order statistics give exact levels:
    /// with 3 rounds the widest interval (min..max) covers the median with
    /// 75 %, with 6 rounds 96.9 %. Reported, never rounded up to 95 %.
    pub confidence: f64,
    pub values: Vec<f64>,
    /// The round (0-based) each value came from, so comparisons can pair
    /// values of the same round. Empty in files written before rounds.
    #[serde(default)]
    pub rounds: Vec<usize>,
}

impl Estimate {
    /// (round, value) pairs; without recorded rounds, the position.
    pub fn by_round(&self) -> Vec<(usize, f64)> {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| (self.rounds.get(i).copied().unwrap_or(i), *v))
            .collect()
    }
}

pub fn median(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "median of nothing");
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// P(B <= k) for B ~ Binomial(n, 1/2).
pub(crate) fn binom_half_cdf(n: usize, k: usize) -> f64 {
    let mut c = 1.0f64; // C(n, 0)
    let mut sum = 0.0;
    for i in 0..=k.min(n) {
        if i > 0 {
            c = c * (n - i + 1) as f64 / i as f64;
        }
        sum += c;
    }
    sum / 2f64.powi(n as i32)
}

/// Every order-statistic interval of the median of `sorted` values, from
/// min..max inwards, with its exact coverage.
pub fn family(sorted: &[f64]) -> Vec<Nested> {
    let n = sorted.len();
    if n < 2 {
        return sorted
            .first()
            .map(|&x| Nested {
                lo: x,
                hi: x,
                coverage: 0.0,
            })
            .into_iter()
            .collect();
    }
    (1..=n.div_ceil(2))
        .map(|k| Nested {
            lo: sorted[k - 1],
            hi: sorted[n - k],
            coverage: 1.0 - 2.0 * binom_half_cdf(n, k - 1),
        })
        .filter(|x| x.coverage > 0.0)
        .collect()
}

/// The median with the narrowest order-statistic interval whose coverage
/// is at least `level`; when none reaches it (few rounds), min..max with
/// its real coverage.
pub fn estimate(values: &[f64], level: f64) -> Option<Estimate> {
    estimate_rounds(values, &[], level)
}

/// As `estimate`, remembering the round of each value.
pub fn estimate_rounds(values: &[f64], rounds: &[usize], level: f64) -> Option<Estimate> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let f = family(&v);
    let chosen = pick(&f, level).unwrap_or(Nested {
        lo: v[0],
        hi: v[v.len() - 1],
        coverage: 0.0,
    });
    Some(Estimate {
        n: v.len(),
        median: median(&v),
        lo: chosen.lo,
        hi: chosen.hi,
        confidence: if v.len() == 1 { 0.0 } else { chosen.coverage },
        values: values.to_vec(),
        rounds: rounds.to_vec(),
    })
}

/// Coverage of the min..max interval of a median of `n` values:
/// 1 − 2 / 2^n; 0 for one value.
pub fn min_max_coverage(n: usize) -> f64 {
    if n < 2 {
        0.0
    } else {
        1.0 - 2.0 * binom_half_cdf(n, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn order_statistic_interval_has_exact_coverage() {
        // n = 3: only min..max, coverage 1 - 2/8 = 0.75.
        let e = estimate(&[5.0, 1.0, 3.0], 0.95).unwrap();
        assert_eq!((e.median, e.lo, e.hi), (3.0, 1.0, 5.0));
        assert!(close(e.confidence, 0.75, 1e-12));
        // n = 6: min..max covers 1 - 2/64 = 0.96875 >= 0.95; the next one in
        // (x2..x5) covers 1 - 2*7/64 = 0.78 < 0.95, so min..max is kept.
        let e = estimate(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0.95).unwrap();
        assert_eq!((e.lo, e.hi), (1.0, 6.0));
        assert!(close(e.confidence, 0.96875, 1e-12));
        // n = 20: the textbook 95 % interval for the median is x(6)..x(15)
        // (coverage 0.9586).
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let e = estimate(&v, 0.95).unwrap();
        assert_eq!((e.lo, e.hi), (6.0, 15.0));
        assert!(close(e.confidence, 0.958_610_5, 1e-6), "{}", e.confidence);
        // One value: no interval to speak of.
        let e = estimate(&[7.0], 0.95).unwrap();
        assert_eq!((e.lo, e.hi, e.confidence), (7.0, 7.0, 0.0));
        assert!(estimate(&[f64::NAN], 0.95).is_none());
        assert!(close(min_max_coverage(3), 0.75, 1e-12));
        assert!(close(min_max_coverage(6), 0.968_75, 1e-12));
        assert_eq!(min_max_coverage(1), 0.0);
    }

    #[test]
    fn family_runs_inwards_with_falling_coverage() {
        let f = family(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(f.len(), 3);
        assert_eq!((f[1].lo, f[1].hi), (2.0, 5.0));
        // k = 2: 1 - 2 * 7/64.
        assert!(close(f[1].coverage, 1.0 - 14.0 / 64.0, 1e-12));
        // k = 3: 1 - 2 * 22/64 = 0.3125.
        assert!(close(f[2].coverage, 0.3125, 1e-12));
    }

    #[test]
    fn rounds_pair_with_values() {
        let e = estimate_rounds(&[3.0, 1.0], &[4, 2], 0.95).unwrap();
        assert_eq!(e.by_round(), vec![(4, 3.0), (2, 1.0)]);
        let e = estimate(&[3.0, 1.0], 0.95).unwrap();
        assert_eq!(e.by_round(), vec![(0, 3.0), (1, 1.0)]);
    }
}
