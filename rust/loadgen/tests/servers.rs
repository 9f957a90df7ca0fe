//! Integration tests against the real servers ($RTC_BIN_DIR/rust-server and
//! go-server; `make build` first) and a few deliberately wrong in-test
//! servers. Runs are short and at modest rates; assertions are bounds that
//! hold on any machine (a 1 s stall shows as ≥ 500 ms, never "< 2 ms").

mod common;

use common::{fraction_above, run, serial, signal, stall_later, start_server};
use rtc_loadgen::report::decode_histogram;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

const MS: u64 = 1_000_000;

#[test]
fn echo_is_correct_at_every_size_on_both_servers() {
    let _g = serial();
    for server in ["rust-server", "go-server"] {
        let s = start_server(server, &["--workload", "echo"]);
        for size in [1u64, 64, 1500, 16_384, 100_000, 1_048_576] {
            let rate = (30e6 / size as f64).min(1000.0).round();
            let out = run(&format!(
                "--address {} --size {size} --rate {rate} --conns 4 --threads 1 --duration 0.5 --warmup 0.1",
                s.addr
            ));
            let r = &out.report.result;
            let what = format!("{server} size {size}: {:?}", r.invalid_reasons);
            assert_eq!(r.errors.total, 0, "{what} {:?}", r.first_mismatches);
            assert!(r.requests > 0, "{what}");
            // Every echoed byte was compared.
            assert_eq!(r.body_checks, r.requests, "{what}");
            assert_eq!(r.requests_sent, r.requests, "{what}");
        }
    }
}

#[test]
fn work_mix_is_verified_on_both_servers() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("loadgen-work-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data.bin");
    rtc_common::datafile::create(&data, 1 << 20).unwrap();
    let mix = "light:weight=6,size=64;\
               sha:weight=2,size=100,cpu=50;\
               file:weight=1,size=8,io=file,io_arg=5000;\
               filesha:weight=1,io=file,io_arg=300,cpu=2;\
               sleep:weight=1,io=sleep,io_arg=200;\
               block:weight=1,io=block,io_arg=200";
    for server in ["rust-server", "go-server"] {
        let s = start_server(
            server,
            &["--workload", "work", "--data-file", data.to_str().unwrap()],
        );
        let out = run(&format!(
            "--address {} --workload work --data-size {} --rate 600 --conns 2 --threads 1 \
             --duration 1 --warmup 0.2 --mix {mix}",
            s.addr,
            1 << 20
        ));
        let rep = &out.report;
        assert_eq!(
            rep.result.errors.total, 0,
            "{server}: {:?}",
            rep.result.first_mismatches
        );
        assert_eq!(rep.classes.len(), 6);
        for (name, c) in &rep.classes {
            let r = &c.result;
            assert!(r.requests > 0, "{server} {name}");
            match name.as_str() {
                // Every file read's bytes are checked, hashed or not.
                "file" | "filesha" | "light" | "sleep" | "block" => {
                    assert_eq!(r.body_checks, r.requests, "{server} {name}")
                }
                // SHA bodies: at least one in 64.
                "sha" => assert!(
                    r.body_checks >= r.requests / 64 && r.body_checks > 0,
                    "{server} {name}: {} of {}",
                    r.body_checks,
                    r.requests
                ),
                _ => unreachable!(),
            }
        }
        // The sleep class cannot be faster than its sleep.
        let sleep = &rep.classes["sleep"].result.latency_us.corrected;
        assert!(sleep.p50 >= 200.0, "{server}: {sleep:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// An echo server that corrupts byte 100 of each connection's stream.
fn corrupting_echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut pos = 0usize;
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    if (pos..pos + n).contains(&100) {
                        buf[100 - pos] ^= 0x5a;
                    }
                    pos += n;
                    if c.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A work server that answers every third request with the wrong id.
fn wrong_id_work_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            std::thread::spawn(move || {
                let mut n = 0u32;
                loop {
                    let mut h = [0u8; 24];
                    if c.read_exact(&mut h).is_err() {
                        return;
                    }
                    let len = u32::from_be_bytes(h[4..8].try_into().unwrap()) as usize;
                    let mut id = u32::from_be_bytes(h[20..24].try_into().unwrap());
                    let mut payload = vec![0u8; len];
                    if c.read_exact(&mut payload).is_err() {
                        return;
                    }
                    n += 1;
                    if n.is_multiple_of(3) {
                        id ^= 1;
                    }
                    let mut resp = vec![1, 0, 0, 0];
                    resp.extend((len as u32).to_be_bytes());
                    resp.extend(id.to_be_bytes());
                    resp.extend(payload);
                    if c.write_all(&resp).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn wrong_responses_are_counted_described_and_are_the_servers_outcome() {
    let _g = serial();
    let addr = corrupting_echo_server();
    let out = run(&format!(
        "--address {addr} --rate 200 --conns 2 --threads 1 --duration 0.5 --warmup 0"
    ));
    let r = &out.report.result;
    // Wrong bytes are the server's doing, not a measurement fault.
    assert!(!out.server_ok);
    assert_eq!(r.errors.mismatch, 2, "{:?}", r.first_mismatches);
    assert!(
        r.first_mismatches
            .iter()
            .all(|m| m.contains("echoed byte 36")),
        "{:?}",
        r.first_mismatches
    );

    let addr = wrong_id_work_server();
    let out = run(&format!(
        "--address {addr} --workload work --rate 300 --conns 3 --threads 1 --duration 0.5 --warmup 0"
    ));
    let r = &out.report.result;
    assert!(!out.server_ok);
    assert!(r.errors.mismatch > 10, "{r:?}");
    assert!(
        r.first_mismatches[0].contains("response carries id"),
        "{:?}",
        r.first_mismatches
    );
    assert!(
        r.server_outcome
            .reasons
            .iter()
            .any(|x| x.contains("mismatch")),
        "{:?}",
        r.server_outcome.reasons
    );
    assert!(
        !r.invalid_reasons.iter().any(|x| x.contains("mismatch")),
        "{:?}",
        r.invalid_reasons
    );
}

/// Every request scheduled in the window ends as exactly one of: recorded,
/// a timeout, a wrong response, or lost with its connection.
fn accounted(r: &rtc_loadgen::report::RunResult) -> u64 {
    r.requests + r.errors.timeout + r.errors.mismatch + r.requests_lost
}

/// Each timed-out or lost request is in the corrected histogram, censored at
/// its failure time: the histogram holds the answers plus exactly those.
fn assert_censored(r: &rtc_loadgen::report::RunResult, what: &str) {
    assert_eq!(
        r.censored,
        r.errors.timeout + r.requests_lost,
        "{what}: {r:?}"
    );
    let corrected = decode_histogram(&r.histograms.latency_corrected_ns).unwrap();
    assert_eq!(corrected.len(), r.requests + r.censored, "{what}");
    if r.censored > 0 {
        assert!(r.censored_fraction > 0.0, "{what}");
        let from = r.lower_bound_from_percentile.expect("censored values");
        assert!((0.0..=100.0).contains(&from), "{what}: {from}");
    }
}

/// Measured window of 4 s at 500 req/s with a 1 s SIGSTOP inside it.
fn stalled_run(extra: &str) -> rtc_loadgen::RunOutcome {
    let s = start_server("rust-server", &["--workload", "echo"]);
    // The window opens ~0.52 s after the run starts (connect, lead, warm-up),
    // so the stall covers about [1.0 s, 2.0 s) of the 4 s window.
    let stall = stall_later(s.pid(), Duration::from_millis(1500), Duration::from_secs(1));
    let out = run(&format!(
        "--address {} --rate 500 --conns 10 --threads 1 --duration 4 --warmup 0.5 {extra}",
        s.addr
    ));
    stall.join().unwrap();
    out
}

#[test]
fn a_stall_shows_in_the_corrected_percentiles() {
    let _g = serial();
    let out = stalled_run("");
    let r = &out.report.result;
    assert_eq!(r.errors.total, 0, "{:?}", r.invalid_reasons);
    // Uniform arrivals: exactly rate × duration, and every one answered.
    assert_eq!(r.requests_scheduled, Some(2000));
    assert_eq!(r.requests, 2000);
    let corrected = decode_histogram(&r.histograms.latency_corrected_ns).unwrap();
    let uncorrected = decode_histogram(&r.histograms.latency_uncorrected_ns).unwrap();
    assert_eq!(corrected.len(), r.requests);
    // About the stalled fraction (0.9 s of 4 s) waited over 100 ms.
    let slow = fraction_above(&corrected, 100 * MS);
    assert!(
        (0.10..=0.45).contains(&slow),
        "corrected share above 100 ms: {slow}"
    );
    assert!(
        r.latency_us.corrected.p99 >= 500_000.0,
        "{:?}",
        r.latency_us
    );
    assert!(
        r.latency_us.corrected.max >= 800_000.0,
        "{:?}",
        r.latency_us
    );
    // Pipelined sends went out on schedule, so the actual-write latency saw
    // the stall too.
    assert!(fraction_above(&uncorrected, 100 * MS) >= 0.10);
    // The stall is visible in the per-second timeline.
    assert!(
        r.intervals.iter().any(|i| i.p99_us >= 500_000.0),
        "{:?}",
        r.intervals
    );
}

#[test]
fn with_one_request_in_flight_the_uncorrected_histogram_hides_the_stall() {
    let _g = serial();
    let out = stalled_run("--max-in-flight 1");
    let r = &out.report.result;
    assert_eq!(r.errors.total, 0, "{:?}", r.invalid_reasons);
    assert!(r.in_flight_cap_hits > 0);
    assert_eq!(r.requests_scheduled, Some(2000));
    assert_eq!(r.requests, 2000);
    let corrected = decode_histogram(&r.histograms.latency_corrected_ns).unwrap();
    let uncorrected = decode_histogram(&r.histograms.latency_uncorrected_ns).unwrap();
    let slow_c = fraction_above(&corrected, 100 * MS);
    let slow_u = fraction_above(&uncorrected, 100 * MS);
    assert!(
        (0.10..=0.45).contains(&slow_c),
        "corrected share above 100 ms: {slow_c}"
    );
    assert!(
        r.latency_us.corrected.p99 >= 500_000.0,
        "{:?}",
        r.latency_us
    );
    // Only the one request per connection caught in the stall (10 of ~2000)
    // has a long uncorrected latency; the ones held back were timed from
    // their late write, as wrk-style tools time them.
    assert!(slow_u < 0.05, "uncorrected share above 100 ms: {slow_u}");
    assert!(
        r.latency_us.uncorrected.p99 < r.latency_us.corrected.p99 / 4.0,
        "{:?}",
        r.latency_us
    );
}

/// A stall from 1 s before the window's end to 0.5 s after it, with one
/// request per connection in flight: the requests held back by the cap (and
/// overdue) when the window closes are still sent, as soon as the server
/// answers again, and recorded from their intended times. None is dropped, so
/// the corrected histogram keeps exactly the worst requests.
#[test]
fn requests_held_back_at_the_window_end_are_sent_and_recorded() {
    let _g = serial();
    let s = start_server("rust-server", &["--workload", "echo"]);
    // The window is about [0.52 s, 3.52 s) after the start; the stall about
    // [2.5 s, 4.0 s): the last third of the window and 0.5 s past it.
    let stall = stall_later(
        s.pid(),
        Duration::from_millis(2500),
        Duration::from_millis(1500),
    );
    let out = run(&format!(
        "--address {} --rate 500 --conns 10 --threads 1 --duration 3 --warmup 0.5 --max-in-flight 1",
        s.addr
    ));
    stall.join().unwrap();
    let r = &out.report.result;
    assert_eq!(r.errors.total, 0, "{:?}", r.invalid_reasons);
    assert!(r.in_flight_cap_hits > 0);
    // Uniform arrivals: exactly rate × duration scheduled, all sent, all recorded.
    assert_eq!(r.requests_scheduled, Some(1500));
    assert_eq!(r.requests_sent, 1500);
    assert_eq!(r.requests, 1500);
    let corrected = decode_histogram(&r.histograms.latency_corrected_ns).unwrap();
    let uncorrected = decode_histogram(&r.histograms.latency_uncorrected_ns).unwrap();
    assert_eq!(corrected.len(), 1500);
    // The requests intended in the stalled last third waited 0.5–1.5 s.
    let slow = fraction_above(&corrected, 100 * MS);
    assert!(
        (0.20..=0.45).contains(&slow),
        "corrected share above 100 ms: {slow}"
    );
    assert!(
        r.latency_us.corrected.p90 >= 400_000.0,
        "{:?}",
        r.latency_us
    );
    // The first request caught by the stall waited for all of it.
    assert!(
        r.latency_us.corrected.max >= 1_200_000.0,
        "{:?}",
        r.latency_us
    );
    // Timed from their late writes, wrk-style, they would look fine.
    assert!(fraction_above(&uncorrected, 100 * MS) < 0.05);
}

#[test]
fn a_killed_server_ends_the_run_with_errors_not_a_hang() {
    let _g = serial();
    let mut s = start_server("rust-server", &["--workload", "echo"]);
    let pid = s.pid();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        signal(pid, libc::SIGKILL);
    });
    let t = Instant::now();
    let out = run(&format!(
        "--address {} --rate 200 --conns 4 --threads 1 --duration 2 --warmup 0.2 --timeout 1",
        s.addr
    ));
    let took = t.elapsed();
    killer.join().unwrap();
    let _ = s.wait_timeout(Duration::from_secs(1));
    let r = &out.report.result;
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(!out.server_ok);
    assert!(r.errors.closed + r.errors.reset > 0, "{:?}", r.errors);
    assert!(r.errors.connect > 0, "{:?}", r.errors);
    assert!(r.requests > 0 && r.requests < r.requests_scheduled.unwrap());
    // Requests scheduled while no connection could be made were never sent;
    // they are counted (as timeouts), not dropped.
    assert!(r.requests_sent < r.requests_scheduled.unwrap());
    assert_eq!(accounted(r), r.requests_scheduled.unwrap(), "{r:?}");
    assert_censored(r, "killed");
}

#[test]
fn a_server_stalled_past_the_timeout_counts_timeouts_and_the_run_ends() {
    let _g = serial();
    for extra in ["", "--max-in-flight 1"] {
        let s = start_server("rust-server", &["--workload", "echo"]);
        let stall = stall_later(
            s.pid(),
            Duration::from_millis(300),
            Duration::from_millis(2500),
        );
        let t = Instant::now();
        let out = run(&format!(
            "--address {} --rate 200 --conns 4 --threads 1 --duration 2 --warmup 0.1 --timeout 0.5 {extra}",
            s.addr
        ));
        let took = t.elapsed();
        stall.join().unwrap();
        let r = &out.report.result;
        // Window end + timeout + the drain's slack, plus start-up.
        assert!(took < Duration::from_secs(5), "{extra}: took {took:?}");
        assert!(!out.server_ok);
        assert!(r.errors.timeout > 0, "{extra}: {:?}", r.errors);
        // Timeouts are data: censored at (failure − intended) ≥ the timeout
        // for the ones that were sent, at the deadline for the others.
        assert_censored(r, extra);
        let corrected = decode_histogram(&r.histograms.latency_corrected_ns).unwrap();
        assert!(
            corrected.max() >= 450_000_000,
            "{extra}: {}",
            corrected.max()
        );
        assert!(
            r.server_outcome
                .reasons
                .iter()
                .any(|x| x.contains("timeout")),
            "{extra}: {:?}",
            r.server_outcome.reasons
        );
        // Nothing vanishes: unanswered and never-sent requests are timeouts.
        assert_eq!(r.requests_scheduled, Some(400), "{extra}");
        assert_eq!(accounted(r), 400, "{extra}: {r:?}");
        if !extra.is_empty() {
            // Held back by the cap behind a request that never returned.
            assert!(r.requests_sent < 400, "{extra}: {r:?}");
        }
    }
}

#[test]
fn nothing_listening_is_reported_at_once() {
    let _g = serial();
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let t = Instant::now();
    let out = run(&format!(
        "--address {addr} --rate 100 --conns 3 --threads 1 --duration 5"
    ));
    assert!(t.elapsed() < Duration::from_secs(3));
    let r = &out.report.result;
    assert!(!out.server_ok);
    assert_eq!(r.errors.connect, 3);
    assert_eq!(r.requests, 0);
    assert!(
        r.server_outcome
            .reasons
            .iter()
            .any(|x| x.contains("no connection")),
        "{:?}",
        r.server_outcome.reasons
    );
}

#[test]
fn closed_loop_reports_cpu_per_request_for_client_and_server() {
    let _g = serial();
    let s = start_server("rust-server", &["--workload", "echo"]);
    let out = run(&format!(
        "--address {} --closed --depth 2 --conns 4 --threads 1 --duration 1 --warmup 0.2 --server-pid {}",
        s.addr,
        s.pid()
    ));
    let r = &out.report.result;
    assert_eq!(r.errors.total, 0);
    assert!(r.requests > 100);
    assert_eq!(r.offered_rps, None);
    assert!(r.client_cpu_us_per_request.unwrap() > 0.0);
    assert!(r.server_cpu_us.is_some());
    assert!(r.client_bound.is_some());
    assert_eq!(out.report.load_model, "closed");
}

#[test]
fn rate_steps_give_one_result_per_step_and_write_the_files() {
    let _g = serial();
    let s = start_server("rust-server", &["--workload", "echo"]);
    let dir = std::env::temp_dir().join(format!("loadgen-steps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, hgrm, hlog) = (dir.join("r.json"), dir.join("r.hgrm"), dir.join("r.hlog"));
    let out = run(&format!(
        "--address {} --rate-steps 300,600 --arrival poisson --conns 6 --threads 2 \
         --duration 0.6 --warmup 0.2 --settle 0.2 --json {} --hgrm {} --hlog {}",
        s.addr,
        json.display(),
        hgrm.display(),
        hlog.display()
    ));
    let rep = &out.report;
    assert_eq!(rep.steps.len(), 2);
    for (st, rate) in rep.steps.iter().zip([300.0, 600.0]) {
        assert_eq!(st.rate_rps, rate);
        assert_eq!(st.result.offered_rps, Some(rate));
        assert_eq!(st.result.errors.total, 0);
        // Poisson: about rate × 0.6 s requests.
        let n = st.result.requests as f64;
        assert!(n > rate * 0.6 * 0.5 && n < rate * 0.6 * 1.5, "{n}");
    }
    assert_eq!(
        rep.result.requests,
        rep.steps.iter().map(|s| s.result.requests).sum::<u64>()
    );
    // The JSON on disk matches the schema and the histograms hold every request.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let errs = common::check_schema(&doc);
    assert!(errs.is_empty(), "{}", errs.join("\n"));
    let h = decode_histogram(
        doc["steps"][1]["histograms"]["latency_corrected_ns"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(h.len(), rep.steps[1].result.requests);
    for f in ["r.hgrm", "r.step1.hgrm", "r.step2.hgrm"] {
        let t = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(t.contains("Percentile") && t.contains("#[Max"), "{f}");
    }
    let log = std::fs::read(&hlog).unwrap();
    let mut total = 0;
    for e in hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&log) {
        if let hdrhistogram::serialization::interval_log::LogEntry::Interval(i) = e.unwrap() {
            total += 1;
            assert!(!i.encoded_histogram().is_empty());
        }
    }
    assert!(total >= 2, "{total}");
    assert!(out.files.contains(&json));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_step_with_nothing_left_ends_at_its_window_not_its_timeout() {
    // With every request answered, a step ends at the end of its window (plus
    // drain and settle), never waiting out --timeout: many short busy steps
    // give the end every chance to pass mid-send.
    let _g = serial();
    let s = start_server("rust-server", &["--workload", "echo"]);
    let steps = 12;
    let rates = vec!["20000"; steps].join(",");
    let t = Instant::now();
    let out = run(&format!(
        "--address {} --rate-steps {rates} --conns 100 --threads 1 \
         --duration 0.3 --warmup 0.1 --settle 0.1 --timeout 10",
        s.addr
    ));
    let took = t.elapsed();
    assert_eq!(out.report.steps.len(), steps);
    for st in &out.report.steps {
        assert_eq!(st.result.errors.total, 0, "{:?}", st.result.invalid_reasons);
        assert_eq!(Some(st.result.requests), st.result.requests_scheduled);
    }
    // 12 × 0.5 s of schedule; one step waiting out the timeout adds 10 s.
    assert!(took < Duration::from_secs(12), "{took:?}");
}
