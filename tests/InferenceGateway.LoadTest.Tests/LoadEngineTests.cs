using System.Diagnostics;
using InferenceGateway.LoadTest.Engine;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace InferenceGateway.LoadTest.Tests;

public sealed class LoadEngineTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task RunStepAsync_ClosedLoopRequestCount_SendsExactlyThatMany()
    {
        var target = new CountingTarget(_ => RequestOutcome.Ok);
        var options = new LoadStepOptions { Mode = LoadMode.Closed, Concurrency = 4, Requests = 1000, Warmup = TimeSpan.Zero };

        StepResult result = await LoadEngine.RunStepAsync(target, options, null, CancellationToken.None).WaitAsync(TestTimeout);

        Assert.Equal(1000, result.Successes);
        Assert.Equal(0, result.Errors);
        Assert.Equal(1000, target.Calls);
        Assert.Equal(1000, result.Latency.TotalCount);
        Assert.True(result.Throughput > 0);
    }

    [Fact]
    public async Task RunStepAsync_MixedStatuses_CountedByCode()
    {
        var target = new CountingTarget(i => (i % 10) switch
        {
            0 => new RequestOutcome(OutcomeCodes.Unavailable),
            1 => new RequestOutcome(OutcomeCodes.Internal),
            2 => throw new InvalidOperationException("boom"),
            _ => RequestOutcome.Ok,
        });
        var options = new LoadStepOptions { Mode = LoadMode.Closed, Concurrency = 3, Requests = 1000, Warmup = TimeSpan.Zero };

        StepResult result = await LoadEngine.RunStepAsync(target, options, null, CancellationToken.None).WaitAsync(TestTimeout);

        Assert.Equal(700, result.Successes);
        Assert.Equal(100, result.CountsByCode[OutcomeCodes.Unavailable]);
        Assert.Equal(100, result.CountsByCode[OutcomeCodes.Internal]);
        Assert.Equal(100, result.CountsByCode[OutcomeCodes.ClientError]);
        Assert.Equal(300, result.Errors);
        Assert.Contains(new KeyValuePair<string, long>("UNAVAILABLE", 100), result.ErrorsByName());
        Assert.Contains(new KeyValuePair<string, long>("client_error", 100), result.ErrorsByName());

        // Latency covers successes only.
        Assert.Equal(700, result.Latency.TotalCount);
    }

    [Fact]
    public async Task RunStepAsync_ErrorsOnlyDuringWarmup_NotRecorded()
    {
        // The target fails every call in its first 300 ms; the step's 800 ms warm-up covers them all, whatever the
        // scheduler does, because the target's clock starts before the step's.
        var target = new FailsAtFirstTarget(TimeSpan.FromMilliseconds(300));
        var options = new LoadStepOptions
        {
            Mode = LoadMode.Closed,
            Concurrency = 2,
            Warmup = TimeSpan.FromMilliseconds(800),
            Duration = TimeSpan.FromSeconds(2), // a fresh-clone run once completed no call in a 600 ms window
        };

        StepResult result = await LoadEngine.RunStepAsync(target, options, null, CancellationToken.None).WaitAsync(TestTimeout);

        Assert.True(target.EarlyFailures > 0, "the target failed no call during warm-up, so the test shows nothing");
        Assert.Equal(0, result.Errors);
        Assert.True(result.Successes > 0);
        Assert.Equal(result.Successes, result.Latency.TotalCount);
        Assert.InRange(result.Elapsed.TotalSeconds, 1.9, 10);
    }

    [Fact]
    public async Task RunStepAsync_OpenLoopStalledTarget_TailShowsStallWhileClosedLoopHidesIt()
    {
        // The server stalls every request for the window 0.5 s .. 1.0 s of a 2 s run.
        var open = new LoadStepOptions { Mode = LoadMode.Open, Rate = 200, Duration = TimeSpan.FromSeconds(2), Warmup = TimeSpan.Zero };
        var closed = new LoadStepOptions { Mode = LoadMode.Closed, Concurrency = 2, Duration = TimeSpan.FromSeconds(2), Warmup = TimeSpan.Zero };

        StepResult openResult = await LoadEngine.RunStepAsync(new StallingTarget(), open, null, CancellationToken.None).WaitAsync(TestTimeout);
        StepResult closedResult = await LoadEngine.RunStepAsync(new StallingTarget(), closed, null, CancellationToken.None).WaitAsync(TestTimeout);

        const long stallNanos = 500_000_000;
        const long quarterStall = stallNanos / 4;

        // Open loop: requests due during the stall wait for it, so latencies from ~0 to ~500 ms are recorded,
        // about a quarter of the requests (the stall is a quarter of the run).
        Assert.True(openResult.Latency.Max >= stallNanos * 0.8, $"open max {openResult.Latency.Max / 1e6} ms");
        Assert.True(openResult.Latency.GetValueAtPercentile(99) >= stallNanos * 0.7, $"open p99 {openResult.LatencyMs(99)} ms");
        double openShare = openResult.Latency.CountAtOrAbove(quarterStall) / (double)openResult.Latency.TotalCount;
        Assert.True(openShare >= 0.10, $"open share >= 125 ms: {openShare:P1}");
        Assert.InRange(openResult.Successes, 300, 450);

        // Closed loop: each worker waits out the stall once, so the stall is one sample per worker among many.
        // The count of fast samples depends on the timer (Task.Delay(1) is 1-15 ms on a busy host), so percentiles
        // are not compared: with 200 samples the two stalled ones are the p99 (a CI run saw exactly that).
        Assert.True(closedResult.Latency.Max >= stallNanos * 0.5, $"closed max {closedResult.Latency.Max / 1e6} ms");
        long closedStalled = closedResult.Latency.CountAtOrAbove(quarterStall);
        Assert.InRange(closedStalled, 1, closed.Concurrency * 2); // once per worker, with slack for a scheduler pause
        double closedShare = closedStalled / (double)closedResult.Latency.TotalCount;
        Assert.True(closedShare < openShare / 5, $"closed share {closedShare:P2} vs open {openShare:P1}");
    }

    [Fact]
    public async Task RunStepAsync_OpenLoopInFlightBoundReached_DropsCountedAsErrors()
    {
        var target = new DelayTarget(TimeSpan.FromMilliseconds(300));
        var options = new LoadStepOptions
        {
            Mode = LoadMode.Open,
            Rate = 200,
            MaxInFlight = 5,
            Duration = TimeSpan.FromSeconds(1),
            Warmup = TimeSpan.Zero,
        };

        StepResult result = await LoadEngine.RunStepAsync(target, options, null, CancellationToken.None).WaitAsync(TestTimeout);

        Assert.True(result.Dropped > 100, $"dropped {result.Dropped}");
        Assert.True(result.Successes > 0);
        Assert.True(target.MaxConcurrent <= 5, $"max concurrent {target.MaxConcurrent}");
        Assert.Contains(result.ErrorsByName(), e => e.Key == "dropped");
    }

    [Fact]
    public async Task RunStepAsync_OpenLoopRequestCount_StopsAtCount()
    {
        var target = new CountingTarget(_ => RequestOutcome.Ok);
        var options = new LoadStepOptions { Mode = LoadMode.Open, Rate = 1000, Requests = 200, Warmup = TimeSpan.Zero, Arrival = ArrivalProcess.Poisson };

        StepResult result = await LoadEngine.RunStepAsync(target, options, null, CancellationToken.None).WaitAsync(TestTimeout);

        Assert.Equal(200, result.Successes + result.Errors);
        Assert.Equal(200, target.Calls);
        Assert.NotNull(result.SendLag);
    }

    [Fact]
    public async Task RunStepAsync_TargetNeverAnswers_StopsAfterDrainTimeout()
    {
        var target = new HangingTarget();
        var options = new LoadStepOptions
        {
            Mode = LoadMode.Closed,
            Concurrency = 2,
            Duration = TimeSpan.FromSeconds(1),
            Warmup = TimeSpan.Zero,
            DrainTimeout = TimeSpan.FromMilliseconds(300),
        };
        var watch = Stopwatch.StartNew();

        StepResult result = await LoadEngine.RunStepAsync(target, options, null, CancellationToken.None).WaitAsync(TestTimeout);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Equal(0, result.Successes);
        Assert.Equal(2, result.CountsByCode[OutcomeCodes.Cancelled]);
    }

    [Fact]
    public async Task RunStepAsync_Progress_ReportedAboutOncePerSecond()
    {
        var snapshots = new List<ProgressSnapshot>();
        // 2.5 s leaves room for the 1 s and 2 s ticks: on a loaded 2-core machine a timer can fire a few hundred ms late,
        // and a step of 1.2 s then ended before its only tick (seen once in make test).
        var options = new LoadStepOptions { Mode = LoadMode.Closed, Concurrency = 1, Duration = TimeSpan.FromSeconds(2.5), Warmup = TimeSpan.Zero };

        await LoadEngine.RunStepAsync(new DelayTarget(TimeSpan.FromMilliseconds(1)), options, s => { lock (snapshots) { snapshots.Add(s); } }, CancellationToken.None)
            .WaitAsync(TestTimeout);

        Assert.NotEmpty(snapshots);
        Assert.Equal("measure", snapshots[^1].Phase);
        Assert.True(snapshots[^1].StepElapsed > TimeSpan.Zero);
    }

    [Fact]
    public void Validate_BadSettings_Throws()
    {
        Assert.Throws<ArgumentException>(() => new LoadStepOptions { Concurrency = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new LoadStepOptions { Mode = LoadMode.Open, Rate = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new LoadStepOptions { Duration = TimeSpan.Zero, Requests = 0 }.Validate());
    }

    private sealed class CountingTarget(Func<long, RequestOutcome> outcome) : ILoadTarget
    {
        private long _calls;

        public long Calls => Interlocked.Read(ref _calls);

        public string Description => "counting";

        public ValueTask<RequestOutcome> SendAsync(CancellationToken cancellationToken)
        {
            long i = Interlocked.Increment(ref _calls) - 1;
            return ValueTask.FromResult(outcome(i));
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class DelayTarget(TimeSpan delay) : ILoadTarget
    {
        private long _calls;
        private int _current;
        private int _max;

        public long Calls => Interlocked.Read(ref _calls);

        public int MaxConcurrent => Volatile.Read(ref _max);

        public string Description => "delay";

        public async ValueTask<RequestOutcome> SendAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            int now = Interlocked.Increment(ref _current);
            int seen;
            while (now > (seen = Volatile.Read(ref _max)) && Interlocked.CompareExchange(ref _max, now, seen) != seen)
            {
            }

            try
            {
                await Task.Delay(delay, cancellationToken);
                return RequestOutcome.Ok;
            }
            finally
            {
                Interlocked.Decrement(ref _current);
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class FailsAtFirstTarget(TimeSpan failFor) : ILoadTarget
    {
        private readonly long _origin = Stopwatch.GetTimestamp();
        private long _earlyFailures;

        public long EarlyFailures => Interlocked.Read(ref _earlyFailures);

        public string Description => "fails at first";

        public async ValueTask<RequestOutcome> SendAsync(CancellationToken cancellationToken)
        {
            bool early = Stopwatch.GetElapsedTime(_origin) < failFor;
            await Task.Delay(1, cancellationToken);
            if (early)
            {
                Interlocked.Increment(ref _earlyFailures);
                return new RequestOutcome(OutcomeCodes.Internal);
            }

            return RequestOutcome.Ok;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>Answers in ~1 ms, except that every request arriving 0.5 s .. 1.0 s after the first waits until 1.0 s.</summary>
    private sealed class StallingTarget : ILoadTarget
    {
        private static readonly TimeSpan StallStart = TimeSpan.FromMilliseconds(500);
        private static readonly TimeSpan StallEnd = TimeSpan.FromMilliseconds(1000);
        private long _origin;

        public string Description => "stalling";

        public async ValueTask<RequestOutcome> SendAsync(CancellationToken cancellationToken)
        {
            Interlocked.CompareExchange(ref _origin, Stopwatch.GetTimestamp(), 0);
            TimeSpan now = Stopwatch.GetElapsedTime(Interlocked.Read(ref _origin));
            if (now >= StallStart && now < StallEnd)
            {
                await Task.Delay(StallEnd - now, cancellationToken);
            }
            else
            {
                await Task.Delay(1, cancellationToken);
            }

            return RequestOutcome.Ok;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class HangingTarget : ILoadTarget
    {
        public string Description => "hanging";

        public async ValueTask<RequestOutcome> SendAsync(CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return RequestOutcome.Ok;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
