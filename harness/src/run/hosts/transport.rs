//! How the harness runs a command on a host: the same argument vector
//! behind a prefix — `ssh DEST` for a machine, `ip netns exec NAME` for a
//! test host in a network namespace, nothing for this machine. Everything
//! above this file is the same code for the three.
//!
//! ssh runs with BatchMode (the user's keys and ~/.ssh/config, never a
//! prompt), no terminal, and keep-alives, so a dead link ends the session
//! and with it the remote command's stdin (see `guard`).

use crate::config::hosts::{Host, Reach};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// The host's label, for messages.
    pub host: String,
    pub reach: Reach,
    /// `-o` options (Key=value) for ssh and scp.
    pub ssh_options: Vec<String>,
}

/// The options every ssh and scp gets: no prompt, no terminal, give up on
/// a host that does not answer in 10 s or a link silent for 15 s.
const SSH_OPTIONS: &[&str] = &[
    "BatchMode=yes",
    "ConnectTimeout=10",
    "ServerAliveInterval=5",
    "ServerAliveCountMax=3",
    "LogLevel=ERROR",
];

/// A word the POSIX shell (and bash, zsh, fish) reads back unchanged.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command line a remote login shell runs for `argv`.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Transport {
    pub fn for_host(host: &Host, ssh_options: &[String]) -> Transport {
        Transport {
            host: host.name.clone(),
            reach: host.reach.clone(),
            ssh_options: ssh_options.to_vec(),
        }
    }

    /// "ssh bench-1", "netns rtc-gen1", "local".
    pub fn describe(&self) -> String {
        match &self.reach {
            Reach::Local => "local".into(),
            r => format!("{} {}", r.kind(), r.destination()),
        }
    }

    fn ssh_o(&self) -> Vec<String> {
        SSH_OPTIONS
            .iter()
            .map(|s| s.to_string())
            .chain(self.ssh_options.iter().cloned())
            .flat_map(|o| ["-o".to_string(), o])
            .collect()
    }

    /// The full argument vector that runs `argv` on the host.
    pub fn argv(&self, argv: &[String]) -> Vec<String> {
        match &self.reach {
            Reach::Local => argv.to_vec(),
            Reach::Netns(name) => ["ip", "netns", "exec", name]
                .iter()
                .map(|s| s.to_string())
                .chain(argv.iter().cloned())
                .collect(),
            Reach::Ssh(dest) => {
                let mut v = vec!["ssh".to_string(), "-T".to_string()];
                v.extend(self.ssh_o());
                v.push(dest.clone());
                // ssh hands the rest to the remote user's shell as one line.
                v.push(shell_join(argv));
                v
            }
        }
    }

    /// A `Command` for `argv` on the host. The local end dies with the
    /// harness (SIGTERM on its death): an ssh client then closes the
    /// session, a namespaced command is ended directly.
    pub fn command(&self, argv: &[String]) -> Command {
        let full = self.argv(argv);
        let mut cmd = Command::new(&full[0]);
        cmd.args(&full[1..]);
        // SAFETY: only an async-signal-safe call between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// Starts `argv` on the host with its input and output on pipes.
    pub fn spawn_piped(&self, argv: &[String]) -> std::io::Result<std::process::Child> {
        self.command(argv)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }

    /// Runs `argv` on the host with `stdin` as its input, for at most
    /// `limit`; Err is one line: the transport's own failure (ssh cannot
    /// connect: its last stderr line) or the time limit. A command that
    /// ran and failed is Ok with its status.
    pub fn output(&self, argv: &[String], stdin: &[u8], limit: Duration) -> Result<Output, String> {
        let output = bounded(self.command(argv), stdin, limit)
            .map_err(|e| format!("{}: {e}", self.describe()))?;
        if let Some(why) = self.own_failure(&output) {
            return Err(why);
        }
        Ok(output)
    }

    /// The transport's own failure, told apart from the command's: ssh
    /// exits 255 when it cannot connect; `ip netns exec` says so on stderr.
    fn own_failure(&self, out: &Output) -> Option<String> {
        let last = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("")
            .to_string();
        match &self.reach {
            Reach::Ssh(_) if out.status.code() == Some(255) => {
                Some(format!("{}: cannot connect: {last}", self.describe()))
            }
            Reach::Netns(_)
                if out.status.code() == Some(255)
                    || last.starts_with("Cannot open network namespace") =>
            {
                Some(format!("{}: {last}", self.describe()))
            }
            _ => None,
        }
    }

    /// Copies local `files` into `dir` on the host (made if missing): scp
    /// for a machine, cp for a namespace or this machine. Each lands under
    /// a temporary name first and is renamed into place, so a reader (or
    /// another host sharing the folder) never sees half a binary, and a
    /// binary that is running is replaced rather than overwritten.
    pub fn copy(&self, files: &[PathBuf], dir: &Path, limit: Duration) -> Result<(), String> {
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let ran = |what: &str, out: Output| {
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{}: {what} failed: {}",
                    self.describe(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        ran(
            "mkdir",
            self.output(&["mkdir".into(), "-p".into(), s(dir)], b"", limit)?,
        )?;
        let mut renames = Vec::new();
        for f in files {
            let name = f
                .file_name()
                .ok_or_else(|| format!("{}: not a file name", f.display()))?
                .to_string_lossy()
                .into_owned();
            let tmp = dir.join(format!(".{name}.copy-{}-{}", std::process::id(), self.host));
            match &self.reach {
                Reach::Ssh(dest) => {
                    let mut cmd = Command::new("scp");
                    cmd.arg("-q").args(self.ssh_o()).arg("--").arg(f);
                    cmd.arg(format!("{dest}:{}", s(&tmp)));
                    ran(
                        "scp",
                        bounded(cmd, b"", limit).map_err(|e| format!("scp: {e}"))?,
                    )?;
                }
                Reach::Netns(_) | Reach::Local => {
                    let argv = vec!["cp".to_string(), "--".to_string(), s(f), s(&tmp)];
                    ran("cp", self.output(&argv, b"", limit)?)?;
                }
            }
            renames.push((s(&tmp), s(&dir.join(&name))));
        }
        // One remote shell for all the renames.
        let mut argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            String::new(),
            "sh".to_string(),
        ];
        let mut script = Vec::new();
        for (i, (from, to)) in renames.into_iter().enumerate() {
            script.push(format!(
                "mv -f -- \"${{{}}}\" \"${{{}}}\"",
                2 * i + 1,
                2 * i + 2
            ));
            argv.extend([from, to]);
        }
        argv[2] = script.join(" && ");
        ran("mv", self.output(&argv, b"", limit)?)
    }
}

/// Runs `cmd` with `stdin` as its input and its output captured, killed
/// after `limit`.
pub fn bounded(mut cmd: Command, stdin: &[u8], limit: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", cmd.get_program().to_string_lossy()))?;
    let input = stdin.to_vec();
    let mut pipe_in = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(p) = pipe_in.as_mut() {
            let _ = p.write_all(&input);
        }
        // Dropped here: the command sees the end of its input.
    });
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let err = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let Some(status) = wait_bounded(&mut child, limit) else {
        return Err(format!("no answer within {} s", limit.as_secs_f64()));
    };
    let _ = writer.join();
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Waits up to `limit` for `child`; kills it after that (None).
pub fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if start.elapsed() <= limit => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(reach: Reach) -> Transport {
        Transport {
            host: "h".into(),
            reach,
            ssh_options: vec!["ControlMaster=auto".into()],
        }
    }

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_argv_three_prefixes() {
        let argv = v(&[
            "/opt/rtc/bin/harness",
            "sample",
            "--",
            "go-server",
            "--listen",
            "10.0.0.2:0",
        ]);
        assert_eq!(t(Reach::Local).argv(&argv), argv);
        let ns = t(Reach::Netns("rtc-s".into())).argv(&argv);
        assert_eq!(&ns[..4], ["ip", "netns", "exec", "rtc-s"]);
        assert_eq!(&ns[4..], &argv[..]);
        let ssh = t(Reach::Ssh("me@bench".into())).argv(&argv);
        assert_eq!(&ssh[..2], ["ssh", "-T"]);
        assert!(ssh.windows(2).any(|w| w == ["-o", "BatchMode=yes"]));
        assert!(ssh.windows(2).any(|w| w == ["-o", "ControlMaster=auto"]));
        assert_eq!(ssh[ssh.len() - 2], "me@bench");
        assert_eq!(
            ssh[ssh.len() - 1],
            "/opt/rtc/bin/harness sample -- go-server --listen 10.0.0.2:0"
        );
    }

    #[test]
    fn the_remote_shell_gets_every_word_back_unchanged() {
        let words = v(&[
            "plain",
            "two words",
            "it's",
            "$HOME",
            "a;b",
            "",
            "*",
            "light:weight=1;heavy:cpu=5",
        ]);
        let line = shell_join(&words);
        // sh itself reads the line back, word by word.
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("for w in {line}; do printf '%s\\n' \"$w\"; done"))
            .output()
            .unwrap();
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(got, words);
        assert_eq!(shell_quote("--rate"), "--rate");
        assert_eq!(shell_quote("a b"), "'a b'");
    }

    #[test]
    fn a_local_command_runs_with_input_and_a_time_limit() {
        let local = t(Reach::Local);
        let out = local
            .output(&v(&["tr", "a-z", "A-Z"]), b"abc", Duration::from_secs(5))
            .unwrap();
        assert_eq!(out.stdout, b"ABC");
        let out = local
            .output(
                &v(&["sh", "-c", "echo no >&2; exit 3"]),
                b"",
                Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        let e = local
            .output(&v(&["sleep", "5"]), b"", Duration::from_millis(200))
            .unwrap_err();
        assert!(e.contains("no answer within"), "{e}");
        assert!(
            local
                .output(&v(&["/no/such/program"]), b"", Duration::from_secs(5))
                .is_err()
        );
    }

    #[test]
    fn a_missing_namespace_is_the_transports_failure() {
        if !super::super::is_superuser() || Command::new("ip").arg("-V").output().is_err() {
            eprintln!("skipped: needs root and ip(8)");
            return;
        }
        let e = t(Reach::Netns("rtc-no-such-ns".into()))
            .output(&v(&["true"]), b"", Duration::from_secs(5))
            .unwrap_err();
        assert!(e.starts_with("netns rtc-no-such-ns: "), "{e}");
    }

    #[test]
    fn local_copy_makes_the_folder_and_copies_through_a_rename() {
        let dir = std::env::temp_dir().join(format!("rtc-transport-copy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Six files: positional parameters past $9 in the rename script.
        let files: Vec<PathBuf> = (0..6)
            .map(|i| {
                let f = dir.join(format!("b{i}"));
                std::fs::write(&f, format!("content {i}")).unwrap();
                f
            })
            .collect();
        let to = dir.join("to/deep");
        std::fs::create_dir_all(&to).unwrap();
        std::fs::write(to.join("b5"), "old").unwrap();
        t(Reach::Local)
            .copy(&files, &to, Duration::from_secs(5))
            .unwrap();
        for i in 0..6 {
            assert_eq!(
                std::fs::read_to_string(to.join(format!("b{i}"))).unwrap(),
                format!("content {i}")
            );
        }
        let names: Vec<String> = std::fs::read_dir(&to)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 6, "temporary copies left: {names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
