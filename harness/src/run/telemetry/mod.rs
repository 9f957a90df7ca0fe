//! The servers' own runtime telemetry in a trial: every network server is
//! started with `--telemetry <scratch file>` (both languages; issue 12,
//! PROTOCOL.md), and once the server has ended — its final sample written
//! at SIGTERM — the file is checked (`validate`), moved beside the other
//! per-trial files as `telemetry/<trial>.jsonl`, and referenced from the
//! trial record (`TelemetryRef`), so the trial JSON stays small. The
//! samples themselves (`sample`) go to `analyse::runtime`.
//!
//! Nothing here adds time to a trial: the server samples on its own
//! thread or goroutine, and the file is read after the trial ended.

pub mod sample;
pub mod validate;

use crate::config::profile::Language;
use crate::run::results::{self, RunDir};
use crate::run::trial::TrialRecord;
use sample::Sample;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Folder of the stored files in a run directory.
pub const DIR: &str = "telemetry";

/// What the trial record says about its telemetry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryRef {
    /// The stored samples, relative to the run directory
    /// (`telemetry/<trial>.jsonl`, the server's lines as written); null
    /// when the server left no file.
    pub file: Option<String>,
    /// "go" or "tokio", as the lines say.
    pub runtime: Option<String>,
    /// Lines kept (valid); analysis reads only these.
    pub samples: usize,
    /// The sampling interval asked of the server.
    pub interval_ms: u64,
    /// Lines left out and why, or why there is no file.
    pub problems: Vec<String>,
}

/// The runtime name a server of `language` writes in its lines.
pub fn runtime_of(language: Language) -> &'static str {
    match language {
        Language::Go => "go",
        Language::Rust => "tokio",
    }
}

/// Where the server writes during the trial (the scratch folder, created
/// here: the server opens the file before it listens).
pub fn scratch_file(run: &RunDir, trial_id: &str) -> PathBuf {
    let dir = run.scratch();
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{trial_id}.telemetry.jsonl"))
}

/// Where a trial's telemetry is kept.
pub fn stored_file(run: &RunDir, trial_id: &str) -> PathBuf {
    run.root.join(DIR).join(format!("{trial_id}.jsonl"))
}

/// The server flags; none when `interval_ms` is 0 (telemetry off).
pub fn server_flags(file: &Path, interval_ms: u64) -> Vec<String> {
    if interval_ms == 0 {
        return Vec::new();
    }
    vec![
        "--telemetry".into(),
        file.to_string_lossy().into_owned(),
        "--telemetry-interval".into(),
        format!("{interval_ms}ms"),
    ]
}

/// After the server ended: checks the file the server wrote at `scratch`,
/// moves it into `telemetry/`, records it in `rec.telemetry` and returns
/// the valid samples. A missing or faulty file is a problem of the
/// telemetry (named in the record and in the trial's problems), never of
/// the measurement: latency and throughput do not depend on it.
pub fn collect(
    run: &RunDir,
    rec: &mut TrialRecord,
    scratch: &Path,
    interval_ms: u64,
) -> Vec<Sample> {
    if interval_ms == 0 {
        return Vec::new();
    }
    let mut r = TelemetryRef {
        file: None,
        runtime: None,
        samples: 0,
        interval_ms,
        problems: Vec::new(),
    };
    let text = match std::fs::read_to_string(scratch) {
        Ok(t) => t,
        Err(e) => {
            // A server that never started wrote nothing: the trial says why.
            if rec.server.pid.is_some() {
                let p = format!("telemetry: the server left no samples ({e})");
                rec.problems.push(p.clone());
                r.problems.push(p);
            }
            rec.telemetry = Some(r);
            return Vec::new();
        }
    };
    let read = validate::read(&text, Some(runtime_of(rec.language)));
    let to = stored_file(run, &rec.trial_id);
    let moved = to
        .parent()
        .map(std::fs::create_dir_all)
        .unwrap_or(Ok(()))
        .map_err(anyhow::Error::from)
        .and_then(|()| results::adopt(scratch, &to));
    match moved {
        Ok(()) => r.file = Some(run.rel(&to)),
        Err(e) => r.problems.push(format!("telemetry: {e:#}")),
    }
    if !read.problems.is_empty() {
        rec.problems.push(format!(
            "telemetry: {} (see telemetry.problems)",
            read.problems[0]
        ));
    }
    r.runtime = read.runtime;
    r.samples = read.samples.len();
    r.problems.extend(read.problems);
    rec.telemetry = Some(r);
    read.samples
}

/// A stored trial's valid samples, read back (for plots and the report);
/// empty when it has none.
pub fn load(run_dir: &Path, rec: &TrialRecord) -> Vec<Sample> {
    let Some(file) = rec.telemetry.as_ref().and_then(|t| t.file.as_ref()) else {
        return Vec::new();
    };
    std::fs::read_to_string(run_dir.join(file))
        .map(|t| validate::read(&t, Some(runtime_of(rec.language))).samples)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_the_file_and_the_interval_or_nothing_when_off() {
        let f = Path::new("/r/.scratch/t.telemetry.jsonl");
        assert_eq!(
            server_flags(f, 100).join(" "),
            "--telemetry /r/.scratch/t.telemetry.jsonl --telemetry-interval 100ms"
        );
        assert!(server_flags(f, 0).is_empty());
        let run = RunDir::open(Path::new("/r"));
        assert_eq!(
            stored_file(&run, "a--go--r1"),
            Path::new("/r/telemetry/a--go--r1.jsonl")
        );
        assert_eq!(runtime_of(Language::Rust), "tokio");
    }
}
