using System.Diagnostics.Metrics;

namespace InferenceGateway.Core.PredictionLog;

/// <summary>
/// The prediction log's instruments on the "InferenceGateway" meter. Counts the request path moves
/// (accepted, dropped) are read from the log's own counters when scraped, so recording costs no instrument call.
/// </summary>
internal sealed class PredictionLogMetrics
{
    public PredictionLogMetrics(IMeterFactory meterFactory, PredictionLog log)
    {
        var meter = meterFactory.Create("InferenceGateway");
        meter.CreateObservableCounter("prediction_log.records.written", () => log.GetStatus().Written, "{record}", "Records stored by the sink.");
        meter.CreateObservableCounter("prediction_log.records.dropped", () => log.GetStatus().Dropped, "{record}", "Records dropped because the buffer was full (overflow policy Drop).");
        meter.CreateObservableCounter("prediction_log.records.lost", () => log.GetStatus().Lost, "{record}", "Records still buffered when shutdown gave up on a failing sink.");
        meter.CreateObservableCounter("prediction_log.write_failures", () => log.GetStatus().WriteFailures, "{write}", "Failed sink writes (each retried with backoff).");
        meter.CreateObservableGauge("prediction_log.buffered", () => log.GetStatus().Buffered, "{record}", "Records in the buffer, not yet stored.");
        meter.CreateObservableGauge("prediction_log.capacity", () => log.GetStatus().Capacity, "{record}", "The buffer's bound.");
        meter.CreateObservableGauge("prediction_log.sink_up", () => log.GetStatus().SinkUp ? 1 : 0, "", "1 while the sink accepts writes, 0 while it fails.");
        PushedBack = meter.CreateCounter<long>("prediction_log.records.pushed_back", "{record}", "Times a caller found the buffer full and waited (overflow policy PushBack).");
        Outcomes = meter.CreateCounter<long>("prediction_log.outcomes", "{outcome}", "Outcomes stored.");
        WriteDuration = meter.CreateHistogram<double>("prediction_log.write_duration", "s", "Duration of one batch write to the sink.");
    }

    public Counter<long> PushedBack { get; }

    public Counter<long> Outcomes { get; }

    public Histogram<double> WriteDuration { get; }
}
