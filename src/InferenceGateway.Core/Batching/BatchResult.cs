namespace InferenceGateway.Core.Batching;

/// <summary>
/// Why a batched request failed. The gRPC layer maps them to status codes:
/// <list type="table">
/// <item><term><see cref="QueueFull"/></term><description>RESOURCE_EXHAUSTED</description></item>
/// <item><term><see cref="DeadlineExceeded"/></term><description>DEADLINE_EXCEEDED</description></item>
/// <item><term><see cref="Cancelled"/></term><description>CANCELLED</description></item>
/// <item><term><see cref="ExecutionFailed"/></term><description>INTERNAL, with the runner's (ONNX Runtime's) message</description></item>
/// <item><term><see cref="ShuttingDown"/></term><description>UNAVAILABLE</description></item>
/// <item><term><see cref="InvalidInput"/></term><description>INVALID_ARGUMENT</description></item>
/// <item><term><see cref="Overloaded"/></term><description>RESOURCE_EXHAUSTED</description></item>
/// </list>
/// </summary>
public enum BatchFailureReason
{
    /// <summary>No failure: the request ran and its outputs are written.</summary>
    None = 0,

    /// <summary>The queue held <see cref="BatchingOptions.MaxQueueSize"/> requests; rejected without waiting.</summary>
    QueueFull,

    /// <summary>The request's deadline (or <see cref="BatchingOptions.DefaultTimeout"/>) passed while it was queued; it did not run.</summary>
    DeadlineExceeded,

    /// <summary>The request's cancellation token fired while it was queued; it did not run.</summary>
    Cancelled,

    /// <summary>The runner threw while running the request's batch; the message is the runner's.</summary>
    ExecutionFailed,

    /// <summary>The batcher is draining or disposed and takes no new requests.</summary>
    ShuttingDown,

    /// <summary>The request does not fit the model's tensors (rows, byte lengths, shapes, priority).</summary>
    InvalidInput,

    /// <summary>
    /// Refused without waiting: the rows queued ahead of it would take longer to run than
    /// <see cref="BatchingOptions.MaxQueueTime"/> (or than the time left before its deadline), at the model's recent
    /// cost per row.
    /// </summary>
    Overloaded,
}

/// <summary>Outcome of one batched request: success, or a <see cref="BatchFailureReason"/> with a message.</summary>
public readonly struct BatchResult : IEquatable<BatchResult>
{
    /// <summary>Creates a result.</summary>
    public BatchResult(BatchFailureReason reason, string? message)
    {
        Reason = reason;
        Message = message;
    }

    /// <summary>The successful result.</summary>
    public static BatchResult Success => default;

    /// <summary>Why it failed; <see cref="BatchFailureReason.None"/> on success.</summary>
    public BatchFailureReason Reason { get; }

    /// <summary>What went wrong, for the client; null on success.</summary>
    public string? Message { get; }

    /// <summary>True when the request ran and its outputs are written.</summary>
    public bool IsSuccess => Reason == BatchFailureReason.None;

    /// <summary>Throws a <see cref="BatchingException"/> when the request failed.</summary>
    public void ThrowIfFailed()
    {
        if (Reason != BatchFailureReason.None)
        {
            throw new BatchingException(Reason, Message ?? Reason.ToString());
        }
    }

    /// <inheritdoc/>
    public bool Equals(BatchResult other) => Reason == other.Reason && string.Equals(Message, other.Message, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BatchResult other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Reason, Message);

    /// <inheritdoc/>
    public override string ToString() => IsSuccess ? "Success" : $"{Reason}: {Message}";

    /// <summary>Equality.</summary>
    public static bool operator ==(BatchResult left, BatchResult right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(BatchResult left, BatchResult right) => !left.Equals(right);
}

/// <summary>
/// A batched request failed; <see cref="Reason"/> says why (see <see cref="BatchFailureReason"/> for the gRPC status
/// each maps to).
/// </summary>
public sealed class BatchingException : Exception
{
    /// <summary>Creates the exception.</summary>
    public BatchingException(BatchFailureReason reason, string message)
        : base(message)
    {
        Reason = reason;
    }

    /// <summary>Creates the exception with reason <see cref="BatchFailureReason.ExecutionFailed"/>.</summary>
    public BatchingException()
        : this(BatchFailureReason.ExecutionFailed, "Batched execution failed")
    {
    }

    /// <summary>Creates the exception with reason <see cref="BatchFailureReason.ExecutionFailed"/>.</summary>
    public BatchingException(string message)
        : this(BatchFailureReason.ExecutionFailed, message)
    {
    }

    /// <summary>Creates the exception with reason <see cref="BatchFailureReason.ExecutionFailed"/>.</summary>
    public BatchingException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = BatchFailureReason.ExecutionFailed;
    }

    /// <summary>Why the request failed.</summary>
    public BatchFailureReason Reason { get; }
}
