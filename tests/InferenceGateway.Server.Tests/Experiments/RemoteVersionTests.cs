using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf.Reflection;
using Grpc.Core;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Tests.Interop;

namespace InferenceGateway.Server.Tests.Experiments;

/// <summary>
/// A front gateway whose fraud version 3 is remote: the backend gateway's fraud version 1 and a port bound but never
/// listened on (a dead replica that refuses every connection, taken out by the ModelReady probes; holding the port
/// keeps another server from taking it); version 4 is two fake OIP replicas; version 5 two more, probed once a
/// minute, so that one stopped between probes is still chosen. Ready once the dead replica is out. An experiment on
/// fraud splits keys between "remote" (version 3) and "local" (version 1).
/// </summary>
public sealed class RemoteVersionFixture : IAsyncLifetime
{
    private string _repository = "";

    public GatewayFixture Backend { get; } = new();

    public FakeOipServer ReplicaA { get; private set; } = null!;

    public FakeOipServer ReplicaB { get; private set; } = null!;

    public FakeOipServer ReplicaC { get; private set; } = null!;

    public FakeOipServer ReplicaD { get; private set; } = null!;

    private Socket? _deadPort;

    public GatewayFixture Front { get; private set; } = null!;

    public string DeadEndpoint { get; private set; } = "";

    private Task<(Dictionary<string, (bool Ok, string Detail)> Checks, string Output)>? _python;

    /// <summary>The python run, started by the first test that asks (once per fixture).</summary>
    public Task<(Dictionary<string, (bool Ok, string Detail)> Checks, string Output)> Python(Func<Task<(Dictionary<string, (bool Ok, string Detail)> Checks, string Output)>> run)
    {
        lock (this)
        {
            return _python ??= run();
        }
    }

    public async Task InitializeAsync()
    {
        await Backend.InitializeAsync();
        ReplicaA = await FakeOipServer.StartAsync();
        ReplicaB = await FakeOipServer.StartAsync();
        ReplicaC = await FakeOipServer.StartAsync();
        ReplicaD = await FakeOipServer.StartAsync();
        _deadPort = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _deadPort.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        DeadEndpoint = $"http://127.0.0.1:{((IPEndPoint)_deadPort.LocalEndPoint!).Port}";
        _repository = ExperimentRepository.Create(root =>
        {
            // A real fraud folder (not the link) whose config adds the two remote versions.
            File.Delete(Path.Combine(root, "fraud"));
            var fraud = Path.Combine(root, "fraud");
            foreach (var version in new[] { "1", "2" })
            {
                Directory.CreateDirectory(Path.Combine(fraud, version));
                File.CreateSymbolicLink(Path.Combine(fraud, version, "model.onnx"), Path.Combine(RepoPaths.Models, "fraud", version, "model.onnx"));
            }

            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Models, "fraud", "config.json")))!.AsObject();

            // Probes of live replicas must not fail on a loaded host: with unhealthy_after 1, one probe slower than its
            // timeout takes a live replica out (it was 150 ms, which a GC pause or a busy 2-core CI host can exceed,
            // and then calls no longer spread over both replicas). The replicas these tests take out answer at once
            // (refused connection, NOT_READY), so a 1 s timeout costs them nothing; the timeout may not exceed the
            // interval, so the probes run every second (the waits for a health change allow 30 s).
            config["versions"]!["3"] = JsonNode.Parse($$"""
                {"remote": {"endpoints": ["http://127.0.0.1:{{Backend.GrpcPort}}", "{{DeadEndpoint}}"], "model": "fraud", "version": "1",
                            "load_balancing": "RoundRobin", "health_check_interval_ms": 1000, "health_check_timeout_ms": 1000, "unhealthy_after": 1} }
                """);
            config["versions"]!["4"] = JsonNode.Parse($$"""
                {"remote": {"endpoints": ["{{ReplicaA.Endpoint}}", "{{ReplicaB.Endpoint}}"], "load_balancing": "RoundRobin",
                            "health_check_interval_ms": 1000, "health_check_timeout_ms": 1000, "unhealthy_after": 1} }
                """);
            config["versions"]!["5"] = JsonNode.Parse($$"""
                {"remote": {"endpoints": ["{{ReplicaC.Endpoint}}", "{{ReplicaD.Endpoint}}"], "load_balancing": "RoundRobin",
                            "health_check_interval_ms": 60000, "health_check_timeout_ms": 5000} }
                """);
            File.WriteAllText(Path.Combine(fraud, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        });
        Front = new FrontFixture(_repository);
        await Front.InitializeAsync();
        await ExperimentAdmin.PutOkAsync(Front.Admin, "fraud", """
            {"arms": [{"name": "remote", "version": "3", "weight": 1}, {"name": "local", "version": "1", "weight": 1}], "salt": "remote-versions"}
            """);
        await WaitForHealthAsync("remote/fraud/3", DeadEndpoint, "Unhealthy");
    }

    /// <summary>Waits until the front gateway reports <paramref name="address"/> of <paramref name="cluster"/> in <paramref name="health"/>.</summary>
    public async Task WaitForHealthAsync(string cluster, string address, string health)
    {
        var until = DateTime.UtcNow + ExperimentAdmin.Timeout;
        var last = "";
        while (DateTime.UtcNow < until)
        {
            last = await Front.Admin.GetStringAsync("/v1/remote-versions");
            var node = JsonNode.Parse(last)!["remote_versions"]!.AsArray().FirstOrDefault(v => (string?)v!["id"] == cluster);
            if (node?["replicas"]!.AsArray().Any(r => (string?)r!["address"] == address && (string?)r["health"] == health) == true)
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"{cluster} {address} never became {health}: {last}");
    }

    public async Task DisposeAsync()
    {
        if (Front is not null)
        {
            await Front.DisposeAsync();
        }

        await ReplicaA.DisposeAsync();
        await ReplicaB.DisposeAsync();
        await ReplicaC.DisposeAsync();
        await ReplicaD.DisposeAsync();
        _deadPort?.Dispose();
        await Backend.DisposeAsync();
        ExperimentRepository.Delete(_repository);
    }

    private sealed class FrontFixture(string repository) : GatewayFixture(["--Gateway:Admin:Token=" + ExperimentGatewayFixture.Token], repository);
}

/// <summary>Remote versions forwarded through Yarp.ReverseProxy: interop, load balancing, health checks.</summary>
public sealed class RemoteVersionTests(RemoteVersionFixture fixture) : IClassFixture<RemoteVersionFixture>
{
    private static readonly string[] Checks =
    [
        "remote_version_typed_answers_like_local",
        "remote_version_raw_answers_raw",
        "experiment_arm_parameter_and_version",
        "pinned_remote_version_reports_pinned",
        "every_call_succeeds_with_a_dead_replica_out",
    ];

    public static TheoryData<string> CheckNames { get; } = new(Checks);

    [Theory]
    [MemberData(nameof(CheckNames))]
    public async Task PythonGrpcio_RemoteVersionAndArms_Pass(string check)
    {
        var (checks, output) = await fixture.Python(() => RunPythonAsync(fixture.Front.GrpcPort)).WaitAsync(TimeSpan.FromSeconds(180));
        Assert.True(checks.TryGetValue(check, out var result), $"check {check} not reported:{Environment.NewLine}{output}");
        Assert.True(result.Ok, $"{check}: {result.Detail}");
    }

    [Fact]
    public async Task RemoteVersion_TwoReplicas_CallsSpreadAndANotReadyReplicaIsTakenOut()
    {
        var request = KServeTests.RawRequest("fraud", "4", "features", [1, 3], [1f, 2f, 3f]);
        var beforeA = Volatile.Read(ref fixture.ReplicaA.State.Calls);
        var beforeB = Volatile.Read(ref fixture.ReplicaB.State.Calls);
        for (var i = 0; i < 20; i++)
        {
            var response = await ExperimentAdmin.InferAsync(fixture.Front.Channel, request);
            Assert.Equal(("fraud", "4"), (response.ModelName, response.ModelVersion));
            Assert.Equal(0.25f, response.Outputs[0].Contents.Fp32Contents[0]);
        }

        Assert.True(fixture.ReplicaA.State.Calls - beforeA >= 5, $"replica A got {fixture.ReplicaA.State.Calls - beforeA} of 20");
        Assert.True(fixture.ReplicaB.State.Calls - beforeB >= 5, $"replica B got {fixture.ReplicaB.State.Calls - beforeB} of 20");
        Assert.All(fixture.ReplicaA.State.Requests, r => Assert.Equal(("fraud", "4"), (r.ModelName, r.ModelVersion)));

        fixture.ReplicaA.State.Ready = false;
        try
        {
            await fixture.WaitForHealthAsync("remote/fraud/4", fixture.ReplicaA.Endpoint, "Unhealthy");
            beforeA = Volatile.Read(ref fixture.ReplicaA.State.Calls);
            for (var i = 0; i < 10; i++)
            {
                await ExperimentAdmin.InferAsync(fixture.Front.Channel, request);
            }

            Assert.Equal(beforeA, Volatile.Read(ref fixture.ReplicaA.State.Calls));
        }
        finally
        {
            fixture.ReplicaA.State.Ready = true;
        }

        await fixture.WaitForHealthAsync("remote/fraud/4", fixture.ReplicaA.Endpoint, "Healthy");
    }

    [Fact]
    public async Task RemoteVersion_ReplicaStoppedBetweenProbes_RefusedConnectsGoToTheOtherReplica()
    {
        var request = KServeTests.RawRequest("fraud", "5", "features", [1, 3], [1f, 2f, 3f]);
        for (var i = 0; i < 4; i++)
        {
            await ExperimentAdmin.InferAsync(fixture.Front.Channel, request); // both replicas connected and serving
        }

        Assert.True(fixture.ReplicaD.State.Calls > 0, "round robin never chose replica D");
        await fixture.ReplicaD.DisposeAsync(); // stops listening; the next probe is a minute away, so D stays chosen

        var beforeC = Volatile.Read(ref fixture.ReplicaC.State.Calls);
        for (var i = 0; i < 10; i++)
        {
            var response = await ExperimentAdmin.InferAsync(fixture.Front.Channel, request);
            Assert.Equal(("fraud", "5"), (response.ModelName, response.ModelVersion));
        }

        Assert.Equal(10, Volatile.Read(ref fixture.ReplicaC.State.Calls) - beforeC);
    }

    [Fact]
    public async Task RemoteVersion_ForwardedCall_RecordedInThePredictionLogWithItsInputsAndTheReplicasOutput()
    {
        var request = KServeTests.RawRequest("fraud", "4", "features", [1, 3], [1f, 2f, 3f]);
        request.Id = "remote-log-" + Guid.NewGuid().ToString("N"); // fraud has an experiment: naming version 4 pins it
        var response = await ExperimentAdmin.InferAsync(fixture.Front.Channel, request);
        Assert.Equal(0.25f, response.Outputs[0].Contents.Fp32Contents[0]);

        var database = Path.Combine(fixture.Front.DataDirectory, "predictions.db");
        var until = DateTime.UtcNow + ExperimentAdmin.Timeout;
        while (true)
        {
            await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Mode=ReadOnly"))
            {
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT version, arm, shadow, status, features, outputs, rows FROM predictions WHERE request_id = $id";
                command.Parameters.AddWithValue("$id", request.Id);
                await using var reader = await command.ExecuteReaderAsync();
                if (await reader.ReadAsync())
                {
                    Assert.Equal(("4", "pinned", 0L, 0L), (reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3)));
                    Assert.Equal([1f, 2f, 3f], System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>((byte[])reader[4]).ToArray());
                    Assert.Equal([0.25f], System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>((byte[])reader[5]).ToArray());
                    Assert.Equal(1L, reader.GetInt64(6));
                    Assert.False(await reader.ReadAsync(), "one record per forwarded call");
                    return;
                }
            }

            Assert.True(DateTime.UtcNow < until, $"no record of {request.Id} in {database}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Predict_RoutedToRemoteVersion_FailedPreconditionNamingModelInfer()
    {
        var client = new Gateway.GatewayClient(fixture.Front.Channel);
        var error = await Assert.ThrowsAsync<RpcException>(() => client.PredictAsync(
            GatewayPredictTests.Fraud("card-1", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 10, 1, "m", version: "3"),
            deadline: DateTime.UtcNow + ExperimentAdmin.Timeout).ResponseAsync.WaitAsync(ExperimentAdmin.Timeout));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("ModelInfer", error.Status.Detail, StringComparison.Ordinal);
    }

    private static async Task<(Dictionary<string, (bool Ok, string Detail)> Checks, string Output)> RunPythonAsync(int grpcPort)
    {
        var descriptors = Path.Combine(Path.GetTempPath(), $"ig-exp-interop-{Guid.NewGuid():N}.pb");
        try
        {
            DescriptorSets.Write(descriptors, GrpcServiceReflection.Descriptor);
            var script = Path.Combine(AppContext.BaseDirectory, "interop", "experiments_interop.py");
            var (exitCode, stdout, stderr, timedOut) = await InteropRun.RunProcessAsync(
                "/usr/bin/python3", [script, "--target", $"127.0.0.1:{grpcPort}", "--descriptors", descriptors, "--models", RepoPaths.Models], TimeSpan.FromSeconds(150));
            var checks = new Dictionary<string, (bool, string)>();
            foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l.StartsWith('{')))
            {
                using var json = JsonDocument.Parse(line);
                checks[json.RootElement.GetProperty("name").GetString()!] = (json.RootElement.GetProperty("ok").GetBoolean(), json.RootElement.GetProperty("detail").GetString() ?? "");
            }

            return (checks, $"exit {exitCode}{(timedOut ? " (timed out)" : "")}{Environment.NewLine}{stdout}{Environment.NewLine}{stderr}");
        }
        finally
        {
            File.Delete(descriptors);
        }
    }
}
