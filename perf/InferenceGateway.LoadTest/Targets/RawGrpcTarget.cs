using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using InferenceGateway.LoadTest.Engine;

namespace InferenceGateway.LoadTest.Targets;

/// <summary>
/// Posts pre-built gRPC frames to one path over HTTP/2 with prior knowledge (h2c), bypassing any gRPC
/// library: the transport-only client used to compare the gateway with the echo server. Success means
/// HTTP 200 and <c>grpc-status: 0</c> (in trailers, or in headers for a trailers-only answer).
/// </summary>
public sealed class RawGrpcTarget : ILoadTarget
{
    private static readonly MediaTypeHeaderValue GrpcContentType = new("application/grpc");

    private readonly HttpMessageInvoker[] _connections;
    private readonly Uri _uri;
    private readonly ReadOnlyMemory<byte>[] _frames;
    private readonly TimeSpan _timeout;
    private long _next;

    /// <summary>Creates the target.</summary>
    /// <param name="baseAddress">For example <c>http://127.0.0.1:50051</c>.</param>
    /// <param name="path">Method path, e.g. <c>/inference.GRPCInferenceService/ModelInfer</c>.</param>
    /// <param name="frames">Length-prefixed request frames, sent round-robin.</param>
    /// <param name="connections">HTTP/2 connections to spread streams over.</param>
    /// <param name="timeout">Per-request limit; a request over it counts as DEADLINE_EXCEEDED.</param>
    public RawGrpcTarget(Uri baseAddress, string path, IReadOnlyList<byte[]> frames, int connections, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0)
        {
            throw new ArgumentException("at least one frame is required", nameof(frames));
        }

        _uri = new Uri(baseAddress, path);
        _frames = new ReadOnlyMemory<byte>[frames.Count];
        for (int i = 0; i < frames.Count; i++)
        {
            _frames[i] = frames[i];
        }

        _timeout = timeout;
        _connections = new HttpMessageInvoker[Math.Max(1, connections)];
        for (int i = 0; i < _connections.Length; i++)
        {
            var handler = new SocketsHttpHandler
            {
                // One connection per invoker unless the server's stream limit is hit; then open more rather than queue.
                EnableMultipleHttp2Connections = true,
                UseProxy = false,
                AllowAutoRedirect = false,
                AutomaticDecompression = DecompressionMethods.None,
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            };
            _connections[i] = new HttpMessageInvoker(handler, disposeHandler: true);
        }

        Description = $"raw h2c POST {_uri} ({frames.Count} frame(s), {frames[0].Length} B)";
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <inheritdoc />
    // Pooled state machines: no allocation per await in steady state.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<RequestOutcome> SendAsync(CancellationToken cancellationToken)
    {
        long n = Interlocked.Increment(ref _next);
        HttpMessageInvoker connection = _connections[(int)(n % _connections.Length)];
        ReadOnlyMemory<byte> frame = _frames[(int)(n % _frames.Length)];

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        using var request = new HttpRequestMessage(HttpMethod.Post, _uri)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ReadOnlyMemoryContent(frame),
        };
        request.Content.Headers.ContentType = GrpcContentType;
        request.Headers.TryAddWithoutValidation("te", "trailers");

        try
        {
            using HttpResponseMessage response = await connection.SendAsync(request, timeout.Token).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return new RequestOutcome(OutcomeCodes.ClientError);
            }

            // Trailers arrive after the body: read it to the end into a pooled scratch buffer.
            Stream body = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                byte[] scratch = ArrayPool<byte>.Shared.Rent(16 * 1024);
                try
                {
                    while (await body.ReadAsync(scratch, timeout.Token).ConfigureAwait(false) > 0)
                    {
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(scratch);
                }
            }

            return new RequestOutcome(ReadStatus(response));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new RequestOutcome(OutcomeCodes.DeadlineExceeded);
        }
        catch (HttpRequestException)
        {
            return new RequestOutcome(OutcomeCodes.Unavailable);
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        foreach (HttpMessageInvoker c in _connections)
        {
            c.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private static int ReadStatus(HttpResponseMessage response)
    {
        if (TryGetStatus(response.TrailingHeaders, out int status) || TryGetStatus(response.Headers, out status))
        {
            return status;
        }

        // A 200 without grpc-status is a protocol violation, not a success.
        return OutcomeCodes.ClientError;
    }

    private static bool TryGetStatus(HttpHeaders headers, out int status)
    {
        status = 0;
        if (!headers.NonValidated.TryGetValues("grpc-status", out HeaderStringValues values))
        {
            return false;
        }

        foreach (string value in values)
        {
            return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out status);
        }

        return false;
    }
}
