//! The `conformance` program: starts each built server binary in every
//! variant the harness compares, replays every shared vector against it, and
//! checks the robustness and process-contract rules (PROTOCOL.md §2, §3 and
//! "Choices"). One output line per variant or check, then a summary line.
//!
//! Servers are started one at a time with `die_with_parent` from the main
//! thread, so an interrupted run leaves nothing behind.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use rtc_common::child::{ListeningChild, SpawnOptions, spawn_listening};
use serde_json::Value;

use crate::{Segment, Vector, VectorFile, run_vector};

/// Per-vector bound on the whole exchange.
const VECTOR_TIMEOUT: Duration = Duration::from_secs(10);
/// Robustness: connections that each stall half-way through a 1 MiB payload.
const STALLED_CONNS: usize = 200;
const STALLED_PAYLOAD_BYTES: usize = 1_048_576;
/// Robustness: connections that send garbage or disconnect mid-frame.
const GARBAGE_CONNS: usize = 50;
/// The contract says 1 s; a loaded 2-core machine gets twice that, and the
/// measured time is always printed.
const SIGNAL_EXIT_LIMIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Only {
    Go,
    Rust,
}

#[derive(Debug, Parser)]
#[command(
    name = "conformance",
    about = "Replays the shared protocol vectors against every server variant and checks the process contract"
)]
pub struct Opts {
    /// The vector file.
    #[arg(long, default_value_os_t = crate::default_vectors_path())]
    pub vectors: PathBuf,
    /// Directory holding the built go-server and rust-server binaries.
    #[arg(long, default_value = "bin")]
    pub bin_dir: PathBuf,
    /// Test one server only.
    #[arg(long, value_enum)]
    pub only: Option<Only>,
    /// Default variant of each server and the process contract only (no
    /// variant matrix, no robustness load).
    #[arg(long)]
    pub quick: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Go,
    Rust,
}

impl ServerKind {
    pub fn binary(self) -> &'static str {
        match self {
            ServerKind::Go => "go-server",
            ServerKind::Rust => "rust-server",
        }
    }
    fn config_name(self) -> &'static str {
        match self {
            ServerKind::Go => "go",
            ServerKind::Rust => "rust",
        }
    }
}

/// Counts and prints result lines.
#[derive(Debug, Default)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
}

impl Report {
    fn ok(&mut self, label: &str, detail: &str) {
        self.passed += 1;
        println!("ok  {label}{}", spaced(detail));
    }
    fn fail(&mut self, label: &str, reason: &str, details: &[String]) {
        self.failed += 1;
        println!("FAIL {label}: {reason}");
        for d in details {
            println!("    - {d}");
        }
    }
    fn check(&mut self, label: &str, r: Result<String, String>) {
        match r {
            Ok(detail) => self.ok(label, &detail),
            Err(reason) => self.fail(label, &reason, &[]),
        }
    }
}

fn spaced(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(" {s}")
    }
}

/// Runs everything `opts` asks for; the caller prints the summary.
pub fn run(opts: &Opts, vectors: &VectorFile) -> Report {
    let mut report = Report::default();
    let scratch = Scratch::new();
    let data_file = match scratch.data_file(vectors.data_file_bytes) {
        Ok(p) => p,
        Err(e) => {
            report.fail("data file", &e, &[]);
            return report;
        }
    };
    let kinds: Vec<ServerKind> = match opts.only {
        Some(Only::Go) => vec![ServerKind::Go],
        Some(Only::Rust) => vec![ServerKind::Rust],
        None => vec![ServerKind::Go, ServerKind::Rust],
    };
    for kind in kinds {
        let bin = opts.bin_dir.join(kind.binary());
        if !bin.is_file() {
            report.fail(
                kind.binary(),
                &format!("{} not found (run `make build`)", bin.display()),
                &[],
            );
            continue;
        }
        let ctx = Ctx {
            kind,
            bin: &bin,
            data_file: &data_file,
            vectors,
        };
        let variants = ctx.variants(opts.quick, &mut report);
        for v in &variants {
            ctx.replay_variant(v, &mut report);
        }
        if !opts.quick {
            report.check(
                &format!("{} robustness", kind.binary()),
                ctx.stalled_payloads(),
            );
            report.check(
                &format!("{} garbage and mid-frame disconnects", kind.binary()),
                ctx.garbage(),
            );
        }
        ctx.process_contract(&mut report);
    }
    report
}

struct Ctx<'a> {
    kind: ServerKind,
    bin: &'a Path,
    data_file: &'a Path,
    vectors: &'a VectorFile,
}

impl Ctx<'_> {
    fn label(&self, args: &[String]) -> String {
        if args.is_empty() {
            format!("{} defaults", self.kind.binary())
        } else {
            format!("{} {}", self.kind.binary(), args.join(" "))
        }
    }

    fn spawn(
        &self,
        workload: &str,
        with_file: bool,
        args: &[String],
    ) -> Result<ListeningChild, String> {
        let mut cmd = Command::new(self.bin);
        cmd.args(["--workload", workload]);
        if with_file {
            cmd.arg("--data-file").arg(self.data_file);
        }
        cmd.args(args);
        spawn_listening(
            cmd,
            &SpawnOptions {
                die_with_parent: true,
                ..Default::default()
            },
        )
        .map_err(|e| e.to_string())
    }

    fn variants(&self, quick: bool, report: &mut Report) -> Vec<Vec<String>> {
        match self.kind {
            ServerKind::Go => go_variants(quick),
            ServerKind::Rust if quick => vec![vec![]],
            ServerKind::Rust => {
                // The matrix varies one axis at a time from the server's own
                // defaults, which its config line states.
                let defaults = match self.spawn("work", false, &[]) {
                    Ok(c) => config_line(&c)
                        .map(|cfg| RustDefaults::from_config(&cfg))
                        .unwrap_or_else(|e| {
                            report.fail("rust-server defaults", &e, &[]);
                            RustDefaults::assumed()
                        }),
                    Err(e) => {
                        report.fail("rust-server start", &e, &[]);
                        return vec![];
                    }
                };
                rust_variants(&defaults)
            }
        }
    }

    /// Replays every vector against one variant: a server per (workload,
    /// data file) group the vectors need.
    fn replay_variant(&self, args: &[String], report: &mut Report) {
        let label = self.label(args);
        let mut failures = Vec::new();
        let mut groups: Vec<(&str, bool)> = self
            .vectors
            .vectors
            .iter()
            .map(|v| (v.workload.as_str(), v.data_file))
            .collect();
        groups.sort();
        groups.dedup();
        let mut replayed = 0usize;
        for (workload, with_file) in groups {
            let mut child = match self.spawn(workload, with_file, args) {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!("start --workload {workload}: {e}"));
                    continue;
                }
            };
            match config_line(&child) {
                Ok(cfg) => failures.extend(
                    flag_mismatches(args, &cfg)
                        .into_iter()
                        .map(|m| format!("--workload {workload}: config line {m}")),
                ),
                Err(e) => failures.push(format!("--workload {workload}: {e}")),
            }
            for v in self
                .vectors
                .vectors
                .iter()
                .filter(|v| v.workload == workload && v.data_file == with_file)
            {
                replayed += 1;
                if let Err(e) = run_vector(child.addr, v, VECTOR_TIMEOUT) {
                    failures.push(format!("{}: {e}", v.name));
                }
            }
            if let Ok(Some(status)) = child.child.try_wait() {
                failures.push(format!(
                    "--workload {workload} server exited during the vectors ({status}); stderr: {}",
                    child.stderr_tail(3)
                ));
            }
            child.terminate(Duration::from_secs(2));
        }
        if failures.is_empty() {
            report.ok(&label, &format!("({replayed} vectors)"));
        } else {
            report.fail(
                &label,
                &format!("{} failure(s) over {replayed} vectors", failures.len()),
                &failures,
            );
        }
    }

    /// 200 connections each send a 1 MiB-payload header and half the payload,
    /// then stall. RSS must stay within what the protocol allows (one
    /// connection's buffers each) and the server must keep answering.
    fn stalled_payloads(&self) -> Result<String, String> {
        let mut child = self.spawn("work", true, &[])?;
        let cfg = config_line(&child)?;
        let buf_size = cfg
            .get("buf_size")
            .and_then(Value::as_u64)
            .unwrap_or(16_384);
        let pid = child.pid();
        // Let start-up allocation settle before the baseline.
        std::thread::sleep(Duration::from_millis(200));
        let baseline = rss_bytes(pid)?;
        let bound = rss_bound_bytes(STALLED_CONNS as u64, buf_size);
        let half = vec![0x5au8; STALLED_PAYLOAD_BYTES / 2];
        let mut conns = Vec::with_capacity(STALLED_CONNS);
        for i in 0..STALLED_CONNS {
            let mut c = TcpStream::connect_timeout(&child.addr, VECTOR_TIMEOUT)
                .map_err(|e| format!("connection {i}: connect: {e}"))?;
            let _ = c.set_write_timeout(Some(VECTOR_TIMEOUT));
            let hdr = request_header(0, STALLED_PAYLOAD_BYTES as u32, 0, i as u32);
            c.write_all(&hdr)
                .and_then(|_| c.write_all(&half))
                .map_err(|e| format!("connection {i}: write: {e}"))?;
            conns.push(c);
        }
        // The server reads what it was sent at its own pace; sample RSS for a
        // while and keep the peak.
        let mut peak = 0u64;
        for _ in 0..15 {
            peak = peak.max(rss_bytes(pid)?);
            std::thread::sleep(Duration::from_millis(100));
        }
        let answered = run_vector(child.addr, &ping_vector(), VECTOR_TIMEOUT)
            .map_err(|e| format!("a new connection was not answered while 200 stalled: {e}"));
        peak = peak.max(rss_bytes(pid)?);
        drop(conns);
        let alive = child.child.try_wait().ok().flatten().is_none();
        child.terminate(Duration::from_secs(2));
        answered?;
        if !alive {
            return Err(format!("server died: {}", child.stderr_tail(3)));
        }
        let growth = peak.saturating_sub(baseline);
        let summary = format!(
            "({STALLED_CONNS} stalled half-sent 1 MiB frames: RSS {} -> peak {} MiB, growth {} MiB, bound {} MiB; new connection answered)",
            mib(baseline),
            mib(peak),
            mib(growth),
            mib(bound)
        );
        if growth > bound {
            Err(format!("RSS grew beyond the bound {summary}"))
        } else {
            Ok(summary)
        }
    }

    /// 50 connections send garbage, stop mid-frame, or reset; then a normal
    /// request must still be answered.
    fn garbage(&self) -> Result<String, String> {
        let mut child = self.spawn("work", true, &[])?;
        let mut conns = Vec::new();
        for i in 0..GARBAGE_CONNS {
            let mut c = TcpStream::connect_timeout(&child.addr, VECTOR_TIMEOUT)
                .map_err(|e| format!("connection {i}: connect: {e}"))?;
            let _ = c.set_write_timeout(Some(VECTOR_TIMEOUT));
            let bytes = garbage_bytes(i);
            // A server may close a garbage connection early; a failed write is fine.
            let _ = c.write_all(&bytes);
            if i % 5 == 4 {
                set_linger_zero(&c); // close with RST instead of FIN
            }
            conns.push(c);
        }
        std::thread::sleep(Duration::from_millis(200));
        drop(conns);
        std::thread::sleep(Duration::from_millis(100));
        let answered = run_vector(child.addr, &ping_vector(), VECTOR_TIMEOUT);
        let alive = child.child.try_wait().ok().flatten().is_none();
        child.terminate(Duration::from_secs(2));
        if !alive {
            return Err(format!("server died: {}", child.stderr_tail(3)));
        }
        answered.map_err(|e| format!("request after {GARBAGE_CONNS} bad connections: {e}"))?;
        Ok(format!(
            "({GARBAGE_CONNS} connections; then a request answered)"
        ))
    }

    fn process_contract(&self, report: &mut Report) {
        let name = self.kind.binary();
        report.check(
            &format!("{name} bad flag"),
            exits_2_one_line(self.bin, &["--no-such-flag"]),
        );
        report.check(
            &format!("{name} --listen 0.0.0.0:0 refused"),
            exits_2_one_line(self.bin, &["--listen", "0.0.0.0:0"]),
        );
        report.check(
            &format!("{name} --allow-non-loopback accepted"),
            self.opt_in_accepted(),
        );
        report.check(
            &format!("{name} --data-file /nonexistent refused"),
            exits_2_one_line(self.bin, &["--data-file", "/nonexistent/rtc-data.bin"]),
        );
        if self.kind == ServerKind::Rust {
            report.check(
                &format!("{name} --cpu-mode block-in-place --runtime current-thread refused"),
                exits_2_one_line(
                    self.bin,
                    &[
                        "--cpu-mode",
                        "block-in-place",
                        "--runtime",
                        "current-thread",
                    ],
                ),
            );
            report.check(
                &format!("{name} --block-mode block-in-place --runtime current-thread refused"),
                exits_2_one_line(
                    self.bin,
                    &[
                        "--block-mode",
                        "block-in-place",
                        "--runtime",
                        "current-thread",
                    ],
                ),
            );
        }
        report.check(&format!("{name} config line"), self.config_check());
        for (sig, sig_name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
            report.check(
                &format!("{name} {sig_name} -> exit 0"),
                self.signal_exit(sig),
            );
        }
    }

    /// The opt-in for a non-loopback --listen exists and changes nothing for
    /// the default loopback address (no test listens beyond loopback).
    fn opt_in_accepted(&self) -> Result<String, String> {
        let mut child = self.spawn("work", false, &strings(&["--allow-non-loopback"]))?;
        let addr = child.addr;
        child.terminate(Duration::from_secs(2));
        if addr.ip().is_loopback() {
            Ok(format!("(listening on {addr})"))
        } else {
            Err(format!("listening on {addr}, not loopback"))
        }
    }

    fn config_check(&self) -> Result<String, String> {
        let child = self.spawn("work", true, &[])?;
        let cfg = config_line(&child)?;
        let lines = child.stderr_lines().len();
        let mut problems = missing_config_keys(self.kind, &cfg);
        let expect = |key: &str, want: Value, problems: &mut Vec<String>| {
            if cfg.get(key) != Some(&want) {
                problems.push(format!("{key} is {:?}, expected {want}", cfg.get(key)));
            }
        };
        expect("server", self.kind.config_name().into(), &mut problems);
        expect("pid", child.pid().into(), &mut problems);
        expect("listen", child.addr.to_string().into(), &mut problems);
        expect("workload", "work".into(), &mut problems);
        expect("buf_size", 16_384.into(), &mut problems);
        expect(
            "data_file_bytes",
            self.vectors.data_file_bytes.into(),
            &mut problems,
        );
        expect(
            "data_file",
            self.data_file.to_string_lossy().into_owned().into(),
            &mut problems,
        );
        if lines != 1 {
            problems.push(format!("{lines} stderr lines at start, expected 1"));
        }
        if problems.is_empty() {
            Ok(format!("({} keys)", cfg.as_object().map_or(0, |o| o.len())))
        } else {
            Err(problems.join("; "))
        }
    }

    /// The signal arrives while a connection is open mid-frame: the server
    /// must not wait for it.
    fn signal_exit(&self, sig: i32) -> Result<String, String> {
        let mut child = self.spawn("work", true, &[])?;
        let mut idle = TcpStream::connect_timeout(&child.addr, VECTOR_TIMEOUT)
            .map_err(|e| format!("connect: {e}"))?;
        let _ = idle.write_all(&request_header(0, 100, 0, 1)[..10]);
        // Give the server time to accept the connection first.
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        child.signal(sig);
        let status = child.wait_timeout(SIGNAL_EXIT_LIMIT);
        let took = start.elapsed();
        let took_ms = took.as_millis();
        match status {
            None => {
                child.terminate(Duration::from_millis(100));
                Err(format!(
                    "still running {took_ms} ms after the signal (limit {} ms)",
                    SIGNAL_EXIT_LIMIT.as_millis()
                ))
            }
            Some(s) if s.code() == Some(0) => {
                if took > Duration::from_secs(1) {
                    Ok(format!(
                        "(in {took_ms} ms: over the 1 s contract, within the 2 s allowed on a loaded machine)"
                    ))
                } else {
                    Ok(format!("(in {took_ms} ms)"))
                }
            }
            Some(s) => Err(format!(
                "exited with {} after {took_ms} ms, expected code 0",
                describe_status(&s)
            )),
        }
    }
}

fn describe_status(s: &std::process::ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("code {c}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => s.to_string(),
    }
}

/// Go: cpu mode inline and pool, each with GOMAXPROCS 1 and the default.
pub fn go_variants(quick: bool) -> Vec<Vec<String>> {
    if quick {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for mode in ["inline", "pool"] {
        out.push(strings(&["--cpu-mode", mode]));
        out.push(strings(&["--cpu-mode", mode, "--procs", "1"]));
    }
    out.push(strings(&["--buf-size", SMALL_BUF_SIZE]));
    out
}

/// An extra variant for both servers, beyond the harness's matrix: a buffer
/// smaller than a header makes every frame span several buffer refills.
pub const SMALL_BUF_SIZE: &str = "7";

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

/// The Rust server's defaults, read from its config line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustDefaults {
    pub runtime: String,
    pub cpu_mode: String,
    pub block_mode: String,
    pub file_mode: String,
    pub coop: String,
    pub workers: u64,
}

impl RustDefaults {
    /// What the brief implies when the config line cannot be read.
    pub fn assumed() -> RustDefaults {
        RustDefaults {
            runtime: "multi-thread".into(),
            cpu_mode: "inline".into(),
            block_mode: "inline".into(),
            file_mode: "tokio-fs".into(),
            coop: "on".into(),
            workers: 2,
        }
    }

    pub fn from_config(cfg: &Value) -> RustDefaults {
        let a = RustDefaults::assumed();
        let s = |key: &str, dflt: String| cfg.get(key).map(value_text).unwrap_or(dflt);
        RustDefaults {
            runtime: s("runtime", a.runtime),
            cpu_mode: s("cpu_mode", a.cpu_mode),
            block_mode: s("block_mode", a.block_mode),
            file_mode: s("file_mode", a.file_mode),
            coop: s("coop", a.coop),
            workers: cfg.get("workers").and_then(Value::as_u64).unwrap_or(2),
        }
    }
}

pub const RUNTIMES: [&str; 2] = ["multi-thread", "current-thread"];
pub const CPU_MODES: [&str; 4] = ["inline", "spawn-blocking", "block-in-place", "rayon"];
pub const BLOCK_MODES: [&str; 3] = ["inline", "spawn-blocking", "block-in-place"];
pub const FILE_MODES: [&str; 3] = ["tokio-fs", "spawn-blocking", "inline"];
pub const COOP: [&str; 2] = ["on", "off"];

/// Rust: the defaults; each value of each mode axis varied one at a time;
/// then on current-thread each cpu, block and file mode that it allows.
/// A current-thread variant whose default would be block-in-place also
/// switches that mode to inline (block-in-place is refused there).
pub fn rust_variants(d: &RustDefaults) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![vec![]];
    let push = |v: Vec<String>, out: &mut Vec<Vec<String>>| {
        if !out.contains(&v) {
            out.push(v);
        }
    };
    let current_thread_base = || {
        let mut v = strings(&["--runtime", "current-thread"]);
        if d.cpu_mode == "block-in-place" {
            v.extend(strings(&["--cpu-mode", "inline"]));
        }
        if d.block_mode == "block-in-place" {
            v.extend(strings(&["--block-mode", "inline"]));
        }
        v
    };
    for r in RUNTIMES.iter().filter(|r| **r != d.runtime) {
        if *r == "current-thread" {
            push(current_thread_base(), &mut out);
        } else {
            push(strings(&["--runtime", r]), &mut out);
        }
    }
    let axes: [(&str, &[&str], &str); 4] = [
        ("--cpu-mode", &CPU_MODES, &d.cpu_mode),
        ("--block-mode", &BLOCK_MODES, &d.block_mode),
        ("--file-mode", &FILE_MODES, &d.file_mode),
        ("--coop", &COOP, &d.coop),
    ];
    for (flag, values, dflt) in axes {
        for v in values.iter().filter(|v| *v != &dflt) {
            if d.runtime == "current-thread" && *v == "block-in-place" {
                continue;
            }
            push(strings(&[flag, v]), &mut out);
        }
    }
    if d.workers != 1 {
        push(strings(&["--workers", "1"]), &mut out);
    }
    // current-thread crossed with each allowed cpu/block/file mode (the
    // mode the plain current-thread variant already runs is not repeated).
    for (flag, values, dflt) in [
        ("--cpu-mode", &CPU_MODES[..], &d.cpu_mode),
        ("--block-mode", &BLOCK_MODES[..], &d.block_mode),
        ("--file-mode", &FILE_MODES[..], &d.file_mode),
    ] {
        let base = current_thread_base();
        let set = base.iter().position(|a| a == flag);
        let effective = set.map_or(dflt.as_str(), |i| base[i + 1].as_str());
        for v in values
            .iter()
            .filter(|v| **v != "block-in-place" && **v != effective)
        {
            let mut args = base.clone();
            match set {
                Some(i) => args[i + 1] = v.to_string(),
                None => args.extend(strings(&[flag, v])),
            }
            push(args, &mut out);
        }
    }
    push(strings(&["--buf-size", SMALL_BUF_SIZE]), &mut out);
    out
}

/// The first stderr line, which must be the JSON config line.
fn config_line(child: &ListeningChild) -> Result<Value, String> {
    // stderr is read by another thread; the line was written before
    // LISTENING but may not have been collected yet.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(first) = child.stderr_lines().first() {
            return serde_json::from_str::<Value>(first)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| format!("first stderr line is not a JSON object: {first:?}"));
        }
        if Instant::now() >= deadline {
            return Err("no config line on stderr".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Config keys both servers print, then each server's own.
pub const COMMON_KEYS: [&str; 10] = [
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
];
pub const GO_KEYS: [&str; 3] = ["go_version", "gomaxprocs", "max_threads"];
pub const RUST_KEYS: [&str; 13] = [
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

pub fn missing_config_keys(kind: ServerKind, cfg: &Value) -> Vec<String> {
    let own: &[&str] = match kind {
        ServerKind::Go => &GO_KEYS,
        ServerKind::Rust => &RUST_KEYS,
    };
    COMMON_KEYS
        .iter()
        .chain(own)
        .filter(|k| cfg.get(**k).is_none())
        .map(|k| format!("missing key {k:?}"))
        .collect()
}

/// A config value as the flag text that would set it (`true` is "on").
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "on".into(),
        Value::Bool(false) => "off".into(),
        other => other.to_string(),
    }
}

/// Flags of a variant that the config line does not reflect.
pub fn flag_mismatches(args: &[String], cfg: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for pair in args.chunks(2) {
        let [flag, want] = pair else { continue };
        let key = match flag.as_str() {
            "--runtime" => "runtime",
            "--cpu-mode" => "cpu_mode",
            "--block-mode" => "block_mode",
            "--file-mode" => "file_mode",
            "--coop" => "coop",
            "--workers" => "workers",
            "--procs" => "gomaxprocs",
            "--buf-size" => "buf_size",
            _ => continue,
        };
        match cfg.get(key).map(value_text) {
            Some(got) if &got == want => {}
            got => out.push(format!("{key} is {got:?} for {flag} {want}")),
        }
    }
    out
}

/// Runs `bin args` expecting a refusal: exit 2 and exactly one stderr line.
fn exits_2_one_line(bin: &Path, args: &[&str]) -> Result<String, String> {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let mut err_pipe = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("still running after 5 s (the input was accepted)".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reader.join().unwrap_or_default();
    judge_refusal(status.code(), &stderr)
}

/// Exit code 2 and exactly one non-empty stderr line.
pub fn judge_refusal(code: Option<i32>, stderr: &str) -> Result<String, String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let shown = stderr.trim_end().replace('\n', " | ");
    if code != Some(2) {
        return Err(format!("exit code {code:?}, expected 2; stderr: {shown}"));
    }
    if lines.len() != 1 || lines[0].trim().is_empty() {
        return Err(format!(
            "{} stderr lines, expected exactly 1: {shown}",
            lines.len()
        ));
    }
    Ok(format!("(exit 2: {})", lines[0].trim()))
}

/// `VmRSS` of a process, in bytes.
fn rss_bytes(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}"))?;
    parse_vmrss_bytes(&text).ok_or_else(|| format!("no VmRSS line in {path}"))
}

pub fn parse_vmrss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut it = line["VmRSS:".len()..].split_whitespace();
    let n: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") | None => Some(n * 1024),
        _ => None,
    }
}

/// What `conns` connections may cost by the protocol: one payload buffer
/// (1 MiB) plus read and write buffers each, with 25 % allocator slack.
pub fn rss_bound_bytes(conns: u64, buf_size: u64) -> u64 {
    conns * (STALLED_PAYLOAD_BYTES as u64 + 2 * buf_size) * 5 / 4
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1024.0 * 1024.0))
}

pub fn request_header(io_kind: u8, payload_len: u32, cpu_rounds: u32, id: u32) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0] = 1;
    h[1] = io_kind;
    h[4..8].copy_from_slice(&payload_len.to_be_bytes());
    h[8..12].copy_from_slice(&cpu_rounds.to_be_bytes());
    h[20..24].copy_from_slice(&id.to_be_bytes());
    h
}

/// One request with payload "ping", answered with the same bytes.
pub fn ping_vector() -> Vector {
    let mut send = request_header(0, 4, 0, 77).to_vec();
    send.extend(b"ping");
    let mut expect = vec![1, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 77];
    expect.extend(b"ping");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Vector {
        name: "ping".into(),
        description: "one small request".into(),
        workload: "work".into(),
        data_file: true,
        send: vec![Segment::Hex(hex(&send))],
        half_close: true,
        expect: vec![Segment::Hex(hex(&expect))],
    }
}

/// Bytes for bad connection `i`: garbage, cut headers, cut payloads.
pub fn garbage_bytes(i: usize) -> Vec<u8> {
    // A small LCG: varied, reproducible bytes.
    let mut x = 0x9e37_79b9u32.wrapping_mul(i as u32 + 1);
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect()
    };
    match i % 5 {
        0 => noise(4096),
        1 => request_header(0, 1000, 0, i as u32)[..(i % 23) + 1].to_vec(),
        2 => {
            let mut b = request_header(0, 1_000_000, 1, i as u32).to_vec();
            b.extend(noise(10_000));
            b
        }
        3 => {
            // Valid version, then noise: whatever the header says.
            let mut b = vec![1u8];
            b.extend(noise(200));
            b
        }
        _ => {
            let mut b = request_header(7, 50_000, 0, i as u32).to_vec();
            b.extend(noise(20_000));
            b
        }
    }
}

fn set_linger_zero(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own with a correctly sized struct.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// A temp directory for the data file, removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: std::env::temp_dir().join(format!("rtc-conformance-{}", std::process::id())),
        }
    }
    fn data_file(&self, len_bytes: u64) -> Result<PathBuf, String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("create {}: {e}", self.dir.display()))?;
        let p = self.dir.join("data.bin");
        rtc_common::datafile::create(&p, len_bytes)
            .map_err(|e| format!("write {}: {e}", p.display()))?;
        Ok(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vmrss() {
        let s = "Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t    2048 kB\nThreads: 3\n";
        assert_eq!(parse_vmrss_bytes(s), Some(2048 * 1024));
        assert_eq!(parse_vmrss_bytes("Name: x\n"), None);
    }

    #[test]
    fn rss_bound_is_the_protocol_allowance_plus_a_quarter() {
        // 200 × (1 MiB + 32 KiB) × 1.25 = 257.8125 MiB.
        assert_eq!(rss_bound_bytes(200, 16_384), 270_336_000);
    }

    #[test]
    fn go_matrix_is_modes_by_procs() {
        assert_eq!(go_variants(true), vec![Vec::<String>::new()]);
        let v = go_variants(false);
        assert_eq!(v.len(), 5);
        assert!(v.contains(&strings(&["--cpu-mode", "pool", "--procs", "1"])));
    }

    #[test]
    fn rust_matrix_varies_one_axis_at_a_time() {
        let v = rust_variants(&RustDefaults::assumed());
        let has = |a: &[&str]| v.contains(&strings(a));
        assert_eq!(v[0], Vec::<String>::new());
        assert!(has(&["--runtime", "current-thread"]));
        assert!(has(&["--cpu-mode", "rayon"]));
        assert!(has(&["--cpu-mode", "block-in-place"]));
        assert!(
            !has(&["--cpu-mode", "inline"]),
            "the default is not repeated"
        );
        assert!(has(&["--block-mode", "spawn-blocking"]));
        assert!(has(&["--file-mode", "inline"]));
        assert!(has(&["--coop", "off"]));
        assert!(has(&["--workers", "1"]));
        assert!(has(&["--runtime", "current-thread", "--cpu-mode", "rayon"]));
        assert!(has(&[
            "--runtime",
            "current-thread",
            "--file-mode",
            "spawn-blocking"
        ]));
        // block-in-place is never combined with current-thread.
        for a in &v {
            if a.contains(&"current-thread".to_string()) {
                assert!(!a.contains(&"block-in-place".to_string()), "{a:?}");
            }
        }
        let mut dedup = v.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), v.len());
    }

    #[test]
    fn current_thread_avoids_a_block_in_place_default() {
        let d = RustDefaults {
            cpu_mode: "block-in-place".into(),
            ..RustDefaults::assumed()
        };
        let v = rust_variants(&d);
        assert!(v.contains(&strings(&[
            "--runtime",
            "current-thread",
            "--cpu-mode",
            "inline"
        ])));
        assert!(v.contains(&strings(&[
            "--runtime",
            "current-thread",
            "--cpu-mode",
            "rayon"
        ])));
    }

    #[test]
    fn config_keys_and_flags_are_checked() {
        let cfg: Value = serde_json::json!({
            "server": "rust", "server_version": "0.1.0", "workload": "work",
            "listen": "127.0.0.1:1", "buf_size": 16384, "workers": 1, "cpu_mode": "rayon",
            "data_file": null, "data_file_bytes": 0, "pid": 1, "runtime": "current-thread",
            "max_blocking_threads": 512, "block_mode": "inline", "file_mode": "inline",
            "coop": true, "tokio_version": "1", "rustc_version": "1", "rayon_threads": 1,
            "echo_future_bytes": 160, "work_future_bytes": 880, "telemetry": null,
            "telemetry_interval_ms": 100.0, "tokio_unstable": false
        });
        assert!(missing_config_keys(ServerKind::Rust, &cfg).is_empty());
        assert_eq!(missing_config_keys(ServerKind::Go, &cfg).len(), 3);
        let args = strings(&[
            "--runtime",
            "current-thread",
            "--cpu-mode",
            "rayon",
            "--coop",
            "on",
        ]);
        assert!(flag_mismatches(&args, &cfg).is_empty());
        let wrong = strings(&["--file-mode", "tokio-fs", "--workers", "1"]);
        assert_eq!(flag_mismatches(&wrong, &cfg).len(), 1);
        assert_eq!(RustDefaults::from_config(&cfg).coop, "on");
    }

    #[test]
    fn refusals_need_exit_2_and_one_line() {
        assert!(judge_refusal(Some(2), "server: bad flag\n").is_ok());
        assert!(judge_refusal(Some(1), "server: bad flag\n").is_err());
        assert!(judge_refusal(Some(2), "a\nb\n").is_err());
        assert!(judge_refusal(Some(2), "").is_err());
        assert!(judge_refusal(None, "x\n").is_err());
    }

    #[test]
    fn garbage_is_reproducible_and_varied() {
        assert_eq!(garbage_bytes(7), garbage_bytes(7));
        let kinds: std::collections::HashSet<usize> =
            (0..GARBAGE_CONNS).map(|i| garbage_bytes(i).len()).collect();
        assert!(kinds.len() > 5);
    }

    #[test]
    fn ping_vector_is_consistent() {
        let v = ping_vector();
        let s = crate::bytes_of(&v.send);
        let e = crate::bytes_of(&v.expect);
        assert_eq!(&s[24..], b"ping");
        assert_eq!(&e[12..], b"ping");
        assert_eq!(s[23], e[11], "id echoed");
    }
}
