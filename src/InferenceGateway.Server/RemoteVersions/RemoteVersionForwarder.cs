using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using InferenceGateway.Core.Models;
using InferenceGateway.Core.PredictionLog;
using InferenceGateway.Core.Routing;
using InferenceGateway.Server.Experiments;
using InferenceGateway.Server.Services;
using InferenceGateway.Server.Services.Wire;
using InferenceGateway.Server.Transport;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace InferenceGateway.Server.RemoteVersions;

/// <summary>
/// ModelInfer for a remote version, forwarded by Yarp.ReverseProxy: runs after the gRPC call middleware has received the
/// request, reads the model, version and sticky key from it, and when the call goes to a remote version hands it to
/// that version's YARP route (load balancing across the replicas, their health, HTTP/2). The request's bytes go on as
/// they came, with the replicas' model and version names appended when they differ (protobuf keeps a field's last
/// value); the answer comes back as it came, with this gateway's version name and the experiment arm appended.
/// Without any remote version it costs one flag read per call.
/// </summary>
internal sealed partial class RemoteVersionForwarder(
    RemoteVersionProxyConfig config,
    RemoteVersionRoutes routes,
    ModelRepository repository,
    ExperimentRouter router,
    ExperimentMetrics experimentMetrics,
    GatewayMetrics metrics,
    ShadowMirror shadows,
    InferenceExecutor executor,
    IPredictionRecorder log,
    ILogger<RemoteVersionForwarder> logger)
{
    private const string ModelInferPath = "/inference.GRPCInferenceService/ModelInfer";

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (!config.HasRemoteVersions || context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method.FullName != ModelInferPath)
        {
            return next(context);
        }

        var reader = context.Request.BodyReader;
        if (!reader.TryRead(out var result))
        {
            return next(context); // not received whole: the gRPC handler reports it
        }

        var buffer = result.Buffer;
        if (buffer.Length < 5 || First(buffer) != 0 || buffer.Length != 5 + ReadLength(buffer))
        {
            // Compressed or malformed: the gRPC handler decodes or refuses it (compressed calls are served locally only).
            reader.AdvanceTo(buffer.Start, buffer.End);
            return next(context);
        }

        var call = ModelInferCall.Rent(buffer.Slice(5));
        try
        {
            ModelInferCodec.ParseCopied(call);
        }
        catch (ProtoFormatException)
        {
            call.Return();
            reader.AdvanceTo(buffer.Start, buffer.End);
            return next(context);
        }

        var model = Utf8Text.Intern(call.ModelName.Of(call.PayloadSpan));
        var requested = Utf8Text.Intern(call.ModelVersion.Of(call.PayloadSpan));
        if (!Decide(call, model, requested, out var remote, out var route))
        {
            call.Return();
            reader.AdvanceTo(buffer.Start, buffer.End);
            return next(context);
        }

        reader.AdvanceTo(buffer.End); // the call is forwarded from the copy
        return ForwardAsync(context, call, remote, route);
    }

    /// <summary>Routes as the gRPC handler would; true when the call goes to a remote version.</summary>
    private bool Decide(ModelInferCall call, string model, string requested, out RemoteVersion remote, out RouteDecision route)
    {
        remote = null!;
        route = default;
        if (!repository.Models.TryGetValue(model, out var served) || served.RemoteVersions.Count == 0)
        {
            return false;
        }

        if (router.TryGet(model, out var experiment))
        {
            route = requested.Length > 0
                ? new RouteDecision(requested, ExperimentValidator.PinnedArm, experiment)
                : ExperimentRouter.Decide(experiment, "", InferenceExecutor.ChooseArm(call, experiment, experimentMetrics));
        }
        else if (requested.Length > 0)
        {
            route = new RouteDecision(requested, "", null);
        }
        else if (served.LatestRemote is { } latest)
        {
            route = new RouteDecision(latest.Version, "", null); // the highest-numbered version is remote
        }
        else
        {
            return false;
        }

        if (!repository.TryGetRemoteVersion(model, route.Version, out var found) || found is null)
        {
            return false;
        }

        remote = found;
        return true;
    }

    private async Task ForwardAsync(HttpContext context, ModelInferCall call, RemoteVersion remote, RouteDecision route)
    {
        var start = Stopwatch.GetTimestamp();
        var grpcEndpoint = context.GetEndpoint();
        var originalBody = context.Request.Body;
        var originalResponse = context.Response.Body;
        var status = StatusCode.Unavailable;
        try
        {
            if (routes.Find(RemoteVersionProxyConfig.RouteId(remote.Model, remote.Version)) is not { RequestDelegate: { } proxy } endpoint)
            {
                GrpcAdmissionMiddleware.AnswerTrailersOnly(context, StatusCode.Unavailable, $"{remote}: its proxy route is not loaded yet; retry");
                return;
            }

            // The request: the message as it came, then the replicas' names when they differ from what it asks.
            var payload = call.PayloadSpan;
            var renameModel = !call.TextEquals(call.ModelName, remote.RemoteModel);
            var renameVersion = !call.TextEquals(call.ModelVersion, remote.RemoteVersionName) || call.ModelVersion.Length == 0;
            var extra = (renameModel ? RemoteOipClient.FieldSize(remote.RemoteModel) : 0) + (renameVersion ? RemoteOipClient.FieldSize(remote.RemoteVersionName) : 0);
            var body = new byte[5 + payload.Length + extra];
            BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(1), (uint)(payload.Length + extra));
            payload.CopyTo(body.AsSpan(5));
            var at = 5 + payload.Length;
            if (renameModel)
            {
                at = RemoteOipClient.WriteField(body, at, 1, remote.RemoteModel);
            }

            if (renameVersion)
            {
                RemoteOipClient.WriteField(body, at, 2, remote.RemoteVersionName);
            }

            context.Request.Body = new MemoryStream(body, writable: false);
            context.Request.ContentLength = null;
            context.Request.Headers.Remove("grpc-accept-encoding"); // an uncompressed answer can be appended to

            // The answer: this gateway's names for what answered, and the arm.
            var suffix = ResponseSuffix(call, remote, route.Arm);
            var appender = new GrpcUnaryResponseAppender(context, originalResponse, suffix, captureOutputs: log.IsEnabled);
            context.Response.Body = appender;
            context.Features.Set(RemoteForwardFeature.Instance);
            context.SetEndpoint(endpoint);
            await proxy(context).ConfigureAwait(false);
            await appender.CompleteAsync(context.RequestAborted).ConfigureAwait(false);

            if (context.Features.Get<IForwarderErrorFeature>() is { Error: not ForwarderError.None } error && !context.Response.HasStarted)
            {
                var detail = error.Error == ForwarderError.NoAvailableDestinations
                    ? $"{remote}: no healthy replica"
                    : $"{remote}: forwarding failed ({error.Error}{(error.Exception is null ? "" : ": " + error.Exception.Message)})";
                context.Response.Headers.Clear();
                GrpcAdmissionMiddleware.AnswerTrailersOnly(context, StatusCode.Unavailable, detail);
                Log.ForwardFailed(logger, remote.ToString(), detail);
                return;
            }

            status = ResponseStatus(context);
            if (status == StatusCode.OK)
            {
                if (log.IsEnabled)
                {
                    Record(call, remote, route.Arm, appender.Outputs, start);
                }

                if (route.Experiment is { HasShadows: true } experiment)
                {
                    shadows.MirrorModelInfer(call, experiment, route.Arm, executor);
                }
            }
        }
        finally
        {
            context.Request.Body = originalBody;
            context.Response.Body = originalResponse;
            context.SetEndpoint(grpcEndpoint);
            metrics.Record(remote.Model, remote.Version, route.Arm, status, start);
            call.Return();
        }
    }

    /// <summary>
    /// Records a forwarded call that the replica answered, as a local primary is recorded: its request id (a UUIDv7
    /// that its shadow copies share when the client sent none), this gateway's version name and arm, the first input's
    /// values when it is one FP32 tensor sent as raw contents (named by the version's <c>features</c> when they
    /// describe its row), the replica's first FP32 output, and the latency through the replica (no queue or compute
    /// split: those happened there).
    /// </summary>
    private void Record(ModelInferCall call, RemoteVersion remote, string arm, float[] outputs, long start)
    {
        Span<byte> generatedId = stackalloc byte[36];
        scoped ReadOnlySpan<byte> id = call.Id.Of(call.PayloadSpan);
        if (id.IsEmpty)
        {
            call.LogRequestId = Guid.CreateVersion7();
            id = call.LogRequestId.TryFormat(generatedId, out var written, "D") ? generatedId[..written] : default;
        }

        ReadOnlySpan<float> features = default;
        var rows = 1;
        if (call.InputCount == 1 && call.RawCount == 1 && call.Inputs[0].Datatype.Of(call.PayloadSpan).SequenceEqual("FP32"u8))
        {
            var raw = call.Raw[0].Of(call.PayloadSpan);
            features = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw[..(raw.Length / sizeof(float) * sizeof(float))]);
            ref readonly var input = ref call.Inputs[0];
            rows = input.ShapeCount > 1 ? (int)Math.Clamp(call.Dims[input.ShapeStart], 1, int.MaxValue) : 1;
        }

        var names = remote.Config.Features;
        log.TryRecord(new PredictionEntry
        {
            RequestIdUtf8 = id,
            EventTimeUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            Model = remote.Model,
            Version = remote.Version,
            Arm = arm,
            EntityId = "",
            FeatureNames = names.Count > 0 && features.Length == names.Count * rows ? names : null,
            Features = features,
            Outputs = outputs,
            Rows = rows,
            InputsOmitted = features.IsEmpty,
            TotalMicroseconds = (long)Stopwatch.GetElapsedTime(start).TotalMicroseconds,
            Status = (int)StatusCode.OK,
            CannotWait = true,
        });
    }

    private static byte[] ResponseSuffix(ModelInferCall call, RemoteVersion remote, string arm)
    {
        var model = remote.Model;
        var length = RemoteOipClient.FieldSize(remote.Version) + (remote.RemoteModel != model ? RemoteOipClient.FieldSize(model) : 0);
        var armEntry = 0;
        if (arm.Length > 0)
        {
            // parameters {"arm": {string_param: arm}}: key field 1, value field 2 holding InferParameter field 3.
            var value = RemoteOipClient.FieldSize(arm);
            armEntry = RemoteOipClient.FieldSize("arm") + 1 + ModelInferCodec.VarintLength((ulong)value) + value;
            length += 1 + ModelInferCodec.VarintLength((ulong)armEntry) + armEntry;
        }

        var suffix = new byte[length];
        var at = 0;
        if (remote.RemoteModel != model)
        {
            at = RemoteOipClient.WriteField(suffix, at, 1, model);
        }

        at = RemoteOipClient.WriteField(suffix, at, 2, remote.Version);
        if (arm.Length > 0)
        {
            at = WriteTagAndLength(suffix, at, 4, armEntry);
            at = RemoteOipClient.WriteField(suffix, at, 1, "arm");
            at = WriteTagAndLength(suffix, at, 2, RemoteOipClient.FieldSize(arm));
            RemoteOipClient.WriteField(suffix, at, 3, arm);
        }

        _ = call;
        return suffix;
    }

    private static int WriteTagAndLength(Span<byte> destination, int at, int field, int length)
    {
        destination[at++] = (byte)((field << 3) | 2);
        var value = (ulong)length;
        while (value >= 0x80)
        {
            destination[at++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[at++] = (byte)value;
        return at;
    }

    private static StatusCode ResponseStatus(HttpContext context)
    {
        var trailers = context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers;
        var text = trailers is not null && trailers.TryGetValue("grpc-status", out var value) ? value.ToString() : context.Response.Headers["grpc-status"].ToString();
        return int.TryParse(text, out var code) && code is >= 0 and <= 16 ? (StatusCode)code : StatusCode.Unknown;
    }

    private static byte First(in ReadOnlySequence<byte> buffer) => buffer.FirstSpan.Length > 0 ? buffer.FirstSpan[0] : buffer.Slice(0, 1).ToArray()[0];

    private static long ReadLength(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> prefix = stackalloc byte[5];
        buffer.Slice(0, 5).CopyTo(prefix);
        return BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "ModelInfer for {Version} not forwarded: {Detail}", EventName = "RemoteForwardFailed")]
        public static partial void ForwardFailed(ILogger logger, string version, string detail);
    }
}

/// <summary>Marks a call the forwarder handed to a remote version's route; YARP routes refuse calls without it.</summary>
internal sealed class RemoteForwardFeature
{
    public static readonly RemoteForwardFeature Instance = new();
}

/// <summary>The YARP route endpoints of remote versions, by route id (looked up again when the configuration changed).</summary>
internal sealed class RemoteVersionRoutes(EndpointDataSource endpoints)
{
    private volatile Dictionary<string, Endpoint> _byId = new(StringComparer.Ordinal);

    public Endpoint? Find(string routeId)
    {
        if (_byId.TryGetValue(routeId, out var endpoint))
        {
            return endpoint;
        }

        var byId = new Dictionary<string, Endpoint>(StringComparer.Ordinal);
        foreach (var candidate in endpoints.Endpoints)
        {
            if (candidate.Metadata.GetMetadata<RouteModel>() is { } route)
            {
                byId[route.Config.RouteId] = candidate;
            }
        }

        _byId = byId;
        return byId.GetValueOrDefault(routeId);
    }
}
