using System.Buffers.Binary;
using System.Net.Http.Headers;

namespace InferenceGateway.Grpc.Tests.Infrastructure;

/// <summary>Hand-built gRPC requests for protocol-level tests.</summary>
public static class RawGrpc
{
    public static byte[] Frame(byte[] payload, byte flag = 0)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    public static async Task<HttpResponseMessage> PostAsync(HttpClient client, string path, byte[] body, string contentType = "application/grpc",
        string? acceptEncoding = null, string? encoding = null, string? timeout = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (acceptEncoding is not null)
        {
            request.Headers.TryAddWithoutValidation("grpc-accept-encoding", acceptEncoding);
        }

        if (encoding is not null)
        {
            request.Headers.TryAddWithoutValidation("grpc-encoding", encoding);
        }

        if (timeout is not null)
        {
            request.Headers.TryAddWithoutValidation("grpc-timeout", timeout);
        }

        return await client.SendAsync(request);
    }

    /// <summary>grpc-status from headers (trailers-only) or trailers (read the body first).</summary>
    public static string? GrpcStatus(HttpResponseMessage response) => Value(response, "grpc-status");

    public static string? GrpcMessage(HttpResponseMessage response) => Value(response, "grpc-message");

    public static bool IsTrailersOnly(HttpResponseMessage response) => response.Headers.Contains("grpc-status");

    private static string? Value(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.TrailingHeaders.TryGetValues(name, out values)
            ? string.Join(",", values)
            : null;
}
