using Grpc.Net.Client;
using InferenceGateway.Contracts.Gateway;

namespace InferenceGateway.Server.Tests.Experiments;

/// <summary>
/// Two gateway processes with the same experiment (the same salt, each from its own experiments file) put every key
/// on the same arm, and so does the first one after a restart.
/// </summary>
public sealed class CrossProcessStickinessTests
{
    private const string Definition = """{"arms": [{"name": "control", "version": "1", "weight": 50}, {"name": "treatment", "version": "2", "weight": 50}], "sticky_key": "entity_id", "salt": "cross-process"}""";
    private const int Keys = 60;

    [Fact]
    public async Task Predict_TwoProcessesAndARestart_EveryKeyKeepsItsArm()
    {
        var first = TestDataDirectory.Create();
        var second = TestDataDirectory.Create();
        try
        {
            foreach (var dir in new[] { first, second })
            {
                File.WriteAllText(Path.Combine(dir, "experiments.json"), $$"""{"fraud": {{Definition}}}""");
            }

            Dictionary<string, string> a, b, restarted;
            await using (var processA = await GatewayProcess.StartAsync(first))
            await using (var processB = await GatewayProcess.StartAsync(second))
            {
                a = await ArmsAsync(processA.GrpcPort);
                b = await ArmsAsync(processB.GrpcPort);
            }

            await using (var again = await GatewayProcess.StartAsync(first))
            {
                restarted = await ArmsAsync(again.GrpcPort);
            }

            Assert.Equal(a, b);
            Assert.Equal(a, restarted);
            var expected = ExperimentRoutingTests.Local("fraud", Definition);
            Assert.All(a, pair => Assert.Equal(expected.ChooseArm(pair.Key.AsSpan()).Name, pair.Value));
            Assert.Equal(2, a.Values.Distinct().Count());
        }
        finally
        {
            TestDataDirectory.Delete(first);
            TestDataDirectory.Delete(second);
        }
    }

    private static async Task<Dictionary<string, string>> ArmsAsync(int port)
    {
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var client = new Gateway.GatewayClient(channel);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var arms = new Dictionary<string, string>();
        for (var i = 0; i < Keys; i++)
        {
            var card = $"card-{i}";
            var response = await client.PredictAsync(GatewayPredictTests.Fraud(card, now, 10, 1, "m", version: ""), deadline: DateTime.UtcNow + ExperimentAdmin.Timeout).ResponseAsync.WaitAsync(ExperimentAdmin.Timeout);
            Assert.Equal(response.Arm == "control" ? "1" : "2", response.Version);
            arms[card] = response.Arm;
        }

        return arms;
    }

    /// <summary>A gateway as its own process (the published entry point), on loopback ports it binds itself (<see cref="ChildGateway"/>).</summary>
    private sealed class GatewayProcess : IAsyncDisposable
    {
        private readonly ChildGateway _child;

        private GatewayProcess(ChildGateway child, int grpcPort)
        {
            _child = child;
            GrpcPort = grpcPort;
        }

        public int GrpcPort { get; }

        public static async Task<GatewayProcess> StartAsync(string dataDirectory)
        {
            var child = ChildGateway.Start(
                $"--Gateway:DataDirectory={dataDirectory}", $"--Gateway:ModelRepository:Path={RepoPaths.Models}", "--Gateway:OnnxRuntime:IntraOpThreads=1",
                "--Logging:LogLevel:Default=Warning");
            try
            {
                var (grpc, admin) = await child.WaitListeningAsync();
                var gateway = new GatewayProcess(child, grpc);
                // Each probe may take the whole wait: a 5 s client timeout on a loaded host threw out of the loop.
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin}"), Timeout = TimeSpan.FromSeconds(90) };
                var until = DateTime.UtcNow + TimeSpan.FromSeconds(90);
                while (DateTime.UtcNow < until && !child.Process.HasExited)
                {
                    try
                    {
                        using var ready = await http.GetAsync("/readyz");
                        if (ready.IsSuccessStatusCode)
                        {
                            return gateway;
                        }
                    }
                    catch (HttpRequestException)
                    {
                    }

                    await Task.Delay(100);
                }

                throw new TimeoutException($"gateway process on port {grpc} not ready (exited: {child.Process.HasExited}):\n{string.Join('\n', child.All)}");
            }
            catch
            {
                child.Dispose();
                throw;
            }
        }

        public ValueTask DisposeAsync()
        {
            _child.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
