using System.Buffers;
using System.Text;
using Google.Protobuf;

namespace InferenceGateway.Grpc;

/// <summary>Serializes and deserializes messages of one type (shaped like Grpc.Core's <c>Marshaller&lt;T&gt;</c>).</summary>
/// <typeparam name="T">The message type.</typeparam>
public sealed class Marshaller<T>
{
    /// <summary>Creates a marshaller from contextual delegates (the allocation-free form).</summary>
    public Marshaller(Action<T, SerializationContext> serializer, Func<DeserializationContext, T> deserializer)
    {
        ContextualSerializer = serializer ?? throw new ArgumentNullException(nameof(serializer));
        ContextualDeserializer = deserializer ?? throw new ArgumentNullException(nameof(deserializer));
    }

    /// <summary>Creates a marshaller from simple byte-array delegates (allocates an array per message).</summary>
    public Marshaller(Func<T, byte[]> serializer, Func<byte[], T> deserializer)
    {
        ArgumentNullException.ThrowIfNull(serializer);
        ArgumentNullException.ThrowIfNull(deserializer);
        ContextualSerializer = (message, context) => context.Complete(serializer(message));
        ContextualDeserializer = context => deserializer(context.PayloadAsNewBuffer());
    }

    /// <summary>Writes one message into the context, then calls <see cref="SerializationContext.Complete()"/>.</summary>
    public Action<T, SerializationContext> ContextualSerializer { get; }

    /// <summary>Reads one message from the context's payload.</summary>
    public Func<DeserializationContext, T> ContextualDeserializer { get; }
}

/// <summary>Where a serializer writes one message. Used synchronously, never kept after the call returns.</summary>
public abstract class SerializationContext
{
    /// <summary>Announces the payload length before writing, which lets the transport write the frame in place.</summary>
    public virtual void SetPayloadLength(int payloadLength)
    {
    }

    /// <summary>The writer that receives the payload bytes.</summary>
    public abstract IBufferWriter<byte> GetBufferWriter();

    /// <summary>Marks the payload written through <see cref="GetBufferWriter"/> as complete.</summary>
    public abstract void Complete();

    /// <summary>Completes with a whole payload array.</summary>
    public abstract void Complete(byte[] payload);
}

/// <summary>The payload of one received message. Valid only during the deserializer call.</summary>
public abstract class DeserializationContext
{
    /// <summary>Length of the (decompressed) payload.</summary>
    public abstract int PayloadLength { get; }

    /// <summary>The payload without copying; do not keep it after the deserializer returns.</summary>
    public abstract ReadOnlySequence<byte> PayloadAsReadOnlySequence();

    /// <summary>A fresh copy of the payload.</summary>
    public virtual byte[] PayloadAsNewBuffer() => PayloadAsReadOnlySequence().ToArray();
}

/// <summary>Factory helpers for marshallers.</summary>
public static class Marshallers
{
    /// <summary>UTF-8 string marshaller (tests and tools).</summary>
    public static Marshaller<string> StringMarshaller { get; } = new(
        static (value, context) => context.Complete(Encoding.UTF8.GetBytes(value)),
        static context => Encoding.UTF8.GetString(context.PayloadAsReadOnlySequence()));

    /// <summary>
    /// Marshaller for a Google.Protobuf message type: writes straight into the transport's buffer after computing the
    /// size, and parses from the received bytes in place (no intermediate arrays).
    /// </summary>
    public static Marshaller<T> ForProtobuf<T>(MessageParser<T> parser)
        where T : IMessage<T>, IBufferMessage
    {
        ArgumentNullException.ThrowIfNull(parser);
        return new Marshaller<T>(
            static (message, context) =>
            {
                context.SetPayloadLength(message.CalculateSize());
                message.WriteTo(context.GetBufferWriter());
                context.Complete();
            },
            context => parser.ParseFrom(context.PayloadAsReadOnlySequence()));
    }

    /// <summary>Creates a marshaller from contextual delegates.</summary>
    public static Marshaller<T> Create<T>(Action<T, SerializationContext> serializer, Func<DeserializationContext, T> deserializer) =>
        new(serializer, deserializer);
}
