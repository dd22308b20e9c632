#!/usr/bin/env bash
# ORT alone (`ig-load ort`), two builds side by side: BEFORE (default /work/wt-ort-base, a worktree of d7e5ace, the
# C-API binding over ONNX Runtime 1.30.0 from npm, its .cache copied in) and AFTER (this checkout: the official
# package, 1.32.0). Within each round every case runs on both builds back to back, which goes first alternating
# between rounds. Writes OUT/ort-ab.csv (default /tmp/ort-ab) and prints the table of perf/results/ort-package/summary.md
# (medians, per-round after/before ratios, process CPU per row); SUMMARY_ONLY=1 reprints it from OUT/ort-ab.csv.
#   ROUNDS=6 DUR=4s WARM=1s bash perf/ort-package-ab.sh
#   CASES="bench_mlp:1:1 bench_mlp:64:1" ...     (model:batch:intra-op threads; 0 = one per core)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
before="${BEFORE_ROOT:-/work/wt-ort-base}"
rounds="${ROUNDS:-3}"; out="${OUT:-/tmp/ort-ab}"; mkdir -p "$out"
declare -A tool=([before]="$before/perf/InferenceGateway.LoadTest/bin/Release/net10.0/ig-load.dll"
                 [after]="$root/perf/InferenceGateway.LoadTest/bin/Release/net10.0/ig-load.dll")
declare -A path=([fraud_v1]="$root/models/fraud/1/model.onnx" [bench_mlp]="$root/models/bench_mlp/1/model.onnx")
# fraud runs on 1 intra-op thread as its config.json sets; bench_mlp on one per core, the gateway's default.
read -r -a cases <<<"${CASES:-fraud_v1:1:1 fraud_v1:64:1 bench_mlp:1:0 bench_mlp:64:0}"
[ "${SUMMARY_ONLY:-0}" = 1 ] || echo "round,build,model,batch,intra_op,rows_per_s,ms_per_run,process_cpu_s,seconds" > "$out/ort-ab.csv"
[ "${SUMMARY_ONLY:-0}" = 1 ] || for round in $(seq 1 "$rounds"); do
  for c in "${cases[@]}"; do
    IFS=: read -r name batch intra <<<"$c"
    order="before after"; [ $((round % 2)) -eq 0 ] && order="after before"
    for build in $order; do
      env=(); [ "$build" = before ] && env=(ORT_LIBRARY_PATH="$before/.cache/ort/libonnxruntime.so.1")
      json="$out/$build-$name-$batch-$intra-r$round.json"
      env "${env[@]}" dotnet "${tool[$build]}" ort --model-file "${path[$name]}" --batch "$batch" --intra-op-threads "$intra" \
        --warmup "${WARM:-2s}" --duration "${DUR:-8s}" --json "$json" > /dev/null
      /usr/bin/python3 - "$json" "$round,$build,$name,$batch,$intra" <<'PY' | tee -a "$out/ort-ab.csv"
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]},{d['rows_per_s']:.0f},{d['ms_per_run']:.4f},{d['process_cpu_s']:.2f},{d['seconds']:.2f}")
PY
    done
  done
done
/usr/bin/python3 - "$out/ort-ab.csv" <<'PY'
import csv, sys, statistics as st
rows = list(csv.DictReader(open(sys.argv[1])))
cases = []
for r in rows:
    k = (r['model'], int(r['batch']), r['intra_op'])
    if k not in cases: cases.append(k)
print("| model | batch | intra-op | before rows/s (median) | after rows/s (median) | after/before per round (median; range) | CPU us/row before | CPU us/row after |")
print("|---|---|---|---|---|---|---|---|")
for k in cases:
    by = {}
    for r in rows:
        if (r['model'], int(r['batch']), r['intra_op']) == k:
            by.setdefault(r['round'], {})[r['build']] = r
    ratios = [float(v['after']['rows_per_s'])/float(v['before']['rows_per_s']) for v in by.values() if 'after' in v and 'before' in v]
    def med(b, f): return st.median([f(v[b]) for v in by.values() if b in v])
    rps = lambda r: float(r['rows_per_s'])
    cpu = lambda r: float(r['process_cpu_s'])*1e6/(float(r['rows_per_s'])*float(r['seconds']))
    print(f"| {k[0]} | {k[1]} | {k[2] if k[2]!='0' else '0 (=2)'} | {med('before',rps):,.0f} | {med('after',rps):,.0f} | {st.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}, {len(ratios)} rounds) | {med('before',cpu):.2f} | {med('after',cpu):.2f} |")
PY
