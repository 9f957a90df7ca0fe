//! Where the server and the load generator run, decided from the host's
//! topology and the CPUs this process may use. Pure: `place` takes a
//! `Topology` (read from any sysfs root) and an allowed list, so it is
//! tested on fixture trees and can place processes on another host.
//!
//! Rules, in order:
//! 1. SMT siblings are never split between the two sides: a core's threads
//!    all go to one side (or stay idle). Only when a single core is allowed
//!    is that impossible, and then it is a warning.
//! 2. Both sides on one NUMA node (the one with most allowed cores) when it
//!    has room for a server core and two generator cores; otherwise all
//!    nodes are used and the note says so.
//! 3. Within that pool, server and generator on distinct L3 domains where
//!    there are several (AMD CCXs): the server on the first domain, the
//!    generator on the others; the rest of the server's domain stays idle so
//!    the generator never evicts the server's cache lines.
//! 4. The generator gets at least twice the server's cores where the pool
//!    has them (closed-loop maxima then measure the server, not the
//!    client): server cores = a third of the pool, at least one. With 2
//!    cores that is 1 + 1, and the warning says capacity is client-bound.
//! 5. A scenario may fix the server's CPU count; whole cores are taken for
//!    it and a leftover thread of its last core stays idle.

use super::topology::{Cpu, Topology};
use rtc_common::affinity::format_cpu_list;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Server,
    Client,
    Idle,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "load generator",
            Role::Idle => "idle",
        }
    }
}

/// One allowed CPU, its role and its place in the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedCpu {
    pub role: Role,
    #[serde(flatten)]
    pub at: Cpu,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub server_cpus: Vec<usize>,
    pub client_cpus: Vec<usize>,
    /// Allowed CPUs neither side uses.
    pub idle_cpus: Vec<usize>,
    /// Physical cores each side uses (a core counts once however many of
    /// its threads the side has).
    pub server_cores: usize,
    pub client_cores: usize,
    /// Every allowed online CPU with its role.
    pub cpus: Vec<PlacedCpu>,
    /// Why this placement: one sentence per decision.
    pub notes: Vec<String>,
    /// What makes results from this placement weaker.
    pub warnings: Vec<String>,
}

/// The allowed threads of one core.
#[derive(Debug, Clone)]
struct Unit {
    cpus: Vec<usize>,
    /// Every sibling of the core is allowed.
    whole: bool,
    node: Option<usize>,
    l3: Option<usize>,
}

/// Which units go where, for one pool.
struct Choice {
    client: Vec<usize>,
    server_cpus: Vec<usize>,
    notes: Vec<String>,
}

fn cpus_of(units: &[Unit], idx: &[usize]) -> Vec<usize> {
    let mut v: Vec<usize> = idx.iter().flat_map(|&i| units[i].cpus.clone()).collect();
    v.sort_unstable();
    v
}

/// "1 core", "2 cores".
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `idx` ordered for the server's pick: whole cores first (a partly
/// allowed core's other thread may run foreign work), then by first CPU.
fn server_order(units: &[Unit], idx: &[usize]) -> Vec<usize> {
    let mut v = idx.to_vec();
    v.sort_by_key(|&i| (!units[i].whole, units[i].cpus[0]));
    v
}

/// The pool's L3 domains in order of their first CPU (unknown L3: one domain).
fn domains(units: &[Unit], pool: &[usize]) -> Vec<Vec<usize>> {
    let mut keys: Vec<Option<usize>> = Vec::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for &i in pool {
        match keys.iter().position(|k| *k == units[i].l3) {
            Some(d) => out[d].push(i),
            None => {
                keys.push(units[i].l3);
                out.push(vec![i]);
            }
        }
    }
    out
}

/// Server and client units within one pool (rules 3-5), or None when the
/// load generator would get nothing.
fn choose(units: &[Unit], pool: &[usize], fixed: Option<usize>) -> Option<Choice> {
    let doms = domains(units, pool);
    let l3_known = pool.iter().all(|&i| units[i].l3.is_some());
    let mut notes = Vec::new();
    let (server, client) = match fixed {
        Some(n) => fixed_split(units, pool, &doms, n, l3_known, &mut notes)?,
        None if doms.len() >= 2 && pool.len() - doms[0].len() >= 2 => {
            l3_split(units, &doms, &mut notes)
        }
        None => shared_split(units, pool, &doms, l3_known, &mut notes),
    };
    if client.is_empty() {
        return None;
    }
    // Whole cores filled in order; with a fixed count a leftover thread of
    // the last one stays idle.
    let ordered: Vec<usize> = server.iter().flat_map(|&i| units[i].cpus.clone()).collect();
    let mut server_cpus = ordered[..fixed.unwrap_or(ordered.len())].to_vec();
    server_cpus.sort_unstable();
    Some(Choice {
        client,
        server_cpus,
        notes,
    })
}

/// Rule 5: whole cores for `n` server CPUs, domain by domain; the load
/// generator on the pool's other L3 domains if any are left, else beside it.
fn fixed_split(
    units: &[Unit],
    pool: &[usize],
    doms: &[Vec<usize>],
    n: usize,
    l3_known: bool,
    notes: &mut Vec<String>,
) -> Option<(Vec<usize>, Vec<usize>)> {
    let mut server = Vec::new();
    let mut got = 0;
    for i in doms.iter().flat_map(|d| server_order(units, d)) {
        if got >= n {
            break;
        }
        got += units[i].cpus.len();
        server.push(i);
    }
    if got < n {
        return None;
    }
    let touched: Vec<Option<usize>> = server.iter().map(|&i| units[i].l3).collect();
    let rest: Vec<usize> = pool
        .iter()
        .copied()
        .filter(|i| !server.contains(i))
        .collect();
    let apart: Vec<usize> = rest
        .iter()
        .copied()
        .filter(|&i| !touched.contains(&units[i].l3))
        .collect();
    let several = l3_known && doms.len() > 1;
    if apart.is_empty() {
        if several {
            notes.push(format!(
                "L3: the server's {n} CPUs span every L3 domain of the pool, so the load generator shares one with it"
            ));
        }
        Some((server, rest))
    } else {
        if several {
            notes.push(format!(
                "L3: the server's L3 domain(s) are not shared with the load generator ({} in the pool)",
                plural(doms.len(), "domain", "domains")
            ));
        }
        Some((server, apart))
    }
}

/// Rules 3 and 4 with several L3 domains: the server on the first, the
/// load generator on the others, the server sized to half of those.
fn l3_split(
    units: &[Unit],
    doms: &[Vec<usize>],
    notes: &mut Vec<String>,
) -> (Vec<usize>, Vec<usize>) {
    let others: Vec<usize> = doms[1..].concat();
    let s = (others.len() / 2).clamp(1, doms[0].len());
    let server: Vec<usize> = server_order(units, &doms[0])[..s].to_vec();
    let left: Vec<usize> = doms[0]
        .iter()
        .copied()
        .filter(|i| !server.contains(i))
        .collect();
    let first_l3 = units[doms[0][0]].l3.unwrap_or(0);
    notes.push(format!(
        "L3: {} in the pool; server on L3 domain {first_l3}, load generator on the others, so neither evicts the other's cache lines{}",
        plural(doms.len(), "domain", "domains"),
        if left.is_empty() {
            String::new()
        } else {
            format!(
                "; CPUs {} (the rest of the server's L3 domain) stay idle",
                format_cpu_list(&cpus_of(units, &left))
            )
        }
    ));
    (server, others)
}

/// Rule 4 in one L3 domain (or domains too small to split): a third of
/// the cores for the server, at least one; the rest for the generator.
fn shared_split(
    units: &[Unit],
    pool: &[usize],
    doms: &[Vec<usize>],
    l3_known: bool,
    notes: &mut Vec<String>,
) -> (Vec<usize>, Vec<usize>) {
    if doms.len() >= 2 {
        notes.push(
            "L3: the pool's L3 domains are too small to give the server one and the load generator two cores in another, so they share".into(),
        );
    } else if l3_known {
        notes.push("L3: one domain, shared by both sides".into());
    }
    let order = server_order(units, pool);
    let s = (pool.len() / 3).max(1);
    (order[..s].to_vec(), order[s..].to_vec())
}

/// Places the server and the load generator on `allowed` (a process's
/// `Cpus_allowed_list`) of `topo`; `server_cpus` fixes the server's CPU
/// count (a scenario's `server_cpus`). Errors: nothing usable, or a fixed
/// count that leaves no core for the load generator.
pub fn place(
    topo: &Topology,
    allowed: &[usize],
    server_cpus: Option<usize>,
) -> Result<Placement, String> {
    let mut usable: Vec<usize> = allowed
        .iter()
        .copied()
        .filter(|&c| topo.cpu(c).is_some())
        .collect();
    usable.sort_unstable();
    usable.dedup();
    if usable.is_empty() {
        return Err(format!(
            "none of the allowed CPUs ({}) is online in sysfs",
            format_cpu_list(allowed)
        ));
    }
    let mut p = Placement::default();
    let offline: Vec<usize> = allowed
        .iter()
        .copied()
        .filter(|c| !usable.contains(c))
        .collect();
    if !offline.is_empty() {
        p.notes.push(format!(
            "CPUs {} are allowed but not online: left out",
            format_cpu_list(&offline)
        ));
    }
    match server_cpus {
        Some(0) => return Err("server_cpus must be at least 1".into()),
        Some(n) if n >= usable.len() => {
            return Err(format!(
                "server_cpus = {n} leaves no CPU for the load generator: {} allowed ({})",
                plural(usable.len(), "CPU is", "CPUs are"),
                format_cpu_list(&usable)
            ));
        }
        _ => {}
    }

    let units = units_of(topo, &usable);
    if let Some(w) = partial_cores(topo, &units) {
        p.warnings.push(w);
    }

    let (server, client, idle) = if usable.len() == 1 {
        p.warnings.push(
            "only one CPU is available: the server and the load generator share it, so pinning is impossible and every result is confounded".into(),
        );
        (usable.clone(), usable.clone(), Vec::new())
    } else if units.len() == 1 {
        let n = server_cpus.unwrap_or(1);
        p.warnings.push(format!(
            "SMT siblings shared: only one core is allowed (CPUs {}), so the server and the load generator run on threads of the same core and share its execution units and caches",
            format_cpu_list(&usable)
        ));
        (usable[..n].to_vec(), usable[n..].to_vec(), Vec::new())
    } else {
        let all: Vec<usize> = (0..units.len()).collect();
        let choice = pick_pool(&units, &all, server_cpus, &mut p.notes).ok_or_else(|| {
            format!(
                "server_cpus = {} leaves no whole core for the load generator: the allowed CPUs ({}) hold {}",
                server_cpus.unwrap_or(0),
                format_cpu_list(&usable),
                plural(units.len(), "core", "cores")
            )
        })?;
        p.notes.extend(choice.notes);
        let client_cpus = cpus_of(&units, &choice.client);
        let idle: Vec<usize> = usable
            .iter()
            .copied()
            .filter(|x| !choice.server_cpus.contains(x) && !client_cpus.contains(x))
            .collect();
        if topo.smt_present() {
            p.notes.push(
                "SMT: each core's threads stay on one side; no server thread runs beside a load-generator thread".into(),
            );
        }
        (choice.server_cpus, client_cpus, idle)
    };
    p.server_cores = cores_in(topo, &server);
    p.client_cores = cores_in(topo, &client);
    if usable.len() > 1 {
        explain(&mut p, &server, &client, server_cpus.is_some(), units.len());
    }
    p.cpus = usable
        .iter()
        .filter_map(|&c| {
            let role = if server.contains(&c) {
                Role::Server
            } else if client.contains(&c) {
                Role::Client
            } else {
                Role::Idle
            };
            Some(PlacedCpu {
                role,
                at: topo.cpu(c)?.clone(),
            })
        })
        .collect();
    p.server_cpus = server;
    p.client_cpus = client;
    p.idle_cpus = idle;
    Ok(p)
}

/// The allowed threads of each core, ordered by first CPU.
fn units_of(topo: &Topology, usable: &[usize]) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    for siblings in &topo.cores {
        let cpus: Vec<usize> = siblings
            .iter()
            .copied()
            .filter(|c| usable.contains(c))
            .collect();
        if let Some(at) = cpus.first().and_then(|&c| topo.cpu(c)) {
            units.push(Unit {
                whole: cpus.len() == siblings.len(),
                node: at.node,
                l3: at.l3,
                cpus,
            });
        }
    }
    units.sort_by_key(|u| u.cpus[0]);
    units
}

/// The warning for cores only partly allowed, if any.
fn partial_cores(topo: &Topology, units: &[Unit]) -> Option<String> {
    let partial: Vec<String> = units
        .iter()
        .filter(|u| !u.whole)
        .map(|u| {
            let core = topo.cpu(u.cpus[0]).map(|c| &topo.cores[c.core]);
            let hidden: Vec<usize> = core
                .into_iter()
                .flatten()
                .copied()
                .filter(|c| !u.cpus.contains(c))
                .collect();
            format!(
                "CPU {} (sibling {} not allowed)",
                format_cpu_list(&u.cpus),
                format_cpu_list(&hidden)
            )
        })
        .collect();
    (!partial.is_empty()).then(|| {
        format!(
            "SMT siblings outside the allowed CPUs: {}; whatever runs on such a sibling shares that core's execution units and caches with the side placed there",
            partial.join(", ")
        )
    })
}

/// Rule 4's note and, when the generator has fewer than twice the
/// server's cores, its warning.
fn explain(p: &mut Placement, server: &[usize], client: &[usize], fixed: bool, cores: usize) {
    let cpus = |v: &[usize]| {
        format!(
            "{} {}",
            if v.len() == 1 { "CPU" } else { "CPUs" },
            format_cpu_list(v)
        )
    };
    let twice = p.client_cores >= 2 * p.server_cores;
    p.notes.insert(
        0,
        format!(
            "server: {} ({}, so {} by default), load generator: {} ({}){}",
            plural(p.server_cores, "core", "cores"),
            cpus(server),
            plural(server.len(), "worker", "workers"),
            plural(p.client_cores, "core", "cores"),
            cpus(client),
            if twice {
                ": the generator has at least twice the server's cores, so closed-loop maxima are bound by the server"
            } else {
                ""
            }
        ),
    );
    if !twice {
        p.warnings.push(format!(
            "capacity checks will be client-bound: the load generator has {} vs the server's {} (it needs about twice the server's to saturate it; {})",
            plural(p.client_cores, "core", "cores"),
            p.server_cores,
            if fixed {
                "the scenario fixes the server's CPUs".to_string()
            } else {
                format!("the allowed CPUs hold only {}", plural(cores, "core", "cores"))
            }
        ));
    }
}

fn cores_in(topo: &Topology, cpus: &[usize]) -> usize {
    let mut c: Vec<usize> = cpus
        .iter()
        .filter_map(|&x| topo.cpu(x).map(|c| c.core))
        .collect();
    c.sort_unstable();
    c.dedup();
    c.len()
}

/// Rule 2: one NUMA node when it has room, else every node.
fn pick_pool(
    units: &[Unit],
    all: &[usize],
    fixed: Option<usize>,
    notes: &mut Vec<String>,
) -> Option<Choice> {
    let mut nodes: Vec<(Option<usize>, Vec<usize>)> = Vec::new();
    for &i in all {
        match nodes.iter_mut().find(|(n, _)| *n == units[i].node) {
            Some((_, v)) => v.push(i),
            None => nodes.push((units[i].node, vec![i])),
        }
    }
    if nodes.len() < 2 {
        return choose(units, all, fixed);
    }
    // The node with most allowed cores; ties: the first.
    let (home, pool) = nodes
        .iter()
        .rev()
        .max_by_key(|(_, v)| v.len())
        .cloned()
        .expect("two nodes");
    let home = home.map_or("?".to_string(), |n| n.to_string());
    let roomy = fixed.is_some() || pool.len() >= 3;
    if roomy && let Some(c) = choose(units, &pool, fixed) {
        let others: Vec<usize> = all.iter().copied().filter(|i| !pool.contains(i)).collect();
        notes.push(format!(
            "NUMA: {} allowed; both sides on node {home} ({}), so no request crosses the interconnect; CPUs {} on the other node(s) stay idle",
            plural(nodes.len(), "node", "nodes"),
            plural(pool.len(), "core", "cores"),
            format_cpu_list(&cpus_of(units, &others))
        ));
        return Some(c);
    }
    notes.push(format!(
        "NUMA: node {home} alone has too few allowed cores ({}) for the server and the load generator, so they span {} nodes",
        pool.len(),
        nodes.len()
    ));
    choose(units, all, fixed)
}

impl Placement {
    /// The CPUs of one role.
    pub fn of(&self, role: Role) -> impl Iterator<Item = &PlacedCpu> {
        self.cpus.iter().filter(move |c| c.role == role)
    }

    /// One row per role in use: role, CPUs, cores, the distinct
    /// package/node/L3 triples ("?" where unknown).
    pub fn rows(&self) -> Vec<[String; 4]> {
        let mut rows = Vec::new();
        for role in [Role::Server, Role::Client, Role::Idle] {
            let cpus: Vec<&PlacedCpu> = self.of(role).collect();
            if cpus.is_empty() {
                continue;
            }
            let ids: Vec<usize> = cpus.iter().map(|c| c.at.cpu).collect();
            let mut cores: Vec<usize> = cpus.iter().map(|c| c.at.core).collect();
            cores.sort_unstable();
            cores.dedup();
            let opt = |x: Option<usize>| x.map_or("?".into(), |v: usize| v.to_string());
            let mut places: Vec<String> = cpus
                .iter()
                .map(|c| format!("{}/{}/{}", c.at.package, opt(c.at.node), opt(c.at.l3)))
                .collect();
            places.sort();
            places.dedup();
            // One CPU shared by both sides: its row stands for both.
            let label = if role == Role::Server && self.server_cpus == self.client_cpus {
                "server + load generator"
            } else {
                role.label()
            };
            rows.push([
                label.to_string(),
                format_cpu_list(&ids),
                cores.len().to_string(),
                places.join(" "),
            ]);
        }
        rows
    }

    /// The `harness check` table: role, CPUs, cores, package/node/L3.
    pub fn table(&self) -> String {
        let mut rows = vec![[
            "role".to_string(),
            "CPUs".into(),
            "cores".into(),
            "package/node/L3".into(),
        ]];
        rows.extend(self.rows());
        let w: Vec<usize> = (0..3)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        rows.iter()
            .map(|r| {
                format!(
                    "  {:<w0$}  {:<w1$}  {:>w2$}  {}\n",
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    w0 = w[0],
                    w1 = w[1],
                    w2 = w[2]
                )
            })
            .collect()
    }

    /// The rows in one line (the report's Environment section):
    /// "server: CPUs 0, 1 core, package/node/L3 0/0/0; load generator: ...".
    pub fn summary(&self) -> String {
        self.rows()
            .iter()
            .map(|r| {
                format!(
                    "{}: CPUs {}, {} {}, package/node/L3 {}",
                    r[0],
                    r[1],
                    r[2],
                    if r[2] == "1" { "core" } else { "cores" },
                    r[3]
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::topology::fixtures::{ALL, allowed, topology};

    fn placed(name: &str, fixed: Option<usize>) -> Placement {
        place(&topology(name), &allowed(name), fixed).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn list(v: &[usize]) -> String {
        format_cpu_list(v)
    }

    fn has(v: &[String], part: &str) -> bool {
        v.iter().any(|s| s.contains(part))
    }

    #[test]
    fn two_vcpus_keep_one_plus_one_and_say_capacity_is_client_bound() {
        let p = placed("vm-2cpu", None);
        assert_eq!(
            (p.server_cpus.clone(), p.client_cpus.clone()),
            (vec![0], vec![1])
        );
        assert_eq!((p.server_cores, p.client_cores), (1, 1));
        assert!(
            has(&p.warnings, "capacity checks will be client-bound"),
            "{p:?}"
        );
        assert!(!has(&p.warnings, "SMT"), "{p:?}");
        assert_eq!(
            p.notes[0],
            "server: 1 core (CPU 0, so 1 worker by default), load generator: 1 core (CPU 1)"
        );
        assert!(has(&p.notes, "L3: one domain"), "{p:?}");
        assert_eq!(p.cpus.len(), 2);
        assert_eq!(p.cpus[0].role, Role::Server);
        assert_eq!(p.cpus[1].role, Role::Client);
        // A fixed server count of 1 is the same; 2 leaves nothing.
        assert_eq!(placed("vm-2cpu", Some(1)).server_cpus, vec![0]);
        let e = place(&topology("vm-2cpu"), &[0, 1], Some(2)).unwrap_err();
        assert!(e.contains("server_cpus = 2") && e.contains("0-1"), "{e}");
    }

    #[test]
    fn siblings_n_and_n_plus_8_stay_together_and_the_generator_gets_twice() {
        let p = placed("intel-8c16t", None);
        assert_eq!(list(&p.server_cpus), "0-1,8-9");
        assert_eq!(list(&p.client_cpus), "2-7,10-15");
        assert_eq!((p.server_cores, p.client_cores), (2, 6));
        assert!(p.idle_cpus.is_empty());
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert!(
            has(&p.notes, "(CPUs 0-1,8-9, so 4 workers by default)")
                && has(&p.notes, "SMT: each core")
        );
    }

    #[test]
    fn adjacent_siblings_stay_together() {
        let p = placed("adjacent-4c8t", None);
        assert_eq!(list(&p.server_cpus), "0-1");
        assert_eq!(list(&p.client_cpus), "2-7");
        assert_eq!((p.server_cores, p.client_cores), (1, 3));
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn two_ccx_put_the_sides_on_distinct_l3_domains() {
        let p = placed("amd-2ccx", None);
        assert_eq!(list(&p.server_cpus), "0-1,8-9");
        assert_eq!(list(&p.client_cpus), "4-7,12-15");
        assert_eq!(list(&p.idle_cpus), "2-3,10-11");
        assert_eq!((p.server_cores, p.client_cores), (2, 4));
        assert!(has(&p.notes, "server on L3 domain 0"), "{:?}", p.notes);
        assert!(has(&p.notes, "2-3,10-11 (the rest"), "{:?}", p.notes);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert!(p.of(Role::Client).all(|c| c.at.l3 == Some(1)));
        assert!(p.of(Role::Server).all(|c| c.at.l3 == Some(0)));
    }

    #[test]
    fn two_numa_nodes_keep_both_sides_on_one() {
        let p = placed("numa-2node", None);
        assert_eq!(list(&p.server_cpus), "0");
        assert_eq!(list(&p.client_cpus), "1-3");
        assert_eq!(list(&p.idle_cpus), "4-7");
        assert!(has(&p.notes, "both sides on node 0"), "{:?}", p.notes);
        assert!(
            p.of(Role::Server)
                .chain(p.of(Role::Client))
                .all(|c| c.at.node == Some(0))
        );
        // Node 1 has the room when node 0's CPUs are not allowed.
        let p = place(&topology("numa-2node"), &[2, 3, 4, 5, 6, 7], None).unwrap();
        assert_eq!(list(&p.server_cpus), "4");
        assert_eq!(list(&p.client_cpus), "5-7");
        // Two cores per node: too few for 1 + 2 on one, so both are used.
        let p = place(&topology("numa-2node"), &[0, 1, 4, 5], None).unwrap();
        assert_eq!(list(&p.server_cpus), "0");
        assert_eq!(list(&p.client_cpus), "4-5");
        assert_eq!(list(&p.idle_cpus), "1");
        assert!(has(&p.notes, "span 2 nodes"), "{:?}", p.notes);
    }

    #[test]
    fn a_restricted_list_gives_the_server_a_whole_core_and_names_the_partial_one() {
        let p = placed("restricted", None);
        assert_eq!(list(&p.server_cpus), "2,10");
        assert_eq!(list(&p.client_cpus), "3-5,11-12");
        assert!(
            has(&p.warnings, "CPU 5 (sibling 13 not allowed)"),
            "{:?}",
            p.warnings
        );
        // The partial core goes last for the server, even when it is first.
        let p = place(&topology("intel-8c16t"), &[0, 1, 9, 2, 10, 3, 11], None).unwrap();
        assert_eq!(list(&p.server_cpus), "1,9");
        assert!(has(&p.warnings, "CPU 0 (sibling 8 not allowed)"));
    }

    #[test]
    fn a_fixed_server_count_takes_whole_cores_and_idles_a_leftover_thread() {
        let p = placed("intel-8c16t", Some(1));
        assert_eq!(list(&p.server_cpus), "0");
        assert_eq!(list(&p.idle_cpus), "8");
        assert_eq!(list(&p.client_cpus), "1-7,9-15");
        let p = placed("intel-8c16t", Some(3));
        assert_eq!(list(&p.server_cpus), "0-1,8");
        assert_eq!(list(&p.idle_cpus), "9");
        let p = placed("amd-2ccx", Some(6));
        assert_eq!(list(&p.server_cpus), "0-2,8-10");
        assert_eq!(list(&p.client_cpus), "4-7,12-15");
        assert_eq!(list(&p.idle_cpus), "3,11");
        // Ten CPUs span both CCXs: the generator then shares an L3.
        let p = placed("amd-2ccx", Some(10));
        assert_eq!(list(&p.server_cpus), "0-4,8-12");
        assert_eq!(list(&p.client_cpus), "5-7,13-15");
        assert!(has(&p.notes, "span every L3 domain"), "{:?}", p.notes);
        assert!(has(&p.warnings, "client-bound"), "{:?}", p.warnings);
        assert!(place(&topology("amd-2ccx"), &allowed("amd-2ccx"), Some(15)).is_err());
        assert!(place(&topology("amd-2ccx"), &allowed("amd-2ccx"), Some(0)).is_err());
    }

    #[test]
    fn one_core_or_one_cpu_is_said_plainly() {
        let t = topology("adjacent-4c8t");
        let p = place(&t, &[2, 3], None).unwrap();
        assert_eq!(
            (p.server_cpus.clone(), p.client_cpus.clone()),
            (vec![2], vec![3])
        );
        assert!(has(&p.warnings, "SMT siblings shared"), "{:?}", p.warnings);
        let p = place(&t, &[4], None).unwrap();
        assert_eq!(
            (p.server_cpus.clone(), p.client_cpus.clone()),
            (vec![4], vec![4])
        );
        assert!(has(&p.warnings, "only one CPU"));
        assert!(p.table().contains("server + load generator"));
        assert!(place(&t, &[40, 41], None).unwrap_err().contains("40-41"));
    }

    #[test]
    fn every_fixture_places_disjoint_sides_within_the_allowed_cpus() {
        for name in ALL {
            let (t, a) = (topology(name), allowed(name));
            let p = place(&t, &a, None).unwrap();
            let mut all: Vec<usize> = [&p.server_cpus[..], &p.client_cpus, &p.idle_cpus].concat();
            all.sort_unstable();
            assert_eq!(all, a, "{name}: every allowed CPU has one role");
            for s in &p.server_cpus {
                let core = &t.cores[t.cpu(*s).unwrap().core];
                assert!(
                    core.iter().all(|c| !p.client_cpus.contains(c)),
                    "{name}: CPU {s} shares a core with the load generator"
                );
            }
            assert_eq!(p.cpus.len(), a.len(), "{name}");
        }
    }

    #[test]
    fn the_table_lists_each_role() {
        let t = placed("amd-2ccx", None).table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].contains("role") && lines[0].contains("package/node/L3"));
        assert!(lines[1].contains("server") && lines[1].contains("0-1,8-9"));
        assert!(lines[1].trim_end().ends_with("0/0/0"), "{t}");
        assert!(lines[2].contains("load generator") && lines[2].trim_end().ends_with("0/0/1"));
        assert!(lines[3].contains("idle") && lines[3].contains("2-3,10-11"));
        assert_eq!(
            placed("vm-2cpu", None).summary(),
            "server: CPUs 0, 1 core, package/node/L3 0/0/0; load generator: CPUs 1, 1 core, package/node/L3 0/0/0"
        );
    }
}
