namespace InferenceGateway.Observability.Otlp;

/// <summary>Wire protocol of the OTLP metrics export.</summary>
public enum OtlpMetricsProtocol
{
    /// <summary>OTLP over gRPC (collector port 4317).</summary>
    Grpc,

    /// <summary>OTLP over HTTP with protobuf bodies (collector port 4318, path <c>/v1/metrics</c>).</summary>
    HttpProtobuf,
}

/// <summary>
/// Options of the OTLP metrics export, bound from the configuration section <see cref="SectionName"/>
/// (<c>Metrics:Otlp:Endpoint</c>, <c>Protocol</c>, <c>ExportIntervalMilliseconds</c>, <c>TimeoutMilliseconds</c>,
/// <c>ServiceName</c>, <c>MeterNames:0..n</c>). The export is off unless <see cref="Endpoint"/> is set.
/// </summary>
public sealed class OtlpMetricsExportOptions
{
    /// <summary>The configuration section read by <see cref="OtlpMetricsServiceCollectionExtensions.AddOtlpMetricsExport(Microsoft.Extensions.DependencyInjection.IServiceCollection, Microsoft.Extensions.Configuration.IConfiguration)"/>.</summary>
    public const string SectionName = "Metrics:Otlp";

    /// <summary>Collector address, e.g. <c>http://127.0.0.1:4317</c>; null disables the export.
    /// For <see cref="OtlpMetricsProtocol.HttpProtobuf"/> a bare address gets the path <c>/v1/metrics</c>.</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>Wire protocol; default gRPC.</summary>
    public OtlpMetricsProtocol Protocol { get; set; } = OtlpMetricsProtocol.Grpc;

    /// <summary>Interval between exports; default 15 s.</summary>
    public int ExportIntervalMilliseconds { get; set; } = 15_000;

    /// <summary>Timeout of one export call; default 10 s.</summary>
    public int TimeoutMilliseconds { get; set; } = 10_000;

    /// <summary>The <c>service.name</c> resource attribute.</summary>
    public string ServiceName { get; set; } = "inference-gateway";

    /// <summary>Meters to export (a trailing <c>*</c> is a wildcard); default the gateway's and the runtime's.</summary>
    public IList<string> MeterNames { get; } = new List<string> { PrometheusMetricsOptions.DefaultMeterName, PrometheusMetricsOptions.RuntimeMeterName };
}
