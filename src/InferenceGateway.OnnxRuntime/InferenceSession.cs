using System.Runtime.InteropServices;
using System.Text;
using InferenceGateway.OnnxRuntime.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.OnnxRuntime;

/// <summary>
/// One loaded model (<c>OrtSession</c>): its input/output metadata and <c>Run</c>.
/// </summary>
/// <remarks>
/// <para>Thread-safety: <c>Run</c> may be called concurrently from any number of threads; ONNX Runtime documents
/// <c>OrtApi::Run</c> as thread-safe on one session, and this wrapper keeps no per-call shared state (the UTF-8 name
/// tables are built once and only read). <see cref="Dispose"/> may race with in-flight runs safely: each run holds a
/// reference on the native handles, so the session is released when the last run returns.</para>
/// <para>Allocation: the index-based <c>Run</c> with pre-allocated outputs allocates nothing managed per call; the
/// name-based overload matches names with ordinal comparisons and allocates nothing either. Only outputs that ORT
/// allocates become new <see cref="OrtTensor"/> objects.</para>
/// </remarks>
public sealed unsafe partial class InferenceSession : IDisposable
{
    // Above this many names per run the pointer scratch comes from native memory instead of the stack.
    private const int MaxStackNames = 64;

    private readonly OrtSessionHandle _session;
    private readonly NativeBufferHandle _names;
    private readonly byte** _inputNames;
    private readonly byte** _outputNames;
    private readonly TensorInfo[] _inputs;
    private readonly TensorInfo[] _outputs;
    private readonly string _runContext;

    private InferenceSession(
        OrtSessionHandle session, string modelPath, ExecutionProvider provider, TensorInfo[] inputs, TensorInfo[] outputs)
    {
        _session = session;
        ModelPath = modelPath;
        ExecutionProvider = provider;
        _inputs = inputs;
        _outputs = outputs;
        _runContext = $"Running model '{modelPath}'";
        var (names, inputNames, outputNames) = BuildNameTables(inputs, outputs);
        _names = names;
        _inputNames = (byte**)inputNames;
        _outputNames = (byte**)outputNames;
    }

    /// <summary>The model file this session was created from.</summary>
    public string ModelPath { get; }

    /// <summary>The execution provider actually in use (CPU when CUDA was requested but unavailable).</summary>
    public ExecutionProvider ExecutionProvider { get; }

    /// <summary>Model inputs in declaration order (the order index-based <c>Run</c> uses).</summary>
    public IReadOnlyList<TensorInfo> Inputs => _inputs;

    /// <summary>Model outputs in declaration order.</summary>
    public IReadOnlyList<TensorInfo> Outputs => _outputs;

    /// <summary>
    /// Loads a model. When CUDA is requested but cannot be enabled (no GPU build, provider library or device),
    /// logs a warning with ORT's message and uses the CPU; <see cref="ExecutionProvider"/> says which one won.
    /// </summary>
    /// <exception cref="OnnxRuntimeException">The file is missing, not a model, or ORT rejects it.</exception>
    public static InferenceSession Create(OnnxRuntimeEnvironment env, string modelPath, OrtSessionConfig config, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        logger ??= NullLogger.Instance;

        var context = $"Loading model '{modelPath}'";
        OrtSessionHandle session;
        ExecutionProvider provider;
        using (var options = CreateSessionOptions(config, context))
        {
            provider = ConfigureExecutionProvider(options, config, modelPath, logger);
            try
            {
                session = CreateSessionHandle(env, modelPath, options, context);
            }
            catch (OnnxRuntimeException ex) when (provider == ExecutionProvider.Cuda && !IsModelProblem(ex.ErrorCode))
            {
                // CUDA registered but failed at session initialisation (e.g. no device, driver mismatch): retry on CPU.
                Log.CudaProviderUnavailable(logger, modelPath, config.CudaDeviceId, ex.NativeMessage);
                provider = ExecutionProvider.Cpu;
                using var cpuOptions = CreateSessionOptions(config, context);
                session = CreateSessionHandle(env, modelPath, cpuOptions, context);
            }
        }

        try
        {
            var inputs = ReadMetadata(session, isInput: true, context);
            var outputs = ReadMetadata(session, isInput: false, context);
            var created = new InferenceSession(session, modelPath, provider, inputs, outputs);
            Log.SessionCreated(logger, modelPath, provider, inputs.Length, outputs.Length, OrtLibrary.Version);
            return created;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>Index of the input named <paramref name="name"/>, or -1.</summary>
    public int GetInputIndex(string name) => IndexOf(_inputs, name);

    /// <summary>Index of the output named <paramref name="name"/>, or -1.</summary>
    public int GetOutputIndex(string name) => IndexOf(_outputs, name);

    /// <summary>
    /// Runs the model with every input, in declaration order, and returns every output allocated by ORT.
    /// Convenient; allocates the result array and tensors. The caller disposes the returned tensors.
    /// </summary>
    public OrtTensor[] Run(ReadOnlySpan<OrtTensor> inputs)
    {
        if (inputs.Length != _inputs.Length)
        {
            throw new ArgumentException($"Model '{ModelPath}' has {_inputs.Length} inputs but {inputs.Length} tensors were given.", nameof(inputs));
        }

        Span<int> inputIndices = stackalloc int[Math.Min(inputs.Length, MaxStackNames)];
        Span<int> outputIndices = stackalloc int[Math.Min(_outputs.Length, MaxStackNames)];
        if (inputs.Length > MaxStackNames)
        {
            inputIndices = new int[inputs.Length];
        }

        if (_outputs.Length > MaxStackNames)
        {
            outputIndices = new int[_outputs.Length];
        }

        for (var i = 0; i < inputIndices.Length; i++)
        {
            inputIndices[i] = i;
        }

        for (var i = 0; i < outputIndices.Length; i++)
        {
            outputIndices[i] = i;
        }

        var outputs = new OrtTensor?[_outputs.Length];
        Run(inputIndices, inputs, outputIndices, outputs);
        var result = new OrtTensor[outputs.Length];
        for (var i = 0; i < outputs.Length; i++)
        {
            result[i] = outputs[i]!;
        }

        return result;
    }

    /// <summary>
    /// Runs the model with inputs and outputs chosen by name. See the index-based overload for output semantics.
    /// </summary>
    public void Run(ReadOnlySpan<string> inputNames, ReadOnlySpan<OrtTensor> inputs, ReadOnlySpan<string> outputNames, Span<OrtTensor?> outputs)
    {
        if (inputNames.Length > MaxStackNames || outputNames.Length > MaxStackNames)
        {
            RunByNameSlow(inputNames, inputs, outputNames, outputs);
            return;
        }

        Span<int> inputIndices = stackalloc int[inputNames.Length];
        Span<int> outputIndices = stackalloc int[outputNames.Length];
        ResolveNames(_inputs, inputNames, inputIndices, "input");
        ResolveNames(_outputs, outputNames, outputIndices, "output");
        Run(inputIndices, inputs, outputIndices, outputs);
    }

    /// <summary>
    /// Runs the model. <paramref name="inputIndices"/>[i] names (by position in <see cref="Inputs"/>) the input
    /// <paramref name="inputs"/>[i] feeds; likewise for outputs. For each output slot: if it holds a tensor (created over
    /// caller memory with the exact output shape), ORT writes the result into that memory; if it is null, ORT allocates
    /// the result and a new <see cref="OrtTensor"/> is stored in the slot, which the caller must dispose.
    /// </summary>
    /// <exception cref="OnnxRuntimeException">An input's type or shape does not match the model, or ORT fails the run.</exception>
    public void Run(ReadOnlySpan<int> inputIndices, ReadOnlySpan<OrtTensor> inputs, ReadOnlySpan<int> outputIndices, Span<OrtTensor?> outputs)
    {
        if (inputIndices.Length != inputs.Length)
        {
            throw new ArgumentException($"{inputIndices.Length} input indices but {inputs.Length} input tensors.", nameof(inputs));
        }

        if (outputIndices.Length != outputs.Length)
        {
            throw new ArgumentException($"{outputIndices.Length} output indices but {outputs.Length} output slots.", nameof(outputs));
        }

        if (outputs.Length == 0)
        {
            throw new ArgumentException("At least one output must be requested.", nameof(outputs));
        }

        var inCount = inputs.Length;
        var outCount = outputs.Length;
        var slots = 2 * (inCount + outCount);
        var scratch = slots <= 4 * MaxStackNames ? stackalloc nint[slots] : default;
        nint* heapScratch = null;
        if (slots > 4 * MaxStackNames)
        {
            heapScratch = (nint*)NativeMemory.Alloc((nuint)slots, (nuint)sizeof(nint));
            scratch = new Span<nint>(heapScratch, slots);
        }

        // References taken on every native handle so a concurrent Dispose cannot free them mid-run.
        var sessionAdded = false;
        var namesAdded = false;
        var inputsAdded = 0;
        var outputsAdded = 0;
        try
        {
            fixed (nint* s = scratch)
            {
                var inNames = (byte**)s;
                var inValues = s + inCount;
                var outNames = (byte**)(s + (2 * inCount));
                var outValues = s + (2 * inCount) + outCount;

                _session.DangerousAddRef(ref sessionAdded);
                _names.DangerousAddRef(ref namesAdded);

                for (var i = 0; i < inCount; i++)
                {
                    var index = inputIndices[i];
                    if ((uint)index >= (uint)_inputs.Length)
                    {
                        throw new ArgumentOutOfRangeException(nameof(inputIndices), index, $"Model '{ModelPath}' has {_inputs.Length} inputs.");
                    }

                    var tensor = inputs[i] ?? throw new ArgumentNullException(nameof(inputs), $"Input tensor {i} is null.");
                    ValidateInput(_inputs[index], tensor);
                    var added = false;
                    tensor.Handle.DangerousAddRef(ref added);
                    inputsAdded++;
                    inNames[i] = _inputNames[index];
                    inValues[i] = tensor.Handle.DangerousGetHandle();
                }

                for (var i = 0; i < outCount; i++)
                {
                    var index = outputIndices[i];
                    if ((uint)index >= (uint)_outputs.Length)
                    {
                        throw new ArgumentOutOfRangeException(nameof(outputIndices), index, $"Model '{ModelPath}' has {_outputs.Length} outputs.");
                    }

                    outNames[i] = _outputNames[index];
                    outValues[i] = 0;
                }

                // Pre-allocated outputs: validated and referenced in a second pass so the release loop below can
                // walk exactly the first outputsAdded non-null slots.
                for (var i = 0; i < outCount; i++)
                {
                    if (outputs[i] is { } preallocated)
                    {
                        ValidateOutput(_outputs[outputIndices[i]], preallocated);
                        var added = false;
                        preallocated.Handle.DangerousAddRef(ref added);
                        outputsAdded++;
                        outValues[i] = preallocated.Handle.DangerousGetHandle();
                    }
                }

                var status = NativeMethods.Run(
                    _session.DangerousGetHandle(), 0, inNames, inValues, (nuint)inCount, outNames, (nuint)outCount, outValues);
                if (status != 0)
                {
                    ReleaseOrtAllocatedOutputs(outputs, outValues);
                    throw NativeMethods.ToException(status, _runContext);
                }

                // Drop our references on pre-allocated outputs before new tensors land in the empty slots.
                ReleaseOutputReferences(outputs, ref outputsAdded);
                CollectOutputs(outputs, outValues);
            }
        }
        finally
        {
            for (var i = 0; i < inputsAdded; i++)
            {
                inputs[i].Handle.DangerousRelease();
            }

            ReleaseOutputReferences(outputs, ref outputsAdded);

            if (namesAdded)
            {
                _names.DangerousRelease();
            }

            if (sessionAdded)
            {
                _session.DangerousRelease();
            }

            if (heapScratch != null)
            {
                NativeMemory.Free(heapScratch);
            }
        }
    }

    /// <summary>Releases the native session (deferred until in-flight runs finish).</summary>
    public void Dispose()
    {
        _session.Dispose();
        _names.Dispose();
    }

    /// <summary>E.g. <c>/models/fraud/1/model.onnx on Cpu</c>.</summary>
    public override string ToString() => $"{ModelPath} on {ExecutionProvider}";
}
