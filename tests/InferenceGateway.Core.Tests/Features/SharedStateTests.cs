using System.Globalization;
using InferenceGateway.Core.Features;

namespace InferenceGateway.Core.Tests.Features;

/// <summary>
/// The shared-state path (entity blobs a store such as Redis keeps for several replicas): applying events to blobs and
/// reading lookups from blobs gives the in-process engine's values bit for bit, redelivered events are skipped, and
/// blobs the gateway cannot use are reported, never misread.
/// </summary>
public sealed class SharedStateTests
{
    private const int Partitions = 6;

    [Fact]
    public void Replay_BundledThroughBlobs_EqualsFeaturesCsvBitForBit()
    {
        // "Query, then ingest" per row as online, the whole file: every lookup from a blob, every event through one.
        const int Rows = 199_766;
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        var plan = engine.CreatePlan(FeatureTestData.FraudV2);
        var store = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var watermarks = new long[Partitions];
        Array.Fill(watermarks, long.MinValue);
        var offsets = new long[Partitions];
        var values = new float[plan.Count];
        var defaulted = new bool[plan.Count];
        var fields = new List<string>();
        using var events = FeatureTestData.OpenGzip(FeatureTestData.TransactionsPath);
        using var expected = FeatureTestData.OpenGzip(FeatureTestData.FeaturesPath);
        events.ReadLine();
        expected.ReadLine();
        var mismatches = new List<string>();
        for (var row = 0; row < Rows; row++)
        {
            FeatureCsv.Split(events.ReadLine()!, fields);
            var time = long.Parse(fields[0], CultureInfo.InvariantCulture);
            var card = fields[1];
            var numbers = new Dictionary<string, double>
            {
                ["amount"] = double.Parse(fields[4], CultureInfo.InvariantCulture),
                ["merchant_category"] = double.Parse(fields[3], CultureInfo.InvariantCulture),
            };
            var strings = new Dictionary<string, string> { ["merchant_id"] = fields[2] };

            var lookup = engine.CreateSharedLookup();
            lookup.Prepare(new FeatureRequest(card, time, numbers, null));
            lookup.Load(0, store.TryGetValue(card, out var held) ? held : []);
            var result = plan.Assemble(new FeatureRequest(card, time, numbers, null), values, defaulted, lookup);
            Assert.True(result.IsSuccess && !result.HistoryIncomplete && lookup.Problem is null, $"row {row}: {result.Message} {lookup.Problem}");
            var want = expected.ReadLine()!.Split(',');
            for (var i = 0; i < values.Length; i++)
            {
                var wantValue = float.Parse(want[i + 2], CultureInfo.InvariantCulture);
                if (BitConverter.SingleToInt32Bits(wantValue) != BitConverter.SingleToInt32Bits(values[i]))
                {
                    mismatches.Add($"row {row} {FeatureTestData.FraudV2[i]}: expected {want[i + 2]}, got {FeatureCsv.FormatFloat(values[i])}");
                }
            }

            var partition = (int)((uint)card.GetHashCode(StringComparison.Ordinal) % Partitions);
            var entity = engine.OpenShared("transactions", card, store.TryGetValue(card, out held) ? held : []);
            Assert.Equal(IngestOutcome.Accepted, engine.ApplyShared(entity, time, numbers, strings, partition, offsets[partition]++, ref watermarks[partition]).Outcome);
            store[card] = FeatureEngine.SerializeShared(entity, watermarks[partition]);
        }

        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches, first: {string.Join("; ", mismatches.Take(10))}");
    }

    [Fact]
    public void ApplyShared_RedeliveredFromAnOlderOffset_SkipsWhatWasAppliedAndAppliesTheRest()
    {
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        var watermark = long.MinValue;
        var entity = engine.OpenShared("transactions", "c1", []);
        for (var offset = 10; offset < 15; offset++)
        {
            Assert.True(engine.ApplyShared(entity, 1_000_000 + offset, Amount(offset), Merchant("m"), 3, offset, ref watermark).IsAccepted);
        }

        var blob = FeatureEngine.SerializeShared(entity, watermark);

        // A consumer that restarts from committed offset 12 sees 12..16 again; 12..14 are in the blob already.
        var reopened = engine.OpenShared("transactions", "c1", blob);
        Assert.Equal(5, reopened.EventCount);
        Assert.Equal((3, 14L), (reopened.Partition, reopened.Offset));
        var outcomes = new List<IngestOutcome>();
        for (var offset = 12; offset < 17; offset++)
        {
            outcomes.Add(engine.ApplyShared(reopened, 1_000_000 + offset, Amount(offset), Merchant("m"), 3, offset, ref watermark).Outcome);
        }

        Assert.Equal([IngestOutcome.Duplicate, IngestOutcome.Duplicate, IngestOutcome.Duplicate, IngestOutcome.Accepted, IngestOutcome.Accepted], outcomes);
        Assert.Equal(7, reopened.EventCount);

        // The same offset on another partition (the topic was repartitioned) is a different event.
        Assert.True(engine.ApplyShared(reopened, 1_000_020, Amount(1), Merchant("m"), 4, 12, ref watermark).IsAccepted);
    }

    [Fact]
    public void ApplyShared_LatenessJudgedAgainstThePartitionWatermark()
    {
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        var entity = engine.OpenShared("transactions", "c1", []);
        var watermark = 10_000_000L;

        // The stream allows 5 minutes: 4 minutes behind is inserted in order, 6 minutes behind is dropped.
        Assert.True(engine.ApplyShared(entity, 10_000_000 - 240_000, Amount(1), Merchant("m"), 0, 1, ref watermark).IsAccepted);
        Assert.Equal(IngestOutcome.DroppedLate, engine.ApplyShared(entity, 10_000_000 - 360_000, Amount(1), Merchant("m"), 0, 2, ref watermark).Outcome);
        Assert.Equal(10_000_000L, watermark);
        Assert.Equal(IngestOutcome.Rejected, engine.ApplyShared(entity, 10_000_001, new Dictionary<string, double> { ["amount"] = 1.001 }, Merchant("m"), 0, 3, ref watermark).Outcome);
        Assert.Equal(1, entity.EventCount);
    }

    [Fact]
    public void Blobs_DamagedOrForOtherFields_AreReportedAndReadAsEmpty()
    {
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        var watermark = long.MinValue;
        var entity = engine.OpenShared("transactions", "c1", []);
        engine.ApplyShared(entity, 1_000_000, Amount(5), Merchant("m"), 0, 1, ref watermark);
        var blob = FeatureEngine.SerializeShared(entity, watermark);

        var truncated = blob[..(blob.Length - 3)];
        var damaged = engine.OpenShared("transactions", "c1", truncated);
        Assert.Equal(0, damaged.EventCount);
        Assert.StartsWith("damaged", damaged.Discarded, StringComparison.Ordinal);

        var otherFields = (byte[])blob.Clone();
        otherFields[1] ^= 0xFF;
        Assert.Contains("definition changed", engine.OpenShared("transactions", "c1", otherFields).Discarded, StringComparison.Ordinal);
        Assert.Contains("not 'c2'", engine.OpenShared("transactions", "c2", blob).Discarded, StringComparison.Ordinal);

        var plan = engine.CreatePlan(["txn_count_10m"]);
        var lookup = engine.CreateSharedLookup();
        var request = new FeatureRequest("c1", 1_000_100, null, null);
        lookup.Prepare(request);
        lookup.Load(0, truncated);
        var values = new float[1];
        var defaulted = new bool[1];
        Assert.True(plan.Assemble(request, values, defaulted, lookup).IsSuccess);
        Assert.Equal((0f, true), (values[0], defaulted[0]));
        Assert.Contains("damaged", lookup.Problem, StringComparison.Ordinal);

        lookup.Prepare(request);
        lookup.Load(0, blob);
        Assert.True(plan.Assemble(request, values, defaulted, lookup).IsSuccess);
        Assert.Equal((1f, false), (values[0], defaulted[0]));

        lookup.Prepare(request);
        lookup.StoreUnavailable = true;
        var unavailable = plan.Assemble(request, values, defaulted, lookup);
        Assert.True(unavailable.IsSuccess && unavailable.StoreUnavailable);
        Assert.Equal((0f, true), (values[0], defaulted[0]));
    }

    private static Dictionary<string, double> Amount(double amount) => new() { ["amount"] = amount, ["merchant_category"] = 1 };

    private static Dictionary<string, string> Merchant(string id) => new() { ["merchant_id"] = id };
}
