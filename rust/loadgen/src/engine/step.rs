//! One step on one thread: reset the recorders, sample the thread's CPU
//! over the window, pace (open loop) or prime the connections (closed loop),
//! then drain.

use super::conn::fail_conn;
use super::drain::drain;
use super::pacer::pacer;
use super::run::StepCmd;
use super::send::send_request;
use super::thread::{Ctx, StepTimes};
use crate::record::Recorder;
use crate::sys;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use tokio::task::spawn_local;

/// Runs one step on this thread; returns its recorders and CPU share.
pub(super) async fn run_step(ctx: &Rc<Ctx>, cmd: StepCmd) -> (Vec<Recorder>, f64) {
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

    // This thread's CPU over the measured window (the sampler runs here).
    let cpu = Rc::new(Cell::new(0u64));
    let sampler = {
        let (ctx, cpu) = (Rc::clone(ctx), Rc::clone(&cpu));
        spawn_local(async move {
            tokio::time::sleep_until(ctx.instant(warmup_end)).await;
            let a = sys::thread_cpu_us();
            tokio::time::sleep_until(ctx.instant(end)).await;
            cpu.set(sys::thread_cpu_us().saturating_sub(a));
        })
    };

    match cmd.rate {
        Some(rate) => pacer(ctx, rate, cmd.index).await,
        None => {
            tokio::time::sleep_until(ctx.instant(cmd.t0_ns)).await;
            for conn in &ctx.conns {
                for _ in 0..cfg.depth {
                    let now = ctx.now();
                    if let Err(k) = send_request(ctx, conn, now, now) {
                        fail_conn(ctx, conn, k);
                        break;
                    }
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
    let recs = std::mem::replace(&mut *ctx.rec.borrow_mut(), fresh());
    let window_us = cfg.duration.as_micros().max(1) as f64;
    (recs, cpu.get() as f64 / window_us)
}
