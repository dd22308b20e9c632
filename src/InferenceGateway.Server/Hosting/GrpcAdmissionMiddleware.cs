using InferenceGateway.Grpc;

namespace InferenceGateway.Server.Hosting;

/// <summary>
/// Front door for gRPC calls: while the gateway shuts down new calls get UNAVAILABLE (clients retry elsewhere),
/// and beyond the configured request rate they get RESOURCE_EXHAUSTED, both as trailers-only responses before any
/// work is done.
/// </summary>
/// <remarks>
/// Calls to mapped methods meet it as the gate of the direct dispatcher (first in the pipeline); as middleware it
/// still admits the gRPC requests that take the routed pipeline (unknown methods, which get UNIMPLEMENTED).
/// </remarks>
internal sealed class GrpcAdmissionMiddleware : IMiddleware, IGrpcCallGate
{
    private readonly GatewayReadiness _readiness;
    private readonly TokenBucket? _limiter;

    public GrpcAdmissionMiddleware(GatewayReadiness readiness, GatewayOptions options, TimeProvider time)
    {
        _readiness = readiness;
        if (options.RateLimit.PermitsPerSecond > 0)
        {
            _limiter = new TokenBucket(options.RateLimit.PermitsPerSecond, Math.Max(options.RateLimit.Burst, 1), time);
        }
    }

    public Task InvokeAsync(HttpContext context, RequestDelegate next) =>
        TryAdmit(context) ? next(context) : GrpcProtocol.CompleteRefusedCallAsync(context);

    public bool TryAdmit(HttpContext context)
    {
        if (!GrpcProtocol.IsGrpcContentType(context.Request.ContentType))
        {
            // Not a gRPC call: nothing to admit (admin endpoints; a gRPC method answers it with 415).
            return true;
        }

        if (_readiness.IsStopping)
        {
            Reject(context, StatusCode.Unavailable, "the gateway is shutting down");
            return false;
        }

        if (_limiter is not null && !_limiter.TryTake())
        {
            Reject(context, StatusCode.ResourceExhausted, "request rate limit exceeded");
            return false;
        }

        return true;
    }

    private static void Reject(HttpContext context, StatusCode code, string message)
    {
        // Trailers-only response: HEADERS with END_STREAM carrying the status.
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = GrpcProtocol.ContentType;
        context.Response.Headers[GrpcProtocol.StatusTrailer] = ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers[GrpcProtocol.MessageTrailer] = GrpcProtocol.PercentEncode(message);
    }
}
