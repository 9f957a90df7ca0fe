//! `--telemetry`: the lines a loaded server writes match
//! schemas/telemetry.schema.json, count up from seq 0 in wall-clock order,
//! keep counters monotone and histogram bounds fixed, and end with a final
//! sample on SIGTERM/SIGINT. In-process for this build, and through the
//! binaries for the process behaviour and for the tokio_unstable build.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rtc_common::child::{ListeningChild, SpawnOptions, spawn_listening};
use rtc_common::protocol::expected_body;
use serde_json::Value;
use support::*;

const STABLE_KEYS: [&str; 6] = [
    "num_workers",
    "num_alive_tasks",
    "global_queue_depth",
    "worker_total_busy_duration_ns",
    "worker_park_count",
    "worker_park_unpark_count",
];
const UNSTABLE_KEYS: [&str; 7] = [
    "budget_forced_yield_count",
    "worker_steal_count",
    "worker_poll_count",
    "worker_local_queue_depth",
    "num_blocking_threads",
    "blocking_queue_depth",
    "schedule_latency_histogram",
];
/// Cumulative since the runtime started: never decrease between samples.
const COUNTERS: [&str; 6] = [
    "worker_total_busy_duration_ns",
    "worker_park_count",
    "worker_park_unpark_count",
    "budget_forced_yield_count",
    "worker_steal_count",
    "worker_poll_count",
];

fn temp_path(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rtc-telemetry-{name}.jsonl"));
    let _ = std::fs::remove_file(&p);
    p
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

/// Every check a telemetry file must pass; `unstable`: the build has
/// tokio_unstable (and so the extra keys and the histogram).
fn check_lines(lines: &[Value], unstable: bool) {
    let schema = rtc_harness::schema_check::schema("telemetry.schema.json").unwrap();
    assert!(lines.len() >= 2, "{} lines", lines.len());
    let mut want: Vec<&str> = STABLE_KEYS.to_vec();
    if unstable {
        want.extend(UNSTABLE_KEYS);
    }
    for (i, l) in lines.iter().enumerate() {
        let mut errs = Vec::new();
        rtc_harness::schema_check::check(&schema, l, &schema, &format!("line {i}"), &mut errs);
        assert!(errs.is_empty(), "{errs:#?}");
        assert_eq!(l["seq"], i as u64);
        let mut keys: Vec<&str> = l["metrics"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want, "line {i}");
        let workers = l["metrics"]["num_workers"].as_u64().unwrap() as usize;
        for (k, v) in l["metrics"].as_object().unwrap() {
            if let Some(a) = v.as_array() {
                assert_eq!(a.len(), workers, "line {i} {k}");
            }
        }
    }
    for pair in lines.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let seq = b["seq"].as_u64().unwrap();
        assert!(
            b["t_unix_ms"].as_f64() > a["t_unix_ms"].as_f64(),
            "t_unix_ms at seq {seq}"
        );
        for k in COUNTERS {
            if let (Some(x), Some(y)) = (a["metrics"].get(k), b["metrics"].get(k)) {
                assert!(not_below(y, x), "{k} decreased at seq {seq}: {x} -> {y}");
            }
        }
        if unstable {
            let (x, y) = (
                &a["metrics"]["schedule_latency_histogram"],
                &b["metrics"]["schedule_latency_histogram"],
            );
            assert_eq!(x["bounds"], y["bounds"], "bounds changed at seq {seq}");
            assert!(not_below(&y["counts"], &x["counts"]), "counts at seq {seq}");
        }
    }
    if unstable {
        let h = &lines[0]["metrics"]["schedule_latency_histogram"];
        let (bounds, counts) = (
            h["bounds"].as_array().unwrap(),
            h["counts"].as_array().unwrap(),
        );
        assert_eq!(bounds.len(), counts.len() + 1);
        assert_eq!(bounds[0], 0, "the first bucket starts at 0");
        assert!(bounds.last().unwrap().is_null(), "the last bucket is open");
    }
}

/// `y >= x` for two numbers or, element by element, two arrays.
fn not_below(y: &Value, x: &Value) -> bool {
    match (y, x) {
        (Value::Array(ys), Value::Array(xs)) => {
            ys.len() == xs.len() && ys.iter().zip(xs).all(|(y, x)| not_below(y, x))
        }
        _ => y.as_u64() >= x.as_u64(),
    }
}

fn sum(v: &Value) -> u64 {
    v.as_array().unwrap().iter().filter_map(Value::as_u64).sum()
}

/// Requests that make the workers run, park, sleep on the timer and use the
/// blocking pool.
fn drive(addr: std::net::SocketAddr) {
    let mut s = connect(addr);
    let p = payload(1000);
    for id in 0..100 {
        let (kind, arg) = if id % 10 == 0 { (1, 500) } else { (0, 0) };
        let (h, b) = call(&mut s, &header(kind, 1000, 50, arg, 0, id), &p);
        assert_eq!((h.status, h.id), (0, id));
        assert_eq!(b, expected_body(&p, b"", 50));
    }
}

fn wait_for_lines(path: &Path, n: usize) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while line_count(path) < n {
        assert!(Instant::now() < deadline, "fewer than {n} samples");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_loaded_in_process_server_writes_valid_monotone_samples() {
    for rt in ["multi-thread", "current-thread"] {
        let path = temp_path(&format!("in-process-{rt}"));
        let srv = start(&[
            "--runtime",
            rt,
            "--workers",
            "2",
            "--cpu-mode",
            "spawn-blocking",
            "--telemetry",
            path.to_str().unwrap(),
            "--telemetry-interval",
            "5ms",
        ]);
        drive(srv.addr);
        wait_for_lines(&path, 4);
        drop(srv); // the final sample
        let lines = read_lines(&path);
        check_lines(&lines, cfg!(tokio_unstable));
        let (first, last) = (&lines[0]["metrics"], &lines[lines.len() - 1]["metrics"]);
        let workers = if rt == "multi-thread" { 2 } else { 1 };
        assert_eq!(last["num_workers"], workers, "{rt}");
        assert!(
            sum(&last["worker_park_count"]) > sum(&first["worker_park_count"]),
            "{rt}: workers never parked between the first and the last sample"
        );
        assert!(sum(&last["worker_total_busy_duration_ns"]) > 0, "{rt}");
    }
}

#[test]
fn a_file_that_cannot_be_created_is_a_usage_error() {
    let r =
        rtc_server::Config::from_args(["rust-server", "--telemetry", "/nonexistent-dir/t.jsonl"])
            .map(std::sync::Arc::new)
            .and_then(rtc_server::InProcessServer::start);
    let err = r.err().expect("refused");
    assert!(err.is::<rtc_server::UsageError>(), "{err:#}");
    assert!(
        err.to_string()
            .starts_with("--telemetry /nonexistent-dir/t.jsonl: "),
        "{err}"
    );
}

fn spawn(bin: &Path, args: &[&str]) -> ListeningChild {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    let opts = SpawnOptions {
        die_with_parent: true,
        ..Default::default()
    };
    spawn_listening(cmd, &opts).unwrap()
}

/// The JSON config line, the first on stderr (read by another thread).
fn config_line(child: &ListeningChild) -> Value {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        if let Some(first) = child.stderr_lines().first() {
            return serde_json::from_str(first).unwrap();
        }
        assert!(Instant::now() < deadline, "no config line");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

#[test]
fn the_binary_samples_at_start_and_on_sigterm_and_sigint_only_when_asked() {
    let bin = Path::new(env!("CARGO_BIN_EXE_rust-server"));
    for (sig, name) in [(libc::SIGTERM, "sigterm"), (libc::SIGINT, "sigint")] {
        let path = temp_path(&format!("binary-{name}"));
        // An interval longer than the test: only the first and the final sample.
        let mut child = spawn(
            bin,
            &[
                "--telemetry",
                path.to_str().unwrap(),
                "--telemetry-interval",
                "1m",
            ],
        );
        let cfg = config_line(&child);
        assert_eq!(cfg["telemetry"], path.to_str().unwrap());
        assert_eq!(cfg["telemetry_interval_ms"], 60_000.0);
        assert!(
            thread_names(child.pid())
                .iter()
                .any(|n| n == "rtc-telemetry")
        );
        assert_eq!(line_count(&path), 1, "the sample at start");
        drive(child.addr);
        child.signal(sig);
        let status = child.wait_timeout(IO_TIMEOUT).expect("exits");
        assert_eq!(status.code(), Some(0), "{name}");
        let lines = read_lines(&path);
        assert_eq!(lines.len(), 2, "{name}: the start and the final sample");
        check_lines(&lines, cfg!(tokio_unstable));
    }
    let child = spawn(bin, &[]);
    let cfg = config_line(&child);
    assert_eq!(cfg["telemetry"], Value::Null);
    assert!(
        !thread_names(child.pid())
            .iter()
            .any(|n| n == "rtc-telemetry")
    );
}

/// `bin/rust-server-unstable` (`make build`); required under `make test`
/// (RTC_BIN_DIR set), otherwise skipped with a line when it was not built.
fn unstable_bin() -> Option<PathBuf> {
    let dir = std::env::var_os("RTC_BIN_DIR").map(PathBuf::from);
    let required = dir.is_some();
    let bin = dir
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bin"))
        .join("rust-server-unstable");
    if bin.is_file() {
        Some(bin)
    } else {
        assert!(!required, "{} is missing: run `make build`", bin.display());
        eprintln!(
            "telemetry of the unstable build skipped: {} not built",
            bin.display()
        );
        None
    }
}

#[test]
fn the_unstable_build_adds_its_metrics_and_the_schedule_latency_histogram() {
    let Some(bin) = unstable_bin() else { return };
    let path = temp_path("unstable");
    let args = [
        "--workers",
        "2",
        "--cpu-mode",
        "spawn-blocking",
        "--telemetry",
        path.to_str().unwrap(),
        "--telemetry-interval",
        "5ms",
    ];
    let mut child = spawn(&bin, &args);
    let cfg = config_line(&child);
    assert_eq!(cfg["tokio_unstable"], true);
    drive(child.addr);
    wait_for_lines(&path, 4);
    child.signal(libc::SIGTERM);
    assert_eq!(
        child.wait_timeout(IO_TIMEOUT).and_then(|s| s.code()),
        Some(0)
    );
    let lines = read_lines(&path);
    check_lines(&lines, true);
    let last = &lines[lines.len() - 1]["metrics"];
    assert!(sum(&last["schedule_latency_histogram"]["counts"]) > 0);
    assert!(sum(&last["worker_poll_count"]) > 0);
}
