using System.Threading.Tasks.Sources;

namespace InferenceGateway.Core.Batching;

/// <summary>
/// One request to a <see cref="DynamicBatcher"/>, pooled so the hot path allocates nothing: rent it with
/// <see cref="DynamicBatcher.RentRequest"/>, fill it, await <see cref="DynamicBatcher.EnqueueAsync"/>, read the outputs,
/// then give it back with <see cref="DynamicBatcher.ReturnRequest"/>. The caller's input and output memory must stay
/// valid until the returned task completes; the batcher copies inputs into its batch buffers and copies this
/// request's slice of each output into <see cref="SetOutput">the destination</see>.
/// </summary>
public sealed class BatchRequest : IValueTaskSource<BatchResult>
{
    internal const int StateFree = 0;
    internal const int StateRented = 1;
    internal const int StateQueued = 2;
    internal const int StateTaken = 3;
    internal const int StateCompleted = 4;

    private const byte ShapeUnset = 0;
    private const byte ShapeSet = 1;
    private const byte ShapeBadRank = 2;

    private readonly BatchTensorSpec[] _inputSpecs;
    private readonly BatchTensorSpec[] _outputSpecs;
    private readonly int[] _inputRowBytes;
    private readonly int[] _outputRowBytes;
    private readonly ReadOnlyMemory<byte>[] _inputs;
    private readonly Memory<byte>[] _outputs;
    private readonly int[][] _inputShapes;
    private readonly byte[] _inputShapeState;
    private readonly int[][] _outputShapes;
    private readonly int[] _outputLengths;
    private ManualResetValueTaskSourceCore<BatchResult> _core;

    internal BatchRequest(DynamicBatcher owner, BatchTensorSpec[] inputs, BatchTensorSpec[] outputs, int[] inputRowBytes, int[] outputRowBytes)
    {
        Owner = owner;
        _inputSpecs = inputs;
        _outputSpecs = outputs;
        _inputRowBytes = inputRowBytes;
        _outputRowBytes = outputRowBytes;
        _inputs = new ReadOnlyMemory<byte>[inputs.Length];
        _outputs = new Memory<byte>[outputs.Length];
        _inputShapes = new int[inputs.Length][];
        _inputShapeState = new byte[inputs.Length];
        for (var i = 0; i < inputs.Length; i++)
        {
            _inputShapes[i] = (int[])inputs[i].RowShape.Clone();
        }

        _outputShapes = new int[outputs.Length][];
        for (var j = 0; j < outputs.Length; j++)
        {
            _outputShapes[j] = (int[])outputs[j].RowShape.Clone();
        }

        _outputLengths = new int[outputs.Length];

        // The runner thread completes requests; callers' continuations must never run on it.
        _core.RunContinuationsAsynchronously = true;
    }

    /// <summary>Rows this request carries (its batch dimension); 1 for a model without one.</summary>
    public int Rows { get; set; } = 1;

    /// <summary>Priority level, 1 = highest; 0 uses <see cref="BatchingOptions.DefaultPriority"/>; levels beyond <see cref="BatchingOptions.PriorityLevels"/> use the lowest.</summary>
    public int Priority { get; set; }

    /// <summary>
    /// Release the batch holding this request as soon as an instance is free, without waiting
    /// <see cref="BatchingOptions.MaxQueueDelay"/> for company (requests queued with it go along). For work that must not
    /// wait, such as the warm-up inference that gates a version's readiness.
    /// </summary>
    public bool SkipQueueDelay { get; set; }

    /// <summary>
    /// Run the continuation registered on <see cref="DynamicBatcher.EnqueueAsync"/>'s task on the thread that completes
    /// the request (an instance thread, or one cancelling the request) instead of the thread pool. Only for a
    /// continuation that merely hands off, such as queueing its own <see cref="IThreadPoolWorkItem"/>: the thread pool
    /// would otherwise allocate a work item per continuation that is not an async method's. Off by default; set before
    /// <see cref="DynamicBatcher.EnqueueAsync"/>.
    /// </summary>
    public bool InlineContinuation
    {
        get => !_core.RunContinuationsAsynchronously;
        set => _core.RunContinuationsAsynchronously = !value;
    }

    /// <summary>
    /// Absolute deadline as a timestamp of the batcher's <see cref="TimeProvider"/> (see
    /// <see cref="DynamicBatcher.GetDeadline"/>); 0 uses <see cref="BatchingOptions.DefaultTimeout"/>,
    /// <see cref="long.MaxValue"/> means none. A request still
    /// queued at its deadline fails with <see cref="BatchFailureReason.DeadlineExceeded"/> without running.
    /// </summary>
    public long Deadline { get; set; }

    /// <summary>Cancels the request while it is queued (a running batch is not interrupted).</summary>
    public CancellationToken CancellationToken { get; set; }

    internal DynamicBatcher Owner { get; }

    // Queue and lifecycle state, guarded by the owner's queue lock.
    internal int State;
    internal bool CancelPending;
    internal int Level;
    internal long EnqueuedAt;
    internal long QueuedTicks;
    internal long RunTicks;
    internal long DeadlineAt;
    internal long Sequence;
    internal BatchRequest? Previous;
    internal BatchRequest? Next;
    internal BatchRequest? ChainNext;
    internal CancellationTokenRegistration Registration;
    internal BatchResult Result;

    internal short Version => _core.Version;

    /// <summary>Sets input <paramref name="index"/>'s bytes: exactly <see cref="Rows"/> × the row bytes of its row shape.</summary>
    public void SetInput(int index, ReadOnlyMemory<byte> data) => _inputs[index] = data;

    /// <summary>
    /// Sets where output <paramref name="index"/> is copied: at least <see cref="Rows"/> × its row bytes. For an
    /// output with a variable row shape the needed size is known only after the run; a destination too small fails
    /// the request with <see cref="BatchFailureReason.ExecutionFailed"/>.
    /// </summary>
    public void SetOutput(int index, Memory<byte> destination) => _outputs[index] = destination;

    /// <summary>
    /// Sets the actual row shape (without the batch dimension) of input <paramref name="index"/>; required when the
    /// input's spec has a variable dimension, optional otherwise. Only requests with identical row shapes share a batch.
    /// A shape the spec does not accept fails the request with <see cref="BatchFailureReason.InvalidInput"/>.
    /// </summary>
    public void SetInputRowShape(int index, ReadOnlySpan<int> rowShape)
    {
        var shape = _inputShapes[index];
        if (rowShape.Length != shape.Length)
        {
            _inputShapeState[index] = ShapeBadRank;
            return;
        }

        rowShape.CopyTo(shape);
        _inputShapeState[index] = ShapeSet;
    }

    /// <summary>Row shape of output <paramref name="index"/> once the request succeeded (resolves variable dimensions).</summary>
    public ReadOnlySpan<int> GetOutputRowShape(int index) => _outputShapes[index];

    /// <summary>Time the request waited in the queue before its batch started (zero until it ran).</summary>
    public TimeSpan QueueTime => Owner.Elapsed(QueuedTicks);

    /// <summary>Time of the batch run that held the request (zero until it ran); the prediction log records both.</summary>
    public TimeSpan ComputeTime => Owner.Elapsed(RunTicks);

    /// <summary>Input <paramref name="index"/>'s bytes as set (valid until the request is returned).</summary>
    public ReadOnlyMemory<byte> GetInputData(int index) => _inputs[index];

    /// <summary>Bytes written to output <paramref name="index"/>'s destination once the request succeeded.</summary>
    public int GetOutputLength(int index) => _outputLengths[index];

    internal ReadOnlyMemory<byte> GetInput(int index) => _inputs[index];

    internal Memory<byte> GetOutput(int index) => _outputs[index];

    internal ReadOnlySpan<int> InputRowShape(int index) => _inputShapes[index];

    internal bool SameVariableShapes(BatchRequest other, int[] variableInputs)
    {
        foreach (var i in variableInputs)
        {
            if (!_inputShapes[i].AsSpan().SequenceEqual(other._inputShapes[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Checks the request against the specs; returns the problem, or null when it is valid.</summary>
    internal string? Validate(int maxRows, out int firstInvalidInput)
    {
        firstInvalidInput = -1;
        if (Rows < 1 || Rows > maxRows)
        {
            return maxRows == 1 && Rows > 1
                ? $"request has {Rows} rows but batching is off for this model: send one row per request"
                : $"request has {Rows} rows; must be between 1 and the max batch size {maxRows}";
        }

        for (var i = 0; i < _inputSpecs.Length; i++)
        {
            var spec = _inputSpecs[i];
            var state = _inputShapeState[i];
            var variable = _inputRowBytes[i] < 0;
            if (state == ShapeBadRank || (state == ShapeUnset && variable))
            {
                firstInvalidInput = i;
                return state == ShapeBadRank
                    ? $"input '{spec.Name}': row shape rank does not match [{string.Join(',', spec.RowShape)}]"
                    : $"input '{spec.Name}' has variable dimensions [{string.Join(',', spec.RowShape)}]; its row shape is required";
            }

            if (state == ShapeSet && !spec.Accepts(_inputShapes[i]))
            {
                firstInvalidInput = i;
                return $"input '{spec.Name}': row shape [{string.Join(',', _inputShapes[i])}] does not match [{string.Join(',', spec.RowShape)}]";
            }

            var expected = (long)Rows * (variable ? spec.RowBytes(_inputShapes[i]) : _inputRowBytes[i]);
            if (_inputs[i].Length != expected)
            {
                firstInvalidInput = i;
                return $"input '{spec.Name}': got {_inputs[i].Length} bytes, expected {expected} ({Rows} rows of [{string.Join(',', _inputShapes[i])}] x {spec.ElementSize} bytes)";
            }
        }

        for (var j = 0; j < _outputSpecs.Length; j++)
        {
            var rowBytes = _outputRowBytes[j];
            if (rowBytes >= 0 && _outputs[j].Length < (long)Rows * rowBytes)
            {
                return $"output '{_outputSpecs[j].Name}': destination has {_outputs[j].Length} bytes, needs {(long)Rows * rowBytes}";
            }
        }

        return null;
    }

    internal void SetOutputWritten(int index, ReadOnlySpan<int> rowShape, int length)
    {
        rowShape.CopyTo(_outputShapes[index]);
        _outputLengths[index] = length;
    }

    internal void SetResult(BatchResult result) => _core.SetResult(result);

    /// <summary>Clears everything a caller set, so the pooled object holds no caller memory, and readies the next await.</summary>
    internal void Reset()
    {
        _core.Reset();
        Array.Clear(_inputs);
        Array.Clear(_outputs);
        Array.Clear(_inputShapeState);
        Array.Clear(_outputLengths);
        for (var j = 0; j < _outputSpecs.Length; j++)
        {
            if (_outputRowBytes[j] < 0)
            {
                _outputSpecs[j].RowShape.CopyTo(_outputShapes[j], 0);
            }
        }

        for (var i = 0; i < _inputSpecs.Length; i++)
        {
            if (_inputRowBytes[i] < 0)
            {
                _inputSpecs[i].RowShape.CopyTo(_inputShapes[i], 0);
            }
        }

        Rows = 1;
        Priority = 0;
        SkipQueueDelay = false;
        InlineContinuation = false;
        Deadline = 0;
        CancellationToken = default;
        CancelPending = false;
        Previous = null;
        Next = null;
        ChainNext = null;
        Registration = default;
        Result = default;
        Sequence = -1;
        QueuedTicks = 0;
        RunTicks = 0;
    }

    BatchResult IValueTaskSource<BatchResult>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<BatchResult>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<BatchResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
