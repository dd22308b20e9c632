using BenchmarkDotNet.Attributes;
using InferenceGateway.Core.PredictionLog;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.Benchmarks.PredictionLog;

/// <summary>
/// What recording one prediction costs the request path: <see cref="Core.PredictionLog.PredictionLog.TryRecord"/> of a
/// fraud v2-sized record (8 features with their defaulted flags, 1 score) into a log whose writer drains into a sink
/// that stores nothing, so the buffer never fills. Bytes allocated per record should be 0 (pooled slots).
/// </summary>
[MemoryDiagnoser]
public class PredictionRecordBenchmark
{
    private static readonly string[] Names = ["amount", "hour_of_day", "merchant_category", "txn_count_10m", "amount_sum_1h", "amount_avg_30d", "distinct_merchants_24h", "seconds_since_last_txn"];
    private readonly float[] _features = [120.5f, 14, 7, 3, 420, 88.2f, 2, 3600];
    private readonly bool[] _defaulted = new bool[8];
    private readonly float[] _scores = [0.02f];
    private Core.PredictionLog.PredictionLog _log = null!;

    [GlobalSetup]
    public void Setup()
    {
        var options = new PredictionLogOptions { Capacity = 1 << 20, BatchSize = 8192, FlushInterval = TimeSpan.FromMilliseconds(50) };
        _log = new Core.PredictionLog.PredictionLog(options, new NullSink(), TimeProvider.System, null, NullLogger<Core.PredictionLog.PredictionLog>.Instance);
        _log.Start();
    }

    [GlobalCleanup]
    public void Cleanup() => _log.CompleteAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();

    [Benchmark(OperationsPerInvoke = 1000)]
    public RecordResult RecordFraudV2()
    {
        var result = RecordResult.Accepted;
        for (var i = 0; i < 1000; i++)
        {
            result = _log.TryRecord(new PredictionEntry
            {
                RequestId = "0193a5b2-7c1e-7def-8a00-123456789abc", EventTimeUnixMs = 1_706_000_000_000, Model = "fraud", Version = "2", Arm = "",
                EntityId = "card-17", FeatureNames = Names, Features = _features, Defaulted = _defaulted, Outputs = _scores,
                Rows = 1, QueueMicroseconds = 40, ComputeMicroseconds = 90, TotalMicroseconds = 180,
            });
        }

        return result;
    }

    /// <summary>Takes every batch and stores nothing: the writer keeps the buffer empty.</summary>
    internal sealed class NullSink : IPredictionSink
    {
        public string Description => "null";

        public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task WriteAsync(string batchId, ReadOnlyMemory<PredictionRecord> records, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task WriteOutcomesAsync(IReadOnlyList<OutcomeRecord> outcomes, CancellationToken cancellationToken) => Task.CompletedTask;

        public IAsyncEnumerable<EvaluationRow> ReadEvaluationRowsAsync(string model, long fromUnixMs, long toUnixMs, CancellationToken cancellationToken) => AsyncEnumerable.Empty<EvaluationRow>();

        public Task<long> CountPredictionsAsync(CancellationToken cancellationToken) => Task.FromResult(0L);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
