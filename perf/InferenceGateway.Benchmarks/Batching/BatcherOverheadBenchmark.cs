using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using InferenceGateway.Core.Batching;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.Benchmarks.Batching;

/// <summary>
/// Cost of the batcher itself: enqueue to completion with a runner that does nothing, so what is measured is queueing,
/// packing, slicing, completion and the thread hops. MaxBatchSize 1 is the batching-off baseline. MaxQueueDelay is
/// zero: a batch forms from whatever queued while the instance was busy, so no time is spent waiting on purpose.
/// RunOnCaller false forces every request through the instance thread (two thread hand-offs per round trip);
/// true is the default, where a request that finds the instance idle runs on its caller. Policy: with no wait the two
/// policies decide alike; both are measured so that neither's path allocates or costs more unnoticed.
/// </summary>
[MemoryDiagnoser]
public class BatcherOverheadBenchmark
{
    // Large enough that each invocation's fixed cost (one async loop per caller) rounds to 0 B per request.
    private const int Requests = 1 << 16;
    private const int InputFloats = 16;

    private DynamicBatcher _batcher = null!;
    private byte[][] _inputs = null!;
    private byte[][] _outputs = null!;

    [Params(1, 64)]
    public int Callers { get; set; }

    [Params(1, 64)]
    public int MaxBatchSize { get; set; }

    [Params(false, true)]
    public bool RunOnCaller { get; set; }

    [Params(BatchingPolicy.Adaptive, BatchingPolicy.FixedDelay)]
    public BatchingPolicy Policy { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // MaxQueueTime as the gateway's models have it by default: the admission check runs on every queued request.
        var options = new BatchingOptions
        {
            MaxBatchSize = MaxBatchSize,
            Policy = Policy,
            MaxQueueDelay = TimeSpan.Zero,
            MaxQueueSize = 4096,
            RunOnCallerWhenIdle = RunOnCaller,
            MaxQueueTime = TimeSpan.FromMilliseconds(100),
        };
        _batcher = new DynamicBatcher(
            "bench",
            "1",
            options,
            [new BatchTensorSpec("x", sizeof(float), [InputFloats])],
            [new BatchTensorSpec("y", sizeof(float), [1])],
            _ => new NoOpRunner(),
            TimeProvider.System,
            NullLogger.Instance);
        _inputs = new byte[Callers][];
        _outputs = new byte[Callers][];
        for (var i = 0; i < Callers; i++)
        {
            _inputs[i] = MemoryMarshal.AsBytes(Enumerable.Repeat((float)i, InputFloats).ToArray().AsSpan()).ToArray();
            _outputs[i] = new byte[sizeof(float)];
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _batcher.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(OperationsPerInvoke = Requests)]
    public Task EnqueueToCompletion()
    {
        var tasks = new Task[Callers];
        for (var i = 0; i < Callers; i++)
        {
            tasks[i] = CallerAsync(i, Requests / Callers);
        }

        return Task.WhenAll(tasks);
    }

    private async Task CallerAsync(int caller, int count)
    {
        // Hop off the benchmark thread so the callers run concurrently from the start.
        await Task.Yield();
        var input = _inputs[caller];
        var output = _outputs[caller];
        for (var i = 0; i < count; i++)
        {
            var request = _batcher.RentRequest();
            request.SetInput(0, input);
            request.SetOutput(0, output);
            var result = await _batcher.EnqueueAsync(request).ConfigureAwait(false);
            _batcher.ReturnRequest(request);
            if (!result.IsSuccess)
            {
                throw new InvalidOperationException(result.ToString());
            }
        }
    }

    private sealed class NoOpRunner : IBatchRunner
    {
        public void Run(BatchRun run)
        {
        }
    }
}
