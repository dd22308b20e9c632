using System.Numerics;

namespace InferenceGateway.Core.PredictionLog;

/// <summary>
/// Arrays for record values too large to stay in a buffer cell (<see cref="PredictionRecord.InlineValues"/>), shared by
/// the cells of one buffer: rented when a record is copied in, returned when the writer releases it. Lengths are
/// powers of two; each length keeps at most its share of <c>budgetBytes</c>, beyond which returned arrays are left to
/// the collector.
/// </summary>
/// <remarks>
/// Why: a cell that kept whatever array its largest record needed made the buffer's memory its capacity times the
/// largest record, not what it holds. With 262,144 cells and a 512-value model among the traffic that reached ~650 MB
/// (a soak run's managed heap grew 52 -> 370 MB in four minutes); now large arrays live only while their record is
/// buffered, and the pool keeps steady traffic free of garbage.
/// </remarks>
internal sealed class ValueArrayPool<T>
{
    private readonly Stack<T[]>[] _stacks;
    private readonly int[] _limits;
    private readonly int _smallestShift;

    /// <summary>A pool for arrays longer than <paramref name="inlineLength"/> up to <paramref name="maxLength"/>.</summary>
    public ValueArrayPool(int inlineLength, int maxLength, long budgetBytes)
    {
        _smallestShift = BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)inlineLength + 1));
        var largestShift = Math.Max(_smallestShift, BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)Math.Max(maxLength, 1))));
        var count = largestShift - _smallestShift + 1;
        _stacks = new Stack<T[]>[count];
        _limits = new int[count];
        var elementBytes = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        for (var i = 0; i < count; i++)
        {
            _limits[i] = (int)Math.Clamp(budgetBytes / count / ((long)elementBytes << (_smallestShift + i)), 1, 1 << 20);
            _stacks[i] = new Stack<T[]>(Math.Min(_limits[i], 1024));
        }
    }

    /// <summary>Arrays the pool holds now (for tests and the buffer's memory figure).</summary>
    public long PooledBytes
    {
        get
        {
            long bytes = 0;
            for (var i = 0; i < _stacks.Length; i++)
            {
                lock (_stacks[i])
                {
                    bytes += (long)_stacks[i].Count * System.Runtime.CompilerServices.Unsafe.SizeOf<T>() << (_smallestShift + i);
                }
            }

            return bytes;
        }
    }

    /// <summary>An array of at least <paramref name="length"/> values (a power of two; contents undefined).</summary>
    public T[] Rent(int length)
    {
        var index = Index(length);
        if (index < _stacks.Length)
        {
            var stack = _stacks[index];
            lock (stack)
            {
                if (stack.TryPop(out var array))
                {
                    return array;
                }
            }
        }

        return new T[BitOperations.RoundUpToPowerOf2((uint)length)];
    }

    /// <summary>Takes back an array <see cref="Rent"/> gave out.</summary>
    public void Return(T[] array)
    {
        var index = Index(array.Length);
        if (index >= _stacks.Length || array.Length != 1 << (_smallestShift + index))
        {
            return; // not one of ours
        }

        var stack = _stacks[index];
        lock (stack)
        {
            if (stack.Count < _limits[index])
            {
                stack.Push(array);
            }
        }
    }

    private int Index(int length) => Math.Max(0, BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)length)) - _smallestShift);
}
