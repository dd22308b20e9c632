namespace InferenceGateway.Core.Routing;

/// <summary>
/// One copy of a request on its way to a shadow: made on the request path (a copy of what the shadow needs, pooled
/// where it matters), run later on a shadow lane. The dispatcher calls <see cref="RunAsync"/> at most once and
/// <see cref="Release"/> exactly once.
/// </summary>
public abstract class ShadowWork
{
    /// <summary>The dispatcher's timestamp (its <see cref="TimeProvider"/>) of when the copy was queued.</summary>
    internal long EnqueuedAt { get; set; }

    /// <summary>The target the copy was queued for (set by the dispatcher).</summary>
    internal ShadowTarget? Target { get; set; }

    /// <summary>
    /// Sends the copy to its target and reports the answer to the prediction observer. <paramref name="cancellationToken"/>
    /// fires at the copy's deadline or when the gateway stops waiting for shadows. Failures are returned as a status, not
    /// thrown (a throw counts as UNKNOWN).
    /// </summary>
    public abstract ValueTask<ShadowOutcome> RunAsync(ShadowTarget target, TimeSpan remaining, CancellationToken cancellationToken);

    /// <summary>Gives back what the copy holds (pooled buffers, leases); after a run, or instead of one when it is dropped.</summary>
    public abstract void Release();
}

/// <summary>How a shadow copy ended: a gRPC status code (0 = OK) and the failure's message.</summary>
public readonly record struct ShadowOutcome(int StatusCode, string? Error)
{
    /// <summary>Success.</summary>
    public static ShadowOutcome Ok => default;

    /// <summary>gRPC CANCELLED.</summary>
    public const int Cancelled = 1;

    /// <summary>gRPC DEADLINE_EXCEEDED.</summary>
    public const int DeadlineExceeded = 4;

    /// <summary>gRPC UNKNOWN.</summary>
    public const int Unknown = 2;
}
