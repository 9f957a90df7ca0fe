//! Flags, their validation (pure), the resources they name (data file, rayon
//! pool) and the JSON configuration line printed at start-up.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use rtc_common::protocol::DEFAULT_BUF_SIZE;
use serde::Serialize;

/// Largest `--buf-size` accepted (16 MiB), the same bound as the Go server.
pub const MAX_BUF_SIZE: usize = 16 * 1024 * 1024;
/// tokio's own default for `max_blocking_threads`.
pub const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// Largest `--workers` and `--max-blocking-threads` accepted. tokio has no
/// bound of its own and panics ("OS can't spawn worker thread") when the OS
/// refuses a thread; far more threads than any machine here has CPUs is
/// never a meaningful setting, so a bigger value is a usage error.
pub const MAX_THREADS: usize = 4096;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "rust-server",
    version,
    about = "tokio server for the echo and work workloads (PROTOCOL.md)"
)]
pub struct Opts {
    /// Address to listen on; loopback only unless --allow-non-loopback.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Accept a non-loopback --listen address (runs across hosts): the
    /// server is then reachable from the network.
    #[arg(long)]
    pub allow_non_loopback: bool,
    #[arg(long, value_enum, default_value_t = Workload::Work)]
    pub workload: Workload,
    /// Read buffer (echo) and reader/writer buffer capacity (work), bytes.
    #[arg(long, default_value_t = DEFAULT_BUF_SIZE)]
    pub buf_size: usize,
    /// Data file for io_kind 3 (byte i = i mod 251).
    #[arg(long)]
    pub data_file: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = RuntimeKind::MultiThread)]
    pub runtime: RuntimeKind,
    /// Runtime worker threads (multi-thread) and rayon pool size, 1 to 4096; default: available parallelism.
    #[arg(long)]
    pub workers: Option<usize>,
    /// tokio's blocking-pool cap, 1 to 4096.
    #[arg(long, default_value_t = DEFAULT_MAX_BLOCKING_THREADS)]
    pub max_blocking_threads: usize,
    #[arg(long, value_enum, default_value_t = CpuMode::Inline)]
    pub cpu_mode: CpuMode,
    #[arg(long, value_enum, default_value_t = BlockMode::Inline)]
    pub block_mode: BlockMode,
    #[arg(long, value_enum, default_value_t = FileMode::TokioFs)]
    pub file_mode: FileMode,
    /// tokio's cooperative budget; off wraps each connection in `unconstrained`.
    #[arg(long, value_enum, default_value_t = Coop::On)]
    pub coop: Coop,
    /// Append one JSON line of runtime metrics per sample to PATH
    /// (schemas/telemetry.schema.json); no sampler without it.
    #[arg(long, value_name = "PATH")]
    pub telemetry: Option<PathBuf>,
    /// Time between telemetry samples, 1ms to 1m (Go syntax: 100ms, 2s).
    #[arg(long, value_name = "DURATION", default_value = "100ms")]
    pub telemetry_interval: String,
}

#[derive(ValueEnum, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    Echo,
    Work,
}

#[derive(ValueEnum, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    MultiThread,
    CurrentThread,
}

/// Where the SHA-256 chain runs.
#[derive(ValueEnum, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CpuMode {
    Inline,
    SpawnBlocking,
    BlockInPlace,
    Rayon,
}

/// Where the blocking OS call (io_kind 2) runs.
#[derive(ValueEnum, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BlockMode {
    Inline,
    SpawnBlocking,
    BlockInPlace,
}

/// How the data file (io_kind 3) is read.
#[derive(ValueEnum, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FileMode {
    TokioFs,
    SpawnBlocking,
    Inline,
}

#[derive(ValueEnum, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Coop {
    On,
    Off,
}

/// Validated flags: everything decided without touching the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub listen: SocketAddr,
    pub workload: Workload,
    pub buf_size: usize,
    pub data_file: Option<PathBuf>,
    pub runtime: RuntimeKind,
    /// Runtime worker threads: `--workers` for multi-thread, 1 for current-thread.
    pub workers: usize,
    /// The `--workers` value (or its default), the rayon pool's size.
    pub rayon_threads: usize,
    pub max_blocking_threads: usize,
    pub cpu_mode: CpuMode,
    pub block_mode: BlockMode,
    pub file_mode: FileMode,
    pub coop: Coop,
    pub telemetry: Option<PathBuf>,
    pub telemetry_interval: Duration,
}

impl Settings {
    /// Checks the flags. `default_workers` is the available parallelism,
    /// passed in so the check stays pure. Errors are one line naming the flag.
    pub fn from_opts(o: &Opts, default_workers: usize) -> Result<Settings, String> {
        let listen = parse_listen(&o.listen, o.allow_non_loopback)?;
        if !(1..=MAX_BUF_SIZE).contains(&o.buf_size) {
            return Err(format!(
                "--buf-size {}: must be between 1 and {MAX_BUF_SIZE} bytes",
                o.buf_size
            ));
        }
        let requested_workers = o.workers.unwrap_or(default_workers.clamp(1, MAX_THREADS));
        if !(1..=MAX_THREADS).contains(&requested_workers) {
            return Err(format!(
                "--workers {requested_workers}: must be between 1 and {MAX_THREADS}"
            ));
        }
        if !(1..=MAX_THREADS).contains(&o.max_blocking_threads) {
            return Err(format!(
                "--max-blocking-threads {}: must be between 1 and {MAX_THREADS}",
                o.max_blocking_threads
            ));
        }
        if o.runtime == RuntimeKind::CurrentThread {
            // tokio::task::block_in_place panics on a current-thread runtime.
            if o.cpu_mode == CpuMode::BlockInPlace {
                return Err(
                    "--cpu-mode block-in-place needs --runtime multi-thread (tokio's block_in_place panics on a current-thread runtime)"
                        .into(),
                );
            }
            if o.block_mode == BlockMode::BlockInPlace {
                return Err(
                    "--block-mode block-in-place needs --runtime multi-thread (tokio's block_in_place panics on a current-thread runtime)"
                        .into(),
                );
            }
        }
        Ok(Settings {
            listen,
            workload: o.workload,
            buf_size: o.buf_size,
            data_file: o.data_file.clone(),
            runtime: o.runtime,
            workers: match o.runtime {
                RuntimeKind::MultiThread => requested_workers,
                RuntimeKind::CurrentThread => 1,
            },
            rayon_threads: requested_workers,
            max_blocking_threads: o.max_blocking_threads,
            cpu_mode: o.cpu_mode,
            block_mode: o.block_mode,
            file_mode: o.file_mode,
            coop: o.coop,
            telemetry: o.telemetry.clone(),
            telemetry_interval: parse_interval(&o.telemetry_interval)
                .map_err(|e| format!("--telemetry-interval {}: {e}", o.telemetry_interval))?,
        })
    }

    /// True if some mode calls `tokio::task::block_in_place`.
    pub fn uses_block_in_place(&self) -> bool {
        self.cpu_mode == CpuMode::BlockInPlace || self.block_mode == BlockMode::BlockInPlace
    }
}

/// `IP:PORT` (or `localhost:PORT`, as Go's net.Listen accepts); loopback
/// only unless `allow_non_loopback` (the explicit opt-in flag).
pub fn parse_listen(s: &str, allow_non_loopback: bool) -> Result<SocketAddr, String> {
    let addr = match s.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => match s.rsplit_once(':') {
            Some(("localhost", port)) => port
                .parse::<u16>()
                .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p))
                .map_err(|_| format!("--listen {s}: bad port"))?,
            _ => return Err(format!("--listen {s}: expected IP:PORT")),
        },
    };
    if !addr.ip().is_loopback() && !allow_non_loopback {
        return Err(format!(
            "--listen {s}: {} is not a loopback address (add --allow-non-loopback to listen on it)",
            addr.ip()
        ));
    }
    Ok(addr)
}

/// Shortest and longest `--telemetry-interval`: below 1 ms the samples
/// would cost more than the workers' own time slices tell; above a minute a
/// trial would see none between the first and the last.
pub const MIN_TELEMETRY_INTERVAL: Duration = Duration::from_millis(1);
pub const MAX_TELEMETRY_INTERVAL: Duration = Duration::from_secs(60);

/// A duration in Go's syntax (one number and a unit: ns, us, µs, ms, s, m),
/// as the Go server's flag reads it, within the telemetry interval bounds.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or("needs a unit (ns, us, ms, s, m)")?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| "expected a number and a unit, e.g. 100ms".to_string())?;
    let ns_per_unit = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        _ => return Err(format!("unknown unit {unit:?} (ns, us, ms, s, m)")),
    };
    let d = Duration::try_from_secs_f64(value * ns_per_unit / 1e9).unwrap_or(Duration::MAX);
    if !(MIN_TELEMETRY_INTERVAL..=MAX_TELEMETRY_INTERVAL).contains(&d) {
        return Err("must be between 1ms and 1m".into());
    }
    Ok(d)
}

/// The data file, opened once at start; its length is recorded then, and a
/// read past that length is status 4 even if the file grows later.
#[derive(Debug)]
pub struct DataFile {
    pub path: PathBuf,
    pub file: Arc<std::fs::File>,
    pub len_bytes: u64,
}

impl DataFile {
    pub fn open(path: &Path) -> Result<DataFile, String> {
        let what = |e: std::io::Error| format!("--data-file {}: {e}", path.display());
        let file = std::fs::File::open(path).map_err(what)?;
        let meta = file.metadata().map_err(what)?;
        if !meta.is_file() {
            return Err(format!(
                "--data-file {}: not a regular file",
                path.display()
            ));
        }
        Ok(DataFile {
            path: path.to_path_buf(),
            file: Arc::new(file),
            len_bytes: meta.len(),
        })
    }
}

/// Settings plus the resources they name; shared by every connection.
#[derive(Debug)]
pub struct Config {
    pub settings: Settings,
    pub data: Option<DataFile>,
    /// The dedicated pool for `--cpu-mode rayon` (None otherwise).
    pub rayon: Option<rayon::ThreadPool>,
}

/// A start-up problem the user caused (bad flag, unusable data file): exit 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl Config {
    /// Opens the data file and builds the rayon pool if the settings ask for them.
    pub fn open(settings: Settings) -> anyhow::Result<Config> {
        let data = match &settings.data_file {
            Some(p) => Some(DataFile::open(p).map_err(UsageError)?),
            None => None,
        };
        let rayon = match settings.cpu_mode {
            CpuMode::Rayon => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(settings.rayon_threads)
                    .thread_name(|i| format!("rayon-{i}"))
                    .build()?,
            ),
            _ => None,
        };
        Ok(Config {
            settings,
            data,
            rayon,
        })
    }

    /// Parses flags as the binary would (first item the program name) and opens
    /// the resources: the in-process path tests use.
    pub fn from_args<I, S>(args: I) -> anyhow::Result<Config>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString> + Clone,
    {
        let opts = Opts::try_parse_from(args).map_err(|e| UsageError(e.to_string()))?;
        let settings = Settings::from_opts(&opts, default_workers()).map_err(UsageError)?;
        Config::open(settings)
    }
}

pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The one JSON line on stderr describing the effective configuration. Keys
/// shared with the Go server come first, in the brief's order.
#[derive(Serialize, Debug)]
pub struct ConfigLine {
    pub server: &'static str,
    pub server_version: &'static str,
    pub workload: Workload,
    pub listen: String,
    pub buf_size: usize,
    pub workers: usize,
    pub cpu_mode: CpuMode,
    pub data_file: Option<String>,
    /// 0 without a data file.
    pub data_file_bytes: u64,
    pub pid: u32,
    pub runtime: RuntimeKind,
    pub max_blocking_threads: usize,
    pub block_mode: BlockMode,
    pub file_mode: FileMode,
    pub coop: Coop,
    pub tokio_version: &'static str,
    pub rustc_version: &'static str,
    pub rayon_threads: Option<usize>,
    /// `echo_future_bytes`, `work_future_bytes`: each connection task's future.
    #[serde(flatten)]
    pub future_sizes: crate::tasks::FutureSizes,
    /// The `--telemetry` file, or null.
    pub telemetry: Option<String>,
    pub telemetry_interval_ms: f64,
    /// Built with `--cfg tokio_unstable` (more telemetry metrics).
    pub tokio_unstable: bool,
}

pub const TOKIO_VERSION: &str = env!("RTC_TOKIO_VERSION");
pub const RUSTC_VERSION: &str = env!("RTC_RUSTC_VERSION");

impl ConfigLine {
    /// `listen` is the address actually bound (the flag may say port 0).
    pub fn new(cfg: &Config, listen: SocketAddr, pid: u32) -> ConfigLine {
        let s = &cfg.settings;
        ConfigLine {
            server: "rust",
            server_version: env!("CARGO_PKG_VERSION"),
            workload: s.workload,
            listen: listen.to_string(),
            buf_size: s.buf_size,
            workers: s.workers,
            cpu_mode: s.cpu_mode,
            data_file: cfg
                .data
                .as_ref()
                .map(|d| d.path.to_string_lossy().into_owned()),
            data_file_bytes: cfg.data.as_ref().map_or(0, |d| d.len_bytes),
            pid,
            runtime: s.runtime,
            max_blocking_threads: s.max_blocking_threads,
            block_mode: s.block_mode,
            file_mode: s.file_mode,
            coop: s.coop,
            tokio_version: TOKIO_VERSION,
            rustc_version: RUSTC_VERSION,
            rayon_threads: (s.cpu_mode == CpuMode::Rayon).then_some(s.rayon_threads),
            future_sizes: crate::tasks::future_sizes(),
            telemetry: s
                .telemetry
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            telemetry_interval_ms: s.telemetry_interval.as_secs_f64() * 1e3,
            tokio_unstable: cfg!(tokio_unstable),
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Opts {
        let mut v = vec!["rust-server"];
        v.extend_from_slice(args);
        Opts::try_parse_from(v).unwrap()
    }

    fn settings(args: &[&str]) -> Result<Settings, String> {
        Settings::from_opts(&opts(args), 4)
    }

    #[test]
    fn defaults_match_the_brief() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(s.workload, Workload::Work);
        assert_eq!(s.buf_size, 16384);
        assert_eq!(s.data_file, None);
        assert_eq!(s.runtime, RuntimeKind::MultiThread);
        assert_eq!(s.workers, 4);
        assert_eq!(s.rayon_threads, 4);
        assert_eq!(s.max_blocking_threads, 512);
        assert_eq!(s.cpu_mode, CpuMode::Inline);
        assert_eq!(s.block_mode, BlockMode::Inline);
        assert_eq!(s.file_mode, FileMode::TokioFs);
        assert_eq!(s.coop, Coop::On);
        assert_eq!(s.telemetry, None);
        assert_eq!(s.telemetry_interval, Duration::from_millis(100));
    }

    #[test]
    fn telemetry_interval_reads_go_durations_within_bounds() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("100ms", ms(100)),
            ("1ms", ms(1)),
            ("2s", ms(2000)),
            ("1.5s", ms(1500)),
            ("250000us", ms(250)),
            ("5000000ns", ms(5)),
            ("1m", ms(60_000)),
        ] {
            assert_eq!(parse_interval(text), Ok(want), "{text}");
        }
        for (bad, why) in [
            ("0ms", "between 1ms and 1m"),
            ("999us", "between 1ms and 1m"),
            ("61s", "between 1ms and 1m"),
            ("99999999999999999999999s", "between 1ms and 1m"),
            ("100", "needs a unit"),
            ("ms", "expected a number"),
            ("-1s", "expected a number"),
            ("1.2.3s", "expected a number"),
            ("10h", "unknown unit"),
            ("10 ms", "unknown unit"),
            ("", "needs a unit"),
        ] {
            let e = parse_interval(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let e = settings(&["--telemetry-interval", "0s"]).unwrap_err();
        assert_eq!(e, "--telemetry-interval 0s: must be between 1ms and 1m");
        let s = settings(&[
            "--telemetry",
            "/tmp/t.jsonl",
            "--telemetry-interval",
            "10ms",
        ])
        .unwrap();
        assert_eq!(s.telemetry, Some(PathBuf::from("/tmp/t.jsonl")));
        assert_eq!(s.telemetry_interval, ms(10));
    }

    #[test]
    fn every_mode_name_parses() {
        let s = settings(&[
            "--workload",
            "echo",
            "--runtime",
            "current-thread",
            "--cpu-mode",
            "spawn-blocking",
            "--block-mode",
            "spawn-blocking",
            "--file-mode",
            "inline",
            "--coop",
            "off",
            "--workers",
            "3",
        ])
        .unwrap();
        assert_eq!(s.workload, Workload::Echo);
        assert_eq!(s.runtime, RuntimeKind::CurrentThread);
        assert_eq!(s.workers, 1, "current-thread has one worker");
        assert_eq!(s.rayon_threads, 3);
        assert_eq!(s.coop, Coop::Off);
        for m in ["inline", "spawn-blocking", "block-in-place", "rayon"] {
            assert!(settings(&["--cpu-mode", m]).is_ok(), "{m}");
        }
        for m in ["inline", "spawn-blocking", "block-in-place"] {
            assert!(settings(&["--block-mode", m]).is_ok(), "{m}");
        }
        for m in ["tokio-fs", "spawn-blocking", "inline"] {
            assert!(settings(&["--file-mode", m]).is_ok(), "{m}");
        }
        let bad = Opts::try_parse_from(["rust-server", "--cpu-mode", "pool"]);
        assert!(bad.is_err());
    }

    #[test]
    fn refuses_non_loopback_listen_addresses() {
        for ok in ["127.0.0.1:0", "127.1.2.3:80", "[::1]:9", "localhost:0"] {
            assert!(parse_listen(ok, false).is_ok(), "{ok}");
        }
        let e = settings(&["--listen", "0.0.0.0:80"]).unwrap_err();
        assert!(e.contains("not a loopback address"), "{e}");
        assert!(e.contains("--allow-non-loopback"), "{e}");
        assert!(e.starts_with("--listen 0.0.0.0:80"), "{e}");
        let e = parse_listen("[::]:80", false).unwrap_err();
        assert!(e.contains("not a loopback"), "{e}");
        let e = parse_listen("10.0.0.1:80", false).unwrap_err();
        assert!(e.contains("not a loopback"), "{e}");
        let e = parse_listen("example.com:80", false).unwrap_err();
        assert!(e.contains("expected IP:PORT"), "{e}");
        let e = parse_listen("127.0.0.1", false).unwrap_err();
        assert!(e.contains("expected IP:PORT"), "{e}");
        let e = parse_listen("localhost:x", false).unwrap_err();
        assert!(e.contains("bad port"), "{e}");
    }

    #[test]
    fn accepts_non_loopback_listen_addresses_only_with_the_opt_in() {
        for addr in ["0.0.0.0:80", "[::]:0", "198.18.0.1:9000"] {
            let s = settings(&["--listen", addr, "--allow-non-loopback"]).unwrap();
            assert_eq!(s.listen, addr.parse().unwrap());
            assert!(settings(&["--listen", addr]).is_err(), "{addr}");
        }
        // The opt-in changes nothing for loopback, nor for a bad address.
        let s = settings(&["--allow-non-loopback"]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:0".parse().unwrap());
        let e = parse_listen("example.com:80", true).unwrap_err();
        assert!(e.contains("expected IP:PORT"), "{e}");
    }

    #[test]
    fn refuses_buf_sizes_out_of_range() {
        assert!(settings(&["--buf-size", "1"]).is_ok());
        assert!(settings(&["--buf-size", "16777216"]).is_ok());
        for bad in ["0", "16777217"] {
            let e = settings(&["--buf-size", bad]).unwrap_err();
            assert!(e.starts_with(&format!("--buf-size {bad}:")), "{e}");
            assert!(e.contains("between 1 and 16777216"), "{e}");
        }
    }

    #[test]
    fn refuses_zero_workers_and_blocking_threads() {
        let e = settings(&["--workers", "0"]).unwrap_err();
        assert_eq!(e, "--workers 0: must be between 1 and 4096");
        let e = settings(&["--max-blocking-threads", "0"]).unwrap_err();
        assert!(e.starts_with("--max-blocking-threads 0"), "{e}");
        // Without a known parallelism the default is still at least 1.
        assert_eq!(Settings::from_opts(&opts(&[]), 0).unwrap().workers, 1);
    }

    #[test]
    fn refuses_more_than_4096_threads() {
        assert_eq!(settings(&["--workers", "4096"]).unwrap().workers, 4096);
        assert!(settings(&["--max-blocking-threads", "4096"]).is_ok());
        for bad in ["4097", "1000000000", "18446744073709551615"] {
            let e = settings(&["--workers", bad]).unwrap_err();
            assert_eq!(e, format!("--workers {bad}: must be between 1 and 4096"));
            let e = settings(&["--max-blocking-threads", bad]).unwrap_err();
            assert_eq!(
                e,
                format!("--max-blocking-threads {bad}: must be between 1 and 4096")
            );
        }
        // A huge machine's default is capped, not refused.
        assert_eq!(
            Settings::from_opts(&opts(&[]), 10_000).unwrap().workers,
            4096
        );
    }

    #[test]
    fn refuses_block_in_place_on_current_thread() {
        let e = settings(&[
            "--runtime",
            "current-thread",
            "--cpu-mode",
            "block-in-place",
        ])
        .unwrap_err();
        assert!(
            e.starts_with("--cpu-mode block-in-place needs --runtime multi-thread"),
            "{e}"
        );
        let e = settings(&[
            "--runtime",
            "current-thread",
            "--block-mode",
            "block-in-place",
        ])
        .unwrap_err();
        assert!(
            e.starts_with("--block-mode block-in-place needs --runtime multi-thread"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        let s = settings(&[
            "--cpu-mode",
            "block-in-place",
            "--block-mode",
            "block-in-place",
        ])
        .unwrap();
        assert!(s.uses_block_in_place());
        assert!(!settings(&[]).unwrap().uses_block_in_place());
    }

    #[test]
    fn refuses_unusable_data_files() {
        let e = DataFile::open(Path::new("/nonexistent/rtc-data.bin")).unwrap_err();
        assert!(
            e.starts_with("--data-file /nonexistent/rtc-data.bin: "),
            "{e}"
        );
        let e = DataFile::open(&std::env::temp_dir()).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let err = Config::from_args(["rust-server", "--data-file", "/nonexistent/x"]).unwrap_err();
        assert!(err.is::<UsageError>());
    }

    #[test]
    fn config_line_has_every_key_in_order() {
        let cfg =
            Config::from_args(["rust-server", "--cpu-mode", "rayon", "--workers", "2"]).unwrap();
        let line = ConfigLine::new(&cfg, "127.0.0.1:4000".parse().unwrap(), 77).to_json();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys = [
            "server",
            "server_version",
            "workload",
            "listen",
            "buf_size",
            "workers",
            "cpu_mode",
            "data_file",
            "data_file_bytes",
            "pid",
            "runtime",
            "max_blocking_threads",
            "block_mode",
            "file_mode",
            "coop",
            "tokio_version",
            "rustc_version",
            "rayon_threads",
            "echo_future_bytes",
            "work_future_bytes",
            "telemetry",
            "telemetry_interval_ms",
            "tokio_unstable",
        ];
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), keys.len(), "{line}");
        let mut last = 0;
        for k in keys {
            let at = line
                .find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} in {line}"));
            assert!(at >= last, "{k} out of order in {line}");
            last = at;
        }
        assert_eq!(v["server"], "rust");
        assert_eq!(v["workload"], "work");
        assert_eq!(v["listen"], "127.0.0.1:4000");
        assert_eq!(v["buf_size"], 16384);
        assert_eq!(v["workers"], 2);
        assert_eq!(v["cpu_mode"], "rayon");
        assert_eq!(v["data_file"], serde_json::Value::Null);
        assert_eq!(v["data_file_bytes"], 0);
        assert_eq!(v["pid"], 77);
        assert_eq!(v["runtime"], "multi-thread");
        assert_eq!(v["max_blocking_threads"], 512);
        assert_eq!(v["block_mode"], "inline");
        assert_eq!(v["file_mode"], "tokio-fs");
        assert_eq!(v["coop"], "on");
        assert_eq!(v["rayon_threads"], 2);
        let sizes = crate::tasks::future_sizes();
        assert_eq!(v["echo_future_bytes"], sizes.echo_future_bytes);
        assert_eq!(v["work_future_bytes"], sizes.work_future_bytes);
        assert_eq!(v["telemetry"], serde_json::Value::Null);
        assert_eq!(v["telemetry_interval_ms"], 100.0);
        assert_eq!(v["tokio_unstable"], cfg!(tokio_unstable));
        assert!(
            v["tokio_version"].as_str().unwrap().starts_with("1."),
            "{line}"
        );
        assert!(
            v["rustc_version"].as_str().unwrap().starts_with("rustc "),
            "{line}"
        );

        let cfg = Config::from_args(["rust-server"]).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&ConfigLine::new(&cfg, cfg.settings.listen, 1).to_json()).unwrap();
        assert_eq!(v["rayon_threads"], serde_json::Value::Null);
    }
}
