namespace InferenceGateway.Core.PredictionLog;

/// <summary>
/// One prediction to record, as the caller holds it: spans over the caller's (often pooled) buffers.
/// <see cref="IPredictionRecorder.TryRecord(in PredictionEntry)"/> copies what it keeps before it returns, so the caller may reuse or
/// return those buffers at once.
/// </summary>
/// <remarks>
/// Strings are kept by reference (they are immutable); the spans are copied into the buffer's pooled slot. A caller
/// whose request id is bytes (a pooled wire message) sets <see cref="RequestIdUtf8"/> instead of
/// <see cref="RequestId"/>: the bytes are copied and decoded off the request path by the writer.
/// </remarks>
public ref struct PredictionEntry
{
    /// <summary>The request id outcomes are joined by (the caller's, or one the gateway generated).</summary>
    public string? RequestId;

    /// <summary>The request id as UTF-8 bytes, when <see cref="RequestId"/> is null.</summary>
    public ReadOnlySpan<byte> RequestIdUtf8;

    /// <summary>The request's event time, Unix milliseconds: the time evaluation ranges select by; 0: the time recorded.</summary>
    public long EventTimeUnixMs;

    /// <summary>Logical model name.</summary>
    public string Model;

    /// <summary>The version that produced <see cref="Outputs"/>.</summary>
    public string Version;

    /// <summary>Experiment arm that served the request; empty when no experiment applies.</summary>
    public string Arm;

    /// <summary>True for a shadow's result (never returned to the caller).</summary>
    public bool Shadow;

    /// <summary>The entity the features were computed for; empty when none.</summary>
    public string EntityId;

    /// <summary>
    /// Names of <see cref="Features"/>, kept by reference: pass the same list instance for every record of a version
    /// (the sink stores each distinct list once). Null when the inputs are not named features.
    /// </summary>
    public IReadOnlyList<string>? FeatureNames;

    /// <summary>The feature values as used (for a multi-row call, every row, row after row).</summary>
    public ReadOnlySpan<float> Features;

    /// <summary>Per feature, whether it was its default; empty when not known.</summary>
    public ReadOnlySpan<bool> Defaulted;

    /// <summary>The outputs (scores); for a multi-row call every row's.</summary>
    public ReadOnlySpan<float> Outputs;

    /// <summary>Rows the call carried (1 for Predict).</summary>
    public int Rows;

    /// <summary>Time queued in the batcher, microseconds.</summary>
    public long QueueMicroseconds;

    /// <summary>Time of the batch run that held the request, microseconds.</summary>
    public long ComputeMicroseconds;

    /// <summary>Time inside the gateway from decoded request to answer, microseconds.</summary>
    public long TotalMicroseconds;

    /// <summary>gRPC status code of the call (0 = OK).</summary>
    public int Status;

    /// <summary>Set when the inputs are not recorded (not one FP32 tensor); also set by the log when they exceed <see cref="PredictionLogOptions.MaxValuesPerRecord"/>.</summary>
    public bool InputsOmitted;

    /// <summary>
    /// The caller cannot wait for room (a pooled call, a failure record): under <see cref="OverflowPolicy.PushBack"/> a
    /// full buffer drops this record and counts it instead of answering <see cref="RecordResult.Full"/>.
    /// </summary>
    public bool CannotWait;
}

/// <summary>What <see cref="IPredictionRecorder.TryRecord(in PredictionEntry)"/> did with an entry.</summary>
public enum RecordResult
{
    /// <summary>Copied into the buffer; the writer will store it.</summary>
    Accepted,

    /// <summary>The buffer was full and the overflow policy is <see cref="OverflowPolicy.Drop"/>: dropped and counted.</summary>
    Dropped,

    /// <summary>
    /// The buffer was full and the overflow policy is <see cref="OverflowPolicy.PushBack"/>: nothing was recorded; the
    /// caller waits with <see cref="IPredictionRecorder.WaitForSpaceAsync"/> and tries again (or fails its call).
    /// </summary>
    Full,

    /// <summary>Logging is off (no sink configured), or the log has stopped.</summary>
    Disabled,
}

/// <summary>
/// Records predictions into the prediction log: the API the request paths (primary Predict, ModelInfer) and the
/// experiment code (shadow results) call. Never blocks: a full buffer either drops (counted) or says so.
/// </summary>
public interface IPredictionRecorder
{
    /// <summary>False when no sink is configured: callers may skip building entries.</summary>
    bool IsEnabled { get; }

    /// <summary>The configured overflow policy.</summary>
    OverflowPolicy OverflowPolicy { get; }

    /// <summary>When a Predict answers relative to the storing of its record (<see cref="PredictionLogOptions.Acknowledge"/>).</summary>
    AcknowledgeMode Acknowledge { get; }

    /// <summary>Copies <paramref name="entry"/> into the bounded buffer (allocation-free once the slot is warm).</summary>
    RecordResult TryRecord(in PredictionEntry entry);

    /// <summary>
    /// <see cref="TryRecord(in PredictionEntry)"/>, and the record's <paramref name="sequence"/> in the log when it is
    /// <see cref="RecordResult.Accepted"/>: what <see cref="WaitCommittedAsync"/> waits for.
    /// </summary>
    RecordResult TryRecord(in PredictionEntry entry, out long sequence);

    /// <summary>
    /// Completes once the sink committed the record accepted as <paramref name="sequence"/> (at once when it already
    /// is). Throws <see cref="PredictionNotRecordedException"/> when the record is not committed and the sink is failing
    /// or the log stopped without storing it, and <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> fires first. Asks the writer to flush at once: the wait is about one sink
    /// commit, not a flush interval.
    /// </summary>
    ValueTask WaitCommittedAsync(long sequence, CancellationToken cancellationToken);

    /// <summary>
    /// Completes when the buffer has room again (or the log stopped); for callers that got <see cref="RecordResult.Full"/>.
    /// Throws <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> fires first.
    /// </summary>
    ValueTask WaitForSpaceAsync(CancellationToken cancellationToken);
}
