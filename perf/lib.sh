# Helpers shared by perf/run-suite.sh and perf/ab-builds.sh (sourced, not run).

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
