using System.IO.Compression;
using InferenceGateway.Server.Cli;

namespace InferenceGateway.Server.Tests;

/// <summary>The backfill and replay verbs.</summary>
public sealed class CommandTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public void Backfill_BundledTransactionsForFraudV2_WritesFeaturesCsvGzByteForByte()
    {
        var output = Path.Combine(Path.GetTempPath(), $"ig-backfill-{Guid.NewGuid():N}.csv");
        try
        {
            var stderr = new StringWriter();
            var code = BackfillCommand.Run(
                ["--events", Path.Combine(RepoPaths.Models, "data", "transactions.csv.gz"), "--model", "fraud", "--version", "2", "--output", output,
                 "--model-repository", RepoPaths.Models, "--feature-repository", Path.Combine(RepoPaths.Root, "features")],
                TextWriter.Null, stderr);
            Assert.True(code == 0, stderr.ToString());

            using var reference = new GZipStream(File.OpenRead(Path.Combine(RepoPaths.Models, "data", "features.csv.gz")), CompressionMode.Decompress);
            using var expected = new MemoryStream();
            reference.CopyTo(expected);
            Assert.True(expected.ToArray().AsSpan().SequenceEqual(File.ReadAllBytes(output)), "backfill output differs from models/data/features.csv.gz");
            Assert.Contains("199,766 feature rows written (0 failed)", stderr.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public void Backfill_NoFeatureSource_UsageAndExitCode2()
    {
        var stderr = new StringWriter();
        Assert.Equal(2, BackfillCommand.Run(["--events", "x.csv", "--output", "y.csv"], TextWriter.Null, stderr));
        Assert.Contains("give either --model or --features", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_FirstRowsThroughARunningGateway_EveryEventAppliedAndAucReported()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await ReplayCommand.RunAsync(
            ["--target", $"http://127.0.0.1:{gateway.GrpcPort}", "--file", Path.Combine(RepoPaths.Models, "data", "transactions.csv.gz"), "--limit", "8000", "--quiet"],
            stdout, stderr).WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(code == 0, stdout + stderr.ToString());
        var text = stdout.ToString();
        Assert.Contains("replay: 8,000 rows", text, StringComparison.Ordinal);
        Assert.Contains("served by fraud v2 8,000", text, StringComparison.Ordinal);
        Assert.Contains("events 8,000 applied, 0 late, 0 rejected", text, StringComparison.Ordinal);
        // The first 8,000 rows (a day and a half) hold 92 fraudulent ones: fraud v2 ranks them far above the others.
        var auc = double.Parse(System.Text.RegularExpressions.Regex.Match(text, @"AUC (\d\.\d{4}) over all 8,000 rows \(92 positive\)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(auc, 0.95, 1.0);
    }

    [Fact]
    public void Auc_ScoresWithTies_MannWhitneyWithTiesCountedHalf()
    {
        // Positives at 0.9, 0.5 (tied with a negative) and 0.2; negatives at 0.5, 0.3, 0.1. Pairs won: 0.9 beats 3,
        // 0.5 beats 2 and ties 1 (0.5), 0.2 beats 1: 6.5 of 9.
        var rows = new List<ReplayCommand.Row>
        {
            new("a", 1, true), new("b", 2, true), new("c", 3, true),
            new("d", 4, false), new("e", 5, false), new("f", 6, false),
        };
        float[] scores = [0.9f, 0.5f, 0.2f, 0.5f, 0.3f, 0.1f];
        var (auc, count, positives) = ReplayCommand.Auc(rows, scores, _ => true);
        Assert.Equal(6.5 / 9, auc, 12);
        Assert.Equal(6, count);
        Assert.Equal(3, positives);
        Assert.Equal(1.0, ReplayCommand.Auc(rows, scores, r => r.Time != 2 && r.Time != 3 && r.Time != 4).Auc, 12);
    }
}
