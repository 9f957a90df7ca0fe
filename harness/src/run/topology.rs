//! A host's CPU topology, read from its sysfs: which CPUs are SMT threads of
//! one core, which share an L3 cache, which sit on one NUMA node. Every
//! reader takes the sysfs root as a path (`/sys` here, a fixture tree in
//! tests, another host's later), never a fixed "/sys". Placement on it is
//! `place` (module `placement`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One online CPU and where it sits. Core and L3 ids are indices numbered
/// by each group's first CPU, machine-wide (sysfs `core_id` repeats on
/// every package, so it cannot name a core alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    pub cpu: usize,
    pub core: usize,
    pub package: i64,
    pub die: i64,
    /// None where sysfs has no `devices/system/node` (kernels without NUMA).
    pub node: Option<usize>,
    /// None where sysfs shows no level-3 cache for this CPU.
    pub l3: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// Every online CPU, sorted by id.
    pub cpus: Vec<Cpu>,
    /// Each core's online CPUs (its SMT siblings), indexed by `Cpu::core`.
    pub cores: Vec<Vec<usize>>,
    /// Each L3 domain's online CPUs, indexed by `Cpu::l3`.
    pub l3_domains: Vec<Vec<usize>>,
    /// NUMA node id -> its online CPUs.
    pub nodes: BTreeMap<usize, Vec<usize>>,
    /// Files that were missing, and what was assumed instead.
    pub gaps: Vec<String>,
}

impl Topology {
    pub fn cpu(&self, id: usize) -> Option<&Cpu> {
        self.cpus
            .binary_search_by_key(&id, |c| c.cpu)
            .ok()
            .map(|i| &self.cpus[i])
    }

    /// Some core has more than one online thread.
    pub fn smt_present(&self) -> bool {
        self.cores.iter().any(|c| c.len() > 1)
    }

    pub fn packages(&self) -> usize {
        let mut p: Vec<i64> = self.cpus.iter().map(|c| c.package).collect();
        p.sort_unstable();
        p.dedup();
        p.len()
    }
}

pub(crate) fn read_trim(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn read_list(path: &Path) -> Result<Option<Vec<usize>>, String> {
    match read_trim(path) {
        None => Ok(None),
        Some(s) => rtc_common::affinity::parse_cpu_list(&s)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
    }
}

fn read_int(path: &Path) -> Result<Option<i64>, String> {
    match read_trim(path) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("{}: {s:?} is not an integer", path.display())),
    }
}

/// Numbers groups (lists of CPUs) by their first CPU: returns the sorted,
/// de-duplicated groups.
fn index_groups(groups: impl Iterator<Item = Vec<usize>>) -> Vec<Vec<usize>> {
    let mut g: Vec<Vec<usize>> = groups.collect();
    g.sort();
    g.dedup();
    g
}

/// The CPUs listed by `devices/system/cpu/online`, or every `cpuN`
/// directory where that file is missing.
fn online_cpus(sys: &Path) -> Result<Vec<usize>, String> {
    let cpu_dir = sys.join("devices/system/cpu");
    if let Some(l) = read_list(&cpu_dir.join("online"))? {
        return Ok(l);
    }
    let entries = std::fs::read_dir(&cpu_dir).map_err(|e| format!("{}: {e}", cpu_dir.display()))?;
    let mut cpus: Vec<usize> = entries
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("cpu")?
                .parse::<usize>()
                .ok()
        })
        .collect();
    cpus.sort_unstable();
    if cpus.is_empty() {
        return Err(format!("{}: no cpuN directories", cpu_dir.display()));
    }
    Ok(cpus)
}

/// The CPU list of this CPU's level-3 cache, if sysfs shows one.
fn l3_list(sys: &Path, cpu: usize) -> Result<Option<Vec<usize>>, String> {
    let cache = sys.join(format!("devices/system/cpu/cpu{cpu}/cache"));
    let Ok(entries) = std::fs::read_dir(&cache) else {
        return Ok(None);
    };
    let mut dirs: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("index"))
        })
        .collect();
    dirs.sort();
    for d in dirs {
        if read_int(&d.join("level"))? == Some(3) {
            return read_list(&d.join("shared_cpu_list"));
        }
    }
    Ok(None)
}

/// Reads the topology of the online CPUs under the sysfs root `sys`.
/// Missing optional files (die_id, caches, NUMA nodes) are recorded in
/// `gaps`; a malformed file is an error naming it.
pub fn read(sys: &Path) -> Result<Topology, String> {
    let online = online_cpus(sys)?;
    let mut gaps = Vec::new();
    let mut core_of = BTreeMap::new();
    let mut l3_of = BTreeMap::new();
    let mut ids = BTreeMap::new();
    for &cpu in &online {
        let topo = sys.join(format!("devices/system/cpu/cpu{cpu}/topology"));
        // core_cpus_list is the newer name of thread_siblings_list (5.x).
        let siblings = match read_list(&topo.join("core_cpus_list"))? {
            Some(l) => Some(l),
            None => read_list(&topo.join("thread_siblings_list"))?,
        };
        let siblings = siblings.unwrap_or_else(|| {
            gaps.push(format!(
                "cpu{cpu}: no topology/core_cpus_list: taken as a core of its own"
            ));
            vec![cpu]
        });
        let online_siblings: Vec<usize> = siblings
            .into_iter()
            .filter(|c| online.contains(c))
            .collect();
        if !online_siblings.contains(&cpu) {
            return Err(format!(
                "{}: cpu{cpu} is not among its own core's CPUs",
                topo.display()
            ));
        }
        core_of.insert(cpu, online_siblings);
        if let Some(l) = l3_list(sys, cpu)? {
            l3_of.insert(cpu, l.into_iter().filter(|c| online.contains(c)).collect());
        }
        let package = read_int(&topo.join("physical_package_id"))?.unwrap_or_else(|| {
            gaps.push(format!(
                "cpu{cpu}: no physical_package_id: package 0 assumed"
            ));
            0
        });
        let die = read_int(&topo.join("die_id"))?.unwrap_or(0);
        ids.insert(cpu, (package, die));
    }
    if l3_of.len() < online.len() {
        gaps.push(format!(
            "no L3 cache in sysfs for {} of {} CPUs",
            online.len() - l3_of.len(),
            online.len()
        ));
    }
    let cores = index_groups(core_of.values().cloned());
    let l3_domains = index_groups(l3_of.values().cloned());
    let nodes = read_nodes(sys, &online)?;
    if nodes.is_empty() {
        gaps.push("no devices/system/node: NUMA nodes unknown".into());
    }
    let cpus = online
        .iter()
        .map(|&cpu| Cpu {
            cpu,
            core: cores.iter().position(|c| c == &core_of[&cpu]).unwrap_or(0),
            package: ids[&cpu].0,
            die: ids[&cpu].1,
            node: nodes
                .iter()
                .find(|(_, l)| l.contains(&cpu))
                .map(|(n, _)| *n),
            l3: l3_of
                .get(&cpu)
                .and_then(|l| l3_domains.iter().position(|d| d == l)),
        })
        .collect();
    Ok(Topology {
        cpus,
        cores,
        l3_domains,
        nodes,
        gaps,
    })
}

fn read_nodes(sys: &Path, online: &[usize]) -> Result<BTreeMap<usize, Vec<usize>>, String> {
    let dir = sys.join("devices/system/node");
    let mut nodes = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(nodes);
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_prefix("node"))
            .and_then(|s| s.parse::<usize>().ok())
        else {
            continue;
        };
        // A memory-only node has an empty cpulist: not a place for CPUs.
        let path = e.path().join("cpulist");
        if read_trim(&path).is_some_and(|s| s.is_empty()) {
            continue;
        }
        if let Some(l) = read_list(&path)? {
            let l: Vec<usize> = l.into_iter().filter(|c| online.contains(c)).collect();
            if !l.is_empty() {
                nodes.insert(n, l);
            }
        }
    }
    Ok(nodes)
}

/// A topology that knows nothing: every CPU a core of its own on package
/// 0, no NUMA node, no L3 (for a host whose sysfs cannot be read).
pub fn flat(cpus: &[usize]) -> Topology {
    let mut cpus = cpus.to_vec();
    cpus.sort_unstable();
    cpus.dedup();
    Topology {
        cpus: cpus
            .iter()
            .enumerate()
            .map(|(core, &cpu)| Cpu {
                cpu,
                core,
                package: 0,
                die: 0,
                node: None,
                l3: None,
            })
            .collect(),
        cores: cpus.iter().map(|&c| vec![c]).collect(),
        l3_domains: Vec::new(),
        nodes: BTreeMap::new(),
        gaps: vec!["no topology: every CPU taken as a core of its own".into()],
    }
}

/// The `Cpus_allowed_list` of a `/proc/<pid>/status` text: the CPUs
/// `sched_setaffinity` and the cgroup cpuset leave to that process.
pub fn allowed_from_status(status: &str) -> Result<Vec<usize>, String> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .ok_or("no Cpus_allowed_list line in the status text")?;
    rtc_common::affinity::parse_cpu_list(line.trim())
}

#[cfg(test)]
pub mod fixtures {
    use std::path::PathBuf;

    /// testdata/sysfs/NAME: a host's root, with `sys/` and `proc/` beneath.
    pub fn root(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/sysfs")
            .join(name)
    }

    pub fn topology(name: &str) -> super::Topology {
        super::read(&root(name).join("sys")).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub fn allowed(name: &str) -> Vec<usize> {
        let text = std::fs::read_to_string(root(name).join("proc/self/status"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        super::allowed_from_status(&text).unwrap()
    }

    pub const ALL: [&str; 6] = [
        "vm-2cpu",
        "intel-8c16t",
        "adjacent-4c8t",
        "amd-2ccx",
        "numa-2node",
        "restricted",
    ];
}

#[cfg(test)]
mod tests {
    use super::fixtures::{allowed, root, topology};
    use super::*;

    #[test]
    fn the_2_vcpu_vm_has_two_cores_one_l3_one_node() {
        let t = topology("vm-2cpu");
        assert_eq!(t.cores, vec![vec![0], vec![1]]);
        assert_eq!(t.l3_domains, vec![vec![0, 1]]);
        assert_eq!(t.nodes, BTreeMap::from([(0, vec![0, 1])]));
        assert!(!t.smt_present());
        assert_eq!(t.packages(), 1);
        assert!(t.gaps.is_empty(), "{:?}", t.gaps);
        assert_eq!(allowed("vm-2cpu"), vec![0, 1]);
    }

    #[test]
    fn siblings_n_and_n_plus_8_make_one_core() {
        let t = topology("intel-8c16t");
        assert_eq!(t.cpus.len(), 16);
        assert_eq!(t.cores.len(), 8);
        assert_eq!(t.cores[3], vec![3, 11]);
        assert_eq!(t.cpu(11).unwrap().core, 3);
        assert!(t.smt_present());
        assert_eq!(t.l3_domains.len(), 1);
    }

    #[test]
    fn adjacent_siblings_make_one_core() {
        let t = topology("adjacent-4c8t");
        assert_eq!(
            t.cores,
            vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]]
        );
        assert_eq!(t.cpu(5).unwrap().core, 2);
    }

    #[test]
    fn two_ccx_give_two_l3_domains() {
        let t = topology("amd-2ccx");
        assert_eq!(
            t.l3_domains,
            vec![
                vec![0, 1, 2, 3, 8, 9, 10, 11],
                vec![4, 5, 6, 7, 12, 13, 14, 15]
            ]
        );
        assert_eq!(t.cpu(12).unwrap().l3, Some(1));
        assert_eq!(t.cpu(9).unwrap().l3, Some(0));
    }

    #[test]
    fn two_numa_nodes_and_packages() {
        let t = topology("numa-2node");
        assert_eq!(t.nodes.len(), 2);
        assert_eq!(t.cpu(5).unwrap().node, Some(1));
        assert_eq!(t.cpu(5).unwrap().package, 1);
        assert_eq!(t.packages(), 2);
        assert_eq!(t.l3_domains.len(), 2);
    }

    #[test]
    fn a_restricted_allowed_list_is_read_from_the_status_text() {
        assert_eq!(allowed("restricted"), vec![2, 3, 4, 5, 10, 11, 12]);
        assert!(allowed_from_status("Name:\tx\n").is_err());
        assert_eq!(
            allowed_from_status("Cpus_allowed:\t3\nCpus_allowed_list:\t0-1\n").unwrap(),
            vec![0, 1]
        );
    }

    #[test]
    fn a_flat_topology_makes_every_cpu_a_core() {
        let t = flat(&[3, 1]);
        assert_eq!(t.cores, vec![vec![1], vec![3]]);
        assert_eq!(t.cpu(3).unwrap().core, 1);
        assert!(!t.smt_present() && t.l3_domains.is_empty() && !t.gaps.is_empty());
    }

    #[test]
    fn missing_files_are_gaps_and_bad_ones_errors() {
        let dir = std::env::temp_dir().join(format!("rtc-topo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cpu = dir.join("devices/system/cpu");
        std::fs::create_dir_all(cpu.join("cpu0")).unwrap();
        std::fs::create_dir_all(cpu.join("cpu1")).unwrap();
        // No online file, no topology: two cores of their own, gaps said.
        let t = read(&dir).unwrap();
        assert_eq!(t.cores, vec![vec![0], vec![1]]);
        assert!(t.gaps.iter().any(|g| g.contains("core_cpus_list")));
        assert!(t.gaps.iter().any(|g| g.contains("NUMA")));
        std::fs::create_dir_all(cpu.join("cpu1/topology")).unwrap();
        std::fs::write(cpu.join("cpu1/topology/core_cpus_list"), "0-x").unwrap();
        let e = read(&dir).unwrap_err();
        assert!(e.contains("core_cpus_list") && e.contains("bad CPU"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(read(&root("no-such-fixture")).is_err());
    }
}
