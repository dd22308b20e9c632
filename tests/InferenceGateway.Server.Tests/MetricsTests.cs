using System.Diagnostics;
using System.Text.Json;
using Grpc.Core;
using InferenceGateway.Grpc.Tests.Infrastructure;
using InferenceGateway.Server.Services;
using InferenceGateway.Testing;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// Scrapes /metrics while the gateway serves load: strictly valid (our parser), read the same by the reference
/// Prometheus client library's parser, and every count exact. The fixture is this class's alone, so nothing else calls it.
/// </summary>
public sealed class MetricsTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Metrics_DuringLoad_StrictlyValidWithExactRequestAndBatcherCounts()
    {
        var data = TestData.Load("fraud", "1");
        var request = KServeTests.RawRequest("fraud", "1", data.InputName, data.InputShape, data.Input);
        var rows = (int)data.InputShape[0];
        var invoker = gateway.Channel.CreateCallInvoker();
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            var calls = 0;
            while (!stop.IsCancellationRequested || calls < 20)
            {
                await invoker.AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), request).ResponseAsync;
                calls++;
            }

            return calls;
        })).ToArray();

        var scrapes = new List<PrometheusScrape>();
        for (var i = 0; i < 5; i++)
        {
            using var response = await gateway.Admin.GetAsync("/metrics");
            Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
            var text = await response.Content.ReadAsStringAsync();
            var scrape = PrometheusTextParser.Parse(text); // Throws on any format violation.
            scrapes.Add(scrape);
            if (i == 2)
            {
                await AssertReferenceParserAgreesAsync(text, scrape);
            }
        }

        await stop.CancelAsync();
        var sent = (await Task.WhenAll(load).WaitAsync(TimeSpan.FromSeconds(60))).Sum();

        // Every call counted once, by the executor and by the transport; each call's rows went through the batcher.
        var final = await Metrics.UntilAsync(gateway.Admin, s => s.Requests("fraud", "1", "OK"), sent, "gateway_requests_total for fraud v1");
        final = await Metrics.UntilAsync(gateway.Admin, s => s.ModelInferCalls("OK"), sent, "gateway_grpc_server_calls_total for ModelInfer");
        Assert.Equal(sent + 1, final.BatcherOutcome("fraud", "1", "success")); // and the warm-up inference
        Assert.Equal(sent, final.Requests("fraud", "1", "OK"));
        Assert.Equal(sent, final.Family("gateway_requests_total").Samples.Where(s => s.Labels["model"] == "fraud").Sum(s => s.Value)); // no other status or version
        var batchRows = final.Counter("gateway_batcher_batch_size_sum", ("model", "fraud"), ("version", "1"));
        Assert.Equal((sent * rows) + 1, batchRows);

        var requests = final.Family("gateway_requests_total");
        Assert.Equal("counter", requests.Type);
        foreach (var sample in requests.Samples)
        {
            Assert.Equal(["arm", "model", "status", "version"], sample.Labels.Keys.Order().ToArray());
        }

        Assert.Equal("histogram", final.Family("gateway_request_duration_seconds").Type);
        Assert.Equal(sent, final.Counter("gateway_request_duration_seconds_count", ("arm", ""), ("model", "fraud"), ("status", "OK"), ("version", "1")));
        Assert.Equal("histogram", final.Family("gateway_batcher_queue_duration_seconds").Type);
        var batchSizes = final.Family("gateway_batcher_batch_size");
        Assert.Equal("histogram", batchSizes.Type);
        var buckets = final.Buckets("gateway_batcher_batch_size", ("model", "fraud"), ("version", "1"));
        for (var i = 1; i < buckets.Count; i++)
        {
            Assert.True(buckets[i].Le > buckets[i - 1].Le && buckets[i].Count >= buckets[i - 1].Count, "buckets must be ascending and cumulative");
        }

        Assert.Equal("counter", final.Family("gateway_grpc_server_calls_total").Type);
        Assert.Equal("histogram", final.Family("gateway_grpc_server_call_duration_seconds").Type);
        Assert.True(final.HasFamily("process_resident_memory_bytes"));

        // Counters never go backwards between scrapes taken during the load.
        var series = scrapes.Select(s => s.Requests("fraud", "1", "OK")).ToArray();
        for (var i = 1; i < series.Length; i++)
        {
            Assert.True(series[i] >= series[i - 1]);
        }
    }

    [Fact]
    public async Task Metrics_CallsToUnknownModelsAndMethods_FoldedIntoOneLabelEach()
    {
        // A client must not be able to grow the label sets: unknown model names share "_unknown", unknown methods too.
        var before = await Metrics.ScrapeAsync(gateway.Admin);
        var invoker = gateway.Channel.CreateCallInvoker();
        var names = Enumerable.Range(0, 5).Select(i => $"no-such-model-{Guid.NewGuid():N}").ToArray();
        foreach (var name in names)
        {
            var ex = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(KServeMethods.ModelInfer, null,
                new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), KServeTests.RawRequest(name, "1", "x", [1, 1], [1f])).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, ex.StatusCode);
        }

        using (var raw = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.GrpcPort}") })
        {
            foreach (var path in new[] { "/no.Such/Method", $"/no.Such/{Guid.NewGuid():N}" })
            {
                using var missing = await RawGrpc.PostAsync(raw, path, RawGrpc.Frame([])).WaitAsync(TimeSpan.FromSeconds(30));
                Assert.Equal("12", RawGrpc.GrpcStatus(missing));
            }
        }

        var after = await Metrics.UntilAsync(gateway.Admin, s => s.Requests("_unknown", "", "NotFound") - before.Requests("_unknown", "", "NotFound"), 5, "unknown models under _unknown");
        await Metrics.UntilAsync(gateway.Admin, s => s.Counter("gateway_grpc_server_calls_total", ("method", "_unknown"), ("status", "Unimplemented"))
            - before.Counter("gateway_grpc_server_calls_total", ("method", "_unknown"), ("status", "Unimplemented")), 2, "unknown methods under _unknown");
        var text = await gateway.Admin.GetStringAsync("/metrics");
        Assert.DoesNotContain("no-such-model", text, StringComparison.Ordinal);
        Assert.DoesNotContain("no.Such", text, StringComparison.Ordinal);
        Assert.All(after.Family("gateway_requests_total").Samples, s => Assert.Contains(s.Labels["model"], new[] { "fraud", "bench_mlp", "_unknown" }));
    }

    /// <summary>
    /// Parses the same exposition with python3-prometheus-client's parser (the reference library, independent of our
    /// exporter and of <see cref="PrometheusTextParser"/>) and requires every sample, with the same value, from both.
    /// </summary>
    private static async Task AssertReferenceParserAgreesAsync(string text, PrometheusScrape ours)
    {
        var file = Path.Combine(Path.GetTempPath(), $"ig-metrics-{Guid.NewGuid():N}.txt");
        await File.WriteAllTextAsync(file, text);
        try
        {
            var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "interop", "parse_metrics.py"));
            info.ArgumentList.Add(file);
            using var python = Process.Start(info)!;
            var stdout = python.StandardOutput.ReadToEndAsync();
            var stderr = python.StandardError.ReadToEndAsync();
            await python.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(python.ExitCode == 0, $"prometheus_client rejected the exposition: {await stderr}");

            using var doc = JsonDocument.Parse(await stdout);
            var theirs = doc.RootElement.GetProperty("samples").EnumerateObject()
                .ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetDouble().ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            var mine = ours.Samples.ToDictionary(
                s => s.Name + "{" + string.Join(",", s.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}=\"{l.Value}\"")) + "}",
                s => double.IsNaN(s.Value) ? "NaN" : double.IsPositiveInfinity(s.Value) ? "+Inf" : double.IsNegativeInfinity(s.Value) ? "-Inf" : s.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(ours.Families.Count, doc.RootElement.GetProperty("families").GetInt32());
            Assert.Equal(mine.Keys.Order(StringComparer.Ordinal), theirs.Keys.Order(StringComparer.Ordinal));
            foreach (var (key, value) in mine)
            {
                Assert.True(theirs[key] == value, $"{key}: ours {value}, prometheus_client {theirs[key]}");
            }
        }
        finally
        {
            File.Delete(file);
        }
    }
}
