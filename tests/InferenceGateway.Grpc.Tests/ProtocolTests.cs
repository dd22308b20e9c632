using System.Net;
using Google.Protobuf;
using InferenceGateway.Grpc.Tests.Infrastructure;
using InferenceGateway.Grpc.Tests.Protos;

namespace InferenceGateway.Grpc.Tests;

/// <summary>Requests built by hand over HTTP/2, to check the server's answers to bad input.</summary>
public sealed class ProtocolTests : IClassFixture<GrpcServerFixture>
{
    private const string EchoPath = "/igtest.v1.TestService/Echo";
    private readonly GrpcServerFixture _server;

    public ProtocolTests(GrpcServerFixture server) => _server = server;

    private static byte[] ValidBody => RawGrpc.Frame(new EchoRequest { Text = "x" }.ToByteArray());

    [Fact]
    public async Task Post_WrongContentType_Http415()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, EchoPath, ValidBody, contentType: "application/json").WithTimeout();
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public async Task Get_GrpcMethodPath_NotFound()
    {
        // Methods are mapped for POST only; routing finds no endpoint for a GET (our own layer answered 405).
        using var client = _server.CreateRawClient();
        using var response = await client.GetAsync(EchoPath).WithTimeout();
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Post_TruncatedFramePrefix_InternalWithMessage()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, EchoPath, [0, 0, 0]).WithTimeout();
        await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("13", RawGrpc.GrpcStatus(response));
        Assert.Equal("Incomplete message.", RawGrpc.GrpcMessage(response));
        Assert.True(RawGrpc.IsTrailersOnly(response));
    }

    [Fact]
    public async Task Post_LengthBeyondBody_InternalWithMessage()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, EchoPath, [0, 0, 0, 0, 10, 1, 2]).WithTimeout();
        await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.Equal("13", RawGrpc.GrpcStatus(response));
        Assert.Equal("Incomplete message.", RawGrpc.GrpcMessage(response));
    }

    [Fact]
    public async Task Post_EmptyBodyForUnary_Internal()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, EchoPath, []).WithTimeout();
        await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.Equal("13", RawGrpc.GrpcStatus(response));
    }

    [Fact]
    public async Task Post_TwoMessagesForUnary_InternalAdditionalData()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, EchoPath, [.. ValidBody, .. ValidBody]).WithTimeout();
        await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.Equal("13", RawGrpc.GrpcStatus(response));
        Assert.Equal("Additional data after the message received.", RawGrpc.GrpcMessage(response));
    }

    [Fact]
    public async Task Post_GarbagePayload_InternalFailedToDeserialize()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, EchoPath, RawGrpc.Frame([0xFF, 0xFF, 0xFF, 0xFF])).WithTimeout();
        await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.Equal("13", RawGrpc.GrpcStatus(response));
        Assert.Equal("Failed to deserialize request message.", RawGrpc.GrpcMessage(response));
    }

    [Fact]
    public async Task Post_CompressedFlagWithoutEncoding_Internal()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, EchoPath, RawGrpc.Frame(new EchoRequest { Text = "x" }.ToByteArray(), flag: 1)).WithTimeout();
        await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.Equal("13", RawGrpc.GrpcStatus(response));
        Assert.Contains("grpc-encoding", RawGrpc.GrpcMessage(response));
    }

    [Fact]
    public async Task Post_CompressedWithUnsupportedEncoding_UnimplementedAndAcceptEncodingListed()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, EchoPath, RawGrpc.Frame([1, 2, 3], flag: 1), encoding: "snappy").WithTimeout();
        await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.Equal("12", RawGrpc.GrpcStatus(response));
        Assert.Equal("identity,gzip", string.Join(",", response.Headers.GetValues("grpc-accept-encoding")));
    }

    [Fact]
    public async Task Post_CorruptGzip_Internal()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, EchoPath, RawGrpc.Frame([1, 2, 3, 4, 5, 6], flag: 1), encoding: "gzip").WithTimeout();
        await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.Equal("13", RawGrpc.GrpcStatus(response));
        Assert.Equal("Failed to decompress message.", RawGrpc.GrpcMessage(response));
    }

    [Fact]
    public async Task Post_ZeroTimeout_DeadlineExceededTrailersOnly()
    {
        var key = "zero-" + Guid.NewGuid();
        using var client = _server.CreateRawClient();
        var body = RawGrpc.Frame(new EchoRequest { Text = key }.ToByteArray());
        using var response = await RawGrpc.PostAsync(client, "/igtest.v1.TestService/Wait", body, timeout: "0m").WithTimeout();
        await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.Equal("4", RawGrpc.GrpcStatus(response));
        Assert.True(RawGrpc.IsTrailersOnly(response));
        Assert.False(_server.State.Started(key).Task.IsCompleted, "handler must not run when the deadline had passed");
    }

    [Fact]
    public async Task Post_Success_StatusInTrailersNotHeaders()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, EchoPath, ValidBody).WithTimeout();
        var bytes = await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.False(RawGrpc.IsTrailersOnly(response));
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal("application/grpc", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(0, bytes[0]);
    }

    [Fact]
    public async Task Post_UnknownPathWithGrpcContentType_UnimplementedTrailersOnly()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, "/x.Y/Z", ValidBody).WithTimeout();
        await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("12", RawGrpc.GrpcStatus(response));
        Assert.True(RawGrpc.IsTrailersOnly(response));
    }

    [Fact]
    public async Task Post_UnknownPathWithOtherContentType_NotFound()
    {
        using var client = _server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, "/x.Y/Z", ValidBody, contentType: "text/plain").WithTimeout();
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Post_Http11_Rejected()
    {
        // The endpoint speaks HTTP/2 only (prior knowledge); an HTTP/1.1 request never reaches a handler.
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        using var request = new HttpRequestMessage(HttpMethod.Post, _server.Address + EchoPath)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(ValidBody),
        };
        try
        {
            using var response = await client.SendAsync(request).WithTimeout();
            Assert.False(response.IsSuccessStatusCode);
        }
        catch (HttpRequestException)
        {
            // Also acceptable: the connection is closed.
        }
    }
}
