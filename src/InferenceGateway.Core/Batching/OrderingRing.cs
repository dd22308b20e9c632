namespace InferenceGateway.Core.Batching;

/// <summary>
/// <see cref="BatchingOptions.PreserveOrdering"/>: executed requests wait in a ring indexed by their arrival sequence
/// until every earlier one is out, so responses complete in arrival order even with several instances. Requests
/// removed without running (deadline, cancellation, shutdown) are answered at once and only release their place.
/// </summary>
internal sealed class OrderingRing(int capacity)
{
    private static readonly object s_skipped = new();

    private readonly Lock _lock = new();
    private readonly object?[] _slots = new object?[capacity];
    private long _nextSequence;
    private long _deliverNext;

    /// <summary>Under the queue lock: true when every sequence number is held by an undelivered request.</summary>
    public bool IsFull => _nextSequence - Volatile.Read(ref _deliverNext) >= _slots.Length;

    /// <summary>Under the queue lock: the next arrival sequence number.</summary>
    public long Reserve() => _nextSequence++;

    /// <summary>
    /// Completes a request holding a sequence number: an executed one (its <see cref="BatchRequest.Result"/> already
    /// set) once all earlier ones are out, one that did not run at once with <paramref name="result"/>.
    /// </summary>
    public void Complete(BatchRequest request, BatchResult result, bool executed)
    {
        var sequence = request.Sequence;
        if (executed)
        {
            request.Result = result;
        }
        else
        {
            request.SetResult(result);
        }

        lock (_lock)
        {
            _slots[(int)(sequence % _slots.Length)] = executed ? request : s_skipped;
            while (_slots[(int)(_deliverNext % _slots.Length)] is { } slot)
            {
                _slots[(int)(_deliverNext % _slots.Length)] = null;
                Volatile.Write(ref _deliverNext, _deliverNext + 1);
                if (slot is BatchRequest ready)
                {
                    // Continuations run on the thread pool (unless InlineContinuation), so this only queues them.
                    ready.SetResult(ready.Result);
                }
            }
        }
    }
}
