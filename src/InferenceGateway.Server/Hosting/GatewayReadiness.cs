using InferenceGateway.Core.Models;
using Grpc.Health.V1;
using Grpc.HealthCheck;

namespace InferenceGateway.Server.Hosting;

/// <summary>A component that must be ready before the gateway takes traffic (models, later log sinks and feature state).</summary>
public interface IReadinessCheck
{
    /// <summary>Name shown in /readyz.</summary>
    string Name { get; }

    /// <summary>Null when ready, otherwise why not.</summary>
    string? NotReadyReason { get; }

    /// <summary>State worth showing in /readyz even when ready (a degraded dependency the gateway serves without); null for none.</summary>
    string? Detail => null;
}

/// <summary>
/// One readiness answer for HTTP (/readyz) and gRPC health: ready when every check passes and the process is not
/// shutting down. Also keeps the gRPC health statuses in step: "" (the server), each model name, and
/// "model:version" for each served version.
/// </summary>
public sealed class GatewayReadiness : Transport.IGrpcAdmissionState
{
    private readonly IEnumerable<IReadinessCheck> _checks;
    private readonly HealthServiceImpl _health;
    private readonly ModelRepository _repository;
    private readonly HashSet<string> _published = new(StringComparer.Ordinal);
    private volatile bool _stopping;

    /// <summary>Creates the readiness aggregate.</summary>
    public GatewayReadiness(IEnumerable<IReadinessCheck> checks, HealthServiceImpl health, ModelRepository repository)
    {
        _checks = checks;
        _health = health;
        _repository = repository;
        _health.SetStatus("", HealthCheckResponse.Types.ServingStatus.NotServing);
        _repository.Changed += Refresh;
    }

    /// <summary>True once shutdown began: new calls are refused.</summary>
    public bool IsStopping => _stopping;

    /// <summary>True when every check passes and the gateway is not shutting down.</summary>
    public bool IsReady => !_stopping && NotReadyReasons().Count == 0;

    /// <summary>Why the gateway is not ready (empty when it is).</summary>
    public List<string> NotReadyReasons()
    {
        var reasons = new List<string>();
        if (_stopping)
        {
            reasons.Add("shutting down");
        }

        foreach (var check in _checks)
        {
            if (check.NotReadyReason is { } reason)
            {
                reasons.Add($"{check.Name}: {reason}");
            }
        }

        return reasons;
    }

    /// <summary>Every check's detail line ("name: detail"), ready or not.</summary>
    public List<string> Details()
    {
        var details = new List<string>();
        foreach (var check in _checks)
        {
            if (check.Detail is { } detail)
            {
                details.Add($"{check.Name}: {detail}");
            }
        }

        return details;
    }

    /// <summary>Marks the gateway as stopping: not ready, every health status NOT_SERVING.</summary>
    public void MarkStopping()
    {
        _stopping = true;
        lock (_published)
        {
            _health.SetStatus("", HealthCheckResponse.Types.ServingStatus.NotServing);
            foreach (var service in _published)
            {
                _health.SetStatus(service, HealthCheckResponse.Types.ServingStatus.NotServing);
            }
        }
    }

    /// <summary>Recomputes the gRPC health statuses from the served models.</summary>
    public void Refresh()
    {
        if (_stopping)
        {
            return;
        }

        lock (_published)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var model in _repository.Models.Values)
            {
                seen.Add(model.Name);
                _health.SetStatus(model.Name, model.Latest is null ? HealthCheckResponse.Types.ServingStatus.NotServing : HealthCheckResponse.Types.ServingStatus.Serving);
                foreach (var version in model.Versions)
                {
                    var key = $"{model.Name}:{version.Version}";
                    seen.Add(key);
                    _health.SetStatus(key, HealthCheckResponse.Types.ServingStatus.Serving);
                }
            }

            foreach (var old in _published)
            {
                if (!seen.Contains(old))
                {
                    _health.SetStatus(old, HealthCheckResponse.Types.ServingStatus.NotServing);
                }
            }

            _published.Clear();
            _published.UnionWith(seen);
            _health.SetStatus("", IsReady ? HealthCheckResponse.Types.ServingStatus.Serving : HealthCheckResponse.Types.ServingStatus.NotServing);
        }
    }
}

/// <summary>Models are ready when the first scan finished and every model serves a warmed version.</summary>
public sealed class ModelRepositoryReadinessCheck(ModelRepository repository) : IReadinessCheck
{
    /// <inheritdoc />
    public string Name => "models";

    /// <inheritdoc />
    public string? NotReadyReason => repository.IsReady ? null : repository.Errors.Count > 0
        ? string.Join("; ", repository.Errors.Values)
        : "loading";
}
