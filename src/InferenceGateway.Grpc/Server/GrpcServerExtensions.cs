using System.Net;
using InferenceGateway.Grpc.Internal;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace InferenceGateway.Grpc;

/// <summary>Registration and mapping of gRPC services (shaped like Grpc.AspNetCore's AddGrpc / MapGrpcService).</summary>
public static class GrpcServerExtensions
{
    private const string LoggerCategory = "InferenceGateway.Grpc.Server";

    /// <summary>Adds the gRPC server's services and options. Call once; further calls only add configuration.</summary>
    public static IServiceCollection AddGrpcServer(this IServiceCollection services, Action<GrpcServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddRouting();
        services.AddOptions<GrpcServerOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton<GrpcServiceRegistry>();
        return services;
    }

    /// <summary>
    /// Maps every method of a service to <c>POST /package.Service/Method</c>, and (once per route builder) a catch-all
    /// that answers other gRPC requests with UNIMPLEMENTED.
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcService(this IEndpointRouteBuilder endpoints, ServerServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(definition);
        var provider = endpoints.ServiceProvider;
        var registry = provider.GetService<GrpcServiceRegistry>()
            ?? throw new InvalidOperationException("Call services.AddGrpcServer() before mapping gRPC services.");
        var options = provider.GetRequiredService<IOptions<GrpcServerOptions>>().Value;
        options.Validate();
        var logger = provider.GetRequiredService<ILoggerFactory>().CreateLogger(LoggerCategory);

        registry.Add(definition);
        var builders = new List<IEndpointConventionBuilder>(definition.Methods.Count);
        foreach (var method in definition.Methods)
        {
            var builder = endpoints.Map(RoutePatternFactory.Parse(method.Method.FullName), method.Bind(options, logger));
            builder.WithMetadata(new HttpMethodMetadata([HttpMethods.Post]), method.Method);
            builder.WithDisplayName("gRPC - " + method.Method.FullName);
            builders.Add(builder);
        }

        if (registry.TryMarkUnimplementedMapped(endpoints))
        {
            var handler = new UnimplementedCallHandler(registry, logger);
            var pattern = RoutePatternFactory.Parse("{**unimplementedPath}", defaults: null,
                parameterPolicies: new RouteValueDictionary { ["unimplementedPath"] = new GrpcRequestConstraint() });
            var fallback = endpoints.Map(pattern, handler.HandleAsync);
            fallback.WithDisplayName("gRPC - Unimplemented");
            fallback.WithMetadata(new HttpMethodMetadata([HttpMethods.Post]));

            // Lowest precedence: any real endpoint wins over the catch-all.
            fallback.Add(b => ((RouteEndpointBuilder)b).Order = int.MaxValue);
        }

        return new CompositeConventionBuilder(builders);
    }

    /// <summary>
    /// Maps a service class: the instance comes from DI when registered (register it as a singleton to reach it from
    /// elsewhere, e.g. <c>HealthServiceImpl</c>), otherwise one instance is created for the app's lifetime.
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcService<TService>(this IEndpointRouteBuilder endpoints)
        where TService : class, IGrpcService
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var service = ActivatorUtilities.GetServiceOrCreateInstance<TService>(endpoints.ServiceProvider);
        return endpoints.MapGrpcService(service.BindService());
    }

    /// <summary>The <see cref="HttpContext"/> of a server call (as in Grpc.AspNetCore).</summary>
    public static HttpContext GetHttpContext(this ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context is HttpContextServerCallContext httpCall
            ? httpCall.HttpContext
            : throw new InvalidOperationException("This ServerCallContext is not backed by an HttpContext.");
    }

    /// <summary>Listens for gRPC: HTTP/2 cleartext with prior knowledge (no TLS, no HTTP/1.1 upgrade).</summary>
    public static KestrelServerOptions ListenGrpc(this KestrelServerOptions options, IPEndPoint endPoint, Action<ListenOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Listen(endPoint, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            configure?.Invoke(listen);
        });
        return options;
    }

    /// <summary>Listens for gRPC on an address and port (port 0 picks a free port).</summary>
    public static KestrelServerOptions ListenGrpc(this KestrelServerOptions options, IPAddress address, int port, Action<ListenOptions>? configure = null) =>
        options.ListenGrpc(new IPEndPoint(address, port), configure);

    private sealed class CompositeConventionBuilder : IEndpointConventionBuilder
    {
        private readonly List<IEndpointConventionBuilder> _builders;

        public CompositeConventionBuilder(List<IEndpointConventionBuilder> builders) => _builders = builders;

        public void Add(Action<EndpointBuilder> convention)
        {
            foreach (var builder in _builders)
            {
                builder.Add(convention);
            }
        }

        public void Finally(Action<EndpointBuilder> finallyConvention)
        {
            foreach (var builder in _builders)
            {
                builder.Finally(finallyConvention);
            }
        }
    }
}
