using System.Buffers;
using System.Globalization;
using System.Text;

namespace InferenceGateway.Observability.Internal;

/// <summary>Small helpers writing exposition text straight into the caller's buffer writer.</summary>
internal static class Utf8Output
{
    public static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> bytes)
    {
        var span = writer.GetSpan(bytes.Length);
        bytes.CopyTo(span);
        writer.Advance(bytes.Length);
    }

    public static void Write(IBufferWriter<byte> writer, string text)
    {
        var span = writer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        var written = Encoding.UTF8.GetBytes(text, span);
        writer.Advance(written);
    }

    public static void WriteLong(IBufferWriter<byte> writer, long value)
    {
        var span = writer.GetSpan(24);
        value.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
        writer.Advance(written);
    }

    public static void WriteDouble(IBufferWriter<byte> writer, double value)
    {
        if (double.IsNaN(value))
        {
            Write(writer, "NaN"u8);
        }
        else if (double.IsPositiveInfinity(value))
        {
            Write(writer, "+Inf"u8);
        }
        else if (double.IsNegativeInfinity(value))
        {
            Write(writer, "-Inf"u8);
        }
        else
        {
            var span = writer.GetSpan(32);
            value.TryFormat(span, out var written, "R", CultureInfo.InvariantCulture);
            writer.Advance(written);
        }
    }

    /// <summary>Writes <c>{labels,extraName="extraValue"}</c>, <c>{labels}</c> or nothing.</summary>
    public static void WriteLabels(IBufferWriter<byte> writer, byte[] labels, ReadOnlySpan<byte> extra)
    {
        if (labels.Length == 0 && extra.IsEmpty)
        {
            return;
        }

        Write(writer, "{"u8);
        Write(writer, labels);
        if (!extra.IsEmpty)
        {
            if (labels.Length > 0)
            {
                Write(writer, ","u8);
            }

            Write(writer, extra);
        }

        Write(writer, "}"u8);
    }
}
