using System.Collections.Concurrent;
using InferenceGateway.Core.PredictionLog;
using InferenceGateway.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;
using Log = InferenceGateway.Core.PredictionLog.PredictionLog;

namespace InferenceGateway.Core.Tests.PredictionLog;

/// <summary>A sink in memory that can be told to fail or to hold writes, recording every batch id it stored.</summary>
internal sealed class MemorySink : IPredictionSink
{
    private readonly object _gate = new();
    public readonly ConcurrentDictionary<string, int> Batches = new();
    public readonly List<string> RequestIds = [];
    public volatile bool Fail;
    public volatile string? WriterThread;
    public volatile string? WriterNice;
    public TaskCompletionSource Gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public MemorySink(bool open = true)
    {
        if (open)
        {
            Gate.SetResult();
        }
    }

    public string Description => "memory";

    public int Stored
    {
        get
        {
            lock (_gate)
            {
                return RequestIds.Count;
            }
        }
    }

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task WriteAsync(string batchId, ReadOnlyMemory<PredictionRecord> records, CancellationToken cancellationToken)
    {
        WriterThread = Thread.CurrentThread.Name;
        if (OperatingSystem.IsLinux())
        {
            // /proc/thread-self/stat: "tid (comm) state ..." with the nice value the 19th field.
            var stat = File.ReadAllText("/proc/thread-self/stat");
            WriterNice = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19 - 3];
        }

        await Gate.Task.WaitAsync(cancellationToken);
        if (Fail)
        {
            throw new IOException("sink down");
        }

        if (!Batches.TryAdd(batchId, records.Length))
        {
            return;
        }

        lock (_gate)
        {
            foreach (var record in records.Span)
            {
                RequestIds.Add(record.RequestId);
            }
        }
    }

    public Task WriteOutcomesAsync(IReadOnlyList<OutcomeRecord> outcomes, CancellationToken cancellationToken) => Task.CompletedTask;

    public async IAsyncEnumerable<EvaluationRow> ReadEvaluationRowsAsync(string model, long fromUnixMs, long toUnixMs, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        yield break;
    }

    public Task<long> CountPredictionsAsync(CancellationToken cancellationToken) => Task.FromResult((long)Stored);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

public sealed class PredictionLogTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly string[] Names = ["a", "b"];

    internal static PredictionLogOptions Options(int capacity = 1024, OverflowPolicy policy = OverflowPolicy.Drop) => new()
    {
        Capacity = capacity, BatchSize = Math.Min(256, capacity), FlushInterval = TimeSpan.FromMilliseconds(20), OverflowPolicy = policy,
        RetryInitialDelay = TimeSpan.FromMilliseconds(5), RetryMaxDelay = TimeSpan.FromMilliseconds(50),
    };

    internal static RecordResult Record(IPredictionRecorder log, string id, ReadOnlySpan<float> features = default, bool cannotWait = false)
    {
        Span<float> outputs = [0.5f];
        return log.TryRecord(new PredictionEntry
        {
            RequestId = id, Model = "m", Version = "1", Arm = "", EntityId = "e", FeatureNames = Names, Features = features, Outputs = outputs, CannotWait = cannotWait,
        });
    }

    internal static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException(what);
            }

            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task TryRecord_ConcurrentProducersThenComplete_EveryAcceptedRecordStoredOnce()
    {
        var sink = new MemorySink();
        var log = new Log(Options(capacity: 4096), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        var accepted = 0;
        var producers = Enumerable.Range(0, 4).Select(p => Task.Run(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                if (Record(log, $"{p}-{i}") == RecordResult.Accepted)
                {
                    Interlocked.Increment(ref accepted);
                }
            }
        })).ToArray();
        await Task.WhenAll(producers).WaitAsync(Timeout);
        await log.CompleteAsync(Timeout).WaitAsync(Timeout);
        var status = log.GetStatus();
        Assert.Equal(accepted, sink.Stored);
        Assert.Equal(80_000, accepted + status.Dropped);
        Assert.Equal(sink.Stored, sink.RequestIds.Distinct().Count());
        Assert.Equal(accepted, status.Written);
        Assert.Equal(0, status.Buffered);
    }

    [Fact]
    public async Task TryRecord_BufferFullDropPolicy_DroppedAndCountedNeverWaits()
    {
        var sink = new MemorySink(open: false); // writes hang: the buffer fills
        var log = new Log(Options(capacity: 64), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        var results = Enumerable.Range(0, 100).Select(i => Record(log, $"r{i}")).ToList();
        Assert.Equal(64, results.Count(r => r == RecordResult.Accepted));
        Assert.Equal(36, results.Count(r => r == RecordResult.Dropped));
        Assert.Equal(36, log.GetStatus().Dropped);
        sink.Gate.SetResult();
        await log.CompleteAsync(Timeout).WaitAsync(Timeout);
        Assert.Equal(64, sink.Stored);
    }

    [Fact]
    public async Task TryRecord_BufferFullPushBackPolicy_FullUntilTheSinkTakesABatch()
    {
        var sink = new MemorySink(open: false);
        var log = new Log(Options(capacity: 64, policy: OverflowPolicy.PushBack), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        for (var i = 0; i < 64; i++)
        {
            Assert.Equal(RecordResult.Accepted, Record(log, $"r{i}"));
        }

        Assert.Equal(RecordResult.Full, Record(log, "waiting"));
        Assert.Equal(RecordResult.Dropped, Record(log, "failure-record", cannotWait: true)); // callers that cannot wait: dropped, counted
        var room = log.WaitForSpaceAsync(CancellationToken.None).AsTask();
        await Task.Delay(100); // no room while the sink holds the batch: an absence, nothing to await (it can only miss a bug)
        Assert.False(room.IsCompleted);
        sink.Gate.SetResult();
        await room.WaitAsync(Timeout);
        Assert.Equal(RecordResult.Accepted, Record(log, "waiting"));
        await log.CompleteAsync(Timeout).WaitAsync(Timeout);
        Assert.Equal(65, sink.Stored);
        Assert.Equal(1, log.GetStatus().Dropped);
    }

    [Fact]
    public async Task WaitForSpaceAsync_Cancelled_Throws()
    {
        var sink = new MemorySink(open: false);
        var log = new Log(Options(capacity: 16, policy: OverflowPolicy.PushBack), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        for (var i = 0; i < 16; i++)
        {
            Record(log, $"r{i}");
        }

        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => log.WaitForSpaceAsync(cancel.Token).AsTask().WaitAsync(Timeout));
        sink.Gate.SetResult();
        await log.CompleteAsync(Timeout).WaitAsync(Timeout);
    }

    [Fact]
    public async Task Writer_SinkFailsThenRecovers_BatchRetriedWithSameIdNothingLostOrDoubled()
    {
        var sink = new MemorySink { Fail = true };
        var log = new Log(Options(), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        for (var i = 0; i < 500; i++)
        {
            Record(log, $"r{i}");
        }

        await WaitUntilAsync(() => log.GetStatus().WriteFailures >= 3, "the writer never retried");
        var down = log.GetStatus();
        Assert.False(down.SinkUp);
        Assert.Equal("sink down", down.LastError);
        Assert.True(down.FailingSinceUnixMs > 0);
        Assert.Equal(500, down.Buffered);
        sink.Fail = false;
        await WaitUntilAsync(() => log.GetStatus().Written == 500, "the writer did not catch up");
        Assert.True(log.GetStatus().SinkUp);
        await log.CompleteAsync(Timeout).WaitAsync(Timeout);
        Assert.Equal(500, sink.RequestIds.Distinct().Count());
        Assert.Equal(500, sink.Stored);
    }

    [Fact]
    public async Task CompleteAsync_SinkStaysDown_GivesUpAfterTimeoutAndCountsLost()
    {
        var sink = new MemorySink { Fail = true };
        var log = new Log(Options(), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        for (var i = 0; i < 10; i++)
        {
            Record(log, $"r{i}");
        }

        await log.CompleteAsync(TimeSpan.FromMilliseconds(300)).WaitAsync(Timeout);
        Assert.Equal(10, log.GetStatus().Lost);
        Assert.Equal(RecordResult.Disabled, Record(log, "after"));
    }

    [Fact]
    public async Task Writer_RunsOnItsOwnThreadBelowTheRequestThreadsPriority()
    {
        var sink = new MemorySink();
        var log = new Log(Options(), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        Record(log, "a");
        await WaitUntilAsync(() => sink.Stored == 1, "the writer did not store the record");
        Assert.Equal(Log.WriterThreadName, sink.WriterThread);
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal("10", sink.WriterNice); // read by the sink on the thread that wrote
            Assert.Equal(0, NiceOfThisThread());
        }

        await log.CompleteAsync(Timeout).WaitAsync(Timeout);

        static int NiceOfThisThread()
        {
            var stat = File.ReadAllText("/proc/thread-self/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19 - 3], System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    [Fact]
    public async Task Writer_AcknowledgeCommitted_RunsAtTheRequestThreadsPriority()
    {
        // Callers wait for its commits in this mode: a lowered writer would add its scheduling delay to their answers.
        var sink = new MemorySink();
        var options = Options();
        options.Acknowledge = AcknowledgeMode.Committed;
        var log = new Log(options, sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        Record(log, "a");
        await WaitUntilAsync(() => sink.Stored == 1, "the writer did not store the record");
        Assert.Equal(Log.WriterThreadName, sink.WriterThread);
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal("0", sink.WriterNice);
        }

        await log.CompleteAsync(Timeout).WaitAsync(Timeout);
    }

    [Fact]
    public async Task TryRecord_SteadyState_AllocatesNothing()
    {
        // A batch bigger than the loop: the writer's wake-up (once per batch, not per record) stays out of the count.
        var options = Options(capacity: 8192);
        options.BatchSize = 8192;
        options.FlushInterval = TimeSpan.FromMilliseconds(10);
        var log = new Log(options, new MemorySink(), TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        var features = new float[] { 1, 2 };
        for (var lap = 0; lap < 10; lap++)
        {
            for (var i = 0; i < 1000; i++)
            {
                Record(log, "id", features); // every cell gets its arrays once
            }

            await WaitUntilAsync(() => log.GetStatus().Buffered == 0, "the writer did not drain");
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            Record(log, "id", features);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"{allocated} bytes allocated by 1,000 records");
        await log.CompleteAsync(Timeout).WaitAsync(Timeout);
    }
}

/// <summary>A real SQLite file that cannot grow (SQLite's max_page_count, as a full disk): reported, never a crash.</summary>
public sealed class SqliteFullDiskTests
{
    [Fact]
    public async Task Writer_DatabaseFull_SinkReportedDownRecordsBufferedThenDroppedAndCounted()
    {
        var directory = Path.Combine(Path.GetTempPath(), "ig-full-" + Guid.NewGuid().ToString("N"));
        try
        {
            var sink = new SqlitePredictionSink(Path.Combine(directory, "predictions.db"), maxBytes: 64 * 1024);
            var log = new Log(PredictionLogTests.Options(capacity: 2048), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
            log.Start();
            var features = Enumerable.Range(0, 256).Select(i => (float)i).ToArray(); // 1 KB a record: 64 KB holds a few dozen
            var results = new List<RecordResult>();
            for (var i = 0; i < 3000; i++)
            {
                results.Add(PredictionLogTests.Record(log, $"r{i}", features));
                if (i % 100 == 0)
                {
                    await Task.Delay(5);
                }
            }

            await PredictionLogTests.WaitUntilAsync(() => !log.GetStatus().SinkUp && log.GetStatus().WriteFailures > 0, "the full database was never reported");
            var status = log.GetStatus();
            Assert.Contains("full", status.LastError, StringComparison.OrdinalIgnoreCase);
            Assert.True(status.Dropped > 0, "a full buffer behind a full database drops and counts");
            Assert.Equal(3000, results.Count(r => r == RecordResult.Accepted) + status.Dropped);
            await log.CompleteAsync(TimeSpan.FromMilliseconds(500));
            var after = log.GetStatus();
            Assert.Equal(results.Count(r => r == RecordResult.Accepted), after.Written + after.Lost);
            await log.DisposeAsync();
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }
}

/// <summary>PostgreSQL stopped while records keep coming, then restarted: nothing within the bound is lost.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresOutageTests(PostgresCluster cluster)
{
    [Fact]
    public async Task Writer_PostgresStoppedAndRestarted_EveryAcceptedRecordStored()
    {
        var connectionString = await cluster.CreateDatabaseAsync("outage");
        var sink = new PostgresPredictionSink(connectionString);
        var log = new Log(PredictionLogTests.Options(capacity: 1 << 16), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        var accepted = 0;
        for (var i = 0; i < 2000; i++)
        {
            accepted += PredictionLogTests.Record(log, $"before-{i}") == RecordResult.Accepted ? 1 : 0;
        }

        await PredictionLogTests.WaitUntilAsync(() => log.GetStatus().Written == 2000, "records before the outage were not written");
        await cluster.StopAsync();
        try
        {
            for (var i = 0; i < 5000; i++)
            {
                accepted += PredictionLogTests.Record(log, $"during-{i}") == RecordResult.Accepted ? 1 : 0;
                if (i % 500 == 0)
                {
                    await Task.Delay(20);
                }
            }

            await PredictionLogTests.WaitUntilAsync(() => !log.GetStatus().SinkUp, "the outage was not reported");
            Assert.Equal(5000, log.GetStatus().Buffered);
        }
        finally
        {
            await cluster.StartAsync();
        }

        await PredictionLogTests.WaitUntilAsync(() => log.GetStatus().Written == 7000, "records of the outage were not written after the restart");
        Assert.True(log.GetStatus().SinkUp);
        await log.CompleteAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(7000, accepted);
        Assert.Equal(7000, await sink.CountPredictionsAsync(CancellationToken.None));
        await log.DisposeAsync();
    }
}
