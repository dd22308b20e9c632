using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace InferenceGateway.Observability.Internal;

/// <summary>The kind of System.Diagnostics.Metrics instrument feeding a family.</summary>
internal enum InstrumentKind
{
    Counter,
    UpDownCounter,
    Gauge,
    Histogram,
    ObservableCounter,
    ObservableUpDownCounter,
    ObservableGauge,
}

/// <summary>Collection round shared by all families: observable series not seen in the latest round are stale.</summary>
internal sealed class ScrapeState
{
    public int Epoch;
}

/// <summary>
/// One Prometheus metric family: every instrument with the same exposed name and kind feeds it (a meter name may be
/// created more than once, e.g. one meter per host or per component), keyed by label set.
/// Recording is lock-free; a lock is taken only when a new series is created.
/// </summary>
internal sealed class MetricFamily
{
    private readonly ConcurrentDictionary<SeriesKey, MetricSeries> _byTags;
    private readonly ConcurrentDictionary<SeriesKey, MetricSeries>.AlternateLookup<TagSpan> _lookup;
    private readonly ConcurrentDictionary<SeriesKey, MetricSeries> _byIdentity;
    private readonly ConcurrentDictionary<SeriesKey, MetricSeries>.AlternateLookup<IdentityTagSpan> _identityLookup;
    private readonly Dictionary<string, MetricSeries> _byLabels = new(StringComparer.Ordinal);
    private readonly Lock _createLock = new();
    private readonly ScrapeState _scrape;
    private readonly Action<MetricFamily>? _onLimitReached;
    private readonly byte[] _header;
    private readonly byte[] _sampleName;
    private readonly byte[] _bucketName;
    private readonly byte[] _sumName;
    private readonly byte[] _countName;
    private readonly double[] _bounds;
    private readonly byte[][] _leLabels;
    private readonly int _maxSeries;

    private MetricSeries[] _series = new MetricSeries[4];
    private int _seriesCount;
    private int _keyCount;
    private int _identityCount;
    private MetricSeries? _untagged;
    private long _dropped;
    private int _limitReported;

    public MetricFamily(
        string name,
        string? description,
        InstrumentKind kind,
        double[]? bounds,
        int maxSeries,
        ScrapeState scrape,
        Action<MetricFamily>? onLimitReached)
    {
        Name = name;
        Kind = kind;
        Type = kind switch
        {
            InstrumentKind.Counter or InstrumentKind.ObservableCounter => PrometheusType.Counter,
            InstrumentKind.Histogram => PrometheusType.Histogram,
            _ => PrometheusType.Gauge,
        };
        _maxSeries = maxSeries;
        _scrape = scrape;
        _onLimitReached = onLimitReached;
        _byTags = new ConcurrentDictionary<SeriesKey, MetricSeries>(SeriesKeyComparer.Instance);
        _lookup = _byTags.GetAlternateLookup<TagSpan>();
        _byIdentity = new ConcurrentDictionary<SeriesKey, MetricSeries>(IdentitySeriesKeyComparer.Instance);
        _identityLookup = _byIdentity.GetAlternateLookup<IdentityTagSpan>();

        var header = new StringBuilder();
        if (!string.IsNullOrWhiteSpace(description))
        {
            header.Append("# HELP ").Append(name).Append(' ').Append(PrometheusNaming.EscapeHelp(description)).Append('\n');
        }

        header.Append("# TYPE ").Append(name).Append(' ').Append(Type switch
        {
            PrometheusType.Counter => "counter",
            PrometheusType.Histogram => "histogram",
            _ => "gauge",
        }).Append('\n');
        _header = Encoding.UTF8.GetBytes(header.ToString());
        _sampleName = Encoding.UTF8.GetBytes(name);
        _bucketName = Encoding.UTF8.GetBytes(name + "_bucket");
        _sumName = Encoding.UTF8.GetBytes(name + "_sum");
        _countName = Encoding.UTF8.GetBytes(name + "_count");

        _bounds = Type == PrometheusType.Histogram ? bounds ?? [] : [];
        _leLabels = new byte[_bounds.Length + 1][];
        for (var i = 0; i < _bounds.Length; i++)
        {
            _leLabels[i] = Encoding.UTF8.GetBytes("le=\"" + PrometheusNaming.FormatBound(_bounds[i]) + "\"");
        }

        _leLabels[_bounds.Length] = "le=\"+Inf\""u8.ToArray();
    }

    public string Name { get; }

    public InstrumentKind Kind { get; }

    public PrometheusType Type { get; }

    public long Dropped => Volatile.Read(ref _dropped);

    public int SeriesCount => Volatile.Read(ref _seriesCount);

    private bool IsObservable => Kind is InstrumentKind.ObservableCounter or InstrumentKind.ObservableUpDownCounter or InstrumentKind.ObservableGauge;

    public void RecordLong(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (Kind is InstrumentKind.Counter or InstrumentKind.UpDownCounter)
        {
            // Integer sums stay exact and need one atomic add instead of a compare-exchange loop.
            var series = GetSeries(tags);
            if (series is not null)
            {
                Interlocked.Add(ref series.LongSum, value);
            }

            return;
        }

        RecordDouble(value, tags);
    }

    public void RecordDouble(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (Kind == InstrumentKind.Histogram)
        {
            RecordHistogram(value, tags);
            return;
        }

        var series = GetSeries(tags);
        if (series is null)
        {
            return;
        }

        switch (Kind)
        {
            case InstrumentKind.Counter:
            case InstrumentKind.UpDownCounter:
                MetricSeries.AddDouble(ref series.DoubleSum, value);
                break;
            case InstrumentKind.Gauge:
                Volatile.Write(ref series.Last, value);
                break;
            case InstrumentKind.ObservableGauge:
                // Observable callbacks run on the scrape thread under the collector's scrape lock.
                series.Last = value;
                series.Epoch = _scrape.Epoch;
                break;
            default:
                // Observable counters: several instruments of the same name and labels add up within one round.
                var epoch = _scrape.Epoch;
                series.Last = series.Epoch == epoch ? series.Last + value : value;
                series.Epoch = epoch;
                break;
        }
    }

    public void WriteTo(IBufferWriter<byte> writer)
    {
        var count = Volatile.Read(ref _seriesCount);
        var all = Volatile.Read(ref _series);
        var observable = IsObservable;
        var epoch = _scrape.Epoch;
        var any = false;
        for (var i = 0; i < count && !any; i++)
        {
            any = !observable || all[i].Epoch == epoch;
        }

        if (!any)
        {
            return;
        }

        Utf8Output.Write(writer, _header);
        for (var i = 0; i < count; i++)
        {
            var series = all[i];
            if (observable && series.Epoch != epoch)
            {
                continue;
            }

            if (Type == PrometheusType.Histogram)
            {
                WriteHistogram(writer, series);
                continue;
            }

            Utf8Output.Write(writer, _sampleName);
            Utf8Output.WriteLabels(writer, series.Labels, default);
            Utf8Output.Write(writer, " "u8);
            if (Kind is InstrumentKind.Counter or InstrumentKind.UpDownCounter)
            {
                var longSum = Volatile.Read(ref series.LongSum);
                var doubleSum = Volatile.Read(ref series.DoubleSum);
                if (doubleSum == 0)
                {
                    Utf8Output.WriteLong(writer, longSum);
                }
                else
                {
                    Utf8Output.WriteDouble(writer, longSum + doubleSum);
                }
            }
            else
            {
                Utf8Output.WriteDouble(writer, Volatile.Read(ref series.Last));
            }

            Utf8Output.Write(writer, "\n"u8);
        }
    }

    private void WriteHistogram(IBufferWriter<byte> writer, MetricSeries series)
    {
        // _count is the cumulative total of the buckets as read here, so +Inf == _count holds even while
        // other threads record during the scrape.
        var buckets = series.Buckets!;
        long cumulative = 0;
        for (var b = 0; b < buckets.Length; b++)
        {
            cumulative += Volatile.Read(ref buckets[b]);
            Utf8Output.Write(writer, _bucketName);
            Utf8Output.WriteLabels(writer, series.Labels, _leLabels[b]);
            Utf8Output.Write(writer, " "u8);
            Utf8Output.WriteLong(writer, cumulative);
            Utf8Output.Write(writer, "\n"u8);
        }

        Utf8Output.Write(writer, _sumName);
        Utf8Output.WriteLabels(writer, series.Labels, default);
        Utf8Output.Write(writer, " "u8);
        Utf8Output.WriteDouble(writer, Volatile.Read(ref series.DoubleSum));
        Utf8Output.Write(writer, "\n"u8);

        Utf8Output.Write(writer, _countName);
        Utf8Output.WriteLabels(writer, series.Labels, default);
        Utf8Output.Write(writer, " "u8);
        Utf8Output.WriteLong(writer, cumulative);
        Utf8Output.Write(writer, "\n"u8);
    }

    private void RecordHistogram(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (double.IsNaN(value))
        {
            return;
        }

        var series = GetSeries(tags);
        if (series is null)
        {
            return;
        }

        // First bucket whose upper bound is >= value (Prometheus buckets are "less than or equal").
        var bounds = _bounds;
        int lo = 0, hi = bounds.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (value <= bounds[mid])
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        Interlocked.Increment(ref series.Buckets![lo]);
        MetricSeries.AddDouble(ref series.DoubleSum, value);
    }

    private MetricSeries? GetSeries(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            var untagged = Volatile.Read(ref _untagged);
            if (untagged is not null)
            {
                return untagged;
            }
        }
        else if (_identityLookup.TryGetValue(new IdentityTagSpan(tags), out var cached))
        {
            return cached;
        }
        else if (_lookup.TryGetValue(new TagSpan(tags), out var existing))
        {
            CacheIdentity(tags, existing);
            return existing;
        }

        if (Volatile.Read(ref _seriesCount) >= _maxSeries)
        {
            // Over the cap: count without taking the lock, so a flood of new label sets stays cheap.
            Drop();
            return null;
        }

        var created = CreateSeries(tags);
        if (created is not null)
        {
            CacheIdentity(tags, created);
        }

        return created;
    }

    private void CacheIdentity(ReadOnlySpan<KeyValuePair<string, object?>> tags, MetricSeries series)
    {
        // Only string (or null) values: a boxed number is a new object on every call and would never hit again.
        // Bounded, so tag strings built per call (a new reference each time) stop adding entries.
        if (tags.IsEmpty || Volatile.Read(ref _identityCount) >= 4 * _maxSeries)
        {
            return;
        }

        foreach (var tag in tags)
        {
            if (tag.Value is not (null or string))
            {
                return;
            }
        }

        if (_byIdentity.TryAdd(new SeriesKey(tags, IdentitySeriesKeyComparer.ComputeHash(tags)), series))
        {
            Interlocked.Increment(ref _identityCount);
        }
    }

    private MetricSeries? CreateSeries(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        lock (_createLock)
        {
            if (tags.IsEmpty && _untagged is not null)
            {
                return _untagged;
            }

            if (_lookup.TryGetValue(new TagSpan(tags), out var existing))
            {
                return existing;
            }

            // Keys that render to an existing label set (e.g. the same value boxed as int and as long) share its
            // series; their number is bounded too.
            if (_keyCount >= 2 * _maxSeries)
            {
                Drop();
                return null;
            }

            var labels = RenderLabels(tags);
            if (!_byLabels.TryGetValue(labels, out var series))
            {
                if (_seriesCount >= _maxSeries)
                {
                    Drop();
                    return null;
                }

                series = new MetricSeries(Encoding.UTF8.GetBytes(labels), Type == PrometheusType.Histogram ? _bounds.Length + 1 : 0);
                _byLabels.Add(labels, series);
                Append(series);
            }

            _byTags.TryAdd(new SeriesKey(tags, SeriesKeyComparer.ComputeHash(tags)), series);
            _keyCount++;
            if (tags.IsEmpty)
            {
                Volatile.Write(ref _untagged, series);
            }

            return series;
        }
    }

    private void Append(MetricSeries series)
    {
        // Readers take the count, then the array: publish the array (with the item) before the count.
        var array = _series;
        if (_seriesCount == array.Length)
        {
            var grown = new MetricSeries[array.Length * 2];
            Array.Copy(array, grown, array.Length);
            array = grown;
        }

        array[_seriesCount] = series;
        Volatile.Write(ref _series, array);
        Volatile.Write(ref _seriesCount, _seriesCount + 1);
    }

    private void Drop()
    {
        Interlocked.Increment(ref _dropped);
        if (Volatile.Read(ref _limitReported) == 0 && Interlocked.Exchange(ref _limitReported, 1) == 0)
        {
            _onLimitReached?.Invoke(this);
        }
    }

    /// <summary>Canonical label text: sanitized names in ordinal order, names that collide after sanitizing merged with ';'.</summary>
    private string RenderLabels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            return string.Empty;
        }

        var labels = new List<(string Name, string Key, string Value)>(tags.Length);
        foreach (var tag in tags)
        {
            var name = PrometheusNaming.LabelName(tag.Key);
            if (Type == PrometheusType.Histogram && name == "le")
            {
                // "le" is the bucket label of a histogram.
                name = "tag_le";
            }

            labels.Add((name, tag.Key, PrometheusNaming.LabelValueText(tag.Value)));
        }

        labels.Sort(static (a, b) =>
        {
            var byName = string.CompareOrdinal(a.Name, b.Name);
            return byName != 0 ? byName : string.CompareOrdinal(a.Key, b.Key);
        });

        var builder = new StringBuilder();
        for (var i = 0; i < labels.Count; i++)
        {
            var value = labels[i].Value;
            while (i + 1 < labels.Count && labels[i + 1].Name == labels[i].Name)
            {
                i++;
                value = value + ";" + labels[i].Value;
            }

            if (builder.Length > 0)
            {
                builder.Append(',');
            }

            builder.Append(labels[i].Name).Append("=\"").Append(PrometheusNaming.EscapeLabelValue(value)).Append('"');
        }

        return builder.ToString();
    }
}
