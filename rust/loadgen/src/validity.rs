//! When a run may be used (pure rules), in two lists kept apart:
//!
//! * **measurement** faults — the generator could not do what it was asked
//!   (it fell behind its schedule, read its responses late, skipped checks):
//!   the numbers describe the generator, not the server, and `valid` is
//!   false;
//! * **server outcomes** — errors, timeouts, resets, wrong bytes, overload,
//!   a shortfall of answers: results about the server that a claim may use,
//!   never a broken measurement.
//!
//! Per percentile, the generator's own error decides whether that percentile
//! of the corrected latency can be trusted. A response is stamped complete
//! at the kernel's receive timestamp of its last segment (where the kernel
//! gives one), so how late the reader then ran (receive lag, still recorded
//! and reported) is not in the latency: the error is the send lag.

use crate::record::ErrorCounts;
use crate::report::Percentiles;
use serde::{Deserialize, Serialize};

/// Send lag p99 above this, or above one inter-send gap of the schedule
/// where that is longer (`max_send_lag_p99_us`), means the schedule was not
/// kept.
pub const SEND_LAG_LIMIT_FLOOR_US: f64 = 1000.0;
/// A class (of a multi-class mix) needs this many requests for its own lag
/// p99s to decide: below it the "p99" is its maximum, so one scheduler
/// hiccup of the shared machine would void the class. Its requests still
/// count in the whole run's p99, which always decides, and their corrected
/// latency includes any lag.
pub const MIN_CLASS_REQUESTS_FOR_LAG_RULE: u64 = 100;
/// Completions may fall at most this fraction below the schedule.
pub const MAX_RATE_SHORTFALL: f64 = 0.01;
/// Closed loop: a generator thread busy this share of the window co-limits
/// throughput. At a busy share u a single-server queue holds on average
/// u / (1 − u) responses waiting for the client: 4 at 80 %, 9 at 90 %, so
/// from about 80 % on, responses the server has finished wait for the
/// client often enough to hold back the next requests (round one saw the
/// Go/tokio ratio pulled toward 1 at 90 %). 80 % also leaves a margin for
/// the share's own error (clock ticks, the window's edges).
pub const CLIENT_BOUND_CPU_SHARE: f64 = 0.80;
/// Per percentile: the generator's error must stay under this share of the
/// corrected latency at that percentile…
pub const TRUST_SHARE: f64 = 0.10;
/// …or under this many µs, whichever is larger (a constant wake-up cost
/// common to both servers is not the tail we guard against).
pub const TRUST_FLOOR_US: f64 = 25.0;
/// The in-window completion rule allows at least this many missing
/// completions: the requests in flight at the window's two edges (warm-up
/// requests answered in it, window requests answered after it) differ by a
/// request or two even for a server that keeps up, which is more than 1 % of
/// a small class (20 req/s for 5 s is 100 requests).
pub const MIN_EDGE_SLACK_REQUESTS: f64 = 2.0;
/// The backlog grows when each quarter of the window's mean backlog exceeds
/// the previous quarter's by at least this many requests…
pub const MIN_BACKLOG_STEP_REQUESTS: f64 = 2.0;
/// …and by at least this long at the offered rate (2 ms of added queueing
/// per quarter: a stall late in the window raises one quarter, not three).
pub const MIN_BACKLOG_STEP_S: f64 = 0.002;

#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub open_loop: bool,
    /// Idle mode: no traffic is expected (no "no request completed" rule).
    pub idle: bool,
    pub offered_rps: Option<f64>,
    /// The whole schedule's rate (all classes), which sets the lag limit.
    pub schedule_rps: Option<f64>,
    pub send_lag_p99_us: f64,
    /// Correct responses to requests intended in the window (also those
    /// answered in the drain).
    pub requests: u64,
    /// Correct responses completed inside the window (any intended time).
    pub completed_in_window: u64,
    /// Open loop: requests the schedule put in the window. The rules compare
    /// with this (Poisson arrivals make it differ from rate × duration by
    /// chance, which is not the server's doing).
    pub requests_scheduled: Option<u64>,
    /// Due, unresolved requests at evenly spaced instants of the window.
    pub backlog: &'a [u64],
    pub errors: &'a ErrorCounts,
    pub record_errors: u64,
    pub body_checks_skipped: u64,
    /// One class of a mix, not the whole run (see
    /// `MIN_CLASS_REQUESTS_FOR_LAG_RULE`).
    pub class_level: bool,
}

/// The verdicts on one result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judgement {
    /// Measurement faults (empty: the measurement is valid).
    pub invalid_reasons: Vec<String>,
    /// One of them is the send-lag rule: the schedule's timing was not kept.
    pub late: bool,
    /// Server outcomes that are not "every request answered, in time".
    pub server_reasons: Vec<String>,
    /// Why the run counts as overloaded (open loop only).
    pub overload_reason: Option<String>,
    /// Fewer than 99 % of the scheduled requests were ever answered correctly.
    pub shortfall: bool,
}

/// The send lag p99 a paced run may reach: 1 ms, or one mean inter-send
/// gap of the whole schedule where that is longer (under 1,000 req/s). A
/// lag shorter than one gap holds back at most the one request it delays:
/// the next is not yet due, so the server still sees the scheduled arrivals,
/// each jittered by less than a gap, never a pile of them sent at once. At
/// 400 req/s that allows a 2.5 ms wake-up of the shared VM (its p99.9 here)
/// and still voids a stall that sends a burst. What the lag adds to a
/// latency is judged per percentile (`latency_trusted`). Evenly spaced
/// arrivals only: Poisson gaps are often far shorter than the mean, so the
/// caller passes no rate there and the limit stays 1 ms.
pub fn max_send_lag_p99_us(schedule_rps: Option<f64>) -> f64 {
    let gap_us = schedule_rps.filter(|r| *r > 0.0).map_or(0.0, |r| 1e6 / r);
    SEND_LAG_LIMIT_FLOOR_US.max(gap_us)
}

pub fn judge(f: &Facts) -> Judgement {
    let mut j = Judgement::default();
    let lag_decides =
        f.requests > 0 && (!f.class_level || f.requests >= MIN_CLASS_REQUESTS_FOR_LAG_RULE);
    let limit_us = max_send_lag_p99_us(f.schedule_rps);
    if f.open_loop && lag_decides && f.send_lag_p99_us > limit_us {
        j.late = true;
        j.invalid_reasons.push(format!(
            "send lag p99 {:.0} µs exceeds {limit_us:.0} µs: the generator fell behind its schedule",
            f.send_lag_p99_us
        ));
    }
    if f.body_checks_skipped > 0 {
        j.invalid_reasons.push(format!(
            "{} body checks skipped: the verifier fell behind",
            f.body_checks_skipped
        ));
    }
    if f.record_errors > 0 {
        j.invalid_reasons.push(format!(
            "{} values could not be recorded in a histogram",
            f.record_errors
        ));
    }

    if f.requests == 0 && !f.idle {
        j.server_reasons.push("no request completed".to_string());
    }
    if let (true, Some(offered), Some(scheduled)) =
        (f.open_loop, f.offered_rps, f.requests_scheduled)
        && scheduled > 0
    {
        let floor = scheduled as f64 * (1.0 - MAX_RATE_SHORTFALL);
        if (f.requests as f64) < floor {
            j.shortfall = true;
            j.server_reasons.push(format!(
                "shortfall: {} of {scheduled} scheduled requests were answered correctly \
                 ({:.1} % missing; limit {:.0} %)",
                f.requests,
                (1.0 - f.requests as f64 / scheduled as f64) * 100.0,
                MAX_RATE_SHORTFALL * 100.0
            ));
        }
        let mut why = Vec::new();
        let slack = (scheduled as f64 * MAX_RATE_SHORTFALL).max(MIN_EDGE_SLACK_REQUESTS);
        if (f.completed_in_window as f64) < scheduled as f64 - slack {
            why.push(format!(
                "{} responses completed in the window for {scheduled} scheduled \
                 ({:.1} % below the offered {offered:.1} req/s; limit {:.0} %)",
                f.completed_in_window,
                (1.0 - f.completed_in_window as f64 / scheduled as f64) * 100.0,
                MAX_RATE_SHORTFALL * 100.0
            ));
        }
        if let Some(g) = backlog_growth(f.backlog, offered) {
            why.push(g);
        }
        if !why.is_empty() {
            let reason = format!("overloaded: {}", why.join("; "));
            j.server_reasons.push(reason.clone());
            j.overload_reason = Some(reason);
        }
    }
    if f.errors.total > 0 {
        j.server_reasons.push(format!(
            "{} error{} ({})",
            f.errors.total,
            if f.errors.total == 1 { "" } else { "s" },
            f.errors.describe()
        ));
    }
    j
}

/// The backlog (due requests not yet answered: in flight at the server or
/// held back unsent) grows through the window when the mean of each quarter
/// of the samples exceeds the previous quarter's by a step of at least
/// `MIN_BACKLOG_STEP_REQUESTS` and `MIN_BACKLOG_STEP_S` × the offered rate.
/// Returns the reason in words, or None (also with fewer than 8 samples).
pub fn backlog_growth(samples: &[u64], offered_rps: f64) -> Option<String> {
    if samples.len() < 8 {
        return None;
    }
    let q = samples.len() / 4;
    let means: Vec<f64> = (0..4)
        .map(|k| {
            let part = &samples[k * q..if k == 3 { samples.len() } else { (k + 1) * q }];
            part.iter().sum::<u64>() as f64 / part.len() as f64
        })
        .collect();
    let step = MIN_BACKLOG_STEP_REQUESTS.max(offered_rps * MIN_BACKLOG_STEP_S);
    let growing = means.windows(2).all(|w| w[1] - w[0] >= step);
    growing.then(|| {
        format!(
            "the backlog of due, unanswered requests grew through the window \
             (quarter means {:.0} → {:.0} → {:.0} → {:.0}, {:.1} ms of queueing at the offered rate)",
            means[0],
            means[1],
            means[2],
            means[3],
            (means[3] - means[0]) / offered_rps * 1e3
        )
    })
}

/// Which percentiles of the corrected latency the generator's own error
/// leaves trustworthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Trusted {
    pub p50: bool,
    pub p99: bool,
    pub p999: bool,
}

/// At p50, p99 and p99.9: the generator's error at that percentile must be
/// under `TRUST_SHARE` of the corrected latency there or under
/// `TRUST_FLOOR_US`, whichever is larger. The error is the send lag, plus
/// the receive lag only where it is in the latency (`receive_lag`: a
/// completion stamped when the reader ran, not by the kernel). Nothing
/// recorded: nothing trusted.
pub fn latency_trusted(
    corrected: &Percentiles,
    send_lag: &Percentiles,
    receive_lag: Option<&Percentiles>,
    recorded: bool,
) -> Trusted {
    let ok = |c: f64, s: f64, r: f64| recorded && s + r < (TRUST_SHARE * c).max(TRUST_FLOOR_US);
    let r = receive_lag.copied().unwrap_or_default();
    Trusted {
        p50: ok(corrected.p50, send_lag.p50, r.p50),
        p99: ok(corrected.p99, send_lag.p99, r.p99),
        p999: ok(corrected.p999, send_lag.p999, r.p999),
    }
}

/// Whether the generator, not the server, limited the run. Closed loop: a
/// thread was busy ≥ `CLIENT_BOUND_CPU_SHARE` of the window. Open loop:
/// a send lag p99 over `max_send_lag_p99_us` says the generator fell behind
/// (its CPU share includes the busy wait before each send, so it says
/// nothing here).
pub fn client_bound(
    open_loop: bool,
    schedule_rps: Option<f64>,
    send_lag_p99_us: f64,
    thread_cpu_shares: &[f64],
) -> (bool, Option<String>) {
    if open_loop {
        let limit_us = max_send_lag_p99_us(schedule_rps);
        if send_lag_p99_us > limit_us {
            return (
                true,
                Some(format!(
                    "send lag p99 {send_lag_p99_us:.0} µs > {limit_us:.0} µs: the generator could not keep its schedule"
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
                "generator thread {i} was busy {:.0} % of the window (limit {:.0} %): the client, not only the server, limited throughput",
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
            idle: false,
            offered_rps: Some(1000.0),
            schedule_rps: Some(1000.0),
            send_lag_p99_us: 12.0,
            requests: 9950,
            completed_in_window: 9960,
            requests_scheduled: Some(10_000),
            backlog: &[],
            errors,
            record_errors: 0,
            body_checks_skipped: 0,
            class_level: false,
        }
    }

    #[test]
    fn a_clean_run_is_valid_and_ok() {
        let e = ErrorCounts::default();
        assert_eq!(judge(&facts(&e)), Judgement::default());
    }

    #[test]
    fn generator_faults_are_measurement_faults() {
        let e = ErrorCounts::default();
        let mut f = facts(&e);
        f.send_lag_p99_us = 1500.0;
        let j = judge(&f);
        assert_eq!(j.invalid_reasons.len(), 1);
        assert!(j.invalid_reasons[0].contains("send lag p99 1500"), "{j:?}");
        assert!(j.server_reasons.is_empty());

        let mut f = facts(&e);
        f.body_checks_skipped = 3;
        let j = judge(&f);
        assert!(
            j.invalid_reasons[0].contains("3 body checks skipped"),
            "{j:?}"
        );
    }

    #[test]
    fn errors_shortfall_and_overload_are_server_outcomes() {
        let mut e2 = ErrorCounts::default();
        e2.add_kind(crate::record::ErrorKind::Reset, 1);
        let j = judge(&facts(&e2));
        assert!(j.invalid_reasons.is_empty());
        assert_eq!(j.server_reasons, vec!["1 error (1 reset)".to_string()]);

        let e = ErrorCounts::default();
        let mut f = facts(&e);
        f.requests = 9899;
        let j = judge(&f);
        assert!(j.shortfall && j.overload_reason.is_none(), "{j:?}");
        assert!(
            j.server_reasons[0].contains("9899 of 10000") && j.server_reasons[0].contains("1.0 %"),
            "{j:?}"
        );
        // Exactly 1 % below is still fine.
        f.requests = 9900;
        assert!(!judge(&f).shortfall);

        // All answered, but late: too few completed inside the window.
        let mut f = facts(&e);
        f.requests = 10_000;
        f.completed_in_window = 6_000;
        let j = judge(&f);
        assert!(!j.shortfall);
        let why = j.overload_reason.unwrap();
        assert!(
            why.contains("6000 responses completed in the window"),
            "{why}"
        );

        // A small class: two missing at the edges are not overload.
        let mut f = facts(&e);
        f.requests_scheduled = Some(100);
        f.requests = 100;
        f.completed_in_window = 98;
        assert_eq!(judge(&f), Judgement::default());
        f.completed_in_window = 97;
        assert!(judge(&f).overload_reason.is_some());

        let mut f = facts(&e);
        f.requests = 0;
        f.completed_in_window = 0;
        assert!(judge(&f).server_reasons[0].contains("no request"));
        // Idle mode without priming expects no traffic.
        f.open_loop = false;
        f.idle = true;
        f.requests_scheduled = None;
        assert_eq!(judge(&f), Judgement::default());
    }

    #[test]
    fn a_growing_backlog_is_overload_and_a_late_stall_is_not() {
        // 20 samples growing linearly by 5 per sample at 1000 req/s: quarter
        // steps of 25 requests ≥ max(2, 2 ms × 1000/s).
        let growing: Vec<u64> = (0..20).map(|i| 3 + 5 * i).collect();
        let why = backlog_growth(&growing, 1000.0).unwrap();
        assert!(
            why.contains("backlog") && why.contains("quarter means 13 → 38 → 63 → 88"),
            "{why}"
        );
        // One burst in the last quarter raises one quarter only.
        let mut stall = vec![2u64; 20];
        for s in &mut stall[16..] {
            *s = 500;
        }
        assert_eq!(backlog_growth(&stall, 1000.0), None);
        // Noise around a constant, and too few samples.
        let flat: Vec<u64> = (0..20).map(|i| 4 + i % 3).collect();
        assert_eq!(backlog_growth(&flat, 1000.0), None);
        assert_eq!(backlog_growth(&growing[..7], 1000.0), None);
        // The step scales with the rate: 25 requests per quarter is 0.5 ms
        // at 50k req/s, under the 2 ms step.
        assert_eq!(backlog_growth(&growing, 50_000.0), None);
        // Through `judge`, with everything answered in the window.
        let e = ErrorCounts::default();
        let mut f = facts(&e);
        f.backlog = &growing;
        let j = judge(&f);
        assert!(j.overload_reason.unwrap().contains("backlog"));
        assert!(j.invalid_reasons.is_empty());
    }

    #[test]
    fn a_small_class_leaves_the_lag_rule_to_the_whole_run() {
        let e = ErrorCounts::default();
        let mut f = facts(&e);
        f.send_lag_p99_us = 3800.0;
        f.class_level = true;
        f.requests = 20;
        f.completed_in_window = 20;
        f.requests_scheduled = Some(20);
        f.offered_rps = Some(20.0);
        assert!(judge(&f).invalid_reasons.is_empty());
        f.requests = 100;
        f.completed_in_window = 100;
        f.requests_scheduled = Some(100);
        assert!(judge(&f).invalid_reasons[0].contains("send lag p99 3800"));
        // The whole run decides at any size.
        f.class_level = false;
        f.requests = 20;
        f.completed_in_window = 20;
        f.requests_scheduled = Some(20);
        assert!(judge(&f).invalid_reasons[0].contains("send lag p99 3800"));
    }

    #[test]
    fn closed_loop_ignores_rate_and_lags() {
        let e = ErrorCounts::default();
        let mut f = facts(&e);
        f.open_loop = false;
        f.offered_rps = None;
        f.requests_scheduled = None;
        f.send_lag_p99_us = 50_000.0;
        assert_eq!(judge(&f), Judgement::default());
    }

    #[test]
    fn trust_per_percentile() {
        let p = |p50: f64, p99: f64, p999: f64| Percentiles {
            p50,
            p99,
            p999,
            ..Default::default()
        };
        let corrected = p(40.0, 1000.0, 20_000.0);
        // p50: 10 + 10 = 20 < max(4, 25); p99: 90 + 20 = 110 ≥ 100;
        // p99.9: 1500 + 400 < 2000.
        let t = latency_trusted(
            &corrected,
            &p(10.0, 90.0, 1500.0),
            Some(&p(10.0, 20.0, 400.0)),
            true,
        );
        assert_eq!(
            t,
            Trusted {
                p50: true,
                p99: false,
                p999: true
            }
        );
        // A kernel-stamped completion: only the send lag is in the latency.
        let t = latency_trusted(&corrected, &p(10.0, 90.0, 1500.0), None, true);
        assert!(t.p99);
        // Exactly at the floor is not under it.
        let t = latency_trusted(&p(10.0, 10.0, 10.0), &p(25.0, 0.0, 0.0), None, true);
        assert!(!t.p50 && t.p99);
        assert_eq!(
            latency_trusted(&corrected, &p(0.0, 0.0, 0.0), None, false),
            Trusted::default()
        );
    }

    #[test]
    fn client_bound_rules() {
        assert_eq!(client_bound(false, None, 0.0, &[0.5, 0.7]), (false, None));
        let (b, why) = client_bound(false, None, 0.0, &[0.5, 0.85]);
        assert!(b && why.unwrap().contains("thread 1 was busy 85 %"));
        assert!(client_bound(false, None, 0.0, &[0.80]).0);
        assert!(!client_bound(false, None, 0.0, &[0.79]).0);
        assert_eq!(client_bound(true, Some(1e4), 10.0, &[1.0]), (false, None));
        assert!(client_bound(true, Some(1e4), 2000.0, &[0.1]).0);
        // At 400 req/s a 2 ms lag is shorter than one gap (2.5 ms).
        assert!(!client_bound(true, Some(400.0), 2000.0, &[0.1]).0);
    }

    #[test]
    fn the_lag_limit_is_one_ms_or_one_gap_of_the_schedule() {
        assert_eq!(max_send_lag_p99_us(Some(50_000.0)), 1000.0);
        assert_eq!(max_send_lag_p99_us(Some(1000.0)), 1000.0);
        assert_eq!(max_send_lag_p99_us(Some(400.0)), 2500.0);
        assert_eq!(max_send_lag_p99_us(None), 1000.0);
        assert_eq!(max_send_lag_p99_us(Some(0.0)), 1000.0);
        // Through `judge`: the same lag voids a 1,000 req/s run, not a
        // 400 req/s one, and a longer one voids both.
        let e = ErrorCounts::default();
        let mut f = facts(&e);
        f.send_lag_p99_us = 2000.0;
        assert!(judge(&f).invalid_reasons[0].contains("exceeds 1000 µs"));
        f.schedule_rps = Some(400.0);
        assert!(judge(&f).invalid_reasons.is_empty());
        f.send_lag_p99_us = 2600.0;
        assert!(judge(&f).invalid_reasons[0].contains("2600 µs exceeds 2500 µs"));
    }
}
