namespace InferenceGateway.Core.Models;

/// <summary>
/// A version declared remote in config.json (<c>versions.&lt;n&gt;.remote</c>): served by a pool of Open Inference
/// Protocol endpoints (Triton, KServe, other gateways) to which the gateway forwards ModelInfer.
/// </summary>
public sealed class RemoteVersionConfig
{
    /// <summary>Load balancing policy names the gateway accepts (Yarp.ReverseProxy's).</summary>
    public static readonly IReadOnlyList<string> LoadBalancingPolicies = ["PowerOfTwoChoices", "RoundRobin", "LeastRequests", "Random", "FirstAlphabetical"];

    /// <summary>The replicas: <c>http://host:port</c> (HTTP/2 cleartext) or <c>https://host:port</c>.</summary>
    public List<string> Endpoints { get; set; } = [];

    /// <summary>Model name on the replicas; defaults to this model's name.</summary>
    public string? Model { get; set; }

    /// <summary>Version on the replicas; defaults to this version.</summary>
    public string? Version { get; set; }

    /// <summary>How a call picks its replica: one of <see cref="LoadBalancingPolicies"/>.</summary>
    public string LoadBalancing { get; set; } = "PowerOfTwoChoices";

    /// <summary>Time between active health probes (ModelReady) of each replica.</summary>
    public int HealthCheckIntervalMs { get; set; } = 5000;

    /// <summary>A probe without an answer after this long failed.</summary>
    public int HealthCheckTimeoutMs { get; set; } = 2000;

    /// <summary>Consecutive failed probes after which a replica takes no calls (one good probe brings it back).</summary>
    public int UnhealthyAfter { get; set; } = 2;

    internal void Validate(string where, List<string> errors)
    {
        if (Endpoints.Count == 0)
        {
            errors.Add($"{where}.endpoints: at least one endpoint is required");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var endpoint in Endpoints)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
                || uri.AbsolutePath != "/" || uri.Query.Length > 0)
            {
                errors.Add($"{where}.endpoints: '{endpoint}' must be http://host:port or https://host:port");
            }
            else if (!seen.Add(uri.GetLeftPart(UriPartial.Authority)))
            {
                errors.Add($"{where}.endpoints: '{endpoint}' is repeated");
            }
        }

        if (!LoadBalancingPolicies.Contains(LoadBalancing))
        {
            errors.Add($"{where}.load_balancing '{LoadBalancing}' must be one of {string.Join(", ", LoadBalancingPolicies)}");
        }

        if (HealthCheckIntervalMs < 100 || HealthCheckTimeoutMs < 10 || HealthCheckTimeoutMs > HealthCheckIntervalMs)
        {
            errors.Add($"{where}: health_check_interval_ms must be at least 100 and health_check_timeout_ms between 10 and the interval");
        }

        if (UnhealthyAfter < 1)
        {
            errors.Add($"{where}.unhealthy_after must be at least 1");
        }
    }
}

/// <summary>A remote version as served: its declaration and the names it is asked for on the replicas.</summary>
public sealed class RemoteVersion
{
    internal RemoteVersion(string model, string version, VersionConfig config)
    {
        Model = model;
        Version = version;
        VersionNumber = long.Parse(version, System.Globalization.CultureInfo.InvariantCulture);
        Config = config;
        Remote = config.Remote!;
        RemoteModel = string.IsNullOrEmpty(Remote.Model) ? model : Remote.Model;
        RemoteVersionName = Remote.Version ?? version;
    }

    /// <summary>Logical model name.</summary>
    public string Model { get; }

    /// <summary>The version's name in this gateway.</summary>
    public string Version { get; }

    /// <summary>The version as a number, for ordering.</summary>
    public long VersionNumber { get; }

    /// <summary>The version's configuration (tensors and features are optional for a remote version).</summary>
    public VersionConfig Config { get; }

    /// <summary>The remote declaration.</summary>
    public RemoteVersionConfig Remote { get; }

    /// <summary>The model name asked of the replicas.</summary>
    public string RemoteModel { get; }

    /// <summary>The version asked of the replicas.</summary>
    public string RemoteVersionName { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Model}:{Version} (remote)";
}
