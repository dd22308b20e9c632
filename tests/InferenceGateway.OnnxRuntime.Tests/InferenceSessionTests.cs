using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace InferenceGateway.OnnxRuntime.Tests;

public class InferenceSessionTests(ITestOutputHelper output)
{
    // affine.onnx: y = x @ W + b, W = [[1,2],[3,4],[5,6]], b = [0.5,-1].
    private static readonly float[] AffineInput = [1, 1, 1, 1, 0, -1];
    private static readonly float[] AffineExpected = [9.5f, 11f, -3.5f, -5f];

    [Fact]
    public void Inputs_AffineModel_ReportsSymbolicBatchDimAsMinusOne()
    {
        using var session = TestModels.Open("affine.onnx");

        var input = Assert.Single(session.Inputs);
        Assert.Equal("x", input.Name);
        Assert.Equal(TensorElementType.Float, input.ElementType);
        Assert.Equal([-1L, 3L], input.Shape);
        Assert.Equal(["batch", ""], input.SymbolicDims);
        var output = Assert.Single(session.Outputs);
        Assert.Equal("y", output.Name);
        Assert.Equal([-1L, 2L], output.Shape);
        Assert.Equal(ExecutionProvider.Cpu, session.ExecutionProvider);
    }

    [Fact]
    public void Create_SpinningOffAndConfigEntries_RunsWithKnownValues()
    {
        var config = new OrtSessionConfig
        {
            IntraOpThreads = 2,
            AllowSpinning = false,
            ConfigEntries = new Dictionary<string, string> { ["session.use_env_allocators"] = "0" },
        };
        using var session = InferenceSession.Create(OnnxRuntimeEnvironment.Shared, TestModels.Path("affine.onnx"), config);
        using var x = OrtTensor.CreateOver(AffineInput.AsMemory(), [2, 3]);

        var outputs = session.Run([x]);

        using var y = Assert.Single(outputs);
        Assert.Equal(AffineExpected, y.GetTensorData<float>().ToArray());
    }

    [Fact]
    public void Inputs_FixedShapeModel_ReportsConcreteDims()
    {
        using var session = TestModels.Open("add_fixed.onnx");

        Assert.Equal(["a", "b"], session.Inputs.Select(i => i.Name));
        Assert.All(session.Inputs, i => Assert.Equal([2L, 2L], i.Shape));
        Assert.All(session.Inputs, i => Assert.False(i.HasDynamicDims));
    }

    [Fact]
    public void Run_AffineModelOrtAllocatedOutput_ReturnsKnownValues()
    {
        using var session = TestModels.Open("affine.onnx");
        using var x = OrtTensor.CreateOver(AffineInput.AsMemory(), [2, 3]);

        var outputs = session.Run([x]);

        using var y = Assert.Single(outputs);
        Assert.Equal(TensorElementType.Float, y.ElementType);
        Assert.Equal([2L, 2L], y.Shape.ToArray());
        Assert.False(y.IsOverCallerMemory);
        Assert.Equal(AffineExpected, y.GetTensorData<float>().ToArray());
    }

    [Fact]
    public void Run_AddModelByName_ReturnsSum()
    {
        using var session = TestModels.Open("add_fixed.onnx");
        using var a = OrtTensor.CreateOver(new float[] { 1, 2, 3, 4 }.AsMemory(), [2, 2]);
        using var b = OrtTensor.CreateOver(new float[] { 10, 20, 30, 40 }.AsMemory(), [2, 2]);
        var outputs = new OrtTensor?[1];

        // Inputs in the reverse of declaration order: names, not positions, decide.
        session.Run(["b", "a"], [b, a], ["sum"], outputs);

        using var sum = outputs[0]!;
        Assert.Equal(new float[] { 11, 22, 33, 44 }, sum.GetTensorData<float>().ToArray());
    }

    [Fact]
    public void Run_PreallocatedOutput_FillsCallersArray()
    {
        using var session = TestModels.Open("affine.onnx");
        var result = new float[4];
        using var x = OrtTensor.CreateOver(AffineInput.AsMemory(), [2, 3]);
        using var y = OrtTensor.CreateOver(result.AsMemory(), [2, 2]);
        var outputs = new OrtTensor?[] { y };

        session.Run([0], [x], [0], outputs);

        Assert.Same(y, outputs[0]);
        Assert.Equal(AffineExpected, result);
        Assert.True(y.IsOverCallerMemory);
    }

    [Fact]
    public void Run_PreallocatedOutputOverPooledBuffer_WritesOnlyTheShapedPrefix()
    {
        using var session = TestModels.Open("affine.onnx");
        var pooled = new float[16];
        Array.Fill(pooled, 42f);
        using var x = OrtTensor.CreateOver(AffineInput.AsMemory(), [2, 3]);
        using var y = OrtTensor.CreateOver(pooled.AsMemory(), [2, 2]);

        session.Run([0], [x], [0], new OrtTensor?[] { y });

        Assert.Equal(AffineExpected, pooled[..4]);
        Assert.All(pooled[4..], v => Assert.Equal(42f, v));
    }

    [Fact]
    public void Run_PreallocatedOutputOfPassThroughGraph_FillsCallersArray()
    {
        // An output that aliases an input is the case where ORT could hand back its own buffer instead of ours (1.30 copies;
        // InferenceSession.EnsureWrittenInPlace copies if a runtime does not): either way the result is in our array.
        using var session = TestModels.Open("identity.onnx");
        var input = new float[] { 1, 2, 3 };
        var result = new float[3];
        using var x = OrtTensor.CreateOver(input.AsMemory(), [3]);
        using var y = OrtTensor.CreateOver(result.AsMemory(), [3]);

        session.Run([0], [x], [0], new OrtTensor?[] { y });

        Assert.Equal(input, result);
    }

    [Fact]
    public void Run_Int64Input_ReturnsInt64AndFloatOutputs()
    {
        using var session = TestModels.Open("int64_ops.onnx");
        Assert.Equal(TensorElementType.Int64, session.Inputs[0].ElementType);
        long[] ids = [1, 2, 3, 4, -5, 6, 7, 1L << 40];
        using var input = OrtTensor.CreateOver(ids.AsMemory(), [2, 4]);

        var outputs = session.Run([input]);

        using var plusOne = outputs[session.GetOutputIndex("plus_one")];
        using var asFloat = outputs[session.GetOutputIndex("as_float")];
        Assert.Equal(TensorElementType.Int64, plusOne.ElementType);
        Assert.Equal(new long[] { 2, 3, 4, 5, -4, 7, 8, (1L << 40) + 1 }, plusOne.GetTensorData<long>().ToArray());
        Assert.Equal(new float[] { 1, 2, 3, 4, -5, 6, 7, 1L << 40 }, asFloat.GetTensorData<float>().ToArray());
    }

    [Fact]
    public void Run_StringInput_ReturnsStringsAndCodes()
    {
        using var session = TestModels.Open("string_ops.onnx");
        Assert.Equal(TensorElementType.String, session.Inputs[0].ElementType);
        string[] text = ["card", "wire", "", "carte bancaire é", "card"];
        using var input = OrtTensor.CreateStrings(text, [text.Length]);

        var outputs = session.Run([input]);

        using var echo = outputs[session.GetOutputIndex("echo")];
        using var code = outputs[session.GetOutputIndex("code")];
        Assert.Equal(TensorElementType.String, echo.ElementType);
        Assert.Equal(text, echo.GetStrings());
        Assert.Equal(TensorElementType.Int64, code.ElementType);
        Assert.Equal(new long[] { 1, 2, -1, -1, 1 }, code.GetTensorData<long>().ToArray());
        Assert.Equal(text, input.GetStrings());
    }

    [Fact]
    public void Create_MissingFile_ThrowsWithPathAndOrtCode()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "TestModels", "does-not-exist.onnx");

        var ex = Assert.Throws<OnnxRuntimeException>(() => InferenceSession.Create(TestModels.Env, path, TestModels.Config));

        Assert.Equal(OrtErrorCode.NoSuchFile, ex.ErrorCode);
        Assert.Contains(path, ex.Message);
        Assert.Contains("Loading model", ex.Message);
        Assert.Contains("doesn't exist", ex.NativeMessage);
    }

    [Fact]
    public void Create_CorruptModel_ThrowsInvalidProtobuf()
    {
        var path = Path.Combine(Path.GetTempPath(), $"corrupt-{Guid.NewGuid():N}.onnx");
        var bytes = new byte[4096];
        new Random(1234).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        try
        {
            var ex = Assert.Throws<OnnxRuntimeException>(() => InferenceSession.Create(TestModels.Env, path, TestModels.Config));

            Assert.Equal(OrtErrorCode.InvalidProtobuf, ex.ErrorCode);
            Assert.Contains(path, ex.Message);
            Assert.Contains("Protobuf parsing failed", ex.NativeMessage);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Run_WrongShape_ThrowsNamingInputExpectedAndActual()
    {
        using var session = TestModels.Open("affine.onnx");
        using var x = OrtTensor.CreateOver(new float[8].AsMemory(), [2, 4]);

        var ex = Assert.Throws<OnnxRuntimeException>(() => session.Run([x]));

        Assert.Equal(OrtErrorCode.InvalidArgument, ex.ErrorCode);
        Assert.Contains("Input 'x' expects shape [batch,3] but got [2,4]", ex.Message);
        Assert.Contains("affine.onnx", ex.Message);
    }

    [Fact]
    public void Run_WrongRank_ThrowsNamingInput()
    {
        using var session = TestModels.Open("affine.onnx");
        using var x = OrtTensor.CreateOver(new float[3].AsMemory(), [3]);

        var ex = Assert.Throws<OnnxRuntimeException>(() => session.Run([x]));

        Assert.Contains("Input 'x' expects shape [batch,3] but got [3]", ex.Message);
    }

    [Fact]
    public void Run_WrongElementType_ThrowsNamingInputExpectedAndActual()
    {
        using var session = TestModels.Open("affine.onnx");
        using var x = OrtTensor.CreateOver(new long[6].AsMemory(), [2, 3]);

        var ex = Assert.Throws<OnnxRuntimeException>(() => session.Run([x]));

        Assert.Equal(OrtErrorCode.InvalidArgument, ex.ErrorCode);
        Assert.Contains("Input 'x' expects tensor(float) but got tensor(int64)", ex.Message);
    }

    [Fact]
    public void Run_PreallocatedOutputWithWrongBatch_SurfacesOrtsOwnMessage()
    {
        // The output's batch dim is symbolic, so only ORT can see the mismatch: this exercises the native status path.
        using var session = TestModels.Open("affine.onnx");
        using var x = OrtTensor.CreateOver(AffineInput.AsMemory(), [2, 3]);
        using var y = OrtTensor.CreateOver(new float[6].AsMemory(), [3, 2]);

        var ex = Assert.Throws<OnnxRuntimeException>(() => session.Run([0], [x], [0], new OrtTensor?[] { y }));

        Assert.Contains("Running model", ex.Message);
        Assert.Contains("affine.onnx", ex.Message);
        Assert.Equal(OrtErrorCode.InvalidArgument, ex.ErrorCode);
        Assert.Contains("output 'y'", ex.NativeMessage);
        Assert.Contains("has shape {3,2} but the computed output shape for this run is {2,2}", ex.NativeMessage);
    }

    [Fact]
    public void Run_PreallocatedOutputOfWrongType_ThrowsNamingOutput()
    {
        using var session = TestModels.Open("affine.onnx");
        using var x = OrtTensor.CreateOver(AffineInput.AsMemory(), [2, 3]);
        using var y = OrtTensor.CreateOver(new long[4].AsMemory(), [2, 2]);

        var ex = Assert.Throws<OnnxRuntimeException>(() => session.Run([0], [x], [0], new OrtTensor?[] { y }));

        Assert.Contains("Output 'y' is tensor(float) but the pre-allocated tensor is tensor(int64)", ex.Message);
    }

    [Fact]
    public void Run_UnknownInputName_ThrowsListingInputs()
    {
        using var session = TestModels.Open("affine.onnx");
        using var x = OrtTensor.CreateOver(AffineInput.AsMemory(), [2, 3]);

        var ex = Assert.Throws<OnnxRuntimeException>(() => session.Run(["features"], [x], ["y"], new OrtTensor?[1]));

        Assert.Contains("no input named 'features'", ex.Message);
        Assert.Contains("inputs are: x", ex.Message);
    }

    [Fact]
    public void Run_SessionStillUsableAfterFailedRun_ReturnsKnownValues()
    {
        using var session = TestModels.Open("affine.onnx");
        using var bad = OrtTensor.CreateOver(new float[6].AsMemory(), [3, 2]);
        using var good = OrtTensor.CreateOver(AffineInput.AsMemory(), [2, 3]);

        Assert.Throws<OnnxRuntimeException>(() => session.Run([bad]));
        var outputs = session.Run([good]);

        using var y = outputs[0];
        Assert.Equal(AffineExpected, y.GetTensorData<float>().ToArray());
    }

    [Fact]
    public void Run_PreallocatedSteadyState_AllocatesNoManagedMemory()
    {
        using var session = TestModels.Open("affine.onnx");
        var input = (float[])AffineInput.Clone();
        var result = new float[4];
        using var x = OrtTensor.CreateOver(input.AsMemory(), [2, 3]);
        using var y = OrtTensor.CreateOver(result.AsMemory(), [2, 2]);
        var inputs = new[] { x };
        var outputs = new OrtTensor?[] { y };
        int[] inputIndices = [0];
        int[] outputIndices = [0];
        string[] inputNames = ["x"];
        string[] outputNames = ["y"];
        for (var i = 0; i < 200; i++)
        {
            session.Run(inputIndices, inputs, outputIndices, outputs);
            session.Run(inputNames, inputs, outputNames, outputs);
        }

        // The fewest bytes of three runs: a per-call allocation shows in each, the runtime's one-off work on this thread
        // does not (an allocation check in the metrics tests once saw 32,664 B in a single run).
        var allocated = long.MaxValue;
        for (var round = 0; round < 3; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                session.Run(inputIndices, inputs, outputIndices, outputs);
                session.Run(inputNames, inputs, outputNames, outputs);
            }

            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, allocated);
        Assert.Equal(AffineExpected, result);
    }

    [Fact]
    public async Task Run_ConcurrentCallersOnOneSession_EachGetsItsOwnResult()
    {
        using var session = TestModels.Open("affine.onnx");

        var tasks = Enumerable.Range(0, 4).Select(worker => Task.Run(() =>
        {
            var input = new float[3];
            var output = new float[2];
            using var x = OrtTensor.CreateOver(input.AsMemory(), [1, 3]);
            using var y = OrtTensor.CreateOver(output.AsMemory(), [1, 2]);
            var outputs = new OrtTensor?[] { y };
            for (var i = 0; i < 200; i++)
            {
                // x = [v, 0, 0] -> y = [v + 0.5, 2v - 1]
                float v = (worker * 1000) + i;
                input[0] = v;
                session.Run([0], [x], [0], outputs);
                Assert.Equal(v + 0.5f, output[0]);
                Assert.Equal((2 * v) - 1, output[1]);
            }
        })).ToArray();

        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void Create_CudaRequestedOnCpuOnlyMachine_FallsBackToCpuAndLogsWarning()
    {
        var logger = new CapturingLogger();
        var config = TestModels.Config with { ExecutionProvider = ExecutionProvider.Cuda, CudaDeviceId = 0 };

        using var session = InferenceSession.Create(TestModels.Env, TestModels.Path("affine.onnx"), config, logger);

        Assert.Equal(ExecutionProvider.Cpu, session.ExecutionProvider);
        var warning = Assert.Single(logger.Entries, e => e.EventId.Name == "CudaProviderUnavailable");
        output.WriteLine(warning.Message);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal(1, warning.EventId.Id);
        Assert.Contains("falling back to CPU", warning.Message);
        Assert.Contains("affine.onnx", warning.Message);
        // ORT's own reason is carried verbatim (on this machine: the CUDA provider library cannot be loaded).
        Assert.Contains("ONNX Runtime said: ", warning.Message);
        Assert.True(warning.Message.Length > warning.Message.IndexOf("said: ", StringComparison.Ordinal) + 10);

        // And the fallback session really works.
        using var x = OrtTensor.CreateOver(AffineInput.AsMemory(), [2, 3]);
        using var y = session.Run([x])[0];
        Assert.Equal(AffineExpected, y.GetTensorData<float>().ToArray());
    }

    [Fact]
    public void Create_CpuRequested_LogsSessionCreatedAndNoWarning()
    {
        var logger = new CapturingLogger();

        using var session = TestModels.Open("affine.onnx", logger);

        Assert.DoesNotContain(logger.Entries, e => e.Level >= LogLevel.Warning);
        Assert.Single(logger.Entries, e => e.EventId.Name == "SessionCreated");
    }

    [Fact]
    public void Run_AfterDispose_Throws()
    {
        var session = TestModels.Open("affine.onnx");
        using var x = OrtTensor.CreateOver(AffineInput.AsMemory(), [2, 3]);
        session.Dispose();

        Assert.Throws<ObjectDisposedException>(() => session.Run([x]));
    }
}
