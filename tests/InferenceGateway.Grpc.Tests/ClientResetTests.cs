using System.IO.Pipelines;
using InferenceGateway.Grpc.Tests.Infrastructure;
using InferenceGateway.Grpc.Tests.Protos;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace InferenceGateway.Grpc.Tests;

/// <summary>
/// When a client resets a stream (RST_STREAM), Kestrel fails the request body's ReadAsync or AdvanceTo with an
/// IOException, and cancels RequestAborted a moment later on the thread pool. For a unary request, whose body the
/// gateway receives before Grpc.AspNetCore's handler runs (GrpcCallMiddleware), a body read that fails that way is the
/// client's cancellation (CANCELLED), not a handler error (UNKNOWN, logged at Error): seen with python3-grpcio
/// cancelling calls behind a queue. The fixture swaps in a body reader that fails like Kestrel does, on request,
/// while the stream itself stays open, so the status the server chose reaches the client.
/// </summary>
public sealed class ClientResetTests(ResettingBodyGrpcServerFixture server) : IClassFixture<ResettingBodyGrpcServerFixture>
{
    [Theory]
    [InlineData("read")]
    [InlineData("advance")]
    public async Task Unary_BodyReadFailsAsOnClientReset_Cancelled(string failure)
    {
        using var channel = server.CreateChannel();
        var headers = new Metadata { { ResettingBodyGrpcServerFixture.FailHeader, failure } };
        var ex = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker()
            .AsyncUnaryCall(TestMethods.Echo, null, new CallOptions(headers), new EchoRequest { Text = "x" }).ResponseAsync.WithTimeout());

        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        Assert.Equal("The client reset the request stream.", ex.Status.Detail);
    }

    [Theory]
    [InlineData("read")]
    [InlineData("advance")]
    public async Task ClientStreaming_BodyReadFailsAsOnClientReset_CallEnds(string failure)
    {
        using var channel = server.CreateChannel();
        var headers = new Metadata { { ResettingBodyGrpcServerFixture.FailHeader, failure } };
        using var call = channel.CreateCallInvoker().AsyncClientStreamingCall(TestMethods.ClientStream, null, new CallOptions(headers));
        try
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Text = "a" }).WithTimeout();
            await call.RequestStream.CompleteAsync().WithTimeout();
        }
        catch (RpcException)
        {
            // The server may answer before the request stream is done; the status below is what counts.
        }

        // A read that fails while the gateway looks at the first message's prefix (before the handler) ends the call
        // CANCELLED; a read by the handler, through Grpc.AspNetCore, ends it UNKNOWN (docs/grpc.md, "Differences").
        // Which of the two reads meets the failure depends on when the first message arrives.
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WithTimeout());
        Assert.Contains(ex.StatusCode, new[] { StatusCode.Cancelled, StatusCode.Unknown });
    }

    [Fact]
    public async Task Unary_WithoutTheHeader_Echoes()
    {
        using var channel = server.CreateChannel();
        var reply = await channel.CreateCallInvoker()
            .AsyncUnaryCall(TestMethods.Echo, null, default, new EchoRequest { Text = "ok" }).ResponseAsync.WithTimeout();
        Assert.Equal("ok", reply.Text);
    }
}

/// <summary>A test server whose request body fails like Kestrel's after RST_STREAM when the request asks for it.</summary>
public sealed class ResettingBodyGrpcServerFixture : GrpcServerFixture
{
    /// <summary>Request header: "read" fails ReadAsync, "advance" fails AdvanceTo after a successful read.</summary>
    public const string FailHeader = "x-test-body-failure";

    protected override void ConfigurePipeline(WebApplication app) => app.Use((context, next) =>
    {
        var failure = context.Request.Headers[FailHeader].ToString();
        if (failure.Length > 0)
        {
            context.Features.Set<IRequestBodyPipeFeature>(new BodyPipeFeature(new FailingReader(context.Request.BodyReader, failure == "read")));
        }

        return next(context);
    });

    private sealed class BodyPipeFeature(PipeReader reader) : IRequestBodyPipeFeature
    {
        public PipeReader Reader { get; } = reader;
    }

    /// <summary>Kestrel's message after RST_STREAM; the inner reader supplies real bytes until the failure.</summary>
    private sealed class FailingReader(PipeReader inner, bool failRead) : PipeReader
    {
        private static IOException Reset() => new("The client reset the request stream.");

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            if (failRead)
            {
                throw Reset();
            }

            return await inner.ReadAsync(cancellationToken);
        }

        public override bool TryRead(out ReadResult result)
        {
            if (failRead)
            {
                throw Reset();
            }

            return inner.TryRead(out result);
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            inner.AdvanceTo(consumed, examined);
            throw Reset();
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);
    }
}
