using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Tests.Batching;

public sealed class BatcherMetricsTests
{
    [Fact]
    public async Task Instruments_RequestsAndRejections_RecordedWithModelVersionAndOutcome()
    {
        using var meter = new Meter(BatcherMetrics.MeterName);
        var measurements = new ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
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
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measurements.Enqueue((i.Name, v, ToDictionary(tags))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measurements.Enqueue((i.Name, v, ToDictionary(tags))));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => measurements.Enqueue((i.Name, v, ToDictionary(tags))));
        listener.Start();

        using var gate = new ManualResetEventSlim();
        var metrics = new BatcherMetrics(meter);
        await using (var h = new BatcherHarness(new BatchingOptions { MaxBatchSize = 1, MaxQueueSize = 1, RunOnCallerWhenIdle = false }, metrics: metrics))
        {
            h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };
            var running = h.Submit(0);
            await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "first request running");
            var queued = h.Submit(1);
            await h.Submit(2).AssertFailedAsync(BatchFailureReason.QueueFull);

            listener.RecordObservableInstruments();
            var depth = Assert.Single(measurements, m => m.Instrument == "gateway.batcher.queue_depth");
            Assert.Equal(1, depth.Value);

            gate.Set();
            await running.AssertSucceededAsync();
            await queued.AssertSucceededAsync();
        }

        Assert.Equal(2, measurements.Count(m => m.Instrument == "gateway.batcher.requests" && Equals(m.Tags["outcome"], "success")));
        var rejection = Assert.Single(measurements, m => m.Instrument == "gateway.batcher.rejections");
        Assert.Equal("queue_full", rejection.Tags["reason"]);
        Assert.Equal("m", rejection.Tags["model"]);
        Assert.Equal("1", rejection.Tags["version"]);
        Assert.Equal(2, measurements.Count(m => m.Instrument == "gateway.batcher.batch_size" && m.Value == 1));
        Assert.Equal(2, measurements.Count(m => m.Instrument == "gateway.batcher.queue_duration"));
        Assert.Equal(2, measurements.Count(m => m.Instrument == "gateway.batcher.compute_duration"));
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
}
