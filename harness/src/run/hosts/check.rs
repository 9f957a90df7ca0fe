//! Every host checked before a run across hosts starts, all at once, one
//! line per problem: reachable, Linux, each binary it needs present with
//! the controller's sha256 (or copied there with `--copy-binaries`), then
//! what `harness host-info` reads there, and the host's clock against the
//! controller's measured over the open session.

use super::host_info::{ClockOffset, HostInfo, HostRole, clock_offset, unix_ms};
use super::transport::Transport;
use crate::config::hosts::{Host, Hosts};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// A host that passed its checks, and what was learned of it.
#[derive(Debug, Clone)]
pub struct ReadyHost {
    pub host: Host,
    pub role: HostRole,
    pub transport: Transport,
    pub info: HostInfo,
    pub clock: ClockOffset,
    /// Binary name -> sha256, the same here and there.
    pub binaries: BTreeMap<String, String>,
    /// Binaries `--copy-binaries` copied there.
    pub copied: Vec<String>,
}

impl ReadyHost {
    pub fn harness(&self) -> PathBuf {
        self.host.bin_dir.join("harness")
    }

    /// One line: the host, where its side runs, its clock.
    pub fn summary(&self) -> String {
        use rtc_common::affinity::format_cpu_list;
        let p = &self.info.placement;
        let side = if p.server_cpus.is_empty() {
            format!("load generator on CPUs {}", format_cpu_list(&p.client_cpus))
        } else {
            format!(
                "server on CPUs {}, its sampler on {}",
                format_cpu_list(&p.server_cpus),
                format_cpu_list(&p.client_cpus)
            )
        };
        format!(
            "host {} ({}): {} {}, {}; {side}; clock {:+.2} ms (± {:.2}){}",
            self.host.name,
            self.transport.describe(),
            self.info.hostname,
            self.info.kernel,
            self.info.cpu_model.as_deref().unwrap_or("unknown CPU"),
            self.clock.offset_ms,
            self.clock.uncertainty_ms,
            if self.copied.is_empty() {
                String::new()
            } else {
                format!("; copied {}", self.copied.join(", "))
            }
        )
    }
}

#[derive(Debug, Clone)]
pub struct Ready {
    pub server: ReadyHost,
    pub generators: Vec<ReadyHost>,
}

/// What the run needs of its hosts.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    /// The server binaries the profile's variants name.
    pub server_binaries: Vec<String>,
    /// The data file the server reads, made on the server host.
    pub data_file_bytes: Option<u64>,
    /// Copy missing or different binaries instead of refusing.
    pub copy: bool,
}

/// The server host's data file (in its work folder).
pub fn data_file_path(server: &Host, bytes: u64) -> PathBuf {
    server.work_dir.join(format!("rtc-data-{bytes}.bin"))
}

pub fn sha256_file(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// `sha256sum` output: path -> hash.
pub fn parse_sha256sum(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (hash, path) = l.split_once("  ").or_else(|| l.split_once(" *"))?;
            (hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| (path.to_string(), hash.to_lowercase()))
        })
        .collect()
}

/// Checks every host (in parallel); Err holds one line per problem.
pub fn prepare(hosts: &Hosts, local_bin: &Path, needs: &Needs) -> Result<Ready, Vec<String>> {
    let mut server_names = vec!["harness".to_string()];
    server_names.extend(needs.server_binaries.iter().cloned());
    let gen_names = vec!["harness".to_string(), "loadgen".to_string()];
    let mut local = BTreeMap::new();
    let mut problems = Vec::new();
    for n in server_names.iter().chain(&gen_names) {
        match sha256_file(&local_bin.join(n)) {
            Ok(h) => {
                local.insert(n.clone(), h);
            }
            Err(e) => problems.push(format!("controller: cannot read {e}: run `make build`")),
        }
    }
    if !problems.is_empty() {
        problems.dedup();
        return Err(problems);
    }
    let data_file = needs
        .data_file_bytes
        .map(|b| (data_file_path(&hosts.server, b), b));
    let results: Vec<Result<ReadyHost, Vec<String>>> = std::thread::scope(|s| {
        let mut jobs = vec![s.spawn(|| {
            check_host(
                &hosts.server,
                HostRole::Server,
                hosts,
                &local,
                &server_names,
                needs.copy,
                data_file.as_ref(),
                local_bin,
            )
        })];
        for g in &hosts.generators {
            let names = &gen_names;
            let local = &local;
            jobs.push(s.spawn(move || {
                check_host(
                    g,
                    HostRole::Generator,
                    hosts,
                    local,
                    names,
                    needs.copy,
                    None,
                    local_bin,
                )
            }));
        }
        jobs.into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err(vec!["a host check panicked".into()]))
            })
            .collect()
    });
    let mut ready = Vec::new();
    for r in results {
        match r {
            Ok(h) => ready.push(h),
            Err(e) => problems.extend(e),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let server = ready.remove(0);
    Ok(Ready {
        server,
        generators: ready,
    })
}

#[allow(clippy::too_many_arguments)]
fn check_host(
    host: &Host,
    role: HostRole,
    hosts: &Hosts,
    local: &BTreeMap<String, String>,
    names: &[String],
    copy: bool,
    data_file: Option<&(PathBuf, u64)>,
    local_bin: &Path,
) -> Result<ReadyHost, Vec<String>> {
    let t = Transport::for_host(host, &hosts.ssh_options);
    let say = |m: String| vec![format!("host {}: {m}", host.name)];
    let limit = Duration::from_secs(30);
    let out = t
        .output(&["uname".into(), "-sm".into()], b"", limit)
        .map_err(|e| say(format!("unreachable: {e}")))?;
    let uname = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (os, machine) = uname.split_once(' ').unwrap_or((&uname, ""));
    if os != "Linux" {
        return Err(say(format!(
            "not Linux (uname says {uname:?}): the harness reads /proc and /sys"
        )));
    }
    let copied = binaries(&t, host, local, names, copy, machine, local_bin).map_err(|e| {
        e.into_iter()
            .map(|m| format!("host {}: {m}", host.name))
            .collect::<Vec<_>>()
    })?;
    let mut argv = vec![
        host.bin_dir.join("harness").to_string_lossy().into_owned(),
        "host-info".into(),
        "--role".into(),
        match role {
            HostRole::Server => "server".into(),
            HostRole::Generator => "generator".into(),
        },
        "--clock".into(),
    ];
    if let Some(c) = &host.cpus {
        argv.extend(["--cpus".into(), rtc_common::affinity::format_cpu_list(c)]);
    }
    if role == HostRole::Server {
        argv.push("--calibrate".into());
        // Each runtime's own SHA-256 speed, through its server, there.
        for (lang, bin) in [("go", "go-server"), ("rust", "rust-server")] {
            if names.iter().any(|n| n == bin) {
                let path = host.bin_dir.join(bin).to_string_lossy().into_owned();
                argv.extend(["--calibrate-server".into(), format!("{lang}={path}")]);
            }
        }
    }
    if let Some((path, bytes)) = data_file {
        argv.extend([
            "--data-file".into(),
            path.to_string_lossy().into_owned(),
            "--data-file-bytes".into(),
            bytes.to_string(),
        ]);
    }
    let (info, clock) = info_and_clock(&t, &argv).map_err(say)?;
    let mut problems: Vec<String> = info
        .problems
        .iter()
        .map(|p| format!("host {}: {p}", host.name))
        .collect();
    if role == HostRole::Server && info.placement.server_cpus.is_empty() {
        problems.push(format!("host {}: no CPU for the server", host.name));
    }
    if role == HostRole::Generator && info.placement.client_cpus.is_empty() {
        problems.push(format!("host {}: no CPU for the load generator", host.name));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ReadyHost {
        host: host.clone(),
        role,
        transport: t,
        info,
        clock,
        binaries: names
            .iter()
            .filter_map(|n| local.get(n).map(|h| (n.clone(), h.clone())))
            .collect(),
        copied,
    })
}

/// The host's binaries against the controller's; copies the missing and
/// different ones when asked. Returns the names copied.
fn binaries(
    t: &Transport,
    host: &Host,
    local: &BTreeMap<String, String>,
    names: &[String],
    copy: bool,
    machine: &str,
    local_bin: &Path,
) -> Result<Vec<String>, Vec<String>> {
    let remote = |n: &str| host.bin_dir.join(n).to_string_lossy().into_owned();
    let hashes = || -> Result<BTreeMap<String, String>, Vec<String>> {
        let mut argv = vec!["sha256sum".to_string(), "--".to_string()];
        argv.extend(names.iter().map(|n| remote(n)));
        // Exit 1 when a file is missing: the lines it did print still count.
        let out = t
            .output(&argv, b"", Duration::from_secs(120))
            .map_err(|e| vec![e])?;
        Ok(parse_sha256sum(&String::from_utf8_lossy(&out.stdout)))
    };
    let wrong = |have: &BTreeMap<String, String>| -> Vec<(String, String)> {
        names
            .iter()
            .filter_map(|n| {
                let want = &local[n];
                match have.get(&remote(n)) {
                    None => Some((n.clone(), format!("{} is missing", remote(n)))),
                    Some(h) if h != want => Some((
                        n.clone(),
                        format!(
                            "{} differs from the controller's {} (sha256 {}… there, {}… here)",
                            remote(n),
                            local_bin.join(n).display(),
                            &h[..12],
                            &want[..12]
                        ),
                    )),
                    _ => None,
                }
            })
            .collect()
    };
    let bad = wrong(&hashes()?);
    if bad.is_empty() {
        return Ok(Vec::new());
    }
    if !copy {
        return Err(bad
            .into_iter()
            .map(|(_, m)| format!("{m} (`--copy-binaries` copies them)"))
            .collect());
    }
    if machine != std::env::consts::ARCH {
        return Err(vec![format!(
            "it is {machine}, the controller's binaries are {}: build them there",
            std::env::consts::ARCH
        )]);
    }
    let files: Vec<PathBuf> = bad.iter().map(|(n, _)| local_bin.join(n)).collect();
    t.copy(&files, &host.bin_dir, Duration::from_secs(600))
        .map_err(|e| vec![format!("copying the binaries failed: {e}")])?;
    let still = wrong(&hashes()?);
    if !still.is_empty() {
        return Err(still
            .into_iter()
            .map(|(_, m)| format!("after copying: {m}"))
            .collect());
    }
    Ok(bad.into_iter().map(|(n, _)| n).collect())
}

/// Runs `harness host-info ... --clock` and measures the clock over the
/// same session: eight exchanges, the quickest decides.
fn info_and_clock(t: &Transport, argv: &[String]) -> Result<(HostInfo, ClockOffset), String> {
    let mut child = t
        .spawn_piped(argv)
        .map_err(|e| format!("cannot run harness host-info: {e}"))?;
    let mut input = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let err_text = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let result = (|| {
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| "harness host-info printed nothing".to_string())?;
        let info: HostInfo = serde_json::from_str(&first)
            .map_err(|e| format!("harness host-info printed no host record ({e}): {first:.120}"))?;
        let mut readings = Vec::new();
        for _ in 0..8 {
            let sent = unix_ms();
            input
                .write_all(b"t\n")
                .and_then(|_| input.flush())
                .map_err(|e| format!("clock exchange: {e}"))?;
            let line = rx
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| "no clock reading within 10 s".to_string())?;
            let received = unix_ms();
            let host_ms: f64 = line
                .trim()
                .parse()
                .map_err(|_| format!("not a clock reading: {line:.40}"))?;
            readings.push((sent, host_ms, received));
        }
        let clock = clock_offset(&readings).ok_or("no usable clock reading")?;
        Ok((info, clock))
    })();
    drop(input);
    let ended = super::transport::wait_bounded(&mut child, Duration::from_secs(10));
    let stderr_text = err_text.join().unwrap_or_default();
    result.map_err(|e: String| {
        let last = stderr_text
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("");
        if ended.is_some_and(|s| s.code() == Some(255))
            && matches!(t.reach, crate::config::hosts::Reach::Ssh(_))
        {
            format!("{}: cannot connect: {last}", t.describe())
        } else if last.is_empty() {
            e
        } else {
            format!("{e}; stderr: {last}")
        }
    })
}

/// One host's record in meta.json (`hosts`).
#[derive(Debug, Clone, Serialize)]
pub struct HostRecord {
    pub name: String,
    pub role: HostRole,
    /// "ssh", "netns" or "local", and the destination or namespace.
    pub transport: String,
    pub destination: String,
    pub bin_dir: String,
    pub work_dir: String,
    /// Generators: the share of connections and rate.
    pub weight: Option<f64>,
    pub hostname: String,
    pub machine: String,
    pub kernel: String,
    pub cpu_model: Option<String>,
    pub cpus_allowed: String,
    pub clock_offset_ms: f64,
    pub clock_uncertainty_ms: f64,
    /// Name -> sha256 of the binaries it ran (the controller's).
    pub binaries: BTreeMap<String, String>,
    pub copied: Vec<String>,
    pub sha_rounds_per_ms: Option<f64>,
    /// Server host: each server's own speed, measured through it there.
    pub sha_rounds_per_ms_by_language: BTreeMap<crate::config::profile::Language, f64>,
    pub placement: crate::run::placement::Placement,
    pub provenance: crate::run::provenance::Provenance,
}

impl ReadyHost {
    pub fn record(&self) -> HostRecord {
        HostRecord {
            name: self.host.name.clone(),
            role: self.role,
            transport: self.host.reach.kind().into(),
            destination: self.host.reach.destination().into(),
            bin_dir: self.host.bin_dir.display().to_string(),
            work_dir: self.host.work_dir.display().to_string(),
            weight: (self.role == HostRole::Generator).then_some(self.host.weight),
            hostname: self.info.hostname.clone(),
            machine: self.info.machine.clone(),
            kernel: self.info.kernel.clone(),
            cpu_model: self.info.cpu_model.clone(),
            cpus_allowed: rtc_common::affinity::format_cpu_list(&self.info.cpus_allowed),
            clock_offset_ms: self.clock.offset_ms,
            clock_uncertainty_ms: self.clock.uncertainty_ms,
            binaries: self.binaries.clone(),
            copied: self.copied.clone(),
            sha_rounds_per_ms: self.info.sha_rounds_per_ms,
            sha_rounds_per_ms_by_language: self.info.sha_rounds_per_ms_by_language.clone(),
            placement: self.info.placement.clone(),
            provenance: self.info.provenance.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sum_lines_parse_and_a_file_hashes_as_sha256sum_says() {
        let t = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  /opt/a\n\
                 sha256sum: /opt/b: No such file or directory\n\
                 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 */opt/c d\n";
        let m = parse_sha256sum(t);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m["/opt/a"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(m.contains_key("/opt/c d"));
        let dir = std::env::temp_dir().join(format!("rtc-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("abc");
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(
            sha256_file(&f).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
