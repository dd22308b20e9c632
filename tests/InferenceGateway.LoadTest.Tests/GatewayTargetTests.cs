using System.Globalization;
using System.Text;
using System.Text.Json;
using Grpc.Net.Client;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.LoadTest.Cli;

namespace InferenceGateway.LoadTest.Tests;

/// <summary>The ingest target and the freshness probe against a real gateway on loopback (in this process).</summary>
public sealed class GatewayTargetTests : IClassFixture<GatewayFixture>, IDisposable
{
    private const string Ingested = "gateway_features_events_ingested_total{stream=\"transactions\"}";
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(120);
    private readonly GatewayFixture _gateway;
    private readonly string _dir = Directory.CreateTempSubdirectory("ig-load-gateway-tests-").FullName;

    public GatewayTargetTests(GatewayFixture gateway) => _gateway = gateway;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("h2")]
    [InlineData("http")]
    public async Task Run_IngestTarget_EveryEventAcceptedAndVisibleEventsPerSecondReported(string client)
    {
        string card = "t-" + Guid.NewGuid().ToString("N")[..8] + "-";
        string csv = WriteEvents(card, rows: 30, cards: 5, amount: i => (i + 1).ToString("F2", CultureInfo.InvariantCulture));
        string json = Path.Combine(_dir, "ingest.json");
        double before = await _gateway.MetricAsync(Ingested);
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        // Two passes of 30 rows in calls of 10: 6 calls, each made once, so every row is sent twice.
        int rc = await LoadTool.RunAsync(
            [
                "run", "--target", "ingest", "--client", client, "--url", _gateway.GrpcUrl.ToString(), "--events", csv, "--passes", "2",
                "--events-per-call", "10", "--concurrency", "2", "--warmup", "0s", "--requests", "6", "--max-duration", "60s",
                "--json", json, "--quiet",
            ],
            stdout,
            stderr,
            CancellationToken.None).WaitAsync(TestTimeout);

        Assert.True(rc == 0, stderr.ToString() + stdout);
        using (JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json)))
        {
            Assert.Equal(10, doc.RootElement.GetProperty("events_per_call").GetInt32());
            JsonElement step = doc.RootElement.GetProperty("steps")[0];
            Assert.Equal(6, step.GetProperty("ok").GetInt64());
            Assert.Equal(0, step.GetProperty("errors").GetInt64());
            Assert.Equal(step.GetProperty("throughput_rps").GetDouble() * 10, step.GetProperty("events_per_s").GetDouble(), 0.1);
        }

        Assert.Contains("events/s", stdout.ToString(), StringComparison.Ordinal);
        Assert.Equal(60, await _gateway.MetricAsync(Ingested) - before);
        Assert.Equal(12, await CountAsync(card + "3"));
    }

    [Theory]
    [InlineData("h2")]
    [InlineData("http")]
    public async Task Run_IngestTargetEventsRejected_CallsCountedAsIngestRejected(string client)
    {
        // Every fifth amount has three decimals: the stream's two-decimal field rejects it (invalid_value).
        string csv = WriteEvents("r-" + Guid.NewGuid().ToString("N")[..8] + "-", rows: 20, cards: 2, amount: i => i % 5 == 0 ? "1.234" : "1.23");
        string json = Path.Combine(_dir, "rejected.json");

        int rc = await LoadTool.RunAsync(
            [
                "run", "--target", "ingest", "--client", client, "--url", _gateway.GrpcUrl.ToString(), "--events", csv,
                "--events-per-call", "5", "--warmup", "0s", "--requests", "4", "--max-duration", "60s", "--json", json, "--quiet",
            ],
            TextWriter.Null,
            TextWriter.Null,
            CancellationToken.None).WaitAsync(TestTimeout);

        Assert.Equal(1, rc);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement step = doc.RootElement.GetProperty("steps")[0];
        Assert.Equal(0, step.GetProperty("ok").GetInt64());
        Assert.Equal(4, step.GetProperty("errors_by_code").GetProperty("ingest_rejected").GetInt64());
    }

    [Theory]
    [InlineData("getfeatures", false)]
    [InlineData("predict", false)]
    [InlineData("getfeatures", true)]
    [InlineData("predict", true)]
    public async Task Freshness_AgainstGateway_EveryEventAppliedAndSeen(string query, bool perCall)
    {
        string prefix = "f-" + Guid.NewGuid().ToString("N")[..8] + "-";
        string json = Path.Combine(_dir, "freshness.json");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        List<string> args =
        [
            "freshness", "--url", _gateway.GrpcUrl.ToString(), "--trials", "8", "--warmup-trials", "2", "--query", query,
            "--events", Path.Combine(GatewayFixture.RepositoryRoot, "models", "data", "transactions.csv.gz"),
            "--entity-prefix", prefix, "--json", json, "--quiet", "--max-duration", "60s",
        ];
        if (perCall)
        {
            args.Add("--per-call");
        }

        int rc = await LoadTool.RunAsync([.. args], stdout, stderr, CancellationToken.None).WaitAsync(TestTimeout);

        Assert.True(rc == 0, stderr.ToString() + stdout);
        using (JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json)))
        {
            JsonElement root = doc.RootElement;
            Assert.Equal(8, root.GetProperty("visible").GetInt64());
            Assert.Equal(0, root.GetProperty("not_visible").GetInt64());
            Assert.Equal(10, root.GetProperty("events_sent").GetInt64());
            Assert.Equal(10, root.GetProperty("accepted").GetInt64());
            Assert.Equal(8, root.GetProperty("send_to_visible_ms").GetProperty("count").GetInt64());
            Assert.True(root.GetProperty("polls").GetInt64() >= 8);
            Assert.Equal(perCall, root.TryGetProperty("send_to_acknowledged_ms", out _));
        }

        Assert.Contains("send -> visible", stdout.ToString(), StringComparison.Ordinal);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(1, await CountAsync(prefix + i.ToString(CultureInfo.InvariantCulture)));
        }
    }

    [Fact]
    public async Task Freshness_FeatureFromTheRequest_RefusedBeforeMeasuring()
    {
        var stderr = new StringWriter();

        int rc = await LoadTool.RunAsync(
            [
                "freshness", "--url", _gateway.GrpcUrl.ToString(), "--trials", "3", "--query", "predict", "--feature", "amount",
                "--events", Path.Combine(GatewayFixture.RepositoryRoot, "models", "data", "transactions.csv.gz"), "--quiet",
            ],
            TextWriter.Null,
            stderr,
            CancellationToken.None).WaitAsync(TestTimeout);

        Assert.Equal(1, rc);
        Assert.Contains("not defaulted before any event", stderr.ToString(), StringComparison.Ordinal);
    }

    // txn_count_10m of one entity now: the ingest target's events are rebased into the last minute.
    private async Task<double> CountAsync(string entity)
    {
        using GrpcChannel channel = GrpcChannel.ForAddress(_gateway.GrpcUrl);
        var client = new Gateway.GatewayClient(channel);
        var request = new GetFeaturesRequest { EntityId = entity };
        request.Names.Add("txn_count_10m");
        GetFeaturesResponse response = await client.GetFeaturesAsync(request, deadline: DateTime.UtcNow.AddSeconds(30)).ResponseAsync.WaitAsync(TestTimeout);
        return response.Features[0].Value;
    }

    private string WriteEvents(string cardPrefix, int rows, int cards, Func<int, string> amount)
    {
        var text = new StringBuilder("event_time_unix_ms,card_id,merchant_id,merchant_category,amount,label\n");
        for (int i = 0; i < rows; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{1_700_000_000_000L + (i * 1000L)},{cardPrefix}{i % cards},m{i % 7:D3},{i % 4},{amount(i)},0\n");
        }

        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".csv");
        File.WriteAllText(path, text.ToString());
        return path;
    }
}
