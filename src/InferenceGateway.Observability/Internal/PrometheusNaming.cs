using System.Globalization;
using System.Text;

namespace InferenceGateway.Observability.Internal;

/// <summary>
/// Instrument name and unit to Prometheus metric name, following the OpenTelemetry-to-Prometheus compatibility rules:
/// invalid characters become <c>_</c> (runs collapsed), the unit becomes a suffix, counters end in <c>_total</c>.
/// </summary>
internal static class PrometheusNaming
{
    public static string MetricName(string instrumentName, string? unit, PrometheusType type)
    {
        var name = Sanitize(instrumentName, allowLeadingDigit: false, leadingDigitPrefix: "_");
        var suffix = UnitSuffix(unit, type);
        if (suffix is not null && !name.EndsWith("_" + suffix, StringComparison.Ordinal) && name != suffix)
        {
            name = name + "_" + suffix;
        }

        if (type == PrometheusType.Counter && !name.EndsWith("_total", StringComparison.Ordinal))
        {
            name += "_total";
        }

        return name;
    }

    public static string LabelName(string tagName)
    {
        var name = Sanitize(tagName, allowLeadingDigit: false, leadingDigitPrefix: "key_");

        // Names starting with "__" are reserved for Prometheus itself; collapsing runs already leaves at most one.
        return name;
    }

    /// <summary>The unit as a name suffix, or null for none (annotations like <c>{row}</c> and dimensionless units).</summary>
    public static string? UnitSuffix(string? unit, PrometheusType type)
    {
        var suffix = UnitSuffixCore(unit, type);
        return string.IsNullOrEmpty(suffix) || suffix == "_" ? null : suffix;
    }

    private static string? UnitSuffixCore(string? unit, PrometheusType type)
    {
        if (string.IsNullOrWhiteSpace(unit))
        {
            return null;
        }

        var stripped = StripAnnotations(unit).Trim();
        if (stripped.Length == 0)
        {
            return null;
        }

        if (stripped == "1")
        {
            return type == PrometheusType.Gauge ? "ratio" : null;
        }

        var slash = stripped.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            var numerator = stripped[..slash].Trim();
            var denominator = stripped[(slash + 1)..].Trim();
            var per = denominator.Length == 0 ? null : "per_" + PerUnit(denominator);
            if (numerator.Length == 0 || numerator == "1")
            {
                return per;
            }

            var main = MainUnit(numerator);
            return per is null ? main : main + "_" + per;
        }

        return MainUnit(stripped);
    }

    /// <summary>Default explicit bucket bounds for a histogram of this unit when it gives no advice.</summary>
    public static double[] DefaultBuckets(string? unit)
    {
        switch (unit)
        {
            case "s":
                return [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
            case "ms":
                return [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
            case "{row}":
            case "{rows}":
            case "row":
            case "rows":
                return [1, 2, 4, 8, 16, 32, 64, 128, 256];
            default:
                return [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
        }
    }

    /// <summary>Sorted, distinct, finite bounds; null when none remain.</summary>
    public static double[]? NormalizeBuckets(IEnumerable<double>? bounds)
    {
        if (bounds is null)
        {
            return null;
        }

        var list = new List<double>();
        foreach (var bound in bounds)
        {
            if (double.IsFinite(bound))
            {
                list.Add(bound);
            }
        }

        list.Sort();
        var distinct = new List<double>(list.Count);
        foreach (var bound in list)
        {
            if (distinct.Count == 0 || distinct[^1] != bound)
            {
                distinct.Add(bound);
            }
        }

        return distinct.Count == 0 ? null : distinct.ToArray();
    }

    public static string EscapeLabelValue(string value)
    {
        if (value.AsSpan().IndexOfAny('\\', '"', '\n') < 0)
        {
            return value;
        }

        var builder = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            _ = c switch
            {
                '\\' => builder.Append("\\\\"),
                '"' => builder.Append("\\\""),
                '\n' => builder.Append("\\n"),
                _ => builder.Append(c),
            };
        }

        return builder.ToString();
    }

    public static string EscapeHelp(string help)
    {
        if (help.AsSpan().IndexOfAny('\\', '\n') < 0)
        {
            return help;
        }

        return help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
    }

    /// <summary>A tag value as label text: strings as they are, numbers and booleans invariant, null empty.</summary>
    public static string LabelValueText(object? value) => value switch
    {
        null => string.Empty,
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    public static string FormatBound(double bound) =>
        double.IsPositiveInfinity(bound) ? "+Inf" : bound.ToString("R", CultureInfo.InvariantCulture);

    private static string Sanitize(string name, bool allowLeadingDigit, string leadingDigitPrefix)
    {
        var builder = new StringBuilder(name.Length + 4);
        foreach (var c in name)
        {
            var valid = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_';
            var next = valid ? c : '_';
            if (next == '_' && builder.Length > 0 && builder[^1] == '_')
            {
                continue;
            }

            builder.Append(next);
        }

        if (builder.Length == 0)
        {
            return "_";
        }

        if (!allowLeadingDigit && char.IsAsciiDigit(builder[0]))
        {
            builder.Insert(0, leadingDigitPrefix);
        }

        return builder.ToString();
    }

    private static string StripAnnotations(string unit)
    {
        if (!unit.Contains('{', StringComparison.Ordinal))
        {
            return unit;
        }

        var builder = new StringBuilder(unit.Length);
        var depth = 0;
        foreach (var c in unit)
        {
            if (c == '{')
            {
                depth++;
            }
            else if (c == '}')
            {
                depth = Math.Max(0, depth - 1);
            }
            else if (depth == 0)
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    private static string MainUnit(string unit) => unit switch
    {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => Sanitize(unit, allowLeadingDigit: true, leadingDigitPrefix: string.Empty).Trim('_'),
    };

    private static string PerUnit(string unit) => unit switch
    {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => MainUnit(unit),
    };
}

/// <summary>Prometheus metric family types this exporter writes.</summary>
internal enum PrometheusType
{
    Counter,
    Gauge,
    Histogram,
}
