//! `harness host-info`, run on a host through its transport: the host's
//! topology, the placement there, its provenance (the readers of
//! `provenance` on its own `/sys` and `/proc`), its `/proc/stat` for the
//! steal time, optionally the SHA-256 calibration on its server CPU and
//! the data file made there — one JSON line. With `--clock` it then
//! answers each input line with its wall clock, so the controller can
//! measure the offset over the open session (`clock_offset`).

use crate::config::profile::Language;
use crate::run::placement::{self, PlacedCpu, Placement, Role};
use crate::run::preflight;
use crate::run::provenance::{self, HostPaths, Provenance};
use crate::run::topology::{self, Topology};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// What a host runs for the trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HostRole {
    Server,
    Generator,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub hostname: String,
    /// uname's system name ("Linux") and machine ("x86_64").
    pub os: String,
    pub machine: String,
    pub kernel: String,
    pub cpu_model: Option<String>,
    /// This process's allowed CPUs, narrowed by `--cpus`.
    pub cpus_allowed: Vec<usize>,
    pub topology: Topology,
    /// Server host: server and (sampler-only) generator side; generator
    /// host: every allowed CPU for the load generator.
    pub placement: Placement,
    pub provenance: Provenance,
    pub proc_stat: Option<String>,
    /// `--calibrate`: SHA-256 chain rounds per ms on the first server CPU.
    pub sha_rounds_per_ms: Option<f64>,
    /// `--calibrate-server`: each server's own speed, measured through it
    /// on this host's server CPUs (what a mix's `cpu_ms` is sized with).
    #[serde(default)]
    pub sha_rounds_per_ms_by_language: BTreeMap<Language, f64>,
    /// What could be read only in part, one line each (not a failure).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// `--data-file`: the data file, made or found valid.
    pub data_file: Option<String>,
    /// OS threads this host could still start (a scenario's `needs_threads`).
    #[serde(default)]
    pub thread_room: Option<u64>,
    /// What could not be read or made, one line each.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub role: HostRole,
    pub cpus: Option<Vec<usize>>,
    pub calibrate: bool,
    /// Servers to calibrate through (`--calibrate-server LANG=PATH`).
    pub servers: Vec<(Language, PathBuf)>,
    pub data_file: Option<(PathBuf, u64)>,
    pub clock: bool,
}

fn uname() -> (String, String, String, String) {
    // SAFETY: uname fills a struct we own; its fields are NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return Default::default();
        }
        let s = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        (s(&u.sysname), s(&u.machine), s(&u.release), s(&u.nodename))
    }
}

/// Every allowed CPU to the load generator: a host that runs nothing else.
pub fn generator_placement(topo: &Topology, allowed: &[usize]) -> Placement {
    let cpus: Vec<PlacedCpu> = allowed
        .iter()
        .filter_map(|&c| topo.cpu(c))
        .map(|c| PlacedCpu {
            role: Role::Client,
            at: c.clone(),
        })
        .collect();
    let mut cores: Vec<usize> = cpus.iter().map(|c| c.at.core).collect();
    cores.sort_unstable();
    cores.dedup();
    Placement {
        client_cpus: cpus.iter().map(|c| c.at.cpu).collect(),
        client_cores: cores.len(),
        cpus,
        notes: vec!["a load-generator host: the generator gets every allowed CPU".into()],
        ..Default::default()
    }
}

/// `--calibrate-server go=PATH`: the language and the server binary.
pub fn server_flag(s: &str) -> Result<(Language, PathBuf), String> {
    let (lang, path) = s
        .split_once('=')
        .ok_or_else(|| format!("--calibrate-server {s:?}: not LANG=PATH"))?;
    let lang = match lang {
        "go" => Language::Go,
        "rust" => Language::Rust,
        other => {
            return Err(format!(
                "--calibrate-server {s:?}: {other:?} is not go or rust"
            ));
        }
    };
    Ok((lang, PathBuf::from(path)))
}

/// Reads this host (the `harness host-info` side).
pub fn read(opts: &Options) -> HostInfo {
    let mut problems = Vec::new();
    let (os, machine, kernel, hostname) = uname();
    let host = HostPaths::local();
    let mut allowed = rtc_common::affinity::allowed_cpus().unwrap_or_default();
    if let Some(want) = &opts.cpus {
        let outside: Vec<usize> = want
            .iter()
            .copied()
            .filter(|c| !allowed.contains(c))
            .collect();
        if !outside.is_empty() {
            problems.push(format!(
                "cpus {} are not allowed here (allowed: {})",
                rtc_common::affinity::format_cpu_list(&outside),
                rtc_common::affinity::format_cpu_list(&allowed)
            ));
        }
        allowed.retain(|c| want.contains(c));
    }
    let topo = topology::read(&host.sys).unwrap_or_else(|e| {
        problems.push(format!(
            "cannot read the CPU topology ({e}): each CPU taken as a core"
        ));
        topology::flat(&allowed)
    });
    let placement = match opts.role {
        HostRole::Server => placement::place(&topo, &allowed, None).unwrap_or_else(|e| {
            problems.push(format!("cannot place the server: {e}"));
            Placement::default()
        }),
        HostRole::Generator => generator_placement(&topo, &allowed),
    };
    let provenance = provenance::read(&host, &topo, &placement, &provenance::detect_virt());
    let sha_rounds_per_ms = (opts.calibrate && !placement.server_cpus.is_empty())
        .then(|| preflight::calibrate_sha_rounds_per_ms(&placement.server_cpus));
    let mut warnings = Vec::new();
    let mut sha_rounds_per_ms_by_language = BTreeMap::new();
    for (lang, bin) in &opts.servers {
        match preflight::calibrate_server_sha(bin, &placement.server_cpus) {
            Ok(r) => {
                sha_rounds_per_ms_by_language.insert(*lang, r);
            }
            Err(e) => warnings.push(e),
        }
    }
    let data_file = opts.data_file.as_ref().and_then(|(path, bytes)| {
        match preflight::ensure_data_file(path, *bytes) {
            Ok(()) => Some(path.display().to_string()),
            Err(e) => {
                problems.push(e);
                None
            }
        }
    });
    HostInfo {
        hostname,
        os,
        machine,
        kernel,
        cpu_model: topology::read_trim(&host.proc.join("cpuinfo")).and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        }),
        cpus_allowed: allowed,
        topology: topo,
        placement,
        provenance,
        proc_stat: provenance::read_proc_stat(&host),
        sha_rounds_per_ms,
        sha_rounds_per_ms_by_language,
        warnings,
        data_file,
        thread_room: crate::run::plan::thread_room(),
        problems,
    }
}

/// `harness host-info`: the JSON line, then (`--clock`) one wall-clock
/// reading per input line until the input ends.
pub fn run(opts: &Options) -> i32 {
    let info = read(opts);
    let mut out = std::io::stdout();
    let line = serde_json::to_string(&info).expect("host info serializes");
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        return 1;
    }
    if opts.clock {
        for l in std::io::stdin().lock().lines() {
            if l.is_err()
                || writeln!(out, "{:.3}", unix_ms())
                    .and_then(|_| out.flush())
                    .is_err()
            {
                break;
            }
        }
    }
    0
}

pub fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

/// A host's clock against the controller's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockOffset {
    /// Host clock − controller clock.
    pub offset_ms: f64,
    /// The true offset is within ± this (half the best round trip).
    pub uncertainty_ms: f64,
}

/// The offset from readings `(sent, host_time, received)`: the exchange
/// with the shortest round trip, its host reading against the midpoint
/// (NTP's rule); None without readings.
pub fn clock_offset(readings: &[(f64, f64, f64)]) -> Option<ClockOffset> {
    readings
        .iter()
        .filter(|(a, _, b)| b >= a)
        .min_by(|x, y| (x.2 - x.0).total_cmp(&(y.2 - y.0)))
        .map(|&(a, h, b)| ClockOffset {
            offset_ms: h - (a + b) / 2.0,
            uncertainty_ms: (b - a) / 2.0,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_offset_comes_from_the_shortest_round_trip() {
        // Host 5 ms ahead; the second exchange is the quickest.
        let r = [(0.0, 9.0, 6.0), (10.0, 15.4, 10.8), (20.0, 26.0, 22.0)];
        let c = clock_offset(&r).unwrap();
        assert!((c.offset_ms - 5.0).abs() < 1e-9, "{c:?}");
        assert!((c.uncertainty_ms - 0.4).abs() < 1e-9);
        assert_eq!(clock_offset(&[]), None);
        assert_eq!(
            clock_offset(&[(5.0, 1.0, 4.0)]),
            None,
            "a reading back in time"
        );
    }

    #[test]
    fn calibrate_server_flags_name_a_language_and_a_path() {
        assert_eq!(
            server_flag("go=/opt/bin/go-server").unwrap(),
            (Language::Go, PathBuf::from("/opt/bin/go-server"))
        );
        assert_eq!(server_flag("rust=x").unwrap().0, Language::Rust);
        assert!(
            server_flag("java=x")
                .unwrap_err()
                .contains("not go or rust")
        );
        assert!(server_flag("go").unwrap_err().contains("LANG=PATH"));
    }

    #[test]
    fn a_generator_host_gives_every_allowed_cpu_to_the_generator() {
        use crate::run::topology::fixtures::topology;
        let t = topology("intel-8c16t");
        let p = generator_placement(&t, &[0, 1, 8, 9, 99]);
        assert_eq!(p.client_cpus, vec![0, 1, 8, 9]);
        assert_eq!(p.client_cores, 2);
        assert!(p.server_cpus.is_empty());
        assert!(p.cpus.iter().all(|c| c.role == Role::Client));
    }

    #[test]
    fn this_host_reads_as_linux_with_its_placement() {
        let i = read(&Options {
            role: HostRole::Server,
            cpus: None,
            calibrate: true,
            servers: vec![],
            data_file: None,
            clock: false,
        });
        assert_eq!(i.os, "Linux");
        assert!(!i.cpus_allowed.is_empty());
        assert!(!i.placement.server_cpus.is_empty());
        assert!(i.sha_rounds_per_ms.unwrap() > 0.0);
        assert!(i.proc_stat.unwrap().starts_with("cpu "));
        let back: HostInfo = serde_json::from_str(
            &serde_json::to_string(&read(&Options {
                role: HostRole::Generator,
                cpus: Some(vec![i.cpus_allowed[0], 100_000]),
                calibrate: false,
                servers: vec![],
                data_file: None,
                clock: false,
            }))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(back.cpus_allowed, vec![i.cpus_allowed[0]]);
        assert!(back.problems[0].contains("100000"), "{:?}", back.problems);
    }
}
