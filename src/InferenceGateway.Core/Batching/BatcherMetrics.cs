using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace InferenceGateway.Core.Batching;

/// <summary>
/// Batcher instruments on the <c>InferenceGateway</c> meter. All carry tags <c>model</c> and <c>version</c>:
/// <list type="bullet">
/// <item><c>gateway.batcher.requests</c> (counter, + <c>outcome</c>: success, queue_full, deadline_exceeded, cancelled,
/// execution_failed, shutting_down, invalid_input, overloaded): every request answered.</item>
/// <item><c>gateway.batcher.rejections</c> (counter, + <c>reason</c>): requests refused without running: at admission
/// (queue_full, overloaded, shutting_down, invalid_input) or timed out in the queue (deadline_exceeded, Triton's REJECT
/// action).</item>
/// <item><c>gateway.batcher.queue_duration</c> (histogram, s): enqueue to batch start, per request that ran.</item>
/// <item><c>gateway.batcher.compute_duration</c> (histogram, s): one runner call, per batch.</item>
/// <item><c>gateway.batcher.batch_size</c> (histogram, rows): rows per batch.</item>
/// <item><c>gateway.batcher.queue_depth</c> (observable gauge, requests): queued now, per batcher.</item>
/// </list>
/// One instance serves every batcher of the process.
/// </summary>
public sealed class BatcherMetrics
{
    /// <summary>Name of the meter the instruments live on.</summary>
    public const string MeterName = "InferenceGateway";

    private readonly Lock _lock = new();
    private readonly List<DynamicBatcher> _batchers = [];

    /// <summary>Creates the instruments on the factory's <see cref="MeterName"/> meter (the factory owns it).</summary>
    public BatcherMetrics(IMeterFactory meterFactory)
        : this(CreateMeter(meterFactory))
    {
    }

    /// <summary>Creates the instruments on <paramref name="meter"/> (the caller owns it).</summary>
    public BatcherMetrics(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        Meter = meter;
        Requests = meter.CreateCounter<long>("gateway.batcher.requests", "{request}", "Requests answered by the batcher, by outcome");
        Rejections = meter.CreateCounter<long>("gateway.batcher.rejections", "{request}", "Requests refused or timed out without running, by reason");
        QueueDuration = meter.CreateHistogram<double>("gateway.batcher.queue_duration", "s", "Time from enqueue to batch start");
        ComputeDuration = meter.CreateHistogram<double>("gateway.batcher.compute_duration", "s", "Time of one batch run");
        BatchSize = meter.CreateHistogram<int>("gateway.batcher.batch_size", "{row}", "Rows per batch");
        meter.CreateObservableGauge("gateway.batcher.queue_depth", ObserveQueueDepth, "{request}", "Requests queued");
    }

    /// <summary>The meter holding the instruments.</summary>
    public Meter Meter { get; }

    internal Counter<long> Requests { get; }

    internal Counter<long> Rejections { get; }

    internal Histogram<double> QueueDuration { get; }

    internal Histogram<double> ComputeDuration { get; }

    internal Histogram<int> BatchSize { get; }

    internal void Register(DynamicBatcher batcher)
    {
        lock (_lock)
        {
            _batchers.Add(batcher);
        }
    }

    internal void Unregister(DynamicBatcher batcher)
    {
        lock (_lock)
        {
            _batchers.Remove(batcher);
        }
    }

    private static Meter CreateMeter(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        return meterFactory.Create(new MeterOptions(MeterName));
    }

    private List<Measurement<int>> ObserveQueueDepth()
    {
        lock (_lock)
        {
            var measurements = new List<Measurement<int>>(_batchers.Count);
            foreach (var batcher in _batchers)
            {
                measurements.Add(new Measurement<int>(batcher.QueueDepth, batcher.MetricTags!.ModelVersion));
            }

            return measurements;
        }
    }

    /// <summary>Tag sets of one batcher, built once so recording allocates nothing.</summary>
    internal sealed class Tags
    {
        private static readonly string[] s_names =
        [
            "success", "queue_full", "deadline_exceeded", "cancelled", "execution_failed", "shutting_down", "invalid_input", "overloaded",
        ];

        private readonly TagList[] _outcomes;
        private readonly TagList[] _reasons;

        public Tags(string model, string version)
        {
            ModelVersion = new TagList { { "model", model }, { "version", version } };
            _outcomes = new TagList[s_names.Length];
            _reasons = new TagList[s_names.Length];
            for (var i = 0; i < s_names.Length; i++)
            {
                _outcomes[i] = new TagList { { "model", model }, { "version", version }, { "outcome", s_names[i] } };
                _reasons[i] = new TagList { { "model", model }, { "version", version }, { "reason", s_names[i] } };
            }
        }

        public readonly TagList ModelVersion;

        public ref readonly TagList Outcome(BatchFailureReason reason) => ref _outcomes[(int)reason];

        public ref readonly TagList Reason(BatchFailureReason reason) => ref _reasons[(int)reason];
    }
}
