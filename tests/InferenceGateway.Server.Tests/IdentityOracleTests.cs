using System.Runtime.InteropServices;
using Grpc.Core;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Server.Services;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// Concurrent ModelInfer on an identity model (y = x, 8 floats a row), each call with values no other call or row has:
/// an answer is right only if it is its own input, bit for bit, so any row sliced to the wrong caller, or out of order,
/// or from a reused buffer shows.
/// </summary>
public sealed class IdentityOracleTests : ScratchGateway
{
    private static readonly TimeSpan Timeout = TestGateway.Timeout;

    protected override void Populate(ScratchRepository repository)
    {
        repository.WriteConfig("identity", 16, ("x", "FP32", 8), ("y", "FP32", 8), """{ "max_queue_size": 4096 }""");
        repository.PlaceModel("identity", "1", "identity8.onnx");
    }

    [Fact]
    public async Task ModelInfer_ConcurrentCallsWithUniqueRows_EachAnswerIsItsOwnInput()
    {
        const int Callers = 16;
        const int CallsEach = 24;
        var invoker = Gateway.Channel.CreateCallInvoker();
        var callers = Enumerable.Range(0, Callers).Select(c => Task.Run(async () =>
        {
            for (var i = 0; i < CallsEach; i++)
            {
                var call = (c * CallsEach) + i;
                var rows = 1 + (call % 4); // 1-4 rows, so calls share batches in every arrangement
                var x = new float[rows * 8];
                for (var k = 0; k < x.Length; k++)
                {
                    x[k] = (call * 100) + k + 0.5f; // unique per call, row and column; exact in float
                }

                // Raw and typed contents alternate: both decoders, and both encoders of the answer.
                var typed = call % 2 == 1;
                var request = typed ? Typed(x, rows) : KServeTests.RawRequest("identity", "1", "x", [rows, 8], x);
                request.Id = $"call-{call}";
                var response = await invoker.AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), request).ResponseAsync;

                Assert.Equal(request.Id, response.Id);
                var output = Assert.Single(response.Outputs);
                Assert.Equal([rows, 8L], output.Shape.ToArray());
                var y = typed ? output.Contents.Fp32Contents.ToArray() : MemoryMarshal.Cast<byte, float>(Assert.Single(response.RawOutputContents).Span).ToArray();
                Assert.Equal(x, y);
            }
        })).ToArray();

        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromMinutes(2));
        var scrape = await Metrics.UntilAsync(Gateway, s => s.Requests("identity", "1", "OK"), Callers * CallsEach, "every call counted OK");
        Assert.Equal(0, Gateway.Repository.Models["identity"].Versions.Single().ActiveLeases);
        Assert.True(scrape.Counter("gateway_batcher_batch_size_count", ("model", "identity"), ("version", "1")) > 0);
    }

    private static ModelInferRequest Typed(float[] x, int rows)
    {
        var request = new ModelInferRequest { ModelName = "identity", ModelVersion = "1" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "x", Datatype = "FP32", Contents = new InferTensorContents() };
        input.Shape.AddRange([rows, 8]);
        input.Contents.Fp32Contents.AddRange(x);
        request.Inputs.Add(input);
        return request;
    }
}
