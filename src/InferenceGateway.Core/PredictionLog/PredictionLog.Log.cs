using Microsoft.Extensions.Logging;

namespace InferenceGateway.Core.PredictionLog;

public sealed partial class PredictionLog
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Prediction log ready: {Sink}", EventName = "PredictionLogSinkReady")]
        public static partial void SinkReady(ILogger logger, string sink);

        [LoggerMessage(2, LogLevel.Warning, "Prediction log sink {Sink} failed; {Buffered} records buffered, retrying in {DelayMs:F0} ms: {Error}", EventName = "PredictionLogSinkFailing")]
        public static partial void SinkFailing(ILogger logger, Exception exception, string sink, int buffered, double delayMs, string error);

        [LoggerMessage(3, LogLevel.Debug, "Prediction log sink {Sink} still failing (attempt {Attempt}); {Buffered} records buffered, retrying in {DelayMs:F0} ms: {Error}", EventName = "PredictionLogSinkStillFailing")]
        public static partial void SinkStillFailing(ILogger logger, string sink, int attempt, int buffered, double delayMs, string error);

        [LoggerMessage(4, LogLevel.Information, "Prediction log sink {Sink} recovered after {Attempts} failed attempts over {DownMs} ms; {Buffered} records buffered", EventName = "PredictionLogSinkRecovered")]
        public static partial void SinkRecovered(ILogger logger, string sink, int attempts, long downMs, int buffered);

        [LoggerMessage(5, LogLevel.Warning, "Prediction log buffer full ({Capacity} records, sink {Sink}): records are being dropped and counted (prediction_log_records_dropped)", EventName = "PredictionLogDropping")]
        public static partial void FirstDrop(ILogger logger, int capacity, string sink);

        [LoggerMessage(6, LogLevel.Error, "Prediction log: {Records} records could not be stored in {Sink} within {Timeout} of shutdown and are lost: {Error}", EventName = "PredictionLogRecordsLost")]
        public static partial void RecordsLost(ILogger logger, int records, string sink, TimeSpan timeout, string error);

        [LoggerMessage(7, LogLevel.Information, "Prediction log flushed: {Written} records stored in {Sink} since start, {Dropped} dropped", EventName = "PredictionLogFlushed")]
        public static partial void Flushed(ILogger logger, long written, long dropped, string sink);
    }
}
