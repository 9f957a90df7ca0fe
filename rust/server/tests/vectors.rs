//! Replays every shared protocol vector (testdata/protocol/vectors.json)
//! against the in-process server in every mode combination of
//! `support::mode_matrix`, one test per runtime so the two run in parallel.

mod support;

use std::time::Duration;

use rtc_conformance::{VectorFile, default_vectors_path, load, run_vector};
use support::*;

const NAME: &str = "vectors";

fn vectors() -> VectorFile {
    let path = default_vectors_path();
    let file = load(&path).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(file.protocol_version, 1);
    assert_eq!(
        file.data_file_bytes, DATA_FILE_BYTES,
        "support::DATA_FILE_BYTES is stale"
    );
    assert!(!file.vectors.is_empty());
    file
}

/// Vectors replayed only on the combinations `varies_cpu_or_nothing` picks.
const HEAVY: [&str; 1] = ["work_sha_max_rounds"];

fn varies_cpu_or_nothing(flags: &[&str]) -> bool {
    flags.len() == 4 || flags.contains(&"--cpu-mode")
}

/// Replays all vectors against each combination for `runtime`; returns the
/// failures as "flags / vector: error" lines.
fn replay(runtime: &str) -> Vec<String> {
    let file = vectors();
    let mut failures = Vec::new();
    let mut combos = 0;
    for flags in mode_matrix().into_iter().filter(|f| f.contains(&runtime)) {
        combos += 1;
        // One server per (workload, data file) the vectors need.
        for workload in ["echo", "work"] {
            for with_data in [true, false] {
                let chosen: Vec<_> = file
                    .vectors
                    .iter()
                    .filter(|v| v.workload == workload && v.data_file == with_data)
                    .collect();
                if chosen.is_empty() {
                    continue;
                }
                let mut all = flags.clone();
                all.extend_from_slice(&["--workload", workload]);
                let srv = if with_data {
                    start_with_data(NAME, &all)
                } else {
                    start(&all)
                };
                for v in chosen {
                    // A million SHA rounds take seconds in a debug build and
                    // exercise only the cpu step: replay them where the cpu
                    // mode is what varies (and on the defaults).
                    if HEAVY.contains(&v.name.as_str()) && !varies_cpu_or_nothing(&flags) {
                        continue;
                    }
                    if let Err(e) = run_vector(srv.addr, v, Duration::from_secs(20)) {
                        failures.push(format!("{} / {}: {e}", all.join(" "), v.name));
                    }
                }
            }
        }
    }
    assert!(
        combos >= 7,
        "mode matrix for {runtime} has {combos} combinations"
    );
    failures
}

#[test]
fn every_vector_in_every_mode_on_multi_thread() {
    let failures = replay("multi-thread");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_vector_in_every_mode_on_current_thread() {
    let failures = replay("current-thread");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_wrong_server_fails_the_replay() {
    // The replay really compares bytes: work vectors against an echo server fail.
    let file = vectors();
    let srv = start(&["--workload", "echo"]);
    let v = file
        .vectors
        .iter()
        .find(|v| v.name == "work_sha_3_rounds")
        .expect("vector work_sha_3_rounds");
    assert!(run_vector(srv.addr, v, Duration::from_secs(10)).is_err());
}

#[test]
fn the_mode_matrix_varies_one_axis_at_a_time() {
    let m = mode_matrix();
    // multi-thread: default + 3 cpu + 2 block + 2 file + coop + buf = 10;
    // current-thread: the same without the two block-in-place ones = 8.
    assert_eq!(m.len(), 18);
    for flags in &m {
        assert!(flags.len() == 4 || flags.len() == 6, "{flags:?}");
        let current = flags.contains(&"current-thread");
        assert!(!(current && flags.contains(&"block-in-place")), "{flags:?}");
    }
}
