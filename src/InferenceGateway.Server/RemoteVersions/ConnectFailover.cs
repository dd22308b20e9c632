using System.Net.Http;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace InferenceGateway.Server.RemoteVersions;

/// <summary>
/// Sends a forwarded call to another available replica when no connection to the chosen one could be made (Envoy's
/// <c>connect-failure</c> retry): such a call never reached the replica, so trying the next one is safe even for a
/// call that is not idempotent. A replica that died since its last probe then costs one refused connect, not a failed
/// call. Any other failure (reset, timeout, an error answer) is the replica's answer and goes back as it is.
/// </summary>
internal static class ConnectFailover
{
    /// <summary>The YARP pipeline step; runs before load balancing so each try picks among the replicas left.</summary>
    public static async Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        var proxy = context.GetReverseProxyFeature();
        var candidates = proxy.AvailableDestinations;
        await next().ConfigureAwait(false);

        List<DestinationState>? refused = null;
        while (IsConnectFailure(context) && proxy.ProxiedDestination is { } failed && !context.Response.HasStarted && context.Request.Body.CanSeek)
        {
            (refused ??= []).Add(failed);
            var remaining = new List<DestinationState>(candidates.Count);
            foreach (var candidate in candidates)
            {
                if (!refused.Contains(candidate))
                {
                    remaining.Add(candidate);
                }
            }

            if (remaining.Count == 0)
            {
                return; // every replica refused: the forwarder's error stands
            }

            proxy.AvailableDestinations = remaining;
            context.Features.Set<IForwarderErrorFeature>(null);
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Request.Body.Position = 0;
            await next().ConfigureAwait(false);
        }
    }

    private static bool IsConnectFailure(HttpContext context)
    {
        if (context.Features.Get<IForwarderErrorFeature>() is not { Error: ForwarderError.Request, Exception: { } exception })
        {
            return false;
        }

        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError })
            {
                return true;
            }
        }

        return false;
    }
}
