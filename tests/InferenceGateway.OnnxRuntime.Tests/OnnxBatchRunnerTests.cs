using System.Runtime.InteropServices;
using System.Text.Json;
using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.OnnxRuntime.Tests;

/// <summary>
/// The zero-copy runner behind a real batcher: results for every row count, ORT reading and writing the batcher's own
/// buffers, one IoBinding per row count, nothing allocated per run, ORT's errors as the batch's failure message.
/// </summary>
public sealed class OnnxBatchRunnerTests
{
    private static readonly BatchTensorSpec[] AffineIn = [new("x", sizeof(float), [3])];
    private static readonly BatchTensorSpec[] AffineOut = [new("y", sizeof(float), [2])];

    [Fact]
    public async Task Run_EveryRowCount_ReturnsKnownValuesWithOneBindingPerRowCount()
    {
        using var model = TestModels.Load("affine.onnx", maxBatchSize: 8);
        await using var harness = new RunnerHarness(model, AffineIn, AffineOut, maxBatchSize: 8);

        for (var pass = 0; pass < 2; pass++)
        {
            for (var rows = 1; rows <= 8; rows++)
            {
                var input = new float[rows * 3];
                for (var k = 0; k < input.Length; k++)
                {
                    input[k] = (pass * 100) + (rows * 10) + k;
                }

                var output = new float[rows * 2];
                var result = await harness.InferAsync(rows, input, output);

                Assert.True(result.IsSuccess, result.Message);
                Assert.Equal(Affine(input), output);
            }
        }

        Assert.Equal(8, harness.Runner().CachedBindings);
    }

    [Fact]
    public async Task Run_BatchersBuffers_OrtReadsAndWritesThemInPlace()
    {
        using var model = TestModels.Load("affine.onnx", maxBatchSize: 8);
        await using var harness = new RunnerHarness(model, AffineIn, AffineOut, maxBatchSize: 8);
        Assert.True((await harness.InferAsync(2, new float[6], new float[4])).IsSuccess);
        var run = harness.LastRun();

        // New values written straight into the instance's pinned input buffer, then the same binding run again: ORT sees
        // them without any copy and leaves its result in the instance's output buffer.
        float[] input = [1, 1, 1, 1, 0, -1];
        input.AsSpan().CopyTo(MemoryMarshal.Cast<byte, float>(run.InputBuffer(0).Span));
        harness.Runner().Run(run);

        Assert.Equal([9.5f, 11f, -3.5f, -5f], MemoryMarshal.Cast<byte, float>(run.Output(0).Span).ToArray());
        Assert.Equal(1, harness.Runner().CachedBindings);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public async Task Run_SteadyState_AllocatesNoManagedMemory(int rows)
    {
        using var model = TestModels.Load("affine.onnx", maxBatchSize: 8);
        await using var harness = new RunnerHarness(model, AffineIn, AffineOut, maxBatchSize: 8);
        Assert.True((await harness.InferAsync(rows, new float[rows * 3], new float[rows * 2])).IsSuccess);
        var run = harness.LastRun();
        var runner = harness.Runner();
        for (var i = 0; i < 200; i++)
        {
            runner.Run(run);
        }

        // The fewest bytes of three rounds: a per-run allocation shows in each, the runtime's one-off work on this thread
        // does not (an allocation check in the metrics tests once saw 32,664 B in a single round).
        var allocated = long.MaxValue;
        for (var round = 0; round < 3; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 2000; i++)
            {
                runner.Run(run);
            }

            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, allocated);
        Assert.Equal(1, runner.CachedBindings);
    }

    [Fact]
    public async Task Run_PassThroughGraph_ResultLandsInTheOutputBuffer()
    {
        // An output that is a graph input is where ORT could hand back a buffer of its own instead of the bound one;
        // the batcher reads only its own buffer, so the values must be there.
        using var model = TestModels.Load("identity.onnx", maxBatchSize: 8);
        await using var harness = new RunnerHarness(model, [new("x", sizeof(float), [])], [new("y", sizeof(float), [])], maxBatchSize: 8);
        float[] input = [1, 2, 3];
        var output = new float[3];

        var result = await harness.InferAsync(3, input, output);

        Assert.True(result.IsSuccess, result.Message);
        Assert.Equal(input, output);
    }

    [Fact]
    public async Task Run_Int64ModelWithTwoOutputs_FillsBoth()
    {
        using var model = TestModels.Load("int64_ops.onnx", maxBatchSize: 4);
        BatchTensorSpec[] outputs = [new("plus_one", sizeof(long), [4]), new("as_float", sizeof(float), [4])];
        await using var harness = new RunnerHarness(model, [new("ids", sizeof(long), [4])], outputs, maxBatchSize: 4);
        long[] ids = [1, 2, 3, 4, -5, 6, 7, 1L << 40];
        var plusOne = new byte[ids.Length * sizeof(long)];
        var asFloat = new byte[ids.Length * sizeof(float)];
        var request = harness.Batcher.RentRequest();
        request.Rows = 2;
        request.SetInput(0, MemoryMarshal.AsBytes(ids.AsSpan()).ToArray());
        request.SetOutput(0, plusOne);
        request.SetOutput(1, asFloat);

        var result = await harness.Batcher.EnqueueAsync(request).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        harness.Batcher.ReturnRequest(request);

        Assert.True(result.IsSuccess, result.Message);
        Assert.Equal([2L, 3, 4, 5, -4, 7, 8, (1L << 40) + 1], MemoryMarshal.Cast<byte, long>(plusOne).ToArray());
        Assert.Equal([1f, 2, 3, 4, -5, 6, 7, 1L << 40], MemoryMarshal.Cast<byte, float>(asFloat).ToArray());
    }

    [Fact]
    public async Task Run_ShapeTheModelRejects_FailsTheBatchWithOrtsMessage()
    {
        // Four features where the model takes three: only ORT can say so here (the repository's config check is bypassed).
        using var model = TestModels.Load("affine.onnx", maxBatchSize: 8);
        await using var harness = new RunnerHarness(model, [new("x", sizeof(float), [4])], AffineOut, maxBatchSize: 8);

        var result = await harness.InferAsync(2, new float[8], new float[4]);

        Assert.Equal(BatchFailureReason.ExecutionFailed, result.Reason);
        Assert.Contains("[ErrorCode:InvalidArgument]", result.Message);
        Assert.Contains("Got invalid dimensions for input: x", result.Message);

        // The runner keeps serving: the failed binding stays cached and fails the same way, nothing leaks into others.
        Assert.Equal(BatchFailureReason.ExecutionFailed, (await harness.InferAsync(2, new float[8], new float[4])).Reason);
        Assert.Equal(1, harness.Runner().CachedBindings);
    }

    [Fact]
    public async Task Run_AfterTheModelIsDisposed_FailsTheBatchInsteadOfCrashing()
    {
        var model = TestModels.Load("affine.onnx", maxBatchSize: 8);
        await using var harness = new RunnerHarness(model, AffineIn, AffineOut, maxBatchSize: 8);
        Assert.True((await harness.InferAsync(1, new float[3], new float[2])).IsSuccess);

        model.Dispose();
        var result = await harness.InferAsync(1, new float[3], new float[2]);

        Assert.Equal(BatchFailureReason.ExecutionFailed, result.Reason);
        Assert.Contains("was unloaded", result.Message);
    }

    [Fact]
    public void CreateRunner_UnknownInputName_ThrowsListingTheModelsInputs()
    {
        using var model = TestModels.Load("affine.onnx", maxBatchSize: 8);

        var ex = Assert.Throws<ArgumentException>(() => model.CreateRunner(0, [new("features", sizeof(float), [3])], AffineOut));

        Assert.Contains("has no input named 'features' (inputs: x)", ex.Message);
    }

    [Fact]
    public async Task Instances_TwoSessionsUnderConcurrentCallers_EachRequestGetsItsOwnResult()
    {
        using var model = TestModels.Load("affine.onnx", maxBatchSize: 8);
        await using var harness = new RunnerHarness(model, AffineIn, AffineOut, maxBatchSize: 8, instances: 2);

        var callers = Enumerable.Range(0, 4).Select(caller => Task.Run(async () =>
        {
            for (var i = 0; i < 100; i++)
            {
                float[] input = [(caller * 1000) + i, 0, 0];
                var output = new float[2];
                var result = await harness.InferAsync(1, input, output);
                Assert.True(result.IsSuccess, result.Message);
                Assert.Equal(Affine(input), output);
            }
        })).ToArray();
        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.NotSame(harness.Runner(0), harness.Runner(1));
    }

    [Theory]
    [InlineData("fraud", "1")]
    [InlineData("fraud", "2")]
    [InlineData("bench_mlp", "1")]
    public async Task Run_BundledModelThroughTheRunner_MatchesNumpyReference(string name, string version)
    {
        var folder = Path.Combine(TestModels.RepositoryRoot(), "models", name, version);
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "test_data.json")));
        var input = json.RootElement.GetProperty("inputs").EnumerateObject().Single();
        var output = json.RootElement.GetProperty("outputs").EnumerateObject().Single();
        var inputShape = input.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var outputShape = output.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var data = input.Value.GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var expected = output.Value.GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var backend = new OnnxModelBackend(TestModels.Config, new Dictionary<string, ModelOverrides>(), NullLoggerFactory.Instance);
        using var model = backend.Load(name, version, Path.Combine(folder, "model.onnx"), new ModelConfig { MaxBatchSize = 128 });
        await using var harness = new RunnerHarness(
            model, [new(input.Name, sizeof(float), inputShape[1..])], [new(output.Name, sizeof(float), outputShape[1..])], maxBatchSize: 128);
        var actual = new float[expected.Length];

        var result = await harness.InferAsync(inputShape[0], data, actual);

        Assert.True(result.IsSuccess, result.Message);
        for (var k = 0; k < expected.Length; k++)
        {
            Assert.True(Math.Abs(actual[k] - expected[k]) <= 1e-4, $"{name}/{version}[{k}]: {actual[k]} vs numpy {expected[k]}");
        }
    }

    /// <summary>affine.onnx by hand: y = x @ [[1,2],[3,4],[5,6]] + [0.5,-1].</summary>
    private static float[] Affine(float[] x)
    {
        var rows = x.Length / 3;
        var y = new float[rows * 2];
        for (var r = 0; r < rows; r++)
        {
            var (a, b, c) = (x[r * 3], x[(r * 3) + 1], x[(r * 3) + 2]);
            y[r * 2] = a + (3 * b) + (5 * c) + 0.5f;
            y[(r * 2) + 1] = (2 * a) + (4 * b) + (6 * c) - 1;
        }

        return y;
    }
}
