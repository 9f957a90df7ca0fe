//! Command-line options and their validation into a `Config`. Every bad
//! value is one line naming the flag (clap's value parsers, or `UsageError`
//! for combinations), and the binary exits 2.

use crate::mix::{self, ClassSpec};
use crate::schedule::Arrival;
use clap::{ArgGroup, Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A usage problem found after parsing (exit 2, like a clap error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    Echo,
    Work,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArrivalArg {
    Uniform,
    Poisson,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mix(pub Vec<ClassSpec>);

#[derive(Debug, Clone, PartialEq)]
pub struct Rates(pub Vec<f64>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

#[derive(Parser, Debug, Clone)]
#[command(
    name = "loadgen",
    version,
    about = "Open- and closed-loop load generator for the echo and work protocols; \
             coordinated-omission-corrected latency in HdrHistograms",
    group(ArgGroup::new("model").required(true).args(["rate", "rate_steps", "closed", "idle"]))
)]
pub struct Opts {
    /// Server address (loopback only, unless --allow-non-loopback)
    #[arg(long, value_name = "IP:PORT", value_parser = parse_address)]
    pub address: SocketAddr,

    /// Accept a --address outside 127.0.0.0/8 and ::1 (e.g. a test host in a
    /// network namespace of this machine)
    #[arg(long)]
    pub allow_non_loopback: bool,

    /// Begin the warm-up at this wall-clock instant (Unix ms), so generators
    /// on several hosts start together; at most 1 s past, 60 s ahead
    #[arg(long, value_name = "UNIX_MS")]
    pub start_at: Option<f64>,

    #[arg(long, value_enum, default_value_t = Workload::Echo)]
    pub workload: Workload,

    /// echo: bytes per request [default: 64]
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..=16 * 1024 * 1024))]
    pub size: Option<u32>,

    /// work: request classes, e.g. "light:weight=99,size=64;heavy:weight=1,cpu=20000"
    /// (keys weight,size,cpu,io=none|sleep|block|file,io_arg,io_offset,conns)
    /// [default: work:weight=1,size=64]
    #[arg(long, value_name = "SPEC", value_parser = parse_mix_arg)]
    pub mix: Option<Mix>,

    /// work: bytes in the server's data file; file offsets are spread over it
    #[arg(long, value_name = "BYTES", default_value_t = 2_097_152)]
    pub data_size: u64,

    /// Open loop: requests per second over all connections
    #[arg(long, value_name = "RPS", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Open loop, one run per rate on the same connections
    #[arg(long, value_name = "R1,R2,...", value_parser = parse_rates)]
    pub rate_steps: Option<Rates>,

    /// Closed loop: each connection keeps --depth requests in flight
    #[arg(long)]
    pub closed: bool,

    /// No load: open --conns connections, send --prime requests on each, then
    /// hold them all open without traffic for --duration (after --warmup)
    #[arg(long)]
    pub idle: bool,

    /// Idle mode: verified requests sent on each connection, one at a time,
    /// before the hold [default: 0]
    #[arg(long, value_name = "N")]
    pub prime: Option<u32>,

    /// Closed loop: requests in flight per connection [default: 1]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub depth: Option<u32>,

    /// Open loop: send times evenly spaced or a Poisson process
    #[arg(long, value_enum, conflicts_with_all = ["closed", "idle"])]
    pub arrival: Option<ArrivalArg>,

    /// Seed of the Poisson arrivals and the spread file offsets
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Connections per class (a class may override with conns=N)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub conns: u32,

    /// Measured time per run (plain numbers are seconds; or 500ms, 2m)
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Traffic sent before the measured time, not recorded
    #[arg(long, default_value = "1s", value_parser = parse_duration_or_zero)]
    pub warmup: Duration,

    /// Pause between --rate-steps
    #[arg(long, default_value = "500ms", value_parser = parse_duration_or_zero)]
    pub settle: Duration,

    /// A request unanswered this long is an error; its connection is replaced
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Open loop: most requests outstanding per connection (more wait, counted)
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight: u32,

    /// Pin the generator's threads, one CPU each, e.g. "1" or "2-3"
    #[arg(long, value_name = "LIST", value_parser = parse_cpus)]
    pub cpus: Option<CpuList>,

    /// Generator threads [default: the --cpus count, else the allowed CPUs]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,

    /// Write the JSON document here (atomically)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write the corrected percentile distribution (HdrHistogram text format)
    #[arg(long, value_name = "FILE")]
    pub hgrm: Option<PathBuf>,

    /// Write per-second interval histograms (HdrHistogram interval log)
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,

    /// Also sample this process's CPU time over the measured window
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// No summary on stdout
    #[arg(long)]
    pub quiet: bool,

    /// Do not ask the kernel for receive timestamps (no receive lag; the
    /// behaviour of schema version 1)
    #[arg(long)]
    pub no_receive_timestamps: bool,

    /// The command line, recorded in the JSON (set by `parse_args`).
    #[arg(skip)]
    pub argv: Vec<String>,
}

/// Parses a command line (first item the program name) and keeps it for the report.
pub fn parse_args<I, S>(args: I) -> Result<Opts, clap::Error>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let mut o = Opts::try_parse_from(args.clone())?;
    o.argv = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    Ok(o)
}

fn parse_address(s: &str) -> Result<SocketAddr, String> {
    let a: SocketAddr = s
        .parse()
        .map_err(|_| "expected IP:PORT, e.g. 127.0.0.1:4000".to_string())?;
    if a.port() == 0 {
        return Err("port 0 is not a server's port".into());
    }
    Ok(a)
}

fn parse_mix_arg(s: &str) -> Result<Mix, String> {
    mix::parse_mix(s).map(Mix)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if !(r.is_finite() && r > 0.0 && r <= 1e8) {
        return Err(format!(
            "rate {s} must be positive and at most 100000000 req/s"
        ));
    }
    Ok(r)
}

fn parse_rates(s: &str) -> Result<Rates, String> {
    let v = s
        .split(',')
        .map(|p| parse_rate(p).map_err(|e| format!("step {p:?}: {e}")))
        .collect::<Result<Vec<f64>, String>>()?;
    Ok(Rates(v))
}

fn parse_cpus(s: &str) -> Result<CpuList, String> {
    rtc_common::affinity::parse_cpu_list(s).map(CpuList)
}

/// "10" (seconds), "1.5s", "500ms", "250us", "2m".
pub fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 10, 10s, 500ms, 2m)"))?;
    let scale = match unit {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (us, ms, s, m, h)")),
    };
    let secs = x * scale;
    if !(secs.is_finite() && (0.0..=86_400.0 * 7.0).contains(&secs)) {
        return Err(format!("{s:?} is out of range (0 to 7 days)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration_or_zero(s)?;
    if d.is_zero() {
        return Err(format!("{s:?} must be more than zero"));
    }
    Ok(d)
}

/// A connection's interval between requests may be at most this many times
/// the warm-up + duration. Beyond that the connection would almost surely
/// send nothing, and at extreme values (a rate of 1e-300, a weight of 1e-300
/// next to 1) the due times in nanoseconds overflow.
pub const MAX_INTERVAL_FACTOR: f64 = 1000.0;

/// Checks that every class's share of `rate` gives finite, representable due
/// times: each connection of a class sends every `conns / class_rate` seconds.
pub fn check_pacing(
    flag: &str,
    classes: &[ClassSpec],
    rate: f64,
    window: Duration,
) -> Result<(), String> {
    let sum: f64 = classes.iter().map(|c| c.weight).sum();
    let limit_s = MAX_INTERVAL_FACTOR * window.as_secs_f64();
    for c in classes {
        // The same arithmetic as Config::class_rate.
        let class_rate = rate * (c.weight / sum);
        let conns = c.conns.unwrap_or(1) as f64;
        let interval_s = conns / class_rate;
        if !(class_rate.is_finite() && class_rate > 0.0 && interval_s <= limit_s) {
            return Err(format!(
                "{flag} {}: class {:?} would get {class_rate:.3e} req/s over {conns} \
                 connection(s), one request per connection every {interval_s:.3e} s, more than \
                 {MAX_INTERVAL_FACTOR} × the warm-up + duration ({:.3} s); raise the rate or the \
                 class weight, or use fewer connections",
                if (1e-3..1e9).contains(&rate) {
                    format!("{rate}")
                } else {
                    format!("{rate:e}")
                },
                c.name,
                window.as_secs_f64()
            ));
        }
    }
    Ok(())
}

/// How far from now `--start-at` may be: this much in the past (a slow
/// start of a process on a loaded host)…
pub const START_AT_MAX_PAST_MS: f64 = 1_000.0;
/// …and this much ahead (a typo in a timestamp would otherwise wait for days).
pub const START_AT_MAX_AHEAD_MS: f64 = 60_000.0;

/// Checks `--start-at` against the wall clock `now_ms` (both Unix ms).
pub fn check_start_at(at_ms: f64, now_ms: f64) -> Result<(), String> {
    if !at_ms.is_finite() {
        return Err(format!("--start-at {at_ms} is not a time"));
    }
    if at_ms < now_ms - START_AT_MAX_PAST_MS {
        return Err(format!(
            "--start-at {at_ms:.0} is {:.1} s in the past (at most {:.0} s allowed)",
            (now_ms - at_ms) / 1e3,
            START_AT_MAX_PAST_MS / 1e3
        ));
    }
    if at_ms > now_ms + START_AT_MAX_AHEAD_MS {
        return Err(format!(
            "--start-at {at_ms:.0} is {:.1} s ahead (at most {:.0} s allowed)",
            (at_ms - now_ms) / 1e3,
            START_AT_MAX_AHEAD_MS / 1e3
        ));
    }
    Ok(())
}

/// Validated settings the engine runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub echo: bool,
    /// Classes with `conns` resolved.
    pub classes: Vec<ClassSpec>,
    pub open_loop: bool,
    /// `--idle`: no load, connections held open (neither open nor closed loop).
    pub idle: bool,
    /// `--prime`: requests per connection before the idle hold.
    pub prime: u32,
    pub start_at_unix_ms: Option<f64>,
    /// Ask the kernel for receive timestamps (SO_TIMESTAMPING).
    pub receive_timestamps: bool,
    /// Offered rates, one per step (empty in closed loop).
    pub rates: Vec<f64>,
    pub rate_steps: bool,
    pub arrival: Arrival,
    pub depth: usize,
    pub max_in_flight: usize,
    pub seed: u64,
    pub duration: Duration,
    pub warmup: Duration,
    pub settle: Duration,
    pub timeout: Duration,
    pub threads: usize,
    pub cpus: Option<Vec<usize>>,
    pub data_size: u64,
    pub size: u32,
    pub json: Option<PathBuf>,
    pub hgrm: Option<PathBuf>,
    pub hlog: Option<PathBuf>,
    pub server_pid: Option<u32>,
    pub quiet: bool,
    pub argv: Vec<String>,
}

impl Config {
    pub fn closed_loop(&self) -> bool {
        !self.open_loop && !self.idle
    }
    /// "open" | "closed" | "idle".
    pub fn load_model(&self) -> &'static str {
        match (self.open_loop, self.idle) {
            (true, _) => "open",
            (false, true) => "idle",
            (false, false) => "closed",
        }
    }
    pub fn total_conns(&self) -> usize {
        self.classes.iter().map(|c| c.conns.unwrap_or(0)).sum()
    }
    pub fn class_conns(&self, class: usize) -> usize {
        self.classes[class].conns.unwrap_or(0)
    }
    pub fn weight_sum(&self) -> f64 {
        self.classes.iter().map(|c| c.weight).sum()
    }
    /// The offered rate of `class` at the total `rate`.
    pub fn class_rate(&self, class: usize, rate: f64) -> f64 {
        // The share first: rate × weight could overflow for huge weights.
        rate * (self.classes[class].weight / self.weight_sum())
    }
}

impl Opts {
    pub fn validate(&self) -> Result<Config, UsageError> {
        let bad = |m: String| Err(UsageError(m));
        if !self.allow_non_loopback && !self.address.ip().is_loopback() {
            return bad(format!(
                "--address: {} is not a loopback address; load is only sent to 127.0.0.0/8 or ::1 \
                 unless --allow-non-loopback is given",
                self.address.ip()
            ));
        }
        if let Some(at) = self.start_at {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64() * 1e3)
                .unwrap_or(0.0);
            check_start_at(at, now_ms).map_err(UsageError)?;
        }
        if self.prime.is_some() && !self.idle {
            return bad("--prime applies to --idle".into());
        }
        if self.depth.is_some() && !self.closed {
            return bad("--depth applies to --closed (open loop uses --max-in-flight)".into());
        }
        let echo = self.workload == Workload::Echo;
        let mut classes = match (self.workload, &self.mix, self.size) {
            (Workload::Echo, Some(_), _) => {
                return bad("--mix applies to --workload work; echo takes --size".into());
            }
            (Workload::Work, _, Some(_)) => {
                return bad(
                    "--size applies to --workload echo; give work sizes in --mix (size=BYTES)"
                        .into(),
                );
            }
            (Workload::Echo, None, size) => vec![ClassSpec::echo(size.unwrap_or(64))],
            (Workload::Work, Some(Mix(m)), None) => m.clone(),
            (Workload::Work, None, None) => {
                let mut c = mix::parse_mix("work:weight=1,size=64").expect("default mix parses");
                c.truncate(1);
                c
            }
        };
        if !echo {
            mix::check_data_size(&classes, self.data_size).map_err(UsageError)?;
        }
        for c in &mut classes {
            c.conns = Some(c.conns.unwrap_or(self.conns as usize));
        }
        let total: usize = classes.iter().map(|c| c.conns.unwrap_or(0)).sum();
        if let Some(CpuList(cpus)) = &self.cpus
            && let Ok(allowed) = rtc_common::affinity::allowed_cpus()
            && let Some(c) = cpus.iter().find(|c| !allowed.contains(c))
        {
            return bad(format!(
                "--cpus: CPU {c} is not available to this process (allowed: {})",
                rtc_common::affinity::format_cpu_list(&allowed)
            ));
        }
        let threads = match (self.threads, &self.cpus) {
            (Some(t), _) => t as usize,
            (None, Some(CpuList(c))) => c.len(),
            (None, None) => rtc_common::affinity::allowed_cpus()
                .map(|c| c.len())
                .unwrap_or(1)
                .max(1),
        };
        let threads = if self.threads.is_none() {
            threads.min(total)
        } else {
            threads
        };
        if threads > total {
            return bad(format!(
                "--threads {threads} is more than the {total} connections to share among them"
            ));
        }
        let (rates, rate_steps) = match (self.rate, &self.rate_steps) {
            (Some(r), _) => (vec![r], false),
            (None, Some(Rates(v))) => (v.clone(), true),
            (None, None) => (Vec::new(), false),
        };
        let flag = if rate_steps { "--rate-steps" } else { "--rate" };
        for &rate in &rates {
            check_pacing(flag, &classes, rate, self.warmup + self.duration).map_err(UsageError)?;
        }
        Ok(Config {
            addr: self.address,
            echo,
            classes,
            open_loop: !self.closed && !self.idle,
            idle: self.idle,
            prime: self.prime.unwrap_or(0),
            start_at_unix_ms: self.start_at,
            receive_timestamps: !self.no_receive_timestamps,
            rates,
            rate_steps,
            arrival: match self.arrival {
                Some(ArrivalArg::Poisson) => Arrival::Poisson,
                _ => Arrival::Uniform,
            },
            depth: self.depth.unwrap_or(1) as usize,
            max_in_flight: self.max_in_flight as usize,
            seed: self.seed,
            duration: self.duration,
            warmup: self.warmup,
            settle: self.settle,
            timeout: self.timeout,
            threads,
            cpus: self.cpus.as_ref().map(|c| c.0.clone()),
            data_size: self.data_size,
            size: self.size.unwrap_or(64),
            json: self.json.clone(),
            hgrm: self.hgrm.clone(),
            hlog: self.hlog.clone(),
            server_pid: self.server_pid,
            quiet: self.quiet,
            argv: self.argv.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<Config, String> {
        let v = std::iter::once("loadgen").chain(args.split_whitespace());
        let o = parse_args(v).map_err(|e| e.to_string())?;
        o.validate().map_err(|e| e.0)
    }

    #[test]
    fn parses_an_open_loop_echo_run() {
        let c = parse(
            "--address 127.0.0.1:9 --rate 2000 --conns 4 --duration 2 --warmup 500ms --threads 1",
        )
        .unwrap();
        assert!(c.echo && c.open_loop);
        assert_eq!(c.rates, vec![2000.0]);
        assert_eq!(c.duration, Duration::from_secs(2));
        assert_eq!(c.warmup, Duration::from_millis(500));
        assert_eq!(c.total_conns(), 4);
        assert_eq!(c.classes[0].size, 64);
        assert_eq!(c.max_in_flight, 1024);
    }

    #[test]
    fn work_classes_get_their_own_connections_and_rate_share() {
        let c = parse(
            "--address 127.0.0.1:9 --workload work --rate 1000 --conns 5 --threads 1 \
             --mix light:weight=3;heavy:weight=1,cpu=10,conns=2",
        )
        .unwrap();
        assert_eq!(c.total_conns(), 7);
        assert_eq!(c.class_conns(1), 2);
        assert_eq!(c.class_rate(0, 1000.0), 750.0);
        assert_eq!(c.class_rate(1, 1000.0), 250.0);
    }

    #[test]
    fn bad_input_is_one_line_naming_the_part() {
        let cases = [
            ("--address 10.0.0.1:80 --rate 1", "not a loopback"),
            ("--address localhost:80 --rate 1", "IP:PORT"),
            ("--address 127.0.0.1:80", "required"),
            ("--address 127.0.0.1:80 --rate 1 --closed", "cannot be used"),
            ("--address 127.0.0.1:80 --rate=-5", "must be positive"),
            ("--address 127.0.0.1:80 --rate-steps 10,x", "step \"x\""),
            (
                "--address 127.0.0.1:80 --rate 1 --duration 3parsecs",
                "unknown unit",
            ),
            (
                "--address 127.0.0.1:80 --rate 1 --duration 0",
                "more than zero",
            ),
            ("--address 127.0.0.1:80 --rate 1 --depth 2", "--closed"),
            (
                "--address 127.0.0.1:80 --rate 1 --workload work --mix a:cpu=x",
                "cpu=\"x\"",
            ),
            (
                "--address 127.0.0.1:80 --rate 1 --mix a:size=1",
                "--mix applies",
            ),
            (
                "--address 127.0.0.1:80 --rate 1 --workload work --size 5",
                "--size applies",
            ),
            (
                "--address 127.0.0.1:80 --rate 1 --conns 2 --threads 3",
                "--threads 3",
            ),
            (
                "--address 127.0.0.1:80 --rate 1 --cpus 1000",
                "not available",
            ),
            (
                "--address 127.0.0.1:80 --rate 1 --workload work --data-size 10 --mix f:io=file,io_arg=20",
                "past --data-size",
            ),
            (
                "--address 127.0.0.1:80 --rate 1e-300",
                "--rate 1e-300: class \"echo\" would get",
            ),
            (
                "--address 127.0.0.1:80 --rate 5e-324 --conns 1",
                "more than 1000 × the warm-up + duration",
            ),
            (
                "--address 127.0.0.1:80 --rate-steps 100,1e-200",
                "--rate-steps 1e-200: class",
            ),
            (
                "--address 127.0.0.1:80 --rate 100 --workload work --mix a:weight=1e-300;b:weight=1",
                "class \"a\" would get",
            ),
            (
                "--address 127.0.0.1:80 --rate 100 --workload work --mix a:weight=1e308;b:weight=1e308",
                "sum to infinity",
            ),
            (
                "--address 127.0.0.1:80 --rate 1 --cpus 0-100000000000",
                "beyond what the kernel interface allows",
            ),
        ];
        for (args, want) in cases {
            let e = parse(args).expect_err(args);
            let first = e.lines().next().unwrap_or("");
            assert!(first.contains(want), "{args}: {e}");
        }
    }

    #[test]
    fn pacing_bounds_are_checked_against_the_window() {
        // 10 connections at 0.001 req/s: one request each every 10,000 s;
        // the limit is 1000 × (1 s warm-up + 10 s) = 11,000 s.
        assert!(parse("--address 127.0.0.1:80 --rate 0.001").is_ok());
        let e = parse("--address 127.0.0.1:80 --rate 0.0009").unwrap_err();
        assert!(e.contains("every 1.111e4 s"), "{e}");
        assert!(!e.contains('\n'));
        // Fewer connections make the same rate acceptable.
        assert!(parse("--address 127.0.0.1:80 --rate 0.0009 --conns 1").is_ok());
        // A class's own weight and connection count.
        assert!(
            parse("--address 127.0.0.1:80 --rate 1 --workload work --mix a:weight=1e-6,conns=1;b")
                .is_err()
        );
        assert!(
            parse("--address 127.0.0.1:80 --rate 1 --workload work --mix a:weight=1e-2,conns=1;b")
                .is_ok()
        );
        // Huge weights are fine as long as their sum is finite.
        let c = parse(
            "--address 127.0.0.1:80 --rate 100 --workload work --mix a:weight=1e307;b:weight=3e307",
        )
        .unwrap();
        assert_eq!(c.class_rate(0, 100.0), 25.0);
        // Closed loop has no schedule to check.
        assert!(parse("--address 127.0.0.1:80 --closed").is_ok());
    }

    #[test]
    fn non_loopback_addresses_need_the_flag() {
        let e = parse("--address 198.18.0.2:80 --rate 1").unwrap_err();
        assert!(
            e.contains("not a loopback") && e.contains("--allow-non-loopback"),
            "{e}"
        );
        let c = parse("--address 198.18.0.2:80 --rate 1 --allow-non-loopback").unwrap();
        assert_eq!(c.addr.to_string(), "198.18.0.2:80");
        assert!(parse("--address [::1]:80 --rate 1").is_ok());
    }

    #[test]
    fn start_at_is_bounded_around_now() {
        let now = 1_700_000_000_000.0;
        assert!(check_start_at(now, now).is_ok());
        assert!(check_start_at(now - 999.0, now).is_ok());
        assert!(check_start_at(now + 59_999.0, now).is_ok());
        let e = check_start_at(now - 1_500.0, now).unwrap_err();
        assert!(e.contains("1.5 s in the past"), "{e}");
        let e = check_start_at(now + 61_000.0, now).unwrap_err();
        assert!(e.contains("61.0 s ahead"), "{e}");
        assert!(check_start_at(f64::NAN, now).is_err());
        // Through the parser, against the real clock.
        let e = parse("--address 127.0.0.1:80 --rate 1 --start-at 1000").unwrap_err();
        assert!(e.contains("in the past"), "{e}");
        let soon = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 2_000;
        let c = parse(&format!(
            "--address 127.0.0.1:80 --rate 1 --start-at {soon}"
        ))
        .unwrap();
        assert_eq!(c.start_at_unix_ms, Some(soon as f64));
    }

    #[test]
    fn idle_mode_and_its_flags() {
        let c = parse("--address 127.0.0.1:80 --idle --prime 1 --conns 50").unwrap();
        assert!(c.idle && !c.open_loop && !c.closed_loop());
        assert_eq!((c.prime, c.load_model()), (1, "idle"));
        assert_eq!(parse("--address 127.0.0.1:80 --idle").unwrap().prime, 0);
        assert!(parse("--address 127.0.0.1:80 --prime 1 --rate 5").is_err());
        assert!(parse("--address 127.0.0.1:80 --idle --rate 5").is_err());
        assert!(parse("--address 127.0.0.1:80 --idle --closed").is_err());
        assert_eq!(
            parse("--address 127.0.0.1:80 --closed")
                .unwrap()
                .load_model(),
            "closed"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration_or_zero("1.5").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_duration_or_zero("250us").unwrap(),
            Duration::from_micros(250)
        );
        assert_eq!(
            parse_duration_or_zero("2m").unwrap(),
            Duration::from_secs(120)
        );
        assert!(parse_duration_or_zero("-1").is_err());
        assert!(parse_duration_or_zero("").is_err());
    }
}
