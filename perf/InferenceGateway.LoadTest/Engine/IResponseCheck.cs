namespace InferenceGateway.LoadTest.Engine;

/// <summary>
/// Judges the response message of a call that ended with <c>grpc-status: 0</c>, for targets whose OK alone does not
/// say the work was done (an IngestEvents call is OK even when every event was rejected). It runs on the client's
/// read loop for every such call, so it must be cheap and must not allocate.
/// </summary>
public interface IResponseCheck
{
    /// <summary>How many bytes of the response body (gRPC frame header included) the check needs at most; the h2 client keeps no more.</summary>
    int CaptureBytes { get; }

    /// <summary>The outcome code of the call: <see cref="OutcomeCodes.Ok"/> or a failure code.</summary>
    /// <param name="message">The first response message without its frame header, cut at <see cref="CaptureBytes"/>.</param>
    /// <param name="truncated">Whether the message was longer than what is given.</param>
    int Check(ReadOnlySpan<byte> message, bool truncated);
}
