using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Models;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Server.Services;
using Microsoft.Extensions.DependencyInjection;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// A gateway whose fraud model waits up to 10 s for company unless 8 requests are queued (the fixed-delay policy: the
/// adaptive default would run them at once), so calls sit in the queue
/// until the test lets them go: there their deadline passes or their client cancels while the handler waits for the
/// batch. Such a failure ends the call asynchronously (the pooled call is the handler's value-task source), unlike
/// refusals at the door.
/// </summary>
public sealed class SlowQueueGatewayFixture() : GatewayFixture(
[
    "--Gateway:Models:fraud:BatchingPolicy=fixed_delay",
    "--Gateway:Models:fraud:MaxQueueDelayMicroseconds=10000000",
    "--Gateway:Models:fraud:PreferredBatchSize:0=8",
]);

public sealed class QueuedFailureTests(SlowQueueGatewayFixture gateway) : IClassFixture<SlowQueueGatewayFixture>
{
    private const int Batch = 8;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ModelInfer_CallsFailingInTheQueue_EndWithTheirStatusAndLeaveEveryOtherAnswerIntact()
    {
        var data = TestData.Load("fraud", "2");
        var width = (int)data.InputShape[1];
        var rowCount = (int)data.InputShape[0];
        var invoker = gateway.Channel.CreateCallInvoker();
        var method = KServeMethods.ModelInfer;
        var version = gateway.App.Services.GetRequiredService<ModelRepository>().Models["fraud"].Versions.Single(v => v.Version == "2");
        using var statuses = new ServerStatuses(gateway.App.Services.GetRequiredService<IMeterFactory>());

        Task<ModelInferResponse> Call(int i, CallOptions options)
        {
            var row = i % rowCount;
            var request = KServeTests.RawRequest("fraud", "2", data.InputName, [1, width], data.Input.AsSpan(row * width, width).ToArray());
            request.Id = "call-" + i;
            return invoker.AsyncUnaryCall(method, null, options, request).ResponseAsync;
        }

        Task<ModelInferResponse> Answered(int i) => Call(i, new CallOptions(deadline: DateTime.UtcNow + Timeout));

        async Task Until(Func<bool> condition, string what)
        {
            var until = DateTime.UtcNow + Timeout;
            while (!condition() && DateTime.UtcNow < until)
            {
                await Task.Delay(10);
            }

            Assert.True(condition(), $"{what}; queued {version.Batcher.QueueDepth}, leases {version.ActiveLeases}, server statuses: {statuses}");
        }

        async Task AssertAnswers(IEnumerable<(int Index, Task<ModelInferResponse> Call)> calls)
        {
            foreach (var (i, call) in calls)
            {
                var response = await call.WaitAsync(Timeout);
                Assert.Equal("call-" + i, response.Id);
                var value = MemoryMarshal.Cast<byte, float>(Assert.Single(response.RawOutputContents).Span)[0];
                var expected = data.Output[i % rowCount];
                Assert.InRange(value, expected - 1e-4f, expected + 1e-4f);
            }
        }

        // A full batch runs at once (and warms the path up).
        await AssertAnswers(Enumerable.Range(0, Batch).Select(i => (i, Answered(i))).ToArray());

        // Seven calls wait in the queue: three with a 3 s deadline, three their client cancels, one to be answered.
        var expired = Enumerable.Range(100, 3).Select(i => Call(i, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(3)))).ToArray();
        using var cancel = new CancellationTokenSource();
        var cancelled = Enumerable.Range(200, 3).Select(i => Call(i, new CallOptions(cancellationToken: cancel.Token))).ToArray();
        var survivor = Answered(300);
        await Until(() => version.Batcher.QueueDepth == 7, "the seven calls did not all reach the queue");
        await cancel.CancelAsync();

        foreach (var call in cancelled)
        {
            Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(Timeout))).StatusCode);
        }

        foreach (var call in expired)
        {
            Assert.Equal(StatusCode.DeadlineExceeded, (await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(Timeout))).StatusCode);
        }

        // The server ended all six in the queue itself (not only their clients giving up), and gave back their leases.
        // The deadline's three counted as such and the cancelled three as cancelled: the server's deadline timer and the
        // call's cancellation at its deadline race, and which wins must not change the status.
        await Until(() => statuses.Count("DeadlineExceeded") == 3 && statuses.Count("Cancelled") == 3 && version.Batcher.QueueDepth == 1 && version.ActiveLeases == 1,
            "the server did not end the six queued calls, three by their deadline and three cancelled");
        Assert.False(survivor.IsCompleted);

        // Seven more fill the batch with the survivor. Calls that failed went back to the pool once: a call given back
        // twice would be handed to two requests at once, and one of them would answer with the other's id or row.
        await AssertAnswers(Enumerable.Range(400, 7).Select(i => (i, Answered(i))).Append((300, survivor)).ToArray());
        for (var round = 0; round < 4; round++)
        {
            await AssertAnswers(Enumerable.Range(1000 + round * Batch, Batch).Select(i => (i, Answered(i))).ToArray());
        }

        Assert.Equal(3, statuses.Count("DeadlineExceeded"));
        Assert.Equal(3, statuses.Count("Cancelled"));
        Assert.Equal(Batch * 6, statuses.Count("OK"));
        Assert.Equal("", Leftovers.Describe(gateway.App.Services.GetRequiredService<ModelRepository>()));
    }

    /// <summary>The gateway's own <c>gateway.requests</c> counter for fraud v2, by status.</summary>
    private sealed class ServerStatuses : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, long> _counts = new();

        public ServerStatuses(IMeterFactory gatewayMeters)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == gatewayMeters && instrument.Name == "gateway.requests")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                string? model = null, version = null, status = null;
                foreach (var tag in tags)
                {
                    switch (tag.Key)
                    {
                        case "model": model = tag.Value as string; break;
                        case "version": version = tag.Value as string; break;
                        case "status": status = tag.Value as string; break;
                    }
                }

                if (model == "fraud" && version == "2" && status is not null)
                {
                    _counts.AddOrUpdate(status, value, (_, total) => total + value);
                }
            });
            _listener.Start();
        }

        public long Count(string status) => _counts.TryGetValue(status, out var count) ? count : 0;

        public override string ToString() => string.Join(", ", _counts.Select(c => $"{c.Key} {c.Value}"));

        public void Dispose() => _listener.Dispose();
    }
}
