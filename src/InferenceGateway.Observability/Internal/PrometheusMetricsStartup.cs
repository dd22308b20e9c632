using Microsoft.Extensions.Hosting;

namespace InferenceGateway.Observability.Internal;

/// <summary>Creates the collector (and so starts listening) when the host starts.</summary>
internal sealed class PrometheusMetricsStartup : IHostedService
{
    // Resolving the collector is the point: its constructor starts the listener.
    public PrometheusMetricsStartup(PrometheusMetricsCollector collector) => _ = collector;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
