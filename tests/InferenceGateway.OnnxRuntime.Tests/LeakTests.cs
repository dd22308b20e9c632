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
/// this machine: leaking (never disposing) 1,000 sessions of affine.onnx grows RSS by ~68 MB, while creating and
/// disposing them grows it by ~6 MB (allocator caches, glibc arenas). Each bound sits well between the two.
/// </summary>
[Collection(LeakCollection.Name)]
public class LeakTests(ITestOutputHelper output)
{
    private const long MB = 1024 * 1024;

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

        // A leaked session costs ~68 KB here (graph, kernels, thread-pool state): 1,000 leaks ~ 68 MB. 25 MB leaves
        // 4x headroom over the ~6 MB a clean loop shows, and still fails if more than about a third of sessions leak.
        Assert.True(growth < 25 * MB, $"RSS grew by {growth / (double)MB:F1} MB over 1,000 create/dispose cycles.");
    }

    [Fact]
    public void CreateDispose_ThousandsOfTensors_RssAndPinsDoNotGrow()
    {
        using var session = TestModels.Open("affine.onnx");
        var input = new float[] { 1, 1, 1, 1, 0, -1 };
        var strings = new string[64];
        for (var i = 0; i < strings.Length; i++)
        {
            strings[i] = new string((char)('a' + (i % 26)), 1024);
        }

        void Cycle()
        {
            // 64 KiB written through ORT's allocator: a leaked OrtValue keeps it resident (touched pages).
            using (var allocated = OrtTensor.Allocate(TensorElementType.Float, [16384]))
            {
                allocated.GetTensorMutableData<float>().Fill(1f);
            }

            // A pin over managed memory: a leaked pin shows up as a pinned object after a GC.
            using (var pinned = OrtTensor.CreateOver(input.AsMemory(), [2, 3]))
            {
                // An ORT-allocated output from Run.
                using var y = session.Run([pinned])[0];
            }

            // 64 KiB of strings copied into ORT's allocator.
            using (OrtTensor.CreateStrings(strings, [strings.Length]))
            {
            }
        }

        for (var i = 0; i < 100; i++)
        {
            Cycle();
        }

        var rssBefore = SettledRss();
        var pinsBefore = GC.GetGCMemoryInfo().PinnedObjectsCount;
        for (var i = 0; i < 2000; i++)
        {
            Cycle();
        }

        var growth = SettledRss() - rssBefore;
        var pinsAfter = GC.GetGCMemoryInfo().PinnedObjectsCount;
        output.WriteLine($"RSS growth over 2,000 cycles (8,000 tensors): {growth / (double)MB:F1} MB; pinned objects {pinsBefore} -> {pinsAfter}");

        // Leaking either 64 KiB buffer would add 2,000 x 64 KiB = 125 MB; 20 MB catches a leak in one cycle of six.
        Assert.True(growth < 20 * MB, $"RSS grew by {growth / (double)MB:F1} MB over 2,000 tensor cycles.");
        // Unreleased pins would add up to 2,000; allow a little slack for pins held by the runtime/test host.
        Assert.True(pinsAfter <= pinsBefore + 10, $"Pinned objects grew from {pinsBefore} to {pinsAfter}.");
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
