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
        var direct = new List<GrpcServiceRegistry.DirectMethod>(definition.Methods.Count);
        foreach (var method in definition.Methods)
        {
            var handler = method.Bind(options, logger);
            var builder = endpoints.Map(RoutePatternFactory.Parse(method.Method.FullName), handler);
            builder.WithMetadata(new HttpMethodMetadata([HttpMethods.Post]), method.Method);
            builder.WithDisplayName("gRPC - " + method.Method.FullName);
            builders.Add(builder);

            // Only the application's own route builder maps a method at exactly its full name (a route group adds a
            // prefix), so only those methods can be found by path without the router.
            if (endpoints is IApplicationBuilder)
            {
                direct.Add(registry.AddDirect(method.Method.FullName, handler));
            }
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

        return new CompositeConventionBuilder(builders, direct);
    }

    /// <summary>
    /// Serves gRPC calls to mapped methods straight from the pipeline, without endpoint routing: a POST whose path is
    /// exactly a method's <c>/package.Service/Method</c> runs that method's handler; every other request goes on to
    /// the rest of the pipeline unchanged. Place it first (before <c>UseRouting</c>); endpoint routing costs about as
    /// much CPU per call as a small unary handler.
    /// </summary>
    /// <remarks>
    /// The handler, its status codes, deadlines and limits are the ones <see cref="MapGrpcService(IEndpointRouteBuilder, ServerServiceDefinition)"/>
    /// maps; the difference is that middleware after this one does not see these calls, and no endpoint is set on the
    /// context. Methods mapped inside a route group, and methods whose endpoints got conventions through the builder
    /// <c>MapGrpcService</c> returned (authorization, host filters), are left to routing. Paths the router would match
    /// only case-insensitively are left to it as well.
    /// </remarks>
    /// <param name="app">The application.</param>
    /// <param name="gate">Admission check run before each directly served call (shutdown, rate limits); null for none.</param>
    public static IApplicationBuilder UseGrpcDirectDispatch(this IApplicationBuilder app, IGrpcCallGate? gate = null)
    {
        ArgumentNullException.ThrowIfNull(app);
        var registry = app.ApplicationServices.GetService<GrpcServiceRegistry>()
            ?? throw new InvalidOperationException("Call services.AddGrpcServer() before UseGrpcDirectDispatch().");
        return app.Use(next => new GrpcDirectDispatcher(registry, gate, next).InvokeAsync);
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
        private readonly List<GrpcServiceRegistry.DirectMethod> _direct;

        public CompositeConventionBuilder(List<IEndpointConventionBuilder> builders, List<GrpcServiceRegistry.DirectMethod> direct)
        {
            _builders = builders;
            _direct = direct;
        }

        public void Add(Action<EndpointBuilder> convention)
        {
            // A convention may add metadata that middleware acts on (authorization, CORS, host matching), which the
            // direct dispatcher would skip: these methods go through routing from now on.
            DisableDirect();
            foreach (var builder in _builders)
            {
                builder.Add(convention);
            }
        }

        public void Finally(Action<EndpointBuilder> finallyConvention)
        {
            DisableDirect();
            foreach (var builder in _builders)
            {
                builder.Finally(finallyConvention);
            }
        }

        private void DisableDirect()
        {
            foreach (var method in _direct)
            {
                method.Disable();
            }
        }
    }
}
