//! Per-thread, per-class recorders: HdrHistograms (nanoseconds, 3
//! significant digits) and counters, owned by one thread with no sharing on
//! the hot path, merged after the run like wrk2's per-thread histograms.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub type Hist = Histogram<u64>;

pub const SIGFIG: u8 = 3;
/// Mismatch descriptions kept per recorder (and in the merged result).
pub const MAX_MISMATCH_NOTES: usize = 10;
/// Per-second interval histograms are kept for at most this many seconds.
const MAX_INTERVALS: usize = 24 * 3600;

/// An auto-resizing histogram: no value can be out of range, so a stall of
/// any length is recorded as it was.
pub fn new_hist() -> Hist {
    Histogram::new(SIGFIG).expect("3 significant digits is a valid histogram")
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    pub total: u64,
    /// Connection attempts that failed (refused, timed out).
    pub connect: u64,
    /// Connections lost to a reset or another socket error.
    pub reset: u64,
    /// Connections the server closed (EOF) while the client still used them.
    pub closed: u64,
    /// Requests unanswered after `--timeout` (their connection is replaced).
    pub timeout: u64,
    /// Wrong responses: bytes, id, status or length.
    pub mismatch: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Connect,
    Reset,
    Closed,
    Timeout,
    Mismatch,
}

impl ErrorCounts {
    pub fn add_kind(&mut self, kind: ErrorKind, n: u64) {
        match kind {
            ErrorKind::Connect => self.connect += n,
            ErrorKind::Reset => self.reset += n,
            ErrorKind::Closed => self.closed += n,
            ErrorKind::Timeout => self.timeout += n,
            ErrorKind::Mismatch => self.mismatch += n,
        }
        self.total += n;
    }

    pub fn add(&mut self, o: &ErrorCounts) {
        self.connect += o.connect;
        self.reset += o.reset;
        self.closed += o.closed;
        self.timeout += o.timeout;
        self.mismatch += o.mismatch;
        self.total += o.total;
    }

    /// "2 connect, 1 timeout" (kinds with a zero count left out).
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("connect", self.connect),
            ("reset", self.reset),
            ("closed", self.closed),
            ("timeout", self.timeout),
            ("mismatch", self.mismatch),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
        parts.join(", ")
    }
}

/// One second of the measured window (by response completion time).
#[derive(Debug, Clone)]
pub struct Interval {
    pub requests: u64,
    pub corrected: Hist,
}

#[derive(Debug, Clone)]
pub struct Recorder {
    /// Response complete − intended send time (coordinated omission corrected).
    pub corrected: Hist,
    /// Response complete − actual write.
    pub uncorrected: Hist,
    /// Actual write − the moment the request could be sent (its intended
    /// time unless it waited for the cap, a reconnect or a full socket): the
    /// generator's own error.
    pub send_lag: Hist,
    pub intervals: Vec<Interval>,
    /// Correct responses recorded.
    pub requests: u64,
    /// Open loop: requests whose intended time fell in the window. Each of
    /// them ends as exactly one of: recorded (`requests`), a `timeout` error
    /// (unanswered after `--timeout`, or still unsent at the window's end +
    /// `--timeout`), a `mismatch` error (a wrong response) or lost with its
    /// connection (`requests_lost`). So with no wrong response,
    /// scheduled = requests + errors.timeout + requests_lost.
    pub requests_scheduled: u64,
    /// Measured requests handed to a connection (scheduled − sent were never
    /// sent, and are among the timeouts).
    pub requests_sent: u64,
    /// Measured requests lost with their connection (reset, close, bad bytes).
    pub requests_lost: u64,
    /// Due requests held back because their connection had `--max-in-flight`
    /// requests outstanding.
    pub in_flight_cap_hits: u64,
    /// Responses whose body content was verified.
    pub body_checks: u64,
    /// Body checks dropped because the verifier thread fell behind.
    pub body_checks_skipped: u64,
    /// Values a histogram refused (should never happen with auto-resize).
    pub record_errors: u64,
    pub errors: ErrorCounts,
    pub first_mismatches: Vec<String>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            corrected: new_hist(),
            uncorrected: new_hist(),
            send_lag: new_hist(),
            intervals: Vec::new(),
            requests: 0,
            requests_scheduled: 0,
            requests_sent: 0,
            requests_lost: 0,
            in_flight_cap_hits: 0,
            body_checks: 0,
            body_checks_skipped: 0,
            record_errors: 0,
            errors: ErrorCounts::default(),
            first_mismatches: Vec::new(),
        }
    }

    /// Records one correct response. Times are ns on one clock: intended
    /// send time, when it could first be sent (≥ intended: later if it waited
    /// for the in-flight cap, a reconnect or a full socket), actual write,
    /// response complete. `window_start_ns` is the end of the warm-up.
    pub fn record(
        &mut self,
        intended_ns: u64,
        eligible_ns: u64,
        sent_ns: u64,
        done_ns: u64,
        window_start_ns: u64,
    ) {
        let corrected = done_ns.saturating_sub(intended_ns);
        let ok = self.corrected.record(corrected).is_ok()
            & self
                .uncorrected
                .record(done_ns.saturating_sub(sent_ns))
                .is_ok()
            & self
                .send_lag
                .record(sent_ns.saturating_sub(eligible_ns.max(intended_ns)))
                .is_ok();
        if !ok {
            self.record_errors += 1;
        }
        self.requests += 1;
        let sec = (done_ns.saturating_sub(window_start_ns) / 1_000_000_000) as usize;
        if sec < MAX_INTERVALS {
            while self.intervals.len() <= sec {
                self.intervals.push(Interval {
                    requests: 0,
                    corrected: new_hist(),
                });
            }
            let iv = &mut self.intervals[sec];
            iv.requests += 1;
            if iv.corrected.record(corrected).is_err() {
                self.record_errors += 1;
            }
        }
    }

    pub fn error(&mut self, kind: ErrorKind, n: u64) {
        self.errors.add_kind(kind, n);
    }

    pub fn mismatch(&mut self, text: String) {
        self.errors.add_kind(ErrorKind::Mismatch, 1);
        if self.first_mismatches.len() < MAX_MISMATCH_NOTES {
            self.first_mismatches.push(text);
        }
    }

    pub fn merge(&mut self, o: &Recorder) {
        let mut ok = self.corrected.add(&o.corrected).is_ok();
        ok &= self.uncorrected.add(&o.uncorrected).is_ok();
        ok &= self.send_lag.add(&o.send_lag).is_ok();
        for (i, iv) in o.intervals.iter().enumerate() {
            if self.intervals.len() <= i {
                self.intervals.push(Interval {
                    requests: 0,
                    corrected: new_hist(),
                });
            }
            self.intervals[i].requests += iv.requests;
            ok &= self.intervals[i].corrected.add(&iv.corrected).is_ok();
        }
        if !ok {
            self.record_errors += 1;
        }
        self.requests += o.requests;
        self.requests_scheduled += o.requests_scheduled;
        self.requests_sent += o.requests_sent;
        self.requests_lost += o.requests_lost;
        self.in_flight_cap_hits += o.in_flight_cap_hits;
        self.body_checks += o.body_checks;
        self.body_checks_skipped += o.body_checks_skipped;
        self.record_errors += o.record_errors;
        self.errors.add(&o.errors);
        for m in &o.first_mismatches {
            if self.first_mismatches.len() < MAX_MISMATCH_NOTES {
                self.first_mismatches.push(m.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_the_three_histograms_and_intervals() {
        let mut r = Recorder::new();
        // intended 1.0 s, written 1.000010 s, done 1.000510 s; window from 1 s.
        r.record(
            1_000_000_000,
            1_000_000_000,
            1_000_010_000,
            1_000_510_000,
            1_000_000_000,
        );
        // Held by the cap until 2.4 s, written at 2.400002 s: lag 2 µs.
        r.record(
            2_000_000_000,
            2_400_000_000,
            2_400_002_000,
            3_500_000_000,
            1_000_000_000,
        );
        assert_eq!(r.requests, 2);
        assert!(r.corrected.equivalent(r.corrected.min(), 510_000));
        assert!(r.uncorrected.equivalent(r.uncorrected.min(), 500_000));
        assert!(r.send_lag.equivalent(r.send_lag.max(), 10_000));
        assert!(r.send_lag.equivalent(r.send_lag.min(), 2_000));
        assert!(r.uncorrected.equivalent(r.uncorrected.max(), 1_099_998_000));
        assert!(r.corrected.equivalent(r.corrected.max(), 1_500_000_000));
        // Completions in second 0 and second 2 of the window.
        assert_eq!(
            r.intervals.iter().map(|i| i.requests).collect::<Vec<_>>(),
            vec![1, 0, 1]
        );
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        let mut all = Recorder::new();
        for i in 0..10_000u64 {
            let (t, s, d) = (i * 1000, i * 1000 + i % 7, i * 1000 + 50_000 + i * 13);
            if i % 3 == 0 { &mut a } else { &mut b }.record(t, t, s, d, 0);
            all.record(t, t, s, d, 0);
        }
        a.error(ErrorKind::Timeout, 2);
        b.mismatch("x".into());
        a.merge(&b);
        assert_eq!(a.corrected, all.corrected);
        assert_eq!(a.uncorrected, all.uncorrected);
        assert_eq!(a.send_lag, all.send_lag);
        assert_eq!(a.requests, 10_000);
        assert_eq!(a.intervals.len(), all.intervals.len());
        for (x, y) in a.intervals.iter().zip(&all.intervals) {
            assert_eq!(x.requests, y.requests);
            assert_eq!(x.corrected, y.corrected);
        }
        assert_eq!(a.errors.total, 3);
        assert_eq!(a.errors.describe(), "2 timeout, 1 mismatch");
        assert_eq!(a.first_mismatches, vec!["x".to_string()]);
    }

    #[test]
    fn mismatch_notes_are_bounded() {
        let mut r = Recorder::new();
        for i in 0..50 {
            r.mismatch(format!("m{i}"));
        }
        assert_eq!(r.errors.mismatch, 50);
        assert_eq!(r.first_mismatches.len(), MAX_MISMATCH_NOTES);
    }
}
