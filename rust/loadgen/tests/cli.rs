//! The binary's contract: one-line usage errors with exit 2, exit 1 for an
//! invalid run, exit 0 for a valid one.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .expect("run loadgen")
}

fn stderr_line(o: &Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(e.lines().count(), 1, "not one line: {e:?}");
    assert!(e.starts_with("loadgen: "), "{e:?}");
    e
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let cases: [(&[&str], &str); 10] = [
        (
            &["--address", "127.0.0.1:9", "--rate", "1", "--bogus"],
            "--bogus",
        ),
        (
            &["--address", "192.168.1.1:80", "--rate", "1"],
            "not a loopback",
        ),
        (
            &["--address", "198.18.0.2:80", "--rate", "1"],
            "--allow-non-loopback",
        ),
        (
            &[
                "--address",
                "127.0.0.1:9",
                "--rate",
                "1",
                "--start-at",
                "1000",
            ],
            "in the past",
        ),
        (
            &["--address", "127.0.0.1:9", "--idle", "--prime", "x"],
            "--prime",
        ),
        (
            &["--address", "127.0.0.1:9", "--rate", "1", "--prime", "1"],
            "--prime applies to --idle",
        ),
        (
            &[
                "--address",
                "127.0.0.1:9",
                "--rate",
                "1",
                "--workload",
                "work",
                "--mix",
                "a:cpux=1",
            ],
            "cpux",
        ),
        (
            &["--address", "127.0.0.1:9", "--rate", "1", "--depth", "3"],
            "--depth applies to --closed",
        ),
        (
            &[
                "--address",
                "127.0.0.1:9",
                "--rate",
                "1",
                "--duration",
                "soon",
            ],
            "--duration",
        ),
        (&["--rate", "1"], "--address"),
    ];
    for (args, want) in cases {
        let o = loadgen(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr_line(&o);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    // More than 60 s ahead.
    let later = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 120_000)
        .to_string();
    let o = loadgen(&[
        "--address",
        "127.0.0.1:9",
        "--rate",
        "1",
        "--start-at",
        &later,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr_line(&o).contains("ahead"));
    let o = loadgen(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--max-in-flight"));
}

#[test]
fn a_down_server_is_exit_1_with_a_report() {
    let _g = common::serial();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("loadgen-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("down.json");
    let addr = format!("127.0.0.1:{port}");
    let o = loadgen(&[
        "--address",
        &addr,
        "--rate",
        "10",
        "--conns",
        "2",
        "--threads",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("SERVER: ") && out.contains("connect"), "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // A server that is not there is its outcome, not a measurement fault.
    assert_eq!(doc["server_outcome"]["ok"], false);
    assert_eq!(doc["errors"]["connect"], 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn exit_code_follows_validity() {
    let _g = common::serial();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            c.set_nodelay(true).unwrap();
            std::thread::spawn(move || {
                let mut b = [0u8; 4096];
                while let Ok(n) = c.read(&mut b) {
                    if n == 0 || c.write_all(&b[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let dir = std::env::temp_dir().join(format!("loadgen-cli-ok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("ok.json");
    let o = loadgen(&[
        "--address",
        &addr,
        "--rate",
        "200",
        "--conns",
        "2",
        "--threads",
        "1",
        "--duration",
        "0.5",
        "--warmup",
        "0.1",
        "--json",
        json.to_str().unwrap(),
    ]);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["errors"]["total"], 0);
    let valid = doc["valid"].as_bool().unwrap();
    let ok = doc["server_outcome"]["ok"].as_bool().unwrap();
    assert_eq!(
        o.status.code(),
        Some(if valid && ok { 0 } else { 1 }),
        "{doc}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("corrected") && out.contains("uncorrected") && out.contains("send lag"));
    assert!(o.stderr.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}
