"""Interop scenario run by PythonInteropTests: an independent client (grpcio) against our server.
Prints one JSON object with what it observed; the C# test asserts on it.
Usage: interop_client.py --target 127.0.0.1:PORT --descriptors set.pb
"""

import argparse
import json
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import grpc_interop  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--descriptors", required=True)
    args = parser.parse_args()

    messages = grpc_interop.load_messages(args.descriptors)
    HealthRequest = messages["grpc.health.v1.HealthCheckRequest"]
    HealthResponse = messages["grpc.health.v1.HealthCheckResponse"]
    EchoRequest = messages["igtest.v1.EchoRequest"]
    EchoReply = messages["igtest.v1.EchoReply"]
    ReflectionRequest = messages["grpc.reflection.v1alpha.ServerReflectionRequest"]
    ReflectionResponse = messages["grpc.reflection.v1alpha.ServerReflectionResponse"]
    serving_status = HealthResponse.DESCRIPTOR.enum_types_by_name["ServingStatus"]

    result = {"grpcio": grpc.__version__}
    with grpc.insecure_channel(args.target) as channel:
        reply = grpc_interop.unary(channel, "/grpc.health.v1.Health/Check", HealthRequest(service=""), HealthResponse, timeout=10)
        result["check"] = serving_status.values_by_number[reply.status].name

        try:
            grpc_interop.unary(channel, "/grpc.health.v1.Health/Check", HealthRequest(service="no.such.Service"), HealthResponse, timeout=10)
            result["check_unknown"] = "OK"
        except grpc.RpcError as e:
            result["check_unknown"] = grpc_interop.status_name(e)

        watched = []
        for service in ("interop.Known", "interop.Unknown"):
            call = grpc_interop.server_stream(channel, "/grpc.health.v1.Health/Watch", HealthRequest(service=service), HealthResponse, timeout=10)
            first = next(call)
            watched.append(serving_status.values_by_number[first.status].name)
            call.cancel()
        result["watch_first"] = watched

        payload = bytes(range(256)) * 40
        echo = grpc_interop.unary(channel, "/igtest.v1.TestService/Echo", EchoRequest(text="héllo", payload=payload), EchoReply, timeout=10)
        result["echo_text"] = echo.text
        result["echo_payload_ok"] = echo.payload == payload

        gzipped = grpc_interop.unary(channel, "/igtest.v1.TestService/Echo", EchoRequest(text="z", payload=payload), EchoReply,
                                     timeout=10, compression=grpc.Compression.Gzip)
        result["gzip_request_encoding"] = gzipped.request_encoding
        result["gzip_payload_ok"] = gzipped.payload == payload

        try:
            grpc_interop.unary(channel, "/igtest.v1.TestService/Throw", EchoRequest(text="rpc"), EchoReply, timeout=10)
        except grpc.RpcError as e:
            result["throw_code"] = grpc_interop.status_name(e)
            result["throw_details"] = e.details()
            result["throw_trailer"] = dict(e.trailing_metadata() or ()).get("x-reason")

        try:
            grpc_interop.unary(channel, "/igtest.v1.TestService/Missing", EchoRequest(), EchoReply, timeout=10)
        except grpc.RpcError as e:
            result["missing_code"] = grpc_interop.status_name(e)

        try:
            grpc_interop.unary(channel, "/igtest.v1.TestService/Wait", EchoRequest(text="py-deadline"), EchoReply, timeout=2)
        except grpc.RpcError as e:
            result["deadline_code"] = grpc_interop.status_name(e)

        stream = grpc_interop.server_stream(channel, "/igtest.v1.TestService/ServerStream", EchoRequest(text="s", count=3), EchoReply, timeout=10)
        result["stream_indexes"] = [m.index for m in stream]

        responses = grpc_interop.duplex(channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                        [ReflectionRequest(list_services="")], ReflectionResponse, timeout=10)
        result["services"] = [s.name for r in responses for s in r.list_services_response.service]

    print(json.dumps(result))


if __name__ == "__main__":
    main()
