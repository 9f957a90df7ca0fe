//! The result document (schemas/micro.schema.json), identical in shape for
//! go-micro and rust-micro.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: u32 = 1;
pub const TOOL: &str = "rust-micro";
pub const RUNTIME: &str = "tokio";
pub const TOKIO_VERSION: &str = env!("RTC_TOKIO_VERSION");
pub const RUSTC_VERSION: &str = env!("RTC_RUSTC_VERSION");
/// tokio's default for `max_blocking_threads`.
pub const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// tokio's default keep-alive of an idle blocking-pool thread.
pub const BLOCKING_KEEP_ALIVE_MS: u64 = 10_000;

/// Every repeat's value of each metric, keyed by a name carrying its unit.
pub type Metrics = BTreeMap<String, Vec<f64>>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    pub schema_version: u32,
    pub tool: String,
    pub runtime: String,
    pub runtime_version: String,
    pub bench: String,
    pub params: Map<String, Value>,
    pub env: Map<String, Value>,
    pub cases: Vec<Case>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineSample>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub case: String,
    pub variant: String,
    pub params: Map<String, Value>,
    pub metrics: Metrics,
    pub notes: String,
    /// Set (and `metrics` empty) when this build cannot run the variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// One OS-thread sample of a blocking burst; `repeat` counts measured
/// repeats from 0 (warm-ups are not recorded).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimelineSample {
    pub repeat: u32,
    pub t_ms: f64,
    pub os_threads: u64,
    pub rss_bytes: u64,
}

/// Builds a JSON object from `(key, value)` pairs.
#[macro_export]
macro_rules! obj {
    ($($k:expr => $v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut m = serde_json::Map::new();
        $( m.insert($k.to_string(), serde_json::json!($v)); )*
        m
    }};
}

impl Case {
    pub fn new(case: &str, variant: &str, params: Map<String, Value>, notes: &str) -> Case {
        Case {
            case: case.into(),
            variant: variant.into(),
            params,
            metrics: Metrics::new(),
            notes: notes.into(),
            skipped: None,
        }
    }
}

/// Appends one repeat's values to `metrics`.
pub fn push_sample(metrics: &mut Metrics, sample: &[(&str, f64)]) {
    for (k, v) in sample {
        metrics.entry((*k).to_string()).or_default().push(*v);
    }
}

/// The `env` block: where and how the measurements ran.
pub fn env(workers: usize, max_blocking_threads: usize) -> Map<String, Value> {
    crate::obj! {
        "workers" => workers,
        "max_blocking_threads" => max_blocking_threads,
        "blocking_keep_alive_ms" => BLOCKING_KEEP_ALIVE_MS,
        "cpus_allowed" => crate::procinfo::cpus_allowed(),
        "available_parallelism" => default_workers(),
        "mem_available_bytes" => crate::procinfo::mem_available_bytes(),
        "kernel" => crate::procinfo::kernel(),
        "pid" => std::process::id(),
        "rustc_version" => RUSTC_VERSION,
        "tokio_unstable" => cfg!(tokio_unstable),
    }
}

/// tokio's default worker count: the CPUs this process may use.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl Document {
    pub fn new(bench: &str, params: Map<String, Value>, env: Map<String, Value>) -> Document {
        Document {
            schema_version: SCHEMA_VERSION,
            tool: TOOL.into(),
            runtime: RUNTIME.into(),
            runtime_version: TOKIO_VERSION.into(),
            bench: bench.into(),
            params,
            env,
            cases: Vec::new(),
            timeline: None,
        }
    }

    /// One line per case with the median of each metric, for people.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for c in &self.cases {
            out.push_str(&format!("{} {}/{}:", self.tool, c.case, c.variant));
            if let Some(why) = &c.skipped {
                out.push_str(&format!(" skipped ({why})"));
            }
            for (k, v) in &c.metrics {
                out.push_str(&format!(" {k}={}", fmt_num(crate::stats::median(v))));
            }
            out.push('\n');
        }
        out
    }
}

fn fmt_num(x: f64) -> String {
    if x != 0.0 && x.abs() < 10.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.0}")
    }
}
