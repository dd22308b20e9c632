using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using InferenceGateway.OnnxRuntime;
using Microsoft.ML.OnnxRuntime;

namespace InferenceGateway.Benchmarks.OnnxRuntime;

/// <summary>
/// The ceiling: raw in-process ONNX Runtime throughput, one <c>InferenceSession.RunWithBinding</c> of a whole batch per
/// invocation, zero-copy input and pre-allocated output tensors bound once (so nothing is allocated per run). Everything
/// the gateway adds (gRPC, features, routing, batching) is measured against these numbers.
/// </summary>
/// <remarks>
/// <para>Threads: IntraOpThreads = 2 because the reference machine has 2 cores (ORT's intra-op pool counts the calling
/// thread, so that is the benchmark thread plus one pool thread); InterOpThreads = 1 since these models are a single
/// chain of operators. On a bigger host the ceiling grows with IntraOpThreads; keep it equal to the server's setting
/// when comparing.</para>
/// <para>Inputs: bench_mlp gets seeded uniform floats in [-1, 1); fraud_v2 gets the real feature rows of
/// <c>models/fraud/2/test_data.json</c>, repeated to fill the batch. Setup checks both models' outputs against their
/// test data first, so a broken session cannot produce a fast, meaningless number.</para>
/// </remarks>
[Config(typeof(OrtThroughputConfig))]
[MemoryDiagnoser]
public class OrtThroughputBenchmark
{
    private const int InputSeed = 20240101;

    private OnnxSession _session = null!;
    private OrtValue _input = null!;
    private OrtValue _output = null!;
    private float[] _result = null!;
    private OrtIoBinding _binding = null!;
    private RunOptions _runOptions = null!;

    [Params("bench_mlp", "fraud_v2")]
    public string Model { get; set; } = "bench_mlp";

    [Params(1, 8, 32, 64, 128)]
    public int BatchSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var spec = BenchModel.Get(Model);
        _session = OnnxSession.Create(spec.ModelPath, new OrtSessionConfig { IntraOpThreads = 2, InterOpThreads = 1 });
        var testData = TestData.Load(spec, _session);

        var input = new float[BatchSize * spec.Features];
        if (spec.RandomInput)
        {
            var random = new Random(InputSeed);
            for (var i = 0; i < input.Length; i++)
            {
                input[i] = (random.NextSingle() * 2) - 1;
            }
        }
        else
        {
            for (var i = 0; i < input.Length; i += testData.Input.Length)
            {
                testData.Input.AsSpan(0, Math.Min(testData.Input.Length, input.Length - i)).CopyTo(input.AsSpan(i));
            }
        }

        // Over the managed arrays (pinned while the values live), bound once.
        _result = new float[BatchSize];
        _input = OrtValue.CreateTensorValueFromMemory(input, [BatchSize, spec.Features]);
        _output = OrtValue.CreateTensorValueFromMemory(_result, [BatchSize, 1]);
        _binding = _session.Session.CreateIoBinding();
        _binding.BindInput(spec.InputName, _input);
        _binding.BindOutput(spec.OutputName, _output);
        _runOptions = new RunOptions();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _binding?.Dispose();
        _input?.Dispose();
        _output?.Dispose();
        _runOptions?.Dispose();
        _session?.Dispose();
    }

    [Benchmark]
    public float RunBatch()
    {
        _session.Session.RunWithBinding(_runOptions, _binding);

        // Returned so the result is observably used; the output array is pre-allocated and reused.
        return _result[0];
    }

    private sealed record BenchModel(string Name, string RelativePath, string InputName, string OutputName, int Features, bool RandomInput)
    {
        public string ModelPath => Path.Combine(RepoRoot.Value, RelativePath);

        public string TestDataPath => Path.Combine(Path.GetDirectoryName(ModelPath)!, "test_data.json");

        private static readonly Lazy<string> RepoRoot = new(FindRepoRoot);

        public static BenchModel Get(string name)
        {
            var spec = name switch
            {
                "bench_mlp" => new BenchModel(name, "models/bench_mlp/1/model.onnx", "input", "output", 512, RandomInput: true),
                "fraud_v2" => new BenchModel(name, "models/fraud/2/model.onnx", "features", "probability", 8, RandomInput: false),
                _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Unknown benchmark model."),
            };
            if (!File.Exists(spec.ModelPath))
            {
                throw new FileNotFoundException(
                    $"{spec.ModelPath} is missing; generate it with `/usr/bin/python3 models/generate.py --only-missing` (or `make models`).",
                    spec.ModelPath);
            }

            return spec;
        }

        // BenchmarkDotNet runs each case from a generated project under bin/, so walk up to the solution.
        private static string FindRepoRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "InferenceGateway.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException($"No InferenceGateway.sln above {AppContext.BaseDirectory}.");
        }
    }

    /// <summary>A model's test_data.json: its input rows, after checking the session reproduces the expected outputs.</summary>
    private sealed record TestData(float[] Input)
    {
        private const float Tolerance = 1e-4f;

        public static TestData Load(BenchModel spec, OnnxSession session)
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(spec.TestDataPath));
            var input = ReadFloats(doc.RootElement.GetProperty("inputs").GetProperty(spec.InputName).GetProperty("data"));
            var expected = ReadFloats(doc.RootElement.GetProperty("outputs").GetProperty(spec.OutputName).GetProperty("data"));
            var rows = input.Length / spec.Features;

            using var inputValue = OrtValue.CreateTensorValueFromMemory(input, [rows, spec.Features]);
            using var runOptions = new RunOptions();
            using var outputs = session.Session.Run(runOptions, [spec.InputName], [inputValue], [spec.OutputName]);
            var actual = outputs[0].GetTensorDataAsSpan<float>();
            if (actual.Length != expected.Length)
            {
                throw new InvalidOperationException($"{spec.Name}: {actual.Length} outputs, test data expects {expected.Length}.");
            }

            for (var i = 0; i < expected.Length; i++)
            {
                if (Math.Abs(actual[i] - expected[i]) > Tolerance)
                {
                    throw new InvalidOperationException($"{spec.Name}: output {i} is {actual[i]}, test data expects {expected[i]}.");
                }
            }

            return new TestData(input);
        }

        private static float[] ReadFloats(JsonElement array)
        {
            var values = new float[array.GetArrayLength()];
            var i = 0;
            foreach (var item in array.EnumerateArray())
            {
                values[i++] = item.GetSingle();
            }

            return values;
        }
    }
}

/// <summary>
/// One launch, 3 warmup and 10 measured iterations per case (BenchmarkDotNet's default ~0.5 s iteration time): the
/// 8 cases finish in about 2 minutes on the 2-core reference machine (measured: 106-170 s). Adds Min, Median, Rows/s
/// and Rows/s@Min; on a shared machine, read the Min-based figure as the uncontended ceiling.
/// </summary>
public sealed class OrtThroughputConfig : ManualConfig
{
    public OrtThroughputConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10).WithId("Ort"));
        AddColumn(StatisticColumn.Min, StatisticColumn.Median, new RowsPerSecondColumn(), new RowsPerSecondColumn(fromMin: true));
    }
}
