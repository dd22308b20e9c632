using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Server.Services;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// Overload bounded in time (<c>max_queue_time_microseconds</c>): many callers on several connections keep far more
/// work queued than a small queue-time bound lets in, on a model whose compute (not the transport) is the limit. The
/// surplus is refused at once with RESOURCE_EXHAUSTED, every admitted call is answered correctly, the counts agree, and
/// the model serves again as soon as the load stops. No timing is asserted: the wait the bound keeps is in
/// <c>perf/overload.sh</c>'s figures (perf/results/overload/overload.md).
/// </summary>
public sealed class OverloadTests : ScratchGateway
{
    private const int Rows = 16;
    private const int Width = 128;

    protected override void Populate(ScratchRepository repository)
    {
        // Each call is a whole batch of ~2 M multiply-adds a row: 24 callers keep up to 23 batches queued, far more than
        // the 2 ms bound lets in. A 4096-request queue would take them all.
        repository.WriteConfig("heavy", Rows, ("x", "FP32", Width), ("y", "FP32", Width), """{ "max_queue_size": 4096, "max_queue_time_microseconds": 2000 }""");
        repository.PlaceModel("heavy", "1", "heavy_identity.onnx");
    }

    [Fact]
    public async Task ModelInfer_ClosedLoopFarOverTheQueueTimeBound_SurplusRefusedAtOnceAdmittedAnsweredAndRecovers()
    {
        const int Connections = 4;
        const int Callers = 24;
        const int CallsEach = 12;
        var channels = Enumerable.Range(0, Connections).Select(_ => GrpcChannel.ForAddress($"http://127.0.0.1:{Gateway.GrpcPort}")).ToArray();
        var refusals = new ConcurrentQueue<string>();
        var unexpected = new ConcurrentQueue<string>();
        var ok = 0;
        try
        {
            var callers = Enumerable.Range(0, Callers).Select(c => Task.Run(async () =>
            {
                var invoker = channels[c % Connections].CreateCallInvoker();
                for (var i = 0; i < CallsEach; i++)
                {
                    var x = Input((c * CallsEach) + i);
                    try
                    {
                        var response = await invoker.AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow.AddMinutes(1)),
                            KServeTests.RawRequest("heavy", "1", "x", [Rows, Width], x)).ResponseAsync;
                        var y = MemoryMarshal.Cast<byte, float>(response.RawOutputContents[0].Span).ToArray();
                        if (!y.AsSpan().SequenceEqual(x))
                        {
                            unexpected.Enqueue($"call {(c * CallsEach) + i}: an answer that is not its input");
                        }

                        Interlocked.Increment(ref ok);
                    }
                    catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
                    {
                        refusals.Enqueue(ex.Status.Detail);
                    }
                    catch (RpcException ex)
                    {
                        unexpected.Enqueue($"{ex.StatusCode}: {ex.Status.Detail}");
                    }
                }
            })).ToArray();
            await Task.WhenAll(callers).WaitAsync(TimeSpan.FromMinutes(3));
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }

        Assert.True(unexpected.IsEmpty, string.Join("; ", unexpected.Take(10)));
        Assert.Equal(Callers * CallsEach, ok + refusals.Count);
        Assert.True(ok > 0, "nothing was admitted");
        Assert.False(refusals.IsEmpty, "nothing was refused: the bound did not act");
        Assert.All(refusals, detail => Assert.StartsWith("heavy:1: overloaded:", detail, StringComparison.Ordinal));

        // The gateway's own counts: each refusal once, by the executor and the batcher, and nothing else failed.
        var scrape = await Metrics.UntilAsync(Gateway, s => s.Requests("heavy", "1", "OK"), ok, "admitted calls counted OK");
        Assert.Equal(refusals.Count, scrape.Requests("heavy", "1", "ResourceExhausted"));
        Assert.Equal(refusals.Count, scrape.BatcherOutcome("heavy", "1", "overloaded"));
        Assert.Equal(0, scrape.BatcherOutcome("heavy", "1", "queue_full"));

        // Recovered at once: the queue is empty and the next call is admitted.
        var version = Gateway.Repository.Models["heavy"].Versions.Single();
        await TestGateway.UntilAsync(() => version.Batcher.QueueDepth == 0 && version.ActiveLeases == 0, "the queue did not drain");
        var after = Input(1_000_000);
        var answer = await Gateway.Channel.CreateCallInvoker().AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow.AddMinutes(1)),
            KServeTests.RawRequest("heavy", "1", "x", [Rows, Width], after)).ResponseAsync.WaitAsync(TestGateway.Timeout);
        Assert.Equal(after, MemoryMarshal.Cast<byte, float>(answer.RawOutputContents[0].Span).ToArray());
    }

    private static float[] Input(int call)
    {
        var x = new float[Rows * Width];
        for (var k = 0; k < x.Length; k++)
        {
            x[k] = (call % 1000) + (k / 4096f);
        }

        return x;
    }
}
