#!/usr/bin/python3
"""Generates the tiny ONNX models used by InferenceGateway.OnnxRuntime.Tests.

Run with Debian's python (it has the `onnx` package):
    /usr/bin/python3 tests/InferenceGateway.OnnxRuntime.Tests/TestModels/generate_test_models.py

Deterministic: fixed weights, no randomness, so the committed files only change when this script does.
Opset 17 (+ ai.onnx.ml 2 for LabelEncoder) / IR 8: what Debian's onnx 1.12 checker accepts; ORT 1.30 runs it.
"""
import os

from onnx import TensorProto, checker, helper, save

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, graph, extra_opsets=()):
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="inferencegateway-tests")
    model.ir_version = 8
    checker.check_model(model)
    path = os.path.join(HERE, name)
    save(model, path)
    print(path)


def affine():
    # y = x @ W + b with a symbolic batch dimension: x [batch, 3] float -> y [batch, 2].
    # W = [[1, 2], [3, 4], [5, 6]], b = [0.5, -1]
    w = helper.make_tensor("W", TensorProto.FLOAT, [3, 2], [1, 2, 3, 4, 5, 6])
    b = helper.make_tensor("b", TensorProto.FLOAT, [2], [0.5, -1.0])
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        initializer=[w, b])
    write("affine.onnx", graph)


def add_fixed():
    # sum = a + b, both [2, 2] float with fixed dims (no symbolic dims at all).
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"])], "add_fixed",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 2]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2, 2])])
    write("add_fixed.onnx", graph)


def int64_ops():
    # ids [batch, 4] int64 -> plus_one = ids + 1 (int64), as_float = Cast(ids, float).
    one = helper.make_tensor("one", TensorProto.INT64, [], [1])
    nodes = [
        helper.make_node("Add", ["ids", "one"], ["plus_one"]),
        helper.make_node("Cast", ["ids"], ["as_float"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes, "int64_ops",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 4])],
        [helper.make_tensor_value_info("plus_one", TensorProto.INT64, ["batch", 4]),
         helper.make_tensor_value_info("as_float", TensorProto.FLOAT, ["batch", 4])],
        initializer=[one])
    write("int64_ops.onnx", graph)


def string_ops():
    # text [n] string -> echo = Identity(text) (string),
    #                    code = LabelEncoder(text) (int64): card -> 1, wire -> 2, anything else -> -1.
    nodes = [
        helper.make_node("Identity", ["text"], ["echo"]),
        helper.make_node("LabelEncoder", ["text"], ["code"], domain="ai.onnx.ml",
                         keys_strings=["card", "wire"], values_int64s=[1, 2], default_int64=-1),
    ]
    graph = helper.make_graph(
        nodes, "string_ops",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["n"])],
        [helper.make_tensor_value_info("echo", TensorProto.STRING, ["n"]),
         helper.make_tensor_value_info("code", TensorProto.INT64, ["n"])])
    write("string_ops.onnx", graph, extra_opsets=[("ai.onnx.ml", 2)])


def identity():
    # y = Identity(x), x [n] float: the output aliases the input inside ORT, which tests pre-allocated outputs.
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])])
    write("identity.onnx", graph)


if __name__ == "__main__":
    affine()
    add_fixed()
    int64_ops()
    string_ops()
    identity()
