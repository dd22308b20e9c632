using InferenceGateway.Core.Features;

namespace InferenceGateway.Core.Tests.Features;

public sealed class FeatureVectorPlanTests
{
    private const long T = 1_704_067_200_000; // 2024-01-01T00:00:00Z

    private static readonly Dictionary<string, double> s_request = new() { ["amount"] = 250.5, ["merchant_category"] = 7 };

    private static FeatureEngine Loaded()
    {
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        var merchants = new[] { "m1", "m2", "m1", "m3" };
        var amounts = new[] { 10.0, 20.5, 30.25, 40.0 };
        for (var i = 0; i < 4; i++)
        {
            var result = engine.Ingest(
                "transactions",
                "c1",
                T + (i * 60_000),
                new Dictionary<string, double> { ["amount"] = amounts[i], ["merchant_category"] = i },
                new Dictionary<string, string> { ["merchant_id"] = merchants[i] });
            Assert.True(result.IsAccepted);
        }

        return engine;
    }

    [Fact]
    public void CreatePlan_UnknownNames_ErrorListsEveryOne()
    {
        var engine = Loaded();
        var ex = Assert.Throws<UnknownFeatureException>(() => engine.CreatePlan(["amount", "velocity", "hour_of_day", "colour"]));
        Assert.Equal(["velocity", "colour"], ex.Names);
        Assert.Contains("velocity, colour", ex.Message, StringComparison.Ordinal);
        Assert.False(engine.TryCreatePlan(["nope"], out var plan, out var unknown));
        Assert.Null(plan);
        Assert.Equal(["nope"], unknown);
    }

    [Fact]
    public void Assemble_FraudV2_ValuesInPlanOrderWithDefaultedFlags()
    {
        var engine = Loaded();
        var plan = engine.CreatePlan(FeatureTestData.FraudV2);
        Assert.Equal(8, plan.Count);
        Assert.Equal(["amount", "merchant_category"], plan.RequiredInputs);
        Assert.Equal(["transactions"], plan.Streams);

        var values = new float[8];
        var defaulted = new bool[8];
        var asOf = T + (3 * 60_000) + 1_500; // 1.5 s after the fourth event (00:03:01.5 UTC)
        var result = plan.Assemble(new FeatureRequest("c1", asOf, s_request), values, defaulted);
        Assert.True(result.IsSuccess);
        Assert.False(result.HistoryIncomplete);
        Assert.Equal([250.5f, 0f, 7f, 4f, 100.75f, (float)(10075 / 100.0 / 4), 3f, 1.5f], values);
        Assert.All(defaulted, Assert.False);

        // A card with no history: streaming features take their defaults and say so.
        result = plan.Assemble(new FeatureRequest("c999", asOf, s_request), values, defaulted);
        Assert.True(result.IsSuccess);
        Assert.Equal([250.5f, 0f, 7f, 0f, 0f, 0f, 0f, 2_592_000f], values);
        Assert.Equal([false, false, false, true, true, true, true, true], defaulted);
    }

    [Fact]
    public void Assemble_RequestProblems_NameTheInput()
    {
        var engine = Loaded();
        var plan = engine.CreatePlan(FeatureTestData.FraudV2);
        var values = new float[8];
        var missing = plan.Assemble(new FeatureRequest("c1", T, new Dictionary<string, double> { ["amount"] = 1 }), values, default);
        Assert.Equal(FeatureAssemblyError.MissingInput, missing.Error);
        Assert.Equal("merchant_category", missing.Name);
        Assert.Equal("missing request-time input 'merchant_category'", missing.Message);

        var nan = plan.Assemble(new FeatureRequest("c1", T, new Dictionary<string, double> { ["amount"] = double.NaN, ["merchant_category"] = 1 }), values, default);
        Assert.Equal((FeatureAssemblyError.NonFiniteInput, "amount"), (nan.Error, nan.Name));

        var noEntity = plan.Assemble(new FeatureRequest(null, T, s_request), values, default);
        Assert.Equal((FeatureAssemblyError.MissingEntityId, "card_id"), (noEntity.Error, noEntity.Name));

        Assert.Equal(FeatureAssemblyError.InvalidAsOf, plan.Assemble(new FeatureRequest("c1", 0, s_request), values, default).Error);
        Assert.Throws<ArgumentException>(() => plan.Assemble(new FeatureRequest("c1", T, s_request), new float[7], default));

        // Fraud v1 reads no stream: no entity needed.
        Assert.True(engine.CreatePlan(["amount", "hour_of_day", "merchant_category"]).Assemble(new FeatureRequest(null, T, s_request), values, default).IsSuccess);
    }

    [Fact]
    public void Assemble_AsOfBeforeRetainedHistory_FlaggedIncomplete()
    {
        var engine = Loaded();
        var plan = engine.CreatePlan(["txn_count_10m"]);
        var values = new float[1];
        Assert.False(plan.Assemble(new FeatureRequest("c1", T + (3 * 60_000) - 300_000, null), values, default).HistoryIncomplete);
        Assert.True(plan.Assemble(new FeatureRequest("c1", T + (3 * 60_000) - 300_001, null), values, default).HistoryIncomplete);
    }

    [Fact]
    public void Assemble_StreamKeyedByRequestString_ReadsThatEntity()
    {
        // A merchant stream next to a card stream: the request's merchant_id string picks the merchant's entity.
        var engine = new FeatureEngine(FeatureTestData.Parse("""
            {
              "streams": [
                { "name": "cards", "entity_key": "card_id", "event_time": "t", "fields": [] },
                { "name": "merchants", "entity_key": "merchant_id", "event_time": "t", "fields": [ { "name": "chargeback", "type": "number", "decimals": 0 } ] }
              ],
              "aggregations": [
                { "name": "card_txns_1h", "stream": "cards", "function": "count", "window": "1h" },
                { "name": "merchant_chargebacks_30d", "stream": "merchants", "function": "sum", "field": "chargeback", "window": "30d" }
              ],
              "expressions": [ { "name": "risk", "expression": "merchant_chargebacks_30d * 10 + card_txns_1h" } ]
            }
            """), new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        Assert.True(engine.Ingest("cards", "c1", T, null, null).IsAccepted);
        Assert.True(engine.Ingest("merchants", "m9", T, new Dictionary<string, double> { ["chargeback"] = 2 }, null).IsAccepted);
        var plan = engine.CreatePlan(["risk", "card_txns_1h", "merchant_chargebacks_30d"]);
        var values = new float[3];
        var result = plan.Assemble(new FeatureRequest("c1", T + 1, null, new Dictionary<string, string> { ["merchant_id"] = "m9" }), values, default);
        Assert.True(result.IsSuccess);
        Assert.Equal([21f, 1f, 2f], values);
    }

    [Fact]
    public void GetFeatures_Names_ValuesWithDefaultedFlags()
    {
        var engine = Loaded();
        // As of 1 h after the first event it is still in the window (lower bound inclusive); 1 ms later it is not.
        var values = engine.GetFeatures(["amount_sum_1h"], new FeatureRequest("c1", T + 3_600_000, s_request), out var result);
        Assert.Equal(100.75f, Assert.Single(values).Value);
        values = engine.GetFeatures(["amount_sum_1h", "amount_to_avg_30d", "last_amount"], new FeatureRequest("c1", T + 3_600_001, s_request), out result);
        Assert.True(result.IsSuccess);
        Assert.Equal(
            [new FeatureValue("amount_sum_1h", 90.75f, false), new FeatureValue("amount_to_avg_30d", (float)(250.5 / (10075 / 100.0 / 4)), false), new FeatureValue("last_amount", 40f, false)],
            values);

        // A fresh card: the ratio divides by a defaulted 0 and falls back to its default, flagged.
        values = engine.GetFeatures(["amount_to_avg_30d"], new FeatureRequest("c2", T, s_request), out _);
        Assert.Equal(new FeatureValue("amount_to_avg_30d", 1f, true), Assert.Single(values));
    }

    [Fact]
    public void Assemble_WarmFraudV2_AllocatesNothing()
    {
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan }, metrics: new FeatureMetrics(new System.Diagnostics.Metrics.Meter("alloc-test")));
        var cards = new string[64];
        for (var c = 0; c < cards.Length; c++)
        {
            cards[c] = "c" + c.ToString("D6", System.Globalization.CultureInfo.InvariantCulture);
            for (var i = 0; i < 40; i++)
            {
                engine.Ingest("transactions", cards[c], T + (i * 250_000L) + c, s_request, new Dictionary<string, string> { ["merchant_id"] = "m" + (i % 9).ToString(System.Globalization.CultureInfo.InvariantCulture) });
            }
        }

        var plan = engine.CreatePlan([.. FeatureTestData.FraudV2, "amount_to_avg_30d", "amount_max_24h"]);
        var values = new float[plan.Count];
        var defaulted = new bool[plan.Count];
        var asOf = T + (40 * 250_000L);
        void Loop()
        {
            for (var i = 0; i < 10_000; i++)
            {
                var result = plan.Assemble(new FeatureRequest(cards[i & 63], asOf + i, s_request), values, defaulted);
                if (!result.IsSuccess)
                {
                    throw new InvalidOperationException(result.Message);
                }
            }
        }

        Loop(); // warm-up: JIT, the thread's distinct-count scratch
        Assert.Equal(0, AllocationProbe.LeastAllocated(Loop));
    }
}

/// <summary>Per-thread allocation counter, fewest bytes of three runs (as the repository's other allocation checks).</summary>
public static class AllocationProbe
{
    public static long LeastAllocated(Action loop)
    {
        var least = long.MaxValue;
        for (var round = 0; round < 3; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            loop();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }
}
