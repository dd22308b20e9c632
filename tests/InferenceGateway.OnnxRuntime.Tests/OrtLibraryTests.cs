namespace InferenceGateway.OnnxRuntime.Tests;

public class OrtLibraryTests
{
    [Fact]
    public void Version_SharedEnvironment_Is1_30_0()
    {
        var env = OnnxRuntimeEnvironment.Shared;

        Assert.Equal("1.30.0", env.Version);
        Assert.Equal("1.30.0", OrtLibrary.Version);
        Assert.Equal(OrtLibrary.PreferredApiVersion, OrtLibrary.ApiVersion);
    }

    [Fact]
    public void Shared_BuildOutput_LoadsTheCopyNextToTheApplication()
    {
        var env = OnnxRuntimeEnvironment.Shared;

        // The test host does not set ORT_LIBRARY_PATH; the build copies the library next to the test binaries.
        Assert.Null(Environment.GetEnvironmentVariable(OrtLibrary.LibraryPathEnvironmentVariable));
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, OrtLibrary.LibraryFileName), env.LibraryPath);
    }

    [Fact]
    public void Create_SecondCall_ReturnsTheSameProcessWideEnvironment()
    {
        var first = OnnxRuntimeEnvironment.Create(new OrtOptions());
        var second = OnnxRuntimeEnvironment.Create(new OrtOptions { LogLevel = OrtLogLevel.Warning });

        Assert.Same(first, second);
        Assert.Same(first, OnnxRuntimeEnvironment.Shared);
    }

    [Fact]
    public void Create_DifferentLibraryPathOnceLoaded_Throws()
    {
        _ = OnnxRuntimeEnvironment.Shared;

        var ex = Assert.Throws<InvalidOperationException>(
            () => OnnxRuntimeEnvironment.Create(new OrtOptions { LibraryPath = "/nonexistent/libonnxruntime.so.1" }));
        Assert.Contains("already loaded", ex.Message);
    }

    [Fact]
    public void GetAvailableProviders_CpuBuild_ListsCpu()
    {
        Assert.Contains("CPUExecutionProvider", OnnxRuntimeEnvironment.Shared.GetAvailableProviders());
    }

    [Fact]
    public void GetCandidates_ExplicitPath_WinsOverEverything()
    {
        var candidates = OrtLibrary.GetCandidates("/opt/ort-gpu/libonnxruntime.so.1", "/env/lib.so", "/app", _ => true);

        Assert.Equal([new LibraryCandidate("/opt/ort-gpu/libonnxruntime.so.1", LibrarySource.Explicit)], candidates);
    }

    [Fact]
    public void GetCandidates_EnvironmentVariable_WinsOverApplicationDirectory()
    {
        var candidates = OrtLibrary.GetCandidates(null, "/env/lib.so", "/app", _ => true);

        Assert.Equal([new LibraryCandidate("/env/lib.so", LibrarySource.EnvironmentVariable)], candidates);
    }

    [Fact]
    public void GetCandidates_NoPathsAndLocalCopy_TriesLocalCopyThenDefaultProbing()
    {
        var candidates = OrtLibrary.GetCandidates(null, "", "/app", p => p == "/app/libonnxruntime.so.1");

        Assert.Equal(LibrarySource.ApplicationDirectory, candidates[0].Source);
        Assert.Equal("/app/libonnxruntime.so.1", candidates[0].PathOrName);
        Assert.All(candidates.Skip(1), c => Assert.Equal(LibrarySource.DefaultProbing, c.Source));
        Assert.Equal(OrtLibrary.LibraryFileName, candidates[1].PathOrName);
    }

    [Fact]
    public void GetCandidates_NoLocalCopy_UsesDefaultProbingOnly()
    {
        var candidates = OrtLibrary.GetCandidates(null, null, "/app", _ => false);

        Assert.All(candidates, c => Assert.Equal(LibrarySource.DefaultProbing, c.Source));
    }
}
