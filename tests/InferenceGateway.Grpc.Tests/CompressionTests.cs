using Google.Protobuf;
using InferenceGateway.Grpc.Tests.Infrastructure;
using InferenceGateway.Grpc.Tests.Protos;

namespace InferenceGateway.Grpc.Tests;

public sealed class CompressionTests : IClassFixture<CompressingGrpcServerFixture>
{
    private readonly CompressingGrpcServerFixture _server;

    public CompressionTests(CompressingGrpcServerFixture server) => _server = server;

    [Fact]
    public async Task Unary_ServerCompressesAndClientAcceptsGzip_ResponseHeaderSaysGzipAndPayloadIntact()
    {
        using var channel = _server.CreateChannel();
        var payload = ByteString.CopyFrom(new byte[50_000]);
        var headers = new Metadata { { "grpc-internal-encoding-request", "gzip" } };
        using var call = channel.CreateCallInvoker().AsyncUnaryCall(TestMethods.Echo, null, new CallOptions(headers), new EchoRequest { Payload = payload });

        var reply = await call.ResponseAsync.WithTimeout();

        Assert.Equal(payload, reply.Payload);
        Assert.Equal("gzip", reply.RequestEncoding);
    }

    [Fact]
    public async Task RawRequest_AcceptsGzip_ResponseMessageIsCompressed()
    {
        using var client = _server.CreateRawClient();
        var body = RawGrpc.Frame(new EchoRequest { Payload = ByteString.CopyFrom(new byte[10_000]) }.ToByteArray());
        using var response = await RawGrpc.PostAsync(client, "/igtest.v1.TestService/Echo", body, acceptEncoding: "gzip").WithTimeout();
        var bytes = await response.Content.ReadAsByteArrayAsync().WithTimeout();

        Assert.Equal("gzip", string.Join(",", response.Headers.GetValues("grpc-encoding")));
        Assert.Equal(1, bytes[0]);
        Assert.True(bytes.Length < 1000, $"compressed response was {bytes.Length} bytes");
        Assert.Equal("0", RawGrpc.GrpcStatus(response));
    }

    [Fact]
    public async Task RawRequest_NoAcceptEncoding_ResponseNotCompressed()
    {
        using var client = _server.CreateRawClient();
        var body = RawGrpc.Frame(new EchoRequest { Text = "plain" }.ToByteArray());
        using var response = await RawGrpc.PostAsync(client, "/igtest.v1.TestService/Echo", body, acceptEncoding: null).WithTimeout();
        var bytes = await response.Content.ReadAsByteArrayAsync().WithTimeout();

        Assert.False(response.Headers.Contains("grpc-encoding"));
        Assert.Equal(0, bytes[0]);
        Assert.Equal("plain", EchoReply.Parser.ParseFrom(bytes.AsSpan(5).ToArray()).Text);
    }
}
