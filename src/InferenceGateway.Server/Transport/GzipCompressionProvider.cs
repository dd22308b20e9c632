using System.IO.Compression;
using Grpc.Core;
using Grpc.Net.Compression;

namespace InferenceGateway.Server.Transport;

/// <summary>
/// The gateway's only message compression: gzip, with two guarantees Grpc.AspNetCore's own provider does not give.
/// A corrupt message ends the call with INTERNAL "Failed to decompress message." (the framework reports the
/// decompressor's exception as UNKNOWN and logs it at Error), and a message that inflates beyond the receive limit
/// ends it with RESOURCE_EXHAUSTED as soon as the limit is passed (the framework inflates the whole message into
/// memory before any size check: a few KB of gzip can expand to gigabytes).
/// </summary>
public sealed class GzipCompressionProvider : ICompressionProvider
{
    /// <summary>The status of a message that is not valid gzip.</summary>
    public static readonly Status DecompressFailed = new(StatusCode.Internal, "Failed to decompress message.");

    /// <summary>The status of a message larger than the receive limit once inflated (grpc-dotnet's wording).</summary>
    public static readonly Status TooLarge = new(StatusCode.ResourceExhausted, "Received message exceeds the maximum configured message size.");

    private readonly CompressionLevel _defaultLevel;
    private readonly long _maxDecompressedBytes;

    /// <summary>Creates the provider.</summary>
    /// <param name="maxDecompressedBytes">Largest inflated message accepted (the gateway's receive limit).</param>
    /// <param name="defaultLevel">Level for responses when the call does not choose one.</param>
    public GzipCompressionProvider(long maxDecompressedBytes, CompressionLevel defaultLevel = CompressionLevel.Fastest)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxDecompressedBytes);
        _maxDecompressedBytes = maxDecompressedBytes;
        _defaultLevel = defaultLevel;
    }

    /// <inheritdoc />
    public string EncodingName => "gzip";

    /// <inheritdoc />
    public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel) =>
        new GZipStream(stream, compressionLevel ?? _defaultLevel, leaveOpen: true);

    /// <inheritdoc />
    public Stream CreateDecompressionStream(Stream stream) =>
        new BoundedInflateStream(new GZipStream(stream, CompressionMode.Decompress), _maxDecompressedBytes);

    /// <summary>Reads an inflating stream, turning its failures and an oversized result into gRPC statuses.</summary>
    private sealed class BoundedInflateStream(Stream inner, long limit) : Stream
    {
        private long _total;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => _total;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int read;
            try
            {
                read = inner.Read(buffer);
            }
            catch (InvalidDataException)
            {
                throw new RpcException(DecompressFailed);
            }

            _total += read;
            if (_total > limit)
            {
                throw new RpcException(TooLarge);
            }

            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
