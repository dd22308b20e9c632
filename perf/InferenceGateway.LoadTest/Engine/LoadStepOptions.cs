namespace InferenceGateway.LoadTest.Engine;

/// <summary>How requests are issued.</summary>
public enum LoadMode
{
    /// <summary>N workers, each sends its next request when the previous one completes.</summary>
    Closed,

    /// <summary>Requests are due at a fixed arrival rate whatever the responses do; latency counts from the due time.</summary>
    Open,
}

/// <summary>Spacing of intended send times in open-loop mode.</summary>
public enum ArrivalProcess
{
    /// <summary>Evenly spaced: one request every 1/rate seconds.</summary>
    Constant,

    /// <summary>Exponential gaps with mean 1/rate (seeded), as independent clients would produce.</summary>
    Poisson,
}

/// <summary>One step of a run (a sweep is a list of steps differing in concurrency or rate).</summary>
public sealed record LoadStepOptions
{
    /// <summary>Closed or open loop.</summary>
    public LoadMode Mode { get; init; } = LoadMode.Closed;

    /// <summary>Closed loop: number of concurrent workers.</summary>
    public int Concurrency { get; init; } = 1;

    /// <summary>Open loop: intended requests per second.</summary>
    public double Rate { get; init; } = 100;

    /// <summary>Open loop: arrival spacing.</summary>
    public ArrivalProcess Arrival { get; init; } = ArrivalProcess.Constant;

    /// <summary>Open loop: most requests in flight at once; a request due beyond it is counted as dropped.</summary>
    public int MaxInFlight { get; init; } = 1024;

    /// <summary>Open loop: spin for sub-millisecond waits instead of sleeping (precise send times, one busy core).</summary>
    public bool PreciseTimer { get; init; }

    /// <summary>Requests sent before measuring starts; not recorded.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Measured period, unless <see cref="Requests"/> is set.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>When positive, the step measures exactly this many requests instead of running for <see cref="Duration"/>.</summary>
    public long Requests { get; init; }

    /// <summary>Safety stop for count-bounded steps: the step ends after this long whatever the count.</summary>
    public TimeSpan MaxDuration { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long requests still in flight at the end may take before they are cancelled.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Seed for Poisson arrivals.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Label for reports, e.g. "batching-on".</summary>
    public string Label { get; init; } = "run";

    /// <summary>Checks ranges; throws <see cref="ArgumentException"/> with the offending setting.</summary>
    public void Validate()
    {
        if (Mode == LoadMode.Closed && Concurrency < 1)
        {
            throw new ArgumentException("concurrency must be at least 1");
        }

        if (Mode == LoadMode.Open && (Rate <= 0 || double.IsNaN(Rate) || double.IsInfinity(Rate)))
        {
            throw new ArgumentException("rate must be a positive number of requests per second");
        }

        if (Mode == LoadMode.Open && MaxInFlight < 1)
        {
            throw new ArgumentException("max-in-flight must be at least 1");
        }

        if (Warmup < TimeSpan.Zero)
        {
            throw new ArgumentException("warmup must not be negative");
        }

        if (Requests <= 0 && Duration <= TimeSpan.Zero)
        {
            throw new ArgumentException("either a positive duration or a positive request count is required");
        }

        if (MaxDuration <= TimeSpan.Zero)
        {
            throw new ArgumentException("max-duration must be positive");
        }
    }
}
