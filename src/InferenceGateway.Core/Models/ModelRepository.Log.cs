using Microsoft.Extensions.Logging;

namespace InferenceGateway.Core.Models;

public sealed partial class ModelRepository
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Loaded model {Model} version {Version} on {Provider} from {Path}", EventName = "VersionLoaded")]
        public static partial void VersionLoaded(ILogger logger, string model, string version, string provider, string path);

        [LoggerMessage(2, LogLevel.Error, "Failed to load model {Model} version {Version}: {Message}", EventName = "LoadFailed")]
        public static partial void LoadFailed(ILogger logger, string model, string version, string message);

        [LoggerMessage(3, LogLevel.Error, "Invalid model config {Path}: {Message}", EventName = "ConfigInvalid")]
        public static partial void ConfigInvalid(ILogger logger, string path, string message);

        [LoggerMessage(4, LogLevel.Information, "Draining model {Model} version {Version} ({Leases} requests in flight)", EventName = "VersionDraining")]
        public static partial void VersionDraining(ILogger logger, string model, string version, int leases);

        [LoggerMessage(5, LogLevel.Warning, "Model {Model} version {Version} still had {Leases} requests after the drain timeout; releasing it", EventName = "DrainTimedOut")]
        public static partial void DrainTimedOut(ILogger logger, string model, string version, int leases);

        [LoggerMessage(6, LogLevel.Information, "Unloaded model {Model} version {Version}", EventName = "VersionUnloaded")]
        public static partial void VersionUnloaded(ILogger logger, string model, string version);

        [LoggerMessage(7, LogLevel.Error, "Releasing model {Model} version {Version} failed: {Message}", EventName = "ReleaseFailed")]
        public static partial void ReleaseFailed(ILogger logger, string model, string version, string message);

        [LoggerMessage(8, LogLevel.Error, "Model repository scan failed: {Message}", EventName = "ScanFailed")]
        public static partial void ScanFailed(ILogger logger, string message);

        [LoggerMessage(10, LogLevel.Warning, "Model {Model} version {Version} has no model file ({Path}): skipped until one appears (a generated model: `make models`)", EventName = "ModelFileMissing")]
        public static partial void ModelFileMissing(ILogger logger, string model, string version, string path);

        [LoggerMessage(9, LogLevel.Error, "Warm-up of model {Model} version {Version} failed: {Message}", EventName = "WarmUpFailed")]
        public static partial void WarmUpFailed(ILogger logger, string model, string version, string message);
    }
}
