namespace InferenceGateway.Core.Features.Internal;

/// <summary>
/// A fixed-size, lock-free cache of string instances: equal strings arriving in different events (each a fresh object
/// from the wire) are replaced by one canonical instance, so a million cards that shop at the same merchant hold one
/// copy of its id. Collisions simply overwrite a slot (the old instance stays alive while events reference it), so
/// memory stays bounded whatever the cardinality; racing writers are harmless because a slot holds one reference.
/// </summary>
internal sealed class StringDeduplicator(int slots)
{
    private readonly string?[] _slots = new string?[slots];

    /// <summary>Bytes of the slot array (the strings are counted by the entities that hold them).</summary>
    public long Bytes => 24 + (8L * _slots.Length);

    public string Canonicalize(string value, int hash)
    {
        ref var slot = ref _slots[hash & (_slots.Length - 1)];
        var existing = Volatile.Read(ref slot);
        if (existing is not null && string.Equals(existing, value, StringComparison.Ordinal))
        {
            return existing;
        }

        Volatile.Write(ref slot, value);
        return value;
    }
}
