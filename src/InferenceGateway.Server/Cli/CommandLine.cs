namespace InferenceGateway.Server.Cli;

/// <summary>Options of a command verb: <c>--name value</c> pairs and bare <c>--flag</c>s, every error listed.</summary>
internal sealed class CommandLine
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _repeated = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public CommandLine(IEnumerable<string> args, IReadOnlySet<string> flags)
    {
        string? pending = null;
        foreach (var arg in args)
        {
            if (pending is not null)
            {
                Set(pending, arg);
                pending = null;
            }
            else if (arg.StartsWith("--", StringComparison.Ordinal) && arg.Length > 2)
            {
                var equals = arg.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0)
                {
                    Set(arg[2..equals], arg[(equals + 1)..]);
                }
                else if (flags.Contains(arg[2..]))
                {
                    _values[arg[2..]] = null;
                }
                else
                {
                    pending = arg[2..];
                }
            }
            else
            {
                Errors.Add($"unexpected argument '{arg}'");
            }
        }

        if (pending is not null)
        {
            Errors.Add($"--{pending} needs a value");
        }
    }

    public List<string> Errors { get; } = [];

    public string? Get(string name)
    {
        _used.Add(name);
        return _values.TryGetValue(name, out var value) ? value : null;
    }

    /// <summary>Every value of an option that may be given more than once, in order (<see cref="Get"/> answers the last).</summary>
    public IReadOnlyList<string> GetAll(string name)
    {
        _used.Add(name);
        return _repeated.TryGetValue(name, out var values) ? values : [];
    }

    public bool Has(string name)
    {
        _used.Add(name);
        return _values.ContainsKey(name);
    }

    public string Require(string name)
    {
        var value = Get(name);
        if (string.IsNullOrEmpty(value))
        {
            Errors.Add($"--{name} is required");
            return "";
        }

        return value;
    }

    public long GetInt64(string name, long fallback)
    {
        var text = Get(name);
        if (text is null)
        {
            return fallback;
        }

        if (!long.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value) || value < 0)
        {
            Errors.Add($"--{name} '{text}' is not a non-negative integer");
        }

        return value;
    }

    private void Set(string name, string value)
    {
        _values[name] = value;
        if (!_repeated.TryGetValue(name, out var values))
        {
            _repeated[name] = values = [];
        }

        values.Add(value);
    }

    /// <summary>Adds an error for every option given that no <see cref="Get"/> asked for.</summary>
    public void RejectUnknown()
    {
        foreach (var name in _values.Keys)
        {
            if (!_used.Contains(name))
            {
                Errors.Add($"unknown option --{name}");
            }
        }
    }

    /// <summary>
    /// True when nothing is wrong; otherwise writes "<paramref name="verb"/>: " with every error, then
    /// <paramref name="usage"/>, to <paramref name="stderr"/> and answers false (the verb then exits 2).
    /// </summary>
    public bool ReportErrors(TextWriter stderr, string verb, string usage)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        if (Errors.Count == 0)
        {
            return true;
        }

        stderr.WriteLine(verb + ": " + string.Join("; ", Errors));
        stderr.WriteLine(usage);
        return false;
    }

    /// <summary>A reader over a file, decompressed when its name ends in .gz.</summary>
    public static TextReader OpenText(string path)
    {
        Stream stream = File.OpenRead(path);
        if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
        {
            stream = new System.IO.Compression.GZipStream(stream, System.IO.Compression.CompressionMode.Decompress);
        }

        return new StreamReader(stream);
    }
}
