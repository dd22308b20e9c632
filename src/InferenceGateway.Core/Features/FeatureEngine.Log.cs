using Microsoft.Extensions.Logging;

namespace InferenceGateway.Core.Features;

public sealed partial class FeatureEngine
{
    private static partial class Log
    {
        [LoggerMessage(301, LogLevel.Information, "Feature engine started: {Streams} streams, {Features} features", EventName = "FeatureEngineStarted")]
        public static partial void Started(ILogger logger, int streams, int features);

        [LoggerMessage(302, LogLevel.Information, "Restored feature state from {Path}: {Entities} entities, {Events} events in {Milliseconds} ms", EventName = "FeatureSnapshotRestored")]
        public static partial void SnapshotRestored(ILogger logger, string path, long entities, long events, double milliseconds);

        [LoggerMessage(303, LogLevel.Information, "No feature state snapshot at {Path}; starting empty", EventName = "FeatureSnapshotNotFound")]
        public static partial void SnapshotNotFound(ILogger logger, string path);

        [LoggerMessage(304, LogLevel.Warning, "Feature state snapshot {Path} skipped ({Status}): {Message}; starting empty", EventName = "FeatureSnapshotUnusable")]
        public static partial void SnapshotUnusable(ILogger logger, string path, SnapshotRestoreStatus status, string message);

        [LoggerMessage(305, LogLevel.Warning, "Feature state snapshot {Path}: {Message}", EventName = "FeatureSnapshotStreamSkipped")]
        public static partial void SnapshotStreamSkipped(ILogger logger, string path, string message);

        [LoggerMessage(306, LogLevel.Information, "Wrote feature state snapshot {Path}: {Entities} entities, {Events} events, {Bytes} bytes in {Milliseconds} ms", EventName = "FeatureSnapshotWritten")]
        public static partial void SnapshotWritten(ILogger logger, string path, long entities, long events, long bytes, double milliseconds);

        [LoggerMessage(307, LogLevel.Error, "Writing feature state snapshot {Path} failed: {Message}", EventName = "FeatureSnapshotWriteFailed")]
        public static partial void SnapshotWriteFailed(ILogger logger, Exception exception, string path, string message);

        [LoggerMessage(308, LogLevel.Warning, "Feature state over its cap: evicted {Evicted} least recently used entities ({BytesBefore} -> {BytesAfter} estimated bytes, {Entities} entities left)", EventName = "FeatureEntitiesEvictedForCap")]
        public static partial void EvictedForCap(ILogger logger, int evicted, long bytesBefore, long bytesAfter, int entities);

        [LoggerMessage(309, LogLevel.Error, "Feature state maintenance failed: {Message}", EventName = "FeatureMaintenanceFailed")]
        public static partial void MaintenanceFailed(ILogger logger, Exception exception, string message);
    }
}
