//! The trial's server: started fresh and pinned, its configuration line
//! read, and ended — always — with how it ended recorded.

use super::{Context, RUN_MARKER_ENV, TrialRecord, fail};
use rtc_common::child::{ListeningChild, SpawnOptions, spawn_listening};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts the server on the server CPUs and fills in what is known at
/// start; None (the trial failed, with the server's last stderr lines)
/// when it did not come up listening.
pub(super) fn start(
    ctx: &Context,
    rec: &mut TrialRecord,
    server_bin: &Path,
    server_args: &[String],
) -> Option<ListeningChild> {
    let mut cmd = Command::new(server_bin);
    cmd.args(server_args).env(RUN_MARKER_ENV, &ctx.run.root);
    let opts = SpawnOptions {
        cpus: Some(ctx.server_cpus.to_vec()),
        die_with_parent: true,
        timeout: Some(Duration::from_secs(10)),
    };
    let server = match spawn_listening(cmd, &opts) {
        Ok(s) => s,
        Err(e) => {
            use rtc_common::child::ChildError;
            // The child is gone with its stderr; the error carries the last lines.
            if let ChildError::ExitedEarly { stderr, .. }
            | ChildError::NoListeningLine { stderr, .. } = &e
            {
                rec.server.stderr_tail = stderr
                    .split(" | ")
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
            }
            fail(rec, format!("server did not start: {e}"));
            return None;
        }
    };
    rec.server.pid = Some(server.pid());
    rec.server.cpus_allowed_list = cpus_allowed_list(server.pid());
    rec.server.config = wait_config_line(&server);
    rec.server.threads_at_start =
        crate::run::sampler::sample_once(server.pid(), 0.0).map(|s| s.threads);
    Some(server)
}

/// Ends the server (SIGTERM, SIGKILL after 2 s) and records how it ended;
/// `load_ok` is whether the trial got through its load uninterrupted.
pub(super) fn stop(rec: &mut TrialRecord, mut server: ListeningChild, load_ok: bool) {
    let alive = matches!(server.child.try_wait(), Ok(None));
    if rec.server.alive_after_load.is_none() {
        rec.server.alive_after_load = Some(alive);
    }
    let (status, killed) = server.terminate(Duration::from_secs(2));
    rec.server.needed_sigkill = killed;
    if let Some(s) = status {
        use std::os::unix::process::ExitStatusExt;
        rec.server.exit_code = s.code();
        rec.server.exit_signal = s.signal();
    }
    std::thread::sleep(Duration::from_millis(30)); // let the stderr reader catch the last lines
    rec.server.stderr_tail = server
        .stderr_lines()
        .into_iter()
        .rev()
        .take(20)
        .rev()
        .collect();
    note_end(rec, load_ok, &server.stderr_tail(3));
}

/// The trial's problem line about how the server ended, if any.
pub(super) fn note_end(rec: &mut TrialRecord, load_ok: bool, stderr_tail: &str) {
    if rec.server.alive_after_load == Some(false) {
        // A server that dies under load is a result (server_outcome), not a
        // broken trial: the claims' outcome rules read it.
        rec.problems.push(format!(
            "server exited during the trial ({}); stderr: {stderr_tail}",
            exit_text(rec.server.exit_code, rec.server.exit_signal)
        ));
    } else if rec.server.needed_sigkill {
        rec.problems
            .push("server ignored SIGTERM for 2 s and was killed".into());
    } else if rec.server.exit_code != Some(0) && load_ok {
        rec.problems.push(format!(
            "server exit after SIGTERM: {}",
            exit_text(rec.server.exit_code, rec.server.exit_signal)
        ));
    }
}

fn exit_text(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exit code {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown exit".into(),
    }
}

pub fn cpus_allowed_list(pid: u32) -> Option<String> {
    let st = procfs::process::Process::new(pid as i32)
        .ok()?
        .status()
        .ok()?;
    let ranges = st.cpus_allowed_list?;
    Some(
        ranges
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The server prints its configuration as one JSON line on stderr before
/// LISTENING; the reader thread may need a moment to hand it over.
fn wait_config_line(server: &ListeningChild) -> Option<serde_json::Value> {
    let end = Instant::now() + Duration::from_secs(1);
    loop {
        if let Some(v) = config_line(&server.stderr_lines()) {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The first line that is a JSON object: the server's configuration.
pub(super) fn config_line(stderr: &[String]) -> Option<serde_json::Value> {
    stderr.iter().find_map(
        |line| match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v @ serde_json::Value::Object(_)) => Some(v),
            _ => None,
        },
    )
}
