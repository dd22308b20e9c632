using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Core.Routing;
using Microsoft.Extensions.ObjectPool;

namespace InferenceGateway.Server.Experiments;

/// <summary>
/// A shadow copy of a domain Predict request: the parsed request (immutable once parsed, so shared, not copied), its
/// request id and event time, run by <see cref="Features.PredictExecutor"/> with the features the shadow's own version lists.
/// </summary>
internal sealed class PredictShadowWork : ShadowWork
{
    private static readonly ObjectPool<PredictShadowWork> s_pool =
        new DefaultObjectPool<PredictShadowWork>(new DefaultPooledObjectPolicy<PredictShadowWork>(), 1024);

    private Features.PredictExecutor _executor = null!;

    public PredictRequest Request { get; private set; } = null!;

    public string RequestId { get; private set; } = "";

    public long EventTimeUnixMs { get; private set; }

    public string Arm { get; private set; } = "";

    /// <summary>The primary's state fetched from the shared store (null in process): the shadow reads the same events.</summary>
    public Core.Features.SharedLookup? Shared { get; private set; }

    public static PredictShadowWork Create(PredictRequest request, string requestId, long eventTimeUnixMs, string arm, Features.PredictExecutor executor, Core.Features.SharedLookup? shared = null)
    {
        var work = s_pool.Get();
        work.Request = request;
        work.RequestId = requestId;
        work.EventTimeUnixMs = eventTimeUnixMs;
        work.Arm = arm;
        work.Shared = shared;
        work._executor = executor;
        return work;
    }

    public override ValueTask<ShadowOutcome> RunAsync(ShadowTarget target, TimeSpan remaining, CancellationToken cancellationToken) =>
        _executor.RunShadowAsync(this, target, remaining, cancellationToken);

    public override void Release()
    {
        Request = null!;
        _executor = null!;
        Shared = null;
        RequestId = Arm = "";
        s_pool.Return(this);
    }
}
