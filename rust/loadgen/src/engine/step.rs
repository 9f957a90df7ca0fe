//! One step on one thread: reset the recorders, sample the thread's CPU and
//! the backlog over the window, pace (open loop), start the connections'
//! slots (closed loop) or prime and hold them (idle), then drain.

use super::conn::fail_conn;
use super::drain::drain;
use super::pacer::pacer;
use super::run::StepCmd;
use super::send::{send_batch, send_request};
use super::thread::{Ctx, StepTimes};
use super::verifier::ShaJob;
use crate::record::Recorder;
use crate::sys;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use tokio::task::spawn_local;

/// Backlog samples per window (the overload rule compares its quarters).
pub(super) const BACKLOG_SAMPLES: u64 = 20;

/// What one thread measured in one step.
pub(super) struct StepDone {
    pub(super) recorders: Vec<Recorder>,
    /// This thread's CPU over the window / the window.
    pub(super) cpu_share: f64,
    pub(super) sha_jobs: Vec<ShaJob>,
    /// Idle mode: connections open at the end of the hold.
    pub(super) conns_open: u64,
    /// Idle mode: connections whose primed requests were not all answered
    /// when the hold began.
    pub(super) not_primed: u64,
}

/// Runs one step on this thread.
pub(super) async fn run_step(ctx: &Rc<Ctx>, cmd: StepCmd) -> StepDone {
    let cfg = Arc::clone(&ctx.cfg);
    let warmup_end = cmd.t0_ns + cfg.warmup.as_nanos() as u64;
    let end = warmup_end + cfg.duration.as_nanos() as u64;
    let fresh = || -> Vec<Recorder> { (0..cfg.classes.len()).map(|_| Recorder::new()).collect() };
    *ctx.rec.borrow_mut() = fresh();
    ctx.wake.borrow_mut().clear();
    for c in &ctx.conns {
        c.st.borrow_mut().parked = false;
    }
    ctx.times.set(StepTimes {
        step: cmd.index,
        t0: cmd.t0_ns,
        warmup_end,
        end,
        sending: true,
        counting: true,
    });

    // This thread's CPU over the measured window, and the backlog at
    // evenly spaced instants of it (the sampler runs here).
    let cpu = Rc::new(Cell::new(0u64));
    let sampler = {
        let (ctx, cpu) = (Rc::clone(ctx), Rc::clone(&cpu));
        spawn_local(async move {
            tokio::time::sleep_until(ctx.instant(warmup_end)).await;
            let a = sys::thread_cpu_us();
            let span = end - warmup_end;
            for k in 0..BACKLOG_SAMPLES {
                let at = warmup_end + (2 * k + 1) * span / (2 * BACKLOG_SAMPLES);
                tokio::time::sleep_until(ctx.instant(at)).await;
                let b = ctx.backlog();
                for (rec, n) in ctx.rec.borrow_mut().iter_mut().zip(b) {
                    rec.backlog.push(n);
                }
            }
            tokio::time::sleep_until(ctx.instant(end)).await;
            cpu.set(sys::thread_cpu_us().saturating_sub(a));
        })
    };

    let mut idle_counts = (0, 0);
    match cmd.rate {
        Some(rate) => pacer(ctx, rate, cmd.index).await,
        None if cfg.idle => idle_counts = prime_and_hold(ctx).await,
        None => {
            tokio::time::sleep_until(ctx.instant(cmd.t0_ns)).await;
            for conn in &ctx.conns {
                if let Err(k) = send_batch(ctx, conn, cfg.depth, ctx.now()) {
                    fail_conn(ctx, conn, k);
                }
            }
            tokio::time::sleep_until(ctx.instant(end)).await;
        }
    }
    let mut t = ctx.times.get();
    t.sending = false;
    ctx.times.set(t);

    drain(ctx, end).await;
    let _ = sampler.await;
    let mut t = ctx.times.get();
    t.counting = false;
    ctx.times.set(t);
    let recorders = std::mem::replace(&mut *ctx.rec.borrow_mut(), fresh());
    let window_us = cfg.duration.as_micros().max(1) as f64;
    StepDone {
        recorders,
        cpu_share: cpu.get() as f64 / window_us,
        sha_jobs: std::mem::take(&mut *ctx.sha_jobs.borrow_mut()),
        conns_open: idle_counts.0,
        not_primed: idle_counts.1,
    }
}

/// Idle mode: sends `--prime` requests on every connection, one at a time
/// (each answer sends the next), waits for the window, and holds the
/// connections without traffic until its end. Returns the connections open
/// at the end and those not fully primed when the hold began.
async fn prime_and_hold(ctx: &Rc<Ctx>) -> (u64, u64) {
    let t = ctx.times.get();
    tokio::time::sleep_until(ctx.instant(t.t0)).await;
    let prime = ctx.cfg.prime;
    for conn in &ctx.conns {
        if prime == 0 || conn.st.borrow().stream.is_none() {
            continue;
        }
        conn.st.borrow_mut().prime_left = prime - 1;
        let now = ctx.now();
        if let Err(k) = send_request(ctx, conn, now, now) {
            fail_conn(ctx, conn, k);
        }
    }
    tokio::time::sleep_until(ctx.instant(t.warmup_end)).await;
    let not_primed = ctx
        .conns
        .iter()
        .filter(|c| {
            let st = c.st.borrow();
            st.stream.is_none() || st.prime_left > 0 || !st.inflight.is_empty()
        })
        .count() as u64;
    tokio::time::sleep_until(ctx.instant(t.end)).await;
    let open = ctx
        .conns
        .iter()
        .filter(|c| c.st.borrow().stream.is_some())
        .count() as u64;
    (open, not_primed)
}
