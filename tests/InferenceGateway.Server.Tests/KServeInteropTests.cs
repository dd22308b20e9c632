using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Health.V1;
using InferenceGateway.Contracts.Inference;
using Grpc.Reflection.V1Alpha;
using InferenceGateway.Tests.Interop;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// The real gateway's Open Inference Protocol service driven by an independent gRPC implementation, Debian's
/// python3-grpcio: inference results, health, reflection, and the exact status codes for deadlines, cancellation,
/// oversized and malformed messages, unknown methods and invalid tensors. interop/kserve_interop.py runs every check
/// once per fixture; each check is asserted by its own test case.
/// </summary>
public sealed class KServeInteropTests(KServeInteropFixture fixture) : IClassFixture<KServeInteropFixture>
{
    /// <summary>Every check the script must report, in its order.</summary>
    private static readonly string[] Names =
    [
        "infer_fraud_v1_typed",
        "infer_fraud_v2_typed",
        "infer_bench_mlp_v1_raw",
        "infer_empty_version_uses_latest",
        "server_live",
        "server_ready",
        "model_ready",
        "server_metadata",
        "model_metadata",
        "health_check",
        "health_check_unknown_not_found",
        "health_watch",
        "cancelled",
        "deadline_exceeded",
        "oversized_resource_exhausted",
        "unknown_method_unimplemented",
        "unknown_service_unimplemented",
        "malformed_body_internal",
        "wrong_shape_invalid_argument",
        "invalid_utf8_id_invalid_argument",
        "unknown_model_not_found",
        "reflection_list_services",
    ];

    public static TheoryData<string> CheckNames { get; } = new(Names);

    [Theory]
    [MemberData(nameof(CheckNames))]
    public void PythonGrpcio_Check_Passes(string check)
    {
        var run = fixture.Run;
        Assert.True(run.Error is null, run.Describe(run.Error ?? ""));
        Assert.True(run.Checks.TryGetValue(check, out var result), run.Describe($"check '{check}' was not reported"));
        Assert.True(result.Ok, $"{check}: {result.Detail}");
    }

    [Fact]
    public void PythonGrpcio_Script_ExitsZeroAndReportsExactlyTheKnownChecks()
    {
        var run = fixture.Run;
        Assert.True(run.Error is null, run.Describe(run.Error ?? ""));
        var failures = run.Checks.Values.Where(c => !c.Ok).Select(c => $"{c.Name}: {c.Detail}").ToArray();
        Assert.True(failures.Length == 0, "failed checks:" + Environment.NewLine + string.Join(Environment.NewLine, failures));
        Assert.True(run.ExitCode == 0, run.Describe($"python exited {run.ExitCode}"));
        Assert.Equal(Names.Order(StringComparer.Ordinal), run.Checks.Keys.Order(StringComparer.Ordinal));
    }
}

/// <summary>
/// Starts the gateway on a scratch repository (the bundled models plus <c>held</c>) and runs interop/kserve_interop.py
/// against it once; the tests read the result.
/// </summary>
public sealed class KServeInteropFixture : IAsyncLifetime
{
    private const string Python = "/usr/bin/python3";
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(120);

    private readonly string _repository;

    public KServeInteropFixture()
    {
        _repository = InteropRepository.Create();
        Gateway = new RepositoryGatewayFixture(_repository);
    }

    public GatewayFixture Gateway { get; }

    public InteropRun Run { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await Gateway.InitializeAsync();
        Run = await InteropRun.ExecuteAsync(Python, Gateway.GrpcPort, Gateway.AdminPort, ScriptTimeout);
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        InteropRepository.Delete(_repository);
    }

    private sealed class RepositoryGatewayFixture(string repository) : GatewayFixture([], repository);
}

/// <summary>
/// A scratch model repository for the interop run: links to the bundled <c>fraud</c> and <c>bench_mlp</c>, and
/// <c>held</c>, fraud v1's model under a fixed-delay batching config that waits up to 10 s for a full batch of 128 rows. A lone
/// 1-row call to <c>held</c> therefore stays queued in the server until it is cancelled, so the cancellation check
/// does not race the server's speed (it did when the victim queued behind real batches on a busy machine).
/// </summary>
internal static class InteropRepository
{
    public const string HeldModel = "held";

    public static string Create()
    {
        var root = Path.Combine(Path.GetTempPath(), $"ig-interop-models-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        foreach (var model in new[] { "fraud", "bench_mlp" })
        {
            Directory.CreateSymbolicLink(Path.Combine(root, model), Path.Combine(RepoPaths.Models, model));
        }

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Models, "fraud", "config.json")))!.AsObject();
        config["name"] = HeldModel;
        config["dynamic_batching"] = new JsonObject
        {
            ["policy"] = "fixed_delay",
            ["max_queue_delay_microseconds"] = 10_000_000,
            ["preferred_batch_size"] = new JsonArray(128),
            ["max_queue_size"] = 16,
        };
        var versions = config["versions"]!.AsObject();
        foreach (var version in versions.Select(v => v.Key).Where(v => v != "1").ToArray())
        {
            versions.Remove(version);
        }

        var held = Path.Combine(root, HeldModel);
        Directory.CreateDirectory(Path.Combine(held, "1"));
        File.WriteAllText(Path.Combine(held, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.CreateSymbolicLink(Path.Combine(held, "1", "model.onnx"), Path.Combine(RepoPaths.Models, "fraud", "1", "model.onnx"));
        return root;
    }

    public static void Delete(string root)
    {
        // Unlink the directory links first, so that nothing can reach through them into models/.
        foreach (var link in Directory.EnumerateFileSystemEntries(root).Where(e => new FileInfo(e).LinkTarget is not null).ToArray())
        {
            File.Delete(link);
        }

        Directory.Delete(root, recursive: true);
    }
}

/// <summary>What one run of kserve_interop.py reported: a line per check, or why it could not run.</summary>
public sealed class InteropRun
{
    private InteropRun(string? error, int exitCode, string stdout, string stderr, Dictionary<string, CheckResult> checks)
    {
        Error = error;
        ExitCode = exitCode;
        Stdout = stdout;
        Stderr = stderr;
        Checks = checks;
    }

    /// <summary>Why the script did not run to completion (missing python, timeout, set-up failure); null if it did.</summary>
    public string? Error { get; }

    public int ExitCode { get; }

    public string Stdout { get; }

    public string Stderr { get; }

    public IReadOnlyDictionary<string, CheckResult> Checks { get; }

    public string Describe(string message) =>
        $"{message}{Environment.NewLine}--- stdout ---{Environment.NewLine}{Stdout}{Environment.NewLine}--- stderr ---{Environment.NewLine}{Stderr}";

    public static async Task<InteropRun> ExecuteAsync(string python, int grpcPort, int adminPort, TimeSpan timeout)
    {
        var checks = new Dictionary<string, CheckResult>(StringComparer.Ordinal);
        if (!File.Exists(python))
        {
            // A missing interpreter fails every check: the suite must not pass without the independent client.
            return new InteropRun($"{python} is missing: run `make deps` (scripts/install-deps.sh) for python3-grpcio", -1, "", "", checks);
        }

        var descriptors = Path.Combine(Path.GetTempPath(), $"ig-kserve-interop-{Guid.NewGuid():N}.pb");
        try
        {
            DescriptorSets.Write(descriptors, GrpcServiceReflection.Descriptor, HealthReflection.Descriptor, ReflectionReflection.Descriptor);
            var script = Path.Combine(AppContext.BaseDirectory, "interop", "kserve_interop.py");
            var (exitCode, stdout, stderr, timedOut) = await RunProcessAsync(
                python, [script, "--target", $"127.0.0.1:{grpcPort}", "--descriptors", descriptors, "--models", RepoPaths.Models, "--admin", $"127.0.0.1:{adminPort}"],
                timeout);

            foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!line.StartsWith('{'))
                {
                    continue;
                }

                using var json = JsonDocument.Parse(line);
                var name = json.RootElement.GetProperty("name").GetString()!;
                if (name != "_summary")
                {
                    checks[name] = new CheckResult(name, json.RootElement.GetProperty("ok").GetBoolean(), json.RootElement.GetProperty("detail").GetString() ?? "");
                }
            }

            string? error = timedOut
                ? $"kserve_interop.py did not finish within {timeout.TotalSeconds:0} s and was killed"
                : checks.Count == 0 ? $"kserve_interop.py exited {exitCode} without reporting a check (is python3-grpcio / python3-numpy installed?)" : null;
            return new InteropRun(error, exitCode, stdout, stderr, checks);
        }
        finally
        {
            File.Delete(descriptors);
        }
    }

    internal static async Task<(int ExitCode, string Stdout, string Stderr, bool TimedOut)> RunProcessAsync(string fileName, string[] arguments, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["PYTHONUNBUFFERED"] = "1";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            timedOut = true;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        return (process.ExitCode, await stdout.WaitAsync(TimeSpan.FromSeconds(10)), await stderr.WaitAsync(TimeSpan.FromSeconds(10)), timedOut);
    }
}

/// <summary>One check's line: {"name", "ok", "detail"}.</summary>
public sealed record CheckResult(string Name, bool Ok, string Detail);
