"""Open Inference Protocol (KServe v2) interop checks run by KServeInteropTests: Debian's python3-grpcio, an
independent gRPC implementation, against the real gateway.

Prints one JSON line per check, {"name", "ok", "detail"}, and exits 1 if any check failed (2 on a usage or set-up
error). Every call carries a timeout so a hang fails the check instead of the run.

Usage: kserve_interop.py --target 127.0.0.1:PORT --descriptors set.pb --models MODELS_DIR --admin 127.0.0.1:PORT [--only NAME ...]
"""

import argparse
import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import grpc_interop  # noqa: E402

SERVICE = "/inference.GRPCInferenceService/"
TIMEOUT = 20  # seconds, per call; generous for a shared 2-core machine
TOLERANCE = 1e-4


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_status(call, code, contains=None):
    """Runs call(), which must fail with the given grpc.StatusCode; returns the error for further checks."""
    try:
        result = call()
    except grpc.RpcError as e:
        expect(e.code() == code, f"expected {code.name}, got {e.code().name}: {e.details()!r}")
        if contains is not None:
            for text in contains:
                expect(text in (e.details() or ""), f"{code.name} details {e.details()!r} do not mention {text!r}")
        return e
    raise CheckFailed(f"expected {code.name}, got OK: {str(result)[:200]!r}")


class Checks:
    def __init__(self, channel, target, messages, models_dir, admin):
        self.channel = channel
        self.target = target
        self.admin = admin
        self.m = messages
        self.models_dir = models_dir
        self.InferRequest = messages["inference.ModelInferRequest"]
        self.InferResponse = messages["inference.ModelInferResponse"]
        self.InputTensor = messages["inference.ModelInferRequest.InferInputTensor"]
        self.HealthRequest = messages["grpc.health.v1.HealthCheckRequest"]
        self.HealthResponse = messages["grpc.health.v1.HealthCheckResponse"]
        self.serving_status = self.HealthResponse.DESCRIPTOR.enum_types_by_name["ServingStatus"]

    # ---- helpers -------------------------------------------------------------------------------------------------

    def test_data(self, model, version):
        with open(os.path.join(self.models_dir, model, version, "test_data.json")) as f:
            data = json.load(f)
        (input_name, tensor_in), = data["inputs"].items()
        (output_name, tensor_out), = data["outputs"].items()
        return (input_name, list(tensor_in["shape"]), np.asarray(tensor_in["data"], dtype=np.float32),
                output_name, list(tensor_out["shape"]), np.asarray(tensor_out["data"], dtype=np.float32))

    def typed_request(self, model, version, input_name, shape, values, request_id=""):
        tensor = self.InputTensor(name=input_name, datatype="FP32", shape=shape)
        tensor.contents.fp32_contents.extend(float(v) for v in values)
        return self.InferRequest(model_name=model, model_version=version, id=request_id, inputs=[tensor])

    def raw_request(self, model, version, input_name, shape, raw):
        tensor = self.InputTensor(name=input_name, datatype="FP32", shape=shape)
        return self.InferRequest(model_name=model, model_version=version, inputs=[tensor], raw_input_contents=[raw])

    def infer(self, request, timeout=TIMEOUT):
        return grpc_interop.unary(self.channel, SERVICE + "ModelInfer", request, self.InferResponse, timeout=timeout)

    def own_channel(self):
        """A channel with a connection of its own (not shared through grpc's global subchannel pool), ready."""
        channel = grpc.insecure_channel(self.target, options=[("grpc.use_local_subchannel_pool", 1)])
        try:
            grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        except BaseException:
            channel.close()
            raise
        return channel

    def infer_alone(self, request, timeout):
        """ModelInfer on a fresh connection of its own, which only this call can break."""
        with self.own_channel() as own:
            return grpc_interop.unary(own, SERVICE + "ModelInfer", request, self.InferResponse, timeout=timeout)

    def infer_future(self, request, timeout=TIMEOUT):
        method = self.channel.unary_unary(SERVICE + "ModelInfer", request_serializer=lambda m: m.SerializeToString(),
                                          response_deserializer=self.InferResponse.FromString)
        return method.future(request, timeout=timeout)

    def kserve(self, method, request_name, response_name, **fields):
        return grpc_interop.unary(self.channel, SERVICE + method, self.m["inference." + request_name](**fields),
                                  self.m["inference." + response_name], timeout=TIMEOUT)

    @staticmethod
    def compare(expected, actual, what):
        expect(actual.shape == expected.shape, f"{what}: {actual.size} values, expected {expected.size}")
        error = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
        expect(error <= TOLERANCE, f"{what}: max |error| {error:.3g} > {TOLERANCE}; got {actual[:4].tolist()}, "
                                   f"expected {expected[:4].tolist()}")
        return error

    def check_typed(self, model, version):
        input_name, shape, values, output_name, out_shape, expected = self.test_data(model, version)
        reply = self.infer(self.typed_request(model, version, input_name, shape, values, request_id="py-typed"))
        expect(reply.model_name == model and reply.model_version == version,
               f"answered by {reply.model_name}:{reply.model_version}, expected {model}:{version}")
        expect(reply.id == "py-typed", f"id {reply.id!r} not echoed")
        expect(len(reply.outputs) == 1, f"{len(reply.outputs)} outputs")
        out = reply.outputs[0]
        expect(out.name == output_name and out.datatype == "FP32" and list(out.shape) == out_shape,
               f"output {out.name} {out.datatype} {list(out.shape)}, expected {output_name} FP32 {out_shape}")
        expect(len(reply.raw_output_contents) == 0, "typed request answered with raw_output_contents")
        error = self.compare(expected, np.asarray(out.contents.fp32_contents, dtype=np.float32), f"{model}:{version}")
        return f"{len(expected)} outputs, max |error| {error:.2g}"

    def bench_ok(self):
        """One bench_mlp call with the reference data; raises if the answer is wrong. Proves the server still serves."""
        input_name, shape, values, _, _, expected = self.test_data("bench_mlp", "1")
        reply = self.infer(self.raw_request("bench_mlp", "1", input_name, shape, values.astype("<f4").tobytes()))
        self.compare(expected, np.frombuffer(reply.raw_output_contents[0], dtype="<f4"), "bench_mlp:1 follow-up")

    # ---- 1. ModelInfer ------------------------------------------------------------------------------------------

    def infer_fraud_v1_typed(self):
        return self.check_typed("fraud", "1")

    def infer_fraud_v2_typed(self):
        return self.check_typed("fraud", "2")

    def infer_bench_mlp_v1_raw(self):
        input_name, shape, values, output_name, out_shape, expected = self.test_data("bench_mlp", "1")
        reply = self.infer(self.raw_request("bench_mlp", "1", input_name, shape, values.astype("<f4").tobytes()))
        expect(reply.model_version == "1", f"answered by version {reply.model_version!r}")
        expect(len(reply.outputs) == 1 and len(reply.raw_output_contents) == 1,
               f"{len(reply.outputs)} outputs, {len(reply.raw_output_contents)} raw_output_contents")
        out = reply.outputs[0]
        expect(out.name == output_name and out.datatype == "FP32" and list(out.shape) == out_shape,
               f"output {out.name} {out.datatype} {list(out.shape)}, expected {output_name} FP32 {out_shape}")
        expect(not out.HasField("contents"), "raw request answered with typed contents as well")
        raw = reply.raw_output_contents[0]
        expect(len(raw) == 4 * len(expected), f"raw output holds {len(raw)} bytes, expected {4 * len(expected)}")
        error = self.compare(expected, np.frombuffer(raw, dtype="<f4"), "bench_mlp:1")
        return f"{len(expected)} outputs from {len(raw)} raw bytes, max |error| {error:.2g}"

    def infer_empty_version_uses_latest(self):
        input_name, shape, values, _, _, expected = self.test_data("fraud", "2")
        reply = self.infer(self.typed_request("fraud", "", input_name, shape, values))
        expect(reply.model_version == "2", f"model_version \"\" answered by version {reply.model_version!r}, expected 2")
        self.compare(expected, np.asarray(reply.outputs[0].contents.fp32_contents, dtype=np.float32), "fraud:\"\"")
        return "answered by version 2"

    # ---- 2. liveness, readiness, metadata -----------------------------------------------------------------------

    def server_live(self):
        expect(self.kserve("ServerLive", "ServerLiveRequest", "ServerLiveResponse").live is True, "live is false")
        return "live"

    def server_ready(self):
        expect(self.kserve("ServerReady", "ServerReadyRequest", "ServerReadyResponse").ready is True, "ready is false")
        return "ready"

    def model_ready(self):
        seen = {}
        for name, version in (("fraud", "1"), ("fraud", "2"), ("fraud", ""), ("bench_mlp", "1"), ("fraud", "9"), ("nope", "")):
            seen[f"{name}:{version}"] = self.kserve("ModelReady", "ModelReadyRequest", "ModelReadyResponse",
                                                    name=name, version=version).ready
        wanted = {"fraud:1": True, "fraud:2": True, "fraud:": True, "bench_mlp:1": True, "fraud:9": False, "nope:": False}
        expect(seen == wanted, f"ready flags {seen}, expected {wanted}")
        return json.dumps(seen)

    def server_metadata(self):
        reply = self.kserve("ServerMetadata", "ServerMetadataRequest", "ServerMetadataResponse")
        expect(reply.name != "" and reply.version != "", f"name {reply.name!r}, version {reply.version!r}")
        return f"{reply.name} {reply.version} extensions={list(reply.extensions)}"

    def model_metadata(self):
        reply = self.kserve("ModelMetadata", "ModelMetadataRequest", "ModelMetadataResponse", name="fraud", version="2")
        expect(reply.name == "fraud", f"name {reply.name!r}")
        expect(list(reply.versions) == ["1", "2"], f"versions {list(reply.versions)}")
        expect(reply.platform == "onnxruntime_onnx", f"platform {reply.platform!r}")
        inputs = [(t.name, t.datatype, list(t.shape)) for t in reply.inputs]
        outputs = [(t.name, t.datatype, list(t.shape)) for t in reply.outputs]
        expect(inputs == [("features", "FP32", [-1, 8])], f"inputs {inputs}")
        expect(outputs == [("probability", "FP32", [-1, 1])], f"outputs {outputs}")
        v1 = self.kserve("ModelMetadata", "ModelMetadataRequest", "ModelMetadataResponse", name="fraud", version="1")
        expect([list(t.shape) for t in v1.inputs] == [[-1, 3]], f"fraud:1 inputs {[list(t.shape) for t in v1.inputs]}")
        expect_status(lambda: self.kserve("ModelMetadata", "ModelMetadataRequest", "ModelMetadataResponse", name="nope"),
                      grpc.StatusCode.NOT_FOUND, contains=["nope"])
        return f"inputs {inputs}, outputs {outputs}; unknown model NOT_FOUND"

    # ---- 3. health ----------------------------------------------------------------------------------------------

    def health_status(self, service):
        reply = grpc_interop.unary(self.channel, "/grpc.health.v1.Health/Check", self.HealthRequest(service=service),
                                   self.HealthResponse, timeout=TIMEOUT)
        return self.serving_status.values_by_number[reply.status].name

    def health_check(self):
        seen = {service: self.health_status(service) for service in ("", "fraud", "fraud:1", "fraud:2", "bench_mlp")}
        expect(all(v == "SERVING" for v in seen.values()), f"statuses {seen}, expected all SERVING")
        return json.dumps(seen)

    def health_check_unknown_not_found(self):
        expect_status(lambda: self.health_status("no.such.Model"), grpc.StatusCode.NOT_FOUND)
        return "NOT_FOUND"

    def health_watch(self):
        call = grpc_interop.server_stream(self.channel, "/grpc.health.v1.Health/Watch", self.HealthRequest(service="fraud"),
                                          self.HealthResponse, timeout=TIMEOUT)
        try:
            first = self.serving_status.values_by_number[next(call).status].name
        finally:
            call.cancel()
        expect(first == "SERVING", f"first Watch message {first}")
        expect(call.code() == grpc.StatusCode.CANCELLED, f"Watch ended with {call.code()} after cancel")
        return "first SERVING, then cancelled by the client"

    # ---- 4. deadline --------------------------------------------------------------------------------------------

    def deadline_exceeded(self):
        input_name, _, values, _, _, _ = self.test_data("bench_mlp", "1")
        rows = np.resize(values.astype("<f4"), 128 * 512).tobytes()
        request = self.raw_request("bench_mlp", "1", input_name, [128, 512], rows)
        # The short-deadline calls each get a channel of their own. grpc-core may cancel a call whose deadline has
        # already passed after giving it a stream id but before writing its HEADERS, and then sends RST_STREAM for that
        # idle stream (grpc/grpc#19655); RFC 9113 5.1 makes that a connection error, so Kestrel answers GOAWAY
        # (PROTOCOL_ERROR) and every other call on that connection fails with UNAVAILABLE. Seen about once in 15 runs.
        expect_status(lambda: self.infer_alone(request, timeout=0.001), grpc.StatusCode.DEADLINE_EXCEEDED)
        # Again behind a queue of 128-row batches: the request is sent (grpc-timeout ~5 ms) and expires in the server's
        # queue or on the client, whichever notices first; either way the caller sees DEADLINE_EXCEEDED and the calls
        # around it are unaffected.
        futures = [self.infer_future(request) for _ in range(8)]
        expect_status(lambda: self.infer_alone(request, timeout=0.005), grpc.StatusCode.DEADLINE_EXCEEDED)
        failures = [e for e in (f.exception(timeout=TIMEOUT) for f in futures) if e is not None]
        expect(not failures, f"concurrent calls failed: {failures[:2]}")
        self.bench_ok()
        return "timeout 1 ms and 5 ms -> DEADLINE_EXCEEDED; server then answers normally"

    # ---- 5. cancellation ----------------------------------------------------------------------------------------

    def cancelled(self):
        # `held` (added by the test fixture: fraud v1's model, batching config waiting up to 10 s for a full batch of
        # 128 rows) keeps a lone 1-row call queued in the server until it is cancelled, so the check does not depend on
        # how fast the server runs other work (it did when the victim queued behind real batches on a busy machine).
        input_name, shape, values, _, _, _ = self.test_data("fraud", "1")
        request = self.typed_request("held", "1", input_name, [1, shape[1]], values[:shape[1]])
        cancelled_before = self.server_count("held", "1", "Cancelled")
        with self.own_channel() as own:
            victim = own.unary_unary(SERVICE + "ModelInfer", request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=self.InferResponse.FromString).future(request, timeout=TIMEOUT)
            deadline = time.monotonic() + TIMEOUT
            readings = []
            while not victim.done() and time.monotonic() < deadline:
                readings.append(self.server_metric("gateway_batcher_queue_depth", model="held", version="1"))
                if readings[-1] >= 1:
                    break
                time.sleep(0.005)
            # (No victim.code() in these messages: on a pending call it blocks until the call ends.)
            expect(not victim.done(), "the call finished before it was cancelled")
            expect(readings and readings[-1] == 1,
                   f"the call never showed up in the server's queue (depth readings {readings[:5]}..{readings[-5:]}, "
                   f"{len(readings)} in all)")
            cancelled = victim.cancel()
        expect(cancelled, f"cancel() returned False: the call had already finished ({victim.code()})")
        expect(victim.cancelled(), "future not cancelled")
        try:
            victim.result(timeout=TIMEOUT)
            raise CheckFailed("result() returned a response after cancel")
        except grpc.FutureCancelledError:
            pass
        expect(victim.code() == grpc.StatusCode.CANCELLED, f"code() is {victim.code()}")
        # The server saw the RST_STREAM and took the request out of its batcher (recorded as status Cancelled).
        deadline = time.monotonic() + TIMEOUT
        while self.server_count("held", "1", "Cancelled") <= cancelled_before and time.monotonic() < deadline:
            time.sleep(0.05)
        cancelled_after = self.server_count("held", "1", "Cancelled")
        expect(cancelled_after == cancelled_before + 1,
               f"gateway_requests_total{{status=Cancelled}} went from {cancelled_before} to {cancelled_after}, expected +1")
        depth = self.server_metric("gateway_batcher_queue_depth", model="held", version="1")
        expect(depth == 0, f"queue depth {depth} after the cancellation, expected 0")
        self.bench_ok()
        return ("queued call cancelled -> FutureCancelledError, code CANCELLED; server recorded it as Cancelled and "
                "emptied its queue; a follow-up call OK")

    def server_metric(self, name, **labels):
        """Sum of one metric family's samples whose labels include `labels`, from the admin port's Prometheus text."""
        with urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=TIMEOUT) as response:
            text = response.read().decode("utf-8")
        wanted = {f'{k}="{v}"' for k, v in labels.items()}
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{"):
                sample, _, value = line.rpartition(" ")
                if wanted <= set(sample[sample.index("{") + 1:sample.rindex("}")].split(",")):
                    total += float(value)
        return total

    def server_count(self, model, version, status):
        """gateway_requests_total for one model version and status."""
        return self.server_metric("gateway_requests_total", model=model, version=version, status=status)

    # ---- 6. oversized message -----------------------------------------------------------------------------------

    def oversized_resource_exhausted(self):
        rows = (5 * 1024 * 1024) // (512 * 4)  # 5 MiB of FP32, over the 4 MiB default receive limit
        request = self.raw_request("bench_mlp", "1", "input", [rows, 512], bytes(rows * 512 * 4))
        size = request.ByteSize()
        expect_status(lambda: self.infer(request), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.bench_ok()
        return f"{size} byte request -> RESOURCE_EXHAUSTED; server then answers normally"

    # ---- 7. unknown method and service --------------------------------------------------------------------------

    def raw_call(self, path, payload, timeout=TIMEOUT):
        method = self.channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        return method(payload, timeout=timeout)

    def unknown_method_unimplemented(self):
        expect_status(lambda: self.raw_call(SERVICE + "NoSuchMethod", b""), grpc.StatusCode.UNIMPLEMENTED)
        return "UNIMPLEMENTED"

    def unknown_service_unimplemented(self):
        expect_status(lambda: self.raw_call("/no.such.Service/ModelInfer", b""), grpc.StatusCode.UNIMPLEMENTED)
        return "UNIMPLEMENTED"

    # ---- 8. malformed and invalid requests ----------------------------------------------------------------------

    def malformed_body_internal(self):
        # A truncated varint tag: not a ModelInferRequest. grpc-dotnet answers INTERNAL "Failed to deserialize ...".
        error = expect_status(lambda: self.raw_call(SERVICE + "ModelInfer", b"\xff\xff\xff"), grpc.StatusCode.INTERNAL)
        self.bench_ok()
        return f"INTERNAL {error.details()!r}"

    def wrong_shape_invalid_argument(self):
        request = self.typed_request("fraud", "1", "features", [1, 4], [1.0, 2.0, 3.0, 4.0])
        error = expect_status(lambda: self.infer(request), grpc.StatusCode.INVALID_ARGUMENT, contains=["features", "[-1,3]"])
        return f"INVALID_ARGUMENT {error.details()!r}"

    def invalid_utf8_id_invalid_argument(self):
        # Python's protobuf cannot build such a request (str fields), so the id (field 3) is appended as raw bytes; the
        # last value wins. Served, its id would come back verbatim and this client would fail to parse the response.
        request = self.typed_request("fraud", "1", "features", [1, 3], [1.0, 2.0, 3.0]).SerializeToString()
        error = expect_status(lambda: self.raw_call(SERVICE + "ModelInfer", request + b"\x1a\x03a\xff\xfe"),
                              grpc.StatusCode.INVALID_ARGUMENT, contains=["ModelInferRequest.id is not valid UTF-8"])
        response = self.InferResponse.FromString(self.raw_call(SERVICE + "ModelInfer", request + b"\x1a\x03a\xc3\xa9"))
        expect(response.id == "a\u00e9", f"id {response.id!r}, expected 'a\u00e9'")
        return f"INVALID_ARGUMENT {error.details()!r}; the same id as UTF-8 is served"

    def unknown_model_not_found(self):
        request = self.typed_request("nope", "", "x", [1, 1], [1.0])
        error = expect_status(lambda: self.infer(request), grpc.StatusCode.NOT_FOUND, contains=["nope"])
        return f"NOT_FOUND {error.details()!r}"

    # ---- 9. reflection ------------------------------------------------------------------------------------------

    def reflection_list_services(self):
        Request = self.m["grpc.reflection.v1alpha.ServerReflectionRequest"]
        Response = self.m["grpc.reflection.v1alpha.ServerReflectionResponse"]
        replies = grpc_interop.duplex(self.channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                      [Request(list_services="")], Response, timeout=TIMEOUT)
        names = [s.name for reply in replies for s in reply.list_services_response.service]
        for wanted in ("inference.GRPCInferenceService", "grpc.health.v1.Health"):
            expect(wanted in names, f"{wanted} missing from {names}")
        return json.dumps(names)


CHECKS = [
    "infer_fraud_v1_typed", "infer_fraud_v2_typed", "infer_bench_mlp_v1_raw", "infer_empty_version_uses_latest",
    "server_live", "server_ready", "model_ready", "server_metadata", "model_metadata",
    "health_check", "health_check_unknown_not_found", "health_watch",
    # cancelled before deadline_exceeded: a call whose deadline expires on the client may also count as Cancelled in
    # the server's metrics, which the cancelled check reads.
    "cancelled", "deadline_exceeded", "oversized_resource_exhausted",
    "unknown_method_unimplemented", "unknown_service_unimplemented",
    "malformed_body_internal", "wrong_shape_invalid_argument", "invalid_utf8_id_invalid_argument",
    "unknown_model_not_found", "reflection_list_services",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--descriptors", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--admin", required=True, help="host:port of the admin HTTP endpoint (/metrics)")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()

    messages = grpc_interop.load_messages(args.descriptors)
    names = args.only or CHECKS
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        print(f"unknown checks: {unknown}", file=sys.stderr)
        return 2

    failed = 0
    with grpc.insecure_channel(args.target) as channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        checks = Checks(channel, args.target, messages, args.models, args.admin)
        for name in names:
            start = time.monotonic()
            try:
                detail, ok = getattr(checks, name)(), True
            except CheckFailed as e:
                detail, ok = str(e), False
            except grpc.RpcError as e:
                detail, ok = f"unexpected {e.code().name}: {e.details()!r}", False
            except Exception as e:  # noqa: BLE001 - any other failure is reported as this check's
                detail, ok = f"{type(e).__name__}: {e}", False
            failed += not ok
            print(json.dumps({"name": name, "ok": ok, "detail": detail, "seconds": round(time.monotonic() - start, 3)}),
                  flush=True)
    print(json.dumps({"name": "_summary", "ok": failed == 0, "detail": f"{len(names) - failed}/{len(names)} passed",
                      "grpcio": grpc.__version__}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
