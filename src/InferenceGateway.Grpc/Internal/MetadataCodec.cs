namespace InferenceGateway.Grpc.Internal;

/// <summary>Base64 for <c>-bin</c> header values; receivers must accept unpadded input (spec).</summary>
internal static class MetadataCodec
{
    public static bool TryDecodeBinary(string value, out byte[] bytes)
    {
        var padding = (4 - (value.Length % 4)) % 4;
        var padded = padding == 0 ? value : value + new string('=', padding);
        try
        {
            bytes = Convert.FromBase64String(padded);
            return true;
        }
        catch (FormatException)
        {
            bytes = [];
            return false;
        }
    }
}
