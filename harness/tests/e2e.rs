//! End-to-end: the built `bin/harness` with the real servers and load
//! generator (`make test` builds them first; set RTC_BIN_DIR to use others).
//! Tiny profiles, a few seconds each; no timing assertions.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rtc-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `text` as profile `name` in a fresh scratch folder and asserts the
/// harness exited 0; returns the scratch folder, the run's directory and
/// the harness's output.
fn run_ok(name: &str, text: &str) -> (PathBuf, PathBuf, std::process::Output) {
    let dir = scratch(name);
    let profile = dir.join(format!("{name}.toml"));
    std::fs::write(&profile, text).unwrap();
    let out = dir.join("run");
    let res = harness(&dir, &profile, &out).output().unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "harness failed: {stderr}");
    (dir, out, res)
}

fn harness(dir: &Path, profile: &Path, out: &Path) -> Command {
    harness_at(&root(), dir, profile, out)
}

fn harness_at(root: &Path, dir: &Path, profile: &Path, out: &Path) -> Command {
    let mut c = Command::new(bin_dir().join("harness"));
    c.args(["--root"])
        .arg(root)
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--results-dir")
        .arg(dir.join("results"))
        .args(["run", "--profile"])
        .arg(profile)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null());
    c
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// Pids of live processes whose environment carries the harness's run marker.
fn marked_processes(marker: &Path) -> Vec<i32> {
    let needle = format!("RTC_HARNESS_RUN={}", marker.display());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(e.path().join("stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(false);
        if !zombie && env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

const SMOKE: &str = r#"
name = "smoke"
description = "end-to-end test"
[defaults]
repeats = 2
warmup_s = 0.2
duration_s = 0.6
pause_s = 0.0
data_file_bytes = 1048576

[[scenario]]
id = "cap"
title = "echo capacity"
claims = ["C1"]
workload = "echo"
variants = ["go", "rust"]
[[scenario.client]]
model = "closed"
conns = 4
size_bytes = 64

[[scenario]]
id = "mix"
title = "light and heavy at a fraction of capacity"
claims = ["C3"]
workload = "work"
variants = ["go", "rust"]
repeats = 1
[[scenario.client]]
model = "open"
conns = 4
rate_fractions = [0.01]
of_capacity = "cap"
mix = "light:weight=3,size=64;heavy:weight=1,size=64,cpu_ms=1"
"#;

#[test]
fn smoke_run_writes_a_complete_results_directory() {
    let (dir, out, res) = run_ok("smoke", SMOKE);
    assert_eq!(
        String::from_utf8_lossy(&res.stdout).trim(),
        out.display().to_string()
    );

    let meta = json(&out.join("meta.json"));
    assert_eq!(meta["schema_version"], 2);
    assert_eq!(meta["profile"], "smoke");
    assert_eq!(meta["planned_trials"], 6);
    assert!(
        meta["ended_at"].is_string() && meta["cpu_model"].is_string()
            || meta["cpu_model"].is_null()
    );
    assert!(meta["sha_rounds_per_ms"].as_f64().unwrap() > 0.0);
    // Each server's own hashing speed, measured through the server.
    for lang in ["go", "rust"] {
        assert!(
            meta["sha_rounds_per_ms_by_language"][lang]
                .as_f64()
                .unwrap()
                > 0.0,
            "{lang}: {}",
            meta["sha_rounds_per_ms_by_language"]
        );
    }
    assert!(out.join("profile.toml").exists());

    let trials: Vec<PathBuf> = std::fs::read_dir(out.join("trials"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(trials.len(), 6, "{trials:?}");
    for t in &trials {
        let v = json(t);
        assert_eq!(v["schema_version"], 2);
        // A loaded machine can make a server fall behind: that is its
        // outcome (with reasons), never a failed trial.
        let so = &v["server_outcome"];
        assert!(
            so["ok"] == true || !so["reasons"].as_array().unwrap().is_empty(),
            "{}: {so}",
            t.display()
        );
        assert!(
            ["ok", "invalid"].contains(&v["status"].as_str().unwrap()),
            "{}: {:?}",
            t.display(),
            v["problems"]
        );
        let cfg = &v["server"]["config"];
        assert!(
            cfg["server"] == "go" || cfg["server"] == "rust",
            "config line missing in {}",
            t.display()
        );
        assert_eq!(cfg["workers"], v["server"]["workers"]);
        assert!(v["server"]["cpus_allowed_list"].is_string());
        assert_eq!(v["server"]["alive_after_load"], true);
        assert_eq!(v["server"]["exit_code"], 0, "server exit after SIGTERM");
        assert!(v["server_samples"].as_array().unwrap().len() >= 3);
        let client = &v["clients"][0];
        assert!(client["document"]["requests"].as_f64().unwrap() > 0.0);
        let hlog = out.join(client["hlog"].as_str().unwrap());
        assert!(std::fs::metadata(&hlog).unwrap().len() > 0);
        assert!(
            v["metrics"]["main.latency_us.corrected.p99"]
                .as_f64()
                .unwrap()
                > 0.0
        );
        assert!(v["metrics"]["server.cpu_us_per_request"].as_f64().is_some());
        // The server's runtime telemetry: stored beside the trial, every
        // line valid, and read into runtime.* metrics of its own runtime.
        let tel = &v["telemetry"];
        let go = v["language"] == "go";
        assert_eq!(tel["runtime"], if go { "go" } else { "tokio" }, "{tel}");
        assert_eq!(tel["problems"], serde_json::json!([]), "{}", t.display());
        assert!(tel["samples"].as_u64().unwrap() >= 3, "{tel}");
        let file = out.join(tel["file"].as_str().unwrap());
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert_eq!(lines as u64, tel["samples"].as_u64().unwrap());
        let m = &v["metrics"];
        assert!(
            m["runtime.span_ms"].as_f64().unwrap() > 0.0,
            "{}",
            t.display()
        );
        if go {
            assert!(m["runtime.gc_cycles"].as_f64().unwrap() >= 0.0);
            assert!(m["runtime.sched_latency_events"].as_f64().is_some());
        } else {
            let busy = m["runtime.worker_busy_fraction"].as_f64().unwrap();
            assert!(busy > 0.0, "{}: {busy}", t.display());
            assert!(m["runtime.forced_yields"].is_null(), "the stable build");
        }
    }
    // The server and the load generator ran on disjoint CPUs.
    let t0 = json(&trials[0]);
    let (s, c) = (
        t0["server"]["cpus_allowed_list"].as_str().unwrap(),
        t0["clients"][0]["cpus_allowed_list"].as_str().unwrap(),
    );
    let cpus = |x: &str| rtc_common::affinity::parse_cpu_list(x).unwrap();
    if rtc_common::affinity::allowed_cpus().unwrap().len() >= 2 {
        assert!(
            cpus(s).iter().all(|x| !cpus(c).contains(x)),
            "server {s} and client {c} overlap"
        );
    }

    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["trials"]["failed"], 0);
    let cap = &summary["scenarios"][0];
    assert_eq!(cap["id"], "cap");
    for v in ["go", "rust"] {
        let e = &cap["metrics"]["main.achieved_rps"][v];
        if e.is_null() {
            continue; // both repeats invalid: reported in counts instead
        }
        let (lo, med, hi) = (
            e["lo"].as_f64().unwrap(),
            e["median"].as_f64().unwrap(),
            e["hi"].as_f64().unwrap(),
        );
        assert!(lo <= med && med <= hi && lo > 0.0, "{e}");
        assert!(cap["capacity_rps"][v].as_f64().unwrap() > 0.0);
    }
    // The open-loop scenario ran at a rate derived from the lower capacity.
    let mix_trial = trials
        .iter()
        .map(|t| json(t))
        .find(|v| v["scenario"] == "mix")
        .unwrap();
    let offered = mix_trial["clients"][0]["document"]["offered_rps"]
        .as_f64()
        .unwrap();
    let lowest = ["go", "rust"]
        .iter()
        .filter_map(|v| cap["capacity_rps"][v].as_f64())
        .fold(f64::INFINITY, f64::min);
    assert!(
        (offered - (0.01 * lowest).round().max(1.0)).abs() <= 1.0,
        "offered {offered}, lowest capacity {lowest}"
    );
    // Go/Rust ratios: a ratio, its interval around it, a p-value.
    let mut checked = 0;
    for sc in summary["scenarios"].as_array().unwrap() {
        for (metric, pairs) in sc["ratios"].as_object().unwrap() {
            for pr in pairs.as_array().unwrap() {
                let (r, lo, hi, p) = (
                    pr["point"].as_f64().unwrap(),
                    pr["lo"].as_f64().unwrap(),
                    pr["hi"].as_f64().unwrap(),
                    pr["p_value"].as_f64().unwrap(),
                );
                assert!(lo <= r && r <= hi, "{}: {metric}: {pr}", sc["id"]);
                assert!((0.0..=1.0).contains(&p), "{}: {metric}: {pr}", sc["id"]);
                checked += 1;
            }
        }
    }
    let rps = &cap["metrics"]["main.achieved_rps"];
    if rps["go"].is_object() && rps["rust"].is_object() {
        let pairs = cap["ratios"]["main.achieved_rps"].as_array().unwrap();
        let pr = pairs
            .iter()
            .find(|p| p["a"] == "go" && p["b"] == "rust")
            .unwrap_or_else(|| panic!("no go/rust ratio: {pairs:?}"));
        assert!(pr["point"].as_f64().unwrap() > 0.0, "{pr}");
        assert!(pr["p_value"].is_number(), "{pr}");
    }
    assert!(checked > 0, "no ratio in the summary at all");
    // Every file the run wrote follows its schema (schemas/*.json), and so
    // does every load generator document inside the trial files.
    let mut errs = rtc_harness::schema_check::check_run(&out);
    errs.extend(rtc_harness::schema_check::check_documents(&out));
    assert!(errs.is_empty(), "schema violations: {errs:#?}");
    assert!(marked_processes(&out).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The failed-trial count of the harness's final line
/// ("harness: N trials: A ok, B invalid, C failed -> DIR").
fn failed_count(stderr: &str) -> Option<u64> {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("harness: ") && l.contains(" trials: "))?;
    let before = line.split(" failed").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

const LONG: &str = r#"
name = "long"
description = "trials long enough to disturb"
[defaults]
repeats = 3
warmup_s = 0.2
duration_s = 3.0
pause_s = 0.0
data_file_bytes = 1048576

[[scenario]]
id = "steady"
title = "steady echo"
claims = ["C1"]
workload = "echo"
variants = ["rust", "go"]
[[scenario.client]]
model = "open"
conns = 4
size_bytes = 64
rate = 200.0
timeout_s = 1.0
"#;

fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn a_server_killed_mid_trial_is_a_server_outcome_and_the_run_goes_on() {
    let dir = scratch("kill");
    let profile = dir.join("long.toml");
    std::fs::write(&profile, LONG.replace("repeats = 3", "repeats = 1")).unwrap();
    let out = dir.join("run");
    let child = harness(&dir, &profile, &out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first trial's server is rust-server; kill it once the load is on.
    let server = wait_for(Duration::from_secs(20), || {
        let pids = marked_processes(&out);
        let loadgen_up = pids.iter().any(|p| comm(*p) == "loadgen");
        pids.into_iter()
            .find(|p| comm(*p) == "rust-server" && loadgen_up)
    })
    .expect("rust-server with load never appeared");
    std::thread::sleep(Duration::from_millis(800));
    // SAFETY: SIGKILL to a server this test's harness started.
    unsafe { libc::kill(server, libc::SIGKILL) };
    let res = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    // A server that dies under load is a result the claims read (its
    // outcome), not a trial the harness failed to run.
    assert_eq!(res.status.code(), Some(0), "{stderr}");
    assert_eq!(failed_count(&stderr), Some(0), "{stderr}");
    let failed = json(&out.join("trials/steady--rust--r1.json"));
    assert_ne!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["server_outcome"]["crashed"], true);
    assert_eq!(failed["server_outcome"]["ok"], false);
    let problems = failed["problems"].to_string();
    assert!(
        problems.contains("server exited during the trial"),
        "{problems}"
    );
    assert!(problems.contains("signal 9"), "{problems}");
    // The server's stderr tail is kept: at least its configuration line.
    let tail = failed["server"]["stderr_tail"].as_array().unwrap();
    assert!(
        tail.iter().any(|l| l
            .as_str()
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .is_some_and(|v| v["server"] == "rust")),
        "stderr tail without the config line: {tail:?}"
    );
    // The other variant still ran (valid or not: a busy machine may make its
    // load generator fall behind, which it reports as invalid).
    let go = json(&out.join("trials/steady--go--r1.json"));
    assert!(go["status"] == "ok" || go["status"] == "invalid", "{go}");
    assert_eq!(go["server"]["alive_after_load"], true);
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["trials"]["failed"], 0);
    let errs = rtc_harness::schema_check::check_run(&out);
    assert!(errs.is_empty(), "schema violations: {errs:#?}");
    assert!(marked_processes(&out).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A repository root of its own whose variants include one whose server
/// cannot start (an unknown flag), sharing the real protocol vectors.
fn root_with_broken_variant(dir: &Path) -> PathBuf {
    let r = dir.join("root");
    std::fs::create_dir_all(r.join("harness")).unwrap();
    std::fs::create_dir_all(r.join("testdata/protocol")).unwrap();
    let mut variants = std::fs::read_to_string(root().join("harness/variants.toml")).unwrap();
    variants += "\n[go-broken]\nlanguage = \"go\"\nserver = \"go-server\"\nargs = [\"--no-such-flag\"]\ndescription = \"exits at start\"\n";
    std::fs::write(r.join("harness/variants.toml"), variants).unwrap();
    std::os::unix::fs::symlink(
        root().join("harness/claims.toml"),
        r.join("harness/claims.toml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        root().join("testdata/protocol/vectors.json"),
        r.join("testdata/protocol/vectors.json"),
    )
    .unwrap();
    r
}

#[test]
fn a_server_that_cannot_start_is_a_failed_trial_with_its_stderr() {
    let dir = scratch("nostart");
    let r = root_with_broken_variant(&dir);
    let profile = dir.join("broken.toml");
    std::fs::write(
        &profile,
        r#"
name = "broken"
description = "a server that exits at start"
[defaults]
repeats = 1
warmup_s = 0.1
duration_s = 0.2
pause_s = 0.0
data_file_bytes = 1048576
[[scenario]]
id = "nostart"
title = "nostart"
claims = ["C1"]
workload = "echo"
variants = ["go-broken"]
[[scenario.client]]
model = "closed"
conns = 1
size_bytes = 64
"#,
    )
    .unwrap();
    let out = dir.join("run");
    let res = harness_at(&r, &dir, &profile, &out).output().unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{stderr}");
    assert_eq!(failed_count(&stderr), Some(1), "{stderr}");
    let t = json(&out.join("trials/nostart--go-broken--r1.json"));
    assert_eq!(t["status"], "failed");
    assert!(
        t["problems"].to_string().contains("server did not start"),
        "{}",
        t["problems"]
    );
    let tail = t["server"]["stderr_tail"].to_string();
    assert!(
        tail.contains("flag provided but not defined"),
        "stderr tail: {tail}"
    );
    let errs = rtc_harness::schema_check::check_run(&out);
    assert!(errs.is_empty(), "schema violations: {errs:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ctrl_c_ends_every_child_keeps_what_finished_and_exits_130() {
    interrupted_mid_trial(libc::SIGINT, "int");
}

#[test]
fn sigterm_ends_every_child_keeps_what_finished_and_exits_130() {
    interrupted_mid_trial(libc::SIGTERM, "term");
}

/// Sends `sig` to the harness during its second trial, with a server and a
/// load generator running.
fn interrupted_mid_trial(sig: i32, name: &str) {
    let dir = scratch(name);
    let profile = dir.join("long.toml");
    std::fs::write(&profile, LONG).unwrap();
    let out = dir.join("run");
    let mut child = harness(&dir, &profile, &out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The trial order is drawn from a seed: wait for whichever finishes first.
    let trial_files = || finished_trials(&out);
    wait_for(Duration::from_secs(30), || {
        (trial_files() > 0).then_some(())
    })
    .expect("first trial never finished");
    let running = wait_for(Duration::from_secs(10), || {
        let p = marked_processes(&out);
        (p.iter().any(|x| comm(*x).ends_with("-server")) && p.iter().any(|x| comm(*x) == "loadgen"))
            .then_some(p)
    })
    .expect("second trial never started its children");
    assert!(running.len() >= 2);
    // SAFETY: a signal to the harness this test started.
    unsafe { libc::kill(child.id() as i32, sig) };
    let start = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "signal {sig}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "harness took {:?} to stop",
        start.elapsed()
    );
    let left = marked_processes(&out);
    assert!(
        left.is_empty(),
        "children left behind: {:?}",
        left.iter().map(|p| (p, comm(*p))).collect::<Vec<_>>()
    );
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["complete"], false);
    // Exactly the trials that finished (and were written) are counted.
    let finished = trial_files() as u64;
    assert!(finished >= 1);
    assert_eq!(
        summary["trials"]["ok"].as_u64().unwrap() + summary["trials"]["invalid"].as_u64().unwrap(),
        finished
    );
    assert!(json(&out.join("meta.json"))["interrupted"] == true);
    // Every file is whole JSON; no temp files are left.
    for e in walk(&out) {
        let name = e.file_name().unwrap().to_string_lossy().to_string();
        assert!(!name.contains(".tmp-"), "temp file left: {}", e.display());
        if name.ends_with(".json") {
            json(&e);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Trial files written whole (a file being written is a hidden temporary).
fn finished_trials(out: &Path) -> usize {
    std::fs::read_dir(out.join("trials"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().to_string();
                    n.ends_with(".json") && !n.starts_with('.')
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn an_interrupt_in_the_pause_keeps_the_trial_that_finished() {
    let dir = scratch("pause");
    let profile = dir.join("pause.toml");
    std::fs::write(
        &profile,
        LONG.replace("duration_s = 3.0", "duration_s = 0.5")
            .replace("pause_s = 0.0", "pause_s = 30.0"),
    )
    .unwrap();
    let out = dir.join("run");
    let mut child = harness(&dir, &profile, &out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The order is drawn from a seed: whichever trial comes first.
    let first_done = || finished_trials(&out) > 0;
    wait_for(Duration::from_secs(30), || first_done().then_some(()))
        .expect("first trial never finished");
    // Now in the 30 s pause after it.
    // SAFETY: SIGINT to the harness this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let start = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the pause was not cut short: {:?}",
        start.elapsed()
    );
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["interrupted"], true);
    let t = &summary["trials"];
    assert_eq!(
        t["ok"].as_u64().unwrap() + t["invalid"].as_u64().unwrap(),
        1,
        "the finished trial is missing from the summary: {t}"
    );
    // Exactly one trial file, and it is the one counted.
    assert_eq!(finished_trials(&out), 1);
    let done = ["rust", "go"]
        .into_iter()
        .find(|v| out.join(format!("trials/steady--{v}--r1.json")).exists())
        .expect("the finished trial's file");
    let counts = &summary["scenarios"][0]["counts"][done];
    assert_eq!(
        counts["ok"].as_u64().unwrap() + counts["invalid"].as_u64().unwrap(),
        1,
        "{counts}"
    );
    let errs = rtc_harness::schema_check::check_run(&out);
    assert!(errs.is_empty(), "schema violations: {errs:#?}");
    assert!(marked_processes(&out).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn bad_profiles_and_flags_are_one_line_errors() {
    let dir = scratch("bad");
    let profile = dir.join("bad.toml");
    std::fs::write(
        &profile,
        SMOKE.replace("size_bytes = 64", "size_bytes = 64\ncolour = \"red\""),
    )
    .unwrap();
    let res = harness(&dir, &profile, &dir.join("run")).output().unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("bad.toml")
            && stderr.contains("scenario 'cap'")
            && stderr.contains("colour"),
        "{stderr}"
    );
    assert!(
        !dir.join("run").exists(),
        "nothing may start before the profile is valid"
    );

    let res = Command::new(bin_dir().join("harness"))
        .args(["run", "--bogus"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------ the census

/// A closed-loop echo with one request in flight per connection: every
/// request is exactly one read that returns data and one write on the
/// server, so the syscall census must count about that many read- and
/// write-family calls. Where perf cannot count syscall tracepoints the
/// test skips in one line, after checking the report says so in one.
const CENSUS: &str = r#"
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

#[test]
fn census_counts_one_read_and_one_write_per_echo_request() {
    let (dir, out, res) = run_ok("census", CENSUS);
    let stderr = String::from_utf8_lossy(&res.stderr);
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
    let left = marked_processes(&out);
    assert!(
        left.is_empty(),
        "outlived the run: {:?}",
        left.iter().map(|p| comm(*p)).collect::<Vec<_>>()
    );
    assert!(out.join("plots/census-echo-census.svg").exists());
    assert!(md.contains("plots/census-echo-census.png"));
    std::fs::remove_dir_all(&dir).unwrap();
}
