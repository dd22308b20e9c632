using System.Globalization;
using System.Net.Sockets;
using InferenceGateway.LoadTest.Engine;
using InferenceGateway.LoadTest.Http2;

namespace InferenceGateway.LoadTest.Targets;

/// <summary>
/// Unary gRPC calls over ig-load's own HTTP/2 connections (<see cref="Http2GrpcConnection"/>): pre-built frames,
/// one pre-encoded header block, no HttpClient. It costs the client a fraction of the CPU of the library client,
/// which matters when client and server share two cores. A connection that fails or receives GOAWAY is replaced on
/// the next call; calls made while it is down count as UNAVAILABLE.
/// </summary>
public sealed class H2GrpcTarget : ILoadTarget
{
    private readonly string _host;
    private readonly int _port;
    private readonly byte[] _headerBlock;
    private readonly ReadOnlyMemory<byte>[] _frames;
    private readonly TimeSpan _timeout;
    private readonly IResponseCheck? _check;
    private readonly Http2GrpcConnection?[] _connections;
    private readonly object _connectLock = new();
    private readonly Task<Http2GrpcConnection>?[] _connecting;
    private readonly List<Http2GrpcConnection> _retired = [];
    private long _next;

    /// <summary>Creates the target; connections open on first use.</summary>
    /// <param name="address">Server base address, <c>http://host:port</c> (cleartext, prior knowledge).</param>
    /// <param name="path">Method path, e.g. <c>/inference.GRPCInferenceService/ModelInfer</c>.</param>
    /// <param name="frames">Request bodies, sent round-robin: one length-prefixed frame each, or several for a client-streaming call.</param>
    /// <param name="connections">HTTP/2 connections to spread calls over.</param>
    /// <param name="timeout">Deadline of each call (sent as <c>grpc-timeout</c>, enforced by the client too).</param>
    /// <param name="description">Report description.</param>
    /// <param name="check">Judges the response of each OK call (null: OK is success).</param>
    public H2GrpcTarget(Uri address, string path, IReadOnlyList<byte[]> frames, int connections, TimeSpan timeout, string description, IResponseCheck? check = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0)
        {
            throw new ArgumentException("at least one request frame is required", nameof(frames));
        }

        if (address.Scheme != Uri.UriSchemeHttp)
        {
            throw new ArgumentException($"the h2 client speaks cleartext HTTP/2 only; {address} is not http://", nameof(address));
        }

        _host = address.Host.Trim('[', ']');
        _port = address.Port;
        _timeout = timeout;
        _check = check;
        _headerBlock = Hpack.EncodeRequestHeaders(
            "http",
            address.Authority,
            path,
            [
                new("content-type", "application/grpc"),
                new("te", "trailers"),
                new("grpc-timeout", FormatTimeout(timeout)),
                new("user-agent", "ig-load"),
            ]);
        _frames = new ReadOnlyMemory<byte>[frames.Count];
        for (int i = 0; i < frames.Count; i++)
        {
            _frames[i] = frames[i];
        }

        _connections = new Http2GrpcConnection?[Math.Max(1, connections)];
        _connecting = new Task<Http2GrpcConnection>?[_connections.Length];
        Description = $"{description} @ {address} via {path} (h2 client, {frames.Count} request(s), {frames[0].Length} B)";
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>
    /// <c>grpc-timeout</c> value, at most 8 digits and a unit per the gRPC over HTTP/2 specification: the coarsest
    /// unit that states the timeout exactly, else the finest that fits, rounded up so the server never sees a
    /// shorter deadline than ours.
    /// </summary>
    public static string FormatTimeout(TimeSpan timeout)
    {
        const long MaxValue = 99_999_999;
        long nanos = Math.Max(0, timeout.Ticks) * 100;
        (long Nanos, char Unit)[] units = [(3_600_000_000_000, 'H'), (60_000_000_000, 'M'), (1_000_000_000, 'S'), (1_000_000, 'm'), (1_000, 'u'), (1, 'n')];
        foreach ((long unitNanos, char unit) in units)
        {
            if (nanos % unitNanos == 0 && nanos / unitNanos <= MaxValue)
            {
                return (nanos / unitNanos).ToString(CultureInfo.InvariantCulture) + unit;
            }
        }

        for (int i = units.Length - 1; i >= 0; i--)
        {
            long value = (nanos + units[i].Nanos - 1) / units[i].Nanos;
            if (value <= MaxValue)
            {
                return value.ToString(CultureInfo.InvariantCulture) + units[i].Unit;
            }
        }

        return MaxValue.ToString(CultureInfo.InvariantCulture) + "H";
    }

    /// <inheritdoc />
    // Pooled state machines: no allocation per await in steady state.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<RequestOutcome> SendAsync(CancellationToken cancellationToken)
    {
        long n = Interlocked.Increment(ref _next);
        int slot = (int)(n % _connections.Length);
        ReadOnlyMemory<byte> frame = _frames[(int)(n % _frames.Length)];
        Http2GrpcConnection? connection = Volatile.Read(ref _connections[slot]);
        if (connection is null || !connection.IsUsable)
        {
            try
            {
                connection = await ConnectAsync(slot, connection, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                return new RequestOutcome(OutcomeCodes.Unavailable);
            }
        }

        return new RequestOutcome(await connection.CallAsync(_headerBlock, frame, _timeout, cancellationToken, _check).ConfigureAwait(false));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        List<Http2GrpcConnection> all;
        lock (_connectLock)
        {
            all = [.. _retired];
            foreach (Http2GrpcConnection? c in _connections)
            {
                if (c is not null)
                {
                    all.Add(c);
                }
            }

            _retired.Clear();
            Array.Clear(_connections);
        }

        foreach (Http2GrpcConnection c in all)
        {
            await c.DisposeAsync().ConfigureAwait(false);
        }
    }

    // One connect per slot at a time; callers arriving meanwhile share it. A failed connect is not cached.
    private Task<Http2GrpcConnection> ConnectAsync(int slot, Http2GrpcConnection? broken, CancellationToken cancellationToken)
    {
        lock (_connectLock)
        {
            Http2GrpcConnection? current = _connections[slot];
            if (current is not null && current != broken && current.IsUsable)
            {
                return Task.FromResult(current);
            }

            if (_connecting[slot] is { } pending)
            {
                return pending;
            }

            if (current is not null)
            {
                _connections[slot] = null;
                _retired.Add(current);
            }

            Task<Http2GrpcConnection> connect = ConnectSlotAsync(slot, cancellationToken);
            if (!connect.IsCompleted)
            {
                _connecting[slot] = connect;
            }

            return connect;
        }
    }

    private async Task<Http2GrpcConnection> ConnectSlotAsync(int slot, CancellationToken cancellationToken)
    {
        try
        {
            Http2GrpcConnection connection = await Http2GrpcConnection.ConnectAsync(_host, _port, cancellationToken).ConfigureAwait(false);
            lock (_connectLock)
            {
                _connections[slot] = connection;
            }

            return connection;
        }
        finally
        {
            lock (_connectLock)
            {
                _connecting[slot] = null;
            }
        }
    }
}
