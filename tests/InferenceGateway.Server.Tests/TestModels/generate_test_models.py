#!/usr/bin/python3
"""Generates the tiny ONNX models the server tests serve from scratch model repositories (ScratchRepository.cs).

Run with Debian's python (it has the `onnx` package):
    /usr/bin/python3 tests/InferenceGateway.Server.Tests/TestModels/generate_test_models.py

Deterministic (fixed constants, no randomness), so the committed files only change when this script does. Each model's
answer is exact in float, so tests compare outputs with ==: which model answered is never a matter of tolerance.
Opset 17 / IR 8: what Debian's onnx 1.12 checker accepts.
"""
import os

from onnx import TensorProto, checker, helper, save

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, graph):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="inferencegateway-server-tests")
    model.ir_version = 8
    checker.check_model(model)
    path = os.path.join(HERE, name)
    save(model, path)
    print(path)


def scale(name, factor):
    # y = x * factor: x [batch, 4] float -> y [batch, 4]. Two factors, same tensors: a hot reload swaps one for the other.
    k = helper.make_tensor("k", TensorProto.FLOAT, [], [factor])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "k"], ["y"])], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        initializer=[k])
    write(name + ".onnx", graph)


def identity8():
    # y = x: x [batch, 8] float -> y [batch, 8]. Every answer must be its own request's input, bit for bit.
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "identity8",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])])
    write("identity8.onnx", graph)


def lookup():
    # y = table[index]: index [batch, 1] int64 -> y [batch, 1] float, table = [10, 20, 30, 40]. Loads and warms up (an
    # all-zero index is valid), and fails inside ONNX Runtime at run time for an index outside 0..3 (or -4..-1):
    # "indices element out of data bounds".
    table = helper.make_tensor("table", TensorProto.FLOAT, [4], [10, 20, 30, 40])
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "index"], ["y"], axis=0)], "lookup",
        [helper.make_tensor_value_info("index", TensorProto.INT64, ["batch", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        initializer=[table])
    write("lookup.onnx", graph)


def heavy_identity():
    # y = x through 16 MatMuls by a 128 x 128 identity matrix (EyeLike: no weights in the file): x [batch, 128] float ->
    # y [batch, 128], exactly x, at ~2 M multiply-adds a row, so that the model, not the transport, is what saturates.
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [128, 128])
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["zeros"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])),
        helper.make_node("EyeLike", ["zeros"], ["eye"]),
    ]
    previous = "x"
    for layer in range(16):
        out = "y" if layer == 15 else f"h{layer}"
        nodes.append(helper.make_node("MatMul", [previous, "eye"], [out]))
        previous = out
    graph = helper.make_graph(
        nodes, "heavy_identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 128])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 128])],
        initializer=[shape])
    write("heavy_identity.onnx", graph)


if __name__ == "__main__":
    scale("scale2", 2.0)
    scale("scale3", 3.0)
    identity8()
    lookup()
    heavy_identity()
