//! The JSON document's shape against schemas/loadgen.schema.json, built from
//! synthetic measurements (no server, no timing).

mod common;

use rtc_loadgen::engine::{RunData, StepData};
use rtc_loadgen::parse_args;
use rtc_loadgen::record::{ErrorKind, Recorder};
use rtc_loadgen::report::{self, Report};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn recorder(n: u64, lat_ns: u64) -> Recorder {
    let mut r = Recorder::new();
    for i in 0..n {
        let t = i * 1_000_000;
        r.record(t, t, t + 500, t + lat_ns, 0);
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
    assert_eq!(doc["achieved_rps"], 1000.0);
    assert_eq!(doc["valid"], true);
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
    assert_eq!(doc["steps"][0]["valid"], true);
    assert_eq!(doc["steps"][1]["valid"], false);
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["steps"][1]["classes"]["heavy"]["errors"]["timeout"], 3);
    assert_eq!(doc["steps"][1]["errors"]["total"], 4);
    let reasons: Vec<String> = serde_json::from_value(doc["invalid_reasons"].clone()).unwrap();
    assert!(
        reasons.iter().any(|r| r.starts_with("step 2")),
        "{reasons:?}"
    );
    assert_eq!(doc["classes"]["heavy"]["spec"]["io"], "file");
    assert_eq!(doc["classes"]["heavy"]["offered_rps"], 150.0);
    assert_eq!(doc["rate_steps_rps"], serde_json::json!([1000.0, 2000.0]));
    // Human summary names both steps and the verdict.
    let text = report::summary(&rep);
    assert!(
        text.contains("step 2 at 2000 req/s") && text.contains("INVALID"),
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
    // One second: the untagged total plus one per class.
    assert_eq!(hists, 3);
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
