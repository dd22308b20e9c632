namespace InferenceGateway.Core.Features;

/// <summary>What happened to one ingested event.</summary>
public enum IngestOutcome
{
    /// <summary>Applied: lookups from now on see it.</summary>
    Accepted,

    /// <summary>Older than the stream's watermark minus its allowed lateness: not applied, counted.</summary>
    DroppedLate,

    /// <summary>Malformed or refused: not applied; <see cref="IngestResult.Reason"/> says why.</summary>
    Rejected,

    /// <summary>
    /// Already applied: a shared store's entity state records this event's log position (partition and offset) as
    /// applied, so a redelivery after a restart or rebalance is skipped (<see cref="FeatureEngine.ApplyShared"/>).
    /// </summary>
    Duplicate,
}

/// <summary>Why an event was rejected. The names (snake_case) are the <c>reason</c> tag of the rejection metric.</summary>
public enum IngestRejectionReason
{
    /// <summary>Not rejected.</summary>
    None,

    /// <summary>No stream of that name is defined.</summary>
    UnknownStream,

    /// <summary>The entity id is empty.</summary>
    MissingEntityId,

    /// <summary>The entity id is longer than <see cref="FeatureEngineOptions.MaxEntityIdLength"/>.</summary>
    EntityIdTooLong,

    /// <summary>The event time is 0 or negative (unset).</summary>
    InvalidEventTime,

    /// <summary>The event time is further ahead of the clock than <see cref="FeatureEngineOptions.MaxEventTimeAhead"/>.</summary>
    TooFarInFuture,

    /// <summary>A required field is absent.</summary>
    MissingField,

    /// <summary>A number field came as a string or a string field as a number.</summary>
    WrongFieldType,

    /// <summary>A number is NaN or infinite.</summary>
    NonFiniteNumber,

    /// <summary>A value out of range: more decimals than a fixed-point field declares, too large, or a string too long.</summary>
    InvalidValue,
}

/// <summary>
/// The outcome of <see cref="FeatureEngine.Ingest"/>. A struct that carries names it already had (the field or stream
/// concerned), so the accepted path allocates nothing; <see cref="Message"/> builds the text on demand.
/// </summary>
public readonly struct IngestResult : IEquatable<IngestResult>
{
    private IngestResult(IngestOutcome outcome, IngestRejectionReason reason, string? subject, string? stream)
    {
        Outcome = outcome;
        Reason = reason;
        Subject = subject;
        Stream = stream;
    }

    /// <summary>Accepted, dropped late or rejected.</summary>
    public IngestOutcome Outcome { get; }

    /// <summary>Why it was rejected, or <see cref="IngestRejectionReason.None"/>.</summary>
    public IngestRejectionReason Reason { get; }

    /// <summary>The field (or, for an unknown stream, the stream name) the rejection concerns; null otherwise.</summary>
    public string? Subject { get; }

    /// <summary>The stream the event named.</summary>
    public string? Stream { get; }

    /// <summary>True when the event was applied.</summary>
    public bool IsAccepted => Outcome == IngestOutcome.Accepted;

    /// <summary>A sentence for logs and for the ingest summary's first rejection (allocates).</summary>
    public string Message => Outcome switch
    {
        IngestOutcome.Accepted => "accepted",
        IngestOutcome.DroppedLate => $"event on stream '{Stream}' is older than the stream's watermark minus its allowed lateness: dropped",
        IngestOutcome.Duplicate => $"event on stream '{Stream}' was applied before (same partition and offset): skipped",
        _ => Reason switch
        {
            IngestRejectionReason.UnknownStream => $"unknown stream '{Subject}'",
            IngestRejectionReason.MissingEntityId => $"event on stream '{Stream}' has no entity id",
            IngestRejectionReason.EntityIdTooLong => $"event on stream '{Stream}' has an entity id longer than the limit",
            IngestRejectionReason.InvalidEventTime => $"event on stream '{Stream}' has no event time (must be > 0 Unix ms)",
            IngestRejectionReason.TooFarInFuture => $"event on stream '{Stream}' is too far in the future",
            IngestRejectionReason.MissingField => $"event on stream '{Stream}' lacks required field '{Subject}'",
            IngestRejectionReason.WrongFieldType => $"event on stream '{Stream}' has field '{Subject}' of the wrong type",
            IngestRejectionReason.NonFiniteNumber => $"event on stream '{Stream}' has a non-finite number in '{Subject}'",
            IngestRejectionReason.InvalidValue => $"event on stream '{Stream}' has an invalid value in '{Subject}' (too many decimals, too large, or too long)",
            _ => "rejected",
        },
    };

    internal static IngestResult Accepted(string stream) => new(IngestOutcome.Accepted, IngestRejectionReason.None, null, stream);

    internal static IngestResult Duplicate(string stream) => new(IngestOutcome.Duplicate, IngestRejectionReason.None, null, stream);

    internal static IngestResult Late(string stream) => new(IngestOutcome.DroppedLate, IngestRejectionReason.None, null, stream);

    internal static IngestResult Rejected(IngestRejectionReason reason, string? subject, string? stream) => new(IngestOutcome.Rejected, reason, subject, stream);

    /// <inheritdoc/>
    public bool Equals(IngestResult other) => Outcome == other.Outcome && Reason == other.Reason && Subject == other.Subject && Stream == other.Stream;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is IngestResult other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Outcome, Reason, Subject, Stream);

    /// <inheritdoc/>
    public override string ToString() => Message;

    /// <summary>Equality of outcome, reason, subject and stream.</summary>
    public static bool operator ==(IngestResult left, IngestResult right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(IngestResult left, IngestResult right) => !left.Equals(right);
}
