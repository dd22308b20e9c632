namespace InferenceGateway.Core.Batching;

/// <summary>When a <see cref="DynamicBatcher"/> releases a batch that is not yet full (docs/batching.md).</summary>
public enum BatchingPolicy
{
    /// <summary>
    /// The default. A request that finds an instance idle runs at once with whatever is queued; while every instance
    /// is busy requests queue, and the next instance to free up takes up to <see cref="BatchingOptions.MaxBatchSize"/>
    /// rows of them (cut at the largest <see cref="BatchingOptions.PreferredBatchSizes"/> entry the queue can form).
    /// Batches grow with the load by themselves; at low load nothing waits. <see cref="BatchingOptions.AdaptiveWait"/>
    /// (zero by default) lets an idle instance wait that long for company, only while another instance is running.
    /// <see cref="BatchingOptions.MaxQueueDelay"/> is not used.
    /// </summary>
    Adaptive = 0,

    /// <summary>
    /// Triton's dynamic batcher: a batch that is neither full nor of a preferred size waits until its oldest request
    /// has waited <see cref="BatchingOptions.MaxQueueDelay"/>, even when an instance is idle.
    /// </summary>
    FixedDelay = 1,
}

/// <summary>The names of <see cref="BatchingPolicy"/> values in configuration.</summary>
public static class BatchingPolicies
{
    /// <summary>The adaptive policy's configuration name.</summary>
    public const string AdaptiveName = "adaptive";

    /// <summary>The fixed-delay policy's configuration name.</summary>
    public const string FixedDelayName = "fixed_delay";

    /// <summary>
    /// Parses <c>adaptive</c> or <c>fixed_delay</c>, ignoring case, underscores and hyphens (so the enum names
    /// <c>Adaptive</c> and <c>FixedDelay</c> are accepted too). False for anything else, null included.
    /// </summary>
    public static bool TryParse(string? value, out BatchingPolicy policy)
    {
        var normalized = value?.Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal);
        if (string.Equals(normalized, "adaptive", StringComparison.OrdinalIgnoreCase))
        {
            policy = BatchingPolicy.Adaptive;
            return true;
        }

        if (string.Equals(normalized, "fixeddelay", StringComparison.OrdinalIgnoreCase))
        {
            policy = BatchingPolicy.FixedDelay;
            return true;
        }

        policy = default;
        return false;
    }

    /// <summary>The configuration name of <paramref name="policy"/>.</summary>
    public static string ToConfigName(this BatchingPolicy policy) => policy == BatchingPolicy.FixedDelay ? FixedDelayName : AdaptiveName;
}
