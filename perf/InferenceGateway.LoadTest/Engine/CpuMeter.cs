using System.Diagnostics;

namespace InferenceGateway.LoadTest.Engine;

/// <summary>
/// Client process CPU over a window, as a share of all cores, so a report can show the load tool was not
/// the bottleneck (a value near 100 means it was).
/// </summary>
public sealed class CpuMeter
{
    private TimeSpan _cpuStart;
    private TimeSpan _cpuEnd;
    private long _wallStart;
    private long _wallEnd;

    /// <summary>Starts the window.</summary>
    public void Start()
    {
        _cpuStart = CurrentCpu();
        _wallStart = Stopwatch.GetTimestamp();
    }

    /// <summary>Ends the window.</summary>
    public void Stop()
    {
        _cpuEnd = CurrentCpu();
        _wallEnd = Stopwatch.GetTimestamp();
    }

    /// <summary>CPU time used in the window divided by wall time times core count, in percent.</summary>
    public double Percent
    {
        get
        {
            double wall = Stopwatch.GetElapsedTime(_wallStart, _wallEnd).TotalSeconds;
            if (wall <= 0)
            {
                return 0;
            }

            return (_cpuEnd - _cpuStart).TotalSeconds / (wall * Environment.ProcessorCount) * 100.0;
        }
    }

    private static TimeSpan CurrentCpu()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }
}
