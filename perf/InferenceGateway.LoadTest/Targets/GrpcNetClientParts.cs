using System.Buffers;
using Grpc.Core;
using Grpc.Net.Client;

namespace InferenceGateway.LoadTest.Targets;

/// <summary>What the Grpc.Net.Client targets share: the pre-serialized request marshaller, the method path and the channels.</summary>
internal static class GrpcNetClientParts
{
    /// <summary>Copies prepared request bytes into the transport's buffer: no protobuf work per call.</summary>
    public static readonly Marshaller<byte[]> PreSerialized = Marshallers.Create<byte[]>(
        static (bytes, context) =>
        {
            context.SetPayloadLength(bytes.Length);
            IBufferWriter<byte> writer = context.GetBufferWriter();
            writer.Write(bytes);
            context.Complete();
        },
        static _ => Array.Empty<byte>());

    /// <summary>Splits <c>/service/method</c>.</summary>
    public static (string Service, string Method) SplitPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string[] parts = path.Trim('/').Split('/');
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
        {
            throw new ArgumentException($"method path '{path}' is not /service/method", nameof(path));
        }

        return (parts[0], parts[1]);
    }

    /// <summary>One channel (HTTP/2 connection) per <paramref name="connections"/> (at least one) and its call invoker.</summary>
    public static (GrpcChannel[] Channels, CallInvoker[] Invokers) Open(Uri address, int connections)
    {
        var channels = new GrpcChannel[Math.Max(1, connections)];
        var invokers = new CallInvoker[channels.Length];
        for (int i = 0; i < channels.Length; i++)
        {
            channels[i] = GrpcChannel.ForAddress(address, new GrpcChannelOptions());
            invokers[i] = channels[i].CreateCallInvoker();
        }

        return (channels, invokers);
    }

    /// <summary>Disposes every channel.</summary>
    public static ValueTask CloseAsync(GrpcChannel[] channels)
    {
        foreach (GrpcChannel channel in channels)
        {
            channel.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}
