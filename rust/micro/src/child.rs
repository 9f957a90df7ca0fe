//! One measurement in a fresh process: the parent re-runs this binary with
//! the hidden `--child` flag and reads the one JSON line it prints.

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `exe args… --child` and parses the last line of its stdout.
pub fn run<T: DeserializeOwned>(exe: &Path, args: &[String]) -> anyhow::Result<T> {
    let out = Command::new(exe)
        .args(args)
        .arg("--child")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        bail!("child measurement failed ({}): {why}", out.status);
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .context("child measurement printed nothing")?;
    serde_json::from_str(line).with_context(|| format!("child printed {line:?}"))
}

/// Prints one measurement as a JSON line (child side).
pub fn print<T: serde::Serialize>(sample: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, sample)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
