using System.Buffers;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.LoadTest.Engine;

namespace InferenceGateway.LoadTest.Targets;

/// <summary>
/// Client-streaming calls through the standard .NET gRPC client (Grpc.Net.Client): each call writes its pre-serialized
/// messages one by one on the request stream, completes it and waits for the single response, which an
/// <see cref="IResponseCheck"/> judges when given. The request marshaller copies the prepared bytes, so the client
/// does no protobuf work per message; the library still writes (and flushes) each message on its own.
/// </summary>
public sealed class GrpcClientStreamingTarget : ILoadTarget
{
    private readonly GrpcChannel[] _channels;
    private readonly CallInvoker[] _invokers;
    private readonly Method<byte[], CheckedResponse> _method;
    private readonly byte[][][] _calls;
    private readonly TimeSpan _timeout;
    private long _next;

    /// <summary>Creates the target.</summary>
    /// <param name="address">Server base address, e.g. <c>http://127.0.0.1:50051</c>.</param>
    /// <param name="path">Full method path, e.g. <c>/gateway.v1.Gateway/IngestEvents</c>.</param>
    /// <param name="calls">Per call, its serialized messages (no frame prefix); calls are made round-robin.</param>
    /// <param name="connections">Channels (HTTP/2 connections) to spread calls over.</param>
    /// <param name="timeout">Deadline of each call.</param>
    /// <param name="description">Report description.</param>
    /// <param name="check">Judges the response of each OK call (null: OK is success).</param>
    public GrpcClientStreamingTarget(Uri address, string path, IReadOnlyList<byte[][]> calls, int connections, TimeSpan timeout, string description, IResponseCheck? check)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(calls);
        if (calls.Count == 0 || calls[0].Length == 0)
        {
            throw new ArgumentException("at least one call with at least one message is required", nameof(calls));
        }

        (string service, string method) = GrpcNetClientParts.SplitPath(path);
        Marshaller<CheckedResponse> judge = Marshallers.Create<CheckedResponse>(
            static (_, _) => throw new NotSupportedException("responses are never sent by the load tool"),
            context => CheckedResponse.Of(check is null ? OutcomeCodes.Ok : Judge(check, context.PayloadAsReadOnlySequence())));
        _method = new Method<byte[], CheckedResponse>(MethodType.ClientStreaming, service, method, GrpcNetClientParts.PreSerialized, judge);
        _calls = [.. calls];
        _timeout = timeout;
        (_channels, _invokers) = GrpcNetClientParts.Open(address, connections);

        Description = $"{description} @ {address} via {path} (Grpc.Net.Client, {calls.Count} call(s) of {calls[0].Length} message(s))";
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <inheritdoc />
    public async ValueTask<RequestOutcome> SendAsync(CancellationToken cancellationToken)
    {
        long n = Interlocked.Increment(ref _next);
        CallInvoker invoker = _invokers[(int)(n % _invokers.Length)];
        byte[][] messages = _calls[(int)(n % _calls.Length)];
        var options = new CallOptions(deadline: DateTime.UtcNow + _timeout, cancellationToken: cancellationToken);
        using AsyncClientStreamingCall<byte[], CheckedResponse> call = invoker.AsyncClientStreamingCall(_method, null, options);
        try
        {
            foreach (byte[] message in messages)
            {
                await call.RequestStream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
            }

            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (RpcException)
        {
            // The call ended while we wrote (deadline, server error): its status comes with the response below.
        }
        catch (InvalidOperationException)
        {
            // Writing after the call completed: likewise.
        }

        try
        {
            CheckedResponse response = await call.ResponseAsync.ConfigureAwait(false);
            return new RequestOutcome(response.Status);
        }
        catch (RpcException ex)
        {
            return new RequestOutcome((int)ex.StatusCode);
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => GrpcNetClientParts.CloseAsync(_channels);

    private static int Judge(IResponseCheck check, ReadOnlySequence<byte> message)
    {
        byte[] bytes = message.ToArray();
        return check.Check(bytes, truncated: false);
    }

    /// <summary>A response reduced to its verdict; one shared instance per outcome code, so nothing is allocated per call for it.</summary>
    private sealed class CheckedResponse
    {
        private static readonly CheckedResponse[] Instances = Create();

        private CheckedResponse(int status) => Status = status;

        public int Status { get; }

        public static CheckedResponse Of(int status) => Instances[OutcomeCodes.Normalize(status)];

        private static CheckedResponse[] Create()
        {
            var all = new CheckedResponse[OutcomeCodes.Count];
            for (int i = 0; i < all.Length; i++)
            {
                all[i] = new CheckedResponse(i);
            }

            return all;
        }
    }
}
