using System.Buffers;
using System.Diagnostics.Metrics;
using System.Text;
using InferenceGateway.Testing;

namespace InferenceGateway.Observability.Tests;

internal static class TestScrape
{
    public static string UniqueMeterName() => "Test." + Guid.NewGuid().ToString("N");

    public static PrometheusMetricsCollector Collector(string meterName, int maxSeries = 1000, Action<PrometheusMetricsOptions>? configure = null)
    {
        var options = new PrometheusMetricsOptions { MaxSeriesPerMetric = maxSeries, IncludeProcessMetrics = false };
        options.MeterNames.Clear();
        options.MeterNames.Add(meterName);
        configure?.Invoke(options);
        return new PrometheusMetricsCollector(options);
    }

    public static string Text(PrometheusMetricsCollector collector)
    {
        var buffer = new ArrayBufferWriter<byte>();
        collector.WriteTo(buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static PrometheusScrape Parse(PrometheusMetricsCollector collector) => PrometheusTextParser.Parse(Text(collector));

    public static KeyValuePair<string, object?> Tag(string name, object? value) => new(name, value);

    public static Meter Meter(string name) => new(name);
}
