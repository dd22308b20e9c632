#!/usr/bin/env bash
# Issue 22's measurements, side by side in one run, on one gateway: Predict's primary latency (open loop, Poisson
# arrivals, at about half of the gateway's saturated throughput) under an experiment with no shadow, with a local shadow
# (fraud v2, which computes its own eight features; every request copied, and a quarter), and with a remote shadow that sleeps 200 ms per
# call (`InferenceGateway.Benchmarks sleepy-oip`, every request copied); the three take turns within each round, the
# order rotating, so the shared machine's slow spells fall on all of them. Then what the local shadow costs (saturated
# primary throughput with and without it, alternating), and routing's own cost per request (BenchmarkDotNet
# RoutingBenchmark, in process). The gateway runs with its defaults, so the prediction log (SQLite) records every
# primary and every shadow result, as it would in service.
#
# Knobs (environment): ROUNDS (default 3), STEP (measured seconds per step, default 15), WARMUP (per step, default 3),
# SAT_CONCURRENCY (closed-loop callers for saturation, default 32), RATE (skip the saturation step and use this rate),
# QUICK=1 (one round, 4 s steps: to check the script), SKIP_BUILD=1, SKIP_BDN=1, OUT (default perf/results).
# Writes everything under OUT/experiments/ (a subfolder: `make bench` clears perf/results/*.md and the like at its
# start): summary.md, per-step JSON, steps.csv, cost.csv, the gateway's log, commands.txt and BenchmarkDotNet's table. Every process started here
# is stopped on exit; every load run is bounded by its duration; load goes to 127.0.0.1 only.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# shellcheck source=perf/lib.sh
. "$root/perf/lib.sh"

QUICK="${QUICK:-0}"
if [ "$QUICK" = "1" ]; then ROUNDS="${ROUNDS:-1}"; STEP="${STEP:-4}"; WARMUP="${WARMUP:-1}"; else ROUNDS="${ROUNDS:-3}"; STEP="${STEP:-15}"; WARMUP="${WARMUP:-3}"; fi
SAT_CONCURRENCY="${SAT_CONCURRENCY:-32}"
OUT="${OUT:-perf/results}"
DIR="$OUT/experiments"
CONFIG=Release
PY=/usr/bin/python3
server_dll="src/InferenceGateway.Server/bin/$CONFIG/net10.0/InferenceGateway.Server.dll"
load_dll="perf/InferenceGateway.LoadTest/bin/$CONFIG/net10.0/ig-load.dll"
bench_dll="perf/InferenceGateway.Benchmarks/bin/$CONFIG/net10.0/InferenceGateway.Benchmarks.dll"
token="perf-experiments-admin-token-0123"
mkdir -p "$DIR"
rm -rf "$DIR"/*.json "$DIR"/*.log "$DIR"/*.txt "$DIR"/*.csv "$DIR"/*.md "$DIR"/BenchmarkDotNet.Artifacts
commands="$DIR/commands.txt"
: > "$commands"
SECONDS=0
log() { printf '[experiments %4ds] %s\n' "$SECONDS" "$*" >&2; }
record() { printf '%s\n' "$*" >> "$commands"; }

pids=()
data="$(mktemp -d)"
cleanup() {
  stop_started
  rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${SKIP_BUILD:-0}" != "1" ]; then
  log "building Release"
  record "dotnet build InferenceGateway.sln -c $CONFIG -nologo -v q"
  dotnet build InferenceGateway.sln -c "$CONFIG" -nologo -v q > "$DIR/build.log" 2>&1 || { tail -n 30 "$DIR/build.log" >&2; exit 1; }
fi

sleepy_port="$(free_port)"
record "dotnet $bench_dll sleepy-oip --port $sleepy_port --delay-ms 200"
dotnet "$bench_dll" sleepy-oip --port "$sleepy_port" --delay-ms 200 > "$DIR/sleepy-oip.log" 2>&1 &
pids+=($!)

gw_port="$(free_port)"; gw_admin="$(free_port)"
gw_args=("--Gateway:GrpcPort=$gw_port" "--Gateway:AdminPort=$gw_admin" "--Gateway:Admin:Token=$token" "--Gateway:DataDirectory=$data")
record "dotnet $server_dll ${gw_args[*]}"
dotnet "$server_dll" "${gw_args[@]}" > "$DIR/gateway.log" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")
for _ in $(seq 1 240); do
  curl -sf "http://127.0.0.1:$gw_admin/readyz" > /dev/null 2>&1 && break
  kill -0 "$gw_pid" 2>/dev/null || { log "gateway exited"; tail -n 20 "$DIR/gateway.log" >&2; exit 1; }
  sleep 0.5
done
log "gateway ready on 127.0.0.1:$gw_port (admin $gw_admin); sleepy remote on $sleepy_port"

arms='"arms": [{"name": "control", "version": "1", "weight": 1}], "sticky_key": "entity_id", "salt": "perf-22"'
declare -A experiment
experiment[none]="{$arms}"
experiment[local]="{$arms, \"shadows\": [{\"version\": \"2\", \"sample_rate\": 1.0}]}"
experiment[local25]="{$arms, \"shadows\": [{\"version\": \"2\", \"sample_rate\": 0.25}]}"
experiment[remote]="{$arms, \"shadows\": [{\"endpoint\": \"http://127.0.0.1:$sleepy_port\", \"model\": \"fraud\", \"version\": \"2\", \"sample_rate\": 1.0, \"timeout_ms\": 1000}]}"
put() {
  record "curl -X PUT -H 'Authorization: Bearer ...' http://127.0.0.1:$gw_admin/admin/experiments/fraud -d '${experiment[$1]}'"
  curl -sf -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    "http://127.0.0.1:$gw_admin/admin/experiments/fraud" -d "${experiment[$1]}" > /dev/null
}

predict=(--target predict --url "http://127.0.0.1:$gw_port" --model fraud --version "" --feature amount=42.5 --feature merchant_category=3 --entities 4096 --quiet)
ig_load() { record "dotnet $load_dll $*"; timeout 300 dotnet "$load_dll" "$@" > /dev/null; }

log "warm-up (every experiment once, closed loop)"
for phase in none local local25 remote; do
  put "$phase"
  ig_load run "${predict[@]}" --concurrency 16 --warmup 0s --duration "$((STEP / 2 + 2))s" || log "warm-up $phase failed"
done

put none
if [ -z "${RATE:-}" ]; then
  # Twice, a few seconds apart, and the lower figure: other work on the shared machine moves saturation a lot.
  log "saturation: $SAT_CONCURRENCY closed-loop callers, no shadow (twice)"
  ig_load run "${predict[@]}" --concurrency "$SAT_CONCURRENCY" --warmup "${WARMUP}s" --duration "${STEP}s" --json "$DIR/saturation.json"
  sleep 5
  ig_load run "${predict[@]}" --concurrency "$SAT_CONCURRENCY" --warmup "${WARMUP}s" --duration "${STEP}s" --json "$DIR/saturation-2.json"
  RATE="$("$PY" -c "import json; print(int(min(json.load(open(f))['steps'][0]['throughput_rps'] for f in ('$DIR/saturation.json', '$DIR/saturation-2.json')) / 2))")"
fi
log "open loop at $RATE req/s"

# metric NAME LABEL-FILTER: the sum of the gateway's samples of NAME whose labels contain the filter.
metric() { curl -sf "http://127.0.0.1:$gw_admin/metrics" | awk -v n="$1" -v f="$2" 'index($1, n "{") == 1 && index($0, f) { s += $2 } END { printf "%d\n", s }'; }
echo "name,phase,round,server_ticks,shadow_sent,shadow_dropped,shadow_failed" > "$DIR/steps.csv"
phases=(none local remote local25)
for r in $(seq 1 "$ROUNDS"); do
  for k in 0 1 2 3; do
    phase="${phases[$(((k + r - 1) % 4))]}"
    put "$phase"
    sleep 3 # the previous experiment's shadow copies drain (each within its 1 s deadline) before this one is measured
    name="step-$phase-r$r"
    s0="$(metric gateway_shadow_sent_total 'model="fraud"')"; d0="$(metric gateway_shadow_dropped_total 'model="fraud"')"; f0="$(metric gateway_shadow_failed_total 'model="fraud"')"
    t0="$(cpu_ticks "$gw_pid")"
    log "round $r: $phase"
    ig_load run "${predict[@]}" --mode open --rate "$RATE" --arrival poisson --warmup "${WARMUP}s" --duration "${STEP}s" --label "$name" --json "$DIR/$name.json" || log "step $name failed"
    t1="$(cpu_ticks "$gw_pid")"
    sleep 1.5 # shadow copies still in flight (at most the 1 s deadline) are counted with their step
    s1="$(metric gateway_shadow_sent_total 'model="fraud"')"; d1="$(metric gateway_shadow_dropped_total 'model="fraud"')"; f1="$(metric gateway_shadow_failed_total 'model="fraud"')"
    echo "$name,$phase,$r,$((t1 - t0)),$((s1 - s0)),$((d1 - d0)),$((f1 - f0))" >> "$DIR/steps.csv"
  done
done

# What a local shadow costs in compute: saturated primary throughput (closed loop) with no shadow and with every request
# copied to fraud v2, alternating (A/B, B/A) so that slow spells of the shared machine fall on both. CPU time per
# request does not show it on 2 shared cores (the gateway's spinning fills idle time, and other work takes the rest).
echo "name,phase,round,shadow_sent,shadow_dropped,shadow_failed" > "$DIR/cost.csv"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then order=(none local); else order=(local none); fi
  for phase in "${order[@]}"; do
    put "$phase"
    sleep 3
    name="cost-$phase-r$r"
    s0="$(metric gateway_shadow_sent_total 'model="fraud"')"; d0="$(metric gateway_shadow_dropped_total 'model="fraud"')"; f0="$(metric gateway_shadow_failed_total 'model="fraud"')"
    log "cost round $r: $phase (closed loop, $SAT_CONCURRENCY callers)"
    ig_load run "${predict[@]}" --concurrency "$SAT_CONCURRENCY" --warmup "${WARMUP}s" --duration "${STEP}s" --label "$name" --json "$DIR/$name.json" || log "step $name failed"
    sleep 1.5
    s1="$(metric gateway_shadow_sent_total 'model="fraud"')"; d1="$(metric gateway_shadow_dropped_total 'model="fraud"')"; f1="$(metric gateway_shadow_failed_total 'model="fraud"')"
    echo "$name,$phase,$r,$((s1 - s0)),$((d1 - d0)),$((f1 - f0))" >> "$DIR/cost.csv"
  done
done

if [ "${SKIP_BDN:-0}" != "1" ]; then
  log "BenchmarkDotNet RoutingBenchmark"
  record "dotnet $bench_dll --filter '*RoutingBenchmark*'   # its config: the default job, in process"
  (cd "$DIR" && timeout 600 dotnet "$root/$bench_dll" --filter '*RoutingBenchmark*' > routing-benchmark.log 2>&1) || log "RoutingBenchmark failed"
  # Keep BenchmarkDotNet's own table; its per-run log repeats routing-benchmark.log.
  cp "$DIR"/BenchmarkDotNet.Artifacts/results/*RoutingBenchmark-report-github.md "$DIR/routing-benchmark.md" 2>/dev/null || true
  rm -rf "$DIR/BenchmarkDotNet.Artifacts"
fi

export EX_DIR="$DIR" EX_OUT="$OUT" EX_SAT="$SAT_CONCURRENCY" EX_RATE="$RATE" EX_ROUNDS="$ROUNDS" EX_STEP="$STEP" EX_QUICK="$QUICK" EX_ELAPSED="$SECONDS" \
  EX_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" EX_CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
  EX_LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - <<'PYEOF'
import csv, json, os, re, statistics
D, O = os.environ["EX_DIR"], os.environ["EX_OUT"]
rows = list(csv.DictReader(open(os.path.join(D, "steps.csv"))))
def step(name):
    p = os.path.join(D, name + ".json")
    if not os.path.exists(p):
        return None
    s = json.load(open(p))["steps"]
    return s[0] if s else None
out = []
w = out.append
w("# Experiments: primary latency with and without shadows, routing overhead")
w("")
w(f"Generated by `perf/experiments-bench.sh` at {os.environ['EX_COMMIT']} in {os.environ['EX_ELAPSED']} s on {os.environ['EX_CPU']} "
  f"({os.cpu_count()} cores, shared; load average at the end {os.environ['EX_LOAD']})"
  + (" (QUICK: to check the script, not for conclusions)" if os.environ["EX_QUICK"] == "1" else "") + ".")
w("")
sats = [json.load(open(os.path.join(D, f)))["steps"][0] for f in ("saturation.json", "saturation-2.json") if os.path.exists(os.path.join(D, f))]
if sats:
    w(f"Saturation: {' and '.join('%.0f' % s['throughput_rps'] for s in sats)} req/s in two runs with 32 closed-loop callers, Predict fraud under the experiment without shadow; "
      f"the lower one halved. Measured steps: open loop, Poisson arrivals at {os.environ['EX_RATE']} req/s (about half), "
      f"{os.environ['EX_STEP']} s each after a warm-up, {os.environ['EX_ROUNDS']} round(s), the four experiments taking turns, the order rotating each round.")
w("")
w("| experiment | p50 ms (range) | p99 ms (range) | p99 vs no shadow | ok | errors | server CPU us/req | shadow copies sent / dropped / failed |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
def rng(values, nd=2):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    m = statistics.median(values)
    return f"{m:.{nd}f} ({min(values):.{nd}f}-{max(values):.{nd}f})"
base = None
desc = {"none": "no shadow", "local": "local shadow: fraud v2 (its own 8 features), every request",
        "local25": "local shadow: fraud v2, a quarter of requests (sample_rate 0.25)", "remote": "remote shadow sleeping 200 ms, every request (1 s deadline)"}
for phase in ("none", "remote", "local25", "local"):
    mine = [r for r in rows if r["phase"] == phase]
    steps = [step(r["name"]) for r in mine]
    p50 = [s["latency_ms"]["p50"] for s in steps if s]
    p99 = [s["latency_ms"]["p99"] for s in steps if s]
    ok = sum(s["ok"] for s in steps if s)
    err = sum(s["errors"] for s in steps if s)
    cpu = []
    for r, s in zip(mine, steps):
        if s and s["ok"]:
            seconds = s["elapsed_s"] + s.get("warmup_s", 0)
            cpu.append(int(r["server_ticks"]) * 10_000 / (s["requests"] * seconds / s["elapsed_s"]))
    sent = sum(int(r["shadow_sent"]) for r in mine); dropped = sum(int(r["shadow_dropped"]) for r in mine); failed = sum(int(r["shadow_failed"]) for r in mine)
    if phase == "none":
        base = statistics.median(p99) if p99 else None
    ratio = "" if phase == "none" or base is None or not p99 else f"{(statistics.median(p99) / base - 1) * 100:+.1f} %"
    w(f"| {desc[phase]} | {rng(p50, 3)} | {rng(p99, 3)} | {ratio} | {ok} | {err} | {rng(cpu, 0)} | {sent} / {dropped} / {failed} |")
w("")
# The medians of p99s above mix rounds; on this shared machine a round's no-shadow p99 itself moves 2x, so each
# experiment's p99 is also set against the no-shadow step of its own round (they run back to back).
none_p99 = {int(r["round"]): (step(r["name"]) or {}).get("latency_ms", {}).get("p99") for r in rows if r["phase"] == "none"}
for phase in ("remote", "local25", "local"):
    ratios = []
    for r in rows:
        s_ = step(r["name"]) if r["phase"] == phase else None
        base_ = none_p99.get(int(r["round"]))
        if s_ and base_:
            ratios.append(s_["latency_ms"]["p99"] / base_)
    if ratios:
        w(f"- {desc[phase]}: p99 over the same round's no-shadow p99, by round: {', '.join(f'{x:.2f}' for x in ratios)}; "
          f"median {statistics.median(ratios):.2f}x")
w("")
w("Server CPU per request is the gateway process's CPU time (10 ms ticks, warm-up included) over the requests sent in the step. "
  "On 2 shared cores it moves with the other work on the machine and with the gateway's own spinning, so it does not separate a "
  "local shadow's cost: that is measured as throughput in the next section. The remote shadow's lane runs 16 copies at a time, "
  "each 200 ms: about 80 a second; the rest are dropped at the full queue (counted) rather than queued, and a copy that waited in "
  "the queue close to its 1 s deadline (counted from queueing) fails it. The primary never waits for any of them.")
w("")
cost_path = os.path.join(D, "cost.csv")
if os.path.exists(cost_path):
    cost = list(csv.DictReader(open(cost_path)))
    w("## What a local shadow costs: saturated throughput with and without it")
    w("")
    w(f"Closed loop, {os.environ.get('EX_SAT', '32')} callers, {os.environ['EX_STEP']} s a step, no shadow and a local fraud v2 shadow of every request "
      "alternating (A/B then B/A). The primary throughput the shadow takes away is the compute it costs; its copies are counted "
      "(the lane drops what it cannot run).")
    w("")
    w("| experiment | primary req/s (range) | p99 ms (range) | shadow copies run / s | copies dropped |")
    w("|---|---:|---:|---:|---:|")
    tput = {}
    for phase in ("none", "local"):
        mine = [r for r in cost if r["phase"] == phase]
        steps = [step(r["name"]) for r in mine]
        t = [s["throughput_rps"] for s in steps if s]
        tput[phase] = statistics.median(t) if t else None
        p99 = [s["latency_ms"]["p99"] for s in steps if s]
        # The shadow counters span the warm-up, the measured seconds and the 1.5 s after them.
        secs = sum(s["elapsed_s"] + s.get("warmup_s", 0) + 1.5 for s in steps if s) or 1
        sent = sum(int(r["shadow_sent"]) for r in mine); dropped = sum(int(r["shadow_dropped"]) for r in mine)
        w(f"| {desc[phase]} | {rng(t, 0)} | {rng(p99, 3)} | {sent / secs:.0f} | {dropped} |")
    if tput.get("none") and tput.get("local"):
        w("")
        w(f"Ratio of medians, primary throughput with the local shadow over without: {tput['local'] / tput['none']:.3f}.")
    w("")
log = os.path.join(D, "routing-benchmark.log")
if os.path.exists(log):
    text = open(log).read()
    table = [l for l in text.splitlines() if l.startswith("|")]
    w("## Routing overhead per request (BenchmarkDotNet, in process)")
    w("")
    w("`RoutingBenchmark`: the experiment lookup, the sticky key and the arm, per request, over 4,096 distinct entity ids; "
      "`NoExperiment` is the lookup for a model without one (what every request pays).")
    w("")
    out.extend(table if table else ["(no table: see experiments/routing-benchmark.log)"])
    w("")
w("## Commands")
w("")
w("```")
out.extend(open(os.path.join(D, "commands.txt")).read().splitlines())
w("```")
open(os.path.join(D, "summary.md"), "w").write("\n".join(out) + "\n")
print("\n".join(out))
PYEOF
