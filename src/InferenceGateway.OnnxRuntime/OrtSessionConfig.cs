namespace InferenceGateway.OnnxRuntime;

/// <summary>How to build one <see cref="OnnxSession"/>: the settings that map onto ONNX Runtime's <c>SessionOptions</c>.</summary>
public sealed record OrtSessionConfig
{
    /// <summary>Default settings: CPU, all graph optimizations, ORT's default thread counts.</summary>
    public static OrtSessionConfig Default { get; } = new();

    /// <summary>Threads used inside one operator (ORT's intra-op pool); 0 lets ORT choose (one per physical core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Threads used to run independent operators in parallel; 0 lets ORT choose.</summary>
    public int InterOpThreads { get; init; }

    /// <summary>Graph optimization level applied when the model is loaded.</summary>
    public GraphOptimizationLevel GraphOptimizationLevel { get; init; } = GraphOptimizationLevel.All;

    /// <summary>The execution provider requested. CUDA falls back to CPU (with a warning) when it cannot be enabled.</summary>
    public ExecutionProvider ExecutionProvider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>CUDA device ordinal when <see cref="ExecutionProvider"/> is <see cref="OnnxRuntime.ExecutionProvider.Cuda"/>.</summary>
    public int CudaDeviceId { get; init; }

    /// <summary>
    /// Whether ORT's thread pools spin while waiting for work (<c>session.intra_op.allow_spinning</c> and
    /// <c>session.inter_op.allow_spinning</c>). Null keeps ORT's default (spin). Spinning lowers latency on a
    /// dedicated machine but burns the cores that the network stack shares on a small one.
    /// </summary>
    public bool? AllowSpinning { get; init; }

    /// <summary>Further session configuration entries, as ORT's onnxruntime_session_options_config_keys.h names them.</summary>
    public IReadOnlyDictionary<string, string>? ConfigEntries { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for values ORT would reject or misread.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(IntraOpThreads);
        ArgumentOutOfRangeException.ThrowIfNegative(InterOpThreads);
        ArgumentOutOfRangeException.ThrowIfNegative(CudaDeviceId);
        if (!Enum.IsDefined(GraphOptimizationLevel))
        {
            throw new ArgumentOutOfRangeException(nameof(GraphOptimizationLevel), GraphOptimizationLevel, "Unknown graph optimization level.");
        }

        if (!Enum.IsDefined(ExecutionProvider))
        {
            throw new ArgumentOutOfRangeException(nameof(ExecutionProvider), ExecutionProvider, "Unknown execution provider.");
        }
    }
}

/// <summary>ONNX Runtime's <c>GraphOptimizationLevel</c> values.</summary>
public enum GraphOptimizationLevel
{
    /// <summary>ORT_DISABLE_ALL.</summary>
    Disabled = 0,
    /// <summary>ORT_ENABLE_BASIC.</summary>
    Basic = 1,
    /// <summary>ORT_ENABLE_EXTENDED.</summary>
    Extended = 2,
    /// <summary>ORT_ENABLE_ALL.</summary>
    All = 99,
}

/// <summary>Execution providers the gateway can request.</summary>
public enum ExecutionProvider
{
    /// <summary>ORT's built-in CPU provider.</summary>
    Cpu = 0,
    /// <summary>NVIDIA CUDA (needs a build with <c>-p:OrtFlavor=Gpu</c>, CUDA 13 and cuDNN 9 on the host, and a device).</summary>
    Cuda = 1,
}
