#!/usr/bin/env bash
# Scenario runner behind `make bench`. Builds Release, starts the processes it needs on loopback, runs each
# comparison side by side in this one run, and writes perf/results/*.{json,csv,svg,txt,md} and perf/RESULTS.md.
#
#   (a) ort        raw ONNX Runtime ceiling: BenchmarkDotNet '*OrtThroughput*' (its markdown table is copied)
#   (a2) batcher, codec  BenchmarkDotNet micro-benchmarks: batcher overhead per request, protobuf codec per call
#   (b) transport  h2load and ig-load against the bare echo server vs the gateway's ModelInfer on fraud v1,
#                  with the same request frame -> gateway/echo ratio
#   (c) batching   gateway twice (dynamic batching on; MaxBatchSize=1), bench_mlp, closed loop 64 workers,
#                  plus a concurrency sweep 1,4,16,64 each -> throughput ratio, p99s, latency-vs-throughput SVG
#
# Knobs (environment): SCENARIOS="ort transport batching" runs a subset; QUICK=1 shortens every run (to check the
# script, not for numbers); SKIP_BUILD=1 uses existing Release binaries. Every process started here is stopped on
# exit; every load run is bounded by duration or count; load goes to 127.0.0.1 only. Full suite: ~10 min on 2 cores.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

SCENARIOS="${SCENARIOS:-ort batcher codec transport batching}"
QUICK="${QUICK:-0}"
CONFIG=Release
PY=/usr/bin/python3
H2LOAD="${H2LOAD:-/usr/bin/h2load}"
results="perf/results"
server_dll="src/InferenceGateway.Server/bin/$CONFIG/net10.0/InferenceGateway.Server.dll"
load_dll="perf/InferenceGateway.LoadTest/bin/$CONFIG/net10.0/ig-load.dll"

if [ "$QUICK" = "1" ]; then
  long=4s; sweep_step=2s; warm=1s; h2_n=4000; check_dur=3s; ort_timeout=240
else
  long=20s; sweep_step=8s; warm=3s; h2_n=20000; check_dur=10s; ort_timeout=420
fi

mkdir -p "$results"
rm -f "$results"/*.json "$results"/*.csv "$results"/*.svg "$results"/*.txt "$results"/*.md "$results"/*.log "$results"/*.bin
commands="$results/commands.txt"
status="$results/status.txt"
: > "$commands"
: > "$status"
started_utc="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
SECONDS=0

# --- process bookkeeping ------------------------------------------------------------------------------------
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[run-suite %4ds] %s\n' "$SECONDS" "$*" >&2; }

# Records a command line in commands.txt, quoted so it can be pasted into a shell (RESULTS.md lists them).
record() {
  local arg line=""
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then line+="$arg "; else line+="'${arg//\'/\'\\\'\'}' "; fi
  done
  printf '%s\n' "${line% }" >> "$commands"
}

# Runs a command after recording it.
run() {
  record "$@"
  "$@"
}

note_status() { printf '%s: %s\n' "$1" "$2" >> "$status"; log "$1: $2"; }

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.25
  done
  log "pid $pid ignored SIGTERM for 15 s; killing"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# start_gateway NAME [config overrides...]: sets GW_PID, GW_PORT; ready when /readyz answers 2xx.
start_gateway() {
  local name="$1"; shift
  GW_PORT="$(free_port)"
  GW_ADMIN="$(free_port)"
  local admin="$GW_ADMIN"
  if [ ! -f "$server_dll" ]; then
    log "gateway not built: $server_dll"
    return 1
  fi
  record dotnet "$server_dll" "--Gateway:GrpcPort=$GW_PORT" "--Gateway:AdminPort=$admin" "$@"
  dotnet "$server_dll" "--Gateway:GrpcPort=$GW_PORT" "--Gateway:AdminPort=$admin" "$@" > "$results/gateway-$name.log" 2>&1 &
  GW_PID=$!
  pids+=("$GW_PID")
  local i
  for i in $(seq 1 240); do
    if curl -sf "http://127.0.0.1:$admin/readyz" > /dev/null 2>&1; then
      log "gateway $name ready on 127.0.0.1:$GW_PORT (admin $admin) after ${i}x0.5 s"
      return 0
    fi
    if ! kill -0 "$GW_PID" 2>/dev/null; then
      log "gateway $name exited during start; see $results/gateway-$name.log"
      tail -n 20 "$results/gateway-$name.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  log "gateway $name not ready after 120 s"
  stop_pid "$GW_PID"
  return 1
}

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

# h2load with gRPC headers and prior-knowledge h2c (http:// URL); a short discarded warm-up run first.
h2load_grpc() {
  local out="$1" url="$2" payload="$3"
  "$H2LOAD" -n 2000 -c 4 -m 16 -d "$payload" -H 'content-type: application/grpc' -H 'te: trailers' "$url" > /dev/null 2>&1 || true
  run "$H2LOAD" -n "$h2_n" -c 4 -m 16 -d "$payload" -H 'content-type: application/grpc' -H 'te: trailers' "$url" > "$out" 2>&1
}

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
# bdn NAME FILTER: runs BenchmarkDotNet (short job) and copies its GitHub-markdown table to results/NAME.md.
bdn() {
  local name="$1" filter="$2" marker; marker="$(mktemp)"
  log "(a2) BenchmarkDotNet $filter (limit ${ort_timeout}s)"
  record dotnet run -c Release --project perf/InferenceGateway.Benchmarks -- --filter "$filter" --job short
  if ! timeout "$ort_timeout" dotnet run -c Release --project perf/InferenceGateway.Benchmarks -- --filter "$filter" --job short \
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
scenario_transport() {
  local payload="$results/fraud-v1-payload.bin" path="/inference.GRPCInferenceService/ModelInfer" failed=0
  ig_load payload --model fraud --version 1 --out "$payload" || { note_status transport "FAILED (payload)"; return 0; }

  log "(b) echo server"
  if start_echo; then
    h2load_grpc "$results/transport-h2load-echo.txt" "http://127.0.0.1:$ECHO_PORT$path" "$payload" || failed=1
    ig_load run --target raw --url "http://127.0.0.1:$ECHO_PORT" --payload "$payload" --path "$path" \
      --concurrency 64 --warmup "$warm" --duration "$check_dur" --label echo-raw --quiet \
      --json "$results/transport-echo-raw.json" --csv "$results/transport-echo-raw.csv" || failed=1
    stop_pid "$ECHO_PID"
  else
    failed=1
  fi

  log "(b) gateway ModelInfer fraud v1"
  # Transport comparison: the trivial model is served without a batching delay, so the figure is the cost of the
  # gateway's stack per call, not time spent waiting on purpose for batch company.
  if start_gateway transport --Gateway:Models:fraud:MaxQueueDelayMicroseconds=0; then
    h2load_grpc "$results/transport-h2load-gateway.txt" "http://127.0.0.1:$GW_PORT$path" "$payload" || failed=1
    # ig-load checks grpc-status (h2load only sees HTTP 200), and the kserve target adds our gRPC client library.
    ig_load run --target raw --url "http://127.0.0.1:$GW_PORT" --payload "$payload" --path "$path" \
      --concurrency 64 --warmup "$warm" --duration "$check_dur" --label gateway-raw --quiet \
      --json "$results/transport-gateway-raw.json" --csv "$results/transport-gateway-raw.csv" || failed=1
    ig_load run --target kserve --url "http://127.0.0.1:$GW_PORT" --model fraud --version 1 \
      --concurrency 64 --warmup "$warm" --duration "$check_dur" --label gateway-kserve --quiet \
      --json "$results/transport-gateway-kserve.json" --csv "$results/transport-gateway-kserve.csv" || failed=1
    stop_pid "$GW_PID"
  else
    failed=1
  fi
  if [ "$failed" = 0 ]; then note_status transport ok; else note_status transport "FAILED (see logs in results/)"; fi
}

# --- (c) batching on vs off -----------------------------------------------------------------------------------
scenario_batching() {
  local failed=0 variant
  for variant in on off; do
    local overrides=()
    [ "$variant" = off ] && overrides=(--Gateway:Models:bench_mlp:MaxBatchSize=1)
    log "(c) batching $variant"
    if ! start_gateway "batching-$variant" "${overrides[@]}"; then
      failed=1
      continue
    fi
    local url="http://127.0.0.1:$GW_PORT"
    ig_load run --target kserve --url "$url" --model bench_mlp --version 1 --concurrency 64 \
      --warmup "$warm" --duration "$long" --label "batching-$variant" --quiet \
      --json "$results/batching-$variant-c64.json" --csv "$results/batching-$variant-c64.csv" || failed=1
    # Batch sizes the saturated run formed, for the comparison with the ORT ceiling at the same batch size.
    curl -sf "http://127.0.0.1:$GW_ADMIN/metrics" > "$results/batching-$variant-c64-metrics.txt" || failed=1
    ig_load run --target kserve --url "$url" --model bench_mlp --version 1 --concurrency 1,4,16,64 \
      --warmup 2s --duration "$sweep_step" --label "batching-$variant" --quiet \
      --json "$results/batching-$variant.json" --csv "$results/batching-$variant.csv" || failed=1
    stop_pid "$GW_PID"
  done
  if [ -f "$results/batching-on.csv" ] && [ -f "$results/batching-off.csv" ]; then
    ig_load plot --csv "$results/batching-on.csv" --csv "$results/batching-off.csv" \
      --out "$results/batching-latency-throughput.svg" --title "bench_mlp: dynamic batching on vs off" || failed=1
  fi
  if [ "$failed" = 0 ]; then note_status batching ok; else note_status batching "FAILED (see logs in results/)"; fi
}

for s in $SCENARIOS; do
  case "$s" in
    ort) scenario_ort ;;
    batcher) scenario_batcher ;;
    codec) scenario_codec ;;
    transport) scenario_transport ;;
    batching) scenario_batching ;;
    *) note_status "$s" "unknown scenario (ort, batcher, codec, transport, batching)" ;;
  esac
done

# --- RESULTS.md -------------------------------------------------------------------------------------------------
machine_cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
machine_cores="$(nproc)"
machine_mem="$(free -h | awk '/^Mem:/ {print $2}')"
machine_kernel="$(uname -sr)"
dotnet_version="$(dotnet --version 2>/dev/null || echo unknown)"
h2load_version="$("$H2LOAD" --version 2>/dev/null | head -n 1 || echo unknown)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
elapsed="$SECONDS"

export RS_RESULTS="$results" RS_STARTED="$started_utc" RS_CPU="$machine_cpu" RS_CORES="$machine_cores" RS_MEM="$machine_mem" \
  RS_KERNEL="$machine_kernel" RS_DOTNET="$dotnet_version" RS_H2LOAD="$h2load_version" RS_COMMIT="$commit" \
  RS_ELAPSED="$elapsed" RS_QUICK="$QUICK" RS_SCENARIOS="$SCENARIOS" RS_H2N="$h2_n" RS_LONG="$long" RS_SWEEP="$sweep_step"
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

w("## (a) ONNX Runtime ceiling (BenchmarkDotNet, no gateway)")
w("")
md = read("ort-throughput.md")
w(md.strip() if md else "_Not run or failed; see `perf/results/status.txt` and `ort-benchmark.log`._")
w("")

w("## (a2) Batcher overhead per request (BenchmarkDotNet, no-op runner, no sockets)")
w("")
w("Enqueue to completion through `DynamicBatcher` with a runner that does nothing, max queue delay 0. With 64 "
  "concurrent callers the figure is the batcher's own cost per request; with 1 caller it is a full round trip "
  "through two thread handoffs (caller -> instance thread -> caller), i.e. wake-up latency, not work.")
w("")
md = read("batcher-overhead.md")
w(md.strip() if md else "_Not run or failed; see `perf/results/status.txt`._")
w("")

w("## (a3) Protobuf codec per call (BenchmarkDotNet, no sockets)")
w("")
w("Parsing one ModelInferRequest from a byte sequence and writing one ModelInferResponse into a reused buffer writer: "
  "the protobuf share of a ModelInfer call.")
w("")
md = read("protobuf-codec.md")
w(md.strip() if md else "_Not run or failed; see `perf/results/status.txt`._")
w("")

w("## (b) Transport: bare echo server vs gateway ModelInfer (fraud v1, same request frame)")
w("")
he, hg = h2load("transport-h2load-echo.txt"), h2load("transport-h2load-gateway.txt")
w("The gateway serves fraud v1 with `--Gateway:Models:fraud:MaxQueueDelayMicroseconds=0` here: the comparison is "
  "about the cost of the stack per call (HTTP/2, gRPC framing, protobuf, validation, batcher hand-off, ORT run of a "
  "tiny MLP, response), not about time spent waiting on purpose for batch company.")
w("")
w(f"h2load: {os.environ['RS_H2N']} requests, 4 connections x 16 streams; the echo server answers every POST with a "
  "fixed 64-byte ModelInferResponse frame and `grpc-status: 0` (bare Kestrel, no gRPC library): the transport ceiling.")
w("")
w("| source | target | req/s | ok | failed | mean latency |")
w("|---|---|---:|---:|---:|---:|")
for name, h in (("echo server", he), ("gateway", hg)):
    if h and "rps" in h:
        w(f"| h2load | {name} | {fmt(h['rps'])} | {h['ok']} | {h['failed']} | {h['mean']} |")
    else:
        w(f"| h2load | {name} | n/a | | | |")
w("")
w(f"**gateway / echo throughput (h2load): {ratio(hg and hg.get('rps'), he and he.get('rps'))}**. "
  "h2load counts HTTP 200 as success; the ig-load rows below also check `grpc-status`.")
w("")
w("| ig-load (closed loop, 64 workers) | req/s | errors | p50 ms | p99 ms | p99.9 ms | client cpu % |")
w("|---|---:|---:|---:|---:|---:|---:|")
rows = {}
for key, label in (("transport-echo-raw.json", "raw frames -> echo server"),
                   ("transport-gateway-raw.json", "raw frames -> gateway"),
                   ("transport-gateway-kserve.json", "our gRPC client -> gateway")):
    s = step(load(key))
    rows[key] = s
    if s:
        l = s["latency_ms"]
        w(f"| {label} | {fmt(s['throughput_rps'])} | {s['errors']} | {l['p50']:.3f} | {l['p99']:.3f} | {l['p999']:.3f} | {s['client_cpu_pct']:.1f} |")
    else:
        w(f"| {label} | n/a | | | | | |")
w("")
re_, rg = rows["transport-echo-raw.json"], rows["transport-gateway-raw.json"]
w(f"**gateway / echo throughput (ig-load raw): {ratio(rg and rg['throughput_rps'], re_ and re_['throughput_rps'])}**")
w("")

w("## (c) Dynamic batching on vs off (bench_mlp v1, closed loop 64 workers)")
w("")
w(f"Gateway started twice: defaults (dynamic batching per `models/bench_mlp/config.json`) and "
  f"`--Gateway:Models:bench_mlp:MaxBatchSize=1`. One row of `models/bench_mlp/1/test_data.json` per request; "
  f"{os.environ['RS_LONG']} measured after warm-up.")
w("")
w("| batching | req/s | errors | p50 ms | p99 ms | p99.9 ms | max ms | client cpu % |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
head = {}
for v in ("on", "off"):
    s = step(load(f"batching-{v}-c64.json"))
    head[v] = s
    if s:
        l = s["latency_ms"]
        w(f"| {v} | {fmt(s['throughput_rps'])} | {s['errors']} | {l['p50']:.3f} | {l['p99']:.3f} | {l['p999']:.3f} | {l['max']:.3f} | {s['client_cpu_pct']:.1f} |")
    else:
        w(f"| {v} | n/a | | | | | | |")
w("")
on, off = head["on"], head["off"]
w(f"**throughput on / off: {ratio(on and on['throughput_rps'], off and off['throughput_rps'])}**; "
  f"p99 on / off: {ratio(on and on['latency_ms']['p99'], off and off['latency_ms']['p99'])}")
w("")
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

def mean_batch(metrics_name, model):
    text = read(metrics_name) or ""
    total = count = None
    for line in text.splitlines():
        if line.startswith("gateway_batcher_batch_size_sum{") and f'model="{model}"' in line:
            total = float(line.rsplit(" ", 1)[1])
        if line.startswith("gateway_batcher_batch_size_count{") and f'model="{model}"' in line:
            count = float(line.rsplit(" ", 1)[1])
    return total / count if total and count else None

mb = mean_batch("batching-on-c64-metrics.txt", "bench_mlp")
if on and mb:
    w(f"**Gateway at saturation vs the ONNX Runtime ceiling.** With batching on, the 64-worker run formed batches of "
      f"{mb:.1f} rows on average (`gateway_batcher_batch_size`, including the warm-up). ORT alone (section a):")
    w("")
    w("| ORT batch size | ORT rows/s | gateway rows/s | gateway / ORT |")
    w("|---:|---:|---:|---:|")
    for b in (32, 64, 128):
        o = ort_rows_per_s("bench_mlp", b)
        w(f"| {b} | {fmt(o, 0)} | {fmt(on['throughput_rps'], 0)} | {ratio(on['throughput_rps'], o)} |")
    w("")
o1, o64 = ort_rows_per_s("bench_mlp", 1), ort_rows_per_s("bench_mlp", 64)
if o1 and o64:
    w(f"**How much batching can give here.** ORT alone runs bench_mlp at {fmt(o1, 0)} rows/s at batch 1 and "
      f"{fmt(o64, 0)} rows/s at batch 64 on this machine: {ratio(o64, o1)}. That is the most any batcher can add over "
      f"running requests one by one; the gateway's on/off ratio above is measured against it.")
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
