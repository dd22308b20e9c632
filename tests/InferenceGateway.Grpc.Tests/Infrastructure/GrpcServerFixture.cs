using System.Net;
using Grpc.AspNetCore.Server;
using Grpc.HealthCheck;
using Grpc.Net.Client;
using InferenceGateway.Grpc.Tests.Protos;
using InferenceGateway.Server.Hosting;
using InferenceGateway.Server.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Grpc.Tests.Infrastructure;

/// <summary>
/// Real Kestrel on 127.0.0.1, port 0, with the gateway's gRPC stack (<see cref="GatewayGrpcExtensions"/>: Grpc.AspNetCore,
/// the gateway's marshallers and gzip provider, admission, per-call middleware, health and reflection) serving a test
/// service (one per test class).
/// </summary>
public class GrpcServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    public TestServiceState State { get; } = new();

    public HealthServiceImpl Health => _app!.Services.GetRequiredService<HealthServiceImpl>();

    public IServiceProvider Services => _app!.Services;

    public int Port { get; private set; }

    public string Address => $"http://127.0.0.1:{Port}";

    /// <summary>The gateway's gRPC settings for this server (limits).</summary>
    protected virtual GrpcSettings Settings => new();

    protected virtual void ConfigureOptions(GrpcServiceOptions options)
    {
    }

    /// <summary>Adds middleware in front of the gRPC endpoints.</summary>
    protected virtual void ConfigurePipeline(WebApplication app)
    {
    }

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGatewayGrpc(Settings, new RateLimitSettings());
        builder.Services.Configure<GrpcServiceOptions>(ConfigureOptions);
        builder.Services.AddSingleton<IGrpcAdmissionState>(new NeverStopping());
        builder.Services.AddSingleton(State);
        builder.Services.AddSingleton<TestServiceImpl>();
        builder.Services.AddGatewayGrpcService<TestServiceImpl>(TestService.Descriptor, static (binder, service) => TestService.BindService(binder, service));

        _app = builder.Build();
        ConfigurePipeline(_app);
        _app.UseGatewayGrpcAdmission();
        _app.UseRouting();
        _app.UseGatewayGrpcCalls();
        _app.MapGatewayGrpcStandardServices();
        _app.MapGatewayGrpcService<TestServiceImpl>();
        await _app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));

        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!;
        Port = new Uri(addresses.Addresses.Single()).Port;
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await _app.DisposeAsync();
        }
    }

    public GrpcChannel CreateChannel(GrpcChannelOptions? options = null) => GrpcChannel.ForAddress(Address, options ?? new GrpcChannelOptions());

    /// <summary>A raw HTTP/2 client for protocol-level requests.</summary>
    public HttpClient CreateRawClient() => new()
    {
        BaseAddress = new Uri(Address),
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };

    private sealed class NeverStopping : IGrpcAdmissionState
    {
        public bool IsStopping => false;
    }
}

/// <summary>Server with gzip response compression enabled.</summary>
public sealed class CompressingGrpcServerFixture : GrpcServerFixture
{
    protected override void ConfigureOptions(GrpcServiceOptions options) => options.ResponseCompressionAlgorithm = "gzip";
}

public static class TestTimeouts
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);

    public static Task<T> WithTimeout<T>(this Task<T> task) => task.WaitAsync(Default);

    public static Task WithTimeout(this Task task) => task.WaitAsync(Default);
}
