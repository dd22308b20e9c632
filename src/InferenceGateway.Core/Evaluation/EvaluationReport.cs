namespace InferenceGateway.Core.Evaluation;

/// <summary>A group of predictions evaluated together.</summary>
/// <param name="Version">Model version.</param>
/// <param name="Arm">Experiment arm (empty when none).</param>
/// <param name="Shadow">True for a shadow's predictions.</param>
public readonly record struct GroupKey(string Version, string Arm, bool Shadow)
{
    /// <inheritdoc />
    public override string ToString() => $"v{Version}{(Arm.Length > 0 ? " arm " + Arm : "")}{(Shadow ? " (shadow)" : "")}";
}

/// <summary>One calibration bucket: predictions whose score is in [<paramref name="From"/>, <paramref name="To"/>).</summary>
public readonly record struct CalibrationBucket(double From, double To, long Count, double MeanPredicted, double ObservedRate);

/// <summary>One point of a ROC curve at a score threshold.</summary>
public readonly record struct RocPoint(double FalsePositiveRate, double TruePositiveRate, double Threshold);

/// <summary>The evaluation of one (version, arm, shadow) group.</summary>
/// <param name="Key">The group.</param>
/// <param name="Predictions">Predictions (status OK, one row) in the range.</param>
/// <param name="Labelled">Of those, predictions with an outcome.</param>
/// <param name="Positives">Labelled predictions whose label is at least 0.5.</param>
/// <param name="Auc">ROC AUC over the labelled predictions.</param>
/// <param name="AucLow">Lower end of its 95 % interval (DeLong).</param>
/// <param name="AucHigh">Upper end of its 95 % interval (DeLong).</param>
/// <param name="AucStandardError">The AUC's standard error (DeLong).</param>
/// <param name="LogLoss">Mean log loss.</param>
/// <param name="Precision">Precision at the threshold (NaN when nothing scored at or above it).</param>
/// <param name="Recall">Recall at the threshold (NaN without positives).</param>
/// <param name="LatencyP50Ms">Median total latency in the gateway, ms (every prediction, labelled or not).</param>
/// <param name="LatencyP99Ms">99th percentile total latency, ms.</param>
/// <param name="Calibration">Calibration buckets over the labelled predictions.</param>
/// <param name="Roc">The ROC curve, thinned for plotting.</param>
public sealed record GroupEvaluation(
    GroupKey Key, long Predictions, long Labelled, long Positives, double Auc, double AucLow, double AucHigh, double AucStandardError,
    double LogLoss, double Precision, double Recall, double LatencyP50Ms, double LatencyP99Ms, IReadOnlyList<CalibrationBucket> Calibration,
    IReadOnlyList<RocPoint> Roc)
{
    /// <summary>The version.</summary>
    public string Version => Key.Version;

    /// <summary>The arm.</summary>
    public string Arm => Key.Arm;

    /// <summary>True for a shadow.</summary>
    public bool Shadow => Key.Shadow;
}

/// <summary>What two groups are.</summary>
public enum ComparisonKind
{
    /// <summary>Two primary groups (arms, or versions serving disjoint requests): independent samples.</summary>
    Arms,

    /// <summary>A shadow against the primary predictions of the same requests: paired.</summary>
    Shadow,
}

/// <summary>A candidate group against a baseline.</summary>
/// <param name="Kind">Arms (independent) or shadow (paired).</param>
/// <param name="Baseline">The baseline (the first primary group).</param>
/// <param name="Candidate">The candidate.</param>
/// <param name="Cases">Labelled predictions behind the difference.</param>
/// <param name="Auc">AUC(candidate) − AUC(baseline) with its 95 % interval.</param>
/// <param name="Agreement">Shadows: share of the same requests on which both decide alike at the threshold.</param>
/// <param name="MeanAbsoluteScoreDifference">Shadows: mean |score difference| over the same requests.</param>
/// <param name="Joined">Shadows: requests with both a primary and a shadow prediction.</param>
public sealed record GroupComparison(
    ComparisonKind Kind, GroupKey Baseline, GroupKey Candidate, long Cases, AucDifference Auc, double Agreement, double MeanAbsoluteScoreDifference, long Joined);

/// <summary>An evaluation of one model over a range of event times.</summary>
/// <param name="Model">The logical model.</param>
/// <param name="FromUnixMs">Start of the range (inclusive; 0 = unbounded).</param>
/// <param name="ToUnixMs">End of the range (exclusive; 0 = unbounded).</param>
/// <param name="Threshold">The decision threshold of precision, recall and agreement.</param>
/// <param name="Groups">Per (version, arm, shadow) group: primaries first.</param>
/// <param name="Comparisons">Arms against the first, shadows against their primaries.</param>
/// <param name="Method">How intervals are computed.</param>
public sealed record EvaluationReport(
    string Model, long FromUnixMs, long ToUnixMs, double Threshold, IReadOnlyList<GroupEvaluation> Groups, IReadOnlyList<GroupComparison> Comparisons, string Method);
