using BenchmarkDotNet.Running;

namespace InferenceGateway.Benchmarks;

/// <summary>
/// Every benchmark in this assembly, chosen with BenchmarkDotNet's switches, e.g.
/// <c>dotnet run -c Release -- --filter '*BatcherOverhead*' --job short</c>.
/// </summary>
public static class Program
{
    /// <summary>Runs the benchmarks the arguments select.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
