using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace InferenceGateway.Core.Routing;

/// <summary>
/// The 64-bit hash behind sticky routing: a fixed function of the key's UTF-8 bytes and a seed, so a key lands on the
/// same arm in every process, after every restart and on every replica (unlike <see cref="string.GetHashCode()"/>,
/// which .NET randomizes per process). Not cryptographic: keys are not adversarial here, only many.
/// </summary>
public static class StickyHash
{
    private const ulong Prime1 = 0x9E3779B97F4A7C15;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4F;
    private const ulong Prime3 = 0x165667B19E3779F9;
    private const int StackLimit = 256;

    /// <summary>Hashes <paramref name="data"/> with <paramref name="seed"/>.</summary>
    public static ulong Hash(ReadOnlySpan<byte> data, ulong seed)
    {
        var h = seed ^ ((ulong)data.Length * Prime1);
        while (data.Length >= 8)
        {
            h = Round(h, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        if (!data.IsEmpty)
        {
            // The tail, zero-padded; the length folded in above keeps "a" and "a\0" apart.
            ulong tail = 0;
            for (var i = data.Length - 1; i >= 0; i--)
            {
                tail = (tail << 8) | data[i];
            }

            h = Round(h, tail);
        }

        return Finalize(h);
    }

    /// <summary>Hashes the UTF-8 encoding of <paramref name="text"/>, without allocating for keys up to 85 characters.</summary>
    public static ulong Hash(ReadOnlySpan<char> text, ulong seed)
    {
        if (text.Length <= StackLimit / 3)
        {
            Span<byte> utf8 = stackalloc byte[StackLimit];
            var written = Encoding.UTF8.GetBytes(text, utf8);
            return Hash(utf8[..written], seed);
        }

        return Hash(Encoding.UTF8.GetBytes(text.ToArray()), seed);
    }

    /// <summary>Mixes two 64-bit values into one well-distributed value (per-arm and per-shadow draws from one key hash).</summary>
    public static ulong Mix(ulong value, ulong seed) => Finalize(Round(seed ^ Prime3, value));

    /// <summary>A uniform double in (0, 1) from the hash's top 53 bits: never 0, so its logarithm is finite.</summary>
    public static double ToUnitInterval(ulong hash) => ((hash >> 11) + 0.5) * (1.0 / (1UL << 53));

    private static ulong Round(ulong h, ulong block)
    {
        block *= Prime2;
        block = BitOperations.RotateLeft(block, 31);
        block *= Prime1;
        h ^= block;
        return (BitOperations.RotateLeft(h, 27) * Prime1) + Prime3;
    }

    // The murmur3 64-bit finalizer: every input bit affects every output bit with probability about one half.
    private static ulong Finalize(ulong h)
    {
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCD;
        h ^= h >> 33;
        h *= 0xC4CEB9FE1A85EC53;
        h ^= h >> 33;
        return h;
    }
}
