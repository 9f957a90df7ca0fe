//! Statistics over rounds, exact where they can be: the median with its
//! order-statistic interval (`order`), a paired comparison by rounds with
//! the Wilcoxon signed-rank / Hodges–Lehmann interval (`signed_rank`), an
//! unpaired one with the Mann–Whitney test and the Moses interval
//! (`rank_sum`), and Holm's adjustment across conditions (`multiple`).
//! Every interval carries its real coverage; none is a bootstrap. Pure
//! functions, checked against values computed by hand.

pub mod multiple;
pub mod order;
pub mod rank_sum;
pub mod signed_rank;

pub use order::{Estimate, estimate, median, min_max_coverage};

use serde::{Deserialize, Serialize};

/// One interval of a nested family: the k-th from the outside, with the
/// exact coverage of that k.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Nested {
    pub lo: f64,
    pub hi: f64,
    pub coverage: f64,
}

/// A comparison of two sides: a ratio or a difference, with its interval,
/// the interval's real coverage and the matching rank test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Pairs used (paired), or the smaller sample's size (unpaired).
    pub n: usize,
    /// Hodges–Lehmann estimate (a ratio, or a difference).
    pub point: f64,
    pub lo: f64,
    pub hi: f64,
    /// The interval's real coverage.
    pub coverage: f64,
    /// Exact two-sided p-value of the matching rank test (ties handled).
    pub p_value: f64,
    /// The smallest p-value these sample sizes can give.
    pub min_p: f64,
    pub method: Method,
    /// Every nested interval from the widest inwards (same scale as `point`).
    pub family: Vec<Nested>,
    /// Paired: the per-round ratios (or differences) the estimate is made of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_round: Vec<f64>,
}

/// How an interval was computed, for the report's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The median's order-statistic interval (binomial, distribution-free).
    OrderStatistic,
    /// Hodges–Lehmann estimate with the exact Wilcoxon signed-rank interval
    /// on per-round values (paired; assumes their distribution symmetric).
    SignedRank,
    /// Two-sample Hodges–Lehmann estimate with the exact Moses (Mann–Whitney)
    /// interval (unpaired; assumes a shift).
    RankSum,
}

impl Method {
    pub fn describe(self) -> &'static str {
        match self {
            Method::OrderStatistic => {
                "order-statistic interval of the median (exact, distribution-free)"
            }
            Method::SignedRank => {
                "Hodges–Lehmann estimate with the exact Wilcoxon signed-rank interval over paired rounds"
            }
            Method::RankSum => {
                "two-sample Hodges–Lehmann estimate with the exact Moses (Mann–Whitney) interval"
            }
        }
    }
}

/// The widest interval of a nested family whose coverage is at least
/// `level`; when none reaches it, the widest there is (its real coverage,
/// below `level`, is what gets reported). `family` runs from the widest
/// interval inwards.
pub fn pick(family: &[Nested], level: f64) -> Option<Nested> {
    let widest = *family.first()?;
    Some(
        family
            .iter()
            .rev()
            .find(|n| n.coverage >= level)
            .copied()
            .unwrap_or(widest),
    )
}

/// Number of subsets of {1..n} per sum of their elements: the null
/// distribution of the signed-rank statistic (no ties), counts[t] for t in
/// 0..=n(n+1)/2.
pub(crate) fn signed_rank_counts(n: usize) -> Vec<f64> {
    let max = n * (n + 1) / 2;
    let mut c = vec![0.0; max + 1];
    c[0] = 1.0;
    for r in 1..=n {
        for t in (r..=max).rev() {
            c[t] += c[t - r];
        }
    }
    c
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

/// Mid-ranks (1-based) of `v` and the tie term Σ(t³ − t) over tie groups.
pub(crate) fn mid_ranks(v: &[f64]) -> (Vec<f64>, f64) {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = avg;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    (ranks, tie_term)
}

/// SplitMix64: a small seeded generator for synthetic data in tests.
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
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_rank_null_counts() {
        // n = 3: subsets of {1,2,3} by sum: 0:{} 1:{1} 2:{2} 3:{3},{1,2}
        // 4:{1,3} 5:{2,3} 6:{1,2,3}.
        assert_eq!(
            signed_rank_counts(3),
            vec![1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0]
        );
        let c = signed_rank_counts(10);
        assert_eq!(c.iter().sum::<f64>(), 1024.0);
        // Published: P(T <= 8) = 25/1024 for n = 10.
        assert_eq!(c[..=8].iter().sum::<f64>(), 25.0);
    }

    #[test]
    fn mid_ranks_average_ties() {
        let (r, t) = mid_ranks(&[5.0, 1.0, 5.0, 3.0]);
        assert_eq!(r, vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(t, 6.0);
    }

    #[test]
    fn pick_prefers_the_narrowest_that_reaches_the_level() {
        let f = [
            Nested {
                lo: 0.0,
                hi: 10.0,
                coverage: 0.99,
            },
            Nested {
                lo: 1.0,
                hi: 9.0,
                coverage: 0.96,
            },
            Nested {
                lo: 2.0,
                hi: 8.0,
                coverage: 0.90,
            },
        ];
        assert_eq!(pick(&f, 0.95).unwrap().lo, 1.0);
        assert_eq!(pick(&f, 0.995).unwrap().lo, 0.0);
        assert!(pick(&[], 0.95).is_none());
    }

    #[test]
    fn normal_cdf_known_points() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }
}
