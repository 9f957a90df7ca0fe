//! What `harness sample` tells the controller over its session: one JSON
//! object per line on stdout, in order — `started`, then the command's
//! output lines and the `/proc` samples as they come, `exited`, the files
//! it left, `done`. The controller's input to it is just as small: a line
//! `stop`, or the end of input (the session closed), ends the command.

use crate::run::sampler::ProcSample;
use serde::{Deserialize, Serialize};

/// Why the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndCause {
    /// It exited by itself.
    Exited,
    /// The controller said `stop`.
    Stopped,
    /// The controller's input ended without `stop`: its session is gone.
    ControllerGone,
    /// `--max-s` passed.
    Deadline,
    /// `harness sample` got SIGINT, SIGTERM or SIGHUP.
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        pid: u32,
        /// The samples' `t_ms` count from this instant (this host's clock).
        origin_unix_ms: f64,
        cpus_allowed_list: Option<String>,
    },
    Stdout {
        line: String,
    },
    Stderr {
        line: String,
    },
    Sample {
        sample: ProcSample,
    },
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
        /// It outlived SIGTERM by the grace period.
        needed_sigkill: bool,
        cause: EndCause,
    },
    /// A file the command left under `--collect`, removed after sending.
    File {
        name: String,
        text: String,
    },
    /// `harness sample` could not run the command.
    Failed {
        message: String,
    },
    /// Nothing follows.
    Done,
}

/// The word that asks `harness sample` to end its command.
pub const STOP: &str = "stop";

impl Event {
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("an event always serializes");
        s.push('\n');
        s
    }

    pub fn parse(line: &str) -> Result<Event, String> {
        serde_json::from_str(line).map_err(|e| format!("not an event line ({e}): {line:.80}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_single_lines() {
        let sample = ProcSample {
            t_ms: 100.5,
            cpu_user_us: 10_000,
            cpu_sys_us: 0,
            cpu_runtime_ns: 12_345_678,
            rss_bytes: 4096,
            rss_peak_bytes: 8192,
            threads: 3,
            ctx_voluntary: 7,
            ctx_involuntary: 1,
            per_thread: true,
        };
        for e in [
            Event::Started {
                pid: 42,
                origin_unix_ms: 1.767e12,
                cpus_allowed_list: Some("0-3".into()),
            },
            Event::Stdout {
                line: "LISTENING 198.18.0.1:4000".into(),
            },
            Event::Stderr {
                line: "{\"server\":\"go\"}\n".into(),
            },
            Event::Sample { sample },
            Event::Exited {
                code: None,
                signal: Some(9),
                needed_sigkill: true,
                cause: EndCause::ControllerGone,
            },
            Event::File {
                name: "t--main.json".into(),
                text: "{}\n".into(),
            },
            Event::Failed {
                message: "no such file".into(),
            },
            Event::Done,
        ] {
            let line = e.to_line();
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            assert_eq!(Event::parse(line.trim_end()).unwrap(), e);
        }
        assert_eq!(Event::Done.to_line(), "{\"event\":\"done\"}\n");
        assert!(Event::parse("LISTENING 1.2.3.4:5").is_err());
    }
}
