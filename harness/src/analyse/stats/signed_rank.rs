//! Paired comparisons by round: per-round log-ratios (or differences),
//! their Hodges–Lehmann estimate (the median of the Walsh averages) and the
//! exact Wilcoxon signed-rank interval [W(k), W(M+1−k)] over the M =
//! n(n+1)/2 sorted Walsh averages, whose coverage is 1 − 2·P(T ≤ k−1).
//! Drift between rounds cancels in each pair. The test's p-value is exact
//! with ties and zeros (mid-ranks, zeros dropped, the permutation
//! distribution of those ranks).

use super::{Comparison, Method, Nested, pick, signed_rank_counts};

/// The Hodges–Lehmann estimate of `d` and its nested signed-rank intervals.
pub fn walsh_family(d: &[f64]) -> Option<(f64, Vec<Nested>)> {
    let n = d.len();
    if n == 0 || d.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let mut w = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            w.push((d[i] + d[j]) / 2.0);
        }
    }
    w.sort_by(f64::total_cmp);
    let m = w.len();
    let point = super::median(&w);
    let counts = signed_rank_counts(n);
    let total: f64 = counts.iter().sum();
    let mut fam = Vec::new();
    let mut below = 0.0; // P(T <= k-1) * total
    for k in 1..=m.div_ceil(2) {
        below += counts[k - 1];
        let coverage = 1.0 - 2.0 * below / total;
        if coverage <= 0.0 {
            break;
        }
        fam.push(Nested {
            lo: w[k - 1],
            hi: w[m - k],
            coverage,
        });
    }
    if fam.is_empty() {
        fam.push(Nested {
            lo: w[0],
            hi: w[m - 1],
            coverage: 0.0,
        });
    }
    Some((point, fam))
}

/// Exact two-sided signed-rank p-value of `d` against 0.
pub fn signed_rank_p(d: &[f64]) -> f64 {
    let nz: Vec<f64> = d.iter().copied().filter(|x| *x != 0.0).collect();
    if nz.is_empty() {
        return 1.0;
    }
    let abs: Vec<f64> = nz.iter().map(|x| x.abs()).collect();
    let (ranks, _) = super::mid_ranks(&abs);
    // Mid-ranks are multiples of ½: work in half-ranks, integers.
    let half: Vec<usize> = ranks.iter().map(|r| (r * 2.0).round() as usize).collect();
    let total: usize = half.iter().sum();
    let mut counts = vec![0.0f64; total + 1];
    counts[0] = 1.0;
    for &r in &half {
        for t in (r..=total).rev() {
            counts[t] += counts[t - r];
        }
    }
    let observed: usize = half
        .iter()
        .zip(&nz)
        .filter(|(_, x)| **x > 0.0)
        .map(|(r, _)| *r)
        .sum();
    let mean = total as f64 / 2.0;
    let dev = (observed as f64 - mean).abs();
    let all: f64 = counts.iter().sum();
    let extreme: f64 = counts
        .iter()
        .enumerate()
        .filter(|(t, _)| (*t as f64 - mean).abs() >= dev - 1e-9)
        .map(|(_, c)| c)
        .sum();
    (extreme / all).min(1.0)
}

fn paired(d: Vec<f64>, level: f64, back: impl Fn(f64) -> f64) -> Option<Comparison> {
    let (point, fam) = walsh_family(&d)?;
    let family: Vec<Nested> = fam
        .iter()
        .map(|x| Nested {
            lo: back(x.lo),
            hi: back(x.hi),
            coverage: x.coverage,
        })
        .collect();
    let chosen = pick(&family, level)?;
    let n = d.len();
    Some(Comparison {
        n,
        point: back(point),
        lo: chosen.lo,
        hi: chosen.hi,
        coverage: if n < 2 { 0.0 } else { chosen.coverage },
        p_value: signed_rank_p(&d),
        min_p: (2.0 / 2f64.powi(n as i32)).min(1.0),
        method: Method::SignedRank,
        per_round: d.iter().map(|x| back(*x)).collect(),
        family,
    })
}

/// a/b over paired rounds, on the log scale; None when a value is not
/// positive (no ratio) or there is no pair.
pub fn paired_ratio(pairs: &[(f64, f64)], level: f64) -> Option<Comparison> {
    if pairs
        .iter()
        .any(|(a, b)| !(a.is_finite() && b.is_finite() && *a > 0.0 && *b > 0.0))
    {
        return None;
    }
    let d: Vec<f64> = pairs.iter().map(|(a, b)| (a / b).ln()).collect();
    paired(d, level, f64::exp)
}

/// a − b over paired rounds.
pub fn paired_difference(pairs: &[(f64, f64)], level: f64) -> Option<Comparison> {
    let d: Vec<f64> = pairs.iter().map(|(a, b)| a - b).collect();
    paired(d, level, |x| x)
}

/// Values of two series that share a round, in round order.
pub fn pair_by_round(a: &[(usize, f64)], b: &[(usize, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(usize, f64, f64)> = a
        .iter()
        .filter_map(|(r, x)| b.iter().find(|(s, _)| s == r).map(|(_, y)| (*r, *x, *y)))
        .collect();
    out.sort_by_key(|t| t.0);
    out.into_iter().map(|(_, x, y)| (x, y)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn hodges_lehmann_by_hand() {
        // Walsh averages of 1, 2, 3: 1, 1.5, 2, 2, 2.5, 3 -> median 2.
        let (p, f) = walsh_family(&[1.0, 2.0, 3.0]).unwrap();
        assert!(close(p, 2.0));
        // n = 3: only the widest interval has positive coverage... k=1:
        // 1 - 2/8 = 0.75; k = 2: 1 - 2*2/8 = 0.5; k = 3: 1 - 2*3/8 = 0.25.
        assert_eq!(f.len(), 3);
        assert!(close(f[0].coverage, 0.75) && close(f[0].lo, 1.0) && close(f[0].hi, 3.0));
        assert!(close(f[1].coverage, 0.5) && close(f[1].lo, 1.5) && close(f[1].hi, 2.5));
    }

    #[test]
    fn six_rounds_give_min_max_at_969() {
        let d = [0.1, -0.05, 0.02, 0.08, 0.03, 0.0];
        let (_, f) = walsh_family(&d).unwrap();
        assert!(close(f[0].coverage, 62.0 / 64.0));
        assert!(close(f[0].lo, -0.05) && close(f[0].hi, 0.1));
        // k = 2: 1 - 2*2/64 = 0.9375 < 0.95, so 95 % picks k = 1.
        assert!(close(f[1].coverage, 60.0 / 64.0));
        let p =
            paired_difference(&d.iter().map(|x| (x + 1.0, 1.0)).collect::<Vec<_>>(), 0.95).unwrap();
        assert!(close(p.coverage, 0.968_75) && close(p.lo, -0.05) && close(p.hi, 0.1));
    }

    #[test]
    fn ten_rounds_use_the_published_k() {
        // Hollander & Wolfe: n = 10, 95 % -> W(9) .. W(47), coverage 1 - 2*25/1024.
        let d: Vec<f64> = (1..=10).map(f64::from).collect();
        let (_, f) = walsh_family(&d).unwrap();
        let c = pick(&f, 0.95).unwrap();
        assert!(close(c.coverage, 1.0 - 50.0 / 1024.0), "{}", c.coverage);
        // Walsh averages of 1..10 sorted: the 9th smallest is 3.0 (1,1.5,2,2,2.5,2.5,3,3,3).
        assert!(close(c.lo, 3.0), "{}", c.lo);
        assert!(close(c.hi, 8.0), "{}", c.hi);
    }

    #[test]
    fn exact_p_with_and_without_ties() {
        // All six positive, distinct: p = 2/64.
        assert!(close(
            signed_rank_p(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            2.0 / 64.0
        ));
        // All equal and positive (ties): ranks all 3.5; only the all-plus and
        // all-minus assignments are as extreme: still 2/64.
        assert!(close(signed_rank_p(&[2.0; 6]), 2.0 / 64.0));
        // Zeros are dropped: three positive left, 2/8.
        assert!(close(signed_rank_p(&[0.0, 0.0, 1.0, 2.0, 3.0]), 0.25));
        // Balanced signs: no evidence.
        assert!(close(signed_rank_p(&[-1.0, 1.0]), 1.0));
        assert_eq!(signed_rank_p(&[0.0, 0.0]), 1.0);
        // -1, 2, 3: T+ = 5 of 6, |T - 3| = 2: sums 0 and 1 (low) and 5, 6
        // (high) of the 8 assignments -> 4/8.
        assert!(close(signed_rank_p(&[-1.0, 2.0, 3.0]), 0.5));
    }

    #[test]
    fn ratios_are_taken_on_the_log_scale() {
        let pairs = [(2.0, 1.0), (4.0, 2.0), (6.0, 3.0)];
        let r = paired_ratio(&pairs, 0.95).unwrap();
        assert!(close(r.point, 2.0) && close(r.lo, 2.0) && close(r.hi, 2.0));
        assert_eq!(r.per_round.len(), 3);
        assert!(paired_ratio(&[(1.0, 0.0)], 0.95).is_none());
        assert!(paired_ratio(&[], 0.95).is_none());
    }

    #[test]
    fn rounds_pair_up_only_where_both_ran() {
        let a = [(0, 1.0), (2, 3.0), (1, 2.0)];
        let b = [(2, 30.0), (0, 10.0), (5, 50.0)];
        assert_eq!(pair_by_round(&a, &b), vec![(1.0, 10.0), (3.0, 30.0)]);
    }
}
