//! What `harness run --hosts` decides before its first trial and records
//! after its last: the hosts checked and prepared, the placement on the
//! server host (and per scenario that fixes `server_cpus`), and every
//! host's record for meta.json with the steal time over the run.

use super::check::{self, HostRecord, Needs, Ready, ReadyHost};
use super::host_info::HostInfo;
use crate::config::hosts::Hosts;
use crate::config::profile::{Profile, Variants};
use crate::run::placement::{self, Placement};
use crate::run::provenance::{self, Steal};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The server binaries a profile's scenarios need.
pub fn server_binaries(variants: &Variants, p: &Profile) -> Vec<String> {
    let mut v: Vec<String> = p
        .scenarios
        .iter()
        .flat_map(|s| s.variants.iter().map(|v| variants[v].server.clone()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Checks and prepares every host for `p`; Err is one line per problem.
pub fn check_hosts(
    hosts: &Hosts,
    bin_dir: &Path,
    variants: &Variants,
    p: &Profile,
    copy: bool,
) -> Result<Ready, Vec<String>> {
    let needs = Needs {
        server_binaries: server_binaries(variants, p),
        data_file_bytes: Some(p.defaults.data_file_bytes),
        copy,
    };
    let mut ready = check::prepare(hosts, bin_dir, &needs)?;
    for h in std::iter::once(&mut ready.server).chain(&mut ready.generators) {
        h.info.provenance.assess(None);
    }
    let mut problems = Vec::new();
    if let Err(e) = placements(&ready.server.info, p) {
        problems.extend(e);
    }
    if problems.is_empty() {
        Ok(ready)
    } else {
        Err(problems)
    }
}

/// The placement on the server host for every scenario that fixes
/// `server_cpus` (the others use the host's own, `info.placement`).
pub fn placements(
    info: &HostInfo,
    p: &Profile,
) -> Result<BTreeMap<String, Placement>, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut errs = Vec::new();
    for s in &p.scenarios {
        if let Some(n) = s.server_cpus {
            match placement::place(&info.topology, &info.cpus_allowed, Some(n)) {
                Ok(pl) => {
                    out.insert(s.id.clone(), pl);
                }
                Err(e) => errs.push(format!("server host: scenario {}: {e}", s.id)),
            }
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// meta.json's `hosts`.
#[derive(Debug, Clone, Serialize)]
pub struct HostsMeta {
    pub file: String,
    /// The server's listening address (the generators connect to it).
    pub address: String,
    pub start_lead_s: f64,
    pub server: HostRecord,
    pub generators: Vec<HostRecord>,
}

pub fn meta(hosts: &Hosts, ready: &Ready) -> HostsMeta {
    HostsMeta {
        file: hosts.path.display().to_string(),
        address: hosts.address.to_string(),
        start_lead_s: hosts.start_lead_s,
        server: ready.server.record(),
        generators: ready.generators.iter().map(ReadyHost::record).collect(),
    }
}

/// The host's `/proc/stat` now (for the steal time over the run).
pub fn proc_stat_now(h: &ReadyHost) -> Option<String> {
    let role = match h.role {
        super::host_info::HostRole::Server => "server",
        super::host_info::HostRole::Generator => "generator",
    };
    let argv = vec![
        h.harness().to_string_lossy().into_owned(),
        "host-info".into(),
        "--role".into(),
        role.into(),
    ];
    let out = h
        .transport
        .output(&argv, b"", Duration::from_secs(60))
        .ok()?;
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .to_string();
    serde_json::from_str::<HostInfo>(&first).ok()?.proc_stat
}

/// Removes the run's own scratch folder (`name` under each generator
/// host's work_dir): its files were sent back and taken, but the folder
/// stays, and so would a file of a generator ended before collection.
pub fn remove_scratch(ready: &Ready, name: &str) {
    for g in &ready.generators {
        let dir = g.host.work_dir.join(name).to_string_lossy().into_owned();
        let argv = vec!["rm".to_string(), "-rf".into(), "--".into(), dir];
        let _ = g.transport.output(&argv, b"", Duration::from_secs(30));
    }
}

/// The steal time of `rec`'s host over the run, from its `/proc/stat` at
/// the start (`start`) and now, on the CPUs its side used; then its notes
/// and warnings again.
pub fn finish_steal(rec: &mut HostRecord, start: Option<&str>, end: Option<&str>) {
    let p = &rec.placement;
    let mut used: Vec<usize> = p
        .server_cpus
        .iter()
        .chain(&p.client_cpus)
        .copied()
        .collect();
    used.sort_unstable();
    used.dedup();
    rec.provenance.steal = match (start, end) {
        (Some(a), Some(b)) => provenance::steal_fraction(a, b, &used).ok().map(|f| Steal {
            cpus: rtc_common::affinity::format_cpu_list(&used),
            fraction: f,
            limit_fraction: provenance::STEAL_LIMIT_FRACTION,
        }),
        _ => None,
    };
    rec.provenance.assess(None);
}
