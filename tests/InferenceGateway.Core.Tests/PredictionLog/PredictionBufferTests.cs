using InferenceGateway.Core.PredictionLog;

namespace InferenceGateway.Core.Tests.PredictionLog;

/// <summary>The buffer's memory: what a cell keeps between records, and the pool that large values borrow from.</summary>
public sealed class PredictionBufferTests
{
    private const int Wide = 512; // bench_mlp's input: 512 values per row

    private static PredictionEntry Entry(float[] features, bool[] defaulted, float[] outputs) => new()
    {
        RequestId = "r", Model = "m", Version = "1", Features = features, Defaulted = defaulted, Outputs = outputs,
    };

    private static void Drain(PredictionBuffer buffer)
    {
        var batch = new PredictionRecord[buffer.Capacity];
        var count = buffer.Peek(0, batch);
        buffer.Release(count);
    }

    [Fact]
    public void Release_WideRecordsInEveryCell_CellsKeepNoWideArraysAndThePoolStaysWithinItsBudget()
    {
        const long poolBytes = 64 * 1024;
        var buffer = new PredictionBuffer(1024, maxValues: 4096, poolBytes: poolBytes);
        var wide = Entry(new float[Wide], new bool[Wide], [0.5f]);
        for (var lap = 0; lap < 3; lap++)
        {
            for (var i = 0; i < buffer.Capacity; i++)
            {
                Assert.True(buffer.TryWrite(wide, 1, 4096, out _));
            }

            // While buffered, the records hold their values: 1,024 x (512 x 4 + 512) bytes.
            Assert.True(buffer.ValueBytes >= buffer.Capacity * (Wide * 5L));
            Drain(buffer);
        }

        // Released: each cell keeps its one-value output array (4 bytes), the pool at most its budget. A cell that kept
        // its largest record's arrays would hold 2.6 MB here, and capacity x 20 KB at the default cap.
        Assert.InRange(buffer.ValueBytes, 0, poolBytes + (buffer.Capacity * 4L));
    }

    [Fact]
    public void TryWrite_WideThenNarrowRecordInTheSameCell_EachReadsBackItsOwnValues()
    {
        var buffer = new PredictionBuffer(2, maxValues: 4096);
        var batch = new PredictionRecord[2];
        var wideValues = Enumerable.Range(0, Wide).Select(i => (float)i).ToArray();
        var wideFlags = Enumerable.Range(0, Wide).Select(i => i % 3 == 0).ToArray();
        for (var lap = 0; lap < 3; lap++)
        {
            Assert.True(buffer.TryWrite(Entry(wideValues, wideFlags, [1f, 2f]), 1, 4096, out _));
            Assert.True(buffer.TryWrite(Entry([7f, 8f, 9f], [true, false, true], [3f]), 1, 4096, out _));
            Assert.Equal(2, buffer.Peek(0, batch));
            Assert.Equal(wideValues, batch[0].Features.ToArray());
            Assert.Equal(wideFlags, batch[0].Defaulted.ToArray());
            Assert.Equal([1f, 2f], batch[0].Outputs.ToArray());
            Assert.Equal([7f, 8f, 9f], batch[1].Features.ToArray());
            Assert.Equal([true, false, true], batch[1].Defaulted.ToArray());
            Assert.Equal([3f], batch[1].Outputs.ToArray());
            buffer.Release(2);

            // The cells swap sizes on the next lap: a pooled wide array must not show through a narrow record.
            (wideValues, wideFlags) = (wideValues.Reverse().ToArray(), wideFlags.Reverse().ToArray());
        }
    }

    [Fact]
    public void TryWrite_WideRecordsInSteadyState_AllocateNothing()
    {
        var buffer = new PredictionBuffer(256, maxValues: 4096);
        var batch = new PredictionRecord[256];
        var (values, flags) = (new float[Wide], new bool[Wide]);
        void Lap()
        {
            for (var i = 0; i < 200; i++)
            {
                buffer.TryWrite(Entry(values, flags, values), 1, 4096, out _);
            }

            buffer.Release(buffer.Peek(0, batch));
        }

        Lap(); // the pool and every cell reach their steady size
        Lap();
        var before = GC.GetAllocatedBytesForCurrentThread();
        Lap();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"{allocated} bytes allocated by 200 wide records written and released");
    }
}
