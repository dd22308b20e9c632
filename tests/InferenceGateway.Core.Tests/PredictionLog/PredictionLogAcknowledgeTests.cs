using InferenceGateway.Core.PredictionLog;
using Microsoft.Extensions.Logging.Abstractions;
using Log = InferenceGateway.Core.PredictionLog.PredictionLog;

namespace InferenceGateway.Core.Tests.PredictionLog;

/// <summary>Acknowledge=Committed: a caller's wait ends only once the sink committed its record, or with a failure.</summary>
public sealed class PredictionLogAcknowledgeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>A flush interval no test outlives: whatever the writer stores early, a waiter asked for.</summary>
    private static PredictionLogOptions Options(AcknowledgeMode acknowledge = AcknowledgeMode.Committed)
    {
        var options = PredictionLogTests.Options();
        options.Acknowledge = acknowledge;
        options.FlushInterval = TimeSpan.FromMinutes(10);
        return options;
    }

    private static long Record(Log log, string id)
    {
        Span<float> outputs = [0.5f];
        var result = log.TryRecord(new PredictionEntry { RequestId = id, Model = "m", Version = "1", Arm = "", EntityId = "e", Outputs = outputs }, out var sequence);
        Assert.Equal(RecordResult.Accepted, result);
        return sequence;
    }

    [Fact]
    public async Task WaitCommittedAsync_SinkHoldsTheCommit_CompletesOnlyAfterTheSinkStoredTheRecord()
    {
        var sink = new MemorySink(open: false);
        await using var log = new Log(Options(), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        var committed = log.WaitCommittedAsync(Record(log, "r0"), CancellationToken.None).AsTask();

        // The waiter made the writer flush at once (the flush interval is 10 minutes); the sink holds the commit.
        await PredictionLogTests.WaitUntilAsync(() => sink.WriterThread is not null, "the writer flushes for the waiter");
        await Task.Delay(100); // an absence: nothing to await (it can only miss a bug)
        Assert.False(committed.IsCompleted);
        Assert.Equal(0, sink.Stored);

        sink.Gate.SetResult();
        await committed.WaitAsync(Timeout);
        Assert.Equal(["r0"], sink.RequestIds); // stored before the wait ended, not after
        await log.WaitCommittedAsync(0, CancellationToken.None).AsTask().WaitAsync(Timeout); // already committed: at once
    }

    [Fact]
    public async Task WaitCommittedAsync_ManyWaitersWhileACommitIsUnderWay_ShareTheNextCommit()
    {
        var sink = new MemorySink(open: false);
        await using var log = new Log(Options(), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        var first = log.WaitCommittedAsync(Record(log, "first"), CancellationToken.None).AsTask();
        await PredictionLogTests.WaitUntilAsync(() => sink.WriterThread is not null, "the first commit is under way");
        var waits = Enumerable.Range(0, 50).Select(i => log.WaitCommittedAsync(Record(log, $"r{i}"), CancellationToken.None).AsTask()).ToList();

        sink.Gate.SetResult();
        await Task.WhenAll([first, .. waits]).WaitAsync(Timeout);
        Assert.Equal(51, sink.Stored);
        Assert.Equal(2, sink.Batches.Count); // group commit: one for the first record, one for the 50 that waited behind it
    }

    [Fact]
    public async Task WaitCommittedAsync_SinkFails_FailsWithPredictionNotRecordedAndTheRecordIsStoredLater()
    {
        var sink = new MemorySink { Fail = true };
        await using var log = new Log(Options(), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        var sequence = Record(log, "r0");
        var failure = await Assert.ThrowsAsync<PredictionNotRecordedException>(() => log.WaitCommittedAsync(sequence, CancellationToken.None).AsTask().WaitAsync(Timeout));
        Assert.Contains("sink down", failure.Message, StringComparison.Ordinal);

        // While the sink fails, a new waiter fails at once rather than wait out the retries.
        var again = Record(log, "r1");
        await Assert.ThrowsAsync<PredictionNotRecordedException>(() => log.WaitCommittedAsync(again, CancellationToken.None).AsTask().WaitAsync(Timeout));

        // The records stay buffered: the sink back, they are stored (the caller's failure means "not known to be stored").
        sink.Fail = false;
        await PredictionLogTests.WaitUntilAsync(() => sink.Stored == 2, "the buffered records are stored once the sink is back");
        await log.WaitCommittedAsync(again, CancellationToken.None).AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task WaitCommittedAsync_LogStopsWithTheRecordUnstored_FailsRatherThanHangs()
    {
        var sink = new MemorySink(open: false); // the commit never returns
        await using var log = new Log(Options(), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        var committed = log.WaitCommittedAsync(Record(log, "r0"), CancellationToken.None).AsTask();
        await PredictionLogTests.WaitUntilAsync(() => sink.WriterThread is not null, "the commit is under way");

        await log.CompleteAsync(TimeSpan.FromMilliseconds(200)).WaitAsync(Timeout);
        var failure = await Assert.ThrowsAsync<PredictionNotRecordedException>(() => committed.WaitAsync(Timeout));
        Assert.Contains("lost", failure.Message, StringComparison.Ordinal);
        Assert.Equal(1, log.GetStatus().Lost);
    }

    [Fact]
    public async Task WaitCommittedAsync_Cancelled_ThrowsOperationCanceled()
    {
        var sink = new MemorySink(open: false);
        await using var log = new Log(Options(), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => log.WaitCommittedAsync(Record(log, "r0"), cancel.Token).AsTask().WaitAsync(Timeout));
        sink.Gate.SetResult();
    }

    [Fact]
    public async Task TryRecord_Buffered_NoCommitIsStartedForTheRecord()
    {
        var sink = new MemorySink(open: false);
        await using var log = new Log(Options(AcknowledgeMode.Buffered), sink, TimeProvider.System, null, NullLogger<Log>.Instance);
        log.Start();
        Assert.Equal(AcknowledgeMode.Buffered, log.Acknowledge);
        Record(log, "r0");
        await Task.Delay(200); // an absence: the record waits for its flush interval (10 minutes) as before
        Assert.Null(sink.WriterThread);
        sink.Gate.SetResult();
    }

    [Fact]
    public void Validate_AcknowledgeOutOfRange_IsAnError()
    {
        var options = Options((AcknowledgeMode)7);
        Assert.Contains(options.Validate("Gateway:PredictionLog:"), e => e.StartsWith("Gateway:PredictionLog:Acknowledge", StringComparison.Ordinal));
        Assert.Empty(Options().Validate());
    }
}
