//! Turns a profile into an ordered list of trials and each trial into
//! command lines. Pure: no processes, no clocks — the scheduling decisions
//! (interleaving, rates from capacity, SHA rounds from milliseconds) are
//! unit-tested here, as hyperfine tests its scheduling with a mock executor.

use crate::config::profile::{
    ClientSpec, Defaults, LoadModel, Profile, ScenarioSpec, Variant, Workload,
};
use std::collections::BTreeMap;

/// One server process under one load, identified by scenario, variant, round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTrial {
    pub scenario: usize,
    pub variant: String,
    /// 0-based round: every variant of every scenario of a group runs once
    /// per round, so comparisons pair values of the same round.
    pub repeat: usize,
    /// The group of scenarios it runs with (rounds of one group finish
    /// before the next group starts).
    pub group: usize,
}

impl PlannedTrial {
    pub fn id(&self, p: &Profile) -> String {
        format!(
            "{}--{}--r{}",
            p.scenarios[self.scenario].id,
            self.variant,
            self.repeat + 1
        )
    }
}

/// A small seeded generator (SplitMix64) for the trial order.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Fisher–Yates.
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// The order of `units` in each of `rounds` rounds: a seeded random order
/// in even rounds, its mirror in the odd round after — so over each pair
/// of rounds every unit's mean position is the same and a linear drift
/// hits all of them alike (ABC CBA, not the unbalanced ABC BCA CAB).
pub fn round_orders<T: Clone>(units: &[T], rounds: usize, rng_seed: u64) -> Vec<Vec<T>> {
    let mut rng = Rng(rng_seed);
    let mut out: Vec<Vec<T>> = Vec::new();
    for r in 0..rounds {
        if r % 2 == 1 {
            let mut prev = out[r - 1].clone();
            prev.reverse();
            out.push(prev);
        } else {
            let mut v = units.to_vec();
            rng.shuffle(&mut v);
            out.push(v);
        }
    }
    out
}

/// Groups of scenarios run round by round together: scenarios a claim
/// compares with each other (`links`, e.g. a scenario and its baseline)
/// share rounds, so drift between rounds cancels in their pairs. A
/// capacity scenario runs alone, before the scenarios that take their
/// rates from it. Groups keep profile order.
pub fn groups(p: &Profile, selected: &[usize], links: &[(String, String)]) -> Vec<Vec<usize>> {
    let capacity: Vec<&str> = p
        .scenarios
        .iter()
        .flat_map(|s| s.clients.iter().filter_map(|c| c.of_capacity.as_deref()))
        .collect();
    let idx = |id: &str| p.scenarios.iter().position(|s| s.id == id);
    let mut parent: Vec<usize> = (0..p.scenarios.len()).collect();
    fn find(parent: &mut [usize], x: usize) -> usize {
        let mut r = x;
        while parent[r] != r {
            r = parent[r];
        }
        parent[x] = r;
        r
    }
    for (a, b) in links {
        let (Some(a), Some(b)) = (idx(a), idx(b)) else {
            continue;
        };
        if capacity.contains(&p.scenarios[a].id.as_str())
            || capacity.contains(&p.scenarios[b].id.as_str())
        {
            continue;
        }
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        parent[ra.max(rb)] = ra.min(rb);
    }
    let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
    for &si in selected {
        let root = find(&mut parent, si);
        match out.iter_mut().find(|(r, _)| *r == root) {
            Some((_, g)) => g.push(si),
            None => out.push((root, vec![si])),
        }
    }
    out.into_iter().map(|(_, g)| g).collect()
}

/// Every trial of the selected scenarios: group by group, round by round,
/// each round's order drawn from `seed` (recorded with the run).
pub fn order_trials(
    p: &Profile,
    only: &[String],
    links: &[(String, String)],
    seed: u64,
) -> Vec<PlannedTrial> {
    let selected: Vec<usize> = (0..p.scenarios.len())
        .filter(|&i| only.is_empty() || only.contains(&p.scenarios[i].id))
        .collect();
    let mut out = Vec::new();
    for (gi, g) in groups(p, &selected, links).iter().enumerate() {
        let units: Vec<(usize, String)> = g
            .iter()
            .flat_map(|&si| {
                p.scenarios[si]
                    .variants
                    .iter()
                    .map(move |v| (si, v.clone()))
            })
            .collect();
        let rounds = g
            .iter()
            .map(|&si| p.scenarios[si].repeats(&p.defaults))
            .max()
            .unwrap_or(0);
        let group_seed = seed ^ (gi as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for (r, order) in round_orders(&units, rounds, group_seed)
            .into_iter()
            .enumerate()
        {
            for (si, v) in order {
                if r < p.scenarios[si].repeats(&p.defaults) {
                    out.push(PlannedTrial {
                        scenario: si,
                        variant: v,
                        repeat: r,
                        group: gi,
                    });
                }
            }
        }
    }
    out
}

/// One microbenchmark process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMicro {
    pub micro: usize,
    /// "go" or "rust".
    pub language: String,
    pub repeat: usize,
}

impl PlannedMicro {
    pub fn id(&self, p: &Profile) -> String {
        format!(
            "{}--{}--r{}",
            p.micro[self.micro].id,
            self.language,
            self.repeat + 1
        )
    }
}

/// Microbenchmark processes, round by round, each round's language order
/// drawn from `seed` and mirrored in the next.
pub fn order_micro(p: &Profile, only: &[String], seed: u64) -> Vec<PlannedMicro> {
    let mut out = Vec::new();
    for (mi, m) in p.micro.iter().enumerate() {
        if !only.is_empty() && !only.contains(&m.id) {
            continue;
        }
        let langs = m.languages();
        let rounds = m.repeats.unwrap_or(p.defaults.repeats);
        let s = seed ^ (1000 + mi as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for (r, order) in round_orders(&langs, rounds, s).into_iter().enumerate() {
            for l in order {
                out.push(PlannedMicro {
                    micro: mi,
                    language: l,
                    repeat: r,
                });
            }
        }
    }
    out
}

/// Scenarios a selection depends on through `of_capacity`, added so
/// `--only steps` still measures the capacity it needs first.
pub fn with_dependencies(p: &Profile, only: &[String]) -> Vec<String> {
    if only.is_empty() {
        return Vec::new();
    }
    let mut ids: Vec<String> = only.to_vec();
    for s in &p.scenarios {
        if only.contains(&s.id) {
            for c in &s.clients {
                if let Some(cap) = &c.of_capacity
                    && !ids.contains(cap)
                {
                    ids.push(cap.clone());
                }
            }
        }
    }
    ids
}

/// Absolute open-loop rates for `fractions` of the lowest capacity among
/// `variants`: every variant then runs at the same absolute rates, so curves
/// compare like with like.
pub fn rates_from_capacity(
    fractions: &[f64],
    capacity_rps: &BTreeMap<String, f64>,
    variants: &[String],
) -> Result<Vec<f64>, String> {
    let mut lowest = f64::INFINITY;
    for v in variants {
        match capacity_rps.get(v) {
            Some(&c) if c.is_finite() && c > 0.0 => lowest = lowest.min(c),
            _ => return Err(format!("no valid capacity measured for variant {v}")),
        }
    }
    Ok(fractions
        .iter()
        .map(|f| (f * lowest).round().max(1.0))
        .collect())
}

/// A client's open-loop rates: its fixed `rate`, its `rate_steps`, or its
/// `rate_fractions` of the lowest capacity `scenario`'s original variants
/// (not the A/A copies) reached in scenario `of_capacity`. Empty for
/// closed and idle clients.
pub fn client_rates(
    c: &ClientSpec,
    scenario: &ScenarioSpec,
    capacities: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Result<Vec<f64>, String> {
    match (&c.rate, &c.rate_steps, &c.rate_fractions) {
        (Some(r), _, _) => Ok(vec![*r]),
        (_, Some(steps), _) => Ok(steps.clone()),
        (_, _, Some(fr)) => {
            let cap_id = c.of_capacity.as_deref().unwrap_or_default();
            let caps = capacities.get(cap_id).cloned().unwrap_or_default();
            let originals: Vec<String> = scenario
                .variants
                .iter()
                .filter(|v| crate::config::expand::aa_original(v).is_none())
                .cloned()
                .collect();
            rates_from_capacity(fr, &caps, &originals)
                .map_err(|e| format!("rates from scenario {cap_id}: {e}"))
        }
        _ => Ok(Vec::new()),
    }
}

/// Replaces `cpu_ms=X` in a load-generator mix spec by `cpu=ROUNDS`, using the
/// calibrated SHA-256 chain speed of this machine.
pub fn resolve_mix(mix: &str, rounds_per_ms: f64) -> Result<String, String> {
    let mut classes = Vec::new();
    for class in mix.split(';').map(str::trim).filter(|c| !c.is_empty()) {
        let (name, keys) = class.split_once(':').unwrap_or((class, ""));
        let mut parts = Vec::new();
        for kv in keys.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            match kv.split_once('=') {
                Some(("cpu_ms", v)) => {
                    let ms: f64 = v
                        .parse()
                        .map_err(|_| format!("mix class {name:?}: cpu_ms={v:?} is not a number"))?;
                    if !(ms.is_finite() && ms >= 0.0) {
                        return Err(format!("mix class {name:?}: cpu_ms must be non-negative"));
                    }
                    let rounds = (ms * rounds_per_ms).round() as u64;
                    if rounds > rtc_common::protocol::MAX_CPU_ROUNDS as u64 {
                        return Err(format!(
                            "mix class {name:?}: cpu_ms={ms} needs {rounds} SHA rounds on this machine, over the protocol's limit of {}",
                            rtc_common::protocol::MAX_CPU_ROUNDS
                        ));
                    }
                    parts.push(format!("cpu={}", rounds.max(1)));
                }
                _ => parts.push(kv.to_string()),
            }
        }
        classes.push(if parts.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{}", parts.join(","))
        });
    }
    Ok(classes.join(";"))
}

/// The worker count (GOMAXPROCS / tokio workers) a variant gets in a scenario.
pub fn workers_for(variant: &Variant, scenario: &ScenarioSpec, server_cpus: usize) -> usize {
    if variant.is_current_thread() {
        return 1;
    }
    variant
        .workers
        .or(scenario.workers)
        .unwrap_or(server_cpus.max(1))
}

/// The server's command-line arguments for a trial.
pub fn server_args(
    variant: &Variant,
    scenario: &ScenarioSpec,
    workers: usize,
    data_file: Option<&str>,
) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--workload".into(),
        scenario.workload.as_str().into(),
    ];
    if !variant.is_current_thread() {
        let flag = match variant.language {
            crate::config::profile::Language::Go => "--procs",
            crate::config::profile::Language::Rust => "--workers",
        };
        a.extend([flag.to_string(), workers.to_string()]);
    }
    if let Some(b) = scenario.buf_size {
        a.extend(["--buf-size".into(), b.to_string()]);
    }
    if let (Workload::Work, true, Some(f)) = (scenario.workload, scenario.data_file, data_file) {
        a.extend(["--data-file".into(), f.to_string()]);
    }
    a.extend(variant.args.iter().cloned());
    if let Some(extra) = scenario.server_args.get(&variant.language) {
        a.extend(extra.iter().cloned());
    }
    a
}

/// OS threads this machine can still start: the smallest of the kernel's
/// thread and pid limits and the user's process limit, less what runs now.
pub fn thread_room() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    let nproc =
        (unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut lim) } == 0).then_some(lim.rlim_cur);
    let max = [
        read("/proc/sys/kernel/threads-max"),
        read("/proc/sys/kernel/pid_max"),
        nproc,
    ]
    .into_iter()
    .flatten()
    .min()?;
    let used = std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .nth(3)?
        .split('/')
        .nth(1)?
        .parse::<u64>()
        .ok()?;
    Some(max.saturating_sub(used))
}

/// Why a scenario that needs `needed` threads cannot run here, if it cannot.
pub fn refuse_threads(needed: usize, room: Option<u64>) -> Option<String> {
    match room {
        Some(r) if (needed as u64) > r => Some(format!(
            "refused: the scenario needs up to {needed} OS threads and this machine allows {r} more (threads-max, pid_max, ulimit -u)"
        )),
        _ => None,
    }
}

/// Everything `loadgen_args` needs that is decided at run time.
#[derive(Debug, Clone)]
pub struct ClientRun<'a> {
    pub addr: std::net::SocketAddr,
    pub client_cpus: &'a str,
    pub threads: usize,
    /// Open-loop rates after resolving fractions (one value: a single rate).
    pub rates: Vec<f64>,
    /// The mix with cpu_ms already resolved.
    pub mix: Option<String>,
    pub data_file_bytes: u64,
    pub json: &'a str,
    pub hlog: &'a str,
    pub hgrm: &'a str,
    /// Lets the load generator report the server's CPU over its own window
    /// too, a cross-check of the harness's sampling.
    pub server_pid: Option<u32>,
}

pub fn loadgen_args(
    c: &ClientSpec,
    s: &ScenarioSpec,
    d: &Defaults,
    run: &ClientRun,
) -> Vec<String> {
    let warmup = c.warmup_s.unwrap_or(s.warmup_s(d));
    let duration = c.duration_s.unwrap_or(s.duration_s(d));
    let mut a: Vec<String> = vec![
        "--address".into(),
        run.addr.to_string(),
        "--workload".into(),
        s.workload.as_str().into(),
        "--conns".into(),
        c.conns.to_string(),
        "--duration".into(),
        fmt_num(duration),
        "--warmup".into(),
        fmt_num(warmup),
        "--settle".into(),
        fmt_num(d.settle_s),
        "--cpus".into(),
        run.client_cpus.to_string(),
        "--threads".into(),
        run.threads.to_string(),
        "--json".into(),
        run.json.to_string(),
        "--hlog".into(),
        run.hlog.to_string(),
        "--hgrm".into(),
        run.hgrm.to_string(),
        "--quiet".into(),
    ];
    if let Some(pid) = run.server_pid {
        a.extend(["--server-pid".into(), pid.to_string()]);
    }
    match c.model {
        LoadModel::Idle => {
            a.push("--idle".into());
            a.extend(["--prime".into(), c.prime.unwrap_or(0).to_string()]);
        }
        LoadModel::Closed => {
            a.push("--closed".into());
            a.extend(["--depth".into(), c.depth.unwrap_or(1).to_string()]);
        }
        LoadModel::Open => {
            if run.rates.len() == 1
                && c.rate_steps.is_none()
                && c.rate_fractions.as_ref().is_none_or(|f| f.len() == 1)
            {
                a.extend(["--rate".into(), fmt_num(run.rates[0])]);
            } else {
                let steps: Vec<String> = run.rates.iter().map(|r| fmt_num(*r)).collect();
                a.extend(["--rate-steps".into(), steps.join(",")]);
            }
            if let Some(arr) = &c.arrival {
                a.extend(["--arrival".into(), arr.clone()]);
            }
            if let Some(m) = c.max_in_flight {
                a.extend(["--max-in-flight".into(), m.to_string()]);
            }
        }
    }
    match s.workload {
        Workload::Echo => a.extend(["--size".into(), c.size_bytes.unwrap_or(64).to_string()]),
        Workload::Work => {
            a.extend(["--mix".into(), run.mix.clone().unwrap_or_default()]);
            a.extend(["--data-size".into(), run.data_file_bytes.to_string()]);
        }
    }
    if let Some(t) = c.timeout_s {
        a.extend(["--timeout".into(), fmt_num(t)]);
    }
    a
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// Seconds of load a client generates (warm-up + measured, all steps).
pub fn client_seconds(c: &ClientSpec, s: &ScenarioSpec, d: &Defaults) -> f64 {
    let warmup = c.warmup_s.unwrap_or(s.warmup_s(d));
    let duration = c.duration_s.unwrap_or(s.duration_s(d));
    let steps = c
        .rate_steps
        .as_ref()
        .map(Vec::len)
        .or(c.rate_fractions.as_ref().map(Vec::len))
        .unwrap_or(1)
        .max(1);
    // Each step re-warms; a short settle between steps.
    steps as f64 * (warmup + duration) + (steps - 1) as f64 * d.settle_s
}

/// Estimated wall time of a trial: server start and probe, the longest
/// client, the idle observation, the pause.
pub fn trial_seconds(s: &ScenarioSpec, d: &Defaults) -> f64 {
    let load = s
        .clients
        .iter()
        .map(|c| client_seconds(c, s, d))
        .fold(0.0, f64::max);
    // Start + probe ~0.4 s, idle baseline 0.12 s.
    0.5 + load + s.observe_after_s + d.pause_s
}

pub fn profile_seconds(p: &Profile, trials: &[PlannedTrial]) -> f64 {
    trials
        .iter()
        .map(|t| trial_seconds(&p.scenarios[t.scenario], &p.defaults))
        .sum()
}

pub fn micro_seconds(p: &Profile, micro: &[PlannedMicro]) -> f64 {
    micro
        .iter()
        .map(|m| p.micro[m.micro].expected_s + p.defaults.pause_s)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::{Variants, parse_profile, parse_variants};
    use std::path::Path;

    fn fixture() -> (Profile, Variants) {
        let v = parse_variants(
            Path::new("v"),
            r#"
            [a]
            language = "go"
            server = "go-server"
            description = "a"
            [b]
            language = "rust"
            server = "rust-server"
            description = "b"
            [c]
            language = "rust"
            server = "rust-server"
            args = ["--runtime", "current-thread"]
            description = "c"
            "#,
        )
        .unwrap();
        let p = parse_profile(
            Path::new("p"),
            r#"
            name = "t"
            description = "t"
            [defaults]
            repeats = 3
            warmup_s = 1.0
            duration_s = 2.0
            pause_s = 0.5
            [[scenario]]
            id = "cap"
            title = "cap"
            claims = ["C1"]
            workload = "echo"
            variants = ["a", "b", "c"]
            [[scenario.client]]
            model = "closed"
            conns = 4
            size_bytes = 64
            [[scenario]]
            id = "mix"
            title = "mix"
            claims = ["C3"]
            workload = "work"
            variants = ["a", "b"]
            repeats = 2
            workers = 2
            [[scenario.client]]
            model = "open"
            conns = 4
            rate_fractions = [0.5, 0.25]
            of_capacity = "cap"
            mix = "light:weight=9,size=64;heavy:weight=1,cpu_ms=2.5"
            "#,
            &v,
        )
        .unwrap();
        (p, v)
    }

    #[test]
    fn client_rates_come_from_the_rate_steps_or_the_lowest_original_capacity() {
        let (p, _) = fixture();
        let mut steps = p.scenarios[1].clone();
        // An A/A copy (its capacity far lower here) never sets the rates.
        steps.variants.push("a-aa".into());
        let caps = BTreeMap::from([(
            "cap".to_string(),
            BTreeMap::from([
                ("a".to_string(), 1000.0),
                ("b".to_string(), 800.0),
                ("c".to_string(), 100.0),
                ("a-aa".to_string(), 10.0),
            ]),
        )]);
        let c = &steps.clients[0];
        assert_eq!(client_rates(c, &steps, &caps).unwrap(), vec![400.0, 200.0]);
        let e = client_rates(c, &steps, &BTreeMap::new()).unwrap_err();
        assert!(e.contains("rates from scenario cap"), "{e}");
        let steps = &steps;
        let mut fixed = c.clone();
        fixed.rate = Some(250.0);
        assert_eq!(client_rates(&fixed, steps, &caps).unwrap(), vec![250.0]);
        let closed = &p.scenarios[0].clients[0];
        assert!(
            client_rates(closed, &p.scenarios[0], &caps)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn rounds_are_mirrored_pairs_of_a_seeded_order() {
        let o = round_orders(&["a", "b", "c"], 4, 7);
        assert_eq!(o.len(), 4);
        let mut rev = o[0].clone();
        rev.reverse();
        assert_eq!(o[1], rev);
        let mut rev2 = o[2].clone();
        rev2.reverse();
        assert_eq!(o[3], rev2);
        // Each unit once per round; the same seed gives the same order.
        for r in &o {
            let mut x = r.clone();
            x.sort();
            assert_eq!(x, ["a", "b", "c"]);
        }
        assert_eq!(round_orders(&["a", "b", "c"], 4, 7), o);
        // Over a mirrored pair every unit's mean position is the same.
        for u in ["a", "b", "c"] {
            let pos: usize = o[..2]
                .iter()
                .map(|r| r.iter().position(|x| *x == u).unwrap())
                .sum();
            assert_eq!(pos, 2);
        }
        // Different seeds reach different orders.
        let firsts: std::collections::BTreeSet<Vec<&str>> = (0..50)
            .map(|s| round_orders(&["a", "b", "c"], 1, s)[0].clone())
            .collect();
        assert!(firsts.len() > 3, "{firsts:?}");
    }

    #[test]
    fn linked_scenarios_share_rounds_and_capacity_runs_first() {
        let (p, _) = fixture();
        let t = order_trials(&p, &[], &[], 1);
        // cap: 3 variants x 3 rounds, then mix: 2 x 2.
        assert_eq!(t.len(), 13);
        assert!(t[..9].iter().all(|x| x.scenario == 0 && x.group == 0));
        assert!(t[9..].iter().all(|x| x.scenario == 1 && x.group == 1));
        for r in 0..3 {
            let round: Vec<&PlannedTrial> = t[..9].iter().filter(|x| x.repeat == r).collect();
            assert_eq!(round.len(), 3);
        }
        assert_eq!(t[0].id(&p).split("--r").nth(1), Some("1"));
        // The capacity scenario never joins its dependent's group.
        let g = groups(&p, &[0, 1], &[("cap".into(), "mix".into())]);
        assert_eq!(g, vec![vec![0], vec![1]]);
        let only = order_trials(&p, &["mix".to_string()], &[], 1);
        assert!(only.iter().all(|t| t.scenario == 1) && only.len() == 4);
        assert_eq!(with_dependencies(&p, &["mix".to_string()]), ["mix", "cap"]);
    }

    #[test]
    fn rates_use_the_lowest_capacity() {
        let caps: BTreeMap<String, f64> =
            [("a".to_string(), 1000.0), ("b".to_string(), 800.0)].into();
        let r = rates_from_capacity(&[0.5, 0.25], &caps, &["a".into(), "b".into()]).unwrap();
        assert_eq!(r, vec![400.0, 200.0]);
        assert!(
            rates_from_capacity(&[0.5], &caps, &["a".into(), "z".into()])
                .unwrap_err()
                .contains("variant z")
        );
    }

    #[test]
    fn cpu_ms_becomes_rounds() {
        let m = resolve_mix("light:weight=9,size=64;heavy:weight=1,cpu_ms=2.5", 4000.0).unwrap();
        assert_eq!(m, "light:weight=9,size=64;heavy:weight=1,cpu=10000");
        assert!(
            resolve_mix("h:cpu_ms=x", 1.0)
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            resolve_mix("h:cpu_ms=1000", 4000.0)
                .unwrap_err()
                .contains("limit")
        );
    }

    #[test]
    fn a_machine_too_small_refuses_in_one_line() {
        assert!(refuse_threads(11_000, Some(20_000)).is_none());
        let r = refuse_threads(11_000, Some(4_000)).unwrap();
        assert!(r.contains("11000") && r.contains("4000"), "{r}");
        assert!(refuse_threads(11_000, None).is_none());
        assert!(thread_room().is_some_and(|r| r > 0));
    }

    #[test]
    fn server_args_carry_workers_and_data_file() {
        let (p, v) = fixture();
        let mix = &p.scenarios[1];
        assert_eq!(workers_for(&v["a"], mix, 1), 2);
        assert_eq!(workers_for(&v["c"], &p.scenarios[0], 4), 1);
        let a = server_args(&v["b"], mix, 2, Some("/d"));
        assert_eq!(
            a.join(" "),
            "--listen 127.0.0.1:0 --workload work --workers 2 --data-file /d"
        );
        let a = server_args(&v["c"], &p.scenarios[0], 1, Some("/d"));
        assert_eq!(
            a.join(" "),
            "--listen 127.0.0.1:0 --workload echo --runtime current-thread"
        );
    }

    #[test]
    fn loadgen_args_for_steps_and_closed_loop() {
        let (p, _) = fixture();
        let run = ClientRun {
            addr: "127.0.0.1:9".parse().unwrap(),
            client_cpus: "1",
            threads: 1,
            rates: vec![400.0, 200.0],
            mix: Some("light:weight=1".into()),
            data_file_bytes: 99,
            json: "j",
            hlog: "h",
            hgrm: "g",
            server_pid: Some(7),
        };
        let a = loadgen_args(
            &p.scenarios[1].clients[0],
            &p.scenarios[1],
            &p.defaults,
            &run,
        )
        .join(" ");
        assert!(
            a.contains("--rate-steps 400,200")
                && a.contains("--mix light:weight=1")
                && a.contains("--data-size 99"),
            "{a}"
        );
        assert!(a.contains("--server-pid 7"), "{a}");
        let a = loadgen_args(
            &p.scenarios[0].clients[0],
            &p.scenarios[0],
            &p.defaults,
            &run,
        )
        .join(" ");
        assert!(
            a.contains("--closed --depth 1") && a.contains("--size 64") && !a.contains("--rate"),
            "{a}"
        );
    }

    #[test]
    fn durations_add_up() {
        let (p, _) = fixture();
        let t = order_trials(&p, &[], &[], 3);
        // cap: 0.5 + 3 + 0.5 = 4.0 s x 9; mix: 0.5 + 2 steps x 3 + 0.1 settle + 0.5 = 7.1 s x 4.
        assert!((profile_seconds(&p, &t) - (9.0 * 4.0 + 4.0 * 7.1)).abs() < 1e-9);
    }
}
