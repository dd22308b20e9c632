using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace InferenceGateway.Grpc.Internal;

/// <summary>Settings of one direction of a call: size limit and message encoding.</summary>
internal readonly record struct FrameReadSettings(int? MaxMessageSize, string? Encoding, bool IsClient);

/// <summary>
/// The length-prefixed message framing (1-byte compressed flag, 4-byte big-endian length, payload), shared by the
/// server (PipeReader over the request body) and the client (PipeReader over the response stream).
/// </summary>
internal static class MessageFraming
{
    public const int HeaderSize = 5;
    public const string ReceivedTooLarge = "Received message exceeds the maximum configured message size.";
    public const string SendingTooLarge = "Sending message exceeds the maximum configured message size.";
    public const string IncompleteMessage = "Incomplete message.";
    public const string AdditionalData = "Additional data after the message received.";

    [ThreadStatic]
    private static FrameSerializationContext? t_serializationContext;

    [ThreadStatic]
    private static FrameDeserializationContext? t_deserializationContext;

    /// <summary>
    /// Serializes one message and writes it framed to <paramref name="output"/>. Without compression a marshaller that
    /// announces its size writes straight into <paramref name="output"/>; otherwise it goes through a pooled buffer.
    /// </summary>
    public static void WriteMessage<T>(IBufferWriter<byte> output, T message, Action<T, SerializationContext> serializer, string? compression, CompressionLevel level, int? maxSize)
    {
        // Serialization is synchronous, so one context per thread can be reused without allocation.
        var context = t_serializationContext ??= new FrameSerializationContext();
        context.Initialize(output, compression, level, maxSize);
        try
        {
            serializer(message, context);
            if (!context.IsCompleted)
            {
                throw new InvalidOperationException("Serialize message didn't call SerializationContext.Complete.");
            }
        }
        finally
        {
            context.Reset();
        }
    }

    /// <summary>Parses one frame's header; false when more bytes are needed. Advances <paramref name="buffer"/> past the frame.</summary>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, in FrameReadSettings settings, out bool compressed, out ReadOnlySequence<byte> payload)
    {
        compressed = false;
        payload = default;
        if (buffer.Length < HeaderSize)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        var flag = header[0];
        if (flag > 1)
        {
            throw new RpcException(new Status(StatusCode.Internal, "Unexpected compressed flag value in message header."));
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        if (length > int.MaxValue || (settings.MaxMessageSize is { } max && length > (uint)max))
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, ReceivedTooLarge));
        }

        if (buffer.Length < HeaderSize + length)
        {
            return false;
        }

        compressed = flag == 1;
        payload = buffer.Slice(HeaderSize, length);
        buffer = buffer.Slice(payload.End);
        return true;
    }

    /// <summary>Checks a complete frame header early, so an oversized message fails before it is buffered.</summary>
    /// <remarks>Also bounds buffering for single-message reads: bytes past the first frame are an error at once.</remarks>
    public static void CheckSingleFrameHeader(in ReadOnlySequence<byte> buffer, in FrameReadSettings settings)
    {
        if (buffer.Length < HeaderSize)
        {
            return;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        var length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        if (settings.MaxMessageSize is { } max && length > (uint)max)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, ReceivedTooLarge));
        }

        if (buffer.Length > HeaderSize + (long)length)
        {
            throw new RpcException(new Status(StatusCode.Internal, AdditionalData));
        }
    }

    /// <summary>Decompresses when needed and runs the deserializer; failures become INTERNAL (or the decompression status).</summary>
    public static T Deserialize<T>(ReadOnlySequence<byte> payload, bool compressed, in FrameReadSettings settings, Func<DeserializationContext, T> deserializer)
    {
        PooledBufferWriter? decompressed = null;
        try
        {
            if (compressed)
            {
                var encoding = settings.Encoding;
                if (encoding is null || string.Equals(encoding, GrpcProtocol.IdentityEncoding, StringComparison.OrdinalIgnoreCase))
                {
                    throw new RpcException(new Status(StatusCode.Internal, settings.IsClient
                        ? "Response did not include grpc-encoding value with compressed message."
                        : "Request did not include grpc-encoding value with compressed message."));
                }

                if (!GrpcCompression.IsSupported(encoding))
                {
                    // Per the spec, a message compressed with an encoding the receiver lacks is UNIMPLEMENTED.
                    throw new RpcException(new Status(StatusCode.Unimplemented,
                        $"Unsupported grpc-encoding value '{encoding}'. Supported encodings: {GrpcProtocol.SupportedEncodings}"));
                }

                decompressed = new PooledBufferWriter();
                GrpcCompression.Decompress(payload, decompressed, settings.MaxMessageSize);
                payload = new ReadOnlySequence<byte>(decompressed.WrittenMemory);
            }

            var context = t_deserializationContext ??= new FrameDeserializationContext();
            context.Initialize(payload);
            try
            {
                return deserializer(context);
            }
            catch (Exception ex) when (ex is not RpcException)
            {
                throw new RpcException(new Status(StatusCode.Internal, settings.IsClient
                    ? "Failed to deserialize response message."
                    : "Failed to deserialize request message.", ex));
            }
            finally
            {
                context.Initialize(default);
            }
        }
        finally
        {
            decompressed?.Reset();
        }
    }

    /// <summary>
    /// One read of the body; completes synchronously (no allocation) when data is already buffered. A server-side
    /// IOException (client reset) is turned into CANCELLED by the callers, which also cover AdvanceTo.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<ReadResult> ReadBodyAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCanceled)
        {
            reader.AdvanceTo(result.Buffer.Start);
            throw new OperationCanceledException("Read canceled.");
        }

        return result;
    }

    /// <summary>
    /// Reads the next message of a stream; null at a clean end of stream. Consumes the frame from the reader.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<T?> ReadStreamMessageAsync<T>(PipeReader reader, FrameReadSettings settings, Func<DeserializationContext, T> deserializer, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            while (true)
            {
                var result = await ReadBodyAsync(reader, cancellationToken).ConfigureAwait(false);
                var buffer = result.Buffer;

                T? message = null;
                bool found;
                try
                {
                    found = TryReadFrame(ref buffer, settings, out var compressed, out var payload);
                    if (found)
                    {
                        message = Deserialize(payload, compressed, settings, deserializer);
                    }
                }
                catch
                {
                    reader.AdvanceTo(result.Buffer.End);
                    throw;
                }

                if (found)
                {
                    reader.AdvanceTo(buffer.Start);
                    return message;
                }

                if (result.IsCompleted)
                {
                    reader.AdvanceTo(buffer.End);
                    if (buffer.Length == 0)
                    {
                        return null;
                    }

                    throw new RpcException(new Status(StatusCode.Internal, IncompleteMessage));
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (IOException ex) when (!settings.IsClient)
        {
            // Kestrel fails ReadAsync, and also AdvanceTo, once the client has reset the stream (RST_STREAM), possibly
            // before RequestAborted fires: a cancellation by the client, not a server error to log.
            throw ClientReset(ex);
        }
    }

    /// <summary>
    /// Reads exactly one message and the end of the stream (unary and server-streaming requests): zero messages,
    /// a truncated one or extra data are INTERNAL, as in grpc-dotnet.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<T> ReadSingleMessageAsync<T>(PipeReader reader, FrameReadSettings settings, Func<DeserializationContext, T> deserializer, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            while (true)
            {
                var result = await ReadBodyAsync(reader, cancellationToken).ConfigureAwait(false);
                var buffer = result.Buffer;

                T message;
                try
                {
                    CheckSingleFrameHeader(buffer, settings);
                    if (!result.IsCompleted)
                    {
                        message = null!;
                    }
                    else
                    {
                        var remaining = buffer;
                        if (!TryReadFrame(ref remaining, settings, out var compressed, out var payload))
                        {
                            throw new RpcException(new Status(StatusCode.Internal, IncompleteMessage));
                        }

                        if (remaining.Length != 0)
                        {
                            throw new RpcException(new Status(StatusCode.Internal, AdditionalData));
                        }

                        message = Deserialize(payload, compressed, settings, deserializer);
                    }
                }
                catch
                {
                    reader.AdvanceTo(buffer.End);
                    throw;
                }

                if (!result.IsCompleted)
                {
                    // Kestrel credits HTTP/2 flow control for examined bytes, so buffering a large message does not stall.
                    reader.AdvanceTo(buffer.Start, buffer.End);
                    continue;
                }

                reader.AdvanceTo(buffer.End);
                return message;
            }
        }
        catch (IOException ex) when (!settings.IsClient)
        {
            // Kestrel fails ReadAsync, and also AdvanceTo, once the client has reset the stream (RST_STREAM), possibly
            // before RequestAborted fires: a cancellation by the client, not a server error to log.
            throw ClientReset(ex);
        }
    }

    /// <summary>A server-side body read failed because the client reset the stream (RST_STREAM): CANCELLED, not a handler error.</summary>
    private static RpcException ClientReset(IOException ex) =>
        new(new Status(StatusCode.Cancelled, "The client reset the request stream.", ex));

    private static void WriteHeader(IBufferWriter<byte> output, bool compressed, int length)
    {
        var span = output.GetSpan(HeaderSize);
        span[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)length);
        output.Advance(HeaderSize);
    }

    private sealed class FrameSerializationContext : SerializationContext, IBufferWriter<byte>
    {
        private readonly PooledBufferWriter _payload = new();
        private readonly PooledBufferWriter _compressed = new();
        private IBufferWriter<byte>? _output;
        private string? _compression;
        private CompressionLevel _level;
        private int? _maxSize;
        private int _expectedLength = -1;
        private int _directWritten;
        private bool _direct;
        private bool _bufferRequested;

        public bool IsCompleted { get; private set; }

        public void Initialize(IBufferWriter<byte> output, string? compression, CompressionLevel level, int? maxSize)
        {
            _output = output;
            _compression = compression;
            _level = level;
            _maxSize = maxSize;
        }

        public void Reset()
        {
            _output = null;
            _compression = null;
            _maxSize = null;
            _expectedLength = -1;
            _directWritten = 0;
            _direct = false;
            _bufferRequested = false;
            IsCompleted = false;
            _payload.Reset();
            _compressed.Reset();
        }

        public override void SetPayloadLength(int payloadLength)
        {
            if (_bufferRequested)
            {
                throw new InvalidOperationException("SetPayloadLength must be called before GetBufferWriter.");
            }

            CheckSize(payloadLength);
            _expectedLength = payloadLength;
            if (_compression is null)
            {
                // Known length and no compression: frame header now, payload straight into the transport buffer.
                WriteHeader(_output!, compressed: false, payloadLength);
                _direct = true;
            }
        }

        public override IBufferWriter<byte> GetBufferWriter()
        {
            _bufferRequested = true;
            return _direct ? this : _payload;
        }

        public override void Complete()
        {
            if (_direct)
            {
                if (_directWritten != _expectedLength)
                {
                    throw new InvalidOperationException($"Serializer wrote {_directWritten} bytes after announcing {_expectedLength}.");
                }
            }
            else
            {
                WritePayload(_payload.WrittenSpan);
            }

            IsCompleted = true;
        }

        public override void Complete(byte[] payload)
        {
            if (_direct)
            {
                if (payload.Length != _expectedLength)
                {
                    throw new InvalidOperationException("Payload length differs from the announced length.");
                }

                _output!.Write(payload);
            }
            else
            {
                WritePayload(payload);
            }

            IsCompleted = true;
        }

        void IBufferWriter<byte>.Advance(int count)
        {
            _directWritten += count;
            _output!.Advance(count);
        }

        Memory<byte> IBufferWriter<byte>.GetMemory(int sizeHint) => _output!.GetMemory(sizeHint);

        Span<byte> IBufferWriter<byte>.GetSpan(int sizeHint) => _output!.GetSpan(sizeHint);

        private void WritePayload(ReadOnlySpan<byte> payload)
        {
            CheckSize(payload.Length);
            if (_compression is null)
            {
                WriteHeader(_output!, compressed: false, payload.Length);
                _output!.Write(payload);
                return;
            }

            GrpcCompression.Compress(payload, _compressed, _level);
            WriteHeader(_output!, compressed: true, _compressed.WrittenCount);
            _output!.Write(_compressed.WrittenSpan);
        }

        private void CheckSize(int length)
        {
            if (_maxSize is { } max && length > max)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted, SendingTooLarge));
            }
        }
    }

    private sealed class FrameDeserializationContext : DeserializationContext
    {
        private ReadOnlySequence<byte> _payload;

        public override int PayloadLength => checked((int)_payload.Length);

        public void Initialize(ReadOnlySequence<byte> payload) => _payload = payload;

        public override ReadOnlySequence<byte> PayloadAsReadOnlySequence() => _payload;
    }
}
