using Grpc.Health.V1;
using Grpc.HealthCheck;
using Grpc.Reflection;
using InferenceGateway.Server.Hosting;
using ProtoServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace InferenceGateway.Server.Transport;

/// <summary>The gateway's gRPC stack on Grpc.AspNetCore: registration, the admission gate, the standard services.</summary>
public static class GatewayGrpcExtensions
{
    /// <summary>
    /// Grpc.AspNetCore with the gateway's limits and gzip as its only compression (deflate is not offered), the
    /// standard health service (Grpc.HealthCheck, "" SERVING until the host says otherwise), server reflection v1 and
    /// v1alpha (Grpc.Reflection) listing every service registered through
    /// <see cref="GrpcServiceEndpointsExtensions.AddGatewayGrpcService{TService}"/>, per-method metrics, and the
    /// admission gate (<see cref="UseGatewayGrpcAdmission"/>), which needs an <see cref="IGrpcAdmissionState"/>.
    /// </summary>
    public static IServiceCollection AddGatewayGrpc(this IServiceCollection services, GrpcSettings settings, RateLimitSettings rateLimit)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(rateLimit);
        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = settings.MaxReceiveMessageSize;
            grpc.MaxSendMessageSize = settings.MaxSendMessageSize;
            grpc.EnableDetailedErrors = settings.EnableDetailedErrors;
            grpc.CompressionProviders.Clear();
            grpc.CompressionProviders.Add(new GzipCompressionProvider(settings.MaxReceiveMessageSize));
        });
        services.AddSingleton<GrpcServerMetrics>();
        services.AddSingleton(provider => new GrpcCallMiddleware(provider.GetRequiredService<GrpcServerMetrics>(), settings));
        services.AddSingleton(provider => new GrpcEndpointIndex(provider.GetRequiredService<EndpointDataSource>()));
        services.AddSingleton(provider => new GrpcAdmissionMiddleware(
            provider.GetRequiredService<IGrpcAdmissionState>(), rateLimit, provider.GetService<TimeProvider>() ?? TimeProvider.System,
            provider.GetRequiredService<GrpcServerMetrics>(), provider.GetRequiredService<GrpcEndpointIndex>()));

        services.AddSingleton(_ =>
        {
            var health = new HealthServiceImpl();
            health.SetStatus("", HealthCheckResponse.Types.ServingStatus.Serving);
            return health;
        });
        services.AddGatewayGrpcService<HealthServiceImpl>(Health.Descriptor, static (binder, service) => Health.BindService(binder, service));

        services.AddSingleton(provider => new ReflectionServiceImpl(ReflectedDescriptors(provider)));
        services.AddSingleton(provider => new ReflectionV1ServiceImpl(ReflectedDescriptors(provider)));
        services.AddGatewayGrpcService<ReflectionServiceImpl>(
            global::Grpc.Reflection.V1Alpha.ServerReflection.Descriptor, static (binder, service) => global::Grpc.Reflection.V1Alpha.ServerReflection.BindService(binder, service));
        services.AddGatewayGrpcService<ReflectionV1ServiceImpl>(
            global::Grpc.Reflection.V1.ServerReflection.Descriptor, static (binder, service) => global::Grpc.Reflection.V1.ServerReflection.BindService(binder, service));
        return services;
    }

    /// <summary>
    /// Puts the admission gate first in the pipeline: before routing, and before Grpc.AspNetCore reads a byte of the
    /// request (its interceptors run only after the request message was read).
    /// </summary>
    public static IApplicationBuilder UseGatewayGrpcAdmission(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);

        // The singleton itself, not UseMiddleware: an IMiddleware is resolved from the request's DI scope, which
        // would create a scope per call.
        var admission = app.ApplicationServices.GetRequiredService<GrpcAdmissionMiddleware>();
        return app.Use(next => context => admission.InvokeAsync(context, next));
    }

    /// <summary>
    /// Wraps each gRPC call after routing (<see cref="GrpcCallMiddleware"/>): the first message's prefix check, the
    /// per-method metrics, and the end of the request body. Place it right after <c>UseRouting</c>.
    /// </summary>
    public static IApplicationBuilder UseGatewayGrpcCalls(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var calls = app.ApplicationServices.GetRequiredService<GrpcCallMiddleware>();
        return app.Use(next => context => calls.InvokeAsync(context, next));
    }

    /// <summary>Maps the health and reflection services registered by <see cref="AddGatewayGrpc"/>.</summary>
    public static IEndpointRouteBuilder MapGatewayGrpcStandardServices(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGatewayGrpcService<HealthServiceImpl>();
        endpoints.MapGatewayGrpcService<ReflectionServiceImpl>();
        endpoints.MapGatewayGrpcService<ReflectionV1ServiceImpl>();
        return endpoints;
    }

    private static List<ProtoServiceDescriptor> ReflectedDescriptors(IServiceProvider provider)
    {
        var descriptors = new List<ProtoServiceDescriptor>();
        foreach (var service in provider.GetServices<ReflectedService>())
        {
            descriptors.Add(service.Descriptor);
        }

        return descriptors;
    }
}
