using System.Buffers;
using System.Diagnostics.Metrics;
using InferenceGateway.Observability.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.Observability;

/// <summary>
/// Listens to the configured meters, aggregates their measurements in memory (lock-free, allocation-free per
/// measurement once a series exists) and writes them in the Prometheus text exposition format 0.0.4.
/// Instruments: counters (also observable) become <c>counter</c> families ending in <c>_total</c>; up-down counters
/// and gauges (synchronous and observable) become <c>gauge</c>; histograms become <c>histogram</c> with explicit
/// buckets (the instrument's advice, else <see cref="PrometheusMetricsOptions.HistogramBuckets"/>, else a default by unit).
/// </summary>
public sealed partial class PrometheusMetricsCollector : IDisposable
{
    /// <summary>The HTTP content type of the exposition this collector writes.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Name of the family counting measurements dropped by the series cap, labelled by <c>metric</c>.</summary>
    public const string DroppedSeriesMetricName = "gateway_metrics_series_dropped_total";

    private readonly MeterListener _listener;
    private readonly string[] _exactMeterNames;
    private readonly string[] _meterNamePrefixes;
    private readonly object? _meterScope;
    private readonly int _maxSeries;
    private readonly bool _includeProcessMetrics;
    private readonly Dictionary<string, double[]> _bucketOverrides;
    private readonly ILogger _logger;
    private readonly ScrapeState _scrape = new();
    private readonly Lock _familiesLock = new();
    private readonly Dictionary<string, MetricFamily> _familiesByName = new(StringComparer.Ordinal);
    private readonly Lock _scrapeLock = new();
    private MetricFamily[] _families = [];
    private bool _disposed;

    /// <summary>Starts listening at once: instruments already created are picked up, measurements count from now.</summary>
    /// <param name="options">Meters, series cap, process metrics, bucket overrides; validated here.</param>
    /// <param name="meterFactory">
    /// When given, meters created by another <see cref="IMeterFactory"/> (another host in the same process) are
    /// ignored; meters created with <c>new Meter(...)</c> are always included. When null, every meter with a
    /// configured name is included.
    /// </param>
    /// <param name="logger">Reports series caps reached, instrument name conflicts and failing observable callbacks.</param>
    public PrometheusMetricsCollector(PrometheusMetricsOptions options, IMeterFactory? meterFactory = null, ILogger<PrometheusMetricsCollector>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _meterScope = meterFactory;
        _maxSeries = options.MaxSeriesPerMetric;
        _includeProcessMetrics = options.IncludeProcessMetrics;
        _bucketOverrides = new Dictionary<string, double[]>(options.HistogramBuckets, StringComparer.Ordinal);

        var exact = new List<string>();
        var prefixes = new List<string>();
        foreach (var name in options.MeterNames)
        {
            if (name.EndsWith('*'))
            {
                prefixes.Add(name[..^1]);
            }
            else
            {
                exact.Add(name);
            }
        }

        if (_includeProcessMetrics)
        {
            exact.Add(PrometheusMetricsOptions.RuntimeMeterName);
        }

        _exactMeterNames = [.. exact];
        _meterNamePrefixes = [.. prefixes];

        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
        };
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((MetricFamily)state!).RecordLong(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (_, value, tags, state) => ((MetricFamily)state!).RecordLong(value, tags));
        _listener.SetMeasurementEventCallback<short>(static (_, value, tags, state) => ((MetricFamily)state!).RecordLong(value, tags));
        _listener.SetMeasurementEventCallback<byte>(static (_, value, tags, state) => ((MetricFamily)state!).RecordLong(value, tags));
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((MetricFamily)state!).RecordDouble(value, tags));
        _listener.SetMeasurementEventCallback<float>(static (_, value, tags, state) => ((MetricFamily)state!).RecordDouble(value, tags));
        _listener.SetMeasurementEventCallback<decimal>(static (_, value, tags, state) => ((MetricFamily)state!).RecordDouble((double)value, tags));
        _listener.Start();
    }

    /// <summary>
    /// Runs the observable instruments' callbacks, then writes every family in the text format 0.0.4
    /// (<see cref="ContentType"/>) into <paramref name="writer"/>. Scrapes are serialized; recording goes on meanwhile.
    /// </summary>
    public void WriteTo(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        lock (_scrapeLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _scrape.Epoch++;
            try
            {
                _listener.RecordObservableInstruments();
            }
            catch (Exception exception)
            {
                // One failing callback must not fail the scrape; the others have been recorded.
                Log.ObservableCallbackFailed(_logger, exception);
            }

            var families = Volatile.Read(ref _families);
            foreach (var family in families)
            {
                family.WriteTo(writer);
            }

            WriteDropped(writer, families);
            if (_includeProcessMetrics)
            {
                ProcessMetrics.Write(writer);
            }
        }
    }

    /// <summary>Stops listening; further scrapes throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lock (_scrapeLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _listener.Dispose();
    }

    private static void WriteDropped(IBufferWriter<byte> writer, MetricFamily[] families)
    {
        var headerWritten = false;
        foreach (var family in families)
        {
            var dropped = family.Dropped;
            if (dropped == 0)
            {
                continue;
            }

            if (!headerWritten)
            {
                Utf8Output.Write(writer, "# HELP gateway_metrics_series_dropped_total Measurements dropped because their metric reached its series limit.\n# TYPE gateway_metrics_series_dropped_total counter\n"u8);
                headerWritten = true;
            }

            Utf8Output.Write(writer, "gateway_metrics_series_dropped_total{metric=\""u8);
            Utf8Output.Write(writer, family.Name);
            Utf8Output.Write(writer, "\"} "u8);
            Utf8Output.WriteLong(writer, dropped);
            Utf8Output.Write(writer, "\n"u8);
        }
    }

    private static InstrumentKind? Classify(Instrument instrument)
    {
        var type = instrument.GetType();
        if (!type.IsGenericType)
        {
            return null;
        }

        var definition = type.GetGenericTypeDefinition();
        if (definition == typeof(Counter<>))
        {
            return InstrumentKind.Counter;
        }

        if (definition == typeof(UpDownCounter<>))
        {
            return InstrumentKind.UpDownCounter;
        }

        if (definition == typeof(Histogram<>))
        {
            return InstrumentKind.Histogram;
        }

        if (definition == typeof(Gauge<>))
        {
            return InstrumentKind.Gauge;
        }

        if (definition == typeof(ObservableCounter<>))
        {
            // The runtime publishes these two point-in-time values as observable counters; they go up and down.
            return instrument.Meter.Name == PrometheusMetricsOptions.RuntimeMeterName
                && instrument.Name is "dotnet.thread_pool.thread.count" or "dotnet.thread_pool.queue.length"
                ? InstrumentKind.ObservableGauge
                : InstrumentKind.ObservableCounter;
        }

        if (definition == typeof(ObservableUpDownCounter<>))
        {
            return InstrumentKind.ObservableUpDownCounter;
        }

        if (definition == typeof(ObservableGauge<>))
        {
            return InstrumentKind.ObservableGauge;
        }

        return null;
    }

    private static IEnumerable<double>? AdviceBuckets(Instrument instrument) => instrument switch
    {
        Instrument<double> d => d.Advice?.HistogramBucketBoundaries,
        Instrument<float> f => Convert(f.Advice?.HistogramBucketBoundaries, static v => v),
        Instrument<long> l => Convert(l.Advice?.HistogramBucketBoundaries, static v => v),
        Instrument<int> i => Convert(i.Advice?.HistogramBucketBoundaries, static v => v),
        Instrument<short> s => Convert(s.Advice?.HistogramBucketBoundaries, static v => v),
        Instrument<byte> b => Convert(b.Advice?.HistogramBucketBoundaries, static v => v),
        Instrument<decimal> m => Convert(m.Advice?.HistogramBucketBoundaries, static v => (double)v),
        _ => null,
    };

    private static List<double>? Convert<T>(IReadOnlyList<T>? values, Func<T, double> convert)
    {
        if (values is null)
        {
            return null;
        }

        var result = new List<double>(values.Count);
        foreach (var value in values)
        {
            result.Add(convert(value));
        }

        return result;
    }

    private bool IsSelected(Meter meter)
    {
        if (meter.Scope is not null && _meterScope is not null && !ReferenceEquals(meter.Scope, _meterScope))
        {
            return false;
        }

        foreach (var name in _exactMeterNames)
        {
            if (string.Equals(meter.Name, name, StringComparison.Ordinal))
            {
                return true;
            }
        }

        foreach (var prefix in _meterNamePrefixes)
        {
            if (meter.Name.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!IsSelected(instrument.Meter) || Classify(instrument) is not { } kind)
        {
            return;
        }

        var family = GetOrCreateFamily(instrument, kind);
        if (family is not null)
        {
            listener.EnableMeasurementEvents(instrument, family);
        }
    }

    private MetricFamily? GetOrCreateFamily(Instrument instrument, InstrumentKind kind)
    {
        var type = kind switch
        {
            InstrumentKind.Counter or InstrumentKind.ObservableCounter => PrometheusType.Counter,
            InstrumentKind.Histogram => PrometheusType.Histogram,
            _ => PrometheusType.Gauge,
        };
        var name = PrometheusNaming.MetricName(instrument.Name, instrument.Unit, type);

        lock (_familiesLock)
        {
            if (_familiesByName.TryGetValue(name, out var existing))
            {
                if (existing.Kind == kind)
                {
                    return existing;
                }

                Log.InstrumentConflict(_logger, instrument.Name, instrument.Meter.Name, name, existing.Kind.ToString(), kind.ToString());
                return null;
            }

            double[]? bounds = null;
            if (kind == InstrumentKind.Histogram)
            {
                bounds = _bucketOverrides.TryGetValue(instrument.Name, out var configured)
                    ? PrometheusNaming.NormalizeBuckets(configured)
                    : null;
                bounds ??= PrometheusNaming.NormalizeBuckets(AdviceBuckets(instrument));
                bounds ??= PrometheusNaming.DefaultBuckets(instrument.Unit);
            }

            var family = new MetricFamily(name, instrument.Description, kind, bounds, _maxSeries, _scrape, OnSeriesLimitReached);
            _familiesByName.Add(name, family);

            // Copy on write, kept sorted by name so the exposition is stable.
            var families = new MetricFamily[_families.Length + 1];
            var index = 0;
            while (index < _families.Length && string.CompareOrdinal(_families[index].Name, name) < 0)
            {
                families[index] = _families[index];
                index++;
            }

            families[index] = family;
            Array.Copy(_families, index, families, index + 1, _families.Length - index);
            Volatile.Write(ref _families, families);
            return family;
        }
    }

    private void OnSeriesLimitReached(MetricFamily family) => Log.SeriesLimitReached(_logger, family.Name, _maxSeries);
}
