using Xunit.Abstractions;

namespace InferenceGateway.OnnxRuntime.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LeakCollection
{
    // RSS is process-wide: these tests run alone so other tests' allocations do not show up in the measurements.
    public const string Name = "Leak (runs alone)";
}

/// <summary>
/// Create/dispose loops measured by process RSS (/proc/self/status VmRSS) after a warm-up. Bounds were calibrated on
/// this machine with ONNX Runtime 1.32 (the official package): leaking (never disposing) 1,000 sessions of affine.onnx
/// grows RSS by ~78 MB, while creating and disposing them grows it by 1-7 MB (allocator caches, glibc arenas).
/// Each bound sits well between the two.
/// </summary>
[Collection(LeakCollection.Name)]
public class LeakTests(ITestOutputHelper output)
{
    private const long MB = 1024 * 1024;

    // Calibrated here: disposing, RSS settles ~19 MB up whatever the count (10k: 12 MB, 40k: 19 MB, 80k: 20 MB: heap
    // and allocator growth); leaking each runner's IoBinding, OrtValues and RunOptions grows it ~2.4 KB per cycle
    // (20k: 49 MB), so 40k leaked cycles would add ~95 MB.
    private const int RunnerCycles = 40_000;
    private const long RunnerBound = 50 * MB;

    [Fact]
    public void CreateDispose_1000Sessions_RssGrowthUnder25MB()
    {
        for (var i = 0; i < 50; i++)
        {
            TestModels.Open("affine.onnx").Dispose();
        }

        var before = SettledRss();
        for (var i = 0; i < 1000; i++)
        {
            TestModels.Open("affine.onnx").Dispose();
        }

        var growth = SettledRss() - before;
        output.WriteLine($"RSS growth over 1,000 sessions: {growth / (double)MB:F1} MB");

        // A leaked session costs ~78 KB here (graph, kernels, thread-pool state): 1,000 leaks ~ 78 MB. 25 MB leaves
        // over 3x headroom over the 1-7 MB a clean loop shows, and still fails if about a third of sessions leak.
        Assert.True(growth < 25 * MB, $"RSS grew by {growth / (double)MB:F1} MB over 1,000 create/dispose cycles.");
    }

    [Fact]
    public async Task CreateRunDispose_ThousandsOfRunners_RssDoesNotGrow()
    {
        // Each cycle makes what a runner owns (RunOptions, an IoBinding, OrtValues over the batcher's buffers) and
        // disposes it; only the session and the batcher's buffers are shared.
        using var model = TestModels.Load("affine.onnx", maxBatchSize: 64);
        await using var harness = new RunnerHarness(model, [new("x", sizeof(float), [3])], [new("y", sizeof(float), [2])], maxBatchSize: 64);
        Assert.True((await harness.InferAsync(64, new float[64 * 3], new float[64 * 2])).IsSuccess);
        var run = harness.LastRun();
        using var session = TestModels.Open("affine.onnx");

        void Cycle()
        {
            using var runner = new OnnxBatchRunner(session, harness.Inputs, harness.Outputs, hasBatchDimension: true);
            runner.Run(run);
        }

        for (var i = 0; i < 200; i++)
        {
            Cycle();
        }

        var before = SettledRss();
        for (var i = 0; i < RunnerCycles; i++)
        {
            Cycle();
        }

        var growth = SettledRss() - before;
        output.WriteLine($"RSS growth over {RunnerCycles:N0} runner cycles: {growth / (double)MB:F1} MB");
        Assert.True(growth < RunnerBound, $"RSS grew by {growth / (double)MB:F1} MB over {RunnerCycles:N0} runner cycles.");
    }

    private static long SettledRss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                // "VmRSS:    123456 kB"
                return long.Parse(line["VmRSS:".Length..^"kB".Length].Trim(), System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException("VmRSS not found in /proc/self/status.");
    }
}
