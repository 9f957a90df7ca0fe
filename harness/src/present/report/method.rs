//! The report's method and caveats: what the intervals are, how a run is
//! made fair, and what a reader should keep in mind about this run.

use super::data::RunData;
use super::doc::{Block, Line, text};
use super::words;
use crate::analyse::verdict::Verdicts;
use crate::config::claims::Claims;
use crate::present::report::units;

/// What the intervals of this report are and what they cover — the same
/// words under the verdict table and in the method section.
pub fn interval_note(claims: &Claims) -> String {
    format!(
        "Intervals, all exact and distribution-free, each with its real coverage (aiming at {}): a single median (threshold checks, bars) comes with its order-statistic interval — with 6 rounds that is min..max, 96.9 %; a comparison of two variants, or of a variant with its baseline scenario, is paired by round (both ran in the same round, so drift between rounds cancels) and comes with the Hodges–Lehmann estimate and the exact Wilcoxon signed-rank interval of the per-round log-ratios (differences) — with 6 rounds also min..max of the per-round values, 96.9 %; a ratio of two metrics of the same trial is taken per trial first, then its median. A latency counted from the intended send time (corrected) may hold the load generator's own lateness, the same percentile counted from the actual send (uncorrected) does not, and the server's own figure lies between them: a rule on a corrected latency decides on an interval that covers every round's whole bracket (each side at its lowest against the other at its highest), so no round is left out for its generator's lateness and none can decide a claim by it. A side needs {} usable rounds. No bootstrap is used anywhere.",
        words::pct(claims.level),
        claims.min_rounds
    )
}

/// The profile's default repeat count.
fn profile_repeats(run: &RunData) -> Option<usize> {
    run.profile
        .as_ref()?
        .get("defaults")?
        .get("repeats")?
        .as_integer()
        .map(|n| n as usize)
}

/// Fewest valid repeats any variant of any scenario had.
fn min_repeats(run: &RunData) -> Option<usize> {
    run.summary
        .scenarios
        .iter()
        .flat_map(|s| s.counts.values().map(|c| c.ok))
        .filter(|n| *n > 0)
        .min()
}

/// Coverage of the min..max interval of a median with n values.
fn order_stat_coverage(n: usize) -> f64 {
    crate::analyse::stats::estimate(
        &(0..n).map(|i| i as f64).collect::<Vec<_>>(),
        crate::analyse::summary::CONFIDENCE,
    )
    .map(|e| e.confidence)
    .unwrap_or(0.0)
}

pub fn method(run: &RunData, claims: &Claims, b: &mut Vec<Block>) {
    let d = run.profile.as_ref().and_then(|p| p.get("defaults"));
    let g = |k: &str| {
        d.and_then(|d| d.get(k))
            .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
    };
    b.push(Block::Heading {
        level: 2,
        text: "Method".into(),
        id: "method".into(),
    });
    b.push(Block::Bullets(vec![
        text("Open loop and coordinated omission. Open-loop clients send on a fixed schedule whatever the server does; latency is measured from each request's intended send time (wrk2's correction), so a server stall counts against every request it delayed, not only the one in flight. The uncorrected latency (from the actual write) is kept beside it. Closed-loop scenarios (a fixed number of requests in flight) measure maximum throughput; the open-loop rate steps then run both servers at the same absolute rates, fractions of the lower capacity."),
        text("Histograms, not averages. Every latency is recorded in an HdrHistogram (3 significant digits); percentiles are read from the merged histogram of the measured window after an unrecorded warm-up. Each trial's distribution is kept as .hgrm text and .hlog interval logs."),
        text(format!(
            "Pinning. The server runs on its own CPU(s) ({}), the load generator on the other(s) ({}); the harness and its /proc sampler stay off the server's CPUs. Worker threads = GOMAXPROCS = the server's CPU count unless a scenario sets it.",
            run.meta_str("server_cpus").unwrap_or_else(|| "n/a".into()),
            run.meta_str("client_cpus").unwrap_or_else(|| "n/a".into())
        )),
        text(format!(
            "Repeats and order. Each variant runs {} times per scenario (some scenarios set their own count), with a fresh server per trial, {} s warm-up and {} s measured windows; repeats are interleaved and the variant order rotates each round, so drift hits every variant alike. A correctness probe (the shared protocol vectors) runs before any load.",
            g("repeats").map(|x| x.to_string()).unwrap_or_else(|| "several".into()),
            g("warmup_s").map(units::sig).unwrap_or_else(|| "a short".into()),
            g("duration_s").map(units::sig).unwrap_or_else(|| "short".into())
        )),
        text(format!("Statistics. {} Rank tests are exact with ties (mid-ranks, the permutation distribution). Invalid and failed trials are kept and listed, never used as valid; a server's failure (crash, errors, timeouts, overload) is a result the outcome checks read, not a broken measurement.", interval_note(claims))),
        text("Verdicts. Each claim's checks are data in harness/claims.toml: which scenarios and metrics, and the regions its interval must lie in to support or refute the claim. The whole interval must lie in a region; otherwise the check is inconclusive. The rule is printed next to every verdict."),
        text("Fairness. Both servers speak the same protocol bytes with the same buffer sizes (16 KiB), TCP_NODELAY, the same SHA-256 chain for CPU work, the same worker count, and a correctness probe checks each before load. Each is written the way its practitioners write it: a goroutine per connection in Go; a task per connection in tokio, with every offloading strategy (spawn_blocking, block_in_place, rayon, tokio::fs) side by side as separate variants."),
        text(remaining_differences(run)),
    ]));
}

pub fn caveats(run: &RunData, verdicts: &Verdicts, b: &mut Vec<Block>) {
    b.push(Block::Heading {
        level: 2,
        text: "Caveats".into(),
        id: "caveats".into(),
    });
    let mut items: Vec<Line> = Vec::new();
    let server_cpus = run
        .meta_str("server_cpus")
        .and_then(|s| rtc_common::affinity::parse_cpu_list(&s).ok())
        .map(|v| v.len());
    if server_cpus.is_none_or(|n| n <= 1) {
        items.push(text("The server had one CPU, so one tokio worker and GOMAXPROCS=1. What needs several cores cannot show here: tokio's work stealing between workers, Go handing a P to another idle P, parallel speed-up, and contention between workers. On a one-worker server a blocked worker has no other worker to take its tasks; what a stall does with several workers (where tokio's documentation says other workers can steal queued tasks) is not measured by a one-CPU run."));
    }
    items.push(text("The load generator, the harness and its /proc sampler share the other CPU. The send-lag plot shows whether the generator kept its schedule; an open-loop run that fell behind is invalid, but a closed-loop run at saturation may be limited by the client as much as by the server (the generator flags that as client_bound)."));
    let (bad, total) = (
        run.summary.trials.invalid + run.summary.trials.failed,
        run.summary.trials.ok + run.summary.trials.invalid + run.summary.trials.failed,
    );
    if bad > 0 {
        let lag = run
            .trials
            .iter()
            .filter(|t| t.problems.iter().any(|p| p.contains("send lag")))
            .count();
        items.push(text(format!(
            "{bad} of {total} trials were invalid or failed{}. They are listed under Problems and left out of every statistic, so the claims they would have decided are inconclusive. The load generator shares its CPU with the harness; anything else running on the machine (a build, another test) shows up here first. Re-run on an otherwise idle machine.",
            if lag > 0 { format!(" ({lag} because the load generator fell behind its schedule: see the send-lag plot)") } else { String::new() }
        )));
    }
    if let Some(n) = profile_repeats(run).or(min_repeats(run))
        && order_stat_coverage(n) < 0.95
    {
        items.push(text(format!(
            "Few rounds: with {n} rounds an interval covers its parameter with {} only, and a rank test cannot reach small p-values. Verdicts of this run are provisional.",
            words::pct(order_stat_coverage(n))
        )));
    }
    items.push(text("Loopback only: no NIC, no interrupts, no real network latency; kernel TCP costs are shared by both servers and can dominate small-message CPU figures. CPU time comes from /proc at clock-tick (10 ms) granularity, integrated over windows of one second or more."));
    if let Some(cpu) = run.meta_str("cpu_model") {
        items.push(text(format!("Hardware: {cpu}. On a shared or virtual machine, neighbours' load adds noise the intervals only partly capture.")));
    }
    let unmeasured: Vec<&str> = verdicts
        .claims
        .iter()
        .filter(|c| c.not_measured)
        .map(|c| c.id.as_str())
        .collect();
    if !unmeasured.is_empty() {
        items.push(text(format!("Not measured in this run: {} (their scenarios or microbenchmarks are not in this profile or did not run).", unmeasured.join(", "))));
    }
    if run.summary.interrupted || !run.summary.complete {
        items.push(text(
            "This run did not complete: the statistics cover only the trials that finished.",
        ));
    }
    b.push(Block::Bullets(items));
}

/// The differences between the servers that remain, measured and stated
/// (issue: a difference that remains is shown, never left to be found).
pub fn remaining_differences(run: &RunData) -> String {
    let future = |k: &str| {
        run.trials
            .iter()
            .filter_map(|t| t.server.config.as_ref()?.get(k)?.as_u64())
            .next()
    };
    let sizes = match (future("echo_future_bytes"), future("work_future_bytes")) {
        (Some(e), Some(w)) => format!(
            "a tokio connection task is {e} B for echo and {w} B for work (each workload spawns its own future, so an echo task does not carry the work state machine); a goroutine starts with a 2 KiB stack"
        ),
        _ => "the tokio task sizes were not recorded by this run's servers".into(),
    };
    format!(
        "Remaining differences, shown rather than hidden: {sizes}. On the request path neither server allocates (0 allocations per request on every inline path, proved by go/internal/server/alloc_test.go and rust/server/tests/allocations.rs in `make test`); tokio's offloading modes allocate by construction (spawn_blocking 1 per request, rayon 2, block_in_place under 1, tokio::fs 2). Go's crypto/sha256 and Rust's sha2 hash at different speeds: a job asked for in milliseconds is sized per server (Environment gives both speeds), so both runtimes schedule jobs of the same length. go-pool caps concurrent hashes at GOMAXPROCS goroutines on the connections' own Ps and isolates nothing; go-oversubscribed (hashing on N goroutines with GOMAXPROCS doubled) is Go's analogue of tokio's rayon and blocking pools: more runnable threads than cores, time-sliced by the kernel. A read buffer becomes resident when first written: Go's at the first read, tokio's partly at accept (glibc zero-fills what calloc carves from its heap), which is why memory per connection is read after each connection carried a request."
    )
}
