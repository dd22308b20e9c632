using System.IO.Compression;

namespace InferenceGateway.Grpc;

/// <summary>Server options (defaults as in grpc-dotnet).</summary>
public sealed class GrpcServerOptions
{
    /// <summary>Largest accepted request message in bytes, after decompression; null for no limit. Default 4 MiB.</summary>
    public int? MaxReceiveMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest response message in bytes before compression; null (default) for no limit.</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>Whether handler exception messages are sent to clients (never stack traces). Default false.</summary>
    public bool EnableDetailedErrors { get; set; }

    /// <summary>
    /// Encoding used for responses when the client's <c>grpc-accept-encoding</c> lists it: null (default, none) or
    /// <c>gzip</c>. A handler can override it per call with <see cref="ServerCallContext.ResponseCompressionAlgorithm"/>.
    /// </summary>
    public string? ResponseCompressionAlgorithm { get; set; }

    /// <summary>gzip level for responses. Default <see cref="CompressionLevel.Fastest"/>.</summary>
    public CompressionLevel ResponseCompressionLevel { get; set; } = CompressionLevel.Fastest;

    internal void Validate()
    {
        if (MaxReceiveMessageSize is <= 0)
        {
            throw new InvalidOperationException("GrpcServerOptions.MaxReceiveMessageSize must be positive or null.");
        }

        if (MaxSendMessageSize is <= 0)
        {
            throw new InvalidOperationException("GrpcServerOptions.MaxSendMessageSize must be positive or null.");
        }

        if (ResponseCompressionAlgorithm is not null && !Internal.GrpcCompression.IsSupported(ResponseCompressionAlgorithm))
        {
            throw new InvalidOperationException($"Unsupported response compression '{ResponseCompressionAlgorithm}'; supported: gzip.");
        }
    }
}
