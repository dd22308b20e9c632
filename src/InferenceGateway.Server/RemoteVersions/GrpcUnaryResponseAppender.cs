using System.Buffers;
using System.Buffers.Binary;

namespace InferenceGateway.Server.RemoteVersions;

/// <summary>
/// Sits in front of a forwarded call's response body: passes the replica's bytes through unchanged, except that the
/// one message of a unary gRPC answer gets <paramref name="suffix"/> appended (fields that protobuf merges into the
/// message: the gateway's version name, the experiment arm) and its length prefix adjusted. A compressed message is
/// passed through as it is (its bytes cannot be appended to; the request asked the replica not to compress).
/// </summary>
internal sealed class GrpcUnaryResponseAppender(HttpContext context, Stream inner, byte[] suffix, bool captureOutputs = false) : Stream
{
    /// <summary>
    /// With <c>captureOutputs</c>, the first FP32 output of the replica's answer (for the prediction log); empty when
    /// not captured, compressed, or the answer has none.
    /// </summary>
    public float[] Outputs { get; private set; } = [];

    private readonly byte[] _prefix = new byte[5];
    private int _prefixRead;
    private byte[]? _message;
    private int _messageLength;
    private int _messageRead;
    private bool _passThrough;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        if (!context.Response.HasStarted)
        {
            context.Response.ContentLength = null; // the body grows by the suffix
        }

        return _message is null || _passThrough ? inner.FlushAsync(cancellationToken) : Task.CompletedTask;
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!context.Response.HasStarted)
        {
            context.Response.ContentLength = null; // the body grows by the suffix
        }

        while (!buffer.IsEmpty && !_passThrough)
        {
            if (_prefixRead < 5)
            {
                var take = Math.Min(5 - _prefixRead, buffer.Length);
                buffer.Span[..take].CopyTo(_prefix.AsSpan(_prefixRead));
                _prefixRead += take;
                buffer = buffer[take..];
                if (_prefixRead < 5)
                {
                    return;
                }

                _messageLength = checked((int)BinaryPrimitives.ReadUInt32BigEndian(_prefix.AsSpan(1)));
                if (_prefix[0] != 0)
                {
                    _passThrough = true;
                    await inner.WriteAsync(_prefix, cancellationToken).ConfigureAwait(false);
                    break;
                }

                _message = ArrayPool<byte>.Shared.Rent(Math.Max(_messageLength, 1));
            }

            var chunk = Math.Min(_messageLength - _messageRead, buffer.Length);
            buffer.Span[..chunk].CopyTo(_message.AsSpan(_messageRead));
            _messageRead += chunk;
            buffer = buffer[chunk..];
            if (_messageRead == _messageLength)
            {
                await EmitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        if (!buffer.IsEmpty)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task EmitAsync(CancellationToken cancellationToken)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_prefix.AsSpan(1), checked((uint)(_messageLength + suffix.Length)));
        await inner.WriteAsync(_prefix, cancellationToken).ConfigureAwait(false);
        await inner.WriteAsync(_message.AsMemory(0, _messageLength), cancellationToken).ConfigureAwait(false);
        await inner.WriteAsync(suffix, cancellationToken).ConfigureAwait(false);
        await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (captureOutputs)
        {
            try
            {
                Outputs = Experiments.ShadowMirror.FirstFp32Output(Contracts.Inference.ModelInferResponse.Parser.ParseFrom(_message, 0, _messageLength));
            }
            catch (Google.Protobuf.InvalidProtocolBufferException)
            {
                // Not a ModelInferResponse the log can read: the client got it as it came; the record has no outputs.
            }
        }

        ReturnMessage();
        _passThrough = true;
    }

    /// <summary>Writes whatever is held back when the replica's answer ended early (it is then not valid anyway).</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        if (_passThrough || _prefixRead == 0)
        {
            return;
        }

        _passThrough = true;
        await inner.WriteAsync(_prefix.AsMemory(0, _prefixRead), cancellationToken).ConfigureAwait(false);
        if (_message is not null)
        {
            await inner.WriteAsync(_message.AsMemory(0, _messageRead), cancellationToken).ConfigureAwait(false);
            ReturnMessage();
        }
    }

    private void ReturnMessage()
    {
        if (_message is not null)
        {
            ArrayPool<byte>.Shared.Return(_message);
            _message = null;
        }
    }

    protected override void Dispose(bool disposing)
    {
        ReturnMessage();
        base.Dispose(disposing);
    }
}
