#!/usr/bin/python3
"""Checks the generated files independently of generate.py's own code paths (a few seconds).

    /usr/bin/python3 models/verify.py

1. Every model.onnx passes onnx.checker (full check), has IR <= 8, opset 17, the config's input and
   output names, and a symbolic batch dimension.
2. A small numpy interpreter of the ONNX graph (written from the ONNX operator spec, reading the
   initializers from the file) reproduces each test_data.json output.
3. The streaming features in data/features.csv.gz equal, bit for bit, a brute-force re-computation
   from data/transactions.csv.gz (the README definitions, one scan per sampled event).
Exits non-zero on the first failure.
"""

import gzip
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.abspath(__file__))


def fail(msg):
    print("verify: FAIL: " + msg)
    sys.exit(1)


def run_graph(model, feeds):
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env.update(feeds)
    for node in model.graph.node:
        a = {x.name: onnx.helper.get_attribute_value(x) for x in node.attribute}
        i = [env[n] for n in node.input]
        op = node.op_type
        if op == "Gather":
            r = np.take(i[0], i[1], axis=a.get("axis", 0))
        elif op == "Max":
            r = np.maximum(i[0], i[1])
        elif op == "Add":
            r = i[0] + i[1]
        elif op == "Sub":
            r = i[0] - i[1]
        elif op == "Mul":
            r = i[0] * i[1]
        elif op == "Log":
            r = np.log(i[0])
        elif op == "Where":
            r = np.where(i[0], i[1], i[2])
        elif op == "Equal":
            r = i[0] == i[1]
        elif op == "Cast":
            if a["to"] != onnx.TensorProto.FLOAT:
                fail("unexpected Cast target %d" % a["to"])
            r = i[0].astype(np.float32)
        elif op == "Concat":
            r = np.concatenate(i, axis=a["axis"])
        elif op == "Gemm":
            if a.get("transA", 0) or a.get("transB", 0):
                fail("unexpected Gemm transpose")
            r = a.get("alpha", 1.0) * (i[0] @ i[1]) + a.get("beta", 1.0) * i[2]
        elif op == "Relu":
            r = np.maximum(i[0], 0)
        elif op == "Sigmoid":
            r = 1.0 / (1.0 + np.exp(-i[0]))
        else:
            fail("op %s not covered by the interpreter" % op)
        env[node.output[0]] = r.astype(np.float32) if r.dtype == np.float64 else r
    return {o.name: env[o.name] for o in model.graph.output}


def check_models():
    for name in ("fraud", "bench_mlp"):
        cfg = json.load(open(os.path.join(ROOT, name, "config.json")))
        if cfg["name"] != name:
            fail("%s/config.json name %r" % (name, cfg["name"]))
        for ver, spec in cfg["versions"].items():
            path = os.path.join(ROOT, name, ver, "model.onnx")
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
            if model.ir_version > 8 or [o.version for o in model.opset_import] != [17]:
                fail("%s: ir %d opset %s" % (path, model.ir_version, model.opset_import))
            for vi, want in ((model.graph.input, spec["inputs"]), (model.graph.output, spec["outputs"])):
                got = [(v.name, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in vi]
                exp = [(w["name"], ["batch"] + w["dims"][1:]) for w in want]
                if got != exp:
                    fail("%s: io %s != config %s" % (path, got, exp))
            if "features" in spec and spec["features"] and len(spec["features"]) != spec["inputs"][0]["dims"][1]:
                fail("%s: %d feature names for width %d" % (path, len(spec["features"]), spec["inputs"][0]["dims"][1]))
            td = json.load(open(os.path.join(ROOT, name, ver, "test_data.json")))
            (in_name, x), = td["inputs"].items()
            (out_name, y), = td["outputs"].items()
            xs = np.array(x["data"], dtype=np.float32).reshape(x["shape"])
            want = np.array(y["data"], dtype=np.float32).reshape(y["shape"])
            got = run_graph(model, {in_name: xs})[out_name]
            err = float(np.max(np.abs(got - want)))
            if got.shape != want.shape or err > 1e-5:
                fail("%s: interpreter vs test_data max abs diff %g" % (path, err))
            print("verify: %s v%s ok (onnx.checker, io names, test_data max abs diff %.1e)" % (name, ver, err))


def check_features(sample=3000):
    def rows(rel):
        with gzip.open(os.path.join(ROOT, rel), "rt") as f:
            header = f.readline().strip().split(",")
            return header, [line.rstrip("\n").split(",") for line in f]

    th, tx = rows("data/transactions.csv.gz")
    fh, fx = rows("data/features.csv.gz")
    if len(tx) != len(fx):
        fail("row counts differ")
    times = [int(r[0]) for r in tx]
    if any(times[k] > times[k + 1] for k in range(len(times) - 1)):
        fail("transactions not sorted by event time")
    by_card = {}
    for k, r in enumerate(tx):
        by_card.setdefault(r[1], []).append(k)
    for card, ks in by_card.items():
        if any(times[ks[j]] >= times[ks[j + 1]] for j in range(len(ks) - 1)):
            fail("card %s has repeated event times" % card)

    rng = np.random.default_rng(1)
    picks = rng.choice(len(tx), size=min(sample, len(tx)), replace=False)
    mins, hours, days = 60_000, 3_600_000, 86_400_000
    for k in picks.tolist():
        t, card, _, cat, amount, _ = tx[k]
        t = int(t)
        cents = int(amount.replace(".", ""))
        prior = [tx[j] for j in by_card[card] if int(tx[j][0]) < t]  # strictly before, same card

        def window(w):
            return [p for p in prior if int(p[0]) >= t - w]  # [t - w, t)

        c30 = [int(p[4].replace(".", "")) for p in window(30 * days)]
        expect = [
            np.float32(cents / 100.0),
            np.float32((t // hours) % 24),
            np.float32(int(cat)),
            np.float32(len(window(10 * mins))),
            np.float32(sum(int(p[4].replace(".", "")) for p in window(hours)) / 100.0),
            np.float32(sum(c30) / 100.0 / len(c30)) if c30 else np.float32(0.0),
            np.float32(len({p[2] for p in window(days)})),
            np.float32(min((t - max(int(p[0]) for p in prior)) / 1000.0, 2592000.0)) if prior else np.float32(2592000.0),
        ]
        got = [np.float32(v) for v in fx[k][2:]]
        if fx[k][0] != tx[k][0] or fx[k][1] != card:
            fail("features row %d keys differ" % k)
        for nm, g, e in zip(fh[2:], got, expect):
            if g.tobytes() != e.tobytes():
                fail("row %d %s: file %r brute force %r" % (k, nm, g, e))
    print("verify: features.csv.gz matches brute force on %d sampled events of %d" % (len(picks), len(tx)))


if __name__ == "__main__":
    check_models()
    check_features()
    print("verify: all ok")
