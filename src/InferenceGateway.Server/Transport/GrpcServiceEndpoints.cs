using Grpc.AspNetCore.Server.Model;
using Microsoft.Extensions.DependencyInjection.Extensions;
using ProtoServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace InferenceGateway.Server.Transport;

/// <summary>
/// The endpoints Grpc.AspNetCore maps for one service implementation registered with
/// <see cref="GrpcServiceEndpointsExtensions.AddGatewayGrpcService{TService}"/>. A type of its own (it carries no
/// <c>BindServiceMethod</c> attribute), so that the generated binding Grpc.AspNetCore would otherwise add beside ours
/// cannot map the same routes twice.
/// </summary>
/// <typeparam name="TService">The implementation.</typeparam>
public sealed class GrpcServiceEndpoints<TService>
    where TService : class
{
    private GrpcServiceEndpoints()
    {
    }
}

/// <summary>How a service implementation binds its methods, and the descriptor reflection lists for it.</summary>
/// <param name="Descriptor">The service's protobuf descriptor (for the reflection service).</param>
/// <param name="Bind">Adds the methods, usually by calling the generated <c>BindService(binder, impl)</c>.</param>
/// <typeparam name="TService">The implementation.</typeparam>
public sealed record GrpcServiceBinding<TService>(ProtoServiceDescriptor Descriptor, Action<GatewayServiceBinder<TService>, TService> Bind)
    where TService : class;

/// <summary>Registration and mapping of services bound through <see cref="GatewayServiceBinder{TService}"/>.</summary>
public static class GrpcServiceEndpointsExtensions
{
    /// <summary>
    /// Registers a gRPC service implementation, a singleton from DI, to be mapped with the gateway's marshallers
    /// (<see cref="MapGatewayGrpcService{TService}"/>) and listed by the reflection service.
    /// </summary>
    public static IServiceCollection AddGatewayGrpcService<TService>(this IServiceCollection services, ProtoServiceDescriptor descriptor, Action<GatewayServiceBinder<TService>, TService> bind)
        where TService : class
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(new GrpcServiceBinding<TService>(descriptor, bind));
        services.AddSingleton(new ReflectedService(descriptor));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IServiceMethodProvider<GrpcServiceEndpoints<TService>>, BindingMethodProvider<TService>>());

        // Handlers are bound to the singleton: no per-call activation, no DI scope per request.
        services.AddGrpc().AddServiceOptions<GrpcServiceEndpoints<TService>>(options => options.SuppressCreatingService = true);
        return services;
    }

    /// <summary>Maps the methods of a service registered with <see cref="AddGatewayGrpcService{TService}"/>.</summary>
    public static GrpcServiceEndpointConventionBuilder MapGatewayGrpcService<TService>(this IEndpointRouteBuilder endpoints)
        where TService : class =>
        endpoints.MapGrpcService<GrpcServiceEndpoints<TService>>();

    private sealed class BindingMethodProvider<TService>(GrpcServiceBinding<TService> binding, TService service) : IServiceMethodProvider<GrpcServiceEndpoints<TService>>
        where TService : class
    {
        public void OnServiceMethodDiscovery(ServiceMethodProviderContext<GrpcServiceEndpoints<TService>> context) =>
            binding.Bind(new GatewayServiceBinder<TService>(context), service);
    }
}

/// <summary>A service descriptor the reflection service lists.</summary>
/// <param name="Descriptor">The descriptor.</param>
public sealed record ReflectedService(ProtoServiceDescriptor Descriptor);
