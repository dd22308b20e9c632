"""Remote model versions and experiment arms through Debian's python3-grpcio, run by RemoteVersionTests: the front
gateway serves fraud version 3 by forwarding ModelInfer (Yarp.ReverseProxy) to a backend gateway's fraud version 1,
and has an experiment on fraud with arms "remote" (version 3) and "local" (version 1).

Prints one JSON line per check, {"name", "ok", "detail"}, and exits 1 if any check failed.

Usage: experiments_interop.py --target 127.0.0.1:PORT --descriptors set.pb --models MODELS_DIR
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import grpc_interop  # noqa: E402

INFER = "/inference.GRPCInferenceService/ModelInfer"
TIMEOUT = 20


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


class Checks:
    def __init__(self, channel, messages, models_dir):
        self.channel = channel
        self.m = messages
        self.Request = messages["inference.ModelInferRequest"]
        self.Response = messages["inference.ModelInferResponse"]
        self.Input = messages["inference.ModelInferRequest.InferInputTensor"]
        with open(os.path.join(models_dir, "fraud", "1", "test_data.json")) as f:
            data = json.load(f)
        (self.input_name, tensor), = data["inputs"].items()
        self.shape = tensor["shape"]
        self.values = np.asarray(tensor["data"], dtype=np.float32)
        (_, out), = data["outputs"].items()
        self.expected = np.asarray(out["data"], dtype=np.float32)

    def request(self, version, raw, entity=None):
        request = self.Request(model_name="fraud", model_version=version, id="py-" + (entity or version))
        tensor = self.Input(name=self.input_name, datatype="FP32", shape=self.shape)
        if raw:
            request.raw_input_contents.append(self.values.astype("<f4").tobytes())
        else:
            tensor.contents.fp32_contents.extend(self.values.tolist())
        request.inputs.append(tensor)
        if entity is not None:
            request.parameters["entity_id"].string_param = entity
        return request

    def infer(self, request):
        return grpc_interop.unary(self.channel, INFER, request, self.Response, timeout=TIMEOUT)

    def outputs(self, reply):
        if len(reply.raw_output_contents) > 0:
            return np.frombuffer(reply.raw_output_contents[0], dtype="<f4")
        return np.asarray(reply.outputs[0].contents.fp32_contents, dtype=np.float32)

    def remote_version_typed_answers_like_local(self):
        remote = self.infer(self.request("3", raw=False))
        local = self.infer(self.request("1", raw=False))
        expect(remote.model_name == "fraud" and remote.model_version == "3", f"answered as {remote.model_name}:{remote.model_version}")
        expect(remote.id == "py-3", f"id {remote.id!r}")
        expect(np.allclose(self.outputs(remote), self.expected, atol=1e-4), f"{self.outputs(remote)} != {self.expected}")
        expect(np.array_equal(self.outputs(remote), self.outputs(local)), "remote and local outputs differ")
        expect([o.name for o in remote.outputs] == [o.name for o in local.outputs], "output names differ")
        return f"{len(self.expected)} outputs equal to the local version's"

    def remote_version_raw_answers_raw(self):
        reply = self.infer(self.request("3", raw=True))
        expect(reply.model_version == "3", f"answered by {reply.model_version!r}")
        expect(len(reply.raw_output_contents) == 1, f"{len(reply.raw_output_contents)} raw outputs")
        expect(np.allclose(self.outputs(reply), self.expected, atol=1e-4), "outputs differ from the reference")
        return "raw in, raw out"

    def experiment_arm_parameter_and_version(self):
        arms = {}
        for i in range(40):
            entity = f"card-{i}"
            reply = self.infer(self.request("", raw=True, entity=entity))
            expect("arm" in reply.parameters, f"{entity}: no 'arm' parameter")
            arm = reply.parameters["arm"].string_param
            expect((arm, reply.model_version) in (("remote", "3"), ("local", "1")), f"{entity}: arm {arm!r} answered by {reply.model_version!r}")
            again = self.infer(self.request("", raw=True, entity=entity))
            expect(again.parameters["arm"].string_param == arm, f"{entity}: arm changed between calls")
            expect(np.allclose(self.outputs(reply), self.expected, atol=1e-4), f"{entity}: outputs differ")
            arms[arm] = arms.get(arm, 0) + 1
        expect(len(arms) == 2, f"arms seen: {arms}")
        return f"arms {arms}"

    def pinned_remote_version_reports_pinned(self):
        reply = self.infer(self.request("3", raw=True, entity="card-1"))
        expect(reply.parameters["arm"].string_param == "pinned", f"arm {reply.parameters['arm'].string_param!r}")
        return "pinned"

    def every_call_succeeds_with_a_dead_replica_out(self):
        for i in range(30):
            reply = self.infer(self.request("3", raw=True))
            expect(reply.model_version == "3", f"call {i}: {reply.model_version!r}")
        return "30 calls"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--descriptors", required=True)
    parser.add_argument("--models", required=True)
    args = parser.parse_args()
    messages = grpc_interop.load_messages(args.descriptors)
    failed = False
    with grpc.insecure_channel(args.target) as channel:
        checks = Checks(channel, messages, args.models)
        for name in ["remote_version_typed_answers_like_local", "remote_version_raw_answers_raw",
                     "experiment_arm_parameter_and_version", "pinned_remote_version_reports_pinned",
                     "every_call_succeeds_with_a_dead_replica_out"]:
            try:
                detail = getattr(checks, name)()
                ok = True
            except (CheckFailed, grpc.RpcError) as e:
                detail = f"{type(e).__name__}: {e}" if isinstance(e, CheckFailed) else f"{e.code().name}: {e.details()}"
                ok = False
            failed = failed or not ok
            print(json.dumps({"name": name, "ok": ok, "detail": detail}), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
