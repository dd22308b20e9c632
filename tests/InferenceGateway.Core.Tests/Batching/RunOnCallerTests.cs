using System.Collections.Concurrent;
using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Tests.Batching;

/// <summary>
/// <see cref="BatchingOptions.RunOnCallerWhenIdle"/>: a request that would be released at once on an idle instance
/// runs on the calling thread; everything else keeps the queue's semantics. Run under each policy (the sealed classes
/// at the end; see <see cref="PolicyOptions"/>).
/// </summary>
public abstract class RunOnCallerTests
{
    protected abstract BatchingPolicy Policy { get; }

    private BatchingOptions Options(int maxBatchSize, TimeSpan delay, Action<BatchingOptions>? configure = null) =>
        PolicyOptions.Create(Policy, maxBatchSize, delay, runOnCaller: true, configure);

    private static Task<BatcherHarness> Harness(BatchingOptions options, int[]? rowShape = null, TimeProvider? time = null) =>
        PolicyOptions.HarnessAsync(options, rowShape, time);

    /// <summary>
    /// Records the thread each request value ran on; a batch led by <paramref name="holdValue"/> waits for
    /// <paramref name="gate"/>, and every run advances the manual clock by <paramref name="runTime"/>.
    /// </summary>
    private static ConcurrentDictionary<float, int> RecordRunThreads(BatcherHarness h, ManualResetEventSlim gate, float holdValue, TimeSpan runTime)
    {
        var runThreads = new ConcurrentDictionary<float, int>();
        h.Log.OnRun = b =>
        {
            foreach (var value in b.Inputs.Distinct())
            {
                runThreads[value] = Environment.CurrentManagedThreadId;
            }

            if (b.Inputs[0] == holdValue)
            {
                gate.Wait(BatcherHarness.Timeout);
            }

            if (runTime > TimeSpan.Zero)
            {
                h.Manual.Advance(runTime);
            }
        };
        return runThreads;
    }

    [Fact]
    public async Task EnqueueAsync_NoDelayAndIdle_RunsOnCallingThreadAndReturnsCompleted()
    {
        await using var h = await Harness(Options(8, TimeSpan.Zero));
        var runThreads = new ConcurrentQueue<int>();
        h.Log.OnRun = _ => runThreads.Enqueue(Environment.CurrentManagedThreadId);

        var s = h.Submit(3, rows: 2);

        Assert.True(s.Task.IsCompleted, "the task should be complete when EnqueueAsync returns");
        Assert.Equal(Environment.CurrentManagedThreadId, Assert.Single(runThreads));
        await s.AssertSucceededAsync();
        Assert.Equal(2, Assert.Single(h.Log.Started).Rows);
    }

    [Fact]
    public async Task EnqueueAsync_BatchingOffWithDelay_RunsOnCallingThread()
    {
        await using var h = await Harness(Options(1, TimeSpan.FromHours(1)));
        var s = h.Submit(5);
        Assert.True(s.Task.IsCompleted);
        await s.AssertSucceededAsync();
    }

    [Fact]
    public async Task EnqueueAsync_RowsEqualPreferredSize_RunsOnCallingThread()
    {
        await using var h = await Harness(Options(8, TimeSpan.FromHours(1), o => o.PreferredBatchSizes = [4]));
        var s = h.Submit(5, rows: 4);
        Assert.True(s.Task.IsCompleted);
        await s.AssertSucceededAsync();
    }

    [Fact]
    public async Task EnqueueAsync_LoneRequestThatShouldWaitForCompany_StillWaitsForMaxQueueDelay()
    {
        var delay = TimeSpan.FromMilliseconds(10);
        await using var h = await Harness(Options(8, delay, o => o.PreferredBatchSizes = [4]));
        var start = h.Manual.GetTimestamp();
        var s = h.Submit(1);

        await h.TimerArmedAsync(start + delay.Ticks);
        Assert.False(s.Task.IsCompleted);
        var second = h.Submit(2);
        Assert.False(second.Task.IsCompleted, "a queued request must not overtake the queue on the caller");

        h.Manual.Advance(delay);
        await s.AssertSucceededAsync();
        await second.AssertSucceededAsync();
        Assert.Equal(2, Assert.Single(h.Log.Started).Rows);
    }

    [Fact]
    public async Task EnqueueAsync_InstanceHeldByCaller_NextRequestsQueueAndTheCallerRunsThemAfterItsOwn()
    {
        await using var h = await Harness(Options(8, TimeSpan.Zero));
        using var gate = new ManualResetEventSlim();
        var runThreads = RecordRunThreads(h, gate, holdValue: 1, runTime: TimeSpan.Zero);

        var callerThread = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = Task.Run(() =>
        {
            callerThread.SetResult(Environment.CurrentManagedThreadId);
            return h.Submit(1);
        });
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running on its caller");

        var second = h.Submit(2);
        var third = h.Submit(3);
        await BatcherHarness.NegativeWindowAsync(); // not run while the only instance is busy: nothing to await
        Assert.False(second.Task.IsCompleted, "the only instance is busy; the request must wait in the queue");
        Assert.Equal(2, h.Batcher.QueueDepth);

        gate.Set();
        await (await first).AssertSucceededAsync();
        await second.AssertSucceededAsync();
        await third.AssertSucceededAsync();
        var caller = await callerThread.Task;
        Assert.Equal(caller, runThreads[1]);
        Assert.Equal(caller, runThreads[2]); // Queued behind it within the drain budget: no hand-off to the instance thread.
        Assert.Equal(2, h.Log.Started.Last().Rows);
    }

    [Fact]
    public async Task EnqueueAsync_CallerRanPastDrainBudget_QueuedWorkGoesToTheInstanceThread()
    {
        await using var h = await Harness(Options(8, TimeSpan.Zero));
        using var gate = new ManualResetEventSlim();
        var runThreads = new ConcurrentDictionary<float, int>();
        h.Log.OnRun = b =>
        {
            runThreads[b.Inputs[0]] = Environment.CurrentManagedThreadId;
            if (b.Inputs[0] == 1)
            {
                gate.Wait(BatcherHarness.Timeout);
                h.Manual.Advance(TimeSpan.FromMilliseconds(1)); // A slow model: the caller's budget is spent.
            }
        };

        var first = Task.Run(() => (h.Submit(1), Environment.CurrentManagedThreadId));
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running on its caller");
        var second = h.Submit(2);

        gate.Set();
        var (submission, callerThread) = await first;
        await submission.AssertSucceededAsync();
        await second.AssertSucceededAsync();
        Assert.NotEqual(callerThread, runThreads[2]);
        Assert.NotEqual(Environment.CurrentManagedThreadId, runThreads[2]);
    }

    [Fact]
    public async Task EnqueueAsync_RunnerIsSlow_LaterRequestsRunOnTheInstanceThreadNotTheCaller()
    {
        await using var h = await Harness(Options(8, TimeSpan.Zero));
        var runThreads = new ConcurrentQueue<int>();
        h.Log.OnRun = _ =>
        {
            runThreads.Enqueue(Environment.CurrentManagedThreadId);
            h.Manual.Advance(TimeSpan.FromMilliseconds(20)); // Each run takes 20 ms: a large model.
        };

        var firstCaller = Environment.CurrentManagedThreadId;
        var first = h.Submit(1);
        Assert.True(first.Task.IsCompleted, "nothing measured yet: the first run may use the caller");
        await first.AssertSucceededAsync();

        var secondCaller = Environment.CurrentManagedThreadId;
        var second = h.Submit(2);
        await second.AssertSucceededAsync();

        Assert.Equal(firstCaller, runThreads.First());
        Assert.NotEqual(secondCaller, runThreads.Last());
    }

    [Fact]
    public async Task EnqueueAsync_RunnerIsSlowAndCallersComeOneAtATime_AfterFourLoneRunsTheCallerRunsIt()
    {
        await using var h = await Harness(Options(8, TimeSpan.Zero));
        var runThreads = new ConcurrentQueue<int>();
        h.Log.OnRun = _ =>
        {
            runThreads.Enqueue(Environment.CurrentManagedThreadId);
            h.Manual.Advance(TimeSpan.FromMilliseconds(20)); // A large model: far past the caller's drain budget.
        };

        var callers = new List<int>();
        for (var i = 1; i <= DynamicBatcher.LoneRunsBeforeCaller + 2; i++)
        {
            callers.Add(Environment.CurrentManagedThreadId);
            var s = h.Submit(i);
            await s.AssertSucceededAsync();
            h.Batcher.ReturnRequest(s.Request);
        }

        var threads = runThreads.ToArray();
        Assert.Equal(callers[0], threads[0]); // Nothing measured yet.
        for (var i = 1; i < DynamicBatcher.LoneRunsBeforeCaller; i++)
        {
            Assert.NotEqual(callers[i], threads[i]); // Slow and not yet seen alone often enough: the instance thread.
        }

        // Four runs in a row alone, nothing arriving meanwhile: one caller at a time, so no hand-off any more.
        Assert.Equal(callers[^2], threads[^2]);
        Assert.Equal(callers[^1], threads[^1]);
    }

    [Fact]
    public async Task EnqueueAsync_RunnerIsSlowAndARequestArrivesDuringACallerRun_LaterRequestsQueueForTheInstanceThread()
    {
        await using var h = await Harness(Options(8, TimeSpan.Zero));
        using var gate = new ManualResetEventSlim();
        var runThreads = RecordRunThreads(h, gate, holdValue: 100, runTime: TimeSpan.FromMilliseconds(20));

        for (var i = 1; i <= DynamicBatcher.LoneRunsBeforeCaller; i++)
        {
            var s = h.Submit(i);
            await s.AssertSucceededAsync();
            h.Batcher.ReturnRequest(s.Request);
        }

        // A lone caller again, but a second caller arrives while its run is under way (two callers now).
        var callerThread = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = Task.Run(() =>
        {
            callerThread.SetResult(Environment.CurrentManagedThreadId);
            return h.Submit(100);
        });
        await BatcherHarness.EventuallyAsync(() => runThreads.ContainsKey(100), "the lone request running on its caller");
        var overlapping = h.Submit(101);
        gate.Set();
        await (await running).AssertSucceededAsync();
        await overlapping.AssertSucceededAsync();
        Assert.Equal(await callerThread.Task, runThreads[100]);

        // Requests overlapped, so the next one queues for the instance thread (where a second could join it).
        var nextCaller = Environment.CurrentManagedThreadId;
        var next = h.Submit(102);
        await next.AssertSucceededAsync();
        Assert.NotEqual(nextCaller, runThreads[102]);
        Assert.NotEqual(await callerThread.Task, runThreads[102]);
    }

    [Fact]
    public async Task EnqueueAsync_TwoInstances_SecondCallerTakesTheOtherIdleInstance()
    {
        await using var h = await Harness(Options(8, TimeSpan.Zero, o => o.InstanceCount = 2));
        using var gate = new ManualResetEventSlim();
        h.Log.OnRun = b => { if (b.Inputs[0] == 1) { gate.Wait(BatcherHarness.Timeout); } };

        var first = Task.Run(() => h.Submit(1));
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");

        var second = h.Submit(2);
        Assert.True(second.Task.IsCompleted, "the second instance was idle, so the caller runs on it");
        await second.AssertSucceededAsync();
        Assert.NotEqual(h.Log.Started.First().Instance, h.Log.Started.Last().Instance);

        gate.Set();
        await (await first).AssertSucceededAsync();
    }

    [Fact]
    public async Task EnqueueAsync_RunnerThrowsOnCaller_OnlyThatRequestFailsAndTheNextRuns()
    {
        await using var h = await Harness(Options(8, TimeSpan.Zero));
        h.Log.OnRun = b => { if (b.Inputs[0] == 1) { throw new InvalidOperationException("boom in ORT"); } };

        var failed = await h.Submit(1).ResultAsync();
        Assert.Equal(BatchFailureReason.ExecutionFailed, failed.Reason);
        Assert.Contains("boom in ORT", failed.Message, StringComparison.Ordinal);
        await h.Submit(2).AssertSucceededAsync();
    }

    [Fact]
    public async Task DrainAsync_WhileCallerHoldsInstance_WaitsForItAndRunsWhatQueued()
    {
        var h = await Harness(Options(8, TimeSpan.Zero));
        using var gate = new ManualResetEventSlim();
        h.Log.OnRun = b => { if (b.Inputs[0] == 1) { gate.Wait(BatcherHarness.Timeout); } };
        var first = Task.Run(() => h.Submit(1));
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");
        var queued = h.Submit(2);

        var drain = h.Batcher.DrainAsync(BatcherHarness.Timeout);
        await BatcherHarness.NegativeWindowAsync(); // the drain not ended early: nothing to await
        Assert.False(drain.IsCompleted, "drain must wait for the caller's run");
        await h.Submit(3).AssertFailedAsync(BatchFailureReason.ShuttingDown);

        gate.Set();
        Assert.True(await drain.WaitAsync(BatcherHarness.Timeout));
        await (await first).AssertSucceededAsync();
        await queued.AssertSucceededAsync();
        await h.DisposeAsync();
    }

    [Fact]
    public async Task EnqueueAsync_PreserveOrdering_NeverRunsOnCaller()
    {
        await using var h = await Harness(Options(8, TimeSpan.Zero, o => o.PreserveOrdering = true));
        var runThreads = new ConcurrentQueue<int>();
        h.Log.OnRun = _ => runThreads.Enqueue(Environment.CurrentManagedThreadId);
        await h.Submit(1).AssertSucceededAsync();
        Assert.NotEqual(Environment.CurrentManagedThreadId, Assert.Single(runThreads));
    }

    [Fact]
    public async Task EnqueueAsync_ManyCallersOnSystemClock_EveryOutputIsOwnAndBatchesStayBounded()
    {
        var options = Options(4, TimeSpan.Zero, o => { o.InstanceCount = 2; o.MaxQueueSize = 1000; });
        await using var h = await Harness(options, time: TimeProvider.System);
        var callers = Enumerable.Range(0, 6).Select(c => Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                var s = h.Submit((c * 1000) + i, rows: 1 + (i % 2));
                await s.AssertSucceededAsync();
                h.Batcher.ReturnRequest(s.Request);
            }
        }));

        await Task.WhenAll(callers).WaitAsync(BatcherHarness.Timeout * 3);
        Assert.All(h.Log.Started, b => Assert.InRange(b.Rows, 1, 4));
        Assert.Equal(6 * 300, h.Log.Started.Sum(b => b.Rows));
    }
}

public sealed class RunOnCallerFixedDelayTests : RunOnCallerTests
{
    protected override BatchingPolicy Policy => BatchingPolicy.FixedDelay;
}

public sealed class RunOnCallerAdaptiveTests : RunOnCallerTests
{
    protected override BatchingPolicy Policy => BatchingPolicy.Adaptive;
}
