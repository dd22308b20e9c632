using System.Globalization;
using InferenceGateway.Core.PredictionLog;
using InferenceGateway.Server.Hosting;

namespace InferenceGateway.Server.PredictionLog;

/// <summary>
/// Starts the prediction log's writer with the host and flushes it after the web host stopped (no call can record
/// any more then), within the shutdown grace period. Shows the log's state in /readyz: a failing sink, a filling
/// buffer or dropped records are details, not a reason to stop taking traffic (the gateway keeps serving).
/// </summary>
internal sealed class PredictionLogHosting(Core.PredictionLog.PredictionLog log, GatewayOptions options, TimeProvider time) : IHostedLifecycleService, IReadinessCheck
{
    public string Name => "prediction-log";

    public string? NotReadyReason => null;

    public string? Detail
    {
        get
        {
            var status = log.GetStatus();
            if (!status.Enabled)
            {
                return "off (Gateway:PredictionLog:Sink None)";
            }

            var state = status.SinkUp
                ? $"{status.SinkDescription} up"
                : status.FailingSinceUnixMs == 0
                    ? $"{status.SinkDescription} connecting"
                    : $"{status.SinkDescription} DOWN for {(time.GetUtcNow().ToUnixTimeMilliseconds() - status.FailingSinceUnixMs) / 1000.0:F1} s, retrying with backoff ({status.LastError})";
            return string.Create(CultureInfo.InvariantCulture,
                $"{state}; buffered {status.Buffered:N0} of {status.Capacity:N0}; written {status.Written:N0}; dropped {status.Dropped:N0}; overflow policy {status.OverflowPolicy}");
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        log.Start();
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>After the web host stopped: every record a call made is in the buffer; store them all.</summary>
    public Task StoppedAsync(CancellationToken cancellationToken) => log.CompleteAsync(options.ShutdownGracePeriod);
}
