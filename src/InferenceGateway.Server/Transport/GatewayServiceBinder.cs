using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Microsoft.AspNetCore.Routing;

namespace InferenceGateway.Server.Transport;

/// <summary>
/// Receives a generated service's methods (its static <c>BindService(ServiceBinderBase, impl)</c>) and maps them onto
/// Grpc.AspNetCore with the gateway's request marshallers: a request that is not valid protobuf gets INTERNAL
/// "Failed to deserialize request message." instead of the UNKNOWN (and Error-level log) that a generated
/// marshaller's parse exception would give.
/// </summary>
/// <remarks>
/// Handlers arrive bound to the service instance the bind call was given, so calls never activate a service
/// (<see cref="GrpcServiceEndpoints{TService}"/> sets <c>SuppressCreatingService</c>).
/// </remarks>
/// <typeparam name="TService">The implementation whose methods are mapped.</typeparam>
public sealed class GatewayServiceBinder<TService> : ServiceBinderBase
    where TService : class
{
    private readonly ServiceMethodProviderContext<GrpcServiceEndpoints<TService>> _context;
    private readonly HashSet<string> _skipped = new(StringComparer.Ordinal);

    internal GatewayServiceBinder(ServiceMethodProviderContext<GrpcServiceEndpoints<TService>> context) => _context = context;

    /// <summary>
    /// Leaves out the next method bound under <paramref name="methodName"/> (the generated one), so that the service can
    /// bind its own version of it afterwards (ModelInfer with the pooled codec) under the same name and wire format.
    /// </summary>
    public GatewayServiceBinder<TService> Skip(string methodName)
    {
        _skipped.Add(methodName);
        return this;
    }

    /// <inheritdoc />
    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(handler);
        if (!_skipped.Remove(method.Name))
        {
            _context.AddUnaryMethod(WithRequestErrors(method), PostOnly(), (_, request, context) => handler(request, context));
        }
    }

    /// <inheritdoc />
    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(handler);
        if (!_skipped.Remove(method.Name))
        {
            _context.AddServerStreamingMethod(WithRequestErrors(method), PostOnly(), (_, request, responses, context) => handler(request, responses, context));
        }
    }

    /// <inheritdoc />
    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(handler);
        if (!_skipped.Remove(method.Name))
        {
            _context.AddClientStreamingMethod(WithRequestErrors(method), PostOnly(), (_, requests, context) => handler(requests, context));
        }
    }

    /// <inheritdoc />
    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(handler);
        if (!_skipped.Remove(method.Name))
        {
            _context.AddDuplexStreamingMethod(WithRequestErrors(method), PostOnly(), (_, requests, responses, context) => handler(requests, responses, context));
        }
    }

    /// <summary>
    /// Endpoint metadata as Grpc.AspNetCore's own binder gives it: POST only (other methods get 405 from routing), with
    /// CORS preflight requests let through to the handler.
    /// </summary>
    private static List<object> PostOnly() => [new HttpMethodMetadata([HttpMethods.Post], acceptCorsPreflight: true)];

    /// <summary>The same method with a request deserializer that reports malformed payloads as INTERNAL.</summary>
    internal static Method<TRequest, TResponse> WithRequestErrors<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class
        where TResponse : class =>
        new(method.Type, method.ServiceName, method.Name, GatewayMarshallers.WithRequestErrors(method.RequestMarshaller), method.ResponseMarshaller);
}

/// <summary>Marshaller helpers shared by the gateway's services.</summary>
public static class GatewayMarshallers
{
    /// <summary>The status of a request payload that does not parse (grpc-dotnet's wording).</summary>
    public static readonly Status DeserializeFailed = new(StatusCode.Internal, "Failed to deserialize request message.");

    /// <summary>
    /// Wraps a marshaller so that a payload its deserializer rejects (a protobuf format error) ends the call with
    /// INTERNAL, as the gRPC spec's "message could not be parsed" asks, rather than with a handler error.
    /// </summary>
    public static Marshaller<T> WithRequestErrors<T>(Marshaller<T> marshaller)
    {
        ArgumentNullException.ThrowIfNull(marshaller);
        var deserialize = marshaller.ContextualDeserializer;
        return Marshallers.Create(marshaller.ContextualSerializer, context =>
        {
            try
            {
                return deserialize(context);
            }
            catch (Exception ex) when (ex is not RpcException)
            {
                // Google.Protobuf throws InvalidProtocolBufferException for most defects, but not for all of them.
                throw new RpcException(DeserializeFailed);
            }
        });
    }
}
