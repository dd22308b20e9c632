using System.Diagnostics;
using InferenceGateway.Core.Features;
using Xunit.Abstractions;

namespace InferenceGateway.Core.Tests.Features;

/// <summary>
/// The whole bundled transactions file replayed through the engine ("query, then ingest" per row, as online) gives
/// models/data/features.csv.gz bit for bit: every float32 and, since floats are written the way the file writes them,
/// every byte of every line.
/// </summary>
public sealed class BundledReplayTests(ITestOutputHelper output)
{
    [Fact]
    public void Replay_BundledTransactions_EqualsFeaturesCsvBitForBit()
    {
        var started = Stopwatch.GetTimestamp();
        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        var written = new StringWriter { NewLine = "\n" };
        BackfillResult result;
        using (var events = FeatureTestData.OpenGzip(FeatureTestData.TransactionsPath))
        {
            result = new FeatureBackfill(engine, "transactions").Replay(events, written, FeatureTestData.FraudV2);
        }

        var replayed = Stopwatch.GetElapsedTime(started);
        Assert.Equal(199_766, result.Rows);
        Assert.Equal(199_766, result.Accepted);
        Assert.Equal(199_766, result.Queries);
        Assert.Equal(0, result.Rejected + result.DroppedLate + result.QueriesFailed + result.HistoryIncomplete + result.EvictedMemoryCap);

        using var expected = FeatureTestData.OpenGzip(FeatureTestData.FeaturesPath);
        using var actual = new StringReader(written.ToString());
        Assert.Equal(expected.ReadLine(), actual.ReadLine());
        var rows = 0;
        var mismatches = new List<string>();
        while (expected.ReadLine() is { } want)
        {
            var got = actual.ReadLine();
            rows++;
            if (got == want)
            {
                continue;
            }

            // Report the differing float32s by bits, not text, so a formatting-only difference reads as such.
            var w = want.Split(',');
            var g = (got ?? "").Split(',');
            for (var i = 2; i < w.Length; i++)
            {
                var wantBits = BitConverter.SingleToInt32Bits(float.Parse(w[i], System.Globalization.CultureInfo.InvariantCulture));
                var gotBits = i < g.Length && float.TryParse(g[i], System.Globalization.CultureInfo.InvariantCulture, out var f) ? BitConverter.SingleToInt32Bits(f) : -1;
                if (wantBits != gotBits || w[i] != g[i])
                {
                    mismatches.Add($"row {rows} ({w[0]},{w[1]}) {FeatureTestData.FraudV2[i - 2]}: expected {w[i]}, got {(i < g.Length ? g[i] : "(none)")}");
                }
            }
        }

        Assert.Null(actual.ReadLine());
        Assert.Equal(199_766, rows);
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches, first: {string.Join("; ", mismatches.Take(10))}");
        output.WriteLine($"replay {replayed.TotalSeconds:F2} s ({result.Duration.TotalSeconds:F2} s in the backfill), compare {Stopwatch.GetElapsedTime(started).TotalSeconds:F2} s in all");
    }
}
