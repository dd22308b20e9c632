using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Models;
using InferenceGateway.OnnxRuntime;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.Benchmarks.OnnxRuntime;

/// <summary>
/// The gateway's ONNX Runtime runner alone: one <see cref="IBatchRunner.Run"/> on the batcher's own pinned buffers, per
/// model and row count, without sockets or queueing. The <see cref="BatchRun"/> is the one a real
/// <see cref="DynamicBatcher"/> handed the runner for a first request of <see cref="Rows"/> rows; with the batcher idle
/// the benchmark runs the runner on it again, as the instance thread would. The Allocated column is the runner's
/// garbage per run (budget: 0 B, the IoBinding for a row count is made once); the time, next to OrtThroughput's
/// RunBatch for the same model and rows, is what the runner adds to bare ORT.
/// </summary>
[MemoryDiagnoser]
public class OnnxBatchRunnerBenchmark
{
    private ILoadedModel _model = null!;
    private DynamicBatcher _batcher = null!;
    private CapturingRunner? _capture;
    private BatchRun _run = null!;

    [Params("fraud_v1", "bench_mlp")]
    public string Model { get; set; } = "bench_mlp";

    [Params(1, 64)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (path, input, output, features) = Model switch
        {
            "fraud_v1" => ("models/fraud/1/model.onnx", "features", "probability", 3),
            "bench_mlp" => ("models/bench_mlp/1/model.onnx", "input", "output", 512),
            _ => throw new ArgumentOutOfRangeException(nameof(Model), Model, "Unknown benchmark model."),
        };
        var backend = new OnnxModelBackend(new OrtSessionConfig { IntraOpThreads = 2, InterOpThreads = 1 }, new Dictionary<string, ModelOverrides>(), NullLoggerFactory.Instance);
        _model = backend.Load(Model, "1", Path.Combine(RepoRoot(), path), new ModelConfig { MaxBatchSize = 64 });
        BatchTensorSpec[] inputs = [new(input, sizeof(float), [features])];
        BatchTensorSpec[] outputs = [new(output, sizeof(float), [1])];
        _batcher = new DynamicBatcher(
            "bench", "1", new BatchingOptions { MaxBatchSize = 64 }, inputs, outputs,
            instance => _capture = new CapturingRunner(_model.CreateRunner(instance, inputs, outputs)),
            TimeProvider.System, NullLogger.Instance);

        var random = new Random(20240101);
        var values = new float[Rows * features];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (random.NextSingle() * 2) - 1;
        }

        var request = _batcher.RentRequest();
        request.Rows = Rows;
        request.SetInput(0, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        request.SetOutput(0, new byte[Rows * sizeof(float)]);
        var result = _batcher.EnqueueAsync(request).AsTask().GetAwaiter().GetResult();
        _batcher.ReturnRequest(request);
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException($"{Model}: {result}");
        }

        _run = _capture?.Last ?? throw new InvalidOperationException("The batcher did not run the captured runner.");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _batcher?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _model?.Dispose();
    }

    [Benchmark]
    public void Run() => _capture!.Inner.Run(_run);

    private static string RepoRoot()
    {
        // BenchmarkDotNet runs each case from a generated project under bin/, so walk up to the solution.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "InferenceGateway.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No InferenceGateway.sln above {AppContext.BaseDirectory}.");
    }

    private sealed class CapturingRunner(IBatchRunner inner) : IBatchRunner, IDisposable
    {
        public IBatchRunner Inner { get; } = inner;

        public BatchRun? Last { get; private set; }

        public void Run(BatchRun run)
        {
            Last = run;
            Inner.Run(run);
        }

        public void Dispose() => (Inner as IDisposable)?.Dispose();
    }
}
