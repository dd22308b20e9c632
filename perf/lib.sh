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

# Stops the processes whose ids the caller's array `pids` holds (TERM to all, then waits for each), for EXIT traps.
stop_pids() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
