using System.Collections.Concurrent;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Contracts.Inference;

namespace InferenceGateway.Server.Experiments;

/// <summary>
/// ModelInfer to remote Open Inference Protocol endpoints (remote shadows) through Grpc.Net.Client: one channel per
/// endpoint, HTTP/2 (cleartext with prior knowledge for http://), requests sent as the bytes the gateway prepared.
/// </summary>
internal sealed class RemoteOipClient : IDisposable
{
    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(static bytes => bytes, static bytes => bytes);

    private static readonly Method<byte[], byte[]> ModelInferMethod =
        new(MethodType.Unary, GRPCInferenceService.Descriptor.FullName, "ModelInfer", Bytes, Bytes);

    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Sends one serialized ModelInferRequest and parses the answer.</summary>
    public async Task<ModelInferResponse> InferAsync(Uri endpoint, byte[] request, DateTime deadline, CancellationToken cancellationToken)
    {
        var channel = _channels.GetOrAdd(endpoint.GetLeftPart(UriPartial.Authority), static address => GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                ConnectTimeout = TimeSpan.FromSeconds(5),
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            },
            MaxReceiveMessageSize = 64 * 1024 * 1024,
        }));
        using var call = channel.CreateCallInvoker().AsyncUnaryCall(ModelInferMethod, null, new CallOptions(deadline: deadline, cancellationToken: cancellationToken), request);
        var bytes = await call.ResponseAsync.ConfigureAwait(false);
        return ModelInferResponse.Parser.ParseFrom(bytes);
    }

    /// <summary>
    /// A ModelInferRequest's bytes with <c>model_name</c> and <c>model_version</c> set to the remote's names: the original
    /// fields byte for byte, then the two names again (protobuf keeps the last value of a repeated singular field).
    /// </summary>
    public static byte[] Retarget(ReadOnlySpan<byte> message, string model, string version)
    {
        var extra = FieldSize(model) + FieldSize(version);
        var bytes = new byte[message.Length + extra];
        message.CopyTo(bytes);
        var at = message.Length;
        at = WriteField(bytes, at, 1, model);
        WriteField(bytes, at, 2, version);
        return bytes;
    }

    /// <summary>Bytes of a string field (tag, length, UTF-8), for fields numbered below 16.</summary>
    public static int FieldSize(string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        return 1 + Services.Wire.ModelInferCodec.VarintLength((ulong)length) + length;
    }

    /// <summary>Writes a string field at <paramref name="at"/>; returns the position after it.</summary>
    public static int WriteField(Span<byte> destination, int at, int field, string value)
    {
        destination[at++] = (byte)((field << 3) | 2);
        var length = (ulong)Encoding.UTF8.GetByteCount(value);
        while (length >= 0x80)
        {
            destination[at++] = (byte)(length | 0x80);
            length >>= 7;
        }

        destination[at++] = (byte)length;
        return at + Encoding.UTF8.GetBytes(value, destination[at..]);
    }

    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        _channels.Clear();
    }
}
