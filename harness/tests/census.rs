//! The syscall census against the real built servers (`make test` builds
//! them; RTC_BIN_DIR points elsewhere): a tiny closed-loop echo load, one
//! request in flight per connection, so every request is exactly one read
//! that returns data and one write on the server — the census must count
//! about that many read- and write-family calls. Skips, in one line, where
//! perf cannot count syscall tracepoints; then the report must say so in
//! one line. No timing assertions.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn bin_dir() -> PathBuf {
    let dir = std::env::var_os("RTC_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("bin"));
    for b in ["harness", "loadgen", "go-server", "rust-server"] {
        assert!(
            dir.join(b).exists(),
            "{} is missing: run `make build` first (or set RTC_BIN_DIR)",
            dir.join(b).display()
        );
    }
    dir
}

const PROFILE: &str = r#"
name = "census"
description = "census test"
[defaults]
repeats = 1
warmup_s = 0.1
duration_s = 0.2
pause_s = 0.0
data_file_bytes = 1048576

[[scenario]]
id = "echo-census"
title = "echo, closed loop, one request in flight per connection"
claims = ["C1"]
workload = "echo"
variants = ["go", "rust"]
census = true
[[scenario.client]]
model = "closed"
conns = 2
depth = 1
size_bytes = 64
"#;

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

#[test]
fn census_counts_one_read_and_one_write_per_echo_request() {
    let dir = std::env::temp_dir().join(format!("rtc-census-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("census.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    let out = dir.join("run");
    let res = Command::new(bin_dir().join("harness"))
        .arg("--root")
        .arg(root())
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--results-dir")
        .arg(dir.join("results"))
        .args(["run", "--profile"])
        .arg(&profile)
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "harness failed: {stderr}");
    let errs = rtc_harness::schema_check::check_run(&out);
    assert!(errs.is_empty(), "schema violations: {errs:#?}");

    let report = Command::new(bin_dir().join("harness"))
        .arg("--root")
        .arg(root())
        .arg("report")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let section = md
        .split("## Syscall census")
        .nth(1)
        .expect("the report has a census section")
        .split("\n## ")
        .next()
        .unwrap();

    for v in ["go", "rust"] {
        let rec = json(&out.join(format!("census/echo-census--{v}.json")));
        let status = rec["status"].as_str().unwrap();
        if status == "unavailable" {
            let why = rec["reason"].as_str().unwrap();
            eprintln!("skipped: perf cannot count syscalls here: {why}");
            assert!(stderr.contains("syscall census not measured"), "{stderr}");
            let lines: Vec<&str> = section.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), 1, "one line where perf is unusable: {section}");
            assert!(lines[0].contains(why), "{section}");
            return;
        }
        assert_eq!(status, "ok", "{v}: {}", rec["reason"]);
        let requests = rec["requests"].as_f64().unwrap();
        assert!(requests >= 100.0, "{v}: only {requests} requests");
        let fam = |f: &str| rec["families_per_request"][f].as_f64().unwrap_or(0.0);
        // One read with data per request (Go adds one that finds nothing,
        // tokio sometimes), at the ends a few per connection; one write.
        let (reads, writes) = (fam("read"), fam("write"));
        assert!(
            (0.95..=3.0).contains(&reads),
            "{v}: {reads} reads per request"
        );
        assert!(
            (0.95..=1.5).contains(&writes),
            "{v}: {writes} writes per request"
        );
        let total = rec["total_per_request"].as_f64().unwrap();
        assert!(total >= reads + writes, "{v}: total {total}");
        let named: f64 = rec["syscalls_per_request"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|x| x.as_f64())
            .sum();
        assert!(
            (named - total).abs() < 1e-6 * total.max(1.0),
            "{v}: {named} vs {total}"
        );
        for k in ["without_perf", "with_perf"] {
            assert!(
                rec["cpu_us_per_request"][k].as_f64().unwrap() > 0.0,
                "{v} {k}"
            );
        }
        assert!(rec["overhead_ratio"].as_f64().unwrap() > 0.0);
        assert!(rec["perf"]["command"][1] == "stat", "{}", rec["perf"]);
        assert!(
            section.contains(&format!("| echo-census | {v} |")),
            "{section}"
        );
    }
    assert!(section.contains("overhead"), "{section}");
    // perf carries the run's marker too: none outlives the run.
    let marker = format!("RTC_HARNESS_RUN={}", out.display());
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        assert!(
            !env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()),
            "{} ({}) outlived the run",
            e.path().display(),
            comm.trim()
        );
    }
    assert!(out.join("plots/census-echo-census.svg").exists());
    assert!(md.contains("plots/census-echo-census.png"));
    std::fs::remove_dir_all(&dir).unwrap();
}
