using InferenceGateway.Core.Models;
using InferenceGateway.Core.Routing;
using InferenceGateway.Server.Hosting;

namespace InferenceGateway.Server.Experiments;

/// <summary>
/// Applies the experiments file once the model repository's first scan is done (experiments name versions, which must
/// be served), re-applies it when the file is edited or the served versions change, and on shutdown lets the queued
/// shadow copies finish within their deadlines. Registered after the model lifecycle, so it stops first: local shadows
/// hold version leases that the repository's drain waits for.
/// </summary>
internal sealed partial class ExperimentHosting(
    ExperimentStore store,
    ModelRepository repository,
    ShadowDispatcher dispatcher,
    ShadowMirror mirror,
    ExperimentSettings settings,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    IServiceProvider services,
    ILogger<ExperimentHosting> logger) : IHostedService, IReadinessCheck, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private volatile bool _loaded;
    private Task? _loop;

    public string Name => "experiments";

    public string? NotReadyReason => _loaded ? null : "loading the experiments file";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() => _loop = RunAsync(_stopping.Token));
        return Task.CompletedTask;
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await repository.InitialScanCompleted.WaitAsync(cancellationToken).ConfigureAwait(false);
            await store.LoadFileAsync("start", cancellationToken).ConfigureAwait(false);
            _loaded = true;

            // The gRPC health status of the whole server is computed when the models change; the file may be applied
            // after that last change, so it is recomputed now. Resolved here, not injected: the readiness aggregate
            // takes this check among its own, and injecting it would make a cycle.
            services.GetRequiredService<GatewayReadiness>().Refresh();
            Log.Loaded(logger, store.FilePath);
            repository.Changed += OnRepositoryChanged;
            if (settings.PollInterval <= TimeSpan.Zero)
            {
                return;
            }

            using var timer = new PeriodicTimer(settings.PollInterval, time);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                if (store.FileChanged())
                {
                    await store.LoadFileAsync("file edited", cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Log.LoopFailed(logger, ex.Message);
        }
    }

    /// <summary>Served versions changed: entries rejected for a version that was not served yet may validate now.</summary>
    private void OnRepositoryChanged() => _ = ReloadAfterRepositoryChangeAsync();

    private async Task ReloadAfterRepositoryChangeAsync()
    {
        try
        {
            await store.LoadFileAsync("served versions changed", _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            Log.LoopFailed(logger, ex.Message);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        repository.Changed -= OnRepositoryChanged;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        await dispatcher.StopAsync(cancellationToken).ConfigureAwait(false);
        mirror.Dispose();
    }

    public void Dispose() => _stopping.Dispose();

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Experiments file {Path} applied", EventName = "ExperimentsLoaded")]
        public static partial void Loaded(ILogger logger, string path);

        [LoggerMessage(2, LogLevel.Error, "Watching the experiments file failed: {Detail}", EventName = "ExperimentsWatchFailed")]
        public static partial void LoopFailed(ILogger logger, string detail);
    }
}
