#!/usr/bin/env bash
# Issue 23's measurements side by side in one run, written to perf/results/prediction-log.md with the commands:
#   (1) records/s sustained into each sink behind the real prediction log (buffer, writer, default batches):
#       SQLite (a file in a temp dir) and PostgreSQL (a throwaway cluster on loopback, like the tests'), interleaved;
#   (2) Predict p99 of fraud v2 with the prediction log on (default SQLite sink) and off (Sink=None), two gateways
#       started side by side, at about half of the lower one's saturation (open loop), rounds interleaved off/on.
# Knobs: ROUNDS (default 3), SINK_SECONDS (8), STEP (10s), SKIP_BUILD=1. Every process started here is stopped on
# exit; load goes to 127.0.0.1 only and every run is bounded in time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck disable=SC1091
. perf/lib.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
ROUNDS="${ROUNDS:-3}"; SINK_SECONDS="${SINK_SECONDS:-8}"; STEP="${STEP:-10s}"; WARM="${WARM:-3s}"
out="perf/results"; mkdir -p "$out"
md="$out/prediction-log.md"
server="src/InferenceGateway.Server/bin/Release/net10.0/InferenceGateway.Server.dll"
load="perf/InferenceGateway.LoadTest/bin/Release/net10.0/ig-load.dll"
bench="perf/InferenceGateway.Benchmarks/bin/Release/net10.0/InferenceGateway.Benchmarks.dll"
work="$(mktemp -d /tmp/ig-plog-bench.XXXXXX)"
pids=(); pg_bin=""; pg_data="$work/pg"
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_bin" ] && [ -f "$pg_data/postmaster.pid" ]; then runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
log() { printf '[plog-bench %4ds] %s\n' "$SECONDS" "$*" >&2; }
commands=()
run() { commands+=("$*"); "$@"; }

if [ "${SKIP_BUILD:-0}" != "1" ]; then
  bash scripts/install-deps.sh
  dotnet build InferenceGateway.sln -c Release -nologo -v q >/dev/null
fi

# --- PostgreSQL: a throwaway cluster (as the postgres user: the server refuses root) ---------------------------
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
pg_port="$(free_port)"
chown postgres:postgres "$work"
runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -w -l "$work/pg.log" -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
pg_cs="Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=postgres"
log "postgresql $("$pg_bin/postgres" --version | awk '{print $3}') on port $pg_port (default durability settings: fsync on, synchronous_commit on)"

# --- (1) records/s into each sink ---------------------------------------------------------------------------
declare -A sink_lines
for r in $(seq 1 "$ROUNDS"); do
  for sink in sqlite postgres; do
    if [ "$sink" = sqlite ]; then extra=(--path "$work/sink-r$r.db"); else extra=(--connection "$pg_cs"); fi
    line="$(run dotnet "$bench" sink-throughput --sink "$sink" --seconds "$SINK_SECONDS" "${extra[@]}")"
    log "$line"
    sink_lines["$sink"]+="$(sed -E 's/.*: ([0-9]+) records\/s.*/\1/' <<<"$line") "
  done
done

# --- (2) Predict p99, log off vs on -------------------------------------------------------------------------
start_gateway() { # name, extra args...
  local name="$1"; shift
  local g a; g="$(free_port)"; a="$(free_port)"
  mkdir -p "$work/$name"
  dotnet "$server" --Gateway:GrpcPort="$g" --Gateway:AdminPort="$a" --Gateway:DataDirectory="$work/$name" \
    --Logging:LogLevel:Default=Warning "$@" > "$work/$name.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 120); do curl -sf "127.0.0.1:$a/readyz" >/dev/null && break; sleep 0.5; done
  curl -sf "127.0.0.1:$a/readyz" >/dev/null || { cat "$work/$name.log"; exit 1; }
  echo "$g $a"
}
read -r off_grpc off_admin < <(start_gateway off --Gateway:PredictionLog:Sink=None)
read -r on_grpc on_admin < <(start_gateway on)
log "gateways: log off on $off_grpc, log on (SQLite) on $on_grpc"
predict=(--target predict --model fraud --version 2 --entities 1000 --quiet)
sat() { run dotnet "$load" run --url "http://127.0.0.1:$1" "${predict[@]}" --concurrency 64 --warmup "$WARM" --duration "$STEP" --json "$work/sat-$2.json" >/dev/null; }
rps() { /usr/bin/python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['steps'][0]['throughput_rps']))" "$1"; }
sat "$off_grpc" off; sat "$on_grpc" on
sat_off="$(rps "$work/sat-off.json")"; sat_on="$(rps "$work/sat-on.json")"
rate=$(( (sat_off < sat_on ? sat_off : sat_on) / 2 ))
log "saturation (closed loop, 64 workers): off $sat_off req/s, on $sat_on req/s; half: $rate req/s"
for r in $(seq 1 "$ROUNDS"); do
  for mode in off on; do
    port="$off_grpc"; [ "$mode" = on ] && port="$on_grpc"
    run dotnet "$load" run --url "http://127.0.0.1:$port" "${predict[@]}" --mode open --rate "$rate" --warmup "$WARM" --duration "$STEP" \
      --json "$work/half-$mode-r$r.json" >/dev/null
  done
done
on_status="$(curl -s "127.0.0.1:$on_admin/readyz" | sed -n 2p)"

# --- report ---------------------------------------------------------------------------------------------------
W="$work" ROUNDS="$ROUNDS" RATE="$rate" SAT_OFF="$sat_off" SAT_ON="$sat_on" SQLITE="${sink_lines[sqlite]}" PG="${sink_lines[postgres]}" \
COMMIT="$(git rev-parse --short HEAD)" STATUS="$on_status" CMDS="$(printf '%s\n' "${commands[@]}" | sed -E "s#$work#\$WORK#g" | sort -u)" \
/usr/bin/python3 - > "$md" <<'PYEOF'
import json, os, statistics
W, R = os.environ["W"], int(os.environ["ROUNDS"])
def step(n): return json.load(open(os.path.join(W, n)))["steps"][0]
def med(xs): return statistics.median(xs)
sq = [int(x) for x in os.environ["SQLITE"].split()]; pg = [int(x) for x in os.environ["PG"].split()]
p99 = {m: [step(f"half-{m}-r{r}.json")["latency_ms"]["p99"] for r in range(1, R + 1)] for m in ("off", "on")}
p50 = {m: [step(f"half-{m}-r{r}.json")["latency_ms"]["p50"] for r in range(1, R + 1)] for m in ("off", "on")}
ok = {m: [step(f"half-{m}-r{r}.json")["throughput_rps"] for r in range(1, R + 1)] for m in ("off", "on")}
ratio = med(p99["on"]) / med(p99["off"])
print(f"# Prediction log: sink throughput and Predict latency with logging on and off (issue 23)\n")
print(f"Commit `{os.environ['COMMIT']}`, `bash perf/prediction-log-bench.sh`, {R} interleaved rounds, on the shared 2-core machine (client, gateways and database on the same cores).\n")
print("## Records/s sustained into each sink\n")
print("Behind the real log (bounded buffer, one writer, batches of 4,096, overflow PushBack so producers run at the writer's pace), fraud v2-sized records (8 features with flags, 1 score); counted in the sink after a warm-up. PostgreSQL is a fresh cluster with its default durability (fsync, synchronous commit).\n")
print("| sink | records/s per round | median | aim |\n|---|---|---|---|")
print(f"| SQLite (WAL, synchronous NORMAL) | {', '.join(f'{x:,}' for x in sq)} | **{med(sq):,.0f}** | 50,000 |")
print(f"| PostgreSQL (binary COPY, day partitions) | {', '.join(f'{x:,}' for x in pg)} | **{med(pg):,.0f}** | 50,000 |\n")
print("## Predict p99, logging off vs on, at about half of saturation\n")
print(f"fraud v2 Predict (1,000 entities), two gateways side by side: `Gateway:PredictionLog:Sink=None` and the default SQLite sink. Saturation (closed loop, 64 workers): off {int(os.environ['SAT_OFF']):,} req/s, on {int(os.environ['SAT_ON']):,} req/s; open loop at {int(os.environ['RATE']):,} req/s, half the lower.\n")
print("| log | p50 ms per round | p99 ms per round | median p99 ms | req/s |\n|---|---|---|---|---|")
for m, name in (("off", "off (Sink None)"), ("on", "on (SQLite)")):
    print(f"| {name} | {', '.join(f'{x:.2f}' for x in p50[m])} | {', '.join(f'{x:.2f}' for x in p99[m])} | **{med(p99[m]):.2f}** | {med(ok[m]):,.0f} |")
print(f"\np99 on / off: **{ratio:.2f}x** (aim: within 1.10x). The logging gateway's /readyz after the run: `{os.environ['STATUS']}`.\n")
print("## Commands\n\n```")
print(os.environ["CMDS"])
print("```")
PYEOF
log "wrote $md"
cat "$md"
