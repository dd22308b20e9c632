using System.Numerics;

namespace InferenceGateway.Core.Features.Internal;

/// <summary>
/// Per-thread scratch for exact distinct counts, reused across lookups so counting allocates nothing once warm:
/// a generation-stamped array indexed by symbol id (strings), or a generation-stamped open-addressing table of 64-bit
/// keys (numbers). Bumping the generation empties either in O(1).
/// </summary>
internal static class DistinctCounter
{
    [ThreadStatic]
    private static int[]? t_idStamps;

    [ThreadStatic]
    private static int[]? t_keyStamps;

    [ThreadStatic]
    private static long[]? t_keys;

    [ThreadStatic]
    private static int t_generation;

    /// <summary>Distinct values among <paramref name="ids"/>, each below <paramref name="idLimit"/>.</summary>
    public static int CountIds(ReadOnlySpan<int> ids, int idLimit)
    {
        var stamps = t_idStamps;
        if (stamps is null || stamps.Length < idLimit)
        {
            stamps = t_idStamps = new int[Math.Max(64, (int)BitOperations.RoundUpToPowerOf2((uint)idLimit))];
        }

        var generation = NextGeneration();
        var distinct = 0;
        foreach (var id in ids)
        {
            if (stamps[id] != generation)
            {
                stamps[id] = generation;
                distinct++;
            }
        }

        return distinct;
    }

    /// <summary>A table for at most <paramref name="count"/> keys (one lookup's window).</summary>
    public static KeySet RentKeySet(int count)
    {
        var size = Math.Max(64, (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, count) * 2));
        var keys = t_keys;
        var stamps = t_keyStamps;
        if (keys is null || keys.Length < size)
        {
            keys = t_keys = new long[size];
            stamps = t_keyStamps = new int[size];
        }

        return new KeySet(keys, stamps!, NextGeneration(), size - 1, 64 - BitOperations.Log2((uint)size));
    }

    private static int NextGeneration()
    {
        // Generation 0 marks an empty slot in a fresh array; on wrap-around clear every array once.
        var generation = ++t_generation;
        if (generation <= 0)
        {
            t_generation = generation = 1;
            Array.Clear(t_idStamps ?? []);
            Array.Clear(t_keyStamps ?? []);
        }

        return generation;
    }

    /// <summary>Open-addressing set of 64-bit keys over the thread's scratch arrays.</summary>
    internal ref struct KeySet(long[] keys, int[] stamps, int generation, int mask, int shift)
    {
        private int _count;

        public readonly int Count => _count;

        public void Add(long key)
        {
            // Fibonacci hashing: the top bits of the product spread consecutive keys (cents, ids) over the table.
            var i = (int)((ulong)key * 0x9E3779B97F4A7C15UL >> shift) & mask;
            while (stamps[i] == generation)
            {
                if (keys[i] == key)
                {
                    return;
                }

                i = (i + 1) & mask;
            }

            stamps[i] = generation;
            keys[i] = key;
            _count++;
        }
    }
}
