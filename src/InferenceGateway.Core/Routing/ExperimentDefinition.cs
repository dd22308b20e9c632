using System.Text.Json;
using System.Text.Json.Serialization;

namespace InferenceGateway.Core.Routing;

/// <summary>
/// An experiment as written in the experiments file and in the admin API's JSON (snake_case): weighted arms, the sticky
/// key, the salt and the shadows. <see cref="ExperimentValidator"/> turns it into a routable <see cref="Experiment"/>.
/// </summary>
public sealed class ExperimentDefinition
{
    /// <summary>The arms: each a name, a version of the model and a positive weight.</summary>
    public List<ArmDefinition> Arms { get; set; } = [];

    /// <summary><c>entity_id</c> (the default), <c>request_id</c>, or <c>attribute:&lt;name&gt;</c>.</summary>
    public string? StickyKey { get; set; }

    /// <summary>Mixed into every key's hash: a new salt reshuffles every key, the same salt keeps them everywhere.</summary>
    public string? Salt { get; set; }

    /// <summary>Copies of sampled requests sent to other versions, local or remote; their answers are never returned.</summary>
    public List<ShadowDefinition> Shadows { get; set; } = [];

    /// <summary>JSON options: snake_case, comments and trailing commas allowed, unknown members rejected (a typo is an error, not a default).</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };
}

/// <summary>One arm of an experiment.</summary>
public sealed class ArmDefinition
{
    /// <summary>The arm's name, reported in responses and metrics; keys stick to the name, whatever version it serves.</summary>
    public string Name { get; set; } = "";

    /// <summary>The model version this arm serves (local or remote).</summary>
    public string Version { get; set; } = "";

    /// <summary>Relative share of keys; positive.</summary>
    public double Weight { get; set; }
}

/// <summary>One shadow: a local version (<see cref="Version"/> alone) or a remote Open Inference Protocol endpoint.</summary>
public sealed class ShadowDefinition
{
    /// <summary>A local version of the model, or with <see cref="Endpoint"/> the version asked of the remote (empty: its choice).</summary>
    public string? Version { get; set; }

    /// <summary>Remote OIP gRPC endpoint, <c>http://host:port</c> or <c>https://host:port</c>; absent for a local shadow.</summary>
    public string? Endpoint { get; set; }

    /// <summary>Model name asked of the remote endpoint; defaults to the experiment's model.</summary>
    public string? Model { get; set; }

    /// <summary>Share of requests copied to this shadow, 0 to 1; defaults to 1.</summary>
    public double? SampleRate { get; set; }

    /// <summary>Deadline of each copy, in milliseconds; defaults to <c>Gateway:Experiments:ShadowTimeout</c>.</summary>
    public int? TimeoutMs { get; set; }
}
