using System.Globalization;
using System.Net;
using InferenceGateway.Core.Models;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace InferenceGateway.Server.RemoteVersions;

/// <summary>
/// Yarp.ReverseProxy's configuration, made from the model repository: one cluster per remote version (its endpoints as
/// destinations, its load balancing, active ModelReady probes) and one route per cluster, which only the gateway's
/// forwarder enters. Rebuilt whenever the repository's served versions change.
/// </summary>
internal sealed class RemoteVersionProxyConfig
{
    /// <summary>Cluster metadata: the model name the replicas serve.</summary>
    public const string ModelMetadata = "oip.model";

    /// <summary>Cluster metadata: the version the replicas serve.</summary>
    public const string VersionMetadata = "oip.version";

    /// <summary>Cluster metadata: consecutive failed probes that take a replica out.</summary>
    public const string UnhealthyAfterMetadata = "oip.unhealthy_after";

    private readonly ModelRepository _repository;
    private readonly InMemoryConfigProvider _provider;
    private readonly object _gate = new();

    public RemoteVersionProxyConfig(ModelRepository repository, InMemoryConfigProvider provider)
    {
        _repository = repository;
        _provider = provider;
        repository.Changed += Update;
    }

    /// <summary>True when some model has a remote version (otherwise ModelInfer skips the forwarder at the cost of one read).</summary>
    public bool HasRemoteVersions { get; private set; }

    /// <summary>The route id (and cluster id) of a remote version.</summary>
    public static string RouteId(string model, string version) => $"remote/{model}/{version}";

    /// <summary>Rebuilds routes and clusters from the served remote versions.</summary>
    public void Update()
    {
        lock (_gate)
        {
            var routes = new List<RouteConfig>();
            var clusters = new List<ClusterConfig>();
            foreach (var model in _repository.Models.Values)
            {
                foreach (var remote in model.RemoteVersions)
                {
                    var id = RouteId(remote.Model, remote.Version);
                    routes.Add(new RouteConfig
                    {
                        RouteId = id,
                        ClusterId = id,
                        // Never matched by a client's path in practice, and refused unless the forwarder sent the call.
                        Match = new RouteMatch { Path = "/_remote-versions/" + Uri.EscapeDataString(remote.Model) + "/" + remote.Version },
                    });
                    clusters.Add(Cluster(id, remote));
                }
            }

            HasRemoteVersions = clusters.Count > 0;
            _provider.Update(routes, clusters);
        }
    }

    private static ClusterConfig Cluster(string id, RemoteVersion remote)
    {
        var config = remote.Remote;
        var destinations = new Dictionary<string, DestinationConfig>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < config.Endpoints.Count; i++)
        {
            destinations[$"replica-{i}"] = new DestinationConfig { Address = new Uri(config.Endpoints[i]).GetLeftPart(UriPartial.Authority) };
        }

        return new ClusterConfig
        {
            ClusterId = id,
            Destinations = destinations,
            LoadBalancingPolicy = config.LoadBalancing,
            HealthCheck = new HealthCheckConfig
            {
                Active = new ActiveHealthCheckConfig
                {
                    Enabled = true,
                    Interval = TimeSpan.FromMilliseconds(config.HealthCheckIntervalMs),
                    Timeout = TimeSpan.FromMilliseconds(config.HealthCheckTimeoutMs),
                    Policy = OipModelReadyHealthPolicy.PolicyName,
                },
            },
            // gRPC is HTTP/2; over http:// that is cleartext with prior knowledge, which needs the exact version.
            HttpRequest = new ForwarderRequestConfig { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact },
            Metadata = new Dictionary<string, string>
            {
                [ModelMetadata] = remote.RemoteModel,
                [VersionMetadata] = remote.RemoteVersionName,
                [UnhealthyAfterMetadata] = config.UnhealthyAfter.ToString(CultureInfo.InvariantCulture),
            },
        };
    }
}
