using InferenceGateway.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace InferenceGateway.LoadTest.Tests;

/// <summary>
/// A real gateway in this process on 127.0.0.1 (ephemeral ports, the bundled models and feature definitions, its own
/// empty data directory), for the load tool's gateway targets. Its feature counters are read from the admin
/// port's <c>/metrics</c>, as the perf suite reads them.
/// </summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly string _dataDirectory = Directory.CreateTempSubdirectory("ig-load-gateway-").FullName;
    private WebApplication? _app;
    private HttpClient? _admin;

    public Uri GrpcUrl { get; private set; } = null!;

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public async Task InitializeAsync()
    {
        _app = GatewayHost.Build(
        [
            "--Gateway:GrpcPort=0",
            "--Gateway:AdminPort=0",
            $"--Gateway:ModelRepository:Path={Path.Combine(RepositoryRoot, "models")}",
            $"--Gateway:Features:Path={Path.Combine(RepositoryRoot, "features")}",
            "--Gateway:OnnxRuntime:IntraOpThreads=1",
            "--Logging:LogLevel:Default=Warning",
            $"--Gateway:DataDirectory={_dataDirectory}",
        ]);
        await _app.StartAsync().WaitAsync(StartTimeout);
        string[] addresses = [.. _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses];
        GrpcUrl = new Uri(addresses[0].Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        _admin = new HttpClient { BaseAddress = new Uri(addresses[1].Replace("[::]", "127.0.0.1", StringComparison.Ordinal)), Timeout = StartTimeout };

        // Models load after the listeners start; /readyz says when every one is served.
        DateTime until = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            using HttpResponseMessage ready = await _admin.GetAsync(new Uri("/readyz", UriKind.Relative)).WaitAsync(StartTimeout);
            if (ready.IsSuccessStatusCode)
            {
                break;
            }

            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException("gateway not ready: " + await ready.Content.ReadAsStringAsync());
            }

            await Task.Delay(50);
        }
    }

    /// <summary>The value of one sample of the gateway's Prometheus exposition, 0 when absent (a counter not yet incremented).</summary>
    public async Task<double> MetricAsync(string sample)
    {
        string text = await _admin!.GetStringAsync(new Uri("/metrics", UriKind.Relative)).WaitAsync(StartTimeout);
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith(sample + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(sample.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    public async Task DisposeAsync()
    {
        _admin?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync().WaitAsync(StartTimeout);
            await _app.DisposeAsync();
        }

        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "InferenceGateway.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No InferenceGateway.sln above {AppContext.BaseDirectory}.");
    }
}
