using System.Globalization;
using InferenceGateway.Core.Features;

namespace InferenceGateway.Core.Tests.Features;

/// <summary>
/// The engine against a brute-force oracle on seeded random event sequences: every aggregation kind on fixed-point,
/// float and string fields, windows from 1 ms to 10 days, events out of order within the allowed lateness and beyond it,
/// ties at one millisecond, as-of times on window edges and one millisecond either side, maintenance (trimming and idle
/// eviction) and restarts from a snapshot in the middle. The oracle keeps every accepted event and scans.
/// </summary>
public sealed class WindowOracleTests : IDisposable
{
    private const long T0 = 1_700_000_000_000;
    private const long Lateness = 2_000;

    private static readonly long[] s_windows = [1, 1_000, 5_000, 30_000, 864_000_000];
    private static readonly long[] s_shortWindows = [1, 1_000, 5_000, 30_000];
    private static readonly string[] s_kinds = ["count", "sum", "mean", "min", "max", "last", "seconds_since_last", "distinct_count"];
    private static readonly string[] s_fields = ["a", "f", "k", "c"];

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ig-oracle-" + Guid.NewGuid().ToString("N"));

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (var seed = 1; seed <= 16; seed++)
        {
            data.Add(seed);
        }

        return data;
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    /// <summary>
    /// Definitions: one stream "s" keyed by "id", and every valid (function, field, window) combination; without the
    /// 10-day window the longest is 30 s, so a sequence spanning minutes also exercises trimming and idle eviction.
    /// </summary>
    internal static FeatureRepository Definitions(out List<Aggregation> aggregations, bool longWindow = true)
    {
        aggregations = [];
        var features = new List<string>();
        foreach (var window in longWindow ? s_windows : s_shortWindows)
        {
            foreach (var kind in s_kinds)
            {
                foreach (var field in kind is "count" or "seconds_since_last" ? new string?[] { null } : s_fields)
                {
                    if (field == "k" && kind != "distinct_count")
                    {
                        continue;
                    }

                    var name = $"{kind}_{field ?? "x"}_{window}";
                    var defaultValue = kind == "mean" ? -1.5 : 0.25 * aggregations.Count;
                    aggregations.Add(new Aggregation(name, kind, field, window, defaultValue));
                    var fieldJson = field is null ? "" : $"\"field\": \"{field}\", ";
                    features.Add($"{{ \"name\": \"{name}\", \"stream\": \"s\", \"function\": \"{kind}\", {fieldJson}\"window\": \"{window}ms\", \"default\": {defaultValue.ToString(CultureInfo.InvariantCulture)} }}");
                }
            }
        }

        return FeatureTestData.Parse($$"""
            {
              "streams": [ { "name": "s", "entity_key": "id", "event_time": "t", "allowed_lateness": "{{Lateness}}ms",
                "fields": [
                  { "name": "a", "type": "number", "decimals": 2 },
                  { "name": "f", "type": "number" },
                  { "name": "k", "type": "string" },
                  { "name": "c", "type": "number", "decimals": 0 }
                ] } ],
              "aggregations": [ {{string.Join(",\n", features)}} ]
            }
            """);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Lookups_RandomSequence_MatchBruteForce(int seed)
    {
        var definitions = Definitions(out var aggregations, longWindow: seed % 2 == 0);
        var options = new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan, LockStripes = 4 };
        var engine = new FeatureEngine(definitions, options);
        var plan = engine.CreatePlan(aggregations.Select(a => a.Name).ToArray());
        var rng = new Random(seed);
        var events = Generate(rng, 500);
        var oracle = new List<Event>();
        long watermark = long.MinValue;
        var values = new float[plan.Count];
        var defaulted = new bool[plan.Count];
        var checkedLookups = 0;
        var late = 0;
        var restartAt = seed % 3 == 0 ? rng.Next(events.Count) : -1;

        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            var result = engine.Ingest("s", e.Entity, e.Time, e.Numbers, e.Strings);
            var expectLate = watermark != long.MinValue && e.Time < watermark - Lateness;
            Assert.Equal(expectLate ? IngestOutcome.DroppedLate : IngestOutcome.Accepted, result.Outcome);
            if (expectLate)
            {
                late++;
            }
            else
            {
                oracle.Add(e with { Arrival = oracle.Count });
                watermark = Math.Max(watermark, e.Time);
            }

            if (rng.Next(8) == 0)
            {
                engine.RunMaintenance();
            }

            if (i == restartAt)
            {
                var path = Path.Combine(_dir, "state.bin");
                engine.SaveSnapshot(path);
                engine = new FeatureEngine(definitions, options);
                Assert.Equal(SnapshotRestoreStatus.Restored, engine.RestoreSnapshot(path).Status);
                plan = engine.CreatePlan(aggregations.Select(a => a.Name).ToArray());
            }

            if (rng.Next(4) != 0)
            {
                continue;
            }

            // Lookups at random and edge as-of times, all inside the exactly retained history.
            var entity = "e" + rng.Next(4).ToString(CultureInfo.InvariantCulture);
            foreach (var asOf in AsOfTimes(rng, oracle, entity, watermark))
            {
                if (asOf < watermark - Lateness || asOf <= 0)
                {
                    continue;
                }

                var assembled = plan.Assemble(new FeatureRequest(entity, asOf), values, defaulted);
                Assert.True(assembled.IsSuccess);
                Assert.False(assembled.HistoryIncomplete);
                var history = oracle.Where(e => e.Entity == entity && e.Time < asOf).OrderBy(e => e.Time).ThenBy(e => e.Arrival).ToList();
                var windows = new Dictionary<long, List<Event>>();
                for (var f = 0; f < aggregations.Count; f++)
                {
                    var w = aggregations[f].Window;
                    if (!windows.TryGetValue(w, out var window))
                    {
                        windows[w] = window = history.Where(e => e.Time >= asOf - w).ToList();
                    }

                    var (want, wantDefaulted) = Compute(aggregations[f], window, asOf);
                    if (BitConverter.SingleToInt32Bits(want) != BitConverter.SingleToInt32Bits(values[f]) || wantDefaulted != defaulted[f])
                    {
                        Assert.Fail($"seed {seed}, event {i}, {entity} as of {asOf - T0}: {aggregations[f].Name} = {values[f]} (defaulted {defaulted[f]}), oracle {want} (defaulted {wantDefaulted})");
                    }
                }

                checkedLookups++;
            }
        }

        Assert.True(checkedLookups > 100, $"only {checkedLookups} lookups checked");
        if (seed % 2 == 1)
        {
            // Short windows only: the minutes-long sequence left e3 idle long enough to go, and old events were trimmed.
            engine.RunMaintenance();
            Assert.False(engine.GetStatistics().Streams["s"].EventsHeld >= oracle.Count, "old events should have been trimmed");
        }

        Assert.True(late > 0, "the sequence should include events beyond the allowed lateness");
        Assert.Equal(late, engine.GetStatistics().EventsLate + (restartAt >= 0 ? LateBefore(events, restartAt) : 0));
    }

    [Fact]
    public void Maintenance_EntityIdleLongerThanWindowAndLateness_EvictedAndLookupsStillExact()
    {
        var definitions = Definitions(out var aggregations);
        var engine = new FeatureEngine(definitions, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        var plan = engine.CreatePlan(aggregations.Where(a => a.Window <= 30_000).Select(a => a.Name).ToArray());
        var longest = 864_000_000L;
        Ingest(engine, "quiet", T0);
        Ingest(engine, "busy", T0 + 1);

        // The busy entity moves the watermark; "quiet" becomes evictable once its last event is behind the horizon.
        Ingest(engine, "busy", T0 + longest + Lateness);
        Assert.Equal(0, engine.RunMaintenance().IdleEvicted);
        Ingest(engine, "busy", T0 + longest + Lateness + 1);
        var maintenance = engine.RunMaintenance();
        Assert.Equal(1, maintenance.IdleEvicted);
        Assert.Equal(1, maintenance.EventsTrimmed); // quiet's event; busy's first one sits exactly on the horizon (kept)
        Assert.Equal(1, engine.EntityCount);
        Assert.Equal(1, engine.GetStatistics().EvictedIdle);

        var values = new float[plan.Count];
        var defaulted = new bool[plan.Count];
        Assert.True(plan.Assemble(new FeatureRequest("quiet", T0 + longest + Lateness + 1), values, defaulted).IsSuccess);
        Assert.All(defaulted, Assert.True);
    }

    private static long LateBefore(List<Event> events, int index)
    {
        // Late events counted by the engine that was replaced at a restart.
        long watermark = long.MinValue, late = 0;
        for (var i = 0; i <= index; i++)
        {
            if (watermark != long.MinValue && events[i].Time < watermark - Lateness)
            {
                late++;
            }
            else
            {
                watermark = Math.Max(watermark, events[i].Time);
            }
        }

        return late;
    }

    private static void Ingest(FeatureEngine engine, string entity, long time) =>
        Assert.True(engine.Ingest("s", entity, time, new Dictionary<string, double> { ["a"] = 1.25, ["f"] = 0.5, ["c"] = 3 }, new Dictionary<string, string> { ["k"] = "x" }).IsAccepted);

    /// <summary>Events on 4 entities (e3 only early, so it goes idle), times with ties, arrival order jittered up to 3 s.</summary>
    private static List<Event> Generate(Random rng, int count)
    {
        var list = new List<Event>(count);
        var time = T0;
        for (var i = 0; i < count; i++)
        {
            time += rng.Next(4) == 0 ? 0 : rng.Next(1, 400);
            var entity = i < count / 5 ? rng.Next(4) : rng.Next(3);
            var cents = rng.Next(-50_000, 50_000);
            var numbers = new Dictionary<string, double>
            {
                ["a"] = cents / 100.0,
                ["f"] = Math.Round((rng.NextDouble() * 200) - 100, rng.Next(1, 12)),
                ["c"] = rng.Next(6),
            };
            var strings = new Dictionary<string, string> { ["k"] = "k" + rng.Next(10).ToString(CultureInfo.InvariantCulture) };
            list.Add(new Event("e" + entity.ToString(CultureInfo.InvariantCulture), time, cents, numbers, strings, 0, time + rng.Next(3_000)));
        }

        // Arrival order: by time plus jitter; jitter beyond the 2 s lateness makes some events too late.
        return [.. list.OrderBy(e => e.ArrivalKey)];
    }

    private static IEnumerable<long> AsOfTimes(Random rng, List<Event> oracle, string entity, long watermark)
    {
        yield return watermark + rng.Next(1, 2_000);
        yield return watermark;
        yield return watermark - rng.NextInt64(Lateness);
        var own = oracle.Where(e => e.Entity == entity).ToList();
        if (own.Count == 0)
        {
            yield break;
        }

        var anchor = own[rng.Next(own.Count)].Time;
        foreach (var delta in new long[] { -1, 0, 1 })
        {
            yield return anchor + delta;
            var window = s_windows[rng.Next(s_windows.Length - 1)];
            yield return anchor + window + delta;
        }
    }

    /// <summary>
    /// The oracle: the entity's accepted events in [asOf - W, asOf) (<paramref name="window"/>, in time order then
    /// arrival order), scanned.
    /// </summary>
    private static (float Value, bool Defaulted) Compute(Aggregation aggregation, List<Event> window, long asOf)
    {
        if (window.Count == 0)
        {
            return ((float)aggregation.Default, true);
        }

        double value;
        var n = window.Count;
        switch (aggregation.Kind, aggregation.Field)
        {
            case ("count", _):
                value = n;
                break;
            case ("seconds_since_last", _):
                value = (double)(asOf - window[^1].Time) / 1000.0;
                break;
            case ("distinct_count", "k"):
                value = window.Select(e => e.Strings["k"]).Distinct(StringComparer.Ordinal).Count();
                break;
            case ("distinct_count", var field):
                value = window.Select(e => e.Numbers[field!]).Distinct().Count();
                break;
            case ("sum", "a"):
                value = (double)window.Sum(e => e.Cents) / 100.0;
                break;
            case ("mean", "a"):
                value = (double)window.Sum(e => e.Cents) / 100.0 / n;
                break;
            case ("min", "a"):
                value = window.Min(e => e.Cents) / 100.0;
                break;
            case ("max", "a"):
                value = window.Max(e => e.Cents) / 100.0;
                break;
            case ("last", "a"):
                value = window[^1].Cents / 100.0;
                break;
            case ("sum", var field):
                value = 0;
                foreach (var e in window)
                {
                    value += e.Numbers[field!];
                }

                break;
            case ("mean", var field):
                value = 0;
                foreach (var e in window)
                {
                    value += e.Numbers[field!];
                }

                value /= n;
                break;
            case ("min", var field):
                value = window.Min(e => e.Numbers[field!]);
                break;
            case ("max", var field):
                value = window.Max(e => e.Numbers[field!]);
                break;
            case ("last", var field):
                value = window[^1].Numbers[field!];
                break;
            default:
                throw new InvalidOperationException(aggregation.Name);
        }

        return ((float)value, false);
    }

    internal sealed record Aggregation(string Name, string Kind, string? Field, long Window, double Default);

    private sealed record Event(string Entity, long Time, long Cents, Dictionary<string, double> Numbers, Dictionary<string, string> Strings, int Arrival, long ArrivalKey);
}
