//! Checks before anything runs (`harness check`, and the start of every
//! run): binaries present and runnable, toolchain versions, the CPU
//! placement and the machine's provenance, the file-descriptor limit, the
//! data file, free disk, loopback.

use crate::config::profile::{Profile, Variants};
use crate::run::placement::{self, Placement};
use crate::run::provenance::{self, HostPaths, Provenance};
use crate::run::topology::{self, Topology};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Preflight {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub go_version: Option<String>,
    pub rustc_version: Option<String>,
    /// Checked when the profile has the C12 compile check.
    #[serde(default)]
    pub cargo_version: Option<String>,
    pub cpus_allowed: Vec<usize>,
    pub server_cpus: Vec<usize>,
    pub client_cpus: Vec<usize>,
    /// Where server and load generator run, and why (`server_cpus` and
    /// `client_cpus` are its lists).
    #[serde(default)]
    pub placement: Placement,
    /// Scenarios that fix `server_cpus` get their own placement.
    #[serde(default)]
    pub scenario_placements: BTreeMap<String, Placement>,
    /// Notes and warnings are left to `Provenance::assess`, which needs the
    /// git state.
    #[serde(default)]
    pub provenance: Provenance,
    pub nofile_soft: u64,
    pub nofile_hard: u64,
    pub nofile_needed: u64,
    pub data_file: Option<PathBuf>,
}

/// Runs `program args` with a time limit; its first output line.
pub fn command_line(program: &Path, args: &[&str], limit: Duration) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                let text = String::from_utf8_lossy(if out.stdout.is_empty() {
                    &out.stderr
                } else {
                    &out.stdout
                })
                .into_owned();
                let first = text.lines().next().unwrap_or("").trim().to_string();
                return if st.success() {
                    Ok(first)
                } else {
                    Err(format!("{} exited with {st}: {first}", program.display()))
                };
            }
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not answer within {} s",
                    program.display(),
                    limit.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn rlimit_nofile() -> (u64, u64) {
    // SAFETY: getrlimit fills the struct we own.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        (r.rlim_cur, r.rlim_max)
    }
}

fn raise_nofile(to: u64) -> bool {
    // SAFETY: setrlimit with values read from getrlimit and bounded by the hard limit.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = to.min(r.rlim_max);
        libc::setrlimit(libc::RLIMIT_NOFILE, &r) == 0
    }
}

fn free_disk_bytes(dir: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs on a NUL-terminated path into a struct we own.
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut s) != 0 {
            return None;
        }
        Some(s.f_bavail as u64 * s.f_frsize as u64)
    }
}

/// Every binary the profile's variants need, plus the load generator.
pub fn needed_binaries(variants: &Variants, p: Option<&Profile>) -> Vec<String> {
    let mut names: Vec<String> = match p {
        Some(p) => p
            .scenarios
            .iter()
            .flat_map(|s| s.variants.iter().map(|v| variants[v].server.clone()))
            .collect(),
        None => variants.values().map(|v| v.server.clone()).collect(),
    };
    names.push("loadgen".into());
    if let Some(p) = p {
        for m in p.micro.iter().filter(|m| m.bench != "c12") {
            names.extend(m.languages().iter().map(|l| m.binary(l)));
        }
    }
    names.sort();
    names.dedup();
    names
}

pub fn run(
    bin_dir: &Path,
    results_dir: &Path,
    variants: &Variants,
    profile: Option<&Profile>,
) -> Preflight {
    let mut pf = Preflight::default();
    for b in needed_binaries(variants, profile) {
        let path = bin_dir.join(&b);
        if !path.exists() {
            pf.errors
                .push(format!("{} is missing: run `make build`", path.display()));
            continue;
        }
        if let Err(e) = command_line(&path, &["--help"], Duration::from_secs(5)) {
            pf.errors.push(format!("{b} is not runnable: {e}"));
        }
    }
    pf.go_version = command_line(Path::new("go"), &["version"], Duration::from_secs(10)).ok();
    pf.rustc_version =
        command_line(Path::new("rustc"), &["--version"], Duration::from_secs(10)).ok();
    if pf.go_version.is_none() {
        pf.warnings.push(
            "`go version` failed: the Go version is taken from the server's config line".into(),
        );
    }

    pf.cpus_allowed = rtc_common::affinity::allowed_cpus().unwrap_or_default();
    let host = HostPaths::local();
    let topo = place_on(&mut pf, &host, profile);
    pf.provenance = provenance::read(&host, &topo, &pf.placement, &provenance::detect_virt());

    // Each connection costs a descriptor in the load generator and one in the
    // server (separate processes, same limit); headroom for files and pipes.
    let needed = profile
        .map(|p| {
            p.scenarios
                .iter()
                .map(|s| s.clients.iter().map(|c| c.conns as u64).sum::<u64>())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
        + 256;
    pf.nofile_needed = needed;
    let (soft, hard) = rlimit_nofile();
    if soft < needed {
        if hard < needed {
            pf.errors.push(format!(
                "the largest scenario needs {needed} open files but the hard limit is {hard}: raise it (ulimit -Hn) or lower its conns"
            ));
        } else if !raise_nofile(needed) {
            pf.errors.push(format!(
                "cannot raise the open-file limit from {soft} to {needed}"
            ));
        }
    }
    let (soft, hard) = rlimit_nofile();
    pf.nofile_soft = soft;
    pf.nofile_hard = hard;

    if let Err(e) = std::fs::create_dir_all(results_dir) {
        pf.errors
            .push(format!("cannot create {}: {e}", results_dir.display()));
    }
    match free_disk_bytes(results_dir) {
        Some(b) if b < 200 << 20 => pf.errors.push(format!(
            "only {} MiB free under {}: the disk is (nearly) full",
            b >> 20,
            results_dir.display()
        )),
        None => pf.warnings.push(format!(
            "cannot tell the free space under {}",
            results_dir.display()
        )),
        _ => {}
    }
    if let Err(e) = std::net::TcpListener::bind("127.0.0.1:0") {
        pf.errors.push(format!("cannot bind a loopback port: {e}"));
    }

    if let Some(p) = profile {
        let bytes = p.defaults.data_file_bytes;
        let path = results_dir.join(".data").join(format!("data-{bytes}.bin"));
        match ensure_data_file(&path, bytes) {
            Ok(()) => pf.data_file = Some(path),
            Err(e) => pf.errors.push(e),
        }
    }

    // The C12 compile check builds its probes with cargo during the run.
    if profile.is_some_and(|p| p.micro.iter().any(|m| m.bench == "c12")) {
        let cargo = crate::run::micro::cargo_program();
        match command_line(Path::new(&cargo), &["--version"], Duration::from_secs(30)) {
            Ok(v) => pf.cargo_version = Some(v),
            Err(e) => pf.errors.push(format!(
                "`cargo --version` failed ({e}): the profile's C12 compile check needs cargo"
            )),
        }
    }
    pf
}

/// The host's topology, or (unreadable sysfs) every allowed CPU as a core
/// of its own, with a warning.
fn read_topology(host: &HostPaths, allowed: &[usize], warnings: &mut Vec<String>) -> Topology {
    topology::read(&host.sys).unwrap_or_else(|e| {
        warnings.push(format!(
            "cannot read the CPU topology ({e}): each CPU is taken as a core of its own"
        ));
        topology::flat(allowed)
    })
}

/// Places server and load generator on `pf.cpus_allowed` of `host`, and
/// separately for every scenario that fixes `server_cpus`; returns the
/// topology it used.
fn place_on(pf: &mut Preflight, host: &HostPaths, profile: Option<&Profile>) -> Topology {
    let topo = read_topology(host, &pf.cpus_allowed, &mut pf.warnings);
    match placement::place(&topo, &pf.cpus_allowed, None) {
        Ok(mut p) => {
            p.notes.extend(topo.gaps.iter().cloned());
            pf.warnings.extend(p.warnings.iter().cloned());
            pf.server_cpus = p.server_cpus.clone();
            pf.client_cpus = p.client_cpus.clone();
            pf.placement = p;
        }
        Err(e) => pf.errors.push(format!("{PLACE_ERROR}: {e}")),
    }
    for s in profile.map(|p| &p.scenarios[..]).unwrap_or(&[]) {
        if let Some(n) = s.server_cpus {
            match placement::place(&topo, &pf.cpus_allowed, Some(n)) {
                Ok(p) => {
                    pf.scenario_placements.insert(s.id.clone(), p);
                }
                Err(e) => pf.errors.push(format!("scenario {}: {e}", s.id)),
            }
        }
    }
    topo
}

/// Whether `error` is one of `place_on`'s (this machine's placement): a
/// run across hosts places its server on the server host instead.
pub fn is_placement_error(error: &str, profile: &Profile) -> bool {
    error.starts_with(PLACE_ERROR)
        || profile
            .scenarios
            .iter()
            .filter(|s| s.server_cpus.is_some())
            .any(|s| error.starts_with(&format!("scenario {}: ", s.id)))
}

const PLACE_ERROR: &str = "cannot place the server and the load generator";

/// The data file the file-read scenarios read, made if missing or wrong;
/// the error names the path and the cause (a full disk, no permission...).
pub fn ensure_data_file(path: &Path, bytes: u64) -> Result<(), String> {
    if rtc_common::datafile::is_valid(path, bytes) {
        return Ok(());
    }
    let why = |e: std::io::Error| {
        let hint = match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => " (the disk is full)",
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
                " (no permission to write there)"
            }
            _ => "",
        };
        format!(
            "cannot create the data file {} ({bytes} bytes): {e}{hint}",
            path.display()
        )
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(why)?;
    }
    rtc_common::datafile::create(path, bytes).map_err(why)?;
    if !rtc_common::datafile::is_valid(path, bytes) {
        return Err(format!(
            "the data file {} was written but does not read back as {bytes} bytes of the pattern",
            path.display()
        ));
    }
    Ok(())
}

/// SHA-256 chain rounds per millisecond of the harness's own `sha2` (the
/// code the Rust server runs) on the server's first CPU, best of five: a
/// fallback and a reference; jobs are sized with each server's own speed
/// (`calibrate_server_sha`).
pub fn calibrate_sha_rounds_per_ms(server_cpus: &[usize]) -> f64 {
    let cpus = server_cpus.to_vec();
    std::thread::spawn(move || {
        if let Some(&c) = cpus.first() {
            let _ = rtc_common::affinity::pin_current_thread(&[c]);
        }
        let rounds = 20_000u32;
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            std::hint::black_box(rtc_common::protocol::sha_chain(&[b"calibrate"], rounds));
            best = best.min(t.elapsed().as_secs_f64());
        }
        rounds as f64 / (best * 1e3)
    })
    .join()
    .unwrap_or(1000.0)
}

/// SHA-256 chain rounds per millisecond of one server binary, measured
/// through the server itself: the same request with 0 and with `ROUNDS`
/// rounds, the best of several each, on the server's CPUs. Go's
/// crypto/sha256 and Rust's sha2 do not hash at the same speed (about 1.5×
/// apart on the development VM), so a job asked for in milliseconds
/// (`cpu_ms`) is sized per server: each runtime then schedules jobs of the
/// same length, and the speed difference is reported, not hidden.
pub fn calibrate_server_sha(bin: &Path, cpus: &[usize]) -> Result<f64, String> {
    use rtc_common::protocol::{RESPONSE_HEADER_LEN, RequestHeader, ResponseHeader, VERSION};
    use std::io::{Read, Write};
    const ROUNDS: u32 = 20_000;
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["--listen", "127.0.0.1:0", "--workload", "work"]);
    let server = rtc_common::child::spawn_listening(
        cmd,
        &rtc_common::child::SpawnOptions {
            cpus: Some(cpus.to_vec()),
            die_with_parent: true,
            timeout: Some(Duration::from_secs(10)),
        },
    )
    .map_err(|e| format!("{}: {e}", bin.display()))?;
    let res = (|| -> std::io::Result<f64> {
        let mut s = std::net::TcpStream::connect(server.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut time = |rounds: u32| -> std::io::Result<f64> {
            let h = RequestHeader {
                version: VERSION,
                payload_len: 64,
                cpu_rounds: rounds,
                ..Default::default()
            };
            let mut req = h.encode().to_vec();
            req.extend_from_slice(&[7u8; 64]);
            let t = Instant::now();
            s.write_all(&req)?;
            let mut hdr = [0u8; RESPONSE_HEADER_LEN];
            s.read_exact(&mut hdr)?;
            let body = ResponseHeader::decode(&hdr).body_len as usize;
            let mut b = vec![0u8; body];
            s.read_exact(&mut b)?;
            Ok(t.elapsed().as_secs_f64() * 1e3)
        };
        let mut best = |rounds: u32| -> std::io::Result<f64> {
            let mut m = f64::INFINITY;
            for _ in 0..7 {
                m = m.min(time(rounds)?);
            }
            Ok(m)
        };
        let zero = best(0)?;
        let full = best(ROUNDS)?;
        Ok(ROUNDS as f64 / (full - zero).max(1e-6))
    })();
    let mut server = server;
    server.terminate(Duration::from_secs(2));
    res.map_err(|e| format!("{}: SHA calibration request: {e}", bin.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_reports_failures_and_output() {
        assert_eq!(
            command_line(
                Path::new("sh"),
                &["-c", "echo hi; echo there"],
                Duration::from_secs(5)
            )
            .unwrap(),
            "hi"
        );
        assert!(
            command_line(
                Path::new("sh"),
                &["-c", "echo bad >&2; exit 3"],
                Duration::from_secs(5)
            )
            .unwrap_err()
            .contains("bad")
        );
        assert!(command_line(Path::new("/no/such/tool"), &[], Duration::from_secs(5)).is_err());
        assert!(
            command_line(Path::new("sleep"), &["5"], Duration::from_millis(100))
                .unwrap_err()
                .contains("did not answer")
        );
    }

    #[test]
    fn a_data_file_that_cannot_be_made_names_path_and_cause() {
        let dir = std::env::temp_dir().join(format!("rtc-preflight-data-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A file where the folder should be.
        let blocker = dir.join("blocker");
        std::fs::write(&blocker, b"x").unwrap();
        let path = blocker.join("data-1000.bin");
        let e = ensure_data_file(&path, 1000).unwrap_err();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(
            e.contains("ile exists") || e.contains("ot a directory"),
            "{e}"
        );
        // A good one is made, then found valid.
        let good = dir.join("d/data-1000.bin");
        ensure_data_file(&good, 1000).unwrap();
        ensure_data_file(&good, 1000).unwrap();
        assert_eq!(std::fs::metadata(&good).unwrap().len(), 1000);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn placement_on_a_fixture_host_with_scenarios_that_fix_server_cpus() {
        use crate::run::topology::fixtures::{allowed, root};
        let vtext = "[go]\nlanguage = \"go\"\nserver = \"go-server\"\ndescription = \"g\"\n";
        let variants = crate::config::profile::parse_variants(Path::new("v.toml"), vtext).unwrap();
        let scenario = |id: &str, n: usize| {
            format!(
                "[[scenario]]\nid = \"{id}\"\ntitle = \"t\"\nclaims = [\"C1\"]\nworkload = \"echo\"\nvariants = [\"go\"]\nserver_cpus = {n}\n[[scenario.client]]\nmodel = \"closed\"\nconns = 1\nsize_bytes = 64\n"
            )
        };
        let text = format!(
            "name = \"t\"\ndescription = \"t\"\n[defaults]\n{}{}",
            scenario("three", 3),
            scenario("too-many", 16)
        );
        let p =
            crate::config::profile::parse_profile(Path::new("p.toml"), &text, &variants).unwrap();
        let mut pf = Preflight {
            cpus_allowed: allowed("intel-8c16t"),
            ..Default::default()
        };
        let topo = place_on(&mut pf, &HostPaths::under(&root("intel-8c16t")), Some(&p));
        assert_eq!(topo.cores.len(), 8);
        assert_eq!(pf.server_cpus, vec![0, 1, 8, 9]);
        assert_eq!(pf.client_cpus, pf.placement.client_cpus);
        assert_eq!(pf.scenario_placements["three"].server_cpus, vec![0, 1, 8]);
        assert!(!pf.scenario_placements.contains_key("too-many"));
        assert_eq!(pf.errors.len(), 1, "{:?}", pf.errors);
        assert!(pf.errors[0].starts_with("scenario too-many: server_cpus = 16"));
        assert!(is_placement_error(&pf.errors[0], &p));
        assert!(!is_placement_error("scenario three-ish: x", &p));
        assert!(pf.warnings.is_empty(), "{:?}", pf.warnings);

        // An unreadable sysfs: each CPU a core of its own, said once.
        let mut pf = Preflight {
            cpus_allowed: vec![0, 1],
            ..Default::default()
        };
        place_on(&mut pf, &HostPaths::under(&root("no-such-host")), None);
        assert_eq!(
            (pf.server_cpus.clone(), pf.client_cpus.clone()),
            (vec![0], vec![1])
        );
        assert!(pf.warnings[0].starts_with("cannot read the CPU topology"));
    }

    #[test]
    fn calibration_is_positive() {
        let r = calibrate_sha_rounds_per_ms(&rtc_common::affinity::allowed_cpus().unwrap());
        assert!(r.is_finite() && r > 10.0, "{r}");
    }
}
