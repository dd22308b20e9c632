namespace InferenceGateway.Core.Routing;

/// <summary>Bounds of shadow work, per shadow target (section <c>Gateway:Experiments</c>).</summary>
public sealed class ShadowOptions
{
    /// <summary>Copies waiting per target; a copy that finds the queue full is dropped and counted.</summary>
    public int QueueCapacity { get; set; } = 256;

    /// <summary>Copies in flight per target at once.</summary>
    public int MaxConcurrency { get; set; } = 16;

    /// <summary>Deadline of a copy, counted from when it was queued, unless its shadow sets <c>timeout_ms</c>.</summary>
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Every problem with these options (empty when valid).</summary>
    public List<string> Validate(string prefix)
    {
        var errors = new List<string>();
        if (QueueCapacity < 1)
        {
            errors.Add($"{prefix}:ShadowQueueCapacity must be at least 1");
        }

        if (MaxConcurrency < 1)
        {
            errors.Add($"{prefix}:ShadowMaxConcurrency must be at least 1");
        }

        if (DefaultTimeout <= TimeSpan.Zero || DefaultTimeout > TimeSpan.FromMilliseconds(ExperimentValidator.MaxShadowTimeoutMs))
        {
            errors.Add($"{prefix}:ShadowTimeout must be positive and at most {ExperimentValidator.MaxShadowTimeoutMs} ms");
        }

        return errors;
    }
}
