using System.Runtime.CompilerServices;

namespace InferenceGateway.Server.Services.Wire;

/// <summary>Protobuf wire types (the low three bits of a tag).</summary>
internal static class WireType
{
    public const int Varint = 0;
    public const int Fixed64 = 1;
    public const int LengthDelimited = 2;
    public const int StartGroup = 3;
    public const int EndGroup = 4;
    public const int Fixed32 = 5;
}

/// <summary>A protobuf message is malformed; reported as INTERNAL "Failed to deserialize request message." like any parse error.</summary>
internal sealed class ProtoFormatException(string message) : Exception(message);

/// <summary>
/// Forward-only reader of protobuf wire format over one contiguous buffer, by offsets so the caller can keep slices
/// of it (zero-copy bytes and strings). Follows the protobuf encoding rules: varints up to 10 bytes, unknown fields
/// of every wire type skipped (groups included, nested at most <see cref="MaxGroupDepth"/> deep).
/// </summary>
internal ref struct ProtoReader
{
    private const int MaxGroupDepth = 64;
    private readonly ReadOnlySpan<byte> _buffer;
    private readonly int _end;
    private int _position;

    /// <summary>Reads <paramref name="buffer"/>[<paramref name="start"/>..<paramref name="end"/>).</summary>
    public ProtoReader(ReadOnlySpan<byte> buffer, int start, int end)
    {
        _buffer = buffer;
        _position = start;
        _end = end;
    }

    public readonly bool AtEnd => _position >= _end;

    public readonly int Position => _position;

    /// <summary>Reads the next tag; returns its field number and sets <paramref name="wireType"/>.</summary>
    public int ReadTag(out int wireType)
    {
        var tag = ReadVarint64();
        wireType = (int)(tag & 7);
        var field = tag >> 3;
        if (field == 0 || field > int.MaxValue)
        {
            throw new ProtoFormatException($"invalid field number {field}");
        }

        return (int)field;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadVarint64()
    {
        if (_position < _end && _buffer[_position] < 0x80)
        {
            return _buffer[_position++];
        }

        return ReadVarintSlow();
    }

    private ulong ReadVarintSlow()
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _end)
            {
                throw new ProtoFormatException("truncated varint");
            }

            var b = _buffer[_position++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }

        throw new ProtoFormatException("malformed varint (more than 10 bytes)");
    }

    /// <summary>Reads a length-delimited field's length and returns its (start, length) in the buffer, moving past it.</summary>
    public Slice ReadLengthDelimited()
    {
        var length = ReadVarint64();
        if (length > (ulong)(_end - _position))
        {
            throw new ProtoFormatException("length-delimited field runs past the end of its message");
        }

        var slice = new Slice(_position, (int)length);
        _position += (int)length;
        return slice;
    }

    public uint ReadFixed32()
    {
        if (_end - _position < 4)
        {
            throw new ProtoFormatException("truncated fixed32");
        }

        var value = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(_buffer.Slice(_position, 4));
        _position += 4;
        return value;
    }

    public ulong ReadFixed64()
    {
        if (_end - _position < 8)
        {
            throw new ProtoFormatException("truncated fixed64");
        }

        var value = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(_buffer.Slice(_position, 8));
        _position += 8;
        return value;
    }

    /// <summary>Skips the value of a field whose tag was just read.</summary>
    public void Skip(int field, int wireType) => Skip(field, wireType, 0);

    private void Skip(int field, int wireType, int depth)
    {
        switch (wireType)
        {
            case WireType.Varint:
                ReadVarint64();
                break;
            case WireType.Fixed64:
                ReadFixed64();
                break;
            case WireType.LengthDelimited:
                ReadLengthDelimited();
                break;
            case WireType.Fixed32:
                ReadFixed32();
                break;
            case WireType.StartGroup:
                if (depth >= MaxGroupDepth)
                {
                    throw new ProtoFormatException("groups nested too deeply");
                }

                while (true)
                {
                    if (AtEnd)
                    {
                        throw new ProtoFormatException("unterminated group");
                    }

                    var inner = ReadTag(out var innerType);
                    if (innerType == WireType.EndGroup)
                    {
                        if (inner != field)
                        {
                            throw new ProtoFormatException("mismatched end-group tag");
                        }

                        return;
                    }

                    Skip(inner, innerType, depth + 1);
                }

            default:
                throw new ProtoFormatException($"invalid wire type {wireType} for field {field}");
        }
    }
}

/// <summary>A range of a buffer: where a field's bytes are, without copying them.</summary>
internal readonly record struct Slice(int Start, int Length)
{
    public ReadOnlySpan<byte> Of(ReadOnlySpan<byte> buffer) => buffer.Slice(Start, Length);

    public int End => Start + Length;
}
