using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Grpc.Internal;

/// <summary>Answers gRPC requests for unknown services or methods with a trailers-only UNIMPLEMENTED.</summary>
internal sealed class UnimplementedCallHandler
{
    private readonly GrpcServiceRegistry _registry;
    private readonly ILogger _logger;

    public UnimplementedCallHandler(GrpcServiceRegistry registry, ILogger logger)
    {
        _registry = registry;
        _logger = logger;
    }

    public Task HandleAsync(HttpContext httpContext)
    {
        var path = httpContext.Request.Path.Value ?? string.Empty;
        GrpcServerLog.UnimplementedMethod(_logger, path);
        var service = ServiceNameOf(path);
        var detail = service.Length > 0 && _registry.ContainsService(service) ? "Method is unimplemented." : "Service is unimplemented.";
        HttpContextServerCallContext.WriteTrailersOnly(httpContext.Response, new Status(StatusCode.Unimplemented, detail));
        return EarlyEnd.CompleteAsync(httpContext);
    }

    private static string ServiceNameOf(string path)
    {
        // "/pkg.Service/Method" -> "pkg.Service"
        var trimmed = path.AsSpan().TrimStart('/');
        var slash = trimmed.IndexOf('/');
        return slash > 0 ? trimmed[..slash].ToString() : string.Empty;
    }
}

/// <summary>Route constraint that matches only gRPC requests (POST with a gRPC content type).</summary>
internal sealed class GrpcRequestConstraint : IRouteConstraint
{
    public bool Match(HttpContext? httpContext, IRouter? route, string routeKey, RouteValueDictionary values, RouteDirection routeDirection) =>
        httpContext is not null
        && HttpMethods.IsPost(httpContext.Request.Method)
        && GrpcProtocol.IsGrpcContentType(httpContext.Request.ContentType);
}
