//! The runtimes' latency histograms (Go's `runtime/metrics` time
//! histograms, tokio's schedule-latency histogram): bucket counts are
//! cumulative since the server started, so a span's events are the
//! difference of two samples, and its percentiles are read from that
//! difference. A bucket holds no finer information than its bounds: a
//! percentile is the upper bound of the bucket it falls in (an estimate at
//! most one bucket wide above the truth: Go's buckets are a quarter of a
//! power of two, up to 25 % wide; tokio's default log histogram is within
//! 25 % too), a sum uses bucket midpoints.

use crate::run::telemetry::sample::Histogram;

/// Events per bucket between two samples of one histogram; None when the
/// buckets differ (the validator leaves such lines out).
pub fn delta(a: &Histogram, b: &Histogram) -> Option<Vec<u64>> {
    if a.bounds_us != b.bounds_us || a.counts.len() != b.counts.len() {
        return None;
    }
    Some(
        a.counts
            .iter()
            .zip(&b.counts)
            .map(|(x, y)| y.saturating_sub(*x))
            .collect(),
    )
}

/// The value a bucket stands for when only one number can be given: its
/// upper bound, or its lower bound when it is open above.
fn top(bounds: &[Option<f64>], i: usize) -> Option<f64> {
    bounds.get(i + 1).copied().flatten().or(bounds[i])
}

/// The `q`-quantile (0 < q ≤ 1) of the events in `counts`, in µs: the
/// upper bound of the bucket holding the event of rank ⌈q·n⌉.
pub fn quantile_us(bounds: &[Option<f64>], counts: &[u64], q: f64) -> Option<f64> {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return None;
    }
    // (The small slack keeps 0.99 × 100 at rank 99 despite rounding.)
    let rank = ((q * n as f64 - 1e-9).ceil() as u64).clamp(1, n);
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return top(bounds, i);
        }
    }
    None
}

/// The largest event's bucket, as its upper bound (µs).
pub fn max_us(bounds: &[Option<f64>], counts: &[u64]) -> Option<f64> {
    let i = counts.iter().rposition(|c| *c > 0)?;
    top(bounds, i)
}

/// The events' total (µs), each counted at its bucket's midpoint (at its
/// finite bound when the bucket is open).
pub fn sum_us(bounds: &[Option<f64>], counts: &[u64]) -> f64 {
    counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| {
            let mid = match (bounds[i], bounds.get(i + 1).copied().flatten()) {
                (Some(lo), Some(hi)) => (lo + hi) / 2.0,
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => 0.0,
            };
            *c as f64 * mid
        })
        // (fold, not sum: an empty f64 sum is -0.0)
        .fold(0.0, |a, x| a + x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(bounds: &[Option<f64>], counts: &[u64]) -> Histogram {
        Histogram {
            bounds_us: bounds.to_vec(),
            counts: counts.to_vec(),
        }
    }

    // Buckets: (-inf, 0) [0, 10) [10, 100) [100, 1000) [1000, +inf)
    const B: [Option<f64>; 6] = [None, Some(0.0), Some(10.0), Some(100.0), Some(1000.0), None];

    #[test]
    fn a_span_is_the_difference_of_two_samples() {
        let a = h(&B, &[0, 5, 2, 0, 0]);
        let b = h(&B, &[0, 95, 3, 1, 1]);
        assert_eq!(delta(&a, &b), Some(vec![0, 90, 1, 1, 1]));
        let other = h(&B[..5], &[0, 1, 1, 1]);
        assert_eq!(delta(&a, &other), None);
    }

    #[test]
    fn percentiles_are_the_upper_bound_of_their_bucket() {
        // 90 events under 10 µs, 8 under 100, 1 under 1000, 1 open above 1000.
        let c = [0, 90, 8, 1, 1];
        assert_eq!(quantile_us(&B, &c, 0.5), Some(10.0));
        assert_eq!(quantile_us(&B, &c, 0.9), Some(10.0)); // rank 90: the 90th event
        assert_eq!(quantile_us(&B, &c, 0.91), Some(100.0));
        assert_eq!(quantile_us(&B, &c, 0.99), Some(1000.0)); // rank 99
        // Rank 100 is in the open bucket: its lower bound is all we know.
        assert_eq!(quantile_us(&B, &c, 1.0), Some(1000.0));
        assert_eq!(max_us(&B, &c), Some(1000.0));
        assert_eq!(max_us(&B, &[0, 3, 0, 0, 0]), Some(10.0));
        assert_eq!(quantile_us(&B, &[0; 5], 0.99), None);
        assert_eq!(max_us(&B, &[0; 5]), None);
        // One event: every quantile is its bucket.
        assert_eq!(quantile_us(&B, &[0, 0, 0, 1, 0], 0.01), Some(1000.0));
    }

    #[test]
    fn sums_count_each_event_at_its_bucket_midpoint() {
        // 2 × 5 + 1 × 55 + 1 × 1000 (open: its bound)
        assert_eq!(sum_us(&B, &[0, 2, 1, 0, 1]), 1065.0);
        // Below zero (Go's first bucket) counts at its upper bound, 0.
        assert_eq!(sum_us(&B, &[7, 0, 0, 0, 0]), 0.0);
        // No event: +0, which prints as 0 (an empty f64 sum is -0).
        assert!(sum_us(&B, &[0; 5]).is_sign_positive());
    }
}
