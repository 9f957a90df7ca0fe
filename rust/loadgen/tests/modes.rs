//! Receive-side timestamps, idle mode and a start at a given wall-clock
//! instant, against the real servers.

mod common;

use common::{run, serial, signal, stall_later, start_server};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

#[test]
fn receive_lag_is_recorded_or_declared_unavailable() {
    let _g = serial();
    let s = start_server("rust-server", &["--workload", "echo"]);
    let out = run(&format!(
        "--address {} --rate 500 --conns 4 --threads 1 --duration 0.5 --warmup 0.3",
        s.addr
    ));
    let r = &out.report.result;
    assert_eq!(r.receive_timestamps, "kernel", "{r:?}");
    let lag = r.receive_lag_us.expect("receive lag");
    // At least the recvmsg call itself lies between the two stamps.
    assert!(lag.p50 > 0.0 && lag.max >= lag.p50, "{lag:?}");
    let h = rtc_loadgen::report::decode_histogram(&r.histograms.receive_lag_ns).unwrap();
    assert!(
        !h.is_empty() && h.len() <= r.requests,
        "{} of {}",
        h.len(),
        r.requests
    );

    let out = run(&format!(
        "--address {} --rate 500 --conns 4 --threads 1 --duration 0.5 --warmup 0.1 \
         --no-receive-timestamps",
        s.addr
    ));
    let r = &out.report.result;
    assert_eq!(r.receive_timestamps, "unavailable");
    assert_eq!(r.receive_lag_us, None);
    let h = rtc_loadgen::report::decode_histogram(&r.histograms.receive_lag_ns).unwrap();
    assert_eq!(h.len(), 0);
    // The trust rule falls back to send lag alone.
    assert!(r.requests > 0);
}

/// The generator itself stopped (SIGSTOP) for 300 ms while responses to
/// 5 ms requests are on their way: the kernel stamps them on arrival, the
/// generator reads them 300 ms later, and receive lag shows it.
#[test]
fn a_stopped_generator_shows_receive_lag() {
    let _g = serial();
    let s = start_server("rust-server", &["--workload", "work"]);
    let dir = std::env::temp_dir().join(format!("loadgen-rxlag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("r.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "--address",
            &s.addr.to_string(),
            "--workload",
            "work",
            "--mix",
            "slow:size=16,io=sleep,io_arg=5000",
            "--rate",
            "1000",
            "--conns",
            "10",
            "--threads",
            "1",
            "--duration",
            "2",
            "--warmup",
            "0.5",
            "--quiet",
            "--json",
            json.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    // Connect + 0.5 s warm-up: the stop falls about 0.7 s into the window.
    let stall = stall_later(
        child.id(),
        Duration::from_millis(1200),
        Duration::from_millis(300),
    );
    stall.join().unwrap();
    let status = child.wait().unwrap();
    assert!(matches!(status.code(), Some(0) | Some(1)), "{status:?}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        doc["receive_timestamps"], "kernel",
        "{}",
        doc["receive_timestamps"]
    );
    let max = doc["receive_lag_us"]["max"].as_f64().unwrap();
    assert!(max >= 150_000.0, "receive lag max {max} µs");
    // The generator's own error is that large: p99.9 is not to be trusted.
    assert_eq!(
        doc["latency_trusted"]["p999"], false,
        "{}",
        doc["latency_trusted"]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn idle_mode_primes_holds_and_checks_every_connection() {
    let _g = serial();
    let s = start_server("rust-server", &["--workload", "echo"]);
    for prime in [0u64, 1, 3] {
        let t = now_unix_ms();
        let out = run(&format!(
            "--address {} --idle --prime {prime} --conns 20 --threads 1 --duration 0.5 --warmup 0.3",
            s.addr
        ));
        let r = &out.report.result;
        let what = format!("prime {prime}: {r:?}");
        assert_eq!(out.report.load_model, "idle");
        assert_eq!(out.report.prime, Some(prime as u32));
        assert!(out.valid && out.server_ok, "{what}");
        assert_eq!(r.requests, 20 * prime, "{what}");
        assert_eq!(r.conns_open_at_end, Some(20), "{what}");
        // No traffic in the window; it brackets the hold, after priming.
        assert_eq!(r.requests_completed_in_window, 0, "{what}");
        let (a, b) = (
            r.window_start_unix_ms.unwrap(),
            r.window_end_unix_ms.unwrap(),
        );
        assert!(a >= t + 300.0 && (b - a - 500.0).abs() < 1.0, "{what}");
        assert_eq!(r.body_checks, r.requests, "{what}");
    }
}

#[test]
fn idle_mode_reports_connections_the_server_closed() {
    let _g = serial();
    let mut s = start_server("rust-server", &["--workload", "echo"]);
    let pid = s.pid();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        signal(pid, libc::SIGKILL);
    });
    let out = run(&format!(
        "--address {} --idle --prime 1 --conns 10 --threads 1 --duration 1 --warmup 0.2",
        s.addr
    ));
    killer.join().unwrap();
    let _ = s.wait_timeout(Duration::from_secs(1));
    let r = &out.report.result;
    assert_eq!(r.conns_open_at_end, Some(0), "{r:?}");
    assert!(!out.valid);
    assert!(
        r.invalid_reasons
            .iter()
            .any(|x| x.contains("10 of 10 connections were not open")),
        "{:?}",
        r.invalid_reasons
    );
}

#[test]
fn start_at_begins_the_warm_up_at_that_instant() {
    let _g = serial();
    let s = start_server("rust-server", &["--workload", "echo"]);
    let at = (now_unix_ms() + 1500.0).round();
    let out = run(&format!(
        "--address {} --rate 200 --conns 2 --threads 1 --duration 0.5 --warmup 0.2 --start-at {at}",
        s.addr
    ));
    let r = &out.report.result;
    assert_eq!(out.report.start_at_unix_ms, Some(at));
    let start = r.window_start_unix_ms.unwrap();
    // The window opens after the warm-up that began at `at` (the two clocks
    // are read a few µs apart, so allow a millisecond).
    assert!((start - (at + 200.0)).abs() < 1.0, "{start} vs {at}");
    // Nothing says it started late.
    assert!(
        !r.invalid_reasons.iter().any(|x| x.contains("--start-at")),
        "{:?}",
        r.invalid_reasons
    );
}
