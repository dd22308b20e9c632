using System.Text.Json;
using Grpc.Net.Client;
using InferenceGateway.Core.Models;
using InferenceGateway.Server.Hosting;
using InferenceGateway.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// An in-process gateway a test starts itself over any model repository (ephemeral ports, its own data directory), with
/// the clients and metric readings tests need. <see cref="StartAsync"/> returns once the listeners are up; readiness is
/// the test's to wait for (or not: some tests need a gateway that never gets ready).
/// </summary>
public sealed class TestGateway : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly string _dataDirectory;

    private TestGateway(WebApplication app, string dataDirectory)
    {
        App = app;
        _dataDirectory = dataDirectory;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        GrpcPort = new Uri(addresses[0]).Port;
        AdminPort = new Uri(addresses[1]).Port;
        Channel = GrpcChannel.ForAddress($"http://127.0.0.1:{GrpcPort}");
        Admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{AdminPort}"), Timeout = Timeout };
    }

    public WebApplication App { get; }

    public int GrpcPort { get; }

    public int AdminPort { get; }

    public GrpcChannel Channel { get; }

    public HttpClient Admin { get; }

    public ModelRepository Repository => App.Services.GetRequiredService<ModelRepository>();

    public static async Task<TestGateway> StartAsync(string repositoryPath, ILoggerProvider? logs = null, params string[] extraArgs)
    {
        var data = TestDataDirectory.Create();
        var app = GatewayHost.Build(TestGatewayArgs.For(data, repositoryPath, extraArgs), logs is null ? null : builder => builder.Logging.AddProvider(logs));
        try
        {
            await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
            return new TestGateway(app, data);
        }
        catch
        {
            await app.DisposeAsync();
            TestDataDirectory.Delete(data);
            throw;
        }
    }

    /// <summary>Waits until <c>/readyz</c> answers 200.</summary>
    public Task WaitReadyAsync() => UntilAsync(async () =>
    {
        using var response = await Admin.GetAsync("/readyz");
        return response.IsSuccessStatusCode;
    }, "/readyz never answered 200");

    /// <summary>Polls <paramref name="condition"/> (an observable state of the gateway) until it holds, or fails after <see cref="Timeout"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var until = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException(what);
            }

            await Task.Delay(20);
        }
    }

    /// <inheritdoc cref="UntilAsync(Func{Task{bool}}, string)"/>
    public static Task UntilAsync(Func<bool> condition, string what) => UntilAsync(() => Task.FromResult(condition()), what);

    /// <summary>The gateway's /metrics, parsed strictly.</summary>
    public Task<PrometheusScrape> ScrapeAsync() => Metrics.ScrapeAsync(Admin);

    /// <summary>GET an admin path that answers JSON.</summary>
    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var doc = JsonDocument.Parse(await Admin.GetStringAsync(path).WaitAsync(Timeout));
        return doc.RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        Admin.Dispose();
        try
        {
            await App.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            await App.DisposeAsync();
            TestDataDirectory.Delete(_dataDirectory);
        }
    }
}
