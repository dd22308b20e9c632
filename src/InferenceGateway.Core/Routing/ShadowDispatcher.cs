using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Core.Routing;

/// <summary>
/// Runs shadow copies off the request path, one lane per (model, target): a bounded queue and a fixed number of
/// workers. The request path only tries to queue a copy (<see cref="TryDispatch"/>, which never waits and never
/// throws); a full queue drops the copy and counts it. Each copy has a deadline counted from when it was queued, so
/// a slow or hanging target costs its own lane's slots, never a primary's time.
/// </summary>
public sealed partial class ShadowDispatcher : IAsyncDisposable
{
    private readonly ShadowOptions _options;
    private readonly ExperimentMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<(string Model, string Target), Lane> _lanes = new();
    private readonly CancellationTokenSource _abort = new();
    private volatile bool _stopping;

    /// <summary>Creates the dispatcher; lanes start when their first copy arrives.</summary>
    public ShadowDispatcher(ShadowOptions options, ExperimentMetrics metrics, TimeProvider time, ILogger<ShadowDispatcher> logger)
    {
        _options = options;
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    /// <summary>Copies waiting in every lane.</summary>
    public int QueuedCount
    {
        get
        {
            var total = 0;
            foreach (var lane in _lanes.Values)
            {
                total += lane.Queue.Reader.Count;
            }

            return total;
        }
    }

    /// <summary>Copies being sent in every lane.</summary>
    public int InFlightCount
    {
        get
        {
            var total = 0;
            foreach (var lane in _lanes.Values)
            {
                total += Volatile.Read(ref lane.InFlight);
            }

            return total;
        }
    }

    /// <summary>
    /// Queues <paramref name="work"/> for <paramref name="target"/>: true when queued, false when dropped (queue full
    /// or the gateway stopping; counted, and the copy released). Never waits, never throws.
    /// </summary>
    public bool TryDispatch(ShadowTarget target, ShadowWork work)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(work);
        if (_stopping)
        {
            Drop(target.Model, target.Label, work, "stopping");
            return false;
        }

        var lane = target.Lane as Lane ?? LaneFor(target);
        work.Target = target;
        work.EnqueuedAt = _time.GetTimestamp();
        if (!IsFull(lane, target) && lane.Queue.Writer.TryWrite(work))
        {
            return true;
        }

        Drop(target.Model, target.Label, work, _stopping ? "stopping" : "queue_full");
        return false;
    }

    /// <summary>
    /// True when <paramref name="target"/>'s queue is full now: the copy is counted as dropped and need not be made
    /// (a saturated lane then costs the request path a count, not a copy). False leaves the decision to
    /// <see cref="TryDispatch"/>, which may still find the queue full.
    /// </summary>
    public bool DropIfFull(ShadowTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.Lane is not Lane lane || !IsFull(lane, target))
        {
            return false;
        }

        _metrics.Dropped(target.Model, target.Label, "queue_full");
        return true;
    }

    /// <summary>
    /// Full: the queue holds its capacity, or, once the lane's call latency is known, the copies queued ahead would keep
    /// a new one waiting so long that it could not finish within its deadline. Copies started without the time to finish
    /// only end in DEADLINE_EXCEEDED, and their cancelled calls cost the primary path (a remote shadow sleeping 200 ms
    /// with a 1 s deadline: p99 1.7-1.9x no shadow against 1.02x with a 10 s one; docs/experiments.md).
    /// </summary>
    private bool IsFull(Lane lane, ShadowTarget target)
    {
        var queued = lane.Queue.Reader.Count;
        if (queued >= _options.QueueCapacity)
        {
            return true;
        }

        var latency = Volatile.Read(ref lane.LatencyTicks);
        if (latency <= 0 || queued == 0)
        {
            return false; // an empty queue always takes a copy: a target that was slow (or hung) gets tried again
        }

        var wait = (double)latency * queued / _options.MaxConcurrency;
        return wait + latency > target.Timeout.TotalSeconds * _time.TimestampFrequency;
    }

    /// <summary>Counts a copy that will not run and gives its work back (a failing release is logged, never thrown).</summary>
    private void Drop(string model, string label, ShadowWork work, string reason)
    {
        _metrics.Dropped(model, label, reason);
        try
        {
            work.Release();
        }
        catch (Exception ex)
        {
            Log.ReleaseFailed(_logger, label, ex.Message);
        }
    }

    private Lane LaneFor(ShadowTarget target)
    {
        // Under a lock: GetOrAdd may run its factory more than once under contention, and a lane starts workers.
        lock (_lanes)
        {
            var key = (target.Model, target.Label);
            if (!_lanes.TryGetValue(key, out var lane))
            {
                lane = StartLane(target.Model, target.Label);
                _lanes[key] = lane;
            }

            target.Lane = lane;
            return lane;
        }
    }

    private Lane StartLane(string model, string label)
    {
        var lane = new Lane(model, label, Channel.CreateBounded<ShadowWork>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait, // with TryWrite: a full queue answers false, and the copy is counted as dropped
            SingleReader = false,
            SingleWriter = false,
            AllowSynchronousContinuations = false, // a primary's TryWrite never runs a worker's continuation
        }));
        lane.Workers = new Task[_options.MaxConcurrency];
        for (var i = 0; i < lane.Workers.Length; i++)
        {
            lane.Workers[i] = Task.Run(() => WorkAsync(lane));
        }

        Log.LaneStarted(_logger, model, label, _options.QueueCapacity, _options.MaxConcurrency);
        return lane;
    }

    private async Task WorkAsync(Lane lane)
    {
        var reader = lane.Queue.Reader;
        CancellationTokenSource? deadline = null;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var work))
                {
                    deadline = await RunOneAsync(lane, work, deadline).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            deadline?.Dispose();
        }
    }

    private async Task<CancellationTokenSource> RunOneAsync(Lane lane, ShadowWork work, CancellationTokenSource? deadline)
    {
        var target = work.Target!;
        var timeout = target.Timeout;
        var waited = _time.GetElapsedTime(work.EnqueuedAt);
        if (deadline is null || !deadline.TryReset())
        {
            deadline?.Dispose();
            deadline = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        }

        var remaining = timeout - waited;
        var latency = Volatile.Read(ref lane.LatencyTicks);
        // Too little time left for a call that takes what the lane's calls have taken: dropped rather than started,
        // unless nothing is in flight (then it runs, so a target that got faster is noticed).
        var tooLate = latency > 0 && remaining.TotalSeconds * _time.TimestampFrequency < latency && Volatile.Read(ref lane.InFlight) > 0;
        if (remaining <= TimeSpan.Zero || tooLate || _abort.IsCancellationRequested)
        {
            Drop(lane.Model, lane.Label, work, _abort.IsCancellationRequested ? "stopping" : "expired");
            return deadline;
        }

        deadline.CancelAfter(remaining);
        using var abort = _abort.Token.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), deadline);
        _metrics.Sent(lane.Model, lane.Label);
        Interlocked.Increment(ref lane.InFlight);
        var started = _time.GetTimestamp();
        ShadowOutcome outcome;
        try
        {
            outcome = await work.RunAsync(target, remaining, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            outcome = new ShadowOutcome(ShadowOutcome.DeadlineExceeded, $"shadow {lane.Label}: no answer within {timeout.TotalMilliseconds:F0} ms");
        }
        catch (Exception ex)
        {
            // A shadow never fails anything but itself.
            outcome = new ShadowOutcome(ShadowOutcome.Unknown, ex.Message);
        }
        finally
        {
            Interlocked.Decrement(ref lane.InFlight);
            lane.ObserveLatency(_time.GetTimestamp() - started);
        }

        if (outcome.StatusCode == ShadowOutcome.Cancelled && deadline.IsCancellationRequested && !_abort.IsCancellationRequested)
        {
            // The target saw its call cancelled because the copy's deadline fired first: report the deadline.
            outcome = new ShadowOutcome(ShadowOutcome.DeadlineExceeded, $"shadow {lane.Label}: no answer within {timeout.TotalMilliseconds:F0} ms");
        }

        _metrics.Completed(lane.Model, lane.Label, outcome.StatusCode, _time.GetElapsedTime(started));
        if (outcome.StatusCode != 0)
        {
            Log.ShadowFailed(_logger, lane.Model, lane.Label, outcome.StatusCode, outcome.Error ?? "");
        }

        try
        {
            work.Release();
        }
        catch (Exception ex)
        {
            Log.ReleaseFailed(_logger, lane.Label, ex.Message);
        }

        return deadline;
    }

    /// <summary>
    /// Stops taking copies and lets the queued ones run (each within its deadline); when <paramref name="cancellationToken"/>
    /// fires first, cancels what is still in flight and drops what is queued.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        var workers = new List<Task>();
        foreach (var lane in _lanes.Values)
        {
            lane.Queue.Writer.TryComplete();
            workers.AddRange(lane.Workers);
        }

        try
        {
            await Task.WhenAll(workers).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await _abort.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(workers).ConfigureAwait(false);
        }

        Log.Stopped(_logger, _lanes.Count);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_stopping)
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
        }

        _abort.Dispose();
    }

    private sealed class Lane(string model, string label, Channel<ShadowWork> queue)
    {
        public string Model { get; } = model;

        public string Label { get; } = label;

        public Channel<ShadowWork> Queue { get; } = queue;

        public Task[] Workers { get; set; } = [];

        public int InFlight;

        /// <summary>The lane's recent call latency (timestamp ticks, an exponential average over about 8 calls); 0 until a call ended.</summary>
        public long LatencyTicks;

        public void ObserveLatency(long ticks)
        {
            var old = Volatile.Read(ref LatencyTicks);
            Volatile.Write(ref LatencyTicks, old == 0 ? Math.Max(1, ticks) : Math.Max(1, old + ((ticks - old) / 8))); // racing workers may lose an update: an estimate
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Shadow lane for {Model} -> {Target} started: queue {QueueCapacity}, {MaxConcurrency} in flight", EventName = "ShadowLaneStarted")]
        public static partial void LaneStarted(ILogger logger, string model, string target, int queueCapacity, int maxConcurrency);

        [LoggerMessage(2, LogLevel.Debug, "Shadow copy of {Model} to {Target} failed with status {StatusCode}: {Detail}", EventName = "ShadowFailed")]
        public static partial void ShadowFailed(ILogger logger, string model, string target, int statusCode, string detail);

        [LoggerMessage(3, LogLevel.Warning, "Releasing a shadow copy for {Target} failed: {Detail}", EventName = "ShadowReleaseFailed")]
        public static partial void ReleaseFailed(ILogger logger, string target, string detail);

        [LoggerMessage(4, LogLevel.Information, "Shadow lanes stopped ({Lanes})", EventName = "ShadowLanesStopped")]
        public static partial void Stopped(ILogger logger, int lanes);
    }
}
