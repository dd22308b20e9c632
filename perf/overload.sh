#!/usr/bin/env bash
# Overload bounded in time (issue 25): one gateway (Release build, the bundled models) on 127.0.0.1, bench_mlp v1 at 8
# rows per request (at one row the open-loop client cannot offer 2x saturation from the same two shared cores).
#   1. saturation: closed loop, 64 workers on 4 connections, OVERLOAD_SAT_SECONDS (default 8) -> S req/s;
#   2. overload: open loop (poisson) at OVERLOAD_FACTOR x S (default 2) on 16 connections for OVERLOAD_SECONDS
#      (default 15), every call with a 10 s deadline; rejects counted by status; latency of the accepted calls only;
#   3. recovery: the load stops; the sampler (perf/overload-sampler.py: a probe call, the queue depth and RSS every
#      50 ms, on its own connection) shows when the queue is empty and the probe back to its pre-load latency.
# Runs once with bench_mlp's max_queue_time (default 100 ms) and, unless OVERLOAD_BASELINE=0, once more with the bound
# off (--Gateway:Models:bench_mlp:MaxQueueTimeMicroseconds=0) for comparison. Raw output: OVERLOAD_OUT (default
# perf/results/overload/, a subfolder that `make bench` leaves alone); summary: OVERLOAD_OUT/overload.md.
# `make overload`; not part of make test (about 2 minutes).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=perf/lib.sh
. "$root/perf/lib.sh"

config="${CONFIG:-Release}"
out="${OVERLOAD_OUT:-$root/perf/results/overload}"
sat_seconds="${OVERLOAD_SAT_SECONDS:-8}"
seconds="${OVERLOAD_SECONDS:-15}"
factor="${OVERLOAD_FACTOR:-2}"
require_builds "$config" overload
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.csv "$out"/*.log "$out"/overload.md "$out"/*.bin "$out"/*.txt # not summary.md: written by hand

pids=()
# The gateways' data directories (feature snapshot, prediction log: hundreds of MB at these rates), outside the checkout.
scratch="$(mktemp -d)"
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$scratch"; }
trap cleanup EXIT

dotnet "$load_dll" payload --model bench_mlp --version 1 --rows-per-request 8 --out "$out/probe-8rows.bin" > /dev/null

one_run() { # label, then extra gateway arguments
  local label="$1"; shift
  local grpc admin gw sampler stop="$out/$label.stop"
  grpc="$(free_port)"; admin="$(free_port)"
  dotnet "$server_dll" "--Gateway:GrpcPort=$grpc" "--Gateway:AdminPort=$admin" "--Gateway:DataDirectory=$scratch/$label" \
    --Logging:LogLevel:Default=Warning "$@" \
    > "$out/$label-gateway.log" 2>&1 &
  gw=$!; pids+=("$gw")
  for _ in $(seq 1 240); do
    curl -sf "http://127.0.0.1:$admin/readyz" > /dev/null 2>&1 && break
    kill -0 "$gw" 2>/dev/null || { cat "$out/$label-gateway.log" >&2; return 1; }
    sleep 0.5
  done
  local url="http://127.0.0.1:$grpc"
  local common=(--target kserve --url "$url" --model bench_mlp --version 1 --rows-per-request 8 --quiet)
  dotnet "$load_dll" run "${common[@]}" --concurrency 64 --connections 4 --warmup 3s --duration "${sat_seconds}s" \
    --label "$label-saturation" --json "$out/$label-saturation.json" > "$out/$label-saturation.log" 2>&1
  local sat rate
  sat="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps"][0]["throughput_rps"])' "$out/$label-saturation.json")"
  rate="$(/usr/bin/python3 -c 'import sys; print(round(float(sys.argv[1]) * float(sys.argv[2])))' "$sat" "$factor")"
  echo "overload[$label]: saturation $sat req/s; offering $rate req/s open loop for ${seconds}s"
  rm -f "$stop"
  /usr/bin/python3 perf/overload-sampler.py --grpc "127.0.0.1:$grpc" --admin "127.0.0.1:$admin" --pid "$gw" \
    --payload "$out/probe-8rows.bin" --stop "$stop" --out "$out/$label-timeline.csv" &
  sampler=$!; pids+=("$sampler")
  sleep 2 # the probe's pre-load latency
  date +%s.%N > "$out/$label-load-start.txt"
  dotnet "$load_dll" run "${common[@]}" --mode open --rate "$rate" --arrival poisson --connections 16 \
    --max-in-flight 16384 --timeout 10s --warmup 0s --duration "${seconds}s" \
    --label "$label-overload" --json "$out/$label-overload.json" > "$out/$label-overload.log" 2>&1 || true
  date +%s.%N > "$out/$label-load-end.txt"
  sleep 5 # recovery, watched by the sampler
  touch "$stop"; wait "$sampler" || true
  curl -sf "http://127.0.0.1:$admin/metrics" > "$out/$label-metrics.txt" || true
  kill "$gw"; wait "$gw" 2>/dev/null || true
  rm -f "$stop"
}

{ echo "cores: $(nproc)"; echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"; echo "commit: $(git rev-parse --short HEAD)"; } > "$out/machine.txt"
one_run bounded
[ "${OVERLOAD_BASELINE:-1}" = 0 ] || one_run unbounded --Gateway:Models:bench_mlp:MaxQueueTimeMicroseconds=0
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
/usr/bin/python3 perf/overload-report.py "$out" | tee "$out/overload.md"
