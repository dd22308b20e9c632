using Google.Protobuf;
using InferenceGateway.Grpc.Tests.Infrastructure;
using InferenceGateway.Grpc.Tests.Protos;

namespace InferenceGateway.Grpc.Tests;

public sealed class EndToEndTests : IClassFixture<GrpcServerFixture>, IDisposable
{
    private readonly GrpcServerFixture _server;
    private readonly GrpcChannel _channel;
    private readonly CallInvoker _invoker;

    public EndToEndTests(GrpcServerFixture server)
    {
        _server = server;
        _channel = server.CreateChannel();
        _invoker = _channel.CreateCallInvoker();
    }

    public void Dispose() => _channel.Dispose();

    [Fact]
    public async Task Unary_Echo_ReturnsResponseHeadersAndTrailers()
    {
        var headers = new Metadata { { "x-trailer", "abc" } };
        using var call = _invoker.AsyncUnaryCall(TestMethods.Echo, null, new CallOptions(headers), new EchoRequest { Text = "hello" });

        var reply = await call.ResponseAsync.WithTimeout();

        Assert.Equal("hello", reply.Text);
        Assert.Equal("", reply.RequestEncoding);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("abc", call.GetTrailers().GetValue("x-trailer-echo"));
        Assert.NotNull(await call.ResponseHeadersAsync.WithTimeout());
    }

    [Fact]
    public async Task Unary_LargeMessageUnderLimit_RoundTrips()
    {
        // 3 MB is larger than Kestrel's initial HTTP/2 stream window: buffering the whole message must not stall.
        var payload = ByteString.CopyFrom(new byte[3 * 1024 * 1024]);
        var reply = await _invoker.AsyncUnaryCall(TestMethods.Echo, null, default, new EchoRequest { Payload = payload }).ResponseAsync.WithTimeout();
        Assert.Equal(payload.Length, reply.Payload.Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Unary_ValueTaskHandler_CompletesSynchronouslyOrAfterAWait(int yields)
    {
        var headers = new Metadata { { "x-trailer", "vt" } };
        using var ok = _invoker.AsyncUnaryCall(TestMethods.AsyncEcho, null, new CallOptions(headers), new EchoRequest { Text = "hi", Count = yields });
        Assert.Equal("hi", (await ok.ResponseAsync.WithTimeout()).Text);
        Assert.Equal("vt", ok.GetTrailers().GetValue("x-trailer-echo"));

        using var failed = _invoker.AsyncUnaryCall(TestMethods.AsyncEcho, null, default, new EchoRequest { Text = "fail", Count = yields });
        var ex = await Assert.ThrowsAsync<RpcException>(() => failed.ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Equal("asked to fail", ex.Status.Detail);
    }

    [Fact]
    public async Task Unary_PooledCallContexts_CarryNothingIntoTheNextCall()
    {
        // The server reuses call contexts per method. Sequential calls get the same context back; concurrent ones a mix.
        // Every call must see only its own trailers and status, whatever the call before it set.
        static (Metadata? Headers, EchoRequest Request) Shape(int i) =>
            (i % 3 == 0 ? new Metadata { { "x-trailer", "t" + i } } : null,
             new EchoRequest { Text = i % 4 == 1 ? "fail" : "n" + i, Count = i % 2 });

        async Task Check(int i)
        {
            var (headers, request) = Shape(i);
            using var call = _invoker.AsyncUnaryCall(TestMethods.AsyncEcho, null, new CallOptions(headers), request);
            if (request.Text == "fail")
            {
                var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WithTimeout());
                Assert.Equal(StatusCode.FailedPrecondition, ex.StatusCode);
                Assert.Null(ex.Trailers.GetValue("x-trailer-echo"));
                return;
            }

            Assert.Equal(request.Text, (await call.ResponseAsync.WithTimeout()).Text);
            Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
            Assert.Equal(headers is null ? null : "t" + i, call.GetTrailers().GetValue("x-trailer-echo"));
        }

        for (var i = 0; i < 24; i++)
        {
            await Check(i);
        }

        await Task.WhenAll(Enumerable.Range(0, 96).Select(Check)).WithTimeout();
    }

    [Fact]
    public async Task Unary_ManySequentialAndConcurrentCalls_AllSucceed()
    {
        var tasks = new List<Task<EchoReply>>();
        for (var i = 0; i < 50; i++)
        {
            tasks.Add(_invoker.AsyncUnaryCall(TestMethods.Echo, null, default, new EchoRequest { Text = "n" + i }).ResponseAsync);
        }

        var replies = await Task.WhenAll(tasks).WithTimeout();
        for (var i = 0; i < replies.Length; i++)
        {
            Assert.Equal("n" + i, replies[i].Text);
        }
    }

    [Fact]
    public async Task ServerStreaming_CountMessages_ReceivesAllInOrder()
    {
        using var call = _invoker.AsyncServerStreamingCall(TestMethods.ServerStream, null, default, new EchoRequest { Text = "s", Count = 5 });
        var indexes = new List<int>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout())
        {
            indexes.Add(call.ResponseStream.Current.Index);
        }

        Assert.Equal([0, 1, 2, 3, 4], indexes);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task ServerStreaming_ZeroMessages_EndsWithOk()
    {
        using var call = _invoker.AsyncServerStreamingCall(TestMethods.ServerStream, null, default, new EchoRequest { Count = 0 });
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task ClientStreaming_ThreeMessages_ServerSeesAll()
    {
        using var call = _invoker.AsyncClientStreamingCall(TestMethods.ClientStream, null, default);
        foreach (var text in new[] { "a", "b", "c" })
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Text = text }).WithTimeout();
        }

        await call.RequestStream.CompleteAsync().WithTimeout();
        var reply = await call.ResponseAsync.WithTimeout();

        Assert.Equal("abc", reply.Text);
        Assert.Equal(3, reply.Index);
    }

    [Fact]
    public async Task Duplex_PingPong_EachRequestAnsweredBeforeNextIsSent()
    {
        using var call = _invoker.AsyncDuplexStreamingCall(TestMethods.Duplex, null, default);
        for (var i = 0; i < 3; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Text = "m" + i }).WithTimeout();
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
            Assert.Equal("M" + i, call.ResponseStream.Current.Text);
            Assert.Equal(i, call.ResponseStream.Current.Index);
        }

        await call.RequestStream.CompleteAsync().WithTimeout();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None).WithTimeout());
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Unary_RequestCompressedWithGzip_ServerSeesGrpcEncodingAndDecompresses()
    {
        var headers = new Metadata { { "grpc-internal-encoding-request", "gzip" } };
        var payload = ByteString.CopyFrom(new byte[100_000]);
        var reply = await _invoker.AsyncUnaryCall(TestMethods.Echo, null, new CallOptions(headers), new EchoRequest { Text = "z", Payload = payload })
            .ResponseAsync.WithTimeout();

        Assert.Equal("gzip", reply.RequestEncoding);
        Assert.Equal(payload, reply.Payload);
    }

    [Fact]
    public async Task ClientStreaming_RequestCompressedWithGzip_ServerDecompressesEachMessage()
    {
        var headers = new Metadata { { "grpc-internal-encoding-request", "gzip" } };
        using var call = _invoker.AsyncClientStreamingCall(TestMethods.ClientStream, null, new CallOptions(headers));
        await call.RequestStream.WriteAsync(new EchoRequest { Text = "x" }).WithTimeout();
        await call.RequestStream.WriteAsync(new EchoRequest { Text = "y" }).WithTimeout();
        await call.RequestStream.CompleteAsync();
        var reply = await call.ResponseAsync.WithTimeout();
        Assert.Equal("xy", reply.Text);
        Assert.Equal("gzip", reply.RequestEncoding);
    }

    [Fact]
    public async Task Unary_DeadlineExpiresInHandler_DeadlineExceededAndHandlerTokenFires()
    {
        var key = "deadline-" + Guid.NewGuid();
        // Long enough for the handler to start on a busy host (a fresh-clone run once took over 300 ms to get there,
        // so the call expired before the handler ran), short enough to end well inside the test's timeout.
        var call = _invoker.AsyncUnaryCall(TestMethods.Wait, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(2)), new EchoRequest { Text = key });

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);

        var deadline = await _server.State.Started(key).Task.WithTimeout();
        Assert.NotEqual(DateTime.MaxValue, deadline);
        await _server.State.TokenFired(key).Task.WithTimeout();
    }

    [Fact]
    public async Task Unary_DeadlineAlreadyPassed_FailsWithoutSending()
    {
        var call = _invoker.AsyncUnaryCall(TestMethods.Echo, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(-1)), new EchoRequest());
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
    }

    [Fact]
    public async Task Unary_ClientCancels_ServerTokenFiresAndClientSeesCancelled()
    {
        var key = "cancel-" + Guid.NewGuid();
        using var cts = new CancellationTokenSource();
        var call = _invoker.AsyncUnaryCall(TestMethods.Wait, null, new CallOptions(cancellationToken: cts.Token), new EchoRequest { Text = key });

        await _server.State.Started(key).Task.WithTimeout();
        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await _server.State.TokenFired(key).Task.WithTimeout();
    }

    [Fact]
    public async Task ServerStreaming_DisposedMidStream_ServerTokenFires()
    {
        var key = "dispose-" + Guid.NewGuid();
        var call = _invoker.AsyncUnaryCall(TestMethods.Wait, null, default, new EchoRequest { Text = key });
        await _server.State.Started(key).Task.WithTimeout();

        call.Dispose();

        await _server.State.TokenFired(key).Task.WithTimeout();
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
    }

    [Fact]
    public async Task Unary_RequestOverMaxReceiveSize_ResourceExhausted()
    {
        var payload = ByteString.CopyFrom(new byte[(4 * 1024 * 1024) + 1]);
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            _invoker.AsyncUnaryCall(TestMethods.Echo, null, default, new EchoRequest { Payload = payload }).ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Contains("maximum configured message size", ex.Status.Detail);
    }

    [Fact]
    public async Task Unary_ResponseOverClientMaxReceiveSize_ResourceExhausted()
    {
        using var channel = _server.CreateChannel(new GrpcChannelOptions { MaxReceiveMessageSize = 1024 });
        var payload = ByteString.CopyFrom(new byte[4096]);
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            channel.CreateCallInvoker().AsyncUnaryCall(TestMethods.Echo, null, default, new EchoRequest { Payload = payload }).ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Fact]
    public async Task Unary_UnknownMethod_Unimplemented()
    {
        var method = new Method<EchoRequest, EchoReply>(MethodType.Unary, TestMethods.ServiceName, "Missing",
            TestMethods.Echo.RequestMarshaller, TestMethods.Echo.ResponseMarshaller);
        var ex = await Assert.ThrowsAsync<RpcException>(() => _invoker.AsyncUnaryCall(method, null, default, new EchoRequest()).ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
        Assert.Equal("Method is unimplemented.", ex.Status.Detail);
    }

    [Fact]
    public async Task Unary_UnknownService_Unimplemented()
    {
        var method = new Method<EchoRequest, EchoReply>(MethodType.Unary, "nope.v1.Nothing", "Call",
            TestMethods.Echo.RequestMarshaller, TestMethods.Echo.ResponseMarshaller);
        var ex = await Assert.ThrowsAsync<RpcException>(() => _invoker.AsyncUnaryCall(method, null, default, new EchoRequest()).ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
        Assert.Equal("Service is unimplemented.", ex.Status.Detail);
    }

    [Fact]
    public async Task Unary_HandlerThrowsRpcException_StatusDetailAndTrailersReachClient()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            _invoker.AsyncUnaryCall(TestMethods.Throw, null, default, new EchoRequest { Text = "rpc" }).ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("Text is invalid: ünïcode 100%", ex.Status.Detail);
        Assert.Equal("bad-text", ex.Trailers.GetValue("x-reason"));
    }

    [Fact]
    public async Task Unary_HandlerThrowsOtherException_UnknownWithoutDetailsOrStackTrace()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            _invoker.AsyncUnaryCall(TestMethods.Throw, null, default, new EchoRequest { Text = "boom" }).ResponseAsync.WithTimeout());
        Assert.Equal(StatusCode.Unknown, ex.StatusCode);
        Assert.Equal("Exception was thrown by handler.", ex.Status.Detail);
        Assert.DoesNotContain("secret", ex.Status.Detail);
        Assert.DoesNotContain(" at ", ex.Status.Detail);
    }
}
