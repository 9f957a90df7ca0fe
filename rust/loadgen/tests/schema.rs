//! The JSON document's shape against schemas/loadgen.schema.json, built from
//! synthetic measurements (no server, no timing).

mod common;

use rtc_loadgen::engine::{RunData, StepData};
use rtc_loadgen::parse_args;
use rtc_loadgen::record::{Drained, ErrorKind, Recorder, Stamps, Window};
use rtc_loadgen::report::{self, Report};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The window of `step`: 2 s from 1 s after the epoch.
const W: Window = Window {
    start_ns: 1_000_000_000,
    end_ns: 3_000_000_000,
};

/// `n` requests intended evenly over the 2 s window, each answered after
/// `lat_ns`, with a 2 µs receive lag.
fn recorder(n: u64, lat_ns: u64) -> Recorder {
    let mut r = Recorder::new();
    for i in 0..n {
        let t = W.start_ns + i * (2_000_000_000 / n);
        r.record(
            &Stamps {
                intended: t,
                eligible: t,
                sent: t + 500,
                done: t + lat_ns,
                receive_lag: Some(2_000),
            },
            W,
        );
        r.requests_sent += 1;
        r.requests_scheduled += 1;
    }
    r
}

fn data(args: &[&str], steps: Vec<StepData>) -> RunData {
    let argv: Vec<&str> = ["loadgen", "--address", "127.0.0.1:9", "--threads", "1"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let cfg = parse_args(argv).unwrap().validate().unwrap();
    RunData {
        cfg: Arc::new(cfg),
        started_at: SystemTime::now(),
        epoch_wall: SystemTime::now(),
        steps,
    }
}

fn step(index: usize, rate: Option<f64>, classes: Vec<Recorder>) -> StepData {
    StepData {
        index,
        rate,
        classes,
        thread_cpu_shares: vec![0.5],
        client_cpu_us: 1_000_000,
        server_cpu_us: Some(2_000_000),
        window_start_ns: 1_000_000_000,
        duration_s: 2.0,
        notes: Vec::new(),
        measurement_notes: Vec::new(),
        conns_open_at_end: None,
    }
}

fn assert_valid_doc(rep: &Report) -> serde_json::Value {
    let text = rep.to_json();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let errs = common::check_schema(&doc);
    assert!(errs.is_empty(), "schema errors:\n{}", errs.join("\n"));
    // The harness reads the document back with the same types (floats may
    // differ in the last bit, so compare the exact parts).
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back.result.requests, rep.result.requests);
    assert_eq!(back.result.errors, rep.result.errors);
    assert_eq!(back.result.invalid_reasons, rep.result.invalid_reasons);
    assert_eq!(back.result.histograms, rep.result.histograms);
    assert_eq!(
        back.classes.keys().collect::<Vec<_>>(),
        rep.classes.keys().collect::<Vec<_>>()
    );
    assert_eq!(back.steps.len(), rep.steps.len());
    assert_eq!(back.args, rep.args);
    doc
}

#[test]
fn open_loop_echo_document_matches_the_schema() {
    let d = data(
        &["--rate", "1000", "--duration", "2"],
        vec![step(0, Some(1000.0), vec![recorder(2000, 40_000)])],
    );
    let rep = report::build(&d);
    let doc = assert_valid_doc(&rep);
    assert_eq!(doc["load_model"], "open");
    assert_eq!(doc["classes"]["echo"]["requests"], 2000);
    assert_eq!(doc["offered_rps"], 1000.0);
    assert_eq!(doc["schema_version"], 2);
    assert_eq!(doc["achieved_rps"], 1000.0);
    assert_eq!(doc["requests_completed_in_window"], 2000);
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["server_outcome"]["ok"], true);
    assert_eq!(doc["overloaded"], false);
    assert_eq!(doc["overload_reason"], serde_json::Value::Null);
    assert_eq!(doc["drain"]["outstanding_at_window_end"], 0);
    assert_eq!(doc["receive_timestamps"], "kernel");
    assert_eq!(doc["receive_lag_us"]["p99"], 2.0);
    // 0.5 µs send + 2 µs receive lag under the 25 µs floor everywhere.
    assert_eq!(
        doc["latency_trusted"],
        serde_json::json!({"p50": true, "p99": true, "p999": true})
    );
    assert_eq!(doc["censored"], 0);
    assert_eq!(doc["lower_bound_from_percentile"], serde_json::Value::Null);
    assert_eq!(doc["conns_open_at_end"], serde_json::Value::Null);
    assert_eq!(doc["start_at_unix_ms"], serde_json::Value::Null);
    assert_eq!(doc["steps"].as_array().unwrap().len(), 0);
    assert_eq!(doc["server_cpu_us_per_request"], 1000.0);
    let p99 = doc["latency_us"]["corrected"]["p99"].as_f64().unwrap();
    assert!((p99 - 40.0).abs() < 0.1, "{p99}");
    let h = report::decode_histogram(doc["histograms"]["latency_corrected_ns"].as_str().unwrap())
        .unwrap();
    assert_eq!(h.len(), 2000);
}

#[test]
fn work_mix_with_steps_and_errors_matches_the_schema() {
    let mut bad = recorder(100, 2_000_000);
    bad.error(ErrorKind::Timeout, 3);
    bad.mismatch("class heavy conn 4: request id 7: status 4 (body 0 bytes)".into());
    let d = data(
        &[
            "--workload",
            "work",
            "--rate-steps",
            "1000,2000",
            "--duration",
            "2",
            "--mix",
            "light:weight=9;heavy:weight=1,cpu=100,io=file,io_arg=10",
        ],
        vec![
            step(
                0,
                Some(1000.0),
                vec![recorder(1800, 30_000), recorder(200, 900_000)],
            ),
            step(1, Some(2000.0), vec![recorder(3600, 30_000), bad]),
        ],
    );
    let rep = report::build(&d);
    let doc = assert_valid_doc(&rep);
    assert_eq!(doc["steps"].as_array().unwrap().len(), 2);
    // Errors are the server's outcome, not a measurement fault: both steps
    // stay valid, step 2's server outcome is not ok, and the top level
    // folds the steps.
    assert_eq!(doc["steps"][0]["valid"], true);
    assert_eq!(doc["steps"][1]["valid"], true);
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["steps"][0]["server_outcome"]["ok"], true);
    assert_eq!(doc["steps"][1]["server_outcome"]["ok"], false);
    assert_eq!(doc["server_outcome"]["ok"], false);
    assert_eq!(doc["steps"][1]["classes"]["heavy"]["errors"]["timeout"], 3);
    assert_eq!(doc["steps"][1]["errors"]["total"], 4);
    assert_eq!(doc["steps"][1]["server_outcome"]["errors"]["total"], 4);
    let reasons: Vec<String> =
        serde_json::from_value(doc["server_outcome"]["reasons"].clone()).unwrap();
    assert!(
        !reasons.is_empty()
            && reasons
                .iter()
                .all(|r| r.starts_with("step 2 (2000 req/s): ")),
        "{reasons:?}"
    );
    assert_eq!(doc["classes"]["heavy"]["spec"]["io"], "file");
    assert_eq!(doc["classes"]["heavy"]["offered_rps"], 150.0);
    assert_eq!(doc["rate_steps_rps"], serde_json::json!([1000.0, 2000.0]));
    // Human summary names both steps and the verdict.
    let text = report::summary(&rep);
    assert!(
        text.contains("step 2 at 2000 req/s") && text.contains("server NOT ok"),
        "{text}"
    );
}

#[test]
fn closed_loop_document_has_nulls_where_open_loop_figures_do_not_apply() {
    let d = data(
        &["--closed", "--depth", "4", "--duration", "2"],
        vec![step(0, None, vec![recorder(500, 10_000)])],
    );
    let rep = report::build(&d);
    let doc = assert_valid_doc(&rep);
    assert_eq!(doc["offered_rps"], serde_json::Value::Null);
    assert_eq!(doc["requests_scheduled"], serde_json::Value::Null);
    assert_eq!(doc["arrival"], serde_json::Value::Null);
    assert_eq!(doc["depth"], 4);
    assert_eq!(doc["client_bound"], false);
    assert!(doc["client_cpu_us_per_request"].as_f64().unwrap() > 0.0);
}

#[test]
fn hlog_and_hgrm_are_written_in_the_standard_formats() {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let d = data(
        &[
            "--workload",
            "work",
            "--rate",
            "100",
            "--mix",
            "a:weight=1;b:weight=1",
        ],
        vec![step(
            0,
            Some(100.0),
            vec![recorder(50, 1_000), recorder(30, 2_000)],
        )],
    );
    let log = report::hlog_bytes(&d).unwrap();
    let mut hists = 0;
    let mut tags = Vec::new();
    for e in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(i) = e.unwrap() {
            hists += 1;
            tags.push(i.tag().map(|t| t.as_str().to_string()));
            assert_eq!(i.duration(), Duration::from_secs(1));
        }
    }
    // Two seconds: the untagged total plus one per class, each.
    assert_eq!(hists, 6);
    assert!(tags.contains(&None) && tags.contains(&Some("b".into())));
    let dir = std::env::temp_dir().join(format!("loadgen-hgrm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = report::write_hgrm(&d, &dir.join("x.hgrm")).unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
    let text = std::fs::read_to_string(dir.join("x.b.hgrm")).unwrap();
    assert!(text.contains("Total count    =           30"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_checker_catches_missing_wrong_and_undeclared_keys() {
    let d = data(
        &["--rate", "10"],
        vec![step(0, Some(10.0), vec![recorder(20, 1_000)])],
    );
    let doc: serde_json::Value = serde_json::from_str(&report::build(&d).to_json()).unwrap();
    let mut missing = doc.clone();
    missing["classes"]["echo"]
        .as_object_mut()
        .unwrap()
        .remove("send_lag_us");
    assert!(
        common::check_schema(&missing)
            .iter()
            .any(|e| e.contains("send_lag_us"))
    );
    let mut extra = doc.clone();
    extra["latency_us"]["corrected"]["p42"] = 1.into();
    assert!(
        common::check_schema(&extra)
            .iter()
            .any(|e| e.contains("p42"))
    );
    let mut wrong = doc;
    wrong["load_model"] = "sideways".into();
    wrong["requests"] = (-1).into();
    let errs = common::check_schema(&wrong);
    assert!(errs.iter().any(|e| e.contains("sideways")), "{errs:?}");
    assert!(errs.iter().any(|e| e.contains("$.requests")), "{errs:?}");
}

/// A step at twice what the server answers: all of its 2,000 requests were
/// answered, but 1,000 only after the window, one timed out in it (censored
/// at 5 s), and the backlog grew from quarter to quarter.
#[test]
fn overload_drain_and_censored_values_are_in_the_document() {
    let mut rec = Recorder::new();
    for i in 0..2000u64 {
        let t = W.start_ns + i * 1_000_000;
        // The server answers one request per 2 ms: request i at 2 i ms.
        let done = W.start_ns + 2 * i * 1_000_000 + 50_000;
        rec.record(
            &Stamps {
                intended: t,
                eligible: t,
                sent: t + 500,
                done,
                receive_lag: None,
            },
            W,
        );
    }
    rec.censor(W.start_ns, W.start_ns + 5_000_000_000, W, Drained::TimedOut);
    rec.error(ErrorKind::Timeout, 1);
    rec.requests_scheduled = 2001;
    rec.requests_sent = 2001;
    rec.backlog = (0..20).map(|k| 50 * k).collect();
    let d = data(
        &["--rate", "1000", "--duration", "2"],
        vec![step(0, Some(1000.0), vec![rec])],
    );
    let rep = report::build(&d);
    let doc = assert_valid_doc(&rep);
    assert_eq!(doc["valid"], true, "{}", doc["invalid_reasons"]);
    assert_eq!(doc["overloaded"], true);
    let why = doc["overload_reason"].as_str().unwrap();
    assert!(
        why.contains("backlog") && why.contains("completed in the window"),
        "{why}"
    );
    assert_eq!(doc["server_outcome"]["overloaded"], true);
    assert_eq!(doc["server_outcome"]["shortfall"], false);
    // 1,000 answered in the 2 s window: 500 req/s, not the offered 1,000.
    assert_eq!(doc["requests_completed_in_window"], 1000);
    assert_eq!(doc["achieved_rps"], 500.0);
    assert_eq!(doc["server_cpu_us_per_request"], 2000.0);
    assert_eq!(
        doc["drain"],
        serde_json::json!({"outstanding_at_window_end": 1001, "answered": 1000,
                           "timed_out": 1, "failed": 0, "duration_ms": 3000.0})
    );
    assert_eq!(doc["censored"], 1);
    let h = report::decode_histogram(doc["histograms"]["latency_corrected_ns"].as_str().unwrap())
        .unwrap();
    assert_eq!(h.len(), 2001);
    assert!(h.max() >= 4_990_000_000);
    // The censored 5 s is above every answer (at most 2 s late).
    let lb = doc["lower_bound_from_percentile"].as_f64().unwrap();
    assert!((lb - 2000.0 / 2001.0 * 100.0).abs() < 1e-9, "{lb}");
    assert_eq!(doc["receive_timestamps"], "unavailable");
    assert_eq!(doc["receive_lag_us"], serde_json::Value::Null);
    let text = report::summary(&rep);
    assert!(
        text.contains("OVERLOADED")
            && text.contains("lower bounds")
            && text.contains("drain: 1001"),
        "{text}"
    );
}

#[test]
fn an_idle_document_matches_the_schema() {
    let mut rec = Recorder::new();
    for i in 0..10u64 {
        let t = 500_000_000 + i * 1000;
        rec.record(
            &Stamps {
                intended: t,
                eligible: t,
                sent: t,
                done: t + 30_000,
                receive_lag: Some(1_000),
            },
            W,
        );
    }
    let mut s = step(0, None, vec![rec]);
    s.conns_open_at_end = Some(9);
    s.measurement_notes
        .push("1 of 10 connections were not open at the end of the idle hold".into());
    let d = data(&["--idle", "--prime", "1", "--conns", "10"], vec![s]);
    let rep = report::build(&d);
    let doc = assert_valid_doc(&rep);
    assert_eq!(doc["load_model"], "idle");
    assert_eq!(doc["prime"], 1);
    assert_eq!(doc["requests"], 10);
    assert_eq!(doc["conns_open_at_end"], 9);
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["overloaded"], false);
    assert_eq!(doc["offered_rps"], serde_json::Value::Null);
}
