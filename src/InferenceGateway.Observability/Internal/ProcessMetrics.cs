using System.Buffers;
using System.Diagnostics;

namespace InferenceGateway.Observability.Internal;

/// <summary>
/// The conventional Prometheus process metrics, which dashboards expect by these exact names; the runtime's
/// <c>System.Runtime</c> meter covers GC, JIT, thread pool and exceptions but not these.
/// </summary>
internal static class ProcessMetrics
{
    private static readonly double s_startTimeSeconds = ReadStartTime();

    public static void Write(IBufferWriter<byte> writer)
    {
        Utf8Output.Write(writer, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "u8);
        Utf8Output.WriteDouble(writer, Environment.CpuUsage.TotalTime.TotalSeconds);
        Utf8Output.Write(writer, "\n# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes "u8);
        Utf8Output.WriteLong(writer, Environment.WorkingSet);
        Utf8Output.Write(writer, "\n# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds "u8);
        Utf8Output.WriteDouble(writer, s_startTimeSeconds);
        Utf8Output.Write(writer, "\n"u8);

        var openFds = CountOpenFileDescriptors();
        if (openFds >= 0)
        {
            Utf8Output.Write(writer, "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds "u8);
            Utf8Output.WriteLong(writer, openFds);
            Utf8Output.Write(writer, "\n"u8);
        }
    }

    private static double ReadStartTime()
    {
        using var process = Process.GetCurrentProcess();
        return (process.StartTime.ToUniversalTime() - DateTime.UnixEpoch).TotalSeconds;
    }

    private static long CountOpenFileDescriptors()
    {
        if (!OperatingSystem.IsLinux())
        {
            return -1;
        }

        try
        {
            long count = 0;
            foreach (var _ in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                count++;
            }

            // The enumeration itself holds one descriptor open on the directory.
            return Math.Max(0, count - 1);
        }
        catch (IOException)
        {
            return -1;
        }
        catch (UnauthorizedAccessException)
        {
            return -1;
        }
    }
}
