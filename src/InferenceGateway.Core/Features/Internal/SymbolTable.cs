namespace InferenceGateway.Core.Features.Internal;

/// <summary>
/// The distinct strings one entity's retained events hold in one string column, with reference counts, so events
/// store a small int and distinct counts run over ints. Strings are canonicalised through the engine's
/// <see cref="StringDeduplicator"/> so entities that share a value (a merchant id) usually share one string object.
/// Not thread-safe: used under the entity's stripe lock.
/// </summary>
internal sealed class SymbolTable
{
    private string?[] _strings = new string?[4];
    private int[] _hashes = new int[4];
    private int[] _references = new int[4];
    private int _count;
    private int _free;

    /// <summary>Slots in use or freed (ids are below this).</summary>
    public int Count => _count;

    /// <summary>Bytes of the live strings (each counted here even when another entity shares the object).</summary>
    public long StringBytes { get; private set; }

    /// <summary>Capacity of the slot arrays.</summary>
    public int Capacity => _strings.Length;

    public string? this[int id] => _strings[id];

    /// <summary>Size of a string object on a 64-bit runtime: header, length, characters and terminator, 8-aligned.</summary>
    public static long SizeOf(string value) => (22 + (2L * value.Length) + 7) & ~7L;

    /// <summary>The id of <paramref name="value"/>, adding it if new; takes one reference.</summary>
    public int Acquire(string value, int hash, StringDeduplicator deduplicator)
    {
        // Vectorised scan of the hashes, then an equality check on each hit (collisions are rare).
        var hashes = _hashes.AsSpan(0, _count);
        var from = 0;
        while (from < hashes.Length)
        {
            var hit = hashes[from..].IndexOf(hash);
            if (hit < 0)
            {
                break;
            }

            var id = from + hit;
            if (_references[id] > 0 && string.Equals(_strings[id], value, StringComparison.Ordinal))
            {
                _references[id]++;
                return id;
            }

            from = id + 1;
        }

        int slot;
        if (_free > 0)
        {
            slot = _references.AsSpan(0, _count).IndexOf(0);
            _free--;
        }
        else
        {
            if (_count == _strings.Length)
            {
                Grow(_count * 2);
            }

            slot = _count++;
        }

        value = deduplicator.Canonicalize(value, hash);
        _strings[slot] = value;
        _hashes[slot] = hash;
        _references[slot] = 1;
        StringBytes += SizeOf(value);
        return slot;
    }

    /// <summary>Drops one reference; the slot is freed at zero.</summary>
    public void Release(int id)
    {
        if (--_references[id] == 0)
        {
            StringBytes -= SizeOf(_strings[id]!);
            _strings[id] = null;
            _free++;
        }
    }

    /// <summary>Restores a slot from a snapshot (references are counted as events are added back).</summary>
    public void SetRestored(int id, string? value, StringDeduplicator deduplicator)
    {
        if (id >= _strings.Length)
        {
            Grow(Math.Max(id + 1, _strings.Length * 2));
        }

        _count = Math.Max(_count, id + 1);
        if (value is not null)
        {
            var hash = value.GetHashCode(StringComparison.Ordinal);
            value = deduplicator.Canonicalize(value, hash);
            _hashes[id] = hash;
            _strings[id] = value;
            StringBytes += SizeOf(value);
        }
    }

    /// <summary>Counts one reference to a restored slot.</summary>
    public bool AddRestoredReference(int id)
    {
        if ((uint)id >= (uint)_count || _strings[id] is null)
        {
            return false;
        }

        _references[id]++;
        return true;
    }

    /// <summary>After a restore: drops slots no event references, so the table is as ingest would have built it.</summary>
    public void FinishRestore()
    {
        _free = 0;
        for (var id = 0; id < _count; id++)
        {
            if (_references[id] == 0)
            {
                if (_strings[id] is { } value)
                {
                    StringBytes -= SizeOf(value);
                    _strings[id] = null;
                }

                _free++;
            }
        }
    }

    private void Grow(int capacity)
    {
        Array.Resize(ref _strings, capacity);
        Array.Resize(ref _hashes, capacity);
        Array.Resize(ref _references, capacity);
    }
}
