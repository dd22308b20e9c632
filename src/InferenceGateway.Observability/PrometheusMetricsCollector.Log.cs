using Microsoft.Extensions.Logging;

namespace InferenceGateway.Observability;

public sealed partial class PrometheusMetricsCollector
{
    private static partial class Log
    {
        [LoggerMessage(601, LogLevel.Warning, "Metric {Metric} reached its limit of {Limit} series; measurements with new label sets are dropped and counted in gateway_metrics_series_dropped_total", EventName = "SeriesLimitReached")]
        public static partial void SeriesLimitReached(ILogger logger, string metric, int limit);

        [LoggerMessage(602, LogLevel.Warning, "Instrument {Instrument} of meter {Meter} maps to metric {Metric}, already exposed as {ExistingKind}; this {Kind} is not exposed", EventName = "InstrumentConflict")]
        public static partial void InstrumentConflict(ILogger logger, string instrument, string meter, string metric, string existingKind, string kind);

        [LoggerMessage(603, LogLevel.Warning, "An observable instrument's callback failed during a scrape", EventName = "ObservableCallbackFailed")]
        public static partial void ObservableCallbackFailed(ILogger logger, Exception exception);
    }
}
