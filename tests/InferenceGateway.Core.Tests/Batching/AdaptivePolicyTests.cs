using InferenceGateway.Core.Batching;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Core.Tests.Batching;

/// <summary>
/// What the adaptive policy does differently from the fixed delay: it never holds a batch while it could run and no
/// other instance is busy, lets batches grow while the instances are busy, and waits its optional
/// <see cref="BatchingOptions.AdaptiveWait"/> only while another instance runs. The virtual clock never moves in a test
/// that expects no wait, so a wait would show as a hang.
/// </summary>
public sealed class AdaptivePolicyTests
{
    private static readonly TimeSpan LongWait = TimeSpan.FromHours(1);

    private static BatchingOptions Options(int maxBatchSize, Action<BatchingOptions>? configure = null)
    {
        var options = new BatchingOptions
        {
            Policy = BatchingPolicy.Adaptive,
            MaxBatchSize = maxBatchSize,
            MaxQueueSize = 64,
            RunOnCallerWhenIdle = false,
        };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>Blocks the batch whose first input is <paramref name="value"/> until the returned gate is set.</summary>
    private static ManualResetEventSlim BlockOn(BatcherHarness h, float value)
    {
        var gate = new ManualResetEventSlim();
        h.Log.OnRun = b =>
        {
            if (b.Inputs[0] == value)
            {
                gate.Wait(BatcherHarness.Timeout);
            }
        };
        return gate;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task EnqueueAsync_LoneRequestInstanceIdle_RunsWithoutWaitingEvenWithDelaysConfigured(int instances)
    {
        // Both waits set to an hour: the fixed delay is not this policy's, and the adaptive wait needs a busy instance.
        await using var h = new BatcherHarness(Options(8, o =>
        {
            o.MaxQueueDelay = LongWait;
            o.AdaptiveWait = LongWait;
            o.InstanceCount = instances;
        }));

        await h.Submit(1).AssertSucceededAsync();
        await h.Submit(2, rows: 3).AssertSucceededAsync();

        Assert.Equal([1, 3], h.Log.Started.Select(b => b.Rows));
        Assert.Empty(h.Manual.ArmedDueTimes());
    }

    [Fact]
    public async Task EnqueueAsync_LoneRequestWithMaxQueueDelayConfigured_RunsOnTheCallingThread()
    {
        // The bundled fraud model's case: its config keeps max_queue_delay_microseconds for the fixed-delay policy.
        await using var h = new BatcherHarness(Options(128, o =>
        {
            o.MaxQueueDelay = TimeSpan.FromMilliseconds(1);
            o.PreferredBatchSizes = [16, 64];
            o.RunOnCallerWhenIdle = true;
        }));
        var runThread = -1;
        h.Log.OnRun = _ => runThread = Environment.CurrentManagedThreadId;

        var s = h.Submit(1);

        Assert.True(s.Task.IsCompleted, "an idle instance and an empty queue: the request runs on its caller, at once");
        Assert.Equal(Environment.CurrentManagedThreadId, runThread);
        await s.AssertSucceededAsync();
    }

    [Fact]
    public async Task EnqueueAsync_InstanceBusy_RequestsAccumulateAndTheFreedInstanceTakesUpToMaxBatchSize()
    {
        await using var h = new BatcherHarness(Options(4));
        using var gate = BlockOn(h, 0);
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");

        var queued = Enumerable.Range(1, 6).Select(i => h.Submit(i)).ToList();
        await BatcherHarness.NegativeWindowAsync(); // none released while the instance is busy: nothing to await
        Assert.Equal(6, h.Batcher.QueueDepth);
        Assert.All(queued, s => Assert.False(s.Task.IsCompleted));

        gate.Set();
        await running.AssertSucceededAsync();
        foreach (var s in queued)
        {
            await s.AssertSucceededAsync();
        }

        Assert.Equal([1, 4, 2], h.Log.Started.Select(b => b.Rows));
        Assert.Equal(queued.Take(4).SelectMany(q => q.Input), h.Log.Started.ElementAt(1).Inputs);
    }

    [Fact]
    public async Task EnqueueAsync_InstanceBusyQueueFormsPreferredSizes_LargestPreferredSizeGoesFirst()
    {
        await using var h = new BatcherHarness(Options(8, o => o.PreferredBatchSizes = [2, 4]));
        using var gate = BlockOn(h, 0);
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");
        var queued = Enumerable.Range(1, 7).Select(i => h.Submit(i)).ToList();

        gate.Set();
        foreach (var s in queued.Prepend(running))
        {
            await s.AssertSucceededAsync();
        }

        // 7 queued rows: 4 (the largest preferred size they form), then 2 of the 3 left, then the last one alone.
        Assert.Equal([1, 4, 2, 1], h.Log.Started.Select(b => b.Rows));
    }

    [Fact]
    public async Task EnqueueAsync_QueueHoldsAFullBatch_MaxBatchSizeWinsOverPreferredSize()
    {
        await using var h = new BatcherHarness(Options(4, o => o.PreferredBatchSizes = [3]));
        using var gate = BlockOn(h, 0);
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");
        var queued = Enumerable.Range(1, 5).Select(i => h.Submit(i)).ToList();

        gate.Set();
        foreach (var s in queued.Prepend(running))
        {
            await s.AssertSucceededAsync();
        }

        Assert.Equal([1, 4, 1], h.Log.Started.Select(b => b.Rows));
    }

    [Fact]
    public async Task EnqueueAsync_AdaptiveWaitWhileAnotherInstanceRuns_BatchLeavesExactlyWhenTheWaitPasses()
    {
        var wait = TimeSpan.FromMilliseconds(10);
        await using var h = new BatcherHarness(Options(8, o => { o.AdaptiveWait = wait; o.InstanceCount = 2; }));
        using var gate = BlockOn(h, 0);
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");

        var start = h.Manual.GetTimestamp();
        var first = h.Submit(1);
        await h.TimerArmedAsync(start + wait.Ticks);
        var second = h.Submit(2);
        h.Manual.Advance(wait - TimeSpan.FromTicks(1));
        await BatcherHarness.NegativeWindowAsync(); // not released a tick early: nothing to await
        Assert.False(first.Task.IsCompleted, "another instance runs: the idle one waits for company");

        h.Manual.Advance(TimeSpan.FromTicks(1));
        await first.AssertSucceededAsync();
        await second.AssertSucceededAsync();
        Assert.Equal(2, h.Log.Started.Last().Rows);

        gate.Set();
        await running.AssertSucceededAsync();
    }

    [Fact]
    public async Task EnqueueAsync_AdaptiveWaitAndTheBusyInstanceFrees_ItTakesThePendingBatchAtOnce()
    {
        await using var h = new BatcherHarness(Options(8, o => { o.AdaptiveWait = LongWait; o.InstanceCount = 2; }));
        using var gate = BlockOn(h, 0);
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");
        var pending = h.Submit(1);
        await h.TimerArmedAsync(h.Manual.GetTimestamp() + LongWait.Ticks);

        gate.Set();

        // No instance is busy any more: the wait no longer applies, and the clock never moves.
        await running.AssertSucceededAsync();
        await pending.AssertSucceededAsync();
    }

    [Fact]
    public async Task EnqueueAsync_AdaptiveWaitAnotherInstanceRuns_RequestFillingAPreferredSizeDoesNotWait()
    {
        await using var h = new BatcherHarness(Options(8, o =>
        {
            o.AdaptiveWait = LongWait;
            o.InstanceCount = 2;
            o.PreferredBatchSizes = [4];
            o.RunOnCallerWhenIdle = true;
        }));
        using var gate = BlockOn(h, 0);
        var running = Task.Run(() => h.Submit(0));
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");

        var s = h.Submit(5, rows: 4);
        Assert.True(s.Task.IsCompleted, "a preferred size is released at once, here on the caller");
        await s.AssertSucceededAsync();

        gate.Set();
        await (await running).AssertSucceededAsync();
    }

    [Fact]
    public void Constructor_AdaptiveWaitWithOneInstance_WarnsThatItNeverApplies()
    {
        var logger = new ListLogger();
        var batcher = new DynamicBatcher(
            "m",
            "1",
            Options(8, o => o.AdaptiveWait = TimeSpan.FromMilliseconds(1)),
            [new BatchTensorSpec("x", sizeof(float), [2])],
            [new BatchTensorSpec("y", sizeof(float), [2])],
            i => new FakeRunner(i, new FakeRunnerLog()),
            new ManualTimeProvider(),
            logger);
        try
        {
            Assert.Contains(logger.Events, e => e.Name == "AdaptiveWaitUnused" && e.Level == LogLevel.Warning);
            Assert.Contains(logger.Events, e => e.Name == "BatcherStarted" && e.Message.Contains("policy adaptive", StringComparison.Ordinal));
        }
        finally
        {
            Assert.True(batcher.DisposeAsync().AsTask().Wait(BatcherHarness.Timeout));
        }
    }

    /// <summary>Keeps every log event (name, level, message).</summary>
    private sealed class ListLogger : ILogger
    {
        public List<(string? Name, LogLevel Level, string Message)> Events { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Events)
            {
                Events.Add((eventId.Name, logLevel, formatter(state, exception)));
            }
        }
    }
}
