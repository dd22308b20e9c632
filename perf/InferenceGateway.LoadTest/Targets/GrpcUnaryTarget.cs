using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.LoadTest.Engine;

namespace InferenceGateway.LoadTest.Targets;

/// <summary>
/// Unary calls through the standard .NET gRPC client (Grpc.Net.Client: <see cref="GrpcChannel"/>, <see cref="CallInvoker"/>) with
/// requests serialized once up front: the request marshaller copies the prepared bytes into the transport's
/// buffer and the response marshaller discards the payload (the library has framed it), so the client spends no time on protobuf
/// per call. Status comes from the call: OK, or the <see cref="RpcException"/>'s code.
/// </summary>
public sealed class GrpcUnaryTarget : ILoadTarget
{
    private static readonly Marshaller<DiscardedResponse> Discard = Marshallers.Create<DiscardedResponse>(
        static (_, _) => throw new NotSupportedException("responses are never sent by the load tool"),
        static _ => DiscardedResponse.Instance);

    private readonly GrpcChannel[] _channels;
    private readonly CallInvoker[] _invokers;
    private readonly Method<byte[], DiscardedResponse> _method;
    private readonly byte[][] _messages;
    private readonly TimeSpan _timeout;
    private long _next;

    /// <summary>Creates the target.</summary>
    /// <param name="address">Server base address, e.g. <c>http://127.0.0.1:50051</c>.</param>
    /// <param name="path">Full method path, e.g. <c>/inference.GRPCInferenceService/ModelInfer</c>.</param>
    /// <param name="messages">Serialized request messages (no frame prefix), sent round-robin.</param>
    /// <param name="connections">Channels (HTTP/2 connections) to spread calls over.</param>
    /// <param name="timeout">Deadline of each call.</param>
    /// <param name="description">Report description.</param>
    public GrpcUnaryTarget(Uri address, string path, IReadOnlyList<byte[]> messages, int connections, TimeSpan timeout, string description)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
        {
            throw new ArgumentException("at least one request message is required", nameof(messages));
        }

        (string service, string method) = GrpcNetClientParts.SplitPath(path);
        _method = new Method<byte[], DiscardedResponse>(MethodType.Unary, service, method, GrpcNetClientParts.PreSerialized, Discard);
        _messages = [.. messages];
        _timeout = timeout;
        (_channels, _invokers) = GrpcNetClientParts.Open(address, connections);

        Description = $"{description} @ {address} via {path} ({messages.Count} request(s), {messages[0].Length} B)";
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <inheritdoc />
    // Pooled state machines: no allocation per await in steady state.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<RequestOutcome> SendAsync(CancellationToken cancellationToken)
    {
        long n = Interlocked.Increment(ref _next);
        CallInvoker invoker = _invokers[(int)(n % _invokers.Length)];
        byte[] message = _messages[(int)(n % _messages.Length)];
        var options = new CallOptions(deadline: DateTime.UtcNow + _timeout, cancellationToken: cancellationToken);
        using AsyncUnaryCall<DiscardedResponse> call = invoker.AsyncUnaryCall(_method, null, options, message);
        try
        {
            await call.ResponseAsync.ConfigureAwait(false);
            return RequestOutcome.Ok;
        }
        catch (RpcException ex)
        {
            return new RequestOutcome((int)ex.StatusCode);
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => GrpcNetClientParts.CloseAsync(_channels);
}

/// <summary>What the load tool keeps of a response: nothing (one shared instance, no allocation).</summary>
public sealed class DiscardedResponse
{
    /// <summary>The shared instance.</summary>
    public static readonly DiscardedResponse Instance = new();

    private DiscardedResponse()
    {
    }
}
