using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Grpc.Core;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Features;
using InferenceGateway.Core.Models;
using InferenceGateway.Core.PredictionLog;
using InferenceGateway.Core.Routing;
using InferenceGateway.Server.Experiments;

namespace InferenceGateway.Server.Features;

/// <summary>Predict under experiments: the arm of a request that leaves its version empty, and its shadows' runs and records.</summary>
public sealed partial class PredictExecutor
{
    private readonly ConditionalWeakTable<ShadowTarget, RemoteShadowPlan> _remotePlans = new();

    /// <summary>
    /// Where a request goes: without an experiment, the version it names (empty: the latest); with one, a named version
    /// is pinned and an empty one gets its key's arm (a request without its key is routed by its request id). A remote
    /// version is refused: Predict builds the input row here, and remote versions take ModelInfer.
    /// </summary>
    private RouteDecision Route(PredictRequest request, string requestId)
    {
        RouteDecision route;
        if (!_router.TryGet(request.Model, out var experiment))
        {
            route = new RouteDecision(request.Version, "", null);
        }
        else if (request.Version.Length > 0)
        {
            route = new RouteDecision(request.Version, ExperimentValidator.PinnedArm, experiment);
        }
        else
        {
            var key = experiment.KeyKind switch
            {
                StickyKeyKind.EntityId => request.EntityId,
                StickyKeyKind.RequestId => requestId,
                _ => request.Attributes.TryGetValue(experiment.KeyAttribute!, out var value) ? value : "",
            };
            if (key.Length == 0)
            {
                _shadows.Metrics.Unkeyed(experiment.Model);
                key = requestId;
            }

            var arm = experiment.ChooseArm(key.AsSpan());
            route = new RouteDecision(arm.Version, arm.Name, experiment);
        }

        if (route.Version.Length > 0 && _repository.TryGetRemoteVersion(request.Model, route.Version, out var remote))
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"{remote}: Predict serves local versions; call ModelInfer, which the gateway forwards to remote versions"));
        }

        return route;
    }

    /// <summary>Runs one shadow copy: a local version with its own features, or a remote endpoint with a ModelInfer built from them.</summary>
    internal async ValueTask<ShadowOutcome> RunShadowAsync(PredictShadowWork work, ShadowTarget target, TimeSpan remaining, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        float[]? features = null;
        bool[]? defaulted = null;
        IReadOnlyList<string> names = [];
        float[] outputs = [];
        var timing = default(BatchTiming);
        var status = StatusCode.OK;
        string? error = null;
        try
        {
            if (target.IsRemote)
            {
                var remote = _remotePlans.GetValue(target, t => RemoteShadowPlan.Create(t, _repository, _features));
                if (remote.Error is { } planError)
                {
                    throw planError;
                }

                names = remote.Plan.FeatureNames;
                (features, defaulted) = Assemble(remote.Plan, work);
                var request = new ModelInferRequest { ModelName = target.RemoteModel, ModelVersion = target.RemoteVersion, Id = work.RequestId };
                var tensor = new ModelInferRequest.Types.InferInputTensor { Name = remote.InputName, Datatype = "FP32" };
                tensor.Shape.Add([1, features.Length]);
                request.Inputs.Add(tensor);
                request.RawInputContents.Add(ByteString.CopyFrom(MemoryMarshal.AsBytes(features.AsSpan())));
                var response = await _shadows.Remote.InferAsync(target.Endpoint!, request.ToByteArray(), DateTime.UtcNow + remaining, cancellationToken).ConfigureAwait(false);
                outputs = ShadowMirror.FirstFp32Output(response);
            }
            else
            {
                var version = _versions.Acquire(target.Model, target.LocalVersion!);
                try
                {
                    var plan = PlanFor(version);
                    names = plan.Plan.FeatureNames;
                    (features, defaulted) = Assemble(plan.Plan, work);
                    (outputs, timing) = await RunLocalAsync(version, plan, features, remaining, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    version.Release();
                }
            }
        }
        catch (RpcException ex)
        {
            status = ex.StatusCode;
            error = ex.Status.Detail;
        }

        if (_log.IsEnabled)
        {
            RecordShadow(work, target, names, features, defaulted, outputs, timing, start, status);
        }

        return status == StatusCode.OK ? ShadowOutcome.Ok : new ShadowOutcome((int)status, error);
    }

    /// <summary>
    /// Records a shadow's result, whatever its outcome: the primary's request id, event time and arm, the shadow's
    /// version (a remote one's target label, so it is never taken for a local version of the same number), the features
    /// its own version used, its scores, and its status and latency. Never waits: shadows must not hold the log.
    /// </summary>
    private void RecordShadow(PredictShadowWork work, ShadowTarget target, IReadOnlyList<string> names, float[]? features, bool[]? defaulted, float[] outputs, BatchTiming timing, long start, StatusCode status)
    {
        _log.TryRecord(new PredictionEntry
        {
            RequestId = work.RequestId,
            EventTimeUnixMs = work.EventTimeUnixMs,
            Model = target.Model,
            Version = ShadowMirror.RecordedVersion(target),
            Arm = work.Arm,
            Shadow = true,
            EntityId = work.Request.EntityId,
            FeatureNames = features is null ? null : names,
            Features = features,
            Defaulted = defaulted,
            Outputs = outputs,
            Rows = 1,
            QueueMicroseconds = timing.QueueMicroseconds,
            ComputeMicroseconds = timing.ComputeMicroseconds,
            TotalMicroseconds = (long)Stopwatch.GetElapsedTime(start).TotalMicroseconds,
            Status = (int)status,
            CannotWait = true,
        });
    }

    /// <summary>The shadow version's features for the copied request, as of its event time, with their defaulted flags.</summary>
    private static (float[] Values, bool[] Defaulted) Assemble(FeatureVectorPlan plan, PredictShadowWork work)
    {
        var values = new float[plan.Count];
        var defaulted = new bool[plan.Count];
        var request = work.Request;
        var assembled = plan.Assemble(new FeatureRequest(request.EntityId, work.EventTimeUnixMs, request.Features, request.Attributes), values, defaulted, work.Shared);
        return assembled.IsSuccess ? (values, defaulted) : throw Invalid(assembled.Message);
    }

    private static async ValueTask<(float[] Outputs, BatchTiming Timing)> RunLocalAsync(ModelVersion version, VersionPlan plan, float[] features, TimeSpan remaining, CancellationToken cancellationToken)
    {
        var output = ArrayPool<byte>.Shared.Rent(plan.OutputBytes);
        var batchRequest = version.Batcher.RentRequest();
        try
        {
            batchRequest.Rows = 1;
            batchRequest.SetInput(0, MemoryMarshal.AsBytes(features.AsSpan()).ToArray());
            batchRequest.SetOutput(0, output.AsMemory(0, plan.OutputBytes));
            batchRequest.Priority = int.MaxValue; // the lowest level the model has: primaries of the same version go first
            batchRequest.Deadline = version.Batcher.GetDeadline(remaining);
            batchRequest.CancellationToken = cancellationToken;
            var result = await version.Batcher.EnqueueAsync(batchRequest).ConfigureAwait(false);
            if (!result.IsSuccess)
            {
                throw new RpcException(new Status(Services.InferenceExecutor.ToStatusCode(result.Reason), $"{version}: {result.Message}"));
            }

            var timing = new BatchTiming((long)batchRequest.QueueTime.TotalMicroseconds, (long)batchRequest.ComputeTime.TotalMicroseconds);
            return (MemoryMarshal.Cast<byte, float>(output.AsSpan(0, plan.OutputBytes)).ToArray(), timing);
        }
        finally
        {
            version.Batcher.ReturnRequest(batchRequest);
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    /// <summary>A local shadow's time queued in the batcher and in its batch's run, microseconds (zero for a remote one).</summary>
    private readonly record struct BatchTiming(long QueueMicroseconds, long ComputeMicroseconds);

    /// <summary>
    /// The features and input tensor a remote shadow gets: those its version lists in this model's config.json when it
    /// is declared there (a remote version's entry), else those of the model's latest local version.
    /// </summary>
    private sealed class RemoteShadowPlan
    {
        public FeatureVectorPlan Plan { get; private init; } = null!;

        public string InputName { get; private init; } = "";

        public RpcException? Error { get; private init; }

        public static RemoteShadowPlan Create(ShadowTarget target, ModelRepository repository, FeatureEngine features)
        {
            VersionConfig? config = null;
            if (repository.Models.TryGetValue(target.Model, out var served))
            {
                if (served.Config.Versions.TryGetValue(target.RemoteVersion, out var declared) && declared.Features.Count > 0)
                {
                    config = declared;
                }
                else if (served.Latest is { } latest)
                {
                    config = latest.Config;
                }
            }

            if (config is null || config.Features.Count == 0)
            {
                return Fail($"shadow {target.Label}: model '{target.Model}' declares no features for version '{target.RemoteVersion}' and has no local version that lists any");
            }

            if (!features.TryCreatePlan(config.Features, out var plan, out var unknown))
            {
                return Fail($"shadow {target.Label}: unknown features {string.Join(", ", unknown)}");
            }

            return new RemoteShadowPlan { Plan = plan, InputName = config.Inputs.Count > 0 ? config.Inputs[0].Name : "features" };
        }

        private static RemoteShadowPlan Fail(string message) => new() { Error = new RpcException(new Status(StatusCode.FailedPrecondition, message)) };
    }
}
