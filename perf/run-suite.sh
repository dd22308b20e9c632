#!/usr/bin/env bash
# Scenario runner behind `make bench`. Builds Release, starts the processes it needs on loopback, runs each
# comparison side by side in this one run, and writes perf/results/*.{json,csv,svg,txt,md} and perf/RESULTS.md.
#
#   (a) ort        raw ONNX Runtime ceiling: BenchmarkDotNet '*OrtThroughput*' (its markdown table is copied)
#   (a2) batcher, codec  BenchmarkDotNet micro-benchmarks: batcher overhead per request, protobuf codec per call
#   (b) transport  h2load and ig-load against the bare echo server vs the gateway's ModelInfer on a trivial model
#                  (perf/models/identity.py), on fraud v1 and ServerLive, same frame size -> gateway/echo ratio
#   (c) batching   gateway twice (dynamic batching on; MaxBatchSize=1), bench_mlp, closed loop 64 workers,
#                  plus a concurrency sweep 1,4,16,64 each -> throughput ratio, p99s, latency-vs-throughput SVG;
#                  then saturation: gateways at max batch 64 under h2load (1 and 8 rows per request) vs `ig-load ort`
#                  at batch 64 in the same ORT arrangement (1 session x 2 threads, 2 x 1), interleaved, with the
#                  bare echo server's cost per request at the same load (the bound two shared cores allow)
#   plog           prediction log (issue 23): perf/prediction-log-bench.sh, its results/prediction-log/summary.md appended
#   features       streaming features (issue 21): ingest events/s in process (BenchmarkDotNet) and over gRPC
#                  (ig-load ingest, gateway CPU per event), fraud v2 lookup + assembly in process, Predict fraud v2 vs
#                  ModelInfer fraud v2 on precomputed vectors (interleaved), freshness over gRPC, state bytes per card
#
# Knobs (environment): SCENARIOS="ort transport batching" runs a subset; QUICK=1 shortens every run (to check the
# script, not for numbers); SKIP_BUILD=1 uses existing Release binaries; REPORT_ONLY=1 rewrites RESULTS.md from the
# files of the last run in perf/results (after a change to the report template) without running anything. Every process started here is stopped on
# exit; every load run is bounded by duration or count; load goes to 127.0.0.1 only.
#
# A subset still clears perf/results first and writes run-info.env, commands.txt and status.txt for itself alone. To
# update one scenario's section and keep the others' from the last full run (as the features section was):
#   SCENARIOS=features bash perf/run-suite.sh
#   git checkout -- perf/results/run-info.env perf/results/commands.txt perf/results/status.txt $(git ls-files -d perf/results)
#   REPORT_ONLY=1 bash perf/run-suite.sh
# (the features and plog sections state their own run; the header, Status and Exact commands stay the full run's).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

SCENARIOS="${SCENARIOS:-ort batcher codec transport batching plog features experiments}"
QUICK="${QUICK:-0}"
CONFIG=Release
PY=/usr/bin/python3
H2LOAD="${H2LOAD:-/usr/bin/h2load}"
results="perf/results"
server_dll="src/InferenceGateway.Server/bin/$CONFIG/net10.0/InferenceGateway.Server.dll"
load_dll="perf/InferenceGateway.LoadTest/bin/$CONFIG/net10.0/ig-load.dll"

if [ "${REPORT_ONLY:-0}" = "1" ]; then
  SKIP_BUILD=1
  # shellcheck disable=SC1091
  . "$results/run-info.env" # started_utc, commit, elapsed, SCENARIOS, QUICK, machine and versions of the run reported
fi
if [ "$QUICK" = "1" ]; then
  long=4s; sweep_step=2s; warm=1s; h2_warm=1s; sat_warm=2s; h2_dur=2s; rounds=1; sat_rounds=1; check_dur=3s; ort_timeout=240
  bdn_job=(--job short)
else
  # Saturation gets more rounds: its ratio compares two figures that each move +-10 % between runs here. Warm-ups
  # under load last until tiered compilation is done: the JIT's background thread took ~1.7 s of CPU over the first
  # ~10 s of a saturating run and ~0 afterwards (measured per thread), CPU the runs would otherwise be charged.
  long=12s; sweep_step=8s; warm=3s; h2_warm=8s; sat_warm=15s; h2_dur=8s; rounds=5; sat_rounds=5; check_dur=10s; ort_timeout=1200
  # BenchmarkDotNet's default job (its own pilot, warm-up and as many iterations as the error needs), not ShortRun's
  # three iterations: the micro-benchmark figures quoted in the README come from here.
  bdn_job=()
fi

mkdir -p "$results"
[ "${REPORT_ONLY:-0}" = "1" ] || rm -f "$results"/*.json "$results"/*.csv "$results"/*.svg "$results"/*.txt "$results"/*.md "$results"/*.log "$results"/*.bin
commands="$results/commands.txt"
status="$results/status.txt"
if [ "${REPORT_ONLY:-0}" != "1" ]; then
  : > "$commands"
  : > "$status"
  started_utc="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  SECONDS=0
fi

# --- process bookkeeping ------------------------------------------------------------------------------------
# free_port, cpu_ticks, gc_allocated, record, run, stop_started, stop_pid, start_gateway
# shellcheck source=perf/lib.sh
. "$root/perf/lib.sh"
GW_LOGS="$results"
pids=()
trap stop_started EXIT
trap 'exit 130' INT TERM

log() { printf '[run-suite %4ds] %s\n' "$SECONDS" "$*" >&2; }

note_status() { printf '%s: %s\n' "$1" "$2" >> "$status"; log "$1: $2"; }

# start_echo: sets ECHO_PID, ECHO_PORT.
start_echo() {
  ECHO_PORT="$(free_port)"
  record dotnet "$load_dll" echo-server --port "$ECHO_PORT" --response-bytes 64 --lifetime 30m
  dotnet "$load_dll" echo-server --port "$ECHO_PORT" --response-bytes 64 --lifetime 30m > "$results/echo-server.log" 2>&1 &
  ECHO_PID=$!
  pids+=("$ECHO_PID")
  local i
  for i in $(seq 1 120); do
    grep -q "listening" "$results/echo-server.log" 2>/dev/null && return 0
    kill -0 "$ECHO_PID" 2>/dev/null || { cat "$results/echo-server.log" >&2; return 1; }
    sleep 0.25
  done
  return 1
}

ig_load() { run dotnet "$load_dll" "$@"; }

# --- build ----------------------------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != "1" ]; then
  log "building Release"
  run dotnet build perf/InferenceGateway.LoadTest/InferenceGateway.LoadTest.csproj -c "$CONFIG" -nologo -v q
  if ! run dotnet build src/InferenceGateway.Server/InferenceGateway.Server.csproj -c "$CONFIG" -nologo -v q; then
    note_status build "FAILED: gateway server did not build; gateway scenarios will fail"
  fi
fi

# --- (a) ONNX Runtime ceiling --------------------------------------------------------------------------------
scenario_ort() {
  local marker; marker="$(mktemp)"
  log "(a) BenchmarkDotNet *OrtThroughput* (limit ${ort_timeout}s)"
  record dotnet run -c Release --project perf/InferenceGateway.Benchmarks -- --filter '*OrtThroughput*'
  if ! timeout "$ort_timeout" dotnet run -c Release --project perf/InferenceGateway.Benchmarks -- --filter '*OrtThroughput*' \
      > "$results/ort-benchmark.log" 2>&1; then
    rm -f "$marker"
    note_status ort "FAILED (exit or timeout; see results/ort-benchmark.log)"
    return 0
  fi
  local md
  md="$(find . -path '*BenchmarkDotNet.Artifacts/results/*OrtThroughput*-report-github.md' -newer "$marker" 2>/dev/null | head -n 1)"
  rm -f "$marker"
  if [ -z "$md" ]; then
    note_status ort "FAILED (no *OrtThroughput*-report-github.md written)"
    return 0
  fi
  cp "$md" "$results/ort-throughput.md"
  note_status ort ok
}

# --- (a2) micro-benchmarks: batcher overhead, protobuf codec ----------------------------------------------------
# bdn NAME FILTER: runs BenchmarkDotNet (its default job; ShortRun under QUICK=1) and copies its GitHub-markdown table to results/NAME.md.
bdn() {
  local name="$1" filter="$2" marker; marker="$(mktemp)"
  log "(a2) BenchmarkDotNet $filter (limit ${ort_timeout}s)"
  record dotnet run -c Release --project perf/InferenceGateway.Benchmarks -- --filter "$filter" "${bdn_job[@]}"
  if ! timeout "$ort_timeout" dotnet run -c Release --project perf/InferenceGateway.Benchmarks -- --filter "$filter" "${bdn_job[@]}" \
      > "$results/$name-benchmark.log" 2>&1; then
    rm -f "$marker"
    note_status "$name" "FAILED (exit or timeout; see results/$name-benchmark.log)"
    return 0
  fi
  local md
  md="$(find . -path "*BenchmarkDotNet.Artifacts/results/*${filter//\*/}*-report-github.md" -newer "$marker" 2>/dev/null | head -n 1)"
  rm -f "$marker"
  if [ -z "$md" ]; then
    note_status "$name" "FAILED (no report written)"
    return 0
  fi
  cp "$md" "$results/$name.md"
  note_status "$name" ok
}

scenario_batcher() { bdn batcher-overhead '*BatcherOverhead*'; }
scenario_codec() { bdn protobuf-codec '*ProtobufCodec*'; }

# --- (b) transport --------------------------------------------------------------------------------------------
# h2load_round TARGET ROUND PID URL PAYLOAD [ADMIN_PORT]: one duration-based h2load run, with the server's CPU ticks
# over it and, for a gateway (ADMIN_PORT given), its managed allocations over it.
h2load_round() {
  local target="$1" round="$2" pid="$3" url="$4" payload="$5" admin="${6:-}" t0 t1 a0="" a1=""
  if [ -n "$admin" ]; then a0="$(gc_allocated "$admin")"; fi
  t0="$(cpu_ticks "$pid")"
  run "$H2LOAD" -D "$h2_dur" -c 4 -m 16 -d "$payload" -H 'content-type: application/grpc' -H 'te: trailers' "$url" \
    > "$results/transport-h2load-$target-r$round.txt" 2>&1 || return 1
  t1="$(cpu_ticks "$pid")"
  if [ -n "$admin" ]; then a1="$(gc_allocated "$admin")"; fi
  printf '%s,%s,%s,%s,%s\n' "$round" "$target" "$((t1 - t0))" "$a0" "$a1" >> "$results/transport-cpu.csv"
}

scenario_transport() {
  local payload="$results/identity-payload.bin" fraud="$results/fraud-v1-payload.bin" live="$results/server-live-payload.bin"
  local infer="/inference.GRPCInferenceService/ModelInfer" livepath="/inference.GRPCInferenceService/ServerLive" failed=0 r i
  # The trivial model (one ONNX Identity node, FP32 [n,3]) is a benchmark fixture, generated into a scratch model
  # repository next to a copy of the bundled fraud model; nothing is written under models/.
  local repo; repo="$(mktemp -d)"
  cp -r models/fraud "$repo/"
  run "$PY" perf/models/identity.py "$repo" || { rm -rf "$repo"; note_status transport "FAILED (identity model)"; return 0; }
  ig_load payload --model identity --version 1 --models-dir "$repo" --out "$payload" \
    && ig_load payload --model fraud --version 1 --models-dir "$repo" --out "$fraud" \
    || { rm -rf "$repo"; note_status transport "FAILED (payload)"; return 0; }
  printf '\x00\x00\x00\x00\x00' > "$live" # ServerLive: an empty message, uncompressed.

  # Both servers run for the whole scenario and the targets take turns, so a slow spell of the shared machine hits
  # every target, not one. No batching delay for either model: the figure is the cost of the stack per call, not
  # time spent waiting on purpose for batch company.
  log "(b) transport: echo server and gateway"
  start_echo || { rm -rf "$repo"; note_status transport "FAILED (echo server)"; return 0; }
  if ! start_gateway transport "--Gateway:ModelRepository:Path=$repo" --Gateway:Models:fraud:MaxQueueDelayMicroseconds=0; then
    stop_pid "$ECHO_PID"
    rm -rf "$repo"
    note_status transport "FAILED (gateway)"
    return 0
  fi
  local echo_url="http://127.0.0.1:$ECHO_PORT" gw_url="http://127.0.0.1:$GW_PORT"
  local targets=(echo gateway-identity gateway-fraud gateway-live)
  declare -A pid_of=([echo]="$ECHO_PID" [gateway-identity]="$GW_PID" [gateway-fraud]="$GW_PID" [gateway-live]="$GW_PID")
  declare -A url_of=([echo]="$echo_url$infer" [gateway-identity]="$gw_url$infer" [gateway-fraud]="$gw_url$infer" [gateway-live]="$gw_url$livepath")
  declare -A payload_of=([echo]="$payload" [gateway-identity]="$payload" [gateway-fraud]="$fraud" [gateway-live]="$live")
  declare -A admin_of=([echo]="" [gateway-identity]="$GW_ADMIN" [gateway-fraud]="$GW_ADMIN" [gateway-live]="$GW_ADMIN")

  # Warm-up, discarded: tiered JIT, pools and connections reach steady state (a short run measures the JIT).
  for t in "${targets[@]}"; do
    "$H2LOAD" -D "$h2_warm" -c 4 -m 16 -d "${payload_of[$t]}" -H 'content-type: application/grpc' -H 'te: trailers' \
      "${url_of[$t]}" > /dev/null 2>&1 || true
  done
  echo "round,target,cpu_ticks,allocated_before,allocated_after" > "$results/transport-cpu.csv"
  for r in $(seq 1 "$rounds"); do
    for i in 0 1 2 3; do # Each round starts with a different target.
      t="${targets[$(((i + r - 1) % 4))]}"
      h2load_round "$t" "$r" "${pid_of[$t]}" "${url_of[$t]}" "${payload_of[$t]}" "${admin_of[$t]}" || failed=1
    done
  done

  # ig-load checks grpc-status (h2load only sees HTTP 200). Its own HTTP/2 client (--client h2, the default) next to
  # HttpClient (--client http: SocketsHttpHandler for raw frames, our gRPC client library for kserve) shows what
  # the client itself costs on the shared cores.
  ig_load run --target raw --url "$echo_url" --payload "$payload" --path "$infer" \
    --concurrency 64 --warmup "$warm" --duration "$check_dur" --label echo-raw --quiet \
    --json "$results/transport-echo-raw.json" --csv "$results/transport-echo-raw.csv" || failed=1
  ig_load run --target raw --client http --url "$echo_url" --payload "$payload" --path "$infer" \
    --concurrency 64 --warmup "$warm" --duration "$check_dur" --label echo-raw-http --quiet \
    --json "$results/transport-echo-raw-http.json" --csv "$results/transport-echo-raw-http.csv" || failed=1
  ig_load run --target raw --url "$gw_url" --payload "$payload" --path "$infer" \
    --concurrency 64 --warmup "$warm" --duration "$check_dur" --label gateway-raw --quiet \
    --json "$results/transport-gateway-raw.json" --csv "$results/transport-gateway-raw.csv" || failed=1
  ig_load run --target kserve --url "$gw_url" --model identity --version 1 --models-dir "$repo" \
    --concurrency 64 --warmup "$warm" --duration "$check_dur" --label gateway-kserve --quiet \
    --json "$results/transport-gateway-kserve.json" --csv "$results/transport-gateway-kserve.csv" || failed=1
  ig_load run --target kserve --client http --url "$gw_url" --model identity --version 1 --models-dir "$repo" \
    --concurrency 64 --warmup "$warm" --duration "$check_dur" --label gateway-kserve-http --quiet \
    --json "$results/transport-gateway-kserve-http.json" --csv "$results/transport-gateway-kserve-http.csv" || failed=1
  stop_pid "$GW_PID"
  stop_pid "$ECHO_PID"
  rm -rf "$repo"
  if [ "$failed" = 0 ]; then note_status transport ok; else note_status transport "FAILED (see logs in results/)"; fi
}

# --- (c) batching on vs off -----------------------------------------------------------------------------------
# batching_round VARIANT ROUND URL ADMIN: one closed-loop run at 64 workers, with the gateway's metrics before and
# after (batch sizes and ORT compute time of exactly this run come from the difference).
batching_round() {
  local v="$1" r="$2" url="$3" admin="$4"
  curl -sf "http://127.0.0.1:$admin/metrics" > "$results/batching-$v-r$r-before.txt" || return 1
  ig_load run --target kserve --url "$url" --model bench_mlp --version 1 --concurrency 64 \
    --warmup 2s --duration "$long" --label "batching-$v" --quiet \
    --json "$results/batching-$v-c64-r$r.json" --csv "$results/batching-$v-c64-r$r.csv" || return 1
  curl -sf "http://127.0.0.1:$admin/metrics" > "$results/batching-$v-r$r-after.txt" || return 1
}

# turns ROUND: the order in which the two gateways take their turn in that round (alternating).
turns() { if [ $(($1 % 2)) = 1 ]; then echo on off; else echo off on; fi; }

scenario_batching() {
  local failed=0 r
  # Both gateways run for the whole scenario (the idle one costs nothing measurable) and take turns, alternating
  # which goes first, so the machine's slow spells fall on both.
  log "(c) batching on and off"
  start_gateway batching-on || { note_status batching "FAILED (gateway on)"; return 0; }
  local on_pid="$GW_PID" on_url="http://127.0.0.1:$GW_PORT" on_admin="$GW_ADMIN"
  if ! start_gateway batching-off --Gateway:Models:bench_mlp:MaxBatchSize=1; then
    stop_pid "$on_pid"
    note_status batching "FAILED (gateway off)"
    return 0
  fi
  local off_pid="$GW_PID" off_url="http://127.0.0.1:$GW_PORT" off_admin="$GW_ADMIN"
  for r in $(seq 1 "$rounds"); do
    for v in $(turns "$r"); do
      if [ "$v" = on ]; then batching_round on "$r" "$on_url" "$on_admin" || failed=1
      else batching_round off "$r" "$off_url" "$off_admin" || failed=1; fi
    done
  done
  # The same comparison with h2load as the client (one pre-built ModelInfer frame, 64 streams): an independent
  # client, as cheap on the shared cores as ig-load's own HTTP/2 client.
  local frame="$results/bench-mlp-payload.bin" path="/inference.GRPCInferenceService/ModelInfer"
  if ig_load payload --model bench_mlp --version 1 --out "$frame"; then
    for r in $(seq 1 "$rounds"); do
      for v in $(turns "$r"); do
        local url="$on_url" admin="$on_admin"
        [ "$v" = off ] && url="$off_url" admin="$off_admin"
        curl -sf "http://127.0.0.1:$admin/metrics" > "$results/batching-h2load-$v-r$r-before.txt" || failed=1
        run "$H2LOAD" -D "$long" -c 4 -m 16 -d "$frame" -H 'content-type: application/grpc' -H 'te: trailers' "$url$path" \
          > "$results/batching-h2load-$v-r$r.txt" 2>&1 || failed=1
        curl -sf "http://127.0.0.1:$admin/metrics" > "$results/batching-h2load-$v-r$r-after.txt" || failed=1
      done
    done
  else
    failed=1
  fi
  ig_load run --target kserve --url "$on_url" --model bench_mlp --version 1 --concurrency 1,4,16,64 \
    --warmup 2s --duration "$sweep_step" --label batching-on --quiet \
    --json "$results/batching-on.json" --csv "$results/batching-on.csv" || failed=1
  ig_load run --target kserve --url "$off_url" --model bench_mlp --version 1 --concurrency 1,4,16,64 \
    --warmup 2s --duration "$sweep_step" --label batching-off --quiet \
    --json "$results/batching-off.json" --csv "$results/batching-off.csv" || failed=1
  stop_pid "$on_pid"
  stop_pid "$off_pid"
  if [ -f "$results/batching-on.csv" ] && [ -f "$results/batching-off.csv" ]; then
    ig_load plot --csv "$results/batching-on.csv" --csv "$results/batching-off.csv" \
      --out "$results/batching-latency-throughput.svg" --title "bench_mlp: dynamic batching on vs off" || failed=1
  fi
  saturation_rounds "$frame" || failed=1
  if [ "$failed" = 0 ]; then note_status batching ok; else note_status batching "FAILED (see logs in results/)"; fi
}

# saturation_rounds FRAME: the gateway at saturation against the in-process ORT ceiling at the same batch size and the
# same ORT arrangement, side by side. Two gateways with bench_mlp's max batch size pinned to 64 (every batch is 64
# rows once enough requests wait): "1x2" is the model's config (one instance, ORT picks two intra-op threads, the
# arrangement of the skeleton issue's ceiling), "2x1" two instances of one thread each. h2load drives each at 256
# streams (4 batches in flight) with one row per request, and again at 64 streams with 8 rows per request (the
# network cost per row an eighth). In each round `ig-load ort` runs the same model file at batch 64 in the same
# arrangement in its own process, while the gateways idle; and the bare echo server takes the one-row frame at 256
# streams, which measures what HTTP/2 and h2load alone cost per request on these shared cores (the report turns it
# into the ratio a gateway as cheap as the echo server could reach here). CPU ticks of the server and of the whole
# machine around every load run go to saturation-cpu.csv.
saturation_rounds() {
  local frame="$1" path="/inference.GRPCInferenceService/ModelInfer" failed=0 r step
  local frame8="$results/bench-mlp-8rows-payload.bin"
  log "(c) saturation: gateways at max batch 64 vs ORT alone at batch 64"
  ig_load payload --model bench_mlp --version 1 --rows-per-request 8 --out "$frame8" || return 1
  start_echo || return 1
  local echo_pid="$ECHO_PID" echo_url="http://127.0.0.1:$ECHO_PORT"
  if ! start_gateway batching-sat-1x2 --Gateway:Models:bench_mlp:MaxBatchSize=64; then
    stop_pid "$echo_pid"
    return 1
  fi
  local pid12="$GW_PID"
  declare -A url_of=([1x2]="http://127.0.0.1:$GW_PORT") admin_of=([1x2]="$GW_ADMIN") pid_of=([1x2]="$GW_PID")
  if ! start_gateway batching-sat-2x1 --Gateway:Models:bench_mlp:MaxBatchSize=64 \
      --Gateway:Models:bench_mlp:InstanceCount=2 --Gateway:Models:bench_mlp:IntraOpThreads=1; then
    stop_pid "$pid12"
    stop_pid "$echo_pid"
    return 1
  fi
  local pid21="$GW_PID"
  url_of[2x1]="http://127.0.0.1:$GW_PORT"
  admin_of[2x1]="$GW_ADMIN"
  pid_of[2x1]="$GW_PID"
  declare -A ort_args=([1x2]="--parallel 1 --intra-op-threads 0" [2x1]="--parallel 2 --intra-op-threads 1")
  for a in 1x2 2x1; do
    "$H2LOAD" -D "$sat_warm" -c 4 -m 64 -d "$frame" -H 'content-type: application/grpc' -H 'te: trailers' "${url_of[$a]}$path" > /dev/null 2>&1 || true
  done
  "$H2LOAD" -D "$h2_warm" -c 4 -m 64 -d "$frame" -H 'content-type: application/grpc' -H 'te: trailers' "$echo_url$path" > /dev/null 2>&1 || true
  echo "round,target,server_ticks,machine_ticks" > "$results/saturation-cpu.csv"
  for r in $(seq 1 "$sat_rounds"); do
    if [ $((r % 2)) = 1 ]; then
      sat_h2load echo "$r" "$echo_pid" "$echo_url$path" "$frame" 64 || failed=1
    fi
    for a in 1x2 2x1; do
      for step in $(if [ $((r % 2)) = 1 ]; then echo ort gw gw8; else echo gw8 gw ort; fi); do
        case "$step" in
          ort)
            # shellcheck disable=SC2086 # two options in one string
            ig_load ort --model-file models/bench_mlp/1/model.onnx --batch 64 ${ort_args[$a]} --warmup 2s --duration "$long" \
              --json "$results/saturation-ort-$a-r$r.json" > /dev/null || failed=1 ;;
          gw)
            curl -sf "http://127.0.0.1:${admin_of[$a]}/metrics" > "$results/saturation-$a-r$r-before.txt" || failed=1
            sat_h2load "$a" "$r" "${pid_of[$a]}" "${url_of[$a]}$path" "$frame" 64 || failed=1
            curl -sf "http://127.0.0.1:${admin_of[$a]}/metrics" > "$results/saturation-$a-r$r-after.txt" || failed=1 ;;
          gw8)
            sat_h2load "$a-8rows" "$r" "${pid_of[$a]}" "${url_of[$a]}$path" "$frame8" 16 || failed=1 ;;
        esac
      done
    done
    if [ $((r % 2)) = 0 ]; then
      sat_h2load echo "$r" "$echo_pid" "$echo_url$path" "$frame" 64 || failed=1
    fi
  done
  stop_pid "$pid12"
  stop_pid "$pid21"
  stop_pid "$echo_pid"
  return "$failed"
}

# Busy CPU ticks of the whole machine so far (user, nice, system, irq, softirq, steal: all but idle and iowait).
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# sat_h2load TARGET ROUND PID URL FRAME STREAMS: one saturation run (4 connections x STREAMS), with the server's and
# the machine's CPU ticks over it.
sat_h2load() {
  local target="$1" round="$2" pid="$3" url="$4" frame="$5" streams="$6" s0 m0 s1 m1
  s0="$(cpu_ticks "$pid")"
  m0="$(machine_ticks)"
  run "$H2LOAD" -D "$long" -c 4 -m "$streams" -d "$frame" -H 'content-type: application/grpc' -H 'te: trailers' "$url" \
    > "$results/saturation-$target-r$round.txt" 2>&1 || return 1
  s1="$(cpu_ticks "$pid")"
  m1="$(machine_ticks)"
  printf '%s,%s,%s,%s\n' "$round" "$target" "$((s1 - s0))" "$((m1 - m0))" >> "$results/saturation-cpu.csv"
}

# --- streaming features (issue 21) ----------------------------------------------------------------------------------
# In process: BenchmarkDotNet FeatureIngest (events/s on one thread) and FeatureAssembly (fraud v2 lookup + assembly;
# its cleanup prints single-call percentiles and the state per card into the log). Over gRPC, one gateway with an empty
# feature state in a scratch data directory, bundled models and definitions, the prediction log off, taking in turn:
#   1. ig-load ingest of the bundled month, exactly one pass (the last call wraps round to the first 34 rows) ->
#      the engine's state estimate per card from /metrics;
#   2. Predict fraud v2 (one request per transaction of the month, event time now: each card's streaming features are
#      computed over its month) against ModelInfer fraud v2 on the 8-feature rows of test_data.json (the same vectors,
#      precomputed), same h2 client and concurrency, interleaved rounds with the order alternating;
#   3. freshness: send -> visible over one IngestEvents stream, polled with GetFeatures and with Predict, then one call
#      per event polled with each (acknowledgement timed too: acknowledged -> visible in a Predict is the issue's measure);
#   4. ingest throughput rounds, last, as they grow the state the Predict runs read.
# Every ig-load run is bracketed by a /metrics scrape and the gateway's CPU ticks (features-cpu.csv), so the report
# takes calls, events, CPU and allocations per run from the gateway's own counters over exactly that run.
features_snap() { # NAME PID ADMIN
  curl -sf "http://127.0.0.1:$3/metrics" > "$results/features-$1.txt" || return 1
  printf '%s,%s,%s\n' "$1" "$(cpu_ticks "$2")" "$(date +%s.%N)" >> "$results/features-cpu.csv"
}

features_run() { # NAME PID ADMIN ig-load arguments...
  local name="$1" pid="$2" admin="$3" rc=0
  shift 3
  features_snap "$name-before" "$pid" "$admin" || return 1
  ig_load "$@" --label "$name" --quiet --json "$results/features-$name.json" > "$results/features-$name.log" 2>&1 || rc=1
  features_snap "$name-after" "$pid" "$admin" || rc=1
  return "$rc"
}

# Both feature benchmarks in one BenchmarkDotNet run: one build of its generated project (minutes on the busy machine,
# hence a build timeout above BenchmarkDotNet's default 2 minutes); a report with NA (nothing measured) is a failure.
features_bdn() {
  local marker name type md failed=0
  marker="$(mktemp)"
  log "features: BenchmarkDotNet *FeatureIngest* and *FeatureAssembly* (limit $((ort_timeout + 480))s)"
  record dotnet run -c Release --project perf/InferenceGateway.Benchmarks -- --filter '*FeatureIngest*' '*FeatureAssembly*' \
    "${bdn_job[@]}" --buildTimeout 600
  timeout "$((ort_timeout + 480))" dotnet run -c Release --project perf/InferenceGateway.Benchmarks -- \
    --filter '*FeatureIngest*' '*FeatureAssembly*' "${bdn_job[@]}" --buildTimeout 600 > "$results/features-benchmark.log" 2>&1 || failed=1
  for name in ingest assembly; do
    type="FeatureIngest"
    [ "$name" = assembly ] && type="FeatureAssembly"
    md="$(find . -path "*BenchmarkDotNet.Artifacts/results/*${type}Benchmark-report-github.md" -newer "$marker" 2>/dev/null | head -n 1)"
    if [ -n "$md" ]; then cp "$md" "$results/features-$name.md"; else failed=1; fi
    if [ -z "$md" ] || grep -Eq '\|[[:space:]]+NA[[:space:]]+\|' "$md"; then failed=1; fi
  done
  rm -f "$marker"
  return "$failed"
}

scenario_features() {
  # passes: each ingest round lays the month out that many times in event time, enough for the events a round sends
  # at up to ~250k/s, so every event is appended to its card's history as live traffic is (ig-load README, "ingest").
  local failed=0 r t q first fwarm=8s trials=2000 passes=24
  first="$(wc -l < "$commands")"
  [ "$QUICK" = "1" ] && { fwarm=1s; trials=200; passes=8; }
  local info="$results/features-info.env"
  {
    printf 'features_started=%q\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'features_commit=%q\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf 'features_quick=%q\nfeatures_long=%q\nfeatures_rounds=%q\nfeatures_trials=%q\nfeatures_warm=%q\nfeatures_passes=%q\n' \
      "$QUICK" "$long" "$rounds" "$trials" "$fwarm" "$passes"
  } > "$info"
  features_bdn || failed=1

  local data events=models/data/transactions.csv.gz rows calls
  data="$(mktemp -d)"
  rows="$(zcat "$events" | tail -n +2 | grep -c .)"
  calls=$(((rows + 99) / 100))
  log "features: gateway with an empty feature state in $data"
  # The prediction log off: it records every Predict and ModelInfer call (its cost is the plog scenario's), and its
  # writer's CPU on the shared cores would blur the price of enrichment measured here.
  if ! start_gateway features "--Gateway:DataDirectory=$data" --Gateway:PredictionLog:Sink=None; then
    rm -rf "$data"
    note_status features "FAILED (gateway)"
    return 0
  fi
  local pid="$GW_PID" admin="$GW_ADMIN" url="http://127.0.0.1:$GW_PORT"
  echo "name,cpu_ticks,unix_s" > "$results/features-cpu.csv"

  log "features: 1. the bundled month, one pass ($calls calls of 100 events)"
  features_run ingest-month "$pid" "$admin" run --target ingest --url "$url" --events "$events" --events-per-call 100 \
    --concurrency 2 --warmup 0s --requests "$calls" --max-duration 300s || failed=1

  log "features: 2. Predict fraud v2 vs ModelInfer fraud v2, $rounds round(s)"
  local kserve=(run --target kserve --url "$url" --model fraud --version 2 --concurrency 16)
  local predict=(run --target predict --url "$url" --model fraud --version 2 --events "$events" --concurrency 16)
  ig_load "${kserve[@]}" --warmup 0s --duration "$fwarm" --quiet > /dev/null 2>&1 || failed=1 # discarded: JIT, pools
  ig_load "${predict[@]}" --warmup 0s --duration "$fwarm" --quiet > /dev/null 2>&1 || failed=1
  for r in $(seq 1 "$rounds"); do
    for t in $(if [ $((r % 2)) = 1 ]; then echo kserve predict; else echo predict kserve; fi); do
      if [ "$t" = kserve ]; then
        features_run "kserve-r$r" "$pid" "$admin" "${kserve[@]}" --warmup 2s --duration "$long" || failed=1
      else
        features_run "predict-r$r" "$pid" "$admin" "${predict[@]}" --warmup 2s --duration "$long" || failed=1
      fi
    done
  done

  log "features: 3. freshness, $trials trials each"
  for q in getfeatures predict per-call predict-per-call; do
    local how=(--query "$q")
    [ "$q" = per-call ] && how=(--query getfeatures --per-call)
    [ "$q" = predict-per-call ] && how=(--query predict --per-call)
    features_snap "freshness-$q-before" "$pid" "$admin" || failed=1
    ig_load freshness --url "$url" "${how[@]}" --trials "$trials" --warmup-trials 50 --events "$events" --max-duration 120s \
      --quiet --json "$results/features-freshness-$q.json" > "$results/features-freshness-$q.log" 2>&1 || failed=1
    features_snap "freshness-$q-after" "$pid" "$admin" || failed=1
  done

  log "features: 4. ingest throughput, $rounds round(s)"
  for r in $(seq 1 "$rounds"); do
    features_run "ingest-r$r" "$pid" "$admin" run --target ingest --url "$url" --events "$events" --events-per-call 100 \
      --passes "$passes" --concurrency 4 --warmup 2s --duration "$long" || failed=1
  done

  # 5. Freshness again while another ig-load ingests as fast as it can (background, stopped when the probe is done;
  # its rate over the probe comes from the gateway's counter).
  log "features: 5. freshness while ingesting"
  record dotnet "$load_dll" run --target ingest --url "$url" --events "$events" --events-per-call 100 --concurrency 4 \
    --warmup 0s --duration 120s
  dotnet "$load_dll" run --target ingest --url "$url" --events "$events" --events-per-call 100 --concurrency 4 \
    --warmup 0s --duration 120s > "$results/features-freshness-busy-load.log" 2>&1 &
  local busy=$! i
  pids+=("$busy")
  # Until it sends at full speed: its payload takes seconds to build, then a second of sending.
  for i in $(seq 1 120); do
    [ "$(grep -c 'measure' "$results/features-freshness-busy-load.log" 2>/dev/null)" -ge 2 ] && break
    kill -0 "$busy" 2>/dev/null || break
    sleep 0.5
  done
  features_snap freshness-busy-before "$pid" "$admin" || failed=1
  ig_load freshness --url "$url" --query getfeatures --trials "$((trials / 4))" --warmup-trials 20 --events "$events" \
    --max-duration 100s --quiet --json "$results/features-freshness-busy.json" > "$results/features-freshness-busy.log" 2>&1 || failed=1
  features_snap freshness-busy-after "$pid" "$admin" || failed=1
  stop_pid "$busy"
  stop_pid "$pid"
  rm -rf "$data"
  tail -n +"$((first + 1))" "$commands" > "$results/features-commands.txt"
  if [ "$failed" = 0 ]; then note_status features ok; else note_status features "FAILED (see results/features-*.log)"; fi
}

[ "${REPORT_ONLY:-0}" = "1" ] || for s in $SCENARIOS; do
  case "$s" in
    ort) scenario_ort ;;
    batcher) scenario_batcher ;;
    codec) scenario_codec ;;
    transport) scenario_transport ;;
    batching) scenario_batching ;;
    # The prediction log (issue 23): its own script writes results/prediction-log/summary.md, appended to RESULTS.md below.
    plog) record bash perf/prediction-log-bench.sh
          mkdir -p "$results/prediction-log"; SKIP_BUILD=1 bash perf/prediction-log-bench.sh > "$results/prediction-log/run.log" 2>&1 || note_status plog "FAILED (see $results/prediction-log/run.log)" ;;
    features) scenario_features ;;
    # Experiments (issue 22): its own script writes results/experiments/ (a subfolder, kept by the clean-up above).
    experiments) record bash perf/experiments-bench.sh
          mkdir -p "$results/experiments"; SKIP_BUILD=1 bash perf/experiments-bench.sh > "$results/experiments/run.log" 2>&1 || note_status experiments "FAILED (see $results/experiments/run.log)" ;;
    *) note_status "$s" "unknown scenario (ort, batcher, codec, transport, batching, plog, features, experiments)" ;;
  esac
done

# --- unexpected failures ----------------------------------------------------------------------------------------
# Every load run of this suite expects every call to succeed: a figure measured while calls failed is not one. The
# load tool's reports (top-level JSON of this run) are checked here, and a run with non-OK or dropped calls fails the
# suite, named with its counts by status. (h2load counts HTTP 200 as success; its gRPC statuses are checked by the
# scenarios against the gateway's own counters.) Overload runs, which expect refusals, keep their files in results/overload/.
if [ "${REPORT_ONLY:-0}" != "1" ]; then
  bad="$("$PY" - "$results" <<'PY'
import glob, json, os, sys
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    try:
        doc = json.load(open(path))
    except (OSError, ValueError):
        continue
    for step in doc.get("steps", []) if isinstance(doc, dict) else []:
        if step.get("errors", 0) or step.get("dropped", 0):
            print(f"{os.path.basename(path)} {step.get('label', '')}: {step.get('errors', 0)} errors {step.get('errors_by_code', {})}, {step.get('dropped', 0)} dropped")
PY
)"
  if [ -n "$bad" ]; then
    note_status calls "FAILED: load runs with non-OK calls: $(tr '\n' ';' <<<"$bad")"
  fi
fi

# --- RESULTS.md -------------------------------------------------------------------------------------------------
# The machine and tool versions are those of the run: REPORT_ONLY takes them from run-info.env (a run-info.env from
# before they were recorded there leaves them unset, and they are read now).
if [ "${REPORT_ONLY:-0}" != "1" ] || [ -z "${machine_kernel:-}" ]; then
  machine_cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  machine_cores="$(nproc)"
  machine_mem="$(free -h | awk '/^Mem:/ {print $2}')"
  machine_kernel="$(uname -sr)"
  dotnet_version="$(dotnet --version 2>/dev/null || echo unknown)"
  h2load_version="$("$H2LOAD" --version 2>/dev/null | head -n 1 || echo unknown)"
fi
if [ "${REPORT_ONLY:-0}" != "1" ]; then
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  elapsed="$SECONDS"
  for v in started_utc commit elapsed SCENARIOS QUICK machine_cpu machine_cores machine_mem machine_kernel dotnet_version h2load_version; do
    printf '%s=%q\n' "$v" "${!v}"
  done > "$results/run-info.env"
fi

export RS_RESULTS="$results" RS_STARTED="$started_utc" RS_CPU="$machine_cpu" RS_CORES="$machine_cores" RS_MEM="$machine_mem" \
  RS_KERNEL="$machine_kernel" RS_DOTNET="$dotnet_version" RS_H2LOAD="$h2load_version" RS_COMMIT="$commit" \
  RS_ELAPSED="$elapsed" RS_QUICK="$QUICK" RS_SCENARIOS="$SCENARIOS" RS_H2DUR="$h2_dur" RS_H2WARM="$h2_warm" RS_ROUNDS="$rounds" RS_SAT_ROUNDS="$sat_rounds" RS_SAT_WARM="$sat_warm" RS_LONG="$long" RS_SWEEP="$sweep_step"
"$PY" - <<'PYEOF'
import json, os, re

R = os.environ["RS_RESULTS"]

def load(name):
    p = os.path.join(R, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)

def read(name):
    p = os.path.join(R, name)
    return open(p).read() if os.path.exists(p) else None

def h2load(name):
    text = read(name)
    if text is None:
        return None
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    r = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    lat = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text)
    if not m or not r:
        return {"error": "unparsed"}
    return {"rps": float(m.group(3)), "total": int(r.group(1)), "ok": int(r.group(3)), "failed": int(r.group(4)) + int(r.group(5)),
            "mean": lat.group(3) if lat else "?"}

def step(doc, i=0):
    return doc["steps"][i] if doc and doc.get("steps") else None

def fmt(x, nd=1):
    return "n/a" if x is None else f"{x:,.{nd}f}"

def ratio(a, b):
    return "n/a" if not a or not b else f"{a / b:.2f}x"

out = []
w = out.append
w("# Performance results")
w("")
w("<!-- Generated by perf/run-suite.sh (make bench). Edit the template in that script, not this file. -->")
w("")
mode = "QUICK (short runs: check the script, do not quote these numbers)" if os.environ["RS_QUICK"] == "1" else "full"
w(f"Run {os.environ['RS_STARTED']} at commit `{os.environ['RS_COMMIT']}`, mode {mode}, scenarios `{os.environ['RS_SCENARIOS']}`, "
  f"{os.environ['RS_ELAPSED']} s in all.")
w("")
w("## Machine")
w("")
w(f"- CPU: {os.environ['RS_CPU']}, {os.environ['RS_CORES']} cores (`nproc`)")
w(f"- Memory: {os.environ['RS_MEM']} (`free -h`)")
w(f"- Kernel: {os.environ['RS_KERNEL']}; .NET SDK {os.environ['RS_DOTNET']}; {os.environ['RS_H2LOAD']}")
w("")
w("Client and server share these cores, so absolute numbers understate a dedicated server; read the **ratios**, "
  "which compare runs made side by side in this one run. `client cpu` is the load tool's own CPU as a share of all "
  "cores: near 100 % would mean the client, not the server, was the limit.")
w("")

notes = read("notes.md")
if notes:
    w("## Notes on this run")
    w("")
    w(notes.strip())
    w("")

def bdn_section(title, intro, table, missing="_Not run or failed; see `perf/results/status.txt`._"):
    w(title)
    w("")
    if intro:
        w(intro)
        w("")
    md = read(table)
    w(md.strip() if md else missing)
    w("")

bdn_section("## (a) ONNX Runtime ceiling (BenchmarkDotNet, no gateway)", None, "ort-throughput.md",
            "_Not run or failed; see `perf/results/status.txt` and `ort-benchmark.log`._")
bdn_section("## (a2) Batcher overhead per request (BenchmarkDotNet, no-op runner, no sockets)",
            "Enqueue to completion through `DynamicBatcher` with a runner that does nothing, max queue delay 0. With 64 "
            "concurrent callers the figure is the batcher's own cost per request. With 1 caller and `RunOnCaller` False "
            "it is a full round trip through two thread hand-offs (caller -> instance thread -> caller), i.e. wake-up "
            "latency, not work; with `RunOnCaller` True (the default) the lone request finds the instance idle and runs "
            "on its caller.", "batcher-overhead.md")
bdn_section("## (a3) Protobuf codec per call (BenchmarkDotNet, no sockets)",
            "Parsing one ModelInferRequest from a byte sequence and writing one ModelInferResponse into a reused buffer "
            "writer: the protobuf share of a ModelInfer call. `ParseRequest` / `WriteResponse`: Google.Protobuf's generated "
            "code (what clients use; `WriteResponse` writes an already built message, so the objects a server would build "
            "per call are not counted). `ParseRequestPooled` / `WriteResponsePooled`: the server's hand-written codec "
            "(docs/grpc.md, \"ModelInfer wire codec\"): parse into a pooled call and give it back; write from pooled "
            "buffers.", "protobuf-codec.md")

import statistics

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

ROUNDS = int(os.environ["RS_ROUNDS"])
w("## (b) Transport: bare echo server vs gateway (ModelInfer on a trivial model, fraud v1, ServerLive)")
w("")
w("Four targets, same machine, same h2load settings (4 connections x 16 streams, "
  f"{os.environ['RS_H2DUR']} per run after a discarded warm-up of {os.environ['RS_H2WARM']} each), taking "
  f"turns in {ROUNDS} rounds with both servers up, so a slow spell of the shared machine hits every target:")
w("")
w("- **echo**: bare Kestrel (no gRPC library, no routing), answers every POST with a fixed 64-byte ModelInferResponse "
  "frame and `grpc-status: 0` after reading the body: the transport ceiling. Same request frame as the identity "
  "target (54 B).")
w("- **gateway ModelInfer, identity** (the criterion): the trivial model `identity` (one ONNX Identity node, FP32 "
  "[n,3], generated by `perf/models/identity.py` into a scratch repository): HTTP/2, gRPC framing, protobuf, "
  "validation, batcher (no delay), the ORT run, response, metrics.")
w("- **gateway ModelInfer, fraud v1**: the same path with the bundled 17-node fraud MLP "
  "(`--Gateway:Models:fraud:MaxQueueDelayMicroseconds=0`), request frame 51 B: a small real model, for reference.")
w("- **gateway ServerLive**: the same process answering `ServerLive` (empty messages): our gRPC layer on Kestrel "
  "with no model work, i.e. the transport alone.")
w("")
w("`server cpu/req` is the server process's user+system CPU over the run divided by the requests it answered "
  "(from `/proc/<pid>/stat`): unlike req/s it does not depend on how the shared cores were split with h2load. "
  "`server alloc/req` is the gateway's managed allocation over the run (its own "
  "`dotnet_gc_heap_total_allocated_bytes_total`, read before and after) divided by the same count; it includes "
  "Kestrel's own per-request objects and, spread over the run, the two metrics scrapes.")
w("")
cpu = {}
allocated = {}
text = read("transport-cpu.csv") or ""
for line in text.splitlines()[1:]:
    parts = line.split(",")
    if len(parts) in (3, 5):
        cpu[(int(parts[0]), parts[1])] = int(parts[2])
    if len(parts) == 5 and parts[3] and parts[4]:
        allocated[(int(parts[0]), parts[1])] = float(parts[4]) - float(parts[3])
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")
TARGETS = ("echo", "gateway-identity", "gateway-fraud", "gateway-live")
per = {t: [] for t in TARGETS}
cpu_us = {t: [] for t in TARGETS}
alloc_b = {t: [] for t in TARGETS}
w("| round | echo req/s | identity req/s | fraud v1 req/s | ServerLive req/s | identity / echo | fraud / echo | ServerLive / echo | failed |")
w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in range(1, ROUNDS + 1):
    got = {t: h2load(f"transport-h2load-{t}-r{r}.txt") for t in per}
    rps = {t: (g or {}).get("rps") for t, g in got.items()}
    for t in per:
        per[t].append(rps[t])
        g = got[t]
        if g and g.get("ok") and (r, t) in cpu:
            cpu_us[t].append(cpu[(r, t)] * TICK_US / g["ok"])
        if g and g.get("ok") and (r, t) in allocated:
            alloc_b[t].append(allocated[(r, t)] / g["ok"])
    failed = sum((g or {}).get("failed", 0) for g in got.values())
    w(f"| {r} | {fmt(rps['echo'])} | {fmt(rps['gateway-identity'])} | {fmt(rps['gateway-fraud'])} | {fmt(rps['gateway-live'])} | "
      f"{ratio(rps['gateway-identity'], rps['echo'])} | {ratio(rps['gateway-fraud'], rps['echo'])} | "
      f"{ratio(rps['gateway-live'], rps['echo'])} | {failed} |")
me, mi, mf, ml = (median(per[t]) for t in TARGETS)
w(f"| **median** | **{fmt(me)}** | **{fmt(mi)}** | **{fmt(mf)}** | **{fmt(ml)}** | **{ratio(mi, me)}** | **{ratio(mf, me)}** | **{ratio(ml, me)}** | |")
w("")
w("| target | server cpu/req (median) | server alloc/req (median) |")
w("|---|---:|---:|")
for label, t in (("echo", "echo"), ("gateway ModelInfer identity", "gateway-identity"),
                 ("gateway ModelInfer fraud v1", "gateway-fraud"), ("gateway ServerLive", "gateway-live")):
    bytes_per = f"{fmt(median(alloc_b[t]), 0)} B" if alloc_b[t] else "-"
    w(f"| {label} | {fmt(median(cpu_us[t]), 1)} us | {bytes_per} |")
w("")
w(f"**gateway ModelInfer (trivial model) / echo throughput (h2load, median of rounds): {ratio(mi, me)}**; "
  f"fraud v1 / echo: {ratio(mf, me)}; ServerLive / echo: {ratio(ml, me)}. h2load counts HTTP 200 as success; the "
  "ig-load rows below also check `grpc-status`.")
w("")
w("| ig-load (closed loop, 64 workers) | req/s | errors | p50 ms | p99 ms | p99.9 ms | client cpu % | client cpu us/request |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
rows = {}
for key, label in (("transport-echo-raw.json", "h2 client, raw frames -> echo server"),
                   ("transport-echo-raw-http.json", "HttpClient (SocketsHttpHandler), raw frames -> echo server"),
                   ("transport-gateway-raw.json", "h2 client, raw frames -> gateway (identity)"),
                   ("transport-gateway-kserve.json", "h2 client, kserve target -> gateway (identity)"),
                   ("transport-gateway-kserve-http.json", "our gRPC client library (HttpClient) -> gateway (identity)")):
    s = step(load(key))
    rows[key] = s
    if s:
        l = s["latency_ms"]
        per_request = s['client_cpu_pct'] / 100 * (os.cpu_count() or 1) * 1e6 / s['throughput_rps'] if s['throughput_rps'] else None
        w(f"| {label} | {fmt(s['throughput_rps'])} | {s['errors']} | {l['p50']:.3f} | {l['p99']:.3f} | {l['p999']:.3f} | "
          f"{s['client_cpu_pct']:.1f} | {fmt(per_request, 1)} |")
    else:
        w(f"| {label} | n/a | | | | | | |")
w("")
re_, rg = rows["transport-echo-raw.json"], rows["transport-gateway-raw.json"]
w(f"**gateway / echo throughput (ig-load raw, one run each): {ratio(rg and rg['throughput_rps'], re_ and re_['throughput_rps'])}**")
w("")

def metric_values(name):
    """Prometheus text -> {(metric name, model): value} for the bench_mlp batcher series."""
    text = read(name) or ""
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or 'model="bench_mlp"' not in line:
            continue
        key, _, value = line.rpartition(" ")
        values[key.split("{", 1)[0]] = float(value)
    return values

def batch_stats(v, r, prefix="batching"):
    before, after = metric_values(f"{prefix}-{v}-r{r}-before.txt"), metric_values(f"{prefix}-{v}-r{r}-after.txt")
    def delta(k):
        return after.get(k, 0.0) - before.get(k, 0.0)
    batches = delta("gateway_batcher_batch_size_count")
    if batches <= 0:
        return None
    return {"batch": delta("gateway_batcher_batch_size_sum") / batches,
            "compute_ms": 1000 * delta("gateway_batcher_compute_duration_seconds_sum") / batches}

def ort_rows_per_s(model, batch):
    text = read("ort-throughput.md") or ""
    for line in text.splitlines():
        cells = [c.strip().strip("*").strip() for c in line.split("|")]
        # cells[0] is the empty text before the first '|': Method, Model, BatchSize, ..., Rows/s is cells[9].
        if len(cells) > 10 and cells[2] == model and cells[3] == str(batch):
            try:
                return float(cells[9].replace(",", ""))
            except ValueError:
                return None
    return None

w("## (c) Dynamic batching on vs off (bench_mlp v1, closed loop 64 workers)")
w("")
w(f"Two gateways up side by side: defaults (dynamic batching per `models/bench_mlp/config.json`) and "
  f"`--Gateway:Models:bench_mlp:MaxBatchSize=1`; they take turns in {ROUNDS} rounds (which goes first alternates). "
  f"ig-load's own HTTP/2 gRPC client (`--client h2`, the default; a few microseconds of client CPU per request, see "
  f"section (b)), one row of `models/bench_mlp/1/test_data.json` per request, {os.environ['RS_LONG']} "
  "measured after 2 s of warm-up per run. `batch` and `ORT ms/batch` come from the gateway's own metrics over "
  "exactly that run.")
w("")
w("| round | batching | req/s | errors | p50 ms | p99 ms | p99.9 ms | batch | ORT ms/batch | client cpu % |")
w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
runs = {"on": [], "off": []}
for r in range(1, ROUNDS + 1):
    for v in ("on", "off"):
        s = step(load(f"batching-{v}-c64-r{r}.json"))
        b = batch_stats(v, r)
        runs[v].append((s, b))
        if s:
            l = s["latency_ms"]
            w(f"| {r} | {v} | {fmt(s['throughput_rps'])} | {s['errors']} | {l['p50']:.3f} | {l['p99']:.3f} | "
              f"{l['p999']:.3f} | {fmt(b and b['batch'])} | {fmt(b and b['compute_ms'], 2)} | {s['client_cpu_pct']:.1f} |")
        else:
            w(f"| {r} | {v} | n/a | | | | | | | |")
w("")
def med(v, f):
    return median([f(s, b) for s, b in runs[v] if s])
on_rps, off_rps = med("on", lambda s, b: s["throughput_rps"]), med("off", lambda s, b: s["throughput_rps"])
on_p99, off_p99 = med("on", lambda s, b: s["latency_ms"]["p99"]), med("off", lambda s, b: s["latency_ms"]["p99"])
per_round = [ratio(a[0]["throughput_rps"], b[0]["throughput_rps"]) for a, b in zip(runs["on"], runs["off"]) if a[0] and b[0]]
w(f"**throughput on / off (medians): {ratio(on_rps, off_rps)}** ({fmt(on_rps)} vs {fmt(off_rps)} req/s; per round: "
  f"{', '.join(per_round) or 'n/a'}); **p99 on / off (medians): {ratio(on_p99, off_p99)}** "
  f"({fmt(on_p99, 2)} vs {fmt(off_p99, 2)} ms).")
w("")
mb = med("on", lambda s, b: b and b["batch"])
mc = med("on", lambda s, b: b and b["compute_ms"])
if on_rps and mb:
    w(f"**64 ig-load workers vs the ONNX Runtime ceiling of section (a).** With batching on, the 64-worker runs formed batches of "
      f"{mb:.1f} rows (median of rounds). ORT alone (section a), at the batch sizes around it:")
    w("")
    w("| ORT batch size | ORT alone rows/s | ORT alone ms/batch | gateway rows/s | gateway / ORT |")
    w("|---:|---:|---:|---:|---:|")
    for b in (32, 64, 128):
        o = ort_rows_per_s("bench_mlp", b)
        w(f"| {b} | {fmt(o, 0)} | {fmt(o and 1000 * b / o, 2)} | {fmt(on_rps, 0)} | {ratio(on_rps, o)} |")
    w("")
    near = min((32, 64, 128), key=lambda b: abs(b - mb))
    o = ort_rows_per_s("bench_mlp", near)
    if o and mc:
        alone_ms = 1000 * mb / o
        w(f"Inside the gateway one batch of {mb:.1f} rows took {mc:.2f} ms of ORT time (median), against "
          f"{alone_ms:.2f} ms for ORT alone at the same rate per row as batch {near}: {mc / alone_ms:.2f}x. "
          "ORT's two intra-op threads share the two cores with Kestrel, the protobuf work and the load client, so "
          "they run slower than in the quiet in-process benchmark.")
        w("")
        busy = mc / 1000 * on_rps / mb
        w(f"**ORT was busy {100 * busy:.0f} % of the wall time** ({on_rps / mb:.0f} batches/s x {mc:.2f} ms). The rest "
          "is the turnaround between batches: with 64 closed-loop clients and one instance, a batch's responses go out "
          "and the next requests come in (HTTP/2, protobuf, the client's own work, all on the same two cores) while "
          "ORT waits. Gateway / ORT ~= busy share / per-batch slowdown.")
        w("")
w("### On vs off with h2load as the client")
w("")
w(f"The same two gateways driven by h2load (4 connections x 16 streams = 64 in flight, one pre-built ModelInfer frame "
  f"of one bench_mlp row, {os.environ['RS_LONG']} per run, {ROUNDS} rounds, order alternating): an independent client, as cheap on the shared "
  "cores as ig-load's own. 64 in flight do not "
  "saturate one instance (batches stay below 64 rows); the saturation figure is the next section's.")
w("")
w("| round | batching | req/s | failed | batch | ORT ms/batch |")
w("|---:|---|---:|---:|---:|---:|")
hruns = {"on": [], "off": []}
for r in range(1, ROUNDS + 1):
    for v in ("on", "off"):
        h = h2load(f"batching-h2load-{v}-r{r}.txt")
        b = batch_stats(v, r, prefix="batching-h2load")
        hruns[v].append((h, b))
        if h and "rps" in h:
            w(f"| {r} | {v} | {fmt(h['rps'])} | {h['failed']} | {fmt(b and b['batch'])} | {fmt(b and b['compute_ms'], 2)} |")
        else:
            w(f"| {r} | {v} | n/a | | | |")
w("")
hon = median([h["rps"] for h, b in hruns["on"] if h and "rps" in h])
hoff = median([h["rps"] for h, b in hruns["off"] if h and "rps" in h])
hb = median([b["batch"] for h, b in hruns["on"] if b])
hc = median([b["compute_ms"] for h, b in hruns["on"] if b])
w(f"Medians: on {fmt(hon)} req/s, off {fmt(hoff)} req/s: **on / off {ratio(hon, hoff)}** with h2load.")
w("")
if hon and hb:
    near = min((32, 64, 128), key=lambda b: abs(b - hb))
    o = ort_rows_per_s("bench_mlp", near)
    w(f"Gateway with h2load at 64 streams (median {fmt(hon, 0)} rows/s, batches of {hb:.1f} rows) / ORT alone at batch "
      f"{near} from section (a) ({fmt(o, 0)} rows/s): {ratio(hon, o)}.")
    if o and hc:
        busy = hc / 1000 * hon / hb
        w(f"ORT time per batch in the gateway {hc:.2f} ms vs {1000 * hb / o:.2f} ms alone at that rate per row "
          f"({hc / (1000 * hb / o):.2f}x); ORT busy {100 * busy:.0f} % of the wall time.")
    w("")

w("### Saturation vs ORT alone at the same batch size (side by side)")
w("")
SAT_ROUNDS = int(os.environ.get("RS_SAT_ROUNDS", ROUNDS))
w("Two more gateways with `--Gateway:Models:bench_mlp:MaxBatchSize=64`, each driven by h2load at 256 streams (4 "
  "connections x 64; one bench_mlp row per request), so the queue always holds more than a batch and every batch is "
  "64 rows: **1x2** is the model's own config (one execution instance, ORT's intra-op threads = cores = 2, the "
  "arrangement of the skeleton issue's ceiling); **2x1** adds `InstanceCount=2 IntraOpThreads=1` (two sessions of "
  "one thread each, no intra-op barrier). In each round, turns alternating, `ig-load ort` runs the same model file "
  "at batch 64 **in the same arrangement** in its own process (one session with 2 threads, or two sessions on two "
  "threads; inputs pre-allocated, back-to-back runs) while the gateways idle, so each ceiling is measured next to "
  f"its gateway figure. {os.environ['RS_LONG']} per run, {SAT_ROUNDS} rounds, after "
  f"{os.environ.get('RS_SAT_WARM', '?')} of discarded warm-up at saturation per gateway. A run with a "
  "failed request is not counted.")
w("")

def median_x(xs):
    """Median of per-round ratios as '0.65', or 'n/a'."""
    return fmt(median(xs), 2) if xs else "n/a"

def rounds_x(xs):
    """Per-round ratios as '0.63x, 0.71x', or 'n/a'."""
    return ", ".join(f"{x:.2f}x" for x in xs) or "n/a"

w("| round | arrangement | ORT alone rows/s | ORT alone ms/run | gateway req/s | batch | gateway ORT ms/batch | ORT busy | gateway / ORT alone |")
w("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
sat = {a: {"ratio": [], "ort": [], "gw": []} for a in ("1x2", "2x1")}
for r in range(1, SAT_ROUNDS + 1):
    for a in ("1x2", "2x1"):
        o = load(f"saturation-ort-{a}-r{r}.json")
        h = h2load(f"saturation-{a}-r{r}.txt")
        b = batch_stats(a, r, prefix="saturation")
        rps = h.get("rps") if h and h.get("failed", 1) == 0 else None
        orps = o and o["rows_per_s"]
        instances = 2 if a == "2x1" else 1
        busy = b and rps and b["compute_ms"] / 1000 * rps / b["batch"] / instances
        sat[a]["ort"].append(orps)
        sat[a]["gw"].append(rps)
        if rps and orps:
            sat[a]["ratio"].append(rps / orps)
        w(f"| {r} | {a} | {fmt(orps, 0)} | {fmt(o and o['ms_per_run'], 2)} | {fmt(rps)} | {fmt(b and b['batch'])} | "
          f"{fmt(b and b['compute_ms'], 2)} | {'n/a' if not busy else f'{100 * busy:.0f} %'} | {ratio(rps, orps)} |")
w("")
for a in ("1x2", "2x1"):
    rs = sat[a]["ratio"]
    w(f"- **{a}: gateway at saturation / ORT alone at batch 64 = {median_x(rs)}x** (median of "
      f"the per-round ratios: {rounds_x(rs)}); medians ORT alone "
      f"{fmt(median(sat[a]['ort']), 0)} rows/s, gateway {fmt(median(sat[a]['gw']), 0)} req/s.")
w("")
w("ORT busy is the share of wall time each instance spent inside ORT (from the gateway's compute-time metric): near "
  "100 % means ORT never waited for work, so the gap to ORT alone is ORT running slower per batch while Kestrel, "
  "protobuf and h2load take their share of the same two cores.")
w("")

# CPU per request (server, whole machine) of each saturation run, from saturation-cpu.csv and the h2load counts.
sat_cpu = {}
for line in (read("saturation-cpu.csv") or "").splitlines()[1:]:
    parts = line.split(",")
    if len(parts) == 4:
        sat_cpu[(int(parts[0]), parts[1])] = (int(parts[2]), int(parts[3]))

def sat_run(target, r):
    """(req/s, server us/req, machine us/req) of one saturation run; None where it failed or was not run."""
    h = h2load(f"saturation-{target}-r{r}.txt")
    if not h or h.get("error") or h.get("failed", 1) != 0 or not h.get("ok"):
        return None
    ticks = sat_cpu.get((r, target))
    if not ticks:
        return (h["rps"], None, None)
    return (h["rps"], ticks[0] * TICK_US / h["ok"], ticks[1] * TICK_US / h["ok"])

CORES = os.cpu_count() or 1
w("### What two shared cores allow at one row per request")
w("")
w("Any server pays per request for HTTP/2 and gRPC framing, and here h2load pays its share on the same two cores. "
  "In each round the bare echo server (section (b)) takes the same one-row bench_mlp frame at the same 256 streams; "
  "the CPU ticks of the whole machine over that run, per request, are the **network floor** (echo server + h2load + "
  "the kernel's loopback TCP). ORT alone needs "
  f"{CORES} cores / (its rows/s) of CPU per row. If a gateway cost no more than the echo server, shared the cores "
  "perfectly and ORT kept its speed alone, its throughput would be ORT's CPU per row / (that + the network floor) "
  "of ORT alone: the **bound** below. The gateway columns give its own CPU per request over its run (server) and "
  "the machine's.")
w("")
w("| round | echo req/s | echo server us/req | network floor us/req | arrangement | ORT us/row alone | bound | gateway / ORT alone | gateway server us/req | gateway machine us/req | gateway / bound |")
w("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
bound = {a: [] for a in ("1x2", "2x1")}
for r in range(1, SAT_ROUNDS + 1):
    e = sat_run("echo", r)
    for a in ("1x2", "2x1"):
        o = load(f"saturation-ort-{a}-r{r}.json")
        orps = o and o["rows_per_s"]
        ort_us = orps and CORES * 1e6 / orps
        floor = e and e[2]
        b = ort_us and floor and ort_us / (ort_us + floor)
        g = sat_run(a, r)
        measured = g and orps and g[0] / orps
        if b:
            bound[a].append(b)
        w(f"| {r} | {fmt(e and e[0])} | {fmt(e and e[1])} | {fmt(floor)} | {a} | {fmt(ort_us)} | "
          f"{fmt(b, 2) + 'x' if b else 'n/a'} | {fmt(measured, 2) + 'x' if measured else 'n/a'} | "
          f"{fmt(g and g[1])} | {fmt(g and g[2])} | {ratio(measured, b)} |")
w("")
for a in ("1x2", "2x1"):
    bs = bound[a]
    w(f"- **{a}: bound {median_x(bs)}x** (median; rounds {rounds_x(bs)}) against the measured "
      f"{median_x(sat[a]['ratio'])}x.")
w("")

w("### Saturation at 8 rows per request")
w("")
w("The same two gateways and the same ORT-alone runs, with h2load sending one pre-built ModelInfer of 8 bench_mlp "
  "rows per request at 64 streams (4 connections x 16: 512 rows in flight, eight batches of 64), as a service that "
  "scores several items per call does. The network cost per row is an eighth of the one-row runs'; batches are "
  "still 64 rows, packed from 8 requests. gateway rows/s = 8 x req/s.")
w("")
w("| round | arrangement | ORT alone rows/s | gateway req/s | gateway rows/s | gateway server us/row | gateway / ORT alone |")
w("|---:|---|---:|---:|---:|---:|---:|")
sat8 = {a: [] for a in ("1x2", "2x1")}
for r in range(1, SAT_ROUNDS + 1):
    for a in ("1x2", "2x1"):
        o = load(f"saturation-ort-{a}-r{r}.json")
        orps = o and o["rows_per_s"]
        g = sat_run(f"{a}-8rows", r)
        rows_s = g and 8 * g[0]
        if rows_s and orps:
            sat8[a].append(rows_s / orps)
        w(f"| {r} | {a} | {fmt(orps, 0)} | {fmt(g and g[0])} | {fmt(rows_s, 0)} | {fmt(g and g[1] and g[1] / 8)} | "
          f"{ratio(rows_s, orps)} |")
w("")
for a in ("1x2", "2x1"):
    rs = sat8[a]
    w(f"- **{a}, 8 rows per request: gateway / ORT alone at batch 64 = {median_x(rs)}x** "
      f"(median; rounds {rounds_x(rs)}).")
w("")

o1, o64 = ort_rows_per_s("bench_mlp", 1), ort_rows_per_s("bench_mlp", 64)
if o1 and o64:
    w(f"**How much batching can give here.** ORT alone runs bench_mlp at {fmt(o1, 0)} rows/s at batch 1 and "
      f"{fmt(o64, 0)} rows/s at batch 64 on this machine: {ratio(o64, o1)}. With batching off each request is one "
      "batch-1 run, whose two-thread GEMV is the most sensitive to sharing the cores with the network work.")
    w("")
w(f"Concurrency sweep ({os.environ['RS_SWEEP']} per step):")
w("")
w("| batching | workers | req/s | p50 ms | p99 ms | errors |")
w("|---|---:|---:|---:|---:|---:|")
for v in ("on", "off"):
    doc = load(f"batching-{v}.json")
    for s in (doc or {}).get("steps", []):
        l = s["latency_ms"]
        w(f"| {v} | {s['concurrency']} | {fmt(s['throughput_rps'])} | {l['p50']:.3f} | {l['p99']:.3f} | {s['errors']} |")
w("")
if os.path.exists(os.path.join(R, "batching-latency-throughput.svg")):
    w("![latency vs throughput, batching on vs off](results/batching-latency-throughput.svg)")
    w("")

# Measurements made by scripts of their own, each kept in a folder of results/ with its raw files and a summary.md
# naming its commit, date and commands. They are appended whether or not this run regenerated them (the folders
# survive the clean-up at the start), so RESULTS.md always carries every issue's side-by-side figures.
SECTIONS = [
    ("ab-builds", "issue 19, before/after the move to Grpc.AspNetCore and Microsoft.ML.OnnxRuntime: `perf/ab-builds.sh`"),
    ("ort-package", "issue 19, ONNX Runtime alone before/after: `perf/ort-package-ab.sh`"),
    ("latency-vs-concurrency", "issue 20: `perf/latency-vs-concurrency.sh`"),
    ("prediction-log", "issue 23: `perf/prediction-log-bench.sh`, scenario `plog`"),
    ("experiments", "issue 22: `perf/experiments-bench.sh`"),
    ("overload", "issue 25"),
    ("soak", "issue 25: `make soak`"),
    ("scale-out", "issue 24: `perf/scale-out-bench.sh`, `make scale-out-bench`"),
]
def demoted(text):
    lines, fenced = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        lines.append("#" + line if not fenced and line.startswith("#") else line)
    return "\n".join(lines)
for folder, origin in SECTIONS:
    text = read(os.path.join(folder, "summary.md"))
    if not text:
        continue
    title, _, body = text.partition("\n")
    w("## " + title.lstrip("# "))
    w("")
    w(f"*From `perf/results/{folder}/` ({origin}); the summary states its own run. Relative links point into that folder.*")
    w(demoted(body).replace("](", f"](results/{folder}/").replace(f"](results/{folder}/http", "](http"))

# --- Streaming features (issue 21): everything from features-* files, so REPORT_ONLY and partial runs render it. ---
def features_section():
    info = {}
    for line in (read("features-info.env") or "").splitlines():
        k, _, v = line.partition("=")
        info[k] = v.strip("'\"")
    w("## Streaming features (issue 21): ingest, lookup and assembly, the price of enrichment, freshness, state")
    w("")
    if not info:
        w("_Not run (scenario `features`); see `perf/results/status.txt`._")
        w("")
        return
    quick = " **QUICK run: check the script, do not quote these numbers.**" if info.get("features_quick") == "1" else ""
    w(f"Scenario `features`, started {info.get('features_started', '?')} at commit `{info.get('features_commit', '?')}`: "
      f"{info.get('features_rounds', '?')} round(s) of {info.get('features_long', '?')} per gateway run, "
      f"{info.get('features_trials', '?')} freshness trials per variant.{quick} One gateway (bundled models and "
      "`features/`, an empty feature state in a scratch data directory, the prediction log off: "
      "`--Gateway:PredictionLog:Sink=None`, its cost is the prediction log section's) on 127.0.0.1, ig-load's own HTTP/2 client "
      "(`--client h2`); every gateway run is bracketed by a `/metrics` scrape and the gateway's CPU ticks, so calls, "
      "events, server CPU and allocations below are the gateway's own counters over exactly that run (warm-up "
      "included), and client-side rates come from ig-load over its measured window.")
    w("")

    def metrics(name):
        """Prometheus text of one scrape -> {sample key: value}."""
        values = {}
        for line in (read(f"features-{name}.txt") or "").splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                try:
                    values[key] = float(value)
                except ValueError:
                    pass
        return values

    def sample(values, name, **labels):
        total = None
        for key, value in values.items():
            base, _, rest = key.partition("{")
            if base == name and all(f'{k}="{v}"' in rest for k, v in labels.items()):
                total = (total or 0) + value
        return total

    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    ticks = {}
    for line in (read("features-cpu.csv") or "").splitlines()[1:]:
        parts = line.split(",")
        if len(parts) == 3:
            ticks[parts[0]] = (int(parts[1]), float(parts[2]))

    def run_delta(name, metric, **labels):
        a, b = sample(metrics(f"{name}-before"), metric, **labels), sample(metrics(f"{name}-after"), metric, **labels)
        return None if a is None and b is None else (b or 0) - (a or 0)

    def server(name, metric, **labels):
        """(calls or events over the run, server CPU us each, allocated B each, wall s) from the gateway's counters."""
        n = run_delta(name, metric, **labels)
        t0, t1 = ticks.get(f"{name}-before"), ticks.get(f"{name}-after")
        if not n or not t0 or not t1:
            return None
        alloc = run_delta(name, "dotnet_gc_heap_total_allocated_bytes_total")
        return {"n": n, "cpu_us": (t1[0] - t0[0]) * tick_us / n, "alloc": alloc / n if alloc is not None else None,
                "wall": t1[1] - t0[1]}

    def bdn_rows(table):
        """Rows of a BenchmarkDotNet GitHub table as dicts (bold markers stripped)."""
        lines = [l for l in (read(table) or "").splitlines() if l.startswith("|")]
        if len(lines) < 3:
            return []
        head = [c.strip() for c in lines[0].strip("|").split("|")]
        rows = []
        for l in lines[2:]:
            cells = [c.strip().replace("**", "") for c in l.strip("|").split("|")]
            rows.append(dict(zip(head, cells)))
        return rows

    def us(text):
        m = re.match(r"([\d,.]+)\s*(ns|us|μs|µs|ms|s)$", (text or "").strip())
        if not m:
            return None
        scale = {"ns": 1e-3, "us": 1, "μs": 1, "µs": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
        return float(m.group(1).replace(",", "")) * scale

    ROUNDS_F = int(info.get("features_rounds") or 1)
    CALLS = {"kserve": ("gateway_grpc_server_calls_total", {"method": "/inference.GRPCInferenceService/ModelInfer", "status": "OK"}),
             "predict": ("gateway_grpc_server_calls_total", {"method": "/gateway.v1.Gateway/Predict", "status": "OK"})}
    EVENTS = ("gateway_features_events_ingested_total", {"stream": "transactions"})

    # In process.
    ingest_bdn = {r.get("State"): r for r in bdn_rows("features-ingest.md")}
    assembly_bdn = {r.get("Model"): r for r in bdn_rows("features-assembly.md")}
    log_text = read("features-benchmark.log") or ""
    pct = {}
    for m in re.finditer(r"// (fraud_v\d) single-call latency over ([\d,]+) calls.*?: p50 ([\d.]+) p90 ([\d.]+) p99 ([\d.]+) p99\.9 ([\d.]+) max ([\d.]+)", log_text):
        pct[m.group(1)] = {"calls": m.group(2), "p50": float(m.group(3)), "p90": float(m.group(4)), "p99": float(m.group(5)),
                           "p999": float(m.group(6)), "max": float(m.group(7))}
    state_line = re.search(r"// state: (\d+) cards, (\d+) events, estimated (\d+) B \((\d+) B/card\), managed heap \+(-?\d+) B \((-?\d+) B/card\)", log_text)

    # Over gRPC.
    month = step(load("features-ingest-month.json"))
    month_after = metrics("ingest-month-after")
    state_bytes = sample(month_after, "gateway_features_state_bytes", stream="transactions")
    entities = sample(month_after, "gateway_features_entities", stream="transactions")
    month_events = run_delta("ingest-month", EVENTS[0], **EVENTS[1])
    per_card = state_bytes / entities if state_bytes and entities else None
    month_rows = re.search(r"\((\d+) rows", (load("features-ingest-month.json") or {}).get("target", ""))
    month_rows = int(month_rows.group(1)) if month_rows else None

    ingest_runs = []
    for r in range(1, ROUNDS_F + 1):
        s = step(load(f"features-ingest-r{r}.json"))
        sv = server(f"ingest-r{r}", EVENTS[0], **EVENTS[1])
        ingest_runs.append((r, s, sv))
    ing_eps = [s["events_per_s"] for _, s, _ in ingest_runs if s and s.get("events_per_s") and s["errors"] == 0]
    ing_cpu = [sv["cpu_us"] for _, s, sv in ingest_runs if sv]

    pk = {"kserve": [], "predict": []}
    for r in range(1, ROUNDS_F + 1):
        for t in ("kserve", "predict"):
            s = step(load(f"features-{t}-r{r}.json"))
            sv = server(f"{t}-r{r}", CALLS[t][0], **CALLS[t][1])
            lookup = None
            if t == "predict":
                ls, lc = run_delta(f"{t}-r{r}", "gateway_features_lookup_duration_seconds_sum"), run_delta(f"{t}-r{r}", "gateway_features_lookup_duration_seconds_count")
                lookup = 1e6 * ls / lc if ls is not None and lc else None
            pk[t].append((r, s, sv, lookup))
    ratios = [p[1]["throughput_rps"] / k[1]["throughput_rps"] for k, p in zip(pk["kserve"], pk["predict"])
              if k[1] and p[1] and k[1]["throughput_rps"] and k[1]["errors"] == 0 and p[1]["errors"] == 0]
    k_cpu = median([x[2]["cpu_us"] for x in pk["kserve"] if x[2]])
    p_cpu = median([x[2]["cpu_us"] for x in pk["predict"] if x[2]])
    lookups = [x[3] for x in pk["predict"] if x[3] is not None]

    fresh = {q: load(f"features-freshness-{q}.json") for q in ("getfeatures", "predict", "per-call", "predict-per-call", "busy")}

    def rng(xs, nd=1, unit=""):
        xs = [x for x in xs if x is not None]
        if not xs:
            return "n/a"
        if len(xs) == 1:
            return f"{xs[0]:,.{nd}f}{unit}"
        return f"{median(xs):,.{nd}f}{unit} (range {min(xs):,.{nd}f} to {max(xs):,.{nd}f})"

    def verdict(ok):
        return "n/a" if ok is None else ("met" if ok else "**not met**")

    # Summary.
    w("### Summary against the issue's aims")
    w("")
    w("| measure | figure | aim | |")
    w("|---|---|---|---|")
    ie = us((ingest_bdn.get("Empty") or {}).get("Mean"))
    iw = us((ingest_bdn.get("Warm") or {}).get("Mean"))
    in_proc = [1e6 / x for x in (ie, iw) if x]
    w(f"| ingest in process, one thread (BenchmarkDotNet `FeatureIngest`) | "
      + (f"{fmt(1e6 / ie, 0)} events/s (empty engine), {fmt(1e6 / iw, 0) if iw else 'n/a'} events/s (engine holding the month)" if ie else "n/a")
      + f" | 200,000 events/s per core | {verdict(min(in_proc) >= 200_000 if in_proc else None)} |")
    cpu_e = median(ing_cpu)
    w(f"| ingest over gRPC (ig-load ingest, 100 events per call, 4 calls in flight) | {rng(ing_eps, 0)} events/s; gateway CPU "
      f"{fmt(cpu_e, 2)} us per event = **{fmt(1e6 / cpu_e if cpu_e else None, 0)} events/s per core** | (none stated) | |")
    a2 = assembly_bdn.get("fraud_v2") or {}
    p2 = pct.get("fraud_v2")
    alloc2 = (a2.get("Allocated") or "").strip()
    zero = alloc2 in ("-", "0 B", "0")
    if alloc2 == "-":
        alloc2 = "0 B"
    w(f"| fraud v2 lookup + assembly in process (`FeatureAssembly`) | mean {a2.get('Mean', 'n/a')}, "
      + (f"p50 {p2['p50']:.2f} us, p99 **{p2['p99']:.2f} us**, p99.9 {p2['p999']:.2f} us" if p2 else "percentiles n/a")
      + f", allocated {alloc2 or 'n/a'} | p99 < 10 us, 0 B | {verdict((p2['p99'] < 10 and zero) if p2 and alloc2 else None)} |")
    mr = median(ratios)
    w(f"| Predict fraud v2 / ModelInfer fraud v2, throughput (same client, 16 in flight) | **{fmt(mr, 2)}x** "
      f"(rounds: {', '.join(f'{x:.2f}x' for x in ratios) or 'n/a'}) | >= 0.8x | {verdict(mr >= 0.8 if mr else None)} |")
    g = fresh.get("getfeatures")
    gv = g and g.get("send_to_visible_ms")
    bz = (fresh.get("busy") or {}).get("send_to_visible_ms")
    w(f"| freshness over gRPC, send -> visible (one stream, GetFeatures, gateway otherwise idle) | "
      + (f"p50 {gv['p50']:.3f} ms, **p99 {gv['p99']:.3f} ms**, max {gv['max']:.3f} ms over {gv['count']} trials "
         f"(a GetFeatures round trip alone in the same run: p99 {g['poll_round_trip_ms']['p99']:.3f} ms)" if gv else "n/a")
      + (f"; while the gateway ingests flat out: p50 {bz['p50']:.3f} ms, p99 {bz['p99']:.3f} ms" if bz else "")
      + f" | p99 < 5 ms | {verdict(gv['p99'] < 5 if gv else None)} |")
    pa = (fresh.get("predict-per-call") or {}).get("acknowledged_to_visible_ms")
    w(f"| freshness over gRPC, **ingest acknowledged -> visible in a Predict** (one IngestEvents call per event, then "
      f"Predict fraud v2 polls, gateway otherwise idle) | "
      + (f"p50 {pa['p50']:.3f} ms, **p99 {pa['p99']:.3f} ms**, max {pa['max']:.3f} ms over {pa['count']} trials" if pa else "n/a")
      + f" | p99 < 5 ms | {verdict(pa['p99'] < 5 if pa else None)} |")
    w(f"| state per active card after the bundled month (gateway's estimate) | "
      + (f"{per_card:,.0f} B per card ({entities:,.0f} cards, {state_bytes:,.0f} B); **1 million cards: {per_card * 1e6 / 1e9:.1f} GB**" if per_card else "n/a")
      + " | (extrapolate to 1M cards) | |")
    w("")

    w("### In process (BenchmarkDotNet, short job, one thread, no sockets)")
    w("")
    w("`FeatureIngest`: the bundled month (199,766 transactions, 2,000 cards) through `FeatureEngine.Ingest` in file "
      "order, per event; *Empty* into a fresh engine, *Warm* the next month into an engine holding the bundled one. "
      "`FeatureAssembly`: fraud v2 (8 features, 5 of them windowed) and v1 (3 request-time) assembled into a row, "
      "requests rotating over the month's last 4,096 transactions; its cleanup times 1,000,000 single calls one by one "
      "for the percentiles (BenchmarkDotNet gives means).")
    w("")
    for table in ("features-ingest.md", "features-assembly.md"):
        md = read(table)
        w(md.strip() if md else f"_`{table}` missing: not run or failed; see `perf/results/status.txt`._")
        w("")
    if pct:
        w("| model | single calls | p50 us | p90 us | p99 us | p99.9 us | max us |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for model, p in sorted(pct.items(), reverse=True):
            w(f"| {model} | {p['calls']} | {p['p50']:.2f} | {p['p90']:.2f} | {p['p99']:.2f} | {p['p999']:.2f} | {p['max']:.2f} |")
        w("")
        w("The p99.9 and the maxima are the shared machine preempting the thread (a timer interrupt or another process), "
          "not the engine.")
        w("")

    w("### Ingest over gRPC (ig-load `--target ingest`)")
    w("")
    w("Events are the bundled month, built once into IngestEvents calls of 100 events (one HTTP/2 request body of 100 "
      "gRPC frames each), event times rebased into the minute before the run so none is late or ahead; each call must "
      "come back with an IngestSummary accepting all 100 events or it counts as an error. events/s is ig-load's "
      "(calls/s x 100 over the measured window); *gateway CPU per event* is the gateway process's CPU over the whole "
      "run (warm-up included) divided by the events its own counter says it applied, so *events/s per core* = 1 / that "
      "is what one fully busy core would ingest over gRPC, whatever share of the two cores the client took. The rounds "
      f"run last, on a gateway already holding the month, and lay the month out {info.get('features_passes', '?')} times "
      "one after the other in event time (`--passes`), so each event is appended to its card's history as live "
      "traffic is, as long as a run sends no more than that many passes (*passes sent*); the single pass of the first "
      "row is cold (JIT, connections, empty state).")
    w("")
    w("| run | calls | errors | calls/s | events/s | p50 ms | p99 ms | gateway events | passes sent | gateway CPU us/event | events/s per core | gateway B/event | client cpu % |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, s, sv in [("month, one pass (c=2, cold)", month, server("ingest-month", EVENTS[0], **EVENTS[1]))] + \
            [(f"round {r} (c=4)", s, sv) for r, s, sv in ingest_runs]:
        if not s:
            w(f"| {label} | n/a | | | | | | | | | | | |")
            continue
        l = s["latency_ms"]
        sent = sv and month_rows and sv["n"] / month_rows
        w(f"| {label} | {s['ok']:,} | {s['errors']} | {fmt(s['throughput_rps'])} | {fmt(s.get('events_per_s'), 0)} | {l['p50']:.2f} | "
          f"{l['p99']:.2f} | {fmt(sv and sv['n'], 0)} | {fmt(sent, 1)} | {fmt(sv and sv['cpu_us'], 2)} | {fmt(sv and 1e6 / sv['cpu_us'], 0)} | "
          f"{fmt(sv and sv['alloc'], 0)} | {s['client_cpu_pct']:.1f} |")
    w("")
    if ing_eps and cpu_e:
        w(f"Over gRPC: **{rng(ing_eps, 0)} events/s** with client and gateway on the same two cores; the gateway spent "
          f"**{cpu_e:.2f} us of CPU per event** (median of rounds), i.e. **{1e6 / cpu_e:,.0f} events/s per core**"
          + (f", against {iw:.2f} us per event for the engine alone in process on a loaded engine (`FeatureIngest` Warm): "
             f"the other {cpu_e - iw:.2f} us ({cpu_e / iw:.1f}x in all) are HTTP/2, gRPC framing, Google.Protobuf parsing "
             "of each Event with its two maps (most of the allocation per event above), the IngestEvents loop and the "
             "GC." if iw and cpu_e > iw else "."))
        w("")

    w("### The price of enrichment: Predict fraud v2 vs ModelInfer fraud v2")
    w("")
    w("Same gateway, same ig-load h2 client, 16 calls in flight, closed loop, rounds interleaved (order alternating), "
      "after a discarded warm-up run of each. **ModelInfer** sends the 8 rows of `models/fraud/2/test_data.json`: the "
      "fraud v2 feature vectors precomputed. **Predict** sends one request per transaction of the bundled month "
      "(`--events`: `entity_id` = card, `features` amount and merchant_category, `attributes` merchant_id, event time "
      "now), so the gateway computes the 5 windowed features from each card's month of history (all of it inside every "
      "window, as the ingested times are rebased into the last minute) and the 3 request-time ones, into the same "
      "batcher. Server CPU and allocations per call are the gateway's over the whole run; *lookup* is the gateway's own "
      "`gateway.features.lookup_duration` mean over the Predict run (one assembly per call, on the loaded machine).")
    w("")
    w("| round | call | req/s | errors | p50 ms | p99 ms | server CPU us/call | server B/call | lookup us | Predict / ModelInfer |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (r, ks, ksv, _), (_, ps, psv, plk) in zip(pk["kserve"], pk["predict"]):
        for name, s, sv, lk in (("ModelInfer", ks, ksv, None), ("Predict", ps, psv, plk)):
            if not s:
                w(f"| {r} | {name} | n/a | | | | | | | |")
                continue
            l = s["latency_ms"]
            rt = ratio(ps and ps["throughput_rps"], ks and ks["throughput_rps"]) if name == "Predict" else ""
            w(f"| {r} | {name} | {fmt(s['throughput_rps'])} | {s['errors']} | {l['p50']:.3f} | {l['p99']:.3f} | "
              f"{fmt(sv and sv['cpu_us'], 1)} | {fmt(sv and sv['alloc'], 0)} | {fmt(lk, 2) if lk is not None else '-'} | {rt} |")
    w("")
    if mr:
        w(f"**Predict / ModelInfer throughput: {mr:.2f}x** (median of the per-round ratios; range "
          f"{min(ratios):.2f}x to {max(ratios):.2f}x). Server CPU per call, medians: ModelInfer {fmt(k_cpu, 1)} us, "
          f"Predict {fmt(p_cpu, 1)} us"
          + (f" (+{p_cpu - k_cpu:.1f} us, {p_cpu / k_cpu:.2f}x)" if k_cpu and p_cpu else "")
          + (f"; of that, lookup + assembly took {median(lookups):.2f} us per call (median of runs)" if lookups else "")
          + ". The rest of the difference is the domain request itself: Google.Protobuf parsing of a PredictRequest with "
            "two maps, against the server's pooled hand-written ModelInfer codec, and a generated UUIDv7 request id."
          + (f" A gateway whose cores served nothing but these calls would see throughput follow server CPU per call, "
             f"{k_cpu / p_cpu:.2f}x, against the {mr:.2f}x measured here with the client on the same two cores." if k_cpu and p_cpu else ""))
        w("")

    w("### Freshness over gRPC (`ig-load freshness`)")
    w("")
    w("Each trial sends one event for a card never seen before and then polls back to back, on a second HTTP/2 "
      "connection, until the card's `txn_count_10m` is no longer defaulted. IngestEvents acknowledges only when the "
      "client ends the call, while the gateway applies each event as soon as it reads it off the stream, so over a "
      "long-lived stream there is no per-event acknowledgement: **send -> visible** runs from just before the event is "
      "handed to the client library (Grpc.Net.Client) to the arrival of the first answer that shows it. It covers "
      "the client's write, loopback, the gateway reading and applying the event and the poll that finds it, and "
      "overstates send -> applied by up to one poll round trip (listed beside it). When the first poll already sees "
      "the event (last column) the event was applied before that poll reached the gateway. *per call*: one "
      "IngestEvents call per event, which times the acknowledgement too (it comes after the event is applied, so "
      "acknowledged -> visible is one poll: the issue's measure, *ingest acknowledged -> visible in a Predict*, is the "
      "acknowledged -> visible of *call per event, Predict*). A Predict poll also runs the model through fraud's batcher "
      "(under the default adaptive policy a lone request runs at once; `fixed_delay` would hold it up to "
      "`max_queue_delay_microseconds`, 1,000 in `models/fraud/config.json`). The first four runs find the gateway otherwise idle (they sit between "
      "the Predict rounds and the ingest rounds); the last runs while a second ig-load ingests the month over and over "
      "with 4 calls of 100 events in flight (its rate over the probe from the gateway's counter), so the event and the "
      "polls queue behind that work on the same two cores.")
    w("")
    w("| variant | trials | send -> visible p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | poll round trip p50 / p99 ms | first poll saw it |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    busy_events = run_delta("freshness-busy", EVENTS[0], **EVENTS[1])
    b0, b1 = ticks.get("freshness-busy-before"), ticks.get("freshness-busy-after")
    busy_rate = busy_events / (b1[1] - b0[1]) if busy_events and b0 and b1 and b1[1] > b0[1] else None
    busy_label = f"one stream, GetFeatures, while ingesting {busy_rate:,.0f} events/s" if busy_rate else "one stream, GetFeatures, while ingesting"
    for q, label in (("getfeatures", "one stream, GetFeatures"), ("predict", "one stream, Predict fraud v2"),
                     ("per-call", "call per event, GetFeatures"), ("predict-per-call", "call per event, Predict fraud v2"),
                     ("busy", busy_label)):
        d = fresh.get(q)
        if not d:
            w(f"| {label} | n/a | | | | | | | |")
            continue
        v, pr = d["send_to_visible_ms"], d["poll_round_trip_ms"]
        first_poll = 100.0 * d["visible_on_first_poll"] / d["visible"] if d["visible"] else 0
        bad = "" if d["not_visible"] == 0 and d["rejected"] == 0 and d["dropped_late"] == 0 else f" ({d['not_visible']} not visible, {d['rejected']} rejected, {d['dropped_late']} late)"
        w(f"| {label} | {d['visible']}{bad} | {v['p50']:.3f} | {v['p90']:.3f} | **{v['p99']:.3f}** | {v['p999']:.3f} | {v['max']:.3f} | "
          f"{pr['p50']:.3f} / {pr['p99']:.3f} | {first_poll:.1f} % |")
    for q, label in (("per-call", "GetFeatures"), ("predict-per-call", "Predict fraud v2")):
        d = fresh.get(q)
        if d and d.get("send_to_acknowledged_ms"):
            a, av = d["send_to_acknowledged_ms"], d["acknowledged_to_visible_ms"]
            w("")
            w(f"Call per event, {label}: send -> acknowledged p50 {a['p50']:.3f} ms, p99 {a['p99']:.3f} ms; **acknowledged -> "
              f"visible** p50 {av['p50']:.3f} ms, p99 **{av['p99']:.3f} ms**.")
    w("")

    w("### State per active card")
    w("")
    if per_card:
        extra = (f", the month's {month_rows:,} rows plus the first {month_events - month_rows:,.0f} again to fill the last call"
                 if month_rows and month_events and month_events > month_rows else "")
        w(f"After one pass of the bundled month over gRPC ({fmt(month_events, 0)} events applied{extra}), the gateway's own estimate (`gateway.features.state_bytes`, arrays "
          f"counted by capacity, each card's distinct merchant ids counted per card) is **{state_bytes:,.0f} B for "
          f"{entities:,.0f} cards = {per_card:,.0f} B per active card**, about 100 transactions each. Extrapolated "
          f"linearly: **{per_card * 1e6 / 1e9:.2f} GB for 1 million cards** with a month of history each (the cap "
          "`Gateway:Features:MaxStateBytes` is 1 GiB by default: raise it, or least recently used cards are evicted).")
    else:
        w("_No state figure: the month's ingest run is missing._")
    if state_line:
        cards, evs, est, est_card, heap, heap_card = (int(x) for x in state_line.groups())
        w("")
        w(f"In process (`FeatureAssembly`'s setup, the month with its real event times): estimated {est:,} B for {cards:,} "
          f"cards ({est_card:,} B per card), managed heap +{heap:,} B ({heap_card:,} B per card: merchant id strings "
          f"shared between cards count once there); 1 million cards: {est_card * 1e6 / 1e9:.2f} GB estimated, "
          f"{heap_card * 1e6 / 1e9:.2f} GB on the heap.")
    w("")
    notes = read("features-notes.md")  # written by hand after a run, like notes.md
    if notes:
        w("### Notes on this scenario's run")
        w("")
        w(notes.strip())
        w("")
    cmds = read("features-commands.txt")
    if cmds:
        w("Commands of this section (also in the list at the end of a full run):")
        w("")
        w("```")
        w(cmds.strip())
        w("```")
        w("")

features_section()

w("## Status")
w("")
w("```")
w((read("status.txt") or "").strip() or "(nothing recorded)")
w("```")
w("")
w("## Exact commands")
w("")
w("```")
w((read("commands.txt") or "").strip())
w("```")
w("")
with open("perf/RESULTS.md", "w") as f:
    f.write("\n".join(out))
PYEOF
log "wrote perf/RESULTS.md and $results/ in ${SECONDS}s"

if grep -q FAILED "$status"; then
  exit 1
fi
