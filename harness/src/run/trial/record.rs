//! What a trial leaves on disk (`trials/<id>.json`, schemas/trial.schema.json):
//! the server's and each load generator's record, the measurement's
//! validity and the server's outcome, kept apart.

use crate::run::sampler::ProcSample;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Ran, and every load generator marked its run valid.
    Ok,
    /// Ran, but a load generator marked its run invalid (kept, never used as valid).
    Invalid,
    /// Could not run or did not finish: server failed to start, crashed, probe failed...
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerRecord {
    pub binary: String,
    pub args: Vec<String>,
    pub pid: Option<u32>,
    pub workers: usize,
    pub cpus_requested: String,
    /// What the kernel says the process may run on (Cpus_allowed_list).
    pub cpus_allowed_list: Option<String>,
    /// The server's own configuration line (JSON on stderr at start).
    pub config: Option<serde_json::Value>,
    /// Threads right after start, before any load.
    pub threads_at_start: Option<u64>,
    pub alive_after_load: Option<bool>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub needed_sigkill: bool,
    pub stderr_tail: Vec<String>,
    /// A run across hosts: the host it ran on (hosts.toml's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRecord {
    pub name: String,
    pub args: Vec<String>,
    pub pid: Option<u32>,
    pub cpus_allowed_list: Option<String>,
    pub exit_code: Option<i32>,
    /// Launch time, ms after the trial's origin (samples use the same origin).
    pub launched_ms: f64,
    pub finished_ms: f64,
    /// The load generator's JSON document, verbatim.
    pub document: Option<serde_json::Value>,
    pub hlog: Option<String>,
    pub hgrm: Option<String>,
    /// Per-class and per-step distributions (`hgrm/<trial>--<client>.<part>.hgrm`).
    #[serde(default)]
    pub hgrm_parts: Vec<String>,
    pub stderr_tail: Vec<String>,
    pub samples: Vec<ProcSample>,
    /// A run across hosts: the generator host this part ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// A run across hosts: the client's parts, one per generator host,
    /// each with its own document verbatim; `document` above is their
    /// merge (histograms added, percentiles recomputed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generators: Vec<ClientRecord>,
}

impl ClientRecord {
    /// A load generator just launched, `launched_ms` after the trial's origin.
    pub fn new(name: String, args: Vec<String>, launched_ms: f64) -> ClientRecord {
        ClientRecord {
            name,
            args,
            pid: None,
            cpus_allowed_list: None,
            exit_code: None,
            launched_ms,
            finished_ms: 0.0,
            document: None,
            hlog: None,
            hgrm: None,
            hgrm_parts: Vec::new(),
            stderr_tail: Vec::new(),
            samples: Vec::new(),
            host: None,
            generators: Vec::new(),
        }
    }
}

/// The measurement's own validity: faults of the load generator (it fell
/// behind, was client-bound, its lag too large for a percentile) and of
/// nothing else.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub valid: bool,
    pub reasons: Vec<String>,
    /// Metric prefixes left out of an otherwise valid trial, with why.
    pub dropped: Vec<Dropped>,
    /// Corrected latency percentiles the generator does not vouch for (its
    /// send lag there is over max(10 %, 25 µs) of them): kept, drawn hollow;
    /// the verdicts cover them by their bracket (`analyse/verdict/bracket.rs`).
    #[serde(default)]
    pub untrusted: Vec<String>,
    /// Invalid only because a load generator sent late: the counts the
    /// server kept (threads, memory) still stand (`Check::timing_free`).
    #[serde(default)]
    pub late_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    /// A metric name or a prefix of dotted segments (`main.step3`).
    pub prefix: String,
    pub reason: String,
}

/// The server's outcome over the trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerOutcome {
    pub ok: bool,
    /// The process died during the load.
    pub crashed: bool,
    /// Requests that failed: resets, closed connections, wrong answers.
    pub errors: u64,
    /// Requests unanswered within the generator's timeout.
    pub timeouts: u64,
    /// The server fell behind the offered rate (its backlog grew).
    pub overloaded: bool,
    pub reasons: Vec<String>,
}

impl Default for ServerOutcome {
    fn default() -> Self {
        ServerOutcome {
            ok: true,
            crashed: false,
            errors: 0,
            timeouts: 0,
            overloaded: false,
            reasons: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialRecord {
    pub schema_version: u32,
    pub trial_id: String,
    pub scenario: String,
    pub variant: String,
    pub language: crate::config::profile::Language,
    pub repeat: usize,
    pub claims: Vec<String>,
    pub status: Status,
    pub problems: Vec<String>,
    pub started_at: String,
    pub ended_at: String,
    /// Unix time (ms) of the trial's origin: samples' `t_ms` count from it.
    pub origin_unix_ms: f64,
    /// ms after the origin when the load began and ended (all clients).
    pub load_start_ms: Option<f64>,
    pub load_end_ms: Option<f64>,
    pub server: ServerRecord,
    pub clients: Vec<ClientRecord>,
    pub server_samples: Vec<ProcSample>,
    /// Flat metric name -> value, what the statistics are computed from.
    pub metrics: BTreeMap<String, f64>,
    /// Whether the instrument measured what it was asked to, and the
    /// parts of the trial left out (a rate step it could not keep).
    #[serde(default)]
    pub measurement: Measurement,
    /// How the server fared: a result the claims may read, never a
    /// broken measurement.
    #[serde(default)]
    pub server_outcome: ServerOutcome,
    /// Share of the CPUs' time the hypervisor gave to others during the
    /// trial (/proc/stat steal over the server's and generator's CPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steal_fraction: Option<f64>,
    /// The server's runtime telemetry (`run::telemetry`): where its
    /// samples are stored and what was wrong with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<crate::run::telemetry::TelemetryRef>,
    /// Microbenchmark trials: the program's JSON document, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub micro_document: Option<serde_json::Value>,
}

impl TrialRecord {
    /// Whether a load generator of the trial said its own CPU, not the
    /// server, limited the throughput (closed loop) or the schedule (open).
    pub fn client_bound(&self) -> bool {
        self.clients.iter().any(|c| {
            c.document
                .as_ref()
                .and_then(|d| d.pointer("/client_bound")?.as_bool())
                .unwrap_or(false)
        })
    }
}
