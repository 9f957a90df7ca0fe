//! What a census trial stores (`census/<scenario>--<variant>.json`, schema
//! `schemas/census.schema.json`) and the arithmetic on it: counts summed
//! over the windows with perf, divided by the requests of those windows;
//! CPU and context switches per request in each mode; perf's overhead.
//! Pure: the report reads these files alone.

use crate::config::profile::Language;
use crate::run::census::perf::{self, Family};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const SCHEMA_VERSION: u32 = 1;
/// The census files' folder in a run directory.
pub const DIR: &str = "census";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Counted.
    Ok,
    /// perf cannot count syscall tracepoints here (`reason` says why).
    Unavailable,
    /// Tried, and something broke (`reason`); the run went on.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Unrecorded load on the fresh server, so neither mode gets the cold start.
    Warmup,
    WithoutPerf,
    WithPerf,
}

/// One load-generator run against the census's server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub mode: Mode,
    /// Correct responses (the load generator's `requests`; no warm-up, so
    /// every request of the run).
    pub requests: u64,
    pub requests_sent: u64,
    /// Errors of every kind the load generator counted.
    pub errors: u64,
    /// The load generator's own verdict on its run (send lag, completions).
    pub valid: bool,
    pub invalid_reasons: Vec<String>,
    /// From the load generator's launch to its exit and a short settle:
    /// what the counts and the CPU figures cover.
    pub duration_ms: f64,
    /// Server CPU (schedstat, all threads) over the window.
    pub server_cpu_us: Option<f64>,
    /// Voluntary + involuntary context switches of the server's threads.
    pub server_ctx_switches: Option<f64>,
}

/// A figure in both modes: the median over the windows of each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PerMode {
    pub without_perf: Option<f64>,
    pub with_perf: Option<f64>,
}

impl PerMode {
    /// with / without: what attaching perf costs (1.2 = 20 % more).
    pub fn ratio(&self) -> Option<f64> {
        match (self.with_perf, self.without_perf) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerfUsed {
    pub version: String,
    /// One window's command, as run.
    pub command: Vec<String>,
    pub events: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadUsed {
    /// The scenario's first client.
    pub client: String,
    pub model: String,
    pub conns: usize,
    /// Open loop: the rate used; null in closed loop.
    pub rate_rps: Option<f64>,
    /// With rate steps: which one (1-based, the middle one) of how many.
    pub step: Option<usize>,
    pub steps: usize,
    /// Each window's length (the load generator's --duration, no warm-up).
    pub window_s: f64,
    /// One window's load-generator arguments.
    pub loadgen_args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerUsed {
    pub binary: String,
    pub args: Vec<String>,
    pub workers: usize,
    pub cpus_requested: String,
    pub cpus_allowed_list: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CensusRecord {
    pub schema_version: u32,
    pub scenario: String,
    pub variant: String,
    pub language: Language,
    pub status: Status,
    /// Why the status is not ok, in one line.
    pub reason: Option<String>,
    pub started_at: String,
    pub ended_at: String,
    pub perf: Option<PerfUsed>,
    pub load: Option<LoadUsed>,
    pub server: Option<ServerUsed>,
    pub windows: Vec<Window>,
    /// perf's counts by syscall name over the windows with perf (one perf
    /// process attached across both, its counters on only in the windows).
    pub syscalls: BTreeMap<String, u64>,
    /// Every syscall in those windows (`raw_syscalls:sys_enter`).
    pub syscalls_total: Option<u64>,
    /// Requests of the windows with perf: the divisor of the counts.
    pub requests: u64,
    /// Syscalls per request by name, over the windows with perf; names
    /// never seen are left out; "other" = the total minus the named.
    pub syscalls_per_request: BTreeMap<String, f64>,
    pub total_per_request: Option<f64>,
    /// The same by family (read, write, poll, wait, ...).
    pub families_per_request: BTreeMap<String, f64>,
    pub cpu_us_per_request: PerMode,
    pub ctx_switches_per_request: PerMode,
    /// Server CPU per request with perf / without: the census's own cost.
    pub overhead_ratio: Option<f64>,
    /// Windows whose load generator called its run invalid, and the like.
    pub problems: Vec<String>,
}

impl CensusRecord {
    pub fn new(scenario: &str, variant: &str, language: Language, started_at: String) -> Self {
        CensusRecord {
            schema_version: SCHEMA_VERSION,
            scenario: scenario.into(),
            variant: variant.into(),
            language,
            status: Status::Ok,
            reason: None,
            ended_at: started_at.clone(),
            started_at,
            perf: None,
            load: None,
            server: None,
            windows: Vec::new(),
            syscalls: BTreeMap::new(),
            syscalls_total: None,
            requests: 0,
            syscalls_per_request: BTreeMap::new(),
            total_per_request: None,
            families_per_request: BTreeMap::new(),
            cpu_us_per_request: PerMode::default(),
            ctx_switches_per_request: PerMode::default(),
            overhead_ratio: None,
            problems: Vec::new(),
        }
    }

    /// Marks the record failed with the first reason given.
    pub fn fail(&mut self, why: impl Into<String>) {
        if self.status != Status::Failed {
            self.status = Status::Failed;
            self.reason = Some(why.into());
        }
    }

    /// Fills every derived figure from the windows.
    pub fn derive(&mut self) {
        let t = tally(&self.windows, &self.syscalls, self.syscalls_total);
        self.requests = t.requests;
        self.syscalls_per_request = t.per_request;
        self.total_per_request = t.total_per_request;
        self.families_per_request = t.families;
        self.cpu_us_per_request = per_mode(&self.windows, |w| w.server_cpu_us);
        self.ctx_switches_per_request = per_mode(&self.windows, |w| w.server_ctx_switches);
        self.overhead_ratio = self.cpu_us_per_request.ratio();
        self.problems = self
            .windows
            .iter()
            .enumerate()
            .filter(|(_, w)| w.mode != Mode::Warmup && !w.valid)
            .map(|(i, w)| {
                format!(
                    "window {} ({}): the load generator marked its run invalid: {}",
                    i + 1,
                    mode_word(w.mode),
                    w.invalid_reasons.join("; ")
                )
            })
            .collect();
        if self.status == Status::Ok && self.requests == 0 {
            self.fail("no request completed in the windows with perf");
        } else if self.status == Status::Ok && self.syscalls_total.unwrap_or(0) == 0 {
            self.fail("perf counted no syscall in the windows with perf");
        }
    }
}

pub fn mode_word(m: Mode) -> &'static str {
    match m {
        Mode::Warmup => "warm-up",
        Mode::WithoutPerf => "without perf",
        Mode::WithPerf => "with perf",
    }
}

/// The census's counts per request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tally {
    pub requests: u64,
    pub per_request: BTreeMap<String, f64>,
    pub total_per_request: Option<f64>,
    pub families: BTreeMap<String, f64>,
}

/// Divides the counts of the windows with perf by their requests. "other"
/// is the total minus every named count (never below zero: the two come
/// from separate counters read at the same moments).
pub fn tally(windows: &[Window], counts: &BTreeMap<String, u64>, total: Option<u64>) -> Tally {
    let requests: u64 = windows
        .iter()
        .filter(|w| w.mode == Mode::WithPerf)
        .map(|w| w.requests)
        .sum();
    if requests == 0 {
        return Tally::default();
    }
    if counts.is_empty() {
        return Tally {
            requests,
            ..Tally::default()
        };
    }
    let named: u64 = counts.values().sum();
    let r = requests as f64;
    let mut per_request: BTreeMap<String, f64> = counts
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(n, c)| (n.clone(), *c as f64 / r))
        .collect();
    if let Some(t) = total {
        let other = t.saturating_sub(named);
        if other > 0 {
            per_request.insert("other".into(), other as f64 / r);
        }
    }
    let mut families: BTreeMap<String, f64> = BTreeMap::new();
    for (n, v) in &per_request {
        *families
            .entry(perf::family(n).word().to_string())
            .or_default() += v;
    }
    Tally {
        requests,
        per_request,
        total_per_request: total.map(|t| t as f64 / r),
        families,
    }
}

/// The median over each mode's windows of `f(window) / requests`.
pub fn per_mode(windows: &[Window], f: impl Fn(&Window) -> Option<f64>) -> PerMode {
    let of = |mode: Mode| {
        let mut v: Vec<f64> = windows
            .iter()
            .filter(|w| w.mode == mode && w.requests > 0)
            .filter_map(|w| Some(f(w)? / w.requests as f64))
            .collect();
        median(&mut v)
    };
    PerMode {
        without_perf: of(Mode::WithoutPerf),
        with_perf: of(Mode::WithPerf),
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The rate a census runs at: the only one, or with steps the middle one
/// (step 2 of 3: the step C1's headline reads). (rate, 1-based step).
pub fn pick_rate(rates: &[f64]) -> (Option<f64>, Option<usize>) {
    match rates.len() {
        0 => (None, None),
        1 => (Some(rates[0]), None),
        n => {
            let i = (n - 1) / 2;
            (Some(rates[i]), Some(i + 1))
        }
    }
}

/// Read-family and write-family calls per request (for the strace check).
pub fn read_write(r: &CensusRecord) -> (f64, f64) {
    let fam = |f: Family| r.families_per_request.get(f.word()).copied().unwrap_or(0.0);
    (fam(Family::Read), fam(Family::Write))
}

pub fn file_name(scenario: &str, variant: &str) -> String {
    format!("{scenario}--{variant}.json")
}

pub fn path(run_root: &Path, scenario: &str, variant: &str) -> PathBuf {
    run_root.join(DIR).join(file_name(scenario, variant))
}

/// Every census file of a run, by scenario then variant; unreadable ones
/// are problems in words.
pub fn load_dir(run_root: &Path) -> (Vec<CensusRecord>, Vec<String>) {
    crate::run::results::read_json_files(&run_root.join(DIR))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn window(mode: Mode, requests: u64, cpu_us: f64) -> Window {
        Window {
            mode,
            requests,
            requests_sent: requests,
            errors: 0,
            valid: true,
            invalid_reasons: Vec::new(),
            duration_ms: 500.0,
            server_cpu_us: Some(cpu_us),
            server_ctx_switches: Some(requests as f64 / 2.0),
        }
    }

    fn counts(c: &[(&str, u64)]) -> BTreeMap<String, u64> {
        c.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    }

    #[test]
    fn counts_are_divided_by_the_requests_of_the_perf_windows() {
        let w = vec![
            window(Mode::Warmup, 300, 9_999.0),
            window(Mode::WithoutPerf, 1000, 10_000.0),
            window(Mode::WithPerf, 1000, 12_000.0),
            window(Mode::WithPerf, 3000, 39_000.0),
            window(Mode::WithoutPerf, 3000, 33_000.0),
        ];
        let c = counts(&[
            ("read", 8000),
            ("write", 4000),
            ("futex", 400),
            ("clone3", 0),
        ]);
        // 400 calls the census does not name.
        let t = tally(&w, &c, Some(12_800));
        assert_eq!(t.requests, 4000);
        assert_eq!(t.per_request["read"], 2.0);
        assert_eq!(t.per_request["write"], 1.0);
        assert_eq!(t.per_request["futex"], 0.1);
        assert!(
            !t.per_request.contains_key("clone3"),
            "zero counts are left out"
        );
        assert!((t.per_request["other"] - 0.1).abs() < 1e-12);
        assert!((t.total_per_request.unwrap() - 3.2).abs() < 1e-12);
        assert_eq!(t.families["read"], 2.0);
        assert!((t.families["wait"] - 0.1).abs() < 1e-12);
        assert!((t.families["other"] - 0.1).abs() < 1e-12);
        let mut r = CensusRecord::new("s", "go", Language::Go, "t".into());
        r.windows = w;
        r.syscalls = c;
        r.syscalls_total = Some(12_800);
        r.derive();
        assert_eq!(r.requests, 4000);
        // CPU per request: without perf 10 and 11 µs, with perf 12 and 13.
        assert_eq!(r.cpu_us_per_request.without_perf, Some(10.5));
        assert_eq!(r.cpu_us_per_request.with_perf, Some(12.5));
        assert!((r.overhead_ratio.unwrap() - 12.5 / 10.5).abs() < 1e-12);
        assert_eq!(r.ctx_switches_per_request.with_perf, Some(0.5));
        assert_eq!(r.status, Status::Ok);
        assert_eq!(read_write(&r), (2.0, 1.0));
    }

    #[test]
    fn no_requests_no_figures_and_a_failed_census() {
        let c = counts(&[("read", 5)]);
        assert_eq!(
            tally(&[window(Mode::WithPerf, 0, 1.0)], &c, Some(5)),
            Tally::default()
        );
        let mut r = CensusRecord::new("s", "go", Language::Go, "t".into());
        r.windows = vec![window(Mode::WithoutPerf, 10, 1.0)];
        r.derive();
        assert_eq!(r.status, Status::Failed);
        assert!(r.reason.unwrap().contains("no request"));
        // The first failure's reason stays.
        let mut r = CensusRecord::new("s", "go", Language::Go, "t".into());
        r.fail("first");
        r.fail("second");
        assert_eq!(r.reason.as_deref(), Some("first"));
    }

    #[test]
    fn other_never_goes_below_zero_and_a_missing_total_leaves_it_out() {
        let w = [window(Mode::WithPerf, 10, 1.0)];
        let c = counts(&[("read", 20)]);
        assert!(!tally(&w, &c, Some(15)).per_request.contains_key("other"));
        let t = tally(&w, &c, None);
        assert_eq!(t.total_per_request, None);
        assert_eq!(t.per_request["read"], 2.0);
        assert!(!t.per_request.contains_key("other"));
    }

    #[test]
    fn the_middle_step_is_the_census_rate() {
        assert_eq!(pick_rate(&[]), (None, None));
        assert_eq!(pick_rate(&[800.0]), (Some(800.0), None));
        assert_eq!(pick_rate(&[1.0, 2.0, 3.0]), (Some(2.0), Some(2)));
        assert_eq!(pick_rate(&[1.0, 2.0]), (Some(1.0), Some(1)));
    }

    #[test]
    fn invalid_windows_are_named_and_warmup_is_not() {
        let mut bad = window(Mode::WithPerf, 10, 1.0);
        bad.valid = false;
        bad.invalid_reasons = vec!["send lag p99 2 ms".into()];
        let mut warm = window(Mode::Warmup, 10, 1.0);
        warm.valid = false;
        let mut r = CensusRecord::new("s", "go", Language::Go, "t".into());
        r.windows = vec![warm, bad];
        r.syscalls = counts(&[("read", 20)]);
        r.derive();
        assert_eq!(r.problems.len(), 1);
        assert!(r.problems[0].contains("window 2 (with perf)") && r.problems[0].contains("lag"));
    }

    #[test]
    fn records_round_trip_through_their_files() {
        let dir = std::env::temp_dir().join(format!("rtc-census-record-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(DIR)).unwrap();
        let mut r = CensusRecord::new("echo", "go", Language::Go, "t".into());
        r.windows = vec![window(Mode::WithPerf, 10, 1.0)];
        r.syscalls = counts(&[("read", 20)]);
        r.syscalls_total = Some(25);
        r.derive();
        crate::run::results::write_json(&path(&dir, "echo", "go"), &r).unwrap();
        std::fs::write(dir.join(DIR).join("broken.json"), b"{").unwrap();
        let (back, problems) = load_dir(&dir);
        assert_eq!(back, vec![r]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("broken.json"));
        // Where perf cannot count: a record with nothing but the reason.
        let mut none = CensusRecord::new("echo", "rust", Language::Rust, "t".into());
        none.status = Status::Unavailable;
        none.reason = Some("perf is not installed".into());
        crate::run::results::write_json(&path(&dir, "echo", "rust"), &none).unwrap();
        for v in ["go", "rust"] {
            let errs =
                crate::schema_check::check_file(&path(&dir, "echo", v), "census.schema.json");
            assert!(errs.is_empty(), "{v}: {errs:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
