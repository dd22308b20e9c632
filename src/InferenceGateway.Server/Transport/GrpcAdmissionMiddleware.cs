using System.Diagnostics;
using Grpc.Core;
using InferenceGateway.Server.Hosting;

namespace InferenceGateway.Server.Transport;

/// <summary>Whether the process is shutting down, for <see cref="GrpcAdmissionMiddleware"/>.</summary>
public interface IGrpcAdmissionState
{
    /// <summary>True once shutdown began: new calls are refused with UNAVAILABLE.</summary>
    bool IsStopping { get; }
}

/// <summary>
/// The front door for gRPC calls, first in the pipeline (before routing; Grpc.AspNetCore's interceptors would run only
/// after the request message was read): while the gateway shuts down new calls get UNAVAILABLE (clients retry
/// elsewhere), beyond the configured request rate RESOURCE_EXHAUSTED, both as trailers-only responses before any work
/// is done. An admitted call to a mapped method gets its endpoint here, without endpoint routing
/// (<see cref="GrpcEndpointIndex"/>); what happens around the call is <see cref="GrpcCallMiddleware"/>'s.
/// </summary>
internal sealed class GrpcAdmissionMiddleware
{
    internal const string StatusHeader = "grpc-status";
    internal const string MessageHeader = "grpc-message";
    private const string GrpcContentType = "application/grpc";

    private readonly IGrpcAdmissionState _state;
    private readonly GrpcServerMetrics _metrics;
    private readonly GrpcEndpointIndex _endpoints;
    private readonly TokenBucket? _limiter;

    public GrpcAdmissionMiddleware(IGrpcAdmissionState state, RateLimitSettings rateLimit, TimeProvider time, GrpcServerMetrics metrics, GrpcEndpointIndex endpoints)
    {
        _state = state;
        _metrics = metrics;
        _endpoints = endpoints;
        if (rateLimit.PermitsPerSecond > 0)
        {
            _limiter = new TokenBucket(rateLimit.PermitsPerSecond, Math.Max(rateLimit.Burst, 1), time);
        }
    }

    /// <summary>Runs one request through the gate and the rest of the pipeline.</summary>
    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (!IsGrpcContentType(context.Request.ContentType))
        {
            // Not a gRPC call: nothing to admit (admin endpoints; a gRPC method answers it with 415).
            return next(context);
        }

        var start = Stopwatch.GetTimestamp();
        if (_state.IsStopping)
        {
            return Refuse(context, StatusCode.Unavailable, "the gateway is shutting down", start);
        }

        if (_limiter is not null && !_limiter.TryTake())
        {
            return Refuse(context, StatusCode.ResourceExhausted, "request rate limit exceeded", start);
        }

        // A call to a mapped method gets its endpoint here, so that routing skips matching (GrpcEndpointIndex).
        if (_endpoints.Find(context.Request) is { } endpoint)
        {
            context.SetEndpoint(endpoint);
        }

        return next(context);
    }

    private Task Refuse(HttpContext context, StatusCode code, string message, long start)
    {
        // Trailers-only response: HEADERS with END_STREAM carrying the status. The messages are printable ASCII, which
        // grpc-message carries without percent-encoding.
        AnswerTrailersOnly(context, code, message);
        _metrics.Record(GrpcServerMetrics.RefusedMethod, code, start);
        return EarlyEnd.CompleteAsync(context);
    }

    /// <summary>Sets a trailers-only answer: HTTP 200, the gRPC content type and the status in the headers.</summary>
    internal static void AnswerTrailersOnly(HttpContext context, StatusCode code, string message)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = GrpcContentType;
        context.Response.Headers[StatusHeader] = StatusText(code);
        context.Response.Headers[MessageHeader] = message;
    }

    private static string StatusText(StatusCode code) => ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary><c>application/grpc</c>, optionally followed by <c>+format</c> or <c>;params</c>, case-insensitive.</summary>
    internal static bool IsGrpcContentType(string? contentType)
    {
        if (contentType is null || !contentType.StartsWith(GrpcContentType, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return contentType.Length == GrpcContentType.Length || contentType[GrpcContentType.Length] is '+' or ';';
    }
}
