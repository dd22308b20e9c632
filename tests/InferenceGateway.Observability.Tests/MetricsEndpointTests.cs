using System.Diagnostics.Metrics;
using System.Net;
using InferenceGateway.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Observability.Tests;

public sealed class MetricsEndpointTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task MapPrometheusMetrics_KestrelOnLoopback_ServesParsableExposition()
    {
        using var cts = new CancellationTokenSource(s_timeout);
        var meterName = TestScrape.UniqueMeterName();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        builder.Services.AddPrometheusMetrics(options =>
        {
            options.MeterNames.Clear();
            options.MeterNames.Add(meterName);
            options.MaxSeriesPerMetric = 50;
        });
        await using var app = builder.Build();
        app.MapPrometheusMetrics("/metrics");

        // A meter from the host's own factory, as the gateway's components create theirs.
        var meter = app.Services.GetRequiredService<IMeterFactory>().Create(meterName);
        var requests = meter.CreateCounter<long>("gateway.requests", "{request}", "Requests by model, version, arm and status");
        var duration = meter.CreateHistogram<double>("gateway.request_duration", "s", "Request duration");
        await app.StartAsync(cts.Token);
        try
        {
            requests.Add(3, new("model", "fraud"), new("version", "2"), new("arm", "treatment"), new("status", "OK"));
            duration.Record(0.004, new KeyValuePair<string, object?>("model", "fraud"));

            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = s_timeout };
            using var response = await client.GetAsync(new Uri("/metrics", UriKind.Relative), cts.Token);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
            var scrape = PrometheusTextParser.Parse(await response.Content.ReadAsStringAsync(cts.Token));
            Assert.Equal(3, scrape.Value("gateway_requests_total", ("arm", "treatment"), ("model", "fraud"), ("status", "OK"), ("version", "2")));
            Assert.Equal(1, scrape.Value("gateway_request_duration_seconds_bucket", ("model", "fraud"), ("le", "0.005")));
            Assert.True(scrape.Value("process_resident_memory_bytes") > 0);
            Assert.True(scrape.HasFamily("dotnet_gc_collections_total"));

            using var head = await client.PostAsync(new Uri("/metrics", UriKind.Relative), null, cts.Token);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, head.StatusCode);
        }
        finally
        {
            await app.StopAsync(cts.Token);
        }
    }

    [Fact]
    public void MapPrometheusMetrics_WithoutRegistration_ThrowsClearError()
    {
        var builder = WebApplication.CreateSlimBuilder();
        using var app = builder.Build();

        var exception = Assert.Throws<InvalidOperationException>(() => app.MapPrometheusMetrics());
        Assert.Contains("AddPrometheusMetrics", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddPrometheusMetrics_HostStarted_CollectorListensBeforeFirstScrape()
    {
        using var cts = new CancellationTokenSource(s_timeout);
        var meterName = TestScrape.UniqueMeterName();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        builder.Services.AddPrometheusMetrics(options =>
        {
            options.MeterNames.Clear();
            options.MeterNames.Add(meterName);
            options.IncludeProcessMetrics = false;
        });
        builder.Services.AddPrometheusMetrics();
        await using var app = builder.Build();
        using var meter = new Meter(meterName);
        var counter = meter.CreateCounter<long>("gateway.early");
        await app.StartAsync(cts.Token);
        try
        {
            counter.Add(4);
            var scrape = TestScrape.Parse(app.Services.GetRequiredService<PrometheusMetricsCollector>());
            Assert.Equal(4, scrape.Value("gateway_early_total"));
            Assert.False(scrape.HasFamily("process_cpu_seconds_total"));
        }
        finally
        {
            await app.StopAsync(cts.Token);
        }
    }
}
