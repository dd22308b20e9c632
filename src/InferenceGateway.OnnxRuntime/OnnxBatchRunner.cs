using InferenceGateway.Core.Batching;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace InferenceGateway.OnnxRuntime;

/// <summary>
/// Runs batches on one session with zero copies: every input and output is an <see cref="OrtValue"/> over the batcher's
/// pinned buffers (<see cref="BatchRun.InputAddress"/>, <see cref="BatchRun.OutputAddress"/>), bound once into an
/// <see cref="OrtIoBinding"/> per (row count, row shapes, buffer addresses). A run looks its binding up and calls
/// <see cref="InferenceSession.RunWithBinding"/>: in steady state it allocates nothing, managed or native.
/// </summary>
/// <remarks>
/// The batcher calls <see cref="Run"/> on the instance's own thread, never concurrently, and disposes the runner after
/// that thread stopped; so the cache needs no lock and no value is released while ORT uses it.
/// </remarks>
internal sealed class OnnxBatchRunner : IBatchRunner, IDisposable
{
    /// <summary>
    /// Bound on cached bindings. The batcher's buffers are allocated once per instance and only grow for a variable
    /// row shape larger than any seen, so in practice there is one binding per row count (up to max_batch_size); the
    /// bound only stops a model with variable dimensions from caching every shape it ever saw.
    /// </summary>
    internal const int MaxBindings = 1024;

    private readonly OnnxSession _owner;
    private readonly InferenceSession _session;
    private readonly string _modelPath;
    private readonly bool _hasBatchDimension;
    private readonly bool _synchronizeOutputs;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly TensorElementType[] _inputTypes;
    private readonly TensorElementType[] _outputTypes;
    private readonly RunOptions _runOptions = new();
    private readonly Dictionary<BindingKey, Binding> _bindings = [];

    public OnnxBatchRunner(OnnxSession session, IReadOnlyList<BatchTensorSpec> inputs, IReadOnlyList<BatchTensorSpec> outputs, bool hasBatchDimension)
    {
        _owner = session;
        _session = session.Session;
        _modelPath = session.ModelPath;
        _hasBatchDimension = hasBatchDimension;

        // Outputs bound to host memory on a CUDA session are copied back by ORT; waiting for that copy before the
        // batcher reads the buffers is what SynchronizeBoundOutputs is for. The CPU provider has nothing to wait for.
        _synchronizeOutputs = session.ExecutionProvider == ExecutionProvider.Cuda;
        _inputNames = new string[inputs.Count];
        _inputTypes = new TensorElementType[inputs.Count];
        for (var i = 0; i < inputs.Count; i++)
        {
            _inputNames[i] = inputs[i].Name;
            _inputTypes[i] = ElementType(_session.InputMetadata, inputs[i].Name, "input");
        }

        _outputNames = new string[outputs.Count];
        _outputTypes = new TensorElementType[outputs.Count];
        for (var o = 0; o < outputs.Count; o++)
        {
            _outputNames[o] = outputs[o].Name;
            _outputTypes[o] = ElementType(_session.OutputMetadata, outputs[o].Name, "output");
        }
    }

    /// <summary>How many bindings are cached (tests check the cache stays one per row count).</summary>
    internal int CachedBindings => _bindings.Count;

    public void Run(BatchRun run)
    {
        // A model released under a late batch fails that batch instead of crashing the process in native code.
        if (!_owner.TryAcquire())
        {
            throw new ObjectDisposedException(_modelPath, $"Model '{_modelPath}' was unloaded.");
        }

        try
        {
            var key = new BindingKey(run.Rows, Fingerprint(run));
            if (!_bindings.TryGetValue(key, out var binding) || !binding.Matches(run))
            {
                binding = Bind(run, key);
            }

            _session.RunWithBinding(_runOptions, binding.IoBinding);
            if (_synchronizeOutputs)
            {
                binding.IoBinding.SynchronizeBoundOutputs();
            }
        }
        finally
        {
            _owner.Release();
        }
    }

    public void Dispose()
    {
        foreach (var binding in _bindings.Values)
        {
            binding.Dispose();
        }

        _bindings.Clear();
        _runOptions.Dispose();
    }

    private TensorElementType ElementType(IReadOnlyDictionary<string, NodeMetadata> metadata, string name, string kind)
    {
        if (!metadata.TryGetValue(name, out var node))
        {
            throw new ArgumentException($"Model '{_modelPath}' has no {kind} named '{name}' ({kind}s: {string.Join(", ", metadata.Keys)}).");
        }

        return node.IsTensor
            ? node.ElementDataType
            : throw new NotSupportedException($"Model '{_modelPath}' {kind} '{name}' is a {node.OnnxValueType}, not a tensor.");
    }

    /// <summary>Hash of everything a binding depends on besides the row count: each tensor's address and row shape.</summary>
    private int Fingerprint(BatchRun run)
    {
        var hash = default(HashCode);
        for (var i = 0; i < _inputNames.Length; i++)
        {
            hash.Add(run.InputAddress(i));
            foreach (var dim in run.InputRowShape(i))
            {
                hash.Add(dim);
            }
        }

        for (var o = 0; o < _outputNames.Length; o++)
        {
            // Throws for a variable output whose row shape nobody set: ORT would need to allocate that output itself.
            hash.Add(run.OutputAddress(o));
            foreach (var dim in run.OutputRowShape(o))
            {
                hash.Add(dim);
            }
        }

        return hash.ToHashCode();
    }

    /// <summary>Cold path: new OrtValues over the run's buffers, bound once. Replaces a colliding or stale entry.</summary>
    private Binding Bind(BatchRun run, BindingKey key)
    {
        if (_bindings.Remove(key, out var stale))
        {
            stale.Dispose();
        }

        if (_bindings.Count >= MaxBindings)
        {
            foreach (var old in _bindings.Values)
            {
                old.Dispose();
            }

            _bindings.Clear();
        }

        var binding = new Binding(_session.CreateIoBinding(), _inputNames.Length + _outputNames.Length);
        try
        {
            for (var i = 0; i < _inputNames.Length; i++)
            {
                var value = binding.Add(i, run.InputAddress(i), run.InputRowShape(i), run.Rows, run.Input(i).Length, _inputTypes[i], _hasBatchDimension);
                binding.IoBinding.BindInput(_inputNames[i], value);
            }

            for (var o = 0; o < _outputNames.Length; o++)
            {
                var slot = _inputNames.Length + o;
                var value = binding.Add(slot, run.OutputAddress(o), run.OutputRowShape(o), run.Rows, run.Output(o).Length, _outputTypes[o], _hasBatchDimension);
                binding.IoBinding.BindOutput(_outputNames[o], value);
            }
        }
        catch
        {
            binding.Dispose();
            throw;
        }

        _bindings[key] = binding;
        return binding;
    }

    private readonly record struct BindingKey(int Rows, int Fingerprint);

    /// <summary>One IoBinding and the OrtValues it binds: inputs first, then outputs, with what they were made over.</summary>
    private sealed class Binding : IDisposable
    {
        private readonly OrtValue?[] _values;
        private readonly nint[] _addresses;
        private readonly int[][] _rowShapes;

        public Binding(OrtIoBinding ioBinding, int count)
        {
            IoBinding = ioBinding;
            _values = new OrtValue?[count];
            _addresses = new nint[count];
            _rowShapes = new int[count][];
        }

        public OrtIoBinding IoBinding { get; }

        /// <summary>A tensor over <paramref name="address"/> (no copy: the batcher's buffers are pinned for its lifetime).</summary>
        public OrtValue Add(int slot, nint address, ReadOnlySpan<int> rowShape, int rows, long byteLength, TensorElementType type, bool hasBatchDimension)
        {
            var offset = hasBatchDimension ? 1 : 0;
            var shape = new long[offset + rowShape.Length];
            if (hasBatchDimension)
            {
                shape[0] = rows;
            }

            for (var d = 0; d < rowShape.Length; d++)
            {
                shape[offset + d] = rowShape[d];
            }

            var value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, type, shape, address, byteLength);
            _values[slot] = value;
            _addresses[slot] = address;
            _rowShapes[slot] = rowShape.ToArray();
            return value;
        }

        /// <summary>Exact check after the fingerprint matched: same buffers, same row shapes (the row count is in the key).</summary>
        public bool Matches(BatchRun run)
        {
            var inputs = run.InputSpecs.Count;
            for (var slot = 0; slot < _values.Length; slot++)
            {
                var isInput = slot < inputs;
                var index = isInput ? slot : slot - inputs;
                var address = isInput ? run.InputAddress(index) : run.OutputAddress(index);
                var rowShape = isInput ? run.InputRowShape(index) : run.OutputRowShape(index);
                if (address != _addresses[slot] || !rowShape.SequenceEqual(_rowShapes[slot]))
                {
                    return false;
                }
            }

            return true;
        }

        public void Dispose()
        {
            IoBinding.Dispose();
            foreach (var value in _values)
            {
                value?.Dispose();
            }
        }
    }
}
