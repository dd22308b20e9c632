using BenchmarkDotNet.Attributes;
using InferenceGateway.Core.Features;

namespace InferenceGateway.Benchmarks.Features;

/// <summary>
/// Ingest throughput on one thread, in process: the bundled month (199,766 card transactions, 2,000 cards) through
/// <see cref="FeatureEngine.Ingest"/>, in file order. "Empty": into a fresh engine (every card and array grows from
/// nothing). "Warm": the next month into an engine already holding the bundled one, so the state is at its steady size
/// and old events are trimmed as arrays fill. Per-operation figures are per event; events/s per core = 1 / mean.
/// </summary>
[MemoryDiagnoser]
public class FeatureIngestBenchmark
{
    private const long Month = 30L * 86_400_000;

    private FeatureEngine _engine = null!;

    [Params("Empty", "Warm")]
    public string State { get; set; } = "Empty";

    [GlobalSetup]
    public void Setup() => _ = BundledTransactions.Instance;

    [IterationSetup]
    public void IterationSetup()
    {
        _engine = State == "Warm" ? BundledTransactions.Instance.LoadedEngine() : BundledTransactions.Instance.NewEngine();
        GC.Collect();
    }

    [Benchmark(OperationsPerInvoke = 199_766)]
    public void IngestMonth() => BundledTransactions.Instance.Ingest(_engine, shiftMs: State == "Warm" ? Month : 0);
}
