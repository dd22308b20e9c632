using InferenceGateway.LoadTest.Engine;

namespace InferenceGateway.LoadTest.Targets;

/// <summary>
/// An IngestEvents call succeeds only when its <c>IngestSummary</c> says every event it sent was applied:
/// <c>accepted</c> (field 1) equals the events sent, <c>dropped_late</c> (2) and <c>rejected</c> (3) are zero.
/// Read straight from the wire (fields 1 to 3 are varints that come before the string field 4 in Google.Protobuf's
/// field order), so the h2 client keeps its no-allocation calls.
/// </summary>
public sealed class IngestSummaryCheck : IResponseCheck
{
    private readonly long _expected;

    /// <summary>Creates the check for calls of <paramref name="eventsPerCall"/> events.</summary>
    public IngestSummaryCheck(int eventsPerCall)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(eventsPerCall, 1);
        _expected = eventsPerCall;
    }

    /// <inheritdoc />
    public int CaptureBytes => 64; // frame header + three 10-byte varints and their tags, with room to spare

    /// <inheritdoc />
    public int Check(ReadOnlySpan<byte> message, bool truncated) => Judge(message, _expected);

    /// <summary>The outcome code for a serialized IngestSummary when <paramref name="expected"/> events were sent.</summary>
    public static int Judge(ReadOnlySpan<byte> message, long expected)
    {
        long accepted = 0, late = 0, rejected = 0;
        int at = 0;
        while (at < message.Length)
        {
            if (!TryReadVarint(message, ref at, out ulong tag))
            {
                return OutcomeCodes.ClientError;
            }

            int field = (int)(tag >> 3);
            if (field >= 4 || (tag & 7) != 0)
            {
                // first_rejection and anything after it: the counts are already read.
                break;
            }

            if (!TryReadVarint(message, ref at, out ulong value))
            {
                return OutcomeCodes.ClientError;
            }

            switch (field)
            {
                case 1: accepted = (long)value; break;
                case 2: late = (long)value; break;
                case 3: rejected = (long)value; break;
                default: break;
            }
        }

        if (rejected > 0)
        {
            return OutcomeCodes.IngestRejected;
        }

        if (late > 0)
        {
            return OutcomeCodes.IngestDroppedLate;
        }

        return accepted == expected ? OutcomeCodes.Ok : OutcomeCodes.IngestRejected;
    }

    private static bool TryReadVarint(ReadOnlySpan<byte> data, ref int at, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 64 && at < data.Length; shift += 7)
        {
            byte b = data[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }
}
