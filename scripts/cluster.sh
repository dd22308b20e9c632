#!/usr/bin/env bash
# A local scale-out cluster on 127.0.0.1 (issue 24; docs/scale-out.md, "Local cluster"): redis-server, a PostgreSQL
# cluster, librdkafka's mock Kafka (the gateway's `mock-kafka` verb, topic `transactions` with 6 partitions) unless
# KAFKA_BOOTSTRAP names a cluster, and three gateway replicas on gRPC 50061-50063 / admin 8081-8083 that share them.
# Serves until Ctrl-C; `--check` starts everything, waits until every replica is ready, prints the endpoints and
# stops (a smoke test). Every process started here is stopped on exit.
# Knobs: REDIS_PORT (6380), PG_PORT (5433), KAFKA_BOOTSTRAP (unset: the mock), KEEP_DATA=1 (keep data/cluster/ from
# the last run; by default it starts empty, as the mock Kafka does). Needs the Release build (`make build`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: scripts/cluster.sh [--check]" >&2; exit 2 ;;
esac

server="src/InferenceGateway.Server/bin/Release/net10.0/InferenceGateway.Server.dll"
[ -f "$server" ] || { echo "cluster: build first (make build): $server is missing" >&2; exit 2; }
REDIS_PORT="${REDIS_PORT:-6380}"; PG_PORT="${PG_PORT:-5433}"
grpc_ports=(50061 50062 50063); admin_ports=(8081 8082 8083)
data="$root/data/cluster"; logs="$data/logs"

log() { printf '[cluster %4ds] %s\n' "$SECONDS" "$*" >&2; }
fail() { log "$*"; exit 1; }

# Fixed ports, so the summary stays the same from run to run: say which one is taken rather than fail later.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$REDIS_PORT" "$PG_PORT" "${grpc_ports[@]}" "${admin_ports[@]}"; do
  port_taken "$p" && fail "port $p on 127.0.0.1 is taken (another cluster.sh or make run?); REDIS_PORT and PG_PORT move those two"
done

pids=(); pg_bin=""; pg_data="$data/postgres"; pg_started=0
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; } # PostgreSQL refuses root
cleanup() {
  local pid i
  trap - EXIT INT TERM
  # Gateways first (they drain and flush the prediction log into PostgreSQL), then what they use.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$pg_started" = 1 ]; then as_pg "$pg_bin/pg_ctl" -D "$pg_data" -w -m fast stop >/dev/null 2>&1 || true; fi
  log "stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits up to $2 seconds for command $3... to succeed while process $1 lives; $1 empty: no process to watch.
wait_for() {
  local pid="$1" seconds="$2" i
  shift 2
  for i in $(seq 1 $((seconds * 4))); do
    "$@" >/dev/null 2>&1 && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.25
  done
  return 1
}

if [ "${KEEP_DATA:-0}" != 1 ]; then rm -rf "$data"; fi
mkdir -p "$logs"

# --- Redis: append-only, fsynced per write (what the online store's restart tests assume) -----------------------
command -v redis-server >/dev/null || bash scripts/install-deps.sh
mkdir -p "$data/redis"
# Each server in a session of its own (setsid): Ctrl-C then reaches only this script, whose trap stops the gateways
# before what they write to, instead of every process at once.
setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$data/redis" --daemonize no --save "" \
  --appendonly yes --appendfsync always --logfile "" >"$logs/redis.log" 2>&1 &
pids+=($!)
wait_for "$!" 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT; printf 'PING\r\n' >&3; head -c5 <&3 | grep -q PONG" ||
  { tail -n 20 "$logs/redis.log" >&2; fail "redis-server did not answer PING on $REDIS_PORT"; }
log "redis $(redis-server --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$REDIS_PORT"

# --- PostgreSQL: the shared prediction log, as the postgres user when run as root -------------------------------
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -n "$pg_bin" ] || { bash scripts/install-deps.sh; pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"; }
fresh_pg=0
if [ ! -f "$pg_data/PG_VERSION" ]; then
  mkdir -p "$pg_data"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pg_data"
  as_pg "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust -E UTF8 >/dev/null
  fresh_pg=1
fi
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$logs"
as_pg "$pg_bin/pg_ctl" -D "$pg_data" -w -t 60 -l "$logs/postgres.log" \
  -o "-p $PG_PORT -k $pg_data -c listen_addresses=127.0.0.1" start >/dev/null ||
  { tail -n 20 "$logs/postgres.log" >&2; fail "PostgreSQL did not start on $PG_PORT"; }
pg_started=1
if [ "$fresh_pg" = 1 ]; then as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres inference_gateway; fi
pg_cs="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=inference_gateway"
log "postgresql $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT, database inference_gateway"

# --- Kafka: the mock cluster unless one is given ---------------------------------------------------------------
kafka_note="KAFKA_BOOTSTRAP"
if [ -z "${KAFKA_BOOTSTRAP:-}" ]; then
  rm -f "$data/kafka-bootstrap"
  setsid dotnet "$server" mock-kafka --brokers 3 --topic transactions:6 --bootstrap-file "$data/kafka-bootstrap" \
    >"$logs/mock-kafka.log" 2>&1 &
  pids+=($!)
  wait_for "$!" 60 test -s "$data/kafka-bootstrap" ||
    { tail -n 20 "$logs/mock-kafka.log" >&2; fail "mock-kafka did not write its bootstrap list"; }
  KAFKA_BOOTSTRAP="$(cat "$data/kafka-bootstrap")"
  kafka_note="librdkafka mock cluster, 3 brokers, topic transactions x 6 partitions"
fi
log "kafka $KAFKA_BOOTSTRAP ($kafka_note)"

# --- Three gateway replicas: configuration through the environment (ASP.NET Core's Section__Key) --------------
replica_pids=()
for i in 0 1 2; do
  n=$((i + 1)); dir="$data/replica-$n"; mkdir -p "$dir"
  Gateway__GrpcPort="${grpc_ports[$i]}" Gateway__AdminPort="${admin_ports[$i]}" Gateway__DataDirectory="$dir" \
  Gateway__PredictionLog__Sink=PostgreSql Gateway__PredictionLog__PostgreSqlConnectionString="$pg_cs" \
  Gateway__Features__Store=redis Gateway__Redis__Configuration="127.0.0.1:$REDIS_PORT" \
  Gateway__Kafka__BootstrapServers="$KAFKA_BOOTSTRAP" Gateway__Kafka__GroupId=inference-gateway \
    setsid dotnet "$server" >"$logs/replica-$n.log" 2>&1 &
  pids+=($!); replica_pids+=($!)
done
for i in 0 1 2; do
  n=$((i + 1))
  wait_for "${replica_pids[$i]}" 120 curl -sf "http://127.0.0.1:${admin_ports[$i]}/readyz" ||
    { tail -n 20 "$logs/replica-$n.log" >&2; curl -s "http://127.0.0.1:${admin_ports[$i]}/readyz" >&2 || true
      fail "replica $n not ready on admin port ${admin_ports[$i]} (above: its /readyz and log $logs/replica-$n.log; a model missing? make models)"; }
done

cat <<EOF
cluster ready (logs and data under data/cluster/):
  replica 1   gRPC 127.0.0.1:${grpc_ports[0]}   admin http://127.0.0.1:${admin_ports[0]}   (pid ${replica_pids[0]})
  replica 2   gRPC 127.0.0.1:${grpc_ports[1]}   admin http://127.0.0.1:${admin_ports[1]}   (pid ${replica_pids[1]})
  replica 3   gRPC 127.0.0.1:${grpc_ports[2]}   admin http://127.0.0.1:${admin_ports[2]}   (pid ${replica_pids[2]})
  redis       127.0.0.1:$REDIS_PORT (append-only, data/cluster/redis)
  postgresql  $pg_cs
  kafka       $KAFKA_BOOTSTRAP ($kafka_note; group inference-gateway)
EOF

if [ "$check" = 1 ]; then
  log "--check: every replica answered /readyz; stopping"
  exit 0
fi
log "serving; Ctrl-C stops everything"
# Until Ctrl-C, or until a process started here exits (then the rest is stopped too rather than left half up).
while true; do
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || fail "process $pid exited; stopping the cluster (logs: $logs)"
  done
  sleep 1
done
