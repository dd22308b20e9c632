using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace InferenceGateway.Observability.Otlp.Internal;

/// <summary>Owns the OpenTelemetry meter provider for the host's lifetime; stopping flushes a final export.</summary>
internal sealed class OtlpMetricsExportService : IHostedService, IDisposable
{
    private readonly OtlpMetricsExportOptions _options;
    private MeterProvider? _provider;

    public OtlpMetricsExportService(OtlpMetricsExportOptions options) => _options = options;

    internal MeterProvider? Provider => _provider;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var endpoint = _options.Endpoint!;
        if (_options.Protocol == OtlpMetricsProtocol.HttpProtobuf && endpoint.AbsolutePath is "/" or "")
        {
            // Set in code, the HTTP exporter uses the address as the full URL.
            endpoint = new Uri(endpoint, "v1/metrics");
        }

        _provider = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(resource => resource.AddService(_options.ServiceName))
            .AddMeter([.. _options.MeterNames])
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Endpoint = endpoint;
                exporter.Protocol = _options.Protocol == OtlpMetricsProtocol.Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                exporter.TimeoutMilliseconds = _options.TimeoutMilliseconds;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = _options.ExportIntervalMilliseconds;
            })
            .Build();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _provider, null)?.Dispose();
    }
}
