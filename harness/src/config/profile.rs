//! Profiles (TOML under `harness/profiles/`) and server variants
//! (`harness/variants.toml`), parsed and validated in full before anything
//! runs: an unknown key, variant or claim is one error naming the file, the
//! scenario and the key.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Claim ids a scenario may serve (the rows of shared/design/claims.md plus
/// the project's extra findings).
pub const KNOWN_CLAIMS: &[&str] = &[
    "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11", "C12", "C13",
    // Findings beyond the notes (claims.md invites them): F1 the LIFO-slot
    // wake delay, F2 Go's thread limit.
    "F1", "F2",
];

#[derive(Debug, thiserror::Error)]
#[error("{file}: {context}: {message}")]
pub struct ProfileError {
    pub file: String,
    pub context: String,
    pub message: String,
}

fn err(file: &Path, context: impl Into<String>, message: impl Into<String>) -> ProfileError {
    ProfileError {
        file: file.display().to_string(),
        context: context.into(),
        // toml errors span several lines; keep the one that names the problem.
        message: one_line(&message.into()),
    }
}

pub(crate) fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // Drop toml's source snippet (line numbers, pipes, carets), keep the words.
    let snippet = |l: &&str| {
        l.starts_with('|')
            || l.starts_with("-->")
            || l.chars().all(|c| c.is_ascii_digit() || "| ^".contains(c))
    };
    lines
        .into_iter()
        .filter(|l| !snippet(l))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------- bounds

/// The longest time any key may ask for (a day): far beyond any real
/// scenario, and small enough that `Duration::from_secs_f64` never panics
/// and no deadline becomes infinite or NaN.
pub const MAX_SECONDS: f64 = 86_400.0;
/// Repeats (trials or processes per variant).
pub const MAX_REPEATS: usize = 1_000;
/// Worker threads / GOMAXPROCS.
pub const MAX_WORKERS: usize = 4_096;
/// Requests in flight, per connection or per load generator.
pub const MAX_IN_FLIGHT: usize = 1_000_000;
/// Server buffer and echo request sizes (64 MiB).
pub const MAX_SIZE_BYTES: usize = 64 << 20;
/// Offered rate, requests per second.
pub const MAX_RATE: f64 = 1e9;
/// The data file: the protocol's file offsets are 32-bit.
pub const MAX_DATA_FILE_BYTES: u64 = u32::MAX as u64;

/// A number of seconds: finite, within `0..=MAX_SECONDS`, and above 0 when
/// `positive`.
fn check_seconds(key: &str, x: f64, positive: bool) -> Result<(), String> {
    let ok = x.is_finite() && x <= MAX_SECONDS && if positive { x > 0.0 } else { x >= 0.0 };
    if ok {
        return Ok(());
    }
    Err(format!(
        "key '{key}': {x} is not a {} number of seconds (at most {MAX_SECONDS})",
        if positive { "positive" } else { "non-negative" }
    ))
}

/// A count: `1..=max`.
fn check_count(key: &str, n: usize, max: usize) -> Result<(), String> {
    if (1..=max).contains(&n) {
        Ok(())
    } else {
        Err(format!("key '{key}': {n} must be between 1 and {max}"))
    }
}

/// Names that become parts of file names (`trials/<scenario>--<variant>--r1.json`,
/// `hlog/<trial>--<client>.hlog`, `results/<stamp>-<profile>/`): letters,
/// digits, '-', '_' and, where `dot` is allowed, '.' — never first, so no
/// name is hidden, `.` or `..`. Names that also appear in metric names
/// (`<client>.<metric>`) or trial ids take no '.'.
pub fn check_name(name: &str, dot: bool) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (dot && c == '.');
    if name.is_empty() || name.starts_with('.') || !name.chars().all(ok_char) {
        return Err(format!(
            "{name:?} must be letters, digits, '-'{} or '_'{}",
            if dot { ", '.'" } else { "" },
            if dot { ", not starting with '.'" } else { "" }
        ));
    }
    if name.len() > 100 {
        return Err(format!("{name:?} is longer than 100 characters"));
    }
    Ok(())
}

// ---------------------------------------------------------------- variants

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    #[serde(skip)]
    pub name: String,
    pub language: Language,
    /// Binary name under bin/.
    pub server: String,
    #[serde(default)]
    pub args: Vec<String>,
    pub description: String,
    /// Fixed worker count (GOMAXPROCS / tokio workers); default: the server's CPUs.
    #[serde(default)]
    pub workers: Option<usize>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Go,
    Rust,
}

impl Variant {
    /// Current-thread tokio has exactly one worker whatever is asked.
    pub fn is_current_thread(&self) -> bool {
        self.args
            .windows(2)
            .any(|w| w[0] == "--runtime" && w[1] == "current-thread")
    }
}

pub type Variants = BTreeMap<String, Variant>;

pub fn parse_variants(file: &Path, text: &str) -> Result<Variants, ProfileError> {
    let raw: BTreeMap<String, toml::Value> =
        toml::from_str(text).map_err(|e| err(file, "variants", e.to_string()))?;
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        let mut v: Variant = value
            .try_into()
            .map_err(|e: toml::de::Error| err(file, format!("variant '{name}'"), e.to_string()))?;
        let label = format!("variant '{name}'");
        check_name(&name, false).map_err(|m| err(file, &label, format!("name: {m}")))?;
        if crate::config::expand::aa_original(&name).is_some() {
            return Err(err(
                file,
                &label,
                format!(
                    "name: the suffix {:?} is kept for the A/A control's copies",
                    crate::config::expand::AA_SUFFIX
                ),
            ));
        }
        check_name(&v.server, true).map_err(|m| {
            err(
                file,
                &label,
                format!("key 'server': {m} (a binary under bin/)"),
            )
        })?;
        if let Some(w) = v.workers {
            check_count("workers", w, MAX_WORKERS).map_err(|m| err(file, &label, m))?;
        }
        v.name = name.clone();
        out.insert(name, v);
    }
    if out.is_empty() {
        return Err(err(file, "variants", "no variants declared"));
    }
    Ok(out)
}

// ---------------------------------------------------------------- profiles

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default = "d_repeats")]
    pub repeats: usize,
    #[serde(default = "d_warmup")]
    pub warmup_s: f64,
    #[serde(default = "d_duration")]
    pub duration_s: f64,
    /// Pause between trials, so one trial's tail does not leak into the next.
    #[serde(default = "d_pause")]
    pub pause_s: f64,
    /// Pause between the rate steps of one load generator (its `--settle`).
    #[serde(default = "d_settle")]
    pub settle_s: f64,
    /// Size of the data file the file-read scenarios read from.
    #[serde(default = "d_data")]
    pub data_file_bytes: u64,
    /// Every network server samples its runtime's metrics this often
    /// (`--telemetry-interval`); 0 turns telemetry off.
    #[serde(default = "d_telemetry")]
    pub telemetry_interval_ms: u64,
}

fn d_repeats() -> usize {
    3
}
fn d_warmup() -> f64 {
    0.5
}
fn d_duration() -> f64 {
    2.0
}
fn d_pause() -> f64 {
    0.3
}
fn d_settle() -> f64 {
    0.1
}
fn d_data() -> u64 {
    16 << 20
}
/// The servers' own default: the interval their overhead was measured at.
fn d_telemetry() -> u64 {
    100
}
/// The servers accept 1 ms to 1 min.
const MAX_TELEMETRY_INTERVAL_MS: u64 = 60_000;

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            repeats: d_repeats(),
            warmup_s: d_warmup(),
            duration_s: d_duration(),
            pause_s: d_pause(),
            settle_s: d_settle(),
            data_file_bytes: d_data(),
            telemetry_interval_ms: d_telemetry(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    Echo,
    Work,
}

impl Workload {
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::Work => "work",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadModel {
    Open,
    Closed,
    /// Connections opened, `prime` requests each, then held idle for the
    /// window (memory per connection).
    Idle,
}

/// One load generator process of a scenario.
#[derive(Debug, Clone, Deserialize, PartialEq, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    #[serde(default = "d_client_name")]
    pub name: String,
    pub model: LoadModel,
    pub conns: usize,
    /// Closed loop: requests in flight per connection.
    #[serde(default)]
    pub depth: Option<usize>,
    /// Open loop: one fixed rate (req/s over all connections)...
    #[serde(default)]
    pub rate: Option<f64>,
    /// ...or several absolute rates run as steps on the same connections...
    #[serde(default)]
    pub rate_steps: Option<Vec<f64>>,
    /// ...or fractions of the lowest variant capacity measured by scenario `of_capacity`.
    #[serde(default)]
    pub rate_fractions: Option<Vec<f64>>,
    #[serde(default)]
    pub of_capacity: Option<String>,
    /// Echo: request size.
    #[serde(default)]
    pub size_bytes: Option<usize>,
    /// Work: the load generator's mix spec; `cpu_ms=X` is turned into SHA rounds
    /// by the harness's calibration.
    #[serde(default)]
    pub mix: Option<String>,
    #[serde(default)]
    pub arrival: Option<String>,
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    #[serde(default)]
    pub timeout_s: Option<f64>,
    /// Scheduling niceness of this load generator (e.g. 10 for a bulk
    /// "firehose" that shares the client CPU with a latency probe).
    #[serde(default)]
    pub nice: Option<i32>,
    /// Run this load generator under SCHED_IDLE: it gets the client CPU
    /// only when nothing else wants it, and any other task that wakes
    /// preempts it at once (nice 19 still lets it finish a slice first).
    #[serde(default)]
    pub sched_idle: bool,
    /// Idle model: verified requests each connection carries before it
    /// goes idle (0: never used).
    #[serde(default)]
    pub prime: Option<usize>,
    /// Overrides of the scenario's timing for this client.
    #[serde(default)]
    pub warmup_s: Option<f64>,
    #[serde(default)]
    pub duration_s: Option<f64>,
}

impl ClientSpec {
    /// The priority its process gets: a niceness, or SCHED_IDLE
    /// (`run::trial::SCHED_IDLE_PRIORITY`).
    pub fn priority(&self) -> i32 {
        if self.sched_idle {
            crate::run::trial::SCHED_IDLE_PRIORITY
        } else {
            self.nice.unwrap_or(0)
        }
    }
}

fn d_client_name() -> String {
    "main".into()
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub id: String,
    pub title: String,
    pub claims: Vec<String>,
    pub workload: Workload,
    pub variants: Vec<String>,
    #[serde(rename = "client")]
    pub clients: Vec<ClientSpec>,
    #[serde(default)]
    pub repeats: Option<usize>,
    #[serde(default)]
    pub warmup_s: Option<f64>,
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Worker threads / GOMAXPROCS for every variant of this scenario.
    #[serde(default)]
    pub workers: Option<usize>,
    /// A fixed number of server CPUs (whole cores where SMT allows);
    /// default: the placement's (run/placement.rs).
    #[serde(default)]
    pub server_cpus: Option<usize>,
    #[serde(default)]
    pub buf_size: Option<usize>,
    /// Keep sampling the server this long after the load ends (thread shrink).
    #[serde(default)]
    pub observe_after_s: f64,
    /// Start the server with the data file (work workload only).
    #[serde(default = "d_true")]
    pub data_file: bool,
    /// Extra server arguments per language for this scenario only (e.g.
    /// lowered thread limits): `server_args = { go = [...], rust = [...] }`.
    #[serde(default)]
    pub server_args: BTreeMap<Language, Vec<String>>,
    /// OS threads the scenario may need on the server's machine; a machine
    /// that cannot hold that many refuses its trials with one line.
    #[serde(default)]
    pub needs_threads: Option<usize>,
    /// Variants run a second time in every round under the name
    /// `<variant>-aa` (an identical copy): the A/A control.
    #[serde(default)]
    pub aa_control: Vec<String>,
    /// After the scenario's rounds, a separate short trial per variant
    /// counts the server's syscalls by name under the first client's load
    /// (`run::census`), where `perf` may count syscall tracepoints.
    #[serde(default)]
    pub census: bool,
    /// The census's variants when not all of them (a budget: each costs
    /// about 4 s).
    #[serde(default)]
    pub census_variants: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

fn d_true() -> bool {
    true
}

/// A microbenchmark (bin/go-micro and bin/rust-micro, same subcommand and
/// arguments), run as interleaved processes like the network trials.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MicroSpec {
    pub id: String,
    pub title: String,
    pub claims: Vec<String>,
    /// The subcommand: spawn, pingpong, channels, blocking-burst, starve, lifo-wake.
    pub bench: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Processes per language (interleaved go, rust, rust, go, ...).
    #[serde(default)]
    pub repeats: Option<usize>,
    /// Timed repeats inside each process (`--repeats`); the trial keeps their median.
    #[serde(default = "d_inner")]
    pub inner_repeats: usize,
    #[serde(default = "d_micro_timeout")]
    pub timeout_s: f64,
    /// Seconds one process is expected to take (for the ETA).
    #[serde(default = "d_micro_expected")]
    pub expected_s: f64,
    /// Languages to run (default both). The `c12` compile check is Rust-only.
    #[serde(default)]
    pub languages: Option<Vec<String>>,
    /// Another build of the Rust program under bin/ (e.g. the tokio_unstable
    /// one that can disable the LIFO slot); default `rust-micro`.
    #[serde(default)]
    pub rust_binary: Option<String>,
    /// Arguments for the Rust program only (a knob Go has no counterpart
    /// for, e.g. tokio's blocking-pool keep-alive).
    #[serde(default)]
    pub rust_args: Vec<String>,
}

impl MicroSpec {
    pub fn languages(&self) -> Vec<String> {
        self.languages
            .clone()
            .unwrap_or_else(|| MICRO_LANGUAGES.iter().map(|l| l.to_string()).collect())
    }

    /// The binary under bin/ for a language ("go" or "rust").
    pub fn binary(&self, language: &str) -> String {
        match (language, &self.rust_binary) {
            ("rust", Some(b)) => b.clone(),
            _ => format!("{language}-micro"),
        }
    }
}

fn d_inner() -> usize {
    3
}
fn d_micro_timeout() -> f64 {
    120.0
}
fn d_micro_expected() -> f64 {
    2.0
}

/// The programs' subcommands, plus `c12`: the harness compiles the C12
/// probes in rust/micro/c12 with cargo (does `tokio::spawn` take a !Send
/// future? does a LocalSet run it?).
pub const MICRO_BENCHES: &[&str] = &[
    "spawn",
    "pingpong",
    "channels",
    "blocking-burst",
    "starve",
    "lifo-wake",
    "c12",
];
pub const MICRO_LANGUAGES: &[&str] = &["go", "rust"];

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub path: PathBuf,
    pub defaults: Defaults,
    pub scenarios: Vec<ScenarioSpec>,
    pub micro: Vec<MicroSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    description: String,
    #[serde(default)]
    defaults: Option<toml::Value>,
    #[serde(rename = "scenario", default)]
    scenarios: Vec<toml::Value>,
    #[serde(default)]
    micro: Vec<toml::Value>,
}

impl ScenarioSpec {
    pub fn repeats(&self, d: &Defaults) -> usize {
        self.repeats.unwrap_or(d.repeats)
    }
    pub fn warmup_s(&self, d: &Defaults) -> f64 {
        self.warmup_s.unwrap_or(d.warmup_s)
    }
    pub fn duration_s(&self, d: &Defaults) -> f64 {
        self.duration_s.unwrap_or(d.duration_s)
    }
}

/// Parses and validates a profile against the declared variants.
pub fn parse_profile(
    file: &Path,
    text: &str,
    variants: &Variants,
) -> Result<Profile, ProfileError> {
    let raw: RawProfile = toml::from_str(text).map_err(|e| err(file, "profile", e.to_string()))?;
    let defaults: Defaults = match raw.defaults {
        Some(v) => v
            .try_into()
            .map_err(|e: toml::de::Error| err(file, "[defaults]", e.to_string()))?,
        None => Defaults::default(),
    };
    check_name(&raw.name, true).map_err(|m| err(file, "profile", format!("key 'name': {m}")))?;
    validate_defaults(&defaults).map_err(|m| err(file, "[defaults]", m))?;
    let mut scenarios = Vec::new();
    for (i, value) in raw.scenarios.into_iter().enumerate() {
        let label = value
            .get("id")
            .and_then(|v| v.as_str())
            .map(|s| format!("scenario '{s}'"))
            .unwrap_or_else(|| format!("scenario #{}", i + 1));
        let s: ScenarioSpec = value
            .try_into()
            .map_err(|e: toml::de::Error| err(file, &label, e.to_string()))?;
        let mut s = s;
        validate_scenario(&s, &scenarios, variants).map_err(|m| err(file, &label, m))?;
        for v in s.aa_control.clone() {
            if !s.variants.contains(&v) {
                return Err(err(
                    file,
                    &label,
                    format!("key 'aa_control': {v:?} is not one of the scenario's variants"),
                ));
            }
            s.variants
                .push(format!("{v}{}", crate::config::expand::AA_SUFFIX));
        }
        scenarios.push(s);
    }
    let mut micro: Vec<MicroSpec> = Vec::new();
    for (i, value) in raw.micro.into_iter().enumerate() {
        let label = value
            .get("id")
            .and_then(|v| v.as_str())
            .map(|s| format!("micro '{s}'"))
            .unwrap_or_else(|| format!("micro #{}", i + 1));
        let m: MicroSpec = value
            .try_into()
            .map_err(|e: toml::de::Error| err(file, &label, e.to_string()))?;
        let taken = scenarios.iter().any(|s| s.id == m.id) || micro.iter().any(|x| x.id == m.id);
        validate_micro(&m, taken).map_err(|msg| err(file, &label, msg))?;
        micro.push(m);
    }
    if scenarios.is_empty() && micro.is_empty() {
        return Err(err(
            file,
            "profile",
            "no [[scenario]] or [[micro]] declared",
        ));
    }
    Ok(Profile {
        name: raw.name,
        description: raw.description,
        path: file.to_path_buf(),
        defaults,
        scenarios,
        micro,
    })
}

fn validate_defaults(d: &Defaults) -> Result<(), String> {
    check_count("repeats", d.repeats, MAX_REPEATS)?;
    check_seconds("warmup_s", d.warmup_s, false)?;
    check_seconds("duration_s", d.duration_s, true)?;
    check_seconds("pause_s", d.pause_s, false)?;
    check_seconds("settle_s", d.settle_s, false)?;
    if d.telemetry_interval_ms > MAX_TELEMETRY_INTERVAL_MS {
        return Err(format!(
            "key 'telemetry_interval_ms': {} must be 0 (off) or at most {MAX_TELEMETRY_INTERVAL_MS} (the servers' limit)",
            d.telemetry_interval_ms
        ));
    }
    if !(1..=MAX_DATA_FILE_BYTES).contains(&d.data_file_bytes) {
        return Err(format!(
            "key 'data_file_bytes': {} must be between 1 and {MAX_DATA_FILE_BYTES} (the protocol's file offsets are 32-bit)",
            d.data_file_bytes
        ));
    }
    Ok(())
}

fn validate_scenario(
    s: &ScenarioSpec,
    earlier: &[ScenarioSpec],
    variants: &Variants,
) -> Result<(), String> {
    check_name(&s.id, false).map_err(|m| format!("key 'id': {m}"))?;
    if earlier.iter().any(|e| e.id == s.id) {
        return Err(format!("key 'id': {:?} is used twice", s.id));
    }
    if s.claims.is_empty() {
        return Err("key 'claims': name at least one claim".into());
    }
    for c in &s.claims {
        if !KNOWN_CLAIMS.contains(&c.as_str()) {
            return Err(format!(
                "key 'claims': unknown claim {c:?} (known: {})",
                KNOWN_CLAIMS.join(", ")
            ));
        }
    }
    if s.variants.is_empty() {
        return Err("key 'variants': name at least one variant".into());
    }
    for v in &s.variants {
        if !variants.contains_key(v) {
            let known: Vec<&str> = variants.keys().map(String::as_str).collect();
            return Err(format!(
                "key 'variants': unknown variant {v:?} (known: {})",
                known.join(", ")
            ));
        }
    }
    if s.variants
        .iter()
        .enumerate()
        .any(|(i, v)| s.variants[..i].contains(v))
    {
        return Err("key 'variants': a variant is listed twice".into());
    }
    for (key, v, max) in [
        ("repeats", s.repeats, MAX_REPEATS),
        ("workers", s.workers, MAX_WORKERS),
        ("server_cpus", s.server_cpus, MAX_WORKERS),
        ("buf_size", s.buf_size, MAX_SIZE_BYTES),
    ] {
        if let Some(n) = v {
            check_count(key, n, max)?;
        }
    }
    if let Some(x) = s.warmup_s {
        check_seconds("warmup_s", x, false)?;
    }
    if let Some(x) = s.duration_s {
        check_seconds("duration_s", x, true)?;
    }
    check_seconds("observe_after_s", s.observe_after_s, false)?;
    if s.clients.is_empty() {
        return Err("key 'client': at least one [[scenario.client]] is needed".into());
    }
    for (i, c) in s.clients.iter().enumerate() {
        check_name(&c.name, false).map_err(|m| format!("client '{}': key 'name': {m}", c.name))?;
        if s.clients[..i].iter().any(|o| o.name == c.name) {
            return Err(format!("client '{}': key 'name': used twice", c.name));
        }
        validate_client(s, c, earlier).map_err(|m| format!("client '{}': {m}", c.name))?;
    }
    if let Some(v) = s.census_variants.iter().find(|v| !s.variants.contains(v)) {
        return Err(format!(
            "key 'census_variants': {v:?} is not one of the scenario's variants"
        ));
    }
    if !s.census_variants.is_empty() && !s.census {
        return Err("key 'census_variants' goes with census = true".into());
    }
    if s.census && s.clients[0].model == LoadModel::Idle {
        return Err(format!(
            "key 'census': the first client ('{}') is idle: it sends no requests to count syscalls per",
            s.clients[0].name
        ));
    }
    Ok(())
}

fn validate_micro(m: &MicroSpec, id_taken: bool) -> Result<(), String> {
    check_name(&m.id, false).map_err(|e| format!("key 'id': {e}"))?;
    if id_taken {
        return Err(format!("key 'id': {:?} is used twice", m.id));
    }
    if !MICRO_BENCHES.contains(&m.bench.as_str()) {
        return Err(format!(
            "key 'bench': unknown benchmark {:?} (known: {})",
            m.bench,
            MICRO_BENCHES.join(", ")
        ));
    }
    for c in &m.claims {
        if !KNOWN_CLAIMS.contains(&c.as_str()) {
            return Err(format!("key 'claims': unknown claim {c:?}"));
        }
    }
    if let Some(langs) = &m.languages
        && (langs.is_empty() || langs.iter().any(|l| !MICRO_LANGUAGES.contains(&l.as_str())))
    {
        return Err(format!(
            "key 'languages': must be a non-empty subset of {MICRO_LANGUAGES:?}"
        ));
    }
    if m.bench == "c12" && m.languages() != ["rust"] {
        return Err(
            "key 'languages': the c12 compile check is Rust-only: languages = [\"rust\"]".into(),
        );
    }
    if let Some(n) = m.repeats {
        check_count("repeats", n, MAX_REPEATS)?;
    }
    check_count("inner_repeats", m.inner_repeats, MAX_REPEATS)?;
    if m.args
        .iter()
        .chain(&m.rust_args)
        .any(|a| a == "--json" || a == "--repeats")
    {
        return Err("key 'args': --json and --repeats are set by the harness".into());
    }
    check_seconds("timeout_s", m.timeout_s, true)?;
    check_seconds("expected_s", m.expected_s, false)?;
    if let Some(b) = &m.rust_binary {
        check_name(b, true).map_err(|e| format!("key 'rust_binary': {e}"))?;
    }
    Ok(())
}

fn validate_client(
    s: &ScenarioSpec,
    c: &ClientSpec,
    earlier: &[ScenarioSpec],
) -> Result<(), String> {
    if c.conns == 0 {
        return Err("key 'conns': must be at least 1".into());
    }
    if let Some(x) = c.warmup_s {
        check_seconds("warmup_s", x, false)?;
    }
    if let Some(x) = c.duration_s {
        check_seconds("duration_s", x, true)?;
    }
    if let Some(x) = c.timeout_s {
        check_seconds("timeout_s", x, true)?;
    }
    if let Some(n) = c.max_in_flight {
        check_count("max_in_flight", n, MAX_IN_FLIGHT)?;
    }
    if let Some(n) = c.depth {
        check_count("depth", n, MAX_IN_FLIGHT)?;
    }
    let rate_keys = [
        c.rate.is_some(),
        c.rate_steps.is_some(),
        c.rate_fractions.is_some(),
    ];
    let n_rate_keys = rate_keys.iter().filter(|b| **b).count();
    if c.prime.is_some() && c.model != LoadModel::Idle {
        return Err("key 'prime' belongs to model = \"idle\"".into());
    }
    match c.model {
        LoadModel::Idle => {
            if n_rate_keys > 0 || c.depth.is_some() {
                return Err("model = \"idle\" takes no rate and no depth".into());
            }
            if s.workload != Workload::Echo {
                return Err("model = \"idle\" needs workload = \"echo\"".into());
            }
        }
        LoadModel::Closed => {
            if n_rate_keys > 0 {
                return Err(
                    "keys 'rate'/'rate_steps'/'rate_fractions' belong to model = \"open\"".into(),
                );
            }
        }
        LoadModel::Open => {
            if n_rate_keys != 1 {
                return Err(
                    "model = \"open\" needs exactly one of 'rate', 'rate_steps', 'rate_fractions'"
                        .into(),
                );
            }
            if c.depth.is_some() {
                return Err("key 'depth' belongs to model = \"closed\"".into());
            }
            let rates: Vec<f64> = c
                .rate
                .into_iter()
                .chain(c.rate_steps.clone().unwrap_or_default())
                .collect();
            if rates
                .iter()
                .any(|r| !(r.is_finite() && *r > 0.0 && *r <= MAX_RATE))
                || c.rate_steps.as_ref().is_some_and(|v| v.is_empty())
            {
                return Err(format!(
                    "key 'rate'/'rate_steps': rates must be positive numbers up to {MAX_RATE}"
                ));
            }
            if let Some(fr) = &c.rate_fractions {
                if fr.is_empty()
                    || fr
                        .iter()
                        .any(|f| !(f.is_finite() && *f > 0.0 && *f <= 100.0))
                {
                    return Err(
                        "key 'rate_fractions': fractions must be positive numbers up to 100".into(),
                    );
                }
                let Some(cap) = &c.of_capacity else {
                    return Err("key 'rate_fractions' needs 'of_capacity' naming an earlier closed-loop scenario".into());
                };
                let Some(src) = earlier.iter().find(|e| &e.id == cap) else {
                    return Err(format!(
                        "key 'of_capacity': {cap:?} is not an earlier scenario of this profile"
                    ));
                };
                if !src.clients.iter().all(|c| c.model == LoadModel::Closed) {
                    return Err(format!(
                        "key 'of_capacity': scenario {cap:?} is not closed-loop"
                    ));
                }
                if !s.variants.iter().all(|v| src.variants.contains(v)) {
                    return Err(format!(
                        "key 'of_capacity': scenario {cap:?} does not measure every variant of this one"
                    ));
                }
            } else if c.of_capacity.is_some() {
                return Err("key 'of_capacity' goes with 'rate_fractions'".into());
            }
        }
    }
    match s.workload {
        Workload::Echo => {
            if c.mix.is_some() {
                return Err("key 'mix' belongs to workload = \"work\"".into());
            }
            if c.size_bytes.is_none_or(|n| n == 0 || n > MAX_SIZE_BYTES) {
                return Err(format!(
                    "key 'size_bytes': echo needs a size between 1 and {MAX_SIZE_BYTES}"
                ));
            }
        }
        Workload::Work => {
            if c.size_bytes.is_some() {
                return Err(
                    "key 'size_bytes' belongs to workload = \"echo\" (use size= in 'mix')".into(),
                );
            }
            if c.mix.as_deref().is_none_or(|m| m.trim().is_empty()) {
                return Err("key 'mix': workload = \"work\" needs a mix spec".into());
            }
        }
    }
    if c.nice.is_some_and(|n| !(0..=19).contains(&n)) {
        return Err(
            "key 'nice': must be 0..=19 (a load generator is never given priority over another)"
                .into(),
        );
    }
    if let Some(a) = &c.arrival
        && a != "uniform"
        && a != "poisson"
    {
        return Err(format!(
            "key 'arrival': {a:?} is not \"uniform\" or \"poisson\""
        ));
    }
    Ok(())
}

/// Reads variants and a profile from disk. `profile` is a name under
/// `harness/profiles/` or a path to a `.toml` file.
pub fn load(root: &Path, profile: &str) -> Result<(Profile, Variants), ProfileError> {
    let vpath = root.join("harness/variants.toml");
    let vtext =
        std::fs::read_to_string(&vpath).map_err(|e| err(&vpath, "variants", e.to_string()))?;
    let variants = parse_variants(&vpath, &vtext)?;
    let ppath = profile_path(root, profile);
    let ptext = std::fs::read_to_string(&ppath)
        .map_err(|e| err(&ppath, "profile", format!("cannot read: {e}")))?;
    let profile = parse_profile(&ppath, &ptext, &variants)?;
    let variants = with_aa_copies(variants, &profile);
    Ok((profile, variants))
}

/// The variants with an identical entry for each A/A copy the profile runs.
pub fn with_aa_copies(mut variants: Variants, p: &Profile) -> Variants {
    for s in &p.scenarios {
        for copy in &s.variants {
            if let Some(orig) = crate::config::expand::aa_original(copy)
                && let Some(v) = variants.get(orig).cloned()
            {
                variants.insert(
                    copy.clone(),
                    Variant {
                        name: copy.clone(),
                        description: format!("A/A control: an identical copy of {orig}"),
                        ..v
                    },
                );
            }
        }
    }
    variants
}

pub fn profile_path(root: &Path, profile: &str) -> PathBuf {
    if profile.ends_with(".toml") || profile.contains('/') {
        PathBuf::from(profile)
    } else {
        root.join("harness/profiles")
            .join(format!("{profile}.toml"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variants() -> Variants {
        parse_variants(
            Path::new("v.toml"),
            r#"
            [go]
            language = "go"
            server = "go-server"
            description = "g"
            [rust]
            language = "rust"
            server = "rust-server"
            args = ["--runtime", "current-thread"]
            description = "r"
            "#,
        )
        .unwrap()
    }

    const GOOD: &str = r#"
        name = "t"
        description = "test"
        [defaults]
        repeats = 2
        [[scenario]]
        id = "cap"
        title = "capacity"
        claims = ["C1"]
        workload = "echo"
        variants = ["go", "rust"]
        [[scenario.client]]
        model = "closed"
        conns = 10
        size_bytes = 64
        [[scenario]]
        id = "steps"
        title = "steps"
        claims = ["C1"]
        workload = "echo"
        variants = ["go", "rust"]
        [[scenario.client]]
        model = "open"
        conns = 10
        size_bytes = 64
        rate_fractions = [0.5, 0.8]
        of_capacity = "cap"
    "#;

    fn parse(text: &str) -> Result<Profile, ProfileError> {
        parse_profile(Path::new("p.toml"), text, &variants())
    }

    #[test]
    fn census_is_asked_per_scenario_and_needs_requests_to_count() {
        let p = parse(&GOOD.replacen(
            "workload = \"echo\"",
            "workload = \"echo\"\ncensus = true",
            1,
        ))
        .unwrap();
        assert!(p.scenarios[0].census && !p.scenarios[1].census);
        let idle = GOOD
            .replacen(
                "workload = \"echo\"",
                "workload = \"echo\"\ncensus = true",
                1,
            )
            .replacen("model = \"closed\"", "model = \"idle\"", 1);
        let e = parse_err(&idle);
        assert!(
            e.contains("scenario 'cap'") && e.contains("key 'census'") && e.contains("idle"),
            "{e}"
        );
        let e = parse_err(&GOOD.replacen("census", "x", 0).replacen(
            "workload = \"echo\"",
            "workload = \"echo\"\ncensus = 1",
            1,
        ));
        assert!(e.contains("census"), "{e}");
    }

    #[test]
    fn parses_a_good_profile() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.scenarios.len(), 2);
        assert_eq!(p.defaults.repeats, 2);
        assert_eq!(
            p.scenarios[1].clients[0].rate_fractions,
            Some(vec![0.5, 0.8])
        );
        assert!(variants()["rust"].is_current_thread());
        assert!(!variants()["go"].is_current_thread());
        // Telemetry is on unless a profile turns it off.
        assert_eq!(p.defaults.telemetry_interval_ms, 100);
        let off =
            parse(&GOOD.replace("repeats = 2", "repeats = 2\ntelemetry_interval_ms = 0")).unwrap();
        assert_eq!(off.defaults.telemetry_interval_ms, 0);
    }

    #[test]
    fn unknown_key_names_file_scenario_and_key() {
        let text = GOOD.replace(
            "size_bytes = 64\n        [[scenario]]",
            "size_bytes = 64\n        colour = 1\n        [[scenario]]",
        );
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.starts_with("p.toml: scenario 'cap'"), "{e}");
        assert!(e.contains("colour"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn unknown_variant_and_claim_are_named() {
        let e = parse(&GOOD.replacen("[\"go\", \"rust\"]", "[\"go\", \"java\"]", 1))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("scenario 'cap'") && e.contains("\"java\""),
            "{e}"
        );
        let e = parse(&GOOD.replacen("[\"C1\"]", "[\"C99\"]", 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown claim \"C99\""), "{e}");
    }

    #[test]
    fn capacity_reference_must_be_earlier_and_closed() {
        let e = parse(&GOOD.replace("of_capacity = \"cap\"", "of_capacity = \"steps\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("scenario 'steps'") && e.contains("of_capacity"),
            "{e}"
        );
        let e = parse(&GOOD.replace("of_capacity = \"cap\"", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs 'of_capacity'"), "{e}");
    }

    #[test]
    fn load_model_keys_are_checked() {
        let e = parse(&GOOD.replace(
            "rate_fractions = [0.5, 0.8]\n        of_capacity = \"cap\"",
            "",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("exactly one of"), "{e}");
        let e = parse(&GOOD.replacen(
            "model = \"closed\"",
            "model = \"closed\"\n        rate = 5.0",
            1,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("belong to model"), "{e}");
        let e = parse(&GOOD.replacen("size_bytes = 64", "mix = \"a:weight=1\"", 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'mix' belongs"), "{e}");
    }

    fn parse_err(text: &str) -> String {
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("p.toml: "), "{e}");
        assert!(!e.contains('\n'), "{e}");
        e
    }

    #[test]
    fn numbers_are_bounded_before_anything_runs() {
        // [defaults]: every key, NaN, negative, huge.
        for (line, key) in [
            ("pause_s = nan", "pause_s"),
            ("pause_s = -1.0", "pause_s"),
            ("pause_s = 1e300", "pause_s"),
            ("warmup_s = inf", "warmup_s"),
            ("duration_s = 0.0", "duration_s"),
            ("data_file_bytes = 0", "data_file_bytes"),
            ("data_file_bytes = 1099511627776", "data_file_bytes"),
            ("repeats = 0", "repeats"),
            ("telemetry_interval_ms = 60001", "telemetry_interval_ms"),
        ] {
            let e = parse_err(&GOOD.replace("repeats = 2", line));
            assert!(
                e.contains("[defaults]") && e.contains(&format!("key '{key}'")),
                "{line}: {e}"
            );
        }
        // Scenario keys.
        for (line, key) in [
            ("observe_after_s = nan", "observe_after_s"),
            ("observe_after_s = 1e20", "observe_after_s"),
            ("warmup_s = -0.5", "warmup_s"),
            ("duration_s = 1e30", "duration_s"),
            ("workers = 0", "workers"),
            ("server_cpus = 0", "server_cpus"),
        ] {
            let text = GOOD.replacen(
                "workload = \"echo\"",
                &format!("workload = \"echo\"\n{line}"),
                1,
            );
            let e = parse_err(&text);
            assert!(
                e.contains("scenario 'cap'") && e.contains(&format!("key '{key}'")),
                "{line}: {e}"
            );
        }
        // Per-client overrides.
        for (line, key) in [
            ("timeout_s = 0.0", "timeout_s"),
            ("timeout_s = nan", "timeout_s"),
            ("warmup_s = -1.0", "warmup_s"),
            ("duration_s = inf", "duration_s"),
            ("max_in_flight = 0", "max_in_flight"),
        ] {
            let text = GOOD.replacen("conns = 10", &format!("conns = 10\n{line}"), 1);
            let e = parse_err(&text);
            assert!(
                e.contains("scenario 'cap'")
                    && e.contains("client 'main'")
                    && e.contains(&format!("key '{key}'")),
                "{line}: {e}"
            );
        }
        // Within bounds parses.
        parse(&GOOD.replace("repeats = 2", "repeats = 2\npause_s = 0.0\nwarmup_s = 0.0")).unwrap();
    }

    #[test]
    fn micro_and_variant_numbers_are_checked() {
        let micro = |extra: &str| {
            format!(
                "{GOOD}\n[[micro]]\nid = \"m\"\ntitle = \"t\"\nclaims = [\"C2\"]\nbench = \"spawn\"\n{extra}\n"
            )
        };
        parse(&micro("timeout_s = 30.0")).unwrap();
        for bad in ["timeout_s = 0.0", "timeout_s = nan", "timeout_s = 1e300"] {
            let e = parse_err(&micro(bad));
            assert!(
                e.contains("micro 'm'") && e.contains("key 'timeout_s'"),
                "{e}"
            );
        }
        let e = parse_variants(
            Path::new("v.toml"),
            "[go]\nlanguage = \"go\"\nserver = \"go-server\"\ndescription = \"g\"\nworkers = 0\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("v.toml: variant 'go'") && e.contains("key 'workers'"),
            "{e}"
        );
    }

    #[test]
    fn names_that_become_file_names_are_checked() {
        for (from, to, what) in [
            ("name = \"t\"", "name = \"../up\"", "profile"),
            ("name = \"t\"", "name = \".hidden\"", "profile"),
            ("name = \"t\"", "name = \"a b\"", "profile"),
            ("id = \"cap\"", "id = \"../cap\"", "scenario"),
            ("id = \"cap\"", "id = \"a/b\"", "scenario"),
            ("conns = 10", "conns = 10\nname = \"x/y\"", "client"),
            ("conns = 10", "conns = 10\nname = \"..\"", "client"),
        ] {
            let text = GOOD.replacen(from, to, 1);
            let e = parse_err(&text);
            assert!(
                e.contains(what) && e.contains("must be letters"),
                "{to}: {e}"
            );
        }
        // A dotted profile name is fine; its file name stays visible.
        assert_eq!(
            parse(&GOOD.replacen("name = \"t\"", "name = \"t.v2\"", 1))
                .unwrap()
                .name,
            "t.v2"
        );
        let micro = |id: &str| {
            format!(
                "{GOOD}\n[[micro]]\nid = \"{id}\"\ntitle = \"t\"\nclaims = [\"C2\"]\nbench = \"spawn\"\n"
            )
        };
        parse(&micro("micro-spawn")).unwrap();
        for id in ["../x", ".x", "a/b", ""] {
            let e = parse_err(&micro(id));
            assert!(
                e.contains("key 'id'") && e.contains("must be letters"),
                "{id}: {e}"
            );
        }
        let e = parse_variants(
            Path::new("v.toml"),
            "[\"go/x\"]\nlanguage = \"go\"\nserver = \"go-server\"\ndescription = \"g\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("must be letters"), "{e}");
        assert!(check_name("ok-name_1", false).is_ok());
        assert!(check_name("a.b", false).is_err() && check_name("a.b", true).is_ok());
    }

    #[test]
    fn every_shipped_profile_is_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut n = 0;
        for entry in std::fs::read_dir(root.join("harness/profiles")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let name = path.file_stem().unwrap().to_str().unwrap().to_string();
                load(root, &name).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 2, "quick and full profiles expected, found {n}");
    }
}
