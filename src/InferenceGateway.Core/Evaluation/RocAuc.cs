namespace InferenceGateway.Core.Evaluation;

/// <summary>
/// ROC AUC and its uncertainty by DeLong's method (DeLong, DeLong and Clarke-Pearson 1988), computed with midranks
/// in O(n log n) (Sun and Xu 2014): the AUC equals the Mann-Whitney statistic (ties count one half); its variance is
/// S10/m + S01/n from the structural components of the m positives and n negatives; the 95 % interval is the normal
/// one, AUC ± 1.96 standard errors, clipped to [0, 1].
/// </summary>
public static class RocAuc
{
    /// <summary>The two-sided 97.5 % quantile of the standard normal distribution.</summary>
    public const double Z975 = 1.959963984540054;

    /// <summary>The AUC, its DeLong variance and structural components of one score vector.</summary>
    public static AucResult Compute(ReadOnlySpan<double> scores, ReadOnlySpan<bool> positive)
    {
        var components = Components(scores, positive);
        return components.Result;
    }

    /// <summary>
    /// The difference AUC(b) − AUC(a) of two score vectors over the same cases (paired: a shadow and its primary),
    /// with DeLong's covariance between them.
    /// </summary>
    public static AucDifference ComparePaired(ReadOnlySpan<double> a, ReadOnlySpan<double> b, ReadOnlySpan<bool> positive)
    {
        var ca = Components(a, positive);
        var cb = Components(b, positive);
        var m = ca.V10.Length;
        var n = ca.V01.Length;
        var difference = cb.Result.Auc - ca.Result.Auc;
        if (m < 2 || n < 2)
        {
            return new AucDifference(difference, double.NaN, double.NaN, double.NaN, double.NaN, true);
        }

        var covariance = (Covariance(ca.V10, cb.V10) / m) + (Covariance(ca.V01, cb.V01) / n);
        var variance = ca.Result.Variance + cb.Result.Variance - (2 * covariance);
        return AucDifference.From(difference, Math.Max(variance, 0), paired: true);
    }

    /// <summary>The difference AUC(b) − AUC(a) of two independent samples (two arms): their variances add.</summary>
    public static AucDifference CompareIndependent(in AucResult a, in AucResult b) =>
        AucDifference.From(b.Auc - a.Auc, a.Variance + b.Variance, paired: false);

    /// <summary>Midranks (1-based, ties share their average rank) of <paramref name="values"/>.</summary>
    public static double[] MidRanks(ReadOnlySpan<double> values)
    {
        var order = new int[values.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        var keys = values.ToArray();
        Array.Sort(keys, order);
        var ranks = new double[values.Length];
        for (var i = 0; i < keys.Length;)
        {
            var j = i;
            while (j < keys.Length && keys[j] == keys[i])
            {
                j++;
            }

            var rank = (i + 1 + j) / 2.0;
            for (var k = i; k < j; k++)
            {
                ranks[order[k]] = rank;
            }

            i = j;
        }

        return ranks;
    }

    private static Structural Components(ReadOnlySpan<double> scores, ReadOnlySpan<bool> positive)
    {
        if (scores.Length != positive.Length)
        {
            throw new ArgumentException("scores and labels differ in length");
        }

        var m = 0;
        foreach (var p in positive)
        {
            m += p ? 1 : 0;
        }

        var n = scores.Length - m;
        var x = new double[m];
        var y = new double[n];
        var z = new double[m + n];
        int xi = 0, yi = 0;
        for (var i = 0; i < scores.Length; i++)
        {
            if (positive[i])
            {
                x[xi++] = scores[i];
            }
            else
            {
                y[yi++] = scores[i];
            }
        }

        x.CopyTo(z, 0);
        y.CopyTo(z, m);
        if (m == 0 || n == 0)
        {
            return new Structural(new AucResult(double.NaN, double.NaN, m, n), [], []);
        }

        var tx = MidRanks(x);
        var ty = MidRanks(y);
        var tz = MidRanks(z);
        var v10 = new double[m];
        var v01 = new double[n];
        double rankSum = 0;
        for (var i = 0; i < m; i++)
        {
            rankSum += tz[i];
            v10[i] = (tz[i] - tx[i]) / n;
        }

        for (var j = 0; j < n; j++)
        {
            v01[j] = 1.0 - ((tz[m + j] - ty[j]) / m);
        }

        var auc = (rankSum - (m * (m + 1.0) / 2.0)) / ((double)m * n);
        var variance = m < 2 || n < 2 ? double.NaN : (Covariance(v10, v10) / m) + (Covariance(v01, v01) / n);
        return new Structural(new AucResult(auc, variance, m, n), v10, v01);
    }

    /// <summary>Sample covariance (divisor count − 1).</summary>
    private static double Covariance(double[] a, double[] b)
    {
        double meanA = 0, meanB = 0;
        for (var i = 0; i < a.Length; i++)
        {
            meanA += a[i];
            meanB += b[i];
        }

        meanA /= a.Length;
        meanB /= b.Length;
        double sum = 0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += (a[i] - meanA) * (b[i] - meanB);
        }

        return sum / (a.Length - 1);
    }

    private readonly record struct Structural(AucResult Result, double[] V10, double[] V01);
}

/// <summary>An AUC with its DeLong variance over <paramref name="Positives"/> and <paramref name="Negatives"/>.</summary>
/// <param name="Auc">Area under the ROC curve; NaN without both classes.</param>
/// <param name="Variance">DeLong variance; NaN with fewer than two of either class.</param>
/// <param name="Positives">Positive cases.</param>
/// <param name="Negatives">Negative cases.</param>
public readonly record struct AucResult(double Auc, double Variance, int Positives, int Negatives)
{
    /// <summary>Standard error.</summary>
    public double StandardError => Math.Sqrt(Variance);

    /// <summary>Lower end of the 95 % interval, clipped at 0.</summary>
    public double Low => Math.Max(0, Auc - (RocAuc.Z975 * StandardError));

    /// <summary>Upper end of the 95 % interval, clipped at 1.</summary>
    public double High => Math.Min(1, Auc + (RocAuc.Z975 * StandardError));
}

/// <summary>A difference of two AUCs with its 95 % interval and two-sided p-value (normal approximation).</summary>
/// <param name="Difference">AUC(candidate) − AUC(baseline).</param>
/// <param name="StandardError">Its standard error.</param>
/// <param name="Low">Lower end of the 95 % interval.</param>
/// <param name="High">Upper end of the 95 % interval.</param>
/// <param name="PValue">Two-sided p-value of "no difference".</param>
/// <param name="Paired">True when both were scored on the same cases (covariance accounted for).</param>
public readonly record struct AucDifference(double Difference, double StandardError, double Low, double High, double PValue, bool Paired)
{
    internal static AucDifference From(double difference, double variance, bool paired)
    {
        var se = Math.Sqrt(variance);
        if (double.IsNaN(se) || double.IsNaN(difference))
        {
            return new AucDifference(difference, double.NaN, double.NaN, double.NaN, double.NaN, paired);
        }

        var p = se == 0 ? (difference == 0 ? 1 : 0) : Normal.TwoSidedP(difference / se);
        return new AucDifference(difference, se, difference - (RocAuc.Z975 * se), difference + (RocAuc.Z975 * se), p, paired);
    }
}

/// <summary>The standard normal distribution's tail.</summary>
public static class Normal
{
    /// <summary>P(|Z| ≥ |z|) for a standard normal Z.</summary>
    public static double TwoSidedP(double z) => Erfc(Math.Abs(z) / Math.Sqrt(2));

    /// <summary>The complementary error function (Chebyshev fit, relative error below 1.2e-7; Numerical Recipes' erfcc).</summary>
    public static double Erfc(double x)
    {
        var z = Math.Abs(x);
        var t = 1.0 / (1.0 + (0.5 * z));
        ReadOnlySpan<double> c = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];
        var poly = 0.0;
        for (var i = c.Length - 1; i >= 1; i--)
        {
            poly = (poly + c[i]) * t;
        }

        var r = t * Math.Exp(-(z * z) + c[0] + poly);
        return x >= 0 ? r : 2.0 - r;
    }
}
