using InferenceGateway.Core.Models;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;

namespace InferenceGateway.Server.RemoteVersions;

/// <summary>Registers Yarp.ReverseProxy for remote versions and puts the forwarder into the pipeline.</summary>
internal static class RemoteVersionServices
{
    public static void Add(IServiceCollection services)
    {
        services.AddReverseProxy().LoadFromMemory([], []);
        services.Replace(ServiceDescriptor.Singleton<IProbingRequestFactory, OipProbingRequestFactory>());
        services.AddSingleton<IActiveHealthCheckPolicy, OipModelReadyHealthPolicy>();
        services.AddSingleton(provider => new RemoteVersionProxyConfig(
            provider.GetRequiredService<ModelRepository>(),
            provider.GetRequiredService<InMemoryConfigProvider>()));
        services.AddSingleton<RemoteVersionRoutes>();
        services.AddSingleton<RemoteVersionForwarder>();
    }

    /// <summary>
    /// The forwarder after the gRPC call middleware (so unary requests have arrived whole), the YARP routes, and
    /// <c>GET /v1/remote-versions</c> (each remote version's replicas and their health).
    /// </summary>
    public static void Map(WebApplication app)
    {
        var forwarder = app.Services.GetRequiredService<RemoteVersionForwarder>();
        app.Use(next => context => forwarder.InvokeAsync(context, next));
        app.MapReverseProxy(pipeline =>
        {
            pipeline.Use((context, next) =>
            {
                if (context.Features.Get<RemoteForwardFeature>() is null)
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                }

                return next();
            });
            pipeline.Use(ConnectFailover.InvokeAsync);
            pipeline.UseLoadBalancing();
            pipeline.UsePassiveHealthChecks();
        });

        var config = app.Services.GetRequiredService<RemoteVersionProxyConfig>();
        config.Update();
        app.MapGet("/v1/remote-versions", (IProxyStateLookup proxy) =>
        {
            var versions = new List<object>();
            foreach (var cluster in proxy.GetClusters())
            {
                var replicas = new List<object>();
                foreach (var destination in cluster.DestinationsState.AllDestinations)
                {
                    replicas.Add(new { address = destination.Model.Config.Address, health = destination.Health.Active.ToString(), in_flight = destination.ConcurrentRequestCount });
                }

                versions.Add(new { id = cluster.ClusterId, load_balancing = cluster.Model.Config.LoadBalancingPolicy, available = cluster.DestinationsState.AvailableDestinations.Count, replicas });
            }

            return Results.Json(new { remote_versions = versions });
        });
    }
}
