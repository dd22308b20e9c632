using System.Buffers;
using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Google.Protobuf;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Routing;
using InferenceGateway.Server.Services;
using InferenceGateway.Server.Services.Wire;
using Microsoft.Extensions.DependencyInjection;

namespace InferenceGateway.Benchmarks.Routing;

/// <summary>
/// Routing overhead per request, in process (issue 22's aim: under 1 us and 0 B): the experiment lookup, the sticky
/// key and the arm, for ModelInfer (the key read from the request's parameters, as UTF-8 bytes) and for Predict (the
/// entity id as text), against the lookup alone for a model without an experiment. 4,096 distinct entity ids.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(RoutingBenchmarkConfig))]
public class RoutingBenchmark
{
    private const int Requests = 4_096;

    private readonly ExperimentRouter _router = new();
    private ModelInferCall[] _calls = null!;
    private string[] _keys = null!;
    private ExperimentMetrics _metrics = null!;
    private ServiceProvider _services = null!;

    /// <summary>Arms in the experiment (the arm choice costs one hash mix and one logarithm per arm).</summary>
    [Params(2, 4)]
    public int Arms { get; set; } = 2;

    [GlobalSetup]
    public void Setup()
    {
        var definition = new ExperimentDefinition { Salt = "fraud-2026-12" };
        for (var i = 0; i < Arms; i++)
        {
            definition.Arms.Add(new ArmDefinition { Name = $"arm-{i}", Version = (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), Weight = i == 0 ? 90 : 10 });
        }

        var errors = new List<string>();
        _router.Set(ExperimentValidator.Validate("fraud", definition, new AnyCatalog(), TimeSpan.FromSeconds(1), errors) ?? throw new InvalidOperationException(string.Join("; ", errors)));
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        _metrics = new ExperimentMetrics(_services.GetRequiredService<IMeterFactory>());
        _keys = new string[Requests];
        _calls = new ModelInferCall[Requests];
        for (var i = 0; i < Requests; i++)
        {
            _keys[i] = "card-" + i.ToString("D8", System.Globalization.CultureInfo.InvariantCulture);
            var request = new ModelInferRequest { ModelName = "fraud", Id = "req-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            request.Parameters.Add("entity_id", new InferParameter { StringParam = _keys[i] });
            request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "features", Datatype = "FP32", Shape = { 1, 3 } });
            request.RawInputContents.Add(ByteString.CopyFrom(new byte[12]));
            _calls[i] = ModelInferCodec.Parse(new ReadOnlySequence<byte>(request.ToByteArray()));
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var call in _calls)
        {
            call.Return();
        }

        _services.Dispose();
    }

    /// <summary>A model without an experiment: the lookup that finds none.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Requests)]
    public int NoExperiment()
    {
        var found = 0;
        for (var i = 0; i < Requests; i++)
        {
            found += _router.TryGet("bench_mlp", out _) ? 1 : 0;
        }

        return found;
    }

    /// <summary>ModelInfer with an empty version: lookup, the <c>entity_id</c> request parameter, the arm.</summary>
    [Benchmark(OperationsPerInvoke = Requests)]
    public int ModelInfer()
    {
        var sum = 0;
        for (var i = 0; i < Requests; i++)
        {
            if (_router.TryGet("fraud", out var experiment))
            {
                sum += InferenceExecutor.ChooseArm(_calls[i], experiment, _metrics).Version.Length;
            }
        }

        return sum;
    }

    /// <summary>Predict with an empty version: lookup, the entity id as text, the arm.</summary>
    [Benchmark(OperationsPerInvoke = Requests)]
    public int Predict()
    {
        var sum = 0;
        for (var i = 0; i < Requests; i++)
        {
            if (_router.TryGet("fraud", out var experiment))
            {
                sum += experiment.ChooseArm(_keys[i].AsSpan()).Version.Length;
            }
        }

        return sum;
    }

    private sealed class AnyCatalog : IModelCatalog
    {
        public bool HasModel(string model) => true;

        public CatalogVersion GetVersion(string model, string version) => CatalogVersion.Local;
    }
}

/// <summary>
/// BenchmarkDotNet's default job, run in process: the generated boilerplate project took longer to build than its
/// two-minute limit on the shared machine, and nanosecond-scale loops need no process isolation to be measured. The
/// default job, not ShortRun's three iterations, because the README quotes these figures.
/// </summary>
public sealed class RoutingBenchmarkConfig : ManualConfig
{
    public RoutingBenchmarkConfig()
    {
        AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithId("Default-InProcess"));
    }
}
