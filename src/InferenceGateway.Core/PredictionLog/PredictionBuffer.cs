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
    private long _tail; // next cell a producer claims
    private long _head; // oldest cell the consumer has not released

    public PredictionBuffer(int capacity)
    {
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

    /// <summary>Records claimed and not yet released (a racy snapshot).</summary>
    public int Count => (int)Math.Clamp(Volatile.Read(ref _tail) - Volatile.Read(ref _head), 0, _cells.Length);

    /// <summary>Claims a cell, copies <paramref name="entry"/> into it and publishes it; false when the ring is full.</summary>
    public bool TryWrite(in PredictionEntry entry, long servedAtUnixMs, int maxValues, out int countAfter)
    {
        var position = Volatile.Read(ref _tail);
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
                    cell.Record.CopyFrom(entry, servedAtUnixMs, maxValues);
                    Volatile.Write(ref cell.Sequence, position + 1);
                    countAfter = (int)(position + 1 - Volatile.Read(ref _head));
                    return true;
                }

                position = seen;
            }
            else if (difference < 0)
            {
                countAfter = _cells.Length;
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
            cell.Record!.Clear();
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
