using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using InferenceGateway.Core.Routing;
using InferenceGateway.Core.Tests.Batching;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.Core.Tests.Routing;

/// <summary>The shadow lanes: bounded queue, bounded concurrency, deadlines, failures contained, drain on stop.</summary>
public sealed class ShadowDispatcherTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly Meter _meter = new("InferenceGateway.Tests.Shadows." + Guid.NewGuid().ToString("N"));
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, Dictionary<string, object?> Tags)> _measurements = new();

    public ShadowDispatcherTests()
    {
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, _meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, _, tags, _) => _measurements.Enqueue((i.Name, ToDictionary(tags))));
        _listener.SetMeasurementEventCallback<double>((i, _, tags, _) => _measurements.Enqueue((i.Name, ToDictionary(tags))));
        _listener.Start();
    }

    public void Dispose()
    {
        _listener.Dispose();
        _meter.Dispose();
    }

    [Fact]
    public async Task TryDispatch_QueueFull_DropsCountsAndReleasesWithoutWaiting()
    {
        await using var dispatcher = Create(queue: 2, concurrency: 1);
        var target = Target(timeoutMs: 30_000);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var works = Enumerable.Range(0, 10).Select(_ => new GatedWork(gate.Task)).ToArray();

        var first = dispatcher.TryDispatch(target, works[0]);
        await Eventually(() => works[0].Started, "the first copy runs");
        var accepted = works.Skip(1).Count(w => dispatcher.TryDispatch(target, w));

        Assert.True(first);
        Assert.Equal(2, accepted); // the queue's capacity; the other 7 were dropped at once
        Assert.Equal(7, works.Count(w => w.Released && !w.Started));
        Assert.Equal(7, Count("gateway.shadow.dropped", ("reason", "queue_full")));

        gate.SetResult();
        await Eventually(() => works.All(w => w.Released), "every copy released");
        Assert.Equal(3, works.Count(w => w.Started));
    }

    [Fact]
    public async Task TryDispatch_QueueAheadWouldOutlastTheDeadline_DroppedInsteadOfStartedLate()
    {
        // On a virtual clock: the lane's latency is what the clock says a call took, exactly 150 ms, not what a
        // Task.Delay(150) took on a busy host (issue 25: no wall-clock counting in unit tests).
        var clock = new ManualTimeProvider();
        await using var dispatcher = Create(queue: 10, concurrency: 1, clock);
        var target = Target(timeoutMs: 200);
        var slow = new DelegateWork(token =>
        {
            clock.Advance(TimeSpan.FromMilliseconds(150)); // the lane learns that its calls take 150 ms
            return ValueTask.FromResult(ShadowOutcome.Ok);
        });
        Assert.True(dispatcher.TryDispatch(target, slow));
        await Eventually(() => slow.Released, "the slow copy ends");

        // The gated copies' deadlines are on the virtual clock and never pass: open the gate whatever happens, or a
        // failed assertion would leave the dispatcher's disposal waiting for them for ever.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            var running = new GatedWork(gate.Task);
            Assert.True(dispatcher.TryDispatch(target, running)); // an empty queue always takes a copy
            await Eventually(() => running.Started, "the next copy runs");
            var queued = new GatedWork(gate.Task);
            Assert.True(dispatcher.TryDispatch(target, queued));

            // One copy queued ahead of 150 ms calls, one at a time: a third would wait 150 ms, then need 150 ms more,
            // past its 200 ms deadline. It is dropped now rather than started to fail (10 slots would have taken it before).
            var late = new GatedWork(gate.Task);
            Assert.False(dispatcher.TryDispatch(target, late));
            Assert.True(late.Released && !late.Started);
            Assert.Equal(1, Count("gateway.shadow.dropped", ("reason", "queue_full")));
            gate.SetResult();
            await Eventually(() => queued.Released, "the queued copy ends");
        }
        finally
        {
            gate.TrySetResult();
        }
    }

    [Fact]
    public async Task Run_ConcurrencyLimit_NeverExceeded()
    {
        await using var dispatcher = Create(queue: 100, concurrency: 3);
        var target = Target(timeoutMs: 30_000);
        var running = 0;
        var most = 0;
        var works = Enumerable.Range(0, 30).Select(_ => new DelegateWork(async token =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            await Task.Delay(5, token);
            Interlocked.Decrement(ref running);
            return ShadowOutcome.Ok;
        })).ToArray();
        foreach (var w in works)
        {
            Assert.True(dispatcher.TryDispatch(target, w));
        }

        await Eventually(() => works.All(w => w.Released), "all copies ran");
        Assert.InRange(most, 1, 3);
        Assert.Equal(30, Count("gateway.shadow.sent"));
        Assert.Equal(0, Count("gateway.shadow.failed"));
    }

    [Fact]
    public async Task Run_HangingTarget_DeadlineFailsTheCopyAndFreesTheSlot()
    {
        await using var dispatcher = Create(queue: 10, concurrency: 1);
        var target = Target(timeoutMs: 50);
        var hanging = new DelegateWork(async token =>
        {
            await Task.Delay(System.Threading.Timeout.Infinite, token);
            return ShadowOutcome.Ok;
        });
        var next = new DelegateWork(_ => ValueTask.FromResult(ShadowOutcome.Ok));

        Assert.True(dispatcher.TryDispatch(target, hanging));
        await Eventually(() => hanging.Released, "the hanging copy ends at its deadline");
        Assert.True(dispatcher.TryDispatch(target, next));
        await Eventually(() => next.Released, "the lane serves the next copy");
        Assert.Equal(1, Count("gateway.shadow.failed", ("status", "DeadlineExceeded")));
    }

    [Fact]
    public async Task Run_ThrowingTarget_CountedAsFailedAndLaneKeepsServing()
    {
        await using var dispatcher = Create(queue: 10, concurrency: 1);
        var target = Target(timeoutMs: 30_000);
        var throwing = new DelegateWork(_ => throw new InvalidOperationException("boom"));
        var failing = new DelegateWork(_ => ValueTask.FromResult(new ShadowOutcome(14, "unavailable")));
        var ok = new DelegateWork(_ => ValueTask.FromResult(ShadowOutcome.Ok));

        Assert.True(dispatcher.TryDispatch(target, throwing));
        Assert.True(dispatcher.TryDispatch(target, failing));
        Assert.True(dispatcher.TryDispatch(target, ok));
        await Eventually(() => ok.Released && throwing.Released && failing.Released, "all three ran");
        Assert.Equal(1, Count("gateway.shadow.failed", ("status", "Unknown")));
        Assert.Equal(1, Count("gateway.shadow.failed", ("status", "Unavailable")));
    }

    [Fact]
    public async Task StopAsync_QueuedCopies_RunBeforeItReturnsThenNewOnesAreDropped()
    {
        var dispatcher = Create(queue: 50, concurrency: 2);
        var target = Target(timeoutMs: 30_000);
        var works = Enumerable.Range(0, 20).Select(_ => new DelegateWork(async token =>
        {
            await Task.Delay(2, token);
            return ShadowOutcome.Ok;
        })).ToArray();
        foreach (var w in works)
        {
            Assert.True(dispatcher.TryDispatch(target, w));
        }

        await dispatcher.StopAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.All(works, w => Assert.True(w.Started && w.Released));
        var late = new DelegateWork(_ => ValueTask.FromResult(ShadowOutcome.Ok));
        Assert.False(dispatcher.TryDispatch(target, late));
        Assert.True(late.Released);
        Assert.Equal(1, Count("gateway.shadow.dropped", ("reason", "stopping")));
        await dispatcher.DisposeAsync();
    }

    private ShadowDispatcher Create(int queue, int concurrency, TimeProvider? time = null) => new(
        new ShadowOptions { QueueCapacity = queue, MaxConcurrency = concurrency },
        new ExperimentMetrics(_meter),
        time ?? TimeProvider.System,
        NullLogger<ShadowDispatcher>.Instance);

    private static ShadowTarget Target(int timeoutMs)
    {
        var experiment = Experiments.Build(new ExperimentDefinition
        {
            Arms = [new ArmDefinition { Name = "control", Version = "1", Weight = 1 }],
            Salt = "s",
            Shadows = [new ShadowDefinition { Version = "2", TimeoutMs = timeoutMs }],
        });
        return experiment.Shadows[0];
    }

    private int Count(string instrument, params (string Key, string Value)[] tags) =>
        _measurements.Count(m => m.Instrument == instrument && tags.All(t => Equals(m.Tags.GetValueOrDefault(t.Key), t.Value)));

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "timed out waiting until " + what);
            await Task.Delay(5);
        }
    }

    private static void InterlockedMax(ref int location, int value)
    {
        int current;
        while ((current = Volatile.Read(ref location)) < value && Interlocked.CompareExchange(ref location, value, current) != current)
        {
        }
    }

    private static Dictionary<string, object?> ToDictionary(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var result = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            result[tag.Key] = tag.Value;
        }

        return result;
    }

    private class DelegateWork(Func<CancellationToken, ValueTask<ShadowOutcome>> run) : ShadowWork
    {
        public volatile bool Started;
        public volatile bool Released;

        public override ValueTask<ShadowOutcome> RunAsync(ShadowTarget target, TimeSpan remaining, CancellationToken cancellationToken)
        {
            Started = true;
            return run(cancellationToken);
        }

        public override void Release() => Released = true;
    }

    private sealed class GatedWork(Task gate) : DelegateWork(async token =>
    {
        await gate.WaitAsync(token);
        return ShadowOutcome.Ok;
    });
}
