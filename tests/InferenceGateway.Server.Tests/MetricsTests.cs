using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Server.Services;
using InferenceGateway.Testing;

namespace InferenceGateway.Server.Tests;

/// <summary>Scrapes /metrics while the gateway serves load and checks it with a strict exposition-format parser.</summary>
public sealed class MetricsTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Metrics_DuringLoad_StrictlyValidWithRequestAndBatcherFamilies()
    {
        var data = TestData.Load("fraud", "1");
        var request = KServeTests.RawRequest("fraud", "1", data.InputName, data.InputShape, data.Input);
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
            await Task.Delay(100);
            using var response = await gateway.Admin.GetAsync("/metrics");
            Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
            scrapes.Add(PrometheusTextParser.Parse(await response.Content.ReadAsStringAsync())); // Throws on any format violation.
        }

        await stop.CancelAsync();
        var sent = (await Task.WhenAll(load).WaitAsync(TimeSpan.FromSeconds(60))).Sum();
        using var final = await gateway.Admin.GetAsync("/metrics");
        var scrape = PrometheusTextParser.Parse(await final.Content.ReadAsStringAsync());

        var requests = scrape.Family("gateway_requests_total");
        Assert.Equal("counter", requests.Type);
        var ok = scrape.Value("gateway_requests_total", ("arm", ""), ("model", "fraud"), ("status", "OK"), ("version", "1"));
        Assert.True(ok >= sent, $"gateway_requests_total {ok} < {sent} calls made");
        foreach (var sample in requests.Samples)
        {
            Assert.Equal(["arm", "model", "status", "version"], sample.Labels.Keys.Order().ToArray());
        }

        Assert.Equal("histogram", scrape.Family("gateway_request_duration_seconds").Type);
        Assert.Equal("histogram", scrape.Family("gateway_batcher_queue_duration_seconds").Type);
        var batchSizes = scrape.Family("gateway_batcher_batch_size");
        Assert.Equal("histogram", batchSizes.Type);
        var buckets = scrape.Buckets("gateway_batcher_batch_size", ("model", "fraud"), ("version", "1"));
        for (var i = 1; i < buckets.Count; i++)
        {
            Assert.True(buckets[i].Le > buckets[i - 1].Le && buckets[i].Count >= buckets[i - 1].Count, "buckets must be ascending and cumulative");
        }

        // Every gRPC call by method and status: the ModelInfer calls above, and one call to a method nobody serves.
        var grpcCalls = scrape.Family("gateway_grpc_server_calls_total");
        Assert.Equal("counter", grpcCalls.Type);
        var inferCalls = scrape.Value("gateway_grpc_server_calls_total", ("method", "/inference.GRPCInferenceService/ModelInfer"), ("status", "OK"));
        Assert.True(inferCalls >= sent, $"gateway_grpc_server_calls_total for ModelInfer {inferCalls} < {sent} calls made");
        Assert.Equal("histogram", scrape.Family("gateway_grpc_server_call_duration_seconds").Type);
        using (var raw = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.GrpcPort}"), DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact })
        {
            using var missing = await InferenceGateway.Grpc.Tests.Infrastructure.RawGrpc.PostAsync(raw, "/no.Such/Method", InferenceGateway.Grpc.Tests.Infrastructure.RawGrpc.Frame([])).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal("12", InferenceGateway.Grpc.Tests.Infrastructure.RawGrpc.GrpcStatus(missing));
        }

        using var afterMissing = await gateway.Admin.GetAsync("/metrics");
        var unknown = PrometheusTextParser.Parse(await afterMissing.Content.ReadAsStringAsync())
            .Value("gateway_grpc_server_calls_total", ("method", "_unknown"), ("status", "Unimplemented"));
        Assert.True(unknown >= 1, "the call to an unknown method was not counted under _unknown");

        Assert.True(scrape.HasFamily("process_resident_memory_bytes"));
        // Counters never go backwards between scrapes taken during the load.
        var series = scrapes.Select(s => s.HasFamily("gateway_requests_total") ? s.Value("gateway_requests_total", ("arm", ""), ("model", "fraud"), ("status", "OK"), ("version", "1")) : 0).ToArray();
        for (var i = 1; i < series.Length; i++)
        {
            Assert.True(series[i] >= series[i - 1]);
        }
    }
}
