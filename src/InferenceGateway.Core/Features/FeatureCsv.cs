using System.Globalization;
using System.Text;

namespace InferenceGateway.Core.Features;

/// <summary>CSV helpers for feature files: RFC 4180 fields, and float32 written the way <c>features.csv.gz</c> writes them.</summary>
public static class FeatureCsv
{
    /// <summary>
    /// The shortest decimal that parses back (as float32) to exactly <paramref name="value"/>, in positional notation
    /// (never an exponent): what numpy's <c>format_float_positional(unique=True, trim="-")</c> writes, so files match
    /// byte for byte and <c>float.Parse</c> gives the value back.
    /// </summary>
    public static string FormatFloat(float value)
    {
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        var e = text.IndexOf('E', StringComparison.Ordinal);
        if (e < 0)
        {
            return text;
        }

        // Expand d.dddE±x into positional digits.
        var negative = text[0] == '-';
        var mantissa = text.AsSpan(negative ? 1 : 0, e - (negative ? 1 : 0));
        var exponent = int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var digits = new StringBuilder();
        var point = mantissa.IndexOf('.');
        foreach (var c in mantissa)
        {
            if (c != '.')
            {
                digits.Append(c);
            }
        }

        var integerDigits = (point < 0 ? mantissa.Length : point) + exponent;
        var result = new StringBuilder(negative ? "-" : "");
        if (integerDigits <= 0)
        {
            result.Append("0.").Append('0', -integerDigits).Append(digits);
        }
        else if (integerDigits >= digits.Length)
        {
            result.Append(digits).Append('0', integerDigits - digits.Length);
        }
        else
        {
            result.Append(digits.ToString(0, integerDigits)).Append('.').Append(digits.ToString(integerDigits, digits.Length - integerDigits));
        }

        return result.ToString();
    }

    /// <summary>Splits one CSV line into <paramref name="fields"/> (cleared first); double quotes quote and escape.</summary>
    public static void Split(string line, List<string> fields)
    {
        ArgumentNullException.ThrowIfNull(line);
        ArgumentNullException.ThrowIfNull(fields);
        fields.Clear();
        if (line.Contains('"', StringComparison.Ordinal))
        {
            SplitQuoted(line, fields);
            return;
        }

        var start = 0;
        while (true)
        {
            var comma = line.IndexOf(',', start);
            if (comma < 0)
            {
                fields.Add(line[start..]);
                return;
            }

            fields.Add(line[start..comma]);
            start = comma + 1;
        }
    }

    /// <summary>Quotes a field when it holds a comma, a quote or a line break.</summary>
    public static string Quote(string field)
    {
        ArgumentNullException.ThrowIfNull(field);
        return field.AsSpan().IndexOfAny(",\"\r\n") < 0 ? field : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    private static void SplitQuoted(string line, List<string> fields)
    {
        var current = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < line.Length && line[i + 1] == '"')
                    {
                        current.Append('"');
                        i++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ',')
            {
                fields.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }

        fields.Add(current.ToString());
    }
}
