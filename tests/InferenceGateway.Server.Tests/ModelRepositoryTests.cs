using Grpc.Core;
using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Models;
using InferenceGateway.Core.Tests.Batching;
using InferenceGateway.OnnxRuntime;
using InferenceGateway.Server.Services;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.Server.Tests;

/// <summary>The model repository against real ONNX Runtime sessions, in a scratch copy of the bundled fraud model.</summary>
public sealed class ModelRepositoryTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ig-repo-" + Guid.NewGuid().ToString("N"));

    public ModelRepositoryTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "fraud"));
        File.Copy(Path.Combine(RepoPaths.Models, "fraud", "config.json"), Path.Combine(_root, "fraud", "config.json"));
        CopyVersion("1", "1");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void CopyVersion(string from, string to)
    {
        var dir = Path.Combine(_root, "fraud", to);
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(RepoPaths.Models, "fraud", from, "model.onnx"), Path.Combine(dir, "model.onnx"));
    }

    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    private ModelRepository CreateRepository(TimeProvider? time = null, ILoggerFactory? loggerFactory = null) => new(
        new ModelRepositoryOptions { Path = _root, PollInterval = TimeSpan.Zero, DrainTimeout = DrainTimeout },
        new OnnxModelBackend(new OrtSessionConfig { IntraOpThreads = 1 }, new Dictionary<string, ModelOverrides>(), NullLoggerFactory.Instance),
        loggerFactory ?? NullLoggerFactory.Instance,
        time);

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + Timeout;
        while (!condition() && DateTime.UtcNow < until)
        {
            await Task.Delay(10);
        }

        Assert.True(condition(), what);
    }

    [Fact]
    public async Task Scan_VersionAdded_IsServedWithoutRestart()
    {
        await using var repository = CreateRepository();
        await repository.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.True(repository.TryGetVersion("fraud", "", out var latest));
        Assert.Equal("1", latest!.Version);

        CopyVersion("2", "2");
        await repository.ScanAsync(CancellationToken.None).WaitAsync(Timeout);

        Assert.True(repository.TryGetVersion("fraud", "2", out var added));
        Assert.Equal(ModelVersionState.Ready, added!.State);
        Assert.True(repository.TryGetVersion("fraud", "", out latest));
        Assert.Equal("2", latest!.Version);
    }

    [Fact]
    public async Task Scan_VersionFolderWithoutModelFile_WarnedOnceThenLoadedWhenTheFileAppears()
    {
        Directory.CreateDirectory(Path.Combine(_root, "fraud", "2"));
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        await using var repository = CreateRepository(loggerFactory: loggerFactory);
        await repository.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        await repository.ScanAsync(CancellationToken.None).WaitAsync(Timeout);

        var warnings = logs.Entries.Where(e => e.EventName == "ModelFileMissing").ToList();
        Assert.Single(warnings);
        Assert.Equal(LogLevel.Warning, warnings[0].Level);
        Assert.Contains(Path.Combine("fraud", "2", "model.onnx"), warnings[0].Message, StringComparison.Ordinal);
        Assert.False(repository.TryGetVersion("fraud", "2", out _));

        File.Copy(Path.Combine(RepoPaths.Models, "fraud", "2", "model.onnx"), Path.Combine(_root, "fraud", "2", "model.onnx"));
        await repository.ScanAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.True(repository.TryGetVersion("fraud", "2", out var loaded));
        Assert.Equal(ModelVersionState.Ready, loaded!.State);
    }

    [Fact]
    public async Task Scan_VersionRemoved_DrainsAdmittedRequestsBeforeRelease()
    {
        CopyVersion("2", "2");
        var time = new ManualTimeProvider();
        await using var repository = CreateRepository(time);
        await repository.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.True(repository.TryGetVersion("fraud", "1", out var version));
        Assert.True(version!.TryAcquire()); // An in-flight request.

        Directory.Delete(Path.Combine(_root, "fraud", "1"), recursive: true);
        var report = await repository.ScanAsync(CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(["fraud:1"], report.Unloaded);
        Assert.False(repository.TryGetVersion("fraud", "1", out _));
        Assert.Equal(ModelVersionState.Draining, version.State);
        Assert.False(version.TryAcquire()); // No new requests.

        // Up to the last tick of the drain timeout the virtual clock has fired nothing: only the lease can end the drain.
        time.Advance(DrainTimeout - TimeSpan.FromTicks(1));
        Assert.Equal(ModelVersionState.Draining, version.State);

        version.Release();
        await UntilAsync(() => version.State == ModelVersionState.Unloaded, "the version was not released after its last lease");
    }

    [Fact]
    public async Task Scan_DrainTimeoutExpiresWithLeasesHeld_ReleasedAnywayAndALateHolderGetsShuttingDown()
    {
        // docs/models.md: the session is released after DrainTimeout even while requests hold leases; a holder that
        // reaches the batcher afterwards is refused (UNAVAILABLE on the wire), and the warning says how many were held.
        var time = new ManualTimeProvider();
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var repository = CreateRepository(time, loggerFactory);
        await repository.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.True(repository.TryGetVersion("fraud", "1", out var version));
        Assert.True(version!.TryAcquire());
        Assert.True(version.TryAcquire());

        Directory.Delete(Path.Combine(_root, "fraud", "1"), recursive: true);
        await repository.ScanAsync(CancellationToken.None).WaitAsync(Timeout);
        time.Advance(DrainTimeout);

        await UntilAsync(() => version.State == ModelVersionState.Unloaded, "the version was not released when the drain timeout expired");
        Assert.Equal(2, version.ActiveLeases);
        var warning = Assert.Single(logs.Entries, e => e.EventName == "DrainTimedOut");
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("still had 2 requests", warning.Message, StringComparison.Ordinal);

        var late = version.Batcher.RentRequest();
        late.Rows = 1;
        late.SetInput(0, new byte[3 * sizeof(float)]);
        late.SetOutput(0, new byte[sizeof(float)]);
        var result = await version.Batcher.EnqueueAsync(late).AsTask().WaitAsync(Timeout);
        Assert.Equal(BatchFailureReason.ShuttingDown, result.Reason);
        Assert.Equal(StatusCode.Unavailable, InferenceExecutor.ToStatusCode(result.Reason));
        version.Release();
        version.Release();
        Assert.Equal(0, version.ActiveLeases);
    }

    [Fact]
    public async Task Scan_UnchangedBadFile_NotLoadedAgainButStillReported()
    {
        CopyVersion("2", "2");
        var path = Path.Combine(_root, "fraud", "2", "model.onnx");
        await File.WriteAllBytesAsync(path, [1, 2, 3, 4, 5]);
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var repository = CreateRepository(loggerFactory: loggerFactory);

        await repository.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        var again = await repository.ScanAsync(CancellationToken.None).WaitAsync(Timeout);

        Assert.Empty(again.Failed);
        Assert.Contains(path, again.Errors.Keys);
        Assert.Single(logs.Entries, e => e.EventName == "LoadFailed");

        // A new file is tried at once (here a good one).
        File.Copy(Path.Combine(RepoPaths.Models, "fraud", "2", "model.onnx"), path, overwrite: true);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(1));
        var fixedScan = await repository.ScanAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal(["fraud:2"], fixedScan.Loaded);
        Assert.Empty(fixedScan.Errors);
    }

    [Fact]
    public async Task Load_ConfigDimsDisagreeWithModel_ErrorNamesFileAndMismatch()
    {
        var path = Path.Combine(_root, "fraud", "config.json");
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
        config["versions"]!["1"]!["inputs"]![0]!["dims"]![1] = 4;
        File.WriteAllText(path, config.ToJsonString());
        await using var repository = CreateRepository();
        await repository.StartAsync(CancellationToken.None).WaitAsync(Timeout);

        Assert.False(repository.IsReady);
        var error = Assert.Single(repository.Errors);
        Assert.Contains(Path.Combine("fraud", "1", "model.onnx"), error.Key);
        Assert.Contains("dimension 1 is 4 in config but 3 in the model", error.Value);
    }

    [Fact]
    public async Task Load_CorruptModelFile_ErrorNamesFileAndKeepsOtherVersions()
    {
        CopyVersion("2", "2");
        await File.WriteAllBytesAsync(Path.Combine(_root, "fraud", "2", "model.onnx"), [1, 2, 3, 4, 5]);
        await using var repository = CreateRepository();
        await repository.StartAsync(CancellationToken.None).WaitAsync(Timeout);

        Assert.True(repository.TryGetVersion("fraud", "1", out _));
        Assert.False(repository.TryGetVersion("fraud", "2", out _));
        var error = Assert.Single(repository.Errors);
        Assert.Contains(Path.Combine("fraud", "2", "model.onnx"), error.Value);
    }

    [Fact]
    public void Load_InvalidConfig_ListsEveryProblem()
    {
        var path = Path.Combine(_root, "bad.json");
        File.WriteAllText(path, """{ "name": "", "max_batch_size": -1, "instance_count": 0, "versions": { "x": { "inputs": [], "outputs": [] } } }""");

        var ex = Assert.Throws<ModelConfigException>(() => ModelConfig.Load(path));

        Assert.Contains("name is required", ex.Message);
        Assert.Contains("max_batch_size must be >= 0", ex.Message);
        Assert.Contains("instance_count must be between 1 and 64", ex.Message);
        Assert.Contains("'x' is not a positive integer version", ex.Message);
        Assert.Contains("at least one input is required", ex.Message);
        Assert.StartsWith(path, ex.Message);
    }

    [Theory]
    [InlineData(null, null, 2, 2)] // Neither: the gateway-wide default.
    [InlineData(1, null, 2, 1)] // config.json intra_op_threads.
    [InlineData(1, 3, 2, 3)] // Gateway:Models:<name>:IntraOpThreads wins over config.json.
    [InlineData(null, null, 0, -1)] // 0 everywhere: one per core (Environment.ProcessorCount), not ORT's own count.
    [InlineData(0, null, 2, -1)]
    [InlineData(1, 0, 2, -1)]
    public void Load_IntraOpThreads_ConfigJsonThenGatewayOverride(int? inConfig, int? overridden, int gatewayWide, int expected)
    {
        expected = expected < 0 ? Environment.ProcessorCount : expected;
        var overrides = new Dictionary<string, ModelOverrides>();
        if (overridden is not null)
        {
            overrides["fraud"] = new ModelOverrides { IntraOpThreads = overridden };
        }

        var backend = new OnnxModelBackend(new OrtSessionConfig { IntraOpThreads = gatewayWide }, overrides, NullLoggerFactory.Instance);
        var config = ModelConfig.Load(Path.Combine(_root, "fraud", "config.json"));
        config.IntraOpThreads = inConfig;

        using var model = (OnnxLoadedModel)backend.Load("fraud", "1", Path.Combine(_root, "fraud", "1", "model.onnx"), config);

        Assert.Equal(expected, model.SessionConfig.IntraOpThreads);
    }

    [Theory]
    [InlineData(null, null, true, true)] // Neither: the gateway-wide setting.
    [InlineData(null, null, false, false)]
    [InlineData(false, null, true, false)] // config.json allow_spinning.
    [InlineData(true, null, false, true)]
    [InlineData(false, true, false, true)] // Gateway:Models:<name>:AllowSpinning wins over config.json.
    [InlineData(true, false, true, false)]
    public void Load_AllowSpinning_ConfigJsonThenGatewayOverride(bool? inConfig, bool? overridden, bool gatewayWide, bool expected)
    {
        var overrides = new Dictionary<string, ModelOverrides>();
        if (overridden is not null)
        {
            overrides["fraud"] = new ModelOverrides { AllowSpinning = overridden };
        }

        var backend = new OnnxModelBackend(new OrtSessionConfig { IntraOpThreads = 2, AllowSpinning = gatewayWide }, overrides, NullLoggerFactory.Instance);
        var config = ModelConfig.Load(Path.Combine(_root, "fraud", "config.json"));
        config.AllowSpinning = inConfig;
        config.IntraOpThreads = null;

        using var model = (OnnxLoadedModel)backend.Load("fraud", "1", Path.Combine(_root, "fraud", "1", "model.onnx"), config);

        Assert.Equal(expected, model.SessionConfig.AllowSpinning);
    }

    [Fact]
    public void ModelConfig_AllowSpinning_IsReadFromConfigJsonAndMustBeABoolean()
    {
        var path = Path.Combine(_root, "fraud", "config.json");
        var json = File.ReadAllText(path);
        File.WriteAllText(path, json.Replace("\"intra_op_threads\": 1", "\"intra_op_threads\": 1, \"allow_spinning\": false", StringComparison.Ordinal));
        Assert.False(ModelConfig.Load(path).AllowSpinning);

        File.WriteAllText(path, json.Replace("\"intra_op_threads\": 1", "\"intra_op_threads\": 1, \"allow_spinning\": \"no\"", StringComparison.Ordinal));
        var error = Assert.Throws<ModelConfigException>(() => ModelConfig.Load(path));
        Assert.Contains("allow_spinning", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelConfig_NegativeIntraOpThreads_IsRejectedWithTheKeyName()
    {
        var path = Path.Combine(_root, "fraud", "config.json");
        var json = File.ReadAllText(path).Replace("\"intra_op_threads\": 1", "\"intra_op_threads\": -1", StringComparison.Ordinal);
        File.WriteAllText(path, json);

        var error = Assert.Throws<ModelConfigException>(() => ModelConfig.Load(path));

        Assert.Contains("intra_op_threads must be between 0 and 256, was -1", error.Message, StringComparison.Ordinal);
    }
}
