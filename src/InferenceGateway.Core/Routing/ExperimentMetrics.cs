using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace InferenceGateway.Core.Routing;

/// <summary>
/// Experiment instruments: shadow copies per model and target (sent, dropped with why, failed with the status, latency),
/// requests routed without their sticky key, and experiments rejected.
/// </summary>
public sealed class ExperimentMetrics
{
    private readonly Counter<long> _sent;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _failed;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _unkeyed;
    private readonly Counter<long> _rejected;

    /// <summary>Creates the instruments on the "InferenceGateway" meter.</summary>
    public ExperimentMetrics(IMeterFactory meterFactory)
        : this((meterFactory ?? throw new ArgumentNullException(nameof(meterFactory))).Create("InferenceGateway"))
    {
    }

    /// <summary>Creates the instruments on <paramref name="meter"/> (tests listen to their own meter).</summary>
    internal ExperimentMetrics(Meter meter)
    {
        _sent = meter.CreateCounter<long>("gateway.shadow.sent", "{copy}", "Shadow copies sent to their target, by model and target.");
        _dropped = meter.CreateCounter<long>("gateway.shadow.dropped", "{copy}", "Shadow copies dropped before they were sent (queue_full, expired in the queue, stopping), by model and target.");
        _failed = meter.CreateCounter<long>("gateway.shadow.failed", "{copy}", "Shadow copies that failed at their target, by model, target and gRPC status.");
        _duration = meter.CreateHistogram<double>("gateway.shadow.duration", "s", "Shadow copies' time from leaving the queue to their answer, by model and target.");
        _rejected = meter.CreateCounter<long>("gateway.experiment.rejected", "{experiment}", "Experiments rejected as invalid (the last good one kept serving), by model and source (admin, file).");
        _unkeyed = meter.CreateCounter<long>("gateway.experiment.unkeyed", "{request}", "Requests routed by an experiment without their sticky key (by request id, or at random), by model.");
    }

    internal void Sent(string model, string target) => _sent.Add(1, new TagList { { "model", model }, { "target", target } });

    internal void Dropped(string model, string target, string reason) =>
        _dropped.Add(1, new TagList { { "model", model }, { "target", target }, { "reason", reason } });

    internal void Completed(string model, string target, int status, TimeSpan elapsed)
    {
        var tags = new TagList { { "model", model }, { "target", target } };
        _duration.Record(elapsed.TotalSeconds, tags);
        if (status != 0)
        {
            tags.Add("status", StatusName(status));
            _failed.Add(1, tags);
        }
    }

    /// <summary>Counts a request an experiment routed without its sticky key.</summary>
    public void Unkeyed(string model) => _unkeyed.Add(1, new KeyValuePair<string, object?>("model", model));

    /// <summary>Counts an experiment rejected as invalid.</summary>
    public void Rejected(string model, string source) =>
        _rejected.Add(1, new TagList { { "model", model }, { "source", source } });

    private static string StatusName(int status) => status switch
    {
        1 => "Cancelled",
        2 => "Unknown",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        16 => "Unauthenticated",
        _ => "Other",
    };
}
