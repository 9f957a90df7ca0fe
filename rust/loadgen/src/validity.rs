//! When a run may be used (pure rules). A run the generator could not drive
//! as asked — it fell behind its schedule, did not deliver the offered rate,
//! or saw any error — is marked invalid with the reasons in words.

use crate::record::ErrorCounts;

/// Send lag p99 above this means the schedule was not kept.
pub const MAX_SEND_LAG_P99_US: f64 = 1000.0;
/// A class (of a multi-class mix) needs this many requests for its own send
/// lag p99 to decide: below it the "p99" is its maximum, so one scheduler
/// hiccup of the shared machine would void the class. Its requests still
/// count in the whole run's p99, which always decides, and their corrected
/// latency includes any lag.
pub const MIN_CLASS_REQUESTS_FOR_LAG_RULE: u64 = 100;
/// Achieved rate may fall at most this fraction below the offered rate.
pub const MAX_RATE_SHORTFALL: f64 = 0.01;
/// A generator thread busy this share of the window is the bottleneck.
pub const CLIENT_BOUND_CPU_SHARE: f64 = 0.95;

#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub open_loop: bool,
    pub offered_rps: Option<f64>,
    pub achieved_rps: f64,
    pub send_lag_p99_us: f64,
    pub requests: u64,
    /// Open loop: requests the schedule put in the window. The rate rule
    /// compares completions with this (Poisson arrivals make it differ from
    /// rate × duration by chance, which is not the server's doing).
    pub requests_scheduled: Option<u64>,
    pub errors: &'a ErrorCounts,
    pub record_errors: u64,
    pub body_checks_skipped: u64,
    /// One class of a mix, not the whole run (see
    /// `MIN_CLASS_REQUESTS_FOR_LAG_RULE`).
    pub class_level: bool,
}

pub fn invalid_reasons(f: &Facts) -> Vec<String> {
    let mut r = Vec::new();
    if f.requests == 0 {
        r.push("no request completed".to_string());
    }
    let lag_decides =
        f.requests > 0 && (!f.class_level || f.requests >= MIN_CLASS_REQUESTS_FOR_LAG_RULE);
    if f.open_loop && lag_decides && f.send_lag_p99_us > MAX_SEND_LAG_P99_US {
        r.push(format!(
            "send lag p99 {:.0} µs exceeds {MAX_SEND_LAG_P99_US:.0} µs: the generator fell behind its schedule",
            f.send_lag_p99_us
        ));
    }
    if let (true, Some(offered), Some(scheduled)) =
        (f.open_loop, f.offered_rps, f.requests_scheduled)
        && scheduled > 0
        && (f.requests as f64) < scheduled as f64 * (1.0 - MAX_RATE_SHORTFALL)
    {
        r.push(format!(
            "achieved {:.1} req/s is {:.1} % below the offered {offered:.1} req/s \
             ({} of {scheduled} scheduled requests completed; limit {:.0} %)",
            f.achieved_rps,
            (1.0 - f.requests as f64 / scheduled as f64) * 100.0,
            f.requests,
            MAX_RATE_SHORTFALL * 100.0
        ));
    }
    if f.errors.total > 0 {
        r.push(format!(
            "{} error{} ({})",
            f.errors.total,
            if f.errors.total == 1 { "" } else { "s" },
            f.errors.describe()
        ));
    }
    if f.body_checks_skipped > 0 {
        r.push(format!(
            "{} body checks skipped: the verifier thread fell behind",
            f.body_checks_skipped
        ));
    }
    if f.record_errors > 0 {
        r.push(format!(
            "{} values could not be recorded in a histogram",
            f.record_errors
        ));
    }
    r
}

/// Whether the generator, not the server, limited the run. Closed loop: a
/// thread was busy ≥ 95 % of the window. Open loop: the pacer spins, so CPU
/// share says nothing; a send lag p99 over 1 ms says the generator fell behind.
pub fn client_bound(
    open_loop: bool,
    send_lag_p99_us: f64,
    thread_cpu_shares: &[f64],
) -> (bool, Option<String>) {
    if open_loop {
        if send_lag_p99_us > MAX_SEND_LAG_P99_US {
            return (
                true,
                Some(format!(
                    "send lag p99 {send_lag_p99_us:.0} µs > {MAX_SEND_LAG_P99_US:.0} µs: the generator could not keep its schedule"
                )),
            );
        }
        return (false, None);
    }
    let busiest = thread_cpu_shares
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1));
    match busiest {
        Some((i, &share)) if share >= CLIENT_BOUND_CPU_SHARE => (
            true,
            Some(format!(
                "generator thread {i} was busy {:.0} % of the window (limit {:.0} %): the client, not the server, limited throughput",
                share * 100.0,
                CLIENT_BOUND_CPU_SHARE * 100.0
            )),
        ),
        _ => (false, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(errors: &ErrorCounts) -> Facts<'_> {
        Facts {
            open_loop: true,
            offered_rps: Some(1000.0),
            achieved_rps: 995.0,
            send_lag_p99_us: 12.0,
            requests: 9950,
            requests_scheduled: Some(10_000),
            errors,
            record_errors: 0,
            body_checks_skipped: 0,
            class_level: false,
        }
    }

    #[test]
    fn a_clean_run_is_valid() {
        let e = ErrorCounts::default();
        assert!(invalid_reasons(&facts(&e)).is_empty());
    }

    #[test]
    fn each_rule_gives_its_reason() {
        let e = ErrorCounts::default();
        let mut f = facts(&e);
        f.send_lag_p99_us = 1500.0;
        let r = invalid_reasons(&f);
        assert_eq!(r.len(), 1);
        assert!(r[0].contains("send lag p99 1500"), "{r:?}");

        let mut f = facts(&e);
        f.requests = 9899;
        f.achieved_rps = 989.9;
        let r = invalid_reasons(&f);
        assert!(
            r[0].contains("1.0 % below") && r[0].contains("9899 of 10000"),
            "{r:?}"
        );
        // Exactly 1 % below is still fine.
        f.requests = 9900;
        assert!(invalid_reasons(&f).is_empty());

        let mut e2 = ErrorCounts::default();
        e2.add_kind(crate::record::ErrorKind::Reset, 1);
        let r = invalid_reasons(&facts(&e2));
        assert_eq!(r, vec!["1 error (1 reset)".to_string()]);

        let mut f = facts(&e);
        f.requests = 0;
        assert!(invalid_reasons(&f)[0].contains("no request"));
    }

    #[test]
    fn a_small_class_leaves_the_lag_rule_to_the_whole_run() {
        let e = ErrorCounts::default();
        let mut f = facts(&e);
        f.send_lag_p99_us = 3800.0;
        f.class_level = true;
        f.requests = 20;
        f.requests_scheduled = Some(20);
        f.achieved_rps = 20.0;
        f.offered_rps = Some(20.0);
        assert!(invalid_reasons(&f).is_empty());
        f.requests = 100;
        f.requests_scheduled = Some(100);
        assert!(invalid_reasons(&f)[0].contains("send lag p99 3800"));
        // The whole run decides at any size.
        f.class_level = false;
        f.requests = 20;
        f.requests_scheduled = Some(20);
        assert!(invalid_reasons(&f)[0].contains("send lag p99 3800"));
    }

    #[test]
    fn closed_loop_ignores_rate_and_lag() {
        let e = ErrorCounts::default();
        let mut f = facts(&e);
        f.open_loop = false;
        f.offered_rps = None;
        f.requests_scheduled = None;
        f.achieved_rps = 1.0;
        f.send_lag_p99_us = 50_000.0;
        assert!(invalid_reasons(&f).is_empty());
    }

    #[test]
    fn client_bound_rules() {
        assert_eq!(client_bound(false, 0.0, &[0.5, 0.7]), (false, None));
        let (b, why) = client_bound(false, 0.0, &[0.5, 0.97]);
        assert!(b && why.unwrap().contains("thread 1 was busy 97 %"));
        assert_eq!(client_bound(true, 10.0, &[1.0]), (false, None));
        assert!(client_bound(true, 2000.0, &[0.1]).0);
    }
}
