//! `channels`: throughput of tokio's channels, each case next to the Go
//! mechanism go-micro uses for the same job (variant "default" is the
//! pair the harness compares; "unbounded" is tokio-only):
//!
//! | case         | tokio (default)                  | Go (default)                          |
//! |--------------|----------------------------------|---------------------------------------|
//! | one_to_one   | mpsc::channel(capacity)          | chan with buffer capacity             |
//! | many_to_one  | the same, P producers            | the same, P producers                 |
//! | fan_out      | broadcast::channel(capacity)     | one buffered chan per receiver        |
//! | latest_value | watch::channel                   | mutex-guarded value + 1-slot signal chan (not equivalent) |
//! | oneshot      | request over mpsc, reply on a fresh oneshot | request over a chan, reply on a fresh unbuffered chan |

use crate::doc::{Case, Document};
use crate::{ChannelsArgs, Error, obj};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Worst-case memory of one queued u64 in tokio's unbounded channel (a slot
/// plus its share of the 32-slot block), rounded up.
const UNBOUNDED_BYTES_PER_MSG: f64 = 16.0;

/// Messages producer `i` of `p` sends so that all send `m` together.
pub fn share(m: u64, p: u64, i: u64) -> u64 {
    m / p + u64::from(i < m % p)
}

async fn mpsc_throughput(m: u64, producers: u64, capacity: Option<usize>) -> Duration {
    let t = Instant::now();
    let got = match capacity {
        Some(cap) => {
            let (tx, mut rx) = mpsc::channel::<u64>(cap);
            for p in 0..producers {
                let tx = tx.clone();
                let k = share(m, producers, p);
                tokio::spawn(async move {
                    for i in 0..k {
                        tx.send(i).await.expect("consumer alive");
                    }
                });
            }
            drop(tx);
            tokio::spawn(async move {
                let mut got = 0u64;
                while rx.recv().await.is_some() {
                    got += 1;
                }
                got
            })
            .await
        }
        None => {
            let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
            for p in 0..producers {
                let tx = tx.clone();
                let k = share(m, producers, p);
                tokio::spawn(async move {
                    for i in 0..k {
                        tx.send(i).expect("consumer alive");
                    }
                });
            }
            drop(tx);
            tokio::spawn(async move {
                let mut got = 0u64;
                while rx.recv().await.is_some() {
                    got += 1;
                }
                got
            })
            .await
        }
    };
    let elapsed = t.elapsed();
    assert_eq!(got.expect("consumer task"), m, "lost messages");
    elapsed
}

/// Fan-out over broadcast. broadcast has no backpressure (a full ring
/// overwrites the oldest value and slow receivers see `Lagged`), so the
/// producer yields while the ring is full, as a Go send on a full channel
/// would block; lagged values are counted (0 expected).
async fn broadcast_fan_out(m: u64, receivers: u64, capacity: usize) -> (Duration, u64) {
    let t = Instant::now();
    let (tx, _) = broadcast::channel::<u64>(capacity);
    let mut rxs = Vec::new();
    for _ in 0..receivers {
        let mut rx = tx.subscribe();
        rxs.push(tokio::spawn(async move {
            let (mut got, mut lagged) = (0u64, 0u64);
            loop {
                match rx.recv().await {
                    Ok(_) => got += 1,
                    Err(broadcast::error::RecvError::Lagged(k)) => lagged += k,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            (got, lagged)
        }));
    }
    tokio::spawn(async move {
        for i in 0..m {
            while tx.len() >= capacity {
                tokio::task::yield_now().await;
            }
            tx.send(i).expect("receivers alive");
        }
    });
    let mut lagged_total = 0;
    for h in rxs {
        let (got, lagged) = h.await.expect("receiver task");
        assert_eq!(got + lagged, m, "receiver saw neither value nor lag");
        lagged_total += lagged;
    }
    (t.elapsed(), lagged_total)
}

/// Latest value: the producer publishes 1..=m as fast as it can; the
/// consumer reads whatever is newest until it sees m.
async fn watch_latest(m: u64) -> (Duration, u64) {
    let t = Instant::now();
    let (tx, mut rx) = watch::channel(0u64);
    let consumer = tokio::spawn(async move {
        let mut seen = 0u64;
        while rx.changed().await.is_ok() {
            let v = *rx.borrow_and_update();
            seen += 1;
            if v == m {
                break;
            }
        }
        seen
    });
    let producer = tokio::spawn(async move {
        for i in 1..=m {
            tx.send(i).expect("consumer alive");
        }
        tx // kept alive until the consumer has seen m
    });
    let seen = consumer.await.expect("consumer task");
    let elapsed = t.elapsed();
    drop(producer.await);
    (elapsed, seen)
}

async fn oneshot_request_reply(m: u64, capacity: usize) -> Duration {
    let t = Instant::now();
    let (req_tx, mut req_rx) = mpsc::channel::<oneshot::Sender<u64>>(capacity);
    let responder = tokio::spawn(async move {
        while let Some(reply) = req_rx.recv().await {
            let _ = reply.send(1);
        }
    });
    let client = tokio::spawn(async move {
        for _ in 0..m {
            let (tx, rx) = oneshot::channel();
            req_tx.send(tx).await.expect("responder alive");
            rx.await.expect("reply");
        }
    });
    client.await.expect("client task");
    let elapsed = t.elapsed();
    responder.await.expect("responder task");
    elapsed
}

fn rate(m: u64, d: Duration) -> Vec<(&'static str, f64)> {
    let s = d.as_secs_f64().max(1e-9);
    vec![
        ("msgs_per_sec", m as f64 / s),
        ("ns_per_msg", d.as_nanos() as f64 / m as f64),
    ]
}

pub fn run(a: &ChannelsArgs) -> Result<Document, Error> {
    let c = &a.common;
    let warmup = c.warmup_or(1);
    let workers = c.workers();
    let mbt = c.max_blocking_threads as usize;
    let (m, cap, p, r) = (a.messages, a.capacity as usize, a.producers, a.receivers);
    // The unbounded variants may queue every message if the consumer lags.
    let worst = m as f64 * UNBOUNDED_BYTES_PER_MSG;
    let budget = super::memory_budget_bytes();
    if worst > budget as f64 {
        return Err(Error::Refused(format!(
            "channels --messages {m} refused: an unbounded channel could queue about {}, more than half of MemAvailable ({})",
            super::mib(worst),
            super::mib(budget as f64)
        )));
    }
    let rt = crate::runtime(workers, mbt)?;
    let mut params = c.base_params(warmup);
    for (k, v) in [
        ("messages", m),
        ("capacity", a.capacity),
        ("producers", p),
        ("receivers", r),
    ] {
        params.insert(k.into(), v.into());
    }
    let mut doc = Document::new("channels", params, crate::doc::env(workers, mbt));

    let mut add = |case: &str,
                   variant: &str,
                   mechanism: &str,
                   extra: serde_json::Map<String, serde_json::Value>,
                   notes: &str,
                   metrics| {
        let mut params = obj! { "messages" => m, "workers" => workers, "mechanism" => mechanism };
        params.extend(extra);
        let mut k = Case::new(case, variant, params, notes);
        k.metrics = metrics;
        doc.cases.push(k);
    };

    for (case, producers) in [("one_to_one", 1u64), ("many_to_one", p)] {
        for (variant, capacity) in [("default", Some(cap)), ("unbounded", None)] {
            let metrics = crate::repeat(warmup, c.repeats, || {
                Ok(rate(
                    m,
                    rt.block_on(mpsc_throughput(m, producers, capacity)),
                ))
            })?;
            let (mechanism, extra) = match capacity {
                Some(_) => (
                    "tokio::sync::mpsc::channel",
                    obj! { "producers" => producers, "capacity" => cap },
                ),
                None => (
                    "tokio::sync::mpsc::unbounded_channel",
                    obj! { "producers" => producers },
                ),
            };
            add(
                case,
                variant,
                mechanism,
                extra,
                "Producers and the consumer are spawned tasks; time from before the first spawn until the consumer has received every message.",
                metrics,
            );
        }
    }

    let metrics = crate::repeat(warmup, c.repeats, || {
        let (d, lagged) = rt.block_on(broadcast_fan_out(m, r, cap));
        let mut v = rate(m, d);
        v.push((
            "deliveries_per_sec",
            (m * r) as f64 / d.as_secs_f64().max(1e-9),
        ));
        v.push(("lagged_msgs", lagged as f64));
        Ok(v)
    })?;
    add(
        "fan_out",
        "default",
        "tokio::sync::broadcast::channel",
        obj! { "receivers" => r, "capacity" => cap },
        "msgs_per_sec counts values sent (each reaches every receiver). broadcast has no backpressure: the producer yields while Sender::len() == capacity so nothing is overwritten (lagged_msgs counts any that were).",
        metrics,
    );

    let metrics = crate::repeat(warmup, c.repeats, || {
        let (d, seen) = rt.block_on(watch_latest(m));
        let mut v = rate(m, d);
        v.push(("updates_seen_count", seen as f64));
        Ok(v)
    })?;
    add(
        "latest_value",
        "default",
        "tokio::sync::watch::channel",
        obj! {},
        "Not equivalent to Go's mutex + signal channel: watch keeps a version per receiver and coalesces updates. msgs_per_sec counts updates published until the consumer saw the last one.",
        metrics,
    );

    let metrics = crate::repeat(warmup, c.repeats, || {
        Ok(rate(m, rt.block_on(oneshot_request_reply(m, cap))))
    })?;
    add(
        "oneshot",
        "default",
        "tokio::sync::oneshot per reply, requests over mpsc::channel",
        obj! { "capacity" => cap },
        "Sequential request/reply: each request carries a fresh oneshot sender; msgs_per_sec counts replies.",
        metrics,
    );
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (m, p) in [(10, 4), (3, 4), (100, 1), (7, 7)] {
            assert_eq!((0..p).map(|i| share(m, p, i)).sum::<u64>(), m);
        }
        assert_eq!(share(10, 4, 0), 3);
        assert_eq!(share(10, 4, 3), 2);
    }
}
