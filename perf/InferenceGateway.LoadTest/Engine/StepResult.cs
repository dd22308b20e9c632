using InferenceGateway.LoadTest.Histogram;

namespace InferenceGateway.LoadTest.Engine;

/// <summary>Measured outcome of one step.</summary>
public sealed class StepResult
{
    /// <summary>Options the step ran with.</summary>
    public required LoadStepOptions Options { get; init; }

    /// <summary>Latency of successful requests in nanoseconds (open loop: from the intended send time).</summary>
    public required LatencyHistogram Latency { get; init; }

    /// <summary>Open loop: how late the dispatcher issued requests versus their intended time, in nanoseconds.</summary>
    public LatencyHistogram? SendLag { get; init; }

    /// <summary>Measured requests per status code (index: <see cref="OutcomeCodes"/>).</summary>
    public required long[] CountsByCode { get; init; }

    /// <summary>From the start of measuring to the last measured completion.</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>Client process CPU over the measured period, as a share of all cores (0..100).</summary>
    public required double ClientCpuPercent { get; init; }

    /// <summary>Successful requests.</summary>
    public long Successes => CountsByCode[OutcomeCodes.Ok];

    /// <summary>Requests dropped at the open-loop in-flight bound.</summary>
    public long Dropped => CountsByCode[OutcomeCodes.Dropped];

    /// <summary>All measured requests that did not succeed, dropped ones included.</summary>
    public long Errors
    {
        get
        {
            long n = 0;
            for (int i = 1; i < CountsByCode.Length; i++)
            {
                n += CountsByCode[i];
            }

            return n;
        }
    }

    /// <summary>Successful requests per second.</summary>
    public double Throughput => Elapsed <= TimeSpan.Zero ? 0 : Successes / Elapsed.TotalSeconds;

    /// <summary>Latency at a percentile, in milliseconds.</summary>
    public double LatencyMs(double percentile) => Latency.GetValueAtPercentile(percentile) / 1e6;

    /// <summary>Non-zero error counts by code name, e.g. ("UNAVAILABLE", 3).</summary>
    public IReadOnlyList<KeyValuePair<string, long>> ErrorsByName()
    {
        var list = new List<KeyValuePair<string, long>>();
        for (int i = 1; i < CountsByCode.Length; i++)
        {
            if (CountsByCode[i] != 0)
            {
                list.Add(new KeyValuePair<string, long>(OutcomeCodes.Name(i), CountsByCode[i]));
            }
        }

        return list;
    }
}

/// <summary>Live counters of a running step, for progress lines.</summary>
/// <param name="Phase">"warmup" or "measure".</param>
/// <param name="StepElapsed">Time since the step started (warm-up included).</param>
/// <param name="Successes">Measured successes so far.</param>
/// <param name="Errors">Measured errors so far (dropped included).</param>
/// <param name="InFlight">Requests in flight now.</param>
public readonly record struct ProgressSnapshot(string Phase, TimeSpan StepElapsed, long Successes, long Errors, long InFlight);
