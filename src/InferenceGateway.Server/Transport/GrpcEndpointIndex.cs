using System.Collections.Frozen;
using Grpc.AspNetCore.Server;

namespace InferenceGateway.Server.Transport;

/// <summary>
/// The gRPC method endpoints by request path, so that a call can be given its endpoint without endpoint routing:
/// once an endpoint is set, the routing middleware skips matching. Routing allocated a route-value dictionary per call
/// (about a tenth of a ModelInfer call's garbage, measured) and costs about as much CPU as a small handler.
/// </summary>
/// <remarks>
/// Only endpoints mapped at exactly <c>/package.Service/Method</c> are indexed (not those under a route-group prefix);
/// paths that differ in letter case, and everything else, still go through routing.
/// </remarks>
internal sealed class GrpcEndpointIndex(EndpointDataSource endpoints)
{
    private FrozenDictionary<string, Endpoint>? _byPath;

    /// <summary>The endpoint of a POST to exactly a mapped method's path, or null.</summary>
    public Endpoint? Find(HttpRequest request)
    {
        if (!HttpMethods.IsPost(request.Method) || request.Path.Value is not { } path)
        {
            return null;
        }

        var byPath = _byPath ??= Build();
        return byPath.GetValueOrDefault(path);
    }

    private FrozenDictionary<string, Endpoint> Build()
    {
        var byPath = new Dictionary<string, Endpoint>(StringComparer.Ordinal);
        foreach (var endpoint in endpoints.Endpoints)
        {
            if (endpoint is RouteEndpoint route && endpoint.Metadata.GetMetadata<GrpcMethodMetadata>() is { } grpc
                && string.Equals(route.RoutePattern.RawText, grpc.Method.FullName, StringComparison.Ordinal))
            {
                byPath.TryAdd(grpc.Method.FullName, endpoint);
            }
        }

        return byPath.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
