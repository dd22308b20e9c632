using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Core.Batching;

/// <summary>
/// Triton-style dynamic batcher for one model version: a bounded, prioritized queue that coalesces requests into
/// batches of at most <see cref="BatchingOptions.MaxBatchSize"/> rows and runs them on
/// <see cref="BatchingOptions.InstanceCount"/> dedicated threads, each with its own <see cref="IBatchRunner"/>.
/// </summary>
/// <remarks>
/// <para>A batch is released when its rows reach <see cref="BatchingOptions.MaxBatchSize"/> (or the next queued
/// request no longer fits), when its rows equal the largest <see cref="BatchingOptions.PreferredBatchSizes"/> entry
/// the queue can form, or else as <see cref="BatchingOptions.Policy"/> says: under
/// <see cref="BatchingPolicy.Adaptive"/> (the default) as soon as an instance is free to run it (optionally after
/// <see cref="BatchingOptions.AdaptiveWait"/> while another instance runs), under <see cref="BatchingPolicy.FixedDelay"/>
/// when its oldest request has waited <see cref="BatchingOptions.MaxQueueDelay"/>. Requests are taken by priority
/// level (1 first), first-in first-out within a level; a request that does not fit the remaining rows ends the batch
/// (no reordering to fill it). Requests whose variable input row shapes differ from the batch's first request are
/// skipped and wait for a later batch.</para>
/// <para>A batch that waits is released by the instance thread that keeps its due time (see
/// <see cref="PreciseSleeper"/>) on the system clock on Linux, within tens of microseconds; otherwise by the
/// <see cref="TimeProvider"/>'s timer (tests' virtual clocks, other OSes).</para>
/// <para>Failures come back as <see cref="BatchResult"/> values, never thrown, so overload costs no exceptions; see
/// <see cref="BatchFailureReason"/> for the gRPC status each maps to. <see cref="BatchResult.ThrowIfFailed"/> turns
/// one into a <see cref="BatchingException"/>.</para>
/// <para>Steady state allocates nothing per request: requests are pooled objects awaited through a
/// <see cref="ValueTask{TResult}"/>, batch buffers are pinned arrays allocated once per instance, metrics use
/// <see cref="System.Diagnostics.TagList"/>.</para>
/// </remarks>
public sealed partial class DynamicBatcher : IAsyncDisposable
{
    private const string CancelledMessage = "request was cancelled while queued";
    private const string DeadlineMessage = "deadline exceeded while queued";
    private const string QueueFullMessage = "batcher queue is full";
    private const string OverloadedMessage = "overloaded: the requests queued ahead would take longer than the model's max queue time to run; retry later";
    private const string DeadlineTooNearMessage = "deadline too near: the requests queued ahead would take longer to run than the time left before the deadline";
    private const string ShuttingDownMessage = "model version is shutting down";

    private static readonly Action<object?> s_onCancelled = static state => ((BatchRequest)state!).Owner.OnCancelled((BatchRequest)state);

    // SpinWait iterations an instance spends looking for work before it blocks (about tens of microseconds).
    private const int IdleSpins = 30;

    // With precise waits, the last stretch before a due time is spun (yielding) rather than slept: a sleep's wake-up
    // latency is tens of microseconds on an idle core, a spin's is nothing. Short, and only while a batch is due.
    private static readonly TimeSpan SpinLead = TimeSpan.FromMicroseconds(SpinLeadMicroseconds);
    internal const int SpinLeadMicroseconds = 20;

    // How long a caller that ran its own request (RunOnCaller) keeps running batches that queued meanwhile before it
    // hands the queue to the instance threads: long enough to absorb a burst on a small model without a thread
    // hand-off, short enough that the caller's own response is not held up behind a large model's batches.
    private static readonly TimeSpan CallerDrainBudget = TimeSpan.FromMicroseconds(50);

    /// <summary>
    /// A cancellation this close to a queued request's deadline is counted as the deadline (see <c>OnCancelled</c>).
    /// Covers the coarse clock of .NET's timers (up to one 10 ms jiffy on HZ=100 kernels) twice over.
    /// </summary>
    internal static readonly TimeSpan DeadlineCancellationSlack = TimeSpan.FromMilliseconds(20);

    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly BatcherMetrics? _metrics;
    private readonly BatchTensorSpec[] _inputSpecs;
    private readonly BatchTensorSpec[] _outputSpecs;
    private readonly int[] _inputRowBytes;
    private readonly int[] _outputRowBytes;
    private readonly int[] _variableInputs;
    private readonly int _maxRows;
    private readonly bool[] _isPreferred;
    private readonly int _minReadyRows;
    private readonly bool _fixedDelay;
    private readonly long _waitTicks;
    private readonly bool _preciseWaits;
    private readonly long _spinLeadTicks;
    private readonly long _defaultTimeoutTicks;
    private readonly int _maxQueueSize;
    private readonly int _defaultLevel;
    private readonly bool _runOnCaller;
    private readonly long _callerDrainTicks;
    private int _claimedIdle;

    // The queue-time bound (BatchingOptions.MaxQueueTime), in timestamp ticks (0: none), and the recent run costs it is
    // judged by (DynamicBatcher.QueueTime.cs), under the queue lock.
    private readonly long _maxQueueTicks;
    private readonly RunCostWindow? _runCosts;
    private readonly long _deadlineSlackTicks;

    // Moving average of one runner call (timestamp ticks), across instances. Running on the caller is for runs that
    // are cheap next to a thread hand-off (a long run blocks a thread-pool thread, which Kestrel needs for I/O under
    // load), or for any run while requests come one at a time (see _loneRuns).
    private long _averageRunTicks;

    // Requests admitted so far (EnqueueAsync calls past validation); a run compares it at its start and end.
    private long _admissions;

    // Runs in a row that were one request with no other request arriving while they ran (capped). From
    // LoneRunsBeforeCaller on, callers come one at a time, so a request may run on its caller whatever the run costs.
    // Once two requests overlap, requests queue for the instance thread again, whose wake-up lets a second request join
    // the first (a caller-run request runs alone and makes the other wait a whole run: two closed-loop callers on
    // bench_mlp lost a third of their throughput when a single quiet run was enough to switch).
    private int _loneRuns;
    internal const int LoneRunsBeforeCaller = 4;

    private readonly BatchQueue _queue;
    private int _waiting;
    private bool _stopping;
    private bool _disposed;
    private long _deadlineDue = long.MaxValue;
    private readonly ITimer _deadlineTimer;

    // Waits kept by the time provider's timer (virtual clocks, other OSes).
    private long _delayDue = long.MaxValue;
    private readonly ITimer _delayTimer;

    // Precise waits: the instance whose thread sleeps until the due time of the batch that waits (and when that is).
    private Instance? _timekeeper;
    private long _timekeeperDue = long.MaxValue;

    // Only with PreserveOrdering.
    private readonly OrderingRing? _ordering;

    private readonly Instance[] _instances;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _liveThreads;

    private readonly BatchRequestPool _pool;

    private readonly BatcherMetrics.Tags? _tags;

    /// <summary>
    /// Creates the batcher, one runner per instance (<paramref name="runnerFactory"/> is called with 0 ..
    /// <see cref="BatchingOptions.InstanceCount"/> - 1 before this returns), and starts the instance threads.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid (the message lists every problem).</exception>
    public DynamicBatcher(
        string model,
        string version,
        BatchingOptions options,
        IReadOnlyList<BatchTensorSpec> inputs,
        IReadOnlyList<BatchTensorSpec> outputs,
        Func<int, IBatchRunner> runnerFactory,
        TimeProvider timeProvider,
        ILogger logger,
        BatcherMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(runnerFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException($"Invalid batching options for {model} version {version}: {string.Join("; ", errors)}", nameof(options));
        }

        Model = model;
        Version = version;
        _time = timeProvider;
        _logger = logger;
        _metrics = metrics;
        _inputSpecs = [.. inputs];
        _outputSpecs = [.. outputs];
        _inputRowBytes = RowBytes(_inputSpecs);
        _outputRowBytes = RowBytes(_outputSpecs);
        var variable = new List<int>();
        for (var i = 0; i < _inputRowBytes.Length; i++)
        {
            if (_inputRowBytes[i] < 0)
            {
                variable.Add(i);
            }
        }

        _variableInputs = [.. variable];
        _maxRows = options.EffectiveMaxBatchSize;
        _isPreferred = new bool[_maxRows + 1];
        _minReadyRows = _maxRows;
        foreach (var size in options.PreferredBatchSizes)
        {
            _isPreferred[size] = true;
            _minReadyRows = Math.Min(_minReadyRows, size);
        }

        _fixedDelay = options.Policy == BatchingPolicy.FixedDelay;
        _waitTicks = ToTimestampTicks(_fixedDelay ? options.MaxQueueDelay : options.AdaptiveWait);

        // Precise waits count real nanoseconds, so only on the real clock; a virtual clock (tests) moves when its owner
        // says, which only its timers know. Not needed at all when nothing waits (the adaptive default).
        _preciseWaits = _waitTicks > 0 && ReferenceEquals(timeProvider, TimeProvider.System) && PreciseSleeper.IsSupported;
        _spinLeadTicks = ToTimestampTicks(SpinLead);
        _defaultTimeoutTicks = ToTimestampTicks(options.DefaultTimeout);
        _maxQueueTicks = ToTimestampTicks(options.MaxQueueTime);
        _runCosts = _maxQueueTicks > 0 ? new RunCostWindow() : null;
        _deadlineSlackTicks = ToTimestampTicks(DeadlineCancellationSlack);
        _maxQueueSize = options.MaxQueueSize;
        _defaultLevel = options.DefaultPriority - 1;
        _runOnCaller = options.RunOnCallerWhenIdle && !options.PreserveOrdering;
        _callerDrainTicks = ToTimestampTicks(CallerDrainBudget);
        _queue = new BatchQueue(options.PriorityLevels);

        // Admitted, undelivered requests: at most the queue plus what the instances hold.
        var outstanding = checked(_maxQueueSize + (options.InstanceCount * _maxRows));
        _ordering = options.PreserveOrdering ? new OrderingRing(outstanding) : null;
        _pool = new BatchRequestPool(Math.Min(outstanding, 65536));
        Options = options;

        _instances = new Instance[options.InstanceCount];
        try
        {
            for (var i = 0; i < _instances.Length; i++)
            {
                var runner = runnerFactory(i) ?? throw new InvalidOperationException($"Runner factory returned null for instance {i}");
                _instances[i] = new Instance(i, runner, new BatchRun(i, _inputSpecs, _outputSpecs, _maxRows), _maxRows)
                {
                    Sleeper = _preciseWaits ? PreciseSleeper.Create() : null,
                };
            }
        }
        catch
        {
            foreach (var instance in _instances)
            {
                (instance?.Runner as IDisposable)?.Dispose();
                instance?.Sleeper?.Dispose();
            }

            throw;
        }

        _delayTimer = timeProvider.CreateTimer(static s => ((DynamicBatcher)s!).OnDelayTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _deadlineTimer = timeProvider.CreateTimer(static s => ((DynamicBatcher)s!).OnDeadlineTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        if (metrics is not null)
        {
            _tags = new BatcherMetrics.Tags(model, version);
            metrics.Register(this);
        }

        _liveThreads = _instances.Length;
        foreach (var instance in _instances)
        {
            instance.Thread = new Thread(static s => ((Instance)s!).Owner!.RunInstance((Instance)s), maxStackSize: 0)
            {
                IsBackground = true,
                Name = $"batcher {model}/{version} #{instance.Index}",
            };
            instance.Owner = this;
            instance.Thread.Start(instance);
        }

        var wait = _fixedDelay ? options.MaxQueueDelay : options.AdaptiveWait;
        Log.Started(_logger, model, version, _instances.Length, _maxRows, options.Policy.ToConfigName(), wait.TotalMicroseconds,
            _waitTicks == 0 ? "none" : _preciseWaits ? "precise" : "timer", options.MaxQueueTime.TotalMilliseconds);
        if (!_fixedDelay && _waitTicks > 0 && _instances.Length == 1)
        {
            Log.AdaptiveWaitUnused(_logger, model, version, wait.TotalMicroseconds);
        }
    }

    /// <summary>Logical model name.</summary>
    public string Model { get; }

    /// <summary>Model version.</summary>
    public string Version { get; }

    /// <summary>The options this batcher was created with; they are read once, so later changes have no effect.</summary>
    public BatchingOptions Options { get; }

    /// <summary>Input specs, in input order.</summary>
    public IReadOnlyList<BatchTensorSpec> InputSpecs => _inputSpecs;

    /// <summary>Output specs, in output order.</summary>
    public IReadOnlyList<BatchTensorSpec> OutputSpecs => _outputSpecs;

    /// <summary>Requests queued now (all levels), not counting those running.</summary>
    public int QueueDepth => _queue.VolatileCount;

    /// <summary>The most rows one batch (and one request) may hold: <see cref="BatchingOptions.MaxBatchSize"/>, or 1 when batching is off.</summary>
    public int MaxRows => _maxRows;

    internal BatcherMetrics.Tags? MetricTags => _tags;

    /// <summary>Whether waits are kept by the instance threads' precise sleeps (else by the time provider's timers).</summary>
    internal bool PreciseWaits => _preciseWaits;

    /// <summary>Whether an instance thread is keeping a waiting batch's due time now.</summary>
    internal bool HasTimekeeper
    {
        get
        {
            lock (_gate)
            {
                return _timekeeper is not null;
            }
        }
    }

    /// <summary>
    /// A deadline <paramref name="timeout"/> from now, as <see cref="BatchRequest.Deadline"/> expects;
    /// <see cref="Timeout.InfiniteTimeSpan"/> gives <see cref="long.MaxValue"/> (no deadline).
    /// </summary>
    public long GetDeadline(TimeSpan timeout) =>
        timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : _time.GetTimestamp() + ToTimestampTicks(timeout);

    /// <summary>Takes a request from the pool (or creates one); give it back with <see cref="ReturnRequest"/>.</summary>
    public BatchRequest RentRequest()
    {
        var request = _pool.TryRent() ?? new BatchRequest(this, _inputSpecs, _outputSpecs, _inputRowBytes, _outputRowBytes) { Sequence = -1 };
        request.State = BatchRequest.StateRented;
        return request;
    }

    /// <summary>
    /// Gives a request back to the pool once its task has completed and its outputs have been read. It must not be
    /// used afterwards.
    /// </summary>
    /// <exception cref="InvalidOperationException">The request is still queued or running.</exception>
    public void ReturnRequest(BatchRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!ReferenceEquals(request.Owner, this))
        {
            throw new ArgumentException("The request was rented from another batcher.", nameof(request));
        }

        var state = Volatile.Read(ref request.State);
        if (state is BatchRequest.StateQueued or BatchRequest.StateTaken)
        {
            throw new InvalidOperationException("The request is still in flight; await it before returning it.");
        }

        if (state == BatchRequest.StateFree)
        {
            throw new InvalidOperationException("The request was already returned.");
        }

        request.Reset();
        request.State = BatchRequest.StateFree;
        _pool.Return(request);
    }

    /// <summary>
    /// Queues <paramref name="request"/> and completes when its outputs are written (or it failed). Never waits for
    /// other work: a full queue answers <see cref="BatchFailureReason.QueueFull"/> at once. With
    /// <see cref="BatchingOptions.RunOnCallerWhenIdle"/>, a request that would run at once on an idle instance runs on
    /// the calling thread and the task is complete on return. The task must be awaited exactly once.
    /// </summary>
    /// <exception cref="InvalidOperationException">The request is not rented, or already enqueued.</exception>
    public ValueTask<BatchResult> EnqueueAsync(BatchRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!ReferenceEquals(request.Owner, this))
        {
            throw new ArgumentException("The request was rented from another batcher.", nameof(request));
        }

        if (request.State != BatchRequest.StateRented)
        {
            throw new InvalidOperationException("The request is not rented, or was already enqueued; rent a fresh one.");
        }

        var error = request.Validate(_maxRows, out _);
        if (error is not null)
        {
            return Reject(request, BatchFailureReason.InvalidInput, error);
        }

        if (request.Priority < 0)
        {
            return Reject(request, BatchFailureReason.InvalidInput, $"priority must be >= 0, was {request.Priority}");
        }

        var token = request.CancellationToken;
        if (token.IsCancellationRequested)
        {
            return Reject(request, BatchFailureReason.Cancelled, CancelledMessage);
        }

        var now = _time.GetTimestamp();
        var deadline = request.Deadline != 0 ? request.Deadline
            : _defaultTimeoutTicks > 0 ? now + _defaultTimeoutTicks
            : long.MaxValue;
        if (deadline <= now)
        {
            return Reject(request, BatchFailureReason.DeadlineExceeded, DeadlineMessage);
        }

        request.EnqueuedAt = now;
        request.DeadlineAt = deadline;
        request.Level = request.Priority == 0 ? _defaultLevel : Math.Min(request.Priority, _queue.Levels) - 1;
        if (_runOnCaller)
        {
            Interlocked.Increment(ref _admissions);
        }

        if (_runOnCaller && ReleasesAtOnce(request.Rows)
            && (Volatile.Read(ref _loneRuns) >= LoneRunsBeforeCaller || Volatile.Read(ref _averageRunTicks) <= _callerDrainTicks)
            && _queue.VolatileCount == 0 && MayHaveIdleInstance() && TryClaimIdleInstance(request) is { } idle)
        {
            return RunOnCaller(idle, request);
        }

        if (token.CanBeCanceled)
        {
            // Registered before queueing so a completion can never race the assignment; a callback that fires
            // before the request is queued only marks it (see OnCancelled).
            request.Registration = token.UnsafeRegister(s_onCancelled, request);
        }

        var rejection = BatchFailureReason.None;
        string? overloaded = null;
        lock (_gate)
        {
            if (_stopping)
            {
                rejection = BatchFailureReason.ShuttingDown;
            }
            else if (request.CancelPending)
            {
                rejection = BatchFailureReason.Cancelled;
            }
            else if (_queue.Count >= _maxQueueSize || _ordering is { IsFull: true })
            {
                rejection = BatchFailureReason.QueueFull;
            }
            else if (_runCosts is not null && (overloaded = Admission(request.Level, deadline, now)) is not null)
            {
                rejection = BatchFailureReason.Overloaded;
            }
            else
            {
                var wasEmpty = _queue.Count == 0;
                if (_ordering is not null)
                {
                    request.Sequence = _ordering.Reserve();
                }

                _queue.Append(request);
                if (deadline < _deadlineDue)
                {
                    ArmDeadline(deadline, now);
                }

                // Instances held by a caller (RunOnCaller) are not idle: that caller runs or hands over what queues.
                if (_waiting - _claimedIdle > 0 || _timekeeper is not null)
                {
                    // Wake an idle instance only when a batch may be ready; otherwise it would sleep again at once.
                    if (MayBeReady(request))
                    {
                        WakeIdleInstance();
                    }
                    else if (wasEmpty)
                    {
                        StartWait(now + _waitTicks, now);
                    }
                }
            }
        }

        if (rejection != BatchFailureReason.None)
        {
            return Reject(request, rejection, rejection switch
            {
                BatchFailureReason.ShuttingDown => ShuttingDownMessage,
                BatchFailureReason.Cancelled => CancelledMessage,
                BatchFailureReason.Overloaded => overloaded!,
                _ => QueueFullMessage,
            });
        }

        return new ValueTask<BatchResult>(request, request.Version);
    }

    /// <summary>
    /// Unlocked first check: true when a request of <paramref name="rows"/> rows, alone in the queue with an instance
    /// idle, may be released at once: the adaptive policy (which waits only while another instance runs, checked under
    /// the lock in <see cref="TryClaimIdleInstance"/>), no wait configured, or it fills the largest batch, or its size
    /// is a preferred one (see <see cref="TryFormBatch"/>).
    /// </summary>
    private bool ReleasesAtOnce(int rows) => !_fixedDelay || _waitTicks == 0 || Fills(rows);

    private bool Fills(int rows) => rows >= _maxRows || _isPreferred[rows];

    /// <summary>
    /// Under the queue lock, just after <paramref name="request"/> was queued: whether an idle instance could release a
    /// batch now (see <see cref="TryFormBatch"/>), so that waking one is worth it.
    /// </summary>
    private bool MayBeReady(BatchRequest request) =>
        _waitTicks == 0 || _queue.Rows >= _minReadyRows || request.SkipQueueDelay || (!_fixedDelay && !AnotherInstanceBusy(null));

    /// <summary>Under the queue lock: whether an instance other than <paramref name="self"/> runs a batch or is held by a caller.</summary>
    private bool AnotherInstanceBusy(Instance? self)
    {
        foreach (var instance in _instances)
        {
            if (instance != self && (instance.Running || instance.ClaimedByCaller))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Under the queue lock: wakes one idle instance to judge the queue: one sleeping on the lock if any, else the
    /// timekeeper (whose judgement may otherwise come only at its due time).
    /// </summary>
    private void WakeIdleInstance()
    {
        if (_waiting - _claimedIdle > 0)
        {
            Monitor.Pulse(_gate);
        }
        else
        {
            WakeTimekeeper();
        }
    }

    /// <summary>Under the queue lock: ends the timekeeper's sleep early, so it judges the queue now.</summary>
    private void WakeTimekeeper()
    {
        if (_timekeeper is { WakePending: false } keeper)
        {
            keeper.WakePending = true;
            keeper.Sleeper!.Wake();
        }
    }

    /// <summary>
    /// Under the queue lock: a batch formed of the queue just became due at <paramref name="due"/> and an instance is
    /// idle: have that instance keep the time (precise waits), or arm the timer that will wake it.
    /// </summary>
    private void StartWait(long due, long now)
    {
        if (!_preciseWaits)
        {
            ArmDelay(due, now);
        }
        else if (_timekeeper is null)
        {
            WakeIdleInstance(); // It finds the batch not due yet and sleeps until it is.
        }
    }

    /// <summary>
    /// Stops taking requests (new ones fail with <see cref="BatchFailureReason.ShuttingDown"/>), runs what is queued
    /// without waiting for <see cref="BatchingOptions.MaxQueueDelay"/>, and waits for the instance threads to finish.
    /// Returns false if <paramref name="timeout"/> passed first; requests still queued then fail with ShuttingDown
    /// (a batch already running is not interrupted).
    /// </summary>
    public async Task<bool> DrainAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_stopping)
            {
                _stopping = true;
                Monitor.PulseAll(_gate);
                WakeTimekeeper();
            }
        }

        try
        {
            await _stopped.Task.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            BatchRequest? chain;
            lock (_gate)
            {
                chain = _queue.RemoveAll(null);
            }

            var count = FailChain(chain, BatchFailureReason.ShuttingDown, ShuttingDownMessage);
            Log.DrainTimedOut(_logger, Model, Version, count);
            return false;
        }
    }

    /// <summary>Drains (runs everything queued, no time limit), stops the threads, and disposes the runners.</summary>
    public async ValueTask DisposeAsync()
    {
        await DrainAsync(Timeout.InfiniteTimeSpan).ConfigureAwait(false);
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        await _delayTimer.DisposeAsync().ConfigureAwait(false);
        await _deadlineTimer.DisposeAsync().ConfigureAwait(false);
        foreach (var instance in _instances)
        {
            (instance.Runner as IDisposable)?.Dispose();
            instance.Sleeper?.Dispose(); // Its thread has ended, and only it sleeps on it.
        }

        _metrics?.Unregister(this);
        Log.Stopped(_logger, Model, Version);
    }

    private ValueTask<BatchResult> Reject(BatchRequest request, BatchFailureReason reason, string message)
    {
        request.State = BatchRequest.StateCompleted;
        request.Registration.Dispose();
        request.Registration = default;
        RecordOutcome(reason);
        return new ValueTask<BatchResult>(new BatchResult(reason, message));
    }

    private void OnCancelled(BatchRequest request)
    {
        lock (_gate)
        {
            if (request.State == BatchRequest.StateRented)
            {
                // Fired between registration and queueing: EnqueueAsync rejects it under this lock.
                request.CancelPending = true;
                return;
            }

            if (request.State != BatchRequest.StateQueued)
            {
                return; // Already in a batch (runs to completion) or completed.
            }

            _queue.Remove(request);
        }

        // Inside this registration's own callback: the registration is spent, and disposing it here is pointless.
        request.Registration = default;

        // A token that fires at (or just before) the request's deadline is the deadline's doing: gRPC servers cancel a
        // call's token when its deadline passes, from a timer on a coarse clock (1-10 ms early), and that races this
        // batcher's own deadline. The caller's status must not depend on which wins.
        var byDeadline = request.DeadlineAt != long.MaxValue && _time.GetTimestamp() >= request.DeadlineAt - _deadlineSlackTicks;
        Complete(request, byDeadline ? BatchFailureReason.DeadlineExceeded : BatchFailureReason.Cancelled,
            byDeadline ? DeadlineMessage : CancelledMessage, executed: false);
    }

    private void OnDelayTimer()
    {
        lock (_gate)
        {
            _delayDue = long.MaxValue;
            if (_waiting > 0)
            {
                Monitor.Pulse(_gate);
            }
        }
    }

    private void OnDeadlineTimer()
    {
        BatchRequest? expired;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            expired = _queue.RemoveExpired(now, null, out var next);
            _deadlineDue = long.MaxValue;
            if (next != long.MaxValue)
            {
                ArmDeadline(next, now);
            }
        }

        FailChain(expired, BatchFailureReason.DeadlineExceeded, DeadlineMessage);
    }

    private void ArmDelay(long due, long now)
    {
        // A timer armed for a later time is moved earlier; one already due fires anyway and wakes an instance.
        if (due < _delayDue || _delayDue <= now)
        {
            _delayDue = due;
            _delayTimer.Change(ToTimeSpan(due - now), Timeout.InfiniteTimeSpan);
        }
    }

    private void ArmDeadline(long due, long now)
    {
        _deadlineDue = due;
        _deadlineTimer.Change(ToTimeSpan(due - now), Timeout.InfiniteTimeSpan);
    }

    private void RunInstance(Instance instance)
    {
        if (_preciseWaits)
        {
            PreciseSleeper.UseFineTimerSlack();
        }

        var members = instance.Members;
        var spun = false;
        try
        {
            while (true)
            {
                BatchRequest? expired = null;
                int count;
                var rows = 0;
                var exit = false;
                var spin = false;
                lock (_gate)
                {
                    instance.Running = false;
                    FoldRunCost(instance);
                    while (true)
                    {
                        if (instance.ClaimedByCaller)
                        {
                            // A caller runs on this instance (RunOnCaller); it pulses when done. Pass on a wake-up
                            // meant for an idle instance, which this one is not.
                            if (_queue.Count > 0)
                            {
                                WakeIdleInstance();
                            }

                            instance.Parked = true;
                            Monitor.Wait(_gate);
                            instance.Parked = false;
                            continue;
                        }

                        var now = _time.GetTimestamp();
                        count = TryFormBatch(instance, now, members, ref expired, out rows, out var wakeAt);
                        if (count > 0)
                        {
                            instance.Running = true;
                            if (_queue.Count > 0)
                            {
                                // Let an idle instance judge what is left (run it, or wait for it).
                                WakeIdleInstance();
                            }

                            break;
                        }

                        if (_stopping && _queue.Count == 0)
                        {
                            exit = true;
                            break;
                        }

                        if (expired is not null)
                        {
                            break; // Fail them now, not after the wait.
                        }

                        if (!spun && _queue.Count == 0)
                        {
                            spin = true; // Idle right after a batch: the next request is often microseconds away.
                            break;
                        }

                        if (wakeAt != long.MaxValue)
                        {
                            if (!_preciseWaits)
                            {
                                ArmDelay(wakeAt, now);
                            }
                            else if (wakeAt < _timekeeperDue)
                            {
                                KeepTime(instance, wakeAt, now);
                                continue;
                            }

                            // Else another instance keeps an earlier (or the same) time; this one waits to be woken.
                        }

                        _waiting++;
                        instance.IdleWaiting = true;
                        Monitor.Wait(_gate);
                        instance.IdleWaiting = false;
                        _waiting--;
                        if (instance.CountedClaimedIdle)
                        {
                            instance.CountedClaimedIdle = false;
                            _claimedIdle--;
                        }
                    }
                }

                FailChain(expired, BatchFailureReason.DeadlineExceeded, DeadlineMessage);
                if (count > 0)
                {
                    Execute(instance, count, rows);
                    spun = false;
                }
                else if (exit)
                {
                    break;
                }
                else if (spin)
                {
                    SpinForWork();
                    spun = true;
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Only a bug gets here (runner exceptions are caught per batch); keep the process alive and say so.
            Log.InstanceCrashed(_logger, ex, Model, Version, instance.Index);
        }
        finally
        {
            if (Interlocked.Decrement(ref _liveThreads) == 0)
            {
                _stopped.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Spins briefly (yielding, never sleeping) for a request to arrive, so a closed-loop caller's next request
    /// skips the cost of blocking and waking this thread. Bounded, so an idle batcher soon blocks for real.
    /// </summary>
    private void SpinForWork()
    {
        var spinner = default(SpinWait);
        for (var i = 0; i < IdleSpins && _queue.VolatileCount == 0 && !Volatile.Read(ref _stopping); i++)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>
    /// Under the queue lock, which it releases meanwhile: <paramref name="instance"/> becomes the timekeeper and sleeps
    /// until <paramref name="due"/>, less <see cref="SpinLead"/>, or spins (yielding) through that last stretch; or less,
    /// when woken (<see cref="WakeTimekeeper"/>): a batch may be ready, the batcher is stopping, or a timekeeper with an
    /// earlier time took over. The caller judges the queue again afterwards either way.
    /// </summary>
    private void KeepTime(Instance instance, long due, long now)
    {
        WakeTimekeeper(); // One keeping a later time: it will find this earlier one kept and wait to be woken.
        _timekeeper = instance;
        _timekeeperDue = due;
        var sleepTicks = due - now - _spinLeadTicks;
        Monitor.Exit(_gate);
        try
        {
            if (sleepTicks > 0)
            {
                instance.Sleeper!.Sleep(ToNanoseconds(sleepTicks));
            }
            else
            {
                var spinner = default(SpinWait);
                while (_time.GetTimestamp() < due && !Volatile.Read(ref instance.WakePending) && !Volatile.Read(ref _stopping))
                {
                    spinner.SpinOnce(sleep1Threshold: -1);
                }
            }
        }
        finally
        {
            Monitor.Enter(_gate);
            if (_timekeeper == instance)
            {
                _timekeeper = null;
                _timekeeperDue = long.MaxValue;
            }

            if (instance.WakePending)
            {
                instance.WakePending = false;
                instance.Sleeper!.Reset(); // Written under the lock, so it has been: the next sleep must not see it.
            }
        }
    }

    /// <summary>
    /// Under the queue lock: picks the next batch for <paramref name="self"/> into <paramref name="members"/> and
    /// unlinks it, or returns 0 and the time the pending batch becomes due. Expired requests met on the way are
    /// unlinked onto <paramref name="expired"/>.
    /// </summary>
    private int TryFormBatch(Instance self, long now, BatchRequest?[] members, ref BatchRequest? expired, out int rows, out long wakeAt)
    {
        rows = 0;
        wakeAt = long.MaxValue;
        var count = 0;
        var cutCount = 0;
        var cutRows = 0;
        var full = false;
        var skipDelay = false;
        var oldest = long.MaxValue;
        BatchRequest? anchor = null;
        for (var level = 0; level < _queue.Levels && !full; level++)
        {
            for (var request = _queue.Head(level); request is not null;)
            {
                var next = request.Next;
                if (request.DeadlineAt <= now)
                {
                    _queue.Remove(request);
                    request.ChainNext = expired;
                    expired = request;
                    request = next;
                    continue;
                }

                if (anchor is null)
                {
                    anchor = request;
                }
                else if (_variableInputs.Length > 0 && !request.SameVariableShapes(anchor, _variableInputs))
                {
                    request = next; // Another shape group: it waits for a later batch.
                    continue;
                }

                if (rows + request.Rows > _maxRows)
                {
                    full = true;
                    break;
                }

                members[count++] = request;
                rows += request.Rows;
                oldest = Math.Min(oldest, request.EnqueuedAt);
                skipDelay |= request.SkipQueueDelay;
                if (_isPreferred[rows])
                {
                    cutCount = count;
                    cutRows = rows;
                }

                if (rows == _maxRows)
                {
                    full = true;
                    break;
                }

                request = next;
            }
        }

        if (count == 0)
        {
            return 0;
        }

        if (!full && !_stopping && !skipDelay)
        {
            // Fixed delay: a batch short of a preferred size waits its delay out. Adaptive: it goes now, unless the
            // optional wait applies (another instance runs, so this one may gather company meanwhile).
            var wait = _fixedDelay ? now - oldest < _waitTicks
                : cutCount == 0 && _waitTicks > 0 && now - oldest < _waitTicks && AnotherInstanceBusy(self);
            if (wait && cutCount == 0)
            {
                Array.Clear(members, 0, count);
                wakeAt = oldest + _waitTicks;
                rows = 0;
                return 0;
            }

            // The largest preferred size the queue can form goes as that size, the rest stays queued: while the delay
            // runs (Triton), and under the adaptive policy whenever the batch is not full.
            if (cutCount > 0 && (wait || !_fixedDelay))
            {
                Array.Clear(members, cutCount, count - cutCount);
                count = cutCount;
                rows = cutRows;
            }
        }

        for (var i = 0; i < count; i++)
        {
            _queue.Remove(members[i]!);
        }

        return count;
    }

    private long ToTimestampTicks(TimeSpan span)
    {
        if (span <= TimeSpan.Zero)
        {
            return 0;
        }

        var ticks = span.Ticks * ((double)_time.TimestampFrequency / TimeSpan.TicksPerSecond);
        return ticks >= long.MaxValue / 4 ? long.MaxValue / 4 : Math.Max(1, (long)Math.Ceiling(ticks));
    }

    private TimeSpan ToTimeSpan(long timestampTicks)
    {
        // Rounded up so a timer never fires before the time it stands for.
        var ticks = Math.Ceiling(timestampTicks * ((double)TimeSpan.TicksPerSecond / _time.TimestampFrequency));
        return TimeSpan.FromTicks((long)Math.Clamp(ticks, 1, TimeSpan.FromDays(1).Ticks));
    }

    private double Seconds(long timestampTicks) => (double)timestampTicks / _time.TimestampFrequency;

    /// <summary>A measured span of timestamp ticks (not rounded up, unlike a timer's <see cref="ToTimeSpan"/>).</summary>
    internal TimeSpan Elapsed(long timestampTicks) =>
        timestampTicks <= 0 ? TimeSpan.Zero : TimeSpan.FromTicks((long)(timestampTicks * ((double)TimeSpan.TicksPerSecond / _time.TimestampFrequency)));

    private long ToNanoseconds(long timestampTicks) => (long)(timestampTicks * (1e9 / _time.TimestampFrequency));

    private static int[] RowBytes(BatchTensorSpec[] specs)
    {
        var bytes = new int[specs.Length];
        for (var i = 0; i < specs.Length; i++)
        {
            bytes[i] = specs[i].IsVariable ? -1 : specs[i].RowBytes(specs[i].RowShape);
        }

        return bytes;
    }
}
