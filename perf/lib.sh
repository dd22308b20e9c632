# Helpers shared by the perf scripts (sourced, not run): run-suite.sh, latency-vs-concurrency.sh,
# prediction-log-bench.sh, ab-builds.sh, soak.sh.

# A free TCP port on 127.0.0.1.
free_port() {
  "${PY:-/usr/bin/python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# CPU time (user + system, clock ticks) process $1 has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# A gateway's managed allocations since its start (its own dotnet_gc_heap_total_allocated_bytes_total), from the
# admin port $1.
gc_allocated() {
  curl -sf "http://127.0.0.1:$1/metrics" | awk '/^dotnet_gc_heap_total_allocated_bytes_total / { print $2 }'
}

# Sets server_dll and load_dll to the gateway's and ig-load's builds for configuration $1 (default Release); exits 2
# naming script $2 when either is missing.
require_builds() {
  server_dll="src/InferenceGateway.Server/bin/${1:-Release}/net10.0/InferenceGateway.Server.dll"
  load_dll="perf/InferenceGateway.LoadTest/bin/${1:-Release}/net10.0/ig-load.dll"
  [ -f "$server_dll" ] && [ -f "$load_dll" ] || { echo "$2: build first (make build)" >&2; exit 2; }
}

# Rows and batches the batcher of model $2 has run so far ("rows batches"), from the admin port $1: the sum and count
# of gateway_batcher_batch_size over its versions ("0 0" for a model without batches, e.g. ServerLive).
batch_rows() {
  curl -sf "http://127.0.0.1:$1/metrics" | awk -v m="model=\"$2\"" '
    index($0, "gateway_batcher_batch_size_sum{") == 1 && index($0, m) { s += $NF }
    index($0, "gateway_batcher_batch_size_count{") == 1 && index($0, m) { c += $NF }
    END { printf "%d %d\n", s, c }'
}

# The helpers below expect, from the script that sources this file: `commands` (the file command lines are recorded
# in), `server_dll` (the gateway's Release build), `GW_LOGS` (the folder gateway logs go to), a `pids` array (every
# process started, for the script's cleanup) and a `log` function.

# Records a command line in $commands, quoted so it can be pasted into a shell (RESULTS.md lists them).
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

# Stops every process in $pids (SIGTERM, then waits for each): the scripts' EXIT trap.
stop_started() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# Stops process $1: SIGTERM, up to 15 s for it to exit, then SIGKILL.
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

# start_gateway NAME [config overrides...]: starts $server_dll on free loopback ports, its output in
# $GW_LOGS/gateway-NAME.log; sets GW_PID, GW_PORT, GW_ADMIN once /readyz answers 2xx (120 s at most).
start_gateway() {
  local name="$1" i
  shift
  GW_PORT="$(free_port)"
  GW_ADMIN="$(free_port)"
  if [ ! -f "$server_dll" ]; then
    log "gateway not built: $server_dll"
    return 1
  fi
  record dotnet "$server_dll" "--Gateway:GrpcPort=$GW_PORT" "--Gateway:AdminPort=$GW_ADMIN" "$@"
  dotnet "$server_dll" "--Gateway:GrpcPort=$GW_PORT" "--Gateway:AdminPort=$GW_ADMIN" "$@" > "$GW_LOGS/gateway-$name.log" 2>&1 &
  GW_PID=$!
  pids+=("$GW_PID")
  for i in $(seq 1 240); do
    if curl -sf "http://127.0.0.1:$GW_ADMIN/readyz" > /dev/null 2>&1; then
      log "gateway $name ready on 127.0.0.1:$GW_PORT (admin $GW_ADMIN) after ${i}x0.5 s"
      return 0
    fi
    if ! kill -0 "$GW_PID" 2>/dev/null; then
      log "gateway $name exited during start; see $GW_LOGS/gateway-$name.log"
      tail -n 20 "$GW_LOGS/gateway-$name.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  log "gateway $name not ready after 120 s"
  stop_pid "$GW_PID"
  return 1
}
