using System.Globalization;
using InferenceGateway.Observability.Otlp.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace InferenceGateway.Observability.Otlp;

/// <summary>Registration of the OTLP metrics export (OpenTelemetry SDK meter provider + OTLP exporter).</summary>
public static class OtlpMetricsServiceCollectionExtensions
{
    /// <summary>
    /// Reads <see cref="OtlpMetricsExportOptions"/> from the <c>Metrics:Otlp</c> section of <paramref name="configuration"/>
    /// and, only when an endpoint is configured, registers a hosted service that exports the meters over OTLP
    /// while the host runs.
    /// </summary>
    public static IServiceCollection AddOtlpMetricsExport(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new OtlpMetricsExportOptions();
        Bind(configuration.GetSection(OtlpMetricsExportOptions.SectionName), options);
        return services.AddOtlpMetricsExport(options);
    }

    /// <summary>Registers the export with options set in code; nothing when <see cref="OtlpMetricsExportOptions.Endpoint"/> is null.</summary>
    public static IServiceCollection AddOtlpMetricsExport(this IServiceCollection services, Action<OtlpMetricsExportOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var options = new OtlpMetricsExportOptions();
        configure(options);
        return services.AddOtlpMetricsExport(options);
    }

    private static IServiceCollection AddOtlpMetricsExport(this IServiceCollection services, OtlpMetricsExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (options.Endpoint is null)
        {
            return services;
        }

        if (!options.Endpoint.IsAbsoluteUri || options.ExportIntervalMilliseconds <= 0 || options.TimeoutMilliseconds <= 0 || options.MeterNames.Count == 0)
        {
            throw new ArgumentException("OTLP metrics export needs an absolute endpoint, positive interval and timeout, and at least one meter name.", nameof(options));
        }

        services.TryAddSingleton(options);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, OtlpMetricsExportService>());
        return services;
    }

    private static void Bind(IConfigurationSection section, OtlpMetricsExportOptions options)
    {
        // Read by hand rather than through the reflection binder: few keys, trimming-safe, precise errors.
        var endpoint = section["Endpoint"];
        if (!string.IsNullOrWhiteSpace(endpoint))
        {
            options.Endpoint = Uri.TryCreate(endpoint, UriKind.Absolute, out var uri)
                ? uri
                : throw new FormatException($"{OtlpMetricsExportOptions.SectionName}:Endpoint '{endpoint}' is not an absolute URI.");
        }

        var protocol = section["Protocol"];
        if (!string.IsNullOrWhiteSpace(protocol))
        {
            options.Protocol = protocol.Trim().ToUpperInvariant() switch
            {
                "GRPC" => OtlpMetricsProtocol.Grpc,
                "HTTP/PROTOBUF" or "HTTPPROTOBUF" => OtlpMetricsProtocol.HttpProtobuf,
                _ => throw new FormatException($"{OtlpMetricsExportOptions.SectionName}:Protocol '{protocol}' is not grpc or http/protobuf."),
            };
        }

        options.ExportIntervalMilliseconds = ReadInt(section, "ExportIntervalMilliseconds", options.ExportIntervalMilliseconds);
        options.TimeoutMilliseconds = ReadInt(section, "TimeoutMilliseconds", options.TimeoutMilliseconds);
        options.ServiceName = section["ServiceName"] is { Length: > 0 } serviceName ? serviceName : options.ServiceName;

        var meters = section.GetSection("MeterNames").GetChildren().Select(static child => child.Value).OfType<string>().ToList();
        if (meters.Count > 0)
        {
            options.MeterNames.Clear();
            foreach (var meter in meters)
            {
                options.MeterNames.Add(meter);
            }
        }
    }

    private static int ReadInt(IConfigurationSection section, string key, int fallback)
    {
        var text = section[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"{OtlpMetricsExportOptions.SectionName}:{key} '{text}' is not an integer.");
    }
}
