using System.Numerics;

namespace InferenceGateway.LoadTest.Histogram;

/// <summary>
/// A high-dynamic-range histogram of non-negative integer values (the load tool records nanoseconds).
/// Log-linear buckets: each power-of-two range is split into a fixed number of linear sub-buckets, so
/// every recorded value keeps <see cref="SignificantDigits"/> decimal digits of precision across the whole
/// trackable range (HdrHistogram's layout). Recording is O(1) and allocation-free; the atomic variant
/// lets many threads share one instance without locks.
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>One hour in nanoseconds: the default highest trackable latency.</summary>
    public const long OneHourNanos = 3_600_000_000_000L;

    private readonly int _subBucketHalfCountMagnitude;
    private readonly int _subBucketHalfCount;
    private readonly long _subBucketMask;
    private readonly int _leadingZeroCountBase;
    private readonly long[] _counts;

    private long _totalCount;
    private long _sum;
    private long _min = long.MaxValue;
    private long _max;

    /// <summary>Creates a histogram for latencies in nanoseconds: 1 ns .. 1 h, 3 significant digits.</summary>
    public LatencyHistogram()
        : this(OneHourNanos, 3)
    {
    }

    /// <summary>Creates a histogram tracking values 0..<paramref name="highestTrackableValue"/>.</summary>
    /// <param name="highestTrackableValue">Largest value recorded exactly; larger values are clamped to it.</param>
    /// <param name="significantDigits">Decimal digits of precision kept for every value (1..5).</param>
    public LatencyHistogram(long highestTrackableValue, int significantDigits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(highestTrackableValue, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(significantDigits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(significantDigits, 5);

        HighestTrackableValue = highestTrackableValue;
        SignificantDigits = significantDigits;

        // Enough linear sub-buckets that adjacent ones differ by less than one unit in the last kept digit.
        long largestSingleUnitResolution = 2 * (long)Math.Pow(10, significantDigits);
        int subBucketCountMagnitude = (int)Math.Ceiling(Math.Log2(largestSingleUnitResolution));
        _subBucketHalfCountMagnitude = subBucketCountMagnitude - 1;
        int subBucketCount = 1 << subBucketCountMagnitude;
        _subBucketHalfCount = subBucketCount / 2;
        _subBucketMask = subBucketCount - 1;
        _leadingZeroCountBase = 64 - _subBucketHalfCountMagnitude - 1;

        // Bucket 0 covers [0, subBucketCount); each further bucket doubles the range with half the sub-buckets.
        int bucketCount = 1;
        long smallestUntrackable = subBucketCount;
        while (smallestUntrackable <= highestTrackableValue)
        {
            if (smallestUntrackable > long.MaxValue / 2)
            {
                bucketCount++;
                break;
            }

            smallestUntrackable <<= 1;
            bucketCount++;
        }

        _counts = new long[(bucketCount + 1) * _subBucketHalfCount];
    }

    /// <summary>Largest value that is recorded without clamping.</summary>
    public long HighestTrackableValue { get; }

    /// <summary>Decimal digits of precision kept for every value.</summary>
    public int SignificantDigits { get; }

    /// <summary>Number of recorded values.</summary>
    public long TotalCount => Volatile.Read(ref _totalCount);

    /// <summary>Smallest recorded value (exact), or 0 when empty.</summary>
    public long Min => TotalCount == 0 ? 0 : Volatile.Read(ref _min);

    /// <summary>Largest recorded value (exact, after clamping), or 0 when empty.</summary>
    public long Max => Volatile.Read(ref _max);

    /// <summary>Exact arithmetic mean of the recorded values, or 0 when empty.</summary>
    public double Mean
    {
        get
        {
            long n = TotalCount;
            return n == 0 ? 0 : (double)Volatile.Read(ref _sum) / n;
        }
    }

    /// <summary>Records one value. Not thread-safe: use one instance per writer, or <see cref="RecordValueAtomic"/>.</summary>
    public void RecordValue(long value)
    {
        value = Clamp(value);
        _counts[CountsIndex(value)]++;
        _totalCount++;
        _sum += value;
        if (value < _min)
        {
            _min = value;
        }

        if (value > _max)
        {
            _max = value;
        }
    }

    /// <summary>Records one value with interlocked operations, so concurrent writers need no lock.</summary>
    public void RecordValueAtomic(long value)
    {
        value = Clamp(value);
        Interlocked.Increment(ref _counts[CountsIndex(value)]);
        Interlocked.Add(ref _sum, value);
        UpdateMin(value);
        UpdateMax(value);

        // Last, so a reader that sees the count also sees the bucket (progress lines only; results merge after the run).
        Interlocked.Increment(ref _totalCount);
    }

    /// <summary>Adds every count of <paramref name="other"/> to this histogram. Both must share the same layout.</summary>
    public void Add(LatencyHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other._counts.Length != _counts.Length || other._subBucketHalfCount != _subBucketHalfCount)
        {
            throw new ArgumentException("Histograms must have the same range and precision to be merged.", nameof(other));
        }

        long[] src = other._counts;
        for (int i = 0; i < src.Length; i++)
        {
            _counts[i] += src[i];
        }

        long otherCount = other.TotalCount;
        if (otherCount == 0)
        {
            return;
        }

        _totalCount += otherCount;
        _sum += other._sum;
        _min = Math.Min(_min, other._min);
        _max = Math.Max(_max, other._max);
    }

    /// <summary>Clears every count.</summary>
    public void Reset()
    {
        Array.Clear(_counts);
        _totalCount = 0;
        _sum = 0;
        _min = long.MaxValue;
        _max = 0;
    }

    /// <summary>
    /// The value at <paramref name="percentile"/> (0..100): the smallest recorded value's bucket such that at
    /// least that share of values is at or below it, reported as the bucket's highest equivalent value and never
    /// above the exact maximum. Relative error is below 10^-SignificantDigits.
    /// </summary>
    public long GetValueAtPercentile(double percentile)
    {
        long total = TotalCount;
        if (total == 0)
        {
            return 0;
        }

        percentile = Math.Clamp(percentile, 0, 100);
        // The epsilon keeps 99.9 % of 100000 at rank 99900 despite binary floating point (99900.00000000001).
        long target = Math.Max(1, (long)Math.Ceiling((percentile / 100.0 * total) - 1e-7));
        if (target >= total)
        {
            return Max;
        }

        long cumulative = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            cumulative += _counts[i];
            if (cumulative >= target)
            {
                long value = HighestEquivalentValue(ValueFromIndex(i));
                return Math.Min(Math.Max(value, Min), Max);
            }
        }

        return Max;
    }

    /// <summary>Number of recorded values whose bucket lies at or above <paramref name="value"/>'s bucket.</summary>
    public long CountAtOrAbove(long value)
    {
        long n = 0;
        for (int i = CountsIndex(Clamp(value)); i < _counts.Length; i++)
        {
            n += _counts[i];
        }

        return n;
    }

    /// <summary>Smallest value that shares <paramref name="value"/>'s bucket.</summary>
    public long LowestEquivalentValue(long value)
    {
        int bucketIndex = BucketIndex(value);
        int subBucketIndex = SubBucketIndex(value, bucketIndex);
        return (long)subBucketIndex << bucketIndex;
    }

    /// <summary>Largest value that shares <paramref name="value"/>'s bucket.</summary>
    public long HighestEquivalentValue(long value)
    {
        int bucketIndex = BucketIndex(value);
        int subBucketIndex = SubBucketIndex(value, bucketIndex);
        long size = 1L << (subBucketIndex >= 2 * _subBucketHalfCount ? bucketIndex + 1 : bucketIndex);
        return LowestEquivalentValue(value) + size - 1;
    }

    private long Clamp(long value) => value < 0 ? 0 : Math.Min(value, HighestTrackableValue);

    private int BucketIndex(long value) =>
        _leadingZeroCountBase - BitOperations.LeadingZeroCount((ulong)(value | _subBucketMask));

    private static int SubBucketIndex(long value, int bucketIndex) => (int)(value >> bucketIndex);

    private int CountsIndex(long value)
    {
        int bucketIndex = BucketIndex(value);
        int subBucketIndex = SubBucketIndex(value, bucketIndex);

        // Buckets above 0 only use their upper half of sub-buckets (the lower half overlaps the previous bucket).
        return ((bucketIndex + 1) << _subBucketHalfCountMagnitude) + (subBucketIndex - _subBucketHalfCount);
    }

    private long ValueFromIndex(int index)
    {
        int bucketIndex = (index >> _subBucketHalfCountMagnitude) - 1;
        int subBucketIndex = (index & (_subBucketHalfCount - 1)) + _subBucketHalfCount;
        if (bucketIndex < 0)
        {
            subBucketIndex -= _subBucketHalfCount;
            bucketIndex = 0;
        }

        return (long)subBucketIndex << bucketIndex;
    }

    private void UpdateMin(long value)
    {
        long current = Volatile.Read(ref _min);
        while (value < current)
        {
            long seen = Interlocked.CompareExchange(ref _min, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    private void UpdateMax(long value) => AtomicMax(ref _max, value);

    /// <summary>Raises <paramref name="location"/> to <paramref name="value"/> if it is lower, atomically.</summary>
    internal static void AtomicMax(ref long location, long value)
    {
        long current = Volatile.Read(ref location);
        while (value > current)
        {
            long seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
