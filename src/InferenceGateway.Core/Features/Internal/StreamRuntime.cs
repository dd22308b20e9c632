using System.Collections.Concurrent;
using System.Diagnostics;

namespace InferenceGateway.Core.Features.Internal;

/// <summary>How an aggregated field is stored per event.</summary>
internal enum ColumnKind : byte
{
    /// <summary>Fixed-point number: running sums of the scaled int64 values (a value is the difference of two).</summary>
    Fixed = 0,

    /// <summary>Plain float64 values.</summary>
    Float = 1,

    /// <summary>String: an id into the entity's <see cref="SymbolTable"/>.</summary>
    Symbol = 2,
}

/// <summary>One declared field of a stream, resolved for ingest: where its value goes, or -1 when it is only validated.</summary>
internal sealed class FieldBinding(StreamField field, ColumnKind kind, int column)
{
    public StreamField Field { get; } = field;

    public string Name { get; } = field.Name;

    public ColumnKind Kind { get; } = kind;

    /// <summary>Index among the columns of its kind, or -1 when no aggregation reads the field.</summary>
    public int Column { get; } = column;

    /// <summary>10^decimals for fixed-point fields, else 1.</summary>
    public long Scale { get; } = field.Decimals is { } d ? (long)Math.Pow(10, d) : 1;

    /// <summary>Largest magnitude accepted for a fixed-point field: its scaled value stays an exact float64 integer.</summary>
    public double MaxMagnitude { get; } = field.Decimals is { } d2 ? 4e15 / Math.Pow(10, d2) : double.MaxValue;
}

/// <summary>One aggregation of a plan, resolved against its stream's columns.</summary>
internal readonly record struct AggregationSpec(
    AggregationFunction Function,
    ColumnKind Kind,
    int Column,
    long WindowMs,
    double Scale,
    double Default,
    int Slot);

/// <summary>A stream at run time: its columns, its entities and its watermark (the latest accepted event time).</summary>
internal sealed class StreamRuntime
{
    private long _watermark = long.MinValue;

    public StreamRuntime(StreamDefinition definition, int index, FeatureRepository repository, FeatureEngineOptions options)
    {
        Definition = definition;
        Index = index;
        Name = definition.Name;
        LatenessMs = (long)definition.AllowedLateness.TotalMilliseconds;
        HistoryRetentionMs = (long)options.HistoryRetention.TotalMilliseconds;

        // Columns: only fields that some aggregation reads are stored.
        var read = new HashSet<string>(StringComparer.Ordinal);
        long longest = 0;
        foreach (var feature in repository.Features)
        {
            if (feature is AggregationFeatureDefinition aggregation && aggregation.Stream == Name)
            {
                longest = Math.Max(longest, aggregation.WindowMs);
                if (aggregation.Field is not null)
                {
                    read.Add(aggregation.Field);
                }
            }
        }

        LongestWindowMs = longest;
        var bindings = new FieldBinding[definition.Fields.Count];
        var counts = new int[3];
        var columns = new List<FieldBinding>();
        for (var i = 0; i < bindings.Length; i++)
        {
            var field = definition.Fields[i];
            var kind = field.Type == FieldType.String ? ColumnKind.Symbol : field.Decimals is null ? ColumnKind.Float : ColumnKind.Fixed;
            var column = read.Contains(field.Name) ? counts[(int)kind]++ : -1;
            bindings[i] = new FieldBinding(field, kind, column);
            if (column >= 0)
            {
                columns.Add(bindings[i]);
            }
        }

        Fields = bindings;
        Columns = [.. columns];
        ColumnFingerprint = Fingerprint(Columns);
        FixedColumns = counts[(int)ColumnKind.Fixed];
        FloatColumns = counts[(int)ColumnKind.Float];
        SymbolColumns = counts[(int)ColumnKind.Symbol];
    }

    public StreamDefinition Definition { get; }

    public int Index { get; }

    public string Name { get; }

    public FieldBinding[] Fields { get; }

    /// <summary>The stored fields, in declaration order.</summary>
    public FieldBinding[] Columns { get; }

    public int FixedColumns { get; }

    /// <summary>FNV-1a of the stored columns' names, kinds and decimals: shared state written for other columns is not read.</summary>
    public ulong ColumnFingerprint { get; }

    public int FloatColumns { get; }

    public int SymbolColumns { get; }

    /// <summary>Longest window of an aggregation on this stream; 0 when none (then no state is kept).</summary>
    public long LongestWindowMs { get; }

    public long LatenessMs { get; }

    public long HistoryRetentionMs { get; }

    public ConcurrentDictionary<string, EntityState> Entities { get; } = new(StringComparer.Ordinal);

    /// <summary>Entities held (kept here: ConcurrentDictionary.Count takes every lock).</summary>
    public int EntityCount;

    /// <summary>Estimated bytes of the entities held.</summary>
    public long Bytes;

    public FeatureMetrics.StreamTags? Tags { get; set; }

    /// <summary>Latest accepted event time, or <see cref="long.MinValue"/> before the first event.</summary>
    public long Watermark => Volatile.Read(ref _watermark);

    public void AdvanceWatermark(long eventTime)
    {
        var current = Volatile.Read(ref _watermark);
        while (eventTime > current)
        {
            var seen = Interlocked.CompareExchange(ref _watermark, eventTime, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>
    /// Events older than this can go: no event older than <c>watermark - lateness</c> is accepted any more, and a lookup
    /// as of that time or later reaches back at most the longest window (plus the configured extra history).
    /// </summary>
    public long TrimHorizon(long watermark) =>
        watermark == long.MinValue ? long.MinValue : watermark - LatenessMs - LongestWindowMs - HistoryRetentionMs;

    /// <summary>Lookups as of this time or later see every event they would have seen had all arrived in order.</summary>
    public long ExactFrom(long watermark) =>
        watermark == long.MinValue ? long.MinValue : watermark - LatenessMs - HistoryRetentionMs;

    private static ulong Fingerprint(FieldBinding[] columns)
    {
        var hash = 14695981039346656037UL;
        void Add(int value)
        {
            hash = (hash ^ (uint)value) * 1099511628211UL;
        }

        foreach (var column in columns)
        {
            foreach (var c in column.Name)
            {
                Add(c);
            }

            Add(0x10000 + (int)column.Kind);
            Add(0x20000 + (column.Field.Decimals ?? 255));
        }

        return hash;
    }

    /// <summary>Builds the spec of an aggregation on this stream for plan slot <paramref name="slot"/>.</summary>
    public AggregationSpec Resolve(AggregationFeatureDefinition feature, int slot)
    {
        var kind = ColumnKind.Fixed;
        var column = -1;
        double scale = 1;
        if (feature.Field is not null)
        {
            foreach (var binding in Fields)
            {
                if (binding.Name == feature.Field)
                {
                    kind = binding.Kind;
                    column = binding.Column;
                    scale = binding.Scale;
                    break;
                }
            }

            Debug.Assert(column >= 0, "the repository validated the field and the stream stores it");
        }

        return new AggregationSpec(feature.Function, kind, column, feature.WindowMs, scale, feature.Default!.Value, slot);
    }
}
