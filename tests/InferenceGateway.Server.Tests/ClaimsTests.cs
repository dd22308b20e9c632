using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Grpc.Core;
using InferenceGateway.Server.Services;

namespace InferenceGateway.Server.Tests;

/// <summary>What the README and docs/operations.md promise about the process, the admin endpoints and the listeners.</summary>
public sealed class ClaimsTests
{
    private static readonly TimeSpan Timeout = TestGateway.Timeout;

    [Fact]
    public async Task Process_InvalidConfiguration_ExitCode2WithEveryErrorOnStderr()
    {
        using var process = StartProcess("--Gateway:GrpcPort=70000", "--Gateway:ListenAddress=not-an-ip", "--Gateway:Models:fraud:MaxQueueTimeMicroseconds=-1");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await WaitForExitAsync(process);

        var errors = await stderr;
        Assert.True(process.ExitCode == 2, $"exit code {process.ExitCode}: {errors}{await stdout}");
        Assert.StartsWith("Invalid configuration:", errors, StringComparison.Ordinal);
        Assert.Contains("Gateway:GrpcPort 70000", errors, StringComparison.Ordinal);
        Assert.Contains("Gateway:ListenAddress 'not-an-ip'", errors, StringComparison.Ordinal);
        Assert.Contains("Gateway:Models:fraud:MaxQueueTimeMicroseconds must be between 0 and 60000000", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_OnlyVersionCorruptWithJsonLogs_LiveButNotReadyNamingTheFileAndEveryLogLineIsJson()
    {
        using var repo = new ScratchRepository();
        repo.WriteConfig("scale", 8, ("x", "FP32", 4), ("y", "FP32", 4));
        repo.PlaceModel("scale", "1", "scale2.onnx");
        var corrupt = repo.CorruptModel("scale", "1");
        using var gateway = ChildGateway.Start($"--Gateway:ModelRepository:Path={repo.Path}", "--Gateway:OnnxRuntime:IntraOpThreads=1",
            "--Logging:Console:FormatterName=json", "--Logging:LogLevel:Default=Information", $"--Gateway:DataDirectory={TestDataDirectory.Create()}");
        var process = gateway.Process;
        var output = gateway.Output;
        try
        {
            var (_, admin) = await gateway.WaitListeningAsync();

            // A probe is retried on connection errors only: one slower than 5 s on a loaded host would fail the test, so
            // each may take the whole wait.
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin}"), Timeout = Timeout };
            string? readyz = null;
            await TestGateway.UntilAsync(async () =>
            {
                try
                {
                    using var response = await http.GetAsync("/readyz");
                    readyz = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                    return readyz.Contains(corrupt, StringComparison.Ordinal) || process.HasExited;
                }
                catch (HttpRequestException)
                {
                    return process.HasExited;
                }
            }, "/readyz never named the corrupt file");

            Assert.StartsWith("503 not ready: models: ", readyz, StringComparison.Ordinal);
            using (var live = await http.GetAsync("/healthz"))
            {
                Assert.Equal(HttpStatusCode.OK, live.StatusCode);
                Assert.Equal("ok\n", await live.Content.ReadAsStringAsync());
            }

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            await WaitForExitAsync(process);
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}: {string.Join('\n', gateway.Errors)}");
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        process.WaitForExit(); // flushes the redirected output's last lines
        var lines = output.Where(l => l.Length > 0).ToList();
        Assert.NotEmpty(lines);
        var entries = lines.Select(line =>
        {
            try
            {
                return JsonDocument.Parse(line).RootElement.Clone();
            }
            catch (JsonException ex)
            {
                throw new Xunit.Sdk.XunitException($"not a JSON log line ({ex.Message}): {line}");
            }
        }).ToList();
        Assert.All(entries, e =>
        {
            Assert.True(e.TryGetProperty("Timestamp", out _) || e.TryGetProperty("EventId", out _), e.ToString());
            Assert.True(e.TryGetProperty("LogLevel", out _) && e.TryGetProperty("Category", out _) && e.TryGetProperty("Message", out _), e.ToString());
        });
        var failed = Assert.Single(entries, e => e.TryGetProperty("EventId", out var id) && id.ValueKind == JsonValueKind.Number
            && e.GetProperty("Category").GetString() == "InferenceGateway.Core.Models.ModelRepository" && e.GetProperty("Message").GetString()!.Contains(corrupt, StringComparison.Ordinal));
        Assert.Equal("Error", failed.GetProperty("LogLevel").GetString());
        Assert.Equal("scale", failed.GetProperty("State").GetProperty("Model").GetString());
        Assert.Contains(entries, e => e.GetProperty("Message").GetString() == "Gateway stopped; all queued work drained");
    }

    [Fact]
    public async Task AdminEndpoints_ModelWithOneBadVersion_HealthzV1ModelsAndReadyzSayWhatIsServed()
    {
        using var repo = new ScratchRepository();
        repo.WriteConfig("scale", 8, ("x", "FP32", 4), ("y", "FP32", 4));
        var good = repo.PlaceModel("scale", "1", "scale2.onnx");
        repo.PlaceModel("scale", "2", "scale2.onnx");
        var bad = repo.CorruptModel("scale", "2");
        await using var gateway = await TestGateway.StartAsync(repo.Path, null, "--Gateway:ModelRepository:PollInterval=00:00:00");
        await gateway.WaitReadyAsync(); // every model serves a version: a bad extra version does not make the gateway unready

        using (var live = await gateway.Admin.GetAsync("/healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
            Assert.Equal("ok\n", await live.Content.ReadAsStringAsync());
        }

        var models = await gateway.GetJsonAsync("/v1/models");
        var model = Assert.Single(models.GetProperty("models").EnumerateArray());
        Assert.Equal("scale", model.GetProperty("name").GetString());
        var version = Assert.Single(model.GetProperty("versions").EnumerateArray());
        Assert.Equal("1", version.GetProperty("version").GetString());
        Assert.Equal("Ready", version.GetProperty("state").GetString());
        Assert.Equal("CPU", version.GetProperty("provider").GetString());
        Assert.Equal(good, version.GetProperty("path").GetString());
        Assert.Equal(8, version.GetProperty("max_batch_size").GetInt32());
        Assert.Equal(0, version.GetProperty("queue_depth").GetInt32());
        var error = Assert.Single(models.GetProperty("errors").EnumerateObject());
        Assert.Equal(bad, error.Name);
        Assert.Contains("Protobuf parsing failed", error.Value.GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("*", true)] // all interfaces: another loopback address reaches it too
    [InlineData("localhost", false)] // 127.0.0.1 only
    public async Task ListenAddress_AnyOrLocalhost_BothListenersBindWhereDocumented(string address, bool reachableOn127002)
    {
        using var repo = new ScratchRepository();
        repo.WriteConfig("scale", 8, ("x", "FP32", 4), ("y", "FP32", 4));
        repo.PlaceModel("scale", "1", "scale2.onnx");
        await using var gateway = await TestGateway.StartAsync(repo.Path, null, "--Gateway:ModelRepository:PollInterval=00:00:00", $"--Gateway:ListenAddress={address}");
        await gateway.WaitReadyAsync(); // through 127.0.0.1, as the test gateway's clients always connect

        var live = await gateway.Channel.CreateCallInvoker().AsyncUnaryCall(KServeMethods.ServerLive, null, new CallOptions(deadline: DateTime.UtcNow + Timeout),
            new InferenceGateway.Contracts.Inference.ServerLiveRequest()).ResponseAsync.WaitAsync(Timeout);
        Assert.True(live.Live);

        foreach (var port in new[] { gateway.GrpcPort, gateway.AdminPort })
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var connected = true;
            try
            {
                await socket.ConnectAsync(IPAddress.Parse("127.0.0.2"), port).WaitAsync(Timeout);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                connected = false;
            }

            Assert.Equal(reachableOn127002, connected);
        }
    }

    [Fact]
    public async Task MaxSendMessageSize_ResponseLargerThanTheLimit_ResourceExhaustedAndSmallerOnesServed()
    {
        using var repo = new ScratchRepository();
        repo.WriteConfig("identity", 64, ("x", "FP32", 8), ("y", "FP32", 8));
        repo.PlaceModel("identity", "1", "identity8.onnx");
        await using var gateway = await TestGateway.StartAsync(repo.Path, null, "--Gateway:ModelRepository:PollInterval=00:00:00", "--Gateway:Grpc:MaxSendMessageSize=1024");
        await gateway.WaitReadyAsync();
        var invoker = gateway.Channel.CreateCallInvoker();

        // One row: 32 bytes of output, well under 1024 (the smallest limit allowed) with the rest of the response. 64 rows: 2 KiB.
        var small = await invoker.AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout),
            KServeTests.RawRequest("identity", "1", "x", [1, 8], [1, 2, 3, 4, 5, 6, 7, 8])).ResponseAsync.WaitAsync(Timeout);
        Assert.Equal(32, small.RawOutputContents[0].Length);
        var ex = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout),
            KServeTests.RawRequest("identity", "1", "x", [64, 8], new float[64 * 8])).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Equal("Sending message exceeds the maximum configured message size.", ex.Status.Detail);
        await Metrics.UntilAsync(gateway, s => s.ModelInferCalls("ResourceExhausted"), 1, "the refused answer counted");
        Assert.Equal("", Leftovers.Describe(gateway.Repository));
    }

    private static Process StartProcess(params string[] args) =>
        Process.Start(ChildGateway.StartInfo(["--Gateway:OnnxRuntime:IntraOpThreads=1", .. args]))!;

    private static async Task WaitForExitAsync(Process process)
    {
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
