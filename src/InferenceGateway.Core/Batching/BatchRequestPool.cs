namespace InferenceGateway.Core.Batching;

/// <summary>
/// Free <see cref="BatchRequest"/>s of one batcher. Bounded: requests returned beyond the capacity are left to the GC,
/// so a burst does not keep its peak alive for ever.
/// </summary>
internal sealed class BatchRequestPool(int capacity)
{
    private readonly Lock _lock = new();
    private readonly BatchRequest?[] _items = new BatchRequest?[capacity];
    private int _count;

    /// <summary>A free request, or null when the pool is empty.</summary>
    public BatchRequest? TryRent()
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                return null;
            }

            var request = _items[--_count];
            _items[_count] = null;
            return request;
        }
    }

    /// <summary>Keeps a reset request for reuse, unless the pool is full.</summary>
    public void Return(BatchRequest request)
    {
        lock (_lock)
        {
            if (_count < _items.Length)
            {
                _items[_count++] = request;
            }
        }
    }
}
