using InferenceGateway.Core.Features;
using InferenceGateway.Server.Hosting;

namespace InferenceGateway.Server.Features;

/// <summary>
/// Starts the feature engine with the host (restoring the last snapshot) and stops it after everything else has
/// stopped, so that the final snapshot holds every event an ingest call applied while Kestrel drained its calls.
/// </summary>
internal sealed partial class FeatureHosting(FeatureEngine engine, ILogger<FeatureHosting> logger) : IHostedLifecycleService, IReadinessCheck
{
    private volatile bool _started;

    public string Name => "features";

    public string? NotReadyReason => _started ? null : "restoring the feature state";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await engine.StartAsync(cancellationToken).ConfigureAwait(false);
        _started = true;
        var statistics = engine.GetStatistics();
        Log.FeaturesReady(logger, engine.Definitions.Features.Count, statistics.Entities);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>After the web host stopped: no ingest call can apply an event any more.</summary>
    public Task StoppedAsync(CancellationToken cancellationToken) => engine.StopAsync(cancellationToken);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Streaming features ready: {Features} features defined, {Entities} entities restored", EventName = "FeaturesReady")]
        public static partial void FeaturesReady(ILogger logger, int features, int entities);
    }
}
