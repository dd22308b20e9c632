using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using InferenceGateway.Core.Features;
using InferenceGateway.Core.Tests.Batching;

namespace InferenceGateway.Core.Tests.Features;

public sealed class IngestTests
{
    private static readonly Dictionary<string, double> s_numbers = new() { ["amount"] = 12.34, ["merchant_category"] = 3 };
    private static readonly Dictionary<string, string> s_strings = new() { ["merchant_id"] = "m00001" };

    private static long Now(ManualTimeProvider time) => time.GetUtcNow().ToUnixTimeMilliseconds();

    [Fact]
    public void Ingest_EachMalformedEvent_RejectedWithReasonAndField()
    {
        var time = new ManualTimeProvider();
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEntityIdLength = 8, MaxStringLength = 10 }, time);
        var t = Now(time);

        static Dictionary<string, double> N(params (string, double)[] pairs) => pairs.ToDictionary(p => p.Item1, p => p.Item2);
        static Dictionary<string, string> S(params (string, string)[] pairs) => pairs.ToDictionary(p => p.Item1, p => p.Item2);
        var cases = new (IngestResult Result, IngestRejectionReason Reason, string? Subject)[]
        {
            (engine.Ingest("payments", "c1", t, s_numbers, s_strings), IngestRejectionReason.UnknownStream, "payments"),
            (engine.Ingest("transactions", "", t, s_numbers, s_strings), IngestRejectionReason.MissingEntityId, null),
            (engine.Ingest("transactions", "c12345678", t, s_numbers, s_strings), IngestRejectionReason.EntityIdTooLong, null),
            (engine.Ingest("transactions", "c1", 0, s_numbers, s_strings), IngestRejectionReason.InvalidEventTime, null),
            (engine.Ingest("transactions", "c1", t + 300_001, s_numbers, s_strings), IngestRejectionReason.TooFarInFuture, null),
            (engine.Ingest("transactions", "c1", t, N(("merchant_category", 3)), s_strings), IngestRejectionReason.MissingField, "amount"),
            (engine.Ingest("transactions", "c1", t, s_numbers, null), IngestRejectionReason.MissingField, "merchant_id"),
            (engine.Ingest("transactions", "c1", t, N(("merchant_category", 3)), S(("amount", "12.34"), ("merchant_id", "m"))), IngestRejectionReason.WrongFieldType, "amount"),
            (engine.Ingest("transactions", "c1", t, N(("amount", 1), ("merchant_category", 3), ("merchant_id", 7)), null), IngestRejectionReason.WrongFieldType, "merchant_id"),
            (engine.Ingest("transactions", "c1", t, N(("amount", double.NaN), ("merchant_category", 3)), s_strings), IngestRejectionReason.NonFiniteNumber, "amount"),
            (engine.Ingest("transactions", "c1", t, N(("amount", double.PositiveInfinity), ("merchant_category", 3)), s_strings), IngestRejectionReason.NonFiniteNumber, "amount"),
            (engine.Ingest("transactions", "c1", t, N(("amount", 12.345), ("merchant_category", 3)), s_strings), IngestRejectionReason.InvalidValue, "amount"),
            (engine.Ingest("transactions", "c1", t, N(("amount", 0.1 + 0.2), ("merchant_category", 3)), s_strings), IngestRejectionReason.InvalidValue, "amount"),
            (engine.Ingest("transactions", "c1", t, N(("amount", 1e14), ("merchant_category", 3)), s_strings), IngestRejectionReason.InvalidValue, "amount"),
            (engine.Ingest("transactions", "c1", t, N(("amount", 1), ("merchant_category", 2.5)), s_strings), IngestRejectionReason.InvalidValue, "merchant_category"),
            (engine.Ingest("transactions", "c1", t, s_numbers, S(("merchant_id", "m0123456789"))), IngestRejectionReason.InvalidValue, "merchant_id"),
        };

        foreach (var (result, reason, subject) in cases)
        {
            Assert.Equal(IngestOutcome.Rejected, result.Outcome);
            Assert.Equal(reason, result.Reason);
            Assert.Equal(subject, result.Subject);
            Assert.False(string.IsNullOrEmpty(result.Message));
        }

        Assert.Equal(0, engine.EntityCount);
        Assert.Equal(cases.Length, engine.GetStatistics().EventsRejected);
        Assert.Contains("lacks required field 'amount'", cases[5].Result.Message, StringComparison.Ordinal);

        // Extra fields are ignored, and 0.1 + 0.2 rounded to cents as a client should send it is accepted.
        var ok = engine.Ingest("transactions", "c1", t, N(("amount", 0.3), ("merchant_category", 3), ("tip", 1.5)), S(("merchant_id", "m1"), ("note", "x")));
        Assert.Equal(IngestOutcome.Accepted, ok.Outcome);
        Assert.Equal(IngestRejectionReason.None, ok.Reason);
    }

    [Fact]
    public void Ingest_OutOfOrderWithinLateness_AcceptedBeyondIt_DroppedAndCounted()
    {
        var time = new ManualTimeProvider();
        var engine = new FeatureEngine(FeatureTestData.Bundled, null, time);
        var t = Now(time);
        Assert.True(engine.Ingest("transactions", "c1", t, s_numbers, s_strings).IsAccepted);
        Assert.True(engine.Ingest("transactions", "c2", t - 300_000, s_numbers, s_strings).IsAccepted); // exactly 5 minutes late
        var late = engine.Ingest("transactions", "c1", t - 300_001, s_numbers, s_strings);
        Assert.Equal(IngestOutcome.DroppedLate, late.Outcome);
        Assert.Contains("allowed lateness", late.Message, StringComparison.Ordinal);

        var stats = engine.GetStatistics();
        Assert.Equal(2, stats.EventsAccepted);
        Assert.Equal(1, stats.EventsLate);
        Assert.Equal(2, stats.EventsHeld);
        Assert.Equal(t, engine.GetWatermark("transactions"));
        Assert.True(engine.EstimatedStateBytes > 0);

        // The late-but-accepted event counts as if it had come in order.
        var plan = engine.CreatePlan(["txn_count_10m", "amount_sum_1h"]);
        var values = new float[2];
        plan.Assemble(new FeatureRequest("c2", t), values, default);
        Assert.Equal([1f, 12.34f], values);
    }

    [Fact]
    public void Ingest_InfiniteMaxAhead_AcceptsFutureEvents()
    {
        var time = new ManualTimeProvider();
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan }, time);
        Assert.True(engine.Ingest("transactions", "c1", Now(time) + 86_400_000L * 365, s_numbers, s_strings).IsAccepted);
    }

    [Fact]
    public void Ingest_SteadyStateExistingEntities_AllocatesNothing()
    {
        // A 1-hour window and events a minute apart per card: once each card holds its hour, arrays slide instead of growing.
        var definitions = FeatureTestData.Parse("""
            {
              "streams": [ { "name": "tx", "entity_key": "card", "event_time": "t",
                "fields": [ { "name": "amount", "type": "number", "decimals": 2 }, { "name": "merchant", "type": "string" } ] } ],
              "aggregations": [
                { "name": "sum_1h", "stream": "tx", "function": "sum", "field": "amount", "window": "1h" },
                { "name": "merchants_1h", "stream": "tx", "function": "distinct_count", "field": "merchant", "window": "1h" }
              ]
            }
            """);
        var engine = new FeatureEngine(definitions, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        var cards = Enumerable.Range(0, 16).Select(c => "c" + c.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var numbers = new Dictionary<string, double> { ["amount"] = 12.34 };
        var merchants = Enumerable.Range(0, 8).Select(m => new Dictionary<string, string> { ["merchant"] = "m" + m.ToString(System.Globalization.CultureInfo.InvariantCulture) }).ToArray();
        const long T = 1_704_067_200_000;
        long step = 0;
        void Loop(int events)
        {
            for (var i = 0; i < events; i++, step++)
            {
                var result = engine.Ingest("tx", cards[step & 15], T + (step * 3_750), numbers, merchants[(step >> 4) & 7]);
                if (!result.IsAccepted)
                {
                    throw new InvalidOperationException(result.Message);
                }
            }
        }

        Loop(20_000);
        Assert.Equal(0, AllocationProbe.LeastAllocated(() => Loop(10_000)));
        Assert.InRange(engine.GetStatistics().EventsHeld, 16 * 60, 16 * 130);
    }

    [Fact]
    public void Metrics_IngestOutcomesAndGauges_RecordedByStreamAndReason()
    {
        using var meter = new Meter(FeatureMetrics.MeterName);
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
        listener.Start();

        var time = new ManualTimeProvider();
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEntities = 1 }, time, new FeatureMetrics(meter));
        var t = Now(time);
        engine.Ingest("transactions", "c1", t, s_numbers, s_strings);
        engine.Ingest("transactions", "c2", t, s_numbers, s_strings); // over the cap of 1: c1 goes
        engine.Ingest("transactions", "c2", t - 600_000, s_numbers, s_strings);
        engine.Ingest("transactions", "c2", t, s_numbers, null);
        engine.Ingest("nope", "c2", t, s_numbers, null);
        engine.CreatePlan(FeatureTestData.FraudV2).Assemble(new FeatureRequest("c2", t + 1, s_numbers), new float[8], default);
        listener.RecordObservableInstruments();

        Assert.Equal(2, measurements.Count(m => m.Instrument == "gateway.features.events_ingested" && Equals(m.Tags["stream"], "transactions")));
        Assert.Single(measurements, m => m.Instrument == "gateway.features.events_late");
        Assert.Single(measurements, m => m.Instrument == "gateway.features.events_rejected" && Equals(m.Tags["reason"], "missing_field") && Equals(m.Tags["stream"], "transactions"));
        Assert.Single(measurements, m => m.Instrument == "gateway.features.events_rejected" && Equals(m.Tags["reason"], "unknown_stream") && Equals(m.Tags["stream"], "_unknown"));
        Assert.Single(measurements, m => m.Instrument == "gateway.features.evictions" && Equals(m.Tags["reason"], "memory_cap"));
        Assert.Single(measurements, m => m.Instrument == "gateway.features.lookup_duration");
        Assert.Equal(1, Assert.Single(measurements, m => m.Instrument == "gateway.features.entities").Value);
        Assert.Equal(engine.EstimatedStateBytes, Assert.Single(measurements, m => m.Instrument == "gateway.features.state_bytes").Value);
        Assert.Equal("too_far_in_future", FeatureMetrics.ReasonName(IngestRejectionReason.TooFarInFuture));
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
