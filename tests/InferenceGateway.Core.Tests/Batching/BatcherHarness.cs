using System.Runtime.InteropServices;
using InferenceGateway.Core.Batching;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.Core.Tests.Batching;

/// <summary>A batcher over fake runners (one float input "x", output "y" = 2x), plus helpers to submit and wait.</summary>
public sealed class BatcherHarness : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

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

    /// <summary>Queues a request whose every element is <paramref name="value"/>.</summary>
    public Submission Submit(float value, int rows = 1, int priority = 0, long deadline = 0, int[]? shape = null, bool skipQueueDelay = false, CancellationToken cancellationToken = default)
    {
        var rowElements = 1;
        foreach (var dim in shape ?? RowShape)
        {
            rowElements *= dim;
        }

        var input = new float[rows * rowElements];
        Array.Fill(input, value);
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

    public async ValueTask DisposeAsync()
    {
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
