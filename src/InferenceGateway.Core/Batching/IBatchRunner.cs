namespace InferenceGateway.Core.Batching;

/// <summary>
/// Executes batches for one execution instance (one ONNX Runtime session run context, say). The batcher calls
/// <see cref="Run"/> on the instance's dedicated thread, never concurrently for the same instance. If the runner also
/// implements <see cref="IDisposable"/>, the batcher disposes it after the instance's thread has stopped.
/// </summary>
public interface IBatchRunner
{
    /// <summary>
    /// Runs one batch: reads <see cref="BatchRun.Input"/> (rows already packed by the batcher) and fills every
    /// <see cref="BatchRun.Output"/>. Throwing fails this batch's requests with
    /// <see cref="BatchFailureReason.ExecutionFailed"/> and the exception's message; the batcher keeps serving.
    /// </summary>
    void Run(BatchRun run);
}
