//! CPU time per task poll of tokio's scheduler, for what the tokio_unstable
//! build and the schedule-latency histogram add to every poll
//! (rust/server/bench/poll-cost.sh builds it both ways and interleaves runs).
//! Ten tasks yield 200,000 times each on one worker; the worker thread's own
//! CPU clock makes the figure insensitive to other load on the machine.
//!
//! Usage: poll_cost [multi-thread|current-thread] [histogram]
//! Prints: ns_per_poll=<f64>

use std::time::Duration;

const TASKS: usize = 10;
const YIELDS: usize = 200_000;

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let multi = !args.iter().any(|a| a == "current-thread");
    let histogram = args.iter().any(|a| a == "histogram");
    let mut b = if multi {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(1);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    #[cfg(tokio_unstable)]
    if histogram {
        // As rust-server --telemetry configures it.
        use tokio::runtime::{HistogramConfiguration, LogHistogram};
        b.enable_metrics_schedule_latency_histogram()
            .metrics_schedule_latency_histogram_configuration(HistogramConfiguration::log(
                LogHistogram::default(),
            ));
    }
    if histogram && !cfg!(tokio_unstable) {
        eprintln!("poll_cost: histogram needs a --cfg tokio_unstable build");
        std::process::exit(2);
    }
    let rt = b.build().expect("runtime");
    // Measured on the worker: a task that spawns the yielding ones and reads
    // its thread's CPU clock before and after (one worker: the same thread).
    let spent = rt.block_on(async {
        tokio::spawn(async {
            let t0 = thread_cpu();
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    tokio::spawn(async {
                        for _ in 0..YIELDS {
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                let _ = t.await;
            }
            thread_cpu() - t0
        })
        .await
        .expect("measuring task")
    });
    println!(
        "ns_per_poll={:.1}",
        spent.as_nanos() as f64 / (TASKS * YIELDS) as f64
    );
}
