namespace InferenceGateway.Observability.Internal;

/// <summary>One label set of one metric: its rendered labels and its aggregate, updated lock-free.</summary>
internal sealed class MetricSeries
{
    public MetricSeries(byte[] labels, int bucketCount)
    {
        Labels = labels;
        if (bucketCount > 0)
        {
            Buckets = new long[bucketCount];
        }
    }

    /// <summary>UTF-8 <c>name="value",...</c> without braces; empty for no labels.</summary>
    public byte[] Labels { get; }

    /// <summary>Per-bucket (not cumulative) counts of a histogram, the last one for +Inf; null otherwise.</summary>
    public long[]? Buckets { get; }

    // Fields, not properties: they are updated with Interlocked through refs.
    public long LongSum;
    public double DoubleSum;
    public double Last;
    public int Epoch;

    public static void AddDouble(ref double target, double value)
    {
        var current = Volatile.Read(ref target);
        while (true)
        {
            var seen = Interlocked.CompareExchange(ref target, current + value, current);

            // Compare bits, not values: NaN never equals itself and would spin forever.
            if (BitConverter.DoubleToInt64Bits(seen) == BitConverter.DoubleToInt64Bits(current))
            {
                return;
            }

            current = seen;
        }
    }
}
