using System.Text.Json;
using InferenceGateway.LoadTest.Cli;

namespace InferenceGateway.LoadTest.Tests;

/// <summary>
/// <c>ig-load side-by-side</c>: ORT's own bench_mlp runs in the test process (the real ONNX Runtime library) in blocks
/// alternating with one caller's ModelInfer calls to an in-process gateway, and with <c>--with-transport</c> blocks of
/// "ServerLive, then ORT's run".
/// </summary>
public sealed class SideBySideTests : IClassFixture<GatewayFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ig-load-sbs-").FullName;
    private readonly GatewayFixture _gateway;

    public SideBySideTests(GatewayFixture gateway) => _gateway = gateway;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task SideBySide_WithTransport_EveryKindMeasuredInEveryGroupAndTheGatewayServedEveryCall()
    {
        string json = Path.Combine(_dir, "sbs.json");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        double servedBefore = await _gateway.MetricAsync("gateway_batcher_batch_size_count{model=\"bench_mlp\",version=\"1\"}");

        int rc = await LoadTool.RunAsync(
            ["side-by-side", "--url", _gateway.GrpcUrl.ToString(), "--model", "bench_mlp", "--version", "1",
             "--models-dir", Path.Combine(GatewayFixture.RepositoryRoot, "models"),
             "--model-file", Path.Combine(GatewayFixture.RepositoryRoot, "models", "bench_mlp", "1", "model.onnx"),
             "--intra-op-threads", "1", "--block", "100ms", "--settle", "10ms", "--pairs", "3", "--warmup", "100ms", "--with-transport", "--json", json],
            stdout, stderr, CancellationToken.None);

        Assert.True(rc == 0, $"exit code {rc}: {stderr}");
        Assert.Contains("gateway above ORT, per group of blocks: median", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("transport call then ORT", stdout.ToString(), StringComparison.Ordinal);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(json));
        JsonElement root = doc.RootElement;
        Assert.Equal("bench_mlp", root.GetProperty("model").GetString());
        Assert.Equal(1, root.GetProperty("batch_size").GetInt32());
        Assert.Equal(0, root.GetProperty("gateway_errors").GetInt64());
        Assert.Equal(3, root.GetProperty("groups").GetInt32());
        int pairs = root.GetProperty("pairs").GetInt32(); // groups whose blocks both recorded: all, unless a call took 90 ms
        Assert.InRange(pairs, 1, 3);
        foreach (string side in new[] { "ort", "gateway", "transport", "ort_after_transport", "sequence" })
        {
            JsonElement s = root.GetProperty(side);
            Assert.True(s.GetProperty("count").GetInt64() > 0, side + " recorded nothing");
            Assert.InRange(s.GetProperty("p50_ms").GetDouble(), 0.001, 10_000);
        }

        // A sequence sample is its transport call plus its ORT run, so its median is at least either's.
        double sequence = root.GetProperty("sequence").GetProperty("p50_ms").GetDouble();
        Assert.True(sequence >= root.GetProperty("transport").GetProperty("p50_ms").GetDouble());
        Assert.True(sequence >= root.GetProperty("ort_after_transport").GetProperty("p50_ms").GetDouble());
        Assert.Equal(root.GetProperty("transport").GetProperty("count").GetInt64(), root.GetProperty("sequence").GetProperty("count").GetInt64());

        double[] differences = [.. root.GetProperty("pair_differences_ms").EnumerateArray().Select(e => e.GetDouble())];
        Assert.Equal(pairs, differences.Length);
        double[] sorted = [.. differences.Order()];
        double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
        Assert.Equal(median, root.GetProperty("median_pair_difference_ms").GetDouble(), 3);
        Assert.InRange(root.GetProperty("sequence_differences_ms").GetArrayLength(), 1, 3);

        // Every recorded gateway call (and the settle and warm-up ones) ran a bench_mlp batch in the gateway.
        double servedAfter = await _gateway.MetricAsync("gateway_batcher_batch_size_count{model=\"bench_mlp\",version=\"1\"}");
        Assert.True(servedAfter - servedBefore >= root.GetProperty("gateway").GetProperty("count").GetInt64(),
            $"the gateway ran {servedAfter - servedBefore} bench_mlp batches for {root.GetProperty("gateway").GetProperty("count").GetInt64()} recorded calls");
    }

    [Fact]
    public async Task SideBySide_PredictTarget_UsageError()
    {
        var stderr = new StringWriter();

        int rc = await LoadTool.RunAsync(
            ["side-by-side", "--target", "predict", "--model-file", "x.onnx"], TextWriter.Null, stderr, CancellationToken.None);

        Assert.Equal(2, rc);
        Assert.Contains("side-by-side compares ModelInfer", stderr.ToString(), StringComparison.Ordinal);
    }
}
