using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Tests.Batching;

/// <summary>What the fake runner saw in one batch.</summary>
public sealed record SeenBatch(int Instance, int Rows, int[] RowShape, float[] Inputs);

/// <summary>Output = input * 2 (same row shape); records every batch; optional hook to block or throw.</summary>
public sealed class FakeRunner : IBatchRunner
{
    public FakeRunner(int instance, FakeRunnerLog log)
    {
        Instance = instance;
        Log = log;
    }

    public int Instance { get; }

    public FakeRunnerLog Log { get; }

    public void Run(BatchRun run)
    {
        var inputs = MemoryMarshal.Cast<byte, float>(run.Input(0).Span).ToArray();
        if (inputs.Length > 0 && float.IsNaN(inputs[0]))
        {
            // The harness's peer load (BatcherHarness.HoldPeerInstanceAsync): held until the harness lets it go, and
            // kept out of the log so that tests see only their own batches.
            Log.PeerRunning.Set();
            Log.PeerRelease.Wait(BatcherHarness.Timeout * 6);
            if (!run.IsOutputRowShapeKnown(0))
            {
                run.SetOutputRowShape(0, run.InputRowShape(0));
            }

            return;
        }

        var seen = new SeenBatch(run.Instance, run.Rows, run.InputRowShape(0).ToArray(), inputs);
        Log.Started.Enqueue(seen);
        Log.OnRun?.Invoke(seen);
        if (!run.IsOutputRowShapeKnown(0))
        {
            run.SetOutputRowShape(0, run.InputRowShape(0));
        }

        var output = MemoryMarshal.Cast<byte, float>(run.Output(0).Span);
        for (var i = 0; i < inputs.Length; i++)
        {
            output[i] = inputs[i] * 2;
        }

        Log.Finished.Enqueue(seen);
    }
}

/// <summary>Shared by all instances' runners of one batcher.</summary>
public sealed class FakeRunnerLog
{
    public ConcurrentQueue<SeenBatch> Started { get; } = new();

    public ConcurrentQueue<SeenBatch> Finished { get; } = new();

    public Action<SeenBatch>? OnRun { get; set; }

    /// <summary>Set while a peer-load batch runs (see <see cref="BatcherHarness.HoldPeerInstanceAsync"/>).</summary>
    public ManualResetEventSlim PeerRunning { get; } = new();

    /// <summary>Lets the peer-load batch finish.</summary>
    public ManualResetEventSlim PeerRelease { get; } = new();

    public IEnumerable<float> AllInputs => Started.SelectMany(b => b.Inputs);
}
