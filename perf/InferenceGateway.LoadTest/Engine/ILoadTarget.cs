namespace InferenceGateway.LoadTest.Engine;

/// <summary>
/// One kind of request the load engine sends. Implementations pre-build their payload once and must be
/// safe to call concurrently; <see cref="SendAsync"/> completes when the response (or failure) is known
/// and reports it as a status code instead of throwing.
/// </summary>
public interface ILoadTarget : IAsyncDisposable
{
    /// <summary>Short description for reports, e.g. "kserve fraud/1 @ http://127.0.0.1:50051".</summary>
    string Description { get; }

    /// <summary>Sends one request and waits for its outcome.</summary>
    ValueTask<RequestOutcome> SendAsync(CancellationToken cancellationToken);
}

/// <summary>The result of one request: a gRPC status code or one of the client-side pseudo codes.</summary>
/// <param name="Status">0 (OK) .. 16 for gRPC statuses; <see cref="OutcomeCodes.Dropped"/> and above for client-side outcomes.</param>
public readonly record struct RequestOutcome(int Status)
{
    /// <summary>A successful call.</summary>
    public static RequestOutcome Ok => default;

    /// <summary>Whether the call succeeded.</summary>
    public bool IsSuccess => Status == OutcomeCodes.Ok;
}

/// <summary>Status codes counted by the engine, with names for reports.</summary>
public static class OutcomeCodes
{
    /// <summary>gRPC OK.</summary>
    public const int Ok = 0;

    /// <summary>gRPC CANCELLED.</summary>
    public const int Cancelled = 1;

    /// <summary>gRPC UNKNOWN.</summary>
    public const int Unknown = 2;

    /// <summary>gRPC DEADLINE_EXCEEDED.</summary>
    public const int DeadlineExceeded = 4;

    /// <summary>gRPC UNAVAILABLE.</summary>
    public const int Unavailable = 14;

    /// <summary>gRPC INTERNAL.</summary>
    public const int Internal = 13;

    /// <summary>Open loop: the request was due while the in-flight bound was reached, so it was never sent.</summary>
    public const int Dropped = 100;

    /// <summary>The client failed before a status arrived (connection refused, protocol error, bad HTTP status).</summary>
    public const int ClientError = 101;

    /// <summary>An IngestEvents call ended OK but its IngestSummary says some events were dropped as too late.</summary>
    public const int IngestDroppedLate = 102;

    /// <summary>An IngestEvents call ended OK but its IngestSummary rejected events or accepted fewer than were sent.</summary>
    public const int IngestRejected = 103;

    /// <summary>Size of a per-code counter array.</summary>
    public const int Count = 104;

    private static readonly string[] GrpcNames =
    [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ];

    /// <summary>Report name of a code: the gRPC name, "dropped", "client_error" or "code_N".</summary>
    public static string Name(int code) => code switch
    {
        >= 0 and < 17 => GrpcNames[code],
        Dropped => "dropped",
        ClientError => "client_error",
        IngestDroppedLate => "ingest_dropped_late",
        IngestRejected => "ingest_rejected",
        _ => "code_" + code.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Maps any integer status into the counter range.</summary>
    public static int Normalize(int code) => code is >= 0 and < Count ? code : ClientError;
}
