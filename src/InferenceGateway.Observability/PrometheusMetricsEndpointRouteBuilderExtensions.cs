using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace InferenceGateway.Observability;

/// <summary>The Prometheus scrape endpoint.</summary>
public static class PrometheusMetricsEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>GET <paramref name="pattern"/></c> to the text exposition of the <see cref="PrometheusMetricsCollector"/>
    /// registered by <see cref="PrometheusMetricsServiceCollectionExtensions.AddPrometheusMetrics"/> (resolved now, so
    /// listening starts even before the host does).
    /// </summary>
    public static IEndpointConventionBuilder MapPrometheusMetrics(this IEndpointRouteBuilder endpoints, string pattern = "/metrics")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        var collector = endpoints.ServiceProvider.GetService<PrometheusMetricsCollector>()
            ?? throw new InvalidOperationException("PrometheusMetricsCollector is not registered: call services.AddPrometheusMetrics() first.");

        return endpoints.MapGet(pattern, context => WriteAsync(context, collector)).WithDisplayName("Prometheus metrics");
    }

    private static async Task WriteAsync(HttpContext context, PrometheusMetricsCollector collector)
    {
        context.Response.ContentType = PrometheusMetricsCollector.ContentType;
        context.Response.Headers.CacheControl = "no-store";

        // The response pipe's pooled segments are the buffer: the text is written once, with no intermediate copy.
        collector.WriteTo(context.Response.BodyWriter);
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
