//! The results directory: paths, whole-file writes (temp + rename, so an
//! interrupted run never leaves a truncated file) and the `latest` link.
//!
//! ```text
//! results/<UTC timestamp>-<profile>/
//!   meta.json  profile.toml  summary.json
//!   trials/<scenario>--<variant>--r<k>.json
//!   hlog/<trial>--<client>.hlog   hgrm/<trial>--<client>.hgrm
//!   telemetry/<trial>.jsonl   (the server's runtime telemetry: run::telemetry)
//! results/latest -> the newest run that was not interrupted
//! ```

use anyhow::{Context, Result};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    /// Creates `<results>/<stamp>-<profile>/` and its subfolders; a run that
    /// starts in the same second as another gets `<stamp>-<profile>-2/`,
    /// `-3/`, ... (the name is claimed with one `mkdir`, so two runs never
    /// share a directory).
    pub fn create(results: &Path, stamp: &str, profile: &str) -> Result<RunDir> {
        std::fs::create_dir_all(results)
            .with_context(|| format!("cannot create {}", results.display()))?;
        let mut n = 1;
        let root = loop {
            let name = match n {
                1 => format!("{stamp}-{profile}"),
                _ => format!("{stamp}-{profile}-{n}"),
            };
            let root = results.join(name);
            match std::fs::create_dir(&root) {
                Ok(()) => break root,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => {
                    return Err(anyhow::anyhow!("cannot create {}: {e}", root.display()));
                }
            }
        };
        for sub in ["trials", "hlog", "hgrm"] {
            std::fs::create_dir_all(root.join(sub))
                .with_context(|| format!("cannot create {}", root.join(sub).display()))?;
        }
        Ok(RunDir { root })
    }
    pub fn open(root: &Path) -> RunDir {
        RunDir {
            root: root.to_path_buf(),
        }
    }
    pub fn meta(&self) -> PathBuf {
        self.root.join("meta.json")
    }
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }
    pub fn trial(&self, trial_id: &str) -> PathBuf {
        self.root.join("trials").join(format!("{trial_id}.json"))
    }
    pub fn hlog(&self, trial_id: &str, client: &str) -> PathBuf {
        self.root
            .join("hlog")
            .join(format!("{trial_id}--{client}.hlog"))
    }
    pub fn hgrm(&self, trial_id: &str, client: &str) -> PathBuf {
        self.root
            .join("hgrm")
            .join(format!("{trial_id}--{client}.hgrm"))
    }
    /// Scratch space for files a child writes before they are checked.
    pub fn scratch(&self) -> PathBuf {
        self.root.join(".scratch")
    }
    /// Path relative to the run directory, for references inside JSON.
    pub fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.root)
            .unwrap_or(p)
            .display()
            .to_string()
    }
}

/// Writes `bytes` to `path` whole: a temp file in the same folder, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        let hint = if e.raw_os_error() == Some(libc::ENOSPC) {
            " (the disk is full)"
        } else {
            ""
        };
        return Err(anyhow::anyhow!(
            "cannot write {}: {e}{hint}",
            path.display()
        ));
    }
    Ok(())
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// The `.json` files directly in `dir`, sorted by name; none where the
/// folder cannot be read.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
}

/// Every `.json` file of `dir` read as a `T`, in name order; the files
/// that cannot be read, in words (a reader lists them, never panics).
pub fn read_json_files<T: serde::de::DeserializeOwned>(dir: &Path) -> (Vec<T>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for p in json_files(dir) {
        match std::fs::read(&p)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<T>(&b).map_err(|e| e.to_string()))
        {
            Ok(t) => out.push(t),
            Err(e) => problems.push(format!("{}: {e}", p.display())),
        }
    }
    (out, problems)
}

/// Moves a file a child wrote into place (same filesystem: a rename).
pub fn adopt(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))
}

/// Points `results/latest` at the run (a relative symlink, replaced atomically).
pub fn update_latest(results: &Path, run: &Path) -> Result<()> {
    let name = run.file_name().context("run dir has no name")?;
    let tmp = results.join(format!(".latest.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp).context("cannot create the latest link")?;
    std::fs::rename(&tmp, results.join("latest")).context("cannot replace results/latest")?;
    Ok(())
}

/// UTC timestamp for directory names, e.g. 20261125T071500Z.
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// RFC 3339 UTC, e.g. 2026-11-25T07:15:00Z.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn civil(t: std::time::SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_utc_civil_time() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_590_900); // 2026-11-25T07:15:00Z
        assert_eq!(utc_stamp(t), "20261125T071500Z");
        assert_eq!(rfc3339(t), "2026-11-25T07:15:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn atomic_write_replaces_whole_and_latest_moves() {
        let dir = std::env::temp_dir().join(format!("rtc-results-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = RunDir::create(&dir, "20260101T000000Z", "t").unwrap();
        write_json(&run.meta(), &serde_json::json!({"a": 1})).unwrap();
        write_json(&run.meta(), &serde_json::json!({"a": 2})).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.meta()).unwrap()).unwrap();
        assert_eq!(v["a"], 2);
        let leftovers: Vec<_> = std::fs::read_dir(&run.root)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        update_latest(&dir, &run.root).unwrap();
        update_latest(&dir, &run.root).unwrap();
        assert!(dir.join("latest/meta.json").exists());
        assert!(write_atomic(&dir.join("no/such/dir/x"), b"x").is_err());
        // Two runs started in the same second get two directories.
        let again = RunDir::create(&dir, "20260101T000000Z", "t").unwrap();
        let third = RunDir::create(&dir, "20260101T000000Z", "t").unwrap();
        assert_eq!(again.root, dir.join("20260101T000000Z-t-2"));
        assert_eq!(third.root, dir.join("20260101T000000Z-t-3"));
        assert!(again.root.join("trials").is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
