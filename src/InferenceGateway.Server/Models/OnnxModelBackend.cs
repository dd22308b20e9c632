using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Models;
using InferenceGateway.OnnxRuntime;

namespace InferenceGateway.Server.Models;

/// <summary>Loads model versions as ONNX Runtime sessions (one session per execution instance).</summary>
public sealed class OnnxModelBackend : IModelBackend
{
    private readonly OnnxRuntimeEnvironment _environment;
    private readonly OrtSessionConfig _sessionConfig;
    private readonly IReadOnlyDictionary<string, ModelOverrides> _overrides;
    private readonly ILoggerFactory _loggerFactory;

    /// <summary>Creates the backend over a process-wide ORT environment.</summary>
    public OnnxModelBackend(OnnxRuntimeEnvironment environment, OrtSessionConfig sessionConfig, IReadOnlyDictionary<string, ModelOverrides> overrides, ILoggerFactory loggerFactory)
    {
        _environment = environment;
        _sessionConfig = sessionConfig;
        _overrides = overrides;
        _loggerFactory = loggerFactory;
    }

    /// <inheritdoc />
    public ILoadedModel Load(string modelName, string version, string modelPath, ModelConfig config)
    {
        // Gateway config override first, then the model's config.json, then the gateway-wide default.
        var sessionConfig = _sessionConfig;
        _overrides.TryGetValue(modelName, out var overrides);
        if ((overrides?.IntraOpThreads ?? config.IntraOpThreads) is { } intraOp)
        {
            sessionConfig = sessionConfig with { IntraOpThreads = intraOp };
        }

        if ((overrides?.AllowSpinning ?? config.AllowSpinning) is { } spin)
        {
            sessionConfig = sessionConfig with { AllowSpinning = spin };
        }

        // 0 means one thread per core, set explicitly: ORT's own default counts physical cores as its cpuinfo sees
        // them, which on some VMs is 1 of 2 (bench_mlp then ran single-threaded while documented as 1 x 2).
        if (sessionConfig.IntraOpThreads == 0)
        {
            sessionConfig = sessionConfig with { IntraOpThreads = Environment.ProcessorCount };
        }

        return new OnnxLoadedModel(_environment, modelPath, sessionConfig, config.MaxBatchSize > 0, _loggerFactory.CreateLogger<InferenceSession>());
    }

    internal static TensorDataType ToDataType(TensorElementType type) => type switch
    {
        TensorElementType.Float => TensorDataType.Fp32,
        TensorElementType.Double => TensorDataType.Fp64,
        TensorElementType.Int32 => TensorDataType.Int32,
        TensorElementType.Int64 => TensorDataType.Int64,
        TensorElementType.Bool => TensorDataType.Bool,
        TensorElementType.String => TensorDataType.Bytes,
        _ => TensorDataType.Unknown,
    };

    internal static TensorElementType ToElementType(TensorDataType type) => type switch
    {
        TensorDataType.Fp32 => TensorElementType.Float,
        TensorDataType.Fp64 => TensorElementType.Double,
        TensorDataType.Int32 => TensorElementType.Int32,
        TensorDataType.Int64 => TensorElementType.Int64,
        TensorDataType.Bool => TensorElementType.Bool,
        TensorDataType.Bytes => TensorElementType.String,
        _ => TensorElementType.Undefined,
    };
}

/// <summary>
/// One model file. The first session is created at load (it supplies the metadata the config is validated
/// against); each further execution instance gets its own session so instances never contend inside ORT.
/// </summary>
internal sealed class OnnxLoadedModel : ILoadedModel
{
    private readonly OnnxRuntimeEnvironment _environment;
    private readonly string _modelPath;
    private readonly OrtSessionConfig _config;
    private readonly bool _hasBatchDimension;
    private readonly ILogger _logger;
    private readonly List<InferenceSession> _sessions = [];
    private readonly InferenceSession _first;
    private bool _firstTaken;

    public OnnxLoadedModel(OnnxRuntimeEnvironment environment, string modelPath, OrtSessionConfig config, bool hasBatchDimension, ILogger logger)
    {
        _environment = environment;
        _modelPath = modelPath;
        _config = config;
        _hasBatchDimension = hasBatchDimension;
        _logger = logger;
        _first = InferenceSession.Create(environment, modelPath, config, logger);
        _sessions.Add(_first);
        Inputs = ToMetadata(_first.Inputs);
        Outputs = ToMetadata(_first.Outputs);
    }

    public IReadOnlyList<TensorMetadata> Inputs { get; }

    public IReadOnlyList<TensorMetadata> Outputs { get; }

    /// <summary>The session options every instance of this model is created with.</summary>
    internal OrtSessionConfig SessionConfig => _config;

    public string ExecutionProvider => _first.ExecutionProvider.ToString().ToUpperInvariant();

    public IBatchRunner CreateRunner(int instance, IReadOnlyList<BatchTensorSpec> inputs, IReadOnlyList<BatchTensorSpec> outputs)
    {
        InferenceSession session;
        lock (_sessions)
        {
            if (!_firstTaken)
            {
                _firstTaken = true;
                session = _first;
            }
            else
            {
                session = InferenceSession.Create(_environment, _modelPath, _config, _logger);
                _sessions.Add(session);
            }
        }

        return new OnnxBatchRunner(session, inputs, outputs, _hasBatchDimension);
    }

    public void Dispose()
    {
        lock (_sessions)
        {
            foreach (var session in _sessions)
            {
                session.Dispose();
            }

            _sessions.Clear();
        }
    }

    private static TensorMetadata[] ToMetadata(IReadOnlyList<TensorInfo> tensors)
    {
        var result = new TensorMetadata[tensors.Count];
        for (var i = 0; i < tensors.Count; i++)
        {
            result[i] = new TensorMetadata(tensors[i].Name, OnnxModelBackend.ToDataType(tensors[i].ElementType), tensors[i].Shape);
        }

        return result;
    }
}

/// <summary>
/// Runs batches on one session with zero copies: input and output tensors are ORT values over the batcher's pinned
/// buffers, cached per row count, so steady-state runs allocate nothing.
/// </summary>
internal sealed class OnnxBatchRunner : IBatchRunner, IDisposable
{
    private readonly InferenceSession _session;
    private readonly bool _hasBatchDimension;
    private readonly int[] _inputIndices;
    private readonly int[] _outputIndices;
    private readonly TensorElementType[] _inputTypes;
    private readonly TensorElementType[] _outputTypes;
    private readonly int _inputRank;
    private readonly Dictionary<TensorKey, OrtTensor> _tensors = [];
    private readonly OrtTensor[] _inputScratch;
    private readonly OrtTensor?[] _outputScratch;

    public OnnxBatchRunner(InferenceSession session, IReadOnlyList<BatchTensorSpec> inputs, IReadOnlyList<BatchTensorSpec> outputs, bool hasBatchDimension)
    {
        _session = session;
        _hasBatchDimension = hasBatchDimension;
        _inputIndices = new int[inputs.Count];
        _inputTypes = new TensorElementType[inputs.Count];
        for (var i = 0; i < inputs.Count; i++)
        {
            _inputIndices[i] = session.GetInputIndex(inputs[i].Name);
            _inputTypes[i] = session.Inputs[_inputIndices[i]].ElementType;
            _inputRank = Math.Max(_inputRank, inputs[i].RowShape.Length + 1);
        }

        _outputIndices = new int[outputs.Count];
        _outputTypes = new TensorElementType[outputs.Count];
        for (var i = 0; i < outputs.Count; i++)
        {
            _outputIndices[i] = session.GetOutputIndex(outputs[i].Name);
            _outputTypes[i] = session.Outputs[_outputIndices[i]].ElementType;
            _inputRank = Math.Max(_inputRank, outputs[i].RowShape.Length + 1);
        }

        _inputScratch = new OrtTensor[inputs.Count];
        _outputScratch = new OrtTensor?[outputs.Count];
    }

    public void Run(BatchRun run)
    {
        Span<long> shape = stackalloc long[_inputRank];
        for (var i = 0; i < _inputIndices.Length; i++)
        {
            var length = WriteShape(run.InputRowShape(i), run.Rows, shape);
            _inputScratch[i] = GetTensor(new TensorKey(false, i, run.InputAddress(i), run.Rows, ShapeHash(shape[..length])), run.InputAddress(i), run.Input(i).Length, _inputTypes[i], shape[..length]);
        }

        for (var o = 0; o < _outputIndices.Length; o++)
        {
            var length = WriteShape(run.OutputRowShape(o), run.Rows, shape);
            var buffer = run.Output(o);
            _outputScratch[o] = GetTensor(new TensorKey(true, o, run.OutputAddress(o), run.Rows, ShapeHash(shape[..length])), run.OutputAddress(o), buffer.Length, _outputTypes[o], shape[..length]);
        }

        _session.Run(_inputIndices, _inputScratch, _outputIndices, _outputScratch);
    }

    private int WriteShape(ReadOnlySpan<int> rowShape, int rows, Span<long> destination)
    {
        var offset = 0;
        if (_hasBatchDimension)
        {
            destination[0] = rows;
            offset = 1;
        }

        for (var d = 0; d < rowShape.Length; d++)
        {
            destination[offset + d] = rowShape[d];
        }

        return offset + rowShape.Length;
    }

    private OrtTensor GetTensor(TensorKey key, nint address, long byteLength, TensorElementType type, ReadOnlySpan<long> shape)
    {
        if (_tensors.TryGetValue(key, out var tensor) && !tensor.Shape.SequenceEqual(shape))
        {
            // Hash collision between two shapes: replace rather than run with the wrong shape.
            tensor.Dispose();
            _tensors.Remove(key);
            tensor = null;
        }

        if (tensor is null)
        {
            // Bounded: one entry per (tensor, row count, shape) seen on this instance's fixed buffers.
            if (_tensors.Count > 4096)
            {
                foreach (var stale in _tensors.Values)
                {
                    stale.Dispose();
                }

                _tensors.Clear();
            }

            tensor = OrtTensor.CreateOver(address, byteLength, type, shape);
            _tensors[key] = tensor;
        }

        return tensor;
    }

    private static int ShapeHash(ReadOnlySpan<long> shape)
    {
        var hash = default(HashCode);
        foreach (var dim in shape)
        {
            hash.Add(dim);
        }

        return hash.ToHashCode();
    }

    public void Dispose()
    {
        foreach (var tensor in _tensors.Values)
        {
            tensor.Dispose();
        }

        _tensors.Clear();
    }

    private readonly record struct TensorKey(bool Output, int Index, nint Address, int Rows, int ShapeHash);
}
