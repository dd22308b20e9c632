#!/usr/bin/env bash
# Issue 24's scale-out figures, side by side in one run, on this machine (a mock Kafka cluster and a Redis server on
# loopback, beside the gateways and the load):
#   1. the price of sharing: Predict (fraud v2, which reads the entity's streaming features) p50/p99 and throughput
#      against a gateway with the in-process feature store and against one with the Redis store (one MGET a request),
#      the two taking turns within each round (A/B, then B/A), same closed-loop client;
#   2. ingest through Kafka: IngestEvents events/s (closed loop, 100 events a call; the call is acknowledged once the
#      consumer group applied its events to Redis) into one replica (a consumer group of one) and into three replicas
#      (three ig-load processes, one a replica), with the gateways' and Redis's CPU per event; the in-process store's
#      ingest beside it for reference;
#   3. Predict from one replica to three: the same total closed-loop concurrency into one replica, or split over three
#      ig-load processes into three replicas (same consumer group), alternating; the sum of throughputs and the CPU
#      per request summed over the gateways, so growth on hosts with more cores can be projected;
#   4. send -> visible latency (ig-load freshness, one long-lived IngestEvents stream), in-process vs through Kafka.
# On 2 shared cores the gateways, Redis, the mock brokers and the load generators all compete for the same CPUs: the
# throughput figures are this machine's, the CPU-per-request figures are what carries over.
#
# Knobs (environment): ROUNDS (default 2), STEP (measured seconds per step, default 12), WARMUP (per step, default 3),
# CONCURRENCY (Predict closed-loop callers in total, default 16), INGEST_CONCURRENCY (IngestEvents callers in total,
# default 6), TRIALS (freshness trials, default 200), QUICK=1 (one round, 4 s steps: to check the script),
# SKIP_BUILD=1, OUT (default perf/results). Writes everything under OUT/scale-out/: summary.md, steps.csv, per-step
# JSON, the gateways', Redis's and the mock cluster's logs, commands.txt. Every process started here is stopped on
# exit; every load run is bounded by its duration; everything listens on 127.0.0.1 only.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# shellcheck source=perf/lib.sh
. "$root/perf/lib.sh"

QUICK="${QUICK:-0}"
if [ "$QUICK" = "1" ]; then ROUNDS="${ROUNDS:-1}"; STEP="${STEP:-4}"; WARMUP="${WARMUP:-1}"; TRIALS="${TRIALS:-50}"
else ROUNDS="${ROUNDS:-2}"; STEP="${STEP:-12}"; WARMUP="${WARMUP:-3}"; TRIALS="${TRIALS:-200}"; fi
CONCURRENCY="${CONCURRENCY:-16}"
INGEST_CONCURRENCY="${INGEST_CONCURRENCY:-6}"
OUT="${OUT:-perf/results}"
DIR="$OUT/scale-out"
CONFIG=Release
PY=/usr/bin/python3
REDIS="${REDIS:-/usr/bin/redis-server}"
server_dll="src/InferenceGateway.Server/bin/$CONFIG/net10.0/InferenceGateway.Server.dll"
load_dll="perf/InferenceGateway.LoadTest/bin/$CONFIG/net10.0/ig-load.dll"
mkdir -p "$DIR"
rm -rf "$DIR"/*.json "$DIR"/*.log "$DIR"/*.txt "$DIR"/*.csv "$DIR"/*.md
commands="$DIR/commands.txt"
: > "$commands"
GW_LOGS="$DIR"
SECONDS=0
log() { printf '[scale-out %4ds] %s\n' "$SECONDS" "$*" >&2; }

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
  record dotnet build InferenceGateway.sln -c "$CONFIG" -nologo -v q
  dotnet build InferenceGateway.sln -c "$CONFIG" -nologo -v q > "$DIR/build.log" 2>&1 || { tail -n 30 "$DIR/build.log" >&2; exit 1; }
fi
require_builds "$CONFIG" scale-out-bench.sh
[ -f models/bench_mlp/1/model.onnx ] || { echo "scale-out-bench.sh: models/bench_mlp/1/model.onnx missing (make models); the gateway stays not ready without it" >&2; exit 2; }
[ -x "$REDIS" ] || { echo "scale-out-bench.sh: $REDIS not found (apt-get install redis-server)" >&2; exit 2; }

# The mock Kafka cluster: 3 brokers, the transactions topic at 6 partitions (two a replica with three replicas).
topic_prefix="perf-scale-out-"
group="perf-scale-out"
record dotnet "$server_dll" mock-kafka --brokers 3 --topic "${topic_prefix}transactions:6" --bootstrap-file "$data/bootstrap"
dotnet "$server_dll" mock-kafka --brokers 3 --topic "${topic_prefix}transactions:6" --bootstrap-file "$data/bootstrap" > "$DIR/mock-kafka.log" 2>&1 &
kafka_pid=$!
pids+=("$kafka_pid")
for _ in $(seq 1 120); do
  [ -s "$data/bootstrap" ] && break
  kill -0 "$kafka_pid" 2>/dev/null || { log "mock-kafka exited"; cat "$DIR/mock-kafka.log" >&2; exit 1; }
  sleep 0.5
done
bootstrap="$(tr -d '[:space:]' < "$data/bootstrap")"
[ -n "$bootstrap" ] || { log "mock-kafka wrote no bootstrap list"; exit 1; }

redis_port="$(free_port)"
mkdir -p "$data/redis"
record "$REDIS" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --dir "$data/redis"
"$REDIS" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --dir "$data/redis" > "$DIR/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
for _ in $(seq 1 40); do
  redis-cli -p "$redis_port" ping > /dev/null 2>&1 && break
  sleep 0.25
done
log "mock Kafka at $bootstrap; Redis on 127.0.0.1:$redis_port (pid $redis_pid)"

scale_out=(--Gateway:Features:Store=redis "--Gateway:Redis:Configuration=127.0.0.1:$redis_port" --Gateway:Redis:KeyPrefix=perf: \
  "--Gateway:Kafka:BootstrapServers=$bootstrap" "--Gateway:Kafka:GroupId=$group" "--Gateway:Kafka:TopicPrefix=$topic_prefix")
declare -A gw_pid gw_port gw_admin
start() { # start NAME [args]: a gateway with its own data directory
  local name="$1"; shift
  mkdir -p "$data/$name"
  start_gateway "$name" "--Gateway:DataDirectory=$data/$name" "$@"
  gw_pid[$name]="$GW_PID"; gw_port[$name]="$GW_PORT"; gw_admin[$name]="$GW_ADMIN"
}
start local
start r1 "${scale_out[@]}"

ig_load() { record dotnet "$load_dll" "$@"; timeout 300 dotnet "$load_dll" "$@" > /dev/null; }
predict_args() { echo --target predict --url "http://127.0.0.1:${gw_port[$1]}" --model fraud --version 2 --feature amount=42.5 --feature merchant_category=3 --entities 4096 --quiet; }
ingest_args() { echo --target ingest --url "http://127.0.0.1:${gw_port[$1]}" --entities 4096 --events-per-call 100 --quiet; }
# split TOTAL N: TOTAL callers over N processes, as even as they go (16 over 3: 6 5 5).
split() { local t="$1" n="$2" i; for i in $(seq 0 $((n - 1))); do echo $(( t / n + (i < t % n ? 1 : 0) )); done; }
gw_ticks() { local s=0 n; for n in "$@"; do s=$((s + $(cpu_ticks "${gw_pid[$n]}"))); done; echo "$s"; }

echo "name,kind,arm,round,gateways,processes,gateway_ticks,redis_ticks,kafka_ticks" > "$DIR/steps.csv"
# step NAME KIND ARM ROUND TARGET "GATEWAYS" TOTAL: closed-loop ig-load runs of TARGET (predict|ingest), one process per
# gateway in parallel, TOTAL callers split over them; CPU ticks of the named gateways, Redis and the mock cluster around it.
step() {
  local name="$1" kind="$2" arm="$3" round="$4" target="$5" total="$7" i=0 n c
  local -a gws=($6) cs=() lp=()
  mapfile -t cs < <(split "$total" "${#gws[@]}")
  local t0 r0 k0 t1 r1 k1
  t0="$(gw_ticks "${gws[@]}")"; r0="$(cpu_ticks "$redis_pid")"; k0="$(cpu_ticks "$kafka_pid")"
  log "round $round: $name (${gws[*]}; callers ${cs[*]})"
  for n in "${gws[@]}"; do
    c="${cs[$i]}"
    # shellcheck disable=SC2046
    record dotnet "$load_dll" run $("${target}_args" "$n") --concurrency "$c" --warmup "${WARMUP}s" --duration "${STEP}s" --label "$name-$i" --json "$DIR/$name-$i.json"
    # shellcheck disable=SC2046
    timeout 300 dotnet "$load_dll" run $("${target}_args" "$n") --concurrency "$c" --warmup "${WARMUP}s" --duration "${STEP}s" --label "$name-$i" --json "$DIR/$name-$i.json" > "$DIR/$name-$i.log" 2>&1 &
    lp+=($!)
    i=$((i + 1))
  done
  for i in "${lp[@]}"; do wait "$i" || log "a load process of $name failed (see $DIR/$name-*.log)"; done
  t1="$(gw_ticks "${gws[@]}")"; r1="$(cpu_ticks "$redis_pid")"; k1="$(cpu_ticks "$kafka_pid")"
  echo "$name,$kind,$arm,$round,${gws[*]},${#gws[@]},$((t1 - t0)),$((r1 - r0)),$((k1 - k0))" >> "$DIR/steps.csv"
}

# Every entity's state in both stores before the Predict steps (so Redis lookups find real blobs), and warm JITs.
log "preload: ingest 4096 entities into both stores, a Predict warm-up on each"
for n in local r1; do
  # shellcheck disable=SC2046
  ig_load run $(ingest_args "$n") --concurrency 4 --warmup 0s --duration "$((STEP / 2 + 2))s" || log "preload ingest into $n failed"
  # shellcheck disable=SC2046
  ig_load run $(predict_args "$n") --concurrency "$CONCURRENCY" --warmup 0s --duration "$((STEP / 2 + 2))s" || log "warm-up predict on $n failed"
done

# 1 and 2a: the stores side by side, one replica in the consumer group.
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then order=(local r1); else order=(r1 local); fi
  for n in "${order[@]}"; do
    arm=$([ "$n" = local ] && echo in-process || echo redis)
    step "predict-$arm-r$r" store "$arm" "$r" predict "$n" "$CONCURRENCY"
  done
  for n in "${order[@]}"; do
    arm=$([ "$n" = local ] && echo in-process || echo redis-1)
    step "ingest-$arm-r$r" ingest "$arm" "$r" ingest "$n" "$INGEST_CONCURRENCY"
  done
done

# 4: send -> visible, in-process and through Kafka (one replica), one after the other.
for n in local r1; do
  arm=$([ "$n" = local ] && echo in-process || echo redis)
  log "freshness: $arm ($TRIALS trials)"
  ig_load freshness --url "http://127.0.0.1:${gw_port[$n]}" --trials "$TRIALS" --warmup-trials 20 --max-duration 2m \
    --entity-prefix "fresh-$n-" --json "$DIR/freshness-$arm.json" --quiet || log "freshness on $n failed"
done

# 2b and 3: three replicas in the consumer group. The in-process gateway is stopped (it would only take CPU).
stop_pid "${gw_pid[local]}"
start r2 "${scale_out[@]}"
start r3 "${scale_out[@]}"
sleep 8 # the group's rebalance to three members (partitions 2 a replica) before anything is measured
log "three replicas: rebalance wait over; warm-up"
for n in r2 r3; do
  # shellcheck disable=SC2046
  ig_load run $(predict_args "$n") --concurrency "$CONCURRENCY" --warmup 0s --duration "$((STEP / 2 + 2))s" || log "warm-up predict on $n failed"
  # shellcheck disable=SC2046
  ig_load run $(ingest_args "$n") --concurrency 2 --warmup 0s --duration 3s || log "warm-up ingest on $n failed"
done
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then order=(1 3); else order=(3 1); fi
  for k in "${order[@]}"; do
    gws=$([ "$k" = 1 ] && echo r1 || echo "r1 r2 r3")
    step "predict-x$k-r$r" replicas "x$k" "$r" predict "$gws" "$CONCURRENCY"
  done
  for k in "${order[@]}"; do
    # Ingest into one replica still has three consumers applying its events: all three gateways' CPU counts.
    gws=$([ "$k" = 1 ] && echo r1 || echo "r1 r2 r3")
    t_all0="$(gw_ticks r1 r2 r3)"
    step "ingest-x$k-r$r" ingest-replicas "x$k" "$r" ingest "$gws" "$INGEST_CONCURRENCY"
    t_all1="$(gw_ticks r1 r2 r3)"
    echo "ingest-x$k-r$r,$((t_all1 - t_all0))" >> "$DIR/ingest-all-gateways.csv"
  done
done
# Also the 1-replica Predict step's idle replicas: their consumers' polling is CPU the loaded one does not get.
for n in r1 r2 r3; do
  curl -sf "http://127.0.0.1:${gw_admin[$n]}/metrics" > "$DIR/metrics-$n.txt" || true
done
for n in r1 r2 r3; do grep -iE "error|exception|fail" "$DIR/gateway-$n.log" | head -n 20 > "$DIR/gateway-$n-errors.txt" || true; done

export SO_DIR="$DIR" SO_ROUNDS="$ROUNDS" SO_STEP="$STEP" SO_WARMUP="$WARMUP" SO_QUICK="$QUICK" SO_ELAPSED="$SECONDS" \
  SO_CONC="$CONCURRENCY" SO_ICONC="$INGEST_CONCURRENCY" \
  SO_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" SO_CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
  SO_LOAD="$(cut -d' ' -f1-3 /proc/loadavg)" SO_REDIS="$("$REDIS" --version | awk '{print $3}')" SO_TICK="$(getconf CLK_TCK)"
"$PY" - <<'PYEOF'
import csv, glob, json, os, statistics
D = os.environ["SO_DIR"]
tick_us = 1e6 / int(os.environ["SO_TICK"])
rows = list(csv.DictReader(open(os.path.join(D, "steps.csv"))))
all_gw = {}
p = os.path.join(D, "ingest-all-gateways.csv")
if os.path.exists(p):
    for line in open(p):
        k, v = line.strip().split(",")
        all_gw[k] = int(v)

def parts(name):
    out = []
    for f in sorted(glob.glob(os.path.join(D, name + "-[0-9].json"))):
        s = json.load(open(f))["steps"]
        if s:
            out.append(s[0])
    return out

def measure(r):
    ps = parts(r["name"])
    if not ps:
        return None
    tput = sum(s["throughput_rps"] for s in ps)
    # Requests over the whole run (warm-up included), which the CPU ticks span.
    reqs = sum(s["requests"] * (s["elapsed_s"] + s.get("warmup_s", 0)) / s["elapsed_s"] for s in ps if s["elapsed_s"])
    return {
        "tput": tput,
        "p50": statistics.mean(s["latency_ms"]["p50"] for s in ps),
        "p99": max(s["latency_ms"]["p99"] for s in ps),
        "ok": sum(s["ok"] for s in ps), "errors": sum(s["errors"] for s in ps),
        "gw_us": int(r["gateway_ticks"]) * tick_us / reqs if reqs else None,
        "all_gw_us": all_gw.get(r["name"], int(r["gateway_ticks"])) * tick_us / reqs if reqs else None,
        "redis_us": int(r["redis_ticks"]) * tick_us / reqs if reqs else None,
        "kafka_us": int(r["kafka_ticks"]) * tick_us / reqs if reqs else None,
    }

M = {r["name"]: (r, measure(r)) for r in rows}
def med(vals, nd=0):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    m = statistics.median(vals)
    return f"{m:,.{nd}f}" + (f" ({min(vals):,.{nd}f}-{max(vals):,.{nd}f})" if len(vals) > 1 else "")
def of(kind, arm):
    return [(r, m) for r, m in M.values() if r["kind"] == kind and r["arm"] == arm and m]

out = []
w = out.append
w("# Scale-out: the Redis store's price, ingest through Kafka, one replica to three")
w("")
w(f"Generated by `perf/scale-out-bench.sh` at {os.environ['SO_COMMIT']} in {os.environ['SO_ELAPSED']} s on {os.environ['SO_CPU']} "
  f"({os.cpu_count()} cores, shared with other work; load average at the end {os.environ['SO_LOAD']})"
  + (" (QUICK: to check the script, not for conclusions)" if os.environ["SO_QUICK"] == "1" else "") + ". "
  f"Redis {os.environ['SO_REDIS']} and librdkafka's mock cluster (3 brokers, the topic at 6 partitions) on loopback, on the same two cores "
  f"as the gateways and the load generators. Closed loop, {os.environ['SO_STEP']} s measured per step after {os.environ['SO_WARMUP']} s of warm-up, "
  f"{os.environ['SO_ROUNDS']} round(s); arms alternate within a round (A/B, then B/A). Figures are medians over rounds (range in brackets). "
  "CPU per request or per event: the process's user+system time over the whole run (warm-up included) divided by the calls or events "
  "of the whole run (the measured rate extended over the warm-up).")
w("")
w(f"## 1. The price of sharing: Predict with the Redis store vs the in-process store")
w("")
w(f"fraud v2 (reads the entity's streaming features: one Redis MGET a request in scale-out mode), {os.environ['SO_CONC']} closed-loop callers, 4,096 entities "
  "whose state was preloaded by an ingest step, one gateway each (the Redis one in a consumer group of one).")
w("")
w("| store | req/s | p50 ms | p99 ms | ok | errors | gateway CPU us/req | Redis CPU us/req |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
for arm in ("in-process", "redis"):
    ms = [m for _, m in of("store", arm)]
    w(f"| {arm} | {med([m['tput'] for m in ms])} | {med([m['p50'] for m in ms], 3)} | {med([m['p99'] for m in ms], 3)} | "
      f"{sum(m['ok'] for m in ms)} | {sum(m['errors'] for m in ms)} | {med([m['gw_us'] for m in ms], 1)} | {med([m['redis_us'] for m in ms], 1)} |")
w("")
rounds = sorted({int(r["round"]) for r in rows})
def ratio_line(kind, a, b, key, label):
    vals = []
    for rr in rounds:
        ma = [m for r, m in of(kind, a) if int(r["round"]) == rr]
        mb = [m for r, m in of(kind, b) if int(r["round"]) == rr]
        if ma and mb and ma[0][key] and mb[0][key]:
            vals.append(mb[0][key] / ma[0][key])
    if vals:
        w(f"- {label}, by round: {', '.join(f'{v:.2f}' for v in vals)}" + (f"; median {statistics.median(vals):.2f}x" if len(vals) > 1 else ""))
ratio_line("store", "in-process", "redis", "tput", "throughput, Redis over in-process")
ratio_line("store", "in-process", "redis", "p50", "p50, Redis over in-process")
ratio_line("store", "in-process", "redis", "p99", "p99, Redis over in-process")
ratio_line("store", "in-process", "redis", "gw_us", "gateway CPU per request, Redis over in-process")
w("")
w("## 2. Ingest: events/s through Kafka, per replica")
w("")
w(f"IngestEvents, 100 events a call, {os.environ['SO_ICONC']} closed-loop callers in total (split over one ig-load process a replica); "
  "with the Redis store a call is acknowledged once the consumer group applied its events to Redis. \"Gateway CPU\" is every gateway "
  "in the consumer group (with three replicas, ingest into one still has all three consuming). The in-process store's ingest "
  "(no Kafka, no Redis) for reference.")
w("")
w("| setup | events/s | events/s a replica | call p50 ms | call p99 ms | errors | gateway CPU us/event | Redis CPU us/event | mock Kafka CPU us/event |")
w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
def ev(m, k):
    return None if m[k] is None else m[k] / 100
for kind, arm, label, reps in (("ingest", "in-process", "in-process store, 1 gateway", 1),
                               ("ingest", "redis-1", "Kafka + Redis, 1 replica (group of one)", 1),
                               ("ingest-replicas", "x1", "Kafka + Redis, into 1 of 3 replicas (group of three)", 1),
                               ("ingest-replicas", "x3", "Kafka + Redis, into 3 replicas (group of three)", 3)):
    ms = [m for _, m in of(kind, arm)]
    if not ms:
        continue
    w(f"| {label} | {med([m['tput'] * 100 for m in ms])} | {med([m['tput'] * 100 / reps for m in ms])} | {med([m['p50'] for m in ms], 2)} | "
      f"{med([m['p99'] for m in ms], 2)} | {sum(m['errors'] for m in ms)} | {med([ev(m, 'all_gw_us') for m in ms], 1)} | "
      f"{med([ev(m, 'redis_us') for m in ms], 1)} | {med([ev(m, 'kafka_us') for m in ms], 1)} |")
w("")
ratio_line("ingest", "in-process", "redis-1", "tput", "events/s, Kafka+Redis (1 replica) over in-process")
ratio_line("ingest-replicas", "x1", "x3", "tput", "events/s, 3 replicas over 1")
w("")
w("## 3. Predict from one replica to three")
w("")
w(f"The same {os.environ['SO_CONC']} closed-loop callers in total: into replica 1 alone (the other two running, idle), or split "
  "over three ig-load processes, one a replica; throughput is the sum, p50 the mean of the processes' p50s, p99 the highest. "
  "Gateway CPU per request is summed over the loaded gateways (the idle ones' consumer polling excluded).")
w("")
w("| replicas | req/s | p50 ms | p99 ms | ok | errors | gateway CPU us/req | Redis CPU us/req |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
for arm in ("x1", "x3"):
    ms = [m for _, m in of("replicas", arm)]
    w(f"| {arm[1:]} | {med([m['tput'] for m in ms])} | {med([m['p50'] for m in ms], 3)} | {med([m['p99'] for m in ms], 3)} | "
      f"{sum(m['ok'] for m in ms)} | {sum(m['errors'] for m in ms)} | {med([m['gw_us'] for m in ms], 1)} | {med([m['redis_us'] for m in ms], 1)} |")
w("")
ratio_line("replicas", "x1", "x3", "tput", "throughput, 3 replicas over 1")
ratio_line("replicas", "x1", "x3", "gw_us", "gateway CPU per request, 3 replicas over 1")
x1 = [m for _, m in of("replicas", "x1")]
if x1 and all(m["gw_us"] for m in x1):
    us = statistics.median(m["gw_us"] for m in x1)
    rus = statistics.median(m["redis_us"] for m in x1 if m["redis_us"] is not None)
    w("")
    w(f"Projection: at {us:.0f} us of gateway CPU per request, a replica given one core of its own serves at most about "
      f"{1e6 / us:,.0f} req/s (fewer, since ig-load here also takes a share); Redis spends about {rus:.1f} us per request "
      f"(one MGET), so one Redis core carries about {1e6 / rus:,.0f} req/s of Predict before it is the limit." if rus else
      f"Projection: at {us:.0f} us of gateway CPU per request, a replica given one core of its own serves at most about {1e6 / us:,.0f} req/s.")
w("")
w("## 4. Send -> visible latency")
w("")
w("`ig-load freshness`: per trial one event for a new entity over one long-lived IngestEvents stream, then GetFeatures back to back "
  "on the same gateway until the feature is no longer defaulted; run with nothing else on the gateways. Through Kafka the path is "
  "produce -> broker -> the group's consumer -> Redis -> GetFeatures' read.")
w("")
w("| store | trials visible / not | p50 ms | p90 ms | p99 ms | max ms | polls a trial |")
w("|---|---:|---:|---:|---:|---:|---:|")
for arm in ("in-process", "redis"):
    f = os.path.join(D, f"freshness-{arm}.json")
    if not os.path.exists(f):
        w(f"| {arm} | (no result) | | | | | |")
        continue
    j = json.load(open(f))
    h = j.get("send_to_visible_ms", {})
    polls = j["polls"] / max(1, j["visible"] + j["not_visible"])
    w(f"| {arm} | {j['visible']} / {j['not_visible']} | {h.get('p50', 0):.3f} | {h.get('p90', 0):.3f} | {h.get('p99', 0):.3f} | {h.get('max', 0):.3f} | {polls:.1f} |")
w("")
errs = []
for n in ("r1", "r2", "r3"):
    p = os.path.join(D, f"gateway-{n}-errors.txt")
    if os.path.exists(p) and os.path.getsize(p):
        errs.append(f"gateway-{n}-errors.txt")
w("Gateway logs with error/exception/fail lines: " + (", ".join(errs) if errs else "none") + ".")
w("")
w("## Commands")
w("")
w("```")
out.extend(open(os.path.join(D, "commands.txt")).read().splitlines())
w("```")
open(os.path.join(D, "summary.md"), "w").write("\n".join(out) + "\n")
print("\n".join(out))
PYEOF
