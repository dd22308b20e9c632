using InferenceGateway.Core.Routing;

namespace InferenceGateway.Server.Experiments;

/// <summary>Experiments and shadows (section <c>Gateway:Experiments</c>).</summary>
public sealed class ExperimentSettings
{
    /// <summary>
    /// The experiments file: a JSON object of experiments by model name, loaded at start, watched for edits, and
    /// rewritten by the admin API. Empty: <c>experiments.json</c> in <c>Gateway:DataDirectory</c>. A missing file means no experiments.
    /// </summary>
    public string? Path { get; set; }

    /// <summary>How often the file is checked for edits; zero: only at start and through the admin API.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Shadow copies waiting per target; beyond it they are dropped and counted.</summary>
    public int ShadowQueueCapacity { get; set; } = 256;

    /// <summary>Shadow copies in flight per target.</summary>
    public int ShadowMaxConcurrency { get; set; } = 16;

    /// <summary>Deadline of a shadow copy from when it was queued, unless its shadow sets <c>timeout_ms</c>.</summary>
    public TimeSpan ShadowTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The file's path under <paramref name="dataDirectory"/> unless <see cref="Path"/> names one.</summary>
    public string ResolvePath(string dataDirectory) =>
        string.IsNullOrWhiteSpace(Path) ? System.IO.Path.Combine(dataDirectory, "experiments.json") : System.IO.Path.GetFullPath(Path);

    /// <summary>The shadow lanes' bounds.</summary>
    public ShadowOptions ToShadowOptions() => new()
    {
        QueueCapacity = ShadowQueueCapacity,
        MaxConcurrency = ShadowMaxConcurrency,
        DefaultTimeout = ShadowTimeout,
    };

    internal void Validate(List<string> errors)
    {
        if (PollInterval < TimeSpan.Zero)
        {
            errors.Add("Gateway:Experiments:PollInterval must not be negative");
        }

        errors.AddRange(ToShadowOptions().Validate("Gateway:Experiments"));
    }
}
