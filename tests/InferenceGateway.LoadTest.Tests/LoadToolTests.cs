using System.Buffers.Binary;
using System.Text.Json;
using System.Xml.Linq;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.LoadTest.Cli;
using InferenceGateway.LoadTest.Echo;
using InferenceGateway.LoadTest.Engine;
using InferenceGateway.LoadTest.Output;
using InferenceGateway.LoadTest.Targets;

namespace InferenceGateway.LoadTest.Tests;

public sealed class LoadToolTests : IDisposable
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("ig-load-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Run_RawTargetAgainstEchoServer_SucceedsAndWritesJsonCsvAndPlot()
    {
        await using EchoServer echo = await EchoServer.StartAsync(0, 64, CancellationToken.None).WaitAsync(TestTimeout);
        string json = Path.Combine(_dir, "echo.json");
        string csv = Path.Combine(_dir, "echo.csv");
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int rc = await LoadTool.RunAsync(
            [
                "run", "--target", "raw", "--url", $"http://127.0.0.1:{echo.Port}", "--shape", "1x16",
                "--concurrency", "1,4", "--warmup", "200ms", "--duration", "1s", "--json", json, "--csv", csv,
            ],
            stdout,
            stderr,
            CancellationToken.None).WaitAsync(TestTimeout);

        Assert.True(rc == 0, stderr.ToString());
        using (JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json)))
        {
            JsonElement steps = doc.RootElement.GetProperty("steps");
            Assert.Equal(2, steps.GetArrayLength());
            foreach (JsonElement step in steps.EnumerateArray())
            {
                Assert.True(step.GetProperty("ok").GetInt64() > 0);
                Assert.Equal(0, step.GetProperty("errors").GetInt64());
                Assert.True(step.GetProperty("throughput_rps").GetDouble() > 0);
                Assert.True(step.GetProperty("latency_ms").GetProperty("p99").GetDouble() > 0);
            }

            Assert.Equal(4, steps[1].GetProperty("concurrency").GetInt32());
        }

        string[] lines = File.ReadAllLines(csv);
        Assert.Equal(Reports.CsvHeader, lines[0]);
        Assert.Equal(3, lines.Length);
        Assert.Contains("c=4", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("measure", stderr.ToString(), StringComparison.Ordinal);

        string svg = Path.Combine(_dir, "chart.svg");
        rc = await LoadTool.RunAsync(["plot", "--csv", csv, "--csv", csv, "--out", svg, "--title", "echo"], stdout, stderr, CancellationToken.None)
            .WaitAsync(TestTimeout);
        Assert.Equal(0, rc);
        XDocument chart = XDocument.Parse(File.ReadAllText(svg));
        Assert.Equal("svg", chart.Root!.Name.LocalName);
        string text = chart.ToString();
        Assert.Contains("throughput (requests/s)", text, StringComparison.Ordinal);
        Assert.Contains("latency (ms)", text, StringComparison.Ordinal);
        Assert.Contains("echo p99", text, StringComparison.Ordinal);
        Assert.Contains("echo p50", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OpenLoopAgainstEchoServer_RateRoughlyHeld()
    {
        await using EchoServer echo = await EchoServer.StartAsync(0, 256, CancellationToken.None).WaitAsync(TestTimeout);
        string json = Path.Combine(_dir, "open.json");

        int rc = await LoadTool.RunAsync(
            [
                "run", "--target", "raw", "--url", $"http://127.0.0.1:{echo.Port}", "--shape", "1x8", "--mode", "open",
                "--rate", "200", "--arrival", "poisson", "--warmup", "200ms", "--duration", "1s", "--json", json, "--quiet",
            ],
            TextWriter.Null,
            TextWriter.Null,
            CancellationToken.None).WaitAsync(TestTimeout);

        Assert.Equal(0, rc);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement step = doc.RootElement.GetProperty("steps")[0];
        Assert.Equal("open", step.GetProperty("mode").GetString());
        Assert.InRange(step.GetProperty("ok").GetInt64(), 100, 320);
        Assert.True(step.TryGetProperty("send_lag_ms", out _));
    }

    [Theory]
    [InlineData("kserve", "http")]
    [InlineData("predict", "http")]
    [InlineData("kserve", "h2")]
    [InlineData("predict", "h2")]
    public async Task Run_GrpcTargetAgainstEchoServer_Succeeds(string target, string client)
    {
        string models = WriteFraudTestData();
        await using EchoServer echo = await EchoServer.StartAsync(0, 64, CancellationToken.None).WaitAsync(TestTimeout);
        string json = Path.Combine(_dir, target + client + ".json");
        var stderr = new StringWriter();

        int rc = await LoadTool.RunAsync(
            [
                "run", "--target", target, "--client", client, "--url", $"http://127.0.0.1:{echo.Port}", "--models-dir", models,
                "--concurrency", "4", "--warmup", "200ms", "--duration", "1s", "--json", json, "--quiet",
            ],
            TextWriter.Null,
            stderr,
            CancellationToken.None).WaitAsync(TestTimeout);

        Assert.True(rc == 0, stderr.ToString());
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement step = doc.RootElement.GetProperty("steps")[0];
        Assert.True(step.GetProperty("ok").GetInt64() > 0);
        Assert.Equal(0, step.GetProperty("errors").GetInt64());
    }

    [Fact]
    public void PredictRequests_NoFeaturesGiven_RowsNamedByModelConfig()
    {
        string models = WriteFraudTestData();

        var requests = TargetFactory.PredictRequests(new TargetSettings { Model = "fraud", Version = "1", ModelsDirectory = models, Entities = 3 });

        Assert.Equal(8, requests.Count);
        Assert.Equal(0.5, requests[0].Features["amount"]);
        Assert.Equal(1.0, requests[0].Features["hour_of_day"]);
        Assert.Equal(1.5, requests[0].Features["merchant_category"]);
        Assert.Equal("entity-1", requests[4].EntityId);
    }

    [Fact]
    public async Task RawGrpcTarget_NothingListening_Unavailable()
    {
        // A socket bound and never listened on, held for the test: connections to its port are refused, and no other
        // server can take the port (a port learnt from a server started and stopped could be taken by another test's
        // server before the call, the race that failed CI in RemoteVersionTests).
        using var dead = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        dead.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        int port = ((System.Net.IPEndPoint)dead.LocalEndPoint!).Port;

        await using var target = new RawGrpcTarget(new Uri($"http://127.0.0.1:{port}"), TargetSettings.ModelInferPath, [GrpcFrame.Encode([])], 1, TimeSpan.FromSeconds(5));

        RequestOutcome outcome = await target.SendAsync(CancellationToken.None).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(OutcomeCodes.Unavailable, outcome.Status);
    }

    [Fact]
    public async Task Run_NonLoopbackAddress_RefusedWithoutAllowRemote()
    {
        var stderr = new StringWriter();

        int rc = await LoadTool.RunAsync(
            ["run", "--target", "raw", "--url", "http://192.0.2.10:50051", "--shape", "1x4", "--duration", "1s"],
            TextWriter.Null,
            stderr,
            CancellationToken.None).WaitAsync(TestTimeout);

        Assert.Equal(1, rc);
        Assert.Contains("--allow-remote", stderr.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://127.0.0.1:1", true)]
    [InlineData("http://127.0.0.9:1", true)]
    [InlineData("http://[::1]:1", true)]
    [InlineData("http://localhost:1", true)]
    [InlineData("http://10.0.0.1:1", false)]
    [InlineData("http://example.com:1", false)]
    public void IsLoopback_Address_Classified(string url, bool expected) =>
        Assert.Equal(expected, TargetFactory.IsLoopback(new Uri(url)));

    [Fact]
    public async Task Run_UnknownOption_UsageError()
    {
        var stderr = new StringWriter();

        int rc = await LoadTool.RunAsync(["run", "--concurency", "4"], TextWriter.Null, stderr, CancellationToken.None).WaitAsync(TestTimeout);

        Assert.Equal(2, rc);
        Assert.Contains("unknown option --concurency", stderr.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("raw", 12, 0)]
    [InlineData("typed", 0, 3)]
    public async Task Payload_FraudTestData_FramedModelInferRequestWithOneRow(string contents, int rawBytes, int fp32Values)
    {
        string models = WriteFraudTestData();
        string output = Path.Combine(_dir, "payload.bin");

        int rc = await LoadTool.RunAsync(
            ["payload", "--model", "fraud", "--version", "1", "--models-dir", models, "--contents", contents, "--out", output],
            TextWriter.Null,
            TextWriter.Null,
            CancellationToken.None).WaitAsync(TestTimeout);

        Assert.Equal(0, rc);
        byte[] frame = File.ReadAllBytes(output);
        Assert.Equal(0, frame[0]);
        Assert.Equal(frame.Length - 5, (int)BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(1)));
        ModelInferRequest request = ModelInferRequest.Parser.ParseFrom(frame.AsSpan(5));
        Assert.Equal("fraud", request.ModelName);
        Assert.Equal("1", request.ModelVersion);
        ModelInferRequest.Types.InferInputTensor input = Assert.Single(request.Inputs);
        Assert.Equal("features", input.Name);
        Assert.Equal("FP32", input.Datatype);
        Assert.Equal(new long[] { 1, 3 }, input.Shape);
        Assert.Equal(rawBytes, request.RawInputContents.Sum(b => b.Length));
        Assert.Equal(fp32Values, input.Contents?.Fp32Contents.Count ?? 0);
        if (fp32Values > 0)
        {
            Assert.Equal(new[] { 0.5f, 1f, 1.5f }, input.Contents!.Fp32Contents);
        }
        else
        {
            Assert.Equal(1.5f, BinaryPrimitives.ReadSingleLittleEndian(request.RawInputContents[0].Span[8..]));
        }
    }

    [Fact]
    public void InferRequests_TestDataEightRowsTwoPerRequest_FourRequestsInRowOrder()
    {
        string models = WriteFraudTestData();

        List<ModelInferRequest> requests = TargetFactory.InferRequests(new TargetSettings
        {
            Model = "fraud",
            Version = "1",
            ModelsDirectory = models,
            RowsPerRequest = 2,
            Encoding = TensorEncoding.Typed,
        });

        Assert.Equal(4, requests.Count);
        Assert.Equal(new long[] { 2, 3 }, requests[3].Inputs[0].Shape);
        Assert.Equal(new[] { 9.5f, 10f, 10.5f, 11f, 11.5f, 12f }, requests[3].Inputs[0].Contents.Fp32Contents);
    }

    [Fact]
    public void InferRequests_RandomShapeSeeded_Deterministic()
    {
        var settings = new TargetSettings { Model = "bench_mlp", Shape = RequestPayloads.ParseShape("1x512"), Distinct = 3, Seed = 5 };

        List<ModelInferRequest> a = TargetFactory.InferRequests(settings);
        List<ModelInferRequest> b = TargetFactory.InferRequests(settings);

        Assert.Equal(3, a.Count);
        Assert.Equal(a, b);
        Assert.Equal(512 * 4, a[0].RawInputContents[0].Length);
        Assert.NotEqual(a[0], a[1]);
    }

    [Fact]
    public void BuildResponse_TargetSize_SerializedSizeClose()
    {
        foreach (int size in new[] { 64, 200, 1000, 70_000 })
        {
            int actual = EchoServer.BuildResponse(size).CalculateSize();
            Assert.InRange(actual, size - 6, size);
        }
    }

    [Fact]
    public void Render_TwoSeries_ValidSvgWithLegend()
    {
        var a = new PlotSeries("batching-on", [new PlotPoint(100, 1, 2), new PlotPoint(400, 2, 5)]);
        var b = new PlotSeries("batching-off", [new PlotPoint(90, 1.5, 3), new PlotPoint(150, 6, 20)]);

        XDocument doc = XDocument.Parse(SvgPlot.Render([a, b], "bench_mlp <batching>"));

        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(4, doc.Descendants(ns + "path").Count());
        Assert.Contains(doc.Descendants(ns + "text"), t => t.Value == "batching-off p99");
        Assert.Contains(doc.Descendants(ns + "text"), t => t.Value == "bench_mlp <batching>");
    }

    [Theory]
    [InlineData("500ms", 0.5)]
    [InlineData("20s", 20)]
    [InlineData("2m", 120)]
    [InlineData("1.5", 1.5)]
    public void ParseDuration_Units_Seconds(string text, double seconds) =>
        Assert.Equal(seconds, ArgReader.ParseDuration(text, "duration").TotalSeconds, 9);

    private string WriteFraudTestData()
    {
        string models = Path.Combine(_dir, "models");
        string dir = Path.Combine(models, "fraud", "1");
        Directory.CreateDirectory(dir);
        var data = Enumerable.Range(1, 24).Select(i => i * 0.5).ToArray();
        string json = JsonSerializer.Serialize(new
        {
            inputs = new { features = new { shape = new[] { 8, 3 }, data } },
            outputs = new { probabilities = new { shape = new[] { 8, 2 }, data = new double[16] } },
        });
        File.WriteAllText(Path.Combine(dir, "test_data.json"), json);
        File.WriteAllText(
            Path.Combine(models, "fraud", "config.json"),
            """{"name": "fraud", "versions": {"1": {"features": ["amount", "hour_of_day", "merchant_category"]}}}""");
        return models;
    }
}
