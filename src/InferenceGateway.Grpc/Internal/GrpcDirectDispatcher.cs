using Microsoft.AspNetCore.Http;

namespace InferenceGateway.Grpc.Internal;

/// <summary>Middleware that runs mapped gRPC methods found by exact path, skipping endpoint routing.</summary>
internal sealed class GrpcDirectDispatcher
{
    private readonly GrpcServiceRegistry _registry;
    private readonly IGrpcCallGate? _gate;
    private readonly RequestDelegate _next;

    public GrpcDirectDispatcher(GrpcServiceRegistry registry, IGrpcCallGate? gate, RequestDelegate next)
    {
        _registry = registry;
        _gate = gate;
        _next = next;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (HttpMethods.IsPost(request.Method) && request.Path.Value is { } path && _registry.FindDirect(path) is { } handler)
        {
            if (_gate is not null && !_gate.TryAdmit(context))
            {
                return EarlyEnd.CompleteAsync(context);
            }

            return handler(context);
        }

        return _next(context);
    }
}
