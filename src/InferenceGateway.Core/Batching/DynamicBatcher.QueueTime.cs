namespace InferenceGateway.Core.Batching;

// BatchingOptions.MaxQueueTime: admission by the time the work queued ahead of a request would take to run, judged by the
// model's recent run costs, so that under overload the queue holds a bounded time of work, not a bounded count.
public sealed partial class DynamicBatcher
{
    /// <summary>
    /// Under the queue lock: null to admit a request queued at <paramref name="level"/> now, else the message of its
    /// <see cref="BatchFailureReason.Overloaded"/> refusal: the work queued ahead of it (its level and the levels served
    /// before) would take longer to run than <see cref="BatchingOptions.MaxQueueTime"/>, or than the time left before
    /// the request's deadline, which would then pass in the queue anyway (refused now rather than counted as a deadline
    /// passed while queued: it never waited, and the deadline_exceeded count stays the queue's own).
    /// </summary>
    /// <remarks>
    /// The wait is estimated from the last <see cref="RunCostWindow.Size"/> batches two ways, and the smaller is taken,
    /// so that only a queue that is too long by both readings is refused: the rows ahead at the median cost per row
    /// (right when batches are full, which is what overload makes them; too high for a model whose batch of one costs
    /// nearly what a full batch does), and the full batches those rows make at the median cost per batch (right for
    /// such a model; too low for one whose cost grows with the rows, until its batches fill). Both are spread over the
    /// instances. The batch an instance is running is left out (at most one batch time). Nothing queued ahead, or
    /// fewer than <see cref="RunCostWindow.MinimumSamples"/> batches run (the first runs pay for lazy initialisation),
    /// admits; medians keep one slow batch (a collection, a preempted thread) from refusing requests for long.
    /// </remarks>
    private string? Admission(int level, long deadline, long now)
    {
        var rowsAhead = _queue.RowsAhead(level);
        if (rowsAhead == 0 || !_runCosts!.TryGetMedians(out var rowTicks, out var batchTicks))
        {
            return null;
        }

        var batchesAhead = (rowsAhead + _maxRows - 1) / _maxRows;
        var wait = Math.Min(rowsAhead * rowTicks, batchesAhead * batchTicks) / _instances.Length;
        var left = (double)deadline - now; // as a double: long.MaxValue (no deadline) must not overflow
        if (wait > left)
        {
            return DeadlineTooNearMessage;
        }

        return wait > _maxQueueTicks ? OverloadedMessage : null;
    }

    /// <summary>Batches that must have run before the queue-time bound judges anything (tests run this many first).</summary>
    internal const int MinimumRunCostSamples = RunCostWindow.MinimumSamples;

    /// <summary>Under the queue lock: adds the batch <paramref name="instance"/> ran last to the recent run costs.</summary>
    private void FoldRunCost(Instance instance)
    {
        var rows = instance.LastRunRows;
        if (rows == 0 || _runCosts is null)
        {
            return;
        }

        instance.LastRunRows = 0;
        _runCosts.Add(instance.LastRunTicks, rows);
    }

    /// <summary>
    /// The run times of the last <see cref="Size"/> batches, per batch and per row, and their medians (recomputed only
    /// when asked after a change: once per batch at most, and only while requests find work queued). Queue lock.
    /// </summary>
    private sealed class RunCostWindow
    {
        /// <summary>Batches remembered.</summary>
        public const int Size = 16;

        /// <summary>Batches that must have run before the window judges anything.</summary>
        public const int MinimumSamples = 8;

        private readonly double[] _batchTicks = new double[Size];
        private readonly double[] _rowTicks = new double[Size];
        private readonly double[] _sorted = new double[Size];
        private int _count;
        private int _next;
        private bool _stale;
        private double _medianRowTicks;
        private double _medianBatchTicks;

        public void Add(long runTicks, int rows)
        {
            _batchTicks[_next] = runTicks;
            _rowTicks[_next] = (double)runTicks / rows;
            _next = (_next + 1) % Size;
            _count = Math.Min(_count + 1, Size);
            _stale = true;
        }

        public bool TryGetMedians(out double rowTicks, out double batchTicks)
        {
            if (_count < MinimumSamples)
            {
                rowTicks = batchTicks = 0;
                return false;
            }

            if (_stale)
            {
                _medianRowTicks = Median(_rowTicks);
                _medianBatchTicks = Median(_batchTicks);
                _stale = false;
            }

            rowTicks = _medianRowTicks;
            batchTicks = _medianBatchTicks;
            return true;
        }

        private double Median(double[] values)
        {
            Array.Copy(values, _sorted, _count);
            Array.Sort(_sorted, 0, _count);
            return _count % 2 == 1 ? _sorted[_count / 2] : (_sorted[(_count / 2) - 1] + _sorted[_count / 2]) / 2;
        }
    }
}
