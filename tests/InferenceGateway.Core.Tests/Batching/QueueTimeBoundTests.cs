using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Tests.Batching;

/// <summary>
/// <see cref="BatchingOptions.MaxQueueTime"/>: a request that finds more work queued ahead of it than the model runs in
/// that time (or than its deadline leaves) is refused at once as <see cref="BatchFailureReason.Overloaded"/>. On the
/// virtual clock: the fake runner advances it by 1 ms per row it runs, so the batcher's cost per row is exactly 1 ms
/// and every threshold below is exact.
/// </summary>
public sealed class QueueTimeBoundTests
{
    private static readonly TimeSpan PerRow = TimeSpan.FromMilliseconds(1);

    private static BatchingOptions Options(int instances = 1, TimeSpan? maxQueueTime = null, Action<BatchingOptions>? configure = null)
    {
        var options = new BatchingOptions
        {
            MaxBatchSize = 4,
            MaxQueueSize = 1000,
            InstanceCount = instances,
            MaxQueueTime = maxQueueTime ?? TimeSpan.FromMilliseconds(10),
            RunOnCallerWhenIdle = false, // the instance threads run everything: the held batches below hold them
        };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>
    /// A harness whose runner costs 1 ms of virtual time per row and holds batches whose first input is 0 until the
    /// returned gate opens. <see cref="DynamicBatcher.MinimumRunCostSamples"/> 4-row batches have run (the costs the
    /// batcher judges by: 1 ms a row, 4 ms a batch) and every instance holds a batch when this returns, so what is
    /// submitted next stays queued.
    /// </summary>
    private static async Task<(BatcherHarness Harness, ManualResetEventSlim Gate, List<Submission> Held)> BusyHarnessAsync(BatchingOptions options, BatcherMetrics? metrics = null)
    {
        var gate = new ManualResetEventSlim();
        var h = new BatcherHarness(options, metrics: metrics);
        h.Log.OnRun = b =>
        {
            if (b.Inputs[0] == 0)
            {
                gate.Wait(BatcherHarness.Timeout);
            }
            else
            {
                h.Manual.Advance(PerRow * b.Rows);
            }
        };

        for (var i = 0; i < DynamicBatcher.MinimumRunCostSamples; i++)
        {
            await h.Submit(-1 - i, rows: 4).AssertSucceededAsync();
        }

        var held = new List<Submission>();
        for (var i = 0; i < options.InstanceCount; i++)
        {
            // An instance folds the cost of its last batch in before it takes the next: once every instance runs a held
            // batch, the cost of the first one is known.
            held.Add(h.Submit(0));
            var started = DynamicBatcher.MinimumRunCostSamples + i + 1;
            await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == started, $"held batch {i + 1} running");
        }

        return (h, gate, held);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task EnqueueAsync_QueueHoldsMoreThanMaxQueueTimeCanRun_RefusedAtOnceAndTheAdmittedAllRun(int instances)
    {
        var (h, gate, held) = await BusyHarnessAsync(Options(instances));
        await using (h)
        using (gate)
        {
            // 10 ms of budget at 1 ms per row over N instances: a request is admitted while at most 10 x N rows wait
            // ahead of it, so 10 x N + 1 one-row requests queue and the next is refused, without waiting.
            var admitted = (10 * instances) + 1;
            var queued = Enumerable.Range(1, admitted).Select(i => h.Submit(i)).ToList();
            Assert.All(queued, s => Assert.False(s.Task.IsCompleted));
            Assert.Equal(admitted, h.Batcher.QueueDepth);

            var refused = h.Submit(1000);
            Assert.True(refused.Task.IsCompleted, "an overloaded batcher answers at once");
            await refused.AssertFailedAsync(BatchFailureReason.Overloaded);
            Assert.Contains("max queue time", (await refused.ResultAsync()).Message, StringComparison.Ordinal);
            Assert.Equal(admitted, h.Batcher.QueueDepth);

            gate.Set();
            foreach (var s in held.Concat(queued))
            {
                await s.AssertSucceededAsync();
            }

            Assert.DoesNotContain(1000f, h.Log.AllInputs);

            // Recovered: with the queue drained, the next request is admitted and runs.
            await h.Submit(2000).AssertSucceededAsync();
        }
    }

    [Fact]
    public async Task EnqueueAsync_DeadlineNearerThanTheQueuedWork_RefusedAtOnceNamingTheDeadline()
    {
        var (h, gate, held) = await BusyHarnessAsync(Options());
        await using (h)
        using (gate)
        {
            var queued = Enumerable.Range(1, 5).Select(i => h.Submit(i)).ToList(); // 5 ms of work queued

            var hopeless = h.Submit(100, deadline: h.Batcher.GetDeadline(TimeSpan.FromMilliseconds(4)));
            var patient = h.Submit(101, deadline: h.Batcher.GetDeadline(TimeSpan.FromMilliseconds(6)));

            Assert.True(hopeless.Task.IsCompleted);
            await hopeless.AssertFailedAsync(BatchFailureReason.Overloaded);
            Assert.Contains("deadline", (await hopeless.ResultAsync()).Message, StringComparison.Ordinal);
            Assert.False(patient.Task.IsCompleted);

            gate.Set();
            foreach (var s in held.Concat(queued).Append(patient))
            {
                await s.AssertSucceededAsync();
            }
        }
    }

    [Fact]
    public async Task EnqueueAsync_HigherPriority_OnlyTheRowsAtItsLevelOrAboveCount()
    {
        var (h, gate, held) = await BusyHarnessAsync(Options(configure: o => { o.PriorityLevels = 2; o.DefaultPriority = 2; }));
        await using (h)
        using (gate)
        {
            var low = Enumerable.Range(1, 11).Select(i => h.Submit(i)).ToList(); // 11 rows at level 2: level 2 is full
            await h.Submit(50).AssertFailedAsync(BatchFailureReason.Overloaded);

            var urgent = h.Submit(60, priority: 1); // nothing queued at level 1
            Assert.False(urgent.Task.IsCompleted);

            gate.Set();
            foreach (var s in held.Append(urgent).Concat(low))
            {
                await s.AssertSucceededAsync();
            }

            Assert.Equal(60f, h.Log.Started.Skip(DynamicBatcher.MinimumRunCostSamples + 1).First().Inputs[0]); // level 1 went first
        }
    }

    [Fact]
    public async Task EnqueueAsync_MaxQueueTimeZero_QueueSizeAloneAdmits()
    {
        var (h, gate, held) = await BusyHarnessAsync(Options(maxQueueTime: TimeSpan.Zero, configure: o => o.MaxQueueSize = 40));
        await using (h)
        using (gate)
        {
            var queued = Enumerable.Range(1, 40).Select(i => h.Submit(i)).ToList();
            Assert.All(queued, s => Assert.False(s.Task.IsCompleted));
            await h.Submit(41).AssertFailedAsync(BatchFailureReason.QueueFull);

            gate.Set();
            foreach (var s in held.Concat(queued))
            {
                await s.AssertSucceededAsync();
            }
        }
    }

    [Fact]
    public async Task EnqueueAsync_NoBatchRunYet_NothingToJudgeBySoQueueSizeAloneAdmits()
    {
        using var gate = new ManualResetEventSlim();
        await using var h = new BatcherHarness(Options(configure: o => o.MaxQueueSize = 40));
        h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };
        var first = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "the first batch running");

        var queued = Enumerable.Range(1, 40).Select(i => h.Submit(i)).ToList();

        Assert.All(queued, s => Assert.False(s.Task.IsCompleted));
        gate.Set();
        foreach (var s in queued.Prepend(first))
        {
            await s.AssertSucceededAsync();
        }
    }

    [Fact]
    public async Task Metrics_Overloaded_CountedAsRequestOutcomeAndRejectionReason()
    {
        using var meter = new Meter(BatcherMetrics.MeterName);
        var counts = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, meter))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key is "outcome" or "reason")
                {
                    counts.AddOrUpdate($"{i.Name}:{tag.Value}", v, (_, c) => c + v);
                }
            }
        });
        listener.Start();

        var (h, gate, held) = await BusyHarnessAsync(Options(), new BatcherMetrics(meter));
        await using (h)
        using (gate)
        {
            var queued = Enumerable.Range(1, 11).Select(i => h.Submit(i)).ToList();
            await h.Submit(100).AssertFailedAsync(BatchFailureReason.Overloaded);
            await h.Submit(101).AssertFailedAsync(BatchFailureReason.Overloaded);
            gate.Set();
            foreach (var s in held.Concat(queued))
            {
                await s.AssertSucceededAsync();
            }
        }

        Assert.Equal(2, counts.GetValueOrDefault("gateway.batcher.requests:overloaded"));
        Assert.Equal(2, counts.GetValueOrDefault("gateway.batcher.rejections:overloaded"));
        // The cost batches, the held one, 11 queued.
        Assert.Equal(DynamicBatcher.MinimumRunCostSamples + 12, counts.GetValueOrDefault("gateway.batcher.requests:success"));
    }
}
