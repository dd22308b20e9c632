using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Server.Hosting;
using InferenceGateway.Tests.Shared;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Log = InferenceGateway.Core.PredictionLog.PredictionLog;

namespace InferenceGateway.Server.Tests.PredictionLog;

/// <summary>A gateway of its own per test, started and stopped by the test.</summary>
internal sealed class OwnGateway : IAsyncDisposable
{
    private OwnGateway(WebApplication app, string dataDirectory)
    {
        App = app;
        DataDirectory = dataDirectory;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        Channel = GrpcChannel.ForAddress(addresses[0].Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        Admin = new HttpClient { BaseAddress = new Uri(addresses[1]), Timeout = TimeSpan.FromSeconds(30) };
        Client = new Gateway.GatewayClient(Channel);
    }

    public WebApplication App { get; }

    public string DataDirectory { get; }

    public GrpcChannel Channel { get; }

    public HttpClient Admin { get; }

    public Gateway.GatewayClient Client { get; }

    public Log Log => App.Services.GetRequiredService<Log>();

    public static async Task<OwnGateway> StartAsync(params string[] extraArgs)
    {
        var data = TestDataDirectory.Create();
        var app = GatewayHost.Build(
        [
            "--Gateway:GrpcPort=0", "--Gateway:AdminPort=0", $"--Gateway:ModelRepository:Path={RepoPaths.Models}",
            "--Gateway:OnnxRuntime:IntraOpThreads=1", "--Logging:LogLevel:Default=Warning", $"--Gateway:DataDirectory={data}", .. extraArgs,
        ]);
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var gateway = new OwnGateway(app, data);
        var until = DateTime.UtcNow.AddSeconds(60);
        while (!(await gateway.Admin.GetAsync("/readyz")).IsSuccessStatusCode)
        {
            Assert.True(DateTime.UtcNow < until, "gateway not ready");
            await Task.Delay(50);
        }

        return gateway;
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        Admin.Dispose();
        await App.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        TestDataDirectory.Delete(DataDirectory);
    }
}

/// <summary>Nothing accepted is lost: graceful shutdown under load, and a PostgreSQL outage in the middle of a run.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PredictionLogDurabilityTests(PostgresCluster cluster)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Workers call Predict until the calls are refused; each answered request id is collected.</summary>
    private static Task[] Load(Gateway.GatewayClient client, ConcurrentBag<string> answered, CancellationToken stop, int workers = 16)
    {
        return Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var request = GatewayPredictTests.Fraud($"load-{w}", 1_706_000_000_000 + i, 50 + i, i % 10, "m1", w % 2 == 0 ? "1" : "2");
                request.RequestId = $"w{w}-{i}-{Guid.NewGuid():N}";
                try
                {
                    var response = await client.PredictAsync(request, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: stop);
                    answered.Add(response.RequestId);
                }
                catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.Cancelled or StatusCode.Internal)
                {
                    if (ex.StatusCode != StatusCode.Cancelled)
                    {
                        await Task.Delay(5, CancellationToken.None);
                    }
                }
            }
        })).ToArray();
    }

    private static async Task<HashSet<string>> StoredIdsAsync(string connectionString, bool postgres)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        System.Data.Common.DbConnection connection = postgres ? new Npgsql.NpgsqlConnection(connectionString) : new Microsoft.Data.Sqlite.SqliteConnection(connectionString);
        await using (connection)
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT request_id FROM predictions WHERE status = 0";
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                Assert.True(ids.Add(reader.GetString(0)), "a record was stored twice");
            }
        }

        return ids;
    }

    [Fact]
    public async Task StopAsync_UnderConcurrentLoad_EveryAnsweredPredictionIsInTheSink()
    {
        var gateway = await OwnGateway.StartAsync();
        var answered = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        Task[] workers;
        try
        {
            workers = Load(gateway.Client, answered, stop.Token);
            var until = DateTime.UtcNow + Timeout;
            while (answered.Count < 2000)
            {
                Assert.True(DateTime.UtcNow < until, "load did not start");
                await Task.Delay(20);
            }

            // Stop while the workers keep calling: calls in flight finish, later ones are refused.
            await gateway.App.StopAsync().WaitAsync(Timeout);
            await stop.CancelAsync();
            await Task.WhenAll(workers).WaitAsync(Timeout);
            var status = gateway.Log.GetStatus();
            Assert.Equal((0, 0L, 0L), (status.Buffered, status.Lost, status.Dropped));
            var stored = await StoredIdsAsync($"Data Source={Path.Combine(gateway.DataDirectory, "predictions.db")}", postgres: false);
            var missing = answered.Where(id => !stored.Contains(id)).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} of {answered.Count} answered predictions are not in the log (first {missing.FirstOrDefault()})");
            Assert.Equal(status.Written, stored.Count);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task SharedPostgres_TwoGateways_OutcomesSentToOneJoinPredictionsOfBothAndTheOtherEvaluatesThemAll()
    {
        // Two replicas behind one load balancer share the log (issue 24): each records what it served, an outcome may
        // reach either, and evaluation from either sees the whole fleet's predictions.
        var connectionString = await cluster.CreateDatabaseAsync("shared");
        string[] sink = ["--Gateway:PredictionLog:Sink=PostgreSql", $"--Gateway:PredictionLog:PostgreSqlConnectionString={connectionString}"];
        await using var first = await OwnGateway.StartAsync(sink);
        await using var second = await OwnGateway.StartAsync(sink);
        const int PerGateway = 30;
        var eventTime = 1_706_000_000_000L;
        var labels = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (gateway, name) in new[] { (first, "first"), (second, "second") })
        {
            for (var i = 0; i < PerGateway; i++)
            {
                var request = GatewayPredictTests.Fraud($"card-{name}-{i}", eventTime + i, 10 + (i * 37 % 500), i % 24, $"m{i % 7}", "1");
                request.RequestId = $"{name}-{i}-{Guid.NewGuid():N}";
                var response = await gateway.Client.PredictAsync(request, deadline: DateTime.UtcNow + Timeout).ResponseAsync.WaitAsync(Timeout);
                labels[response.RequestId] = i % 3 == 0 ? 1 : 0;
            }
        }

        var until = DateTime.UtcNow + Timeout;
        while (first.Log.GetStatus().Written < PerGateway || second.Log.GetStatus().Written < PerGateway)
        {
            Assert.True(DateTime.UtcNow < until, $"not all written: {first.Log.GetStatus()} / {second.Log.GetStatus()}");
            await Task.Delay(20);
        }

        using (var report = first.Client.ReportOutcomes(deadline: DateTime.UtcNow + Timeout))
        {
            foreach (var (id, label) in labels)
            {
                await report.RequestStream.WriteAsync(new Outcome { RequestId = id, Label = label, EventTimeUnixMs = eventTime + 60_000 });
            }

            await report.RequestStream.CompleteAsync();
            var summary = await report.ResponseAsync.WaitAsync(Timeout);
            Assert.Equal((2L * PerGateway, 0L), (summary.Accepted, summary.Rejected));
        }

        var evaluation = await second.Client.EvaluateAsync(
            new EvaluateRequest { Model = "fraud", FromUnixMs = eventTime, ToUnixMs = eventTime + PerGateway },
            deadline: DateTime.UtcNow + Timeout).ResponseAsync.WaitAsync(Timeout);
        var result = Assert.Single(evaluation.Results);
        Assert.Equal(("1", 2L * PerGateway, 2L * PerGateway), (result.Version, result.Predictions, result.Labelled));
        Assert.InRange(result.Auc, 0, 1);
    }

    [Fact]
    public async Task Predict_PostgresStoppedMidRunAndRestarted_ServedThroughoutReadyzSaysDownNothingLost()
    {
        var connectionString = await cluster.CreateDatabaseAsync("gateway");
        var gateway = await OwnGateway.StartAsync(
            "--Gateway:PredictionLog:Sink=PostgreSql", $"--Gateway:PredictionLog:PostgreSqlConnectionString={connectionString}",
            "--Gateway:PredictionLog:RetryMaxDelay=00:00:00.500");
        var answered = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        try
        {
            var workers = Load(gateway.Client, answered, stop.Token, workers: 4);
            var until = DateTime.UtcNow + Timeout;
            while (gateway.Log.GetStatus().Written < 500)
            {
                Assert.True(DateTime.UtcNow < until, $"nothing written to PostgreSQL: {gateway.Log.GetStatus()}");
                await Task.Delay(20);
            }

            await cluster.StopAsync();
            string readyz;
            try
            {
                var before = answered.Count;
                until = DateTime.UtcNow + Timeout;
                while (true)
                {
                    using var response = await gateway.Admin.GetAsync("/readyz");
                    readyz = await response.Content.ReadAsStringAsync();
                    if (readyz.Contains("DOWN", StringComparison.Ordinal) && answered.Count > before + 500)
                    {
                        Assert.True(response.IsSuccessStatusCode, "a down sink must not take the gateway out of service");
                        break;
                    }

                    Assert.True(DateTime.UtcNow < until, $"outage not reported, or predictions stopped ({answered.Count - before} since): {readyz}");
                    await Task.Delay(50);
                }

                Assert.Contains("prediction_log_sink_up", await gateway.Admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
                Assert.True(gateway.Log.GetStatus().Buffered > 0);
            }
            finally
            {
                await cluster.StartAsync();
            }

            await stop.CancelAsync();
            await Task.WhenAll(workers).WaitAsync(Timeout);
            until = DateTime.UtcNow + Timeout;
            while (gateway.Log.GetStatus().Buffered > 0 || !gateway.Log.GetStatus().SinkUp)
            {
                Assert.True(DateTime.UtcNow < until, $"the buffer was not written after the restart: {gateway.Log.GetStatus()}");
                await Task.Delay(50);
            }

            Assert.Contains(" up;", await gateway.Admin.GetStringAsync("/readyz"), StringComparison.Ordinal);
            await gateway.App.StopAsync().WaitAsync(Timeout);
            var stored = await StoredIdsAsync(connectionString, postgres: true);
            var missing = answered.Where(id => !stored.Contains(id)).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} of {answered.Count} answered predictions are not in PostgreSQL");
            Assert.Equal(0, gateway.Log.GetStatus().Dropped);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }
}
