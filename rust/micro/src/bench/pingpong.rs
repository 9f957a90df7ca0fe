//! `pingpong --n N --via chan|oneshot|mpsc|notify`: two tasks bounce a
//! message N times, on a one-worker and a two-worker runtime. What each
//! `via` means, next to go-micro's:
//!
//! | via     | tokio                                   | Go                                  |
//! |---------|-----------------------------------------|-------------------------------------|
//! | chan    | mpsc::channel(1) (no rendezvous channel in tokio) | unbuffered chan               |
//! | mpsc    | mpsc::channel(64)                       | chan with buffer 64                 |
//! | oneshot | a fresh oneshot per message, carried in the previous one | a fresh unbuffered chan per message |
//! | notify  | Notify::notify_one (no payload)         | chan struct{} buffer 1, non-blocking send |

use crate::doc::{Case, Document};
use crate::{Error, PingpongArgs, obj, procinfo};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot};

pub const VIAS: [&str; 4] = ["chan", "oneshot", "mpsc", "notify"];
const MPSC_CAPACITY: usize = 64;

fn mechanism(via: &str) -> &'static str {
    match via {
        "chan" => "tokio::sync::mpsc::channel(1)",
        "mpsc" => "tokio::sync::mpsc::channel(64)",
        "oneshot" => "tokio::sync::oneshot, a fresh one per message",
        _ => "tokio::sync::Notify::notify_one",
    }
}

/// Time and OS context switches (voluntary, involuntary) of `n` round trips.
struct Trip {
    elapsed: Duration,
    vcsw: u64,
    ivcsw: u64,
}

/// Runs the timed loop in `a`'s task: `a` gets the round-trip count and
/// returns the elapsed time; context switches are the whole process's.
async fn timed<F, Fut>(f: F) -> Trip
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (v0, i0) = procinfo::ctx_switches();
    let t = Instant::now();
    f().await;
    let elapsed = t.elapsed();
    let (v1, i1) = procinfo::ctx_switches();
    Trip {
        elapsed,
        vcsw: v1 - v0,
        ivcsw: i1 - i0,
    }
}

async fn via_mpsc(n: u64, capacity: usize) -> Trip {
    let (to_b, mut b_rx) = mpsc::channel::<u64>(capacity);
    let (to_a, mut a_rx) = mpsc::channel::<u64>(capacity);
    let b = tokio::spawn(async move {
        while let Some(v) = b_rx.recv().await {
            if to_a.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let a = tokio::spawn(async move {
        timed(|| async move {
            for i in 0..n {
                to_b.send(i).await.expect("receiver alive");
                a_rx.recv().await.expect("sender alive");
            }
        })
        .await
    });
    let trip = a.await.expect("ping task");
    b.await.expect("pong task");
    trip
}

/// A message that carries the sender of the reply.
struct Ball(oneshot::Sender<Ball>);

async fn via_oneshot(n: u64) -> Trip {
    let (first_tx, first_rx) = oneshot::channel::<Ball>();
    let b = tokio::spawn(async move {
        let mut rx = first_rx;
        while let Ok(Ball(reply)) = rx.await {
            let (tx, next) = oneshot::channel();
            if reply.send(Ball(tx)).is_err() {
                break;
            }
            rx = next;
        }
    });
    let a = tokio::spawn(async move {
        timed(|| async move {
            let mut to_b = first_tx;
            for _ in 0..n {
                let (tx, rx) = oneshot::channel();
                if to_b.send(Ball(tx)).is_err() {
                    panic!("pong task gone");
                }
                let Ball(next) = rx.await.expect("pong replied");
                to_b = next;
            }
        })
        .await
    });
    let trip = a.await.expect("ping task");
    b.await.expect("pong task");
    trip
}

async fn via_notify(n: u64) -> Trip {
    let a_sig = Arc::new(Notify::new());
    let b_sig = Arc::new(Notify::new());
    let (a2, b2) = (a_sig.clone(), b_sig.clone());
    let b = tokio::spawn(async move {
        for _ in 0..n {
            b2.notified().await;
            a2.notify_one();
        }
    });
    let a = tokio::spawn(async move {
        timed(|| async move {
            for _ in 0..n {
                b_sig.notify_one();
                a_sig.notified().await;
            }
        })
        .await
    });
    let trip = a.await.expect("ping task");
    b.await.expect("pong task");
    trip
}

pub fn run(a: &PingpongArgs) -> Result<Document, Error> {
    let c = &a.common;
    let warmup = c.warmup_or(1);
    // One worker and two, as the issue asks, unless --workers picks one.
    let worker_counts: Vec<usize> = match c.workers {
        Some(w) => vec![w as usize],
        None => vec![1, 2],
    };
    let vias: Vec<&str> = if a.via == "all" {
        VIAS.to_vec()
    } else {
        vec![a.via.as_str()]
    };
    let mbt = c.max_blocking_threads as usize;
    let mut params = c.base_params(warmup);
    params.insert("n".into(), a.n.into());
    params.insert("via".into(), a.via.clone().into());
    let mut doc = Document::new("pingpong", params, crate::doc::env(c.workers(), mbt));
    for &w in &worker_counts {
        let rt = crate::runtime(w, mbt)?;
        for &via in &vias {
            let n = a.n;
            let metrics = crate::repeat(warmup, c.repeats, || {
                let t = rt.block_on(async move {
                    match via {
                        "chan" => via_mpsc(n, 1).await,
                        "mpsc" => via_mpsc(n, MPSC_CAPACITY).await,
                        "oneshot" => via_oneshot(n).await,
                        _ => via_notify(n).await,
                    }
                });
                let nf = n as f64;
                Ok(vec![
                    ("ns_per_round_trip", t.elapsed.as_nanos() as f64 / nf),
                    (
                        "os_ctx_switches_per_round_trip",
                        (t.vcsw + t.ivcsw) as f64 / nf,
                    ),
                    ("voluntary_ctx_switches_per_round_trip", t.vcsw as f64 / nf),
                    (
                        "involuntary_ctx_switches_per_round_trip",
                        t.ivcsw as f64 / nf,
                    ),
                ])
            })?;
            let mut case = Case::new(
                &case_name(w),
                via,
                obj! { "n" => n, "via" => via, "workers" => w, "mechanism" => mechanism(via) },
                "Two spawned tasks; the timed loop runs in the ping task. Context switches from \
                 getrusage(RUSAGE_SELF) around the loop (all threads of the process).",
            );
            case.metrics = metrics;
            doc.cases.push(case);
        }
    }
    Ok(doc)
}

/// "pingpong_1_worker", "pingpong_2_workers".
pub fn case_name(workers: usize) -> String {
    if workers == 1 {
        "pingpong_1_worker".into()
    } else {
        format!("pingpong_{workers}_workers")
    }
}
