using System.Diagnostics;
using System.Diagnostics.Metrics;
using InferenceGateway.Testing;
using Microsoft.Extensions.DependencyInjection;
using static InferenceGateway.Observability.Tests.TestScrape;

namespace InferenceGateway.Observability.Tests;

public sealed class PrometheusMetricsCollectorTests
{
    private static readonly double[] s_secondsBuckets =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, double.PositiveInfinity];

    [Fact]
    public void WriteTo_CounterWithTags_ExposesTotalFamilyPerLabelSet()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var requests = meter.CreateCounter<long>("gateway.batcher.requests", "{request}", "Requests answered by the batcher, by outcome");

        requests.Add(3, Tag("model", "fraud"), Tag("version", "1"), Tag("outcome", "success"));
        requests.Add(2, Tag("model", "fraud"), Tag("version", "1"), Tag("outcome", "success"));
        requests.Add(1, Tag("model", "fraud"), Tag("version", "1"), Tag("outcome", "queue_full"));
        requests.Add(7);

        var scrape = Parse(collector);
        var family = scrape.Family("gateway_batcher_requests_total");
        Assert.Equal("counter", family.Type);
        Assert.Equal("Requests answered by the batcher, by outcome", family.Help);
        Assert.Equal(3, family.Samples.Count);
        Assert.Equal(5, scrape.Value("gateway_batcher_requests_total", ("model", "fraud"), ("version", "1"), ("outcome", "success")));
        Assert.Equal(1, scrape.Value("gateway_batcher_requests_total", ("model", "fraud"), ("version", "1"), ("outcome", "queue_full")));
        Assert.Equal(7, scrape.Value("gateway_batcher_requests_total"));
    }

    [Fact]
    public void WriteTo_TagsInAnyOrder_OneSeriesWithSortedSanitizedLabels()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var counter = meter.CreateCounter<int>("gateway.requests");

        counter.Add(1, Tag("version", "2"), Tag("model.name", "fraud"));
        counter.Add(1, Tag("model.name", "fraud"), Tag("version", "2"));

        var text = Text(collector);
        Assert.Contains("gateway_requests_total{model_name=\"fraud\",version=\"2\"} 2\n", text, StringComparison.Ordinal);
        Assert.Equal(2, PrometheusTextParser.Parse(text).Value("gateway_requests_total", ("model_name", "fraud"), ("version", "2")));
    }

    [Fact]
    public void WriteTo_EqualTagValuesAsNewObjectsEachCall_OneSeriesNoDrops()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName, maxSeries: 1);
        var counter = meter.CreateCounter<long>("gateway.requests");
        var prefix = "fra";

        // A new string and a new box per call: the reference fast path misses, the content path must still match.
        for (var i = 0; i < 1000; i++)
        {
            counter.Add(1, Tag("model", string.Concat(prefix, "ud")), Tag("code", 14));
        }

        var scrape = Parse(collector);
        Assert.Equal(1000, scrape.Value("gateway_requests_total", ("code", "14"), ("model", "fraud")));
        Assert.False(scrape.HasFamily(PrometheusMetricsCollector.DroppedSeriesMetricName));
    }

    [Fact]
    public void WriteTo_SameLabelsFromIntAndLongValues_OneSeries()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var counter = meter.CreateCounter<long>("gateway.requests");
        counter.Add(1, Tag("code", 14));
        counter.Add(2, Tag("code", 14L));

        // Both render as code="14": one series, not a duplicate the exposition would reject.
        Assert.Equal(3, Parse(collector).Value("gateway_requests_total", ("code", "14")));
    }

    [Fact]
    public void WriteTo_DoubleCounter_SumsValues()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var counter = meter.CreateCounter<double>("gateway.work", "s");

        for (var i = 0; i < 4; i++)
        {
            counter.Add(0.25);
        }

        Assert.Equal(1.0, Parse(collector).Value("gateway_work_seconds_total"));
    }

    [Fact]
    public void WriteTo_SecondsHistogram_DefaultBucketsCumulativeWithSumAndCount()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var histogram = meter.CreateHistogram<double>("gateway.batcher.queue_duration", "s", "Time from enqueue to batch start");
        double[] values = [0.00005, 0.0003, 0.001, 0.002, 0.7, 42];
        foreach (var value in values)
        {
            histogram.Record(value, Tag("model", "fraud"));
        }

        var scrape = Parse(collector);
        Assert.Equal("histogram", scrape.Family("gateway_batcher_queue_duration_seconds").Type);
        var buckets = scrape.Buckets("gateway_batcher_queue_duration_seconds", ("model", "fraud"));
        Assert.Equal(s_secondsBuckets, buckets.Select(b => b.Le));

        // 0.001 equals a bound and belongs to it ("less than or equal"); 42 only in +Inf.
        var expected = s_secondsBuckets.Select(le => (double)values.Count(v => v <= le)).ToArray();
        Assert.Equal(expected, buckets.Select(b => b.Count));
        Assert.Equal(1, buckets.Single(b => b.Le == 0.001).Count - buckets.Single(b => b.Le == 0.0005).Count);
        Assert.Equal(6, scrape.Value("gateway_batcher_queue_duration_seconds_count", ("model", "fraud")));
        Assert.Equal(values.Sum(), scrape.Value("gateway_batcher_queue_duration_seconds_sum", ("model", "fraud")), 12);
    }

    [Fact]
    public void WriteTo_RowHistogram_PowerOfTwoBucketsAndNoUnitSuffix()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var histogram = meter.CreateHistogram<int>("gateway.batcher.batch_size", "{row}", "Rows per batch");
        histogram.Record(3);
        histogram.Record(256);
        histogram.Record(300);

        var buckets = Parse(collector).Buckets("gateway_batcher_batch_size");
        Assert.Equal([1, 2, 4, 8, 16, 32, 64, 128, 256, double.PositiveInfinity], buckets.Select(b => b.Le));
        Assert.Equal([0, 0, 1, 1, 1, 1, 1, 1, 2, 3], buckets.Select(b => b.Count));
    }

    [Fact]
    public void WriteTo_HistogramWithAdvice_UsesAdvisedBoundaries()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var histogram = meter.CreateHistogram("gateway.latency", "ms", "Latency", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 5, 10] });
        histogram.Record(4);
        histogram.Record(11);

        var buckets = Parse(collector).Buckets("gateway_latency_milliseconds");
        Assert.Equal([1, 5, 10, double.PositiveInfinity], buckets.Select(b => b.Le));
        Assert.Equal([0, 1, 1, 2], buckets.Select(b => b.Count));
    }

    [Fact]
    public void WriteTo_HistogramBucketsConfigured_OverrideAdviceAndDefaults()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName, configure: o => o.HistogramBuckets["gateway.latency"] = [0.5, 0.1]);
        var histogram = meter.CreateHistogram("gateway.latency", "s", null, tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 5, 10] });
        histogram.Record(0.2);

        var buckets = Parse(collector).Buckets("gateway_latency_seconds");
        Assert.Equal([0.1, 0.5, double.PositiveInfinity], buckets.Select(b => b.Le));
        Assert.Equal([0, 1, 1], buckets.Select(b => b.Count));
    }

    [Fact]
    public void WriteTo_LabelValueWithBackslashQuoteNewline_EscapedAndRoundTrips()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var counter = meter.CreateCounter<long>("gateway.errors", null, "Errors\nby \\ message");
        const string Message = "C:\\path \"quoted\"\nsecond line";
        counter.Add(1, Tag("message", Message));

        var text = Text(collector);
        Assert.Contains("message=\"C:\\\\path \\\"quoted\\\"\\nsecond line\"", text, StringComparison.Ordinal);
        Assert.Contains("# HELP gateway_errors_total Errors\\nby \\\\ message\n", text, StringComparison.Ordinal);
        var scrape = PrometheusTextParser.Parse(text);
        Assert.Equal(1, scrape.Value("gateway_errors_total", ("message", Message)));
        Assert.Equal("Errors\nby \\ message", scrape.Family("gateway_errors_total").Help);
    }

    [Fact]
    public void WriteTo_NonStringTagValues_FormattedInvariant()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var counter = meter.CreateCounter<long>("gateway.typed");
        counter.Add(1, Tag("code", 14), Tag("ok", false), Tag("ratio", 0.5), Tag("none", null));

        Assert.Equal(1, Parse(collector).Value("gateway_typed_total", ("code", "14"), ("ok", "false"), ("ratio", "0.5"), ("none", "")));
    }

    [Fact]
    public void WriteTo_SeriesCapReached_DropsNewLabelSetsAndCountsThem()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName, maxSeries: 3);
        var counter = meter.CreateCounter<long>("gateway.requests");
        for (var i = 0; i < 10; i++)
        {
            counter.Add(1, Tag("model", "m" + i));
        }

        // Existing series keep counting after the cap.
        counter.Add(5, Tag("model", "m0"));

        var scrape = Parse(collector);
        Assert.Equal(3, scrape.Family("gateway_requests_total").Samples.Count);
        Assert.Equal(6, scrape.Value("gateway_requests_total", ("model", "m0")));
        Assert.Null(scrape.FindSample("gateway_requests_total", ("model", "m3")));
        Assert.Equal("counter", scrape.Family(PrometheusMetricsCollector.DroppedSeriesMetricName).Type);
        Assert.Equal(7, scrape.Value(PrometheusMetricsCollector.DroppedSeriesMetricName, ("metric", "gateway_requests_total")));
    }

    [Fact]
    public void WriteTo_NoDrops_NoDroppedFamily()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        meter.CreateCounter<long>("gateway.requests").Add(1);

        Assert.False(Parse(collector).HasFamily(PrometheusMetricsCollector.DroppedSeriesMetricName));
    }

    [Fact]
    public void WriteTo_ObservableGauge_ReportsCallbackValuesOfEachScrapeOnly()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var depths = new List<Measurement<int>> { new(4, Tag("model", "fraud")), new(9, Tag("model", "bench_mlp")) };
        meter.CreateObservableGauge("gateway.batcher.queue_depth", () => depths, "{request}", "Requests queued");

        var first = Parse(collector);
        Assert.Equal("gauge", first.Family("gateway_batcher_queue_depth").Type);
        Assert.Equal(4, first.Value("gateway_batcher_queue_depth", ("model", "fraud")));
        Assert.Equal(9, first.Value("gateway_batcher_queue_depth", ("model", "bench_mlp")));

        // A batcher that is gone is not reported with its last value.
        depths = [new(1, Tag("model", "fraud"))];
        var second = Parse(collector);
        Assert.Equal(1, second.Value("gateway_batcher_queue_depth", ("model", "fraud")));
        Assert.Null(second.FindSample("gateway_batcher_queue_depth", ("model", "bench_mlp")));

        depths = [];
        Assert.False(Parse(collector).HasFamily("gateway_batcher_queue_depth"));
    }

    [Fact]
    public void WriteTo_ObservableCounter_ReportsObservedTotalNotAccumulated()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        long total = 10;
        meter.CreateObservableCounter("gateway.bytes.sent", () => total, "By");

        Assert.Equal(10, Parse(collector).Value("gateway_bytes_sent_bytes_total"));
        total = 15;
        var scrape = Parse(collector);
        Assert.Equal("counter", scrape.Family("gateway_bytes_sent_bytes_total").Type);
        Assert.Equal(15, scrape.Value("gateway_bytes_sent_bytes_total"));
    }

    [Fact]
    public void WriteTo_ObservableUpDownCounter_IsGauge()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        meter.CreateObservableUpDownCounter("gateway.connections", () => -3L);

        var scrape = Parse(collector);
        Assert.Equal("gauge", scrape.Family("gateway_connections").Type);
        Assert.Equal(-3, scrape.Value("gateway_connections"));
    }

    [Fact]
    public void WriteTo_UpDownCounterAndGauge_AreGaugesWithSumAndLastValue()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var inFlight = meter.CreateUpDownCounter<long>("gateway.in_flight");
        var temperature = meter.CreateGauge<double>("gateway.model.load", "1");
        inFlight.Add(5);
        inFlight.Add(-2);
        temperature.Record(1.5, Tag("model", "fraud"));
        temperature.Record(2.5, Tag("model", "fraud"));

        var scrape = Parse(collector);
        Assert.Equal("gauge", scrape.Family("gateway_in_flight").Type);
        Assert.Equal(3, scrape.Value("gateway_in_flight"));
        Assert.Equal("gauge", scrape.Family("gateway_model_load_ratio").Type);
        Assert.Equal(2.5, scrape.Value("gateway_model_load_ratio", ("model", "fraud")));
    }

    [Fact]
    public void WriteTo_SameInstrumentOnTwoMetersOfOneName_MergedIntoOneFamily()
    {
        var meterName = UniqueMeterName();
        using var first = Meter(meterName);
        using var second = Meter(meterName);
        using var collector = Collector(meterName);
        first.CreateCounter<long>("gateway.requests").Add(2, Tag("arm", "a"));
        second.CreateCounter<long>("gateway.requests").Add(3, Tag("arm", "a"));
        second.CreateCounter<long>("gateway.requests").Add(4, Tag("arm", "b"));

        var scrape = Parse(collector);
        Assert.Single(scrape.Families, f => f.Name == "gateway_requests_total");
        Assert.Equal(5, scrape.Value("gateway_requests_total", ("arm", "a")));
        Assert.Equal(4, scrape.Value("gateway_requests_total", ("arm", "b")));
    }

    [Fact]
    public void WriteTo_SameNameDifferentKind_SecondInstrumentNotExposed()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        meter.CreateUpDownCounter<long>("gateway.thing").Add(2);
        meter.CreateGauge<long>("gateway.thing").Record(100);

        // Parsing proves there is one TYPE for the name; the value proves which instrument won.
        Assert.Equal(2, Parse(collector).Value("gateway_thing"));
    }

    [Fact]
    public void WriteTo_MeterNamePrefix_SelectsMatchingMetersOnly()
    {
        var prefix = UniqueMeterName();
        using var inside = Meter(prefix + ".Batching");
        using var outside = Meter(UniqueMeterName());
        using var collector = Collector(prefix + ".*");
        inside.CreateCounter<long>("gateway.inside").Add(1);
        outside.CreateCounter<long>("gateway.outside").Add(1);

        var scrape = Parse(collector);
        Assert.True(scrape.HasFamily("gateway_inside_total"));
        Assert.False(scrape.HasFamily("gateway_outside_total"));
    }

    [Fact]
    public void WriteTo_MeterOfAnotherFactory_Ignored()
    {
        var meterName = UniqueMeterName();
        using var mine = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var theirs = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var options = new PrometheusMetricsOptions { IncludeProcessMetrics = false };
        options.MeterNames.Clear();
        options.MeterNames.Add(meterName);
        using var collector = new PrometheusMetricsCollector(options, mine.GetRequiredService<IMeterFactory>());
        using var plain = Meter(meterName);

        mine.GetRequiredService<IMeterFactory>().Create(meterName).CreateCounter<long>("gateway.mine").Add(1);
        theirs.GetRequiredService<IMeterFactory>().Create(meterName).CreateCounter<long>("gateway.theirs").Add(1);
        plain.CreateCounter<long>("gateway.plain").Add(1);

        var scrape = Parse(collector);
        Assert.True(scrape.HasFamily("gateway_mine_total"));
        Assert.True(scrape.HasFamily("gateway_plain_total"));
        Assert.False(scrape.HasFamily("gateway_theirs_total"));
    }

    [Fact]
    public void WriteTo_InstrumentsCreatedBeforeCollector_PickedUp()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        var counter = meter.CreateCounter<long>("gateway.early");
        counter.Add(100);
        using var collector = Collector(meterName);
        counter.Add(1);

        Assert.Equal(1, Parse(collector).Value("gateway_early_total"));
    }

    [Fact]
    public void WriteTo_ObservableCallbackThrows_ScrapeStillSucceeds()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        meter.CreateObservableGauge<int>("gateway.broken", (Func<int>)(() => throw new InvalidOperationException("boom")));
        meter.CreateCounter<long>("gateway.fine").Add(1);

        Assert.Equal(1, Parse(collector).Value("gateway_fine_total"));
    }

    [Fact]
    public void WriteTo_ParallelRecording_ExactTotals()
    {
        var meterName = UniqueMeterName();
        using var meter = Meter(meterName);
        using var collector = Collector(meterName);
        var counter = meter.CreateCounter<long>("gateway.requests");
        var doubles = meter.CreateCounter<double>("gateway.cost");
        var histogram = meter.CreateHistogram<double>("gateway.duration", "s");
        const int Threads = 4;
        const int PerThread = 50_000;

        // Scrapes run while recording goes on: every intermediate exposition must still be valid.
        using var stop = new CancellationTokenSource();
        using var scraping = new ManualResetEventSlim();
        var scraper = Task.Run(() =>
        {
            var scrapes = 0;
            do
            {
                Parse(collector);
                scrapes++;
                scraping.Set();
            }
            while (!stop.IsCancellationRequested);

            return scrapes;
        });
        Assert.True(scraping.Wait(TimeSpan.FromSeconds(30)));

        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, thread =>
        {
            var arm = thread % 2 == 0 ? "a" : "b";
            for (var i = 0; i < PerThread; i++)
            {
                counter.Add(1, Tag("arm", arm), Tag("model", "fraud"));
                doubles.Add(0.5);
                histogram.Record(i % 2 == 0 ? 0.003 : 3.0, Tag("arm", arm));
            }
        });
        stop.Cancel();
        Assert.True(scraper.Wait(TimeSpan.FromSeconds(30)));

        var scrape = Parse(collector);
        Assert.Equal(Threads / 2 * PerThread, scrape.Value("gateway_requests_total", ("arm", "a"), ("model", "fraud")));
        Assert.Equal(Threads / 2 * PerThread, scrape.Value("gateway_requests_total", ("arm", "b"), ("model", "fraud")));
        Assert.Equal(Threads * PerThread * 0.5, scrape.Value("gateway_cost_total"));
        Assert.Equal(Threads / 2 * PerThread, scrape.Value("gateway_duration_seconds_count", ("arm", "a")));
        var buckets = scrape.Buckets("gateway_duration_seconds", ("arm", "b"));
        Assert.Equal(Threads / 2 * PerThread / 2, buckets.Single(b => b.Le == 0.005).Count);
        Assert.Equal(Threads / 2 * PerThread, buckets.Single(b => b.Le == 5).Count);
    }

    [Fact]
    public void WriteTo_ProcessMetricsIncluded_RuntimeAndProcessFamilies()
    {
        var meterName = UniqueMeterName();
        var options = new PrometheusMetricsOptions();
        options.MeterNames.Clear();
        options.MeterNames.Add(meterName);
        using var collector = new PrometheusMetricsCollector(options);
        try
        {
            throw new InvalidOperationException("counted");
        }
        catch (InvalidOperationException)
        {
        }

        GC.Collect(0);

        var scrape = Parse(collector);
        Assert.True(scrape.Value("process_cpu_seconds_total") > 0);
        Assert.True(scrape.Value("process_resident_memory_bytes") > 1_000_000);
        // Fractional now: a test run can start within the current second. The start time comes from boot time plus
        // jiffies, which the kernel reports to a second or so, hence the small negative tolerance.
        var startedAgo = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0) - scrape.Value("process_start_time_seconds");
        Assert.InRange(startedAgo, -2, 24 * 3600);
        if (OperatingSystem.IsLinux())
        {
            Assert.True(scrape.Value("process_open_fds") > 0);
        }

        Assert.Equal("counter", scrape.Family("dotnet_gc_collections_total").Type);
        Assert.True(scrape.Value("dotnet_gc_collections_total", ("gc_heap_generation", "gen0")) >= 1);
        Assert.Equal("counter", scrape.Family("dotnet_exceptions_total").Type);
        Assert.True(scrape.Family("dotnet_exceptions_total").Samples.Sum(s => s.Value) >= 1);
        Assert.Equal("gauge", scrape.Family("dotnet_thread_pool_thread_count").Type);
        Assert.Equal("counter", scrape.Family("dotnet_process_cpu_time_seconds_total").Type);
        Assert.Equal("gauge", scrape.Family("dotnet_gc_last_collection_heap_size_bytes").Type);
    }

    [Fact]
    public void WriteTo_AfterDispose_Throws()
    {
        var collector = Collector(UniqueMeterName());
        collector.Dispose();
        collector.Dispose();

        Assert.Throws<ObjectDisposedException>(() => Text(collector));
    }

    [Fact]
    public void Constructor_MaxSeriesZero_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Collector(UniqueMeterName(), maxSeries: 0));
    }
}
