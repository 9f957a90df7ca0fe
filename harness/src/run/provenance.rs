//! What the machine was like during a run, beyond the CPU model: SMT,
//! NUMA and L3 layout, frequency governor and boost per CPU used, whether
//! it is a VM and how much time the hypervisor stole, THP and the socket
//! and overcommit settings. Recorded in meta.json (`provenance`) and shown
//! in the report; `assess` turns the facts into notes and warnings.
//!
//! Every reader takes a `HostPaths` (the host's `/sys` and `/proc`), so the
//! tests read fixture trees and another host can be read the same way.
//! Files that are absent (no cpufreq on a VM, no DMI in a container) read
//! as "unavailable"; nothing here fails a run.

use super::placement::{Placement, Role, plural};
use super::topology::{self, Topology};
use rtc_common::affinity::format_cpu_list;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const UNAVAILABLE: &str = "unavailable";

/// Steal above this fraction of the used CPUs' time over a run is a
/// warning. The narrowest margins the verdict rules use are ratios of
/// 0.9 / 1.1 (harness/claims.toml): 2 % is a fifth of that, so steal under
/// it cannot by itself carry a median across a threshold, while more may.
/// (This development VM measured 0.02 % of its time since boot.)
pub const STEAL_LIMIT_FRACTION: f64 = 0.02;

/// Where a host's sysfs and procfs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    pub sys: PathBuf,
    pub proc: PathBuf,
}

impl HostPaths {
    pub fn local() -> HostPaths {
        HostPaths {
            sys: "/sys".into(),
            proc: "/proc".into(),
        }
    }

    /// A copied tree with `sys/` and `proc/` under `root` (the fixtures).
    pub fn under(root: &Path) -> HostPaths {
        HostPaths {
            sys: root.join("sys"),
            proc: root.join("proc"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuFreq {
    pub cpu: usize,
    pub role: Role,
    /// cpufreq/scaling_governor, or "unavailable".
    pub governor: String,
    /// "on", "off" or "unavailable" (cpufreq boost, or intel_pstate no_turbo).
    pub boost: String,
}

/// The answers of `systemd-detect-virt --vm` and `--container` ("none"
/// when there is none); None when the tool is not installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectVirt {
    pub vm: Option<String>,
    pub container: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Virtualization {
    /// None when no evidence either way.
    pub is_vm: Option<bool>,
    /// The `hypervisor` CPU flag in /proc/cpuinfo; None without cpuinfo.
    pub hypervisor_flag: Option<bool>,
    pub detect_virt_vm: Option<String>,
    pub detect_virt_container: Option<String>,
    pub dmi_sys_vendor: Option<String>,
    pub dmi_product_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Steal {
    /// The CPUs it was measured on (server and load generator).
    pub cpus: String,
    pub fraction: f64,
    pub limit_fraction: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Online physical cores and hardware threads of the whole host.
    pub cores: usize,
    pub threads: usize,
    pub packages: usize,
    /// smt/active, or derived from the topology where it is missing.
    pub smt_active: bool,
    /// smt/control ("on", "off", "notsupported", ...) or "unavailable".
    pub smt_control: String,
    pub numa_nodes: usize,
    pub l3_domains: usize,
    /// One entry per CPU the server or the load generator uses.
    pub cpufreq: Vec<CpuFreq>,
    pub virtualization: Virtualization,
    /// The bracketed choice of transparent_hugepage/enabled.
    pub thp_enabled: String,
    pub overcommit_memory: String,
    pub somaxconn: String,
    /// The tokio version the Rust server reported linking (its config
    /// line, from Cargo.lock at build time); None before a Rust trial ran.
    pub tokio_version: Option<String>,
    /// Over the run; None until it ends.
    pub steal: Option<Steal>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// A sysfs/procfs value, trimmed; None when absent or empty.
fn read_trim(path: &Path) -> Option<String> {
    topology::read_trim(path).filter(|s| !s.is_empty())
}

fn or_unavailable(v: Option<String>) -> String {
    v.unwrap_or_else(|| UNAVAILABLE.into())
}

/// The bracketed word of a sysfs choice file: "always [madvise] never" -> "madvise".
pub fn bracketed(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let len = text[start..].find(']')?;
    Some(text[start..start + len].to_string())
}

/// Whether /proc/cpuinfo's first `flags` line lists `hypervisor`; None
/// when there is no flags line (some architectures).
pub fn hypervisor_flag(cpuinfo: &str) -> Option<bool> {
    let line = cpuinfo.lines().find(|l| l.starts_with("flags"))?;
    let (_, flags) = line.split_once(':')?;
    Some(flags.split_whitespace().any(|f| f == "hypervisor"))
}

/// DMI strings that name a hypervisor, matched case-insensitively.
const VM_DMI: [&str; 10] = [
    "qemu",
    "kvm",
    "vmware",
    "virtualbox",
    "innotek",
    "xen",
    "amazon ec2",
    "google compute engine",
    "virtual machine",
    "bochs",
];

/// Combines the evidence: any positive sign makes a VM; a negative
/// hypervisor flag or `--vm` answer of "none", with no positive sign,
/// makes bare metal; nothing at all leaves it unknown.
pub fn is_vm(v: &Virtualization) -> Option<bool> {
    let dmi = [&v.dmi_sys_vendor, &v.dmi_product_name]
        .into_iter()
        .flatten()
        .any(|s| {
            let s = s.to_lowercase();
            VM_DMI.iter().any(|k| s.contains(k))
        });
    let detect = v.detect_virt_vm.as_deref().map(|s| s != "none");
    if v.hypervisor_flag == Some(true) || detect == Some(true) || dmi {
        Some(true)
    } else if v.hypervisor_flag == Some(false) || detect == Some(false) {
        Some(false)
    } else {
        None
    }
}

/// Runs `systemd-detect-virt` on this host, if installed.
pub fn detect_virt() -> DetectVirt {
    let ask = |flag: &str| {
        // Exits 1 with "none" when there is none: the text is the answer.
        let out = std::process::Command::new("systemd-detect-virt")
            .arg(flag)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!s.is_empty()).then_some(s)
    };
    DetectVirt {
        vm: ask("--vm"),
        container: ask("--container"),
    }
}

/// scaling_governor of one CPU, or "unavailable".
pub fn governor(sys: &Path, cpu: usize) -> String {
    or_unavailable(read_trim(&sys.join(format!(
        "devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"
    ))))
}

/// Boost/turbo of one CPU: its policy's `boost` (newer kernels), the
/// global cpufreq `boost` (acpi-cpufreq, amd-pstate), or intel_pstate's
/// `no_turbo` (inverted); "unavailable" when none exists.
pub fn boost(sys: &Path, cpu: usize) -> String {
    let cpu_dir = sys.join("devices/system/cpu");
    let on_off = |v: &str, invert: bool| match (v, invert) {
        ("1", false) | ("0", true) => "on".to_string(),
        ("0", false) | ("1", true) => "off".to_string(),
        (other, _) => format!("unknown ({other})"),
    };
    for (path, invert) in [
        (cpu_dir.join(format!("cpu{cpu}/cpufreq/boost")), false),
        (cpu_dir.join("cpufreq/boost"), false),
        (cpu_dir.join("intel_pstate/no_turbo"), true),
    ] {
        if let Some(v) = read_trim(&path) {
            return on_off(&v, invert);
        }
    }
    UNAVAILABLE.into()
}

/// Reads the host's facts; notes and warnings come from `assess`.
pub fn read(
    paths: &HostPaths,
    topo: &Topology,
    placement: &Placement,
    virt: &DetectVirt,
) -> Provenance {
    let sys = &paths.sys;
    let cpufreq = placement
        .cpus
        .iter()
        .filter(|c| c.role != Role::Idle)
        .map(|c| CpuFreq {
            cpu: c.at.cpu,
            role: c.role,
            governor: governor(sys, c.at.cpu),
            boost: boost(sys, c.at.cpu),
        })
        .collect();
    let mut virtualization = Virtualization {
        is_vm: None,
        hypervisor_flag: read_trim(&paths.proc.join("cpuinfo"))
            .as_deref()
            .and_then(hypervisor_flag),
        detect_virt_vm: virt.vm.clone(),
        detect_virt_container: virt.container.clone(),
        dmi_sys_vendor: read_trim(&sys.join("class/dmi/id/sys_vendor")),
        dmi_product_name: read_trim(&sys.join("class/dmi/id/product_name")),
    };
    virtualization.is_vm = is_vm(&virtualization);
    Provenance {
        cores: topo.cores.len(),
        threads: topo.cpus.len(),
        packages: topo.packages(),
        smt_active: read_trim(&sys.join("devices/system/cpu/smt/active"))
            .map(|s| s == "1")
            .unwrap_or_else(|| topo.smt_present()),
        smt_control: or_unavailable(read_trim(&sys.join("devices/system/cpu/smt/control"))),
        numa_nodes: topo.nodes.len(),
        l3_domains: topo.l3_domains.len(),
        cpufreq,
        virtualization,
        thp_enabled: or_unavailable(
            read_trim(&sys.join("kernel/mm/transparent_hugepage/enabled"))
                .and_then(|s| bracketed(&s)),
        ),
        overcommit_memory: or_unavailable(read_trim(&paths.proc.join("sys/vm/overcommit_memory"))),
        somaxconn: or_unavailable(read_trim(&paths.proc.join("sys/net/core/somaxconn"))),
        tokio_version: None,
        steal: None,
        notes: Vec::new(),
        warnings: Vec::new(),
    }
}

/// CPUs grouped by their value of something.
fn by_value<'a>(items: impl Iterator<Item = (usize, &'a str)>) -> BTreeMap<&'a str, Vec<usize>> {
    let mut m: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (cpu, v) in items {
        m.entry(v).or_default().push(cpu);
    }
    m
}

impl Provenance {
    /// The per-CPU governors in one line: "performance: CPUs 0-3; powersave: CPUs 4".
    pub fn governors_text(&self) -> String {
        group_text(by_value(
            self.cpufreq.iter().map(|c| (c.cpu, c.governor.as_str())),
        ))
    }

    pub fn boost_text(&self) -> String {
        group_text(by_value(
            self.cpufreq.iter().map(|c| (c.cpu, c.boost.as_str())),
        ))
    }

    /// The host's facts as (label, text) rows: `harness check` prints them,
    /// the report's Environment section shows them.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let v = &self.virtualization;
        let mut virt: Vec<String> = Vec::new();
        if let Some(k) = v.detect_virt_vm.as_deref().filter(|k| *k != "none") {
            virt.push(format!("{k} (systemd-detect-virt)"));
        }
        if v.hypervisor_flag == Some(true) {
            virt.push("hypervisor CPU flag".into());
        }
        let dmi: Vec<&str> = [&v.dmi_sys_vendor, &v.dmi_product_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if !dmi.is_empty() {
            virt.push(format!("DMI: {}", dmi.join(" ")));
        }
        let kind = match v.is_vm {
            Some(true) => "VM",
            Some(false) => "bare metal",
            None => "unknown",
        };
        let mut virt = if virt.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}: {}", virt.join(", "))
        };
        if let Some(c) = v.detect_virt_container.as_deref().filter(|c| *c != "none") {
            virt += &format!("; container: {c}");
        }
        vec![
            (
                "host CPUs",
                format!(
                    "{} cores, {} threads, {}; SMT {} (control: {})",
                    self.cores,
                    self.threads,
                    plural(self.packages, "package", "packages"),
                    if self.smt_active {
                        "active"
                    } else {
                        "inactive"
                    },
                    self.smt_control
                ),
            ),
            (
                "NUMA nodes / L3 domains",
                format!("{} / {}", self.numa_nodes, self.l3_domains),
            ),
            ("frequency governor", self.governors_text()),
            ("boost / turbo", self.boost_text()),
            ("virtualization", virt),
            ("transparent huge pages", self.thp_enabled.clone()),
            ("vm.overcommit_memory", self.overcommit_memory.clone()),
            ("net.core.somaxconn", self.somaxconn.clone()),
        ]
    }

    /// What only the run's end knows: steal time and the linked tokio.
    pub fn describe_run(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "steal time over the run",
                match &self.steal {
                    Some(s) => format!(
                        "{:.2} % of CPUs {}'s time (warning above {:.0} %)",
                        s.fraction * 100.0,
                        s.cpus,
                        s.limit_fraction * 100.0
                    ),
                    None => "not measured".into(),
                },
            ),
            (
                "tokio (linked)",
                match &self.tokio_version {
                    Some(v) => format!("{v} (the Rust server's config line)"),
                    None => "not reported: no Rust server ran".into(),
                },
            ),
        ]
    }

    /// Notes and warnings from the facts (rewritten, not appended: call it
    /// again after the steal time is in).
    pub fn assess(&mut self, git_dirty: Option<bool>) {
        let mut notes = Vec::new();
        let mut warnings = Vec::new();
        let govs = by_value(self.cpufreq.iter().map(|c| (c.cpu, c.governor.as_str())));
        let vm = self.virtualization.is_vm == Some(true);
        for (g, cpus) in &govs {
            let cpus = format_cpu_list(cpus);
            match *g {
                "performance" => {}
                UNAVAILABLE if vm => notes.push(format!(
                    "no cpufreq in this VM (CPUs {cpus}): the host sets the clock; governor and boost recorded as unavailable"
                )),
                UNAVAILABLE => notes.push(format!(
                    "no cpufreq for CPUs {cpus}: the frequency governor and boost cannot be told"
                )),
                other => warnings.push(format!(
                    "the frequency governor is {other}, not performance, on CPUs {cpus}: the clock follows the load, so short or bursty work runs slower and varies more (`cpupower frequency-set -g performance`)"
                )),
            }
        }
        let boosted: Vec<usize> = self
            .cpufreq
            .iter()
            .filter(|c| c.boost == "on")
            .map(|c| c.cpu)
            .collect();
        if !boosted.is_empty() {
            notes.push(format!(
                "boost/turbo is on for CPUs {}: their clock depends on temperature and on how many cores are busy",
                format_cpu_list(&boosted)
            ));
        }
        if let Some(s) = &self.steal
            && s.fraction > s.limit_fraction
        {
            warnings.push(format!(
                "steal time was {:.1} % of CPUs {}'s time over the run (limit {:.0} %): the hypervisor ran something else while this run wanted those CPUs, which inflates latency and throughput figures unevenly",
                s.fraction * 100.0,
                s.cpus,
                s.limit_fraction * 100.0
            ));
        }
        if git_dirty == Some(true) {
            warnings.push(
                "the git tree had uncommitted changes to tracked files: the recorded commit does not identify the code that ran".into(),
            );
        }
        self.notes = notes;
        self.warnings = warnings;
    }
}

fn group_text(m: BTreeMap<&str, Vec<usize>>) -> String {
    if m.is_empty() {
        return UNAVAILABLE.into();
    }
    m.iter()
        .map(|(v, cpus)| format!("{v}: CPUs {}", format_cpu_list(cpus)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One CPU's /proc/stat times, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTicks {
    pub steal: u64,
    /// user + nice + system + idle + iowait + irq + softirq + steal (guest
    /// time is already inside user and nice).
    pub total: u64,
}

/// The per-CPU `cpuN` lines of a /proc/stat text.
pub fn parse_proc_stat(text: &str) -> Result<BTreeMap<usize, CpuTicks>, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some(cpu) = f
            .next()
            .and_then(|n| n.strip_prefix("cpu"))
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let cpu: usize = cpu
            .parse()
            .map_err(|_| format!("/proc/stat: bad CPU name in {line:?}"))?;
        let v: Vec<u64> = f
            .take(8)
            .map(|x| {
                x.parse()
                    .map_err(|_| format!("/proc/stat: bad number {x:?} in {line:?}"))
            })
            .collect::<Result<_, _>>()?;
        if v.len() < 4 {
            return Err(format!("/proc/stat: too few fields in {line:?}"));
        }
        out.insert(
            cpu,
            CpuTicks {
                steal: v.get(7).copied().unwrap_or(0),
                total: v.iter().sum(),
            },
        );
    }
    if out.is_empty() {
        return Err("/proc/stat: no cpuN lines".into());
    }
    Ok(out)
}

/// Steal time of `cpus` between two /proc/stat texts, as a fraction of
/// their time. Errors: a CPU missing, counters that went back (a CPU
/// hot-plugged in between), or no time passed.
pub fn steal_fraction(start: &str, end: &str, cpus: &[usize]) -> Result<f64, String> {
    let (a, b) = (parse_proc_stat(start)?, parse_proc_stat(end)?);
    let (mut steal, mut total) = (0u64, 0u64);
    for c in cpus {
        let (Some(x), Some(y)) = (a.get(c), b.get(c)) else {
            return Err(format!("/proc/stat has no line for cpu{c}"));
        };
        if y.total < x.total || y.steal < x.steal {
            return Err(format!("/proc/stat counters of cpu{c} went back"));
        }
        steal += y.steal - x.steal;
        total += y.total - x.total;
    }
    if total == 0 {
        return Err("no CPU time passed between the two /proc/stat readings".into());
    }
    Ok(steal as f64 / total as f64)
}

/// Steal time of `cpus` since boot (one /proc/stat text).
pub fn steal_since_boot(text: &str, cpus: &[usize]) -> Result<f64, String> {
    let zero: String = cpus
        .iter()
        .map(|c| format!("cpu{c} 0 0 0 0 0 0 0 0\n"))
        .collect();
    steal_fraction(&zero, text, cpus)
}

/// The host's /proc/stat text.
pub fn read_proc_stat(paths: &HostPaths) -> Option<String> {
    std::fs::read_to_string(paths.proc.join("stat")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::placement::place;
    use crate::run::topology::fixtures::{allowed, root, topology};

    fn provenance(name: &str, virt: DetectVirt) -> Provenance {
        let t = topology(name);
        let p = place(&t, &allowed(name), None).unwrap();
        read(&HostPaths::under(&root(name)), &t, &p, &virt)
    }

    #[test]
    fn the_2_vcpu_vm_reads_as_a_vm_without_cpufreq() {
        let mut p = provenance(
            "vm-2cpu",
            DetectVirt {
                vm: Some("kvm".into()),
                container: Some("docker".into()),
            },
        );
        assert_eq!((p.cores, p.threads, p.packages), (2, 2, 1));
        assert!(!p.smt_active);
        assert_eq!(p.smt_control, "notsupported");
        assert_eq!((p.numa_nodes, p.l3_domains), (1, 1));
        assert_eq!(p.thp_enabled, "madvise");
        assert_eq!(p.overcommit_memory, "0");
        assert_eq!(p.somaxconn, "4096");
        assert_eq!(p.cpufreq.len(), 2);
        assert!(
            p.cpufreq
                .iter()
                .all(|c| c.governor == UNAVAILABLE && c.boost == UNAVAILABLE)
        );
        assert_eq!(p.cpufreq[0].role, Role::Server);
        let v = &p.virtualization;
        assert_eq!(v.hypervisor_flag, Some(true));
        assert_eq!(v.is_vm, Some(true));
        assert_eq!(v.dmi_sys_vendor, None);
        p.assess(Some(false));
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert!(p.notes.iter().any(|n| n.contains("no cpufreq in this VM")));
        assert_eq!(p.governors_text(), "unavailable: CPUs 0-1");
        let rows: BTreeMap<&str, String> = p.describe().into_iter().collect();
        assert_eq!(
            rows["host CPUs"],
            "2 cores, 2 threads, 1 package; SMT inactive (control: notsupported)"
        );
        assert_eq!(
            rows["virtualization"],
            "VM: kvm (systemd-detect-virt), hypervisor CPU flag; container: docker"
        );
        assert_eq!(rows["NUMA nodes / L3 domains"], "1 / 1");
        let run: BTreeMap<&str, String> = p.describe_run().into_iter().collect();
        assert_eq!(run["steal time over the run"], "not measured");
    }

    #[test]
    fn bare_metal_governors_and_turbo_per_cpu() {
        let mut p = provenance("intel-8c16t", DetectVirt::default());
        assert_eq!((p.cores, p.threads), (8, 16));
        assert!(p.smt_active);
        assert_eq!(p.smt_control, "on");
        assert_eq!(p.thp_enabled, "always");
        assert_eq!(p.virtualization.is_vm, Some(false));
        assert_eq!(
            p.virtualization.dmi_sys_vendor.as_deref(),
            Some("Dell Inc.")
        );
        assert_eq!(p.cpufreq.len(), 16);
        assert!(p.cpufreq.iter().all(|c| c.boost == "on"), "no_turbo = 0");
        assert_eq!(
            p.governors_text(),
            "performance: CPUs 0-4,6-12,14-15; powersave: CPUs 5,13"
        );
        p.assess(Some(true));
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("powersave, not performance, on CPUs 5,13"));
        assert!(p.warnings[1].contains("uncommitted"));
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("boost/turbo is on for CPUs 0-15"))
        );
        let rows: BTreeMap<&str, String> = p.describe().into_iter().collect();
        assert_eq!(
            rows["virtualization"],
            "bare metal: DMI: Dell Inc. Precision 3660"
        );
        assert_eq!(rows["boost / turbo"], "on: CPUs 0-15");

        let mut p = provenance("amd-2ccx", DetectVirt::default());
        assert_eq!(p.cpufreq.len(), 12, "the 4 idle CPUs are not listed");
        assert!(
            p.cpufreq.iter().all(|c| c.boost == "on"),
            "cpufreq/boost = 1"
        );
        assert_eq!(p.l3_domains, 2);
        p.assess(None);
        assert!(p.warnings[0].contains("schedutil"), "{:?}", p.warnings);
    }

    #[test]
    fn boost_sources_in_order() {
        let dir = std::env::temp_dir().join(format!("rtc-boost-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cpu = dir.join("devices/system/cpu");
        assert_eq!(boost(&dir, 0), UNAVAILABLE);
        std::fs::create_dir_all(cpu.join("intel_pstate")).unwrap();
        std::fs::write(cpu.join("intel_pstate/no_turbo"), "1\n").unwrap();
        assert_eq!(boost(&dir, 0), "off");
        std::fs::create_dir_all(cpu.join("cpufreq")).unwrap();
        std::fs::write(cpu.join("cpufreq/boost"), "1\n").unwrap();
        assert_eq!(boost(&dir, 0), "on");
        std::fs::create_dir_all(cpu.join("cpu0/cpufreq")).unwrap();
        std::fs::write(cpu.join("cpu0/cpufreq/boost"), "0\n").unwrap();
        assert_eq!(boost(&dir, 0), "off");
        assert_eq!(boost(&dir, 1), "on");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn vm_evidence_combines() {
        let v = |flag, vm: Option<&str>, vendor: Option<&str>| Virtualization {
            hypervisor_flag: flag,
            detect_virt_vm: vm.map(String::from),
            dmi_sys_vendor: vendor.map(String::from),
            ..Default::default()
        };
        assert_eq!(is_vm(&v(None, None, None)), None);
        assert_eq!(is_vm(&v(Some(false), None, None)), Some(false));
        assert_eq!(
            is_vm(&v(Some(false), Some("none"), Some("LENOVO"))),
            Some(false)
        );
        assert_eq!(is_vm(&v(Some(true), None, None)), Some(true));
        assert_eq!(is_vm(&v(None, Some("kvm"), None)), Some(true));
        assert_eq!(is_vm(&v(Some(false), None, Some("QEMU"))), Some(true));
        assert_eq!(is_vm(&v(None, None, Some("Amazon EC2"))), Some(true));
        assert_eq!(
            hypervisor_flag("flags\t: fpu vme hypervisor lahf_lm\n"),
            Some(true)
        );
        assert_eq!(hypervisor_flag("flags\t: fpu vme\n"), Some(false));
        assert_eq!(hypervisor_flag("processor : 0\n"), None);
        assert_eq!(
            bracketed("always [madvise] never").as_deref(),
            Some("madvise")
        );
        assert_eq!(bracketed("[never]").as_deref(), Some("never"));
        assert_eq!(bracketed("always"), None);
    }

    const START: &str = "cpu  300 0 30 600 0 0 0 30 0 0\n\
                         cpu0 100 0 10 300 0 0 0 10 0 0\n\
                         cpu1 200 0 20 300 0 0 0 20 5 0\n\
                         intr 1 2 3\n";
    const END: &str = "cpu  600 0 60 1200 0 0 0 60 0 0\n\
                       cpu0 150 0 20 340 0 0 0 10 0 0\n\
                       cpu1 400 0 40 520 0 0 0 80 9 0\n";

    #[test]
    fn steal_is_the_stolen_share_of_the_cpus_time() {
        let t = parse_proc_stat(START).unwrap();
        assert_eq!(t.len(), 2, "the aggregate `cpu` line is not a CPU");
        assert_eq!(
            t[&1],
            CpuTicks {
                steal: 20,
                total: 540
            }
        );
        // cpu0: 0 stolen of 100; cpu1: 60 stolen of 500.
        assert_eq!(steal_fraction(START, END, &[0]).unwrap(), 0.0);
        assert_eq!(steal_fraction(START, END, &[1]).unwrap(), 60.0 / 500.0);
        assert_eq!(steal_fraction(START, END, &[0, 1]).unwrap(), 60.0 / 600.0);
        assert!(
            steal_fraction(START, END, &[2])
                .unwrap_err()
                .contains("cpu2")
        );
        assert!(
            steal_fraction(END, START, &[1])
                .unwrap_err()
                .contains("went back")
        );
        assert!(steal_fraction(START, START, &[0]).is_err());
        assert!(parse_proc_stat("cpu0 1 x 3 4\n").is_err());
        assert!(parse_proc_stat("intr 1\n").is_err());
        // Old kernels without the steal column: none.
        assert_eq!(
            steal_fraction("cpu0 1 0 1 1\n", "cpu0 2 0 2 2\n", &[0]).unwrap(),
            0.0
        );
        assert_eq!(steal_since_boot(START, &[1]).unwrap(), 20.0 / 540.0);
    }

    #[test]
    fn steal_since_boot_on_the_copied_vm_stat() {
        let text = read_proc_stat(&HostPaths::under(&root("vm-2cpu"))).unwrap();
        // cpu0 72607 10826 9803 21077 54 0 510 22; cpu1 74636 9348 11388 18443 270 0 817 31
        let f = steal_since_boot(&text, &[0, 1]).unwrap();
        let cpu0 = 72607 + 10826 + 9803 + 21077 + 54 + 510 + 22;
        let cpu1 = 74636 + 9348 + 11388 + 18443 + 270 + 817 + 31;
        let want = (22.0 + 31.0) / f64::from(cpu0 + cpu1);
        assert!((f - want).abs() < 1e-12, "{f} vs {want}");
    }

    #[test]
    fn steal_over_the_limit_warns() {
        let mut p = Provenance {
            steal: Some(Steal {
                cpus: "0-1".into(),
                fraction: 0.031,
                limit_fraction: STEAL_LIMIT_FRACTION,
            }),
            ..Default::default()
        };
        p.assess(None);
        assert_eq!(
            p.describe_run()[0].1,
            "3.10 % of CPUs 0-1's time (warning above 2 %)"
        );
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("3.1 % of CPUs 0-1") && p.warnings[0].contains("limit 2 %"));
        p.steal.as_mut().unwrap().fraction = 0.01;
        p.assess(None);
        assert!(p.warnings.is_empty());
    }
}
