//! Microbenchmark trials: one `go-micro` or `rust-micro` process, pinned to
//! the server's CPUs (the runtime under test), sampled like a server, its
//! JSON turned into metrics named `<case>.<variant>.<metric>` (the median of
//! the process's own timed repeats; processes are the repeats the
//! statistics see, as trials are for the network scenarios).

use crate::run::plan::PlannedMicro;
use crate::run::results;
use crate::run::sampler::Sampler;
use crate::run::signals::{self, Interrupted};
use crate::run::trial::{self, ServerRecord, Status, TrialRecord};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

/// `<case>.<variant>.<metric>` -> median of the per-repeat values.
pub fn metrics_of(doc: &Value) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    // A case the program could not run here (e.g. `lifo_off` without
    // tokio_unstable) says why in `skipped` and has no numbers to summarize.
    let cases = doc
        .get("cases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for case in cases.filter(|c| c.get("skipped").is_none_or(Value::is_null)) {
        let name = case.get("case").and_then(Value::as_str).unwrap_or("case");
        let variant = case
            .get("variant")
            .and_then(Value::as_str)
            .unwrap_or("default");
        for (metric, vals) in case
            .get("metrics")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let xs: Vec<f64> = match vals {
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_f64)
                    .filter(|x| x.is_finite())
                    .collect(),
                Value::Number(n) => n.as_f64().into_iter().collect(),
                _ => Vec::new(),
            };
            if !xs.is_empty() {
                out.insert(
                    format!("{name}.{variant}.{metric}"),
                    crate::analyse::stats::median(&xs),
                );
            }
        }
    }
    out
}

pub fn run(ctx: &trial::Context, planned: &PlannedMicro) -> Result<TrialRecord, Interrupted> {
    let m = &ctx.profile.micro[planned.micro];
    let trial_id = planned.id(ctx.profile);
    let bin = ctx.bin_dir.join(m.binary(&planned.language));
    let scratch = ctx.run.scratch();
    let _ = std::fs::create_dir_all(&scratch);
    let json = scratch.join(format!("{trial_id}.json"));
    let errf = scratch.join(format!("{trial_id}.stderr"));
    let mut args = vec![m.bench.clone()];
    args.extend(m.args.iter().cloned());
    if planned.language == "rust" {
        args.extend(m.rust_args.iter().cloned());
    }
    args.extend([
        "--repeats".into(),
        m.inner_repeats.to_string(),
        "--json".into(),
        json.to_string_lossy().into_owned(),
    ]);
    let origin = Instant::now();
    let now = SystemTime::now();
    let language = if planned.language == "go" {
        crate::config::profile::Language::Go
    } else {
        crate::config::profile::Language::Rust
    };
    let mut rec = TrialRecord {
        schema_version: results::SCHEMA_VERSION,
        trial_id: trial_id.clone(),
        scenario: m.id.clone(),
        variant: planned.language.clone(),
        language,
        repeat: planned.repeat + 1,
        claims: m.claims.clone(),
        status: Status::Ok,
        problems: Vec::new(),
        started_at: results::rfc3339(now),
        ended_at: String::new(),
        origin_unix_ms: now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(0.0),
        load_start_ms: Some(0.0),
        load_end_ms: None,
        server: ServerRecord {
            binary: m.binary(&planned.language),
            args: args.clone(),
            pid: None,
            workers: 0,
            cpus_requested: String::new(),
            cpus_allowed_list: None,
            config: None,
            threads_at_start: None,
            alive_after_load: None,
            exit_code: None,
            exit_signal: None,
            needed_sigkill: false,
            stderr_tail: Vec::new(),
            host: None,
        },
        clients: Vec::new(),
        server_samples: Vec::new(),
        metrics: BTreeMap::new(),
        measurement: Default::default(),
        server_outcome: Default::default(),
        steal_fraction: None,
        telemetry: None,
        micro_document: None,
    };
    if m.bench == "c12" {
        return c12(ctx, m, rec);
    }
    // Nothing else runs during a microbenchmark: it gets every allowed CPU
    // (so "two workers" really have two).
    rec.server.cpus_requested = rtc_common::affinity::format_cpu_list(ctx.all_cpus);
    let mut child = match trial::spawn_client(&bin, &args, ctx.all_cpus, 0, &ctx.run.root, &errf) {
        Ok(c) => c,
        Err(e) => {
            rec.status = Status::Failed;
            rec.problems
                .push(format!("cannot start {}: {e}", bin.display()));
            return finish(ctx, rec);
        }
    };
    rec.server.pid = Some(child.id());
    rec.server.cpus_allowed_list = trial::cpus_allowed_list(child.id());
    let sampler = Sampler::start(child.id(), origin, trial::SAMPLE_PERIOD);
    let deadline = Instant::now() + Duration::from_secs_f64(m.timeout_s);
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        if signals::interrupted() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Interrupted);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Ctrl-C reaches the whole foreground process group: a process that
    // ended meanwhile may have ended of it, so this is not a finished trial.
    if signals::interrupted() {
        drop(sampler);
        let _ = std::fs::remove_file(&errf);
        let _ = std::fs::remove_file(&json);
        return Err(Interrupted);
    }
    rec.load_end_ms = Some(origin.elapsed().as_secs_f64() * 1e3);
    rec.server_samples = sampler.stop();
    rec.server.stderr_tail = std::fs::read_to_string(&errf)
        .map(|t| {
            t.lines()
                .rev()
                .take(10)
                .map(String::from)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect()
        })
        .unwrap_or_default();
    let _ = std::fs::remove_file(&errf);
    match status {
        None => {
            rec.status = Status::Failed;
            rec.problems.push(format!(
                "{} {} did not finish within {} s: killed",
                rec.server.binary, m.bench, m.timeout_s
            ));
        }
        Some(st) if !st.success() => {
            rec.server.exit_code = st.code();
            rec.status = Status::Failed;
            rec.problems.push(format!(
                "{} exited with {st}: {}",
                rec.server.binary,
                rec.server.stderr_tail.join(" | ")
            ));
        }
        Some(st) => {
            rec.server.exit_code = st.code();
            match std::fs::read(&json)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            {
                Some(doc) => {
                    rec.server.workers = doc
                        .pointer("/env/workers")
                        .and_then(Value::as_u64)
                        .unwrap_or(0) as usize;
                    rec.server.config = doc.get("env").cloned();
                    rec.metrics = metrics_of(&doc);
                    rec.micro_document = Some(doc);
                }
                None => {
                    rec.status = Status::Failed;
                    rec.problems
                        .push(format!("{} wrote no readable JSON", rec.server.binary));
                }
            }
        }
    }
    let _ = std::fs::remove_file(&json);
    finish(ctx, rec)
}

/// The program the C12 compile check runs: `$CARGO` (set when cargo runs
/// the harness) or `cargo` on the PATH.
pub fn cargo_program() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// How a bounded child ended.
#[derive(Debug)]
pub enum Bounded {
    Exited(std::process::ExitStatus),
    TimedOut,
    Interrupted,
}

/// Runs `cmd` as the leader of a process group of its own, with
/// PR_SET_PDEATHSIG (like every server and load generator), for at most
/// `timeout`. On the timeout or an interrupt the whole group is SIGKILLed
/// before the leader is reaped (so its id cannot have been reused): cargo
/// and every rustc it started end together. The group also keeps a
/// terminal's Ctrl-C from reaching them: the harness ends them itself.
/// (If the harness is killed outright, PDEATHSIG ends cargo; a rustc already
/// running finishes its one crate and exits.)
pub fn run_bounded(mut cmd: std::process::Command, timeout: Duration) -> std::io::Result<Bounded> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Bounded::Exited(st));
        }
        let interrupted = signals::interrupted();
        if interrupted || Instant::now() > deadline {
            // SAFETY: the group is led by our child, not yet reaped.
            unsafe {
                libc::killpg(child.id() as libc::pid_t, libc::SIGKILL);
            }
            let _ = child.wait();
            return Ok(if interrupted {
                Bounded::Interrupted
            } else {
                Bounded::TimedOut
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cargo ARGS` in the repository, bounded and interruptible: (success, stdout, stderr).
fn cargo(
    ctx: &trial::Context,
    args: &[&str],
    timeout_s: f64,
) -> Result<Result<(bool, String, String), String>, Interrupted> {
    let scratch = ctx.run.scratch();
    let _ = std::fs::create_dir_all(&scratch);
    let (out_path, err_path) = (scratch.join("c12.stdout"), scratch.join("c12.stderr"));
    let files =
        std::fs::File::create(&out_path).and_then(|o| Ok((o, std::fs::File::create(&err_path)?)));
    let (out, err) = match files {
        Ok(f) => f,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mut cmd = std::process::Command::new(cargo_program());
    cmd.args(args)
        .current_dir(ctx.root)
        .env(trial::RUN_MARKER_ENV, &ctx.run.root)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err);
    let status = match run_bounded(cmd, Duration::from_secs_f64(timeout_s)) {
        Ok(Bounded::Exited(st)) => st,
        Ok(Bounded::Interrupted) => return Err(Interrupted),
        Ok(Bounded::TimedOut) => {
            return Ok(Err(format!(
                "cargo {} did not finish within {timeout_s} s",
                args.join(" ")
            )));
        }
        Err(e) => {
            return Ok(Err(format!(
                "cannot run cargo ({e}): the C12 compile check needs the Rust toolchain"
            )));
        }
    };
    if signals::interrupted() {
        return Err(Interrupted);
    }
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    Ok(Ok((status.success(), read(&out_path), read(&err_path))))
}

/// C12, measured: build the probe that hands an `Rc`-holding future to
/// `tokio::spawn` (does it compile?) and run the same future on a LocalSet
/// (does it run and return 42?).
fn c12(
    ctx: &trial::Context,
    m: &crate::config::profile::MicroSpec,
    mut rec: TrialRecord,
) -> Result<TrialRecord, Interrupted> {
    let common = [
        "--release",
        "--locked",
        "-p",
        "rtc-micro",
        "--features",
        "c12-probe",
        "--example",
    ];
    let build: Vec<&str> = ["build"]
        .into_iter()
        .chain(common)
        .chain(["c12_spawn_rc"])
        .collect();
    let run: Vec<&str> = ["run", "-q"]
        .into_iter()
        .chain(common)
        .chain(["c12_local_set"])
        .collect();
    rec.server.binary = "cargo".into();
    rec.server.args = build.iter().map(|s| s.to_string()).collect();
    let spawn = cargo(ctx, &build, m.timeout_s)?;
    let local = cargo(ctx, &run, m.timeout_s)?;
    match (spawn, local) {
        (Ok((compiles, _, err)), Ok((ran, out, run_err))) => {
            let error = err
                .lines()
                .find(|l| l.starts_with("error["))
                .unwrap_or("")
                .to_string();
            // A build that fails for another reason (not E0277) proves nothing.
            if !compiles && !error.contains("E0277") {
                rec.status = Status::Failed;
                rec.problems.push(format!(
                    "the spawn probe failed to build for another reason: {}",
                    err.lines().last().unwrap_or("")
                ));
            }
            let runs = ran && out.trim() == "42";
            rec.metrics.insert(
                "c12.spawn.spawn_non_send_compiles".into(),
                if compiles { 1.0 } else { 0.0 },
            );
            rec.metrics.insert(
                "c12.local_set.local_set_runs_non_send".into(),
                if runs { 1.0 } else { 0.0 },
            );
            rec.micro_document = Some(serde_json::json!({
                "schema_version": 1,
                "bench": "c12",
                "spawn_rc": {"source": "rust/micro/c12/spawn_rc.rs", "compiles": compiles, "compiler_error": error},
                "local_set": {"source": "rust/micro/c12/local_set.rs", "compiles": ran || !run_err.contains("could not compile"), "runs": runs, "output": out.trim(), "stderr_tail": run_err.lines().last().unwrap_or("")},
            }));
        }
        (Err(e), _) | (_, Err(e)) => {
            rec.status = Status::Failed;
            rec.problems.push(e);
        }
    }
    rec.load_end_ms = Some(0.0);
    finish(ctx, rec)
}

fn finish(ctx: &trial::Context, mut rec: TrialRecord) -> Result<TrialRecord, Interrupted> {
    rec.ended_at = results::rfc3339(SystemTime::now());
    // A microbenchmark measures itself: its run is valid when it finished.
    rec.measurement.valid = rec.status == Status::Ok;
    if let Err(e) = results::write_json(&ctx.run.trial(&rec.trial_id), &rec) {
        rec.status = Status::Failed;
        rec.problems.push(e.to_string());
    }
    // The trial is on disk: an interrupt from here on only cuts the pause
    // (the caller sees it in `signals::interrupted()`).
    signals::sleep(Duration::from_secs_f64(ctx.profile.defaults.pause_s));
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gone_or_zombie(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(s) => s
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z')),
        }
    }

    #[test]
    fn a_timed_out_child_takes_its_whole_process_group_along() {
        let dir = std::env::temp_dir().join(format!("rtc-micro-group-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("grandchild.pid");
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("sleep 30 & echo $! > {}; wait", pidfile.display()));
        let t0 = Instant::now();
        let r = run_bounded(cmd, Duration::from_millis(400)).unwrap();
        assert!(matches!(r, Bounded::TimedOut), "{r:?}");
        assert!(t0.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(3);
        while !gone_or_zombie(pid) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone_or_zombie(pid), "grandchild {pid} outlived the timeout");
        std::fs::remove_dir_all(&dir).unwrap();

        let mut ok = std::process::Command::new("sh");
        ok.args(["-c", "exit 3"]);
        match run_bounded(ok, Duration::from_secs(10)).unwrap() {
            Bounded::Exited(st) => assert_eq!(st.code(), Some(3)),
            other => panic!("{other:?}"),
        }
        assert!(
            run_bounded(
                std::process::Command::new("/no/such/program"),
                Duration::from_secs(1)
            )
            .is_err()
        );
    }

    #[test]
    fn metrics_are_medians_per_case_and_variant() {
        let doc = json!({"cases": [
            {"case": "spawn", "variant": "default", "metrics": {"ns_per_spawn": [300.0, 100.0, 200.0], "os_threads": [4]}},
            {"case": "starve", "variant": "unconstrained", "metrics": {"probe_delay_us_p99": [5.0, 7.0]}, "notes": "x"},
            {"case": "lifo_wake", "variant": "lifo_off", "metrics": {"wake_delay_us_p50": []}, "skipped": "needs tokio_unstable"}
        ]});
        let m = metrics_of(&doc);
        assert_eq!(m["spawn.default.ns_per_spawn"], 200.0);
        assert_eq!(m["spawn.default.os_threads"], 4.0);
        assert_eq!(m["starve.unconstrained.probe_delay_us_p99"], 6.0);
        assert_eq!(m.len(), 3);
        assert!(metrics_of(&json!({})).is_empty());
    }
}
