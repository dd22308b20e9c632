using System.Text.Json;
using InferenceGateway.Core.Models;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Server.Tests;

/// <summary>A real gateway on 127.0.0.1 with ephemeral ports, serving a model repository folder.</summary>
public class GatewayFixture : IAsyncLifetime
{
    private readonly string[] _extraArgs;

    public GatewayFixture()
        : this([])
    {
    }

    protected GatewayFixture(string[] extraArgs, string? repositoryPath = null)
    {
        _extraArgs = extraArgs;
        RepositoryPath = repositoryPath ?? RepoPaths.Models;
    }

    public string RepositoryPath { get; }

    /// <summary>The gateway's own state (feature snapshots), fresh per fixture.</summary>
    public string DataDirectory { get; } = TestDataDirectory.Create();

    public WebApplication App { get; private set; } = null!;

    public int GrpcPort { get; private set; }

    public int AdminPort { get; private set; }

    public GrpcChannel Channel { get; private set; } = null!;

    public HttpClient Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        App = GatewayHost.Build(TestGatewayArgs.For(DataDirectory, RepositoryPath, ["--Gateway:ModelRepository:PollInterval=00:00:00.200", .. _extraArgs]), Configure);
        await App.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var addresses = App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        GrpcPort = new Uri(addresses[0]).Port;
        AdminPort = new Uri(addresses[1]).Port;
        Channel = GrpcChannel.ForAddress($"http://127.0.0.1:{GrpcPort}");
        Admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{AdminPort}"), Timeout = TimeSpan.FromSeconds(30) };
        await WaitReadyAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>Called with the gateway's builder before its services are added (tests register their own here).</summary>
    protected virtual void Configure(WebApplicationBuilder builder)
    {
    }

    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        string last = "";
        while (DateTime.UtcNow < until)
        {
            using var response = await Admin.GetAsync("/readyz");
            last = await response.Content.ReadAsStringAsync();
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"gateway not ready after {timeout}: {last}");
    }

    public virtual async Task DisposeAsync()
    {
        Channel?.Dispose();
        Admin?.Dispose();
        if (App is not null)
        {
            await App.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
            await App.DisposeAsync();
        }

        TestDataDirectory.Delete(DataDirectory);
    }
}

/// <summary>
/// A gateway a test starts and stops itself, with its own logger provider (the fixtures' gateways keep theirs), serving
/// models/ on ephemeral ports; <see cref="StartAsync"/> returns once every model is served.
/// </summary>
public static class LoggedGateway
{
    public static async Task<WebApplication> StartAsync(ILoggerProvider logs, params string[] extraArgs)
    {
        var app = GatewayHost.Build(TestGatewayArgs.For(TestDataDirectory.Create(), RepoPaths.Models, extraArgs), builder => builder.Logging.AddProvider(logs));
        try
        {
            await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));

            // Models load after the listeners start: wait until they are served, or calls get NOT_FOUND.
            var repository = app.Services.GetRequiredService<ModelRepository>();
            var until = DateTime.UtcNow.AddSeconds(60);
            while (!repository.IsReady && DateTime.UtcNow < until)
            {
                await Task.Delay(20);
            }

            Assert.True(repository.IsReady, "models did not load");
            return app;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>The gRPC listener's port (the first address).</summary>
    public static int GrpcPort(WebApplication app) =>
        new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
}

/// <summary>The command line of a test gateway: ephemeral ports, one ORT thread, warnings only, its own data directory.</summary>
public static class TestGatewayArgs
{
    public static string[] For(string dataDirectory, string repositoryPath, params string[] extraArgs) =>
    [
        "--Gateway:GrpcPort=0",
        "--Gateway:AdminPort=0",
        $"--Gateway:ModelRepository:Path={repositoryPath}",
        "--Gateway:OnnxRuntime:IntraOpThreads=1",
        "--Logging:LogLevel:Default=Warning",
        $"--Gateway:DataDirectory={dataDirectory}",
        .. extraArgs,
    ];
}

/// <summary>A fresh folder for a test gateway's own state, so no test restores another's feature snapshot.</summary>
public static class TestDataDirectory
{
    public static string Create()
    {
        var path = Path.Combine(Path.GetTempPath(), "ig-test-data-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    public static void Delete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Paths in the source tree.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Models => Path.Combine(Root, "models");

    private static string FindRoot()
    {
        foreach (var attribute in typeof(RepoPaths).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false))
        {
            if (attribute is System.Reflection.AssemblyMetadataAttribute { Key: "RepoRoot", Value: { } root } && File.Exists(Path.Combine(root, "InferenceGateway.sln")))
            {
                return Path.GetFullPath(root);
            }
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "InferenceGateway.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("InferenceGateway.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>One model version's reference inputs and outputs from models/&lt;name&gt;/&lt;version&gt;/test_data.json.</summary>
public sealed record TestData(string InputName, long[] InputShape, float[] Input, string OutputName, long[] OutputShape, float[] Output)
{
    public static TestData Load(string model, string version)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Models, model, version, "test_data.json")));
        var input = doc.RootElement.GetProperty("inputs").EnumerateObject().First();
        var output = doc.RootElement.GetProperty("outputs").EnumerateObject().First();
        return new TestData(
            input.Name,
            input.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
            input.Value.GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray(),
            output.Name,
            output.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
            output.Value.GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray());
    }
}

/// <summary>What a served model left behind: leases not given back and requests still queued.</summary>
public static class Leftovers
{
    /// <summary>One entry per version with a lease or a queued request; empty when every version is idle.</summary>
    public static string Describe(ModelRepository repository) =>
        string.Join("; ", repository.Models.Values.SelectMany(m => m.Versions)
            .Where(v => v.ActiveLeases != 0 || v.Batcher.QueueDepth != 0)
            .Select(v => $"{v}: {v.ActiveLeases} lease(s), {v.Batcher.QueueDepth} queued"));
}
