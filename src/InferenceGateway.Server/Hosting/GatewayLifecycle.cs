using InferenceGateway.Core.Models;

namespace InferenceGateway.Server.Hosting;

/// <summary>
/// Loads the model repository after the listeners are up (liveness answers while models load), and on shutdown
/// turns readiness off first, then drains every batcher so queued work completes before the process exits.
/// </summary>
internal sealed partial class GatewayLifecycle : IHostedService
{
    private readonly ModelRepository _repository;
    private readonly GatewayReadiness _readiness;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly GatewayOptions _options;
    private readonly ILogger<GatewayLifecycle> _logger;
    private Task? _loading;

    public GatewayLifecycle(ModelRepository repository, GatewayReadiness readiness, IHostApplicationLifetime lifetime, GatewayOptions options, ILogger<GatewayLifecycle> logger)
    {
        _repository = repository;
        _readiness = readiness;
        _lifetime = lifetime;
        _options = options;
        _logger = logger;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _lifetime.ApplicationStopping.Register(_readiness.MarkStopping);
        _lifetime.ApplicationStarted.Register(() => _loading = LoadAsync(_lifetime.ApplicationStopping));
        return Task.CompletedTask;
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _repository.StartAsync(cancellationToken).ConfigureAwait(false);
            _readiness.Refresh();
            foreach (var model in _repository.Models.Values)
            {
                foreach (var version in model.Versions)
                {
                    Log.Serving(_logger, model.Name, version.Version, version.Model.ExecutionProvider, version.Batcher.Options.MaxBatchSize);
                }
            }

            Log.Ready(_logger, _options.ListenAddress, _options.GrpcPort, _options.AdminPort, _repository.IsReady);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            Log.StartFailed(_logger, ex.Message);
            Environment.ExitCode = 1;
            _lifetime.StopApplication();
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _readiness.MarkStopping();
        if (_loading is not null)
        {
            await _loading.ConfigureAwait(false);
        }

        await _repository.DisposeAsync().ConfigureAwait(false);
        Log.Stopped(_logger);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Serving model {Model} version {Version} on {Provider}, max batch size {MaxBatchSize}", EventName = "Serving")]
        public static partial void Serving(ILogger logger, string model, string version, string provider, int maxBatchSize);

        [LoggerMessage(2, LogLevel.Information, "Gateway listening on {Address}: gRPC port {GrpcPort}, admin port {AdminPort}; ready: {Ready}", EventName = "Ready")]
        public static partial void Ready(ILogger logger, string address, int grpcPort, int adminPort, bool ready);

        [LoggerMessage(3, LogLevel.Critical, "Gateway failed to start: {Message}", EventName = "StartFailed")]
        public static partial void StartFailed(ILogger logger, string message);

        [LoggerMessage(4, LogLevel.Information, "Gateway stopped; all queued work drained", EventName = "Stopped")]
        public static partial void Stopped(ILogger logger);
    }
}
