using System.Buffers;
using System.Globalization;
using System.Text;

namespace InferenceGateway.Grpc;

/// <summary>
/// Wire-level helpers of the gRPC over HTTP/2 protocol: header names, <c>grpc-timeout</c> values and the
/// percent-encoding of <c>grpc-message</c>.
/// </summary>
public static class GrpcProtocol
{
    /// <summary>
    /// Ends a gRPC call that was answered (trailers-only) before its request body was read, e.g. by an admission
    /// check: sends the answer, then reads and discards what the client still sends (bounded) so HTTP/2 closes the
    /// stream at once rather than counting it against the connection. Return this from the request delegate.
    /// </summary>
    public static Task CompleteRefusedCallAsync(Microsoft.AspNetCore.Http.HttpContext context) =>
        Internal.EarlyEnd.CompleteAsync(context);

    /// <summary>The gRPC content type.</summary>
    public const string ContentType = "application/grpc";

    /// <summary>Header carrying the call timeout.</summary>
    public const string TimeoutHeader = "grpc-timeout";

    /// <summary>Header naming the message encoding of the sender.</summary>
    public const string EncodingHeader = "grpc-encoding";

    /// <summary>Header listing the encodings the sender accepts.</summary>
    public const string AcceptEncodingHeader = "grpc-accept-encoding";

    /// <summary>Trailer carrying the status code.</summary>
    public const string StatusTrailer = "grpc-status";

    /// <summary>Trailer carrying the percent-encoded status detail.</summary>
    public const string MessageTrailer = "grpc-message";

    /// <summary>
    /// Client call header (stripped before sending, same key as grpc-dotnet) that asks to compress request messages
    /// with the named encoding, e.g. <c>gzip</c>.
    /// </summary>
    public const string CompressionRequestHeader = "grpc-internal-encoding-request";

    /// <summary>The identity (no compression) encoding name.</summary>
    public const string IdentityEncoding = "identity";

    /// <summary>The gzip encoding name.</summary>
    public const string GzipEncoding = "gzip";

    /// <summary>The value of <c>grpc-accept-encoding</c> this library sends.</summary>
    public const string SupportedEncodings = "identity,gzip";

    private const int MaxTimeoutDigits = 8;
    private const long MaxTimeoutValue = 99_999_999;

    /// <summary>
    /// Parses a <c>grpc-timeout</c> value: 1 to 8 ASCII digits followed by a unit (H, M, S, m, u, n).
    /// </summary>
    public static bool TryParseTimeout(ReadOnlySpan<char> value, out TimeSpan timeout)
    {
        timeout = default;
        if (value.Length < 2 || value.Length > MaxTimeoutDigits + 1)
        {
            return false;
        }

        long amount = 0;
        for (var i = 0; i < value.Length - 1; i++)
        {
            var c = value[i];
            if (c < '0' || c > '9')
            {
                return false;
            }

            amount = (amount * 10) + (c - '0');
        }

        // Tick = 100 ns. The largest value (99,999,999 H) is ~4.2 million days, within TimeSpan's range.
        long ticks;
        switch (value[^1])
        {
            case 'H': ticks = amount * TimeSpan.TicksPerHour; break;
            case 'M': ticks = amount * TimeSpan.TicksPerMinute; break;
            case 'S': ticks = amount * TimeSpan.TicksPerSecond; break;
            case 'm': ticks = amount * TimeSpan.TicksPerMillisecond; break;
            case 'u': ticks = amount * 10; break;
            case 'n': ticks = amount / 100; break;
            default: return false;
        }

        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>
    /// Formats a timeout for <c>grpc-timeout</c> with the finest unit that fits in 8 digits (rounded up, so a server
    /// never sees a shorter timeout than the client's). Non-positive timeouts format as <c>0n</c>.
    /// </summary>
    public static string FormatTimeout(TimeSpan timeout)
    {
        var ticks = timeout.Ticks;
        if (ticks <= 0)
        {
            return "0n";
        }

        ReadOnlySpan<(long TicksPerUnit, char Unit)> units =
        [
            (1, 'n'), (10, 'u'), (TimeSpan.TicksPerMillisecond, 'm'), (TimeSpan.TicksPerSecond, 'S'),
            (TimeSpan.TicksPerMinute, 'M'), (TimeSpan.TicksPerHour, 'H'),
        ];
        foreach (var (ticksPerUnit, unit) in units)
        {
            if (unit == 'n')
            {
                // Nanoseconds: 100 per tick.
                if (ticks <= MaxTimeoutValue / 100)
                {
                    return (ticks * 100).ToString(CultureInfo.InvariantCulture) + "n";
                }

                continue;
            }

            var amount = (ticks + ticksPerUnit - 1) / ticksPerUnit;
            if (amount <= MaxTimeoutValue)
            {
                return amount.ToString(CultureInfo.InvariantCulture) + unit;
            }
        }

        return MaxTimeoutValue.ToString(CultureInfo.InvariantCulture) + "H";
    }

    /// <summary>
    /// Percent-encodes a status detail for <c>grpc-message</c>: UTF-8 bytes outside 0x20-0x7E, and '%', become %XX.
    /// Returns the input unchanged (no allocation) when nothing needs encoding.
    /// </summary>
    public static string PercentEncode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var needs = false;
        foreach (var c in value)
        {
            if (c < 0x20 || c > 0x7E || c == '%')
            {
                needs = true;
                break;
            }
        }

        if (!needs)
        {
            return value;
        }

        var bytes = Encoding.UTF8.GetBytes(value);
        var builder = new StringBuilder(bytes.Length * 3);
        foreach (var b in bytes)
        {
            if (b < 0x20 || b > 0x7E || b == '%')
            {
                builder.Append('%').Append(HexUpper(b >> 4)).Append(HexUpper(b & 0xF));
            }
            else
            {
                builder.Append((char)b);
            }
        }

        return builder.ToString();
    }

    /// <summary>
    /// Decodes a percent-encoded <c>grpc-message</c>. Malformed escapes are kept literally (the spec asks receivers to
    /// be lenient); invalid UTF-8 becomes U+FFFD.
    /// </summary>
    public static string PercentDecode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!value.Contains('%', StringComparison.Ordinal))
        {
            return value;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(value.Length));
        try
        {
            var length = 0;
            for (var i = 0; i < value.Length; i++)
            {
                var c = value[i];
                if (c == '%' && i + 2 < value.Length && TryHex(value[i + 1], out var high) && TryHex(value[i + 2], out var low))
                {
                    buffer[length++] = (byte)((high << 4) | low);
                    i += 2;
                }
                else if (c < 0x80)
                {
                    buffer[length++] = (byte)c;
                }
                else
                {
                    length += Encoding.UTF8.GetBytes(value.AsSpan(i, char.IsHighSurrogate(c) && i + 1 < value.Length ? 2 : 1), buffer.AsSpan(length));
                    if (char.IsHighSurrogate(c) && i + 1 < value.Length)
                    {
                        i++;
                    }
                }
            }

            return Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Whether a content type is a gRPC one: <c>application/grpc</c>, optionally followed by <c>+format</c> or
    /// <c>;params</c> (case-insensitive).
    /// </summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (contentType is null || !contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (contentType.Length == ContentType.Length)
        {
            return true;
        }

        var next = contentType[ContentType.Length];
        return next == '+' || next == ';';
    }

    /// <summary>Whether an encoding list (e.g. <c>grpc-accept-encoding</c>) names an encoding.</summary>
    public static bool EncodingListContains(string? list, string encoding)
    {
        if (string.IsNullOrEmpty(list))
        {
            return false;
        }

        foreach (var range in list.AsSpan().Split(','))
        {
            if (list.AsSpan(range).Trim().Equals(encoding, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static char HexUpper(int nibble) => (char)(nibble < 10 ? '0' + nibble : 'A' + nibble - 10);

    private static bool TryHex(char c, out int value)
    {
        value = c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'A' and <= 'F' => c - 'A' + 10,
            >= 'a' and <= 'f' => c - 'a' + 10,
            _ => -1,
        };
        return value >= 0;
    }
}
