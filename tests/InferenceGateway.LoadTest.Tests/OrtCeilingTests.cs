using System.Text.Json;
using InferenceGateway.LoadTest.Cli;

namespace InferenceGateway.LoadTest.Tests;

/// <summary><c>ig-load ort</c> against the real ONNX Runtime library and the bundled bench_mlp model.</summary>
public sealed class OrtCeilingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ig-load-ort-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    public async Task Ort_BenchMlp_RunsWholeBatchesAndWritesJson(int parallel, int intraOpThreads)
    {
        string json = Path.Combine(_dir, "ort.json");
        var stdout = new StringWriter();

        int rc = await LoadTool.RunAsync(
            ["ort", "--model-file", BenchMlpPath(), "--batch", "4", "--parallel", $"{parallel}", "--intra-op-threads", $"{intraOpThreads}",
             "--warmup", "0s", "--duration", "300ms", "--json", json],
            stdout, TextWriter.Null, CancellationToken.None);

        Assert.Equal(0, rc);
        Assert.Contains($"bench_mlp batch 4 x{parallel}:", stdout.ToString(), StringComparison.Ordinal);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(json));
        JsonElement root = doc.RootElement;
        Assert.Equal("bench_mlp", root.GetProperty("model").GetString());
        Assert.Equal(4, root.GetProperty("batch_size").GetInt32());
        Assert.Equal(parallel, root.GetProperty("parallel").GetInt32());
        long runs = root.GetProperty("runs").GetInt64();
        double seconds = root.GetProperty("seconds").GetDouble();
        Assert.True(runs >= parallel, "every session should complete at least one run");
        Assert.InRange(seconds, 0.3, 30);
        Assert.Equal(runs * 4 / seconds, root.GetProperty("rows_per_s").GetDouble(), 6);
    }

    [Fact]
    public async Task Ort_MissingModel_ExitCodeOneWithPath()
    {
        var stderr = new StringWriter();

        int rc = await LoadTool.RunAsync(["ort", "--model-file", Path.Combine(_dir, "absent.onnx")], TextWriter.Null, stderr, CancellationToken.None);

        Assert.Equal(1, rc);
        Assert.Contains("absent.onnx", stderr.ToString(), StringComparison.Ordinal);
    }

    private static string BenchMlpPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "models", "bench_mlp", "1", "model.onnx");
            if (File.Exists(Path.Combine(dir.FullName, "InferenceGateway.sln")))
            {
                return File.Exists(candidate) ? candidate
                    : throw new FileNotFoundException("models/bench_mlp/1/model.onnx is missing; run `make models`", candidate);
            }
        }

        throw new InvalidOperationException($"No InferenceGateway.sln above {AppContext.BaseDirectory}.");
    }
}
