using System.Diagnostics;
using System.Globalization;
using InferenceGateway.Core.Batching;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.Benchmarks.Batching;

/// <summary>
/// <c>wait-overshoot</c>: how late a batch that waits for company leaves, on the real clock. One batcher with the
/// fixed-delay policy (<c>--delay-us</c>, default 1000) and a runner that notes when each batch starts; a lone request
/// is queued, and the overshoot is the batch's start minus (the submission + the delay). Samples are spaced by a
/// random 0-3 ms pause so they do not line up with a timer's tick. Prints p50, p90, p99, max, the share within
/// 100 us, and the process CPU spent per sample (a spin would show there). Then <c>--idle-seconds</c> (default 5) with
/// the batcher idle, reporting the process CPU over that time and that of the batcher's instance threads alone.
/// </summary>
/// <remarks>
/// Not a BenchmarkDotNet benchmark: the figure is a distribution of lateness, not a time per operation. It uses only
/// the batcher's public API, so the same file measures an older build (the policy is set where the build has one:
/// before d7e5ace's successor every wait was the fixed delay). Example:
/// <c>dotnet run -c Release --project perf/InferenceGateway.Benchmarks -- wait-overshoot --delay-us 1000 --samples 2000</c>.
/// </remarks>
internal static class WaitOvershoot
{
    public static int Run(string[] args)
    {
        var delayUs = 1000;
        var samples = 2000;
        var idleSeconds = 5;
        var instances = 1;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var value = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--delay-us": delayUs = value; break;
                case "--samples": samples = value; break;
                case "--idle-seconds": idleSeconds = value; break;
                case "--instances": instances = value; break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}; options: --delay-us N --samples N --idle-seconds N --instances N");
                    return 2;
            }
        }

        var options = new BatchingOptions
        {
            MaxBatchSize = 8,
            MaxQueueDelay = TimeSpan.FromMicroseconds(delayUs),
            MaxQueueSize = 64,
            InstanceCount = instances,
            RunOnCallerWhenIdle = false,
        };

        // Builds without a policy had only the fixed delay; newer ones need it chosen (adaptive ignores the delay).
        var policy = typeof(BatchingOptions).GetProperty("Policy");
        policy?.SetValue(options, Enum.Parse(policy.PropertyType, "FixedDelay"));

        var runner = new StampingRunner();
        var batcher = new DynamicBatcher(
            "overshoot",
            "1",
            options,
            [new BatchTensorSpec("x", sizeof(float), [1])],
            [new BatchTensorSpec("y", sizeof(float), [1])],
            _ => runner,
            TimeProvider.System,
            NullLogger.Instance);
        var input = new byte[sizeof(float)];
        var output = new byte[sizeof(float)];
        var delayTicks = delayUs * (double)Stopwatch.Frequency / 1_000_000;
        var random = new Random(20);
        var overshoots = new double[samples];
        var warmup = Math.Min(50, samples / 10);
        var cpuStart = TimeSpan.Zero;
        Dictionary<string, long> threadsStart = [];
        for (var i = -warmup; i < samples; i++)
        {
            if (i == 0)
            {
                cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
                threadsStart = ThreadTicks();
            }

            Thread.Sleep(random.Next(0, 4));
            var request = batcher.RentRequest();
            request.SetInput(0, input);
            request.SetOutput(0, output);
            request.InlineContinuation = true; // No thread-pool hop back: its CPU would blur the batcher's own.
            var submitted = Stopwatch.GetTimestamp();
            var result = batcher.EnqueueAsync(request).AsTask().GetAwaiter().GetResult();
            batcher.ReturnRequest(request);
            if (!result.IsSuccess)
            {
                Console.Error.WriteLine(result.ToString());
                return 1;
            }

            if (i >= 0)
            {
                overshoots[i] = (runner.LastStart - submitted - delayTicks) * 1e6 / Stopwatch.Frequency;
            }
        }

        var cpuPerSample = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalMicroseconds / samples;
        var threadsEnd = ThreadTicks();
        Array.Sort(overshoots);
        var within = 0;
        foreach (var o in overshoots)
        {
            within += o <= 100 ? 1 : 0;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wait-overshoot delay {delayUs} us, {samples} samples, {instances} instance(s): p50 {Pct(overshoots, 0.50):F1} us, p90 {Pct(overshoots, 0.90):F1} us, p99 {Pct(overshoots, 0.99):F1} us, max {overshoots[^1]:F1} us, min {overshoots[0]:F1} us; within 100 us {100.0 * within / samples:F1} %; process CPU per sample {cpuPerSample:F1} us"));

        // Where that CPU went, per thread name (10 ms ticks, so only the larger shares show).
        var perThread = new List<string>();
        foreach (var (name, ticks) in threadsEnd)
        {
            var used = ticks - threadsStart.GetValueOrDefault(name);
            if (used > 0)
            {
                perThread.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {used * 10_000.0 / samples:F0}"));
            }
        }

        Console.WriteLine($"  CPU per sample by thread (us): {string.Join(", ", perThread)}");

        if (idleSeconds > 0)
        {
            var threadsBefore = BatcherThreadTicks();
            var process = Process.GetCurrentProcess();
            var idleStart = process.TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            Thread.Sleep(TimeSpan.FromSeconds(idleSeconds));
            process.Refresh();
            var idleCpu = process.TotalProcessorTime - idleStart;
            var threadsAfter = BatcherThreadTicks();
            var ticksPerSecond = 100.0; // USER_HZ on Linux
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"idle {wall.Elapsed.TotalSeconds:F1} s: process CPU {idleCpu.TotalMilliseconds:F1} ms ({100 * idleCpu.TotalSeconds / wall.Elapsed.TotalSeconds:F3} % of one core); batcher instance threads {(threadsAfter - threadsBefore) * 1000 / ticksPerSecond:F0} ms"));
        }

        batcher.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return 0;
    }

    private static double Pct(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * p))];

    /// <summary>CPU ticks (user + system) of this process's batcher instance threads so far; 0 where /proc is absent.</summary>
    private static long BatcherThreadTicks()
    {
        long total = 0;
        foreach (var (name, ticks) in ThreadTicks())
        {
            total += name.StartsWith("batcher", StringComparison.Ordinal) ? ticks : 0;
        }

        return total;
    }

    /// <summary>CPU ticks (user + system, USER_HZ) of this process's threads so far, summed per thread name.</summary>
    private static Dictionary<string, long> ThreadTicks()
    {
        const string tasks = "/proc/self/task";
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        if (!Directory.Exists(tasks))
        {
            return result;
        }

        foreach (var task in Directory.EnumerateDirectories(tasks))
        {
            try
            {
                // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
                var name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                result[name] = result.GetValueOrDefault(name) + ticks;
            }
            catch (IOException)
            {
                // The thread ended meanwhile.
            }
        }

        return result;
    }

    private sealed class StampingRunner : IBatchRunner
    {
        public long LastStart;

        public void Run(BatchRun run) => Volatile.Write(ref LastStart, Stopwatch.GetTimestamp());
    }
}
