using System.Diagnostics.Metrics;
using InferenceGateway.Observability.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace InferenceGateway.Observability;

/// <summary>Registration of the Prometheus metrics collector.</summary>
public static class PrometheusMetricsServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="PrometheusMetricsCollector"/> as a singleton, created when the host starts (so measurements
    /// count from then on, not from the first scrape), limited to meters of this container's <see cref="IMeterFactory"/>
    /// or created with <c>new Meter(...)</c>. Expose it with <see cref="PrometheusMetricsEndpointRouteBuilderExtensions.MapPrometheusMetrics"/>.
    /// </summary>
    public static IServiceCollection AddPrometheusMetrics(this IServiceCollection services, Action<PrometheusMetricsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<PrometheusMetricsOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.AddMetrics();
        services.TryAddSingleton(static provider => new PrometheusMetricsCollector(
            provider.GetRequiredService<IOptions<PrometheusMetricsOptions>>().Value,
            provider.GetService<IMeterFactory>(),
            provider.GetService<ILogger<PrometheusMetricsCollector>>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, PrometheusMetricsStartup>());
        return services;
    }
}
