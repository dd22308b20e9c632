using System.Buffers.Binary;
using InferenceGateway.Core.Features.Internal;

namespace InferenceGateway.Core.Features;

/// <summary>
/// Shared state: one entity's events on one stream as a blob that a store shared by several gateway replicas (Redis)
/// keeps, so that any replica computes a lookup from the same events with the same code as the in-process engine, and
/// gets the same values bit for bit. The replica that consumes an entity's partition of the event log applies events
/// with <see cref="ApplyShared"/> and writes <see cref="SerializeShared"/>'s blob; every replica reads blobs into a
/// <see cref="SharedLookup"/> for <see cref="FeatureVectorPlan.Assemble(in FeatureRequest, Span{float}, Span{bool}, SharedLookup?)"/>.
/// Blob format, version 1 (little-endian):
/// <code>
/// byte 1 | uint64 column fingerprint | int32 partition | int64 offset | int64 exact_from_unix_ms | byte has_events
///        | (when has_events) the entity as the snapshot format writes it
/// </code>
/// The partition and offset are the log position of the last event applied, so a redelivered event (after a restart
/// or a rebalance, from the last committed offset) is recognised and skipped: applying is idempotent. Events are only
/// applied in their partition's order, so one position per entity suffices.
/// </summary>
public sealed partial class FeatureEngine
{
    private const byte SharedBlobVersion = 1;
    private const int SharedHeaderBytes = 1 + 8 + 4 + 8 + 8 + 1;

    /// <summary>The streams that keep per-entity state (those with aggregations): what a shared lookup fetches.</summary>
    public IReadOnlyList<string> StatefulStreams => field ??= [.. _streams.Where(s => s.LongestWindowMs > 0).Select(s => s.Name)];

    /// <summary>
    /// How long an entity's shared state can matter after its last write: the stream's longest window plus its allowed
    /// lateness and the configured history retention (a store's expiry for the key).
    /// </summary>
    /// <exception cref="ArgumentException">The stream is not defined.</exception>
    public TimeSpan SharedStateLifetime(string stream)
    {
        var runtime = RuntimeOf(stream);
        return TimeSpan.FromMilliseconds(runtime.LongestWindowMs + runtime.LatenessMs + runtime.HistoryRetentionMs);
    }

    /// <summary>
    /// Checks an event as <see cref="Ingest"/> would, without applying it: what a front door that forwards events to a
    /// log answers at once (a rejection is counted as one). Accepted means well-formed; lateness is judged on apply.
    /// </summary>
    public IngestResult Validate(
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
        return Decode(runtime, entityId, eventTimeUnixMs, numbers, strings, fixedValues, floatValues, StringScratch(runtime));
    }

    /// <summary>
    /// Opens an entity's shared state for applying events: from its blob, or empty when <paramref name="blob"/> is empty.
    /// A blob of another format version or written for other stored fields (the definitions changed) opens as empty,
    /// with <see cref="SharedEntity.Discarded"/> saying why, as a restore from a snapshot does for such a stream.
    /// </summary>
    /// <exception cref="ArgumentException">The stream is not defined.</exception>
    public SharedEntity OpenShared(string stream, string entityId, ReadOnlySpan<byte> blob)
    {
        var runtime = RuntimeOf(stream);
        ArgumentException.ThrowIfNullOrEmpty(entityId);
        if (!blob.IsEmpty)
        {
            var status = TryReadShared(runtime, entityId, blob, out var state, out var partition, out var offset, out var exactFrom);
            if (status is null)
            {
                return new SharedEntity(runtime, entityId, state ?? NewSharedState(runtime, entityId), partition, offset, exactFrom, null);
            }

            return new SharedEntity(runtime, entityId, NewSharedState(runtime, entityId), -1, -1, long.MinValue, status);
        }

        return new SharedEntity(runtime, entityId, NewSharedState(runtime, entityId), -1, -1, long.MinValue, null);
    }

    /// <summary>
    /// Applies one event, read from <paramref name="partition"/> at <paramref name="offset"/> of the event log, to an
    /// entity's shared state, validating it exactly as <see cref="Ingest"/> does. Lateness is judged against
    /// <paramref name="partitionWatermark"/> (the latest event time accepted on that partition, <see cref="long.MinValue"/>
    /// before the first), which an accepted event advances: in a partitioned log the partition is the unit of order. An
    /// event at or before the entity's recorded position on the same partition is <see cref="IngestOutcome.Duplicate"/>.
    /// The event's entity id must be <paramref name="entity"/>'s.
    /// </summary>
    public IngestResult ApplyShared(
        SharedEntity entity,
        long eventTimeUnixMs,
        IReadOnlyDictionary<string, double>? numbers,
        IReadOnlyDictionary<string, string>? strings,
        int partition,
        long offset,
        ref long partitionWatermark)
    {
        ArgumentNullException.ThrowIfNull(entity);
        var runtime = entity.Runtime;
        if (partition == entity.Partition && offset <= entity.Offset)
        {
            return IngestResult.Duplicate(runtime.Name);
        }

        Span<long> fixedValues = stackalloc long[runtime.FixedColumns];
        Span<double> floatValues = stackalloc double[runtime.FloatColumns];
        var stringValues = StringScratch(runtime);
        var decoded = Decode(runtime, entity.EntityId, eventTimeUnixMs, numbers, strings, fixedValues, floatValues, stringValues);
        if (!decoded.IsAccepted)
        {
            return decoded;
        }

        if (partitionWatermark != long.MinValue && eventTimeUnixMs < partitionWatermark - runtime.LatenessMs)
        {
            Interlocked.Increment(ref _late);
            if (runtime.Tags is { } lateTags)
            {
                _metrics!.EventsLate.Add(1, lateTags.Stream);
            }

            return IngestResult.Late(runtime.Name);
        }

        var state = entity.State;
        if (state.IsFull)
        {
            state.Trim(runtime.TrimHorizon(partitionWatermark));
        }

        state.Insert(eventTimeUnixMs, fixedValues, floatValues, stringValues.AsSpan(0, runtime.SymbolColumns), _strings);
        partitionWatermark = Math.Max(partitionWatermark, eventTimeUnixMs);
        entity.Partition = partition;
        entity.Offset = offset;
        entity.Changed = true;

        // The process-wide watermark follows too, for /metrics and GetWatermark; lookups use the entity's own bound.
        runtime.AdvanceWatermark(eventTimeUnixMs);
        Interlocked.Increment(ref _accepted);
        if (runtime.Tags is { } tags)
        {
            _metrics!.EventsIngested.Add(1, tags.Stream);
        }

        return IngestResult.Accepted(runtime.Name);
    }

    /// <summary>
    /// The entity's blob after trimming what no accepted event or exact lookup can need given the partition's
    /// watermark; it records the position of the last event applied and from when lookups are exact.
    /// </summary>
    public static byte[] SerializeShared(SharedEntity entity, long partitionWatermark)
    {
        ArgumentNullException.ThrowIfNull(entity);
        var runtime = entity.Runtime;
        var state = entity.State;
        state.Trim(runtime.TrimHorizon(partitionWatermark));
        using var buffer = new MemoryStream(SharedHeaderBytes + 16 + (state.Count * 24));
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(SharedBlobVersion);
            writer.Write(runtime.ColumnFingerprint);
            writer.Write(entity.Partition);
            writer.Write(entity.Offset);
            writer.Write(Math.Max(entity.ExactFrom, runtime.ExactFrom(partitionWatermark)));
            writer.Write(state.Count > 0);
            if (state.Count > 0)
            {
                WriteEntity(writer, runtime, state);
            }
        }

        return buffer.ToArray();
    }

    /// <summary>A lookup context for one request against a shared store (one per request: it holds the decoded state).</summary>
    public SharedLookup CreateSharedLookup() => new(this, _streams.Where(s => s.LongestWindowMs > 0).ToArray());

    /// <summary>Decodes a blob for a lookup; null when it is unusable (the reason in <paramref name="problem"/>).</summary>
    internal EntityState? ReadSharedForLookup(StreamRuntime runtime, string entityId, ReadOnlySpan<byte> blob, out long exactFrom, out string? problem)
    {
        problem = TryReadShared(runtime, entityId, blob, out var state, out _, out _, out exactFrom);
        return problem is null ? state : null;
    }

    private StreamRuntime RuntimeOf(string stream) =>
        stream is not null && _streamsByName.TryGetValue(stream, out var runtime)
            ? runtime
            : throw new ArgumentException($"unknown stream '{stream}'", nameof(stream));

    private EntityState NewSharedState(StreamRuntime runtime, string entityId) =>
        new(runtime, entityId, (int)((uint)entityId.GetHashCode(StringComparison.Ordinal) & (uint)(_stripes.Length - 1)));

    /// <summary>Null when the blob was read (state null when it holds no events); otherwise why it cannot be used.</summary>
    private string? TryReadShared(
        StreamRuntime runtime,
        string entityId,
        ReadOnlySpan<byte> blob,
        out EntityState? state,
        out int partition,
        out long offset,
        out long exactFrom)
    {
        state = null;
        partition = -1;
        offset = -1;
        exactFrom = long.MinValue;
        if (blob.Length < SharedHeaderBytes || blob[0] != SharedBlobVersion)
        {
            return blob.Length == 0 ? "empty" : $"format version {blob[0]} (this gateway reads {SharedBlobVersion})";
        }

        if (BinaryPrimitives.ReadUInt64LittleEndian(blob[1..]) != runtime.ColumnFingerprint)
        {
            return "written for other stored fields (the stream's definition changed)";
        }

        partition = BinaryPrimitives.ReadInt32LittleEndian(blob[9..]);
        offset = BinaryPrimitives.ReadInt64LittleEndian(blob[13..]);
        exactFrom = BinaryPrimitives.ReadInt64LittleEndian(blob[21..]);
        if (blob[29] == 0)
        {
            return null;
        }

        try
        {
            using var stream = new MemoryStream(blob[SharedHeaderBytes..].ToArray(), writable: false);
            using var reader = new BinaryReader(stream);
            var bindings = runtime.Columns;
            var columns = new (string Name, ColumnKind Kind, int? Decimals)[bindings.Length];
            var map = new int[bindings.Length];
            for (var i = 0; i < bindings.Length; i++)
            {
                columns[i] = (bindings[i].Name, bindings[i].Kind, bindings[i].Field.Decimals);
                map[i] = i;
            }

            state = ReadEntity(reader, columns, runtime, map, () => stream.Length - stream.Position);
            if (state is null || state.Id != entityId)
            {
                var held = state?.Id;
                state = null;
                return $"holds entity '{held}', not '{entityId}'";
            }

            return null;
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or OverflowException or FormatException)
        {
            state = null;
            return "damaged: " + ex.Message;
        }
    }
}

/// <summary>One entity's state on one stream, opened from a shared store to apply events (<see cref="FeatureEngine.OpenShared"/>).</summary>
public sealed class SharedEntity
{
    internal SharedEntity(StreamRuntime runtime, string entityId, EntityState state, int partition, long offset, long exactFrom, string? discarded)
    {
        Runtime = runtime;
        EntityId = entityId;
        State = state;
        Partition = partition;
        Offset = offset;
        ExactFrom = exactFrom;
        Discarded = discarded;
    }

    /// <summary>The stream.</summary>
    public string Stream => Runtime.Name;

    /// <summary>The entity.</summary>
    public string EntityId { get; }

    /// <summary>Partition of the last event applied (-1 for none).</summary>
    public int Partition { get; internal set; }

    /// <summary>Offset of the last event applied (-1 for none).</summary>
    public long Offset { get; internal set; }

    /// <summary>True once an event was applied since it was opened (only then need it be written back).</summary>
    public bool Changed { get; internal set; }

    /// <summary>Events held.</summary>
    public int EventCount => State.Count;

    /// <summary>Why the stored blob was not used (it opened empty), or null.</summary>
    public string? Discarded { get; }

    internal StreamRuntime Runtime { get; }

    internal EntityState State { get; }

    internal long ExactFrom { get; }
}

/// <summary>
/// The shared state one request reads: per stateful stream, the entity the request names (<see cref="Prepare"/>) and
/// its blob as fetched from the store (<see cref="Load"/>), decoded once and read by any number of plans (a Predict and
/// its shadows). Not thread-safe while loading; read-only afterwards.
/// </summary>
public sealed class SharedLookup
{
    private readonly FeatureEngine _engine;
    private readonly StreamRuntime[] _streams;
    private readonly string?[] _entityIds;
    private readonly EntityState?[] _states;
    private readonly long[] _exactFrom;

    internal SharedLookup(FeatureEngine engine, StreamRuntime[] streams)
    {
        _engine = engine;
        _streams = streams;
        _entityIds = new string?[streams.Length];
        _states = new EntityState?[streams.Length];
        _exactFrom = new long[streams.Length];
    }

    /// <summary>Stateful streams, in the engine's order.</summary>
    public int Count => _streams.Length;

    /// <summary>True when the store could not be read: every aggregation defaults and the result says so.</summary>
    public bool StoreUnavailable { get; set; }

    /// <summary>Why blobs could not be used (damaged, definitions changed), or null.</summary>
    public string? Problem { get; private set; }

    /// <summary>The stream at <paramref name="index"/>.</summary>
    public string StreamName(int index) => _streams[index].Name;

    /// <summary>The entity the prepared request names on stream <paramref name="index"/>, or null when it names none.</summary>
    public string? EntityId(int index) => _entityIds[index];

    /// <summary>Takes the entity id of each stream from the request, as assembly does: the stream's key among the request's strings, else its entity id.</summary>
    public void Prepare(in FeatureRequest request)
    {
        StoreUnavailable = false;
        Problem = null;
        for (var i = 0; i < _streams.Length; i++)
        {
            var entityId = request.EntityId;
            if (request.Strings is { } strings && strings.TryGetValue(_streams[i].Definition.EntityKey, out var keyed))
            {
                entityId = keyed;
            }

            _entityIds[i] = string.IsNullOrEmpty(entityId) ? null : entityId;
            _states[i] = null;
            _exactFrom[i] = long.MinValue;
        }
    }

    /// <summary>Decodes stream <paramref name="index"/>'s blob (empty: the store holds nothing for the entity).</summary>
    public void Load(int index, ReadOnlySpan<byte> blob)
    {
        if (blob.IsEmpty || _entityIds[index] is not { } entityId)
        {
            return;
        }

        _states[index] = _engine.ReadSharedForLookup(_streams[index], entityId, blob, out _exactFrom[index], out var problem);
        if (problem is not null)
        {
            Problem = $"stream '{_streams[index].Name}', entity '{entityId}': {problem}";
        }
    }

    /// <summary>The aggregations of one stream from the loaded state (defaults when absent); true when not exact.</summary>
    internal bool ReadAggregations(StreamRuntime stream, string entityId, long asOf, AggregationSpec[] specs, Span<double> slots, Span<bool> defaulted)
    {
        var index = Array.IndexOf(_streams, stream);
        var entity = index >= 0 && _entityIds[index] == entityId ? _states[index] : null;
        if (entity is not null && entity.Count > 0)
        {
            var end = entity.LowerBound(asOf);
            foreach (ref readonly var spec in specs.AsSpan())
            {
                var found = entity.TryAggregate(spec, asOf, end, out var value);
                slots[spec.Slot] = found ? value : spec.Default;
                defaulted[spec.Slot] = !found;
            }

            return asOf < _exactFrom[index];
        }

        foreach (ref readonly var spec in specs.AsSpan())
        {
            slots[spec.Slot] = spec.Default;
            defaulted[spec.Slot] = true;
        }

        return index >= 0 && asOf < _exactFrom[index];
    }
}
