using Google.Protobuf;
using Grpc.Core;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Models;
using InferenceGateway.Grpc.Tests.Infrastructure;
using InferenceGateway.Server.Services;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// A gateway over a scratch repository with one model per documented status, so each test's counters are its own:
/// <c>held</c> (a 1-request queue whose request waits 10 s for company), <c>slow</c> (the same wait, room for more),
/// <c>lookup</c> (fails inside ONNX Runtime for an index outside its table) and <c>draining</c>.
/// </summary>
public sealed class StatusGatewayFixture : ScratchGateway
{
    private const string TenSecondWait = """{ "policy": "fixed_delay", "max_queue_delay_microseconds": 10000000, "max_queue_size": {0} }""";

    protected override void Populate(ScratchRepository repository)
    {
        foreach (var (name, queue) in new[] { ("held", 1), ("slow", 16) })
        {
            repository.WriteConfig(name, 8, ("x", "FP32", 4), ("y", "FP32", 4), TenSecondWait.Replace("{0}", queue.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
            repository.PlaceModel(name, "1", "scale2.onnx");
        }

        repository.WriteConfig("lookup", 8, ("index", "INT64", 1), ("y", "FP32", 1));
        repository.PlaceModel("lookup", "1", "lookup.onnx");
        repository.WriteConfig("draining", 8, ("x", "FP32", 4), ("y", "FP32", 4));
        repository.PlaceModel("draining", "1", "scale2.onnx");
    }
}

/// <summary>Every status the README documents for ModelInfer, produced by a real gateway and counted by it exactly.</summary>
public sealed class StatusTests(StatusGatewayFixture fixture) : IClassFixture<StatusGatewayFixture>
{
    private static readonly TimeSpan Timeout = TestGateway.Timeout;

    private TestGateway Gateway => fixture.Gateway;

    private ModelVersion Version(string model) => Gateway.Repository.Models[model].Versions.Single();

    private Task<ModelInferResponse> CallAsync(ModelInferRequest request, CallOptions options) =>
        Gateway.Channel.CreateCallInvoker().AsyncUnaryCall(KServeMethods.ModelInfer, null, options, request).ResponseAsync;

    private static CallOptions WithDeadline() => new(deadline: DateTime.UtcNow + Timeout);

    [Fact]
    public async Task ModelInfer_QueueFull_ResourceExhaustedAtOnceAndCounted()
    {
        using var cancel = new CancellationTokenSource();
        var first = CallAsync(KServeTests.RawRequest("held", "1", "x", [1, 4], [1, 2, 3, 4]), new CallOptions(cancellationToken: cancel.Token));
        await TestGateway.UntilAsync(() => Version("held").Batcher.QueueDepth == 1, "the first call never reached the queue");

        var ex = await Assert.ThrowsAsync<RpcException>(() => CallAsync(KServeTests.RawRequest("held", "1", "x", [1, 4], [5, 6, 7, 8]), WithDeadline()).WaitAsync(Timeout));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Equal("held:1: batcher queue is full", ex.Status.Detail);
        Assert.False(first.IsCompleted);
        await cancel.CancelAsync();
        Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => first.WaitAsync(Timeout))).StatusCode);

        var scrape = await Metrics.UntilAsync(Gateway, s => s.Requests("held", "1", "Cancelled"), 1, "the cancelled call");
        Assert.Equal(1, scrape.Requests("held", "1", "ResourceExhausted"));
        Assert.Equal(1, scrape.Counter("gateway_batcher_rejections_total", ("model", "held"), ("reason", "queue_full"), ("version", "1")));
        Assert.Equal(0, scrape.Requests("held", "1", "OK"));
        Assert.Equal(0, Version("held").ActiveLeases);
    }

    [Fact]
    public async Task ModelInfer_DeadlinePassesWhileQueued_DeadlineExceededOnTheWireAndEveryServerCounterSaysSo()
    {
        var before = await Gateway.ScrapeAsync();

        // Raw HTTP/2 with a grpc-timeout header and no timer on the client (HttpClient's own is off, the request carries no
        // token): only the server can end this call, and it must do so when the deadline passes in the queue (the model
        // waits 10 s for company).
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Gateway.GrpcPort}"), Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        var body = RawGrpc.Frame(KServeTests.RawRequest("slow", "1", "x", [1, 4], [1, 2, 3, 4]).ToByteArray());
        using var response = await RawGrpc.PostAsync(http, Metrics.ModelInferMethod, body, timeout: "300m").WaitAsync(Timeout);
        await response.Content.ReadAsByteArrayAsync().WaitAsync(Timeout);

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("4", RawGrpc.GrpcStatus(response));
        var scrape = await Metrics.UntilAsync(Gateway, s => s.ModelInferCalls("DeadlineExceeded") - before.ModelInferCalls("DeadlineExceeded"), 1, "the transport's count");
        scrape = await Metrics.UntilAsync(Gateway, s => s.Requests("slow", "1", "DeadlineExceeded"), 1, "the executor's count");
        Assert.Equal(1, scrape.BatcherOutcome("slow", "1", "deadline_exceeded"));
        Assert.Equal(0, scrape.BatcherOutcome("slow", "1", "cancelled"));
        Assert.Equal(0, scrape.Requests("slow", "1", "Cancelled"));
        Assert.Equal(0, scrape.ModelInferCalls("Cancelled") - before.ModelInferCalls("Cancelled"));
        Assert.Equal(0, Version("slow").Batcher.QueueDepth);
        Assert.Equal(0, Version("slow").ActiveLeases);
    }

    [Fact]
    public async Task ModelInfer_OrtFailsAtRunTime_InternalWithOrtsMessageAndTheNextBatchRuns()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => CallAsync(Lookup(7), WithDeadline()).WaitAsync(Timeout));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
        Assert.StartsWith("lookup:1: ", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("Gather", ex.Status.Detail, StringComparison.Ordinal); // ONNX Runtime's own words
        Assert.Contains("idx=7", ex.Status.Detail, StringComparison.Ordinal);

        var response = await CallAsync(Lookup(2), WithDeadline()).WaitAsync(Timeout);
        Assert.Equal(30f, BitConverter.ToSingle(response.RawOutputContents[0].Span));

        var scrape = await Metrics.UntilAsync(Gateway, s => s.Requests("lookup", "1", "OK"), 1, "the call after the failure");
        Assert.Equal(1, scrape.Requests("lookup", "1", "Internal"));
        Assert.Equal(1, scrape.BatcherOutcome("lookup", "1", "execution_failed"));
    }

    [Fact]
    public async Task ModelInfer_VersionDrainingAtLookup_UnavailableAskingToRetry()
    {
        // A version is drained once its replacement is published, so a lookup finds a draining version only in the
        // moment between the two; the gateway then looks up once more, and answers UNAVAILABLE if that finds a draining
        // version too. Holding the drain open (without publishing a successor) holds that moment open.
        var before = await Gateway.ScrapeAsync();
        _ = Version("draining").BeginDrain();

        var ex = await Assert.ThrowsAsync<RpcException>(() => CallAsync(KServeTests.RawRequest("draining", "1", "x", [1, 4], [1, 2, 3, 4]), WithDeadline()).WaitAsync(Timeout));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Equal("model 'draining' is being reloaded; retry", ex.Status.Detail);
        await Metrics.UntilAsync(Gateway, s => s.ModelInferCalls("Unavailable") - before.ModelInferCalls("Unavailable"), 1, "the transport's count");
    }

    private static ModelInferRequest Lookup(long index)
    {
        var request = new ModelInferRequest { ModelName = "lookup", ModelVersion = "1" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "index", Datatype = "INT64" };
        input.Shape.AddRange([1, 1]);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(BitConverter.GetBytes(index)));
        return request;
    }
}
