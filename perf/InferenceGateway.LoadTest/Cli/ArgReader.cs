using System.Globalization;

namespace InferenceGateway.LoadTest.Cli;

/// <summary>
/// Minimal "--name value" / "--name=value" / "--flag" parser. Every option must be consumed, so a typo
/// is an error instead of a silently ignored setting.
/// </summary>
public sealed class ArgReader
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    /// <summary>Parses <paramref name="args"/>; <paramref name="flags"/> are the options that take no value.</summary>
    public ArgReader(IEnumerable<string> args, IReadOnlySet<string> flags)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(flags);
        using IEnumerator<string> e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string arg = e.Current;
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length < 3)
            {
                throw new UsageException($"unexpected argument '{arg}'");
            }

            string name = arg[2..];
            string value;
            int eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (flags.Contains(name))
            {
                value = "true";
            }
            else if (e.MoveNext())
            {
                value = e.Current;
            }
            else
            {
                throw new UsageException($"option --{name} needs a value");
            }

            if (!_values.TryGetValue(name, out List<string>? list))
            {
                list = [];
                _values[name] = list;
            }

            list.Add(value);
        }
    }

    /// <summary>Last value of an option, or <paramref name="fallback"/>.</summary>
    public string? Get(string name, string? fallback = null)
    {
        _used.Add(name);
        return _values.TryGetValue(name, out List<string>? list) ? list[^1] : fallback;
    }

    /// <summary>All values of a repeatable option.</summary>
    public IReadOnlyList<string> GetAll(string name)
    {
        _used.Add(name);
        return _values.TryGetValue(name, out List<string>? list) ? list : [];
    }

    /// <summary>Whether a flag was given.</summary>
    public bool Flag(string name) => Get(name) is { } v && !string.Equals(v, "false", StringComparison.OrdinalIgnoreCase);

    /// <summary>An integer option.</summary>
    public int GetInt(string name, int fallback)
    {
        string? v = Get(name);
        if (v is null)
        {
            return fallback;
        }

        return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new UsageException($"--{name}: '{v}' is not an integer");
    }

    /// <summary>A long option.</summary>
    public long GetLong(string name, long fallback)
    {
        string? v = Get(name);
        if (v is null)
        {
            return fallback;
        }

        return long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n)
            ? n
            : throw new UsageException($"--{name}: '{v}' is not an integer");
    }

    /// <summary>A duration: "500ms", "20s", "2m", "1h" or plain seconds.</summary>
    public TimeSpan GetDuration(string name, TimeSpan fallback)
    {
        string? v = Get(name);
        return v is null ? fallback : ParseDuration(v, name);
    }

    /// <summary>A comma-separated list of numbers, e.g. "1,4,16,64".</summary>
    public IReadOnlyList<double> GetNumberList(string name, double fallback)
    {
        string? v = Get(name);
        if (v is null)
        {
            return [fallback];
        }

        var list = new List<double>();
        foreach (string part in v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            list.Add(double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)
                ? d
                : throw new UsageException($"--{name}: '{part}' is not a number"));
        }

        return list.Count > 0 ? list : throw new UsageException($"--{name} is empty");
    }

    /// <summary>Throws for options that no code asked for (typos, options of another subcommand).</summary>
    public void ThrowIfUnused()
    {
        foreach (string name in _values.Keys)
        {
            if (!_used.Contains(name))
            {
                throw new UsageException($"unknown option --{name}");
            }
        }
    }

    /// <summary>Parses a duration text.</summary>
    public static TimeSpan ParseDuration(string text, string name)
    {
        ArgumentNullException.ThrowIfNull(text);
        (string number, double scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith('s') => (text[..^1], 1.0),
            _ when text.EndsWith('m') => (text[..^1], 60.0),
            _ when text.EndsWith('h') => (text[..^1], 3600.0),
            _ => (text, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value < 0)
        {
            throw new UsageException($"--{name}: '{text}' is not a duration (e.g. 500ms, 20s, 2m)");
        }

        return TimeSpan.FromSeconds(value * scale);
    }
}

/// <summary>A command-line mistake: reported with usage, exit code 2.</summary>
public sealed class UsageException : Exception
{
    /// <summary>Creates the exception.</summary>
    public UsageException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public UsageException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public UsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
