using System.Runtime.InteropServices;

namespace InferenceGateway.Core.Batching;

/// <summary>
/// One batch handed to an <see cref="IBatchRunner"/>: <see cref="Rows"/> rows per tensor, inputs packed contiguously
/// by the batcher, outputs to fill. The buffers belong to the execution instance: pinned (pinned object heap) arrays
/// allocated once for <see cref="BatchingOptions.MaxBatchSize"/> rows, so a runner may wrap them as native tensors by
/// address (<see cref="InputAddress"/>, <see cref="OutputAddress"/>) without copying. They are only valid during
/// <see cref="IBatchRunner.Run"/>, and grow (rarely) only for variable row shapes larger than seen before.
/// </summary>
public sealed class BatchRun
{
    private readonly TensorBuffer[] _inputs;
    private readonly TensorBuffer[] _outputs;
    private readonly int _maxRows;

    internal BatchRun(int instance, IReadOnlyList<BatchTensorSpec> inputs, IReadOnlyList<BatchTensorSpec> outputs, int maxRows)
    {
        Instance = instance;
        InputSpecs = inputs;
        OutputSpecs = outputs;
        _maxRows = maxRows;
        _inputs = new TensorBuffer[inputs.Count];
        for (var i = 0; i < _inputs.Length; i++)
        {
            _inputs[i] = new TensorBuffer(inputs[i], maxRows);
        }

        _outputs = new TensorBuffer[outputs.Count];
        for (var j = 0; j < _outputs.Length; j++)
        {
            _outputs[j] = new TensorBuffer(outputs[j], maxRows);
        }
    }

    /// <summary>Index of the execution instance running this batch.</summary>
    public int Instance { get; }

    /// <summary>Rows in this batch (the batch dimension of every tensor), at most <see cref="BatchingOptions.MaxBatchSize"/> (or 1).</summary>
    public int Rows { get; private set; }

    /// <summary>The model version's input specs, in input order.</summary>
    public IReadOnlyList<BatchTensorSpec> InputSpecs { get; }

    /// <summary>The model version's output specs, in output order.</summary>
    public IReadOnlyList<BatchTensorSpec> OutputSpecs { get; }

    /// <summary>Packed bytes of input <paramref name="index"/>: <see cref="Rows"/> × row bytes of <see cref="InputRowShape"/>.</summary>
    public ReadOnlyMemory<byte> Input(int index) => _inputs[index].Memory(Rows);

    /// <summary>The same bytes as <see cref="Input"/>, writable (native APIs that take mutable tensors).</summary>
    public Memory<byte> InputBuffer(int index) => _inputs[index].Memory(Rows);

    /// <summary>Address of <see cref="Input"/>'s first byte; stable because the buffer is pinned.</summary>
    public nint InputAddress(int index) => _inputs[index].Address;

    /// <summary>Row shape of input <paramref name="index"/> in this batch (variable dimensions resolved).</summary>
    public ReadOnlySpan<int> InputRowShape(int index) => _inputs[index].Shape;

    /// <summary>Writes input <paramref name="index"/>'s full shape, [<see cref="Rows"/>, ..row shape], into <paramref name="destination"/>.</summary>
    public void GetInputShape(int index, Span<long> destination) => _inputs[index].WriteShape(Rows, destination);

    /// <summary>
    /// Buffer the runner fills for output <paramref name="index"/>: <see cref="Rows"/> × row bytes of
    /// <see cref="OutputRowShape"/>. For an output with a variable row shape, call <see cref="SetOutputRowShape"/> first.
    /// </summary>
    public Memory<byte> Output(int index)
    {
        var buffer = _outputs[index];
        if (!buffer.Known)
        {
            throw new InvalidOperationException($"Output '{OutputSpecs[index].Name}' has a variable row shape; call SetOutputRowShape before Output.");
        }

        return buffer.Memory(Rows);
    }

    /// <summary>Address of <see cref="Output"/>'s first byte; stable because the buffer is pinned.</summary>
    public nint OutputAddress(int index)
    {
        _ = Output(index);
        return _outputs[index].Address;
    }

    /// <summary>True when output <paramref name="index"/>'s row shape is known (fixed, or set by the runner).</summary>
    public bool IsOutputRowShapeKnown(int index) => _outputs[index].Known;

    /// <summary>Row shape of output <paramref name="index"/>: the spec's, or what the runner set.</summary>
    public ReadOnlySpan<int> OutputRowShape(int index) => _outputs[index].Shape;

    /// <summary>Writes output <paramref name="index"/>'s full shape, [<see cref="Rows"/>, ..row shape], into <paramref name="destination"/>.</summary>
    public void GetOutputShape(int index, Span<long> destination) => _outputs[index].WriteShape(Rows, destination);

    /// <summary>
    /// Declares the actual row shape of an output whose spec has variable dimensions (known once the model has run),
    /// sizing <see cref="Output"/> accordingly. The fixed dimensions must match the spec.
    /// </summary>
    public void SetOutputRowShape(int index, ReadOnlySpan<int> rowShape)
    {
        var buffer = _outputs[index];
        if (!buffer.Spec.Accepts(rowShape))
        {
            throw new ArgumentException(
                $"Row shape [{string.Join(',', rowShape.ToArray())}] does not fit output '{buffer.Spec.Name}' [{string.Join(',', buffer.Spec.RowShape)}]",
                nameof(rowShape));
        }

        buffer.SetShape(rowShape, _maxRows);
    }

    internal TensorBuffer InputTensor(int index) => _inputs[index];

    internal TensorBuffer OutputTensor(int index) => _outputs[index];

    /// <summary>Readies the run for a batch whose variable input shapes are <paramref name="anchor"/>'s.</summary>
    internal void Prepare(int rows, BatchRequest anchor)
    {
        Rows = rows;
        for (var i = 0; i < _inputs.Length; i++)
        {
            var buffer = _inputs[i];
            if (buffer.Variable)
            {
                buffer.SetShape(anchor.InputRowShape(i), _maxRows);
            }
        }

        for (var j = 0; j < _outputs.Length; j++)
        {
            _outputs[j].ResetShape();
        }
    }

    /// <summary>Pinned buffer and current row shape of one tensor of one instance.</summary>
    internal sealed class TensorBuffer
    {
        private readonly int[] _shape;
        private byte[] _array;

        public TensorBuffer(BatchTensorSpec spec, int maxRows)
        {
            Spec = spec;
            Variable = spec.IsVariable;
            _shape = (int[])spec.RowShape.Clone();
            Known = !Variable;

            // Variable dimensions start as 1; the buffer grows the first time a larger shape arrives.
            var initialRow = spec.ElementSize;
            foreach (var dim in spec.RowShape)
            {
                initialRow = checked(initialRow * Math.Max(1, dim));
            }

            RowBytes = Variable ? -1 : spec.RowBytes(spec.RowShape);
            _array = Allocate(checked(maxRows * initialRow));
            Address = Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0);
        }

        public BatchTensorSpec Spec { get; }

        public bool Variable { get; }

        public bool Known { get; private set; }

        public int RowBytes { get; private set; }

        public nint Address { get; private set; }

        public ReadOnlySpan<int> Shape => _shape;

        public Memory<byte> Memory(int rows) => _array.AsMemory(0, rows * RowBytes);

        public Span<byte> Span(int rows) => _array.AsSpan(0, rows * RowBytes);

        public void SetShape(ReadOnlySpan<int> rowShape, int maxRows)
        {
            rowShape.CopyTo(_shape);
            RowBytes = Spec.RowBytes(rowShape);
            var needed = checked(maxRows * RowBytes);
            if (_array.Length < needed)
            {
                // Rare: a larger variable shape than seen so far. Grow geometrically so growth stops quickly.
                _array = Allocate(Math.Max(needed, (int)Math.Min(int.MaxValue, 2L * _array.Length)));
                Address = Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0);
            }

            Known = true;
        }

        public void ResetShape()
        {
            if (Variable)
            {
                Known = false;
                RowBytes = -1;
            }
        }

        public void WriteShape(int rows, Span<long> destination)
        {
            destination[0] = rows;
            for (var d = 0; d < _shape.Length; d++)
            {
                destination[d + 1] = _shape[d];
            }
        }

        private static byte[] Allocate(int length) => GC.AllocateArray<byte>(Math.Max(1, length), pinned: true);
    }
}
