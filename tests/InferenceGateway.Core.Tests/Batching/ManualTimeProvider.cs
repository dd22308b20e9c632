namespace InferenceGateway.Core.Tests.Batching;

/// <summary>Virtual clock: time moves only on <see cref="Advance"/>, which fires due timers on the calling thread.</summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private static readonly DateTimeOffset s_epoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly object _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private long _now = TimeSpan.TicksPerDay; // Non-zero so a timestamp of 0 never means "now".

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Volatile.Read(ref _now);

    public override DateTimeOffset GetUtcNow() => s_epoch + TimeSpan.FromTicks(GetTimestamp());

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        lock (_lock)
        {
            _timers.Add(timer);
        }

        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Due times (timestamps) of the armed timers.</summary>
    public long[] ArmedDueTimes()
    {
        lock (_lock)
        {
            return _timers.Where(t => t.Due != long.MaxValue).Select(t => t.Due).ToArray();
        }
    }

    public void Advance(TimeSpan by)
    {
        lock (_lock)
        {
            _now += by.Ticks;
        }

        // Fire due timers outside the lock; a callback may re-arm timers, even for "now".
        while (true)
        {
            ManualTimer? due = null;
            lock (_lock)
            {
                foreach (var timer in _timers)
                {
                    if (timer.Due <= _now && (due is null || timer.Due < due.Due))
                    {
                        due = timer;
                    }
                }

                if (due is null)
                {
                    return;
                }

                due.Due = due.Period > 0 ? due.Due + due.Period : long.MaxValue;
            }

            due.Fire();
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public long Due { get; set; } = long.MaxValue;

        public long Period { get; private set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                Due = dueTime == Timeout.InfiniteTimeSpan ? long.MaxValue : owner._now + dueTime.Ticks;
                Period = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
            }

            return true;
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                Due = long.MaxValue;
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
