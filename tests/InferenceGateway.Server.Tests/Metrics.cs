using InferenceGateway.Testing;

namespace InferenceGateway.Server.Tests;

/// <summary>Exact readings of the gateway's own counters.</summary>
public static class Metrics
{
    public const string ModelInferMethod = "/inference.GRPCInferenceService/ModelInfer";

    /// <summary>A counter sample's value, 0 when the series does not exist (yet).</summary>
    public static double Counter(this PrometheusScrape scrape, string name, params (string Name, string Value)[] labels) =>
        scrape.FindSample(name, labels)?.Value ?? 0;

    /// <summary><c>gateway_requests_total</c> for one model version and status (the executor's count).</summary>
    public static double Requests(this PrometheusScrape scrape, string model, string version, string status) =>
        scrape.Counter("gateway_requests_total", ("arm", ""), ("model", model), ("status", status), ("version", version));

    /// <summary><c>gateway_batcher_requests_total</c> for one model version and outcome (the batcher's count).</summary>
    public static double BatcherOutcome(this PrometheusScrape scrape, string model, string version, string outcome) =>
        scrape.Counter("gateway_batcher_requests_total", ("model", model), ("outcome", outcome), ("version", version));

    /// <summary><c>gateway_grpc_server_calls_total</c> for ModelInfer with one status (the transport's count, from the trailers).</summary>
    public static double ModelInferCalls(this PrometheusScrape scrape, string status) =>
        scrape.Counter("gateway_grpc_server_calls_total", ("method", ModelInferMethod), ("status", status));

    /// <summary>The gateway's /metrics, parsed strictly.</summary>
    public static async Task<PrometheusScrape> ScrapeAsync(HttpClient admin) =>
        PrometheusTextParser.Parse(await admin.GetStringAsync("/metrics").WaitAsync(TestGateway.Timeout));

    /// <summary>
    /// Scrapes until <paramref name="reading"/> reaches <paramref name="expected"/> (a call's metrics are recorded as it
    /// ends, which may be just after its client saw the answer), then asserts it is exactly that and returns the scrape.
    /// </summary>
    public static async Task<PrometheusScrape> UntilAsync(HttpClient admin, Func<PrometheusScrape, double> reading, double expected, string what)
    {
        var scrape = await ScrapeAsync(admin);
        var until = DateTime.UtcNow + TestGateway.Timeout;
        while (reading(scrape) < expected && DateTime.UtcNow < until)
        {
            await Task.Delay(20);
            scrape = await ScrapeAsync(admin);
        }

        Assert.True(reading(scrape) == expected, $"{what}: {reading(scrape)}, expected {expected}");
        return scrape;
    }

    /// <inheritdoc cref="UntilAsync(HttpClient, Func{PrometheusScrape, double}, double, string)"/>
    public static Task<PrometheusScrape> UntilAsync(TestGateway gateway, Func<PrometheusScrape, double> reading, double expected, string what) =>
        UntilAsync(gateway.Admin, reading, expected, what);
}
