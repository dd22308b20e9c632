using System.Globalization;
using System.Reflection;
using InferenceGateway.Core.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OrtGraphOptimizationLevel = Microsoft.ML.OnnxRuntime.GraphOptimizationLevel;

namespace InferenceGateway.OnnxRuntime;

/// <summary>
/// One loaded model: an ONNX Runtime <see cref="InferenceSession"/> built from an <see cref="OrtSessionConfig"/>, the
/// execution provider it actually got, and its inputs and outputs as the gateway describes tensors.
/// </summary>
/// <remarks>
/// The session is ONNX Runtime's own; <see cref="InferenceSession.RunWithBinding"/> and its other runs may be
/// called concurrently on it. ORT's managed session does not guard a run against a concurrent or earlier
/// <c>Dispose</c> (the native session is freed under it and the process crashes), so the gateway's runner leases the
/// session for each run (<see cref="TryAcquire"/>, <see cref="Release"/>): <see cref="Dispose"/> then releases the
/// native session when the last run in flight returns, and a run after it fails with <see cref="ObjectDisposedException"/>.
/// </remarks>
public sealed class OnnxSession : IDisposable
{
    // 1 for the owner plus one per run in flight; 0 once released. The SafeHandle reference-count pattern.
    private int _leases = 1;
    private int _disposed;

    private OnnxSession(InferenceSession session, string modelPath, ExecutionProvider provider)
    {
        Session = session;
        ModelPath = modelPath;
        ExecutionProvider = provider;
        Inputs = ToMetadata(session.InputNames, session.InputMetadata);
        Outputs = ToMetadata(session.OutputNames, session.OutputMetadata);
    }

    /// <summary>The ONNX Runtime session.</summary>
    public InferenceSession Session { get; }

    /// <summary>The model file this session was created from.</summary>
    public string ModelPath { get; }

    /// <summary>The execution provider in use: <see cref="OnnxRuntime.ExecutionProvider.Cpu"/> when CUDA was requested but could not be enabled.</summary>
    public ExecutionProvider ExecutionProvider { get; }

    /// <summary>Inputs in declaration order; -1 marks a symbolic or unknown dimension.</summary>
    public IReadOnlyList<TensorMetadata> Inputs { get; }

    /// <summary>Outputs in declaration order; -1 marks a symbolic or unknown dimension.</summary>
    public IReadOnlyList<TensorMetadata> Outputs { get; }

    /// <summary>The ONNX Runtime version of the loaded native library, e.g. "1.32.0".</summary>
    public static string RuntimeVersion => OrtEnv.Instance().GetVersionString();

    /// <summary>Which native package this build references: "Cpu" or "Gpu" (the <c>OrtFlavor</c> build property).</summary>
    public static string BuildFlavor { get; } = typeof(OnnxSession).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "OrtFlavor")?.Value ?? "Cpu";

    /// <summary>
    /// Loads a model. When CUDA is requested but cannot be enabled (a CPU build: "CUDA execution provider is not
    /// enabled in this build"; or no CUDA libraries, driver or device), logs a warning with ONNX Runtime's reason and
    /// runs on the CPU; <see cref="ExecutionProvider"/> says which provider won.
    /// </summary>
    /// <exception cref="OnnxRuntimeException">The file is missing, not a model, or ONNX Runtime rejects it; the message is ORT's and names the file.</exception>
    public static OnnxSession Create(string modelPath, OrtSessionConfig config, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        logger ??= NullLogger.Instance;

        InferenceSession session;
        var provider = ExecutionProvider.Cpu;
        if (config.ExecutionProvider == ExecutionProvider.Cuda)
        {
            session = CreateWithCuda(modelPath, config, logger, out provider);
        }
        else
        {
            using var options = CreateSessionOptions(config);
            session = new InferenceSession(modelPath, options);
        }

        try
        {
            var created = new OnnxSession(session, modelPath, provider);
            OnnxRuntimeLog.SessionCreated(logger, modelPath, provider, created.Inputs.Count, created.Outputs.Count, RuntimeVersion, BuildFlavor);
            return created;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Session options for <paramref name="config"/> on the CPU provider (ORT's default, always present): threads,
    /// spinning, graph optimisation level and any further configuration entries.
    /// </summary>
    public static SessionOptions CreateSessionOptions(OrtSessionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var options = new SessionOptions();
        try
        {
            options.GraphOptimizationLevel = config.GraphOptimizationLevel switch
            {
                GraphOptimizationLevel.Disabled => OrtGraphOptimizationLevel.ORT_DISABLE_ALL,
                GraphOptimizationLevel.Basic => OrtGraphOptimizationLevel.ORT_ENABLE_BASIC,
                GraphOptimizationLevel.Extended => OrtGraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                _ => OrtGraphOptimizationLevel.ORT_ENABLE_ALL,
            };

            // 0 keeps ORT's own choice; the backend resolves the gateway's 0 (one per core) before it gets here.
            if (config.IntraOpThreads > 0)
            {
                options.IntraOpNumThreads = config.IntraOpThreads;
            }

            if (config.InterOpThreads > 0)
            {
                options.InterOpNumThreads = config.InterOpThreads;
            }

            if (config.AllowSpinning is { } spin)
            {
                var value = spin ? "1" : "0";
                options.AddSessionConfigEntry("session.intra_op.allow_spinning", value);
                options.AddSessionConfigEntry("session.inter_op.allow_spinning", value);
            }

            if (config.ConfigEntries is { } entries)
            {
                foreach (var (key, value) in entries)
                {
                    options.AddSessionConfigEntry(key, value);
                }
            }

            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    /// <summary>Maps ONNX Runtime's element type to the gateway's (Unknown for types the gateway does not serve).</summary>
    public static TensorDataType ToDataType(TensorElementType type) => type switch
    {
        TensorElementType.Float => TensorDataType.Fp32,
        TensorElementType.Double => TensorDataType.Fp64,
        TensorElementType.Int32 => TensorDataType.Int32,
        TensorElementType.Int64 => TensorDataType.Int64,
        TensorElementType.Bool => TensorDataType.Bool,
        TensorElementType.String => TensorDataType.Bytes,
        _ => TensorDataType.Unknown,
    };

    /// <summary>Takes a reference for one run; false once the session is disposed.</summary>
    public bool TryAcquire()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return false;
        }

        var leases = Volatile.Read(ref _leases);
        while (leases > 0)
        {
            var seen = Interlocked.CompareExchange(ref _leases, leases + 1, leases);
            if (seen == leases)
            {
                return true;
            }

            leases = seen;
        }

        return false;
    }

    /// <summary>Returns a reference taken by <see cref="TryAcquire"/>; the last one releases the native session.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _leases) == 0)
        {
            Session.Dispose();
        }
    }

    /// <summary>Releases the native session now, or when the last run in flight returns.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Release();
        }
    }

    /// <summary>E.g. <c>/models/fraud/1/model.onnx on Cpu</c>.</summary>
    public override string ToString() => $"{ModelPath} on {ExecutionProvider}";

    private static InferenceSession CreateWithCuda(string modelPath, OrtSessionConfig config, ILogger logger, out ExecutionProvider provider)
    {
        string reason;
        using (var options = CreateSessionOptions(config))
        {
            try
            {
                // The V2 options: on the CPU package their creation is what fails, with ORT's own "not enabled in this
                // build" message (the V1 entry point is not even exported there).
                using var cuda = new OrtCUDAProviderOptions();
                cuda.UpdateOptions(new Dictionary<string, string> { ["device_id"] = config.CudaDeviceId.ToString(CultureInfo.InvariantCulture) });
                options.AppendExecutionProvider_CUDA(cuda);
                var session = new InferenceSession(modelPath, options);
                provider = ExecutionProvider.Cuda;
                return session;
            }
            catch (Exception ex) when (ex is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
            {
                // Registered but failed at session initialisation (no device, driver or CUDA library), or could not be
                // registered at all. The model itself may be the problem: the CPU attempt below then throws its error.
                reason = ex.Message;
            }
        }

        using var cpuOptions = CreateSessionOptions(config);
        var fallback = new InferenceSession(modelPath, cpuOptions);
        OnnxRuntimeLog.CudaProviderUnavailable(logger, modelPath, config.CudaDeviceId, reason);
        provider = ExecutionProvider.Cpu;
        return fallback;
    }

    private static TensorMetadata[] ToMetadata(IReadOnlyList<string> names, IReadOnlyDictionary<string, NodeMetadata> metadata)
    {
        var result = new TensorMetadata[names.Count];
        for (var i = 0; i < result.Length; i++)
        {
            var node = metadata[names[i]];
            if (!node.IsTensor)
            {
                result[i] = new TensorMetadata(names[i], TensorDataType.Unknown, []);
                continue;
            }

            var shape = new long[node.Dimensions.Length];
            for (var d = 0; d < shape.Length; d++)
            {
                // ORT reports symbolic and unknown dimensions as -1; normalise anything negative to -1.
                shape[d] = Math.Max(-1, node.Dimensions[d]);
            }

            result[i] = new TensorMetadata(names[i], ToDataType(node.ElementDataType), shape);
        }

        return result;
    }
}
