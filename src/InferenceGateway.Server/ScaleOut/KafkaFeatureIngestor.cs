using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;
using Confluent.Kafka;
using Google.Protobuf;
using InferenceGateway.Core.Features;
using InferenceGateway.Server.Hosting;
using StackExchange.Redis;
using ContractEvent = InferenceGateway.Contracts.Gateway.Event;

namespace InferenceGateway.Server.ScaleOut;

/// <summary>
/// Consumes the stream topics as one member of the replicas' consumer group and applies the events to the Redis store:
/// per batch, one MGET of the entities' state and their partitions' watermarks, <see cref="FeatureEngine.ApplyShared"/>
/// in partition order, one pipelined write back, poison messages parked on <c>{topic}{ParkedTopicSuffix}</c> (and
/// counted), and only then the offsets committed. A replica that dies leaves uncommitted events to whichever replica
/// takes its partitions; those redeliveries find their offsets in the entities' state and are skipped, so nothing is
/// lost and nothing is applied twice. While Redis or Kafka fail the same batch is retried with backoff (nothing is
/// committed past it); consumption runs on a thread of its own.
/// </summary>
public sealed partial class KafkaFeatureIngestor : IHostedService, IReadinessCheck, IDisposable
{
    /// <summary>
    /// Writes an entity's blob unless the stored one already records this partition at this offset or later: a replica
    /// that lost its partitions without noticing yet (a long pause) cannot put back an older state over its successor's.
    /// Every blob is the entity's events through some offset of its partition, so the later one holds the earlier.
    /// The header's partition (int32) and offset (int64) sit at bytes 10-22 (1-based), little-endian.
    /// </summary>
    private const string WriteIfNewer = """
        local old = redis.call('GETRANGE', KEYS[1], 9, 20)
        if string.len(old) == 12 then
          local partition, offset = struct.unpack('<i4i8', old)
          if partition == tonumber(ARGV[3]) and offset >= tonumber(ARGV[4]) then
            return 0
          end
        end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """;

    private static readonly JsonParser s_json = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));
    private readonly FeatureEngine _engine;
    private readonly RedisFeatureStore _store;
    private readonly KafkaSettings _settings;
    private readonly ILogger _logger;
    private readonly IProducer<byte[]?, byte[]> _producer;
    private readonly Counter<long> _parked;
    private readonly Counter<long> _duplicates;
    private readonly ConcurrentDictionary<TopicPartition, long> _lag = new();
    private readonly Dictionary<string, string> _streamOfTopic = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private IConsumer<byte[]?, byte[]>? _consumer;
    private Thread? _thread;
    private volatile string? _problem;
    private long _applied;

    /// <summary>Creates the ingestor (the consumer starts with the host).</summary>
    public KafkaFeatureIngestor(FeatureEngine engine, RedisFeatureStore store, KafkaProducerHolder producer, GatewayOptions options, IMeterFactory meters, ILogger<KafkaFeatureIngestor> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(producer);
        _engine = engine;
        _store = store;
        _settings = options.Kafka;
        _logger = logger;
        _producer = producer.Producer;
        foreach (var stream in engine.StatefulStreams)
        {
            _streamOfTopic[_settings.TopicPrefix + stream] = stream;
        }

        var meter = meters.Create(FeatureMetrics.MeterName);
        _parked = meter.CreateCounter<long>("gateway.features.kafka_parked", "{message}", "Poison messages parked, by topic");
        _duplicates = meter.CreateCounter<long>("gateway.features.kafka_duplicates", "{message}", "Redelivered events skipped: their offset was applied already");
        meter.CreateObservableGauge("gateway.features.kafka_lag", ObserveLag, "{message}", "Messages behind the partition's end, per assigned partition");
    }

    /// <summary>Events this replica applied to the store (for diagnostics and tests).</summary>
    public long Applied => Interlocked.Read(ref _applied);

    /// <summary>The partitions this replica consumes now, with their lag (messages behind the end).</summary>
    public IReadOnlyDictionary<TopicPartition, long> Lag => _lag;

    /// <inheritdoc />
    public string Name => "kafka-ingest";

    /// <inheritdoc />
    public string? NotReadyReason => null;

    /// <inheritdoc />
    public string? Detail => _problem;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var config = new ConsumerConfig(new Dictionary<string, string>(_settings.Settings))
        {
            BootstrapServers = _settings.BootstrapServers,
            GroupId = _settings.GroupId,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            SessionTimeoutMs = (int)_settings.SessionTimeout.TotalMilliseconds,
            HeartbeatIntervalMs = Math.Max(100, (int)_settings.SessionTimeout.TotalMilliseconds / 5),
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.RoundRobin,

            // An idle partition's fetch returns after at most this: the bound on how late a lone event is seen.
            FetchWaitMaxMs = (int)_settings.FetchWaitMax.TotalMilliseconds,
            ClientId = $"inference-gateway-{Environment.ProcessId}",
        };
        _consumer = new ConsumerBuilder<byte[]?, byte[]>(config)
            .SetErrorHandler((_, error) => OnError(error))
            .SetLogHandler((_, message) => Log.Librdkafka(_logger, message.Level.ToString(), message.Facility, message.Message))
            .SetPartitionsAssignedHandler((_, partitions) =>
            {
                Log.Assigned(_logger, string.Join(", ", partitions));
                foreach (var partition in partitions)
                {
                    _lag[partition] = 0;
                }
            })
            .SetPartitionsRevokedHandler((_, partitions) =>
            {
                Log.Revoked(_logger, string.Join(", ", partitions.Select(p => p.TopicPartition)));
                foreach (var partition in partitions)
                {
                    _lag.TryRemove(partition.TopicPartition, out long _);
                }
            })
            .SetPartitionsLostHandler((_, partitions) =>
            {
                foreach (var partition in partitions)
                {
                    _lag.TryRemove(partition.TopicPartition, out long _);
                }
            })
            .Build();
        _consumer.Subscribe(_streamOfTopic.Keys);
        _thread = new Thread(Run) { Name = "kafka-ingest", IsBackground = true };
        _thread.Start();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_thread is { } thread)
        {
            // The loop finishes the batch it is in (it commits what it applied), then leaves the group.
            await Task.Run(() => thread.Join(TimeSpan.FromSeconds(15)), CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stop.Dispose();
    }

    private void Run()
    {
        var consumer = _consumer!;
        var batch = new List<ConsumeResult<byte[]?, byte[]>>(_settings.MaxBatch);
        var lastLag = Environment.TickCount64;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    var first = consumer.Consume(TimeSpan.FromMilliseconds(100));
                    if (first is not null)
                    {
                        batch.Add(first);
                        while (batch.Count < _settings.MaxBatch && consumer.Consume(TimeSpan.Zero) is { } next)
                        {
                            batch.Add(next);
                        }

                        DropHandedOver(consumer, batch);
                        if (batch.Count > 0)
                        {
                            ApplyWithRetry(consumer, batch);
                        }

                        batch.Clear();
                    }
                }
                catch (ConsumeException ex)
                {
                    Log.ConsumeFailed(_logger, ex, ex.Error.Reason);
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    // Stopping mid-batch: nothing of it was committed; the partitions' next owner applies it.
                    break;
                }

                if (Environment.TickCount64 - lastLag >= 500)
                {
                    UpdateLag(consumer);
                    lastLag = Environment.TickCount64;
                }
            }
        }
        catch (Exception ex)
        {
            _problem = "Kafka ingestion stopped: " + ex.Message;
            Log.IngestionStopped(_logger, ex, ex.Message);
        }
        finally
        {
            try
            {
                consumer.Close();
            }
            catch (KafkaException ex)
            {
                Log.ConsumeFailed(_logger, ex, ex.Error.Reason);
            }

            consumer.Dispose();
        }
    }

    /// <summary>
    /// Drops messages of partitions revoked while the batch was being read (a rebalance runs inside a Consume call):
    /// their new owner consumes them again from the last commit, and this replica must not write that state too. Between
    /// here and the commit no Consume call runs, so the assignment cannot change under the batch.
    /// </summary>
    private static void DropHandedOver(IConsumer<byte[]?, byte[]> consumer, List<ConsumeResult<byte[]?, byte[]>> batch)
    {
        var owned = consumer.Assignment;
        batch.RemoveAll(m => !owned.Contains(m.TopicPartition));
    }

    private void ApplyWithRetry(IConsumer<byte[]?, byte[]> consumer, List<ConsumeResult<byte[]?, byte[]>> batch)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                Apply(batch);
                break;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or KafkaException)
            {
                _problem = $"applying consumed events failed, retrying: {ex.Message}";
                Log.ApplyFailed(_logger, batch.Count, ex.Message, delay.TotalMilliseconds);
                if (_stop.Token.WaitHandle.WaitOne(delay))
                {
                    // Stopping: nothing past the last committed offset is lost; the next owner applies it.
                    return;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }

        _problem = null;
        var offsets = new Dictionary<TopicPartition, Offset>();
        foreach (var result in batch)
        {
            offsets[result.TopicPartition] = result.Offset + 1;
        }

        try
        {
            consumer.Commit(offsets.Select(o => new TopicPartitionOffset(o.Key, o.Value)));
        }
        catch (KafkaException ex)
        {
            // Typically the partitions moved meanwhile: their next owner redelivers from the last commit and skips
            // what this batch applied.
            Log.CommitFailed(_logger, ex.Error.Reason);
        }
    }

    private void Apply(List<ConsumeResult<byte[]?, byte[]>> batch)
    {
        var events = new (ContractEvent? Event, string? Problem, string Stream)[batch.Count];
        var entityIndex = new Dictionary<(string Stream, string Entity), int>();
        var partitionIndex = new Dictionary<TopicPartition, int>();
        for (var i = 0; i < batch.Count; i++)
        {
            var message = batch[i];
            var stream = _streamOfTopic.GetValueOrDefault(message.Topic, message.Topic);
            var (parsed, problem) = Parse(message.Message, stream);
            events[i] = (parsed, problem, stream);
            if (parsed is not null)
            {
                entityIndex.TryAdd((stream, parsed.EntityId), entityIndex.Count);
                partitionIndex.TryAdd(message.TopicPartition, partitionIndex.Count);
            }
        }

        // One round trip for the state of every entity and partition the batch touches.
        var entities = new (string Stream, string Entity)[entityIndex.Count];
        foreach (var (key, index) in entityIndex)
        {
            entities[index] = key;
        }

        var partitions = new TopicPartition[partitionIndex.Count];
        foreach (var (key, index) in partitionIndex)
        {
            partitions[index] = key;
        }

        var keys = new RedisKey[entities.Length + partitions.Length];
        for (var i = 0; i < entities.Length; i++)
        {
            keys[i] = _store.EntityKey(entities[i].Stream, entities[i].Entity);
        }

        for (var i = 0; i < partitions.Length; i++)
        {
            keys[entities.Length + i] = _store.WatermarkKey(partitions[i].Topic, partitions[i].Partition.Value);
        }

        var values = keys.Length == 0 ? [] : Wait(_store.Database.StringGetAsync(keys));
        var opened = new SharedEntity[entities.Length];
        var entityPartition = new int[entities.Length];
        for (var i = 0; i < entities.Length; i++)
        {
            opened[i] = _engine.OpenShared(entities[i].Stream, entities[i].Entity, values[i].IsNull ? [] : ((ReadOnlyMemory<byte>)values[i]).Span);
            if (opened[i].Discarded is { } discarded)
            {
                Log.StateDiscarded(_logger, entities[i].Stream, entities[i].Entity, discarded);
            }
        }

        var watermarks = new long[partitions.Length];
        for (var i = 0; i < partitions.Length; i++)
        {
            var value = values[entities.Length + i];
            watermarks[i] = value.IsNull ? long.MinValue : (long)value;
        }

        var parked = new List<(ConsumeResult<byte[]?, byte[]> Message, string Reason)>();
        long applied = 0, duplicates = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            var (parsed, problem, stream) = events[i];
            var message = batch[i];
            if (parsed is null)
            {
                parked.Add((message, problem!));
                continue;
            }

            var e = entityIndex[(stream, parsed.EntityId)];
            var p = partitionIndex[message.TopicPartition];
            entityPartition[e] = p;
            var result = _engine.ApplyShared(opened[e], parsed.EventTimeUnixMs, parsed.Numbers, parsed.Strings, message.Partition.Value, message.Offset.Value, ref watermarks[p]);
            switch (result.Outcome)
            {
                case IngestOutcome.Accepted:
                    applied++;
                    break;
                case IngestOutcome.Duplicate:
                    duplicates++;
                    break;
                case IngestOutcome.Rejected:
                    parked.Add((message, result.Message));
                    break;
            }
        }

        // Writes: every changed entity with its expiry, then the partitions' watermarks, pipelined.
        var writes = new List<Task>(entities.Length + partitions.Length);
        var pipeline = _store.Database.CreateBatch();
        for (var i = 0; i < opened.Length; i++)
        {
            if (opened[i].Changed)
            {
                var blob = FeatureEngine.SerializeShared(opened[i], watermarks[entityPartition[i]]);
                var expiry = (long)(_engine.SharedStateLifetime(entities[i].Stream) + TimeSpan.FromHours(1)).TotalMilliseconds;
                writes.Add(pipeline.ScriptEvaluateAsync(WriteIfNewer, [keys[i]], [blob, expiry, opened[i].Partition, opened[i].Offset]));
            }
        }

        for (var i = 0; i < partitions.Length; i++)
        {
            if (watermarks[i] != long.MinValue)
            {
                writes.Add(pipeline.StringSetAsync(keys[entities.Length + i], watermarks[i]));
            }
        }

        // Last: how far each partition is applied. Redis runs one connection's commands in order, so whoever reads an
        // offset here also reads the state written before it (IngestEvents waits on these to acknowledge).
        var appliedThrough = new Dictionary<TopicPartition, long>();
        foreach (var message in batch)
        {
            appliedThrough[message.TopicPartition] = message.Offset.Value;
        }

        foreach (var (partition, offset) in appliedThrough)
        {
            writes.Add(pipeline.StringSetAsync(_store.AppliedOffsetKey(partition.Topic, partition.Partition.Value), offset));
        }

        pipeline.Execute();
        Wait(Task.WhenAll(writes));

        if (parked.Count > 0)
        {
            Park(parked);
        }

        Interlocked.Add(ref _applied, applied);
        if (duplicates > 0)
        {
            _duplicates.Add(duplicates);
        }
    }

    private static (ContractEvent? Event, string? Problem) Parse(Message<byte[]?, byte[]> message, string stream)
    {
        ContractEvent parsed;
        try
        {
            var value = message.Value ?? [];
            var firstByte = value.AsSpan().TrimStart(" \t\r\n"u8);
            parsed = firstByte.Length > 0 && firstByte[0] == (byte)'{'
                ? s_json.Parse<ContractEvent>(Encoding.UTF8.GetString(value))
                : ContractEvent.Parser.ParseFrom(value);
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException or FormatException or ArgumentException or DecoderFallbackException)
        {
            return (null, "not a gateway.v1.Event (protobuf or JSON): " + ex.Message);
        }

        if (parsed.Stream.Length == 0)
        {
            parsed.Stream = stream;
        }
        else if (parsed.Stream != stream)
        {
            return (null, $"event names stream '{parsed.Stream}' but came on the topic of stream '{stream}'");
        }

        if (parsed.EntityId.Length == 0 && message.Key is { Length: > 0 } key)
        {
            parsed.EntityId = Encoding.UTF8.GetString(key);
        }

        if (parsed.EntityId.Length == 0)
        {
            return (null, "event has no entity id (neither entity_id nor a message key)");
        }

        return (parsed, null);
    }

    private void Park(List<(ConsumeResult<byte[]?, byte[]> Message, string Reason)> parked)
    {
        var deliveries = new List<Task<DeliveryResult<byte[]?, byte[]>>>(parked.Count);
        foreach (var (message, reason) in parked)
        {
            var headers = new Headers
            {
                { "ig-reason", Encoding.UTF8.GetBytes(reason) },
                { "ig-source", Encoding.UTF8.GetBytes(message.TopicPartitionOffset.ToString()) },
            };
            deliveries.Add(_producer.ProduceAsync(message.Topic + _settings.ParkedTopicSuffix, new Message<byte[]?, byte[]> { Key = message.Message.Key, Value = message.Message.Value ?? [], Headers = headers }));
            Log.Parked(_logger, message.TopicPartitionOffset.ToString(), reason);
        }

        Wait(Task.WhenAll(deliveries));
        foreach (var (message, _) in parked)
        {
            _parked.Add(1, new KeyValuePair<string, object?>("topic", message.Topic));
        }
    }

    private T Wait<T>(Task<T> task) => task.WaitAsync(TimeSpan.FromSeconds(10), _stop.Token).GetAwaiter().GetResult();

    private void Wait(Task task) => task.WaitAsync(TimeSpan.FromSeconds(10), _stop.Token).GetAwaiter().GetResult();

    private void UpdateLag(IConsumer<byte[]?, byte[]> consumer)
    {
        foreach (var partition in _lag.Keys)
        {
            var ends = consumer.GetWatermarkOffsets(partition);
            var position = consumer.Position(partition);
            if (ends.High != Offset.Unset && position != Offset.Unset)
            {
                _lag[partition] = Math.Max(0, ends.High.Value - position.Value);
            }
            else if (ends.High != Offset.Unset && ends.High.Value == 0)
            {
                _lag[partition] = 0;
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveLag()
    {
        foreach (var (partition, lag) in _lag)
        {
            yield return new Measurement<long>(lag, new KeyValuePair<string, object?>("topic", partition.Topic), new KeyValuePair<string, object?>("partition", partition.Partition.Value));
        }
    }

    private void OnError(Error error)
    {
        _problem = $"Kafka: {error.Reason}";
        Log.KafkaError(_logger, error.Code.ToString(), error.Reason, error.IsFatal);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Kafka partitions assigned: {Partitions}", EventName = "KafkaAssigned")]
        public static partial void Assigned(ILogger logger, string partitions);

        [LoggerMessage(2, LogLevel.Information, "Kafka partitions revoked: {Partitions}", EventName = "KafkaRevoked")]
        public static partial void Revoked(ILogger logger, string partitions);

        [LoggerMessage(3, LogLevel.Warning, "Kafka consume failed: {Reason}", EventName = "KafkaConsumeFailed")]
        public static partial void ConsumeFailed(ILogger logger, Exception exception, string reason);

        [LoggerMessage(4, LogLevel.Warning, "Applying {Count} consumed events failed ({Message}); retrying in {DelayMs} ms, nothing committed past them", EventName = "KafkaApplyFailed")]
        public static partial void ApplyFailed(ILogger logger, int count, string message, double delayMs);

        [LoggerMessage(5, LogLevel.Warning, "Kafka offset commit failed ({Reason}); the partitions' next owner redelivers and skips what was applied", EventName = "KafkaCommitFailed")]
        public static partial void CommitFailed(ILogger logger, string reason);

        [LoggerMessage(6, LogLevel.Warning, "Parked message {Source}: {Reason}", EventName = "KafkaParked")]
        public static partial void Parked(ILogger logger, string source, string reason);

        [LoggerMessage(7, LogLevel.Warning, "Shared state of {Stream}/{Entity} discarded: {Reason}", EventName = "FeatureStateDiscarded")]
        public static partial void StateDiscarded(ILogger logger, string stream, string entity, string reason);

        [LoggerMessage(8, LogLevel.Warning, "Kafka error {Code}: {Reason} (fatal: {Fatal})", EventName = "KafkaError")]
        public static partial void KafkaError(ILogger logger, string code, string reason, bool fatal);

        [LoggerMessage(9, LogLevel.Error, "Kafka ingestion stopped: {Message}", EventName = "KafkaIngestionStopped")]
        public static partial void IngestionStopped(ILogger logger, Exception exception, string message);

        [LoggerMessage(10, LogLevel.Debug, "librdkafka {Level} {Facility}: {Message}", EventName = "Librdkafka")]
        public static partial void Librdkafka(ILogger logger, string level, string facility, string message);
    }
}
