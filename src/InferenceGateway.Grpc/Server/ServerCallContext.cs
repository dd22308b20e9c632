namespace InferenceGateway.Grpc;

/// <summary>Server-side state of one call (shaped like Grpc.Core's <c>ServerCallContext</c>).</summary>
/// <remarks>
/// Valid until the handler's task completes, like the <c>HttpContext</c> under it: the server reuses the object for a
/// later call, so work that outlives the call copies what it needs (deadline, headers) rather than keeping the context.
/// </remarks>
public abstract class ServerCallContext
{
    /// <summary>The method's full name, <c>/package.Service/Method</c>.</summary>
    public abstract string Method { get; }

    /// <summary>The HTTP/2 authority the client used.</summary>
    public abstract string Host { get; }

    /// <summary>The client's address, e.g. <c>ipv4:127.0.0.1:50000</c>.</summary>
    public abstract string Peer { get; }

    /// <summary>The call's deadline in UTC; <see cref="DateTime.MaxValue"/> when the client set none.</summary>
    public abstract DateTime Deadline { get; }

    /// <summary>Headers sent by the client (without the gRPC protocol headers).</summary>
    public abstract Metadata RequestHeaders { get; }

    /// <summary>Fires when the deadline expires or the client cancels (RST_STREAM, disconnect).</summary>
    public abstract CancellationToken CancellationToken { get; }

    /// <summary>Trailers sent with the status at the end of the call.</summary>
    public abstract Metadata ResponseTrailers { get; }

    /// <summary>The status to end the call with when the handler returns normally (default OK).</summary>
    public abstract Status Status { get; set; }

    /// <summary>Options for response writes, e.g. <see cref="WriteFlags.NoCompress"/>.</summary>
    public abstract WriteOptions? WriteOptions { get; set; }

    /// <summary>
    /// The encoding of response messages, e.g. <c>gzip</c>; null for none. Starts as the server option when the client
    /// accepts it; a handler may change it before the response starts (not part of Grpc.Core's API).
    /// </summary>
    public abstract string? ResponseCompressionAlgorithm { get; set; }

    /// <summary>Sends the response headers now, with extra entries. Allowed once, before the first message.</summary>
    public abstract Task WriteResponseHeadersAsync(Metadata responseHeaders);
}
