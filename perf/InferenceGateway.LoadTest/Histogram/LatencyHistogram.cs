using HdrHistogram;

namespace InferenceGateway.LoadTest.Histogram;

/// <summary>
/// The load tool's latency histogram (nanoseconds): a thin wrapper over HdrHistogram.NET's concurrent histogram that
/// adds what the reports need beyond it: values below 0 or above the trackable range are clamped instead of throwing,
/// the minimum, maximum and mean are exact (HdrHistogram's are bucket-rounded), and a percentile is never reported
/// outside the recorded [min, max]. Recording is allocation-free and safe from many threads.
/// </summary>
/// <remarks>
/// HdrHistogram.NET 2.5.0 computes a bucket's width as a 32-bit shift (<c>1 &lt;&lt; (bucket + 1)</c>), which wraps for
/// buckets from 2^31 units wide: at 3 significant digits, values of 2^40 ns (18.3 minutes) and above get wrong
/// equivalent values and percentiles. The range is therefore capped below that (<see cref="MaxSafeValue"/>), and the
/// default range is 15 minutes, far above any call deadline the tool sets.
/// </remarks>
public sealed class LatencyHistogram
{
    /// <summary>Fifteen minutes in nanoseconds: the default highest trackable latency.</summary>
    public const long FifteenMinutesNanos = 15 * 60 * 1_000_000_000L;

    private readonly LongConcurrentHistogram _counts;
    private long _totalCount;
    private long _sum;
    private long _min = long.MaxValue;
    private long _max;

    /// <summary>Creates a histogram for latencies in nanoseconds: 1 ns .. 15 min, 3 significant digits.</summary>
    public LatencyHistogram()
        : this(FifteenMinutesNanos, 3)
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
        ArgumentOutOfRangeException.ThrowIfGreaterThan(highestTrackableValue, MaxSafeValue(significantDigits));
        HighestTrackableValue = highestTrackableValue;
        SignificantDigits = significantDigits;
        _counts = new LongConcurrentHistogram(1, highestTrackableValue, significantDigits);
    }

    /// <summary>
    /// Largest value whose bucket width HdrHistogram.NET computes without overflow at this precision: the bucket index
    /// plus one must stay below 31, and a value's bucket index is its bit length minus the sub-bucket magnitude.
    /// </summary>
    public static long MaxSafeValue(int significantDigits)
    {
        var subBucketMagnitude = (int)Math.Ceiling(Math.Log2(2 * Math.Pow(10, significantDigits)));
        return (1L << (subBucketMagnitude + 29)) - 1;
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

    /// <summary>Records one value (thread-safe, like <see cref="RecordValueAtomic"/>).</summary>
    public void RecordValue(long value) => RecordValueAtomic(value);

    /// <summary>Records one value with interlocked operations, so concurrent writers need no lock.</summary>
    public void RecordValueAtomic(long value)
    {
        value = Clamp(value);
        _counts.RecordValue(value);
        Interlocked.Add(ref _sum, value);
        AtomicMin(ref _min, value);
        AtomicMax(ref _max, value);

        // Last, so a reader that sees the count also sees the value (progress lines only; results merge after the run).
        Interlocked.Increment(ref _totalCount);
    }

    /// <summary>Adds every count of <paramref name="other"/> to this histogram. Both must share the same range and precision.</summary>
    public void Add(LatencyHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.HighestTrackableValue != HighestTrackableValue || other.SignificantDigits != SignificantDigits)
        {
            throw new ArgumentException("Histograms must have the same range and precision to be merged.", nameof(other));
        }

        long otherCount = other.TotalCount;
        if (otherCount == 0)
        {
            return;
        }

        _counts.Add(other._counts);
        Interlocked.Add(ref _sum, Volatile.Read(ref other._sum));
        AtomicMin(ref _min, Volatile.Read(ref other._min));
        AtomicMax(ref _max, Volatile.Read(ref other._max));
        Interlocked.Add(ref _totalCount, otherCount);
    }

    /// <summary>Clears every count. Not safe while other threads record.</summary>
    public void Reset()
    {
        _counts.Reset();
        _totalCount = 0;
        _sum = 0;
        _min = long.MaxValue;
        _max = 0;
    }

    /// <summary>
    /// The value at <paramref name="percentile"/> (0..100): HdrHistogram's answer (the highest value equivalent to
    /// the bucket that holds that rank), kept within the exact [min, max]. Relative error is below 10^-SignificantDigits.
    /// </summary>
    public long GetValueAtPercentile(double percentile)
    {
        if (TotalCount == 0)
        {
            return 0;
        }

        percentile = Math.Clamp(percentile, 0, 100);
        return Math.Min(Math.Max(_counts.GetValueAtPercentile(percentile), Min), Max);
    }

    /// <summary>Number of recorded values whose bucket lies at or above <paramref name="value"/>'s bucket.</summary>
    public long CountAtOrAbove(long value)
    {
        long from = LowestEquivalentValue(Clamp(value));
        long n = 0;
        foreach (var recorded in _counts.RecordedValues())
        {
            if (recorded.ValueIteratedTo >= from)
            {
                n += recorded.CountAtValueIteratedTo;
            }
        }

        return n;
    }

    /// <summary>Smallest value that shares <paramref name="value"/>'s bucket.</summary>
    public long LowestEquivalentValue(long value) => _counts.LowestEquivalentValue(value);

    /// <summary>Largest value that shares <paramref name="value"/>'s bucket.</summary>
    public long HighestEquivalentValue(long value) => _counts.HighestEquivalentValue(value);

    private long Clamp(long value) => value < 0 ? 0 : Math.Min(value, HighestTrackableValue);

    private static void AtomicMin(ref long location, long value)
    {
        long current = Volatile.Read(ref location);
        while (value < current)
        {
            long seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

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
