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
    /// Correct responses completed in this second.
    pub requests: u64,
    /// Their corrected latency, plus the censored values of requests that
    /// failed in this second.
    pub corrected: Hist,
}

/// A step's measured window, ns on the run's clock: `[start_ns, end_ns)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Window {
    pub fn contains(&self, t: u64) -> bool {
        t >= self.start_ns && t < self.end_ns
    }
}

/// The instants of one correct response, ns on one clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamps {
    /// Its intended send time.
    pub intended: u64,
    /// When it could first be sent (≥ intended: later if it waited for the
    /// in-flight cap, a reconnect or a full socket).
    pub eligible: u64,
    /// Its first byte went to the kernel.
    pub sent: u64,
    /// The reader saw its last byte (userspace).
    pub done: u64,
    /// The userspace stamp minus the kernel's receive timestamp of the read
    /// that completed it; `None` when the kernel gave none.
    pub receive_lag: Option<u64>,
}

/// How a request intended in the window ended after the window's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    Answered,
    TimedOut,
    /// Lost with its connection, or answered wrongly.
    Failed,
}

/// Requests intended in the window that were still unresolved at its end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainCounts {
    /// = answered + timed_out + failed.
    pub outstanding_at_window_end: u64,
    pub answered: u64,
    pub timed_out: u64,
    pub failed: u64,
    /// The latest resolution time of a request intended in the window, ns
    /// (0 when none).
    pub last_resolved_ns: u64,
}

impl DrainCounts {
    fn add(&mut self, o: &DrainCounts) {
        self.outstanding_at_window_end += o.outstanding_at_window_end;
        self.answered += o.answered;
        self.timed_out += o.timed_out;
        self.failed += o.failed;
        self.last_resolved_ns = self.last_resolved_ns.max(o.last_resolved_ns);
    }
}

#[derive(Debug, Clone)]
pub struct Recorder {
    /// Response complete − intended send time (coordinated omission
    /// corrected), plus one censored value (failure − intended) per request
    /// that timed out or was lost.
    pub corrected: Hist,
    /// Response complete − actual write.
    pub uncorrected: Hist,
    /// Actual write − the moment the request could be sent (its intended
    /// time unless it waited for the cap, a reconnect or a full socket): the
    /// generator's own error.
    pub send_lag: Hist,
    /// Userspace stamp − the kernel's receive timestamp: the generator's own
    /// delay in reading a response that had arrived.
    pub receive_lag: Hist,
    pub intervals: Vec<Interval>,
    /// Correct responses recorded (requests intended in the window, answered
    /// in it or in the drain after it).
    pub requests: u64,
    /// Correct responses completed inside the window, whatever their
    /// intended time (warm-up requests answered in the window count).
    pub completed_in_window: u64,
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
    /// Body checks dropped because the verifier fell behind.
    pub body_checks_skipped: u64,
    /// Values a histogram refused (should never happen with auto-resize).
    pub record_errors: u64,
    /// Timed-out or lost requests recorded in `corrected` as lower bounds.
    pub censored: u64,
    /// The smallest censored value, ns (`u64::MAX` when none).
    pub min_censored_ns: u64,
    pub drain: DrainCounts,
    /// Requests due and not yet resolved (sent and unanswered, or held back
    /// unsent), sampled at evenly spaced instants of the window.
    pub backlog: Vec<u64>,
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
            receive_lag: new_hist(),
            intervals: Vec::new(),
            requests: 0,
            completed_in_window: 0,
            requests_scheduled: 0,
            requests_sent: 0,
            requests_lost: 0,
            in_flight_cap_hits: 0,
            body_checks: 0,
            body_checks_skipped: 0,
            record_errors: 0,
            censored: 0,
            min_censored_ns: u64::MAX,
            drain: DrainCounts::default(),
            backlog: Vec::new(),
            errors: ErrorCounts::default(),
            first_mismatches: Vec::new(),
        }
    }

    /// Records one correct response to a request intended in window `w`.
    pub fn record(&mut self, s: &Stamps, w: Window) {
        let corrected = s.done.saturating_sub(s.intended);
        let mut ok = self.corrected.record(corrected).is_ok()
            & self
                .uncorrected
                .record(s.done.saturating_sub(s.sent))
                .is_ok()
            & self
                .send_lag
                .record(s.sent.saturating_sub(s.eligible.max(s.intended)))
                .is_ok();
        if let Some(lag) = s.receive_lag {
            ok &= self.receive_lag.record(lag).is_ok();
        }
        if !ok {
            self.record_errors += 1;
        }
        self.requests += 1;
        self.completion(s.done, w);
        self.interval(s.done, w, corrected, true);
        self.resolved(s.done, w, Drained::Answered);
    }

    /// Counts a correct response completed in the window whose request was
    /// not intended in it (warm-up traffic): throughput, not latency.
    pub fn completion(&mut self, done_ns: u64, w: Window) {
        if w.contains(done_ns) {
            self.completed_in_window += 1;
        }
    }

    /// Records a request intended in window `w` that timed out or was lost
    /// at `failed_ns`: its latency is at least `failed_ns − intended_ns`, so
    /// that value goes into the corrected histogram as a lower bound.
    pub fn censor(&mut self, intended_ns: u64, failed_ns: u64, w: Window, how: Drained) {
        let v = failed_ns.saturating_sub(intended_ns);
        if self.corrected.record(v).is_err() {
            self.record_errors += 1;
        }
        self.censored += 1;
        self.min_censored_ns = self.min_censored_ns.min(v);
        self.interval(failed_ns, w, v, false);
        self.resolved(failed_ns, w, how);
    }

    /// Notes when and how a request intended in the window ended (the drain
    /// counts those that ended after the window).
    pub fn resolved(&mut self, at_ns: u64, w: Window, how: Drained) {
        self.drain.last_resolved_ns = self.drain.last_resolved_ns.max(at_ns);
        if at_ns < w.end_ns {
            return;
        }
        let d = &mut self.drain;
        d.outstanding_at_window_end += 1;
        match how {
            Drained::Answered => d.answered += 1,
            Drained::TimedOut => d.timed_out += 1,
            Drained::Failed => d.failed += 1,
        }
    }

    fn interval(&mut self, at_ns: u64, w: Window, value: u64, completed: bool) {
        let sec = (at_ns.saturating_sub(w.start_ns) / 1_000_000_000) as usize;
        if sec >= MAX_INTERVALS {
            return;
        }
        while self.intervals.len() <= sec {
            self.intervals.push(Interval {
                requests: 0,
                corrected: new_hist(),
            });
        }
        let iv = &mut self.intervals[sec];
        if completed {
            iv.requests += 1;
        }
        if iv.corrected.record(value).is_err() {
            self.record_errors += 1;
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
        ok &= self.receive_lag.add(&o.receive_lag).is_ok();
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
        // Samples at the same instants (every thread samples on one clock).
        if self.backlog.len() < o.backlog.len() {
            self.backlog.resize(o.backlog.len(), 0);
        }
        for (a, b) in self.backlog.iter_mut().zip(&o.backlog) {
            *a += b;
        }
        self.requests += o.requests;
        self.completed_in_window += o.completed_in_window;
        self.requests_scheduled += o.requests_scheduled;
        self.requests_sent += o.requests_sent;
        self.requests_lost += o.requests_lost;
        self.in_flight_cap_hits += o.in_flight_cap_hits;
        self.body_checks += o.body_checks;
        self.body_checks_skipped += o.body_checks_skipped;
        self.record_errors += o.record_errors;
        self.censored += o.censored;
        self.min_censored_ns = self.min_censored_ns.min(o.min_censored_ns);
        self.drain.add(&o.drain);
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

    const W: Window = Window {
        start_ns: 1_000_000_000,
        end_ns: 3_000_000_000,
    };

    fn stamps(intended: u64, eligible: u64, sent: u64, done: u64) -> Stamps {
        Stamps {
            intended,
            eligible,
            sent,
            done,
            receive_lag: None,
        }
    }

    #[test]
    fn records_the_histograms_intervals_and_the_drain() {
        let mut r = Recorder::new();
        // intended 1.0 s, written 1.000010 s, done 1.000510 s; read 3 µs
        // after the kernel had it.
        r.record(
            &Stamps {
                receive_lag: Some(3_000),
                ..stamps(1_000_000_000, 1_000_000_000, 1_000_010_000, 1_000_510_000)
            },
            W,
        );
        // Held by the cap until 2.4 s, written at 2.400002 s: lag 2 µs;
        // answered at 3.5 s, after the window: in the drain.
        r.record(
            &stamps(2_000_000_000, 2_400_000_000, 2_400_002_000, 3_500_000_000),
            W,
        );
        assert_eq!(r.requests, 2);
        assert_eq!(r.completed_in_window, 1);
        assert!(r.corrected.equivalent(r.corrected.min(), 510_000));
        assert!(r.uncorrected.equivalent(r.uncorrected.min(), 500_000));
        assert!(r.send_lag.equivalent(r.send_lag.max(), 10_000));
        assert!(r.send_lag.equivalent(r.send_lag.min(), 2_000));
        assert!(r.uncorrected.equivalent(r.uncorrected.max(), 1_099_998_000));
        assert!(r.corrected.equivalent(r.corrected.max(), 1_500_000_000));
        assert_eq!(r.receive_lag.len(), 1);
        assert!(r.receive_lag.equivalent(r.receive_lag.max(), 3_000));
        // Completions in second 0 and second 2 of the window.
        assert_eq!(
            r.intervals.iter().map(|i| i.requests).collect::<Vec<_>>(),
            vec![1, 0, 1]
        );
        assert_eq!(
            r.drain,
            DrainCounts {
                outstanding_at_window_end: 1,
                answered: 1,
                timed_out: 0,
                failed: 0,
                last_resolved_ns: 3_500_000_000,
            }
        );
        // Warm-up traffic answered in the window counts as throughput only.
        r.completion(1_500_000_000, W);
        r.completion(500_000_000, W);
        assert_eq!((r.completed_in_window, r.requests), (2, 2));
    }

    #[test]
    fn timeouts_and_losses_are_censored_in_the_corrected_histogram() {
        let mut r = Recorder::new();
        r.record(&stamps(1_100_000_000, 0, 1_100_000_000, 1_100_050_000), W);
        // Timed out in the window after 0.5 s; lost after the window.
        r.censor(1_200_000_000, 1_700_000_000, W, Drained::TimedOut);
        r.censor(2_900_000_000, 3_100_000_000, W, Drained::Failed);
        assert_eq!((r.requests, r.censored), (1, 2));
        assert_eq!(r.corrected.len(), 3);
        assert!(r.corrected.equivalent(r.corrected.max(), 500_000_000));
        assert_eq!(r.min_censored_ns, 200_000_000);
        assert_eq!(
            (
                r.drain.outstanding_at_window_end,
                r.drain.failed,
                r.drain.timed_out
            ),
            (1, 1, 0)
        );
        // Intervals hold censored values without counting them as responses.
        assert_eq!(r.intervals[0].requests, 1);
        assert_eq!(r.intervals[0].corrected.len(), 2);
        assert_eq!(r.intervals[2].corrected.len(), 1);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        let mut all = Recorder::new();
        let w = Window {
            start_ns: 0,
            end_ns: 5_000_000,
        };
        for i in 0..10_000u64 {
            let (t, s, d) = (i * 1000, i * 1000 + i % 7, i * 1000 + 50_000 + i * 13);
            let st = Stamps {
                receive_lag: Some(i % 11),
                ..stamps(t, t, s, d)
            };
            if i % 3 == 0 { &mut a } else { &mut b }.record(&st, w);
            all.record(&st, w);
            if i % 1000 == 0 {
                if i % 3 == 0 { &mut a } else { &mut b }.censor(t, d * 2, w, Drained::TimedOut);
                all.censor(t, d * 2, w, Drained::TimedOut);
            }
        }
        a.backlog = vec![1, 2, 3];
        b.backlog = vec![10, 20, 30];
        a.error(ErrorKind::Timeout, 2);
        b.mismatch("x".into());
        a.merge(&b);
        assert_eq!(a.corrected, all.corrected);
        assert_eq!(a.uncorrected, all.uncorrected);
        assert_eq!(a.send_lag, all.send_lag);
        assert_eq!(a.receive_lag, all.receive_lag);
        assert_eq!(a.requests, 10_000);
        assert_eq!(a.completed_in_window, all.completed_in_window);
        assert_eq!(a.drain, all.drain);
        assert_eq!(
            (a.censored, a.min_censored_ns),
            (all.censored, all.min_censored_ns)
        );
        assert_eq!(a.backlog, vec![11, 22, 33]);
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
