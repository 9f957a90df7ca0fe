//! Runs across hosts, on this one machine. `harness sample` sessions
//! through the local transport (any user); network namespaces as hosts
//! through `ip netns exec` (root only: skipped with a one-line reason
//! otherwise), a whole trial across them with the built binaries, and —
//! where Debian's openssh-server is installed — the same over real ssh
//! into a namespace. Every test proves that nothing it started is left.

mod netns;

use netns::Namespaces;
use rtc_harness::config::hosts::Reach;
use rtc_harness::run::hosts::events::{EndCause, Event};
use rtc_harness::run::hosts::session::{self, Session};
use rtc_harness::run::hosts::transport::Transport;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn harness_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_harness"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn transport(reach: Reach) -> Transport {
    Transport {
        host: "test".into(),
        reach,
        ssh_options: Vec::new(),
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Live `sleep ARG` processes (the tests' programs sleep for distinct,
/// odd lengths).
fn with_arg(arg: &str) -> Vec<i32> {
    let want = format!("sleep\0{arg}\0");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let zombie = std::fs::read_to_string(e.path().join("stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true);
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if !zombie && cmd == want.as_bytes() {
            out.push(pid);
        }
    }
    out
}

fn gone_within(limit: Duration, arg: &str) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if with_arg(arg).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn sample_argv(max: Duration, program: &[&str]) -> Vec<String> {
    session::sample_argv(
        &harness_bin(),
        "hosts-test",
        None,
        None,
        0,
        None,
        max,
        &strings(program),
    )
}

#[test]
fn a_session_relays_output_and_samples_and_stop_ends_the_whole_group() {
    // A child of the program too: the group goes, not just the program.
    let program = [
        "sh",
        "-c",
        "sleep 301.1 & echo LISTENING 127.0.0.1:9; echo config >&2; sleep 301.2",
    ];
    let s = Session::start(
        &transport(Reach::Local),
        &sample_argv(Duration::from_secs(60), &program),
    )
    .unwrap();
    let addr = s.wait_listening(Duration::from_secs(10)).unwrap();
    assert_eq!(addr.to_string(), "127.0.0.1:9");
    assert!(
        s.wait_for(Duration::from_secs(2), |st| (st.samples.len() >= 2)
            .then_some(()))
            .is_some()
    );
    assert!(!with_arg("301.1").is_empty() && !with_arg("301.2").is_empty());
    let st = s.finish(Duration::from_secs(10));
    let exit = st.exit.expect("an exited event");
    assert_eq!(exit.cause, EndCause::Stopped);
    assert_eq!(exit.signal, Some(libc::SIGTERM));
    assert!(!exit.needed_sigkill);
    assert!(st.done && st.pid.is_some() && st.origin_unix_ms.is_some());
    assert_eq!(st.stderr, ["config"]);
    assert!(st.bad_lines.is_empty(), "{:?}", st.bad_lines);
    assert!(
        gone_within(Duration::from_secs(2), "301.1"),
        "the program's child outlived it"
    );
    assert!(gone_within(Duration::from_secs(2), "301.2"));
}

/// Starts `harness sample -- sleep ARG` with its input on a pipe; returns
/// the child and its first event.
fn sampled_sleep(
    arg: &str,
    extra: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(harness_bin())
        .arg("sample")
        .args(extra)
        .args(["--", "sleep", arg])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(
        matches!(Event::parse(line.trim()), Ok(Event::Started { .. })),
        "{line}"
    );
    (child, out)
}

fn exit_cause(out: BufReader<std::process::ChildStdout>) -> Option<EndCause> {
    out.lines()
        .map_while(Result::ok)
        .find_map(|l| match Event::parse(&l) {
            Ok(Event::Exited { cause, .. }) => Some(cause),
            _ => None,
        })
}

#[test]
fn the_program_ends_when_its_session_closes_or_its_guard_is_killed() {
    // The session closes (ssh died, the harness was killed): input ends.
    let (mut child, out) = sampled_sleep("302.5", &[]);
    assert_eq!(with_arg("302.5").len(), 1);
    drop(child.stdin.take());
    assert_eq!(exit_cause(out), Some(EndCause::ControllerGone));
    assert!(child.wait().unwrap().success());
    assert!(gone_within(Duration::from_secs(2), "302.5"));

    // The guard itself is killed outright: the kernel ends its program.
    let (mut child, _out) = sampled_sleep("302.6", &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        gone_within(Duration::from_secs(2), "302.6"),
        "the program outlived its guard"
    );
}

#[test]
fn a_program_is_ended_at_its_deadline_even_with_the_session_open() {
    let (mut child, out) = sampled_sleep("303.5", &["--max-s", "1"]);
    let t = Instant::now();
    assert_eq!(exit_cause(out), Some(EndCause::Deadline));
    assert!(t.elapsed() < Duration::from_secs(10));
    child.wait().unwrap();
    assert!(gone_within(Duration::from_secs(2), "303.5"));
}

#[test]
fn a_program_that_cannot_start_is_one_line_and_no_session_hangs() {
    let s = Session::start(
        &transport(Reach::Local),
        &sample_argv(Duration::from_secs(60), &["/no/such/server"]),
    )
    .unwrap();
    let e = s.wait_listening(Duration::from_secs(10)).unwrap_err();
    assert!(e.starts_with("cannot start /no/such/server"), "{e}");
    let st = s.finish(Duration::from_secs(5));
    assert!(st.done && st.exit.is_none());
}

fn skip(why: &str) {
    eprintln!("skipped: {why}");
}

fn tag() -> String {
    format!("rt{}", std::process::id() % 1_000_000)
}

#[test]
fn the_namespace_guard_removes_its_namespaces_also_when_a_test_fails() {
    if let Some(why) = netns::unavailable() {
        return skip(&why);
    }
    let t = format!("{}x", tag());
    let mut sleeper = None;
    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ns = Namespaces::create(&t, 2).unwrap();
        let names: Vec<String> = ns.all().into_iter().cloned().collect();
        assert!(names.iter().all(|n| Namespaces::exists(n)));
        // A process left inside, as a failing test would leave it.
        sleeper = Some(
            Command::new("ip")
                .args(["netns", "exec", &ns.generators[0], "sleep", "305.5"])
                .spawn()
                .unwrap(),
        );
        std::thread::sleep(Duration::from_millis(100));
        // Unwinds as a failed assertion would, without printing a panic.
        std::panic::resume_unwind(Box::new(names))
    }))
    .unwrap_err();
    let names = made.downcast_ref::<Vec<String>>().unwrap();
    assert_eq!(names.len(), 3);
    for n in names {
        assert!(!Namespaces::exists(n), "{n} was left");
    }
    let status = sleeper.unwrap().wait().unwrap();
    assert_eq!(status.code(), None, "ended by a signal");
    assert!(gone_within(Duration::from_secs(2), "305.5"));
}

#[test]
fn a_session_through_ip_netns_exec_runs_inside_and_leaves_nothing() {
    if let Some(why) = netns::unavailable() {
        return skip(&why);
    }
    let ns = Namespaces::create(&format!("{}n", tag()), 1).unwrap();
    let t = transport(Reach::Netns(ns.server.clone()));
    // Inside: the server's address is there, and no route leads out.
    let out = t
        .output(
            &strings(&["ip", "-o", "addr"]),
            b"",
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(netns::SERVER_ADDRESS));
    let g = transport(Reach::Netns(ns.generators[0].clone()));
    let routes = g
        .output(&strings(&["ip", "route"]), b"", Duration::from_secs(10))
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&routes.stdout).contains("default"),
        "a route out"
    );

    let s = Session::start(
        &t,
        &sample_argv(Duration::from_secs(60), &["sleep", "306.5"]),
    )
    .unwrap();
    assert!(s.wait_for(Duration::from_secs(5), |st| st.pid).is_some());
    assert_eq!(
        Namespaces::pids(&ns.server).len(),
        2,
        "harness sample and its program"
    );
    drop(s); // a session ends its command when dropped
    assert!(gone_within(Duration::from_secs(2), "306.5"));
    assert!(Namespaces::pids(&ns.server).is_empty());
}

// ------------------------------------------------------------ whole trials

/// The built binaries (`make build`; RTC_BIN_DIR for others), or why a
/// trial across hosts cannot run with them.
fn contract_binaries() -> Result<PathBuf, String> {
    let dir = std::env::var_os("RTC_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("bin"));
    let help = |b: &str| -> Result<String, String> {
        let out = Command::new(dir.join(b))
            .arg("--help")
            .output()
            .map_err(|e| format!("{}: {e} (run `make build`)", dir.join(b).display()))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr))
    };
    if !help("harness")?.contains("host-info") {
        return Err(format!(
            "{}/harness predates --hosts: run `make build`",
            dir.display()
        ));
    }
    if !help("loadgen")?.contains("--start-at") {
        return Err(format!(
            "{}/loadgen has no --start-at yet (the load generator's change has not landed)",
            dir.display()
        ));
    }
    if !help("go-server")?.contains("allow-non-loopback") {
        return Err(format!(
            "{}/go-server has no --allow-non-loopback",
            dir.display()
        ));
    }
    Ok(dir)
}

const PROFILE: &str = r#"
name = "hosts"
description = "a short trial across hosts"
[defaults]
repeats = 1
warmup_s = 0.3
duration_s = 1.0
pause_s = 0.0
data_file_bytes = 1048576

[[scenario]]
id = "echo-open"
title = "echo at a low fixed rate"
claims = ["C1"]
workload = "echo"
variants = ["go"]
[[scenario.client]]
model = "open"
conns = 4
rate = 200
size_bytes = 64
"#;

/// The last allowed CPU: the generators' in the tests (the server host's
/// placement puts the server on the first).
fn last_cpu() -> usize {
    *rtc_common::affinity::allowed_cpus()
        .unwrap()
        .last()
        .unwrap()
}

/// `harness run --profile <profile_text> --out ... extra...`, inside
/// namespace `netns` if given.
fn spawn_harness(
    bin: &Path,
    dir: &Path,
    profile_text: &str,
    extra: &[&str],
    netns: Option<&str>,
) -> (std::process::Child, PathBuf) {
    let profile = dir.join("hosts-profile.toml");
    std::fs::write(&profile, profile_text).unwrap();
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let out = dir.join(format!(
        "run-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&out);
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(bin.join("harness"));
            c
        }
        None => Command::new(bin.join("harness")),
    };
    cmd.arg("--root")
        .arg(root())
        .arg("--bin-dir")
        .arg(bin)
        .arg("--results-dir")
        .arg(dir.join("results"))
        .args(["run", "--seed", "1", "--profile"])
        .arg(&profile)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    (cmd.spawn().unwrap(), out)
}

fn run_harness(
    bin: &Path,
    dir: &Path,
    extra: &[&str],
    netns: Option<&str>,
) -> (std::process::Output, PathBuf) {
    let (child, out) = spawn_harness(bin, dir, PROFILE, extra, netns);
    let pid = child.id() as i32;
    // A bound on the whole run: a hang fails the test instead of CI.
    let (done, watch) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if watch.recv_timeout(Duration::from_secs(90)).is_err() {
            // SAFETY: a signal to the harness this test started, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    });
    let output = child.wait_with_output().unwrap();
    let _ = done.send(());
    let _ = watchdog.join();
    (output, out)
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn the_trial(out: &Path) -> serde_json::Value {
    let f = std::fs::read_dir(out.join("trials"))
        .unwrap()
        .flatten()
        .next()
        .expect("a trial file");
    json(&f.path())
}

/// A hosts file: the server reached by `server` (a TOML line), a
/// generator per namespace of `generators`.
fn hosts_toml(server: &str, generators: &[String], extra_defaults: &str) -> String {
    let cpu = last_cpu();
    let mut t = format!(
        "[defaults]\nstart_lead_s = 1.0\n{extra_defaults}\n[server]\nname = \"srv\"\n{server}\naddress = \"{}\"\n",
        netns::SERVER_ADDRESS
    );
    for (k, g) in generators.iter().enumerate() {
        t += &format!(
            "\n[[generator]]\nname = \"gen{}\"\nnetns = \"{g}\"\ncpus = \"{cpu}\"\n",
            k + 1
        );
    }
    t
}

fn p50_us(trial: &serde_json::Value) -> f64 {
    trial["clients"][0]["document"]["latency_us"]["corrected"]["p50"]
        .as_f64()
        .unwrap()
}

#[test]
fn a_trial_across_namespaces_merges_two_generators_and_leaves_nothing_behind() {
    if let Some(why) = netns::unavailable() {
        return skip(&why);
    }
    let bin = match contract_binaries() {
        Ok(b) => b,
        Err(why) => return skip(&why),
    };
    let dir = std::env::temp_dir().join(format!("rtc-hosts-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ns = Namespaces::create(&format!("{}e", tag()), 2).unwrap();
    let netem = ns.netem("1ms");
    let hosts = dir.join("hosts.toml");
    std::fs::write(
        &hosts,
        hosts_toml(&format!("netns = \"{}\"", ns.server), &ns.generators, ""),
    )
    .unwrap();
    let (res, out) = run_harness(&bin, &dir, &["--hosts", hosts.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "harness failed: {stderr}");

    let t = the_trial(&out);
    assert_ne!(t["status"], "failed", "{}", t["problems"]);
    assert_eq!(t["server"]["host"], "srv");
    assert!(
        t["server"]["args"]
            .to_string()
            .contains("--allow-non-loopback")
    );
    assert!(!t["server_samples"].as_array().unwrap().is_empty());
    let client = &t["clients"][0];
    let parts = client["generators"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "one generator per host");
    assert_eq!(
        (parts[0]["host"].as_str(), parts[1]["host"].as_str()),
        (Some("gen1"), Some("gen2"))
    );
    let sum: u64 = parts
        .iter()
        .map(|p| p["document"]["requests"].as_u64().unwrap())
        .sum();
    assert!(sum > 0);
    assert_eq!(
        client["document"]["requests"].as_u64(),
        Some(sum),
        "merged = the sum of the two"
    );
    let conns: u64 = parts
        .iter()
        .map(|p| p["document"]["conns"].as_u64().unwrap())
        .sum();
    assert_eq!(conns, 4);
    assert!(
        t["metrics"]["main.latency_us.corrected.p99"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let meta = json(&out.join("meta.json"));
    assert_eq!(meta["hosts"]["generators"].as_array().unwrap().len(), 2);
    assert_eq!(meta["hosts"]["server"]["transport"], "netns");
    assert!(
        meta["hosts"]["server"]["provenance"]["threads"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let mut errs = rtc_harness::schema_check::check_run(&out);
    errs.extend(rtc_harness::schema_check::check_documents(&out));
    assert!(errs.is_empty(), "schema violations: {errs:#?}");

    for n in ns.all() {
        assert!(
            Namespaces::pids(n).is_empty(),
            "processes left in {n}: {:?}",
            Namespaces::pids(n)
        );
    }
    // The generators' scratch folder (work_dir = /tmp) is gone too.
    let scratch = format!("rtc-harness-{}", out.file_name().unwrap().to_string_lossy());
    assert!(!Path::new("/tmp").join(&scratch).exists(), "{scratch} left");
    match netem {
        Err(why) => eprintln!("skipped the 1 ms delay assertion: no netem here ({why})"),
        Ok(()) => {
            let (res, lo) = run_harness(&bin, &dir, &[], None);
            assert_eq!(
                res.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&res.stderr)
            );
            let extra = p50_us(&t) - p50_us(&the_trial(&lo));
            assert!(
                (1000.0..1500.0).contains(&extra),
                "netem 1 ms added {extra} µs at p50"
            );
        }
    }
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C (SIGINT to the harness alone: its sessions must end the
/// programs themselves) and SIGKILL (nothing of the harness runs any more:
/// each program's guard sees its input end, or dies with its parent and
/// takes the program along), each in the middle of a trial across
/// namespaces: no process is left in any of them.
#[test]
fn an_interrupted_run_across_namespaces_leaves_no_process_on_any_host() {
    if let Some(why) = netns::unavailable() {
        return skip(&why);
    }
    let bin = match contract_binaries() {
        Ok(b) => b,
        Err(why) => return skip(&why),
    };
    let dir = std::env::temp_dir().join(format!("rtc-hosts-int-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ns = Namespaces::create(&format!("{}i", tag()), 2).unwrap();
    let hosts = dir.join("hosts.toml");
    std::fs::write(
        &hosts,
        hosts_toml(&format!("netns = \"{}\"", ns.server), &ns.generators, ""),
    )
    .unwrap();
    let long = PROFILE.replace("duration_s = 1.0", "duration_s = 20.0");
    for sig in [libc::SIGINT, libc::SIGKILL] {
        let (mut child, out) = spawn_harness(
            &bin,
            &dir,
            &long,
            &["--hosts", hosts.to_str().unwrap()],
            None,
        );
        // Server and generators running: a guard and its program in each.
        let end = Instant::now() + Duration::from_secs(30);
        while ns.all().iter().any(|n| Namespaces::pids(n).len() < 2) {
            assert!(Instant::now() < end, "the trial never started everywhere");
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: a signal to the harness this test started.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().unwrap();
        if sig == libc::SIGINT {
            assert_eq!(status.code(), Some(130));
        }
        let end = Instant::now() + Duration::from_secs(5);
        while ns.all().iter().any(|n| !Namespaces::pids(n).is_empty()) {
            assert!(
                Instant::now() < end,
                "signal {sig}: processes left: {:?}",
                ns.all()
                    .iter()
                    .map(|n| Namespaces::pids(n))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // A killed harness cannot remove the generators' scratch folder.
        let scratch = format!("rtc-harness-{}", out.file_name().unwrap().to_string_lossy());
        let _ = std::fs::remove_dir_all(Path::new("/tmp").join(scratch));
    }
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}

/// sshd, ssh-keygen and ssh, or why not.
fn ssh_tools() -> Result<(), String> {
    for p in ["/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/ssh"] {
        if !Path::new(p).exists() {
            return Err(format!("no {p} (Debian: apt-get install openssh-server)"));
        }
    }
    Ok(())
}

/// sshd inside the server namespace, root's key only, for this test.
struct Sshd {
    child: std::process::Child,
    pub key: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd_in(ns: &str, dir: &Path) -> Sshd {
    let key = dir.join("id");
    let host_key = dir.join("host_key");
    for (k, t) in [(&key, "ed25519"), (&host_key, "ed25519")] {
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-t", t, "-f"])
            .arg(k)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
    let _ = std::fs::create_dir_all("/run/sshd");
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "/usr/sbin/sshd",
            "-D",
            "-e",
            "-f",
            "/dev/null",
        ])
        .arg("-o")
        .arg(format!("ListenAddress={}", netns::SERVER_ADDRESS))
        .arg("-o")
        .arg(format!("HostKey={}", host_key.display()))
        .arg("-o")
        .arg(format!(
            "AuthorizedKeysFile={}",
            dir.join("authorized_keys").display()
        ))
        .args([
            "-o",
            "PermitRootLogin=prohibit-password",
            "-o",
            "StrictModes=no",
            "-o",
            "PidFile=none",
            "-o",
            "UsePAM=no",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // sshd -e logs to stderr: ready at "Server listening on ...".
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if l.contains("Server listening") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("sshd did not start listening within 10 s");
    Sshd { child, key }
}

/// Over real ssh into a namespace (Debian's openssh-server installed, as
/// root): the controller runs in a generator namespace and reaches the
/// server's through sshd there. A session killed on the controller's
/// side ends its program on the server's; then a whole trial runs with
/// the server over ssh and a generator through `ip netns exec`.
#[test]
fn a_session_and_a_trial_over_real_ssh_into_a_namespace() {
    if let Some(why) = netns::unavailable() {
        return skip(&why);
    }
    if let Err(why) = ssh_tools() {
        return skip(&why);
    }
    let dir = std::env::temp_dir().join(format!("rtc-hosts-ssh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ns = Namespaces::create(&format!("{}h", tag()), 2).unwrap();
    let sshd = sshd_in(&ns.server, &dir);
    let options = [
        format!("IdentityFile={}", sshd.key.display()),
        "UserKnownHostsFile=/dev/null".to_string(),
        "StrictHostKeyChecking=no".to_string(),
    ];
    let ssh = Transport {
        host: "srv".into(),
        reach: Reach::Ssh(format!("root@{}", netns::SERVER_ADDRESS)),
        ssh_options: options.to_vec(),
    };
    // The ssh client runs in the first generator's namespace.
    let mut argv = vec![
        "ip".to_string(),
        "netns".into(),
        "exec".into(),
        ns.generators[0].clone(),
    ];
    argv.extend(ssh.argv(&sample_argv(Duration::from_secs(60), &["sleep", "307.5"])));
    let mut client = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(client.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        matches!(Event::parse(first.trim()), Ok(Event::Started { .. })),
        "over ssh: {first:?}"
    );
    assert_eq!(with_arg("307.5").len(), 1);
    client.kill().unwrap(); // the controller's ssh dies: the session closes
    client.wait().unwrap();
    assert!(
        gone_within(Duration::from_secs(5), "307.5"),
        "the program outlived its ssh session"
    );

    let bin = match contract_binaries() {
        Ok(b) => b,
        Err(why) => return skip(&format!("the trial over ssh: {why}")),
    };
    let quoted: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
    let hosts = dir.join("hosts.toml");
    // One generator, in the second namespace: the controller runs in the first.
    let text = hosts_toml(
        &format!("ssh = \"root@{}\"", netns::SERVER_ADDRESS),
        &ns.generators[1..],
        &format!("ssh_options = [{}]", quoted.join(", ")),
    );
    std::fs::write(&hosts, text).unwrap();
    let (res, out) = run_harness(
        &bin,
        &dir,
        &["--hosts", hosts.to_str().unwrap()],
        Some(&ns.generators[0]),
    );
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let t = the_trial(&out);
    assert_ne!(t["status"], "failed", "{}", t["problems"]);
    assert_eq!(
        json(&out.join("meta.json"))["hosts"]["server"]["transport"],
        "ssh"
    );
    drop(sshd);
    for n in ns.all() {
        assert!(Namespaces::pids(n).is_empty(), "processes left in {n}");
    }
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}
