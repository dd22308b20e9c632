using System.Collections.Concurrent;
using Google.Protobuf;
using Grpc.AspNetCore.Server;
using InferenceGateway.Grpc.Tests.Protos;

namespace InferenceGateway.Grpc.Tests.Infrastructure;

/// <summary>What the server-side handlers observed, keyed by the request text, for tests to await.</summary>
public sealed class TestServiceState
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<DateTime>> _started = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<DateTime>> _tokenFired = new();

    /// <summary>Set when the handler starts, to the call's deadline as the handler saw it.</summary>
    public TaskCompletionSource<DateTime> Started(string key) =>
        _started.GetOrAdd(key, _ => new TaskCompletionSource<DateTime>(TaskCreationOptions.RunContinuationsAsynchronously));

    public TaskCompletionSource<DateTime> TokenFired(string key) =>
        _tokenFired.GetOrAdd(key, _ => new TaskCompletionSource<DateTime>(TaskCreationOptions.RunContinuationsAsynchronously));
}

/// <summary>Client-side descriptions of the test service's methods.</summary>
public static class TestMethods
{
    public const string ServiceName = "igtest.v1.TestService";

    private static readonly Marshaller<EchoRequest> RequestMarshaller = Marshallers.Create(static (EchoRequest m) => m.ToByteArray(), EchoRequest.Parser.ParseFrom);
    private static readonly Marshaller<EchoReply> ReplyMarshaller = Marshallers.Create(static (EchoReply m) => m.ToByteArray(), EchoReply.Parser.ParseFrom);

    public static readonly Method<EchoRequest, EchoReply> Echo = new(MethodType.Unary, ServiceName, "Echo", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> ServerStream = new(MethodType.ServerStreaming, ServiceName, "ServerStream", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> ClientStream = new(MethodType.ClientStreaming, ServiceName, "ClientStream", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> Duplex = new(MethodType.DuplexStreaming, ServiceName, "Duplex", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> Wait = new(MethodType.Unary, ServiceName, "Wait", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> Throw = new(MethodType.Unary, ServiceName, "Throw", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> AsyncEcho = new(MethodType.Unary, ServiceName, "AsyncEcho", RequestMarshaller, ReplyMarshaller);
}

/// <summary>The test service, on the generated service base.</summary>
public sealed class TestServiceImpl(TestServiceState state) : TestService.TestServiceBase
{
    private static string RequestEncoding(ServerCallContext context) =>
        context.GetHttpContext().Request.Headers["grpc-encoding"].ToString();

    public override Task<EchoReply> Echo(EchoRequest request, ServerCallContext context)
    {
        if (context.RequestHeaders.GetValue("x-trailer") is { } trailer)
        {
            context.ResponseTrailers.Add("x-trailer-echo", trailer);
        }

        return Task.FromResult(new EchoReply { Text = request.Text, Payload = request.Payload, RequestEncoding = RequestEncoding(context) });
    }

    public override async Task ServerStream(EchoRequest request, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        for (var i = 0; i < request.Count; i++)
        {
            await responseStream.WriteAsync(new EchoReply { Text = request.Text, Index = i });
        }
    }

    public override async Task<EchoReply> ClientStream(IAsyncStreamReader<EchoRequest> requestStream, ServerCallContext context)
    {
        var count = 0;
        var text = new System.Text.StringBuilder();
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            count++;
            text.Append(requestStream.Current.Text);
        }

        return new EchoReply { Text = text.ToString(), Index = count, RequestEncoding = RequestEncoding(context) };
    }

    public override async Task Duplex(IAsyncStreamReader<EchoRequest> requestStream, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        var index = 0;
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            await responseStream.WriteAsync(new EchoReply { Text = requestStream.Current.Text.ToUpperInvariant(), Index = index++ });
        }
    }

    public override async Task<EchoReply> Wait(EchoRequest request, ServerCallContext context)
    {
        state.Started(request.Text).TrySetResult(context.Deadline);
        try
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            state.TokenFired(request.Text).TrySetResult(DateTime.UtcNow);
            throw;
        }

        return new EchoReply();
    }

    public override async Task<EchoReply> AsyncEcho(EchoRequest request, ServerCallContext context)
    {
        if (request.Count > 0)
        {
            await Task.Yield();
        }

        if (request.Text == "fail")
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "asked to fail"));
        }

        if (context.RequestHeaders.GetValue("x-trailer") is { } trailer)
        {
            context.ResponseTrailers.Add("x-trailer-echo", trailer);
        }

        return new EchoReply { Text = request.Text };
    }

    public override Task<EchoReply> Throw(EchoRequest request, ServerCallContext context)
    {
        if (request.Text == "rpc")
        {
            var trailers = new Metadata { { "x-reason", "bad-text" } };
            throw new RpcException(new Status(StatusCode.InvalidArgument, "Text is invalid: ünïcode 100%"), trailers);
        }

        throw new InvalidOperationException("secret internal detail");
    }
}
