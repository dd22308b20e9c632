using System.Text;

namespace InferenceGateway.LoadTest.Http2;

/// <summary>
/// The parts of HPACK (RFC 7541) a gRPC load client needs: encoding a fixed request header block once, with
/// literals that never touch the server's dynamic table, and decoding response header blocks (static and dynamic
/// tables, all representations). Huffman-coded strings are skipped, not decoded: a field whose name or value is
/// Huffman-coded is reported as <see cref="HpackField.Undecodable"/>, so a caller that needs it fails loudly
/// instead of guessing. Kestrel, the server this tool measures, never Huffman-codes.
/// </summary>
internal static class Hpack
{
    /// <summary>RFC 7541 Appendix A, index 1..61 (slot 0 unused).</summary>
    private static readonly (string Name, string Value)[] StaticTable =
    [
        (string.Empty, string.Empty),
        (":authority", string.Empty), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"),
        (":scheme", "http"), (":scheme", "https"), (":status", "200"), (":status", "204"), (":status", "206"),
        (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", string.Empty),
        ("accept-encoding", "gzip, deflate"), ("accept-language", string.Empty), ("accept-ranges", string.Empty),
        ("accept", string.Empty), ("access-control-allow-origin", string.Empty), ("age", string.Empty), ("allow", string.Empty),
        ("authorization", string.Empty), ("cache-control", string.Empty), ("content-disposition", string.Empty),
        ("content-encoding", string.Empty), ("content-language", string.Empty), ("content-length", string.Empty),
        ("content-location", string.Empty), ("content-range", string.Empty), ("content-type", string.Empty),
        ("cookie", string.Empty), ("date", string.Empty), ("etag", string.Empty), ("expect", string.Empty),
        ("expires", string.Empty), ("from", string.Empty), ("host", string.Empty), ("if-match", string.Empty),
        ("if-modified-since", string.Empty), ("if-none-match", string.Empty), ("if-range", string.Empty),
        ("if-unmodified-since", string.Empty), ("last-modified", string.Empty), ("link", string.Empty),
        ("location", string.Empty), ("max-forwards", string.Empty), ("proxy-authenticate", string.Empty),
        ("proxy-authorization", string.Empty), ("range", string.Empty), ("referer", string.Empty), ("refresh", string.Empty),
        ("retry-after", string.Empty), ("server", string.Empty), ("set-cookie", string.Empty),
        ("strict-transport-security", string.Empty), ("transfer-encoding", string.Empty), ("user-agent", string.Empty),
        ("vary", string.Empty), ("via", string.Empty), ("www-authenticate", string.Empty),
    ];

    private static readonly byte[][] StaticNames = Array.ConvertAll(StaticTable, e => Encoding.ASCII.GetBytes(e.Name));
    private static readonly byte[][] StaticValues = Array.ConvertAll(StaticTable, e => Encoding.ASCII.GetBytes(e.Value));

    /// <summary>Number of static table entries.</summary>
    public const int StaticCount = 61;

    /// <summary>Static name of entry <paramref name="index"/> (1..61), shared: never modify.</summary>
    public static byte[] StaticName(int index) => StaticNames[index];

    /// <summary>Static value of entry <paramref name="index"/> (1..61), shared: never modify.</summary>
    public static byte[] StaticValue(int index) => StaticValues[index];

    /// <summary>
    /// Encodes a request header block: <c>:method POST</c>, <c>:scheme</c>, <c>:path</c>, <c>:authority</c> and the
    /// given headers, every literal "without indexing" so the block is the same bytes on every request.
    /// </summary>
    public static byte[] EncodeRequestHeaders(string scheme, string authority, string path, IEnumerable<KeyValuePair<string, string>> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var block = new List<byte>(128) { 0x83 }; // indexed: :method POST
        block.Add(scheme == "https" ? (byte)0x87 : (byte)0x86);
        WriteLiteralIndexedName(block, 4, path); // :path
        WriteLiteralIndexedName(block, 1, authority); // :authority
        foreach (KeyValuePair<string, string> header in headers)
        {
            int nameIndex = FindStaticName(header.Key);
            if (nameIndex > 0)
            {
                WriteLiteralIndexedName(block, nameIndex, header.Value);
            }
            else
            {
                block.Add(0x00); // literal without indexing, new name
                WriteString(block, header.Key.ToLowerInvariant());
                WriteString(block, header.Value);
            }
        }

        return [.. block];
    }

    /// <summary>Writes an HPACK integer with an <paramref name="prefixBits"/>-bit prefix, OR-ing <paramref name="flags"/> into the first byte.</summary>
    public static void WriteInteger(List<byte> output, int value, int prefixBits, byte flags)
    {
        ArgumentNullException.ThrowIfNull(output);
        int max = (1 << prefixBits) - 1;
        if (value < max)
        {
            output.Add((byte)(flags | value));
            return;
        }

        output.Add((byte)(flags | max));
        value -= max;
        while (value >= 0x80)
        {
            output.Add((byte)((value & 0x7F) | 0x80));
            value >>= 7;
        }

        output.Add((byte)value);
    }

    /// <summary>
    /// Reads an HPACK integer whose prefix occupies the low <paramref name="prefixBits"/> bits of
    /// <c>block[pos]</c>; advances <paramref name="pos"/>. False when truncated or over 2^31-1.
    /// </summary>
    public static bool TryReadInteger(ReadOnlySpan<byte> block, ref int pos, int prefixBits, out int value)
    {
        value = 0;
        if (pos >= block.Length)
        {
            return false;
        }

        int max = (1 << prefixBits) - 1;
        value = block[pos++] & max;
        if (value < max)
        {
            return true;
        }

        for (int shift = 0; shift <= 28; shift += 7)
        {
            if (pos >= block.Length)
            {
                return false;
            }

            byte b = block[pos++];
            long next = value + ((long)(b & 0x7F) << shift);
            if (next > int.MaxValue)
            {
                return false;
            }

            value = (int)next;
            if ((b & 0x80) == 0)
            {
                return true;
            }
        }

        return false;
    }

    private static void WriteLiteralIndexedName(List<byte> block, int nameIndex, string value)
    {
        WriteInteger(block, nameIndex, 4, 0x00); // literal without indexing, indexed name
        WriteString(block, value);
    }

    private static void WriteString(List<byte> block, string value)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(value);
        WriteInteger(block, bytes.Length, 7, 0x00); // H = 0: raw octets
        block.AddRange(bytes);
    }

    private static int FindStaticName(string name)
    {
        for (int i = 1; i <= StaticCount; i++)
        {
            if (string.Equals(StaticTable[i].Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return 0;
    }
}

/// <summary>How a decoded header field came out.</summary>
internal enum HpackField
{
    /// <summary>Name and value are available.</summary>
    Decoded,

    /// <summary>Name or value was Huffman-coded; the field was skipped (the dynamic table still tracks it).</summary>
    Undecodable,
}

/// <summary>Receives decoded header fields; spans are valid only during the call.</summary>
internal interface IHpackFieldSink
{
    /// <summary>One field of the block.</summary>
    void OnField(HpackField kind, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value);
}

/// <summary>
/// One connection's HPACK decoder: the dynamic table persists across header blocks, so blocks must be decoded in
/// the order the server sent them (the connection's single read loop does).
/// </summary>
internal sealed class HpackDecoder
{
    // Entry overhead per RFC 7541 section 4.1.
    private const int EntryOverhead = 32;

    // Newest entry first: index 62 is _entries[0].
    // A null name or value is a Huffman-coded string we kept only the size of.
    private readonly List<(byte[]? Name, byte[]? Value, int Size)> _entries = [];
    private readonly int _maxAllowedSize;
    private int _maxSize;
    private int _size;

    /// <summary>Creates a decoder for a connection that announced <paramref name="headerTableSize"/> (SETTINGS_HEADER_TABLE_SIZE).</summary>
    public HpackDecoder(int headerTableSize)
    {
        _maxAllowedSize = headerTableSize;
        _maxSize = headerTableSize;
    }

    /// <summary>Entries in the dynamic table (for tests).</summary>
    public int DynamicCount => _entries.Count;

    /// <summary>Decodes one complete header block; false (with a reason) on a compression error, which is fatal to the connection.</summary>
    public bool TryDecode(ReadOnlySpan<byte> block, IHpackFieldSink sink, out string? error)
    {
        ArgumentNullException.ThrowIfNull(sink);
        int pos = 0;
        while (pos < block.Length)
        {
            byte first = block[pos];
            if ((first & 0x80) != 0)
            {
                if (!Hpack.TryReadInteger(block, ref pos, 7, out int index) || index == 0 || !TryLookupIndex(index, out byte[]? name, out byte[]? value))
                {
                    error = "bad indexed header field";
                    return false;
                }

                Emit(sink, name, value);
                continue;
            }

            if ((first & 0xE0) == 0x20)
            {
                if (!Hpack.TryReadInteger(block, ref pos, 5, out int size) || size > _maxAllowedSize)
                {
                    error = "dynamic table size update over the announced limit";
                    return false;
                }

                _maxSize = size;
                Evict(0);
                continue;
            }

            bool addToTable = (first & 0xC0) == 0x40;
            int prefix = addToTable ? 6 : 4;
            if (!Hpack.TryReadInteger(block, ref pos, prefix, out int nameIndex))
            {
                error = "truncated literal header field";
                return false;
            }

            byte[]? literalName;
            int nameStart = 0;
            int nameLength = 0;
            bool nameHuffman = false;
            if (nameIndex == 0)
            {
                if (!TryReadString(block, ref pos, out nameStart, out nameLength, out nameHuffman))
                {
                    error = "truncated header name";
                    return false;
                }

                literalName = null;
            }
            else if (!TryLookupIndex(nameIndex, out literalName, out _))
            {
                error = "header name index out of range";
                return false;
            }

            if (!TryReadString(block, ref pos, out int valueStart, out int valueLength, out bool valueHuffman))
            {
                error = "truncated header value";
                return false;
            }

            ReadOnlySpan<byte> nameSpan = literalName is null ? block.Slice(nameStart, nameLength) : literalName;
            ReadOnlySpan<byte> valueSpan = block.Slice(valueStart, valueLength);
            // Undecodable: a Huffman-coded literal name or value, or an indexed name that was itself Huffman-coded.
            bool nameUnknown = nameIndex == 0 ? nameHuffman : literalName is null;
            bool undecodable = nameUnknown || valueHuffman;
            if (addToTable)
            {
                // The table's size counts decoded octets; for a Huffman-coded string we only know the coded length,
                // so eviction can drift from the server's only if it Huffman-codes (Kestrel does not).
                Add(nameUnknown ? null : nameSpan.ToArray(), valueHuffman ? null : valueSpan.ToArray(), nameSpan.Length + valueSpan.Length);
            }

            sink.OnField(undecodable ? HpackField.Undecodable : HpackField.Decoded, nameSpan, valueSpan);
        }

        error = null;
        return true;
    }

    private static void Emit(IHpackFieldSink sink, byte[]? name, byte[]? value)
    {
        if (name is null || value is null)
        {
            sink.OnField(HpackField.Undecodable, default, default);
        }
        else
        {
            sink.OnField(HpackField.Decoded, name, value);
        }
    }

    private static bool TryReadString(ReadOnlySpan<byte> block, ref int pos, out int start, out int length, out bool huffman)
    {
        start = 0;
        length = 0;
        huffman = pos < block.Length && (block[pos] & 0x80) != 0;
        if (!Hpack.TryReadInteger(block, ref pos, 7, out length) || length > block.Length - pos)
        {
            return false;
        }

        start = pos;
        pos += length;
        return true;
    }

    // True when the index exists; name or value may still be null (kept Huffman-coded).
    private bool TryLookupIndex(int index, out byte[]? name, out byte[]? value)
    {
        if (index <= Hpack.StaticCount)
        {
            name = Hpack.StaticName(index);
            value = Hpack.StaticValue(index);
            return index > 0;
        }

        int dynamic = index - Hpack.StaticCount - 1;
        if (dynamic < _entries.Count)
        {
            (name, value, _) = _entries[dynamic];
            return true;
        }

        name = null;
        value = null;
        return false;
    }

    private void Add(byte[]? name, byte[]? value, int length)
    {
        int entrySize = length + EntryOverhead;
        Evict(entrySize);
        if (entrySize > _maxSize)
        {
            // RFC 7541 4.4: an entry larger than the table empties it and is not added.
            return;
        }

        _entries.Insert(0, (name, value, entrySize));
        _size += entrySize;
    }

    private void Evict(int room)
    {
        while (_entries.Count > 0 && _size + room > _maxSize)
        {
            _size -= _entries[^1].Size;
            _entries.RemoveAt(_entries.Count - 1);
        }

        if (_entries.Count == 0)
        {
            _size = 0;
        }
    }
}
