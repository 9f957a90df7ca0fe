//! Statistics across repeats, benchstat-style: the median with a
//! distribution-free interval, the ratio of two variants' medians with a
//! bootstrap interval, and a Mann-Whitney U test. Pure functions.

use serde::{Deserialize, Serialize};

/// A metric over repeats: its median and an interval for the median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub n: usize,
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
    /// The interval's actual coverage. Order statistics give exact levels:
    /// with 3 repeats the widest interval (min..max) covers the median with
    /// 75 %, with 6 repeats 96.9 %. Reported, never rounded up to 95 %.
    pub confidence: f64,
    pub values: Vec<f64>,
}

/// A ratio of medians (a / b) with a bootstrap interval and the U test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    pub ratio: f64,
    pub lo: f64,
    pub hi: f64,
    /// The NOMINAL level of the percentile bootstrap (0.95), not its real
    /// coverage: see `coverage_at_least` and `interval`.
    pub confidence: f64,
    /// A guaranteed lower bound on the real coverage when one is known
    /// (at most 3 values per side: the product of the two medians' min..max
    /// coverages, 0.5625 for 3 and 3); None otherwise.
    #[serde(default)]
    pub coverage_at_least: Option<f64>,
    /// How lo..hi was computed and what it can claim, in words.
    #[serde(default)]
    pub interval: String,
    /// Two-sided Mann-Whitney U p-value (exact for small samples).
    pub p_value: f64,
    /// False when the samples are too small for any p-value to reach 0.05.
    pub test_can_reach_005: bool,
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

/// P(X <= k) for X ~ Binomial(n, 1/2).
fn binom_half_cdf(n: usize, k: usize) -> f64 {
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

/// The median with the narrowest order-statistic interval [x(k), x(n+1-k)]
/// whose coverage is at least `level`; when no interval reaches it (few
/// repeats), min..max with its real coverage.
pub fn estimate(values: &[f64], level: f64) -> Option<Estimate> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let coverage = |k: usize| 1.0 - 2.0 * binom_half_cdf(n, k - 1);
    let mut k = 1;
    while k < n.div_ceil(2) && coverage(k + 1) >= level {
        k += 1;
    }
    let conf = if n == 1 { 0.0 } else { coverage(k) };
    Some(Estimate {
        n,
        median: median(&v),
        lo: v[k - 1],
        hi: v[n - k],
        confidence: conf,
        values: values.to_vec(),
    })
}

/// SplitMix64: a small, seeded generator so bootstrap intervals are reproducible.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

fn percentile_sorted(v: &[f64], p: f64) -> f64 {
    let idx = (p * (v.len() - 1) as f64).round() as usize;
    v[idx.min(v.len() - 1)]
}

/// median(a) / median(b) with a percentile-bootstrap interval at `level`
/// (2000 resamples, fixed seed) and the Mann-Whitney U p-value.
pub fn ratio(a: &[f64], b: &[f64], level: f64) -> Option<Ratio> {
    let a: Vec<f64> = a.iter().copied().filter(|x| x.is_finite()).collect();
    let b: Vec<f64> = b.iter().copied().filter(|x| x.is_finite()).collect();
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mb = median(&b);
    if mb == 0.0 {
        return None;
    }
    let r = median(&a) / mb;
    let mut rng = SplitMix64::new(0x5eed);
    let mut boots = Vec::with_capacity(2000);
    let mut ra = vec![0.0; a.len()];
    let mut rb = vec![0.0; b.len()];
    for _ in 0..2000 {
        for x in ra.iter_mut() {
            *x = a[rng.below(a.len())];
        }
        for x in rb.iter_mut() {
            *x = b[rng.below(b.len())];
        }
        let d = median(&rb);
        if d != 0.0 {
            boots.push(median(&ra) / d);
        }
    }
    boots.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    let (lo, hi) = if boots.is_empty() {
        (r, r)
    } else {
        (
            percentile_sorted(&boots, tail),
            percentile_sorted(&boots, 1.0 - tail),
        )
    };
    let cov = bootstrap_coverage(a.len(), b.len(), level);
    Some(Ratio {
        ratio: r,
        lo: lo.min(r),
        hi: hi.max(r),
        confidence: level,
        coverage_at_least: cov.at_least,
        interval: format!(
            "{} (2000 resamples, fixed seed)",
            cov.describe(a.len(), b.len(), "ratio")
        ),
        p_value: mann_whitney_p(&a, &b),
        test_can_reach_005: min_exact_p(a.len(), b.len()) <= 0.05,
    })
}

/// Coverage of the min..max interval of a median of `n` values (the
/// order-statistic interval `estimate` uses when nothing narrower reaches
/// its level): 1 − 2 / 2^n; 0 for one value.
pub fn min_max_coverage(n: usize) -> f64 {
    if n < 2 {
        0.0
    } else {
        1.0 - 2.0 * binom_half_cdf(n, 0)
    }
}

/// How a percentile-bootstrap interval of a ratio (or difference) of two
/// medians was computed, and what it can honestly claim, for `na` and `nb`
/// values per side.
///
/// With at most 3 values per side a resampled median is always one of the
/// observed values and each extreme comes up in about 26 % of resamples,
/// so the 2.5 % and 97.5 % percentiles are the extreme ratios:
/// [min(a)/max(b), max(a)/min(b)]. That interval holds the ratio of the
/// true medians whenever both medians lie within their samples' min..max,
/// so its coverage is at least the product of those two coverages (56 %
/// for 3 and 3); its exact coverage is not known and the nominal level is
/// not reached. With more values the percentile bootstrap of a median is
/// still known to undercover at small n.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapCoverage {
    pub nominal: f64,
    /// A guaranteed lower bound on the real coverage, when one is known.
    pub at_least: Option<f64>,
    /// True when the interval is the span of the extreme ratios.
    pub extremes: bool,
}

pub fn bootstrap_coverage(na: usize, nb: usize, nominal: f64) -> BootstrapCoverage {
    let small = na <= 3 && nb <= 3;
    BootstrapCoverage {
        nominal,
        at_least: small.then(|| min_max_coverage(na) * min_max_coverage(nb)),
        extremes: small,
    }
}

impl BootstrapCoverage {
    /// e.g. "percentile bootstrap, nominal 95 %; with 3 and 3 repeats it is
    /// the span of the extreme ratios, real coverage ≥ 56 % (not known exactly)".
    pub fn describe(&self, na: usize, nb: usize, what: &str) -> String {
        let nominal = format!("{:.0} %", self.nominal * 100.0);
        match self.at_least {
            Some(c) => format!(
                "percentile bootstrap, nominal {nominal}; with {na} and {nb} repeats it is the span of the extreme {what}s (min..max of one side against max..min of the other): real coverage at least {:.0} %, not known exactly",
                c * 100.0
            ),
            None => format!(
                "percentile bootstrap, nominal {nominal} ({na} and {nb} repeats; with few repeats its real coverage is lower than nominal)"
            ),
        }
    }
}

/// Number of ways to reach each U value with n1, n2 and no ties:
/// counts[u] for u in 0..=n1*n2 (the classic recurrence).
fn u_distribution(n1: usize, n2: usize) -> Vec<f64> {
    // f(n1, n2, u) = f(n1-1, n2, u-n2) + f(n1, n2-1, u)
    let max = n1 * n2;
    let mut table = vec![vec![Vec::<f64>::new(); n2 + 1]; n1 + 1];
    for i in 0..=n1 {
        for j in 0..=n2 {
            let mut d = vec![0.0; i * j + 1];
            if i == 0 || j == 0 {
                d[0] = 1.0;
            } else {
                for (u, slot) in d.iter_mut().enumerate() {
                    let a = if u >= j {
                        table[i - 1][j].get(u - j).copied().unwrap_or(0.0)
                    } else {
                        0.0
                    };
                    let b = table[i][j - 1].get(u).copied().unwrap_or(0.0);
                    *slot = a + b;
                }
            }
            table[i][j] = d;
        }
    }
    let d = std::mem::take(&mut table[n1][n2]);
    debug_assert_eq!(d.len(), max + 1);
    d
}

/// The smallest two-sided p-value an exact test can give with these sizes.
pub fn min_exact_p(n1: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let d = u_distribution(n1, n2);
    let total: f64 = d.iter().sum();
    (2.0 * d[0] / total).min(1.0)
}

/// Two-sided Mann-Whitney U p-value: exact when both samples are small and
/// there are no ties, otherwise the normal approximation with tie correction.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    // Ranks over the pooled sample, ties get their average rank.
    let mut pooled: Vec<(f64, usize)> = a
        .iter()
        .map(|&x| (x, 0))
        .chain(b.iter().map(|&x| (x, 1)))
        .collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = pooled.len();
    let mut ranks = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for r in ranks.iter_mut().take(j + 1).skip(i) {
            *r = avg;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let r1: f64 = pooled
        .iter()
        .zip(&ranks)
        .filter(|(p, _)| p.1 == 0)
        .map(|(_, r)| r)
        .sum();
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let u = u1.min((n1 * n2) as f64 - u1);
    if tie_term == 0.0 && n1 <= 20 && n2 <= 20 {
        let d = u_distribution(n1, n2);
        let total: f64 = d.iter().sum();
        let k = u.floor() as usize;
        let tail: f64 = d[..=k.min(d.len() - 1)].iter().sum::<f64>() / total;
        return (2.0 * tail).min(1.0);
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let mean = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((n1f + n2f + 1.0) - tie_term / ((n1f + n2f) * (n1f + n2f - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    // Continuity correction of 0.5 toward the mean.
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    (2.0 * (1.0 - normal_cdf(z))).clamp(0.0, 1.0)
}

/// Standard normal CDF via the complementary error function (Numerical
/// Recipes' erfc approximation, |error| < 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let y = t
        * (-x * x - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    let erfc = if x >= 0.0 { y } else { 2.0 - y };
    1.0 - erfc / 2.0
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
    }

    #[test]
    fn mann_whitney_exact_values() {
        // Complete separation with 3 vs 3: p = 2 / C(6,3) = 0.1 — the floor.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert!(close(p, 0.1, 1e-12), "{p}");
        assert!(close(min_exact_p(3, 3), 0.1, 1e-12));
        assert!(close(min_exact_p(5, 5), 2.0 / 252.0, 1e-12));
        // 4 vs 4 separated: 2/70.
        assert!(close(
            mann_whitney_p(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]),
            2.0 / 70.0,
            1e-12
        ));
        // Interleaved samples: no evidence.
        assert!(mann_whitney_p(&[1.0, 4.0, 5.0], &[2.0, 3.0, 6.0]) > 0.5);
        // U = 1 for 3 vs 3: P(U <= 1) = 2/20, two-sided 0.2.
        let p = mann_whitney_p(&[1.0, 2.0, 4.0], &[3.0, 5.0, 6.0]);
        assert!(close(p, 0.2, 1e-12), "{p}");
    }

    #[test]
    fn mann_whitney_normal_approximation_with_ties() {
        let a: Vec<f64> = (0..30).map(|i| (i % 5) as f64).collect();
        let b: Vec<f64> = (0..30).map(|i| (i % 5 + 3) as f64).collect();
        let p = mann_whitney_p(&a, &b);
        assert!(p < 1e-4, "{p}");
        let p = mann_whitney_p(&a, &a);
        assert!(p > 0.9, "{p}");
    }

    #[test]
    fn normal_cdf_known_points() {
        assert!(close(normal_cdf(0.0), 0.5, 1e-7));
        assert!(close(normal_cdf(1.959_964), 0.975, 1e-6));
        assert!(close(normal_cdf(-1.0), 0.158_655_25, 1e-6));
    }

    #[test]
    fn ratio_of_medians_and_its_interval() {
        let a = [20.0, 22.0, 21.0, 19.0, 20.5];
        let b = [10.0, 11.0, 10.5, 9.5, 10.0];
        let r = ratio(&a, &b, 0.95).unwrap();
        // Medians 20.5 and 10.
        assert!(close(r.ratio, 2.05, 1e-12));
        assert!(r.lo <= 2.05 && r.hi >= 2.05);
        assert!(r.lo > 1.7 && r.hi < 2.4, "{r:?}");
        assert!(r.p_value < 0.05 && r.test_can_reach_005);
        // Deterministic: the same inputs give the same interval.
        assert_eq!(ratio(&a, &b, 0.95).unwrap(), r);
        let r3 = ratio(&[2.0, 2.1, 2.2], &[1.0, 1.1, 1.2], 0.95).unwrap();
        assert!(!r3.test_can_reach_005);
        // With 3 per side the "95 %" interval is the span of the extreme
        // ratios, as bootstrap_coverage says.
        assert!(
            close(r3.lo, 2.0 / 1.2, 1e-12) && close(r3.hi, 2.2 / 1.0, 1e-12),
            "{r3:?}"
        );
        let c = bootstrap_coverage(3, 3, 0.95);
        assert!(c.extremes && close(c.at_least.unwrap(), 0.5625, 1e-12));
        assert!(c.describe(3, 3, "ratio").contains("at least 56 %"));
        assert_eq!(r3.coverage_at_least, Some(0.5625));
        assert!(
            r3.interval.contains("nominal 95 %") && r3.interval.contains("not known exactly"),
            "{}",
            r3.interval
        );
        assert_eq!(r.coverage_at_least, None, "5 vs 5: no bound known");
        let c6 = bootstrap_coverage(6, 6, 0.95);
        assert!(!c6.extremes && c6.at_least.is_none());
        assert!(close(min_max_coverage(3), 0.75, 1e-12));
        assert!(close(min_max_coverage(6), 0.968_75, 1e-12));
        assert_eq!(min_max_coverage(1), 0.0);
        assert!(ratio(&[1.0], &[0.0], 0.95).is_none());
    }
}
