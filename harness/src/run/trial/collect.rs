//! What a finished load generator leaves: its stderr tail, its JSON
//! document, and its `.hlog`/`.hgrm` files moved from scratch into the run
//! directory. Reads files on disk only, so a generator that ran elsewhere
//! is collected the same way once its files are in scratch.

use super::{ClientRecord, TrialRecord, fail};
use crate::run::results::{self, RunDir};
use std::path::{Path, PathBuf};

/// Where a load generator writes, in the run's scratch folder.
#[derive(Debug, Clone)]
pub struct ClientFiles {
    pub json: PathBuf,
    pub hlog: PathBuf,
    pub hgrm: PathBuf,
    pub stderr: PathBuf,
}

impl ClientFiles {
    /// `<dir>/<base>.json`, `.hlog`, `.hgrm`, `.stderr`.
    pub fn in_dir(dir: &Path, base: &str) -> ClientFiles {
        ClientFiles {
            json: dir.join(format!("{base}.json")),
            hlog: dir.join(format!("{base}.hlog")),
            hgrm: dir.join(format!("{base}.hgrm")),
            stderr: dir.join(format!("{base}.stderr")),
        }
    }

    /// The `--json`, `--hlog`, `--hgrm` arguments.
    pub fn arg_strings(&self) -> (String, String, String) {
        (
            self.json.to_string_lossy().into_owned(),
            self.hlog.to_string_lossy().into_owned(),
            self.hgrm.to_string_lossy().into_owned(),
        )
    }
}

/// Reads what the client left, moves its files into the run directory
/// (named after the trial and `crec.name`) and returns the record; a
/// missing document or a bad exit fails the trial.
pub fn collect(
    run: &RunDir,
    rec: &mut TrialRecord,
    mut crec: ClientRecord,
    files: &ClientFiles,
) -> ClientRecord {
    let scratch = run.scratch();
    crec.stderr_tail = std::fs::read_to_string(&files.stderr)
        .map(|t| {
            t.lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let _ = std::fs::remove_file(&files.stderr);
    match std::fs::read(&files.json)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    {
        Some(doc) => crec.document = Some(doc),
        None => fail(
            rec,
            format!(
                "load generator {} wrote no JSON (exit {:?}): {}",
                crec.name,
                crec.exit_code,
                crec.stderr_tail.last().cloned().unwrap_or_default()
            ),
        ),
    }
    let _ = std::fs::remove_file(&files.json);
    for (from, to, slot) in [
        (
            &files.hlog,
            run.hlog(&rec.trial_id, &crec.name),
            &mut crec.hlog,
        ),
        (
            &files.hgrm,
            run.hgrm(&rec.trial_id, &crec.name),
            &mut crec.hgrm,
        ),
    ] {
        if from.exists() && results::adopt(from, &to).is_ok() {
            *slot = Some(run.rel(&to));
        }
    }
    // The load generator also writes one distribution per class and per
    // rate step next to the merged one (`X.CLASS.hgrm`, `X.stepN.hgrm`).
    let prefix = format!("{}--{}.", rec.trial_id, crec.name);
    if let Ok(dir) = std::fs::read_dir(&scratch) {
        let mut parts: Vec<String> = dir
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&prefix) && n.ends_with(".hgrm"))
            .collect();
        parts.sort();
        for name in parts {
            let to = run.root.join("hgrm").join(&name);
            if results::adopt(&scratch.join(&name), &to).is_ok() {
                crec.hgrm_parts.push(run.rel(&to));
            }
        }
    }
    match crec.exit_code {
        Some(0) | Some(1) => {}
        other => fail(
            rec,
            format!(
                "load generator {} exited with {other:?}: {}",
                crec.name,
                crec.stderr_tail.join(" | ")
            ),
        ),
    }
    crec
}
