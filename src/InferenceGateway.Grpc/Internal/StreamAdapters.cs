using System.Buffers;

namespace InferenceGateway.Grpc.Internal;

/// <summary>Write-only stream over an <see cref="IBufferWriter{T}"/> (feeds GZipStream's output into a pooled buffer).</summary>
internal sealed class BufferWriterStream : Stream
{
    private readonly IBufferWriter<byte> _writer;

    public BufferWriterStream(IBufferWriter<byte> writer) => _writer = writer;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer) => _writer.Write(buffer);
}

/// <summary>Read-only stream over a <see cref="ReadOnlySequence{T}"/> (feeds received bytes into GZipStream).</summary>
internal sealed class SequenceReadStream : Stream
{
    private ReadOnlySequence<byte> _remaining;

    public SequenceReadStream(ReadOnlySequence<byte> sequence) => _remaining = sequence;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var count = (int)Math.Min(buffer.Length, _remaining.Length);
        _remaining.Slice(0, count).CopyTo(buffer);
        _remaining = _remaining.Slice(count);
        return count;
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
