using InferenceGateway.Core.Features;

namespace InferenceGateway.Core.Tests.Features;

public sealed class CapEvictionTests
{
    private const long T = 1_704_067_200_000;
    private static readonly Dictionary<string, double> s_numbers = new() { ["amount"] = 1.5, ["merchant_category"] = 2 };
    private static readonly Dictionary<string, string> s_strings = new() { ["merchant_id"] = "m1" };

    private static void Ingest(FeatureEngine engine, string card, long time = T) =>
        Assert.True(engine.Ingest("transactions", card, time, s_numbers, s_strings).IsAccepted);

    private static bool Has(FeatureEngine engine, string card)
    {
        var defaulted = new bool[1];
        engine.CreatePlan(["txn_count_24h"]).Assemble(new FeatureRequest(card, T + 1), new float[1], defaulted);
        return !defaulted[0];
    }

    [Fact]
    public void Ingest_OverEntityCap_EvictsLeastRecentlyUsedToNinetyPercent()
    {
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan, MaxEntities = 10 });
        for (var i = 0; i < 10; i++)
        {
            Ingest(engine, "c" + i);
        }

        // Touch c0 (a lookup counts as use) and c1 (an event), so c2 and c3 are now the least recently used.
        Assert.True(Has(engine, "c0"));
        Ingest(engine, "c1", T + 1);
        Ingest(engine, "c10");

        // 11 > 10: evicted down to 9, least recently used first.
        Assert.Equal(9, engine.EntityCount);
        Assert.Equal(2, engine.GetStatistics().EvictedMemoryCap);
        Assert.False(Has(engine, "c2"));
        Assert.False(Has(engine, "c3"));
        foreach (var kept in new[] { "c0", "c1", "c4", "c9", "c10" })
        {
            Assert.True(Has(engine, kept), kept);
        }

        // An evicted card comes back as a fresh entity.
        Ingest(engine, "c2");
        Assert.True(Has(engine, "c2"));
    }

    [Fact]
    public void Ingest_OverByteCap_StateStaysUnderCapWithManyEntities()
    {
        var probe = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        Ingest(probe, "c0000");
        var perEntity = probe.EstimatedStateBytes;
        Assert.InRange(perEntity, 400, 2_000);

        var cap = perEntity * 100;
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan, MaxStateBytes = cap });
        for (var i = 0; i < 5_000; i++)
        {
            Ingest(engine, "c" + i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(engine.EstimatedStateBytes <= cap, $"{engine.EstimatedStateBytes} > {cap} after {i}");
        }

        var stats = engine.GetStatistics();
        Assert.InRange(stats.Entities, 89, 100);
        Assert.Equal(5_000 - stats.Entities, stats.EvictedMemoryCap);
        Assert.True(Has(engine, "c4999"));
        Assert.False(Has(engine, "c0000"));
    }

    [Fact]
    public void EstimatedStateBytes_GrowsWithEventsAndReturnsToZeroWhenAllEvicted()
    {
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        Ingest(engine, "c1");
        var one = engine.EstimatedStateBytes;
        for (var i = 1; i < 100; i++)
        {
            Ingest(engine, "c1", T + i);
        }

        Assert.True(engine.EstimatedStateBytes > one + (100 * 20), $"{engine.EstimatedStateBytes}");
        Assert.Equal(engine.EstimatedStateBytes, engine.GetStatistics().Streams["transactions"].EstimatedBytes);

        // Far past the 30-day window plus lateness, everything goes.
        Ingest(engine, "c2", T + 31L * 86_400_000);
        var result = engine.RunMaintenance();
        Assert.Equal(1, result.IdleEvicted);
        Assert.Equal(100, result.EventsTrimmed);
        Ingest(engine, "c3", T + 62L * 86_400_000);
        engine.RunMaintenance();
        Ingest(engine, "c4", T + 93L * 86_400_000);
        engine.RunMaintenance();
        Assert.Equal(1, engine.EntityCount);
        Assert.Equal(one, engine.EstimatedStateBytes);
    }
}
