//! Many conditions at once. A condition is decided when its interval lies
//! in a region; the largest coverage at which its nested intervals still
//! lie there gives a p-value (p = 1 − that coverage), and Holm's step-down
//! adjustment of those p-values keeps the family-wise error at α — so that
//! one of twenty conditions falling outside by chance does not make a
//! claim "mixed".

use super::Nested;

/// One-sided p-value for "the parameter lies where `inside` says": an
/// interval of two-sided coverage c lying wholly inside a region rejects
/// the parameter lying outside it at (1 − c)/2 (the interval-inclusion
/// principle, as in a TOST equivalence test). The widest nested interval
/// inside gives the smallest p; 1 when none is inside.
pub fn containment_p(family: &[Nested], inside: impl Fn(f64, f64) -> bool) -> f64 {
    family
        .iter()
        .filter(|n| inside(n.lo, n.hi))
        .map(|n| (1.0 - n.coverage) / 2.0)
        .fold(1.0, f64::min)
}

/// Holm's step-down procedure: which hypotheses are rejected at
/// family-wise level `alpha`.
pub fn holm(p: &[f64], alpha: f64) -> Vec<bool> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut rejected = vec![false; m];
    for (i, &j) in order.iter().enumerate() {
        if p[j] <= alpha / (m - i) as f64 {
            rejected[j] = true;
        } else {
            break;
        }
    }
    rejected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_steps_down_and_stops() {
        assert_eq!(holm(&[0.01, 0.04, 0.03], 0.05), vec![true, false, false]);
        assert_eq!(holm(&[0.01, 0.02, 0.04], 0.05), vec![true, true, true]);
        assert_eq!(holm(&[0.2, 0.001], 0.05), vec![false, true]);
        assert!(holm(&[], 0.05).is_empty());
    }

    #[test]
    fn containment_uses_the_widest_interval_inside() {
        let f = [
            Nested {
                lo: 0.5,
                hi: 1.5,
                coverage: 0.99,
            },
            Nested {
                lo: 0.8,
                hi: 1.2,
                coverage: 0.95,
            },
            Nested {
                lo: 0.95,
                hi: 1.05,
                coverage: 0.5,
            },
        ];
        let p = containment_p(&f, |lo, hi| lo >= 0.7 && hi <= 1.3);
        assert!((p - 0.025).abs() < 1e-12);
        assert_eq!(containment_p(&f, |lo, _| lo > 2.0), 1.0);
    }
}
