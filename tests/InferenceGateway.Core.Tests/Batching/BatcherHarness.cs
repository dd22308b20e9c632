using System.Runtime.InteropServices;
using InferenceGateway.Core.Batching;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.Core.Tests.Batching;

/// <summary>A batcher over fake runners (one float input "x", output "y" = 2x), plus helpers to submit and wait.</summary>
public sealed class BatcherHarness : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private Task? _peer;

    /// <summary>
    /// Creates the harness; with <paramref name="holdPeer"/>, one instance is first made busy with a batch held until
    /// disposal (<see cref="HoldPeerInstanceAsync"/>).
    /// </summary>
    public static async Task<BatcherHarness> CreateAsync(BatchingOptions options, bool holdPeer, int[]? rowShape = null, TimeProvider? time = null)
    {
        var harness = new BatcherHarness(options, rowShape, time);
        if (holdPeer)
        {
            await harness.HoldPeerInstanceAsync();
        }

        return harness;
    }

    public BatcherHarness(BatchingOptions options, int[]? rowShape = null, TimeProvider? time = null, BatcherMetrics? metrics = null)
    {
        RowShape = rowShape ?? [2];
        Time = time ?? new ManualTimeProvider();
        Batcher = new DynamicBatcher(
            "m",
            "1",
            options,
            [new BatchTensorSpec("x", sizeof(float), RowShape)],
            [new BatchTensorSpec("y", sizeof(float), RowShape)],
            instance => new FakeRunner(instance, Log),
            Time,
            NullLogger.Instance,
            metrics);
    }

    public int[] RowShape { get; }

    public TimeProvider Time { get; }

    public ManualTimeProvider Manual => (ManualTimeProvider)Time;

    public FakeRunnerLog Log { get; } = new();

    public DynamicBatcher Batcher { get; }

    /// <summary>
    /// Queues a request whose first element is <paramref name="value"/> (tests tell requests apart by it) and whose
    /// every further element, row after row, adds 1/1024 more: each row differs from every other row of any request
    /// submitted with a different whole value, so an output row scattered to the wrong request or the wrong row of it
    /// shows (exact in float while |value| &lt; 8192 and a request holds under 1024 elements).
    /// </summary>
    public Submission Submit(float value, int rows = 1, int priority = 0, long deadline = 0, int[]? shape = null, bool skipQueueDelay = false, CancellationToken cancellationToken = default)
    {
        var rowElements = 1;
        foreach (var dim in shape ?? RowShape)
        {
            rowElements *= dim;
        }

        var input = new float[rows * rowElements];
        for (var k = 0; k < input.Length; k++)
        {
            input[k] = value + (k / 1024f);
        }

        var output = new byte[input.Length * sizeof(float)];
        var request = Batcher.RentRequest();
        request.Rows = rows;
        request.Priority = priority;
        request.Deadline = deadline;
        request.SkipQueueDelay = skipQueueDelay;
        request.CancellationToken = cancellationToken;
        request.SetInput(0, MemoryMarshal.AsBytes(input.AsSpan()).ToArray());
        request.SetOutput(0, output);
        if (shape is not null)
        {
            request.SetInputRowShape(0, shape);
        }

        return new Submission(request, Batcher.EnqueueAsync(request).AsTask(), input, output);
    }

    /// <summary>
    /// How long a test gives something that must NOT happen (a batch released early, a result let out of order, a drain
    /// ending too soon) the chance to show, when there is no event to await instead: the absence has no event. A wrong
    /// release is asynchronous (a worker or a timer callback), so a moment is needed; this wait bounds the test and can
    /// only make it miss a bug, never fail a correct batcher. 100 ms: generous beside the microseconds a wrong release
    /// takes on an idle host, short enough for the suite.
    /// </summary>
    public static Task NegativeWindowAsync() => Task.Delay(TimeSpan.FromMilliseconds(100));

    public static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}");
            }

            await Task.Delay(2);
        }
    }

    /// <summary>Waits until the batcher has armed a timer for <paramref name="due"/> (it judged the queue and is waiting).</summary>
    public Task TimerArmedAsync(long due) => EventuallyAsync(() => Manual.ArmedDueTimes().Contains(due), $"a timer due at {due}");

    /// <summary>
    /// Keeps one instance busy until disposal with a batch of its own (kept out of <see cref="Log"/>): the load under
    /// which the adaptive policy's wait applies. It may run on a thread-pool thread (the run-on-caller path).
    /// </summary>
    public async Task HoldPeerInstanceAsync()
    {
        var shape = RowShape.Any(d => d < 0) ? RowShape.Select(d => d < 0 ? 1 : d).ToArray() : null;
        _peer = Task.Run(() => Submit(float.NaN, shape: shape, skipQueueDelay: true).Task);
        await Task.Run(() => Log.PeerRunning.Wait(Timeout)).WaitAsync(Timeout);
        Assert.True(Log.PeerRunning.IsSet, "the peer load did not start");
    }

    public async ValueTask DisposeAsync()
    {
        Log.PeerRelease.Set();
        if (_peer is not null)
        {
            await _peer.WaitAsync(Timeout);
        }

        await Batcher.DisposeAsync().AsTask().WaitAsync(Timeout);
    }
}

public sealed record Submission(BatchRequest Request, Task<BatchResult> Task, float[] Input, byte[] OutputBytes)
{
    public float[] Output => MemoryMarshal.Cast<byte, float>(OutputBytes.AsSpan()).ToArray();

    public async Task<BatchResult> ResultAsync() => await Task.WaitAsync(BatcherHarness.Timeout);

    /// <summary>Asserts success and that the output is this request's own input doubled.</summary>
    public async Task AssertSucceededAsync()
    {
        var result = await ResultAsync();
        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(Input.Select(v => v * 2), Output);
    }

    public async Task AssertFailedAsync(BatchFailureReason reason)
    {
        var result = await ResultAsync();
        Assert.Equal(reason, result.Reason);
        Assert.False(string.IsNullOrEmpty(result.Message));
    }
}

/// <summary>
/// Options for a test written against a batch that waits <c>wait</c> for company, under either policy: the fixed-delay
/// policy waits its <see cref="BatchingOptions.MaxQueueDelay"/>; the adaptive policy waits its
/// <see cref="BatchingOptions.AdaptiveWait"/> only while another instance runs, so it gets one more instance, which the
/// harness keeps busy (<see cref="HoldsPeer"/>). Then a test sees the same waits under both.
/// </summary>
public static class PolicyOptions
{
    public static BatchingOptions Create(BatchingPolicy policy, int maxBatchSize, TimeSpan wait, bool runOnCaller, Action<BatchingOptions>? configure)
    {
        var options = new BatchingOptions { Policy = policy, MaxBatchSize = maxBatchSize, MaxQueueSize = 64, RunOnCallerWhenIdle = runOnCaller };
        if (policy == BatchingPolicy.FixedDelay)
        {
            options.MaxQueueDelay = wait;
        }
        else
        {
            options.AdaptiveWait = wait;
        }

        configure?.Invoke(options);
        if (HoldsPeer(options))
        {
            options.InstanceCount++;
        }

        return options;
    }

    /// <summary>
    /// Whether the harness must keep an instance busy for the adaptive wait to apply. Not with PreserveOrdering: the
    /// held batch would hold back every later response; those tests run with the instances they ask for.
    /// </summary>
    public static bool HoldsPeer(BatchingOptions options) =>
        options.Policy == BatchingPolicy.Adaptive && options.AdaptiveWait > TimeSpan.Zero && !options.PreserveOrdering;

    public static Task<BatcherHarness> HarnessAsync(BatchingOptions options, int[]? rowShape = null, TimeProvider? time = null) =>
        BatcherHarness.CreateAsync(options, HoldsPeer(options), rowShape, time);
}
