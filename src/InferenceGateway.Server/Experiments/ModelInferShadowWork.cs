using System.Buffers;
using System.Diagnostics;
using Grpc.Core;
using InferenceGateway.Core.PredictionLog;
using InferenceGateway.Core.Routing;
using InferenceGateway.Server.Services;
using InferenceGateway.Server.Services.Wire;
using Microsoft.Extensions.ObjectPool;

namespace InferenceGateway.Server.Experiments;

/// <summary>
/// A shadow copy of a ModelInfer request: the request's bytes in a pooled call (copied on the request path, parsed on
/// the lane), run on a local version through the same executor as primaries, or sent to a remote endpoint.
/// </summary>
internal sealed class ModelInferShadowWork : ShadowWork
{
    private static readonly ObjectPool<ModelInferShadowWork> s_pool =
        new DefaultObjectPool<ModelInferShadowWork>(new DefaultPooledObjectPolicy<ModelInferShadowWork>(), 1024);

    private ModelInferCall? _copy;
    private ShadowMirror _mirror = null!;
    private InferenceExecutor _executor = null!;
    private string _arm = "";
    private Guid _logRequestId;
    private long _timeUnixMs;

    /// <summary>
    /// Copies a primary's request for one shadow: its bytes, the arm it was routed to, and the request id the log knows
    /// it by when it carries none (<paramref name="logRequestId"/>; empty when not recorded), so the records join.
    /// </summary>
    public static ModelInferShadowWork Create(in ReadOnlySequence<byte> message, ShadowMirror mirror, InferenceExecutor executor, string arm, Guid logRequestId)
    {
        var work = s_pool.Get();
        work._copy = ModelInferCall.Rent(message);
        work._mirror = mirror;
        work._executor = executor;
        work._arm = arm;
        work._logRequestId = logRequestId;
        work._timeUnixMs = mirror.Log.IsEnabled ? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() : 0;
        return work;
    }

    public override ValueTask<ShadowOutcome> RunAsync(ShadowTarget target, TimeSpan remaining, CancellationToken cancellationToken) =>
        target.IsRemote ? RunRemoteAsync(target, remaining, cancellationToken) : RunLocalAsync(target, remaining, cancellationToken);

    /// <summary>
    /// A local shadow runs through the primaries' executor as a shadow call: a success is recorded there with the inputs
    /// its version decoded (<see cref="InferenceExecutor"/>'s record), a failure here with its status and latency.
    /// </summary>
    private async ValueTask<ShadowOutcome> RunLocalAsync(ShadowTarget target, TimeSpan remaining, CancellationToken cancellationToken)
    {
        var call = _copy!;
        var start = Stopwatch.GetTimestamp();
        var copied = default(CopiedRequest);
        try
        {
            ModelInferCodec.ParseCopied(call);
            call.IsShadow = true;
            call.ResponseArm = _arm;
            call.LogRequestId = _logRequestId;
            copied = Describe(call); // read now: on failure the executor has given the call back before we see it
            var version = _executor.Acquire(target.Model, target.LocalVersion!);
            _copy = null; // the executor owns the call from here: it gives it back on failure, we do on success
            var done = await _executor.RunAsync(call, version, start, DateTime.UtcNow + remaining, cancellationToken).ConfigureAwait(false);
            done.Return();
            return ShadowOutcome.Ok;
        }
        catch (RpcException ex)
        {
            Record(copied, target, start, default, ex.StatusCode);
            return new ShadowOutcome((int)ex.StatusCode, ex.Status.Detail);
        }
        catch (ProtoFormatException ex)
        {
            return new ShadowOutcome((int)StatusCode.InvalidArgument, ex.Message);
        }
    }

    private async ValueTask<ShadowOutcome> RunRemoteAsync(ShadowTarget target, TimeSpan remaining, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var copy = _copy!;
        var copied = default(CopiedRequest);
        try
        {
            if (_mirror.Log.IsEnabled)
            {
                ModelInferCodec.ParseCopied(copy);
                copied = Describe(copy);
            }

            var request = RemoteOipClient.Retarget(copy.PayloadSpan, target.RemoteModel, target.RemoteVersion);
            var response = await _mirror.Remote.InferAsync(target.Endpoint!, request, DateTime.UtcNow + remaining, cancellationToken).ConfigureAwait(false);
            Record(copied, target, start, ShadowMirror.FirstFp32Output(response), StatusCode.OK);
            return ShadowOutcome.Ok;
        }
        catch (RpcException ex)
        {
            Record(copied, target, start, default, ex.StatusCode);
            return new ShadowOutcome((int)ex.StatusCode, ex.Status.Detail);
        }
    }

    /// <summary>What a shadow's record needs of the copied request: its id (empty: the primary's log id) and its rows.</summary>
    private readonly record struct CopiedRequest(string Id, int Rows);

    private CopiedRequest Describe(ModelInferCall call)
    {
        if (!_mirror.Log.IsEnabled)
        {
            return default;
        }

        var rows = call.InputCount > 0 && call.Inputs[0].ShapeCount > 0 ? (int)call.Dims[call.Inputs[0].ShapeStart] : 1;
        return new CopiedRequest(call.GetString(call.Id), rows);
    }

    /// <summary>
    /// Records a shadow result that <see cref="InferenceExecutor"/> did not: a remote shadow's (its inputs are the
    /// primary's request, not recorded again) or a failed local one's. Never waits: shadows must not hold the log.
    /// </summary>
    private void Record(CopiedRequest copied, ShadowTarget target, long start, ReadOnlySpan<float> outputs, StatusCode status)
    {
        var log = _mirror.Log;
        if (!log.IsEnabled || copied.Id is null)
        {
            return; // the log is off, or the copy could not be parsed (nothing to join it to)
        }

        var id = copied.Id.Length > 0 ? copied.Id : (_logRequestId == Guid.Empty ? Guid.CreateVersion7() : _logRequestId).ToString();
        log.TryRecord(new PredictionEntry
        {
            RequestId = id,
            EventTimeUnixMs = _timeUnixMs,
            Model = target.Model,
            Version = ShadowMirror.RecordedVersion(target),
            Arm = _arm,
            Shadow = true,
            EntityId = "",
            Outputs = outputs,
            Rows = Math.Max(copied.Rows, 1),
            InputsOmitted = true,
            TotalMicroseconds = (long)Stopwatch.GetElapsedTime(start).TotalMicroseconds,
            Status = (int)status,
            CannotWait = true,
        });
    }

    public override void Release()
    {
        _copy?.Return();
        _copy = null;
        _mirror = null!;
        _executor = null!;
        _arm = "";
        _logRequestId = Guid.Empty;
        s_pool.Return(this);
    }
}
