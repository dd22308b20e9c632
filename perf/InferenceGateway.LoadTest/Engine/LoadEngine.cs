using System.Diagnostics;
using System.Threading.Tasks.Sources;
using InferenceGateway.LoadTest.Histogram;

namespace InferenceGateway.LoadTest.Engine;

/// <summary>
/// Drives an <see cref="ILoadTarget"/> in closed or open loop for one bounded step and measures it.
/// Every step stops by itself: after warm-up plus duration, or after the requested count (with a
/// safety ceiling), then waits a bounded time for requests still in flight.
/// </summary>
public static class LoadEngine
{
    /// <summary>Runs one step against <paramref name="target"/>.</summary>
    /// <param name="target">What to send.</param>
    /// <param name="options">Mode, size and bounds of the step.</param>
    /// <param name="progress">Called about once per second with live counters; may be null.</param>
    /// <param name="cancellationToken">Stops the step early (results cover what was measured).</param>
    public static async Task<StepResult> RunStepAsync(
        ILoadTarget target,
        LoadStepOptions options,
        Action<ProgressSnapshot>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        var run = new StepState(options);
        using var hardStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        // The absolute ceiling: warm-up + (duration or max-duration) + drain. Nothing outlives it.
        TimeSpan measured = options.Requests > 0 ? options.MaxDuration : options.Duration;
        hardStop.CancelAfter(options.Warmup + measured + options.DrainTimeout);

        using var monitorStop = new CancellationTokenSource();
        Task monitor = MonitorAsync(run, progress, monitorStop.Token);

        try
        {
            if (options.Mode == LoadMode.Closed)
            {
                await RunClosedAsync(target, run, hardStop.Token).ConfigureAwait(false);
            }
            else
            {
                await RunOpenAsync(target, run, hardStop.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            await monitorStop.CancelAsync().ConfigureAwait(false);
            await monitor.ConfigureAwait(false);
        }

        return run.ToResult();
    }

    private static async Task RunClosedAsync(ILoadTarget target, StepState run, CancellationToken stop)
    {
        var workers = new Task[run.Options.Concurrency];
        for (int i = 0; i < workers.Length; i++)
        {
            Shard shard = run.ShardFor(i);
            workers[i] = Task.Run(() => ClosedWorkerAsync(target, run, shard, stop), CancellationToken.None);
        }

        await Task.WhenAll(workers).ConfigureAwait(false);
    }

    private static async Task ClosedWorkerAsync(ILoadTarget target, StepState run, Shard shard, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            long start = Stopwatch.GetTimestamp();
            if (start >= run.EndTimestamp)
            {
                return;
            }

            bool measuredRequest = start >= run.MeasureStartTimestamp;
            if (measuredRequest && !run.TryTakeMeasuredTicket())
            {
                return;
            }

            Interlocked.Increment(ref run.InFlight);
            RequestOutcome outcome = await SendSafeAsync(target, stop).ConfigureAwait(false);
            Interlocked.Decrement(ref run.InFlight);
            if (measuredRequest)
            {
                shard.Record(outcome, start, Stopwatch.GetTimestamp());
            }
        }
    }

    private static async Task RunOpenAsync(ILoadTarget target, StepState run, CancellationToken stop)
    {
        var slots = new OpenSlot[run.Options.MaxInFlight];
        var workers = new Task[slots.Length];
        var pool = new SlotPool(slots.Length);
        for (int i = 0; i < slots.Length; i++)
        {
            slots[i] = new OpenSlot(run.ShardFor(i));
            pool.Return(slots[i]);
        }

        for (int i = 0; i < slots.Length; i++)
        {
            OpenSlot slot = slots[i];
            workers[i] = OpenWorkerAsync(target, run, slot, pool, stop);
        }

        // A dedicated thread keeps the schedule: thread-pool starvation must not delay intended sends.
        var dispatched = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var dispatcher = new Thread(() =>
        {
            try
            {
                Dispatch(run, pool, stop);
                dispatched.SetResult();
            }
            catch (Exception ex)
            {
                dispatched.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "ig-load dispatcher",
        };
        dispatcher.Start();
        await dispatched.Task.ConfigureAwait(false);

        // Idle slots stop now; busy ones stop when their request completes (bounded by the hard stop).
        foreach (OpenSlot idle in pool.StopAndDrainIdle())
        {
            idle.Signal(-1);
        }

        await Task.WhenAll(workers).ConfigureAwait(false);
    }

    private static void Dispatch(StepState run, SlotPool pool, CancellationToken stop)
    {
        LoadStepOptions o = run.Options;
        double meanGapTicks = Stopwatch.Frequency / o.Rate;
        var random = new Random(o.Seed);
        double offset = 0;
        long origin = run.StartTimestamp;
        Shard dropShard = run.ShardFor(0);

        while (!stop.IsCancellationRequested)
        {
            long intended = origin + (long)offset;
            offset += o.Arrival == ArrivalProcess.Poisson
                ? -Math.Log(1.0 - random.NextDouble()) * meanGapTicks
                : meanGapTicks;

            if (intended >= run.EndTimestamp)
            {
                return;
            }

            bool measuredRequest = intended >= run.MeasureStartTimestamp;
            if (measuredRequest && !run.TryTakeMeasuredTicket())
            {
                return;
            }

            if (!WaitUntil(intended, o.PreciseTimer, stop))
            {
                return;
            }

            if (!pool.TryRent(out OpenSlot? slot))
            {
                // The in-flight bound is reached: counting it as an error keeps the omission visible.
                if (measuredRequest)
                {
                    dropShard.Count(OutcomeCodes.Dropped);
                }

                continue;
            }

            if (measuredRequest)
            {
                run.SendLag.RecordValueAtomic(TicksToNanos(Stopwatch.GetTimestamp() - intended));
            }

            slot.Signal(intended);
        }
    }

    private static bool WaitUntil(long timestamp, bool precise, CancellationToken stop)
    {
        while (true)
        {
            if (stop.IsCancellationRequested)
            {
                return false;
            }

            long remaining = timestamp - Stopwatch.GetTimestamp();
            if (remaining <= 0)
            {
                return true;
            }

            double ms = remaining * 1000.0 / Stopwatch.Frequency;
            if (ms >= 1.0)
            {
                Thread.Sleep(Math.Min(50, (int)ms));
            }
            else if (precise)
            {
                Thread.SpinWait(20);
            }
            else
            {
                // Sleep overshoots by up to ~1 ms; the lag shows up in SendLag and in the latencies (measured from intent).
                Thread.Sleep(1);
            }
        }
    }

    private static async Task OpenWorkerAsync(ILoadTarget target, StepState run, OpenSlot slot, SlotPool pool, CancellationToken stop)
    {
        while (true)
        {
            long intended = await slot.WaitAsync().ConfigureAwait(false);
            if (intended < 0)
            {
                return;
            }

            Interlocked.Increment(ref run.InFlight);
            RequestOutcome outcome = await SendSafeAsync(target, stop).ConfigureAwait(false);
            Interlocked.Decrement(ref run.InFlight);
            if (intended >= run.MeasureStartTimestamp)
            {
                // Coordinated-omission correct: the clock started when the request was due, not when it went out.
                slot.Shard.Record(outcome, intended, Stopwatch.GetTimestamp());
            }

            if (!pool.Return(slot))
            {
                return;
            }
        }
    }

    // Pooled state machines: no allocation per await in steady state.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<RequestOutcome> SendSafeAsync(ILoadTarget target, CancellationToken stop)
    {
        try
        {
            return await target.SendAsync(stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return new RequestOutcome(OutcomeCodes.Cancelled);
        }
        catch (Exception)
        {
            return new RequestOutcome(OutcomeCodes.ClientError);
        }
    }

    private static async Task MonitorAsync(StepState run, Action<ProgressSnapshot>? progress, CancellationToken stop)
    {
        long second = Stopwatch.Frequency;
        long nextProgress = Stopwatch.GetTimestamp() + second;
        bool cpuStarted = false;
        try
        {
            while (true)
            {
                long now = Stopwatch.GetTimestamp();
                if (!cpuStarted && now >= run.MeasureStartTimestamp)
                {
                    run.Cpu.Start();
                    cpuStarted = true;
                }

                if (now >= nextProgress)
                {
                    progress?.Invoke(run.Snapshot());
                    nextProgress += second;
                }

                long wakeAt = cpuStarted ? nextProgress : Math.Min(nextProgress, run.MeasureStartTimestamp);
                TimeSpan delay = Stopwatch.GetElapsedTime(now, wakeAt);
                await Task.Delay(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The step ended.
        }
        finally
        {
            if (!cpuStarted)
            {
                run.Cpu.Start();
            }

            run.Cpu.Stop();
        }
    }

    internal static long TicksToNanos(long ticks) =>
        Stopwatch.Frequency == 1_000_000_000 ? ticks : (long)(ticks * (1e9 / Stopwatch.Frequency));

    /// <summary>Per-step shared state.</summary>
    private sealed class StepState
    {
        public long InFlight;
        private long _ticketsTaken;
        private readonly Shard[] _shards;

        public StepState(LoadStepOptions options)
        {
            Options = options;
            StartTimestamp = Stopwatch.GetTimestamp();
            MeasureStartTimestamp = StartTimestamp + SecondsToTicks(options.Warmup.TotalSeconds);
            EndTimestamp = options.Requests > 0
                ? MeasureStartTimestamp + SecondsToTicks(options.MaxDuration.TotalSeconds)
                : MeasureStartTimestamp + SecondsToTicks(options.Duration.TotalSeconds);

            // A few shards spread the atomic increments; more would only cost memory (~270 KB each).
            int workers = options.Mode == LoadMode.Closed ? options.Concurrency : options.MaxInFlight;
            int shardCount = Math.Clamp(workers, 1, Math.Max(2, Environment.ProcessorCount * 2));
            _shards = new Shard[shardCount];
            for (int i = 0; i < shardCount; i++)
            {
                _shards[i] = new Shard();
            }

            SendLag = new LatencyHistogram();
        }

        public LoadStepOptions Options { get; }

        public long StartTimestamp { get; }

        public long MeasureStartTimestamp { get; }

        public long EndTimestamp { get; }

        public LatencyHistogram SendLag { get; }

        public CpuMeter Cpu { get; } = new();

        public Shard ShardFor(int worker) => _shards[worker % _shards.Length];

        public bool TryTakeMeasuredTicket() =>
            Options.Requests <= 0 || Interlocked.Increment(ref _ticketsTaken) <= Options.Requests;

        public ProgressSnapshot Snapshot()
        {
            long ok = 0;
            long errors = 0;
            foreach (Shard s in _shards)
            {
                for (int i = 0; i < s.Codes.Length; i++)
                {
                    long c = Volatile.Read(ref s.Codes[i]);
                    if (i == OutcomeCodes.Ok)
                    {
                        ok += c;
                    }
                    else
                    {
                        errors += c;
                    }
                }
            }

            long now = Stopwatch.GetTimestamp();
            return new ProgressSnapshot(
                now < MeasureStartTimestamp ? "warmup" : "measure",
                Stopwatch.GetElapsedTime(StartTimestamp, now),
                ok,
                errors,
                Volatile.Read(ref InFlight));
        }

        public StepResult ToResult()
        {
            var latency = new LatencyHistogram();
            var codes = new long[OutcomeCodes.Count];
            long last = MeasureStartTimestamp;
            foreach (Shard s in _shards)
            {
                latency.Add(s.Latency);
                for (int i = 0; i < codes.Length; i++)
                {
                    codes[i] += s.Codes[i];
                }

                last = Math.Max(last, s.LastCompletion);
            }

            // Duration-bounded steps cover at least their window even if the last response came early.
            if (Options.Requests <= 0)
            {
                last = Math.Max(last, Math.Min(EndTimestamp, Stopwatch.GetTimestamp()));
            }

            return new StepResult
            {
                Options = Options,
                Latency = latency,
                SendLag = Options.Mode == LoadMode.Open ? SendLag : null,
                CountsByCode = codes,
                Elapsed = Stopwatch.GetElapsedTime(MeasureStartTimestamp, last),
                ClientCpuPercent = Cpu.Percent,
            };
        }

        private static long SecondsToTicks(double seconds) => (long)(seconds * Stopwatch.Frequency);
    }

    /// <summary>A latency histogram and status counters shared by a few workers, updated atomically.</summary>
    private sealed class Shard
    {
        public readonly long[] Codes = new long[OutcomeCodes.Count];
        public readonly LatencyHistogram Latency = new();
        public long LastCompletion;

        public void Record(RequestOutcome outcome, long startTimestamp, long endTimestamp)
        {
            int code = OutcomeCodes.Normalize(outcome.Status);
            if (code == OutcomeCodes.Ok)
            {
                Latency.RecordValueAtomic(TicksToNanos(endTimestamp - startTimestamp));
            }

            Interlocked.Increment(ref Codes[code]);
            LatencyHistogram.AtomicMax(ref LastCompletion, endTimestamp);
        }

        public void Count(int code) => Interlocked.Increment(ref Codes[code]);
    }

    /// <summary>An open-loop worker's mailbox: a reusable awaitable carrying the next intended send time.</summary>
    private sealed class OpenSlot : IValueTaskSource<long>
    {
        private ManualResetValueTaskSourceCore<long> _core = new() { RunContinuationsAsynchronously = true };

        public OpenSlot(Shard shard) => Shard = shard;

        public Shard Shard { get; }

        public ValueTask<long> WaitAsync() => new(this, _core.Version);

        public void Signal(long intendedTimestamp) => _core.SetResult(intendedTimestamp);

        public long GetResult(short token)
        {
            long value = _core.GetResult(token);
            _core.Reset();
            return value;
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    /// <summary>Idle open-loop slots. The lock is held for a push or pop only, never across an await.</summary>
    private sealed class SlotPool
    {
        private readonly Lock _lock = new();
        private readonly Stack<OpenSlot> _idle;
        private bool _stopping;

        public SlotPool(int capacity) => _idle = new Stack<OpenSlot>(capacity);

        public bool TryRent([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OpenSlot? slot)
        {
            lock (_lock)
            {
                return _idle.TryPop(out slot);
            }
        }

        /// <summary>Returns a slot; false when the step is stopping and the worker should exit.</summary>
        public bool Return(OpenSlot slot)
        {
            lock (_lock)
            {
                if (_stopping)
                {
                    return false;
                }

                _idle.Push(slot);
                return true;
            }
        }

        public List<OpenSlot> StopAndDrainIdle()
        {
            lock (_lock)
            {
                _stopping = true;
                var idle = new List<OpenSlot>(_idle);
                _idle.Clear();
                return idle;
            }
        }
    }
}
