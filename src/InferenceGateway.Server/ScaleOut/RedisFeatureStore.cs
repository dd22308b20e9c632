using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;
using InferenceGateway.Core.Features;
using InferenceGateway.Server.Hosting;
using StackExchange.Redis;

namespace InferenceGateway.Server.ScaleOut;

/// <summary>
/// The Redis online store: each entity's shared state (<see cref="FeatureEngine.SerializeShared"/>) under
/// <c>{prefix}f:{stream}:{entity}</c>, each consumed partition's watermark under <c>{prefix}wm:{topic}:{partition}</c>.
/// A Predict's lookup is one MGET of its entities (one round trip) with a timeout; what an unavailable store does is
/// <see cref="RedisSettings.WhenUnavailable"/>. Commands fail fast while disconnected (no backlog), so a Predict never
/// waits on a reconnect; the multiplexer reconnects by itself and /readyz shows the state.
/// </summary>
public sealed partial class RedisFeatureStore : IReadinessCheck, IAsyncDisposable
{
    private readonly FeatureEngine _engine;
    private readonly RedisSettings _settings;
    private readonly ILogger _logger;
    private readonly ConnectionMultiplexer _redis;
    private readonly Counter<long> _lookups;
    private readonly Histogram<double> _lookupDuration;
    private readonly KeyValuePair<string, object?> _ok = new("outcome", "ok");
    private readonly KeyValuePair<string, object?> _unavailable = new("outcome", "unavailable");
    private long _lastProblemLog;

    /// <summary>Connects (in the background when Redis is not up yet: the store reports unavailable until it is).</summary>
    public RedisFeatureStore(FeatureEngine engine, RedisSettings settings, IMeterFactory meters, ILogger<RedisFeatureStore> logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(meters);
        _engine = engine;
        _settings = settings;
        _logger = logger;
        var options = ConfigurationOptions.Parse(settings.Configuration!);
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ConnectTimeout = Math.Max(options.ConnectTimeout > 0 ? Math.Min(options.ConnectTimeout, 2000) : 2000, 200);
        options.ClientName ??= "inference-gateway";
        _redis = ConnectionMultiplexer.Connect(options);
        _redis.ConnectionFailed += (_, e) => Log.ConnectionLost(_logger, e.EndPoint?.ToString() ?? "?", e.FailureType.ToString(), e.Exception?.Message ?? "");
        _redis.ConnectionRestored += (_, e) => Log.ConnectionRestored(_logger, e.EndPoint?.ToString() ?? "?");
        Database = _redis.GetDatabase();
        var meter = meters.Create(Core.Features.FeatureMetrics.MeterName);
        _lookups = meter.CreateCounter<long>("gateway.features.store_lookups", "{lookup}", "Shared-store lookups by outcome (ok, unavailable)");
        _lookupDuration = meter.CreateHistogram<double>("gateway.features.store_lookup_duration", "s", "Time of one shared-store lookup (one round trip)");
    }

    /// <summary>The database the consumer writes through.</summary>
    internal IDatabase Database { get; }

    /// <summary>True while connected to Redis.</summary>
    public bool IsConnected => _redis.IsConnected;

    /// <inheritdoc />
    public string Name => "feature-store";

    /// <inheritdoc />
    public string? NotReadyReason =>
        _settings.WhenUnavailable == StoreUnavailablePolicy.Fail && !_redis.IsConnected ? "Redis online store unreachable (Predict fails fast)" : null;

    /// <inheritdoc />
    public string? Detail => _redis.IsConnected ? null : "Redis online store unreachable: streaming features are served as their defaults, flagged";

    /// <summary>The key of an entity's state.</summary>
    internal RedisKey EntityKey(string stream, string entityId) => $"{_settings.KeyPrefix}f:{stream}:{entityId}";

    /// <summary>The key of a consumed partition's watermark.</summary>
    internal RedisKey WatermarkKey(string topic, int partition) => $"{_settings.KeyPrefix}wm:{topic}:{partition}";

    /// <summary>The key of the last offset of a partition whose events are applied (read by IngestEvents' wait).</summary>
    internal RedisKey AppliedOffsetKey(string topic, int partition) => $"{_settings.KeyPrefix}off:{topic}:{partition}";

    /// <summary>
    /// Waits until the consumers applied every partition through the given offsets (what a replica wrote to Kafka for
    /// one IngestEvents call), polling the applied-offset keys; false when <paramref name="timeout"/> passed first.
    /// </summary>
    public async Task<bool> WaitAppliedAsync(IReadOnlyDictionary<(string Topic, int Partition), long> offsets, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(offsets);
        var keys = new RedisKey[offsets.Count];
        var wanted = new long[offsets.Count];
        var i = 0;
        foreach (var ((topic, partition), offset) in offsets)
        {
            keys[i] = AppliedOffsetKey(topic, partition);
            wanted[i++] = offset;
        }

        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            try
            {
                var values = await Database.StringGetAsync(keys).WaitAsync(_settings.LookupTimeout, cancellationToken).ConfigureAwait(false);
                var done = true;
                for (var k = 0; k < values.Length && done; k++)
                {
                    done = !values[k].IsNull && (long)values[k] >= wanted[k];
                }

                if (done)
                {
                    return true;
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Unreachable for now: keep waiting within the bound (the events are in the log either way).
            }

            if (Stopwatch.GetTimestamp() >= deadline)
            {
                return false;
            }

            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Fetches the state a request reads, one MGET for all its entities. When Redis cannot answer within
    /// <see cref="RedisSettings.LookupTimeout"/>: the lookup says <see cref="SharedLookup.StoreUnavailable"/>, or under
    /// <see cref="StoreUnavailablePolicy.Fail"/> the call fails with UNAVAILABLE.
    /// </summary>
    public async ValueTask<SharedLookup> FetchAsync(FeatureRequest request, CancellationToken cancellationToken)
    {
        var lookup = _engine.CreateSharedLookup();
        lookup.Prepare(request);
        var keys = new RedisKey[lookup.Count];
        var asked = 0;
        for (var i = 0; i < keys.Length; i++)
        {
            if (lookup.EntityId(i) is { } entityId)
            {
                keys[asked++] = EntityKey(lookup.StreamName(i), entityId);
            }
        }

        if (asked == 0)
        {
            return lookup;
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            var values = await Database.StringGetAsync(asked == keys.Length ? keys : keys[..asked]).WaitAsync(_settings.LookupTimeout, cancellationToken).ConfigureAwait(false);
            var next = 0;
            for (var i = 0; i < lookup.Count; i++)
            {
                if (lookup.EntityId(i) is not null)
                {
                    var value = values[next++];
                    lookup.Load(i, value.IsNull ? [] : ((ReadOnlyMemory<byte>)value).Span);
                }
            }

            _lookups.Add(1, _ok);
            _lookupDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
            if (lookup.Problem is { } problem && ShouldLog())
            {
                Log.UnusableState(_logger, problem);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            _lookups.Add(1, _unavailable);
            if (ShouldLog())
            {
                Log.LookupFailed(_logger, ex.Message);
            }

            if (_settings.WhenUnavailable == StoreUnavailablePolicy.Fail)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, $"feature store (Redis) unavailable: {ex.Message}"));
            }

            lookup.Prepare(request);
            lookup.StoreUnavailable = true;
        }

        return lookup;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await _redis.DisposeAsync().ConfigureAwait(false);

    // At most one such warning a second: an outage must not flood the log at the request rate.
    private bool ShouldLog()
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastProblemLog);
        return now - last >= 1000 && Interlocked.CompareExchange(ref _lastProblemLog, now, last) == last;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Redis connection to {Endpoint} lost ({FailureType}): {Message}", EventName = "FeatureStoreConnectionLost")]
        public static partial void ConnectionLost(ILogger logger, string endpoint, string failureType, string message);

        [LoggerMessage(2, LogLevel.Information, "Redis connection to {Endpoint} restored", EventName = "FeatureStoreConnectionRestored")]
        public static partial void ConnectionRestored(ILogger logger, string endpoint);

        [LoggerMessage(3, LogLevel.Warning, "Feature store lookup failed: {Message}", EventName = "FeatureStoreLookupFailed")]
        public static partial void LookupFailed(ILogger logger, string message);

        [LoggerMessage(4, LogLevel.Warning, "Feature store state not usable, read as empty: {Problem}", EventName = "FeatureStoreStateUnusable")]
        public static partial void UnusableState(ILogger logger, string problem);
    }
}
