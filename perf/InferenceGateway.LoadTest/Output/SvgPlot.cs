using System.Globalization;
using System.Net;
using System.Text;

namespace InferenceGateway.LoadTest.Output;

/// <summary>One point of a latency-vs-throughput curve.</summary>
/// <param name="ThroughputRps">x: successful requests per second.</param>
/// <param name="P50Ms">Median latency.</param>
/// <param name="P99Ms">99th percentile latency.</param>
public readonly record struct PlotPoint(double ThroughputRps, double P50Ms, double P99Ms);

/// <summary>A named list of points (one CSV file of sweep steps).</summary>
/// <param name="Name">Legend name.</param>
/// <param name="Points">Points in sweep order.</param>
public sealed record PlotSeries(string Name, IReadOnlyList<PlotPoint> Points);

/// <summary>Draws latency (p50 dashed, p99 solid) against throughput as a self-contained SVG.</summary>
public static class SvgPlot
{
    private const int Width = 820;
    private const int Height = 520;
    private const int Left = 80;
    private const int Right = 200;
    private const int Top = 50;
    private const int Bottom = 60;

    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Reads a CSV written by <see cref="Reports.WriteCsv"/> into a series named after the file.</summary>
    public static PlotSeries ReadCsv(string path)
    {
        string[] lines = File.ReadAllLines(path);
        if (lines.Length == 0)
        {
            throw new FormatException($"{path}: empty file");
        }

        List<string> header = SplitCsvLine(lines[0]);
        int x = Column(header, "throughput_rps", path);
        int p50 = Column(header, "p50_ms", path);
        int p99 = Column(header, "p99_ms", path);
        var points = new List<PlotPoint>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i]))
            {
                continue;
            }

            List<string> f = SplitCsvLine(lines[i]);
            points.Add(new PlotPoint(
                double.Parse(f[x], Inv),
                double.Parse(f[p50], Inv),
                double.Parse(f[p99], Inv)));
        }

        return new PlotSeries(Path.GetFileNameWithoutExtension(path), points);
    }

    /// <summary>Renders the chart.</summary>
    public static string Render(IReadOnlyList<PlotSeries> series, string title)
    {
        ArgumentNullException.ThrowIfNull(series);
        double maxX = 0;
        double maxY = 0;
        foreach (PlotSeries s in series)
        {
            foreach (PlotPoint p in s.Points)
            {
                maxX = Math.Max(maxX, p.ThroughputRps);
                maxY = Math.Max(maxY, Math.Max(p.P50Ms, p.P99Ms));
            }
        }

        double xStep = NiceStep(maxX <= 0 ? 1 : maxX * 1.05, 8);
        double yStep = NiceStep(maxY <= 0 ? 1 : maxY * 1.05, 8);
        double xMax = Math.Ceiling((maxX <= 0 ? 1 : maxX * 1.05) / xStep) * xStep;
        double yMax = Math.Ceiling((maxY <= 0 ? 1 : maxY * 1.05) / yStep) * yStep;
        int plotW = Width - Left - Right;
        int plotH = Height - Top - Bottom;
        double Sx(double v) => Left + (v / xMax * plotW);
        double Sy(double v) => Top + plotH - (v / yMax * plotH);

        var svg = new StringBuilder();
        svg.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(Inv, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n");
        svg.Append(Inv, $"<text x=\"{Left + (plotW / 2)}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">{Escape(title)}</text>\n");

        // Grid and tick labels.
        for (double v = 0; v <= xMax + (xStep / 2); v += xStep)
        {
            double px = Sx(v);
            svg.Append(Inv, $"<line x1=\"{px:F1}\" y1=\"{Top}\" x2=\"{px:F1}\" y2=\"{Top + plotH}\" stroke=\"#e0e0e0\"/>\n");
            svg.Append(Inv, $"<text x=\"{px:F1}\" y=\"{Top + plotH + 18}\" text-anchor=\"middle\">{FormatTick(v)}</text>\n");
        }

        for (double v = 0; v <= yMax + (yStep / 2); v += yStep)
        {
            double py = Sy(v);
            svg.Append(Inv, $"<line x1=\"{Left}\" y1=\"{py:F1}\" x2=\"{Left + plotW}\" y2=\"{py:F1}\" stroke=\"#e0e0e0\"/>\n");
            svg.Append(Inv, $"<text x=\"{Left - 8}\" y=\"{py + 4:F1}\" text-anchor=\"end\">{FormatTick(v)}</text>\n");
        }

        svg.Append(Inv, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"black\"/>\n");
        svg.Append(Inv, $"<text x=\"{Left + (plotW / 2)}\" y=\"{Height - 15}\" text-anchor=\"middle\">throughput (requests/s)</text>\n");
        svg.Append(Inv, $"<text x=\"20\" y=\"{Top + (plotH / 2)}\" text-anchor=\"middle\" transform=\"rotate(-90 20 {Top + (plotH / 2)})\">latency (ms)</text>\n");

        int legendY = Top + 10;
        for (int i = 0; i < series.Count; i++)
        {
            PlotSeries s = series[i];
            string color = Colors[i % Colors.Length];
            AppendLine(svg, s.Points, p => p.P99Ms, color, dashed: false, Sx, Sy);
            AppendLine(svg, s.Points, p => p.P50Ms, color, dashed: true, Sx, Sy);

            int lx = Left + plotW + 15;
            svg.Append(Inv, $"<line x1=\"{lx}\" y1=\"{legendY}\" x2=\"{lx + 30}\" y2=\"{legendY}\" stroke=\"{color}\" stroke-width=\"2\"/>\n");
            svg.Append(Inv, $"<text x=\"{lx + 36}\" y=\"{legendY + 4}\">{Escape(s.Name)} p99</text>\n");
            legendY += 18;
            svg.Append(Inv, $"<line x1=\"{lx}\" y1=\"{legendY}\" x2=\"{lx + 30}\" y2=\"{legendY}\" stroke=\"{color}\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n");
            svg.Append(Inv, $"<text x=\"{lx + 36}\" y=\"{legendY + 4}\">{Escape(s.Name)} p50</text>\n");
            legendY += 26;
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    internal static double NiceStep(double range, int maxTicks)
    {
        double rough = range / maxTicks;
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        foreach (double m in new[] { 1.0, 2.0, 2.5, 5.0, 10.0 })
        {
            if (m * magnitude >= rough)
            {
                return m * magnitude;
            }
        }

        return 10 * magnitude;
    }

    private static void AppendLine(StringBuilder svg, IReadOnlyList<PlotPoint> points, Func<PlotPoint, double> y, string color, bool dashed, Func<double, double> sx, Func<double, double> sy)
    {
        if (points.Count == 0)
        {
            return;
        }

        var path = new StringBuilder();
        foreach (PlotPoint p in points)
        {
            path.Append(Inv, $"{(path.Length == 0 ? "M" : " L")}{sx(p.ThroughputRps):F1},{sy(y(p)):F1}");
        }

        string dash = dashed ? " stroke-dasharray=\"6 4\"" : string.Empty;
        svg.Append(Inv, $"<path d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>\n");
        foreach (PlotPoint p in points)
        {
            svg.Append(Inv, $"<circle cx=\"{sx(p.ThroughputRps):F1}\" cy=\"{sy(y(p)):F1}\" r=\"3\" fill=\"{(dashed ? "white" : color)}\" stroke=\"{color}\"/>\n");
        }
    }

    private static string FormatTick(double v) => v >= 1000 || v == Math.Floor(v) ? v.ToString("0", Inv) : v.ToString("0.###", Inv);

    private static string Escape(string text) => WebUtility.HtmlEncode(text);

    private static int Column(List<string> header, string name, string path)
    {
        int i = header.IndexOf(name);
        return i >= 0 ? i : throw new FormatException($"{path}: no column '{name}'");
    }

    internal static List<string> SplitCsvLine(string line)
    {
        var fields = new List<string>();
        InferenceGateway.Core.Features.FeatureCsv.Split(line, fields);
        return fields;
    }
}
