//! Runtime microbenchmarks for tokio, matching go-micro subcommand for
//! subcommand: `spawn`, `pingpong`, `channels`, `blocking-burst`, `starve`,
//! `lifo-wake`. Each writes one JSON document (schemas/micro.schema.json)
//! with every repeat's value of every metric; the harness computes medians,
//! intervals and verdicts.
//!
//! `spawn` and `blocking-burst` run each repeat in a fresh child process
//! (this same binary with the hidden `--child` flag): memory freed by one
//! repeat stays in the allocator (and Go keeps dead goroutines and idle OS
//! threads), so a second repeat in the same process would measure reuse,
//! not creation.
//!
//! `lifo-wake`'s `lifo_off` variant needs tokio's unstable
//! `Builder::disable_lifo_slot`: build with `RUSTFLAGS="--cfg tokio_unstable"`
//! to get it; other builds report the variant as skipped.

pub mod bench;
pub mod child;
pub mod doc;
pub mod procinfo;
pub mod stats;

use clap::{Args, Parser, Subcommand, value_parser};
use std::path::Path;

pub use doc::Document;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "rust-micro",
    version,
    about = "tokio microbenchmarks: spawn, pingpong, channels, blocking-burst, starve, lifo-wake"
)]
pub struct Opts {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Cmd {
    /// Spawn N tasks that wait on one signal, then release them all.
    Spawn(SpawnArgs),
    /// Two tasks bounce a message N times, on one worker and on two.
    Pingpong(PingpongArgs),
    /// Channel throughput: 1→1, P→1, 1→R fan-out, latest value, oneshot.
    Channels(ChannelsArgs),
    /// N concurrent blocking calls on spawn_blocking, then idle; OS threads over time.
    #[command(name = "blocking-burst")]
    BlockingBurst(BurstArgs),
    /// One worker: an always-ready task vs a probe due every period.
    Starve(StarveArgs),
    /// Two workers: a task wakes another, then keeps the CPU without yielding.
    #[command(name = "lifo-wake")]
    LifoWake(LifoArgs),
}

/// Flags every subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Measured repeats; every repeat's value is recorded.
    #[arg(long, default_value_t = 5, value_parser = value_parser!(u32).range(1..=1000))]
    pub repeats: u32,
    /// Untimed repeats run first (default 1; blocking-burst 0, as each of its
    /// repeats is a fresh process and lasts at least --idle).
    #[arg(long, value_parser = value_parser!(u32).range(0..=100))]
    pub warmup: Option<u32>,
    /// tokio worker threads (default: the CPUs available). Cases that need
    /// one or two workers set that themselves and record it.
    #[arg(long, value_parser = value_parser!(u64).range(1..=1024))]
    pub workers: Option<u64>,
    /// tokio's cap on blocking-pool threads.
    #[arg(long, default_value_t = doc::DEFAULT_MAX_BLOCKING_THREADS as u64,
          value_parser = value_parser!(u64).range(1..=100_000))]
    pub max_blocking_threads: u64,
    /// Where the JSON document goes: a file, or - for stdout.
    #[arg(long, default_value = "-")]
    pub json: String,
    /// Internal: run one measurement and print it as one JSON line.
    #[arg(long, hide = true)]
    pub child: bool,
}

impl Common {
    pub fn workers(&self) -> usize {
        self.workers
            .map(|w| w as usize)
            .unwrap_or_else(doc::default_workers)
    }
    fn warmup_or(&self, default: u32) -> u32 {
        self.warmup.unwrap_or(default)
    }
    fn base_params(&self, warmup: u32) -> serde_json::Map<String, serde_json::Value> {
        obj! {
            "repeats" => self.repeats,
            "warmup" => warmup,
            "workers" => self.workers(),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct SpawnArgs {
    /// Tasks to spawn.
    #[arg(long, default_value_t = 10_000, value_parser = value_parser!(u64).range(1..=100_000_000))]
    pub n: u64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone)]
pub struct PingpongArgs {
    /// Round trips per repeat.
    #[arg(long, default_value_t = 100_000, value_parser = value_parser!(u64).range(1..=100_000_000))]
    pub n: u64,
    /// What carries the message: chan, oneshot, mpsc, notify, or all.
    #[arg(long, default_value = "all", value_parser = ["all", "chan", "oneshot", "mpsc", "notify"])]
    pub via: String,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone)]
pub struct ChannelsArgs {
    /// Messages per repeat (split evenly among producers).
    #[arg(long, default_value_t = 100_000, value_parser = value_parser!(u64).range(1..=100_000_000))]
    pub messages: u64,
    /// Channel capacity (bounded mpsc, Go buffer, broadcast ring).
    #[arg(long, default_value_t = 1024, value_parser = value_parser!(u64).range(1..=1_048_576))]
    pub capacity: u64,
    /// Producers of the many-to-one case.
    #[arg(long, default_value_t = 4, value_parser = value_parser!(u64).range(1..=1024))]
    pub producers: u64,
    /// Receivers of the fan-out case.
    #[arg(long, default_value_t = 4, value_parser = value_parser!(u64).range(1..=1024))]
    pub receivers: u64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone)]
pub struct BurstArgs {
    /// Concurrent blocking calls.
    #[arg(long, default_value_t = 1000, value_parser = value_parser!(u64).range(1..=1_000_000))]
    pub n: u64,
    /// Length of each blocking call, ms.
    #[arg(long, default_value_t = 50, value_parser = value_parser!(u64).range(0..=60_000))]
    pub ms: u64,
    /// Idle time after the burst has drained, seconds.
    #[arg(long, default_value_t = 15.0)]
    pub idle: f64,
    /// tokio's keep-alive of an idle blocking-pool thread, ms (tokio's
    /// default is 10 s; a short idle period needs a shorter one to show
    /// the shrink).
    #[arg(long, default_value_t = doc::BLOCKING_KEEP_ALIVE_MS,
          value_parser = value_parser!(u64).range(1..=3_600_000))]
    pub keep_alive_ms: u64,
    /// Thread-count sampling period, ms (every 5 ms while the burst runs).
    #[arg(long, default_value_t = 100, value_parser = value_parser!(u64).range(1..=10_000))]
    pub sample_ms: u64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone)]
pub struct StarveArgs {
    /// How long the always-ready task runs per repeat, ms.
    #[arg(long, default_value_t = 300, value_parser = value_parser!(u64).range(1..=60_000))]
    pub duration_ms: u64,
    /// The probe's period, µs.
    #[arg(long, default_value_t = 1000, value_parser = value_parser!(u64).range(100..=1_000_000))]
    pub period_us: u64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone)]
pub struct LifoArgs {
    /// Wake-ups per repeat.
    #[arg(long, default_value_t = 20, value_parser = value_parser!(u64).range(1..=100_000))]
    pub samples: u64,
    /// How long the waker keeps the CPU after the wake, ms.
    #[arg(long, default_value_t = 5, value_parser = value_parser!(u64).range(1..=1000))]
    pub busy_ms: u64,
    #[command(flatten)]
    pub common: Common,
}

impl Cmd {
    pub fn common(&self) -> &Common {
        match self {
            Cmd::Spawn(a) => &a.common,
            Cmd::Pingpong(a) => &a.common,
            Cmd::Channels(a) => &a.common,
            Cmd::BlockingBurst(a) => &a.common,
            Cmd::Starve(a) => &a.common,
            Cmd::LifoWake(a) => &a.common,
        }
    }
}

/// Why a run did not produce a document.
#[derive(Debug)]
pub enum Error {
    /// A bad combination of flags (exit 2).
    Usage(String),
    /// The machine cannot take the requested size (exit 2), decided before starting.
    Refused(String),
    /// Something failed while measuring (exit 1).
    Failed(anyhow::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Usage(m) | Error::Refused(m) => f.write_str(m),
            Error::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Failed(e)
    }
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Refused(_) => 2,
            Error::Failed(_) => 1,
        }
    }
}

/// Runs one subcommand. `exe` is the binary re-run for per-repeat child
/// processes (the running binary in production; tests pass the built
/// rust-micro). Child mode prints its one JSON line and returns `None`.
pub fn run(opts: &Opts, exe: &Path) -> Result<Option<Document>, Error> {
    match &opts.cmd {
        Cmd::Spawn(a) => bench::spawn::run(a, exe),
        Cmd::Pingpong(a) => bench::pingpong::run(a).map(Some),
        Cmd::Channels(a) => bench::channels::run(a).map(Some),
        Cmd::BlockingBurst(a) => bench::burst::run(a, exe),
        Cmd::Starve(a) => bench::starve::run(a).map(Some),
        Cmd::LifoWake(a) => bench::lifo::run(a).map(Some),
    }
}

/// Writes `doc` to `dest` (a path, or "-" for stdout), pretty-printed.
pub fn emit(doc: &Document, dest: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut text = serde_json::to_string_pretty(doc)?;
    text.push('\n');
    if dest == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    } else {
        std::fs::write(dest, text).with_context(|| format!("cannot write {dest}"))?;
    }
    Ok(())
}

/// A multi-thread runtime with `workers` workers, as every case builds it.
pub fn runtime(
    workers: usize,
    max_blocking_threads: usize,
) -> anyhow::Result<tokio::runtime::Runtime> {
    runtime_with_keep_alive(
        workers,
        max_blocking_threads,
        std::time::Duration::from_millis(doc::BLOCKING_KEEP_ALIVE_MS),
    )
}

/// As `runtime`, with the blocking pool's keep-alive set.
pub fn runtime_with_keep_alive(
    workers: usize,
    max_blocking_threads: usize,
    keep_alive: std::time::Duration,
) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(max_blocking_threads)
        .thread_keep_alive(keep_alive)
        .enable_all()
        .build()?)
}

/// Runs `warmup` untimed and `repeats` timed calls of `f`, collecting each
/// timed call's metrics.
pub fn repeat<F>(warmup: u32, repeats: u32, mut f: F) -> anyhow::Result<doc::Metrics>
where
    F: FnMut() -> anyhow::Result<Vec<(&'static str, f64)>>,
{
    for _ in 0..warmup {
        f()?;
    }
    let mut m = doc::Metrics::new();
    for _ in 0..repeats {
        doc::push_sample(&mut m, &f()?);
    }
    Ok(m)
}

/// Claim C12: a future that holds an `Rc` across an `.await` is `!Send`.
/// tests/ui/spawn_rc_fails.rs shows `tokio::spawn` rejects it at compile
/// time; tests/c12_send.rs runs it with `LocalSet::spawn_local`.
pub mod c12 {
    use std::rc::Rc;

    /// Returns 42 after one yield, holding an `Rc` across it.
    pub async fn holds_rc_across_await() -> usize {
        let shared = Rc::new(41);
        tokio::task::yield_now().await;
        *shared + 1
    }
}
