using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Grpc.Core;
using InferenceGateway.Core.Models;
using InferenceGateway.Core.Routing;
using InferenceGateway.Server.Services.Wire;

namespace InferenceGateway.Server.Services;

/// <summary>ModelInfer under experiments: the arm of a call that leaves its version empty, and the copies for its shadows.</summary>
public sealed partial class InferenceExecutor
{
    private static ReadOnlySpan<byte> EntityIdParameter => "entity_id"u8;

    /// <summary>
    /// Where a call goes: without an experiment, the version it names (empty: the latest); with one, a named version is
    /// pinned and an empty one gets its key's arm. The key is the request parameter <c>entity_id</c> or
    /// <c>&lt;name&gt;</c>, or the request's <c>id</c>; a call without its key is routed by its <c>id</c>, or at random.
    /// Allocates nothing.
    /// </summary>
    internal RouteDecision Route(ModelInferCall call, string model, string requestedVersion)
    {
        if (!_router.TryGet(model, out var experiment))
        {
            return new RouteDecision(requestedVersion, "", null);
        }

        if (requestedVersion.Length > 0)
        {
            return new RouteDecision(requestedVersion, ExperimentValidator.PinnedArm, experiment);
        }

        return ExperimentRouter.Decide(experiment, "", ChooseArm(call, experiment, _shadows.Metrics));
    }

    /// <summary>The arm of a call under <paramref name="experiment"/> (shared with the remote-version forwarder).</summary>
    internal static ExperimentArm ChooseArm(ModelInferCall call, Experiment experiment, ExperimentMetrics metrics)
    {
        Span<byte> scratch = stackalloc byte[24];
        var payload = call.PayloadSpan;
        var key = experiment.KeyKind switch
        {
            StickyKeyKind.RequestId => call.Id.Of(payload),
            StickyKeyKind.EntityId => ModelInferCodec.ParameterKey(call, EntityIdParameter, scratch),
            _ => ParameterKey(call, experiment.KeyAttribute!, scratch),
        };
        if (!key.IsEmpty)
        {
            return experiment.ChooseArm(key);
        }

        metrics.Unkeyed(experiment.Model);
        return call.Id.Length > 0 ? experiment.ChooseArm(call.Id.Of(payload)) : experiment.ChooseArmAtRandom();
    }

    private static ReadOnlySpan<byte> ParameterKey(ModelInferCall call, string name, Span<byte> scratch)
    {
        Span<byte> utf8 = stackalloc byte[256];
        return Encoding.UTF8.TryGetBytes(name, utf8, out var written) ? ModelInferCodec.ParameterKey(call, utf8[..written], scratch) : default;
    }

    /// <summary>
    /// Once a primary call has succeeded: a copy of the request for each sampled shadow (its record is
    /// <see cref="Record"/>'s). Copies are queued, never awaited; a full queue drops them. A failed primary is not
    /// copied: an overloaded or refused request must not bring more work.
    /// </summary>
    private void Mirror(ModelInferCall call)
    {
        if (!call.IsShadow && call.Experiment is { HasShadows: true } experiment)
        {
            _shadows.MirrorModelInfer(call, experiment, call.ResponseArm, this);
        }
    }
}
