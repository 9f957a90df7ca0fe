//! Intended send times (pure). Every time is computed from the step's start
//! instant — uniform: `offset + k × interval` from integers, never a running
//! sum, so no error accumulates over millions of requests; Poisson: the sum of
//! exact exponential gaps drawn from a seeded RNG (no sleeps involved).
//!
//! A class's rate is split evenly over its connections; connection `j` of `n`
//! is shifted by `j / rate`, so the merged stream of all connections is evenly
//! spaced at `1 / rate` (uniform) or a Poisson process of `rate` (the sum of
//! independent Poisson processes).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    Uniform,
    Poisson,
}

impl Arrival {
    pub fn as_str(self) -> &'static str {
        match self {
            Arrival::Uniform => "uniform",
            Arrival::Poisson => "poisson",
        }
    }
}

/// SplitMix64: a tiny, well-mixed seeded generator (Steele et al. 2014),
/// enough for arrival gaps, payload bytes and file offsets.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }
    /// Uniform in (0, 1]: never 0, so `ln` is finite.
    pub fn next_open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

/// The SplitMix64 finalizer: a bijective mix of 64 bits.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One connection's due times, in nanoseconds after the step's start.
#[derive(Debug, Clone)]
pub enum Schedule {
    Uniform {
        /// Slot of this connection's next request in the class's merged
        /// stream: `k × conns + index`.
        slot: u64,
        conns: u64,
        ns_per_slot: f64,
        phase_ns: f64,
    },
    Poisson {
        next_ns: f64,
        mean_gap_ns: f64,
        rng: SplitMix64,
    },
}

impl Schedule {
    /// Connection `index` of `conns` sharing `class_rate` requests/s, the
    /// whole class shifted by `phase_ns`.
    pub fn uniform(index: usize, conns: usize, class_rate: f64, phase_ns: f64) -> Schedule {
        assert!(index < conns && class_rate > 0.0 && phase_ns >= 0.0);
        Schedule::Uniform {
            slot: index as u64,
            conns: conns as u64,
            ns_per_slot: 1e9 / class_rate,
            phase_ns,
        }
    }

    /// A Poisson process of `class_rate / conns` for one connection.
    pub fn poisson(conns: usize, class_rate: f64, seed: u64) -> Schedule {
        assert!(conns > 0 && class_rate > 0.0);
        let mut s = Schedule::Poisson {
            next_ns: 0.0,
            mean_gap_ns: 1e9 * conns as f64 / class_rate,
            rng: SplitMix64::new(seed),
        };
        // The first arrival is one exponential gap after the start, like all
        // the others (memorylessness keeps the merged stream Poisson).
        if let Schedule::Poisson {
            next_ns,
            mean_gap_ns,
            rng,
        } = &mut s
        {
            *next_ns = -rng.next_open01().ln() * *mean_gap_ns;
        }
        s
    }

    /// The next due time (ns after the step's start), advancing the schedule.
    pub fn next_due_ns(&mut self) -> u64 {
        match self {
            Schedule::Uniform {
                slot,
                conns,
                ns_per_slot,
                phase_ns,
            } => {
                let t = (*phase_ns + *slot as f64 * *ns_per_slot).round() as u64;
                *slot += *conns;
                t
            }
            Schedule::Poisson {
                next_ns,
                mean_gap_ns,
                rng,
            } => {
                let t = next_ns.round() as u64;
                *next_ns += -rng.next_open01().ln() * *mean_gap_ns;
                t
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(mut scheds: Vec<Schedule>, until_ns: u64) -> Vec<u64> {
        let mut all = Vec::new();
        for s in &mut scheds {
            loop {
                let t = s.next_due_ns();
                if t >= until_ns {
                    break;
                }
                all.push(t);
            }
        }
        all.sort_unstable();
        all
    }

    #[test]
    fn uniform_connections_merge_into_an_even_stream() {
        // 3 connections sharing 1000 req/s: one request every 1 ms overall.
        let scheds = (0..3)
            .map(|j| Schedule::uniform(j, 3, 1000.0, 0.0))
            .collect();
        let all = merged(scheds, 10_000_000);
        assert_eq!(all.len(), 10);
        for (k, t) in all.iter().enumerate() {
            assert_eq!(*t, k as u64 * 1_000_000);
        }
    }

    #[test]
    fn uniform_times_are_computed_not_accumulated() {
        // 1/3 ns steps cannot be represented exactly; a running sum would
        // drift, the computed time stays within rounding of the exact value.
        let rate = 3e9 / 7.0;
        let mut s = Schedule::uniform(1, 7, rate, 0.0);
        let ns_per_slot = 1e9 / rate;
        for k in 0..2_000_000u64 {
            let t = s.next_due_ns();
            if k % 100_000 == 0 || k == 1_999_999 {
                let exact = (k * 7 + 1) as f64 * ns_per_slot;
                assert!((t as f64 - exact).abs() <= 0.5 + exact * 1e-15, "k={k}");
            }
        }
        let mut s = Schedule::uniform(0, 1, 3.0, 0.0);
        let ts: Vec<u64> = (0..4).map(|_| s.next_due_ns()).collect();
        assert_eq!(ts, vec![0, 333_333_333, 666_666_667, 1_000_000_000]);
        let mut s = Schedule::uniform(0, 1, 3.0, 10.0);
        assert_eq!(s.next_due_ns(), 10);
        assert_eq!(s.next_due_ns(), 333_333_343);
    }

    #[test]
    fn poisson_has_the_right_rate_and_is_seeded() {
        let scheds = (0..10)
            .map(|j| Schedule::poisson(10, 10_000.0, 42 + j))
            .collect();
        let all = merged(scheds, 10_000_000_000); // 10 s at 10k/s
        let n = all.len() as f64;
        assert!((n - 100_000.0).abs() < 2_000.0, "{n}");
        // Exponential gaps: coefficient of variation ≈ 1 (uniform would be 0).
        let gaps: Vec<f64> = all.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        assert!((cv - 1.0).abs() < 0.05, "cv {cv}");
        let a: Vec<u64> = {
            let mut s = Schedule::poisson(1, 100.0, 7);
            (0..5).map(|_| s.next_due_ns()).collect()
        };
        let b: Vec<u64> = {
            let mut s = Schedule::poisson(1, 100.0, 7);
            (0..5).map(|_| s.next_due_ns()).collect()
        };
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn splitmix_open01_is_in_range() {
        let mut r = SplitMix64::new(0);
        for _ in 0..10_000 {
            let x = r.next_open01();
            assert!(x > 0.0 && x <= 1.0);
        }
        // Known first output of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }
}
