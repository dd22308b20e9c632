using System.Globalization;
using System.Net;
using System.Text;

namespace InferenceGateway.Core.Evaluation;

/// <summary>Renders an <see cref="EvaluationReport"/> as a text table (the <c>evaluate</c> command) or a self-contained HTML page.</summary>
public static class EvaluationFormat
{
    private static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

    /// <summary>A fixed-width table: one line per group, then the comparisons.</summary>
    public static string Table(EvaluationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"model {report.Model}, event time {Range(report)}, threshold {report.Threshold:0.###}\n");
        string[] header = ["version", "arm", "shadow", "predictions", "labelled", "positives", "AUC", "AUC 95% CI", "log loss", "precision", "recall", "p50 ms", "p99 ms"];
        var rows = new List<string[]> { header };
        foreach (var g in report.Groups)
        {
            rows.Add([
                g.Version, g.Arm.Length == 0 ? "-" : g.Arm, g.Shadow ? "yes" : "no", N(g.Predictions), N(g.Labelled), N(g.Positives),
                F(g.Auc, 4), double.IsNaN(g.AucLow) ? "n/a" : $"[{F(g.AucLow, 4)}, {F(g.AucHigh, 4)}]", F(g.LogLoss, 4), F(g.Precision, 3),
                F(g.Recall, 3), F(g.LatencyP50Ms, 2), F(g.LatencyP99Ms, 2),
            ]);
        }

        AppendColumns(text, rows);
        if (report.Comparisons.Count > 0)
        {
            text.Append('\n');
            foreach (var c in report.Comparisons)
            {
                text.Append(CultureInfo.InvariantCulture, $"{c.Candidate} vs {c.Baseline}: AUC difference {Signed(c.Auc.Difference)} (95% CI [{Signed(c.Auc.Low)}, {Signed(c.Auc.High)}], p {P(c.Auc.PValue)}, {(c.Auc.Paired ? "paired" : "independent")}, {N(c.Cases)} labelled)");
                if (c.Kind == ComparisonKind.Shadow)
                {
                    text.Append(CultureInfo.InvariantCulture, $"; agreement {F(c.Agreement * 100, 2)} % of {N(c.Joined)} requests, mean |score difference| {F(c.MeanAbsoluteScoreDifference, 4)}");
                }

                text.Append('\n');
                text.Append(CultureInfo.InvariantCulture, $"  -> {Verdict(c)}\n");
            }
        }

        text.Append(CultureInfo.InvariantCulture, $"\nintervals: {report.Method}\n");
        return text.ToString();
    }

    /// <summary>One line saying what a comparison shows.</summary>
    public static string Verdict(GroupComparison comparison)
    {
        ArgumentNullException.ThrowIfNull(comparison);
        var d = comparison.Auc;
        if (double.IsNaN(d.Low))
        {
            return "not enough labelled predictions of both classes to compare";
        }

        return d.Low > 0 ? $"{comparison.Candidate} beats {comparison.Baseline}: its AUC is higher by {F(d.Difference, 4)}, and the whole 95 % interval is above zero"
            : d.High < 0 ? $"{comparison.Candidate} is worse than {comparison.Baseline}: its AUC is lower by {F(-d.Difference, 4)}, and the whole 95 % interval is below zero"
            : $"no significant AUC difference between {comparison.Candidate} and {comparison.Baseline} (the 95 % interval contains zero)";
    }

    /// <summary>A self-contained HTML page (inline SVG, no scripts, no external resources): table, ROC and calibration plots, comparisons.</summary>
    public static string Html(EvaluationReport report, DateTimeOffset generatedAt)
    {
        ArgumentNullException.ThrowIfNull(report);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
            .Append(E($"Evaluation of {report.Model}")).Append("</title>\n<style>")
            .Append("body{font-family:sans-serif;margin:24px;color:#222;background:#fff}table{border-collapse:collapse;margin:12px 0}")
            .Append("td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}th{background:#f2f2f2}td.l,th.l{text-align:left}")
            .Append(".plots{display:flex;gap:24px;flex-wrap:wrap}figure{margin:0}figcaption{font-weight:bold;margin:6px 0}.verdict{font-weight:bold}")
            .Append("</style></head><body>\n");
        html.Append("<h1>").Append(E($"Model {report.Model}")).Append("</h1>\n<p>")
            .Append(E($"Predictions with event time {Range(report)}; threshold {report.Threshold.ToString("0.###", CultureInfo.InvariantCulture)}; generated {generatedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z."))
            .Append("</p>\n<table><tr><th class=\"l\">group</th><th>predictions</th><th>labelled</th><th>positives</th><th>AUC</th><th>95% CI</th><th>log loss</th><th>precision</th><th>recall</th><th>p50 ms</th><th>p99 ms</th></tr>\n");
        for (var i = 0; i < report.Groups.Count; i++)
        {
            var g = report.Groups[i];
            html.Append(CultureInfo.InvariantCulture, $"<tr><td class=\"l\"><span style=\"color:{Palette[i % Palette.Length]}\">&#9632;</span> {E(g.Key.ToString())}</td><td>{N(g.Predictions)}</td><td>{N(g.Labelled)}</td><td>{N(g.Positives)}</td><td>{F(g.Auc, 4)}</td><td>{(double.IsNaN(g.AucLow) ? "n/a" : $"{F(g.AucLow, 4)} – {F(g.AucHigh, 4)}")}</td><td>{F(g.LogLoss, 4)}</td><td>{F(g.Precision, 3)}</td><td>{F(g.Recall, 3)}</td><td>{F(g.LatencyP50Ms, 2)}</td><td>{F(g.LatencyP99Ms, 2)}</td></tr>\n");
        }

        html.Append("</table>\n");
        if (report.Comparisons.Count > 0)
        {
            html.Append("<h2>Comparisons</h2>\n<table><tr><th class=\"l\">candidate vs baseline</th><th>AUC difference</th><th>95% CI</th><th>p</th><th class=\"l\">samples</th><th>agreement</th></tr>\n");
            foreach (var c in report.Comparisons)
            {
                html.Append(CultureInfo.InvariantCulture, $"<tr><td class=\"l\">{E($"{c.Candidate} vs {c.Baseline}")}</td><td>{Signed(c.Auc.Difference)}</td><td>{Signed(c.Auc.Low)} – {Signed(c.Auc.High)}</td><td>{P(c.Auc.PValue)}</td><td class=\"l\">{(c.Auc.Paired ? "paired" : "independent")}, {N(c.Cases)} labelled</td><td>{(c.Kind == ComparisonKind.Shadow ? F(c.Agreement * 100, 2) + " %" : "")}</td></tr>\n");
            }

            html.Append("</table>\n");
            foreach (var c in report.Comparisons)
            {
                html.Append("<p class=\"verdict\">").Append(E(Verdict(c))).Append("</p>\n");
            }
        }

        html.Append("<div class=\"plots\">\n<figure><figcaption>ROC curves</figcaption>\n");
        Plot(html, "false positive rate", "true positive rate", report, (g, points) =>
        {
            foreach (var p in g.Roc)
            {
                points.Add((p.FalsePositiveRate, p.TruePositiveRate));
            }
        }, line: true);
        html.Append("</figure>\n<figure><figcaption>Calibration (observed rate by predicted score)</figcaption>\n");
        Plot(html, "mean predicted", "observed rate", report, (g, points) =>
        {
            foreach (var b in g.Calibration)
            {
                if (b.Count > 0)
                {
                    points.Add((b.MeanPredicted, b.ObservedRate));
                }
            }
        }, line: true, markers: true);
        html.Append("</figure>\n</div>\n<p>").Append(E($"Intervals: {report.Method}.")).Append("</p>\n</body></html>\n");
        return html.ToString();
    }

    private static void Plot(StringBuilder html, string xLabel, string yLabel, EvaluationReport report, Action<GroupEvaluation, List<(double X, double Y)>> select, bool line, bool markers = false)
    {
        const int Size = 360, Margin = 48;
        const int Inner = Size - (2 * Margin);
        string X(double v) => (Margin + (Math.Clamp(v, 0, 1) * Inner)).ToString("0.##", CultureInfo.InvariantCulture);
        string Y(double v) => (Size - Margin - (Math.Clamp(v, 0, 1) * Inner)).ToString("0.##", CultureInfo.InvariantCulture);
        html.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Size}\" height=\"{Size}\" viewBox=\"0 0 {Size} {Size}\" role=\"img\">\n");
        html.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Margin}\" y=\"{Margin}\" width=\"{Inner}\" height=\"{Inner}\" fill=\"#fafafa\" stroke=\"#444\"/>\n");
        for (var t = 1; t < 5; t++)
        {
            var v = t / 5.0;
            html.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(v)}\" y1=\"{Y(0)}\" x2=\"{X(v)}\" y2=\"{Y(1)}\" stroke=\"#e0e0e0\"/><line x1=\"{X(0)}\" y1=\"{Y(v)}\" x2=\"{X(1)}\" y2=\"{Y(v)}\" stroke=\"#e0e0e0\"/>\n");
        }

        for (var t = 0; t <= 5; t++)
        {
            var v = t / 5.0;
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{X(v)}\" y=\"{Size - Margin + 16}\" font-size=\"11\" text-anchor=\"middle\">{v:0.0}</text><text x=\"{Margin - 6}\" y=\"{Y(v)}\" font-size=\"11\" text-anchor=\"end\" dominant-baseline=\"middle\">{v:0.0}</text>\n");
        }

        html.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(0)}\" y1=\"{Y(0)}\" x2=\"{X(1)}\" y2=\"{Y(1)}\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n");
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Size / 2}\" y=\"{Size - 8}\" font-size=\"12\" text-anchor=\"middle\">{E(xLabel)}</text>\n");
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"14\" y=\"{Size / 2}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 {Size / 2})\">{E(yLabel)}</text>\n");
        for (var i = 0; i < report.Groups.Count; i++)
        {
            var color = Palette[i % Palette.Length];
            var points = new List<(double X, double Y)>();
            select(report.Groups[i], points);
            if (points.Count == 0)
            {
                continue;
            }

            if (line)
            {
                html.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"3\" points=\"");
                foreach (var (x, y) in points)
                {
                    html.Append(X(x)).Append(',').Append(Y(y)).Append(' ');
                }

                html.Append("\"/>\n");
            }

            if (markers)
            {
                foreach (var (x, y) in points)
                {
                    html.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{X(x)}\" cy=\"{Y(y)}\" r=\"4\" fill=\"{color}\"/>\n");
                }
            }

            html.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Margin + 8}\" y=\"{Margin + 8 + (i * 16)}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{Margin + 22}\" y=\"{Margin + 17 + (i * 16)}\" font-size=\"11\">{E(report.Groups[i].Key.ToString())}</text>\n");
        }

        html.Append("</svg>\n");
    }

    private static void AppendColumns(StringBuilder text, List<string[]> rows)
    {
        var widths = new int[rows[0].Length];
        foreach (var row in rows)
        {
            for (var c = 0; c < row.Length; c++)
            {
                widths[c] = Math.Max(widths[c], row[c].Length);
            }
        }

        foreach (var row in rows)
        {
            for (var c = 0; c < row.Length; c++)
            {
                text.Append(c < 3 ? row[c].PadRight(widths[c]) : row[c].PadLeft(widths[c]));
                text.Append(c == row.Length - 1 ? "\n" : "  ");
            }
        }
    }

    private static string Range(EvaluationReport report) =>
        $"{(report.FromUnixMs <= 0 ? "(unbounded)" : Time(report.FromUnixMs))} .. {(report.ToUnixMs <= 0 ? "(unbounded)" : Time(report.ToUnixMs))}";

    private static string Time(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string F(double value, int decimals) => double.IsNaN(value) ? "n/a" : value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string Signed(double value) => double.IsNaN(value) ? "n/a" : value.ToString("+0.0000;-0.0000;0.0000", CultureInfo.InvariantCulture);

    private static string P(double value) => double.IsNaN(value) ? "n/a" : value < 1e-4 ? "< 0.0001" : value.ToString("0.0000", CultureInfo.InvariantCulture);

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
