using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Tests.Batching;

/// <summary>
/// Waits on the real clock, where an instance thread keeps the due time itself (<see cref="PreciseSleeper"/>): every
/// event that must end a wait early does, and nothing is left sleeping. Only outcomes are asserted, never how long
/// anything took (timings come from perf/, see docs/batching.md): the waits here are 30 s, so an early end that did not
/// happen shows as a test timeout.
/// </summary>
public sealed class PreciseWaitTests
{
    private static readonly TimeSpan LongWait = TimeSpan.FromSeconds(30);

    private static BatchingOptions Options(BatchingPolicy policy, Action<BatchingOptions>? configure = null)
    {
        var options = new BatchingOptions
        {
            Policy = policy,
            MaxBatchSize = 8,
            MaxQueueSize = 64,
            RunOnCallerWhenIdle = false,
            MaxQueueDelay = LongWait,
        };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>Until an instance sleeps towards the due time of the batch that waits (timers elsewhere: a pause).</summary>
    private static Task KeepingTimeAsync(BatcherHarness h) => h.Batcher.PreciseWaits
        ? BatcherHarness.EventuallyAsync(() => h.Batcher.HasTimekeeper, "an instance keeping the batch's due time")
        : BatcherHarness.NegativeWindowAsync(); // no timekeeper to observe on this platform: a pause

    [Fact]
    public async Task Constructor_SystemClockWithAWait_WaitsArePreciseOnLinuxOnly()
    {
        await using var precise = new BatcherHarness(Options(BatchingPolicy.FixedDelay), time: TimeProvider.System);
        await using var virtualClock = new BatcherHarness(Options(BatchingPolicy.FixedDelay));
        await using var noWait = new BatcherHarness(Options(BatchingPolicy.Adaptive), time: TimeProvider.System);

        Assert.Equal(OperatingSystem.IsLinux(), precise.Batcher.PreciseWaits);
        Assert.False(virtualClock.Batcher.PreciseWaits); // Only its timers know when a virtual clock moves.
        Assert.False(noWait.Batcher.PreciseWaits); // Nothing waits under the adaptive default.
    }

    [Fact]
    public async Task EnqueueAsync_PreferredSizeArrivesDuringAPreciseWait_ReleasedWithoutWaitingTheDelay()
    {
        await using var h = new BatcherHarness(Options(BatchingPolicy.FixedDelay, o => o.PreferredBatchSizes = [2]), time: TimeProvider.System);
        var first = h.Submit(1);
        await KeepingTimeAsync(h);

        var second = h.Submit(2);

        await first.AssertSucceededAsync();
        await second.AssertSucceededAsync();
        Assert.Equal(2, Assert.Single(h.Log.Started).Rows);
    }

    [Fact]
    public async Task EnqueueAsync_SkipQueueDelayDuringAPreciseWait_ReleasesTheBatch()
    {
        await using var h = new BatcherHarness(Options(BatchingPolicy.FixedDelay), time: TimeProvider.System);
        var waiting = h.Submit(1);
        await KeepingTimeAsync(h);

        var urgent = h.Submit(2, skipQueueDelay: true);

        await urgent.AssertSucceededAsync();
        await waiting.AssertSucceededAsync();
    }

    [Fact]
    public async Task DrainAsync_DuringAPreciseWait_RunsTheBatchAndStops()
    {
        var h = new BatcherHarness(Options(BatchingPolicy.FixedDelay), time: TimeProvider.System);
        var waiting = h.Submit(1);
        await KeepingTimeAsync(h);

        Assert.True(await h.Batcher.DrainAsync(BatcherHarness.Timeout).WaitAsync(BatcherHarness.Timeout));
        await waiting.AssertSucceededAsync();
        await h.DisposeAsync();
    }

    [Fact]
    public async Task EnqueueAsync_AdaptiveWaitOnTheSystemClockAndTheBusyInstanceFrees_PendingBatchGoesAtOnce()
    {
        var options = Options(BatchingPolicy.Adaptive, o => { o.AdaptiveWait = LongWait; o.InstanceCount = 2; });
        await using var h = new BatcherHarness(options, time: TimeProvider.System);
        using var gate = new ManualResetEventSlim();
        h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");
        var pending = h.Submit(1);
        await KeepingTimeAsync(h);

        gate.Set();

        await running.AssertSucceededAsync();
        await pending.AssertSucceededAsync();
    }

    [Fact]
    public async Task EnqueueAsync_ManyShortPreciseWaitsFromConcurrentCallers_AllCompleteWithOwnOutputs()
    {
        var options = Options(BatchingPolicy.FixedDelay, o =>
        {
            o.MaxQueueDelay = TimeSpan.FromMicroseconds(300);
            o.InstanceCount = 2;
            o.PreferredBatchSizes = [3];
            o.MaxQueueSize = 1000;
        });
        await using var h = new BatcherHarness(options, time: TimeProvider.System);
        var callers = Enumerable.Range(0, 4).Select(c => Task.Run(async () =>
        {
            for (var i = 0; i < 100; i++)
            {
                var s = h.Submit((c * 1000) + i, rows: 1 + (i % 2));
                await s.AssertSucceededAsync();
                h.Batcher.ReturnRequest(s.Request);
            }
        }));

        await Task.WhenAll(callers).WaitAsync(BatcherHarness.Timeout * 3);
        Assert.Equal(4 * 150, h.Log.Started.Sum(b => b.Rows));
    }

    [Fact]
    public void Sleep_WokenBeforehand_ReturnsWithoutSleeping()
    {
        if (!PreciseSleeper.IsSupported)
        {
            return; // Linux only; elsewhere the batcher uses timers.
        }

        using var sleeper = PreciseSleeper.Create();
        sleeper.Wake();
        Assert.True(Task.Run(() => sleeper.Sleep((long)LongWait.TotalNanoseconds)).Wait(BatcherHarness.Timeout));
    }

    [Fact]
    public async Task Sleep_WokenFromAnotherThread_Returns()
    {
        if (!PreciseSleeper.IsSupported)
        {
            return;
        }

        using var sleeper = PreciseSleeper.Create();
        var sleeping = Task.Factory.StartNew(() => sleeper.Sleep((long)LongWait.TotalNanoseconds), TaskCreationOptions.LongRunning);
        await Task.Delay(20);

        sleeper.Wake();

        await sleeping.WaitAsync(BatcherHarness.Timeout);
    }

    [Fact]
    public async Task Reset_AfterAWake_TheNextSleepSleepsUntilWoken()
    {
        if (!PreciseSleeper.IsSupported)
        {
            return;
        }

        using var sleeper = PreciseSleeper.Create();
        sleeper.Wake();
        sleeper.Reset();

        var sleeping = Task.Factory.StartNew(() => sleeper.Sleep((long)LongWait.TotalNanoseconds), TaskCreationOptions.LongRunning);
        await BatcherHarness.NegativeWindowAsync(); // the sleep not ended: nothing to await
        Assert.False(sleeping.IsCompleted, "the consumed wake-up must not end this sleep");

        sleeper.Wake();
        await sleeping.WaitAsync(BatcherHarness.Timeout);
    }
}
