using System.Globalization;

namespace InferenceGateway.Core.Batching;

/// <summary>
/// Dynamic batching settings of one model version, with Triton's semantics (<c>max_batch_size</c>,
/// <c>dynamic_batching { max_queue_delay_microseconds, preferred_batch_size, preserve_ordering,
/// priority_levels, default_priority_level, default_queue_policy { max_queue_size,
/// default_timeout_microseconds, timeout_action: REJECT } }</c>, <c>instance_group.count</c>), under the batching
/// <see cref="Policy"/>: the adaptive one by default, Triton's fixed delay on request.
/// </summary>
public sealed class BatchingOptions
{
    /// <summary>
    /// Most rows in one batch. 0 or 1 turns batching off: each request runs alone (and must carry one row).
    /// A request with more rows than this is rejected as <see cref="BatchFailureReason.InvalidInput"/>, as Triton does.
    /// </summary>
    public int MaxBatchSize { get; set; } = 1;

    /// <summary>
    /// When a batch that is not full is released: <see cref="BatchingPolicy.Adaptive"/> (the default: never waits for
    /// company while an instance is idle, unless <see cref="AdaptiveWait"/> says so) or
    /// <see cref="BatchingPolicy.FixedDelay"/> (Triton's: waits <see cref="MaxQueueDelay"/>).
    /// </summary>
    public BatchingPolicy Policy { get; set; } = BatchingPolicy.Adaptive;

    /// <summary>
    /// <see cref="BatchingPolicy.FixedDelay"/> only: longest the oldest request of a batch waits for others to join it.
    /// Zero releases whatever is queued as soon as an instance is free. The adaptive policy ignores it.
    /// </summary>
    /// <remarks>
    /// With <see cref="TimeProvider.System"/> on Linux an instance thread keeps the due time itself with a precise
    /// sleep (tens of microseconds late, no spinning); any other <see cref="TimeProvider"/>, or another OS, is driven by
    /// that provider's timers, whose precision is theirs (milliseconds for the system's).
    /// </remarks>
    public TimeSpan MaxQueueDelay { get; set; }

    /// <summary>
    /// <see cref="BatchingPolicy.Adaptive"/> only, zero (off) by default: longest an idle instance holds a batch that is
    /// neither full nor of a preferred size, counted from its oldest request's arrival, while another instance is
    /// running (or held by a caller). When every other instance is idle nothing waits, so with one instance it never
    /// applies. For models, such as a GPU model with several instances, whose batch of one costs about as much as a
    /// batch of a few. Waits are kept as precisely as <see cref="MaxQueueDelay"/>'s.
    /// </summary>
    public TimeSpan AdaptiveWait { get; set; }

    /// <summary>
    /// Batch sizes (rows) released at once, without waiting for <see cref="MaxQueueDelay"/>, when the queue holds
    /// them: the largest one reachable with the queued requests wins. Each must be in [1, <see cref="MaxBatchSize"/>].
    /// </summary>
#pragma warning disable CA1819 // Options are plain data, bound from configuration.
    public int[] PreferredBatchSizes { get; set; } = [];
#pragma warning restore CA1819

    /// <summary>Most requests queued (all priority levels together); beyond it requests fail at once with QueueFull.</summary>
    public int MaxQueueSize { get; set; } = 1024;

    /// <summary>
    /// Longest a request may expect to wait in the queue before its batch starts; zero (the default here; model configs
    /// default to 100 ms) admits by <see cref="MaxQueueSize"/> alone. A request that finds more rows queued ahead of it
    /// (at its priority level or above) than the instances can run in this time, at the model's recent cost per row
    /// (a moving average over batches), is refused at once with <see cref="BatchFailureReason.Overloaded"/>; so is one
    /// whose deadline is nearer than that wait. Under overload the queue then holds about this much work, so accepted
    /// requests wait about this long at most instead of until the queue is full, and refusals cost no waiting. A
    /// request that finds nothing queued is always admitted, and nothing is refused before the first batch has run.
    /// </summary>
    public TimeSpan MaxQueueTime { get; set; }

    /// <summary>Number of priority levels; level 1 is served first. At least 1.</summary>
    public int PriorityLevels { get; set; } = 1;

    /// <summary>Level of requests that give priority 0 (none). In [1, <see cref="PriorityLevels"/>].</summary>
    public int DefaultPriority { get; set; } = 1;

    /// <summary>Queue timeout for requests that carry no deadline; <see cref="TimeSpan.Zero"/> means none.</summary>
    public TimeSpan DefaultTimeout { get; set; }

    /// <summary>
    /// Complete executed requests in arrival order, even with several instances. Requests removed from the queue
    /// (deadline, cancellation, shutdown) are answered at once and do not hold up the others.
    /// </summary>
    public bool PreserveOrdering { get; set; }

    /// <summary>Execution instances: each runs batches on its own thread with its own runner and buffers.</summary>
    public int InstanceCount { get; set; } = 1;

    /// <summary>
    /// Run a request on the calling thread when it would be released at once anyway (queue empty, an instance idle,
    /// and no reason to wait: the adaptive policy with no other instance busy or no <see cref="AdaptiveWait"/>, or the
    /// fixed delay with <see cref="MaxQueueDelay"/> zero, or the request alone fills a preferred or the maximum batch
    /// size). It skips two thread hand-offs (caller to instance thread and back), the largest fixed
    /// cost of a small model's call. Only while the runner's average run is short (50 us or less, the same bound as
    /// the caller's budget for running what queued behind it), or, for a longer run, once the last four runs were
    /// each one request with no other arriving meanwhile (callers one at a time): a long run blocks a thread-pool
    /// thread, which Kestrel needs for I/O under load, and forgoes the instance thread's wake-up in which a second
    /// caller's request joins the first. Batches formed from a queue still run on the instance threads. Ignored with
    /// <see cref="PreserveOrdering"/>. On by default.
    /// </summary>
    public bool RunOnCallerWhenIdle { get; set; } = true;

    /// <summary>Every problem with these options (empty when they are valid).</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if (MaxBatchSize < 0)
        {
            errors.Add(Format("MaxBatchSize must be >= 0, was {0}", MaxBatchSize));
        }

        if (MaxQueueDelay < TimeSpan.Zero)
        {
            errors.Add(Format("MaxQueueDelay must be >= 0, was {0}", MaxQueueDelay));
        }

        if (!Enum.IsDefined(Policy))
        {
            errors.Add(Format("Policy must be Adaptive or FixedDelay, was {0}", (int)Policy));
        }

        if (AdaptiveWait < TimeSpan.Zero)
        {
            errors.Add(Format("AdaptiveWait must be >= 0, was {0}", AdaptiveWait));
        }

        if (PreferredBatchSizes is null)
        {
            errors.Add("PreferredBatchSizes must not be null");
        }
        else
        {
            foreach (var size in PreferredBatchSizes)
            {
                if (size < 1 || size > Math.Max(1, MaxBatchSize))
                {
                    errors.Add(Format("PreferredBatchSizes entry {0} must be between 1 and MaxBatchSize {1}", size, MaxBatchSize));
                }
            }
        }

        if (MaxQueueSize < 1)
        {
            errors.Add(Format("MaxQueueSize must be >= 1, was {0}", MaxQueueSize));
        }

        if (PriorityLevels < 1)
        {
            errors.Add(Format("PriorityLevels must be >= 1, was {0}", PriorityLevels));
        }
        else if (DefaultPriority < 1 || DefaultPriority > PriorityLevels)
        {
            errors.Add(Format("DefaultPriority must be between 1 and PriorityLevels {0}, was {1}", PriorityLevels, DefaultPriority));
        }

        if (MaxQueueTime < TimeSpan.Zero)
        {
            errors.Add(Format("MaxQueueTime must be >= 0, was {0}", MaxQueueTime));
        }

        if (DefaultTimeout < TimeSpan.Zero)
        {
            errors.Add(Format("DefaultTimeout must be >= 0, was {0}", DefaultTimeout));
        }

        if (InstanceCount < 1)
        {
            errors.Add(Format("InstanceCount must be >= 1, was {0}", InstanceCount));
        }

        return errors;
    }

    /// <summary>Rows per batch actually used: <see cref="MaxBatchSize"/>, or 1 when batching is off.</summary>
    internal int EffectiveMaxBatchSize => Math.Max(1, MaxBatchSize);

    private static string Format(string format, params object[] args) => string.Format(CultureInfo.InvariantCulture, format, args);
}
