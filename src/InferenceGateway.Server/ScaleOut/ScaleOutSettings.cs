using InferenceGateway.Server.Hosting;

namespace InferenceGateway.Server.ScaleOut;

/// <summary>What a Predict does when the Redis store cannot be read in time.</summary>
public enum StoreUnavailablePolicy
{
    /// <summary>Answer with every streaming feature at its default, flagged defaulted (and counted); /readyz stays ready, degraded.</summary>
    Default,

    /// <summary>Fail the call at once with UNAVAILABLE; /readyz reports not ready while Redis is unreachable.</summary>
    Fail,
}

/// <summary>The Redis online store (section <c>Gateway:Redis</c>).</summary>
public sealed class RedisSettings
{
    /// <summary>StackExchange.Redis configuration string, e.g. <c>127.0.0.1:6379</c> (several endpoints, password, TLS: its syntax).</summary>
    public string? Configuration { get; set; }

    /// <summary>Prefix of every key the gateway writes (<c>{prefix}f:{stream}:{entity}</c>, <c>{prefix}wm:{topic}:{partition}</c>).</summary>
    public string KeyPrefix { get; set; } = "ig:";

    /// <summary>Time a Predict's lookup may take (one round trip) before the store counts as unavailable for that call.</summary>
    public TimeSpan LookupTimeout { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Default (serve defaulted features, flagged) or Fail (UNAVAILABLE) when the store cannot be read.</summary>
    public StoreUnavailablePolicy WhenUnavailable { get; set; } = StoreUnavailablePolicy.Default;
}

/// <summary>
/// Kafka ingestion (section <c>Gateway:Kafka</c>): one topic per stream (<c>{TopicPrefix}{stream}</c>), keyed by entity
/// id, consumed by a group the replicas share; offsets committed only once the events are in the Redis store.
/// </summary>
public sealed class KafkaSettings
{
    /// <summary>Broker list; empty: no Kafka (IngestEvents applies to this process's state).</summary>
    public string? BootstrapServers { get; set; }

    /// <summary>Consumer group the replicas share.</summary>
    public string GroupId { get; set; } = "inference-gateway";

    /// <summary>Prefix of the stream topics.</summary>
    public string TopicPrefix { get; set; } = "";

    /// <summary>Suffix of the topic where poison messages are parked (<c>{topic}{suffix}</c>).</summary>
    public string ParkedTopicSuffix { get; set; } = ".parked";

    /// <summary>Most messages applied in one batch (one store round trip to read, one to write, one commit).</summary>
    public int MaxBatch { get; set; } = 2000;

    /// <summary>The group's session timeout: how long a replica that died goes unnoticed before its partitions move.</summary>
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// IngestEvents acknowledges once the events are applied to the store, not only written to Kafka, so a caller's
    /// next Predict on any replica sees them ("ingest, then predict" keeps its meaning). Bounded by
    /// <see cref="ApplyWaitTimeout"/>; false: acknowledge once Kafka holds them.
    /// </summary>
    public bool AcknowledgeWhenApplied { get; set; } = true;

    /// <summary>Longest IngestEvents waits for the apply (e.g. while a dead replica's partitions move); then it answers anyway.</summary>
    public TimeSpan ApplyWaitTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// librdkafka's fetch.wait.max.ms: how long a fetch may wait for data. Short (default 5 ms) because a lone event's
    /// visibility waits on it; the idle cost is a fetch request per partition leader every few milliseconds.
    /// </summary>
    public TimeSpan FetchWaitMax { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Further librdkafka settings for the consumer and producer (name = value), e.g. security.protocol.</summary>
    public Dictionary<string, string> Settings { get; set; } = new(StringComparer.Ordinal);

    /// <summary>True when Kafka ingestion is configured.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(BootstrapServers);

    internal static void Validate(List<string> errors, FeatureSettings features, RedisSettings redis, KafkaSettings kafka)
    {
        if (!features.UsesRedis && !string.Equals(features.Store, "memory", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"Gateway:Features:Store '{features.Store}' is not 'memory' or 'redis'");
        }

        // The shared store is written only by the consumer that owns an entity's partition, so the two go together.
        if (features.UsesRedis && string.IsNullOrWhiteSpace(redis.Configuration))
        {
            errors.Add("Gateway:Features:Store is 'redis' but Gateway:Redis:Configuration is not set");
        }

        if (features.UsesRedis != kafka.Enabled)
        {
            errors.Add(features.UsesRedis
                ? "Gateway:Features:Store 'redis' needs Gateway:Kafka:BootstrapServers: events reach the shared store through Kafka"
                : "Gateway:Kafka:BootstrapServers needs Gateway:Features:Store 'redis': consumed partitions are only a share of each stream");
        }

        if (redis.LookupTimeout <= TimeSpan.Zero)
        {
            errors.Add("Gateway:Redis:LookupTimeout must be positive");
        }

        if (kafka.MaxBatch < 1)
        {
            errors.Add("Gateway:Kafka:MaxBatch must be at least 1");
        }

        if (kafka.SessionTimeout < TimeSpan.FromSeconds(1))
        {
            errors.Add("Gateway:Kafka:SessionTimeout must be at least 1 s");
        }

        if (string.IsNullOrEmpty(kafka.ParkedTopicSuffix))
        {
            errors.Add("Gateway:Kafka:ParkedTopicSuffix must not be empty (parked messages would go back to their own topic)");
        }
    }
}
