using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace InferenceGateway.Core.Features;

/// <summary>
/// Feature engine instruments on the <c>InferenceGateway</c> meter:
/// <list type="bullet">
/// <item><c>gateway.features.events_ingested</c> (counter, <c>stream</c>): events applied.</item>
/// <item><c>gateway.features.events_late</c> (counter, <c>stream</c>): events older than the watermark minus the allowed
/// lateness, dropped.</item>
/// <item><c>gateway.features.events_rejected</c> (counter, <c>stream</c>, <c>reason</c>): malformed or refused events;
/// <c>stream</c> is <c>_unknown</c> for a stream that is not defined (so clients cannot create series).</item>
/// <item><c>gateway.features.evictions</c> (counter, <c>stream</c>, <c>reason</c>: idle, memory_cap): entities dropped.</item>
/// <item><c>gateway.features.entities</c> (observable gauge, <c>stream</c>): entities held.</item>
/// <item><c>gateway.features.state_bytes</c> (observable gauge, <c>stream</c>, By): estimated bytes of their state.</item>
/// <item><c>gateway.features.lookup_duration</c> (histogram, s): one vector assembly (every lookup of a request).</item>
/// <item><c>gateway.features.snapshot_duration</c> (histogram, s, <c>operation</c>: write, restore): snapshot I/O.</item>
/// </list>
/// One instance serves every engine of the process.
/// </summary>
public sealed class FeatureMetrics
{
    /// <summary>Name of the meter the instruments live on.</summary>
    public const string MeterName = "InferenceGateway";

    private static readonly string[] s_reasons = BuildReasonNames();

    private readonly Lock _lock = new();
    private readonly List<FeatureEngine> _engines = [];

    /// <summary>Creates the instruments on the factory's <see cref="MeterName"/> meter (the factory owns it).</summary>
    public FeatureMetrics(IMeterFactory meterFactory)
        : this(CreateMeter(meterFactory))
    {
    }

    /// <summary>Creates the instruments on <paramref name="meter"/> (the caller owns it).</summary>
    public FeatureMetrics(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        Meter = meter;
        EventsIngested = meter.CreateCounter<long>("gateway.features.events_ingested", "{event}", "Events applied to the feature state");
        EventsLate = meter.CreateCounter<long>("gateway.features.events_late", "{event}", "Events dropped as later than the allowed lateness");
        EventsRejected = meter.CreateCounter<long>("gateway.features.events_rejected", "{event}", "Events rejected, by reason");
        Evictions = meter.CreateCounter<long>("gateway.features.evictions", "{entity}", "Entities evicted, by reason (idle, memory_cap)");
        LookupDuration = meter.CreateHistogram<double>("gateway.features.lookup_duration", "s", "Time of one feature vector assembly");
        SnapshotDuration = meter.CreateHistogram<double>("gateway.features.snapshot_duration", "s", "Time to write or restore a feature state snapshot");
        meter.CreateObservableGauge("gateway.features.entities", ObserveEntities, "{entity}", "Entities held");
        meter.CreateObservableGauge("gateway.features.state_bytes", ObserveBytes, "By", "Estimated bytes of the feature state");
    }

    /// <summary>The meter holding the instruments.</summary>
    public Meter Meter { get; }

    internal Counter<long> EventsIngested { get; }

    internal Counter<long> EventsLate { get; }

    internal Counter<long> EventsRejected { get; }

    internal Counter<long> Evictions { get; }

    internal Histogram<double> LookupDuration { get; }

    internal Histogram<double> SnapshotDuration { get; }

    /// <summary>The metric tag value of a rejection reason (snake_case of its name).</summary>
    public static string ReasonName(IngestRejectionReason reason) => s_reasons[(int)reason];

    internal void Register(FeatureEngine engine)
    {
        lock (_lock)
        {
            _engines.Add(engine);
        }
    }

    internal void Unregister(FeatureEngine engine)
    {
        lock (_lock)
        {
            _engines.Remove(engine);
        }
    }

    private static string[] BuildReasonNames()
    {
        var values = Enum.GetValues<IngestRejectionReason>();
        var names = new string[values.Length];
        foreach (var value in values)
        {
            var name = value.ToString();
            var snake = new System.Text.StringBuilder();
            for (var i = 0; i < name.Length; i++)
            {
                if (char.IsUpper(name[i]) && i > 0)
                {
                    snake.Append('_');
                }

                snake.Append(char.ToLowerInvariant(name[i]));
            }

            names[(int)value] = snake.ToString();
        }

        return names;
    }

    private static Meter CreateMeter(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        return meterFactory.Create(new MeterOptions(MeterName));
    }

    private List<Measurement<long>> ObserveEntities() => Observe(static (engine, list) => engine.ObserveEntities(list));

    private List<Measurement<long>> ObserveBytes() => Observe(static (engine, list) => engine.ObserveBytes(list));

    private List<Measurement<long>> Observe(Action<FeatureEngine, List<Measurement<long>>> observe)
    {
        lock (_lock)
        {
            var measurements = new List<Measurement<long>>();
            foreach (var engine in _engines)
            {
                observe(engine, measurements);
            }

            return measurements;
        }
    }

    /// <summary>Tag sets of one stream, built once so recording allocates nothing.</summary>
    internal sealed class StreamTags
    {
        private readonly TagList[] _rejections;

        public StreamTags(string stream)
        {
            Stream = new TagList { { "stream", stream } };
            _rejections = new TagList[s_reasons.Length];
            for (var i = 0; i < s_reasons.Length; i++)
            {
                _rejections[i] = new TagList { { "stream", stream }, { "reason", s_reasons[i] } };
            }

            EvictedIdle = new TagList { { "stream", stream }, { "reason", "idle" } };
            EvictedMemoryCap = new TagList { { "stream", stream }, { "reason", "memory_cap" } };
        }

        public TagList Stream { get; }

        public TagList EvictedIdle { get; }

        public TagList EvictedMemoryCap { get; }

        public ref readonly TagList Rejection(IngestRejectionReason reason) => ref _rejections[(int)reason];
    }
}
