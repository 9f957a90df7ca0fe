//! The correctness probe of a trial across hosts, sent from a generator
//! host (the controller may not reach the server's address):
//! `harness probe --address A` reads the vectors as JSON on its input,
//! replays each against the server, and prints one line per failure.

use super::transport::Transport;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// `harness probe`: the exit code (0 all answered right, 1 a failure or
/// unreadable input).
pub fn run(addr: SocketAddr, timeout: Duration) -> i32 {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        println!("cannot read the vectors: {e}");
        return 1;
    }
    let vectors: Vec<rtc_conformance::Vector> = match serde_json::from_str(&input) {
        Ok(v) => v,
        Err(e) => {
            println!("the vectors are not a JSON array of vectors: {e}");
            return 1;
        }
    };
    let mut failed = 0;
    for v in &vectors {
        if let Err(e) = rtc_conformance::run_vector(addr, v, timeout) {
            println!("correctness probe {} failed: {e}", v.name);
            failed += 1;
        }
    }
    i32::from(failed > 0)
}

/// Runs the probe on the host behind `t` against `addr`; Err is the first
/// failure, one line.
pub fn remote(
    t: &Transport,
    harness: &Path,
    addr: SocketAddr,
    vectors: &[&rtc_conformance::Vector],
) -> Result<(), String> {
    if vectors.is_empty() {
        return Ok(());
    }
    let input = serde_json::to_vec(vectors).expect("vectors serialize");
    let argv = vec![
        harness.to_string_lossy().into_owned(),
        "probe".into(),
        "--address".into(),
        addr.to_string(),
    ];
    let out = t.output(&argv, &input, Duration::from_secs(60))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    })
    .into_owned();
    Err(format!(
        "{} (from {})",
        text.lines().next().unwrap_or("the probe failed").trim(),
        t.host
    ))
}
