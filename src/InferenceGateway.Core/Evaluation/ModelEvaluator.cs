using InferenceGateway.Core.PredictionLog;

namespace InferenceGateway.Core.Evaluation;

/// <summary>
/// Evaluates the predictions of one model over a range of event times: per (version, arm, shadow) group the counts,
/// ROC AUC with its DeLong 95 % interval, log loss, precision and recall at a threshold, calibration buckets and
/// latency percentiles; then each primary group against the first (two arms: the AUC difference with its interval,
/// samples independent) and each shadow against the primary predictions of the same requests (agreement at the
/// threshold and the paired AUC difference).
/// </summary>
/// <remarks>
/// A prediction is labelled when an outcome with its request id exists (whenever it arrived); label ≥ 0.5 counts as
/// positive for AUC, precision and recall, and log loss uses the label as given. Scores are the first output.
/// </remarks>
public static class ModelEvaluator
{
    /// <summary>Bins of the calibration table (equal width over [0, 1]).</summary>
    public const int CalibrationBins = 10;

    /// <summary>Log loss clips probabilities to [ε, 1 − ε] with this ε (scikit-learn 1.2's default).</summary>
    public const double LogLossEpsilon = 1e-15;

    /// <summary>Most points kept of a ROC curve for plots.</summary>
    public const int MaxRocPoints = 200;

    /// <summary>How the interval is computed, for every surface that shows one.</summary>
    public const string IntervalMethod = "DeLong (1988) variance, normal 95 % interval; arms compared as independent samples, a shadow paired with its primary on the same requests";

    /// <summary>Reads the rows from the sink and evaluates them.</summary>
    public static async Task<EvaluationReport> EvaluateAsync(IPredictionSink sink, string model, long fromUnixMs, long toUnixMs, double threshold, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sink);
        var rows = new List<EvaluationRow>();
        await foreach (var row in sink.ReadEvaluationRowsAsync(model, fromUnixMs, toUnixMs, cancellationToken).ConfigureAwait(false))
        {
            rows.Add(row);
        }

        return Evaluate(rows, model, fromUnixMs, toUnixMs, threshold);
    }

    /// <summary>Evaluates rows already read (threshold 0 means 0.5).</summary>
    public static EvaluationReport Evaluate(IReadOnlyList<EvaluationRow> rows, string model, long fromUnixMs, long toUnixMs, double threshold)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (threshold == 0)
        {
            threshold = 0.5;
        }

        var groups = new Dictionary<(string Version, string Arm, bool Shadow), List<EvaluationRow>>();
        foreach (var row in rows)
        {
            var key = (row.Version, row.Arm, row.Shadow);
            if (!groups.TryGetValue(key, out var list))
            {
                groups[key] = list = [];
            }

            list.Add(row);
        }

        var ordered = groups.OrderBy(g => g.Key.Shadow).ThenBy(g => g.Key.Arm, StringComparer.Ordinal)
            .ThenBy(g => g.Key.Version, VersionComparer.Instance).ToList();
        var results = new List<GroupEvaluation>();
        var aucs = new List<AucResult>();
        foreach (var (key, list) in ordered)
        {
            var (evaluation, auc) = EvaluateGroup(key.Version, key.Arm, key.Shadow, list, threshold);
            results.Add(evaluation);
            aucs.Add(auc);
        }

        var comparisons = new List<GroupComparison>();
        var primaries = Enumerable.Range(0, results.Count).Where(i => !results[i].Shadow).ToList();
        for (var k = 1; k < primaries.Count; k++)
        {
            var a = primaries[0];
            var b = primaries[k];
            comparisons.Add(new GroupComparison(
                ComparisonKind.Arms, results[a].Key, results[b].Key, results[a].Labelled + results[b].Labelled,
                RocAuc.CompareIndependent(aucs[a], aucs[b]), double.NaN, double.NaN, 0));
        }

        for (var s = 0; s < results.Count; s++)
        {
            if (results[s].Shadow)
            {
                comparisons.Add(CompareShadow(ordered, s, results[s].Key, threshold));
            }
        }

        return new EvaluationReport(model, fromUnixMs, toUnixMs, threshold, results, comparisons, IntervalMethod);
    }

    private static (GroupEvaluation, AucResult) EvaluateGroup(string version, string arm, bool shadow, List<EvaluationRow> rows, double threshold)
    {
        var latencies = new long[rows.Count];
        var scores = new List<double>(rows.Count);
        var labels = new List<double>(rows.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            latencies[i] = rows[i].TotalMicroseconds;
            if (!double.IsNaN(rows[i].Label) && !float.IsNaN(rows[i].Score))
            {
                scores.Add(rows[i].Score);
                labels.Add(rows[i].Label);
            }
        }

        Array.Sort(latencies);
        var positive = new bool[labels.Count];
        double logLoss = 0;
        long tp = 0, fp = 0, fn = 0, positives = 0;
        var bins = new (long Count, double Predicted, double Observed)[CalibrationBins];
        for (var i = 0; i < labels.Count; i++)
        {
            var y = labels[i];
            var p = scores[i];
            positive[i] = y >= 0.5;
            positives += positive[i] ? 1 : 0;
            var clipped = Math.Clamp(p, LogLossEpsilon, 1 - LogLossEpsilon);
            logLoss -= (y * Math.Log(clipped)) + ((1 - y) * Math.Log(1 - clipped));
            var predicted = p >= threshold;
            tp += predicted && positive[i] ? 1 : 0;
            fp += predicted && !positive[i] ? 1 : 0;
            fn += !predicted && positive[i] ? 1 : 0;
            var bin = Math.Clamp((int)Math.Floor(p * CalibrationBins), 0, CalibrationBins - 1);
            bins[bin].Count++;
            bins[bin].Predicted += p;
            bins[bin].Observed += y;
        }

        var auc = RocAuc.Compute(scores.ToArray(), positive);
        var calibration = new CalibrationBucket[CalibrationBins];
        for (var b = 0; b < CalibrationBins; b++)
        {
            var (count, predicted, observed) = bins[b];
            calibration[b] = new CalibrationBucket((double)b / CalibrationBins, (double)(b + 1) / CalibrationBins, count,
                count == 0 ? double.NaN : predicted / count, count == 0 ? double.NaN : observed / count);
        }

        var evaluation = new GroupEvaluation(
            new GroupKey(version, arm, shadow), rows.Count, labels.Count, positives,
            auc.Auc, labels.Count == 0 ? double.NaN : auc.Low, labels.Count == 0 ? double.NaN : auc.High, auc.StandardError,
            labels.Count == 0 ? double.NaN : logLoss / labels.Count,
            tp + fp == 0 ? double.NaN : (double)tp / (tp + fp),
            tp + fn == 0 ? double.NaN : (double)tp / (tp + fn),
            Percentile(latencies, 50) / 1000.0, Percentile(latencies, 99) / 1000.0,
            calibration, RocCurve(scores, positive));
        return (evaluation, auc);
    }

    /// <summary>A shadow against the primary predictions of the same request ids.</summary>
    private static GroupComparison CompareShadow(List<KeyValuePair<(string Version, string Arm, bool Shadow), List<EvaluationRow>>> groups, int shadowIndex, GroupKey shadowKey, double threshold)
    {
        var primary = new Dictionary<string, EvaluationRow>(StringComparer.Ordinal);
        GroupKey? primaryKey = null;
        foreach (var (key, rows) in groups)
        {
            if (key.Shadow)
            {
                continue;
            }

            primaryKey ??= new GroupKey(key.Version, key.Arm, false);
            foreach (var row in rows)
            {
                primary.TryAdd(row.RequestId, row);
            }
        }

        long joined = 0, agree = 0;
        double absoluteDifference = 0;
        var a = new List<double>();
        var b = new List<double>();
        var positive = new List<bool>();
        foreach (var row in groups[shadowIndex].Value)
        {
            if (!primary.TryGetValue(row.RequestId, out var p) || float.IsNaN(p.Score) || float.IsNaN(row.Score))
            {
                continue;
            }

            joined++;
            agree += (p.Score >= threshold) == (row.Score >= threshold) ? 1 : 0;
            absoluteDifference += Math.Abs(row.Score - p.Score);
            if (!double.IsNaN(row.Label))
            {
                a.Add(p.Score);
                b.Add(row.Score);
                positive.Add(row.Label >= 0.5);
            }
        }

        var difference = RocAuc.ComparePaired(a.ToArray(), b.ToArray(), positive.ToArray());
        return new GroupComparison(
            ComparisonKind.Shadow, primaryKey ?? new GroupKey("", "", false), shadowKey, a.Count, difference,
            joined == 0 ? double.NaN : (double)agree / joined, joined == 0 ? double.NaN : absoluteDifference / joined, joined);
    }

    /// <summary>The nearest-rank percentile (the smallest value with at least p % of the values at or below it).</summary>
    public static double Percentile(ReadOnlySpan<long> sorted, double p)
    {
        if (sorted.IsEmpty)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }

    /// <summary>The ROC curve's corner points (one per distinct score, highest first), thinned to <see cref="MaxRocPoints"/>.</summary>
    private static RocPoint[] RocCurve(List<double> scores, bool[] positive)
    {
        var m = positive.Count(p => p);
        var n = positive.Length - m;
        if (m == 0 || n == 0)
        {
            return [];
        }

        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        var points = new List<RocPoint> { new(0, 0, double.PositiveInfinity) };
        long tp = 0, fp = 0;
        for (var k = 0; k < order.Length; k++)
        {
            if (positive[order[k]])
            {
                tp++;
            }
            else
            {
                fp++;
            }

            if (k == order.Length - 1 || scores[order[k + 1]] != scores[order[k]])
            {
                points.Add(new RocPoint((double)fp / n, (double)tp / m, scores[order[k]]));
            }
        }

        if (points.Count <= MaxRocPoints)
        {
            return [.. points];
        }

        // Keep points spread along the curve's length so both the steep start and the long tail keep their shape.
        var kept = new List<RocPoint> { points[0] };
        var total = 0.0;
        for (var i = 1; i < points.Count; i++)
        {
            total += Distance(points[i - 1], points[i]);
        }

        var step = total / (MaxRocPoints - 1);
        var walked = 0.0;
        var next = step;
        for (var i = 1; i < points.Count - 1; i++)
        {
            walked += Distance(points[i - 1], points[i]);
            if (walked >= next)
            {
                kept.Add(points[i]);
                next += step;
            }
        }

        kept.Add(points[^1]);
        return [.. kept];
    }

    private static double Distance(RocPoint a, RocPoint b) => Math.Abs(a.FalsePositiveRate - b.FalsePositiveRate) + Math.Abs(a.TruePositiveRate - b.TruePositiveRate);

    /// <summary>Orders versions numerically when both are numbers ("2" before "10"), else ordinally.</summary>
    private sealed class VersionComparer : IComparer<string>
    {
        public static readonly VersionComparer Instance = new();

        public int Compare(string? x, string? y) =>
            long.TryParse(x, out var a) && long.TryParse(y, out var b) ? a.CompareTo(b) : string.CompareOrdinal(x, y);
    }
}
