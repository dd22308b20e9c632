using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Models;

/// <summary>Where the model repository lives and how it is watched.</summary>
public sealed class ModelRepositoryOptions
{
    /// <summary>Folder holding <c>&lt;name&gt;/config.json</c> and <c>&lt;name&gt;/&lt;version&gt;/model.onnx</c>.</summary>
    public string Path { get; set; } = "models";

    /// <summary>How often the folder is rescanned for added, changed and removed versions; zero disables polling.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Longest a removed version waits for its admitted requests before it is released anyway.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Run one inference per version before marking it ready.</summary>
    public bool WarmUp { get; set; } = true;

    /// <summary>Gateway-side overrides of model config values, keyed by model name.</summary>
    public Dictionary<string, ModelOverrides> Models { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Every problem with these options (empty when valid).</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Path))
        {
            errors.Add("Gateway:ModelRepository:Path is required");
        }

        if (PollInterval < TimeSpan.Zero)
        {
            errors.Add("Gateway:ModelRepository:PollInterval must not be negative");
        }

        if (DrainTimeout <= TimeSpan.Zero)
        {
            errors.Add("Gateway:ModelRepository:DrainTimeout must be positive");
        }

        foreach (var (name, overrides) in Models)
        {
            overrides.Validate($"Gateway:Models:{name}", errors);
        }

        return errors;
    }
}

/// <summary>Values that override a model's config.json from gateway configuration (null keeps the file's value).</summary>
public sealed class ModelOverrides
{
    /// <summary>Overrides max_batch_size; 1 switches batching off for comparison.</summary>
    public int? MaxBatchSize { get; set; }

    /// <summary>
    /// Overrides dynamic_batching.policy: <c>adaptive</c> or <c>fixed_delay</c> (case, underscores and hyphens
    /// ignored, so <c>FixedDelay</c> works too).
    /// </summary>
    public string? BatchingPolicy { get; set; }

    /// <summary>Overrides dynamic_batching.max_queue_delay_microseconds (the fixed-delay policy's wait).</summary>
    public long? MaxQueueDelayMicroseconds { get; set; }

    /// <summary>Overrides dynamic_batching.adaptive_wait_microseconds (the adaptive policy's optional wait).</summary>
    public long? AdaptiveWaitMicroseconds { get; set; }

    /// <summary>Overrides dynamic_batching.max_queue_size.</summary>
    public int? MaxQueueSize { get; set; }

    /// <summary>Overrides dynamic_batching.max_queue_time_microseconds (the queue-time bound; 0 turns it off).</summary>
    public long? MaxQueueTimeMicroseconds { get; set; }

    /// <summary>Overrides dynamic_batching.preferred_batch_size.</summary>
    public int[]? PreferredBatchSize { get; set; }

    /// <summary>Overrides instance_count.</summary>
    public int? InstanceCount { get; set; }

    /// <summary>Overrides dynamic_batching.run_on_caller_when_idle.</summary>
    public bool? RunOnCallerWhenIdle { get; set; }

    /// <summary>Overrides intra_op_threads: ORT intra-op threads per session of this model; 0 means one per core.</summary>
    public int? IntraOpThreads { get; set; }

    /// <summary>Overrides allow_spinning: whether this model's ORT thread pools spin while waiting for work.</summary>
    public bool? AllowSpinning { get; set; }

    internal void Validate(string where, List<string> errors)
    {
        if (MaxBatchSize is < 1)
        {
            errors.Add($"{where}:MaxBatchSize must be >= 1");
        }

        if (BatchingPolicy is not null && !BatchingPolicies.TryParse(BatchingPolicy, out _))
        {
            errors.Add($"{where}:BatchingPolicy '{BatchingPolicy}' must be '{BatchingPolicies.AdaptiveName}' or '{BatchingPolicies.FixedDelayName}'");
        }

        if (MaxQueueDelayMicroseconds is < 0)
        {
            errors.Add($"{where}:MaxQueueDelayMicroseconds must be >= 0");
        }

        if (AdaptiveWaitMicroseconds is < 0 or > 10_000_000)
        {
            errors.Add($"{where}:AdaptiveWaitMicroseconds must be between 0 and 10000000");
        }

        if (MaxQueueSize is < 1)
        {
            errors.Add($"{where}:MaxQueueSize must be >= 1");
        }

        if (MaxQueueTimeMicroseconds is < 0 or > 60_000_000)
        {
            errors.Add($"{where}:MaxQueueTimeMicroseconds must be between 0 and 60000000");
        }

        if (InstanceCount is < 1 or > 64)
        {
            errors.Add($"{where}:InstanceCount must be between 1 and 64");
        }

        if (IntraOpThreads is < 0)
        {
            errors.Add($"{where}:IntraOpThreads must be >= 0");
        }
    }
}
