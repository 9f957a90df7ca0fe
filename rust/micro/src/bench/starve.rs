//! `starve`: on a one-worker runtime, an always-ready task against a probe
//! due every `period`. Tick k is due at start + k·period; its delay is the
//! time from then until the probe next runs, so a starved probe records a
//! delay for every tick it missed, not one sample.
//!
//! Variants (go-micro has idle, default and cpu_loop):
//! - `idle`: no competing task — the timer's own lateness (tokio's timer has
//!   1 ms granularity, so up to ~1 ms here is the timer, not starvation).
//! - `default`: the task sends to and receives from its own mpsc channel in
//!   a loop — always ready; tokio's coop budget makes it yield every 128
//!   channel operations.
//! - `unconstrained`: the same loop inside `tokio::task::unconstrained`, no budget.
//! - `cpu_loop`: a pure CPU loop touching no tokio resource (no budget to
//!   spend, so nothing makes it yield).

use crate::doc::{Case, Document};
use crate::{Error, StarveArgs, obj, stats};
use std::hint::black_box;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub const VARIANTS: [&str; 4] = ["idle", "default", "unconstrained", "cpu_loop"];
/// Iterations between clock reads in the busy loops.
const CHECK_EVERY: u64 = 256;

async fn probe(
    start: Instant,
    period: Duration,
    ticks: u32,
    ready: oneshot::Sender<()>,
) -> Vec<f64> {
    let _ = ready.send(());
    let mut delays_us = Vec::with_capacity(ticks as usize);
    let mut k = 1;
    while k <= ticks {
        tokio::time::sleep_until(start + period * k).await;
        let now = Instant::now();
        while k <= ticks && start + period * k <= now {
            delays_us.push((now - (start + period * k)).as_secs_f64() * 1e6);
            k += 1;
        }
    }
    delays_us
}

async fn channel_loop(deadline: Instant) -> u64 {
    let (tx, mut rx) = mpsc::channel::<u64>(1024);
    let mut i = 0u64;
    loop {
        tx.send(i).await.expect("own receiver");
        black_box(rx.recv().await.expect("own sender"));
        i += 1;
        if i.is_multiple_of(CHECK_EVERY) && Instant::now() >= deadline {
            return i;
        }
    }
}

fn cpu_loop(deadline: Instant) -> u64 {
    let mut i = 0u64;
    loop {
        i = black_box(i.wrapping_add(1));
        if i.is_multiple_of(CHECK_EVERY) && Instant::now() >= deadline {
            return i;
        }
    }
}

/// One repeat: the probe's delays (µs) while `variant` competes.
async fn one_run(variant: &'static str, duration: Duration, period: Duration) -> Vec<f64> {
    let ticks = (duration.as_nanos() / period.as_nanos()).max(1) as u32;
    let start = Instant::now();
    let deadline = start + duration;
    let (ready_tx, ready_rx) = oneshot::channel();
    // The probe is spawned first and has armed its timer before the competitor starts.
    let probe = tokio::spawn(probe(start, period, ticks, ready_tx));
    ready_rx.await.expect("probe started");
    let rival = match variant {
        "idle" => None,
        "default" => Some(tokio::spawn(channel_loop(deadline))),
        "unconstrained" => Some(tokio::spawn(tokio::task::unconstrained(channel_loop(
            deadline,
        )))),
        _ => Some(tokio::spawn(async move { cpu_loop(deadline) })),
    };
    if let Some(r) = rival {
        r.await.expect("competing task");
    }
    probe.await.expect("probe task")
}

pub fn run(a: &StarveArgs) -> Result<Document, Error> {
    let c = &a.common;
    let warmup = c.warmup_or(1);
    let mbt = c.max_blocking_threads as usize;
    let workers = 1; // the claim is about one worker
    let duration = Duration::from_millis(a.duration_ms);
    let period = Duration::from_micros(a.period_us);
    if period > duration {
        return Err(Error::Usage(format!(
            "--period-us ({}) must not exceed --duration-ms ({})",
            a.period_us, a.duration_ms
        )));
    }
    let rt = crate::runtime(workers, mbt)?;
    let mut params = c.base_params(warmup);
    params.insert("duration_ms".into(), a.duration_ms.into());
    params.insert("period_us".into(), a.period_us.into());
    let mut doc = Document::new("starve", params, crate::doc::env(c.workers(), mbt));
    for variant in VARIANTS {
        let metrics = crate::repeat(warmup, c.repeats, || {
            let d = rt.block_on(one_run(variant, duration, period));
            Ok(vec![
                ("probe_delay_p50_us", stats::median(&d)),
                ("probe_delay_p99_us", stats::percentile(&d, 99.0)),
                ("probe_delay_max_us", stats::max(&d)),
                ("probe_ticks_count", d.len() as f64),
            ])
        })?;
        let what = match variant {
            "idle" => {
                "no competing task (timer lateness alone; tokio's timer has 1 ms granularity)"
            }
            "default" => {
                "always-ready task: send + recv on its own tokio mpsc channel (coop budget on)"
            }
            "unconstrained" => {
                "the same channel loop inside tokio::task::unconstrained (no budget)"
            }
            _ => "pure CPU loop touching no tokio resource",
        };
        let mut case = Case::new(
            "starve",
            variant,
            obj! {
                "duration_ms" => a.duration_ms, "period_us" => a.period_us,
                "workers" => workers, "mechanism" => what,
            },
            "Multi-thread runtime with one worker. Tick k is due at start + k*period; its delay runs until the probe next runs, so missed ticks each count.",
        );
        case.metrics = metrics;
        doc.cases.push(case);
    }
    Ok(doc)
}
