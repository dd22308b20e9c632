using BenchmarkDotNet.Running;

namespace InferenceGateway.Benchmarks;

/// <summary>
/// Every benchmark in this assembly, chosen with BenchmarkDotNet's switches, e.g.
/// <c>dotnet run -c Release -- --filter '*BatcherOverhead*' --job short</c>; <c>wait-overshoot</c> as the first
/// argument runs the batcher's wait-precision measurement instead (<see cref="Batching.WaitOvershoot"/>), and
/// <c>sink-throughput</c> the prediction log's records/s into a sink (<see cref="PredictionLog.SinkThroughput"/>).
/// </summary>
public static class Program
{
    /// <summary>Runs the benchmarks the arguments select.</summary>
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "wait-overshoot")
        {
            return Batching.WaitOvershoot.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "sleepy-oip")
        {
            return Routing.SleepyOipServer.Run(args[1..]); // the slow remote shadow of perf/experiments-bench.sh
        }

        if (args.Length > 0 && args[0] == "sink-throughput")
        {
            return PredictionLog.SinkThroughput.Run(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
