namespace InferenceGateway.Grpc;

/// <summary>Reads a stream of messages, one at a time.</summary>
/// <typeparam name="T">Message type.</typeparam>
public interface IAsyncStreamReader<out T>
{
    /// <summary>The message read by the last successful <see cref="MoveNext"/>.</summary>
    T Current { get; }

    /// <summary>Reads the next message; false at the end of the stream. Not safe to call concurrently.</summary>
    Task<bool> MoveNext(CancellationToken cancellationToken);
}

/// <summary>Writes a stream of messages. One write at a time: await each write before the next.</summary>
/// <typeparam name="T">Message type.</typeparam>
public interface IAsyncStreamWriter<in T>
{
    /// <summary>Options for subsequent writes (e.g. <see cref="WriteFlags.NoCompress"/>).</summary>
    WriteOptions? WriteOptions { get; set; }

    /// <summary>Writes and flushes one message.</summary>
    Task WriteAsync(T message);

    /// <summary>Writes and flushes one message, observing a cancellation token.</summary>
    Task WriteAsync(T message, CancellationToken cancellationToken);
}

/// <summary>Server-side writer of response messages.</summary>
/// <typeparam name="T">Message type.</typeparam>
public interface IServerStreamWriter<in T> : IAsyncStreamWriter<T>
{
}

/// <summary>Client-side writer of request messages.</summary>
/// <typeparam name="T">Message type.</typeparam>
public interface IClientStreamWriter<in T> : IAsyncStreamWriter<T>
{
    /// <summary>Signals the end of the request stream (half-close).</summary>
    Task CompleteAsync();
}

/// <summary>Flags for a write.</summary>
[Flags]
public enum WriteFlags
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>Hint to flush less often (accepted, currently every write is flushed).</summary>
    BufferHint = 1,
    /// <summary>Send this message uncompressed even if the call compresses.</summary>
    NoCompress = 2,
}

/// <summary>Options for message writes.</summary>
public sealed class WriteOptions
{
    /// <summary>Default options: no flags.</summary>
    public static readonly WriteOptions Default = new();

    /// <summary>Creates options.</summary>
    public WriteOptions(WriteFlags flags = WriteFlags.None) => Flags = flags;

    /// <summary>The flags.</summary>
    public WriteFlags Flags { get; }
}
