//! The open-loop pacer: one task per thread that owns the schedule (a heap
//! of due times) and writes each request the moment it is due.
//!
//! Waiting for a due time: farther than the timer margin, it sleeps on a
//! `timerfd` armed for (due − margin), so the thread is idle (no spinning:
//! round one's `yield_now` loop kept a core 100 % busy at any rate); within
//! the margin it yields to the runtime (which polls I/O and runs the
//! readers) until `SPIN_NS` remain, then busy-waits with `spin_loop`. The
//! margin follows the timer's observed lateness (a decaying maximum), so a
//! VM whose wake-ups come late gets a wider margin instead of send lag.

use super::conn::fail_conn;
use super::send::send_request;
use super::thread::Ctx;
use crate::record::{Drained, ErrorKind};
use crate::schedule::{Arrival, Schedule, mix64};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

/// Sends in one pacer turn before it lets the readers run (bounds the burst
/// after a stall).
const SENDS_PER_TURN: usize = 256;
/// The last stretch before a due time is busy-waited: less than a yield
/// to the runtime costs (an `epoll_wait` with a zero timeout).
const SPIN_NS: u64 = 3_000;
/// Bounds of the timer margin (how early the timer is set before a due
/// time). The upper bound caps the busy part of each wait: a machine whose
/// wake-ups are often later than this (CPU contention) costs send lag,
/// which is measured and judged, rather than a busy core.
const MIN_MARGIN_NS: u64 = 20_000;
const MAX_MARGIN_NS: u64 = 250_000;
/// Wake-ups remembered for the margin, and the quantile of their lateness
/// it covers.
const LATENESS_WINDOW: usize = 64;
const LATENESS_QUANTILE: f64 = 0.9;

/// How long before a due time the timer is set: the recent p90 of the
/// timer's lateness × 1.25 + 5 µs, within bounds. A quantile, not the
/// maximum: one wake-up that came milliseconds late (a neighbour took the
/// CPU) would otherwise widen every later wait.
#[derive(Debug, Clone)]
pub(crate) struct Margin {
    recent: [u64; LATENESS_WINDOW],
    seen: usize,
    margin_ns: u64,
}

impl Margin {
    pub(crate) fn new() -> Margin {
        Margin {
            recent: [0; LATENESS_WINDOW],
            seen: 0,
            margin_ns: MIN_MARGIN_NS,
        }
    }
    pub(crate) fn ns(&self) -> u64 {
        self.margin_ns
    }
    /// Learns from one wake-up `late_ns` after the instant it was set for
    /// (recomputed every 16 wake-ups).
    pub(crate) fn observe(&mut self, late_ns: u64) {
        self.recent[self.seen % LATENESS_WINDOW] = late_ns;
        self.seen += 1;
        if self.seen.is_multiple_of(16) {
            let n = self.seen.min(LATENESS_WINDOW);
            let mut v = self.recent;
            let k = ((n as f64 * LATENESS_QUANTILE) as usize).min(n - 1);
            let (_, q, _) = v[..n].select_nth_unstable(k);
            self.margin_ns = (*q + *q / 4 + 5_000).clamp(MIN_MARGIN_NS, MAX_MARGIN_NS);
        }
    }
}

/// Sends every request of this thread's connections on schedule. Due times
/// are absolute (`t0` + computed offset); a late request keeps its intended
/// time and goes out as soon as possible, never skipped. A request due on a
/// connection that cannot send (the `--max-in-flight` cap, a reconnect) is
/// held, in order, until it can. No intended time is at or after the
/// window's end, but a request intended before it and still unsent there
/// is still sent, until `end + --timeout`; whatever is unsent then counts as
/// a `timeout` error (censored at that instant), so every scheduled request
/// is recorded or counted.
pub(super) async fn pacer(ctx: &Rc<Ctx>, rate: f64, step: usize) {
    let cfg = Arc::clone(&ctx.cfg);
    let t = ctx.times.get();
    let deadline = t.end + cfg.timeout.as_nanos() as u64;
    let n = ctx.conns.len();
    let mut scheds: Vec<Schedule> = ctx
        .conns
        .iter()
        .map(|c| {
            let class_rate = cfg.class_rate(c.plan.class, rate);
            let conns = cfg.class_conns(c.plan.class);
            match cfg.arrival {
                // Classes are shifted by a fraction of the overall spacing so
                // that classes with commensurate rates do not fall due at the
                // same instants (which would show as send lag).
                Arrival::Uniform => Schedule::uniform(
                    c.plan.index,
                    conns,
                    class_rate,
                    c.plan.class as f64 * 1e9 / (cfg.classes.len() as f64 * rate),
                ),
                Arrival::Poisson => Schedule::poisson(
                    conns,
                    class_rate,
                    mix64(cfg.seed ^ mix64(c.plan.uid) ^ ((step as u64) << 48)),
                ),
            }
        })
        .collect();
    // Per connection: due requests held back, oldest first.
    let mut held: Vec<VecDeque<u64>> = vec![VecDeque::new(); n];
    let mut n_held = 0usize;
    // Connections that can send again and hold requests.
    let mut ready: VecDeque<usize> = VecDeque::new();
    // Per connection: when it last became able to send after waiting for the
    // cap or a reconnect. A request due earlier waited until then.
    let mut sendable_since: Vec<u64> = vec![0; n];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::with_capacity(n);
    let mut margin = Margin::new();
    // Counts the requests the schedule puts in the window (for Poisson
    // arrivals this differs from rate × duration by chance).
    let schedule = |due: u64, class: usize| {
        if due >= t.warmup_end && due < t.end {
            ctx.rec.borrow_mut()[class].requests_scheduled += 1;
        }
    };
    for (i, s) in scheds.iter_mut().enumerate() {
        let due = t.t0.saturating_add(s.next_due_ns());
        if due < t.end {
            schedule(due, ctx.conns[i].plan.class);
            heap.push(Reverse((due, i)));
        }
    }
    loop {
        for (i, at) in ctx.wake.borrow_mut().drain(..) {
            if !held[i].is_empty() {
                sendable_since[i] = sendable_since[i].max(at);
                ready.push_back(i);
            }
        }
        let mut now = ctx.now();
        // After the end only overdue requests are left (nothing due at or
        // after it was queued): send them, until all are out or the deadline.
        if now >= t.end && ((heap.is_empty() && n_held == 0) || now >= deadline) {
            break;
        }
        let mut sends = 0;
        // Held requests first, in order, on connections that can send again.
        while sends < SENDS_PER_TURN
            && let Some(&i) = ready.front()
        {
            let conn = &ctx.conns[i];
            if held[i].is_empty() {
                ready.pop_front();
                continue;
            }
            if blocked(ctx, i) {
                // Wait for the next wake-up of this connection.
                conn.st.borrow_mut().parked = true;
                ready.pop_front();
                continue;
            }
            let due = held[i].pop_front().expect("not empty");
            n_held -= 1;
            ctx.held.borrow_mut()[conn.plan.class] -= 1;
            if let Err(k) = send_request(ctx, conn, due, sendable_since[i]) {
                fail_conn(ctx, conn, k);
            }
            sends += 1;
        }
        while let Some(&Reverse((due, i))) = heap.peek() {
            if due > now || sends == SENDS_PER_TURN {
                break;
            }
            heap.pop();
            let conn = &ctx.conns[i];
            let next = t.t0.saturating_add(scheds[i].next_due_ns());
            if next < t.end {
                schedule(next, conn.plan.class);
                heap.push(Reverse((next, i)));
            }
            let is_blocked = blocked(ctx, i);
            if is_blocked || !held[i].is_empty() {
                {
                    let mut st = conn.st.borrow_mut();
                    if is_blocked {
                        if st.stream.is_some() && due >= t.warmup_end {
                            ctx.rec.borrow_mut()[conn.plan.class].in_flight_cap_hits += 1;
                        }
                        st.parked = true;
                    }
                }
                held[i].push_back(due);
                n_held += 1;
                ctx.held.borrow_mut()[conn.plan.class] += 1;
                continue;
            }
            if let Err(k) = send_request(ctx, conn, due, sendable_since[i]) {
                fail_conn(ctx, conn, k);
            }
            sends += 1;
            now = ctx.now();
        }
        let now = ctx.now();
        // The end may have passed during the sends above: with nothing left,
        // stop now rather than sleep toward the deadline.
        if now >= t.end && heap.is_empty() && n_held == 0 {
            break;
        }
        if sends == SENDS_PER_TURN || !ready.is_empty() {
            // More to send: let the readers run, then go on.
            tokio::task::yield_now().await;
            continue;
        }
        let limit = if now < t.end { t.end } else { deadline };
        let next = heap.peek().map_or(limit, |r| r.0.0).min(limit);
        wait_until(ctx, next, &mut margin).await;
    }
    // Only at the deadline can requests be left: held at a connection, due
    // in the heap, or not yet drawn from a schedule. The ones intended in
    // the window were offered and never answered: each is scheduled and a
    // timeout error (so requests_scheduled − requests_sent of them were
    // never sent), censored at this instant. Nothing vanishes from the counts.
    let now = ctx.now();
    let w = ctx.window();
    let mut unsent = vec![0u64; cfg.classes.len()];
    let mut count = |due: u64, class: usize| {
        if due >= t.warmup_end && due < t.end {
            unsent[class] += 1;
            ctx.rec.borrow_mut()[class].censor(due, now, w, Drained::TimedOut);
        }
    };
    for (i, h) in held.iter_mut().enumerate() {
        let class = ctx.conns[i].plan.class;
        ctx.held.borrow_mut()[class] -= h.len() as u64;
        for due in h.drain(..) {
            count(due, class);
        }
    }
    for Reverse((due, i)) in heap.drain() {
        count(due, ctx.conns[i].plan.class);
    }
    for (i, s) in scheds.iter_mut().enumerate() {
        let class = ctx.conns[i].plan.class;
        loop {
            let due = t.t0.saturating_add(s.next_due_ns());
            if due >= t.end {
                break;
            }
            schedule(due, class);
            count(due, class);
        }
    }
    let mut recs = ctx.rec.borrow_mut();
    for (rec, n) in recs.iter_mut().zip(unsent) {
        if n > 0 {
            rec.error(ErrorKind::Timeout, n);
        }
    }
}

/// The connection cannot take a request now: no socket (reconnecting) or
/// `--max-in-flight` outstanding.
fn blocked(ctx: &Ctx, i: usize) -> bool {
    let st = ctx.conns[i].st.borrow();
    st.stream.is_none() || st.inflight.len() >= ctx.cfg.max_in_flight
}

/// Waits until `at` (a `now()` instant) or a wake-up from a reader: on the
/// timerfd while far, yielding to the runtime within the margin, spinning
/// for the last `SPIN_NS`.
async fn wait_until(ctx: &Rc<Ctx>, at: u64, margin: &mut Margin) {
    let now = ctx.now();
    if at <= now {
        return;
    }
    let m = margin.ns();
    if at - now > m {
        let wake_at = at - m;
        if ctx.arm_timer(wake_at).is_err() {
            // No timer: fall back to tokio's (1 ms granularity).
            tokio::time::sleep_until(ctx.instant(wake_at)).await;
            return;
        }
        tokio::select! {
            r = ctx.timer.readable() => {
                if let Ok(mut g) = r {
                    let late = ctx.now().saturating_sub(wake_at);
                    // A stale readiness (nothing to consume): the loop looks
                    // again. One-shot: no other expiry until the timer is
                    // armed again, so readiness can go with this one.
                    if g.get_inner().consume().is_ok() {
                        margin.observe(late);
                    }
                    g.clear_ready();
                }
            }
            _ = ctx.notify.notified() => {}
        }
    } else if at - now > SPIN_NS {
        tokio::task::yield_now().await;
    } else {
        while ctx.now() < at {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_covers_the_recent_p90_of_the_lateness() {
        let mut m = Margin::new();
        assert_eq!(m.ns(), MIN_MARGIN_NS);
        // 16 wake-ups 40 µs late: p90 40 µs → 40 + 10 + 5 = 55 µs.
        for _ in 0..16 {
            m.observe(40_000);
        }
        assert_eq!(m.ns(), 55_000);
        // A few milliseconds-late outliers (under 10 %) do not move it.
        for i in 0..48 {
            m.observe(if i % 16 == 0 { 5_000_000 } else { 40_000 });
        }
        assert_eq!(m.ns(), 55_000);
        // Mostly late: capped.
        for _ in 0..64 {
            m.observe(3_000_000);
        }
        assert_eq!(m.ns(), MAX_MARGIN_NS);
        // A quiet timer: the floor.
        for _ in 0..64 {
            m.observe(1_000);
        }
        assert_eq!(m.ns(), MIN_MARGIN_NS);
    }
}
