//! The open-loop pacer: one task per thread that owns the schedule (a heap
//! of due times) and writes each request the moment it is due.

use super::conn::fail_conn;
use super::send::send_request;
use super::thread::Ctx;
use crate::record::ErrorKind;
use crate::schedule::{Arrival, Schedule, mix64};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::sync::Arc;

/// The pacer sleeps on tokio's timer only when the next request is due
/// further away than this; closer than that it spins.
const SLEEP_IF_AHEAD_NS: u64 = 3_000_000;
/// How early, before the due time, a timer sleep ends (covers tokio's
/// round-up to the next millisecond plus epoll's own millisecond).
const SPIN_MARGIN_NS: u64 = 2_500_000;
/// Sends in one pacer turn before it lets the readers run (bounds the burst
/// after a stall).
const SENDS_PER_TURN: usize = 256;

/// Sends every request of this thread's connections on schedule. Due times
/// are absolute (`t0` + computed offset); a late request keeps its intended
/// time and goes out as soon as possible, never skipped. No intended time is
/// at or after the window's end, but a request intended before it and still
/// unsent there (overdue, or held back by `--max-in-flight` or a reconnect)
/// is still sent, until `end + --timeout`; whatever is unsent then counts as
/// a `timeout` error, so every scheduled request is recorded or counted.
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
    let mut parked: Vec<Option<u64>> = vec![None; n];
    let mut n_parked = 0usize;
    // Per connection: when it last became able to send after waiting for the
    // cap or a reconnect. A request due earlier waited until then.
    let mut sendable_since: Vec<u64> = vec![0; n];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::with_capacity(n);
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
        {
            let mut w = ctx.wake.borrow_mut();
            for (i, at) in w.drain(..) {
                if let Some(due) = parked[i].take() {
                    n_parked -= 1;
                    sendable_since[i] = sendable_since[i].max(at);
                    heap.push(Reverse((due, i)));
                }
            }
        }
        let mut now = ctx.now();
        // After the end only overdue requests are left (nothing due at or
        // after it was queued): send them, until all are out or the deadline.
        if now >= t.end && ((heap.is_empty() && n_parked == 0) || now >= deadline) {
            break;
        }
        let mut sends = 0;
        while let Some(&Reverse((due, i))) = heap.peek() {
            if due > now || sends == SENDS_PER_TURN {
                break;
            }
            heap.pop();
            let conn = &ctx.conns[i];
            let blocked = {
                let mut st = conn.st.borrow_mut();
                let blocked = st.stream.is_none() || st.inflight.len() >= cfg.max_in_flight;
                if blocked {
                    if st.stream.is_some() && due >= t.warmup_end {
                        ctx.rec.borrow_mut()[conn.plan.class].in_flight_cap_hits += 1;
                    }
                    st.parked = true;
                }
                blocked
            };
            if blocked {
                parked[i] = Some(due);
                n_parked += 1;
                continue;
            }
            if let Err(k) = send_request(ctx, conn, due, sendable_since[i]) {
                fail_conn(ctx, conn, k);
            }
            sends += 1;
            let next = t.t0.saturating_add(scheds[i].next_due_ns());
            if next < t.end {
                schedule(next, conn.plan.class);
                heap.push(Reverse((next, i)));
            }
            now = ctx.now();
        }
        let now = ctx.now();
        // The end may have passed during the sends above: with nothing left,
        // stop now rather than sleep toward the deadline.
        if now >= t.end && heap.is_empty() && n_parked == 0 {
            break;
        }
        let limit = if now < t.end { t.end } else { deadline };
        let next = heap.peek().map_or(limit, |r| r.0.0).min(limit);
        if next > now + SLEEP_IF_AHEAD_NS {
            tokio::select! {
                _ = tokio::time::sleep_until(ctx.instant(next - SPIN_MARGIN_NS)) => {}
                _ = ctx.notify.notified() => {}
            }
        } else {
            tokio::task::yield_now().await;
        }
    }
    // Only at the deadline can requests be left: due in the heap, held at a
    // parked connection, or not yet drawn from a schedule behind those. The
    // ones intended in the window were offered and never answered: each is
    // scheduled and a timeout error (so requests_scheduled − requests_sent
    // of them were never sent). Nothing vanishes from the counts.
    let mut unsent = vec![0u64; cfg.classes.len()];
    let mut count = |due: u64, class: usize| {
        if due >= t.warmup_end && due < t.end {
            unsent[class] += 1;
        }
    };
    for Reverse((due, i)) in heap.drain() {
        count(due, ctx.conns[i].plan.class);
    }
    for (i, due) in parked.iter().enumerate() {
        if let Some(due) = *due {
            count(due, ctx.conns[i].plan.class);
        }
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
