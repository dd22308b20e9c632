using System.Buffers;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.PredictionLog;
using InferenceGateway.Core.Routing;
using InferenceGateway.Server.Services;
using InferenceGateway.Server.Services.Wire;

namespace InferenceGateway.Server.Experiments;

/// <summary>
/// Makes the copies of a primary request for its experiment's sampled shadows and queues them on the shadow lanes
/// (<see cref="ShadowDispatcher"/>). Called on the request path: it copies what the shadow needs and returns; it never
/// waits and never throws into the primary.
/// </summary>
public sealed class ShadowMirror : IDisposable
{
    private readonly ShadowDispatcher _dispatcher;

    /// <summary>Creates the mirror over the shadow lanes.</summary>
    public ShadowMirror(ShadowDispatcher dispatcher, ExperimentMetrics metrics, IPredictionRecorder log)
    {
        _dispatcher = dispatcher;
        Metrics = metrics;
        Log = log;
    }

    /// <summary>The shadow and experiment instruments.</summary>
    public ExperimentMetrics Metrics { get; }

    /// <summary>The prediction log, where every shadow result is recorded beside its primary (never waited for).</summary>
    public IPredictionRecorder Log { get; }

    /// <summary>
    /// The version a shadow's records carry: a local shadow's version, a remote one's target label
    /// (<c>http://host:port/model:version</c>), so evaluation never groups a remote endpoint with a local version of the
    /// same number.
    /// </summary>
    internal static string RecordedVersion(ShadowTarget target) => target.IsRemote ? target.Label : target.Version;

    internal RemoteOipClient Remote { get; } = new();

    /// <summary>Copies a ModelInfer call that succeeded (run locally, or forwarded to a remote version) for each sampled shadow.</summary>
    internal void MirrorModelInfer(ModelInferCall primary, Experiment experiment, string arm, InferenceExecutor executor)
    {
        var shadows = experiment.Shadows;
        for (var i = 0; i < shadows.Count; i++)
        {
            var target = shadows[i];
            if (target.Sample() && !_dispatcher.DropIfFull(target))
            {
                Dispatch(target, ModelInferShadowWork.Create(new ReadOnlySequence<byte>(primary.Payload, 0, primary.PayloadLength), this, executor, arm, primary.LogRequestId));
            }
        }
    }

    /// <summary>Hands a Predict request to each sampled shadow (the request message is immutable once parsed: no copy).</summary>
    internal void MirrorPredict(PredictRequest request, string requestId, long eventTimeUnixMs, Experiment experiment, string arm, Features.PredictExecutor executor,
        Core.Features.SharedLookup? shared = null)
    {
        var shadows = experiment.Shadows;
        for (var i = 0; i < shadows.Count; i++)
        {
            var target = shadows[i];
            if (target.Sample() && !_dispatcher.DropIfFull(target))
            {
                Dispatch(target, PredictShadowWork.Create(request, requestId, eventTimeUnixMs, arm, executor, shared));
            }
        }
    }

    private void Dispatch(ShadowTarget target, ShadowWork work) => _dispatcher.TryDispatch(target, work);

    /// <inheritdoc />
    public void Dispose() => Remote.Dispose();

    /// <summary>The first output of a remote answer as FP32 values (raw or typed contents); empty otherwise.</summary>
    internal static float[] FirstFp32Output(ModelInferResponse response)
    {
        if (response.Outputs.Count == 0 || response.Outputs[0].Datatype != "FP32")
        {
            return [];
        }

        if (response.RawOutputContents.Count > 0)
        {
            return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(response.RawOutputContents[0].Span).ToArray();
        }

        return response.Outputs[0].Contents is { } contents ? [.. contents.Fp32Contents] : [];
    }
}
