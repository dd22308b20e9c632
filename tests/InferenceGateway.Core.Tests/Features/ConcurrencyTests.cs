using System.Globalization;
using InferenceGateway.Core.Features;

namespace InferenceGateway.Core.Tests.Features;

public sealed class ConcurrencyTests
{
    private const long T = 1_704_067_200_000;

    private static FeatureRepository Definitions() => FeatureTestData.Parse("""
        {
          "streams": [ { "name": "tx", "entity_key": "card", "event_time": "t", "allowed_lateness": "30d",
            "fields": [ { "name": "amount", "type": "number", "decimals": 2 }, { "name": "merchant", "type": "string" } ] } ],
          "aggregations": [
            { "name": "n_1h", "stream": "tx", "function": "count", "window": "1h" },
            { "name": "sum_1d", "stream": "tx", "function": "sum", "field": "amount", "window": "1d" },
            { "name": "max_1d", "stream": "tx", "function": "max", "field": "amount", "window": "1d" },
            { "name": "merchants_1d", "stream": "tx", "function": "distinct_count", "field": "merchant", "window": "1d" },
            { "name": "gap", "stream": "tx", "function": "seconds_since_last", "window": "7d" }
          ]
        }
        """);

    [Fact]
    public async Task Ingest_ConcurrentWithLookupsSnapshotsAndMaintenance_EndStateEqualsSequential()
    {
        var definitions = Definitions();
        var rng = new Random(11);
        var events = Enumerable.Range(0, 20_000)
            .Select(i => (Card: "c" + rng.Next(200).ToString(CultureInfo.InvariantCulture), Time: T + (i * 997L), Cents: rng.Next(1, 50_000), Merchant: "m" + rng.Next(40).ToString(CultureInfo.InvariantCulture)))
            .ToArray();
        var options = new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan, LockStripes = 8 };
        var sequential = new FeatureEngine(definitions, options);
        foreach (var e in events)
        {
            Assert.True(sequential.Ingest("tx", e.Card, e.Time, new Dictionary<string, double> { ["amount"] = e.Cents / 100.0 }, new Dictionary<string, string> { ["merchant"] = e.Merchant }).IsAccepted);
        }

        var concurrent = new FeatureEngine(definitions, options);
        var snapshot = Path.Combine(Path.GetTempPath(), "ig-conc-" + Guid.NewGuid().ToString("N") + ".bin");
        using var stop = new CancellationTokenSource();
        var ingesters = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            // Each writer takes every 4th event in reverse chunks, so arrival order is far from event-time order.
            for (var chunk = 0; chunk < events.Length; chunk += 400)
            {
                for (var i = Math.Min(events.Length, chunk + 400) - 1; i >= chunk; i--)
                {
                    if (i % 4 == w)
                    {
                        var e = events[i];
                        var result = concurrent.Ingest("tx", e.Card, e.Time, new Dictionary<string, double> { ["amount"] = e.Cents / 100.0 }, new Dictionary<string, string> { ["merchant"] = e.Merchant });
                        Assert.True(result.IsAccepted, result.Message);
                    }
                }
            }
        })).ToArray();
        var readers = Enumerable.Range(0, 2).Select(r => Task.Run(() =>
        {
            var plan = concurrent.CreatePlan(["n_1h", "sum_1d", "max_1d", "merchants_1d", "gap"]);
            var values = new float[5];
            var lookups = 0;
            while (!stop.IsCancellationRequested || lookups < 20_000)
            {
                var asOf = T + ((lookups * 7919L) % (events.Length * 997L));
                Assert.True(plan.Assemble(new FeatureRequest("c" + (lookups % 200).ToString(CultureInfo.InvariantCulture), asOf), values, default).IsSuccess);
                Assert.InRange(values[0], 0, 3_611);
                Assert.InRange(values[3], 0, 40);
                lookups++;
                if (r == 1 && lookups % 2_000 == 0)
                {
                    concurrent.SaveSnapshot(snapshot);
                    concurrent.RunMaintenance();
                }
            }

            return lookups;
        })).ToArray();

        await Task.WhenAll(ingesters).WaitAsync(TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        var lookups = await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(lookups, n => Assert.True(n >= 20_000));
        File.Delete(snapshot);

        var plan = sequential.CreatePlan(["n_1h", "sum_1d", "max_1d", "merchants_1d", "gap"]);
        var planConcurrent = concurrent.CreatePlan(["n_1h", "sum_1d", "max_1d", "merchants_1d", "gap"]);
        var want = new float[5];
        var got = new float[5];
        for (var card = 0; card < 200; card++)
        {
            foreach (var asOf in new[] { T + 3_000_000, T + 10_000_000, T + 19_999_000, T + 20_000_000 })
            {
                var id = "c" + card.ToString(CultureInfo.InvariantCulture);
                plan.Assemble(new FeatureRequest(id, asOf), want, default);
                planConcurrent.Assemble(new FeatureRequest(id, asOf), got, default);
                Assert.Equal(want, got);
            }
        }

        Assert.Equal(sequential.EstimatedStateBytes, concurrent.EstimatedStateBytes);
        Assert.Equal(sequential.GetStatistics().EventsHeld, concurrent.GetStatistics().EventsHeld);
    }
}
