namespace InferenceGateway.Observability;

/// <summary>Options of <see cref="PrometheusMetricsCollector"/>.</summary>
public sealed class PrometheusMetricsOptions
{
    /// <summary>The gateway's own meter.</summary>
    public const string DefaultMeterName = "InferenceGateway";

    /// <summary>The runtime's built-in meter (GC, JIT, thread pool, exceptions, CPU), added by <see cref="IncludeProcessMetrics"/>.</summary>
    public const string RuntimeMeterName = "System.Runtime";

    /// <summary>Default for <see cref="MaxSeriesPerMetric"/>.</summary>
    public const int DefaultMaxSeriesPerMetric = 1000;

    /// <summary>
    /// Meters to expose, by exact name, or by prefix when the entry ends with <c>*</c> (<c>InferenceGateway.*</c>).
    /// Holds <see cref="DefaultMeterName"/> at first; clear it to replace the default.
    /// </summary>
    public IList<string> MeterNames { get; } = new List<string> { DefaultMeterName };

    /// <summary>
    /// Most series (distinct label sets) one metric may hold; measurements for further label sets are dropped
    /// and counted in <c>gateway_metrics_series_dropped_total{metric}</c>. Default 1000.
    /// </summary>
    public int MaxSeriesPerMetric { get; set; } = DefaultMaxSeriesPerMetric;

    /// <summary>
    /// Whether to expose the runtime's <c>System.Runtime</c> meter (<c>dotnet_*</c>) and the conventional
    /// Prometheus process metrics (<c>process_cpu_seconds_total</c>, <c>process_resident_memory_bytes</c>,
    /// <c>process_start_time_seconds</c>, <c>process_open_fds</c>). Default true.
    /// </summary>
    public bool IncludeProcessMetrics { get; set; } = true;

    /// <summary>
    /// Histogram bucket upper bounds by instrument name (as created, e.g. <c>gateway.batcher.queue_duration</c>),
    /// overriding the instrument's advice and the unit-based defaults.
    /// </summary>
    public IDictionary<string, double[]> HistogramBuckets { get; } = new Dictionary<string, double[]>(StringComparer.Ordinal);

    internal void Validate()
    {
        if (MaxSeriesPerMetric < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxSeriesPerMetric), MaxSeriesPerMetric, "MaxSeriesPerMetric must be at least 1.");
        }

        foreach (var name in MeterNames)
        {
            if (string.IsNullOrWhiteSpace(name))
            {
                throw new ArgumentException("MeterNames holds an empty name.", nameof(MeterNames));
            }
        }
    }
}
