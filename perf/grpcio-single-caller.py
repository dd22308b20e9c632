#!/usr/bin/python3
"""One caller, one request at a time, through Debian's python3-grpcio (issue 20's own measurement): the latency of a
pre-built unary request, sent as bytes so that no protobuf work is timed.

Usage: grpcio-single-caller.py --target 127.0.0.1:PORT --method /inference.GRPCInferenceService/ModelInfer
           [--payload FRAME.bin] [--seconds 10] [--warmup 2] [--json OUT]

--payload is a gRPC frame as `ig-load payload` writes it (5-byte prefix, then the message); without it the request is
an empty message (ServerLive). Prints one JSON object (calls, p50/p90/p99/mean in ms). Loopback targets only; every
call carries a 10 s deadline, and the run stops after warm-up + seconds.
"""

import argparse
import json
import statistics
import struct
import sys
import time

import grpc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--payload")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()

    host = args.target.rsplit(":", 1)[0]
    if not (host.startswith("127.") or host in ("localhost", "[::1]")):
        print("loopback targets only", file=sys.stderr)
        return 2

    message = b""
    if args.payload:
        with open(args.payload, "rb") as f:
            frame = f.read()
        compressed, length = struct.unpack(">BI", frame[:5])
        if compressed or length != len(frame) - 5:
            print("payload is not one uncompressed gRPC frame", file=sys.stderr)
            return 2
        message = frame[5:]

    with grpc.insecure_channel(args.target) as channel:
        call = channel.unary_unary(args.method)  # bytes in, bytes out
        end = time.monotonic() + args.warmup
        while time.monotonic() < end:
            call(message, timeout=10)
        samples = []
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            start = time.perf_counter_ns()
            call(message, timeout=10)
            samples.append((time.perf_counter_ns() - start) / 1e6)

    samples.sort()
    result = {
        "method": args.method,
        "calls": len(samples),
        "p50_ms": samples[len(samples) // 2],
        "p90_ms": samples[int(len(samples) * 0.9)],
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "mean_ms": statistics.fmean(samples),
    }
    text = json.dumps(result)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
