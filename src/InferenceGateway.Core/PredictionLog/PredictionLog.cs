using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Core.PredictionLog;

/// <summary>
/// The prediction log: a bounded buffer the request paths record into (<see cref="TryRecord(in PredictionEntry)"/>) and one writer task
/// that moves records to the sink in batches, retrying a failing sink with backoff while the buffer holds what it has
/// not stored. Nothing on the request path waits for the sink, unless <see cref="PredictionLogOptions.Acknowledge"/> is
/// <see cref="AcknowledgeMode.Committed"/> and the caller asks to (<see cref="WaitCommittedAsync"/>).
/// </summary>
/// <remarks>
/// Guarantees: a record <see cref="RecordResult.Accepted"/> is stored unless the process dies first (a crash loses
/// what the buffer held: at most <see cref="PredictionLogOptions.FlushInterval"/> of records while the sink keeps up,
/// more while it is down) or <see cref="CompleteAsync"/> runs out of time with the sink down (logged and counted as
/// lost). Records refused by a full buffer are counted (<see cref="PredictionLogStatus.Dropped"/>) or pushed back on
/// the caller, as <see cref="PredictionLogOptions.OverflowPolicy"/> says. A caller that waited for
/// <see cref="WaitCommittedAsync"/> to complete knows its record is committed by the sink.
/// </remarks>
public sealed partial class PredictionLog : IPredictionRecorder, IAsyncDisposable
{
    private readonly PredictionLogOptions _options;
    private readonly IPredictionSink? _sink;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly PredictionBuffer? _buffer;
    private readonly PredictionLogMetrics? _metrics;
    private readonly CancellationTokenSource _stop = new();
    private readonly string _batchPrefix = Guid.CreateVersion7().ToString("N");
    private TaskCompletionSource _wake = NewSignal();
    private TaskCompletionSource _space = NewSignal();
    private TaskCompletionSource _committed = NewSignal(); // Committed mode: completed and replaced after each commit, failure and the stop
    private long _awaited = -1; // the highest sequence a caller waits for: the writer flushes at once while it is buffered
    private Task? _writer;
    private BackgroundThreadScheduler? _writerThread;
    private long _batchSequence;
    private long _dropped;
    private long _written;
    private long _lost;
    private long _writeFailures;
    private volatile bool _completing;
    private volatile bool _stopped;
    private volatile bool _sinkUp;
    private volatile string? _lastError;
    private long _failingSince; // Unix ms of the first failure in the current run of failures; 0 when healthy
    private long _lastWriteAt;

    /// <summary>Creates the log over <paramref name="sink"/> (null: logging off).</summary>
    public PredictionLog(PredictionLogOptions options, IPredictionSink? sink, TimeProvider time, IMeterFactory? meterFactory, ILogger<PredictionLog> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _sink = sink;
        _time = time;
        _logger = logger;
        if (sink is not null)
        {
            _buffer = new PredictionBuffer(options.Capacity, options.MaxValuesPerRecord);
            _metrics = meterFactory is null ? null : new PredictionLogMetrics(meterFactory, this);
        }
    }

    /// <summary>The writer thread's name (what <c>/proc/&lt;pid&gt;/task/*/comm</c> shows on Linux).</summary>
    public const string WriterThreadName = "plog-writer";

    /// <inheritdoc />
    public bool IsEnabled => _sink is not null && !_stopped;

    /// <inheritdoc />
    public OverflowPolicy OverflowPolicy => _options.OverflowPolicy;

    /// <inheritdoc />
    public AcknowledgeMode Acknowledge => _options.Acknowledge;

    /// <summary>The sink, or null when logging is off.</summary>
    public IPredictionSink? Sink => _sink;

    /// <summary>The settings.</summary>
    public PredictionLogOptions Options => _options;

    /// <summary>Starts the writer (idempotent). Connecting to the sink happens there, retried: a down sink never fails the start.</summary>
    public void Start()
    {
        if (_buffer is null || _writer is not null)
        {
            return;
        }

        // Its own thread, below the request threads' priority; the writer's awaits return to it (ConfigureAwait(true)).
        // Under Acknowledge=Committed requests wait for its commits, so it runs at theirs: at nice +10 its scheduling
        // delay went straight into their answers (lone Predict p99 5 -> 20-25 ms on the busy 2-core host).
        _writerThread = new BackgroundThreadScheduler(WriterThreadName, lowerPriority: _options.Acknowledge != AcknowledgeMode.Committed);
        _writer = Task.Factory.StartNew(RunWriterAsync, CancellationToken.None, TaskCreationOptions.None, _writerThread).Unwrap();
        _writer.ContinueWith(static (_, scheduler) => ((BackgroundThreadScheduler)scheduler!).Dispose(), _writerThread, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <inheritdoc />
    public RecordResult TryRecord(in PredictionEntry entry) => Record(entry, out _);

    /// <inheritdoc />
    public RecordResult TryRecord(in PredictionEntry entry, out long sequence) => Record(entry, out sequence);

    /// <inheritdoc />
    public ValueTask WaitCommittedAsync(long sequence, CancellationToken cancellationToken)
    {
        var buffer = _buffer ?? throw new InvalidOperationException("the prediction log is off: no record to wait for");
        return buffer.Head > sequence ? default : WaitCommittedSlowAsync(buffer, sequence, cancellationToken);
    }

    private async ValueTask WaitCommittedSlowAsync(PredictionBuffer buffer, long sequence, CancellationToken cancellationToken)
    {
        // Group commit: the writer flushes what is buffered at once rather than at the flush interval; callers arriving
        // while a commit is under way share the next one.
        var awaited = Volatile.Read(ref _awaited);
        while (awaited < sequence)
        {
            var seen = Interlocked.CompareExchange(ref _awaited, sequence, awaited);
            if (seen == awaited)
            {
                break;
            }

            awaited = seen;
        }

        Volatile.Read(ref _wake).TrySetResult();
        while (true)
        {
            // The signal first, then the state: a commit, failure or stop after these checks completes this signal.
            var committed = Volatile.Read(ref _committed);
            if (buffer.Head > sequence)
            {
                return;
            }

            if (_stopped)
            {
                throw new PredictionNotRecordedException($"the prediction log stopped before {_sink!.Description} stored the record (counted as lost){Reason()}");
            }

            if (Volatile.Read(ref _failingSince) != 0)
            {
                throw new PredictionNotRecordedException($"{_sink!.Description} is failing{Reason()}; the record stays buffered and may still be stored");
            }

            await committed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private string Reason() => _lastError is { } error ? ": " + error : "";

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private RecordResult Record(in PredictionEntry entry, out long sequence)
    {
        sequence = -1;
        var buffer = _buffer;
        if (buffer is null)
        {
            return RecordResult.Disabled;
        }

        if (_completing)
        {
            // After the writer's final drain began nothing new can be stored: counted, never silently gone.
            Interlocked.Increment(ref _dropped);
            return RecordResult.Disabled;
        }

        if (buffer.TryWrite(entry, _time.GetUtcNow().ToUnixTimeMilliseconds(), _options.MaxValuesPerRecord, out var position))
        {
            sequence = position;
            if (position + 1 - buffer.Head == _options.BatchSize)
            {
                _wake.TrySetResult(); // a full batch is waiting: write it now rather than at the flush interval
            }

            return RecordResult.Accepted;
        }

        if (_options.OverflowPolicy == OverflowPolicy.PushBack && !entry.CannotWait)
        {
            _metrics?.PushedBack.Add(1);
            return RecordResult.Full;
        }

        if (Interlocked.Increment(ref _dropped) == 1)
        {
            Log.FirstDrop(_logger, buffer.Capacity, _sink!.Description);
        }

        return RecordResult.Dropped;
    }

    /// <inheritdoc />
    public async ValueTask WaitForSpaceAsync(CancellationToken cancellationToken)
    {
        var buffer = _buffer;
        while (buffer is not null && !_stopped && buffer.Count >= buffer.Capacity)
        {
            var space = Volatile.Read(ref _space);
            if (buffer.Count < buffer.Capacity)
            {
                return;
            }

            await space.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Where the log stands: the sink's health, what the buffer holds, what was written, dropped or lost.</summary>
    public PredictionLogStatus GetStatus()
    {
        var failingSince = Volatile.Read(ref _failingSince);
        return new PredictionLogStatus(
            Enabled: _sink is not null,
            SinkDescription: _sink?.Description ?? "none",
            SinkUp: _sinkUp,
            LastError: _lastError,
            FailingSinceUnixMs: failingSince,
            Buffered: _buffer?.Count ?? 0,
            Capacity: _buffer?.Capacity ?? 0,
            Written: Volatile.Read(ref _written),
            Dropped: Volatile.Read(ref _dropped),
            Lost: Volatile.Read(ref _lost),
            WriteFailures: Volatile.Read(ref _writeFailures),
            OverflowPolicy: _options.OverflowPolicy);
    }

    /// <summary>
    /// Stores outcomes through the sink, synchronously for the caller: when this returns they are committed. Throws
    /// <see cref="PredictionSinkUnavailableException"/> when the sink fails (nothing of the batch is stored).
    /// </summary>
    public async Task WriteOutcomesAsync(IReadOnlyList<OutcomeRecord> outcomes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        var sink = _sink ?? throw new InvalidOperationException("the prediction log is off");
        if (outcomes.Count == 0)
        {
            return;
        }

        try
        {
            await sink.WriteOutcomesAsync(outcomes, cancellationToken).ConfigureAwait(false);
            _metrics?.Outcomes.Add(outcomes.Count);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new PredictionSinkUnavailableException($"{sink.Description}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Flushes everything buffered and stops the writer. Waits at most <paramref name="timeout"/> for a failing sink;
    /// records it could not store by then are logged and counted as lost.
    /// </summary>
    public async Task CompleteAsync(TimeSpan timeout)
    {
        if (_buffer is null || _stopped)
        {
            return;
        }

        _completing = true;
        _wake.TrySetResult();
        if (_writer is null)
        {
            Start();
        }

        using var timer = new CancellationTokenSource(timeout, _time);
        try
        {
            await _writer!.WaitAsync(timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await _writer!.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        var left = _buffer.Count;
        if (left > 0)
        {
            Interlocked.Add(ref _lost, left);
            Log.RecordsLost(_logger, left, _sink!.Description, timeout, _lastError ?? "");
        }

        _stopped = true;
        _space.TrySetResult();
        Volatile.Read(ref _committed).TrySetResult(); // waiters for records lost here fail rather than hang
        Log.Flushed(_logger, Volatile.Read(ref _written), Volatile.Read(ref _dropped), _sink!.Description);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_stopped && _writer is not null)
        {
            await CompleteAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }

        if (_sink is not null)
        {
            await _sink.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    private async Task RunWriterAsync()
    {
        var buffer = _buffer!;
        var sink = _sink!;
        var token = _stop.Token;
        var batch = new PredictionRecord[_options.BatchSize];
        var initialized = false;
        var failures = 0;
        string? batchId = null;
        var pending = 0;
        try
        {
            while (true)
            {
                if (!initialized)
                {
                    try
                    {
                        await sink.InitializeAsync(token).ConfigureAwait(true);
                        initialized = true;
                        MarkUp(failures);
                        failures = 0;
                        Log.SinkReady(_logger, sink.Description);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
                    {
                        await BackoffAsync(++failures, ex, token).ConfigureAwait(true);
                        continue;
                    }
                }

                if (pending == 0)
                {
                    pending = buffer.Peek(0, batch);
                    if (pending == 0)
                    {
                        if (_completing && buffer.Count == 0)
                        {
                            return;
                        }

                        await WaitForWorkAsync(buffer, token).ConfigureAwait(true);
                        continue;
                    }

                    if (pending < batch.Length && !_completing && !FlushDue(batch[0]) && !Awaited(buffer))
                    {
                        pending = 0;
                        await WaitForWorkAsync(buffer, token).ConfigureAwait(true);
                        continue;
                    }

                    batchId = $"{_batchPrefix}-{++_batchSequence}";
                }

                var started = _time.GetTimestamp();
                try
                {
                    await sink.WriteAsync(batchId!, batch.AsMemory(0, pending), token).ConfigureAwait(true);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
                {
                    // The same batch (same id, same records) is written again after the wait: the buffer keeps it.
                    Interlocked.Increment(ref _writeFailures);
                    await BackoffAsync(++failures, ex, token).ConfigureAwait(true);
                    continue;
                }

                _metrics?.WriteDuration.Record(_time.GetElapsedTime(started).TotalSeconds);
                MarkUp(failures);
                failures = 0;
                Array.Clear(batch, 0, pending);
                buffer.Release(pending);
                Interlocked.Add(ref _written, pending);
                Volatile.Write(ref _lastWriteAt, _time.GetUtcNow().ToUnixTimeMilliseconds());
                pending = 0;
                batchId = null;
                Interlocked.Exchange(ref _space, NewSignal()).TrySetResult();
                SignalCommitted();
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // CompleteAsync ran out of time; it counts what is left.
        }
    }

    /// <summary>True when a caller waits for a record still buffered (<see cref="WaitCommittedAsync"/>).</summary>
    private bool Awaited(PredictionBuffer buffer) => Volatile.Read(ref _awaited) >= buffer.Head;

    /// <summary>
    /// Wakes the callers waiting for commits (after a commit or a failure); nothing to do before the first caller waited
    /// (Buffered mode: never). Every caller of this made a full fence after its state change (an interlocked operation),
    /// so a caller that set <see cref="_awaited"/> after the check below sees that change.
    /// </summary>
    private void SignalCommitted()
    {
        if (Volatile.Read(ref _awaited) >= 0)
        {
            Interlocked.Exchange(ref _committed, NewSignal()).TrySetResult();
        }
    }

    /// <summary>True when the oldest buffered record has waited a flush interval.</summary>
    private bool FlushDue(PredictionRecord oldest) =>
        _time.GetUtcNow().ToUnixTimeMilliseconds() - oldest.ServedAtUnixMs >= (long)_options.FlushInterval.TotalMilliseconds;

    /// <summary>Waits for a full batch, a flush interval, a caller waiting for a commit, or the start of shutdown.</summary>
    private async Task WaitForWorkAsync(PredictionBuffer buffer, CancellationToken token)
    {
        var wake = Volatile.Read(ref _wake);
        if (wake.Task.IsCompleted)
        {
            Interlocked.CompareExchange(ref _wake, NewSignal(), wake);
            wake = Volatile.Read(ref _wake);
        }

        if (_completing || buffer.Count >= _options.BatchSize)
        {
            if (_completing && buffer.Count > 0)
            {
                await Task.Delay(1, token).ConfigureAwait(true); // a producer claimed a cell and is still copying
            }

            return;
        }

        if (Awaited(buffer))
        {
            // A caller waits for a record the writer could not take yet (a producer before it is still copying).
            await Task.Yield();
            return;
        }

        // A short wait while records are buffered keeps a record's wait near the flush interval, not twice it.
        var delay = buffer.Count > 0 ? _options.FlushInterval / 4 : _options.FlushInterval;
        await Task.WhenAny(wake.Task, Task.Delay(delay, _time, token)).ConfigureAwait(true);
        token.ThrowIfCancellationRequested();
    }

    private async Task BackoffAsync(int failures, Exception ex, CancellationToken token)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        Interlocked.CompareExchange(ref _failingSince, now, 0);
        _lastError = ex.Message;
        var wasUp = _sinkUp;
        _sinkUp = false;
        SignalCommitted(); // callers waiting for a commit fail now rather than wait out the retries
        var delay = TimeSpan.FromTicks(Math.Min(_options.RetryMaxDelay.Ticks, _options.RetryInitialDelay.Ticks << Math.Min(failures - 1, 30)));
        delay *= 0.75 + (Random.Shared.NextDouble() * 0.5); // jitter: replicas sharing a database do not retry in step
        if (wasUp || failures == 1)
        {
            Log.SinkFailing(_logger, ex, _sink!.Description, _buffer!.Count, delay.TotalMilliseconds, ex.Message);
        }
        else
        {
            Log.SinkStillFailing(_logger, _sink!.Description, failures, _buffer!.Count, delay.TotalMilliseconds, ex.Message);
        }

        if (_completing && _stop.IsCancellationRequested)
        {
            token.ThrowIfCancellationRequested();
        }

        await Task.Delay(delay, _time, token).ConfigureAwait(true);
    }

    private void MarkUp(int failures)
    {
        if (failures > 0)
        {
            var since = Volatile.Read(ref _failingSince);
            Log.SinkRecovered(_logger, _sink!.Description, failures, _time.GetUtcNow().ToUnixTimeMilliseconds() - since, _buffer!.Count);
        }

        Volatile.Write(ref _failingSince, 0);
        _lastError = null;
        _sinkUp = true;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>A snapshot of the prediction log's state (for /readyz, metrics and tests).</summary>
/// <param name="Enabled">False when no sink is configured.</param>
/// <param name="SinkDescription">The sink, for people.</param>
/// <param name="SinkUp">True after the last write (or connection) succeeded.</param>
/// <param name="LastError">The last failure's message while the sink fails.</param>
/// <param name="FailingSinceUnixMs">When the current run of failures began; 0 when healthy.</param>
/// <param name="Buffered">Records in the buffer, not yet stored.</param>
/// <param name="Capacity">The buffer's bound.</param>
/// <param name="Written">Records stored since start.</param>
/// <param name="Dropped">Records dropped by a full buffer (or recorded after shutdown began) since start.</param>
/// <param name="Lost">Records still buffered when shutdown gave up on a failing sink.</param>
/// <param name="WriteFailures">Failed writes since start.</param>
/// <param name="OverflowPolicy">The overflow policy.</param>
public readonly record struct PredictionLogStatus(
    bool Enabled, string SinkDescription, bool SinkUp, string? LastError, long FailingSinceUnixMs, int Buffered, int Capacity,
    long Written, long Dropped, long Lost, long WriteFailures, OverflowPolicy OverflowPolicy);

/// <summary>The sink failed an operation a caller waits for (outcomes, evaluation).</summary>
public sealed class PredictionSinkUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PredictionSinkUnavailableException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>Creates the exception.</summary>
    public PredictionSinkUnavailableException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public PredictionSinkUnavailableException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// A record a caller waited for (<see cref="IPredictionRecorder.WaitCommittedAsync"/>) is not committed: the sink is
/// failing, or the log stopped without storing it. The caller's answer must not claim it was recorded.
/// </summary>
public sealed class PredictionNotRecordedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PredictionNotRecordedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public PredictionNotRecordedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public PredictionNotRecordedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
