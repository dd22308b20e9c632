using Grpc.Core;
using InferenceGateway.Core.PredictionLog;

namespace InferenceGateway.Server.Features;

/// <summary>Acknowledge=Committed: a primary Predict answers only once the prediction log committed its record.</summary>
public sealed partial class PredictExecutor
{
    /// <summary>
    /// Waits until the sink committed the primary's record (<paramref name="result"/>, <paramref name="sequence"/>
    /// from <see cref="IPredictionRecorder.TryRecord(in PredictionEntry, out long)"/>). A record the log did not take
    /// fails the call rather than answer it unrecorded: RESOURCE_EXHAUSTED for a full buffer, UNAVAILABLE when the log
    /// is stopping or the sink fails; the call's cancellation or deadline ends the wait as CANCELLED / DEADLINE_EXCEEDED.
    /// </summary>
    private async ValueTask WaitCommittedAsync(RecordResult result, long sequence, DateTime deadline, CancellationToken cancellationToken)
    {
        switch (result)
        {
            case RecordResult.Accepted:
                break;
            case RecordResult.Dropped or RecordResult.Full:
                throw new RpcException(new Status(StatusCode.ResourceExhausted, "prediction not recorded: the prediction log's buffer is full (Acknowledge=Committed answers only recorded predictions)"));
            default:
                throw new RpcException(new Status(StatusCode.Unavailable, "prediction not recorded: the prediction log is stopping"));
        }

        try
        {
            await _log.WaitCommittedAsync(sequence, cancellationToken).ConfigureAwait(false);
        }
        catch (PredictionNotRecordedException ex)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "prediction not recorded: " + ex.Message));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            var code = deadline != DateTime.MaxValue && DateTime.UtcNow >= deadline ? StatusCode.DeadlineExceeded : StatusCode.Cancelled;
            throw new RpcException(new Status(code, "the call ended before the prediction log committed its record (Acknowledge=Committed)"));
        }
    }
}
