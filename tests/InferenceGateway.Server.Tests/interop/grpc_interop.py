"""Reusable helpers for interop tests that drive a gRPC server with an independent client (Debian's python3-grpcio).

Message classes come from a serialized FileDescriptorSet, not from generated *_pb2 modules. Why: the protoc in the
Grpc.Tools NuGet package (35.x) emits Python code that refuses to load on an older protobuf runtime, and Debian 12's
python3-protobuf is 4.21. The FileDescriptorSet wire format is stable across versions, so classes built with
descriptor_pool + message_factory work on any runtime without installing a second protoc. The C# test writes the set
from the generated C# descriptors (FileDescriptor.SerializedData) - see PythonInteropTests.WriteDescriptorSet.

(Copy of tests/InferenceGateway.Grpc.Tests/interop/grpc_interop.py, kept next to kserve_interop.py so the test
output folder is self-contained; the C# side here is KServeInteropTests.WriteDescriptorSet.)

Usage:
    import grpc, grpc_interop
    messages = grpc_interop.load_messages("/tmp/descriptors.pb")
    channel = grpc.insecure_channel("127.0.0.1:50051")
    Req = messages["grpc.health.v1.HealthCheckRequest"]; Resp = messages["grpc.health.v1.HealthCheckResponse"]
    reply = grpc_interop.unary(channel, "/grpc.health.v1.Health/Check", Req(service=""), Resp, timeout=5)
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def load_messages(descriptor_set_path):
    """Returns {full message name: message class} for every message in a serialized FileDescriptorSet."""
    with open(descriptor_set_path, "rb") as f:
        file_set = descriptor_pb2.FileDescriptorSet.FromString(f.read())

    pool = descriptor_pool.DescriptorPool()
    by_name = {fdp.name: fdp for fdp in file_set.file}
    added = set()

    def add(fdp):
        # Dependencies first: the C++ and upb backends require topological order.
        if fdp.name in added:
            return
        added.add(fdp.name)
        for dependency in fdp.dependency:
            if dependency in by_name:
                add(by_name[dependency])
        pool.Add(fdp)

    for fdp in file_set.file:
        add(fdp)

    classes = {}

    def collect(prefix, message_types):
        for message in message_types:
            full_name = prefix + message.name
            classes[full_name] = _message_class(pool, pool.FindMessageTypeByName(full_name))
            collect(full_name + ".", message.nested_type)

    for fdp in file_set.file:
        collect(fdp.package + "." if fdp.package else "", fdp.message_type)
    return classes


def _message_class(pool, descriptor):
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def unary(channel, path, request, response_class, timeout=None, metadata=None, compression=None):
    """Calls a unary method by path ("/pkg.Service/Method"); raises grpc.RpcError on a non-OK status.
    compression=grpc.Compression.Gzip compresses the request."""
    method = channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=response_class.FromString)
    return method(request, timeout=timeout, metadata=metadata, compression=compression)


def server_stream(channel, path, request, response_class, timeout=None, metadata=None):
    """Starts a server-streaming call; returns the call (iterate it for responses, .cancel() to stop)."""
    method = channel.unary_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=response_class.FromString)
    return method(request, timeout=timeout, metadata=metadata)


def duplex(channel, path, requests, response_class, timeout=None, metadata=None):
    """Starts a duplex call from an iterator of requests; returns the response iterator."""
    method = channel.stream_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=response_class.FromString)
    return method(iter(requests), timeout=timeout, metadata=metadata)


def status_name(rpc_error):
    """The status code name of a grpc.RpcError, e.g. "NOT_FOUND"."""
    return rpc_error.code().name
