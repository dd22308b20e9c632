using InferenceGateway.LoadTest.Histogram;

namespace InferenceGateway.LoadTest.Tests;

public sealed class LatencyHistogramTests
{
    // 3 significant digits: the layout uses 2048 sub-buckets, so a bucket is at most 1/1024 of its value wide.
    private const double Precision = 1e-3;

    [Theory]
    [InlineData(50.0)]
    [InlineData(90.0)]
    [InlineData(99.0)]
    [InlineData(99.9)]
    public void GetValueAtPercentile_UniformOneToN_WithinPrecisionOfExactQuantile(double percentile)
    {
        const long n = 100_000;
        const long unit = 1_000; // microseconds recorded as nanoseconds
        var h = new LatencyHistogram();
        for (long v = 1; v <= n; v++)
        {
            h.RecordValue(v * unit);
        }

        long exact = Rank(percentile, n) * unit;
        long actual = h.GetValueAtPercentile(percentile);

        Assert.InRange(actual, exact, exact * (1 + Precision));
        Assert.Equal(n, h.TotalCount);
        Assert.Equal(unit, h.Min);
        Assert.Equal(n * unit, h.Max);
        Assert.Equal((n + 1) / 2.0 * unit, h.Mean, 6);
    }

    [Fact]
    public void GetValueAtPercentile_SeededExponential_MatchesSampleAndTheoreticalQuantiles()
    {
        const int count = 200_000;
        const double meanNanos = 1_000_000; // 1 ms
        var random = new Random(1234);
        var samples = new long[count];
        var h = new LatencyHistogram();
        for (int i = 0; i < count; i++)
        {
            samples[i] = (long)(-Math.Log(1 - random.NextDouble()) * meanNanos);
            h.RecordValue(samples[i]);
        }

        Array.Sort(samples);
        foreach (double p in new[] { 50.0, 90.0, 99.0, 99.9 })
        {
            long sampleQuantile = samples[Rank(p, count) - 1];
            long actual = h.GetValueAtPercentile(p);
            Assert.InRange(actual, sampleQuantile, sampleQuantile * (1 + Precision) + 1);

            // Exponential quantile: -ln(1 - p) * mean; the sample error at 200k draws is well under 5 %.
            double theoretical = -Math.Log(1 - (p / 100)) * meanNanos;
            Assert.InRange(actual, theoretical * 0.95, theoretical * 1.05);
        }

        Assert.Equal(samples[^1], h.Max);
        Assert.InRange(h.Mean, meanNanos * 0.98, meanNanos * 1.02);
    }

    [Fact]
    public void GetValueAtPercentile_ConstantValue_EveryPercentileIsThatValue()
    {
        const long value = 12_345_678;
        var h = new LatencyHistogram();
        for (int i = 0; i < 1000; i++)
        {
            h.RecordValue(value);
        }

        foreach (double p in new[] { 0.0, 1.0, 50.0, 99.0, 99.99, 100.0 })
        {
            Assert.InRange(h.GetValueAtPercentile(p), value * (1 - Precision), value);
        }

        Assert.Equal(value, h.Min);
        Assert.Equal(value, h.Max);
        Assert.Equal(value, h.Mean);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(5)]
    public void HighestEquivalentValue_UpToMaxSafeValue_BucketHoldsTheValue(int digits)
    {
        // Guards the cap on HdrHistogram.NET's 32-bit bucket-width shift: at the cap the bucket is still sane.
        var top = LatencyHistogram.MaxSafeValue(digits);
        var h = new LatencyHistogram(top, digits);
        foreach (var v in new[] { top, top / 2 + 1, top / 3 })
        {
            Assert.InRange(v, h.LowestEquivalentValue(v), h.HighestEquivalentValue(v));
        }

        h.RecordValue(top);
        Assert.Equal(top, h.GetValueAtPercentile(100));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LatencyHistogram(top + 1, digits));
    }

    [Fact]
    public void HighestEquivalentValue_AcrossRange_BucketWidthWithinPrecision()
    {
        var h = new LatencyHistogram();
        var random = new Random(7);
        for (int i = 0; i < 10_000; i++)
        {
            long v = Math.Min((long)Math.Pow(10, 3 + (random.NextDouble() * 9)), h.HighestTrackableValue); // 1 us .. 15 min
            long low = h.LowestEquivalentValue(v);
            long high = h.HighestEquivalentValue(v);
            Assert.InRange(v, low, high);
            Assert.True((high - low) / (double)low < Precision, $"bucket of {v} is [{low}, {high}]");
        }
    }

    [Fact]
    public void Add_TwoHalves_EqualsSingleHistogram()
    {
        var whole = new LatencyHistogram();
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        var random = new Random(99);
        for (int i = 0; i < 50_000; i++)
        {
            long v = random.NextInt64(1_000, 500_000_000);
            whole.RecordValue(v);
            (i % 2 == 0 ? a : b).RecordValue(v);
        }

        a.Add(b);

        Assert.Equal(whole.TotalCount, a.TotalCount);
        Assert.Equal(whole.Min, a.Min);
        Assert.Equal(whole.Max, a.Max);
        Assert.Equal(whole.Mean, a.Mean, 6);
        foreach (double p in new[] { 10.0, 50.0, 90.0, 99.0, 99.9 })
        {
            Assert.Equal(whole.GetValueAtPercentile(p), a.GetValueAtPercentile(p));
        }
    }

    [Fact]
    public void Add_DifferentLayout_Throws()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram(1_000_000, 2);
        Assert.Throws<ArgumentException>(() => a.Add(b));
    }

    [Fact]
    public void Reset_AfterRecording_Empty()
    {
        var h = new LatencyHistogram();
        h.RecordValue(5_000);
        h.RecordValue(9_000_000);

        h.Reset();

        Assert.Equal(0, h.TotalCount);
        Assert.Equal(0, h.Max);
        Assert.Equal(0, h.Min);
        Assert.Equal(0, h.GetValueAtPercentile(99));
        Assert.Equal(0, h.CountAtOrAbove(0));
    }

    [Fact]
    public void RecordValue_OutOfRange_ClampedToRange()
    {
        var h = new LatencyHistogram(1_000_000, 3);
        h.RecordValue(-5);
        h.RecordValue(5_000_000);

        Assert.Equal(0, h.Min);
        Assert.Equal(1_000_000, h.Max);
        Assert.Equal(2, h.TotalCount);
    }

    [Fact]
    public async Task RecordValueAtomic_ConcurrentWriters_SameAsSequential()
    {
        var shared = new LatencyHistogram();
        var sequential = new LatencyHistogram();
        const int writers = 4;
        const int perWriter = 100_000;
        for (int w = 0; w < writers; w++)
        {
            for (int i = 0; i < perWriter; i++)
            {
                sequential.RecordValue(((i % 1000) + 1) * 1_000L);
            }
        }

        var tasks = new Task[writers];
        for (int w = 0; w < writers; w++)
        {
            tasks[w] = Task.Run(() =>
            {
                for (int i = 0; i < perWriter; i++)
                {
                    shared.RecordValueAtomic(((i % 1000) + 1) * 1_000L);
                }
            });
        }

        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(writers * perWriter, shared.TotalCount);
        Assert.Equal(sequential.Mean, shared.Mean, 6);
        foreach (double p in new[] { 1.0, 50.0, 99.0, 100.0 })
        {
            Assert.Equal(sequential.GetValueAtPercentile(p), shared.GetValueAtPercentile(p));
        }
    }

    [Fact]
    public void CountAtOrAbove_SplitsAtThreshold()
    {
        var h = new LatencyHistogram();
        for (int i = 1; i <= 100; i++)
        {
            h.RecordValue(i * 1_000_000L);
        }

        Assert.Equal(51, h.CountAtOrAbove(50_000_000));
        Assert.Equal(100, h.CountAtOrAbove(0));
    }

    private static long Rank(double percentile, long n) => (long)Math.Ceiling((decimal)percentile * n / 100m);
}
