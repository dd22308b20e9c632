namespace InferenceGateway.Grpc;

/// <summary>Per-call options (shaped like Grpc.Core's <c>CallOptions</c>).</summary>
public readonly struct CallOptions
{
    /// <summary>Creates options.</summary>
    /// <param name="headers">Request headers. The key <see cref="GrpcProtocol.CompressionRequestHeader"/> with value
    /// <c>gzip</c> compresses request messages (the key itself is not sent).</param>
    /// <param name="deadline">UTC deadline; null for none. Sent as <c>grpc-timeout</c> and enforced locally.</param>
    /// <param name="cancellationToken">Cancels the call (the stream is reset with RST_STREAM).</param>
    /// <param name="writeOptions">Options for request writes.</param>
#pragma warning disable CA1068 // Parameter order kept as in Grpc.Core's CallOptions so call sites port unchanged.
    public CallOptions(Metadata? headers = null, DateTime? deadline = null, CancellationToken cancellationToken = default, WriteOptions? writeOptions = null)
    {
        Headers = headers;
        Deadline = deadline;
        CancellationToken = cancellationToken;
        WriteOptions = writeOptions;
    }
#pragma warning restore CA1068

    /// <summary>Request headers, or null.</summary>
    public Metadata? Headers { get; }

    /// <summary>UTC deadline, or null.</summary>
    public DateTime? Deadline { get; }

    /// <summary>Cancellation of the call.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Options for request writes.</summary>
    public WriteOptions? WriteOptions { get; }

    /// <summary>A copy with other headers.</summary>
    public CallOptions WithHeaders(Metadata headers) => new(headers, Deadline, CancellationToken, WriteOptions);

    /// <summary>A copy with another deadline.</summary>
    public CallOptions WithDeadline(DateTime deadline) => new(Headers, deadline, CancellationToken, WriteOptions);

    /// <summary>A copy with another cancellation token.</summary>
    public CallOptions WithCancellationToken(CancellationToken cancellationToken) => new(Headers, Deadline, cancellationToken, WriteOptions);

    /// <summary>A copy with other write options.</summary>
    public CallOptions WithWriteOptions(WriteOptions writeOptions) => new(Headers, Deadline, CancellationToken, writeOptions);
}
