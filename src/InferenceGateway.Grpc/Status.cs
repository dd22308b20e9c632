using System.Globalization;

namespace InferenceGateway.Grpc;

/// <summary>The outcome of a call: a status code and an optional human-readable detail.</summary>
public readonly struct Status : IEquatable<Status>
{
    /// <summary>The success status with an empty detail.</summary>
    public static readonly Status DefaultSuccess = new(StatusCode.OK, string.Empty);

    /// <summary>The status of a call cancelled without further detail.</summary>
    public static readonly Status DefaultCancelled = new(StatusCode.Cancelled, string.Empty);

    /// <summary>Creates a status.</summary>
    public Status(StatusCode statusCode, string detail)
        : this(statusCode, detail, null)
    {
    }

    /// <summary>Creates a status with an exception kept for local diagnostics (never sent to the peer).</summary>
    public Status(StatusCode statusCode, string detail, Exception? debugException)
    {
        StatusCode = statusCode;
        Detail = detail ?? string.Empty;
        DebugException = debugException;
    }

    /// <summary>The status code.</summary>
    public StatusCode StatusCode { get; }

    /// <summary>The detail message (the <c>grpc-message</c> trailer, decoded).</summary>
    public string Detail { get; }

    /// <summary>A local exception explaining the status; not transmitted.</summary>
    public Exception? DebugException { get; }

    /// <inheritdoc />
    public bool Equals(Status other) => StatusCode == other.StatusCode && string.Equals(Detail, other.Detail, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Status other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(StatusCode, Detail);

    /// <summary>Equality by code and detail.</summary>
    public static bool operator ==(Status left, Status right) => left.Equals(right);

    /// <summary>Inequality by code and detail.</summary>
    public static bool operator !=(Status left, Status right) => !left.Equals(right);

    /// <inheritdoc />
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"Status(StatusCode=\"{StatusCode}\", Detail=\"{Detail}\")");
}
