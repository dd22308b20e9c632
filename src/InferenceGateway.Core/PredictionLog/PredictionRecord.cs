using System.Text;

namespace InferenceGateway.Core.PredictionLog;

/// <summary>
/// One recorded prediction as the sinks see it. Instances are the bounded buffer's pooled slots: the writer hands a
/// batch of them to <see cref="IPredictionSink.WriteAsync"/> and reuses them once the sink has stored them, so a sink
/// must not keep a reference past that call.
/// </summary>
public sealed class PredictionRecord
{
    private float[] _features = [];
    private bool[] _defaulted = [];
    private float[] _outputs = [];
    private byte[] _requestIdUtf8 = [];
    private int _requestIdUtf8Length;
    private string? _requestId;

    /// <summary>The request id outcomes are joined by.</summary>
    public string RequestId => _requestId ??= _requestIdUtf8Length == 0 ? "" : Encoding.UTF8.GetString(_requestIdUtf8, 0, _requestIdUtf8Length);

    /// <summary>The request's event time, Unix milliseconds.</summary>
    public long EventTimeUnixMs { get; set; }

    /// <summary>When the gateway recorded it (answered), Unix milliseconds.</summary>
    public long ServedAtUnixMs { get; set; }

    /// <summary>Logical model name.</summary>
    public string Model { get; set; } = "";

    /// <summary>The version that produced the outputs.</summary>
    public string Version { get; set; } = "";

    /// <summary>Experiment arm; empty when none.</summary>
    public string Arm { get; set; } = "";

    /// <summary>True for a shadow's result.</summary>
    public bool Shadow { get; set; }

    /// <summary>Entity id; empty when none.</summary>
    public string EntityId { get; set; } = "";

    /// <summary>Names of the features (shared list), or null.</summary>
    public IReadOnlyList<string>? FeatureNames { get; set; }

    /// <summary>The feature values as used.</summary>
    public ReadOnlySpan<float> Features => _features.AsSpan(0, FeatureCount);

    /// <summary>Number of feature values.</summary>
    public int FeatureCount { get; private set; }

    /// <summary>Per feature, whether it was defaulted (empty when not known).</summary>
    public ReadOnlySpan<bool> Defaulted => _defaulted.AsSpan(0, DefaultedCount);

    /// <summary>Number of defaulted flags (0 or <see cref="FeatureCount"/>).</summary>
    public int DefaultedCount { get; private set; }

    /// <summary>The outputs (scores).</summary>
    public ReadOnlySpan<float> Outputs => _outputs.AsSpan(0, OutputCount);

    /// <summary>Number of output values.</summary>
    public int OutputCount { get; private set; }

    /// <summary>Rows of the call.</summary>
    public int Rows { get; set; } = 1;

    /// <summary>Batcher queue time, microseconds.</summary>
    public long QueueMicroseconds { get; set; }

    /// <summary>Batch run time, microseconds.</summary>
    public long ComputeMicroseconds { get; set; }

    /// <summary>Total time in the gateway, microseconds.</summary>
    public long TotalMicroseconds { get; set; }

    /// <summary>gRPC status code (0 = OK).</summary>
    public int Status { get; set; }

    /// <summary>True when the inputs were not recorded (too large, or not FP32).</summary>
    public bool InputsOmitted { get; set; }

    /// <summary>The first output, the score evaluation uses; NaN when there is none.</summary>
    public float Score => OutputCount > 0 ? _outputs[0] : float.NaN;

    /// <summary>Copies an entry into this slot; arrays grow once and are reused afterwards.</summary>
    internal void CopyFrom(in PredictionEntry entry, long servedAtUnixMs, int maxValues)
    {
        if (entry.RequestId is not null)
        {
            _requestId = entry.RequestId;
            _requestIdUtf8Length = 0;
        }
        else
        {
            _requestId = null;
            Copy(entry.RequestIdUtf8, ref _requestIdUtf8);
            _requestIdUtf8Length = entry.RequestIdUtf8.Length;
        }

        EventTimeUnixMs = entry.EventTimeUnixMs > 0 ? entry.EventTimeUnixMs : servedAtUnixMs;
        ServedAtUnixMs = servedAtUnixMs;
        Model = entry.Model ?? "";
        Version = entry.Version ?? "";
        Arm = entry.Arm ?? "";
        Shadow = entry.Shadow;
        EntityId = entry.EntityId ?? "";
        // Values beyond the cap: inputs are not kept at all (a cut row would misname values), outputs are cut.
        var omitInputs = entry.InputsOmitted || entry.Features.Length > maxValues;
        FeatureNames = omitInputs ? null : entry.FeatureNames;
        FeatureCount = omitInputs ? 0 : Copy(entry.Features, ref _features);
        DefaultedCount = omitInputs ? 0 : Copy(entry.Defaulted, ref _defaulted);
        OutputCount = Copy(entry.Outputs.Length > maxValues ? entry.Outputs[..maxValues] : entry.Outputs, ref _outputs);
        Rows = entry.Rows <= 0 ? 1 : entry.Rows;
        QueueMicroseconds = entry.QueueMicroseconds;
        ComputeMicroseconds = entry.ComputeMicroseconds;
        TotalMicroseconds = entry.TotalMicroseconds;
        Status = entry.Status;
        InputsOmitted = omitInputs;
    }

    /// <summary>Drops the references a slot holds once stored, so an idle buffer pins no request strings.</summary>
    internal void Clear()
    {
        _requestId = null;
        _requestIdUtf8Length = 0;
        Model = Version = Arm = EntityId = "";
        FeatureNames = null;
    }

    private static int Copy<T>(ReadOnlySpan<T> source, ref T[] destination)
    {
        if (destination.Length < source.Length)
        {
            destination = new T[source.Length];
        }

        source.CopyTo(destination);
        return source.Length;
    }
}

/// <summary>One outcome (label) reported for a request id.</summary>
/// <param name="RequestId">The prediction's request id.</param>
/// <param name="Label">The observed label: 1 positive, 0 negative (values in between are soft labels).</param>
/// <param name="EventTimeUnixMs">When the outcome happened, Unix milliseconds.</param>
/// <param name="ReceivedAtUnixMs">When the gateway received it, Unix milliseconds.</param>
public readonly record struct OutcomeRecord(string RequestId, double Label, long EventTimeUnixMs, long ReceivedAtUnixMs);

/// <summary>
/// One prediction as evaluation reads it back: its group (version, arm, shadow), score, latency, and the label joined
/// by request id (NaN when no outcome is known).
/// </summary>
public readonly record struct EvaluationRow(string Version, string Arm, bool Shadow, string RequestId, float Score, long TotalMicroseconds, double Label);
