using System.Buffers;
using System.Net;
using System.Net.Http.Headers;

namespace InferenceGateway.Grpc.Internal;

/// <summary>Request body of one framed message in a pooled buffer (unary and server-streaming calls).</summary>
internal sealed class PayloadContent : HttpContent
{
    private byte[]? _buffer;
    private readonly int _length;

    public PayloadContent(PooledBufferWriter framed)
    {
        // The content owns the rented array until the call ends: HttpClient may resend it on a refused stream.
        _buffer = framed.Detach(out _length);
        Headers.ContentType = GrpcHeaders.ContentTypeHeader;
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var buffer = _buffer ?? throw new ObjectDisposedException(nameof(PayloadContent));
        return stream.WriteAsync(buffer.AsMemory(0, _length), cancellationToken).AsTask();
    }

    protected override bool TryComputeLength(out long length)
    {
        length = _length;
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is { Length: > 0 })
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        base.Dispose(disposing);
    }
}

/// <summary>Request body that stays open while the caller writes messages (client-streaming and duplex calls).</summary>
internal sealed class StreamingContent : HttpContent
{
    private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _complete = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StreamingContent() => Headers.ContentType = GrpcHeaders.ContentTypeHeader;

    public Task<Stream> StreamTask => _stream.Task;

    /// <summary>Ends the request body (half-close).</summary>
    public void CompleteRequest() => _complete.TrySetResult();

    /// <summary>The call ended before the body was requested: fail pending writers.</summary>
    public void Abort()
    {
        // Canceled rather than faulted: nobody may be waiting, and a faulted task would go unobserved.
        _stream.TrySetCanceled();
        _complete.TrySetResult();
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        _stream.TrySetResult(stream);
        await _complete.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }
}

internal static class GrpcHeaders
{
    public static readonly MediaTypeHeaderValue ContentTypeHeader = new(GrpcProtocol.ContentType);
    public const string UserAgent = "grpc-dotnet-inferencegateway/1.0";
}
