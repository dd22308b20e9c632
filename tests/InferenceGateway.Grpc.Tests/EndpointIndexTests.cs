using Google.Protobuf;
using Grpc.AspNetCore.Server;
using InferenceGateway.Grpc.Tests.Infrastructure;
using InferenceGateway.Server.Transport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace InferenceGateway.Grpc.Tests;

/// <summary>The index that gives calls their endpoint without routing (GrpcEndpointIndex): exact POSTs only.</summary>
public sealed class EndpointIndexTests(GrpcServerFixture server) : IClassFixture<GrpcServerFixture>
{
    private static HttpRequest Request(string method, string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Path = path;
        return context.Request;
    }

    [Theory]
    [InlineData("/igtest.v1.TestService/Echo")]
    [InlineData("/grpc.health.v1.Health/Check")]
    [InlineData("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")]
    public void Find_PostToAMappedMethod_ThatMethodsEndpoint(string path)
    {
        var endpoint = server.Services.GetRequiredService<GrpcEndpointIndex>().Find(Request("POST", path));
        Assert.NotNull(endpoint);
        Assert.Equal(path, endpoint.Metadata.GetMetadata<GrpcMethodMetadata>()!.Method.FullName);
    }

    [Theory]
    [InlineData("GET", "/igtest.v1.TestService/Echo")]
    [InlineData("POST", "/igtest.v1.testservice/echo")]
    [InlineData("POST", "/igtest.v1.TestService/Missing")]
    [InlineData("POST", "/healthz")]
    public void Find_AnythingElse_LeftToRouting(string method, string path) =>
        Assert.Null(server.Services.GetRequiredService<GrpcEndpointIndex>().Find(Request(method, path)));

    [Fact]
    public async Task Call_PathInOtherLetterCase_StillServedThroughRouting()
    {
        using var client = server.CreateRawClient();
        using var response = await RawGrpc.PostAsync(client, "/igtest.v1.testservice/echo", RawGrpc.Frame(new Protos.EchoRequest { Text = "x" }.ToByteArray())).WithTimeout();
        await response.Content.ReadAsByteArrayAsync().WithTimeout();
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
    }
}
