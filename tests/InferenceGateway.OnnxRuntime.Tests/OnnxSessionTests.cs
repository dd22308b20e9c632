using InferenceGateway.Core.Models;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace InferenceGateway.OnnxRuntime.Tests;

/// <summary>Session creation over the official package: options mapping, metadata, the CUDA fallback and load errors.</summary>
public class OnnxSessionTests(ITestOutputHelper output)
{
    // affine.onnx: y = x @ W + b, W = [[1,2],[3,4],[5,6]], b = [0.5,-1].
    private static readonly float[] AffineInput = [1, 1, 1, 1, 0, -1];
    private static readonly float[] AffineExpected = [9.5f, 11f, -3.5f, -5f];

    /// <summary>The <c>OrtFlavor</c> this test build was made with (<c>Cpu</c> unless <c>-p:OrtFlavor=Gpu</c>).</summary>
    private static readonly string TestBuildFlavor = typeof(OnnxSessionTests).Assembly
        .GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
        .Cast<System.Reflection.AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "OrtFlavor")?.Value is { Length: > 0 } flavor ? flavor : "Cpu";

    private static bool GpuBuild => TestBuildFlavor == "Gpu";

    [Fact]
    public void RuntimeVersion_ThisBuild_Is1_32_0FromTheFlavoursPackage()
    {
        Assert.Equal("1.32.0", OnnxSession.RuntimeVersion);
        Assert.Equal(TestBuildFlavor, OnnxSession.BuildFlavor);
        var providers = OrtEnv.Instance().GetAvailableProviders();
        Assert.Contains("CPUExecutionProvider", providers);
        Assert.Equal(GpuBuild, providers.Contains("CUDAExecutionProvider")); // the package's, whether or not this host has a GPU
    }

    [Fact]
    public void Inputs_AffineModel_ReportsSymbolicBatchDimAsMinusOne()
    {
        using var session = TestModels.Open("affine.onnx");

        Assert.Equal(new TensorMetadata("x", TensorDataType.Fp32, [-1, 3]).ToString(), Assert.Single(session.Inputs).ToString());
        Assert.Equal([-1L, 3L], session.Inputs[0].Shape);
        var y = Assert.Single(session.Outputs);
        Assert.Equal("y", y.Name);
        Assert.Equal(TensorDataType.Fp32, y.DataType);
        Assert.Equal([-1L, 2L], y.Shape);
        Assert.Equal(ExecutionProvider.Cpu, session.ExecutionProvider);
    }

    [Fact]
    public void Inputs_FixedShapeModel_ReportsConcreteDimsInDeclarationOrder()
    {
        using var session = TestModels.Open("add_fixed.onnx");

        Assert.Equal(["a", "b"], session.Inputs.Select(i => i.Name));
        Assert.All(session.Inputs, i => Assert.Equal([2L, 2L], i.Shape));
    }

    [Fact]
    public void Metadata_Int64AndStringModels_MapToGatewayTypes()
    {
        using var ints = TestModels.Open("int64_ops.onnx");
        using var strings = TestModels.Open("string_ops.onnx");

        Assert.Equal(TensorDataType.Int64, ints.Inputs[0].DataType);
        Assert.Equal(["plus_one", "as_float"], ints.Outputs.Select(o => o.Name));
        Assert.Equal([TensorDataType.Int64, TensorDataType.Fp32], ints.Outputs.Select(o => o.DataType));
        Assert.Equal(TensorDataType.Bytes, strings.Inputs[0].DataType);
        Assert.Equal([-1L], strings.Inputs[0].Shape);
    }

    [Fact]
    public void CreateSessionOptions_MapsThreadsOptimisationAndSpinning()
    {
        var config = new OrtSessionConfig { IntraOpThreads = 3, InterOpThreads = 2, GraphOptimizationLevel = GraphOptimizationLevel.Basic, AllowSpinning = false };

        using var options = OnnxSession.CreateSessionOptions(config);

        Assert.Equal(3, options.IntraOpNumThreads);
        Assert.Equal(2, options.InterOpNumThreads);
        Assert.Equal(Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_BASIC, options.GraphOptimizationLevel);
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
        using var session = OnnxSession.Create(TestModels.Path("affine.onnx"), config);

        Assert.Equal(AffineExpected, RunAffine(session));
    }

    [Fact]
    public void Create_CudaRequestedOnCpuBuild_FallsBackToCpuAndLogsOrtsReason()
    {
        if (GpuBuild)
        {
            // The GPU package: CUDA where the host has it, else the same fallback; Create_CudaOnADeviceThatDoesNotExist_*
            // checks the fallback on every build and host.
            using var any = OnnxSession.Create(TestModels.Path("affine.onnx"), TestModels.Config with { ExecutionProvider = ExecutionProvider.Cuda });
            Assert.Equal(AffineExpected, RunAffine(any));
            return;
        }

        var logger = new CapturingLogger();
        var (fallback, warning) = CreateFallingBackToCpu(cudaDeviceId: 0, logger);
        using var session = fallback;

        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal(1, warning.EventId.Id);
        Assert.Contains("falling back to CPU", warning.Message);
        Assert.Contains("affine.onnx", warning.Message);
        // ORT's own reason, verbatim: the CPU package has no CUDA provider.
        Assert.Contains("ONNX Runtime said: [ErrorCode:Fail] CUDA execution provider is not enabled in this build", warning.Message);
        var created = Assert.Single(logger.Entries, e => e.EventId.Name == "SessionCreated");
        Assert.Contains("on Cpu", created.Message);

        // And the fallback session really works.
        Assert.Equal(AffineExpected, RunAffine(session));
    }

    [Fact]
    public void Create_CudaRequestedForCorruptModel_ThrowsTheModelErrorWithoutFallbackWarning()
    {
        var path = WriteCorruptModel();
        var logger = new CapturingLogger();
        try
        {
            var config = TestModels.Config with { ExecutionProvider = ExecutionProvider.Cuda };

            var ex = Assert.Throws<OnnxRuntimeException>(() => OnnxSession.Create(path, config, logger));

            Assert.Contains("InvalidProtobuf", ex.Message);
            Assert.DoesNotContain(logger.Entries, e => e.EventId.Name == "CudaProviderUnavailable");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Create_CpuRequested_LogsSessionCreatedAndNoWarning()
    {
        var logger = new CapturingLogger();

        using var session = TestModels.Open("affine.onnx", logger);

        Assert.DoesNotContain(logger.Entries, e => e.Level >= LogLevel.Warning);
        var created = Assert.Single(logger.Entries, e => e.EventId.Name == "SessionCreated");
        Assert.Contains($"ONNX Runtime 1.32.0, {TestBuildFlavor} build", created.Message);
    }

    [Fact]
    public void Create_CudaOnADeviceThatDoesNotExist_FallsBackToCpuWithOrtsReason()
    {
        // Where CUDA fails decides the reason: a CPU build cannot register the provider at all; a GPU build on a host
        // without CUDA 13 cannot load the provider's library; a GPU build on a GPU host registers the provider and then
        // fails to create the session on device 4096. Every one falls back to a working CPU session and says why. The
        // last (registered, then failed) can only run on a GPU host: this CPU-only host has neither the CUDA libraries
        // nor a device, so here the test takes one of the first two paths.
        var logger = new CapturingLogger();
        var (fallback, warning) = CreateFallingBackToCpu(cudaDeviceId: 4096, logger);
        using var session = fallback;

        Assert.Contains("device 4096", warning.Message, StringComparison.Ordinal);
        Assert.Contains("falling back to CPU", warning.Message, StringComparison.Ordinal);
        if (!GpuBuild)
        {
            Assert.Contains("CUDA execution provider is not enabled in this build", warning.Message, StringComparison.Ordinal);
        }

        Assert.Equal(AffineExpected, RunAffine(session));
    }

    [Fact]
    public void Create_MissingFile_ThrowsOrtsMessageWithPath()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "TestModels", "does-not-exist.onnx");

        var ex = Assert.Throws<OnnxRuntimeException>(() => OnnxSession.Create(path, TestModels.Config));

        Assert.Contains("[ErrorCode:NoSuchFile]", ex.Message);
        Assert.Contains(path, ex.Message);
        Assert.Contains("doesn't exist", ex.Message);
    }

    [Fact]
    public void Create_CorruptModel_ThrowsInvalidProtobufWithPath()
    {
        var path = WriteCorruptModel();
        try
        {
            var ex = Assert.Throws<OnnxRuntimeException>(() => OnnxSession.Create(path, TestModels.Config));

            Assert.Contains("[ErrorCode:InvalidProtobuf]", ex.Message);
            Assert.Contains(path, ex.Message);
            Assert.Contains("Protobuf parsing failed", ex.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Create_NegativeThreads_ThrowsBeforeOrtSeesThem()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxSession.Create(TestModels.Path("affine.onnx"), TestModels.Config with { IntraOpThreads = -1 }));
    }

    [Fact]
    public void Dispose_WhileLeased_ReleasesTheNativeSessionWithTheLastLease()
    {
        var session = TestModels.Open("affine.onnx");
        Assert.True(session.TryAcquire());

        session.Dispose();

        // The run that holds the lease still has a live native session; new leases are refused.
        Assert.Equal(AffineExpected, RunAffine(session));
        Assert.False(session.TryAcquire());
        session.Release();
        session.Dispose();
        Assert.False(session.TryAcquire());
    }

    private static float[] RunAffine(OnnxSession session)
    {
        using var x = OrtValue.CreateTensorValueFromMemory(AffineInput, [2, 3]);
        using var runOptions = new RunOptions();
        using var outputs = session.Session.Run(runOptions, ["x"], [x], ["y"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static string WriteCorruptModel()
    {
        var path = Path.Combine(Path.GetTempPath(), $"corrupt-{Guid.NewGuid():N}.onnx");
        var bytes = new byte[4096];
        new Random(1234).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>
    /// Creates the affine model's session asking for CUDA on <paramref name="cudaDeviceId"/>, asserts it fell back to
    /// CPU, and returns it with the one warning in <paramref name="logger"/> that says why.
    /// </summary>
    private (OnnxSession Session, LogEntry Warning) CreateFallingBackToCpu(int cudaDeviceId, CapturingLogger logger)
    {
        var config = TestModels.Config with { ExecutionProvider = ExecutionProvider.Cuda, CudaDeviceId = cudaDeviceId };
        var session = OnnxSession.Create(TestModels.Path("affine.onnx"), config, logger);
        Assert.Equal(ExecutionProvider.Cpu, session.ExecutionProvider);
        var warning = Assert.Single(logger.Entries, e => e.EventId.Name == "CudaProviderUnavailable");
        output.WriteLine(warning.Message);
        return (session, warning);
    }
}
