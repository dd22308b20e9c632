#!/usr/bin/env bash
# Issue 20's measurements, side by side in one run: the adaptive batching policy against Triton's fixed delay.
#
#   single caller  one request at a time (ig-load, its own HTTP/2 client, concurrency 1): fraud v1 ModelInfer against
#                  ServerLive on the same gateway, bench_mlp ModelInfer against ORT's own batch-1 run in the gateway's
#                  arrangement (`ig-load ort --batch 1`, one session, intra-op threads as the gateway sets them), and
#                  that ORT run again with a one-caller ServerLive load beside it (the transport's share of the cores); and
#                  fraud v1 against ServerLive through python grpcio (perf/grpcio-single-caller.py), as issue 20 did;
#                  and `ig-load side-by-side --with-transport`: ORT's batch-1 runs, one caller's bench_mlp calls and
#                  "ServerLive, then ORT's run" in alternating quarter-second blocks (SIDE_BY_SIDE_GROUPS groups)
#   sweep          p50 / p99 / req/s at each of CONCURRENCY closed-loop callers, fraud v1 and bench_mlp, per policy
#   on/off         bench_mlp at 64 callers under the adaptive policy against batching off (MaxBatchSize=1)
#   idle           each gateway's CPU (and its batcher threads') over IDLE_SECONDS with no load, after a warm-up
#   overshoot      the fixed policy's wait overshoot (wait-overshoot, 1 ms delay) of this build, and of
#                  OVERSHOOT_BASELINE_COMMIT's (built from `git archive` in a temporary folder) when given
#
# Gateways: three on loopback, started once and kept for the run (an idle one costs nothing measurable): the bundled
# configuration with --Gateway:Models:<name>:BatchingPolicy=adaptive, the same with =fixed_delay (each model keeps
# its config.json max_queue_delay_microseconds: fraud 1000, bench_mlp 2000), and adaptive with bench_mlp batching off.
# The policies take turns at every step, the order alternating, so the shared machine's slow spells fall on both.
#
# Knobs (environment): CONCURRENCY (default 1,2,4,8,16,64), STEP (measured time per step, default 10s), WARMUP (per
# step, default 3s), SINGLE_STEP (single-caller steps, default 15s), ROUNDS (default 1), IDLE_SECONDS (default 20),
# SIDE_BY_SIDE_GROUPS (default 40, about 30 s),
# OVERSHOOT=0 skips the overshoot runs, OVERSHOOT_SAMPLES (default 2000), OVERSHOOT_BASELINE_COMMIT (e.g. d7e5ace),
# QUICK=1 (3s steps, 1s warm-ups, 300 overshoot samples: to check the script and get first numbers), SKIP_BUILD=1,
# OUT (default perf/results/latency-vs-concurrency). Writes OUT/summary.md, per-step JSON and CSV, one SVG per model,
# gateway logs. Every process started here is stopped on exit; every load run is bounded by its duration; load goes to
# 127.0.0.1 only. Full run with the defaults: about 12 minutes on 2 cores.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

QUICK="${QUICK:-0}"
if [ "$QUICK" = "1" ]; then
  STEP="${STEP:-3s}"; WARMUP="${WARMUP:-1s}"; SINGLE_STEP="${SINGLE_STEP:-4s}"; IDLE_SECONDS="${IDLE_SECONDS:-5}"
  OVERSHOOT_SAMPLES="${OVERSHOOT_SAMPLES:-300}"; gateway_warm=3s; SIDE_BY_SIDE_GROUPS="${SIDE_BY_SIDE_GROUPS:-6}"
else
  STEP="${STEP:-10s}"; WARMUP="${WARMUP:-3s}"; SINGLE_STEP="${SINGLE_STEP:-15s}"; IDLE_SECONDS="${IDLE_SECONDS:-20}"
  OVERSHOOT_SAMPLES="${OVERSHOOT_SAMPLES:-2000}"; gateway_warm=10s; SIDE_BY_SIDE_GROUPS="${SIDE_BY_SIDE_GROUPS:-40}"
fi
CONCURRENCY="${CONCURRENCY:-1,2,4,8,16,64}"
ROUNDS="${ROUNDS:-1}"
OVERSHOOT="${OVERSHOOT:-1}"
OVERSHOOT_BASELINE_COMMIT="${OVERSHOOT_BASELINE_COMMIT:-}"
OUT="${OUT:-perf/results/latency-vs-concurrency}"
CONFIG=Release
PY=/usr/bin/python3
server_dll="src/InferenceGateway.Server/bin/$CONFIG/net10.0/InferenceGateway.Server.dll"
load_dll="perf/InferenceGateway.LoadTest/bin/$CONFIG/net10.0/ig-load.dll"
bench_dll="perf/InferenceGateway.Benchmarks/bin/$CONFIG/net10.0/InferenceGateway.Benchmarks.dll"

mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.csv "$OUT"/*.svg "$OUT"/*.txt "$OUT"/*.log "$OUT"/*.md "$OUT"/*.bin
commands="$OUT/commands.txt"
: > "$commands"
SECONDS=0

# free_port, cpu_ticks, record, run, stop_started, stop_pid, start_gateway
# shellcheck source=perf/lib.sh
. "$root/perf/lib.sh"
GW_LOGS="$OUT"

log() { printf '[latency %4ds] %s\n' "$SECONDS" "$*" >&2; }

pids=()
scratch=""
cleanup() {
  stop_started
  if [ -n "$scratch" ]; then rm -rf "$scratch"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU ticks (USER_HZ) of process $1's threads whose name starts with "batcher".
batcher_ticks() {
  local total=0 t
  for t in /proc/"$1"/task/*; do
    if [[ "$(cat "$t/comm" 2>/dev/null)" == batcher* ]]; then
      total=$((total + $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)))
    fi
  done
  echo "$total"
}

ig_load() { run timeout 300 dotnet "$load_dll" "$@"; }

# --- build ----------------------------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != "1" ]; then
  log "building Release"
  run dotnet build src/InferenceGateway.Server/InferenceGateway.Server.csproj -c "$CONFIG" -nologo -v q
  run dotnet build perf/InferenceGateway.LoadTest/InferenceGateway.LoadTest.csproj -c "$CONFIG" -nologo -v q
  run dotnet build perf/InferenceGateway.Benchmarks/InferenceGateway.Benchmarks.csproj -c "$CONFIG" -nologo -v q
fi

# --- gateways -------------------------------------------------------------------------------------------------
declare -A url admin pid
start_gateway adaptive --Gateway:Models:fraud:BatchingPolicy=adaptive --Gateway:Models:bench_mlp:BatchingPolicy=adaptive
url[adaptive]="http://127.0.0.1:$GW_PORT"; admin[adaptive]="$GW_ADMIN"; pid[adaptive]="$GW_PID"
start_gateway fixed --Gateway:Models:fraud:BatchingPolicy=fixed_delay --Gateway:Models:bench_mlp:BatchingPolicy=fixed_delay
url[fixed]="http://127.0.0.1:$GW_PORT"; admin[fixed]="$GW_ADMIN"; pid[fixed]="$GW_PID"
start_gateway off --Gateway:Models:bench_mlp:MaxBatchSize=1
url[off]="http://127.0.0.1:$GW_PORT"; admin[off]="$GW_ADMIN"; pid[off]="$GW_PID"

# --- warm-up under load (tiered JIT, pools, connections), discarded ------------------------------------------------
live="$OUT/server-live-payload.bin"
printf '\x00\x00\x00\x00\x00' > "$live" # ServerLive: an empty message, uncompressed.
live_path=/inference.GRPCInferenceService/ServerLive
bench_args=(--model bench_mlp --version 1)
fraud_args=(--model fraud --version 1)
fraud_frame="$OUT/fraud-v1-payload.bin"
grpcio=0
if "$PY" -c 'import grpc' 2> /dev/null && ig_load payload "${fraud_args[@]}" --out "$fraud_frame" > /dev/null; then grpcio=1; fi
log "warm-up"
for g in adaptive fixed off; do
  for m in fraud bench; do
    args=("${fraud_args[@]}"); [ "$m" = bench ] && args=("${bench_args[@]}")
    timeout 120 dotnet "$load_dll" run --target kserve --url "${url[$g]}" "${args[@]}" --concurrency 16 \
      --warmup 0s --duration "$gateway_warm" --quiet > /dev/null 2>&1 || log "warm-up $g $m failed"
  done
done
timeout 120 dotnet "$load_dll" run --target raw --url "${url[adaptive]}" --payload "$live" --path "$live_path" \
  --concurrency 1 --warmup 0s --duration 2s --quiet > /dev/null 2>&1 || true

# --- idle CPU: after the warm-up, nothing sent ---------------------------------------------------------------------
# The process figure includes the JIT tiering up the model repository's rescan (every 2 s), which fades over the
# first minutes; the batcher threads' own figure is the one issue 20 asks about.
log "idle CPU over ${IDLE_SECONDS}s"
sleep 2
declare -A idle0 idleb0
for g in adaptive fixed; do idle0[$g]="$(cpu_ticks "${pid[$g]}")"; idleb0[$g]="$(batcher_ticks "${pid[$g]}")"; done
sleep "$IDLE_SECONDS"
echo "gateway,seconds,process_ticks,batcher_ticks" > "$OUT/idle-cpu.csv"
for g in adaptive fixed; do
  printf '%s,%s,%s,%s\n' "$g" "$IDLE_SECONDS" "$(($(cpu_ticks "${pid[$g]}") - ${idle0[$g]}))" \
    "$(($(batcher_ticks "${pid[$g]}") - ${idleb0[$g]}))" >> "$OUT/idle-cpu.csv"
done

# batches ADMIN MODEL: "rows_sum batch_count" of the model's version 1 batcher so far (the gateway's own histogram).
batches() {
  curl -sf "http://127.0.0.1:$1/metrics" | awk -v m="$2" '
    index($0, "model=\"" m "\",version=\"1\"") && $1 ~ /^gateway_batcher_batch_size_sum/ { s = $2 }
    index($0, "model=\"" m "\",version=\"1\"") && $1 ~ /^gateway_batcher_batch_size_count/ { c = $2 }
    END { printf "%s %s\n", (s == "" ? 0 : s), (c == "" ? 0 : c) }'
}

# step GATEWAY MODEL CONCURRENCY DURATION NAME: one closed-loop step, its JSON and CSV under OUT, and in steps.csv the
# gateway's CPU ticks and the model's batches (rows, count) over it (warm-up included in both).
echo "name,server_ticks,rows,batches" > "$OUT/steps.csv"
step() {
  local g="$1" m="$2" c="$3" d="$4" name="$5" args model t0 t1 b0 b1
  if [ "$m" = live ]; then
    args=(--target raw --payload "$live" --path "$live_path"); model=none
  elif [ "$m" = fraud ]; then
    args=(--target kserve "${fraud_args[@]}"); model=fraud
  else
    args=(--target kserve "${bench_args[@]}"); model=bench_mlp
  fi
  b0="$(batches "${admin[$g]}" "$model")"; t0="$(cpu_ticks "${pid[$g]}")"
  ig_load run "${args[@]}" --url "${url[$g]}" --concurrency "$c" --warmup "$WARMUP" --duration "$d" \
    --label "$name" --quiet --json "$OUT/$name.json" --csv "$OUT/$name.csv" > /dev/null \
    || log "step $name failed"
  t1="$(cpu_ticks "${pid[$g]}")"; b1="$(batches "${admin[$g]}" "$model")"
  printf '%s,%s,%s,%s\n' "$name" "$((t1 - t0))" \
    "$(awk -v a="${b0% *}" -v b="${b1% *}" 'BEGIN { print b - a }')" \
    "$(awk -v a="${b0#* }" -v b="${b1#* }" 'BEGIN { print b - a }')" >> "$OUT/steps.csv"
}

for r in $(seq 1 "$ROUNDS"); do
  # --- single caller -----------------------------------------------------------------------------------------------
  log "round $r: single caller"
  if [ $((r % 2)) = 1 ]; then order="adaptive fixed"; else order="fixed adaptive"; fi
  step adaptive live 1 "$SINGLE_STEP" "single-live-r$r-a"
  for g in $order; do step "$g" fraud 1 "$SINGLE_STEP" "single-fraud-$g-r$r"; done
  step adaptive live 1 "$SINGLE_STEP" "single-live-r$r-b"
  for g in $order; do step "$g" bench 1 "$SINGLE_STEP" "single-bench-$g-r$r"; done
  ig_load ort --model-file models/bench_mlp/1/model.onnx --batch 1 --parallel 1 --intra-op-threads 0 \
    --warmup "$WARMUP" --duration "$SINGLE_STEP" --json "$OUT/single-ort-batch1-r$r.json" > /dev/null \
    || log "ort batch 1 failed"
  # The same ORT run with only the transport beside it: one caller's ServerLive on the adaptive gateway, over the same
  # seconds. ORT's two intra-op threads want both cores, and a one-caller ModelInfer needs the client and Kestrel on
  # them too; this is how much that alone slows ORT's own batch-1 run, the part of the gap no gateway code can close.
  run timeout 120 dotnet "$load_dll" run --target raw --url "${url[adaptive]}" --payload "$live" --path "$live_path" \
    --concurrency 1 --warmup 0s --duration "$(( ${SINGLE_STEP%s} + ${WARMUP%s} + 2 ))s" --quiet > /dev/null 2>&1 &
  beside=$!
  ig_load ort --model-file models/bench_mlp/1/model.onnx --batch 1 --parallel 1 --intra-op-threads 0 \
    --warmup "$WARMUP" --duration "$SINGLE_STEP" --json "$OUT/single-ort-beside-live-r$r.json" > /dev/null \
    || log "ort batch 1 beside ServerLive failed"
  wait "$beside" || true
  # The same comparison at the shortest time scale the two can share: ORT's runs and one caller's bench_mlp calls in
  # alternating quarter-second blocks, with blocks of "ServerLive, then ORT's run" (the least any server pays here).
  ig_load side-by-side --url "${url[adaptive]}" "${bench_args[@]}" --model-file models/bench_mlp/1/model.onnx \
    --pairs "$SIDE_BY_SIDE_GROUPS" --with-transport --json "$OUT/side-by-side-r$r.json" > /dev/null \
    || log "side-by-side failed"
  if [ "$grpcio" = 1 ]; then
    # The issue's own client: python grpcio, one call at a time (perf/grpcio-single-caller.py).
    secs="${SINGLE_STEP%s}"; warm="${WARMUP%s}"
    run timeout 120 "$PY" perf/grpcio-single-caller.py --target "${url[adaptive]#http://}" --method "$live_path" \
      --seconds "$secs" --warmup "$warm" --json "$OUT/grpcio-live-r$r.json" > /dev/null || log "grpcio live failed"
    for g in $order; do
      run timeout 120 "$PY" perf/grpcio-single-caller.py --target "${url[$g]#http://}" \
        --method /inference.GRPCInferenceService/ModelInfer --payload "$fraud_frame" --seconds "$secs" --warmup "$warm" \
        --json "$OUT/grpcio-fraud-$g-r$r.json" > /dev/null || log "grpcio fraud $g failed"
    done
  fi

  # --- sweep -------------------------------------------------------------------------------------------------------
  i=0
  for c in ${CONCURRENCY//,/ }; do
    for m in fraud bench; do
      if [ $(((i + r) % 2)) = 1 ]; then order="adaptive fixed"; else order="fixed adaptive"; fi
      i=$((i + 1))
      log "round $r: $m at $c callers ($order)"
      for g in $order; do step "$g" "$m" "$c" "$STEP" "sweep-$m-$g-c$c-r$r"; done
    done
  done

  # --- batching on / off at 64 callers, adaptive ----------------------------------------------------------------------
  log "round $r: bench_mlp batching on / off at 64 callers"
  if [ $((r % 2)) = 1 ]; then order="adaptive off"; else order="off adaptive"; fi
  for g in $order; do step "$g" bench 64 "$STEP" "onoff-$g-r$r"; done
done

for g in adaptive fixed off; do stop_pid "${pid[$g]}"; done

# --- overshoot of the fixed policy's wait --------------------------------------------------------------------------
if [ "$OVERSHOOT" = "1" ]; then
  baseline_dll=""
  if [ -n "$OVERSHOOT_BASELINE_COMMIT" ]; then
    # The baseline build: that commit's sources with this build's measurement command (it uses only public API).
    scratch="$(mktemp -d)"
    log "building the overshoot baseline at $OVERSHOOT_BASELINE_COMMIT in $scratch"
    git archive "$OVERSHOOT_BASELINE_COMMIT" | tar -x -C "$scratch"
    # An entry point with only this measurement: today's Program.cs names benchmarks the old tree does not have.
    printf '%s\n' 'namespace InferenceGateway.Benchmarks;' \
      'public static class Program' '{' \
      '    public static int Main(string[] args) => args.Length > 0 && args[0] == "wait-overshoot" ? Batching.WaitOvershoot.Run(args[1..]) : 2;' \
      '}' > "$scratch/perf/InferenceGateway.Benchmarks/Program.cs"
    cp perf/InferenceGateway.Benchmarks/Batching/WaitOvershoot.cs "$scratch/perf/InferenceGateway.Benchmarks/Batching/"
    record "git archive $OVERSHOOT_BASELINE_COMMIT | tar -x -C DIR; a Program.cs calling only WaitOvershoot.Run and perf/InferenceGateway.Benchmarks/Batching/WaitOvershoot.cs into DIR; dotnet build DIR/perf/InferenceGateway.Benchmarks -c Release"
    if (cd "$scratch" && timeout 600 dotnet build perf/InferenceGateway.Benchmarks -c "$CONFIG" -nologo -v q > "$root/$OUT/baseline-build.log" 2>&1); then
      baseline_dll="$scratch/perf/InferenceGateway.Benchmarks/bin/$CONFIG/net10.0/InferenceGateway.Benchmarks.dll"
    else
      log "baseline build failed; see $OUT/baseline-build.log"
    fi
  fi
  for r in $(seq 1 "$ROUNDS"); do
    for b in $(if [ $((r % 2)) = 1 ]; then echo before after; else echo after before; fi); do
      if [ "$b" = before ]; then dll="$baseline_dll"; else dll="$bench_dll"; fi
      [ -n "$dll" ] || continue
      log "round $r: wait-overshoot ($b)"
      run timeout 300 dotnet "$dll" wait-overshoot --delay-us 1000 --samples "$OVERSHOOT_SAMPLES" --idle-seconds 3 \
        > "$OUT/overshoot-$b-r$r.txt" 2>&1 || log "wait-overshoot ($b) failed"
    done
  done
fi

# --- plots and summary ------------------------------------------------------------------------------------------------
for m in fraud bench; do
  for g in adaptive fixed; do
    files=("$OUT"/sweep-$m-$g-c*-r1.csv)
    [ -f "${files[0]}" ] || continue
    # One CSV per policy, steps in concurrency order, for the plot.
    { head -n 1 "${files[0]}"; for c in ${CONCURRENCY//,/ }; do tail -n +2 "$OUT/sweep-$m-$g-c$c-r1.csv" 2>/dev/null || true; done; } \
      | sed "s/^sweep-$m-$g-c[0-9]*-r1,/$m-$g,/" > "$OUT/sweep-$m-$g.csv"
  done
  if [ -f "$OUT/sweep-$m-adaptive.csv" ] && [ -f "$OUT/sweep-$m-fixed.csv" ]; then
    title="fraud v1"; [ "$m" = bench ] && title="bench_mlp"
    ig_load plot --csv "$OUT/sweep-$m-adaptive.csv" --csv "$OUT/sweep-$m-fixed.csv" --out "$OUT/latency-$m.svg" \
      --title "$title: adaptive vs fixed delay (${CONCURRENCY} callers)" > /dev/null || log "plot $m failed"
  fi
done

export LV_OUT="$OUT" LV_CONC="$CONCURRENCY" LV_ROUNDS="$ROUNDS" LV_STEP="$STEP" LV_SINGLE="$SINGLE_STEP" LV_QUICK="$QUICK" \
  LV_IDLE="$IDLE_SECONDS" LV_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" LV_ELAPSED="$SECONDS" \
  LV_BASELINE="$OVERSHOOT_BASELINE_COMMIT"
"$PY" - <<'PYEOF'
import glob, json, os, re, statistics

O = os.environ["LV_OUT"]
rounds = int(os.environ["LV_ROUNDS"])
conc = [int(c) for c in os.environ["LV_CONC"].split(",")]

def load(name):
    p = os.path.join(O, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)

def step(name):
    d = load(name)
    return d["steps"][0] if d and d.get("steps") else None

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def f(x, nd=3):
    return "n/a" if x is None else f"{x:.{nd}f}"

def lat(s, key):
    return s["latency_ms"][key] if s and s.get("ok") else None

extra = {}
p = os.path.join(O, "steps.csv")
if os.path.exists(p):
    for line in open(p).read().splitlines()[1:]:
        name, ticks, rows, count = line.split(",")
        extra[name] = (int(ticks), float(rows), float(count))

def batch(name):
    e = extra.get(name)
    return e[1] / e[2] if e and e[2] else None

def cpu_us(name):
    # Server CPU per request: ticks over the step (warm-up included) / requests in the measured part, scaled by the
    # measured share of the step's time. A rough figure (10 ms ticks), for comparing the two policies.
    e, s = extra.get(name), step(name + ".json")
    if not e or not s or not s.get("ok") or not s.get("elapsed_s"):
        return None
    seconds = s["elapsed_s"] + s.get("warmup_s", 0)
    return e[0] * 10_000 / (s["ok"] * seconds / s["elapsed_s"])

out = []
w = out.append
w("# Adaptive batching against the fixed delay: latency against concurrency")
w("")
w(f"Generated by `perf/latency-vs-concurrency.sh` at {os.environ['LV_COMMIT']} in {os.environ['LV_ELAPSED']} s; "
  f"{rounds} round(s), {os.environ['LV_STEP']} per sweep step, {os.environ['LV_SINGLE']} per single-caller step"
  + (" (QUICK: to check the script, not for conclusions)" if os.environ["LV_QUICK"] == "1" else "") + ". "
  "Medians over rounds; latencies in ms; ig-load's own HTTP/2 client, closed loop, on the server's cores.")
w("")
w("## One caller, one request at a time")
w("")
live = med([lat(step(f"single-live-r{r}-{x}.json"), "p50") for r in range(1, rounds + 1) for x in "ab"])
rows = []
for g in ("adaptive", "fixed"):
    fr = med([lat(step(f"single-fraud-{g}-r{r}.json"), "p50") for r in range(1, rounds + 1)])
    be = med([lat(step(f"single-bench-{g}-r{r}.json"), "p50") for r in range(1, rounds + 1)])
    rows.append((g, fr, be))
ort = med([(load(f"single-ort-batch1-r{r}.json") or {}).get("ms_per_run") for r in range(1, rounds + 1)])
w("| | p50 | above the reference | issue 20's bound |")
w("|---|---:|---:|---:|")
w(f"| ServerLive (transport alone) | {f(live)} | | |")
for g, fr, be in rows:
    d = None if fr is None or live is None else fr - live
    w(f"| fraud v1 ModelInfer, {g} | {f(fr)} | {f(d)} over ServerLive | 0.200 |")
w(f"| ORT alone, bench_mlp batch 1 (`ig-load ort`, mean ms per run) | {f(ort)} | | |")
ort_beside = med([(load(f"single-ort-beside-live-r{r}.json") or {}).get("ms_per_run") for r in range(1, rounds + 1)])
if ort_beside is not None:
    w(f"| the same ORT run beside a one-caller ServerLive load on the gateway (the transport's share of the cores) | {f(ort_beside)} | "
      f"{f(None if ort is None else ort_beside - ort)} over ORT alone | |")
for g, fr, be in rows:
    d = None if be is None or ort is None else be - ort
    w(f"| bench_mlp ModelInfer, {g} | {f(be)} | {f(d)} over ORT | 0.200 |")
w("")
sbs = [x for x in (load(f"side-by-side-r{r}.json") for r in range(1, rounds + 1)) if x and "sequence" in x]
if sbs:
    def sm(side, key="p50_ms"):
        return med([x[side][key] for x in sbs])
    groups = sum(x.get("groups", x["pairs"]) for x in sbs)
    w("bench_mlp against ORT at the shortest time scale the two can share (`ig-load side-by-side --with-transport`): "
      "ORT's batch-1 runs in the load tool's process, one caller's ModelInfer calls on the adaptive gateway, and "
      "\"ServerLive, then ORT's run\" (a call that does no work, then the same ORT run), in quarter-second blocks taken "
      f"in turn, {groups} groups of the three; every run and call timed alone, the first 50 ms of each block not recorded.")
    w("")
    w("| | p50 | above ORT back to back |")
    w("|---|---:|---:|")
    o = sm("ort")
    w(f"| ORT alone, runs back to back | {f(o)} | |")
    w(f"| ServerLive call (in the sequence blocks) | {f(sm('transport'))} | |")
    w(f"| ORT's run right after a ServerLive call | {f(sm('ort_after_transport'))} | {f(sm('ort_after_transport') - o)} |")
    w(f"| ServerLive, then ORT's run: the least any server on these cores answers in | {f(sm('sequence'))} | {f(sm('sequence') - o)} |")
    w(f"| bench_mlp ModelInfer, adaptive | {f(sm('gateway'))} | {f(sm('gateway') - o)} |")
    w("")
    w(f"Per group of blocks, the gateway's p50 above ORT's: median {f(med([x['median_pair_difference_ms'] for x in sbs]))} ms "
      f"(quartiles {f(med([x['pair_difference_p25_ms'] for x in sbs]))} .. {f(med([x['pair_difference_p75_ms'] for x in sbs]))}); "
      f"above \"ServerLive, then ORT's run\": median {f(med([x['median_sequence_difference_ms'] for x in sbs]))} ms.")
    w("")
glive = med([(load(f"grpcio-live-r{r}.json") or {}).get("p50_ms") for r in range(1, rounds + 1)])
if glive is not None:
    w("The same through python grpcio (`perf/grpcio-single-caller.py`, Debian's python3-grpcio, bytes in and out):")
    w("")
    w("| | p50 | above ServerLive | issue 20's bound |")
    w("|---|---:|---:|---:|")
    w(f"| ServerLive | {f(glive)} | | |")
    for g in ("adaptive", "fixed"):
        gf = med([(load(f"grpcio-fraud-{g}-r{r}.json") or {}).get("p50_ms") for r in range(1, rounds + 1)])
        w(f"| fraud v1 ModelInfer, {g} | {f(gf)} | {f(None if gf is None else gf - glive)} | 0.200 |")
    w("")
w("## p50 / p99 against concurrency")
w("")
for m, title in (("fraud", "fraud v1"), ("bench", "bench_mlp")):
    w(f"### {title}")
    w("")
    w("| callers | adaptive p50 | fixed p50 | adaptive p99 | fixed p99 | adaptive req/s | fixed req/s | adaptive rows/batch | fixed rows/batch | adaptive server CPU us/req | fixed server CPU us/req |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in conc:
        vals = {}
        for g in ("adaptive", "fixed"):
            names = [f"sweep-{m}-{g}-c{c}-r{r}" for r in range(1, rounds + 1)]
            ss = [step(n + ".json") for n in names]
            vals[g] = (med([lat(s, "p50") for s in ss]), med([lat(s, "p99") for s in ss]),
                       med([s["throughput_rps"] if s else None for s in ss]),
                       med([batch(n) for n in names]), med([cpu_us(n) for n in names]))
        a, x = vals["adaptive"], vals["fixed"]
        w(f"| {c} | {f(a[0])} | {f(x[0])} | {f(a[1])} | {f(x[1])} | {f(a[2], 0)} | {f(x[2], 0)} | {f(a[3], 1)} | {f(x[3], 1)} | {f(a[4], 0)} | {f(x[4], 0)} |")
    w("")
    if os.path.exists(os.path.join(O, f"latency-{m}.svg")):
        w(f"Plot (latency against throughput, round 1): `latency-{m}.svg`.")
        w("")
w("## Batching on against off, bench_mlp, 64 callers, adaptive")
w("")
on = [step(f"onoff-adaptive-r{r}.json") for r in range(1, rounds + 1)]
off = [step(f"onoff-off-r{r}.json") for r in range(1, rounds + 1)]
ratios = [a["throughput_rps"] / b["throughput_rps"] for a, b in zip(on, off) if a and b and b["throughput_rps"]]
w(f"on {f(med([s['throughput_rps'] if s else None for s in on]), 0)} req/s, off {f(med([s['throughput_rps'] if s else None for s in off]), 0)} req/s: "
  f"{f(med(ratios), 2)}x (rounds: {', '.join(f'{x:.2f}x' for x in ratios) or 'n/a'}; issue 20 asks 3x or more)")
w("")
w("## Idle CPU (no requests, after the warm-up load)")
w("")
p = os.path.join(O, "idle-cpu.csv")
if os.path.exists(p):
    w("| gateway | process CPU, ms per s | batcher instance threads, ms per s |")
    w("|---|---:|---:|")
    for line in open(p).read().splitlines()[1:]:
        g, secs, proc, bat = line.split(",")
        w(f"| {g} | {int(proc) * 10 / float(secs):.2f} | {int(bat) * 10 / float(secs):.2f} |")
    w("")
w("## The fixed policy's wait overshoot (1 ms delay, `wait-overshoot`)")
w("")
any_overshoot = False
for b in ("before", "after"):
    for t in sorted(glob.glob(os.path.join(O, f"overshoot-{b}-r*.txt"))):
        text = open(t).read().strip().splitlines()
        first = next((l for l in text if l.startswith("wait-overshoot")), None)
        if first:
            any_overshoot = True
            label = f"before ({os.environ['LV_BASELINE']})" if b == "before" else "after (this build)"
            w(f"- {label}, {os.path.basename(t)}: {first[len('wait-overshoot '):]}")
if not any_overshoot:
    w("Not run (OVERSHOOT=0).")
w("")
w("Commands: `commands.txt`.")
open(os.path.join(O, "summary.md"), "w").write("\n".join(out) + "\n")
print("\n".join(out))
PYEOF
log "done: $OUT/summary.md"
