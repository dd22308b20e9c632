using System.Buffers;

namespace InferenceGateway.Grpc.Internal;

/// <summary>Growable <see cref="IBufferWriter{T}"/> on <see cref="ArrayPool{T}.Shared"/>; Reset returns the array.</summary>
internal sealed class PooledBufferWriter : IBufferWriter<byte>
{
    private const int MinimumSize = 256;
    private byte[] _buffer = [];
    private int _written;

    public int WrittenCount => _written;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

    public void Advance(int count)
    {
        if (count < 0 || _written + count > _buffer.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    /// <summary>Hands the rented array (and its ownership) to the caller; the writer starts empty.</summary>
    public byte[] Detach(out int length)
    {
        var buffer = _buffer;
        length = _written;
        _buffer = [];
        _written = 0;
        return buffer;
    }

    /// <summary>Returns the array to the pool; the writer can be reused.</summary>
    public void Reset()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = [];
        _written = 0;
    }

    private void Ensure(int sizeHint)
    {
        if (sizeHint < 1)
        {
            sizeHint = 1;
        }

        if (_buffer.Length - _written >= sizeHint)
        {
            return;
        }

        var newSize = Math.Max(Math.Max(MinimumSize, _buffer.Length * 2), _written + sizeHint);
        var next = ArrayPool<byte>.Shared.Rent(newSize);
        if (_written > 0)
        {
            _buffer.AsSpan(0, _written).CopyTo(next);
        }

        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = next;
    }
}
