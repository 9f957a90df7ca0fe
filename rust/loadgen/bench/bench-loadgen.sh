#!/usr/bin/env bash
# Benchmark of the load generator itself (`make bench-loadgen`; not a test).
# bin/rust-server --workload echo pinned to SERVER_CPU, loadgen pinned to
# CLIENT_CPU, 64 B requests over 100 connections: open loop at 20k and 50k
# req/s (targets: send lag p99 <= 20 us, achieved within 0.5 % of offered),
# then closed loop (generator vs server CPU per request, client-bound?).
# Usage: bench-loadgen.sh [OUT_DIR]   (env: BIN, SERVER_CPU, CLIENT_CPU, DURATION, WARMUP)
set -euo pipefail
BIN=${BIN:-bin}
OUT=${1:-results/bench-loadgen}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
mkdir -p "$OUT"
for b in rust-server loadgen; do
  [[ -x $BIN/$b ]] || { echo "bench-loadgen: $BIN/$b is missing: run make build" >&2; exit 2; }
done

taskset -c "$SERVER_CPU" "$BIN/rust-server" --workload echo >"$OUT/server.out" 2>"$OUT/server.err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q LISTENING "$OUT/server.out" 2>/dev/null && break; sleep 0.05; done
addr=$(awk '/^LISTENING/ {print $2}' "$OUT/server.out")
[[ -n $addr ]] || { echo "bench-loadgen: the server did not start: $(cat "$OUT/server.err")" >&2; exit 1; }

common=(--address "$addr" --size 64 --conns 100 --duration "$DURATION" --warmup "$WARMUP"
        --cpus "$CLIENT_CPU" --server-pid "$pid")
status=0
for rate in 20000 50000; do
  echo "== open loop, $rate req/s"
  "$BIN/loadgen" "${common[@]}" --rate "$rate" --json "$OUT/open-$rate.json" \
    --hgrm "$OUT/open-$rate.hgrm" --hlog "$OUT/open-$rate.hlog" || status=1
done
echo "== closed loop, depth 1"
"$BIN/loadgen" "${common[@]}" --closed --json "$OUT/closed.json" --hgrm "$OUT/closed.hgrm" || status=1
echo "results in $OUT (exit $status: 1 means a run was marked invalid)"
exit $status
