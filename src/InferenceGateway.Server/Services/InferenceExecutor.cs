using System.Text.Unicode;
using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Models;
using InferenceGateway.Core.PredictionLog;
using InferenceGateway.Core.Routing;
using Grpc.Core;
using InferenceGateway.Server.Services.Wire;

namespace InferenceGateway.Server.Services;

/// <summary>
/// Runs one Open Inference Protocol request against a model version: validates the tensors against the version's
/// config, hands them to the version's batcher (raw inputs without a copy, typed contents through one pooled
/// buffer), and writes the outputs back as raw bytes or typed contents.
/// </summary>
public sealed partial class InferenceExecutor
{
    private readonly ModelRepository _repository;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly ExperimentRouter _router;
    private readonly Experiments.ShadowMirror _shadows;
    private readonly IPredictionRecorder _log;

    /// <summary>Creates the executor over the served models, routed by the experiments in force, recording into the prediction log.</summary>
    public InferenceExecutor(ModelRepository repository, GatewayMetrics metrics, ILogger<InferenceExecutor> logger, IPredictionRecorder log, ExperimentRouter router, Experiments.ShadowMirror shadows)
    {
        _log = log;
        _repository = repository;
        _metrics = metrics;
        _logger = logger;
        _router = router;
        _shadows = shadows;
    }

    /// <summary>
    /// Resolves the version (empty = the gateway's choice), runs the request and fills in the call's response. On
    /// success the call is returned for the response serializer, which writes it and gives it back to its pool; on
    /// failure the exception carries the status and the call goes back to its pool once the caller has seen it.
    /// </summary>
    /// <remarks>
    /// Not an async method: a call that waits for its batch would allocate a state machine box each time (the runtime's
    /// pooling builder keeps one box per thread and per core, far fewer than the calls in flight). Instead the call
    /// itself is the value task's source (<see cref="ModelInferCall.WaitForBatch"/>) and <see cref="EndInfer"/> runs
    /// when the batch is done. The returned value task must be awaited exactly once.
    /// </remarks>
    internal ValueTask<ModelInferCall> InferAsync(ModelInferCall call, DateTime deadline, CancellationToken cancellationToken)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        ModelVersion version;
        try
        {
            ThrowIfNotUtf8(call);
            var model = Utf8Text.Intern(call.ModelName.Of(call.PayloadSpan));
            var route = Route(call, model, Utf8Text.Intern(call.ModelVersion.Of(call.PayloadSpan)));
            version = Acquire(model, route.Version);
            call.ResponseArm = route.Arm;
            call.Experiment = route.Experiment;
        }
        catch (RpcException ex)
        {
            // Unknown models, and requests refused before the lookup, are not labelled by name: a client could otherwise
            // grow the label set without bound.
            _metrics.Record("_unknown", "", "", ex.StatusCode, start);
            Log.CallFailed(_logger, call.GetString(call.Id), call.GetString(call.ModelName), call.GetString(call.ModelVersion), ex.StatusCode, ex.Status.Detail);
            call.Return();
            throw;
        }

        return RunAsync(call, version, start, deadline, cancellationToken);
    }

    /// <summary>
    /// Runs a call on a version it holds a lease on (taken by <see cref="Acquire"/>, given back here): the rest of
    /// <see cref="InferAsync"/>, and a local shadow's whole run. Same contract as <see cref="InferAsync"/>.
    /// </summary>
    internal ValueTask<ModelInferCall> RunAsync(ModelInferCall call, ModelVersion version, long start, DateTime deadline, CancellationToken cancellationToken)
    {
        var batcher = version.Batcher;
        var outputConfigs = version.Config.Outputs;

        // Every buffer of the call (typed inputs converted for the batcher, outputs) belongs to the call; raw inputs are
        // slices of its request bytes.
        BatchRequest? batchRequest = null;
        var rows = 0;
        ValueTask<BatchResult> pending;
        try
        {
            batchRequest = batcher.RentRequest();
            rows = DecodeInputs(version, call, batchRequest);
            batchRequest.Rows = rows;
            call.ResponseModelName = version.Name;
            call.ResponseModelVersion = version.Version;
            call.ResponseOutputConfigs = outputConfigs;
            call.RawOutput = WantsRawOutput(call);
            for (var o = 0; o < outputConfigs.Count; o++)
            {
                if (!IsRequested(call, outputConfigs[o].Name))
                {
                    continue;
                }

                var length = rows * version.OutputSpecs[o].FixedRowBytes;
                if (length < 0)
                {
                    throw new RpcException(new Status(StatusCode.Unimplemented, $"output '{outputConfigs[o].Name}' has a variable shape, which the gateway does not serve yet"));
                }

                var output = call.RentBuffer(length);
                ModelInferCall.Add(ref call.ResponseOutputs, ref call.ResponseOutputCount, new ModelInferCall.ResponseOutput { ConfigIndex = o, Buffer = output, Length = length });
                batchRequest.SetOutput(o, output.AsMemory(0, length));
            }

            if (deadline != DateTime.MaxValue)
            {
                var remaining = deadline - DateTime.UtcNow;
                if (remaining <= TimeSpan.Zero)
                {
                    throw new RpcException(new Status(StatusCode.DeadlineExceeded, "deadline exceeded before the request was queued"));
                }

                batchRequest.Deadline = batcher.GetDeadline(remaining);
            }

            batchRequest.CancellationToken = cancellationToken;
            batchRequest.InlineContinuation = true; // WaitForBatch's continuation only queues the call
            if (call.IsShadow)
            {
                batchRequest.Priority = int.MaxValue; // the lowest level the model has: primaries of the same version go first
            }

            pending = batcher.EnqueueAsync(batchRequest);
        }
        catch (Exception ex)
        {
            Fail(call, version, batchRequest, ex, start);
            call.Return();
            throw;
        }

        var state = new ModelInferCall.InferState(this, version, batchRequest, rows, start);
        if (pending.IsCompleted)
        {
            // Ran on the caller or was refused at once: no wait.
            return new ValueTask<ModelInferCall>(EndInfer(call, state, pending, returnCallOnFailure: true));
        }

        return call.WaitForBatch(state, pending);
    }

    /// <summary>
    /// Ends a call whose batch is done: reads its result (consuming <paramref name="pending"/>), records the response
    /// shapes, the metrics and the log line, and releases the batch request and the version lease. Throws the call's
    /// failure; the call itself goes back to its pool here only when <paramref name="returnCallOnFailure"/> (otherwise
    /// its awaiter gives it back after reading the failure).
    /// </summary>
    internal ModelInferCall EndInfer(ModelInferCall call, in ModelInferCall.InferState state, ValueTask<BatchResult> pending, bool returnCallOnFailure)
    {
        var version = state.Version;
        var batchRequest = state.Request;
        try
        {
            var result = pending.GetAwaiter().GetResult();
            if (!result.IsSuccess)
            {
                throw new RpcException(new Status(ToStatusCode(result.Reason), $"{version}: {result.Message}"));
            }

            SetResponseShapes(version, call, batchRequest, state.Rows);
            if (_log.IsEnabled)
            {
                Record(call, version, batchRequest, state);
            }
        }
        catch (Exception ex)
        {
            Fail(call, version, batchRequest, ex, state.Start);
            if (returnCallOnFailure)
            {
                call.Return();
            }

            throw;
        }

        Release(call, version, batchRequest, StatusCode.OK, state.Start);
        Mirror(call);
        return call;
    }

    /// <summary>
    /// Records a successful ModelInfer call, a primary (with its arm) or a local shadow's copy (its version, the
    /// primary's arm and request id; shadow copies never wait either): one record per call (not per row), copied out of the pooled call, whose
    /// buffers go back to the pool once the response is written. It holds the request <c>id</c> (a UUIDv7 only the log
    /// knows when the client sent none), the version, the rows, the first input's values row after row, named by the
    /// version's <c>features</c> when they describe its row (else unnamed), when the version has one FP32 input and the
    /// values fit <see cref="PredictionLogOptions.MaxValuesPerRecord"/> (else only a flag), the first FP32 output's
    /// values, and the latencies. The event time is the time of the call: OIP carries none. Never waits: under the
    /// PushBack policy a full log drops a ModelInfer record (counted) rather than hold a pooled call.
    /// </summary>
    private void Record(ModelInferCall call, ModelVersion version, BatchRequest batchRequest, in ModelInferCall.InferState state)
    {
        Span<byte> generatedId = stackalloc byte[36];
        scoped ReadOnlySpan<byte> id = call.Id.Of(call.PayloadSpan);
        if (id.IsEmpty)
        {
            if (call.LogRequestId == Guid.Empty)
            {
                call.LogRequestId = Guid.CreateVersion7();
            }

            if (call.LogRequestId.TryFormat(generatedId, out var written, "D"))
            {
                id = generatedId[..written];
            }
        }

        var inputs = version.Config.Inputs;
        var recordInputs = inputs.Count == 1 && inputs[0].Type == TensorDataType.Fp32;
        var features = recordInputs ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(batchRequest.GetInputData(0).Span) : default;
        var rowWidth = version.InputSpecs[0].FixedRowBytes / sizeof(float);
        ReadOnlySpan<float> outputs = default;
        for (var i = 0; i < call.ResponseOutputCount; i++)
        {
            ref readonly var output = ref call.ResponseOutputs[i];
            if (call.ResponseOutputConfigs![output.ConfigIndex].Type == TensorDataType.Fp32)
            {
                outputs = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(output.Buffer.AsSpan(0, output.Length));
                break;
            }
        }

        var entry = new PredictionEntry
        {
            RequestIdUtf8 = id,
            Model = version.Name,
            Version = version.Version,
            Arm = call.ResponseArm,
            Shadow = call.IsShadow,
            EntityId = "",
            FeatureNames = recordInputs && version.Config.Features.Count == rowWidth && rowWidth > 0 ? version.Config.Features : null,
            Features = features,
            Outputs = outputs,
            Rows = state.Rows,
            InputsOmitted = !recordInputs,
            QueueMicroseconds = (long)batchRequest.QueueTime.TotalMicroseconds,
            ComputeMicroseconds = (long)batchRequest.ComputeTime.TotalMicroseconds,
            TotalMicroseconds = (long)System.Diagnostics.Stopwatch.GetElapsedTime(state.Start).TotalMicroseconds,
            Status = (int)StatusCode.OK,
            CannotWait = true,
        };
        _log.TryRecord(entry);
    }

    /// <summary>Logs a failed call and releases its batch request (when rented) and version lease.</summary>
    private void Fail(ModelInferCall call, ModelVersion version, BatchRequest? batchRequest, Exception exception, long start)
    {
        var status = StatusCode.Unknown;
        if (exception is RpcException rpc)
        {
            status = rpc.StatusCode;
            if (status == StatusCode.Internal)
            {
                Log.CallFailedInternal(_logger, call.GetString(call.Id), version.Name, version.Version, rpc.Status.Detail);
            }
            else
            {
                Log.CallFailed(_logger, call.GetString(call.Id), version.Name, version.Version, status, rpc.Status.Detail);
            }
        }

        Release(call, version, batchRequest, status, start);
    }

    /// <summary>Every call's end: the batch request (when rented) and the version lease go back, the metrics record it.</summary>
    private void Release(ModelInferCall call, ModelVersion version, BatchRequest? batchRequest, StatusCode status, long start)
    {
        if (batchRequest is not null)
        {
            version.Batcher.ReturnRequest(batchRequest);
        }

        version.Release();
        if (!call.IsShadow)
        {
            // Shadow copies have their own instruments (gateway_shadow_*): requests count what callers asked.
            _metrics.Record(version.Name, version.Version, call.ResponseArm, status, start);
        }
    }

    /// <summary>
    /// Proto3 string fields must hold valid UTF-8. The codec keeps them as byte slices, so this is where the ones the
    /// gateway acts on are checked: a name that is not text would otherwise be looked up as replacement characters,
    /// and an <c>id</c> is echoed into the response verbatim, where strict parsers (Python's, C++'s, Go's) would
    /// reject the whole response. Tensor names and datatypes need no check: invalid UTF-8 matches no configured name.
    /// </summary>
    private static void ThrowIfNotUtf8(ModelInferCall call)
    {
        var payload = call.PayloadSpan;
        var field = !Utf8.IsValid(call.ModelName.Of(payload)) ? "model_name"
            : !Utf8.IsValid(call.ModelVersion.Of(payload)) ? "model_version"
            : !Utf8.IsValid(call.Id.Of(payload)) ? "id"
            : null;
        if (field is not null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"ModelInferRequest.{field} is not valid UTF-8"));
        }
    }

    /// <summary>Takes a lease on the requested version, or throws NOT_FOUND / UNAVAILABLE.</summary>
    public ModelVersion Acquire(string model, string? version)
    {
        // A version can start draining between lookup and lease; the second lookup sees its replacement.
        for (var attempt = 0; attempt < 2; attempt++)
        {
            if (!_repository.TryGetVersion(model, version, out var found) || found is null)
            {
                if (!_repository.Models.ContainsKey(model))
                {
                    throw new RpcException(new Status(StatusCode.NotFound, $"model '{model}' is not served"));
                }

                throw new RpcException(new Status(StatusCode.NotFound, string.IsNullOrEmpty(version)
                    ? $"model '{model}' has no ready version"
                    : $"model '{model}' has no ready version '{version}'"));
            }

            if (found.TryAcquire())
            {
                return found;
            }
        }

        throw new RpcException(new Status(StatusCode.Unavailable, $"model '{model}' is being reloaded; retry"));
    }

    /// <summary>Maps batcher failures to gRPC status codes (documented in docs/batching.md).</summary>
    public static StatusCode ToStatusCode(BatchFailureReason reason) => reason switch
    {
        BatchFailureReason.QueueFull or BatchFailureReason.Overloaded => StatusCode.ResourceExhausted,
        BatchFailureReason.DeadlineExceeded => StatusCode.DeadlineExceeded,
        BatchFailureReason.Cancelled => StatusCode.Cancelled,
        BatchFailureReason.ShuttingDown => StatusCode.Unavailable,
        BatchFailureReason.InvalidInput => StatusCode.InvalidArgument,
        _ => StatusCode.Internal,
    };

    private static int DecodeInputs(ModelVersion version, ModelInferCall call, BatchRequest batchRequest)
    {
        var configs = version.Config.Inputs;
        if (call.InputCount != configs.Count)
        {
            throw Invalid($"{version} expects {configs.Count} input(s) ({Describe(configs)}); the request has {call.InputCount}");
        }

        var raw = call.RawCount > 0;
        if (raw && call.RawCount != call.InputCount)
        {
            throw Invalid($"raw_input_contents has {call.RawCount} entries but the request has {call.InputCount} inputs; use raw contents for all inputs or none");
        }

        var rows = -1;
        for (var i = 0; i < configs.Count; i++)
        {
            var config = configs[i];
            var index = FindInput(call, config.Name);
            if (index < 0)
            {
                throw Invalid($"{version} has no input '{call.GetString(call.Inputs[i].Name)}'; it expects {Describe(configs)}");
            }

            ref readonly var tensor = ref call.Inputs[index];
            if (!call.TextEquals(tensor.Datatype, config.DataType))
            {
                throw Invalid($"input '{config.Name}' has datatype {call.GetString(tensor.Datatype)}; {version} expects {config.DataType}");
            }

            var tensorRows = CheckShape(version, config, call.Shape(tensor));
            if (rows >= 0 && tensorRows != rows)
            {
                throw Invalid($"inputs disagree on the batch size: {rows} and {tensorRows} rows");
            }

            rows = tensorRows;
            var expectedBytes = (long)tensorRows * version.InputSpecs[i].FixedRowBytes;
            var type = config.Type;
            if (type == TensorDataType.Bytes)
            {
                throw Invalid($"input '{config.Name}' is BYTES, which the batcher does not carry yet");
            }

            if (raw)
            {
                var bytes = call.Raw[index];
                if (bytes.Length != expectedBytes)
                {
                    throw Invalid($"input '{config.Name}': raw_input_contents holds {bytes.Length} bytes; shape [{string.Join(',', call.Shape(tensor).ToArray())}] of {config.DataType} needs {expectedBytes}");
                }

                batchRequest.SetInput(i, call.Payload.AsMemory(bytes.Start, bytes.Length));
            }
            else
            {
                var buffer = call.RentBuffer((int)expectedBytes);
                var elementSize = Math.Max(type.ElementSize(), 1);
                long values;
                try
                {
                    values = ModelInferCodec.CopyContents(call, tensor, type, buffer.AsSpan(0, (int)expectedBytes));
                }
                catch (ProtoFormatException ex)
                {
                    // Typed contents are decoded here, after the deserializer, so the message can name the input.
                    throw Invalid($"input '{config.Name}': malformed contents ({ex.Message})");
                }

                if (values * elementSize != expectedBytes)
                {
                    throw Invalid($"input '{config.Name}': contents hold {values} {config.DataType} values; shape [{string.Join(',', call.Shape(tensor).ToArray())}] needs {expectedBytes / elementSize}");
                }

                batchRequest.SetInput(i, buffer.AsMemory(0, (int)expectedBytes));
            }
        }

        for (var o = 0; o < call.OutputCount; o++)
        {
            if (!HasOutput(version, call, call.Outputs[o].Name))
            {
                throw Invalid($"{version} has no output '{call.GetString(call.Outputs[o].Name)}'; it has {Describe(version.Config.Outputs)}");
            }
        }

        return rows;
    }

    private static bool HasOutput(ModelVersion version, ModelInferCall call, Slice name)
    {
        foreach (var output in version.Config.Outputs)
        {
            if (call.TextEquals(name, output.Name))
            {
                return true;
            }
        }

        return false;
    }

    private static int CheckShape(ModelVersion version, TensorConfig config, ReadOnlySpan<long> shape)
    {
        var dims = config.Dims;
        var ok = shape.Length == dims.Length;
        for (var d = 0; ok && d < dims.Length; d++)
        {
            ok = dims[d] == -1 ? shape[d] >= 1 : shape[d] == dims[d];
        }

        if (!ok)
        {
            throw Invalid($"input '{config.Name}' has shape [{string.Join(',', shape.ToArray())}]; {version} expects [{string.Join(',', dims)}] (-1 = any size >= 1)");
        }

        if (!version.HasBatchDimension)
        {
            return 1;
        }

        var rows = shape[0];
        if (rows > version.Batcher.MaxRows)
        {
            throw Invalid($"input '{config.Name}' has {rows} rows; {version} accepts at most {version.Batcher.MaxRows} per request");
        }

        return (int)rows;
    }

    /// <summary>Records each response output's shape, [rows (when the model batches), ..row shape], for the writer.</summary>
    private static void SetResponseShapes(ModelVersion version, ModelInferCall call, BatchRequest batchRequest, int rows)
    {
        for (var i = 0; i < call.ResponseOutputCount; i++)
        {
            ref var output = ref call.ResponseOutputs[i];
            output.Length = batchRequest.GetOutputLength(output.ConfigIndex);
            output.DimStart = call.ResponseDimCount;
            if (version.HasBatchDimension)
            {
                ModelInferCall.Add(ref call.ResponseDims, ref call.ResponseDimCount, rows);
            }

            foreach (var dim in batchRequest.GetOutputRowShape(output.ConfigIndex))
            {
                ModelInferCall.Add(ref call.ResponseDims, ref call.ResponseDimCount, dim);
            }

            output.DimCount = call.ResponseDimCount - output.DimStart;
        }
    }

    /// <summary>
    /// Raw outputs when the request sent raw inputs, or asked with the <c>binary_data_output</c> request parameter
    /// or a <c>binary_data</c> output parameter (Triton's convention); typed contents otherwise.
    /// </summary>
    private static bool WantsRawOutput(ModelInferCall call)
    {
        if (call.RawCount > 0 || call.BinaryDataOutput)
        {
            return true;
        }

        for (var o = 0; o < call.OutputCount; o++)
        {
            if (call.Outputs[o].BinaryData)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsRequested(ModelInferCall call, string name)
    {
        if (call.OutputCount == 0)
        {
            return true;
        }

        for (var o = 0; o < call.OutputCount; o++)
        {
            if (call.TextEquals(call.Outputs[o].Name, name))
            {
                return true;
            }
        }

        return false;
    }

    private static int FindInput(ModelInferCall call, string name)
    {
        for (var i = 0; i < call.InputCount; i++)
        {
            if (call.TextEquals(call.Inputs[i].Name, name))
            {
                return i;
            }
        }

        return -1;
    }

    private static string Describe(List<TensorConfig> tensors)
    {
        var parts = new string[tensors.Count];
        for (var i = 0; i < tensors.Count; i++)
        {
            parts[i] = $"{tensors[i].Name} {tensors[i].DataType} [{string.Join(',', tensors[i].Dims)}]";
        }

        return string.Join(", ", parts);
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    /// <summary>Failed calls carry the caller's request id (ModelInferRequest.id) so logs join with client traces.</summary>
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Request {RequestId} for {Model}:{Version} failed with {StatusCode}: {Detail}", EventName = "CallFailed")]
        public static partial void CallFailed(ILogger logger, string requestId, string model, string version, StatusCode statusCode, string detail);

        [LoggerMessage(2, LogLevel.Warning, "Request {RequestId} for {Model}:{Version} failed inside the model: {Detail}", EventName = "CallFailedInternal")]
        public static partial void CallFailedInternal(ILogger logger, string requestId, string model, string version, string detail);
    }
}
