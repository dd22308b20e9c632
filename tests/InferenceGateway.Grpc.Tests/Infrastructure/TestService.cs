using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using InferenceGateway.Grpc.Tests.Protos;

namespace InferenceGateway.Grpc.Tests.Infrastructure;

/// <summary>What the server-side handlers observed, keyed by the request text, for tests to await.</summary>
public sealed class TestServiceState
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<DateTime>> _started = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<DateTime>> _tokenFired = new();

    /// <summary>
    /// Set when the handler starts, to the call's deadline as the handler saw it (the context itself is reused after
    /// the call, so tests must not keep it).
    /// </summary>
    public TaskCompletionSource<DateTime> Started(string key) =>
        _started.GetOrAdd(key, _ => new TaskCompletionSource<DateTime>(TaskCreationOptions.RunContinuationsAsynchronously));

    public TaskCompletionSource<DateTime> TokenFired(string key) =>
        _tokenFired.GetOrAdd(key, _ => new TaskCompletionSource<DateTime>(TaskCreationOptions.RunContinuationsAsynchronously));
}

public sealed class TestService : IGrpcService
{
    public const string Name = "igtest.v1.TestService";

    private static readonly Marshaller<EchoRequest> RequestMarshaller = Marshallers.ForProtobuf(EchoRequest.Parser);
    private static readonly Marshaller<EchoReply> ReplyMarshaller = Marshallers.ForProtobuf(EchoReply.Parser);

    public static readonly Method<EchoRequest, EchoReply> Echo = new(MethodType.Unary, Name, "Echo", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> ServerStream = new(MethodType.ServerStreaming, Name, "ServerStream", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> ClientStream = new(MethodType.ClientStreaming, Name, "ClientStream", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> Duplex = new(MethodType.DuplexStreaming, Name, "Duplex", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> Wait = new(MethodType.Unary, Name, "Wait", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> Throw = new(MethodType.Unary, Name, "Throw", RequestMarshaller, ReplyMarshaller);
    public static readonly Method<EchoRequest, EchoReply> ValueTaskEcho = new(MethodType.Unary, Name, "ValueTaskEcho", RequestMarshaller, ReplyMarshaller);

    private readonly TestServiceState _state;

    public TestService(TestServiceState state) => _state = state;

    public ServerServiceDefinition BindService() =>
        ServerServiceDefinition.CreateBuilder()
            .AddMethod(Echo, EchoAsync)
            .AddMethod(ServerStream, ServerStreamAsync)
            .AddMethod(ClientStream, ClientStreamAsync)
            .AddMethod(Duplex, DuplexAsync)
            .AddMethod(Wait, WaitAsync)
            .AddMethod(Throw, ThrowAsync)
            .AddValueTaskMethod(ValueTaskEcho, ValueTaskEchoAsync)
            .WithDescriptor(GrpcTestReflection.Descriptor.Services[0])
            .Build();

    private static string RequestEncoding(ServerCallContext context) =>
        context.GetHttpContext().Request.Headers["grpc-encoding"].ToString();

    private static Task<EchoReply> EchoAsync(EchoRequest request, ServerCallContext context)
    {
        if (context.RequestHeaders.GetValue("x-trailer") is { } trailer)
        {
            context.ResponseTrailers.Add("x-trailer-echo", trailer);
        }

        return Task.FromResult(new EchoReply { Text = request.Text, Payload = request.Payload, RequestEncoding = RequestEncoding(context) });
    }

    private static async Task ServerStreamAsync(EchoRequest request, IServerStreamWriter<EchoReply> stream, ServerCallContext context)
    {
        for (var i = 0; i < request.Count; i++)
        {
            await stream.WriteAsync(new EchoReply { Text = request.Text, Index = i });
        }
    }

    private static async Task<EchoReply> ClientStreamAsync(IAsyncStreamReader<EchoRequest> requests, ServerCallContext context)
    {
        var count = 0;
        var text = new System.Text.StringBuilder();
        while (await requests.MoveNext(context.CancellationToken))
        {
            count++;
            text.Append(requests.Current.Text);
        }

        return new EchoReply { Text = text.ToString(), Index = count, RequestEncoding = RequestEncoding(context) };
    }

    private static async Task DuplexAsync(IAsyncStreamReader<EchoRequest> requests, IServerStreamWriter<EchoReply> responses, ServerCallContext context)
    {
        var index = 0;
        while (await requests.MoveNext(context.CancellationToken))
        {
            await responses.WriteAsync(new EchoReply { Text = requests.Current.Text.ToUpperInvariant(), Index = index++ });
        }
    }

    private async Task<EchoReply> WaitAsync(EchoRequest request, ServerCallContext context)
    {
        _state.Started(request.Text).TrySetResult(context.Deadline);
        try
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            _state.TokenFired(request.Text).TrySetResult(DateTime.UtcNow);
            throw;
        }

        return new EchoReply();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<EchoReply> ValueTaskEchoAsync(EchoRequest request, ServerCallContext context)
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

    private static Task<EchoReply> ThrowAsync(EchoRequest request, ServerCallContext context)
    {
        if (request.Text == "rpc")
        {
            var trailers = new Metadata { { "x-reason", "bad-text" } };
            throw new RpcException(new Status(StatusCode.InvalidArgument, "Text is invalid: ünïcode 100%"), trailers);
        }

        throw new InvalidOperationException("secret internal detail");
    }
}
