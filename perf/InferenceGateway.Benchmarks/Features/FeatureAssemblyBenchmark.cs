using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using InferenceGateway.Core.Features;

namespace InferenceGateway.Benchmarks.Features;

/// <summary>
/// Feature lookup plus vector assembly, in process, for fraud v2 (8 features: 3 request-time, 5 windowed, one stripe
/// lock) and fraud v1 (request-time only), against an engine holding the bundled month. Requests rotate over the
/// month's last 4,096 transactions, as of each one's event time (so the 30-day mean reads a card's whole month).
/// [GlobalCleanup] then times 1,000,000 single assemblies one by one and prints their percentiles (BenchmarkDotNet
/// reports means; the p99 target needs the distribution), and prints the state's bytes per card.
/// </summary>
[MemoryDiagnoser]
public class FeatureAssemblyBenchmark
{
    private const int Requests = 4_096;

    private static readonly string[] s_fraudV1 = ["amount", "hour_of_day", "merchant_category"];
    private static readonly string[] s_fraudV2 =
    [
        "amount", "hour_of_day", "merchant_category", "txn_count_10m", "amount_sum_1h", "amount_avg_30d",
        "distinct_merchants_24h", "seconds_since_last_txn",
    ];

    private FeatureEngine _engine = null!;
    private FeatureVectorPlan _plan = null!;
    private FeatureRequest[] _requests = null!;
    private float[] _values = null!;
    private bool[] _defaulted = null!;

    [Params("fraud_v2", "fraud_v1")]
    public string Model { get; set; } = "fraud_v2";

    [GlobalSetup]
    public void Setup()
    {
        var data = BundledTransactions.Instance;
        var before = GC.GetTotalMemory(forceFullCollection: true);
        _engine = data.LoadedEngine();
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var cards = _engine.EntityCount;
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"// state: {cards} cards, {_engine.GetStatistics().EventsHeld} events, estimated {_engine.EstimatedStateBytes} B ({_engine.EstimatedStateBytes / (double)cards:F0} B/card), managed heap +{after - before} B ({(after - before) / (double)cards:F0} B/card)"));

        _plan = _engine.CreatePlan(Model == "fraud_v2" ? s_fraudV2 : s_fraudV1);
        _values = new float[_plan.Count];
        _defaulted = new bool[_plan.Count];
        var events = data.Events;
        _requests = new FeatureRequest[Requests];
        for (var i = 0; i < Requests; i++)
        {
            var e = events[events.Length - Requests + i];
            _requests[i] = new FeatureRequest(e.Card, e.Time, e.Numbers, e.Strings);
        }
    }

    [Benchmark(OperationsPerInvoke = Requests)]
    public float Assemble()
    {
        var sum = 0f;
        var requests = _requests;
        for (var i = 0; i < requests.Length; i++)
        {
            _plan.Assemble(requests[i], _values, _defaulted);
            sum += _values[^1];
        }

        return sum;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        const int Samples = 1_000_000;
        var ticks = new long[Samples];
        for (var i = 0; i < Samples; i++)
        {
            var start = Stopwatch.GetTimestamp();
            _plan.Assemble(_requests[i & (Requests - 1)], _values, _defaulted);
            ticks[i] = Stopwatch.GetTimestamp() - start;
        }

        Array.Sort(ticks);
        string Us(double q) => (ticks[Math.Min(Samples - 1, (int)(q * Samples))] * 1e6 / Stopwatch.Frequency).ToString("F2", CultureInfo.InvariantCulture);
        Console.WriteLine($"// {Model} single-call latency over {Samples:N0} calls (us, incl. ~0.02 us timer): p50 {Us(0.50)} p90 {Us(0.90)} p99 {Us(0.99)} p99.9 {Us(0.999)} max {Us(1.0)}");
    }
}
