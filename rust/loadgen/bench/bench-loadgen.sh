#!/usr/bin/env bash
# Benchmark of the load generator itself (`make bench-loadgen`; not a test).
# Servers pinned to SERVER_CPU, clients to CLIENT_CPU, 64 B echo requests.
#
#  1. open loop, 400 req/s over 12 connections (the hol-* scenarios' light
#     load): the generator's CPU % of its core (target <= 5 %; it must not
#     spin), send and receive lag p99;
#  2. open loop, 20k and 50k req/s over 100 connections: send lag p99
#     (targets <= 10 us at 20k, <= 20 us at 50k), achieved-rate error
#     (target within 0.5 %), receive lag p99;
#  3. closed loop, depth 1, 100 connections against bin/rust-server: client
#     and server CPU per request, client-bound?;
#  4. closed loop, depth 1, 100 connections against a minimal C epoll echo
#     server: a plain C epoll client (A) and loadgen (B) in pairs A B A B ...
#     (the machine may be shared: pairs cancel slow drifts); each pair's
#     ratio B/A and their median (target >= 1.0).
#
# Every run is repeated REPEATS times (interleaved where two programs are
# compared) and the medians printed with min..max. The C programs under
# bench/c/ are built here with the system cc: benchmark aids only, never a
# dependency of the build or the tests.
#
# Usage: bench-loadgen.sh [OUT_DIR]
#   env: BIN (bin), SERVER_CPU (0), CLIENT_CPU (1), DURATION (10), WARMUP (2),
#        REPEATS (3), CC (cc)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-bin}
OUT=${1:-results/bench-loadgen}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
REPEATS=${REPEATS:-3}
CC=${CC:-cc}
mkdir -p "$OUT"
for b in rust-server loadgen; do
  [[ -x $BIN/$b ]] || { echo "bench-loadgen: $BIN/$b is missing: run make build" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "bench-loadgen: python3 is needed to read the JSON" >&2; exit 2; }
command -v "$CC" >/dev/null || { echo "bench-loadgen: no C compiler ($CC) for the reference client" >&2; exit 2; }
"$CC" -O2 -o "$OUT/c-echo-client" "$here/c/echo_client.c"
"$CC" -O2 -o "$OUT/c-echo-server" "$here/c/echo_server.c"

pid=
stop() { [[ -n $pid ]] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; pid=; }
trap stop EXIT
# start NAME CMD...: starts a server pinned to SERVER_CPU, sets $pid and $addr.
start() {
  local name=$1; shift
  taskset -c "$SERVER_CPU" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
  pid=$!
  for _ in $(seq 100); do grep -q LISTENING "$OUT/$name.out" 2>/dev/null && break; sleep 0.05; done
  addr=$(awk '/^LISTENING/ {print $2}' "$OUT/$name.out")
  [[ -n $addr ]] || { echo "bench-loadgen: $name did not start: $(cat "$OUT/$name.err")" >&2; exit 1; }
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU; $DURATION s windows after $WARMUP s warm-up; $REPEATS repeats"

start rust-server "$BIN/rust-server" --workload echo
common=(--address "$addr" --size 64 --duration "$DURATION" --warmup "$WARMUP" --cpus "$CLIENT_CPU"
        --server-pid "$pid" --quiet)
for r in $(seq "$REPEATS"); do
  for spec in "400 12" "20000 100" "50000 100"; do
    set -- $spec
    "$BIN/loadgen" "${common[@]}" --rate "$1" --conns "$2" --json "$OUT/open-$1-r$r.json" \
      --hgrm "$OUT/open-$1-r$r.hgrm" || true
  done
  "$BIN/loadgen" "${common[@]}" --closed --conns 100 --json "$OUT/closed-rust-r$r.json" || true
done
stop

start c-echo-server "$OUT/c-echo-server"
host=${addr%:*}; port=${addr##*:}
for r in $(seq "$REPEATS"); do
  taskset -c "$CLIENT_CPU" "$OUT/c-echo-client" "$host" "$port" 100 64 "$DURATION" "$WARMUP" \
    >"$OUT/c-client-r$r.txt"
  "$BIN/loadgen" --address "$addr" --size 64 --duration "$DURATION" --warmup "$WARMUP" \
    --cpus "$CLIENT_CPU" --closed --conns 100 --quiet --json "$OUT/closed-c-r$r.json" || true
done
stop

python3 - "$OUT" "$REPEATS" "$DURATION" <<'PY'
import json, re, statistics, sys
out, n, dur = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def doc(name): return json.load(open(f"{out}/{name}"))
def med(xs): return f"{statistics.median(xs):.4g} [{min(xs):.4g}..{max(xs):.4g}]"
print("\nopen loop (medians over repeats, [min..max]):")
for rate in (400, 20000, 50000):
    ds = [doc(f"open-{rate}-r{r}.json") for r in range(1, n + 1)]
    cpu = [d["client_cpu_us"] / (dur * 1e6) * 100 for d in ds]
    lag = [d["send_lag_us"]["p99"] for d in ds]
    rx = [(d["receive_lag_us"] or {}).get("p99", float("nan")) for d in ds]
    err = [(d["achieved_rps"] / d["offered_rps"] - 1) * 100 for d in ds]
    ok = sum(d["valid"] for d in ds)
    print(f"  {rate:>6} req/s: generator CPU {med(cpu)} % of a core; send lag p99 {med(lag)} us; "
          f"receive lag p99 {med(rx)} us; achieved - offered {med(err)} %; valid {ok}/{n}")
print("closed loop, depth 1, 100 conns, against rust-server:")
ds = [doc(f"closed-rust-r{r}.json") for r in range(1, n + 1)]
print(f"  rate {med([d['achieved_rps'] for d in ds])} req/s; CPU per request: client "
      f"{med([d['client_cpu_us_per_request'] for d in ds])} us, server "
      f"{med([d['server_cpu_us_per_request'] for d in ds])} us; client-bound in "
      f"{sum(bool(d['client_bound']) for d in ds)}/{n}")
print("closed loop, depth 1, 100 conns, against the C epoll echo server (pairs: C client, loadgen):")
ratios, cpu_ratios = [], []
for r in range(1, n + 1):
    text = open(f"{out}/c-client-r{r}.txt").read()
    c = float(re.search(r"rps=([0-9.]+)", text).group(1))
    c_cpu = float(re.search(r"cpu_us_per_request=([0-9.]+)", text).group(1))
    d = doc(f"closed-c-r{r}.json")
    l, l_cpu = d["achieved_rps"], d["client_cpu_us_per_request"]
    ratios.append(l / c)
    cpu_ratios.append(c_cpu / l_cpu)
    print(f"  pair {r}: C client {c:.0f} req/s ({c_cpu:.2f} us CPU/request), loadgen {l:.0f} req/s "
          f"({l_cpu:.2f} us CPU/request): rate ratio {l / c:.3f}, CPU ratio C/loadgen {c_cpu / l_cpu:.3f}")
print(f"  median rate ratio loadgen / C client: {statistics.median(ratios):.3f} (target >= 1.0)")
print(f"  median CPU-per-request ratio C client / loadgen: {statistics.median(cpu_ratios):.3f} "
      "(the same comparison, less sensitive to a shared CPU; loadgen's includes its idle main thread)")
PY
echo "results in $OUT"
