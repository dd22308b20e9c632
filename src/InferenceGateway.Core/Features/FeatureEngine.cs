using System.Collections.Frozen;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using InferenceGateway.Core.Features.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.Core.Features;

/// <summary>
/// The streaming feature engine: per-entity event state in memory, exact to the millisecond, fed by
/// <see cref="Ingest"/> and read by point-in-time lookups through <see cref="FeatureVectorPlan"/>s.
/// <list type="bullet">
/// <item>Each stream keeps, per entity, its events sorted by event time. An event up to the stream's allowed lateness
/// behind the stream's watermark (latest accepted event time) is inserted where it belongs, so any lookup gives what
/// in-order arrival would have; older ones are dropped and counted.</item>
/// <item>A lookup as of t reads, per aggregation, the events in <c>[t - W, t)</c>: exact for every t from
/// <c>watermark - lateness - HistoryRetention</c> on (older as-of times are flagged <see cref="FeatureAssemblyResult.HistoryIncomplete"/>).</item>
/// <item>Memory is bounded: maintenance trims events older than the longest window (+ lateness + retention) behind the
/// watermark and evicts entities left empty; above <see cref="FeatureEngineOptions.MaxStateBytes"/> or
/// <see cref="FeatureEngineOptions.MaxEntities"/> the least recently used entities go.</item>
/// <item>Snapshots (<see cref="SaveSnapshot"/>, <see cref="RestoreSnapshot"/>) carry the state across restarts.</item>
/// </list>
/// Thread-safe: each entity is guarded by one of <see cref="FeatureEngineOptions.LockStripes"/> locks, held only while
/// its arrays are read or changed.
/// </summary>
public sealed partial class FeatureEngine : IAsyncDisposable
{
    [ThreadStatic]
    private static string[]? t_strings;

    private readonly FeatureEngineOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly FeatureMetrics? _metrics;
    private readonly FeatureMetrics.StreamTags? _unknownStreamTags;
    private readonly StreamRuntime[] _streams;
    private readonly FrozenDictionary<string, StreamRuntime> _streamsByName;
    private readonly Lock[] _stripes;
    private readonly StringDeduplicator _strings;
    private readonly SemaphoreSlim _snapshotLock = new(1, 1);
    private long _accessClock;
    private long _totalBytes;
    private int _totalEntities;
    private int _evicting;
    private long _accepted;
    private long _late;
    private long _rejected;
    private long _evictedIdle;
    private long _evictedMemoryCap;
    private ITimer? _maintenanceTimer;
    private ITimer? _snapshotTimer;
    private int _maintaining;
    private int _disposed;

    /// <summary>Creates an empty engine for <paramref name="definitions"/>.</summary>
    /// <exception cref="ArgumentException">The options are invalid (the message lists every problem).</exception>
    public FeatureEngine(
        FeatureRepository definitions,
        FeatureEngineOptions? options = null,
        TimeProvider? timeProvider = null,
        FeatureMetrics? metrics = null,
        ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(definitions);
        _options = options ?? new FeatureEngineOptions();
        var errors = _options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid feature engine options: " + string.Join("; ", errors), nameof(options));
        }

        Definitions = definitions;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _metrics = metrics;
        _streams = new StreamRuntime[definitions.Streams.Count];
        for (var i = 0; i < _streams.Length; i++)
        {
            _streams[i] = new StreamRuntime(definitions.Streams[i], i, definitions, _options);
            if (metrics is not null)
            {
                _streams[i].Tags = new FeatureMetrics.StreamTags(_streams[i].Name);
            }
        }

        _streamsByName = _streams.ToFrozenDictionary(s => s.Name, StringComparer.Ordinal);
        _stripes = new Lock[_options.LockStripes];
        for (var i = 0; i < _stripes.Length; i++)
        {
            _stripes[i] = new Lock();
        }

        _strings = new StringDeduplicator(_options.StringCacheSlots);
        if (metrics is not null)
        {
            _unknownStreamTags = new FeatureMetrics.StreamTags("_unknown");
            metrics.Register(this);
        }
    }

    /// <summary>The definitions the engine serves.</summary>
    public FeatureRepository Definitions { get; }

    /// <summary>The options in force.</summary>
    public FeatureEngineOptions Options => _options;

    /// <summary>Entities held, all streams together.</summary>
    public int EntityCount => Volatile.Read(ref _totalEntities);

    /// <summary>Estimated bytes of the state held (arrays by capacity, strings, per-entity overhead).</summary>
    public long EstimatedStateBytes => Interlocked.Read(ref _totalBytes);

    /// <summary>
    /// Applies one event. <paramref name="numbers"/> and <paramref name="strings"/> hold the event's fields by name
    /// (protobuf map fields can be passed as they are); fields the stream does not declare are ignored. The accepted path
    /// allocates nothing once the entity exists. Never throws for bad input: the result says what was wrong.
    /// </summary>
    public IngestResult Ingest(
        string stream,
        string entityId,
        long eventTimeUnixMs,
        IReadOnlyDictionary<string, double>? numbers,
        IReadOnlyDictionary<string, string>? strings)
    {
        if (stream is null || !_streamsByName.TryGetValue(stream, out var runtime))
        {
            return Reject(null, IngestRejectionReason.UnknownStream, stream, stream);
        }

        Span<long> fixedValues = stackalloc long[runtime.FixedColumns];
        Span<double> floatValues = stackalloc double[runtime.FloatColumns];
        var stringValues = StringScratch(runtime);
        var decoded = Decode(runtime, entityId, eventTimeUnixMs, numbers, strings, fixedValues, floatValues, stringValues);
        if (!decoded.IsAccepted)
        {
            return decoded;
        }

        var watermark = runtime.Watermark;
        if (watermark != long.MinValue && eventTimeUnixMs < watermark - runtime.LatenessMs)
        {
            Interlocked.Increment(ref _late);
            if (runtime.Tags is { } lateTags)
            {
                _metrics!.EventsLate.Add(1, lateTags.Stream);
            }

            return IngestResult.Late(runtime.Name);
        }

        if (runtime.LongestWindowMs > 0)
        {
            Apply(runtime, entityId, eventTimeUnixMs, watermark, fixedValues, floatValues, stringValues.AsSpan(0, runtime.SymbolColumns));
        }

        runtime.AdvanceWatermark(eventTimeUnixMs);
        Interlocked.Increment(ref _accepted);
        if (runtime.Tags is { } tags)
        {
            _metrics!.EventsIngested.Add(1, tags.Stream);
        }

        if (IsOverCap())
        {
            EnforceCaps();
        }

        return IngestResult.Accepted(runtime.Name);
    }

    /// <summary>The calling thread's scratch for an event's string values (no allocation per event).</summary>
    private static string[] StringScratch(StreamRuntime runtime)
    {
        var stringValues = t_strings;
        if (stringValues is null || stringValues.Length < runtime.SymbolColumns)
        {
            stringValues = t_strings = new string[Math.Max(4, runtime.SymbolColumns)];
        }

        return stringValues;
    }

    /// <summary>
    /// Validates an event against its stream and writes the stored columns' values; a rejection is counted and returned,
    /// an acceptable event gives <see cref="IngestResult.Accepted"/> (nothing applied yet).
    /// </summary>
    private IngestResult Decode(
        StreamRuntime runtime,
        string entityId,
        long eventTimeUnixMs,
        IReadOnlyDictionary<string, double>? numbers,
        IReadOnlyDictionary<string, string>? strings,
        Span<long> fixedValues,
        Span<double> floatValues,
        string[] stringValues)
    {
        if (string.IsNullOrEmpty(entityId))
        {
            return Reject(runtime, IngestRejectionReason.MissingEntityId, null, runtime.Name);
        }

        if (entityId.Length > _options.MaxEntityIdLength)
        {
            return Reject(runtime, IngestRejectionReason.EntityIdTooLong, null, runtime.Name);
        }

        if (eventTimeUnixMs <= 0)
        {
            return Reject(runtime, IngestRejectionReason.InvalidEventTime, null, runtime.Name);
        }

        if (_options.MaxEventTimeAhead != Timeout.InfiniteTimeSpan
            && eventTimeUnixMs > _time.GetUtcNow().ToUnixTimeMilliseconds() + (long)_options.MaxEventTimeAhead.TotalMilliseconds)
        {
            return Reject(runtime, IngestRejectionReason.TooFarInFuture, null, runtime.Name);
        }

        // Validate every declared field before touching state; keep the stored ones.
        foreach (var field in runtime.Fields)
        {
            var reason = field.Kind == ColumnKind.Symbol
                ? ReadString(field, numbers, strings, stringValues)
                : ReadNumber(field, numbers, strings, fixedValues, floatValues);
            if (reason != IngestRejectionReason.None)
            {
                return Reject(runtime, reason, field.Name, runtime.Name);
            }
        }

        return IngestResult.Accepted(runtime.Name);
    }

    /// <summary>Compiles the plan that writes <paramref name="featureNames"/> in that order.</summary>
    /// <exception cref="UnknownFeatureException">Some names are not defined; the exception lists all of them.</exception>
    public FeatureVectorPlan CreatePlan(IReadOnlyList<string> featureNames)
    {
        if (!TryCreatePlan(featureNames, out var plan, out var unknown))
        {
            throw new UnknownFeatureException(unknown);
        }

        return plan;
    }

    /// <summary>Compiles a plan; false with every unknown name when some are not defined.</summary>
    public bool TryCreatePlan(IReadOnlyList<string> featureNames, [NotNullWhen(true)] out FeatureVectorPlan? plan, out IReadOnlyList<string> unknown)
    {
        ArgumentNullException.ThrowIfNull(featureNames);
        var missing = new List<string>();
        foreach (var name in featureNames)
        {
            if (name is null || !Definitions.TryGetFeature(name, out _))
            {
                if (!missing.Contains(name ?? "(null)"))
                {
                    missing.Add(name ?? "(null)");
                }
            }
        }

        if (missing.Count > 0)
        {
            plan = null;
            unknown = missing;
            return false;
        }

        // Slots: every feature read, expressions after what they reference (depth-first, post-order).
        var slotOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var aggregations = new Dictionary<StreamRuntime, List<AggregationSpec>>();
        var requests = new List<FeatureVectorPlan.RequestSpec>();
        var expressions = new List<FeatureVectorPlan.ExpressionSpec>();

        int Visit(string name)
        {
            if (slotOf.TryGetValue(name, out var existing))
            {
                return existing;
            }

            Definitions.TryGetFeature(name, out var feature);
            int[]? referenceSlots = null;
            if (feature is ExpressionFeatureDefinition expression)
            {
                referenceSlots = new int[expression.References.Count];
                for (var i = 0; i < referenceSlots.Length; i++)
                {
                    referenceSlots[i] = Visit(expression.References[i]);
                }
            }

            var slot = slotOf.Count;
            slotOf[name] = slot;
            switch (feature)
            {
                case RequestFeatureDefinition request:
                    requests.Add(new FeatureVectorPlan.RequestSpec(slot, request.Input, request.EventTimePart, request.Default));
                    break;
                case AggregationFeatureDefinition aggregation:
                    var stream = _streamsByName[aggregation.Stream];
                    if (!aggregations.TryGetValue(stream, out var list))
                    {
                        aggregations[stream] = list = [];
                    }

                    list.Add(stream.Resolve(aggregation, slot));
                    break;
                case ExpressionFeatureDefinition onDemand:
                    expressions.Add(new FeatureVectorPlan.ExpressionSpec(slot, onDemand.Compiled, referenceSlots!, onDemand.Default!.Value));
                    break;
            }

            return slot;
        }

        var outputs = new int[featureNames.Count];
        for (var i = 0; i < outputs.Length; i++)
        {
            outputs[i] = Visit(featureNames[i]);
        }

        var groups = new List<FeatureVectorPlan.StreamGroup>();
        foreach (var stream in _streams)
        {
            if (aggregations.TryGetValue(stream, out var specs))
            {
                groups.Add(new FeatureVectorPlan.StreamGroup(stream, [.. specs]));
            }
        }

        plan = new FeatureVectorPlan(this, [.. featureNames], [.. groups], [.. requests], [.. expressions], outputs, slotOf.Count);
        unknown = [];
        return true;
    }

    /// <summary>
    /// Point-in-time values of <paramref name="featureNames"/> for a request (GetFeatures): compiles a plan each call,
    /// so it allocates; the serving path keeps a plan per model version instead.
    /// </summary>
    /// <exception cref="UnknownFeatureException">Some names are not defined.</exception>
    public FeatureValue[] GetFeatures(IReadOnlyList<string> featureNames, in FeatureRequest request, out FeatureAssemblyResult result) =>
        GetFeatures(featureNames, request, null, out result);

    /// <summary>As <see cref="GetFeatures(IReadOnlyList{string}, in FeatureRequest, out FeatureAssemblyResult)"/>, reading the state from <paramref name="shared"/> when not null.</summary>
    /// <exception cref="UnknownFeatureException">Some names are not defined.</exception>
    public FeatureValue[] GetFeatures(IReadOnlyList<string> featureNames, in FeatureRequest request, SharedLookup? shared, out FeatureAssemblyResult result)
    {
        var plan = CreatePlan(featureNames);
        var values = new float[plan.Count];
        var defaulted = new bool[plan.Count];
        result = plan.Assemble(request, values, defaulted, shared);
        if (!result.IsSuccess)
        {
            return [];
        }

        var answer = new FeatureValue[plan.Count];
        for (var i = 0; i < answer.Length; i++)
        {
            answer[i] = new FeatureValue(featureNames[i], values[i], defaulted[i]);
        }

        return answer;
    }

    /// <summary>The latest accepted event time of a stream (Unix ms), or null before its first event or for an unknown stream.</summary>
    public long? GetWatermark(string stream) =>
        _streamsByName.TryGetValue(stream, out var runtime) && runtime.Watermark != long.MinValue ? runtime.Watermark : null;

    /// <summary>Counters and sizes for diagnostics and tests (walks every entity: not for the request path).</summary>
    public FeatureEngineStatistics GetStatistics()
    {
        long events = 0;
        var perStream = new Dictionary<string, FeatureStreamStatistics>(StringComparer.Ordinal);
        foreach (var stream in _streams)
        {
            long streamEvents = 0;
            foreach (var pair in stream.Entities)
            {
                var entity = pair.Value;
                lock (_stripes[entity.Stripe])
                {
                    streamEvents += entity.Count;
                }
            }

            events += streamEvents;
            perStream[stream.Name] = new FeatureStreamStatistics(
                Volatile.Read(ref stream.EntityCount),
                streamEvents,
                Interlocked.Read(ref stream.Bytes),
                stream.Watermark == long.MinValue ? null : stream.Watermark);
        }

        return new FeatureEngineStatistics(
            EntityCount,
            events,
            EstimatedStateBytes,
            Interlocked.Read(ref _accepted),
            Interlocked.Read(ref _late),
            Interlocked.Read(ref _rejected),
            Interlocked.Read(ref _evictedIdle),
            Interlocked.Read(ref _evictedMemoryCap),
            perStream);
    }

    /// <summary>
    /// One maintenance pass (the timer runs it every <see cref="FeatureEngineOptions.MaintenanceInterval"/> once
    /// started): trims events behind each stream's horizon, evicts entities left with none (idle longer than the longest
    /// window + lateness + retention, in event time), then enforces the caps.
    /// </summary>
    public MaintenanceResult RunMaintenance()
    {
        long trimmed = 0;
        var idle = 0;
        foreach (var stream in _streams)
        {
            var horizon = stream.TrimHorizon(stream.Watermark);
            if (horizon == long.MinValue)
            {
                continue;
            }

            foreach (var pair in stream.Entities)
            {
                var entity = pair.Value;
                lock (_stripes[entity.Stripe])
                {
                    if (entity.Removed)
                    {
                        continue;
                    }

                    trimmed += entity.Trim(horizon);
                    if (entity.Count == 0)
                    {
                        RemoveLocked(entity, memoryCap: false);
                        idle++;
                    }
                    else
                    {
                        UpdateBytesLocked(entity);
                    }
                }
            }
        }

        var capped = EnforceCaps();
        return new MaintenanceResult(trimmed, idle, capped);
    }

    /// <summary>
    /// Restores the snapshot (when <see cref="FeatureEngineOptions.SnapshotPath"/> is set; a missing, corrupt or
    /// incompatible file is logged and skipped) and starts the maintenance and snapshot timers.
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_options.SnapshotPath is { } path)
        {
            var result = RestoreSnapshot(path);
            switch (result.Status)
            {
                case SnapshotRestoreStatus.Restored:
                    Log.SnapshotRestored(_logger, path, result.Entities, result.Events, result.Duration.TotalMilliseconds);
                    foreach (var skipped in result.SkippedStreams)
                    {
                        Log.SnapshotStreamSkipped(_logger, path, skipped);
                    }

                    break;
                case SnapshotRestoreStatus.NotFound:
                    Log.SnapshotNotFound(_logger, path);
                    break;
                default:
                    Log.SnapshotUnusable(_logger, path, result.Status, result.Message ?? "");
                    break;
            }
        }

        Log.Started(_logger, _streams.Length, Definitions.Features.Count);
        if (_options.MaintenanceInterval > TimeSpan.Zero)
        {
            _maintenanceTimer = _time.CreateTimer(static s => ((FeatureEngine)s!).MaintenanceTick(), this, _options.MaintenanceInterval, _options.MaintenanceInterval);
        }

        if (_options.SnapshotPath is not null && _options.SnapshotInterval > TimeSpan.Zero)
        {
            _snapshotTimer = _time.CreateTimer(static s => ((FeatureEngine)s!).SnapshotTick(), this, _options.SnapshotInterval, _options.SnapshotInterval);
        }

        return Task.CompletedTask;
    }

    /// <summary>Stops the timers and writes a last snapshot (when a path is set); a failed write is logged, not thrown.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        StopTimers();
        if (_options.SnapshotPath is { } path)
        {
            await _snapshotLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                TrySave(path);
            }
            finally
            {
                _snapshotLock.Release();
            }
        }
    }

    /// <summary>Stops the timers (no snapshot: call <see cref="StopAsync"/> for that) and leaves the metrics.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            StopTimers();
            _metrics?.Unregister(this);
        }

        return ValueTask.CompletedTask;
    }

    internal void ObserveEntities(List<Measurement<long>> measurements)
    {
        foreach (var stream in _streams)
        {
            measurements.Add(new Measurement<long>(Volatile.Read(ref stream.EntityCount), stream.Tags!.Stream));
        }
    }

    internal void ObserveBytes(List<Measurement<long>> measurements)
    {
        foreach (var stream in _streams)
        {
            measurements.Add(new Measurement<long>(Interlocked.Read(ref stream.Bytes), stream.Tags!.Stream));
        }
    }

    /// <summary>
    /// Computes a plan's aggregations on one stream for one entity into their slots (defaults when the entity holds
    /// nothing). Returns true when <paramref name="asOf"/> is older than the stream's exactly retained history.
    /// </summary>
    internal bool ReadAggregations(StreamRuntime stream, string entityId, long asOf, AggregationSpec[] specs, Span<double> slots, Span<bool> defaulted)
    {
        if (stream.Entities.TryGetValue(entityId, out var entity))
        {
            lock (_stripes[entity.Stripe])
            {
                if (!entity.Removed)
                {
                    var end = entity.LowerBound(asOf);
                    foreach (ref readonly var spec in specs.AsSpan())
                    {
                        var found = entity.TryAggregate(spec, asOf, end, out var value);
                        slots[spec.Slot] = found ? value : spec.Default;
                        defaulted[spec.Slot] = !found;
                    }

                    entity.LastAccess = Interlocked.Increment(ref _accessClock);
                    return asOf < stream.ExactFrom(stream.Watermark);
                }
            }
        }

        foreach (ref readonly var spec in specs.AsSpan())
        {
            slots[spec.Slot] = spec.Default;
            defaulted[spec.Slot] = true;
        }

        return asOf < stream.ExactFrom(stream.Watermark);
    }

    internal void RecordLookup(long startedTimestamp)
    {
        if (_metrics is { } metrics && metrics.LookupDuration.Enabled)
        {
            metrics.LookupDuration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds);
        }
    }

    private static IngestRejectionReason ReadNumber(
        FieldBinding field,
        IReadOnlyDictionary<string, double>? numbers,
        IReadOnlyDictionary<string, string>? strings,
        Span<long> fixedValues,
        Span<double> floatValues)
    {
        if (numbers is null || !numbers.TryGetValue(field.Name, out var value))
        {
            if (strings is not null && strings.ContainsKey(field.Name))
            {
                return IngestRejectionReason.WrongFieldType;
            }

            return field.Field.Required ? IngestRejectionReason.MissingField : IngestRejectionReason.None;
        }

        if (!double.IsFinite(value))
        {
            return IngestRejectionReason.NonFiniteNumber;
        }

        if (field.Kind == ColumnKind.Fixed)
        {
            if (Math.Abs(value) > field.MaxMagnitude)
            {
                return IngestRejectionReason.InvalidValue;
            }

            // The exact decimal: round the scaled value, then require that dividing back gives the same float64. Both
            // the input (parsed from decimal text) and the division are correctly rounded values of the same rational,
            // so this accepts exactly the float64s nearest to a number with at most `decimals` digits.
            var scaled = Math.Round(value * field.Scale, MidpointRounding.ToEven);
            if (scaled / field.Scale != value)
            {
                return IngestRejectionReason.InvalidValue;
            }

            if (field.Column >= 0)
            {
                fixedValues[field.Column] = (long)scaled;
            }
        }
        else if (field.Column >= 0)
        {
            floatValues[field.Column] = value;
        }

        return IngestRejectionReason.None;
    }

    private IngestRejectionReason ReadString(
        FieldBinding field,
        IReadOnlyDictionary<string, double>? numbers,
        IReadOnlyDictionary<string, string>? strings,
        string[] stringValues)
    {
        if (strings is null || !strings.TryGetValue(field.Name, out var value) || value is null)
        {
            if (numbers is not null && numbers.ContainsKey(field.Name))
            {
                return IngestRejectionReason.WrongFieldType;
            }

            return field.Field.Required ? IngestRejectionReason.MissingField : IngestRejectionReason.None;
        }

        if (value.Length > _options.MaxStringLength)
        {
            return IngestRejectionReason.InvalidValue;
        }

        if (field.Column >= 0)
        {
            stringValues[field.Column] = value;
        }

        return IngestRejectionReason.None;
    }

    private void Apply(
        StreamRuntime stream,
        string entityId,
        long eventTime,
        long watermark,
        ReadOnlySpan<long> fixedValues,
        ReadOnlySpan<double> floatValues,
        ReadOnlySpan<string> stringValues)
    {
        while (true)
        {
            if (!stream.Entities.TryGetValue(entityId, out var entity))
            {
                var created = new EntityState(stream, entityId, (int)((uint)entityId.GetHashCode(StringComparison.Ordinal) & (uint)(_stripes.Length - 1)));
                if (!stream.Entities.TryAdd(entityId, created))
                {
                    continue;
                }

                Interlocked.Increment(ref stream.EntityCount);
                Interlocked.Increment(ref _totalEntities);
                entity = created;
            }

            lock (_stripes[entity.Stripe])
            {
                // Evicted between the lookup and the lock: start again with a fresh entity.
                if (entity.Removed)
                {
                    continue;
                }

                // Before the arrays grow, drop what no accepted event or exact lookup can need any more.
                if (entity.IsFull)
                {
                    entity.Trim(stream.TrimHorizon(watermark));
                }

                entity.Insert(eventTime, fixedValues, floatValues, stringValues, _strings);
                entity.LastAccess = Interlocked.Increment(ref _accessClock);
                UpdateBytesLocked(entity);
                return;
            }
        }
    }

    private void UpdateBytesLocked(EntityState entity)
    {
        var bytes = entity.EstimateBytes();
        var delta = bytes - entity.Bytes;
        if (delta != 0)
        {
            entity.Bytes = bytes;
            Interlocked.Add(ref entity.Stream.Bytes, delta);
            Interlocked.Add(ref _totalBytes, delta);
        }
    }

    private void RemoveLocked(EntityState entity, bool memoryCap)
    {
        entity.Removed = true;
        var stream = entity.Stream;
        stream.Entities.TryRemove(KeyValuePair.Create(entity.Id, entity));
        Interlocked.Decrement(ref stream.EntityCount);
        Interlocked.Decrement(ref _totalEntities);
        Interlocked.Add(ref stream.Bytes, -entity.Bytes);
        Interlocked.Add(ref _totalBytes, -entity.Bytes);
        entity.Bytes = 0;
        Interlocked.Increment(ref memoryCap ? ref _evictedMemoryCap : ref _evictedIdle);
        if (stream.Tags is { } tags)
        {
            _metrics!.Evictions.Add(1, memoryCap ? tags.EvictedMemoryCap : tags.EvictedIdle);
        }
    }

    private bool IsOverCap() =>
        (_options.MaxStateBytes > 0 && Interlocked.Read(ref _totalBytes) > _options.MaxStateBytes)
        || (_options.MaxEntities > 0 && Volatile.Read(ref _totalEntities) > _options.MaxEntities);

    /// <summary>
    /// Evicts least recently used entities until the state is back to 90 % of the byte cap and 90 % of the entity cap
    /// (the slack makes the O(n log n) pass rare). One thread at a time; others go on while it runs.
    /// </summary>
    private int EnforceCaps()
    {
        if (!IsOverCap() || Interlocked.CompareExchange(ref _evicting, 1, 0) != 0)
        {
            return 0;
        }

        try
        {
            var bytesBefore = Interlocked.Read(ref _totalBytes);
            var candidates = new List<EntityState>(Volatile.Read(ref _totalEntities));
            foreach (var stream in _streams)
            {
                foreach (var pair in stream.Entities)
                {
                    candidates.Add(pair.Value);
                }
            }

            var keys = new long[candidates.Count];
            var entities = candidates.ToArray();
            for (var i = 0; i < entities.Length; i++)
            {
                keys[i] = Volatile.Read(ref entities[i].LastAccess);
            }

            Array.Sort(keys, entities);
            var targetBytes = _options.MaxStateBytes / 10 * 9;
            var targetEntities = _options.MaxEntities > 0 ? Math.Max(1, _options.MaxEntities - Math.Max(1, _options.MaxEntities / 10)) : 0;
            var evicted = 0;
            foreach (var entity in entities)
            {
                var overBytes = _options.MaxStateBytes > 0 && Interlocked.Read(ref _totalBytes) > targetBytes;
                var overEntities = _options.MaxEntities > 0 && Volatile.Read(ref _totalEntities) > targetEntities;
                if (!overBytes && !overEntities)
                {
                    break;
                }

                lock (_stripes[entity.Stripe])
                {
                    if (!entity.Removed)
                    {
                        RemoveLocked(entity, memoryCap: true);
                        evicted++;
                    }
                }
            }

            Log.EvictedForCap(_logger, evicted, bytesBefore, Interlocked.Read(ref _totalBytes), Volatile.Read(ref _totalEntities));
            return evicted;
        }
        finally
        {
            Volatile.Write(ref _evicting, 0);
        }
    }

    private IngestResult Reject(StreamRuntime? stream, IngestRejectionReason reason, string? subject, string? streamName)
    {
        Interlocked.Increment(ref _rejected);
        if (_metrics is { } metrics)
        {
            var tags = stream?.Tags ?? _unknownStreamTags!;
            metrics.EventsRejected.Add(1, tags.Rejection(reason));
        }

        return IngestResult.Rejected(reason, subject, streamName);
    }

    private void MaintenanceTick()
    {
        if (Interlocked.CompareExchange(ref _maintaining, 1, 0) != 0)
        {
            return;
        }

        try
        {
            RunMaintenance();
        }
        catch (Exception ex)
        {
            Log.MaintenanceFailed(_logger, ex, ex.Message);
        }
        finally
        {
            Volatile.Write(ref _maintaining, 0);
        }
    }

    private void SnapshotTick()
    {
        // Skip a tick rather than queue behind a slow write.
        if (_options.SnapshotPath is not { } path || !_snapshotLock.Wait(0))
        {
            return;
        }

        try
        {
            TrySave(path);
        }
        finally
        {
            _snapshotLock.Release();
        }
    }

    private void TrySave(string path)
    {
        try
        {
            var written = SaveSnapshot(path);
            Log.SnapshotWritten(_logger, path, written.Entities, written.Events, written.Bytes, written.Duration.TotalMilliseconds);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.SnapshotWriteFailed(_logger, ex, path, ex.Message);
        }
    }

    private void StopTimers()
    {
        _maintenanceTimer?.Dispose();
        _maintenanceTimer = null;
        _snapshotTimer?.Dispose();
        _snapshotTimer = null;
    }
}

/// <summary>What one maintenance pass did.</summary>
/// <param name="EventsTrimmed">Events dropped for being behind their stream's horizon.</param>
/// <param name="IdleEvicted">Entities evicted because they held no event any more.</param>
/// <param name="MemoryCapEvicted">Least recently used entities evicted to get under the caps.</param>
public readonly record struct MaintenanceResult(long EventsTrimmed, int IdleEvicted, int MemoryCapEvicted);

/// <summary>Engine-wide counters and sizes.</summary>
public sealed record FeatureEngineStatistics(
    int Entities,
    long EventsHeld,
    long EstimatedBytes,
    long EventsAccepted,
    long EventsLate,
    long EventsRejected,
    long EvictedIdle,
    long EvictedMemoryCap,
    IReadOnlyDictionary<string, FeatureStreamStatistics> Streams);

/// <summary>One stream's sizes and watermark (Unix ms, null before its first event).</summary>
public sealed record FeatureStreamStatistics(int Entities, long EventsHeld, long EstimatedBytes, long? Watermark);
