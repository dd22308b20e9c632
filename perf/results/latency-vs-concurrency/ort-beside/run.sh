#!/usr/bin/env bash
# ORT alone at batch 1, with and without a one-caller ServerLive load on a gateway beside it (the transport's share of
# the two cores that a ModelInfer at one caller also needs), interleaved.
cd /work/main
S=src/InferenceGateway.Server/bin/Release/net10.0/InferenceGateway.Server.dll
L=perf/InferenceGateway.LoadTest/bin/Release/net10.0/ig-load.dll
P=perf/results/latency-vs-concurrency/server-live-payload.bin
dotnet $S --Gateway:GrpcPort=51601 --Gateway:AdminPort=51602 --Gateway:DataDirectory=/tmp/ortb > /tmp/ortb.log 2>&1 &
g=$!
for i in $(seq 1 120); do curl -sf http://127.0.0.1:51602/readyz >/dev/null && break; sleep 0.5; done
for r in 1 2 3; do
  echo -n "alone r$r: "; dotnet $L ort --model-file models/bench_mlp/1/model.onnx --batch 1 --parallel 1 --intra-op-threads 0 --warmup 2s --duration 6s | tail -1
  dotnet $L run --target raw --payload $P --path /inference.GRPCInferenceService/ServerLive --url http://127.0.0.1:51601 --concurrency 1 --warmup 0s --duration 10s --quiet > /dev/null &
  l=$!
  echo -n "beside ServerLive c=1 r$r: "; dotnet $L ort --model-file models/bench_mlp/1/model.onnx --batch 1 --parallel 1 --intra-op-threads 0 --warmup 2s --duration 6s | tail -1
  wait $l
done
kill $g; wait 2>/dev/null
