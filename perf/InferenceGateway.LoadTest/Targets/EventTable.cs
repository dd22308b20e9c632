using System.Globalization;
using System.IO.Compression;
using InferenceGateway.LoadTest.Output;

namespace InferenceGateway.LoadTest.Targets;

/// <summary>Which columns of an events CSV carry the entity and the event time, and which are ignored.</summary>
public sealed record EventColumns
{
    /// <summary>The bundled stream's entity key column.</summary>
    public const string DefaultEntity = "card_id";

    /// <summary>The bundled stream's event-time column (Unix milliseconds).</summary>
    public const string DefaultTime = "event_time_unix_ms";

    /// <summary>Entity key column.</summary>
    public string Entity { get; init; } = DefaultEntity;

    /// <summary>Event-time column, integer Unix milliseconds.</summary>
    public string Time { get; init; } = DefaultTime;

    /// <summary>Columns left out of the events (the bundled file's <c>label</c> is an outcome, not an event field).</summary>
    public IReadOnlyList<string> Ignored { get; init; } = ["label"];
}

/// <summary>
/// The rows of an events CSV (optionally gzipped), columnar: entity ids, event times, and the other columns typed once
/// for the whole file, a column being numeric when every non-empty cell of it parses as a number (invariant culture)
/// and a string column otherwise. An empty cell is a field the event leaves out. Quoted fields are understood.
/// </summary>
public sealed class EventTable
{
    private EventTable(string path, string[] entities, long[] times, string[] numberNames, double[][] numbers, string[] stringNames, string?[][] strings)
    {
        Path = path;
        Entities = entities;
        Times = times;
        NumberNames = numberNames;
        Numbers = numbers;
        StringNames = stringNames;
        Strings = strings;
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>Rows read.</summary>
    public int Count => Times.Count;

    /// <summary>Entity id of each row.</summary>
    public IReadOnlyList<string> Entities { get; }

    /// <summary>Event time of each row (Unix ms, as in the file).</summary>
    public IReadOnlyList<long> Times { get; }

    /// <summary>Numeric columns, in file order.</summary>
    public IReadOnlyList<string> NumberNames { get; }

    /// <summary>Values of the numeric columns, <c>[column][row]</c>; NaN where the cell was empty.</summary>
    public IReadOnlyList<double[]> Numbers { get; }

    /// <summary>String columns, in file order.</summary>
    public IReadOnlyList<string> StringNames { get; }

    /// <summary>Values of the string columns, <c>[column][row]</c>; null where the cell was empty.</summary>
    public IReadOnlyList<string?[]> Strings { get; }

    /// <summary>Earliest event time in the file.</summary>
    public long MinTime { get; private init; }

    /// <summary>Latest event time in the file.</summary>
    public long MaxTime { get; private init; }

    /// <summary>Distinct entity ids in the file.</summary>
    public int DistinctEntities { get; private init; }

    /// <summary>Reads <paramref name="path"/> (<c>.gz</c> is decompressed); at most <paramref name="maxRows"/> data rows.</summary>
    /// <exception cref="FormatException">A column is missing, a time is not an integer, an entity id is empty, or there are no rows.</exception>
    public static EventTable Load(string path, EventColumns columns, int maxRows = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(columns);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"no events file at {path}", path);
        }

        using Stream file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var reader = new StreamReader(stream);
        string header = reader.ReadLine() ?? throw new FormatException($"{path}: empty file");
        List<string> names = SvgPlot.SplitCsvLine(header);
        int entityAt = IndexOf(names, columns.Entity, path, "entity");
        int timeAt = IndexOf(names, columns.Time, path, "event-time");
        var fieldAt = new List<int>();
        for (int i = 0; i < names.Count; i++)
        {
            if (i != entityAt && i != timeAt && !columns.Ignored.Contains(names[i]))
            {
                fieldAt.Add(i);
            }
        }

        var rows = new List<string[]>();
        int line = 1;
        while (rows.Count < maxRows && reader.ReadLine() is { } text)
        {
            line++;
            if (text.Length == 0)
            {
                continue;
            }

            List<string> cells = SvgPlot.SplitCsvLine(text);
            if (cells.Count != names.Count)
            {
                throw new FormatException($"{path}:{line}: {cells.Count} fields, the header has {names.Count}");
            }

            rows.Add([.. cells]);
        }

        if (rows.Count == 0)
        {
            throw new FormatException($"{path}: no data rows");
        }

        var entities = new string[rows.Count];
        var times = new long[rows.Count];
        var distinct = new HashSet<string>(StringComparer.Ordinal);
        long min = long.MaxValue, max = long.MinValue;
        for (int r = 0; r < rows.Count; r++)
        {
            entities[r] = rows[r][entityAt].Length > 0 ? rows[r][entityAt] : throw new FormatException($"{path}: row {r + 1}: empty {columns.Entity}");
            if (!long.TryParse(rows[r][timeAt], NumberStyles.Integer, CultureInfo.InvariantCulture, out times[r]))
            {
                throw new FormatException($"{path}: row {r + 1}: {columns.Time} '{rows[r][timeAt]}' is not integer Unix milliseconds");
            }

            distinct.Add(entities[r]);
            min = Math.Min(min, times[r]);
            max = Math.Max(max, times[r]);
        }

        var numberNames = new List<string>();
        var numbers = new List<double[]>();
        var stringNames = new List<string>();
        var strings = new List<string?[]>();
        foreach (int c in fieldAt)
        {
            var values = new double[rows.Count];
            bool numeric = true;
            for (int r = 0; r < rows.Count && numeric; r++)
            {
                string cell = rows[r][c];
                values[r] = cell.Length == 0 ? double.NaN : double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : Fail(out numeric);
            }

            if (numeric)
            {
                numberNames.Add(names[c]);
                numbers.Add(values);
                continue;
            }

            var texts = new string?[rows.Count];
            for (int r = 0; r < rows.Count; r++)
            {
                texts[r] = rows[r][c].Length == 0 ? null : rows[r][c];
            }

            stringNames.Add(names[c]);
            strings.Add(texts);
        }

        return new EventTable(path, entities, times, [.. numberNames], [.. numbers], [.. stringNames], [.. strings])
        {
            MinTime = min,
            MaxTime = max,
            DistinctEntities = distinct.Count,
        };

        static double Fail(out bool numeric)
        {
            numeric = false;
            return 0;
        }
    }

    /// <summary>
    /// Maps every event time linearly into <c>[nowUnixMs - windowMs, nowUnixMs - 1]</c>, keeping their order: the
    /// earliest lands at the window's start, the latest 1 ms before <paramref name="nowUnixMs"/>. A whole file then sits
    /// inside a stream's allowed lateness and behind the clock, so none of it is dropped as late or rejected as ahead.
    /// </summary>
    public long[] RebasedTimes(long nowUnixMs, long windowMs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowMs, 1);
        var result = new long[Count];
        long start = nowUnixMs - windowMs;
        long span = MaxTime - MinTime;
        for (int r = 0; r < result.Length; r++)
        {
            // 128-bit product: (t - min) * (window - 1) overflows a long for spans of years and windows of hours.
            long offset = span == 0 ? 0 : (long)((Int128)(Times[r] - MinTime) * (windowMs - 1) / span);
            result[r] = start + offset;
        }

        return result;
    }

    private static int IndexOf(List<string> names, string name, string path, string what)
    {
        int i = names.IndexOf(name);
        return i >= 0 ? i : throw new FormatException($"{path}: no {what} column '{name}' (columns: {string.Join(", ", names)})");
    }
}
