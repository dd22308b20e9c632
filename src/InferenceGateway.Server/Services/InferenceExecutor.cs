using System.Buffers;
using System.Runtime.InteropServices;
using Google.Protobuf;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Models;
using InferenceGateway.Grpc;

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

    /// <summary>Creates the executor over the served models.</summary>
    public InferenceExecutor(ModelRepository repository, GatewayMetrics metrics, ILogger<InferenceExecutor> logger)
    {
        _repository = repository;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Resolves the version (empty = the gateway's choice), runs the request and builds the response.</summary>
    /// <remarks>One async method for the whole call (lease, batch, response, metrics): each further level would cost a
    /// state machine allocation per request.</remarks>
    public async Task<ModelInferResponse> InferAsync(ModelInferRequest request, DateTime deadline, CancellationToken cancellationToken)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        ModelVersion version;
        try
        {
            version = Acquire(request.ModelName, request.ModelVersion);
        }
        catch (RpcException ex)
        {
            // Unknown models are not labelled by name: a client could otherwise grow the label set without bound.
            _metrics.Record("_unknown", "", "", ex.StatusCode, start);
            Log.CallFailed(_logger, request.Id, request.ModelName, request.ModelVersion, ex.StatusCode, ex.Status.Detail);
            throw;
        }

        var status = StatusCode.Unknown;
        var batcher = version.Batcher;
        var outputConfigs = version.Config.Outputs;

        // Every pooled buffer of the call in one rented array: the inputs' first, then one per output from outputStart.
        byte[][]? rented = null;
        var rentedCount = 0;
        BatchRequest? batchRequest = null;
        try
        {
            rented = ArrayPool<byte[]>.Shared.Rent(version.Config.Inputs.Count + outputConfigs.Count);
            batchRequest = batcher.RentRequest();
            var rows = DecodeInputs(version, request, batchRequest, rented, ref rentedCount);
            batchRequest.Rows = rows;
            var outputStart = rentedCount;
            for (var o = 0; o < outputConfigs.Count; o++)
            {
                var length = rows * version.OutputSpecs[o].FixedRowBytes;
                if (length < 0)
                {
                    throw new RpcException(new Status(StatusCode.Unimplemented, $"output '{outputConfigs[o].Name}' has a variable shape, which the gateway does not serve yet"));
                }

                var output = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
                rented[rentedCount++] = output;
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
            var result = await batcher.EnqueueAsync(batchRequest).ConfigureAwait(false);
            if (!result.IsSuccess)
            {
                throw new RpcException(new Status(ToStatusCode(result.Reason), $"{version}: {result.Message}"));
            }

            var response = EncodeResponse(version, request, batchRequest, rented.AsSpan(outputStart, outputConfigs.Count), rows);
            status = StatusCode.OK;
            return response;
        }
        catch (RpcException ex)
        {
            status = ex.StatusCode;
            if (status == StatusCode.Internal)
            {
                Log.CallFailedInternal(_logger, request.Id, version.Name, version.Version, ex.Status.Detail);
            }
            else
            {
                Log.CallFailed(_logger, request.Id, version.Name, version.Version, status, ex.Status.Detail);
            }

            throw;
        }
        finally
        {
            if (batchRequest is not null)
            {
                batcher.ReturnRequest(batchRequest);
            }

            if (rented is not null)
            {
                for (var i = 0; i < rentedCount; i++)
                {
                    ArrayPool<byte>.Shared.Return(rented[i]);
                }

                ArrayPool<byte[]>.Shared.Return(rented, clearArray: true);
            }

            version.Release();
            _metrics.Record(version.Name, version.Version, "", status, start);
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
        BatchFailureReason.QueueFull => StatusCode.ResourceExhausted,
        BatchFailureReason.DeadlineExceeded => StatusCode.DeadlineExceeded,
        BatchFailureReason.Cancelled => StatusCode.Cancelled,
        BatchFailureReason.ShuttingDown => StatusCode.Unavailable,
        BatchFailureReason.InvalidInput => StatusCode.InvalidArgument,
        _ => StatusCode.Internal,
    };

    private static int DecodeInputs(ModelVersion version, ModelInferRequest request, BatchRequest batchRequest, byte[][] rented, ref int rentedCount)
    {
        var configs = version.Config.Inputs;
        if (request.Inputs.Count != configs.Count)
        {
            throw Invalid($"{version} expects {configs.Count} input(s) ({Describe(configs)}); the request has {request.Inputs.Count}");
        }

        var raw = request.RawInputContents.Count > 0;
        if (raw && request.RawInputContents.Count != request.Inputs.Count)
        {
            throw Invalid($"raw_input_contents has {request.RawInputContents.Count} entries but the request has {request.Inputs.Count} inputs; use raw contents for all inputs or none");
        }

        var rows = -1;
        for (var i = 0; i < configs.Count; i++)
        {
            var config = configs[i];
            var index = FindInput(request, config.Name);
            if (index < 0)
            {
                throw Invalid($"{version} has no input '{request.Inputs[i].Name}'; it expects {Describe(configs)}");
            }

            var tensor = request.Inputs[index];
            if (tensor.Datatype != config.DataType)
            {
                throw Invalid($"input '{config.Name}' has datatype {tensor.Datatype}; {version} expects {config.DataType}");
            }

            var tensorRows = CheckShape(version, config, tensor);
            if (rows >= 0 && tensorRows != rows)
            {
                throw Invalid($"inputs disagree on the batch size: {rows} and {tensorRows} rows");
            }

            rows = tensorRows;
            var expectedBytes = (long)tensorRows * version.InputSpecs[i].FixedRowBytes;
            if (config.Type == TensorDataType.Bytes)
            {
                throw Invalid($"input '{config.Name}' is BYTES, which the batcher does not carry yet");
            }

            if (raw)
            {
                var bytes = request.RawInputContents[index].Memory;
                if (bytes.Length != expectedBytes)
                {
                    throw Invalid($"input '{config.Name}': raw_input_contents holds {bytes.Length} bytes; shape [{string.Join(',', tensor.Shape)}] of {config.DataType} needs {expectedBytes}");
                }

                batchRequest.SetInput(i, bytes);
            }
            else
            {
                var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(expectedBytes, 1));
                rented[rentedCount++] = buffer;
                var written = CopyContents(config, tensor, buffer.AsSpan(0, (int)expectedBytes));
                if (written != expectedBytes)
                {
                    throw Invalid($"input '{config.Name}': contents hold {written / Math.Max(config.Type.ElementSize(), 1)} {config.DataType} values; shape [{string.Join(',', tensor.Shape)}] needs {expectedBytes / config.Type.ElementSize()}");
                }

                batchRequest.SetInput(i, buffer.AsMemory(0, (int)expectedBytes));
            }
        }

        foreach (var output in request.Outputs)
        {
            if (!version.Config.Outputs.Exists(o => o.Name == output.Name))
            {
                throw Invalid($"{version} has no output '{output.Name}'; it has {Describe(version.Config.Outputs)}");
            }
        }

        return rows;
    }

    private static int CheckShape(ModelVersion version, TensorConfig config, ModelInferRequest.Types.InferInputTensor tensor)
    {
        var dims = config.Dims;
        var shape = tensor.Shape;
        var ok = shape.Count == dims.Length;
        for (var d = 0; ok && d < dims.Length; d++)
        {
            ok = dims[d] == -1 ? shape[d] >= 1 : shape[d] == dims[d];
        }

        if (!ok)
        {
            throw Invalid($"input '{config.Name}' has shape [{string.Join(',', shape)}]; {version} expects [{string.Join(',', dims)}] (-1 = any size >= 1)");
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

    private static long CopyContents(TensorConfig config, ModelInferRequest.Types.InferInputTensor tensor, Span<byte> destination)
    {
        var contents = tensor.Contents;
        if (contents is null)
        {
            return 0;
        }

        return config.Type switch
        {
            TensorDataType.Fp32 => Copy(contents.Fp32Contents, MemoryMarshal.Cast<byte, float>(destination)) * 4L,
            TensorDataType.Fp64 => Copy(contents.Fp64Contents, MemoryMarshal.Cast<byte, double>(destination)) * 8L,
            TensorDataType.Int64 => Copy(contents.Int64Contents, MemoryMarshal.Cast<byte, long>(destination)) * 8L,
            TensorDataType.Int32 => Copy(contents.IntContents, MemoryMarshal.Cast<byte, int>(destination)) * 4L,
            TensorDataType.Bool => Copy(contents.BoolContents, MemoryMarshal.Cast<byte, bool>(destination)),
            _ => 0,
        };
    }

    private static int Copy<T>(Google.Protobuf.Collections.RepeatedField<T> source, Span<T> destination)
    {
        if (source.Count != destination.Length)
        {
            return source.Count;
        }

        for (var i = 0; i < source.Count; i++)
        {
            destination[i] = source[i];
        }

        return source.Count;
    }

    private static ModelInferResponse EncodeResponse(ModelVersion version, ModelInferRequest request, BatchRequest batchRequest, ReadOnlySpan<byte[]> outputs, int rows)
    {
        var response = new ModelInferResponse { ModelName = version.Name, ModelVersion = version.Version, Id = request.Id };
        var raw = WantsRawOutput(request);
        var configs = version.Config.Outputs;

        // Exact capacities: a repeated field's first Add otherwise allocates room for eight entries.
        var requested = request.Outputs.Count == 0 ? configs.Count : request.Outputs.Count;
        response.Outputs.Capacity = requested;
        if (raw)
        {
            response.RawOutputContents.Capacity = requested;
        }

        for (var o = 0; o < configs.Count; o++)
        {
            if (!IsRequested(request, configs[o].Name))
            {
                continue;
            }

            var config = configs[o];
            var tensor = new ModelInferResponse.Types.InferOutputTensor { Name = config.Name, Datatype = config.DataType };
            var rowShape = batchRequest.GetOutputRowShape(o);
            tensor.Shape.Capacity = rowShape.Length + (version.HasBatchDimension ? 1 : 0);
            if (version.HasBatchDimension)
            {
                tensor.Shape.Add(rows);
            }

            foreach (var dim in rowShape)
            {
                tensor.Shape.Add(dim);
            }

            var bytes = outputs[o].AsSpan(0, batchRequest.GetOutputLength(o));
            if (raw)
            {
                response.RawOutputContents.Add(ByteString.CopyFrom(bytes));
            }
            else
            {
                tensor.Contents = new InferTensorContents();
                switch (config.Type)
                {
                    case TensorDataType.Fp32:
                        AddAll(tensor.Contents.Fp32Contents, MemoryMarshal.Cast<byte, float>(bytes));
                        break;
                    case TensorDataType.Fp64:
                        AddAll(tensor.Contents.Fp64Contents, MemoryMarshal.Cast<byte, double>(bytes));
                        break;
                    case TensorDataType.Int64:
                        AddAll(tensor.Contents.Int64Contents, MemoryMarshal.Cast<byte, long>(bytes));
                        break;
                    case TensorDataType.Int32:
                        AddAll(tensor.Contents.IntContents, MemoryMarshal.Cast<byte, int>(bytes));
                        break;
                    case TensorDataType.Bool:
                        AddAll(tensor.Contents.BoolContents, MemoryMarshal.Cast<byte, bool>(bytes));
                        break;
                }
            }

            response.Outputs.Add(tensor);
        }

        return response;
    }

    /// <summary>Appends values without the temporary array AddRange would need (it takes an IEnumerable).</summary>
    private static void AddAll<T>(Google.Protobuf.Collections.RepeatedField<T> field, ReadOnlySpan<T> values)
    {
        field.Capacity = field.Count + values.Length;
        foreach (var value in values)
        {
            field.Add(value);
        }
    }

    /// <summary>
    /// Raw outputs when the request sent raw inputs, or asked with the <c>binary_data_output</c> request parameter
    /// or a <c>binary_data</c> output parameter (Triton's convention); typed contents otherwise.
    /// </summary>
    private static bool WantsRawOutput(ModelInferRequest request)
    {
        if (request.RawInputContents.Count > 0)
        {
            return true;
        }

        if (request.Parameters.TryGetValue("binary_data_output", out var all) && all.BoolParam)
        {
            return true;
        }

        foreach (var output in request.Outputs)
        {
            if (output.Parameters.TryGetValue("binary_data", out var one) && one.BoolParam)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsRequested(ModelInferRequest request, string name)
    {
        if (request.Outputs.Count == 0)
        {
            return true;
        }

        foreach (var output in request.Outputs)
        {
            if (output.Name == name)
            {
                return true;
            }
        }

        return false;
    }

    private static int FindInput(ModelInferRequest request, string name)
    {
        for (var i = 0; i < request.Inputs.Count; i++)
        {
            if (request.Inputs[i].Name == name)
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
