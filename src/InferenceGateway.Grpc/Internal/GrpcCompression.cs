using System.Buffers;
using System.IO.Compression;

namespace InferenceGateway.Grpc.Internal;

/// <summary>gzip message compression. GZipStream allocates per use; compression is opt-in, off the default hot path.</summary>
internal static class GrpcCompression
{
    public static bool IsSupported(string encoding) =>
        string.Equals(encoding, GrpcProtocol.GzipEncoding, StringComparison.OrdinalIgnoreCase);

    public static void Compress(ReadOnlySpan<byte> payload, IBufferWriter<byte> output, CompressionLevel level)
    {
        using var target = new BufferWriterStream(output);
        using var gzip = new GZipStream(target, level, leaveOpen: true);
        gzip.Write(payload);
    }

    /// <summary>Decompresses into <paramref name="output"/>; throws RESOURCE_EXHAUSTED past <paramref name="maxSize"/>.</summary>
    public static void Decompress(ReadOnlySequence<byte> payload, PooledBufferWriter output, int? maxSize)
    {
        using var source = new SequenceReadStream(payload);
        using var gzip = new GZipStream(source, CompressionMode.Decompress);
        while (true)
        {
            var span = output.GetSpan(16 * 1024);
            int read;
            try
            {
                read = gzip.Read(span);
            }
            catch (InvalidDataException ex)
            {
                throw new RpcException(new Status(StatusCode.Internal, "Failed to decompress message.", ex));
            }

            if (read == 0)
            {
                return;
            }

            output.Advance(read);
            if (maxSize is { } max && output.WrittenCount > max)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted, MessageFraming.ReceivedTooLarge));
            }
        }
    }
}
