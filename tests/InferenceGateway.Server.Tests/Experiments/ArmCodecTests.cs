using System.Buffers;
using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using Google.Protobuf;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Models;
using InferenceGateway.Core.Routing;
using InferenceGateway.Server.Services;
using InferenceGateway.Server.Services.Wire;
using Microsoft.Extensions.DependencyInjection;

namespace InferenceGateway.Server.Tests.Experiments;

/// <summary>The codec's part in experiments: the <c>arm</c> response parameter and the sticky key from request parameters.</summary>
public sealed class ArmCodecTests
{
    [Theory]
    [InlineData(true, "", "treatment")]
    [InlineData(false, "req-1", "control")]
    [InlineData(true, "req-2", "pinned")]
    [InlineData(false, "", "")]
    public void WriteResponse_WithArm_MatchesGeneratedCodeByteForByte(bool raw, string id, string arm)
    {
        var outputs = new List<TensorConfig> { new() { Name = "probability", DataType = "FP32", Dims = [-1, 1] } };
        var call = Parse(new ModelInferRequest { Id = id }.ToByteArray());
        call.ResponseModelName = "fraud";
        call.ResponseModelVersion = "2";
        call.ResponseArm = arm;
        call.ResponseOutputConfigs = outputs;
        call.RawOutput = raw;
        var values = MemoryMarshal.AsBytes<float>([0.125f]).ToArray();
        var buffer = call.RentBuffer(values.Length);
        values.CopyTo(buffer, 0);
        ModelInferCall.Add(ref call.ResponseOutputs, ref call.ResponseOutputCount, new ModelInferCall.ResponseOutput { ConfigIndex = 0, Buffer = buffer, Length = values.Length, DimStart = 0, DimCount = 2 });
        ModelInferCall.Add(ref call.ResponseDims, ref call.ResponseDimCount, 1);
        ModelInferCall.Add(ref call.ResponseDims, ref call.ResponseDimCount, 1);

        var expected = new ModelInferResponse { ModelName = "fraud", ModelVersion = "2", Id = id };
        if (arm.Length > 0)
        {
            expected.Parameters.Add("arm", new InferParameter { StringParam = arm });
        }

        var tensor = new ModelInferResponse.Types.InferOutputTensor { Name = "probability", Datatype = "FP32" };
        tensor.Shape.Add([1, 1]);
        if (raw)
        {
            expected.RawOutputContents.Add(ByteString.CopyFrom(values));
        }
        else
        {
            tensor.Contents = new InferTensorContents();
            tensor.Contents.Fp32Contents.Add(0.125f);
        }

        expected.Outputs.Add(tensor);
        var size = ModelInferCodec.ResponseSize(call);
        var writer = new ArrayBufferWriter<byte>();
        ModelInferCodec.WriteResponse(call, writer);

        Assert.Equal(expected.ToByteArray(), writer.WrittenSpan.ToArray());
        Assert.Equal(size, writer.WrittenCount);
        call.Return();
    }

    [Fact]
    public void ParameterKey_StringIntegerMissingAndRepeated_AsTheGeneratedCodeSeesThem()
    {
        var request = new ModelInferRequest();
        request.Parameters.Add("entity_id", new InferParameter { StringParam = "card-7" });
        request.Parameters.Add("merchant", new InferParameter { Int64Param = -42 });
        request.Parameters.Add("flag", new InferParameter { BoolParam = true });
        var call = Parse(request.ToByteArray());
        Span<byte> scratch = stackalloc byte[24];

        Assert.Equal("card-7"u8.ToArray(), ModelInferCodec.ParameterKey(call, "entity_id"u8, scratch).ToArray());
        Assert.Equal("-42"u8.ToArray(), ModelInferCodec.ParameterKey(call, "merchant"u8, scratch).ToArray());
        Assert.True(ModelInferCodec.ParameterKey(call, "flag"u8, scratch).IsEmpty);
        Assert.True(ModelInferCodec.ParameterKey(call, "missing"u8, scratch).IsEmpty);
        call.Return();

        // A repeated map key: the last entry wins, as Google.Protobuf's parser has it.
        var twice = new ModelInferRequest();
        twice.Parameters.Add("entity_id", new InferParameter { StringParam = "first" });
        var bytes = twice.ToByteArray().Concat(new ModelInferRequest { Parameters = { { "entity_id", new InferParameter { StringParam = "second" } } } }.ToByteArray()).ToArray();
        var repeated = Parse(bytes);
        Assert.Equal(ModelInferRequest.Parser.ParseFrom(bytes).Parameters["entity_id"].StringParam, System.Text.Encoding.UTF8.GetString(ModelInferCodec.ParameterKey(repeated, "entity_id"u8, scratch)));
        repeated.Return();
    }

    [Fact]
    public void Route_ModelInferUnderExperiment_AllocatesNothing()
    {
        // The per-request routing work of ModelInfer: the experiment's lookup, the key from the parameters, the arm.
        var router = new ExperimentRouter();
        var errors = new List<string>();
        var experiment = ExperimentValidator.Validate("fraud", new ExperimentDefinition
        {
            Arms = [new ArmDefinition { Name = "control", Version = "1", Weight = 90 }, new ArmDefinition { Name = "treatment", Version = "2", Weight = 10 }],
            Salt = "fraud-2026-12",
        }, new AnyCatalog(), TimeSpan.FromSeconds(1), errors)!;
        router.Set(experiment);
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new ExperimentMetrics(services.GetRequiredService<IMeterFactory>());
        var calls = Enumerable.Range(0, 16).Select(i => Parse(ExperimentAdmin.TwinRequest($"card-{i}").ToByteArray())).ToArray();

        var allocated = LeastAllocated(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                var call = calls[i & 15];
                if (router.TryGet("fraud", out var found))
                {
                    InferenceExecutor.ChooseArm(call, found, metrics);
                }
            }
        });

        Assert.Equal(0, allocated);
        foreach (var call in calls)
        {
            call.Return();
        }
    }

    private static long LeastAllocated(Action action)
    {
        action();
        var least = long.MaxValue;
        for (var round = 0; round < 3; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            action();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }

    private static ModelInferCall Parse(byte[] bytes) => ModelInferCodec.Parse(new ReadOnlySequence<byte>(bytes));

    private sealed class AnyCatalog : IModelCatalog
    {
        public bool HasModel(string model) => true;

        public CatalogVersion GetVersion(string model, string version) => CatalogVersion.Local;
    }
}
