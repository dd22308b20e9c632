using System.Threading.Tasks.Sources;
using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Models;

namespace InferenceGateway.Server.Services.Wire;

/// <summary>
/// The call as the source of the value task its handler returns while it waits for its batch, so that the wait
/// allocates nothing (<see cref="InferenceExecutor.InferAsync"/>).
/// </summary>
internal sealed partial class ModelInferCall : IValueTaskSource<ModelInferCall>, IThreadPoolWorkItem
{
    private ManualResetValueTaskSourceCore<ModelInferCall> _completion;
    private InferState _inferState;
    private ValueTask<BatchResult> _pendingBatch;
    private Action? _queueSelf;

    /// <summary>What the executor needs to end the call after its batch.</summary>
    internal readonly struct InferState(InferenceExecutor executor, ModelVersion version, BatchRequest request, int rows, long start)
    {
        public InferenceExecutor Executor { get; } = executor;

        public ModelVersion Version { get; } = version;

        public BatchRequest Request { get; } = request;

        public int Rows { get; } = rows;

        /// <summary>Stopwatch timestamp of the call's start, for the latency metric.</summary>
        public long Start { get; } = start;
    }

    /// <summary>
    /// Completes when <paramref name="pending"/> does and <see cref="InferenceExecutor.EndInfer"/> has run: with the call,
    /// or with the call's failure, after which the awaiter's read gives the call back to its pool.
    /// </summary>
    internal ValueTask<ModelInferCall> WaitForBatch(in InferState state, ValueTask<BatchResult> pending)
    {
        _completion.Reset();
        var token = _completion.Version;
        _inferState = state;
        _pendingBatch = pending;
        // The batch request runs this continuation inline (BatchRequest.InlineContinuation) on the thread that completes
        // it, an instance thread: it only queues the call itself as the thread pool's work item, which allocates nothing.
        pending.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_queueSelf ??= () => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false));
        return new ValueTask<ModelInferCall>(this, token);
    }

    /// <summary>Ends the call on a thread-pool thread once its batch is done.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        var state = _inferState;
        var pending = _pendingBatch;
        _inferState = default;
        _pendingBatch = default;
        ModelInferCall call;
        try
        {
            call = state.Executor.EndInfer(this, state, pending, returnCallOnFailure: false);
        }
        catch (Exception ex)
        {
            _completion.SetException(ex);
            return;
        }

        _completion.SetResult(call);
    }

    ModelInferCall IValueTaskSource<ModelInferCall>.GetResult(short token)
    {
        try
        {
            return _completion.GetResult(token);
        }
        catch
        {
            // The awaiter has the failure now; nothing else holds the call.
            Return();
            throw;
        }
    }

    ValueTaskSourceStatus IValueTaskSource<ModelInferCall>.GetStatus(short token) => _completion.GetStatus(token);

    void IValueTaskSource<ModelInferCall>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _completion.OnCompleted(continuation, state, token, flags);
}
