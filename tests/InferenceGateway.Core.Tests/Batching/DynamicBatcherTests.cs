using System.Runtime.CompilerServices;
using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Tests.Batching;

/// <summary>The batcher's semantics, run under each policy (the sealed classes at the end); see <see cref="PolicyOptions"/>.</summary>
public abstract class DynamicBatcherTests
{
    private static readonly TimeSpan LongDelay = TimeSpan.FromHours(1);

    protected abstract BatchingPolicy Policy { get; }

    private BatchingOptions Options(int maxBatchSize, TimeSpan delay, Action<BatchingOptions>? configure = null) =>
        // Most tests block the fake runner to hold work in the queue, so requests always go through the instance
        // threads here; RunOnCallerTests cover the caller-thread path.
        PolicyOptions.Create(Policy, maxBatchSize, delay, runOnCaller: false, configure);

    private static Task<BatcherHarness> Harness(BatchingOptions options, int[]? rowShape = null, TimeProvider? time = null) =>
        PolicyOptions.HarnessAsync(options, rowShape, time);

    [Fact]
    public async Task EnqueueAsync_MoreRowsThanMaxBatchSize_FullBatchesGoAndRemainderWaitsForDelay()
    {
        await using var h = await Harness(Options(4, LongDelay));
        var submissions = Enumerable.Range(0, 10).Select(i => h.Submit(i)).ToList();

        await BatcherHarness.EventuallyAsync(() => h.Log.Finished.Count == 2, "two full batches");
        Assert.All(submissions.Take(8), s => Assert.True(s.Task.Wait(BatcherHarness.Timeout)));
        Assert.False(submissions[8].Task.IsCompleted);

        h.Manual.Advance(LongDelay);
        foreach (var s in submissions)
        {
            await s.AssertSucceededAsync();
        }

        Assert.Equal([4, 4, 2], h.Log.Started.Select(b => b.Rows));
    }

    [Fact]
    public async Task EnqueueAsync_ConcurrentMultiRowRequests_NoBatchExceedsMaxAndEveryOutputIsOwn()
    {
        var options = Options(8, TimeSpan.FromMilliseconds(0.2), o => { o.InstanceCount = 2; o.MaxQueueSize = 1000; });
        await using var h = await Harness(options, time: TimeProvider.System);
        var callers = Enumerable.Range(0, 4).Select(c => Task.Run(async () =>
        {
            for (var i = 0; i < 150; i++)
            {
                var s = h.Submit((c * 1000) + i, rows: 1 + (i % 3));
                await s.AssertSucceededAsync();
                h.Batcher.ReturnRequest(s.Request);
            }
        }));

        await Task.WhenAll(callers).WaitAsync(BatcherHarness.Timeout * 3);
        Assert.All(h.Log.Started, b => Assert.InRange(b.Rows, 1, 8));
        Assert.Equal(4 * 150 * 2, h.Log.Started.Sum(b => b.Rows));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EnqueueAsync_InlineContinuation_ContinuationRunsOnTheInstanceThreadOnlyWhenAsked(bool inline)
    {
        await using var h = await Harness(Options(1, TimeSpan.Zero));
        using var gate = new ManualResetEventSlim();
        h.Log.OnRun = _ => gate.Wait(BatcherHarness.Timeout); // holds the batch until the continuation is registered
        var request = h.Batcher.RentRequest();
        request.SetInput(0, new byte[2 * sizeof(float)]);
        request.SetOutput(0, new byte[2 * sizeof(float)]);
        request.InlineContinuation = inline;
        var ranOn = new TaskCompletionSource<(bool ThreadPool, string? Name)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pending = OnCompleted(h.Batcher.EnqueueAsync(request),
            () => ranOn.TrySetResult((Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name)));
        gate.Set();

        var (threadPool, name) = await ranOn.Task.WaitAsync(BatcherHarness.Timeout);
        Assert.Equal(BatchFailureReason.None, pending.GetResult().Reason);
        Assert.Equal(!inline, threadPool);
        if (inline)
        {
            Assert.StartsWith("batcher", name);
        }

        h.Batcher.ReturnRequest(request);
        Assert.False(h.Batcher.RentRequest().InlineContinuation); // a returned request forgets the setting

        // Registers a bare continuation, as a hand-written awaiter does (an await would hand over a state machine box).
        static ConfiguredValueTaskAwaitable<BatchResult>.ConfiguredValueTaskAwaiter OnCompleted(ValueTask<BatchResult> task, Action continuation)
        {
            var awaiter = task.ConfigureAwait(false).GetAwaiter();
            awaiter.UnsafeOnCompleted(continuation);
            return awaiter;
        }
    }

    [Fact]
    public async Task EnqueueAsync_LoneRequest_ReleasedExactlyWhenMaxQueueDelayPasses()
    {
        var delay = TimeSpan.FromMilliseconds(10);
        await using var h = await Harness(Options(8, delay));
        var start = h.Manual.GetTimestamp();
        var s = h.Submit(1);

        await h.TimerArmedAsync(start + delay.Ticks);
        h.Manual.Advance(delay - TimeSpan.FromTicks(1));
        await BatcherHarness.NegativeWindowAsync(); // not released a tick early: nothing to await
        Assert.Empty(h.Log.Started);
        Assert.False(s.Task.IsCompleted);

        h.Manual.Advance(TimeSpan.FromTicks(1));
        await s.AssertSucceededAsync();
        Assert.Equal(1, Assert.Single(h.Log.Started).Rows);
    }

    [Fact]
    public async Task EnqueueAsync_SkipQueueDelay_ReleasesAtOnceWithTheRequestsAlreadyWaiting()
    {
        // The clock never moves: only SkipQueueDelay can release these batches before the 10 s delay.
        await using var h = await Harness(Options(8, TimeSpan.FromSeconds(10)));
        var waiting = h.Submit(1);
        await h.TimerArmedAsync(h.Manual.GetTimestamp() + TimeSpan.FromSeconds(10).Ticks);
        Assert.False(waiting.Task.IsCompleted);

        var urgent = h.Submit(2, skipQueueDelay: true);
        await urgent.AssertSucceededAsync();
        await waiting.AssertSucceededAsync();
        Assert.Equal(2, Assert.Single(h.Log.Started).Rows);

        // A later request without the flag waits for company again.
        var next = h.Submit(3);
        await BatcherHarness.NegativeWindowAsync(); // not released without company: nothing to await
        Assert.False(next.Task.IsCompleted);
        Assert.Single(h.Log.Started);
    }

    [Fact]
    public async Task EnqueueAsync_LoneRequestOnSystemClock_CompletesAfterShortDelay()
    {
        await using var h = await Harness(Options(8, TimeSpan.FromMilliseconds(5)), time: TimeProvider.System);
        await h.Submit(3).AssertSucceededAsync();
    }

    [Fact]
    public async Task EnqueueAsync_PreferredSizeQueued_ReleasedWithoutWaiting()
    {
        await using var h = await Harness(Options(8, LongDelay, o => o.PreferredBatchSizes = [4]));
        var submissions = Enumerable.Range(0, 5).Select(i => h.Submit(i)).ToList();

        foreach (var s in submissions.Take(4))
        {
            await s.AssertSucceededAsync();
        }

        Assert.Equal(4, Assert.Single(h.Log.Started).Rows);
        Assert.False(submissions[4].Task.IsCompleted);

        h.Manual.Advance(LongDelay);
        await submissions[4].AssertSucceededAsync();
        Assert.Equal([4, 1], h.Log.Started.Select(b => b.Rows));
    }

    [Fact]
    public async Task EnqueueAsync_SeveralPreferredSizesReachable_LargestIsFormed()
    {
        using var gate = new ManualResetEventSlim();
        await using var h = await Harness(Options(8, LongDelay, o => o.PreferredBatchSizes = [2, 4]));
        h.Log.OnRun = b => { if (b.Inputs[0] == -1) { gate.Wait(BatcherHarness.Timeout); } };
        var blocker = h.Submit(-1, rows: 2);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "blocker running");

        var queued = Enumerable.Range(0, 5).Select(i => h.Submit(i)).ToList();
        gate.Set();
        await blocker.AssertSucceededAsync();
        foreach (var s in queued.Take(4))
        {
            await s.AssertSucceededAsync();
        }

        Assert.Equal([2, 4], h.Log.Started.Select(b => b.Rows));
        Assert.False(queued[4].Task.IsCompleted);
        h.Manual.Advance(LongDelay);
        await queued[4].AssertSucceededAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EnqueueAsync_TwoInstancesFirstRequestSlow_PreserveOrderingHoldsLaterResult(bool preserveOrdering)
    {
        using var gate = new ManualResetEventSlim();
        var options = Options(1, TimeSpan.Zero, o => { o.InstanceCount = 2; o.PreserveOrdering = preserveOrdering; });
        await using var h = await Harness(options);
        h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };

        var first = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");
        var second = h.Submit(1);
        await BatcherHarness.EventuallyAsync(() => h.Log.Finished.Any(b => b.Inputs[0] == 1), "second request run");

        if (preserveOrdering)
        {
            await BatcherHarness.NegativeWindowAsync(); // Give a wrongly released result the chance to show.
            Assert.False(second.Task.IsCompleted);
            Assert.False(first.Task.IsCompleted);
        }
        else
        {
            await second.AssertSucceededAsync();
            Assert.False(first.Task.IsCompleted);
        }

        gate.Set();
        await first.AssertSucceededAsync();
        await second.AssertSucceededAsync();
        Assert.Equal(2, h.Log.Started.Select(b => b.Instance).Distinct().Count());
    }

    [Fact]
    public async Task EnqueueAsync_PreserveOrderingWithBatches_AllCompleteWithOwnOutputs()
    {
        var options = Options(4, TimeSpan.FromMilliseconds(0.1), o => { o.InstanceCount = 2; o.PreserveOrdering = true; o.MaxQueueSize = 512; });
        await using var h = await Harness(options, time: TimeProvider.System);
        var submissions = Enumerable.Range(0, 200).Select(i => h.Submit(i, rows: 1 + (i % 2))).ToList();
        foreach (var s in submissions)
        {
            await s.AssertSucceededAsync();
        }

        Assert.Equal(300, h.Log.Started.Sum(b => b.Rows));
    }

    [Fact]
    public async Task EnqueueAsync_DeadlinePassesWhileInstancesBusy_FailsPromptlyWithoutRunning()
    {
        using var gate = new ManualResetEventSlim();
        await using var h = await Harness(Options(1, TimeSpan.Zero));
        h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");

        var expiring = h.Submit(7, deadline: h.Batcher.GetDeadline(TimeSpan.FromMilliseconds(5)));
        var patient = h.Submit(8);
        Assert.Equal(2, h.Batcher.QueueDepth);
        h.Manual.Advance(TimeSpan.FromMilliseconds(5));
        await expiring.AssertFailedAsync(BatchFailureReason.DeadlineExceeded);
        Assert.False(running.Task.IsCompleted);
        Assert.Equal(1, h.Batcher.QueueDepth);

        gate.Set();
        await running.AssertSucceededAsync();
        await patient.AssertSucceededAsync();
        Assert.DoesNotContain(7f, h.Log.AllInputs);
    }

    [Fact]
    public async Task EnqueueAsync_PreserveOrderingQueuedRequestExpires_AnsweredAtOnceWithoutBlockingLaterOnes()
    {
        using var gate = new ManualResetEventSlim();
        await using var h = await Harness(Options(1, TimeSpan.Zero, o => o.PreserveOrdering = true));
        h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");
        var expiring = h.Submit(1, deadline: h.Batcher.GetDeadline(TimeSpan.FromMilliseconds(1)));
        var later = h.Submit(2);

        h.Manual.Advance(TimeSpan.FromMilliseconds(1));
        await expiring.AssertFailedAsync(BatchFailureReason.DeadlineExceeded);
        Assert.False(running.Task.IsCompleted);

        gate.Set();
        await running.AssertSucceededAsync();
        await later.AssertSucceededAsync();
    }

    [Fact]
    public async Task GetDeadline_Infinite_MeansNoDeadline()
    {
        await using var h = await Harness(Options(8, TimeSpan.FromMilliseconds(2), o => o.DefaultTimeout = TimeSpan.FromMilliseconds(1)));
        Assert.Equal(long.MaxValue, h.Batcher.GetDeadline(Timeout.InfiniteTimeSpan));
        var s = h.Submit(1, deadline: long.MaxValue);
        await h.TimerArmedAsync(h.Manual.GetTimestamp() + TimeSpan.FromMilliseconds(2).Ticks);
        h.Manual.Advance(TimeSpan.FromMilliseconds(1)); // The default timeout would expire it here.
        h.Manual.Advance(TimeSpan.FromMilliseconds(1));
        await s.AssertSucceededAsync();
    }

    [Fact]
    public async Task EnqueueAsync_DefaultTimeoutPasses_FailsWithDeadlineExceeded()
    {
        await using var h = await Harness(Options(8, LongDelay, o => o.DefaultTimeout = TimeSpan.FromMilliseconds(3)));
        var s = h.Submit(1);
        await h.TimerArmedAsync(h.Manual.GetTimestamp() + TimeSpan.FromMilliseconds(3).Ticks);
        h.Manual.Advance(TimeSpan.FromMilliseconds(3));
        await s.AssertFailedAsync(BatchFailureReason.DeadlineExceeded);
        Assert.Empty(h.Log.Started);
    }

    [Fact]
    public async Task EnqueueAsync_DeadlineAlreadyPassed_RejectedAtOnce()
    {
        await using var h = await Harness(Options(8, LongDelay));
        var s = h.Submit(1, deadline: h.Manual.GetTimestamp());
        Assert.True(s.Task.IsCompleted);
        await s.AssertFailedAsync(BatchFailureReason.DeadlineExceeded);
    }

    [Fact]
    public async Task EnqueueAsync_CancelledWhileQueued_RemovedPromptlyAndNeverRun()
    {
        await using var h = await Harness(Options(8, LongDelay));
        using var cts = new CancellationTokenSource();
        var cancelled = h.Submit(99, cancellationToken: cts.Token);
        Assert.Equal(1, h.Batcher.QueueDepth);

        cts.Cancel();
        await cancelled.AssertFailedAsync(BatchFailureReason.Cancelled);
        Assert.Equal(0, h.Batcher.QueueDepth);

        var others = Enumerable.Range(0, 8).Select(i => h.Submit(i)).ToList();
        foreach (var s in others)
        {
            await s.AssertSucceededAsync();
        }

        Assert.Equal(8, Assert.Single(h.Log.Started).Rows);
        Assert.DoesNotContain(99f, h.Log.AllInputs);
    }

    [Fact]
    public async Task EnqueueAsync_TokenAlreadyCancelled_RejectedAtOnce()
    {
        await using var h = await Harness(Options(8, LongDelay));
        var s = h.Submit(1, cancellationToken: new CancellationToken(canceled: true));
        Assert.True(s.Task.IsCompleted);
        await s.AssertFailedAsync(BatchFailureReason.Cancelled);
    }

    [Fact]
    public async Task EnqueueAsync_PooledRequestReused_OldTokenNoLongerCancelsIt()
    {
        await using var h = await Harness(Options(1, TimeSpan.Zero));
        using var oldCts = new CancellationTokenSource();
        var first = h.Submit(1, cancellationToken: oldCts.Token);
        await first.AssertSucceededAsync();

        using var gate = new ManualResetEventSlim();
        h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };
        var blocker = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 2, "blocker running");
        h.Batcher.ReturnRequest(first.Request);
        var second = h.Submit(2);
        Assert.Same(first.Request, second.Request);

        oldCts.Cancel(); // Its registration was disposed with the first request: no effect on the second.
        gate.Set();
        await blocker.AssertSucceededAsync();
        await second.AssertSucceededAsync();
    }

    [Fact]
    public async Task EnqueueAsync_QueueFull_RejectsImmediately()
    {
        using var gate = new ManualResetEventSlim();
        await using var h = await Harness(Options(1, TimeSpan.Zero, o => o.MaxQueueSize = 2));
        h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");
        var queued = new[] { h.Submit(1), h.Submit(2) };

        var rejected = h.Submit(3);
        Assert.True(rejected.Task.IsCompleted);
        await rejected.AssertFailedAsync(BatchFailureReason.QueueFull);

        gate.Set();
        await running.AssertSucceededAsync();
        foreach (var s in queued)
        {
            await s.AssertSucceededAsync();
        }
    }

    [Fact]
    public async Task EnqueueAsync_RunnerThrowsOnce_OnlyThatBatchFails()
    {
        await using var h = await Harness(Options(1, TimeSpan.Zero));
        var thrown = 0;
        h.Log.OnRun = _ =>
        {
            if (Interlocked.Increment(ref thrown) == 1)
            {
                throw new InvalidOperationException("ORT says no");
            }
        };

        var failed = h.Submit(1);
        var result = await failed.ResultAsync();
        Assert.Equal(BatchFailureReason.ExecutionFailed, result.Reason);
        Assert.Equal("ORT says no", result.Message);
        var ex = Assert.Throws<BatchingException>(result.ThrowIfFailed);
        Assert.Equal(BatchFailureReason.ExecutionFailed, ex.Reason);

        await h.Submit(2).AssertSucceededAsync();
    }

    [Fact]
    public async Task EnqueueAsync_MultiRowRequestsShareABatch_OutputsSlicedToEachCaller()
    {
        await using var h = await Harness(Options(6, LongDelay), rowShape: [3]);
        var submissions = new[] { h.Submit(10, rows: 1), h.Submit(20, rows: 2), h.Submit(30, rows: 3) };
        foreach (var s in submissions)
        {
            await s.AssertSucceededAsync();
        }

        var batch = Assert.Single(h.Log.Started);
        Assert.Equal(6, batch.Rows);
        Assert.Equal(submissions.SelectMany(s => s.Input), batch.Inputs);
        Assert.Equal(2 * 3 * sizeof(float), submissions[1].Request.GetOutputLength(0));
    }

    [Fact]
    public async Task EnqueueAsync_RequestDoesNotFitRemainingRows_EndsTheBatch()
    {
        await using var h = await Harness(Options(4, LongDelay));
        var submissions = new[] { h.Submit(1, rows: 3), h.Submit(2, rows: 2), h.Submit(3, rows: 2) };
        await submissions[0].AssertSucceededAsync();
        await submissions[1].AssertSucceededAsync();
        await submissions[2].AssertSucceededAsync();
        Assert.Equal([3, 4], h.Log.Started.Select(b => b.Rows));
    }

    [Fact]
    public async Task EnqueueAsync_VariableRowShapes_OnlyIdenticalShapesShareABatch()
    {
        var delay = TimeSpan.FromMilliseconds(10);
        await using var h = await Harness(Options(8, delay), rowShape: [-1]);
        var start = h.Manual.GetTimestamp();
        var a1 = h.Submit(1, shape: [2]);
        var b1 = h.Submit(2, shape: [3]);
        var a2 = h.Submit(3, shape: [2]);
        await h.TimerArmedAsync(start + delay.Ticks);

        h.Manual.Advance(delay);
        foreach (var s in new[] { a1, b1, a2 })
        {
            await s.AssertSucceededAsync();
        }

        Assert.Collection(
            h.Log.Started,
            b => { Assert.Equal(2, b.Rows); Assert.Equal([2], b.RowShape); Assert.Equal(a1.Input.Concat(a2.Input), b.Inputs); },
            b => { Assert.Equal(1, b.Rows); Assert.Equal([3], b.RowShape); });
        Assert.Equal([3], b1.Request.GetOutputRowShape(0).ToArray());
        Assert.Equal(3 * sizeof(float), b1.Request.GetOutputLength(0));
    }

    [Fact]
    public async Task EnqueueAsync_VariableShapeWithoutRowShape_InvalidInput()
    {
        await using var h = await Harness(Options(8, LongDelay), rowShape: [-1]);
        var request = h.Batcher.RentRequest();
        request.SetInput(0, new byte[8]);
        request.SetOutput(0, new byte[8]);
        var result = await h.Batcher.EnqueueAsync(request);
        Assert.Equal(BatchFailureReason.InvalidInput, result.Reason);
        Assert.Contains("row shape is required", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnqueueAsync_WrongInputLength_InvalidInputNamingTheTensor()
    {
        await using var h = await Harness(Options(8, LongDelay));
        var request = h.Batcher.RentRequest();
        request.SetInput(0, new byte[7]);
        request.SetOutput(0, new byte[8]);
        var result = await h.Batcher.EnqueueAsync(request);
        Assert.Equal(BatchFailureReason.InvalidInput, result.Reason);
        Assert.Contains("'x'", result.Message, StringComparison.Ordinal);
        Assert.Equal(0, h.Batcher.QueueDepth);
    }

    [Fact]
    public async Task EnqueueAsync_Priorities_HigherLevelServedFirst()
    {
        using var gate = new ManualResetEventSlim();
        await using var h = await Harness(Options(1, TimeSpan.Zero, o => { o.PriorityLevels = 2; o.DefaultPriority = 2; }));
        h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");

        var low = h.Submit(1);              // default priority: level 2
        var clamped = h.Submit(2, priority: 9); // beyond the levels: lowest
        var high = h.Submit(3, priority: 1);
        gate.Set();
        foreach (var s in new[] { running, low, clamped, high })
        {
            await s.AssertSucceededAsync();
        }

        Assert.Equal([0f, 3, 1, 2], h.Log.Started.Select(b => b.Inputs[0]));
    }

    [Fact]
    public async Task DisposeAsync_QueuedWork_RunsItWithoutWaitingForDelayThenRejects()
    {
        var h = await Harness(Options(8, LongDelay));
        var submissions = Enumerable.Range(0, 3).Select(i => h.Submit(i)).ToList();

        await h.DisposeAsync();
        foreach (var s in submissions)
        {
            await s.AssertSucceededAsync();
        }

        Assert.Equal(3, Assert.Single(h.Log.Started).Rows);
        await h.Submit(5).AssertFailedAsync(BatchFailureReason.ShuttingDown);
    }

    [Fact]
    public async Task DrainAsync_TimeoutWhileBatchRuns_FailsQueuedAndReturnsFalse()
    {
        using var gate = new ManualResetEventSlim();
        await using var h = await Harness(Options(1, TimeSpan.Zero));
        h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");
        var queued = h.Submit(1);

        var drain = h.Batcher.DrainAsync(TimeSpan.FromSeconds(1));
        await h.TimerArmedAsync(h.Manual.GetTimestamp() + TimeSpan.FromSeconds(1).Ticks);
        h.Manual.Advance(TimeSpan.FromSeconds(1));
        Assert.False(await drain.WaitAsync(BatcherHarness.Timeout));
        await queued.AssertFailedAsync(BatchFailureReason.ShuttingDown);

        gate.Set();
        await running.AssertSucceededAsync();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task EnqueueAsync_BatchingOff_EachRequestRunsAlone(int maxBatchSize)
    {
        using var gate = new ManualResetEventSlim();
        await using var h = await Harness(Options(maxBatchSize, LongDelay));
        h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };
        var submissions = Enumerable.Range(0, 5).Select(i => h.Submit(i)).ToList();
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");
        gate.Set();
        foreach (var s in submissions)
        {
            await s.AssertSucceededAsync();
        }

        Assert.Equal(5, h.Log.Started.Count);
        Assert.All(h.Log.Started, b => Assert.Equal(1, b.Rows));

        var twoRows = h.Submit(9, rows: 2);
        await twoRows.AssertFailedAsync(BatchFailureReason.InvalidInput);
    }

    [Fact]
    public async Task ReturnRequest_WhileQueued_Throws()
    {
        await using var h = await Harness(Options(8, LongDelay));
        var s = h.Submit(1);
        Assert.Throws<InvalidOperationException>(() => h.Batcher.ReturnRequest(s.Request));
        h.Manual.Advance(LongDelay);
        await s.AssertSucceededAsync();
        h.Batcher.ReturnRequest(s.Request);
        Assert.Same(s.Request, h.Batcher.RentRequest());
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsListingEveryProblem()
    {
        var options = new BatchingOptions { MaxBatchSize = 4, PreferredBatchSizes = [8], InstanceCount = 0 };
        var ex = Assert.Throws<ArgumentException>(() => new BatcherHarness(options));
        Assert.Contains("PreferredBatchSizes", ex.Message, StringComparison.Ordinal);
        Assert.Contains("InstanceCount", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class DynamicBatcherFixedDelayTests : DynamicBatcherTests
{
    protected override BatchingPolicy Policy => BatchingPolicy.FixedDelay;
}

public sealed class DynamicBatcherAdaptiveTests : DynamicBatcherTests
{
    protected override BatchingPolicy Policy => BatchingPolicy.Adaptive;
}
