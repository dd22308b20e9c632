#!/usr/bin/env bash
# Side-by-side A/B of two gateway builds: per target, requests/s, the gateway's managed allocation per request (its own
# dotnet_gc_heap_total_allocated_bytes_total) and its CPU per request, the builds taking turns over ROUNDS rounds
# (which goes first alternates), then the medians. For before/after checks of a change (build the "before" commit in
# a git worktree); not part of `make bench`.
#
#   bash perf/ab-builds.sh BEFORE.dll AFTER.dll        e.g. /tmp/before/src/InferenceGateway.Server/bin/Release/net10.0/InferenceGateway.Server.dll
#
# Environment: GATEWAY_ARGS, more options for both gateways (e.g. --Gateway:Models:fraud:BatchingPolicy=fixed_delay,
# which builds older than the policy ignore); ROUNDS (default 3); REQUESTS per measured run (default 200000; a fifth of it first as warm-up); OUT, the
# folder for the CSV and the gateways' logs (default /tmp/ab-builds). Targets:
# identity (trivial model, generated), fraud v1 (its own 1 ms batching delay, so calls wait for a batch), bench_mlp at
# saturation (max batch 64, 4 x 64 streams) and ServerLive, all driven by h2load on 127.0.0.1.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ $# -eq 2 ] || { sed -n 2,13p "$0"; exit 2; }
declare -A dll=([before]="$1" [after]="$2")
# ONNX Runtime comes with each build (its NuGet package, next to the dll). A build from before that (d7e5ace and older)
# loads the library its own checkout fetched into .cache/ort, or ORT_LIBRARY_PATH: export it for such a "before" build
# whose worktree has no .cache (newer builds ignore the variable, with a warning in their log).
rounds="${ROUNDS:-3}" requests="${REQUESTS:-200000}"
results="$root/perf/results"
out="${OUT:-/tmp/ab-builds}"
mkdir -p "$out"
for f in identity-payload.bin fraud-v1-payload.bin bench-mlp-payload.bin server-live-payload.bin; do
  [ -f "$results/$f" ] || { echo "missing $results/$f: run make bench (or its transport and batching scenarios) once" >&2; exit 1; }
done
repo="$(mktemp -d)"
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$repo"; }
trap cleanup EXIT
cp -r models/fraud models/bench_mlp "$repo/"
/usr/bin/python3 perf/models/identity.py "$repo"
# shellcheck source=perf/lib.sh
. "$root/perf/lib.sh" # free_port, cpu_ticks, gc_allocated
measure() { # label method payload streams model
  local url="http://127.0.0.1:$grpc/inference.GRPCInferenceService/$2" h2 a0 a1 t0 t1 b0 b1
  h2load -n $((requests / 5)) -c 4 -m "$4" -d "$results/$3" -H 'content-type: application/grpc' -H 'te: trailers' "$url" > /dev/null
  a0="$(gc_allocated "$admin")"; t0="$(cpu_ticks "$pid")"; b0="$(batch_rows "$admin" "$5")"
  h2="$(h2load -n "$requests" -c 4 -m "$4" -d "$results/$3" -H 'content-type: application/grpc' -H 'te: trailers' "$url")"
  t1="$(cpu_ticks "$pid")"; a1="$(gc_allocated "$admin")"; b1="$(batch_rows "$admin" "$5")"
  /usr/bin/python3 - "$round" "$build" "$1" "$h2" "$a0" "$a1" "$t0" "$t1" "$requests" "$b0" "$b1" <<'PY'
import os, re, sys
r, build, label, out, a0, a1, t0, t1, n, b0, b1 = sys.argv[1:]
rps = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out).group(1)
ok = int(re.search(r"(\d+) succeeded", out).group(1))
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
(rows0, batches0), (rows1, batches1) = (map(int, b.split()) for b in (b0, b1))
rows_per_batch = f"{(rows1 - rows0) / (batches1 - batches0):.1f}" if batches1 > batches0 else ""
print(f"{r},{build},{label},{rps},{(float(a1) - float(a0)) / ok:.0f},{(int(t1) - int(t0)) * tick_us / ok:.1f},{int(n) - ok},{rows_per_batch}")
PY
}
echo "round,build,target,req_per_s,alloc_bytes_per_req,server_cpu_us_per_req,failed,rows_per_batch" | tee "$out/ab-builds.csv"
for round in $(seq 1 "$rounds"); do
  order="before after"; [ $((round % 2)) -eq 0 ] && order="after before"
  for build in $order; do
    grpc="$(free_port)"; admin="$(free_port)"
    dotnet "${dll[$build]}" "--Gateway:ModelRepository:Path=$repo" "--Gateway:GrpcPort=$grpc" "--Gateway:AdminPort=$admin" \
      --Gateway:Models:bench_mlp:MaxBatchSize=64 --Logging:LogLevel:Default=Warning ${GATEWAY_ARGS:-} > "$out/gateway-$build.log" 2>&1 &
    pid=$!
    ready=0
    for _ in $(seq 1 240); do
      if curl -sf "http://127.0.0.1:$admin/readyz" > /dev/null; then ready=1; break; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    [ "$ready" = 1 ] || { echo "gateway $build did not become ready; see $out/gateway-$build.log" >&2; exit 1; }
    measure identity ModelInfer identity-payload.bin 16 identity
    measure fraud ModelInfer fraud-v1-payload.bin 16 fraud
    measure bench_mlp_saturation ModelInfer bench-mlp-payload.bin 64 bench_mlp
    measure server_live ServerLive server-live-payload.bin 16 none
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
done | tee -a "$out/ab-builds.csv"
/usr/bin/python3 - "$out/ab-builds.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("\n| target | build | req/s (median) | alloc/req (median) | server cpu/req (median) | rows/batch (median) |\n|---|---|---:|---:|---:|---:|")
for target in dict.fromkeys(r["target"] for r in rows):
    for build in ("before", "after"):
        sel = [r for r in rows if r["target"] == target and r["build"] == build]
        med = lambda k: statistics.median(float(r[k]) for r in sel)
        rows_per_batch = [float(r["rows_per_batch"]) for r in sel if r.get("rows_per_batch")]
        print(f"| {target} | {build} | {med('req_per_s'):,.0f} | {med('alloc_bytes_per_req'):,.0f} B | {med('server_cpu_us_per_req'):.1f} us | {statistics.median(rows_per_batch) if rows_per_batch else 0:.1f} |")
PY
