using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using InferenceGateway.LoadTest.Engine;

namespace InferenceGateway.LoadTest.Http2;

/// <summary>
/// One HTTP/2 cleartext connection (prior knowledge, RFC 9113) carrying unary gRPC calls, written for the load
/// tool's cost rather than generality: the request header block is pre-encoded once, frames of many calls are
/// coalesced into one socket write, one read loop demultiplexes responses, and each call's state is a pooled
/// <see cref="IValueTaskSource{TResult}"/>, so a call allocates nothing in steady state. Response messages are
/// discarded, not parsed; the outcome is <c>grpc-status</c> from the trailers (or from a trailers-only response),
/// unless the call brings an <see cref="IResponseCheck"/>: then the first bytes of the response body are kept in the
/// pooled call state and the check turns an OK into its own verdict.
/// Flow control is honoured in both directions, SETTINGS/PING are acknowledged, GOAWAY and RST_STREAM are mapped
/// to gRPC statuses, deadlines are enforced on the client (RST_STREAM CANCEL) and sent as <c>grpc-timeout</c>.
/// </summary>
internal sealed class Http2GrpcConnection : IAsyncDisposable
{
    /// <summary>SETTINGS_HEADER_TABLE_SIZE we announce (the default, as gRPC clients do).</summary>
    public const int HeaderTableSize = 4096;

    private const int FrameHeaderLength = 9;
    private const int MaxFrameSize = 16384; // SETTINGS_MAX_FRAME_SIZE we accept: the protocol default
    private const int StreamWindow = 4 * 1024 * 1024; // SETTINGS_INITIAL_WINDOW_SIZE we announce
    private const int ConnectionWindow = 64 * 1024 * 1024;
    private const int DefaultWindow = 65535;

    private const byte TypeData = 0x0, TypeHeaders = 0x1, TypeRstStream = 0x3, TypeSettings = 0x4, TypePushPromise = 0x5;
    private const byte TypePing = 0x6, TypeGoAway = 0x7, TypeWindowUpdate = 0x8, TypeContinuation = 0x9;
    private const byte FlagEndStream = 0x1, FlagAck = 0x1, FlagEndHeaders = 0x4, FlagPadded = 0x8, FlagPriority = 0x20;
    private const uint ErrorCancel = 0x8;

    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    private readonly Socket _socket;
    private readonly HpackDecoder _decoder = new(HeaderTableSize);
    private readonly object _lock = new();
    private readonly Dictionary<int, Http2Call> _streams = [];
    private readonly List<Http2Call> _blocked = [];
    private readonly Queue<TaskCompletionSource> _slotWaiters = new();
    private readonly Stack<Http2Call> _pool = new();
    private readonly SemaphoreSlim _writeSignal = new(0);
    private readonly Timer _deadlineTimer;
    private readonly List<(Http2Call Call, int StreamId)> _expired = [];
    private readonly IgnoredFields _ignored = new();
    private readonly Task _readLoop;
    private readonly Task _writeLoop;

    private byte[] _pending = new byte[64 * 1024];
    private byte[]? _spare = new byte[64 * 1024];
    private int _pendingLength;
    private bool _writeScheduled;

    private int _nextStreamId = 1;
    private int _maxConcurrentStreams = 100; // until the server's SETTINGS say otherwise (Kestrel's default)
    private long _connectionSendWindow = DefaultWindow;
    private int _peerInitialWindow = DefaultWindow;
    private int _peerMaxFrameSize = MaxFrameSize;
    private long _receivedSinceUpdate;
    private int _continuationStream; // non-zero while a header block continues in CONTINUATION frames
    private Http2Call? _continuationCall;
    private byte[] _headerBlock = new byte[4096];
    private int _headerBlockLength;
    private bool _continuationEndStream;
    private bool _goAway;
    private string? _failure;

    private Http2GrpcConnection(Socket socket)
    {
        _socket = socket;
        WriteConnectionStartLocked();
        _writeScheduled = true;
        _writeSignal.Release();
        _deadlineTimer = new Timer(static s => ((Http2GrpcConnection)s!).ExpireDeadlines(), this, 20, 20);
        _readLoop = Task.Run(ReadLoopAsync);
        _writeLoop = Task.Run(WriteLoopAsync);
    }

    /// <summary>False once the server sent GOAWAY or the connection failed; open a new one then.</summary>
    public bool IsUsable => !_goAway && _failure is null;

    /// <summary>Why the connection stopped, if it did.</summary>
    public string? Failure => _failure;

    /// <summary>Opens a TCP connection and sends the preface; calls may start at once.</summary>
    public static async Task<Http2GrpcConnection> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new Http2GrpcConnection(socket);
    }

    /// <summary>
    /// Sends one call (HEADERS with <paramref name="headerBlock"/>, DATA with <paramref name="body"/>: one framed gRPC
    /// message, or several for a client-streaming call sent whole) and completes with the gRPC status,
    /// <see cref="OutcomeCodes.ClientError"/> for a protocol violation or a non-200 response, UNAVAILABLE when the
    /// connection is gone, or, for an OK call with a <paramref name="check"/>, the check's verdict on the response.
    /// </summary>
    public ValueTask<int> CallAsync(ReadOnlyMemory<byte> headerBlock, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken, IResponseCheck? check = null)
    {
        Http2Call call = Rent();
        call.Check = check;
        call.Deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        if (cancellationToken.CanBeCanceled)
        {
            // Registered before the stream exists, so a completion can always unregister it.
            call.Registration = cancellationToken.UnsafeRegister(static s => ((Http2Call)s!).Connection.Cancel((Http2Call)s), call);
        }

        bool signal = false;
        bool full = false;
        int early = -1;
        lock (_lock)
        {
            if (!IsUsable)
            {
                early = OutcomeCodes.Unavailable;
            }
            else if (cancellationToken.IsCancellationRequested)
            {
                early = OutcomeCodes.Cancelled;
            }
            else if (_streams.Count >= _maxConcurrentStreams)
            {
                full = true;
            }
            else
            {
                signal = StartLocked(call, headerBlock.Span, body);
            }
        }

        if (early >= 0 || full)
        {
            // Outside the lock: Dispose waits for a cancellation callback in flight, which takes the lock.
            call.Registration.Dispose();
            Return(call);
            return full ? CallWhenSlotFreeAsync(headerBlock, body, timeout, check, cancellationToken) : new ValueTask<int>(early);
        }

        if (signal)
        {
            _writeSignal.Release();
        }

        return new ValueTask<int>(call, call.Version);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Fail("connection disposed");
        await _deadlineTimer.DisposeAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_readLoop, _writeLoop).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The loops end with the socket; nothing else to wait for.
        }

        _socket.Dispose();
    }

    private async ValueTask<int> CallWhenSlotFreeAsync(ReadOnlyMemory<byte> headerBlock, ReadOnlyMemory<byte> body, TimeSpan timeout, IResponseCheck? check, CancellationToken cancellationToken)
    {
        while (true)
        {
            var slot = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                if (!IsUsable)
                {
                    return OutcomeCodes.Unavailable;
                }

                if (_streams.Count < _maxConcurrentStreams)
                {
                    break;
                }

                _slotWaiters.Enqueue(slot);
            }

            using (cancellationToken.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetCanceled(), slot))
            {
                try
                {
                    await slot.Task.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return OutcomeCodes.Cancelled;
                }
            }
        }

        return await CallAsync(headerBlock, body, timeout, cancellationToken, check).ConfigureAwait(false);
    }

    // Opens the stream and queues its frames; true when the write loop must be woken.
    private bool StartLocked(Http2Call call, ReadOnlySpan<byte> headerBlock, ReadOnlyMemory<byte> body)
    {
        int id = _nextStreamId;
        _nextStreamId += 2;
        call.StreamId = id;
        call.SendWindow = _peerInitialWindow;
        call.Remaining = body;
        _streams.Add(id, call);

        // A request header block above the peer's frame size would need CONTINUATION; ours are ~100 bytes.
        WriteFrameLocked(TypeHeaders, (byte)(FlagEndHeaders | (body.IsEmpty ? FlagEndStream : 0)), id, headerBlock);
        SendBodyLocked(call);
        return ScheduleWriteLocked();
    }

    private void SendBodyLocked(Http2Call call)
    {
        while (!call.Remaining.IsEmpty)
        {
            long room = Math.Min(Math.Min(call.SendWindow, _connectionSendWindow), _peerMaxFrameSize);
            if (room <= 0)
            {
                if (!call.Blocked)
                {
                    call.Blocked = true;
                    _blocked.Add(call);
                }

                return;
            }

            int chunk = (int)Math.Min(room, call.Remaining.Length);
            bool last = chunk == call.Remaining.Length;
            WriteFrameLocked(TypeData, last ? FlagEndStream : (byte)0, call.StreamId, call.Remaining.Span[..chunk]);
            call.Remaining = call.Remaining[chunk..];
            call.SendWindow -= chunk;
            _connectionSendWindow -= chunk;
        }

        if (call.Blocked)
        {
            call.Blocked = false;
            _blocked.Remove(call);
        }
    }

    private void ResumeBlockedLocked()
    {
        for (int i = _blocked.Count - 1; i >= 0 && _connectionSendWindow > 0; i--)
        {
            SendBodyLocked(_blocked[i]);
        }
    }

    private void Cancel(Http2Call call) => Complete(call, call.StreamId, OutcomeCodes.Cancelled, sendReset: true);

    private void ExpireDeadlines()
    {
        long now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            _expired.Clear();
            foreach (KeyValuePair<int, Http2Call> entry in _streams)
            {
                if (entry.Value.Deadline <= now)
                {
                    _expired.Add((entry.Value, entry.Key));
                }
            }

            if (_expired.Count == 0)
            {
                return;
            }
        }

        // Complete outside the lock: continuations run inline. The timer never overlaps itself for long here,
        // but a copy keeps a re-entrant callback from seeing a list being cleared.
        (Http2Call Call, int StreamId)[] expired = [.. _expired];
        foreach ((Http2Call call, int id) in expired)
        {
            Complete(call, id, OutcomeCodes.DeadlineExceeded, sendReset: true);
        }
    }

    // Ends a call exactly once: whoever removes it from the stream table completes it. Continuations run inline
    // (on the read loop, mostly), so nothing here may touch the call after SetResult.
    private void Complete(Http2Call call, int streamId, int status, bool sendReset)
    {
        bool signal = false;
        TaskCompletionSource? waiter = null;
        lock (_lock)
        {
            if (streamId == 0 || !_streams.TryGetValue(streamId, out Http2Call? current) || current != call)
            {
                return;
            }

            _streams.Remove(streamId);
            if (call.Blocked)
            {
                call.Blocked = false;
                _blocked.Remove(call);
            }

            if (sendReset && _failure is null)
            {
                Span<byte> code = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(code, ErrorCancel);
                WriteFrameLocked(TypeRstStream, 0, streamId, code);
                signal = ScheduleWriteLocked();
            }

            while (_slotWaiters.Count > 0 && waiter is null)
            {
                TaskCompletionSource next = _slotWaiters.Dequeue();
                if (!next.Task.IsCompleted)
                {
                    waiter = next;
                }
            }

            if (_goAway && _streams.Count == 0)
            {
                _failure ??= "server sent GOAWAY";
            }
        }

        if (signal)
        {
            _writeSignal.Release();
        }

        waiter?.TrySetResult();
        call.Registration.Unregister();
        call.SetResult(status);
    }

    private void Fail(string reason)
    {
        List<(Http2Call, int)> open;
        TaskCompletionSource[] waiters;
        lock (_lock)
        {
            _failure ??= reason;
            open = new List<(Http2Call, int)>(_streams.Count);
            foreach (KeyValuePair<int, Http2Call> entry in _streams)
            {
                open.Add((entry.Value, entry.Key));
            }

            waiters = [.. _slotWaiters];
            _slotWaiters.Clear();
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        _writeSignal.Release();
        foreach ((Http2Call call, int id) in open)
        {
            Complete(call, id, OutcomeCodes.Unavailable, sendReset: false);
        }

        foreach (TaskCompletionSource waiter in waiters)
        {
            waiter.TrySetResult();
        }
    }

    private async Task ReadLoopAsync()
    {
        byte[] buffer = new byte[4 * (MaxFrameSize + FrameHeaderLength)];
        int start = 0;
        int end = 0;
        try
        {
            while (_failure is null)
            {
                int read = await _socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                {
                    Fail("the server closed the connection");
                    return;
                }

                end += read;
                while (end - start >= FrameHeaderLength)
                {
                    int length = (buffer[start] << 16) | (buffer[start + 1] << 8) | buffer[start + 2];
                    if (length > MaxFrameSize)
                    {
                        Fail($"frame of {length} bytes exceeds SETTINGS_MAX_FRAME_SIZE {MaxFrameSize}");
                        return;
                    }

                    if (end - start < FrameHeaderLength + length)
                    {
                        break;
                    }

                    byte type = buffer[start + 3];
                    byte flags = buffer[start + 4];
                    int streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(start + 5)) & 0x7FFFFFFF);
                    string? error = HandleFrame(type, flags, streamId, buffer.AsSpan(start + FrameHeaderLength, length));
                    if (error is not null)
                    {
                        Fail("protocol error: " + error);
                        return;
                    }

                    start += FrameHeaderLength + length;
                }

                if (start == end)
                {
                    start = end = 0;
                }
                else if (buffer.Length - end < MaxFrameSize + FrameHeaderLength)
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            Fail("connection lost: " + ex.Message);
        }
    }

    // Returns an error for a connection-level protocol violation (fatal), otherwise null.
    private string? HandleFrame(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (_continuationStream != 0 && (type != TypeContinuation || streamId != _continuationStream))
        {
            return "expected CONTINUATION";
        }

        switch (type)
        {
            case TypeData:
                return HandleData(flags, streamId, payload);
            case TypeHeaders:
                return HandleHeaders(flags, streamId, payload);
            case TypeContinuation:
                return HandleContinuation(flags, streamId, payload);
            case TypeRstStream:
                if (payload.Length != 4)
                {
                    return "RST_STREAM length";
                }

                Http2Call? reset = Lookup(streamId);
                if (reset is not null)
                {
                    Complete(reset, streamId, StatusForResetCode(BinaryPrimitives.ReadUInt32BigEndian(payload)), sendReset: false);
                }

                return null;
            case TypeSettings:
                return (flags & FlagAck) != 0 ? null : HandleSettings(payload);
            case TypePing:
                if (payload.Length != 8)
                {
                    return "PING length";
                }

                if ((flags & FlagAck) == 0)
                {
                    QueueControlFrame(TypePing, FlagAck, 0, payload);
                }

                return null;
            case TypeGoAway:
                return HandleGoAway(payload);
            case TypeWindowUpdate:
                return HandleWindowUpdate(streamId, payload);
            case TypePushPromise:
                return "PUSH_PROMISE although SETTINGS_ENABLE_PUSH is 0";
            default:
                return null; // PRIORITY and unknown frame types are ignored (RFC 9113 5.5)
        }
    }

    private string? HandleData(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
        {
            return "DATA on stream 0";
        }

        // Flow control counts the whole frame, padding included; the bytes are consumed at once (discarded).
        Http2Call? call = Lookup(streamId);
        bool signal = false;
        lock (_lock)
        {
            _receivedSinceUpdate += payload.Length;
            if (_receivedSinceUpdate >= ConnectionWindow / 2)
            {
                WriteWindowUpdateLocked(0, (int)_receivedSinceUpdate);
                _receivedSinceUpdate = 0;
                signal = true;
            }

            if (call is not null && (flags & FlagEndStream) == 0)
            {
                call.ReceivedSinceUpdate += payload.Length;
                if (call.ReceivedSinceUpdate >= StreamWindow / 2)
                {
                    WriteWindowUpdateLocked(streamId, call.ReceivedSinceUpdate);
                    call.ReceivedSinceUpdate = 0;
                    signal = true;
                }
            }

            // Under the lock and only while the stream is still this call's: a deadline may complete it meanwhile, and
            // a completed call goes back to the pool for another stream.
            if (call?.Check is not null && _streams.TryGetValue(streamId, out Http2Call? current) && current == call)
            {
                ReadOnlySpan<byte> data = payload;
                if ((flags & FlagPadded) != 0)
                {
                    // Pad Length (1 byte), the data, then that many bytes of padding.
                    data = data.Length > 0 && data[0] < data.Length ? data[1..^data[0]] : default;
                }

                call.Capture(data);
            }

            signal = signal && ScheduleWriteLocked();
        }

        if (signal)
        {
            _writeSignal.Release();
        }

        if (call is not null && (flags & FlagEndStream) != 0)
        {
            // A response must end with trailers; DATA with END_STREAM means they are missing.
            Complete(call, streamId, OutcomeCodes.ClientError, sendReset: false);
        }

        return null;
    }

    private string? HandleHeaders(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
        {
            return "HEADERS on stream 0";
        }

        int offset = 0;
        int padding = 0;
        if ((flags & FlagPadded) != 0)
        {
            if (payload.Length < 1)
            {
                return "HEADERS padding";
            }

            padding = payload[0];
            offset = 1;
        }

        if ((flags & FlagPriority) != 0)
        {
            offset += 5;
        }

        if (offset + padding > payload.Length)
        {
            return "HEADERS padding exceeds the frame";
        }

        ReadOnlySpan<byte> fragment = payload[offset..^padding];
        Http2Call? call = Lookup(streamId);
        bool endStream = (flags & FlagEndStream) != 0;
        if ((flags & FlagEndHeaders) != 0)
        {
            return DecodeHeaderBlock(call, streamId, fragment, endStream);
        }

        _continuationStream = streamId;
        _continuationCall = call;
        _continuationEndStream = endStream;
        _headerBlockLength = 0;
        AppendHeaderBlock(fragment);
        return null;
    }

    private string? HandleContinuation(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (_continuationStream == 0 || streamId != _continuationStream)
        {
            return "unexpected CONTINUATION";
        }

        AppendHeaderBlock(payload);
        if ((flags & FlagEndHeaders) == 0)
        {
            return null;
        }

        Http2Call? call = _continuationCall;
        _continuationStream = 0;
        _continuationCall = null;
        return DecodeHeaderBlock(call, streamId, _headerBlock.AsSpan(0, _headerBlockLength), _continuationEndStream);
    }

    private void AppendHeaderBlock(ReadOnlySpan<byte> fragment)
    {
        if (_headerBlockLength + fragment.Length > _headerBlock.Length)
        {
            Array.Resize(ref _headerBlock, Math.Max(_headerBlock.Length * 2, _headerBlockLength + fragment.Length));
        }

        fragment.CopyTo(_headerBlock.AsSpan(_headerBlockLength));
        _headerBlockLength += fragment.Length;
    }

    // Every block is decoded, even for a stream we already gave up on, to keep the HPACK dynamic table in step.
    private string? DecodeHeaderBlock(Http2Call? call, int streamId, ReadOnlySpan<byte> block, bool endStream)
    {
        IHpackFieldSink sink = call is null ? _ignored : call;
        if (!_decoder.TryDecode(block, sink, out string? error))
        {
            return "HPACK: " + error;
        }

        if (call is null)
        {
            return null;
        }

        call.HeaderBlocks++;
        if (endStream)
        {
            Complete(call, streamId, call.Outcome(), sendReset: false);
        }

        return null;
    }

    private string? HandleSettings(ReadOnlySpan<byte> payload)
    {
        if (payload.Length % 6 != 0)
        {
            return "SETTINGS length";
        }

        bool signal;
        lock (_lock)
        {
            for (int i = 0; i < payload.Length; i += 6)
            {
                ushort id = BinaryPrimitives.ReadUInt16BigEndian(payload[i..]);
                uint value = BinaryPrimitives.ReadUInt32BigEndian(payload[(i + 2)..]);
                switch (id)
                {
                    case 0x3: // MAX_CONCURRENT_STREAMS
                        _maxConcurrentStreams = (int)Math.Min(value, int.MaxValue);
                        break;
                    case 0x4: // INITIAL_WINDOW_SIZE: applies to open streams as a delta (RFC 9113 6.9.2)
                        if (value > int.MaxValue)
                        {
                            return "INITIAL_WINDOW_SIZE above 2^31-1";
                        }

                        int delta = (int)value - _peerInitialWindow;
                        _peerInitialWindow = (int)value;
                        foreach (Http2Call open in _streams.Values)
                        {
                            open.SendWindow += delta;
                        }

                        break;
                    case 0x5: // MAX_FRAME_SIZE
                        _peerMaxFrameSize = (int)Math.Clamp(value, MaxFrameSize, 16777215u);
                        break;
                }
            }

            WriteFrameLocked(TypeSettings, FlagAck, 0, default);
            ResumeBlockedLocked();
            signal = ScheduleWriteLocked();
        }

        if (signal)
        {
            _writeSignal.Release();
        }

        return null;
    }

    private string? HandleGoAway(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 8)
        {
            return "GOAWAY length";
        }

        int lastStreamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7FFFFFFF);
        var refused = new List<(Http2Call, int)>();
        lock (_lock)
        {
            _goAway = true;
            foreach (KeyValuePair<int, Http2Call> entry in _streams)
            {
                if (entry.Key > lastStreamId)
                {
                    refused.Add((entry.Value, entry.Key));
                }
            }
        }

        // Streams above the last one the server processed were never seen: safe to retry, so UNAVAILABLE.
        foreach ((Http2Call call, int id) in refused)
        {
            Complete(call, id, OutcomeCodes.Unavailable, sendReset: false);
        }

        lock (_lock)
        {
            if (_streams.Count == 0)
            {
                _failure ??= "server sent GOAWAY";
            }
        }

        return null;
    }

    private string? HandleWindowUpdate(int streamId, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 4)
        {
            return "WINDOW_UPDATE length";
        }

        int increment = (int)(BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7FFFFFFF);
        bool signal;
        lock (_lock)
        {
            if (streamId == 0)
            {
                _connectionSendWindow += increment;
            }
            else if (_streams.TryGetValue(streamId, out Http2Call? call))
            {
                call.SendWindow += increment;
            }

            ResumeBlockedLocked();
            signal = ScheduleWriteLocked();
        }

        if (signal)
        {
            _writeSignal.Release();
        }

        return null;
    }

    private Http2Call? Lookup(int streamId)
    {
        lock (_lock)
        {
            return _streams.GetValueOrDefault(streamId);
        }
    }

    // RFC 9113 error codes to gRPC statuses, per the gRPC over HTTP/2 document.
    private static int StatusForResetCode(uint code) => code switch
    {
        0x7 => OutcomeCodes.Unavailable, // REFUSED_STREAM: not processed, retryable
        0x8 => OutcomeCodes.Cancelled, // CANCEL
        0xB => 8, // ENHANCE_YOUR_CALM: RESOURCE_EXHAUSTED
        0xC => 7, // INADEQUATE_SECURITY: PERMISSION_DENIED
        _ => OutcomeCodes.Internal,
    };

    private void QueueControlFrame(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        bool signal;
        lock (_lock)
        {
            WriteFrameLocked(type, flags, streamId, payload);
            signal = ScheduleWriteLocked();
        }

        if (signal)
        {
            _writeSignal.Release();
        }
    }

    private void WriteConnectionStartLocked()
    {
        EnsureCapacityLocked(Preface.Length);
        Preface.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength += Preface.Length;

        Span<byte> settings = stackalloc byte[18];
        WriteSetting(settings, 0x2, 0); // ENABLE_PUSH
        WriteSetting(settings[6..], 0x4, StreamWindow); // INITIAL_WINDOW_SIZE
        WriteSetting(settings[12..], 0x1, HeaderTableSize); // HEADER_TABLE_SIZE
        WriteFrameLocked(TypeSettings, 0, 0, settings);
        WriteWindowUpdateLocked(0, ConnectionWindow - DefaultWindow);

        static void WriteSetting(Span<byte> target, ushort id, uint value)
        {
            BinaryPrimitives.WriteUInt16BigEndian(target, id);
            BinaryPrimitives.WriteUInt32BigEndian(target[2..], value);
        }
    }

    private void WriteWindowUpdateLocked(int streamId, int increment)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)increment);
        WriteFrameLocked(TypeWindowUpdate, 0, streamId, payload);
    }

    private void WriteFrameLocked(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        EnsureCapacityLocked(FrameHeaderLength + payload.Length);
        Span<byte> target = _pending.AsSpan(_pendingLength);
        target[0] = (byte)(payload.Length >> 16);
        target[1] = (byte)(payload.Length >> 8);
        target[2] = (byte)payload.Length;
        target[3] = type;
        target[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(target[5..], (uint)streamId);
        payload.CopyTo(target[FrameHeaderLength..]);
        _pendingLength += FrameHeaderLength + payload.Length;
    }

    private void EnsureCapacityLocked(int bytes)
    {
        if (_pendingLength + bytes > _pending.Length)
        {
            Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingLength + bytes));
        }
    }

    // True when the caller must wake the write loop (after leaving the lock).
    private bool ScheduleWriteLocked()
    {
        if (_writeScheduled || _pendingLength == 0)
        {
            return false;
        }

        _writeScheduled = true;
        return true;
    }

    // One writer: takes everything queued since its last send and writes it in one call, so frames of many
    // concurrent calls share a syscall.
    private async Task WriteLoopAsync()
    {
        try
        {
            while (true)
            {
                await _writeSignal.WaitAsync().ConfigureAwait(false);
                while (true)
                {
                    byte[] chunk;
                    int length;
                    lock (_lock)
                    {
                        if (_failure is not null && _streams.Count == 0 && _pendingLength == 0)
                        {
                            return;
                        }

                        if (_pendingLength == 0)
                        {
                            _writeScheduled = false;
                            break;
                        }

                        chunk = _pending;
                        length = _pendingLength;
                        _pending = _spare ?? new byte[chunk.Length];
                        _spare = null;
                        _pendingLength = 0;
                    }

                    int sent = 0;
                    while (sent < length)
                    {
                        sent += await _socket.SendAsync(chunk.AsMemory(sent, length - sent), SocketFlags.None).ConfigureAwait(false);
                    }

                    lock (_lock)
                    {
                        _spare = chunk;
                    }
                }

                if (_failure is not null)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            Fail("connection lost: " + ex.Message);
        }
    }

    private Http2Call Rent()
    {
        lock (_pool)
        {
            if (_pool.TryPop(out Http2Call? call))
            {
                return call;
            }
        }

        return new Http2Call(this);
    }

    private void Return(Http2Call call)
    {
        call.Reset();
        lock (_pool)
        {
            _pool.Push(call);
        }
    }

    /// <summary>Sink for header blocks of streams no longer tracked.</summary>
    private sealed class IgnoredFields : IHpackFieldSink
    {
        public void OnField(HpackField kind, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
        }
    }

    /// <summary>One call's state, pooled per connection; also the awaitable the caller gets.</summary>
    private sealed class Http2Call : IValueTaskSource<int>, IHpackFieldSink
    {
        private ManualResetValueTaskSourceCore<int> _core;
        private byte[]? _capture;
        private int _captured;

        public Http2Call(Http2GrpcConnection connection)
        {
            Connection = connection;

            // Inline continuations: the caller's next request is queued by the read loop that completed this
            // one, as h2load does, instead of a thread-pool hop per response.
            _core.RunContinuationsAsynchronously = false;
            Reset();
        }

        public Http2GrpcConnection Connection { get; }

        public short Version => _core.Version;

        public int StreamId { get; set; }

        public long Deadline { get; set; }

        public CancellationTokenRegistration Registration { get; set; }

        public ReadOnlyMemory<byte> Remaining { get; set; }

        public long SendWindow { get; set; }

        public bool Blocked { get; set; }

        public int ReceivedSinceUpdate { get; set; }

        public int HeaderBlocks { get; set; }

        /// <summary>Judges an OK response; null for calls that only need the status.</summary>
        public IResponseCheck? Check { get; set; }

        private int HttpStatus { get; set; }

        private int GrpcStatus { get; set; }

        public void Reset()
        {
            StreamId = 0;
            Registration = default;
            Remaining = default;
            Blocked = false;
            ReceivedSinceUpdate = 0;
            HeaderBlocks = 0;
            HttpStatus = 0;
            GrpcStatus = -1;
            Check = null;
            _captured = 0;
        }

        // Keeps the first bytes of the response body for the check: one buffer per pooled call, allocated once.
        public void Capture(ReadOnlySpan<byte> data)
        {
            int room = Check!.CaptureBytes;
            if (_capture is null || _capture.Length < room)
            {
                _capture = new byte[room];
            }

            int take = Math.Min(room - _captured, data.Length);
            data[..take].CopyTo(_capture.AsSpan(_captured));
            _captured += take;
        }

        public void SetResult(int status) => _core.SetResult(status);

        // 200 and a grpc-status, from the trailers or a trailers-only response; anything else is a client error.
        // An OK call with a check is what the check makes of the first response message.
        public int Outcome()
        {
            int status = HttpStatus == 200 && GrpcStatus >= 0 ? GrpcStatus : OutcomeCodes.ClientError;
            if (status != OutcomeCodes.Ok || Check is null)
            {
                return status;
            }

            ReadOnlySpan<byte> body = _capture.AsSpan(0, _captured);
            if (body.Length < 5 || body[0] != 0)
            {
                // No message, or a compressed one (we never offer compression).
                return OutcomeCodes.ClientError;
            }

            long length = BinaryPrimitives.ReadUInt32BigEndian(body[1..]);
            ReadOnlySpan<byte> message = body[5..];
            if (message.Length > length)
            {
                message = message[..(int)length];
            }

            return Check.Check(message, truncated: message.Length < length);
        }

        public void OnField(HpackField kind, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            // A Huffman-coded field cannot be :status or grpc-status as far as we know; if it was, Outcome()
            // finds the status missing and reports a client error.
            if (kind == HpackField.Undecodable)
            {
                return;
            }

            if (name.SequenceEqual(":status"u8))
            {
                HttpStatus = ParseDigits(value);
            }
            else if (name.SequenceEqual("grpc-status"u8))
            {
                GrpcStatus = ParseDigits(value);
            }
        }

        public int GetResult(short token)
        {
            int status = _core.GetResult(token);
            _core.Reset();
            Connection.Return(this);
            return status;
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => _core.OnCompleted(continuation, state, token, flags);

        private static int ParseDigits(ReadOnlySpan<byte> value)
        {
            if (value.IsEmpty || value.Length > 9)
            {
                return -1;
            }

            int result = 0;
            foreach (byte b in value)
            {
                if (b is < (byte)'0' or > (byte)'9')
                {
                    return -1;
                }

                result = (result * 10) + (b - '0');
            }

            return result;
        }
    }
}
