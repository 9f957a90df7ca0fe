//! Every subcommand with tiny parameters, in process (spawn and
//! blocking-burst run their per-repeat children from the built binary): the
//! document matches schemas/micro.schema.json and has every repeat. No
//! timing assertions.

mod common;

use clap::Parser;
use common::{check_doc, metric};
use rtc_micro::{Error, Opts, run};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_rust-micro");

fn run_args(args: &[&str]) -> Result<Value, Error> {
    let opts = Opts::try_parse_from(std::iter::once("rust-micro").chain(args.iter().copied()))
        .expect("valid flags");
    let doc = run(&opts, Path::new(EXE))?.expect("a document");
    Ok(serde_json::to_value(doc).unwrap())
}

#[test]
fn validator_catches_violations() {
    let schema = common::load_schema();
    let bad = serde_json::json!({"schema_version": 2, "tool": "x", "cases": []});
    let errs = common::validate(&schema, &bad);
    assert!(
        errs.iter().any(|e| e.contains("schema_version")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("missing \"env\"")),
        "{errs:?}"
    );
    assert!(errs.iter().any(|e| e.contains("fewer than 1")), "{errs:?}");
    let bad_metric = serde_json::json!({"metrics": {"latency": [1.0]}});
    let errs = common::validate_def(&schema, "case", &bad_metric);
    assert!(!errs.is_empty());
}

#[test]
fn spawn_document() {
    let doc = run_args(&["spawn", "--n", "2000", "--repeats", "2", "--warmup", "0"]).unwrap();
    check_doc(&doc, "spawn", 2);
    for k in ["ns_per_spawn", "ns_per_completion", "os_threads"] {
        assert!(
            metric(&doc, "spawn", "default", k).iter().all(|&x| x > 0.0),
            "{k}"
        );
    }
    assert_eq!(doc["env"]["max_blocking_threads"], 512);
}

#[test]
fn pingpong_document_has_every_via_on_one_and_two_workers() {
    let doc = run_args(&["pingpong", "--n", "500", "--repeats", "2", "--warmup", "1"]).unwrap();
    check_doc(&doc, "pingpong", 2);
    assert_eq!(doc["cases"].as_array().unwrap().len(), 8);
    for case in ["pingpong_1_worker", "pingpong_2_workers"] {
        for via in ["chan", "oneshot", "mpsc", "notify"] {
            let v = metric(&doc, case, via, "ns_per_round_trip");
            assert!(v.iter().all(|&x| x > 0.0));
        }
    }
}

#[test]
fn channels_document() {
    let doc = run_args(&[
        "channels",
        "--messages",
        "1000",
        "--capacity",
        "16",
        "--repeats",
        "2",
        "--warmup",
        "0",
    ])
    .unwrap();
    check_doc(&doc, "channels", 2);
    for (case, variant) in [
        ("one_to_one", "default"),
        ("one_to_one", "unbounded"),
        ("many_to_one", "default"),
        ("many_to_one", "unbounded"),
        ("fan_out", "default"),
        ("latest_value", "default"),
        ("oneshot", "default"),
    ] {
        assert!(
            metric(&doc, case, variant, "msgs_per_sec")
                .iter()
                .all(|&x| x > 0.0)
        );
    }
    // The producer waits for room in the ring, so no receiver lags.
    assert_eq!(
        metric(&doc, "fan_out", "default", "lagged_msgs"),
        vec![0.0, 0.0]
    );
    assert!(
        metric(&doc, "latest_value", "default", "updates_seen_count")
            .iter()
            .all(|&x| x >= 1.0)
    );
}

#[test]
fn starve_document() {
    let doc = run_args(&[
        "starve",
        "--duration-ms",
        "20",
        "--repeats",
        "2",
        "--warmup",
        "0",
    ])
    .unwrap();
    check_doc(&doc, "starve", 2);
    for v in ["idle", "default", "unconstrained", "cpu_loop"] {
        assert_eq!(
            metric(&doc, "starve", v, "probe_ticks_count"),
            vec![20.0, 20.0],
            "{v}"
        );
    }
    // A 20 ms CPU loop on the only worker: the probe's worst delay shows most of it.
    assert!(
        metric(&doc, "starve", "cpu_loop", "probe_delay_max_us")
            .iter()
            .all(|&x| x >= 10_000.0)
    );
}

#[test]
fn lifo_wake_document() {
    let doc = run_args(&[
        "lifo-wake",
        "--samples",
        "3",
        "--busy-ms",
        "2",
        "--repeats",
        "2",
        "--warmup",
        "0",
    ])
    .unwrap();
    check_doc(&doc, "lifo-wake", 2);
    assert!(
        metric(&doc, "lifo_wake", "default", "wake_delay_max_us")
            .iter()
            .all(|&x| x > 0.0)
    );
    let off = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["variant"] == "lifo_off")
        .unwrap();
    assert_eq!(off.get("skipped").is_some(), !cfg!(tokio_unstable));
}

#[test]
fn blocking_burst_timeline_rises_above_the_baseline() {
    let doc = run_args(&[
        "blocking-burst",
        "--n",
        "20",
        "--ms",
        "20",
        "--idle",
        "1",
        "--repeats",
        "1",
    ])
    .unwrap();
    check_doc(&doc, "blocking-burst", 1);
    let peak = metric(&doc, "blocking_burst", "default", "peak_os_threads")[0];
    let base = metric(&doc, "blocking_burst", "default", "baseline_os_threads")[0];
    assert!(peak > base, "peak {peak} baseline {base}");
    let timeline = doc["timeline"].as_array().unwrap();
    let max = timeline
        .iter()
        .map(|s| s["os_threads"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(max > base, "timeline never rose above {base}");
    // The idle second is covered by the timeline.
    let last = timeline.last().unwrap()["t_ms"].as_f64().unwrap();
    assert!(last >= 1000.0, "{last}");
}

#[test]
fn absurd_spawn_is_refused_before_starting_with_one_line() {
    let out = Command::new(EXE)
        .args(["spawn", "--n", "100000000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("rust-micro: spawn --n 100000000 refused"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_flags_are_one_line_and_exit_2() {
    for args in [
        vec!["spawn", "--n", "0"],
        vec!["spawn", "--n", "1000000000"],
        vec!["pingpong", "--via", "pigeon"],
        vec!["blocking-burst", "--idle", "-1"],
        vec!["starve", "--duration-ms", "1", "--period-us", "5000"],
        vec!["frobnicate"],
    ] {
        let out = Command::new(EXE).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("rust-micro: "), "{err}");
    }
}

#[test]
fn json_goes_to_the_named_file() {
    let path = std::env::temp_dir().join(format!("rust-micro-{}.json", std::process::id()));
    let out = Command::new(EXE)
        .args([
            "pingpong",
            "--n",
            "100",
            "--via",
            "notify",
            "--workers",
            "1",
            "--repeats",
            "1",
            "--json",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    check_doc(&doc, "pingpong", 1);
    assert_eq!(doc["cases"].as_array().unwrap().len(), 1);
}
