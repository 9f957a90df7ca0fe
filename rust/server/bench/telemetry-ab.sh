#!/usr/bin/env bash
# What the tokio_unstable build and --telemetry cost the tokio server (a
# benchmark, not a test; rust/server/README.md records its figures).
# Four configurations, interleaved in rounds with the order rotated each
# round: S = bin/rust-server, U = bin/rust-server-unstable, each without and
# with --telemetry (ST, UT; 100 ms interval, so UT has the schedule-latency
# histogram on). Per run: server pinned to SERVER_CPU with one worker,
# loadgen pinned to CLIENT_CPU, open loop. Workloads: echo 64 B at ECHO_RATE,
# and a work mix (light 64 B + 1 in 10 hashing 200 rounds) at WORK_RATE.
# Prints one line per run and, per workload and configuration, the median
# server CPU per request and corrected p99, and their ratios to S paired by
# round.
# On a machine shared with other work, NICE=-15 (root) runs both processes
# ahead of it, so the figures measure the server rather than the neighbours.
# Usage: telemetry-ab.sh [OUT_DIR]
#   (env: BIN, ROUNDS, SERVER_CPU, CLIENT_CPU, DURATION, WARMUP, ECHO_RATE, WORK_RATE, NICE)
set -euo pipefail
BIN=${BIN:-bin}
OUT=${1:-results/telemetry-ab}
ROUNDS=${ROUNDS:-5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
ECHO_RATE=${ECHO_RATE:-20000}
WORK_RATE=${WORK_RATE:-4000}
NICE=${NICE:-0}
mkdir -p "$OUT"
for b in rust-server rust-server-unstable loadgen; do
  [[ -x $BIN/$b ]] || { echo "telemetry-ab: $BIN/$b is missing: run make build" >&2; exit 2; }
done

pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; true' EXIT

# run NAME WORKLOAD ROUND: one server, one loadgen run, one JSON file.
run() {
  local name=$1 workload=$2 round=$3 server=rust-server
  local args=(--workers 1 --workload "$workload")
  [[ $name == U* ]] && server=rust-server-unstable
  [[ $name == *T ]] && args+=(--telemetry "$OUT/$workload-$name-$round.telemetry.jsonl")
  # Emptied here, not by the redirection: the background child truncates
  # the file only when it runs, and the wait below could read the last
  # run's LISTENING line first.
  : >"$OUT/server.out"
  nice -n "$NICE" taskset -c "$SERVER_CPU" "$BIN/$server" "${args[@]}" >"$OUT/server.out" 2>"$OUT/server.err" &
  pid=$!
  local deadline=$((SECONDS + 30))
  until grep -q LISTENING "$OUT/server.out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)) || break
    sleep 0.05
  done
  local addr
  addr=$(awk '/^LISTENING/ {print $2}' "$OUT/server.out")
  [[ -n $addr ]] || { echo "telemetry-ab: $server did not start (alive: $(kill -0 "$pid" 2>&1 && echo yes)): $(cat "$OUT/server.err")" >&2; exit 1; }
  local load=(--size 64 --rate "$ECHO_RATE")
  [[ $workload == work ]] && load=(--mix "light:weight=9,size=64;heavy:weight=1,size=64,cpu=200" --rate "$WORK_RATE")
  local json="$OUT/$workload-$name-$round.json"
  nice -n "$NICE" "$BIN/loadgen" --address "$addr" --workload "$workload" "${load[@]}" --conns 10 \
    --duration "$DURATION" --warmup "$WARMUP" --cpus "$CLIENT_CPU" --server-pid "$pid" \
    --json "$json" --quiet || true
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  jq -r --arg n "$name" --arg w "$workload" --arg r "$round" \
    '"\($w) round \($r) \($n): cpu \(.server_cpu_us_per_request) us/req, p99 \(.latency_us.corrected.p99) us, valid \(.valid)"' "$json"
}

configs=(S U ST UT)
for round in $(seq "$ROUNDS"); do
  for workload in echo work; do
    for i in 0 1 2 3; do
      run "${configs[(i + round) % 4]}" "$workload" "$round"
    done
  done
done

# Paired per round (each configuration / S of the same round), then the
# median over rounds with the range: noise on a shared machine moves whole
# rounds, the pairing cancels that part.
echo "== medians over $ROUNDS rounds; ratio to S of the same round: median [min..max]"
for json in "$OUT"/{echo,work}-*-[0-9]*.json; do
  base=$(basename "$json" .json)
  IFS=- read -r w n r <<<"$base"
  jq -c --arg w "$w" --arg n "$n" --arg r "$r" \
    '{w: $w, n: $n, r: $r, cpu: .server_cpu_us_per_request, p99: .latency_us.corrected.p99, valid: .valid}' "$json"
done | jq -rs '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def r2: . * 100 | round / 100;
  . as $all
  | [.[] | select(.n == "S")] as $base
  | ["S", "U", "ST", "UT"][] as $n
  | ["echo", "work"][] as $w
  | [$all[] | select(.w == $w and .n == $n)] as $runs
  | [$runs[] | . as $x | ($base[] | select(.w == $w and .r == $x.r)) as $b
     | {cpu: ($x.cpu / $b.cpu), p99: ($x.p99 / $b.p99)}] as $ratios
  | "\($w) \($n): cpu \($runs | map(.cpu) | median | r2) us/req, ratio \($ratios | map(.cpu) | median | r2) [\($ratios | map(.cpu) | min | r2)..\($ratios | map(.cpu) | max | r2)]; p99 \($runs | map(.p99) | median / 1000 | r2) ms, ratio \($ratios | map(.p99) | median | r2); valid \($runs | map(select(.valid)) | length)/\($runs | length)"'
