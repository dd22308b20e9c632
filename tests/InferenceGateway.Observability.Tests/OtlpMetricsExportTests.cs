using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using InferenceGateway.Observability.Otlp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Observability.Tests;

public sealed class OtlpMetricsExportTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void AddOtlpMetricsExport_NoEndpoint_RegistersNothing()
    {
        var services = new ServiceCollection();
        services.AddOtlpMetricsExport(Config(("Metrics:Otlp:Protocol", "grpc")));

        Assert.DoesNotContain(services, d => d.ServiceType == typeof(IHostedService));
        Assert.DoesNotContain(services, d => d.ServiceType == typeof(OtlpMetricsExportOptions));
    }

    [Fact]
    public void AddOtlpMetricsExport_EndpointConfigured_RegistersHostedServiceWithBoundOptions()
    {
        var services = new ServiceCollection();
        services.AddOtlpMetricsExport(Config(
            ("Metrics:Otlp:Endpoint", "http://127.0.0.1:4318"),
            ("Metrics:Otlp:Protocol", "http/protobuf"),
            ("Metrics:Otlp:ExportIntervalMilliseconds", "2000"),
            ("Metrics:Otlp:ServiceName", "gw-test"),
            ("Metrics:Otlp:MeterNames:0", "InferenceGateway")));
        services.AddOtlpMetricsExport(Config(("Metrics:Otlp:Endpoint", "http://127.0.0.1:4318")));

        Assert.Single(services, d => d.ServiceType == typeof(IHostedService));
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<OtlpMetricsExportOptions>();
        Assert.Equal(new Uri("http://127.0.0.1:4318"), options.Endpoint);
        Assert.Equal(OtlpMetricsProtocol.HttpProtobuf, options.Protocol);
        Assert.Equal(2000, options.ExportIntervalMilliseconds);
        Assert.Equal("gw-test", options.ServiceName);
        Assert.Equal(["InferenceGateway"], options.MeterNames);
    }

    [Theory]
    [InlineData("Metrics:Otlp:Endpoint", "not a uri")]
    [InlineData("Metrics:Otlp:Protocol", "carrier-pigeon")]
    [InlineData("Metrics:Otlp:ExportIntervalMilliseconds", "soon")]
    public void AddOtlpMetricsExport_InvalidSetting_Throws(string key, string value)
    {
        var settings = new List<(string, string)> { ("Metrics:Otlp:Endpoint", "http://127.0.0.1:4317") };
        settings.RemoveAll(s => s.Item1 == key);
        settings.Add((key, value));

        Assert.Throws<FormatException>(() => new ServiceCollection().AddOtlpMetricsExport(Config([.. settings])));
    }

    [Fact]
    public async Task OtlpExport_HttpProtobufReceiver_ReceivesMetricsOnStop()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var bodies = new ConcurrentQueue<(string? ContentType, byte[] Body)>();
        var receiverBuilder = WebApplication.CreateSlimBuilder();
        receiverBuilder.Logging.ClearProviders();
        receiverBuilder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        await using var receiver = receiverBuilder.Build();
        receiver.MapPost("/v1/metrics", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            bodies.Enqueue((context.Request.ContentType, body.ToArray()));
            context.Response.ContentType = "application/x-protobuf";
        });
        await receiver.StartAsync(cts.Token);
        try
        {
            var address = receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            var meterName = TestScrape.UniqueMeterName();
            var services = new ServiceCollection();
            services.AddOtlpMetricsExport(Config(
                ("Metrics:Otlp:Endpoint", (string)address),
                ("Metrics:Otlp:Protocol", "http/protobuf"),
                ("Metrics:Otlp:TimeoutMilliseconds", "5000"),
                ("Metrics:Otlp:MeterNames:0", meterName)));
            await using var provider = services.BuildServiceProvider();
            var exporter = provider.GetServices<IHostedService>().Single();

            await exporter.StartAsync(cts.Token);
            using var meter = new Meter(meterName);
            meter.CreateCounter<long>("gateway.otlp_probe").Add(42);
            await exporter.StopAsync(cts.Token);

            // Protobuf strings are raw UTF-8: the instrument and service names appear in the body as they are.
            Assert.NotEmpty(bodies);
            var (contentType, payload) = bodies.Last();
            Assert.Equal("application/x-protobuf", contentType);
            var text = Encoding.UTF8.GetString(payload);
            Assert.Contains("gateway.otlp_probe", text, StringComparison.Ordinal);
            Assert.Contains("inference-gateway", text, StringComparison.Ordinal);
        }
        finally
        {
            await receiver.StopAsync(cts.Token);
        }
    }
}
