using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using InferenceGateway.Core.Evaluation;
using InferenceGateway.Core.PredictionLog;

namespace InferenceGateway.Core.Tests.Evaluation;

/// <summary>Evaluation figures against a brute-force count and against an independent reference (numpy, scikit-learn).</summary>
public sealed class EvaluationTests
{
    /// <summary>Scores with ties (rounded to 2 decimals) whose positives score higher on average.</summary>
    private static (double[] Scores, double[] Labels) Data(int seed, int count, double positiveRate)
    {
        var random = new Random(seed);
        var scores = new double[count];
        var labels = new double[count];
        for (var i = 0; i < count; i++)
        {
            var positive = random.NextDouble() < positiveRate;
            labels[i] = positive ? 1 : 0;
            var raw = (positive ? 0.62 : 0.4) + (0.2 * (random.NextDouble() - 0.5) * 2);
            scores[i] = Math.Clamp(Math.Round(raw, 2), 0.01, 0.99);
        }

        return (scores, labels);
    }

    private static double PairwiseAuc(double[] scores, double[] labels)
    {
        double wins = 0;
        long pairs = 0;
        for (var i = 0; i < scores.Length; i++)
        {
            for (var j = 0; j < scores.Length; j++)
            {
                if (labels[i] == 1 && labels[j] == 0)
                {
                    pairs++;
                    wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0;
                }
            }
        }

        return wins / pairs;
    }

    [Theory]
    [InlineData(1, 50, 0.3)]
    [InlineData(2, 400, 0.1)]
    [InlineData(3, 1000, 0.5)]
    public void Compute_RandomScoresWithTies_EqualsPairwiseCount(int seed, int count, double positiveRate)
    {
        var (scores, labels) = Data(seed, count, positiveRate);
        var result = RocAuc.Compute(scores, labels.Select(l => l == 1).ToArray());
        Assert.Equal(PairwiseAuc(scores, labels), result.Auc, 12);
    }

    [Fact]
    public void Compute_OneClassOnly_NaN()
    {
        var result = RocAuc.Compute([0.1, 0.2], [true, true]);
        Assert.True(double.IsNaN(result.Auc));
    }

    [Theory]
    [InlineData(11, 300, 0.2)]
    [InlineData(12, 2000, 0.05)]
    public void Evaluate_KnownData_EqualsNumpyAndSklearnReference(int seed, int count, double positiveRate)
    {
        var (scores, labels) = Data(seed, count, positiveRate);
        var random = new Random(seed + 100);
        var shadow = scores.Select(s => Math.Clamp(Math.Round(s + ((random.NextDouble() - 0.45) * 0.3), 2), 0.01, 0.99)).ToArray();
        var latencies = Enumerable.Range(0, count).Select(_ => (long)random.Next(200, 20_000)).ToArray();
        var reference = Reference(scores, labels, shadow, latencies, 0.5);

        var rows = new List<EvaluationRow>();
        for (var i = 0; i < count; i++)
        {
            rows.Add(new EvaluationRow("1", "", false, $"r{i}", (float)scores[i], latencies[i], labels[i]));
            rows.Add(new EvaluationRow("2", "", true, $"r{i}", (float)shadow[i], latencies[i], labels[i]));
        }

        // Scores are floats in the log; the data are exact in float at two decimals only approximately, so the
        // reference gets the same float-rounded values.
        var report = ModelEvaluator.Evaluate(rows, "fraud", 0, 0, 0);
        var primary = report.Groups.Single(g => !g.Shadow);
        Assert.Equal(count, primary.Predictions);
        Assert.Equal(count, primary.Labelled);
        Assert.Equal(reference["auc"]!.GetValue<double>(), primary.Auc, 9);
        Assert.Equal(reference["auc_definition"]!.GetValue<double>(), primary.Auc, 9);
        var se = Math.Sqrt(reference["variance"]!.GetValue<double>());
        Assert.Equal(se, primary.AucStandardError, 9);
        Assert.Equal(Math.Max(0, primary.Auc - (1.959963984540054 * se)), primary.AucLow, 9);
        Assert.Equal(Math.Min(1, primary.Auc + (1.959963984540054 * se)), primary.AucHigh, 9);
        Assert.Equal(reference["log_loss"]!.GetValue<double>(), primary.LogLoss, 9);
        Assert.Equal(reference["precision"]!.GetValue<double>(), primary.Precision, 12);
        Assert.Equal(reference["recall"]!.GetValue<double>(), primary.Recall, 12);
        Assert.Equal(reference["p50"]!.GetValue<double>() / 1000, primary.LatencyP50Ms, 9);
        Assert.Equal(reference["p99"]!.GetValue<double>() / 1000, primary.LatencyP99Ms, 9);
        var counts = reference["calibration_counts"]!.AsArray();
        var observed = reference["calibration_observed"]!.AsArray();
        var predicted = reference["calibration_predicted"]!.AsArray();
        for (var b = 0; b < 10; b++)
        {
            Assert.Equal(counts[b]!.GetValue<long>(), primary.Calibration[b].Count);
            if (counts[b]!.GetValue<long>() > 0)
            {
                Assert.Equal(observed[b]!.GetValue<double>(), primary.Calibration[b].ObservedRate, 9);
                Assert.Equal(predicted[b]!.GetValue<double>(), primary.Calibration[b].MeanPredicted, 9);
            }
        }

        var comparison = report.Comparisons.Single(c => c.Kind == ComparisonKind.Shadow);
        Assert.True(comparison.Auc.Paired);
        Assert.Equal(reference["paired_difference"]!.GetValue<double>(), comparison.Auc.Difference, 9);
        Assert.Equal(Math.Sqrt(reference["paired_variance"]!.GetValue<double>()), comparison.Auc.StandardError, 9);
        Assert.Equal(count, comparison.Joined);
        var agree = scores.Zip(shadow).Count(p => ((float)p.First >= 0.5) == ((float)p.Second >= 0.5));
        Assert.Equal((double)agree / count, comparison.Agreement, 12);
    }

    [Fact]
    public void Evaluate_TwoArms_DifferenceIsIndependentWithVariancesAdded()
    {
        var (a, la) = Data(21, 500, 0.2);
        var (b, lb) = Data(22, 500, 0.2);
        var rows = a.Select((s, i) => new EvaluationRow("1", "control", false, $"a{i}", (float)s, 1000, la[i]))
            .Concat(b.Select((s, i) => new EvaluationRow("2", "treatment", false, $"b{i}", (float)(1 - s), 1000, lb[i])))
            .ToList();
        var report = ModelEvaluator.Evaluate(rows, "fraud", 0, 0, 0.5);
        var control = RocAuc.Compute(a.Select(s => (double)(float)s).ToArray(), la.Select(l => l == 1).ToArray());
        var treatment = RocAuc.Compute(b.Select(s => (double)(float)(1 - s)).ToArray(), lb.Select(l => l == 1).ToArray());
        var arms = report.Comparisons.Single();
        Assert.Equal(ComparisonKind.Arms, arms.Kind);
        Assert.False(arms.Auc.Paired);
        Assert.Equal("control", arms.Baseline.Arm);
        Assert.Equal(treatment.Auc - control.Auc, arms.Auc.Difference, 12);
        Assert.Equal(Math.Sqrt(control.Variance + treatment.Variance), arms.Auc.StandardError, 12);
        Assert.True(arms.Auc.High < 0, "the treatment scores backwards: its AUC is far lower");
        Assert.Contains("worse", EvaluationFormat.Verdict(arms), StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_UnlabelledAndNoPredictions_CountsWithoutMetrics()
    {
        var report = ModelEvaluator.Evaluate([new EvaluationRow("1", "", false, "x", 0.3f, 500, double.NaN)], "fraud", 0, 0, 0);
        var group = Assert.Single(report.Groups);
        Assert.Equal((1, 0), (group.Predictions, group.Labelled));
        Assert.True(double.IsNaN(group.Auc) && double.IsNaN(group.LogLoss) && double.IsNaN(group.AucLow));
        Assert.Equal(0.5, group.LatencyP50Ms);
        Assert.Contains("n/a", EvaluationFormat.Table(report), StringComparison.Ordinal);
        Assert.Empty(ModelEvaluator.Evaluate([], "fraud", 0, 0, 0).Groups);
    }

    [Theory]
    [InlineData(new long[] { 5 }, 50, 5)]
    [InlineData(new long[] { 1, 2, 3, 4 }, 50, 2)]
    [InlineData(new long[] { 1, 2, 3, 4 }, 99, 4)]
    [InlineData(new long[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, 90, 9)]
    public void Percentile_NearestRank_SmallestValueWithPShareAtOrBelow(long[] sorted, double p, long expected)
    {
        Assert.Equal(expected, ModelEvaluator.Percentile(sorted, p));
    }

    [Fact]
    public void Erfc_KnownValues_WithinItsStatedError()
    {
        Assert.Equal(0.05, Normal.TwoSidedP(RocAuc.Z975), 6);
        Assert.Equal(1.0, Normal.Erfc(0), 6);
        Assert.Equal(0.157299207050285, Normal.Erfc(1), 6);
        Assert.Equal(1.842700792949715, Normal.Erfc(-1), 6);
    }

    private static JsonNode Reference(double[] scores, double[] labels, double[] shadow, long[] latencies, double threshold)
    {
        var input = JsonSerializer.Serialize(new
        {
            scores = scores.Select(s => (double)(float)s),
            labels,
            scores_b = shadow.Select(s => (double)(float)s),
            threshold,
            latencies,
        });
        var start = new ProcessStartInfo("/usr/bin/python3", [Path.Combine(AppContext.BaseDirectory, "Evaluation", "reference_evaluation.py")])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        process.StandardInput.Write(input);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(120)), "the python reference did not finish");
        Assert.True(process.ExitCode == 0, error.Result);
        return JsonNode.Parse(output.Result)!;
    }
}
