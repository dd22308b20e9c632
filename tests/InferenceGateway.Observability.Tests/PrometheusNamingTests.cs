using InferenceGateway.Observability.Internal;

namespace InferenceGateway.Observability.Tests;

public sealed class PrometheusNamingTests
{
    [Theory]
    [InlineData("gateway.batcher.queue_duration", "s", "Histogram", "gateway_batcher_queue_duration_seconds")]
    [InlineData("gateway.batcher.requests", "{request}", "Counter", "gateway_batcher_requests_total")]
    [InlineData("gateway.batcher.batch_size", "{row}", "Histogram", "gateway_batcher_batch_size")]
    [InlineData("gateway.batcher.queue_depth", "{request}", "Gauge", "gateway_batcher_queue_depth")]
    [InlineData("gateway.request_duration", "s", "Histogram", "gateway_request_duration_seconds")]
    [InlineData("dotnet.gc.heap.total_allocated", "By", "Counter", "dotnet_gc_heap_total_allocated_bytes_total")]
    [InlineData("dotnet.process.cpu.time", "s", "Counter", "dotnet_process_cpu_time_seconds_total")]
    [InlineData("queue_wait_seconds", "s", "Histogram", "queue_wait_seconds")]
    [InlineData("requests_total", null, "Counter", "requests_total")]
    [InlineData("net.io", "By/s", "Gauge", "net_io_bytes_per_second")]
    [InlineData("cpu.utilization", "1", "Gauge", "cpu_utilization_ratio")]
    [InlineData("events", "1", "Counter", "events_total")]
    [InlineData("9lives", "", "Gauge", "_9lives")]
    [InlineData("a..b--c", "ms", "Gauge", "a_b_c_milliseconds")]
    [InlineData("model:latency", "{request}/s", "Gauge", "model_latency_per_second")]
    [InlineData("weird", "furlongs", "Gauge", "weird_furlongs")]
    public void MetricName_InstrumentAndUnit_PrometheusConventions(string name, string? unit, string type, string expected)
    {
        Assert.Equal(expected, PrometheusNaming.MetricName(name, unit, Enum.Parse<PrometheusType>(type)));
    }

    [Theory]
    [InlineData("gc.heap.generation", "gc_heap_generation")]
    [InlineData("model", "model")]
    [InlineData("1abc", "key_1abc")]
    [InlineData("a-b c", "a_b_c")]
    [InlineData("__name__", "_name_")]
    public void LabelName_TagName_Sanitized(string tag, string expected)
    {
        Assert.Equal(expected, PrometheusNaming.LabelName(tag));
    }

    [Fact]
    public void NormalizeBuckets_UnsortedDuplicatesAndInfinity_SortedDistinctFinite()
    {
        Assert.Equal([0.1, 1, 5], PrometheusNaming.NormalizeBuckets([5, 1, double.PositiveInfinity, 0.1, 1, double.NaN])!);
        Assert.Null(PrometheusNaming.NormalizeBuckets([]));
    }
}
