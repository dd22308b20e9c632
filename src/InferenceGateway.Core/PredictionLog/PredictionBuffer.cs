using System.Numerics;

namespace InferenceGateway.Core.PredictionLog;

/// <summary>
/// The bounded buffer between the request paths and the sink writer: a ring of pooled <see cref="PredictionRecord"/>
/// slots with one sequence number per cell (a bounded multi-producer queue after D. Vyukov's design), one consumer.
/// </summary>
/// <remarks>
/// A producer claims a cell with one compare-and-swap, copies its entry into the cell's slot and publishes it; no lock,
/// no allocation once the slot's arrays have their steady size. The consumer (the writer) looks at published cells
/// without taking them (<see cref="Peek"/>), hands them to the sink, and frees them (<see cref="Release"/>) only once
/// the sink stored them: records a failing sink has not taken stay in the buffer, and count against its bound.
/// </remarks>
internal sealed class PredictionBuffer
{
    private readonly Cell[] _cells;
    private readonly int _mask;
    private readonly ValueArrayPool<float> _floats;
    private readonly ValueArrayPool<bool> _flags;
    private long _tail; // next cell a producer claims
    private long _head; // oldest cell the consumer has not released

    /// <summary>
    /// A buffer of <paramref name="capacity"/> records whose values beyond a cell's inline size borrow arrays of up
    /// to <paramref name="maxValues"/> values from pools keeping at most <paramref name="poolBytes"/> between them.
    /// </summary>
    public PredictionBuffer(int capacity, int maxValues = 4096, long poolBytes = 16 << 20)
    {
        _floats = new ValueArrayPool<float>(PredictionRecord.InlineValues, maxValues, poolBytes * 4 / 5);
        _flags = new ValueArrayPool<bool>(PredictionRecord.InlineValues, maxValues, poolBytes / 5);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 2);
        var size = (int)BitOperations.RoundUpToPowerOf2((uint)capacity);
        _cells = new Cell[size];
        for (var i = 0; i < size; i++)
        {
            _cells[i] = new Cell { Sequence = i };
        }

        _mask = size - 1;
    }

    /// <summary>Cells in the ring (the configured capacity rounded up to a power of two).</summary>
    public int Capacity => _cells.Length;

    /// <summary>
    /// Bytes of value arrays the cells and pools hold now (a racy snapshot, for tests): what bounds the buffer's memory
    /// beside its cells.
    /// </summary>
    public long ValueBytes
    {
        get
        {
            long bytes = _floats.PooledBytes + _flags.PooledBytes;
            foreach (var cell in _cells)
            {
                if (cell.Record is { } record)
                {
                    bytes += record.ArrayBytes;
                }
            }

            return bytes;
        }
    }

    /// <summary>Records claimed and not yet released (a racy snapshot).</summary>
    public int Count => (int)Math.Clamp(Volatile.Read(ref _tail) - Volatile.Read(ref _head), 0, _cells.Length);

    /// <summary>
    /// The oldest position not yet released: every record written at a lower <see cref="TryWrite"/> position has been
    /// stored by the sink (the log's "committed through").
    /// </summary>
    public long Head => Volatile.Read(ref _head);

    /// <summary>
    /// Claims a cell, copies <paramref name="entry"/> into it and publishes it; false when the ring is full.
    /// <paramref name="position"/> is the record's place in the ring's order (0, 1, 2, ... across laps): it is stored
    /// once <see cref="Head"/> is past it.
    /// </summary>
    public bool TryWrite(in PredictionEntry entry, long servedAtUnixMs, int maxValues, out long position)
    {
        position = Volatile.Read(ref _tail);
        while (true)
        {
            var cell = _cells[position & _mask];
            var sequence = Volatile.Read(ref cell.Sequence);
            var difference = sequence - position;
            if (difference == 0)
            {
                var seen = Interlocked.CompareExchange(ref _tail, position + 1, position);
                if (seen == position)
                {
                    cell.Record ??= new PredictionRecord();
                    cell.Record.CopyFrom(entry, servedAtUnixMs, maxValues, _floats, _flags);
                    Volatile.Write(ref cell.Sequence, position + 1);
                    return true;
                }

                position = seen;
            }
            else if (difference < 0)
            {
                return false; // the cell still holds a record from one lap ago: full
            }
            else
            {
                position = Volatile.Read(ref _tail);
            }
        }
    }

    /// <summary>
    /// Copies up to <paramref name="destination"/>.Length published records, oldest first, starting
    /// <paramref name="skip"/> records after the oldest unreleased one, without taking them. Stops at the first cell
    /// a producer has claimed but not yet published.
    /// </summary>
    public int Peek(int skip, Span<PredictionRecord> destination)
    {
        var position = _head + skip;
        var count = 0;
        while (count < destination.Length)
        {
            var cell = _cells[position & _mask];
            if (Volatile.Read(ref cell.Sequence) != position + 1)
            {
                break;
            }

            destination[count++] = cell.Record!;
            position++;
        }

        return count;
    }

    /// <summary>Frees the <paramref name="count"/> oldest records (the consumer's, after the sink stored them).</summary>
    public void Release(int count)
    {
        var position = _head;
        for (var i = 0; i < count; i++, position++)
        {
            var cell = _cells[position & _mask];
            cell.Record!.Clear(_floats, _flags);
            Volatile.Write(ref cell.Sequence, position + _cells.Length);
        }

        Volatile.Write(ref _head, position);
    }

    private sealed class Cell
    {
        public long Sequence;
        public PredictionRecord? Record;
    }
}
