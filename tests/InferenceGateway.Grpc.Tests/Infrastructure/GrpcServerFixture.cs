using System.Net;
using InferenceGateway.Grpc.Health;
using InferenceGateway.Grpc.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Grpc.Tests.Infrastructure;

/// <summary>Real Kestrel on 127.0.0.1, port 0, serving the test, health and reflection services (one per test class).</summary>
public class GrpcServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    public TestServiceState State { get; } = new();

    public HealthServiceImpl Health => _app!.Services.GetRequiredService<HealthServiceImpl>();

    public int Port { get; private set; }

    public string Address => $"http://127.0.0.1:{Port}";

    protected virtual void ConfigureOptions(GrpcServerOptions options)
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
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenGrpc(IPAddress.Loopback, 0));
        builder.Services.AddGrpcServer(ConfigureOptions);
        builder.Services.AddGrpcHealth();
        builder.Services.AddGrpcReflection();
        builder.Services.AddSingleton(State);
        builder.Services.AddSingleton<TestService>();

        _app = builder.Build();
        ConfigurePipeline(_app);
        _app.MapGrpcService<TestService>();
        _app.MapGrpcService<HealthServiceImpl>();
        _app.MapGrpcService<ReflectionServiceImpl>();
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

    public GrpcChannel CreateChannel(GrpcChannelOptions? options = null) => GrpcChannel.ForAddress(Address, options);

    /// <summary>A raw HTTP/2 client for protocol-level requests.</summary>
    public HttpClient CreateRawClient() => new()
    {
        BaseAddress = new Uri(Address),
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };
}

/// <summary>Server with gzip response compression enabled.</summary>
public sealed class CompressingGrpcServerFixture : GrpcServerFixture
{
    protected override void ConfigureOptions(GrpcServerOptions options) => options.ResponseCompressionAlgorithm = "gzip";
}

public static class TestTimeouts
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);

    public static Task<T> WithTimeout<T>(this Task<T> task) => task.WaitAsync(Default);

    public static Task WithTimeout(this Task task) => task.WaitAsync(Default);
}
