using InferenceGateway.Contracts.Health;
using InferenceGateway.Contracts.Reflection;
using InferenceGateway.Grpc.Health;
using InferenceGateway.Grpc.Reflection;
using InferenceGateway.Grpc.Tests.Infrastructure;
using Google.Protobuf.Reflection;
using ServingStatus = InferenceGateway.Contracts.Health.HealthCheckResponse.Types.ServingStatus;

namespace InferenceGateway.Grpc.Tests;

public sealed class HealthAndReflectionTests : IClassFixture<GrpcServerFixture>, IDisposable
{
    private readonly GrpcServerFixture _server;
    private readonly GrpcChannel _channel;
    private readonly CallInvoker _invoker;

    public HealthAndReflectionTests(GrpcServerFixture server)
    {
        _server = server;
        _channel = server.CreateChannel();
        _invoker = _channel.CreateCallInvoker();
    }

    public void Dispose() => _channel.Dispose();

    [Fact]
    public async Task Check_OverallServer_Serving()
    {
        var reply = await _invoker.AsyncUnaryCall(HealthServiceImpl.CheckMethod, null, default, new HealthCheckRequest()).ResponseAsync.WithTimeout();
        Assert.Equal(ServingStatus.Serving, reply.Status);
    }

    [Fact]
    public async Task Check_UnknownService_NotFound()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            _invoker.AsyncUnaryCall(HealthServiceImpl.CheckMethod, null, default, new HealthCheckRequest { Service = "no.such.Service" }).ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
    }

    [Fact]
    public async Task Watch_UnknownThenSetThenChanged_StreamsEachChange()
    {
        var service = "watch." + Guid.NewGuid().ToString("N");
        using var call = _invoker.AsyncServerStreamingCall(HealthServiceImpl.WatchMethod, null, default, new HealthCheckRequest { Service = service });

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
        using var call = _invoker.AsyncDuplexStreamingCall(ReflectionServiceImpl.ServerReflectionInfoMethod, null, default);
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }).WithTimeout();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToArray();
        Assert.Equal(["grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection", "igtest.v1.TestService"], names);
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
    }

    [Fact]
    public async Task FileContainingSymbol_KnownAndUnknown_FileOrNotFound()
    {
        using var call = _invoker.AsyncDuplexStreamingCall(ReflectionServiceImpl.ServerReflectionInfoMethod, null, default);

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "igtest.v1.EchoRequest" }).WithTimeout();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        var file = FileDescriptorProto.Parser.ParseFrom(call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto[0]);
        Assert.Equal("grpc_test.proto", file.Name);
        Assert.Contains(file.Service, s => s.Name == "TestService");

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileByFilename = "grpc/health/v1/health.proto" }).WithTimeout();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        Assert.Equal("grpc.health.v1", FileDescriptorProto.Parser.ParseFrom(call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto[0]).Package);

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "no.Such" }).WithTimeout();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        Assert.Equal((int)StatusCode.NotFound, call.ResponseStream.Current.ErrorResponse.ErrorCode);

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
    }
}
