using System.Diagnostics;
using System.Globalization;
using InferenceGateway.Core.PredictionLog;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.Benchmarks.PredictionLog;

/// <summary>
/// <c>sink-throughput --sink sqlite|postgres [--path FILE | --connection CS] [--seconds 10] [--producers 2]</c>: records
/// per second a sink sustains behind the real prediction log (buffer, writer, batches of the default size). Producers
/// record fraud v2-sized records as fast as the log takes them (overflow policy PushBack, so nothing is dropped and the
/// producers run at the writer's pace); the figure is records stored per second after a warm-up, counted in the sink.
/// </summary>
public static class SinkThroughput
{
    public static int Run(string[] args)
    {
        string Get(string name, string fallback)
        {
            var i = Array.IndexOf(args, "--" + name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }

        var kind = Get("sink", "sqlite");
        var seconds = double.Parse(Get("seconds", "10"), CultureInfo.InvariantCulture);
        var producers = int.Parse(Get("producers", "2"), CultureInfo.InvariantCulture);
        IPredictionSink sink = kind switch
        {
            "sqlite" => new SqlitePredictionSink(Get("path", Path.Combine(Path.GetTempPath(), $"ig-sink-bench-{Guid.NewGuid():N}.db"))),
            "postgres" => new PostgresPredictionSink(Get("connection", "Host=127.0.0.1;Username=postgres;Database=postgres")),
            _ => throw new ArgumentException($"--sink {kind}: sqlite or postgres"),
        };
        // Counted in the sink: what it held before this run (an earlier round into the same database) is subtracted.
        sink.InitializeAsync(CancellationToken.None).GetAwaiter().GetResult();
        var before = sink.CountPredictionsAsync(CancellationToken.None).GetAwaiter().GetResult();
        var options = new PredictionLogOptions { OverflowPolicy = OverflowPolicy.PushBack };
        var log = new Core.PredictionLog.PredictionLog(options, sink, TimeProvider.System, null, NullLogger<Core.PredictionLog.PredictionLog>.Instance);
        log.Start();
        using var stop = new CancellationTokenSource();
        var threads = Enumerable.Range(0, producers).Select(p => new Thread(() => Produce(log, p, stop.Token)) { IsBackground = true }).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }

        Thread.Sleep(TimeSpan.FromSeconds(Math.Min(3, seconds / 3))); // warm-up: JIT, schema, first partitions
        var startWritten = log.GetStatus().Written;
        var watch = Stopwatch.StartNew();
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        Thread.Sleep(TimeSpan.FromSeconds(seconds));
        var written = log.GetStatus().Written - startWritten;
        var elapsed = watch.Elapsed.TotalSeconds;
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds;
        stop.Cancel();
        foreach (var thread in threads)
        {
            thread.Join();
        }

        log.CompleteAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
        var stored = sink.CountPredictionsAsync(CancellationToken.None).GetAwaiter().GetResult() - before;
        var status = log.GetStatus();
        log.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sink-throughput {kind}: {written / elapsed:F0} records/s sustained over {elapsed:F1} s ({written:N0} records, batches of {options.BatchSize}); process CPU {cpu / elapsed:F2} cores; stored {stored:N0} = written {status.Written:N0}, dropped {status.Dropped}"));
        return stored == status.Written && status.Dropped == 0 ? 0 : 1;
    }

    private static void Produce(Core.PredictionLog.PredictionLog log, int producer, CancellationToken stop)
    {
        string[] names = ["amount", "hour_of_day", "merchant_category", "txn_count_10m", "amount_sum_1h", "amount_avg_30d", "distinct_merchants_24h", "seconds_since_last_txn"];
        var features = new float[] { 120.5f, 14, 7, 3, 420, 88.2f, 2, 3600 };
        var defaulted = new bool[8];
        var scores = new float[] { 0.02f };
        var ids = Enumerable.Range(0, 4096).Select(i => Guid.CreateVersion7().ToString()).ToArray();
        for (long i = 0; !stop.IsCancellationRequested; i++)
        {
            var entry = new PredictionEntry
            {
                RequestId = ids[i & 4095], EventTimeUnixMs = 1_706_000_000_000 + (i * 10), Model = "fraud", Version = (producer % 2) == 0 ? "1" : "2", Arm = "",
                EntityId = "card-17", FeatureNames = names, Features = features, Defaulted = defaulted, Outputs = scores,
                Rows = 1, QueueMicroseconds = 40, ComputeMicroseconds = 90, TotalMicroseconds = 180,
            };
            while (log.TryRecord(entry) == RecordResult.Full && !stop.IsCancellationRequested)
            {
                log.WaitForSpaceAsync(stop).AsTask().ContinueWith(_ => { }, TaskScheduler.Default).Wait(CancellationToken.None);
            }
        }
    }
}
