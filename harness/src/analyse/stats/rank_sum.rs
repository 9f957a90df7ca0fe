//! Unpaired comparisons (two runs, `harness diff`): the Mann–Whitney test,
//! exact with ties (the permutation distribution of the observed mid-ranks),
//! and the two-sample Hodges–Lehmann estimate with the exact Moses
//! interval [D(k), D(mn+1−k)] over the sorted pairwise differences, whose
//! coverage is 1 − 2·P(U ≤ k−1). Ratios are taken on the log scale.

use super::{Comparison, Method, Nested, mid_ranks, normal_cdf, pick};

/// Above this many values in all, the normal approximation (with tie
/// correction) replaces the exact permutation count.
const EXACT_UP_TO: usize = 60;

/// Number of ways to reach each U value with n1, n2 and no ties:
/// counts[u] for u in 0..=n1*n2.
pub fn u_distribution(n1: usize, n2: usize) -> Vec<f64> {
    // Subsets of size n1 of {1..n1+n2} by rank sum, shifted by n1(n1+1)/2.
    let n = n1 + n2;
    let max_sum = n * (n + 1) / 2;
    let mut dp = vec![vec![0.0f64; max_sum + 1]; n1 + 1];
    dp[0][0] = 1.0;
    for r in 1..=n {
        for c in (1..=n1.min(r)).rev() {
            for s in (r..=max_sum).rev() {
                dp[c][s] += dp[c - 1][s - r];
            }
        }
    }
    let base = n1 * (n1 + 1) / 2;
    (0..=n1 * n2).map(|u| dp[n1][u + base]).collect()
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

/// Two-sided Mann–Whitney p-value: exact (over every split of the pooled
/// mid-ranks, so ties are handled) up to 60 values, then the normal
/// approximation with tie correction.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let (ranks, tie_term) = mid_ranks(&pooled);
    let n = n1 + n2;
    let r1: f64 = ranks[..n1].iter().sum();
    let mean = n1 as f64 * (n + 1) as f64 / 2.0;
    if n <= EXACT_UP_TO {
        // Half-ranks are integers; count size-n1 subsets by half-rank sum.
        let half: Vec<usize> = ranks.iter().map(|r| (r * 2.0).round() as usize).collect();
        let total: usize = half.iter().sum();
        let mut dp = vec![vec![0.0f64; total + 1]; n1 + 1];
        dp[0][0] = 1.0;
        for (i, &h) in half.iter().enumerate() {
            for c in (1..=n1.min(i + 1)).rev() {
                for s in (h..=total).rev() {
                    dp[c][s] += dp[c - 1][s - h];
                }
            }
        }
        let dev = (r1 - mean).abs();
        let all: f64 = dp[n1].iter().sum();
        let extreme: f64 = dp[n1]
            .iter()
            .enumerate()
            .filter(|(s, _)| (*s as f64 / 2.0 - mean).abs() >= dev - 1e-9)
            .map(|(_, c)| c)
            .sum();
        return (extreme / all).min(1.0);
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let var = n1f * n2f / 12.0 * ((n1f + n2f + 1.0) - tie_term / ((n1f + n2f) * (n1f + n2f - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((r1 - mean).abs() - 0.5).max(0.0) / var.sqrt();
    (2.0 * (1.0 - normal_cdf(z))).clamp(0.0, 1.0)
}

fn two_sample(a: &[f64], b: &[f64], level: f64, back: impl Fn(f64) -> f64) -> Option<Comparison> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 || a.iter().chain(b).any(|x| !x.is_finite()) {
        return None;
    }
    let mut d: Vec<f64> = a
        .iter()
        .flat_map(|x| b.iter().map(move |y| x - y))
        .collect();
    d.sort_by(f64::total_cmp);
    let m = d.len();
    let point = super::median(&d);
    let counts = u_distribution(n1, n2);
    let total: f64 = counts.iter().sum();
    let mut family = Vec::new();
    let mut below = 0.0;
    for k in 1..=m.div_ceil(2) {
        below += counts[k - 1];
        let coverage = 1.0 - 2.0 * below / total;
        if coverage <= 0.0 {
            break;
        }
        family.push(Nested {
            lo: back(d[k - 1]),
            hi: back(d[m - k]),
            coverage,
        });
    }
    if family.is_empty() {
        family.push(Nested {
            lo: back(d[0]),
            hi: back(d[m - 1]),
            coverage: 0.0,
        });
    }
    let chosen = pick(&family, level)?;
    Some(Comparison {
        n: n1.min(n2),
        point: back(point),
        lo: chosen.lo,
        hi: chosen.hi,
        coverage: chosen.coverage,
        p_value: mann_whitney_p(a, b),
        min_p: min_exact_p(n1, n2),
        method: Method::RankSum,
        family,
        per_round: Vec::new(),
    })
}

/// a / b for two independent samples (log scale); None when a value is
/// not positive.
pub fn two_sample_ratio(a: &[f64], b: &[f64], level: f64) -> Option<Comparison> {
    if a.iter().chain(b).any(|x| *x <= 0.0) {
        return None;
    }
    let la: Vec<f64> = a.iter().map(|x| x.ln()).collect();
    let lb: Vec<f64> = b.iter().map(|x| x.ln()).collect();
    two_sample(&la, &lb, level, f64::exp)
}

/// a − b for two independent samples.
pub fn two_sample_difference(a: &[f64], b: &[f64], level: f64) -> Option<Comparison> {
    two_sample(a, b, level, |x| x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn u_distribution_matches_the_classic_recurrence() {
        // n1 = n2 = 2: U in 0..=4 with counts 1,1,2,1,1 (C(4,2) = 6).
        assert_eq!(u_distribution(2, 2), vec![1.0, 1.0, 2.0, 1.0, 1.0]);
        let d = u_distribution(6, 6);
        assert_eq!(d.iter().sum::<f64>(), 924.0);
        // Published: P(U <= 5) = 19/924 = 0.0206 for 6 and 6.
        assert_eq!(d[..=5].iter().sum::<f64>(), 19.0);
    }

    #[test]
    fn mann_whitney_exact_values() {
        // Complete separation with 3 vs 3: p = 2 / C(6,3) = 0.1 — the floor.
        assert!(close(
            mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]),
            0.1,
            1e-12
        ));
        assert!(close(min_exact_p(3, 3), 0.1, 1e-12));
        assert!(close(min_exact_p(5, 5), 2.0 / 252.0, 1e-12));
        assert!(close(
            mann_whitney_p(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]),
            2.0 / 70.0,
            1e-12
        ));
        assert!(mann_whitney_p(&[1.0, 4.0, 5.0], &[2.0, 3.0, 6.0]) > 0.5);
        // U = 1 for 3 vs 3: P(U <= 1) = 2/20, two-sided 0.2.
        assert!(close(
            mann_whitney_p(&[1.0, 2.0, 4.0], &[3.0, 5.0, 6.0]),
            0.2,
            1e-12
        ));
    }

    #[test]
    fn ties_never_beat_the_exact_floor() {
        // The old normal approximation said 0.047 here; exactly, only the
        // two complete separations of the 20 splits are as extreme.
        let p = mann_whitney_p(&[5.0, 5.0, 5.0], &[7.0, 7.0, 7.0]);
        assert!(close(p, 0.1, 1e-12), "{p}");
        // Identical samples: no evidence at all.
        assert!(close(mann_whitney_p(&[5.0; 4], &[5.0; 4]), 1.0, 1e-12));
        // Ties across the samples: 1,2,2 vs 2,3,3. Mid-ranks 1,3,3 | 3,5.5,5.5;
        // R1 = 7, mean 10.5. Splits with a rank sum <= 7 ({1,3,3}: 3 ways) or
        // >= 14 ({3,5.5,5.5}: 3 ways): 6 of 20.
        let p = mann_whitney_p(&[1.0, 2.0, 2.0], &[2.0, 3.0, 3.0]);
        assert!(close(p, 0.3, 1e-12), "{p}");
    }

    #[test]
    fn large_samples_use_the_normal_approximation() {
        let a: Vec<f64> = (0..40).map(|i| (i % 5) as f64).collect();
        let b: Vec<f64> = (0..40).map(|i| (i % 5 + 3) as f64).collect();
        assert!(mann_whitney_p(&a, &b) < 1e-4);
        assert!(mann_whitney_p(&a, &a) > 0.9);
    }

    #[test]
    fn moses_interval_by_hand() {
        // a = 4,5,6 and b = 1,2,3: differences 1..5 (9 of them: 1,2,2,3,3,3,4,4,5).
        let c = two_sample_difference(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0], 0.95).unwrap();
        assert!(close(c.point, 3.0, 1e-12));
        // k = 1 covers 1 - 2/20 = 0.9 (< 0.95, the widest there is).
        assert!(close(c.coverage, 0.9, 1e-12) && c.lo == 1.0 && c.hi == 5.0);
        assert!(close(c.p_value, 0.1, 1e-12));
        let r = two_sample_ratio(&[2.0, 2.0], &[1.0, 1.0], 0.5).unwrap();
        assert!(close(r.point, 2.0, 1e-12));
        assert!(two_sample_ratio(&[0.0], &[1.0], 0.9).is_none());
    }
}
