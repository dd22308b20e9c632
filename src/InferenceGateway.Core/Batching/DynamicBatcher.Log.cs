using Microsoft.Extensions.Logging;

namespace InferenceGateway.Core.Batching;

public sealed partial class DynamicBatcher
{
    private static partial class Log
    {
        [LoggerMessage(101, LogLevel.Information, "Batcher for {Model} version {Version} started: {Instances} instances, max batch {MaxBatchSize} rows, policy {Policy}, wait {WaitMicroseconds} us (kept by: {WaitMechanism}), max queue time {MaxQueueTimeMilliseconds} ms", EventName = "BatcherStarted")]
        public static partial void Started(ILogger logger, string model, string version, int instances, int maxBatchSize, string policy, double waitMicroseconds, string waitMechanism, double maxQueueTimeMilliseconds);

        [LoggerMessage(102, LogLevel.Warning, "Batch of {Rows} rows on {Model} version {Version} instance {Instance} failed: {Message}", EventName = "BatchFailed")]
        public static partial void BatchFailed(ILogger logger, Exception exception, string model, string version, int instance, int rows, string message);

        [LoggerMessage(103, LogLevel.Warning, "Drain of {Model} version {Version} timed out; {Count} queued requests failed", EventName = "DrainTimedOut")]
        public static partial void DrainTimedOut(ILogger logger, string model, string version, int count);

        [LoggerMessage(104, LogLevel.Critical, "Batcher instance {Instance} of {Model} version {Version} stopped unexpectedly", EventName = "InstanceCrashed")]
        public static partial void InstanceCrashed(ILogger logger, Exception exception, string model, string version, int instance);

        [LoggerMessage(105, LogLevel.Information, "Batcher for {Model} version {Version} stopped", EventName = "BatcherStopped")]
        public static partial void Stopped(ILogger logger, string model, string version);

        [LoggerMessage(106, LogLevel.Warning, "Batcher for {Model} version {Version}: the adaptive wait of {WaitMicroseconds} us never applies with one instance (it only holds a batch while another instance runs); use the fixed_delay policy to wait for company at low load", EventName = "AdaptiveWaitUnused")]
        public static partial void AdaptiveWaitUnused(ILogger logger, string model, string version, double waitMicroseconds);
    }
}
