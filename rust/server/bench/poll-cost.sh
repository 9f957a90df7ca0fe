#!/usr/bin/env bash
# CPU time per task poll (examples/poll_cost.rs) in three builds, interleaved:
# S = stable tokio, U = --cfg tokio_unstable, UH = tokio_unstable with the
# schedule-latency histogram on (what rust-server-unstable --telemetry runs).
# A benchmark, not a test; rust/server/README.md records its figures.
# Usage: poll-cost.sh   (env: ROUNDS, CPU)
set -euo pipefail
ROUNDS=${ROUNDS:-5}
CPU=${CPU:-0}
cd "$(dirname "$0")/../../.."
cargo build -q --release --locked -p rtc-server --example poll_cost
RUSTFLAGS="--cfg tokio_unstable" cargo build -q --release --locked -p rtc-server \
  --example poll_cost --target-dir target/unstable
stable=target/release/examples/poll_cost
unstable=target/unstable/release/examples/poll_cost
for rt in multi-thread current-thread; do
  for round in $(seq "$ROUNDS"); do
    s=$(taskset -c "$CPU" "$stable" "$rt")
    u=$(taskset -c "$CPU" "$unstable" "$rt")
    uh=$(taskset -c "$CPU" "$unstable" "$rt" histogram)
    echo "$rt round $round: S ${s#*=} U ${u#*=} UH ${uh#*=} ns/poll"
  done
done
