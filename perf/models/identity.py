#!/usr/bin/python3
"""Writes a one-model repository holding `identity`: one ONNX Identity node, FP32 [-1, 3] in and out.

The transport benchmark (perf/run-suite.sh, section b) serves it to measure the gateway's ModelInfer path with as
little model work as ONNX Runtime allows, next to the bundled fraud v1 (17 nodes). It is a benchmark fixture, not a
bundled model, so it lives outside models/.

    /usr/bin/python3 perf/models/identity.py OUT_DIR
"""

import json
import os
import sys


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    from onnx import TensorProto, helper, save

    root = os.path.join(argv[0], "identity")
    os.makedirs(os.path.join(root, "1"), exist_ok=True)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["features"], ["output"])],
        "identity",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3])],
    )
    model = helper.make_model(graph, producer_name="InferenceGateway perf/models/identity.py",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, os.path.join(root, "1", "model.onnx"))
    rows = [[1.5, 10.0, 3.0], [250.0, 23.0, 7.0]]
    with open(os.path.join(root, "1", "test_data.json"), "w") as f:
        flat = [v for row in rows for v in row]
        json.dump({"inputs": {"features": {"shape": [2, 3], "data": flat}},
                   "outputs": {"output": {"shape": [2, 3], "data": flat}}}, f, indent=1)
    config = {
        "name": "identity",
        "platform": "onnxruntime_onnx",
        "max_batch_size": 128,
        "dynamic_batching": {"max_queue_delay_microseconds": 0, "preferred_batch_size": [16, 64],
                             "max_queue_size": 4096},
        "instance_count": 1,
        "intra_op_threads": 1,
        "versions": {"1": {"inputs": [{"name": "features", "data_type": "FP32", "dims": [-1, 3]}],
                           "outputs": [{"name": "output", "data_type": "FP32", "dims": [-1, 3]}]}},
    }
    with open(os.path.join(root, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
