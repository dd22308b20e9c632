// A strict parser of the Prometheus text exposition format 0.0.4, for tests. Self-contained (BCL only) so other
// test projects can link or copy this one file. Stricter than Prometheus itself where our exporter promises more:
// every sample needs a TYPE, counters end in _total, no whitespace inside braces, no trailing whitespace.
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace InferenceGateway.Testing;

/// <summary>One parsed sample line.</summary>
public sealed class PrometheusSample
{
    public PrometheusSample(string name, IReadOnlyDictionary<string, string> labels, double value, long? timestampMs, int line)
    {
        Name = name;
        Labels = labels;
        Value = value;
        TimestampMs = timestampMs;
        Line = line;
    }

    public string Name { get; }

    public IReadOnlyDictionary<string, string> Labels { get; }

    public double Value { get; }

    public long? TimestampMs { get; }

    public int Line { get; }

    public bool HasLabels(params (string Name, string Value)[] labels)
    {
        if (labels.Length != Labels.Count)
        {
            return false;
        }

        foreach (var (name, value) in labels)
        {
            if (!Labels.TryGetValue(name, out var actual) || actual != value)
            {
                return false;
            }
        }

        return true;
    }

    public override string ToString() =>
        Name + "{" + string.Join(",", Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=\"" + l.Value + "\"")) + "} "
        + Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>One metric family: its TYPE, optional HELP and its samples in order.</summary>
public sealed class PrometheusFamily
{
    internal readonly List<PrometheusSample> SampleList = [];

    public PrometheusFamily(string name) => Name = name;

    public string Name { get; }

    /// <summary>counter, gauge, histogram, summary or untyped; null until a TYPE line is seen.</summary>
    public string? Type { get; internal set; }

    /// <summary>The HELP text, unescaped; null when absent.</summary>
    public string? Help { get; internal set; }

    public IReadOnlyList<PrometheusSample> Samples => SampleList;
}

/// <summary>A parsed exposition with lookup helpers that throw (with what is there) when something is missing.</summary>
public sealed class PrometheusScrape
{
    private readonly Dictionary<string, PrometheusFamily> _byName;

    internal PrometheusScrape(List<PrometheusFamily> families)
    {
        Families = families;
        _byName = families.ToDictionary(f => f.Name, StringComparer.Ordinal);
    }

    public IReadOnlyList<PrometheusFamily> Families { get; }

    public IEnumerable<PrometheusSample> Samples => Families.SelectMany(f => f.Samples);

    public bool HasFamily(string name) => _byName.ContainsKey(name);

    public PrometheusFamily Family(string name) =>
        _byName.TryGetValue(name, out var family)
            ? family
            : throw new KeyNotFoundException($"No family '{name}'. Families: {string.Join(", ", _byName.Keys.Order(StringComparer.Ordinal))}");

    public PrometheusSample? FindSample(string sampleName, params (string Name, string Value)[] labels) =>
        Samples.FirstOrDefault(s => s.Name == sampleName && s.HasLabels(labels));

    /// <summary>The value of the sample with exactly this name and label set.</summary>
    public double Value(string sampleName, params (string Name, string Value)[] labels) =>
        FindSample(sampleName, labels)?.Value
        ?? throw new KeyNotFoundException(
            $"No sample {sampleName} with labels [{string.Join(",", labels.Select(l => l.Name + "=" + l.Value))}]. Samples named so: "
            + string.Join("; ", Samples.Where(s => s.Name == sampleName)));

    /// <summary>The cumulative buckets (le, count) of one histogram series, in exposition order.</summary>
    public IReadOnlyList<(double Le, double Count)> Buckets(string familyName, params (string Name, string Value)[] labels)
    {
        var family = Family(familyName);
        var result = new List<(double, double)>();
        foreach (var sample in family.Samples)
        {
            if (sample.Name != familyName + "_bucket")
            {
                continue;
            }

            var rest = sample.Labels.Where(l => l.Key != "le").Select(l => (l.Key, l.Value)).ToArray();
            if (rest.Length == labels.Length && labels.All(l => sample.Labels.TryGetValue(l.Name, out var v) && v == l.Value))
            {
                result.Add((PrometheusTextParser.ParseFloat(sample.Labels["le"])!.Value, sample.Value));
            }
        }

        return result.Count > 0 ? result : throw new KeyNotFoundException($"No buckets for {familyName} with those labels.");
    }
}

/// <summary>Strict parser of the Prometheus text format 0.0.4; throws <see cref="FormatException"/> naming the line.</summary>
public static partial class PrometheusTextParser
{
    private static readonly HashSet<string> s_types = new(StringComparer.Ordinal) { "counter", "gauge", "histogram", "summary", "untyped" };

    public static PrometheusScrape Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Contains('\r'))
        {
            throw new FormatException("Carriage return in exposition: lines end with \\n only.");
        }

        if (text.Length > 0 && text[^1] != '\n')
        {
            throw new FormatException("The last line does not end with \\n.");
        }

        var families = new List<PrometheusFamily>();
        var byName = new Dictionary<string, PrometheusFamily>(StringComparer.Ordinal);
        var closed = new HashSet<string>(StringComparer.Ordinal);
        var seriesSeen = new HashSet<string>(StringComparer.Ordinal);
        PrometheusFamily? current = null;

        var lines = text.Split('\n');
        for (var index = 0; index < lines.Length - 1; index++)
        {
            var lineNumber = index + 1;
            var line = lines[index];
            if (line.Length == 0)
            {
                continue;
            }

            if (line[0] == '#')
            {
                ParseComment(line, lineNumber, families, byName, closed, ref current);
                continue;
            }

            var sample = ParseSample(line, lineNumber);
            var family = ResolveFamily(sample, byName)
                ?? throw Error(lineNumber, line, $"sample '{sample.Name}' has no TYPE line before it");
            if (!ReferenceEquals(family, current))
            {
                if (closed.Contains(family.Name) || family.SampleList.Count > 0)
                {
                    throw Error(lineNumber, line, $"samples of family '{family.Name}' are not grouped together");
                }

                Close(current, closed);
                current = family;
            }

            CheckSampleAgainstType(family, sample, line);
            var seriesId = sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + Quote(l.Value))) + "}";
            if (!seriesSeen.Add(seriesId))
            {
                throw Error(lineNumber, line, $"duplicate series {seriesId}");
            }

            family.SampleList.Add(sample);
        }

        foreach (var family in families)
        {
            if (family.Type == "histogram")
            {
                CheckHistogram(family);
            }
            else if (family.Type == "summary")
            {
                CheckSummary(family);
            }
        }

        return new PrometheusScrape(families);
    }

    /// <summary>A float as Go's ParseFloat accepts it in this format (incl. +Inf, -Inf, NaN); null when invalid.</summary>
    public static double? ParseFloat(string text)
    {
        switch (text)
        {
            case "+Inf":
            case "Inf":
                return double.PositiveInfinity;
            case "-Inf":
                return double.NegativeInfinity;
            case "NaN":
                return double.NaN;
        }

        if (!FloatRegex().IsMatch(text))
        {
            return null;
        }

        return double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricNameRegex();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelNameRegex();

    [GeneratedRegex("^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?$")]
    private static partial Regex FloatRegex();

    [GeneratedRegex("^[+-]?[0-9]+$")]
    private static partial Regex IntRegex();

    private static void ParseComment(
        string line,
        int lineNumber,
        List<PrometheusFamily> families,
        Dictionary<string, PrometheusFamily> byName,
        HashSet<string> closed,
        ref PrometheusFamily? current)
    {
        // "# HELP name text" / "# TYPE name type"; any other comment is ignored.
        var body = line.AsSpan(1).TrimStart(" \t");
        var isHelp = body.StartsWith("HELP ") || body.StartsWith("HELP\t");
        var isType = body.StartsWith("TYPE ") || body.StartsWith("TYPE\t");
        if (!isHelp && !isType)
        {
            return;
        }

        var rest = body[5..].TrimStart(" \t");
        var nameEnd = rest.IndexOfAny(' ', '\t');
        var name = (nameEnd < 0 ? rest : rest[..nameEnd]).ToString();
        var argument = nameEnd < 0 ? string.Empty : rest[(nameEnd + 1)..].ToString();
        if (!MetricNameRegex().IsMatch(name))
        {
            throw Error(lineNumber, line, $"invalid metric name '{name}'");
        }

        if (!byName.TryGetValue(name, out var family))
        {
            if (closed.Contains(name))
            {
                throw Error(lineNumber, line, $"family '{name}' appears again after other families");
            }

            family = new PrometheusFamily(name);
            byName.Add(name, family);
            families.Add(family);
        }

        if (family.SampleList.Count > 0)
        {
            throw Error(lineNumber, line, $"{(isHelp ? "HELP" : "TYPE")} for '{name}' after its samples");
        }

        if (!ReferenceEquals(current, family))
        {
            Close(current, closed);
            current = family;
        }

        if (isHelp)
        {
            if (family.Help is not null)
            {
                throw Error(lineNumber, line, $"second HELP for '{name}'");
            }

            family.Help = UnescapeHelp(argument, lineNumber, line);
            return;
        }

        if (family.Type is not null)
        {
            throw Error(lineNumber, line, $"second TYPE for '{name}'");
        }

        if (!s_types.Contains(argument))
        {
            throw Error(lineNumber, line, $"unknown type '{argument}'");
        }

        if (argument == "counter" && !name.EndsWith("_total", StringComparison.Ordinal))
        {
            throw Error(lineNumber, line, $"counter '{name}' does not end in _total");
        }

        if (argument is "histogram" or "summary" && (name.EndsWith("_bucket", StringComparison.Ordinal) || name.EndsWith("_sum", StringComparison.Ordinal) || name.EndsWith("_count", StringComparison.Ordinal)))
        {
            throw Error(lineNumber, line, $"{argument} family '{name}' ends in a reserved suffix");
        }

        family.Type = argument;
    }

    private static void Close(PrometheusFamily? family, HashSet<string> closed)
    {
        // A family is finished once anything about another family follows its samples.
        if (family is not null && family.SampleList.Count > 0)
        {
            closed.Add(family.Name);
        }
    }

    private static PrometheusSample ParseSample(string line, int lineNumber)
    {
        var position = 0;
        while (position < line.Length && line[position] is not ('{' or ' ' or '\t'))
        {
            position++;
        }

        var name = line[..position];
        if (!MetricNameRegex().IsMatch(name))
        {
            throw Error(lineNumber, line, $"invalid metric name '{name}'");
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (position < line.Length && line[position] == '{')
        {
            position++;
            while (true)
            {
                if (position >= line.Length)
                {
                    throw Error(lineNumber, line, "unterminated label set");
                }

                if (line[position] == '}')
                {
                    position++;
                    break;
                }

                var nameStart = position;
                while (position < line.Length && line[position] != '=')
                {
                    position++;
                }

                var labelName = line[nameStart..position];
                if (!LabelNameRegex().IsMatch(labelName))
                {
                    throw Error(lineNumber, line, $"invalid label name '{labelName}'");
                }

                if (labelName.StartsWith("__", StringComparison.Ordinal))
                {
                    throw Error(lineNumber, line, $"reserved label name '{labelName}'");
                }

                if (position + 1 >= line.Length || line[position + 1] != '"')
                {
                    throw Error(lineNumber, line, $"label '{labelName}' value does not start with a double quote");
                }

                position += 2;
                var value = new StringBuilder();
                while (true)
                {
                    if (position >= line.Length)
                    {
                        throw Error(lineNumber, line, $"unterminated value of label '{labelName}'");
                    }

                    var c = line[position++];
                    if (c == '"')
                    {
                        break;
                    }

                    if (c == '\\')
                    {
                        if (position >= line.Length)
                        {
                            throw Error(lineNumber, line, "backslash at end of line");
                        }

                        var escaped = line[position++];
                        value.Append(escaped switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw Error(lineNumber, line, $"invalid escape '\\{escaped}' in label '{labelName}'"),
                        });
                        continue;
                    }

                    value.Append(c);
                }

                if (!labels.TryAdd(labelName, value.ToString()))
                {
                    throw Error(lineNumber, line, $"duplicate label '{labelName}'");
                }

                if (position < line.Length && line[position] == ',')
                {
                    position++;
                }
                else if (position >= line.Length || line[position] != '}')
                {
                    throw Error(lineNumber, line, "expected ',' or '}' after a label");
                }
            }
        }

        if (position >= line.Length || line[position] is not (' ' or '\t'))
        {
            throw Error(lineNumber, line, "expected whitespace before the value");
        }

        var tokens = line[position..].Split([' ', '\t'], StringSplitOptions.None);
        var fields = tokens.Where(t => t.Length > 0).ToArray();
        if (line[^1] is ' ' or '\t')
        {
            throw Error(lineNumber, line, "trailing whitespace");
        }

        if (fields.Length is 0 or > 2)
        {
            throw Error(lineNumber, line, "expected a value and an optional timestamp");
        }

        var parsed = ParseFloat(fields[0]) ?? throw Error(lineNumber, line, $"invalid value '{fields[0]}'");
        long? timestamp = null;
        if (fields.Length == 2)
        {
            if (!IntRegex().IsMatch(fields[1]) || !long.TryParse(fields[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ts))
            {
                throw Error(lineNumber, line, $"invalid timestamp '{fields[1]}'");
            }

            timestamp = ts;
        }

        return new PrometheusSample(name, labels, parsed, timestamp, lineNumber);
    }

    private static PrometheusFamily? ResolveFamily(PrometheusSample sample, Dictionary<string, PrometheusFamily> byName)
    {
        if (byName.TryGetValue(sample.Name, out var exact) && exact.Type is not null)
        {
            return exact;
        }

        foreach (var suffix in (string[])["_bucket", "_sum", "_count"])
        {
            if (sample.Name.EndsWith(suffix, StringComparison.Ordinal)
                && byName.TryGetValue(sample.Name[..^suffix.Length], out var family)
                && family.Type is "histogram" or "summary")
            {
                return family;
            }
        }

        return null;
    }

    private static void CheckSampleAgainstType(PrometheusFamily family, PrometheusSample sample, string line)
    {
        var suffix = sample.Name.Length > family.Name.Length ? sample.Name[family.Name.Length..] : string.Empty;
        switch (family.Type)
        {
            case "counter":
                if (sample.Value < 0)
                {
                    throw Error(sample.Line, line, "negative counter value");
                }

                break;
            case "histogram":
                if (suffix is not ("_bucket" or "_sum" or "_count"))
                {
                    throw Error(sample.Line, line, $"histogram sample '{sample.Name}' is not _bucket, _sum or _count");
                }

                if (suffix == "_bucket")
                {
                    if (!sample.Labels.TryGetValue("le", out var le) || ParseFloat(le) is not { } bound || double.IsNaN(bound))
                    {
                        throw Error(sample.Line, line, "histogram bucket without a valid 'le' label");
                    }
                }
                else if (sample.Labels.ContainsKey("le"))
                {
                    throw Error(sample.Line, line, "'le' label outside a histogram bucket");
                }

                if (suffix != "_sum" && (sample.Value < 0 || sample.Value != Math.Floor(sample.Value) || double.IsInfinity(sample.Value)))
                {
                    throw Error(sample.Line, line, "histogram count is not a non-negative integer");
                }

                break;
            case "summary":
                if (suffix is not ("" or "_sum" or "_count"))
                {
                    throw Error(sample.Line, line, $"summary sample '{sample.Name}' is not the name, _sum or _count");
                }

                if (suffix == "" && (!sample.Labels.TryGetValue("quantile", out var q) || ParseFloat(q) is not { } quantile || quantile is < 0 or > 1))
                {
                    throw Error(sample.Line, line, "summary sample without a valid 'quantile' label");
                }

                break;
            default:
                // counter (checked above), gauge, untyped: the family name itself, exactly.
                break;
        }

        if (family.Type is "counter" or "gauge" or "untyped" && sample.Name != family.Name)
        {
            throw Error(sample.Line, line, $"sample '{sample.Name}' does not match family '{family.Name}'");
        }
    }

    private static void CheckHistogram(PrometheusFamily family)
    {
        var series = new Dictionary<string, (List<(double Le, double Count, int Line)> Buckets, double? Sum, double? Count)>(StringComparer.Ordinal);
        foreach (var sample in family.Samples)
        {
            var key = string.Join(",", sample.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + Quote(l.Value)));
            if (!series.TryGetValue(key, out var entry))
            {
                entry = ([], null, null);
            }

            if (sample.Name.EndsWith("_bucket", StringComparison.Ordinal))
            {
                entry.Buckets.Add((ParseFloat(sample.Labels["le"])!.Value, sample.Value, sample.Line));
            }
            else if (sample.Name.EndsWith("_sum", StringComparison.Ordinal))
            {
                entry.Sum = sample.Value;
            }
            else
            {
                entry.Count = sample.Value;
            }

            series[key] = entry;
        }

        foreach (var (key, entry) in series)
        {
            var where = $"histogram {family.Name}{{{key}}}";
            if (entry.Buckets.Count == 0)
            {
                throw new FormatException($"{where} has no buckets");
            }

            for (var i = 1; i < entry.Buckets.Count; i++)
            {
                if (!(entry.Buckets[i].Le > entry.Buckets[i - 1].Le))
                {
                    throw new FormatException($"{where}: le {entry.Buckets[i].Le} at line {entry.Buckets[i].Line} is not above the previous {entry.Buckets[i - 1].Le}");
                }

                if (entry.Buckets[i].Count < entry.Buckets[i - 1].Count)
                {
                    throw new FormatException($"{where}: bucket counts are not cumulative at line {entry.Buckets[i].Line}");
                }
            }

            var last = entry.Buckets[^1];
            if (!double.IsPositiveInfinity(last.Le))
            {
                throw new FormatException($"{where} does not end with le=\"+Inf\"");
            }

            if (entry.Count is not { } count)
            {
                throw new FormatException($"{where} has no _count");
            }

            if (entry.Sum is null)
            {
                throw new FormatException($"{where} has no _sum");
            }

            if (count != last.Count)
            {
                throw new FormatException($"{where}: _count {count} differs from the +Inf bucket {last.Count}");
            }
        }
    }

    private static void CheckSummary(PrometheusFamily family)
    {
        var keys = family.Samples
            .Select(s => string.Join(",", s.Labels.Where(l => l.Key != "quantile").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)))
            .Distinct();
        foreach (var key in keys)
        {
            var samples = family.Samples.Where(s => string.Join(",", s.Labels.Where(l => l.Key != "quantile").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)) == key).ToList();
            if (!samples.Any(s => s.Name == family.Name + "_count") || !samples.Any(s => s.Name == family.Name + "_sum"))
            {
                throw new FormatException($"summary {family.Name}{{{key}}} lacks _sum or _count");
            }
        }
    }

    private static string UnescapeHelp(string text, int lineNumber, string line)
    {
        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                builder.Append(text[i]);
                continue;
            }

            if (i + 1 >= text.Length)
            {
                throw Error(lineNumber, line, "backslash at end of HELP");
            }

            builder.Append(text[++i] switch
            {
                '\\' => '\\',
                'n' => '\n',
                _ => throw Error(lineNumber, line, $"invalid escape '\\{text[i]}' in HELP"),
            });
        }

        return builder.ToString();
    }

    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "\"";

    private static FormatException Error(int lineNumber, string line, string message) =>
        new($"Prometheus exposition line {lineNumber}: {message}: {line}");
}
