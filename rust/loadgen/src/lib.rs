//! Open- and closed-loop load generator for the echo and work protocols, with
//! coordinated-omission-corrected latency in HdrHistograms.
//!
//! Measure (`engine`, `record`, `check`, `sys`), decide (`schedule`,
//! `validity`, `mix`), report (`report`). `run` is the whole program minus printing;
//! tests call it in-process.

pub mod check;
pub mod engine;
pub mod mix;
pub mod opts;
pub mod record;
pub mod report;
pub mod schedule;
pub mod sys;
pub mod validity;

pub use opts::{Config, Opts, UsageError, parse_args};
pub use report::Report;

use std::path::PathBuf;
use std::sync::Arc;

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub report: Report,
    /// Same as `report.result.valid`: the measurement is usable.
    pub valid: bool,
    /// Same as `report.result.server_outcome.ok`. The binary exits 0 only
    /// when both hold, 1 otherwise.
    pub server_ok: bool,
    /// Files written (--json, --hgrm, --hlog).
    pub files: Vec<PathBuf>,
}

/// Validates `opts`, drives the load, writes the requested files. A usage
/// problem is an `UsageError` inside the `anyhow::Error` (exit 2); a server
/// that fails is not an error here but an invalid report.
pub fn run(opts: Opts) -> anyhow::Result<RunOutcome> {
    let cfg = Arc::new(opts.validate()?);
    let data = engine::execute(Arc::clone(&cfg))?;
    let report = report::build(&data);
    let mut files = Vec::new();
    if let Some(p) = &cfg.json {
        report::write_atomic(p, report.to_json().as_bytes())?;
        files.push(p.clone());
    }
    if let Some(p) = &cfg.hgrm {
        files.extend(report::write_hgrm(&data, p)?);
    }
    if let Some(p) = &cfg.hlog {
        report::write_atomic(p, &report::hlog_bytes(&data)?)?;
        files.push(p.clone());
    }
    Ok(RunOutcome {
        valid: report.result.valid,
        server_ok: report.result.server_outcome.ok,
        report,
        files,
    })
}
