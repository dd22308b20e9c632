using System.Collections;
using System.Text;

namespace InferenceGateway.Grpc;

/// <summary>
/// Ordered list of call headers or trailers. Keys are lower-case ASCII; keys ending in <c>-bin</c> carry binary values,
/// sent base64-encoded on the wire.
/// </summary>
public sealed class Metadata : IList<Metadata.Entry>
{
    /// <summary>Suffix that marks binary-valued keys.</summary>
    public const string BinaryHeaderSuffix = "-bin";

    /// <summary>An empty, read-only instance.</summary>
    public static readonly Metadata Empty = new Metadata().Freeze();

    private readonly List<Entry> _entries = new();
    private bool _readOnly;

    /// <summary>Number of entries.</summary>
    public int Count => _entries.Count;

    /// <summary>Whether the instance was frozen.</summary>
    public bool IsReadOnly => _readOnly;

    /// <summary>Entry at an index.</summary>
    public Entry this[int index]
    {
        get => _entries[index];
        set
        {
            CheckWritable();
            _entries[index] = value ?? throw new ArgumentNullException(nameof(value));
        }
    }

    /// <summary>Adds an ASCII-valued entry.</summary>
    public void Add(string key, string value) => Add(new Entry(key, value));

    /// <summary>Adds a binary-valued entry (the key must end in <c>-bin</c>).</summary>
    public void Add(string key, byte[] valueBytes) => Add(new Entry(key, valueBytes));

    /// <summary>Adds an entry.</summary>
    public void Add(Entry item)
    {
        ArgumentNullException.ThrowIfNull(item);
        CheckWritable();
        _entries.Add(item);
    }

    /// <summary>The last entry with the key (case-insensitive), or null.</summary>
    public Entry? Get(string key)
    {
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (string.Equals(_entries[i].Key, key, StringComparison.OrdinalIgnoreCase))
            {
                return _entries[i];
            }
        }

        return null;
    }

    /// <summary>The string value of the last entry with the key, or null.</summary>
    public string? GetValue(string key) => Get(key)?.Value;

    /// <summary>The binary value of the last entry with the key, or null.</summary>
    public byte[]? GetValueBytes(string key) => Get(key)?.ValueBytes;

    /// <summary>All entries with the key, in order.</summary>
    public IEnumerable<Entry> GetAll(string key)
    {
        foreach (var entry in _entries)
        {
            if (string.Equals(entry.Key, key, StringComparison.OrdinalIgnoreCase))
            {
                yield return entry;
            }
        }
    }

    /// <summary>Makes the instance read-only and returns it.</summary>
    public Metadata Freeze()
    {
        _readOnly = true;
        return this;
    }

    /// <inheritdoc />
    public int IndexOf(Entry item) => _entries.IndexOf(item);

    /// <inheritdoc />
    public void Insert(int index, Entry item)
    {
        ArgumentNullException.ThrowIfNull(item);
        CheckWritable();
        _entries.Insert(index, item);
    }

    /// <inheritdoc />
    public void RemoveAt(int index)
    {
        CheckWritable();
        _entries.RemoveAt(index);
    }

    /// <inheritdoc />
    public void Clear()
    {
        CheckWritable();
        _entries.Clear();
    }

    /// <inheritdoc />
    public bool Contains(Entry item) => _entries.Contains(item);

    /// <inheritdoc />
    public void CopyTo(Entry[] array, int arrayIndex) => _entries.CopyTo(array, arrayIndex);

    /// <inheritdoc />
    public bool Remove(Entry item)
    {
        CheckWritable();
        return _entries.Remove(item);
    }

    /// <summary>Struct enumerator (no allocation in foreach).</summary>
    public List<Entry>.Enumerator GetEnumerator() => _entries.GetEnumerator();

    IEnumerator<Entry> IEnumerable<Entry>.GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _entries.GetEnumerator();

    private void CheckWritable()
    {
        if (_readOnly)
        {
            throw new InvalidOperationException("Metadata is read-only.");
        }
    }

    /// <summary>One key/value pair.</summary>
    public sealed class Entry
    {
        private readonly string? _value;
        private readonly byte[]? _valueBytes;

        /// <summary>Creates an ASCII-valued entry.</summary>
        public Entry(string key, string value)
        {
            Key = NormalizeKey(key);
            ArgumentNullException.ThrowIfNull(value);
            if (IsBinaryKey(Key))
            {
                throw new ArgumentException("Key ending in -bin requires a byte[] value.", nameof(key));
            }

            _value = value;
        }

        /// <summary>Creates a binary-valued entry.</summary>
        public Entry(string key, byte[] valueBytes)
        {
            Key = NormalizeKey(key);
            ArgumentNullException.ThrowIfNull(valueBytes);
            if (!IsBinaryKey(Key))
            {
                throw new ArgumentException("Binary values require a key ending in -bin.", nameof(key));
            }

            _valueBytes = valueBytes;
        }

        /// <summary>The lower-case key.</summary>
        public string Key { get; }

        /// <summary>Whether the value is binary.</summary>
        public bool IsBinary => _valueBytes is not null;

        /// <summary>The string value; for binary entries, throws.</summary>
        public string Value => _value ?? throw new InvalidOperationException("Binary entry: use ValueBytes.");

        /// <summary>The binary value; for ASCII entries, the value's bytes.</summary>
        public byte[] ValueBytes => _valueBytes ?? Encoding.ASCII.GetBytes(_value!);

        /// <inheritdoc />
        public override string ToString() =>
            IsBinary ? $"[Entry: key={Key}, valueBytes={_valueBytes!.Length} bytes]" : $"[Entry: key={Key}, value={_value}]";

        internal static bool IsBinaryKey(string key) => key.EndsWith(BinaryHeaderSuffix, StringComparison.Ordinal);

        private static string NormalizeKey(string key)
        {
            ArgumentException.ThrowIfNullOrEmpty(key);
            var normalized = key.ToLowerInvariant();
            foreach (var c in normalized)
            {
                // Allowed header-name characters per the gRPC HTTP/2 spec: 0-9 a-z _ - .
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
                {
                    throw new ArgumentException($"Metadata key '{key}' contains an invalid character.", nameof(key));
                }
            }

            return normalized;
        }
    }
}
