//! `lifo-wake`: on a two-worker runtime a task wakes another, then keeps
//! its worker busy for `busy_ms` without yielding. tokio puts a task woken
//! from a worker into that worker's LIFO slot, which other workers cannot
//! steal and which wakes no idle worker, so the woken task waits for the
//! waker to yield. Variants: `default` (LIFO slot on, as shipped) and
//! `lifo_off` (`Builder::disable_lifo_slot`, an unstable API: only in builds
//! with `RUSTFLAGS="--cfg tokio_unstable"`, otherwise reported as skipped).

use crate::doc::{Case, Document};
use crate::{Error, LifoArgs, obj, stats};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Pause before each wake so both workers are idle and the waiter is parked.
const SETTLE: Duration = Duration::from_millis(2);

/// One wake-up: the delay from the waker's send to the waiter running.
async fn one_wake(busy: Duration) -> Duration {
    let (ready_tx, ready_rx) = oneshot::channel::<()>();
    let (wake_tx, wake_rx) = oneshot::channel::<Instant>();
    let waiter = tokio::spawn(async move {
        let _ = ready_tx.send(());
        let sent = wake_rx.await.expect("waker sends");
        sent.elapsed()
    });
    let waker = tokio::spawn(async move {
        ready_rx.await.expect("waiter ready");
        tokio::time::sleep(SETTLE).await;
        let t = Instant::now();
        let _ = wake_tx.send(t);
        // Keep the worker without reaching an .await.
        while t.elapsed() < busy {
            std::hint::spin_loop();
        }
    });
    let d = waiter.await.expect("waiter task");
    waker.await.expect("waker task");
    d
}

fn build(lifo_off: bool, mbt: usize) -> anyhow::Result<Option<tokio::runtime::Runtime>> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.worker_threads(2).max_blocking_threads(mbt).enable_all();
    if lifo_off {
        #[cfg(tokio_unstable)]
        b.disable_lifo_slot();
        #[cfg(not(tokio_unstable))]
        return Ok(None);
    }
    Ok(Some(b.build()?))
}

pub const SKIPPED_LIFO_OFF: &str = "needs tokio_unstable: rebuild with RUSTFLAGS=\"--cfg tokio_unstable\" for Builder::disable_lifo_slot";

pub fn run(a: &LifoArgs) -> Result<Document, Error> {
    let c = &a.common;
    let warmup = c.warmup_or(1);
    let mbt = c.max_blocking_threads as usize;
    let busy = Duration::from_millis(a.busy_ms);
    let mut params = c.base_params(warmup);
    params.insert("samples".into(), a.samples.into());
    params.insert("busy_ms".into(), a.busy_ms.into());
    let mut doc = Document::new("lifo-wake", params, crate::doc::env(c.workers(), mbt));
    for (variant, lifo_off) in [("default", false), ("lifo_off", true)] {
        let mut case = Case::new(
            "lifo_wake",
            variant,
            obj! {
                "samples" => a.samples, "busy_ms" => a.busy_ms, "workers" => 2,
                "lifo_slot" => !lifo_off, "tokio_unstable" => cfg!(tokio_unstable),
                "mechanism" => "oneshot send, then a spin loop of busy_ms",
            },
            "Two workers; the waiter awaits a oneshot, the waker sends on it from a worker and spins busy_ms; delay = send to the waiter running. Per repeat `samples` wake-ups.",
        );
        match build(lifo_off, mbt)? {
            None => case.skipped = Some(SKIPPED_LIFO_OFF.into()),
            Some(rt) => {
                case.metrics = crate::repeat(warmup, c.repeats, || {
                    let d: Vec<f64> = rt.block_on(async {
                        let mut d = Vec::new();
                        for _ in 0..a.samples {
                            d.push(one_wake(busy).await.as_secs_f64() * 1e6);
                        }
                        d
                    });
                    Ok(vec![
                        ("wake_delay_p50_us", stats::median(&d)),
                        ("wake_delay_p99_us", stats::percentile(&d, 99.0)),
                        ("wake_delay_max_us", stats::max(&d)),
                        ("wake_delay_mean_us", stats::mean(&d)),
                    ])
                })?;
            }
        }
        doc.cases.push(case);
    }
    Ok(doc)
}
