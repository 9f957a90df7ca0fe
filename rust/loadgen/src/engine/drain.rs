//! The end of a step and the timeouts: the drain waits for what is still in
//! flight after the window; the watchdog times out requests unanswered for
//! `--timeout` at any moment.

use super::conn::fail_conn;
use super::thread::Ctx;
use crate::record::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

/// Times out requests unanswered for `--timeout`: all of the connection's
/// outstanding requests count, and the connection is replaced. Connections
/// are checked a slice at a time, so a sweep over 10,000 of them never holds
/// the thread (and the pacer) for long; each is checked every timeout / 10.
pub(super) async fn watchdog(ctx: Rc<Ctx>) {
    const SLICE: usize = 512;
    let limit = ctx.cfg.timeout.as_nanos() as u64;
    let slices = ctx.conns.len().div_ceil(SLICE).max(1) as u32;
    let tick = (ctx.cfg.timeout / (10 * slices))
        .clamp(Duration::from_millis(1), Duration::from_millis(50));
    let mut iv = tokio::time::interval(tick);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cursor = 0usize;
    loop {
        iv.tick().await;
        if ctx.shutdown.get() {
            return;
        }
        let now = ctx.now();
        for _ in 0..SLICE.min(ctx.conns.len()) {
            let conn = &ctx.conns[cursor];
            cursor = (cursor + 1) % ctx.conns.len();
            let expired = {
                let st = conn.st.borrow();
                st.stream.is_some()
                    && st
                        .inflight
                        .front()
                        .is_some_and(|f| now.saturating_sub(f.queued) >= limit)
            };
            if expired {
                fail_conn(&ctx, conn, ErrorKind::Timeout);
            }
        }
    }
}

/// Waits for what is in flight after the window's `end`; the watchdog times
/// out the rest, and whatever is left at the deadline is a timeout.
pub(super) async fn drain(ctx: &Rc<Ctx>, end: u64) {
    let cfg = &ctx.cfg;
    let deadline = end + cfg.timeout.as_nanos() as u64 + 200_000_000;
    loop {
        let busy = ctx.conns.iter().any(|c| !c.st.borrow().inflight.is_empty());
        if !busy {
            break;
        }
        if ctx.now() >= deadline {
            for conn in &ctx.conns {
                if !conn.st.borrow().inflight.is_empty() {
                    fail_conn(ctx, conn, ErrorKind::Timeout);
                }
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
