using System.Runtime.CompilerServices;

namespace InferenceGateway.Observability.Internal;

/// <summary>A stored tag set: the key of one series in its metric's dictionary.</summary>
internal sealed class SeriesKey
{
    public SeriesKey(ReadOnlySpan<KeyValuePair<string, object?>> tags, int hash)
    {
        Names = new string[tags.Length];
        Values = new object?[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            Names[i] = tags[i].Key;
            Values[i] = tags[i].Value;
        }

        Hash = hash;
    }

    public string[] Names { get; }

    public object?[] Values { get; }

    public int Hash { get; }
}

/// <summary>The measurement's tags as passed by the listener: looked up without copying them.</summary>
internal readonly ref struct TagSpan
{
    public TagSpan(ReadOnlySpan<KeyValuePair<string, object?>> tags) => Tags = tags;

    public ReadOnlySpan<KeyValuePair<string, object?>> Tags { get; }
}

/// <summary>
/// Compares tag sets regardless of tag order, so <c>(model, version)</c> and <c>(version, model)</c> are one series;
/// the alternate comparison lets the hot path look up a series from the listener's span without allocating.
/// </summary>
internal sealed class SeriesKeyComparer : IEqualityComparer<SeriesKey>, IAlternateEqualityComparer<TagSpan, SeriesKey>
{
    public static readonly SeriesKeyComparer Instance = new();

    public static int ComputeHash(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // A sum of per-tag hashes is order independent; the length is mixed in so {} and {a=""} differ.
        var sum = 0;
        foreach (var tag in tags)
        {
            sum = unchecked(sum + HashCode.Combine(tag.Key, tag.Value));
        }

        return HashCode.Combine(sum, tags.Length);
    }

    public bool Equals(SeriesKey? x, SeriesKey? y)
    {
        if (ReferenceEquals(x, y))
        {
            return true;
        }

        if (x is null || y is null || x.Hash != y.Hash || x.Names.Length != y.Names.Length)
        {
            return false;
        }

        for (var i = 0; i < x.Names.Length; i++)
        {
            if (!Contains(y, x.Names[i], x.Values[i], i))
            {
                return false;
            }
        }

        return true;
    }

    public int GetHashCode(SeriesKey obj) => obj.Hash;

    public bool Equals(TagSpan alternate, SeriesKey other)
    {
        var tags = alternate.Tags;
        if (tags.Length != other.Names.Length)
        {
            return false;
        }

        for (var i = 0; i < tags.Length; i++)
        {
            if (!Contains(other, tags[i].Key, tags[i].Value, i))
            {
                return false;
            }
        }

        return true;
    }

    public int GetHashCode(TagSpan alternate) => ComputeHash(alternate.Tags);

    public SeriesKey Create(TagSpan alternate) => new(alternate.Tags, ComputeHash(alternate.Tags));

    private static bool Contains(SeriesKey key, string name, object? value, int hint)
    {
        // Callers nearly always pass tags in the same order: try the same position first.
        if (string.Equals(key.Names[hint], name, StringComparison.Ordinal))
        {
            return Equals(key.Values[hint], value);
        }

        for (var j = 0; j < key.Names.Length; j++)
        {
            if (string.Equals(key.Names[j], name, StringComparison.Ordinal))
            {
                return Equals(key.Values[j], value);
            }
        }

        return false;
    }
}

/// <summary>The measurement's tags, compared by reference: the fast path for tag sets built once and reused.</summary>
internal readonly ref struct IdentityTagSpan
{
    public IdentityTagSpan(ReadOnlySpan<KeyValuePair<string, object?>> tags) => Tags = tags;

    public ReadOnlySpan<KeyValuePair<string, object?>> Tags { get; }
}

/// <summary>
/// Compares tag sets by the identity of their names and values, in order. Components build their tag lists once
/// (strings held in fields), so the same references come back on every measurement; hashing references is several
/// times cheaper than hashing string contents. Equal references imply equal contents, so a hit is always right;
/// a miss falls back to <see cref="SeriesKeyComparer"/>.
/// </summary>
internal sealed class IdentitySeriesKeyComparer : IEqualityComparer<SeriesKey>, IAlternateEqualityComparer<IdentityTagSpan, SeriesKey>
{
    public static readonly IdentitySeriesKeyComparer Instance = new();

    public static int ComputeHash(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var hash = tags.Length;
        foreach (var tag in tags)
        {
            hash = unchecked((hash * -1521134295) + RuntimeHelpers.GetHashCode(tag.Key));
            hash = unchecked((hash * -1521134295) + RuntimeHelpers.GetHashCode(tag.Value));
        }

        return hash;
    }

    public bool Equals(SeriesKey? x, SeriesKey? y)
    {
        if (ReferenceEquals(x, y))
        {
            return true;
        }

        if (x is null || y is null || x.Hash != y.Hash || x.Names.Length != y.Names.Length)
        {
            return false;
        }

        for (var i = 0; i < x.Names.Length; i++)
        {
            if (!ReferenceEquals(x.Names[i], y.Names[i]) || !ReferenceEquals(x.Values[i], y.Values[i]))
            {
                return false;
            }
        }

        return true;
    }

    public int GetHashCode(SeriesKey obj) => obj.Hash;

    public bool Equals(IdentityTagSpan alternate, SeriesKey other)
    {
        var tags = alternate.Tags;
        if (tags.Length != other.Names.Length)
        {
            return false;
        }

        for (var i = 0; i < tags.Length; i++)
        {
            if (!ReferenceEquals(tags[i].Key, other.Names[i]) || !ReferenceEquals(tags[i].Value, other.Values[i]))
            {
                return false;
            }
        }

        return true;
    }

    public int GetHashCode(IdentityTagSpan alternate) => ComputeHash(alternate.Tags);

    public SeriesKey Create(IdentityTagSpan alternate) => new(alternate.Tags, ComputeHash(alternate.Tags));
}
