#!/usr/bin/env bash
# Soak: one gateway (Release build, the bundled models) under steady mixed load on 127.0.0.1 for SOAK_SECONDS
# (default 600), sampled every SOAK_SAMPLE_SECONDS (default 30). Four ig-load clients run side by side: fraud v1 raw
# (24 workers), fraud v2 typed contents (8), bench_mlp v1 (8) and ServerLive (2). `make soak`; not part of make test.
#
# Fails (exit 1) when any call fails, when the gateway is not ready or still has queued requests afterwards, or when
# resident memory, the managed heap, threads or open file descriptors keep growing: the largest value of the last third
# of the samples is compared with the largest of the middle third (warm-up, JIT and pools fill during the first), with
# the margins below. Samples go to SOAK_OUT/soak.csv (default /tmp/ig-soak), with the clients' JSON reports and the
# gateway's log (SOAK_OUT, default perf/results/soak: `make soak` keeps its raw samples beside the summary.md that
# perf/RESULTS.md shows; the gateway's data directory, with the prediction log of the run, is a temporary one). The managed heap is read after the latest collection, usually not a full one (none may run in ten
# minutes), so it includes garbage promoted to gen2: the margins catch a leak per call (8 B a call at ~20k calls/s is
# ~100 MB in ten minutes), not a slow drift; the CSV's gen2_collections column says how many full collections ran.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=perf/lib.sh
. "$root/perf/lib.sh" # free_port, cpu_ticks, gc_allocated, require_builds

seconds="${SOAK_SECONDS:-600}"
every="${SOAK_SAMPLE_SECONDS:-30}"
out="${SOAK_OUT:-perf/results/soak}"
config="${CONFIG:-Release}"
require_builds "$config" soak
[ "$seconds" -ge $((every * 6)) ] || { echo "soak: SOAK_SECONDS must be at least 6 samples (SOAK_SAMPLE_SECONDS=$every)" >&2; exit 2; }
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.csv "$out"/*.log "$out"/*.md
data="$(mktemp -d /tmp/ig-soak-data.XXXXXX)" # the feature snapshot and the prediction log (SQLite) of the run

grpc="$(free_port)"
admin="$(free_port)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$data"; }
trap cleanup EXIT

dotnet "$server_dll" "--Gateway:GrpcPort=$grpc" "--Gateway:AdminPort=$admin" "--Gateway:DataDirectory=$data" --Logging:LogLevel:Default=Warning > "$out/gateway.log" 2>&1 &
gw=$!
pids+=("$gw")
for _ in $(seq 1 240); do
  curl -sf "http://127.0.0.1:$admin/readyz" > /dev/null 2>&1 && break
  kill -0 "$gw" 2>/dev/null || { cat "$out/gateway.log" >&2; exit 1; }
  sleep 0.5
done
printf '\x00\x00\x00\x00\x00' > "$out/server-live.bin" # ServerLive: an empty message

url="http://127.0.0.1:$grpc"
load() { # label, then ig-load run options
  local label="$1"; shift
  dotnet "$load_dll" run --url "$url" --warmup 0s --duration "${seconds}s" --label "$label" --quiet --json "$out/$label.json" "$@" \
    > "$out/$label.log" 2>&1 &
  pids+=("$!")
  loaders+=("$!")
}
loaders=()
load fraud-v1-raw --target kserve --model fraud --version 1 --concurrency 24
load fraud-v2-typed --target kserve --model fraud --version 2 --contents typed --concurrency 8
load bench-mlp --target kserve --model bench_mlp --version 1 --concurrency 8
load server-live --target raw --payload "$out/server-live.bin" --path /inference.GRPCInferenceService/ServerLive --concurrency 2

scrape() { curl -sf "http://127.0.0.1:$admin/metrics"; }
metric() { # name [scrape text]: the sum of its samples (all label sets), from one scrape
  printf '%s\n' "${2:-$(scrape)}" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%.0f", s }'
}
echo "t_s,rss_bytes,heap_bytes,committed_bytes,threads,open_fds,queue_depth,requests,gen2_collections" > "$out/soak.csv"
echo "soak: ${seconds}s on 127.0.0.1:$grpc, a sample every ${every}s -> $out/soak.csv"
start=$SECONDS
while [ $((SECONDS - start)) -lt "$seconds" ]; do
  sleep "$every"
  kill -0 "$gw" 2>/dev/null || { echo "soak: the gateway exited" >&2; tail -n 20 "$out/gateway.log" >&2; exit 1; }
  text="$(scrape)"
  line="$((SECONDS - start)),$(metric process_resident_memory_bytes "$text"),$(metric dotnet_gc_last_collection_heap_size_bytes "$text")"
  line+=",$(metric dotnet_gc_last_collection_memory_committed_size_bytes "$text"),$(awk '/^Threads:/ { print $2 }' "/proc/$gw/status")"
  line+=",$(metric process_open_fds "$text"),$(metric gateway_batcher_queue_depth "$text"),$(metric gateway_requests_total "$text")"
  line+=",$(printf '%s\n' "$text" | awk '$1 == "dotnet_gc_collections_total{gc_heap_generation=\"gen2\"}" { print $2 }')"
  echo "$line" | tee -a "$out/soak.csv"
done
failed=0
for p in "${loaders[@]}"; do wait "$p" || failed=1; done
[ "$failed" = 0 ] || echo "soak: a load client failed (see $out/*.log)" >&2

ready="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/readyz")"
queued="$(metric gateway_batcher_queue_depth)"
started_utc="$(date -u -d "@$(( $(date +%s) - SECONDS + start ))" +%Y-%m-%dT%H:%M:%SZ)"
verdict=0
/usr/bin/python3 - "$out" "$ready" "$queued" "$failed" <<'PY' > "$out/report.txt" 2>&1 || verdict=1
import csv, glob, json, os, sys
out, ready, queued, failed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = list(csv.DictReader(open(os.path.join(out, "soak.csv"))))
problems = [] if not failed else ["a load client failed"]
total = 0
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    step = json.load(open(path))["steps"][0]
    total += step["ok"]
    print(f"{step['label']:>16}: {step['ok']:>10,} ok, {step['errors']} errors, {step['throughput_rps']:,.0f} req/s, "
          f"p99 {step['latency_ms']['p99']:.2f} ms")
    if step["errors"] or step["ok"] == 0:
        problems.append(f"{step['label']}: {step['errors']} errors {step['errors_by_code']}, {step['ok']} ok")
if ready != "200":
    problems.append(f"/readyz answered {ready} after the load")
if queued:
    problems.append(f"{queued} requests still queued after the load")
third = len(rows) // 3
middle, last = rows[third:2 * third], rows[2 * third:]
MiB = 1 << 20
# name: (allowed factor, allowed extra) over the middle third's largest value
limits = {"rss_bytes": (1.10, 32 * MiB), "heap_bytes": (1.25, 16 * MiB), "committed_bytes": (1.25, 16 * MiB),
          "threads": (1.0, 8), "open_fds": (1.0, 8)}
for name, (factor, extra) in limits.items():
    reference = max(int(r[name]) for r in middle)
    worst = max(int(r[name]) for r in last)
    ok = worst <= reference * factor + extra
    shown = (lambda v: f"{v / MiB:.1f} MiB") if name.endswith("bytes") else str
    print(f"{name:>16}: middle third max {shown(reference)}, last third max {shown(worst)} {'ok' if ok else 'GROWING'}")
    if not ok:
        problems.append(f"{name} grew from {shown(reference)} to {shown(worst)}")
gen2 = int(rows[-1]["gen2_collections"]) - int(rows[0]["gen2_collections"])
print(f"{total:,} calls answered OK in all; {gen2} full (gen2) collections between the first and the last sample")
if problems:
    print("soak FAILED: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
print("soak passed")
PY
cat "$out/report.txt"
{
  echo "# Soak: one gateway under steady mixed load (\`make soak\`)"
  echo
  echo "Run $started_utc at commit \`$(git rev-parse --short HEAD)\`, ${seconds} s, a sample every ${every} s:"
  echo "\`SOAK_SECONDS=$seconds SOAK_SAMPLE_SECONDS=$every make soak\`. Four ig-load clients side by side on 127.0.0.1 (fraud v1 raw"
  echo "24 workers, fraud v2 typed 8, bench_mlp 8, ServerLive 2), the bundled models and the default prediction log (SQLite)."
  echo "Raw samples: [soak.csv](soak.csv) (one row per sample), the clients' reports \`*.json\`; the growth check compares the"
  echo "last third of the samples with the middle third (perf/soak.sh says how)."
  echo
  echo '```'
  cat "$out/report.txt"
  echo '```'
} > "$out/summary.md"
exit "$verdict"
