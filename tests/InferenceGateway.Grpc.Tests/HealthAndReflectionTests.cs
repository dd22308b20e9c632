using Google.Protobuf.Reflection;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using InferenceGateway.Grpc.Tests.Infrastructure;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace InferenceGateway.Grpc.Tests;

public sealed class HealthAndReflectionTests : IClassFixture<GrpcServerFixture>, IDisposable
{
    private readonly GrpcServerFixture _server;
    private readonly GrpcChannel _channel;
    private readonly Health.HealthClient _health;
    private readonly ServerReflection.ServerReflectionClient _reflection;

    public HealthAndReflectionTests(GrpcServerFixture server)
    {
        _server = server;
        _channel = server.CreateChannel();
        _health = new Health.HealthClient(_channel);
        _reflection = new ServerReflection.ServerReflectionClient(_channel);
    }

    public void Dispose() => _channel.Dispose();

    [Fact]
    public async Task Check_OverallServer_Serving()
    {
        var reply = await _health.CheckAsync(new HealthCheckRequest()).ResponseAsync.WithTimeout();
        Assert.Equal(ServingStatus.Serving, reply.Status);
    }

    [Fact]
    public async Task Check_UnknownService_NotFound()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            _health.CheckAsync(new HealthCheckRequest { Service = "no.such.Service" }).ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
    }

    [Fact]
    public async Task Watch_UnknownThenSetThenChanged_StreamsEachChange()
    {
        var service = "watch." + Guid.NewGuid().ToString("N");
        using var call = _health.Watch(new HealthCheckRequest { Service = service });

        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        Assert.Equal(ServingStatus.ServiceUnknown, call.ResponseStream.Current.Status);

        _server.Health.SetStatus(service, ServingStatus.Serving);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        Assert.Equal(ServingStatus.Serving, call.ResponseStream.Current.Status);

        _server.Health.SetStatus(service, ServingStatus.Serving); // no change: nothing sent
        _server.Health.SetStatus(service, ServingStatus.NotServing);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        Assert.Equal(ServingStatus.NotServing, call.ResponseStream.Current.Status);

        _server.Health.ClearStatus(service);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        Assert.Equal(ServingStatus.ServiceUnknown, call.ResponseStream.Current.Status);
    }

    [Fact]
    public async Task ListServices_AllMappedServicesWithDescriptors_Listed()
    {
        using var call = _reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }).WithTimeout();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToArray();
        Assert.Equal(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection", "igtest.v1.TestService"], names.Order(StringComparer.Ordinal).ToArray());
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
    }

    [Fact]
    public async Task FileContainingSymbol_KnownAndUnknown_FileOrNotFound()
    {
        using var call = _reflection.ServerReflectionInfo();

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "igtest.v1.EchoRequest" }).WithTimeout();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        var file = FileDescriptorProto.Parser.ParseFrom(call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto[0]);
        Assert.Equal("grpc_test.proto", file.Name);
        Assert.Contains(file.Service, s => s.Name == "TestService");

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileByFilename = Health.Descriptor.File.Name }).WithTimeout();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        Assert.Equal("grpc.health.v1", FileDescriptorProto.Parser.ParseFrom(call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto[0]).Package);

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "no.Such" }).WithTimeout();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        Assert.Equal((int)StatusCode.NotFound, call.ResponseStream.Current.ErrorResponse.ErrorCode);

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
    }
}
