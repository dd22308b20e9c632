#!/usr/bin/python3
"""Timeline of an overload run (perf/overload.sh): every INTERVAL seconds, one probe ModelInfer on its own connection
(a pre-built gRPC frame, sent as raw bytes: no generated stubs), the gateway's batcher queue depth from /metrics and its
resident memory from /proc. Writes CSV rows until the file named by --stop exists: t_s (Unix time), probe status, probe latency ms,
queue depth (requests), rss bytes."""
import argparse
import os
import time
import urllib.request

import grpc

p = argparse.ArgumentParser()
p.add_argument("--grpc", required=True)
p.add_argument("--admin", required=True)
p.add_argument("--pid", type=int, required=True)
p.add_argument("--payload", required=True, help="a gRPC frame (ig-load payload): 5-byte prefix, then the message")
p.add_argument("--model", default="bench_mlp")
p.add_argument("--interval", type=float, default=0.05)
p.add_argument("--stop", required=True)
p.add_argument("--out", required=True)
a = p.parse_args()

message = open(a.payload, "rb").read()[5:]
channel = grpc.insecure_channel(a.grpc)
infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                            request_serializer=lambda b: b, response_deserializer=lambda b: b)
depth_prefix = f'gateway_batcher_queue_depth{{model="{a.model}"'


def queue_depth():
    text = urllib.request.urlopen(f"http://{a.admin}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(depth_prefix))


def rss():
    with open(f"/proc/{a.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


with open(a.out, "w") as out:
    out.write("t_s,probe_status,probe_ms,queue_depth,rss_bytes\n")
    while not os.path.exists(a.stop):
        start = time.time()
        try:
            infer(message, timeout=10)
            status = "OK"
        except grpc.RpcError as e:
            status = e.code().name
        ms = (time.time() - start) * 1000
        out.write(f"{start:.3f},{status},{ms:.2f},{queue_depth():.0f},{rss()}\n")
        out.flush()
        time.sleep(max(0.0, a.interval - (time.time() - start)))
