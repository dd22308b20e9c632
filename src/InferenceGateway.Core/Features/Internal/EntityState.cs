using System.Runtime.CompilerServices;

namespace InferenceGateway.Core.Features.Internal;

/// <summary>
/// One entity's retained events on one stream, sorted by event time (ties in arrival order), column by column:
/// times, running sums of each fixed-point field (so a window's sum is one subtraction and its count a binary search),
/// float values and string ids. Events live in <c>[head, head + count)</c> of the arrays; trimming moves the head
/// and the arrays compact or shrink as they empty. Not thread-safe: every access holds the entity's stripe lock.
/// </summary>
internal sealed class EntityState
{
    private const int InitialCapacity = 4;

    // Estimated object sizes on a 64-bit runtime: headers, fields, the dictionary node that holds the entity.
    private const int ObjectOverhead = 16;
    private const int ArrayOverhead = 24;
    private const int EntityObjectBytes = ObjectOverhead + 88;
    private const int DictionaryNodeBytes = 48;
    private const int SymbolTableObjectBytes = ObjectOverhead + 32;

    private readonly StreamRuntime _stream;
    private readonly long[][] _sums;
    private readonly double[][] _floats;
    private readonly int[][] _symbols;
    private readonly SymbolTable[] _tables;
    private long[] _times;
    private int _head;
    private int _count;

    public EntityState(StreamRuntime stream, string id, int stripe, int capacity = InitialCapacity)
    {
        _stream = stream;
        Id = id;
        Stripe = stripe;
        _times = new long[capacity];
        _sums = new long[stream.FixedColumns][];
        for (var c = 0; c < _sums.Length; c++)
        {
            _sums[c] = new long[capacity + 1];
        }

        _floats = new double[stream.FloatColumns][];
        for (var c = 0; c < _floats.Length; c++)
        {
            _floats[c] = new double[capacity];
        }

        _symbols = new int[stream.SymbolColumns][];
        _tables = new SymbolTable[stream.SymbolColumns];
        for (var c = 0; c < _symbols.Length; c++)
        {
            _symbols[c] = new int[capacity];
            _tables[c] = new SymbolTable();
        }
    }

    public string Id { get; }

    public int Stripe { get; }

    public StreamRuntime Stream => _stream;

    /// <summary>Value of the engine's access clock at the last ingest or lookup (least recently used goes first).</summary>
    public long LastAccess;

    /// <summary>Set, under the lock, once the entity left its stream's dictionary; holders must look it up again.</summary>
    public bool Removed;

    /// <summary>Estimated bytes, as last added to the stream's and engine's totals.</summary>
    public long Bytes;

    public int Count => _count;

    public int Capacity => _times.Length;

    /// <summary>Latest event time held; only when <see cref="Count"/> &gt; 0.</summary>
    public long LastTime => _times[_head + _count - 1];

    public long FirstTime => _times[_head];

    public ReadOnlySpan<long> Times => _times.AsSpan(_head, _count);

    /// <summary>Estimated bytes from the current capacities (not the counts: the arrays are what the memory is).</summary>
    public long EstimateBytes()
    {
        long capacity = _times.Length;
        var bytes = EntityObjectBytes + DictionaryNodeBytes + SymbolTable.SizeOf(Id)
            + ArrayOverhead + (8 * capacity)
            + (3 * ArrayOverhead) + (8L * (_sums.Length + _floats.Length + _symbols.Length + _tables.Length))
            + (_sums.Length * (ArrayOverhead + (8 * (capacity + 1))))
            + (_floats.Length * (ArrayOverhead + (8 * capacity)))
            + (_symbols.Length * (ArrayOverhead + (4 * capacity)));
        foreach (var table in _tables)
        {
            bytes += SymbolTableObjectBytes + (3 * ArrayOverhead) + (16L * table.Capacity) + table.StringBytes;
        }

        return bytes;
    }

    /// <summary>Index of the first event with time &gt;= <paramref name="time"/> (or the end).</summary>
    public int LowerBound(long time)
    {
        int lo = _head, hi = _head + _count;

        // Lookups are usually "as of now": past the last event.
        if (hi == lo || _times[hi - 1] < time)
        {
            return hi;
        }

        while (lo < hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            if (_times[mid] < time)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private int UpperBound(long time)
    {
        int lo = _head, hi = _head + _count;
        if (hi == lo || _times[hi - 1] <= time)
        {
            return hi;
        }

        while (lo < hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            if (_times[mid] <= time)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    /// <summary>
    /// Adds an event where its time puts it: after every event at the same or an earlier time, so the order is event
    /// time, then arrival. Appending is the common case; a late event shifts the later ones (and their sums) by one.
    /// </summary>
    public void Insert(long time, ReadOnlySpan<long> fixedValues, ReadOnlySpan<double> floats, ReadOnlySpan<string> strings, StringDeduplicator deduplicator)
    {
        EnsureRoom();
        var end = _head + _count;
        var at = UpperBound(time);
        var shift = end - at;
        if (shift > 0)
        {
            Array.Copy(_times, at, _times, at + 1, shift);
        }

        _times[at] = time;
        for (var c = 0; c < _sums.Length; c++)
        {
            var sums = _sums[c];
            var value = fixedValues[c];

            // sums[k] is the sum of the events before index k; unchecked: window sums are differences, exact modulo 2^64.
            for (var k = end; k > at; k--)
            {
                sums[k + 1] = unchecked(sums[k] + value);
            }

            sums[at + 1] = unchecked(sums[at] + value);
        }

        for (var c = 0; c < _floats.Length; c++)
        {
            var column = _floats[c];
            if (shift > 0)
            {
                Array.Copy(column, at, column, at + 1, shift);
            }

            column[at] = floats[c];
        }

        for (var c = 0; c < _symbols.Length; c++)
        {
            var column = _symbols[c];
            if (shift > 0)
            {
                Array.Copy(column, at, column, at + 1, shift);
            }

            column[at] = _tables[c].Acquire(strings[c], strings[c].GetHashCode(StringComparison.Ordinal), deduplicator);
        }

        _count++;
    }

    /// <summary>True when the next insert has to compact or grow the arrays (a good moment to trim first).</summary>
    public bool IsFull => _head + _count == _times.Length;

    /// <summary>Drops the events older than <paramref name="horizon"/>; returns how many.</summary>
    public int Trim(long horizon)
    {
        if (_count == 0 || _times[_head] >= horizon)
        {
            return 0;
        }

        var cut = LowerBound(horizon);
        var removed = cut - _head;
        for (var c = 0; c < _symbols.Length; c++)
        {
            var column = _symbols[c];
            var table = _tables[c];
            for (var i = _head; i < cut; i++)
            {
                table.Release(column[i]);
            }
        }

        _head = cut;
        _count -= removed;
        if (_count == 0)
        {
            _head = 0;
            foreach (var sums in _sums)
            {
                sums[0] = 0;
            }
        }

        // Give memory back once a burst has aged out: a quarter full halves the arrays.
        if (_times.Length > 16 && _count < _times.Length / 4)
        {
            Resize(Math.Max(InitialCapacity, _times.Length / 2));
        }

        return removed;
    }

    /// <summary>
    /// Computes one aggregation as of <paramref name="asOf"/> over the events in <c>[asOf - W, asOf)</c>; <paramref name="end"/>
    /// is <see cref="LowerBound"/>(asOf), shared by the aggregations of one lookup. False when the window is empty.
    /// </summary>
    public bool TryAggregate(in AggregationSpec spec, long asOf, int end, out double value)
    {
        var start = LowerBound(asOf - spec.WindowMs);
        var n = end - start;
        if (n <= 0)
        {
            value = 0;
            return false;
        }

        // Each case is computed in float64 in the order models/README.md writes it; the caller rounds once to float32.
        switch (spec.Function)
        {
            case AggregationFunction.Count:
                value = n;
                return true;
            case AggregationFunction.SecondsSinceLast:
                value = (double)(asOf - _times[end - 1]) / 1000.0;
                return true;
            case AggregationFunction.Sum:
                value = spec.Kind == ColumnKind.Fixed ? (double)FixedSum(spec.Column, start, end) / spec.Scale : FloatSum(spec.Column, start, end);
                return true;
            case AggregationFunction.Mean:
                value = spec.Kind == ColumnKind.Fixed
                    ? (double)FixedSum(spec.Column, start, end) / spec.Scale / (double)n
                    : FloatSum(spec.Column, start, end) / (double)n;
                return true;
            case AggregationFunction.Last:
                value = spec.Kind == ColumnKind.Fixed ? (double)FixedValue(spec.Column, end - 1) / spec.Scale : _floats[spec.Column][end - 1];
                return true;
            case AggregationFunction.Min:
            case AggregationFunction.Max:
                value = MinMax(spec, start, end);
                return true;
            default:
                value = Distinct(spec, start, end);
                return true;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long FixedSum(int column, int start, int end) => unchecked(_sums[column][end] - _sums[column][start]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long FixedValue(int column, int index) => unchecked(_sums[column][index + 1] - _sums[column][index]);

    private double FloatSum(int column, int start, int end)
    {
        // In event-time order, so the result does not depend on arrival order.
        var values = _floats[column];
        var sum = 0.0;
        for (var i = start; i < end; i++)
        {
            sum += values[i];
        }

        return sum;
    }

    private double MinMax(in AggregationSpec spec, int start, int end)
    {
        var max = spec.Function == AggregationFunction.Max;
        if (spec.Kind == ColumnKind.Fixed)
        {
            var best = FixedValue(spec.Column, start);
            for (var i = start + 1; i < end; i++)
            {
                var v = FixedValue(spec.Column, i);
                best = max ? Math.Max(best, v) : Math.Min(best, v);
            }

            // Division by a positive scale is monotonic, so this is the min/max of the float64 values.
            return (double)best / spec.Scale;
        }

        var values = _floats[spec.Column];
        var result = values[start];
        for (var i = start + 1; i < end; i++)
        {
            result = max ? Math.Max(result, values[i]) : Math.Min(result, values[i]);
        }

        return result;
    }

    private int Distinct(in AggregationSpec spec, int start, int end)
    {
        switch (spec.Kind)
        {
            case ColumnKind.Symbol:
                return DistinctCounter.CountIds(_symbols[spec.Column].AsSpan(start, end - start), _tables[spec.Column].Count);
            case ColumnKind.Fixed:
                var fixedSet = DistinctCounter.RentKeySet(end - start);
                for (var i = start; i < end; i++)
                {
                    fixedSet.Add(FixedValue(spec.Column, i));
                }

                return fixedSet.Count;
            default:
                var floatSet = DistinctCounter.RentKeySet(end - start);
                var values = _floats[spec.Column];
                for (var i = start; i < end; i++)
                {
                    // +0.0 and -0.0 are one value; non-finite values never get in.
                    floatSet.Add(BitConverter.DoubleToInt64Bits(values[i] + 0.0));
                }

                return floatSet.Count;
        }
    }

    /// <summary>Scaled value of fixed column <paramref name="column"/> at event <paramref name="index"/> (0-based among held events).</summary>
    public long FixedAt(int column, int index) => FixedValue(column, _head + index);

    public double FloatAt(int column, int index) => _floats[column][_head + index];

    public int SymbolAt(int column, int index) => _symbols[column][_head + index];

    public SymbolTable Table(int column) => _tables[column];

    /// <summary>Appends a restored event (already validated as sorted); symbols are restored into the tables first.</summary>
    public bool AppendRestored(long time, ReadOnlySpan<long> fixedValues, ReadOnlySpan<double> floats, ReadOnlySpan<int> symbolIds)
    {
        EnsureRoom();
        var end = _head + _count;
        _times[end] = time;
        for (var c = 0; c < _sums.Length; c++)
        {
            _sums[c][end + 1] = unchecked(_sums[c][end] + fixedValues[c]);
        }

        for (var c = 0; c < _floats.Length; c++)
        {
            _floats[c][end] = floats[c];
        }

        for (var c = 0; c < _symbols.Length; c++)
        {
            if (!_tables[c].AddRestoredReference(symbolIds[c]))
            {
                return false;
            }

            _symbols[c][end] = symbolIds[c];
        }

        _count++;
        return true;
    }

    private void EnsureRoom()
    {
        if (_head + _count < _times.Length)
        {
            return;
        }

        // Full at the end: slide down when a quarter or more of the array is already free, else double.
        Resize(_head > 0 && _count <= _times.Length * 3 / 4 ? _times.Length : _times.Length * 2);
    }

    private void Resize(int capacity)
    {
        var times = capacity == _times.Length ? _times : new long[capacity];
        Array.Copy(_times, _head, times, 0, _count);
        _times = times;
        for (var c = 0; c < _sums.Length; c++)
        {
            var sums = capacity == _sums[c].Length - 1 ? _sums[c] : new long[capacity + 1];
            Array.Copy(_sums[c], _head, sums, 0, _count + 1);
            _sums[c] = sums;
        }

        for (var c = 0; c < _floats.Length; c++)
        {
            var values = capacity == _floats[c].Length ? _floats[c] : new double[capacity];
            Array.Copy(_floats[c], _head, values, 0, _count);
            _floats[c] = values;
        }

        for (var c = 0; c < _symbols.Length; c++)
        {
            var ids = capacity == _symbols[c].Length ? _symbols[c] : new int[capacity];
            Array.Copy(_symbols[c], _head, ids, 0, _count);
            _symbols[c] = ids;
        }

        _head = 0;
    }
}
