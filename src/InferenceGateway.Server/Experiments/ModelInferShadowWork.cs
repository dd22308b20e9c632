using System.Buffers;
using System.Diagnostics;
using Grpc.Core;
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
    private long _timeUnixMs;
    private string _id = "";

    public static ModelInferShadowWork Create(in ReadOnlySequence<byte> message, ShadowMirror mirror, InferenceExecutor executor, string arm)
    {
        var work = s_pool.Get();
        work._copy = ModelInferCall.Rent(message);
        work._mirror = mirror;
        work._executor = executor;
        work._arm = arm;
        work._timeUnixMs = mirror.Observer.IsEnabled ? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() : 0;
        return work;
    }

    public override ValueTask<ShadowOutcome> RunAsync(ShadowTarget target, TimeSpan remaining, CancellationToken cancellationToken) =>
        target.IsRemote ? RunRemoteAsync(target, remaining, cancellationToken) : RunLocalAsync(target, remaining, cancellationToken);

    private async ValueTask<ShadowOutcome> RunLocalAsync(ShadowTarget target, TimeSpan remaining, CancellationToken cancellationToken)
    {
        var call = _copy!;
        var start = Stopwatch.GetTimestamp();
        try
        {
            ModelInferCodec.ParseCopied(call);
            call.IsShadow = true;
            _id = _mirror.Observer.IsEnabled ? call.GetString(call.Id) : "";
            var version = _executor.Acquire(target.Model, target.LocalVersion!);
            _copy = null; // the executor owns the call from here: it gives it back on failure, we do on success
            var done = await _executor.RunAsync(call, version, start, DateTime.UtcNow + remaining, cancellationToken).ConfigureAwait(false);
            Observe(target, start, InferenceExecutor.FirstFp32Output(done), StatusCode.OK, null);
            done.Return();
            return ShadowOutcome.Ok;
        }
        catch (RpcException ex)
        {
            Observe(target, start, default, ex.StatusCode, ex.Status.Detail);
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
        try
        {
            var copy = _copy!;
            if (_mirror.Observer.IsEnabled)
            {
                ModelInferCodec.ParseCopied(copy);
                _id = copy.GetString(copy.Id);
            }

            var request = RemoteOipClient.Retarget(copy.PayloadSpan, target.RemoteModel, target.RemoteVersion);
            var response = await _mirror.Remote.InferAsync(target.Endpoint!, request, DateTime.UtcNow + remaining, cancellationToken).ConfigureAwait(false);
            Observe(target, start, ShadowMirror.FirstFp32Output(response), StatusCode.OK, null);
            return ShadowOutcome.Ok;
        }
        catch (RpcException ex)
        {
            Observe(target, start, default, ex.StatusCode, ex.Status.Detail);
            return new ShadowOutcome((int)ex.StatusCode, ex.Status.Detail);
        }
    }

    private void Observe(ShadowTarget target, long start, ReadOnlySpan<float> outputs, StatusCode status, string? error)
    {
        var observer = _mirror.Observer;
        if (!observer.IsEnabled)
        {
            return;
        }

        observer.OnPrediction(new PredictionRecord
        {
            Shadow = true,
            Surface = PredictionSurface.ModelInfer,
            RequestId = _id,
            TimeUnixMs = _timeUnixMs,
            Model = target.Model,
            Version = target.Version,
            Arm = _arm,
            ShadowTarget = target.Label,
            Outputs = outputs,
            Latency = Stopwatch.GetElapsedTime(start),
            StatusCode = (int)status,
            Error = error,
        });
    }

    public override void Release()
    {
        _copy?.Return();
        _copy = null;
        _mirror = null!;
        _executor = null!;
        _arm = _id = "";
        s_pool.Return(this);
    }
}
