using System.Globalization;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace InferenceGateway.Grpc.Internal;

/// <summary>
/// The per-call state of the server, over Kestrel's <see cref="HttpContext"/>. Pooled per method: <see cref="Bind"/>
/// attaches it to a call and <see cref="Reset"/> clears every per-call field when the call has ended.
/// </summary>
internal sealed class HttpContextServerCallContext : ServerCallContext
{
    private static readonly string[] s_statusStrings = CreateStatusStrings();

    private readonly IMethod _method;
    private readonly GrpcServerOptions _options;
    private readonly ILogger _logger;
    private CancellationTokenSource? _deadlineCts;
    private CancellationToken _token;
    private bool _tokenCreated;
    private DateTime _deadline = DateTime.MaxValue;
    private Metadata? _requestHeaders;
    private Metadata? _responseTrailers;
    private string? _peer;
    private string? _responseEncoding;
    private bool _headersPrepared;
    private bool _messageWritten;
    private bool _completed;

    public HttpContextServerCallContext(IMethod method, GrpcServerOptions options, ILogger logger)
    {
        _method = method;
        _options = options;
        _logger = logger;
    }

    /// <summary>The call's HTTP context; null only while the object waits in its pool.</summary>
    public HttpContext HttpContext { get; private set; } = null!;

    /// <summary>Attaches a fresh (or reset) context to a call.</summary>
    public void Bind(HttpContext httpContext) => HttpContext = httpContext;

    /// <summary>
    /// Releases the call's resources (the deadline timer) and clears every per-call field, so that nothing of this call
    /// reaches the next one and the pool holds no request objects.
    /// </summary>
    public void Reset()
    {
        _deadlineCts?.Dispose();
        _deadlineCts = null;
        _token = default;
        _tokenCreated = false;
        _deadline = DateTime.MaxValue;
        _requestHeaders = null;
        _responseTrailers = null;
        _peer = null;
        _responseEncoding = null;
        _headersPrepared = false;
        _messageWritten = false;
        _completed = false;
        Status = Status.DefaultSuccess;
        WriteOptions = null;
        RequestEncoding = null;
        HttpContext = null!;
    }

    public override string Method => _method.FullName;

    public override string Host => HttpContext.Request.Host.Value ?? string.Empty;

    public override string Peer => _peer ??= FormatPeer(HttpContext);

    public override DateTime Deadline => _deadline;

    public override Metadata RequestHeaders => _requestHeaders ??= ReadRequestHeaders(HttpContext.Request.Headers);

    // Kestrel creates RequestAborted's source under a lock on first use, so calls that never look at it skip that.
    public override CancellationToken CancellationToken
    {
        get
        {
            if (!_tokenCreated)
            {
                _token = HttpContext.RequestAborted;
                _tokenCreated = true;
            }

            return _token;
        }
    }

    /// <summary>
    /// Cancels reads of the request body at the deadline. An aborted stream already fails body reads (Kestrel completes
    /// the request pipe with the abort reason), so the client's cancellation needs no token here.
    /// </summary>
    public CancellationToken DeadlineToken => _deadlineCts?.Token ?? CancellationToken.None;

    public override Metadata ResponseTrailers => _responseTrailers ??= new Metadata();

    public override Status Status { get; set; } = Status.DefaultSuccess;

    public override WriteOptions? WriteOptions { get; set; }

    public override string? ResponseCompressionAlgorithm
    {
        get => _responseEncoding;
        set
        {
            if (_headersPrepared)
            {
                throw new InvalidOperationException("Response compression can't change after the response headers were sent.");
            }

            if (value is not null && !GrpcCompression.IsSupported(value))
            {
                throw new ArgumentException($"Unsupported compression '{value}'.", nameof(value));
            }

            _responseEncoding = value;
        }
    }

    /// <summary>Encoding of request messages (grpc-encoding), or null.</summary>
    public string? RequestEncoding { get; private set; }

    public FrameReadSettings RequestReadSettings => new(_options.MaxReceiveMessageSize, RequestEncoding, IsClient: false);

    /// <summary>True when the deadline (not the client) cancelled the call.</summary>
    public bool DeadlineExceeded =>
        _deadlineCts is { IsCancellationRequested: true } && !HttpContext.RequestAborted.IsCancellationRequested;

    /// <summary>Reads protocol headers and starts the deadline. False when the deadline had already expired.</summary>
    public bool Initialize()
    {
        var request = HttpContext.Request;
        var headers = request.Headers;
        var encoding = headers[GrpcProtocol.EncodingHeader];
        RequestEncoding = StringValues.IsNullOrEmpty(encoding) ? null : encoding.ToString();

        if (_options.ResponseCompressionAlgorithm is { } algorithm
            && GrpcProtocol.EncodingListContains(headers[GrpcProtocol.AcceptEncodingHeader].ToString(), algorithm))
        {
            _responseEncoding = algorithm;
        }

        var response = HttpContext.Response;
        response.ContentType = GrpcProtocol.ContentType;
        response.Headers[GrpcProtocol.AcceptEncodingHeader] = GrpcProtocol.SupportedEncodings;

        // Message size limits are per message; the body of a stream may be arbitrarily long.
        if (HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = null;
        }

        var timeoutValue = headers[GrpcProtocol.TimeoutHeader];
        if (!StringValues.IsNullOrEmpty(timeoutValue))
        {
            if (!GrpcProtocol.TryParseTimeout(timeoutValue.ToString(), out var timeout))
            {
                GrpcServerLog.InvalidTimeoutIgnored(_logger, timeoutValue.ToString());
            }
            else if (timeout <= TimeSpan.Zero)
            {
                _deadline = DateTime.UtcNow;
                GrpcServerLog.DeadlineExceeded(_logger, Method);
                Complete(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"));
                return false;
            }
            else
            {
                _deadline = DateTime.UtcNow + timeout;
                _deadlineCts = CancellationTokenSource.CreateLinkedTokenSource(HttpContext.RequestAborted);

                // CancelAfter takes at most ~49 days; a longer deadline is kept as a value only.
                if (timeout.TotalMilliseconds < uint.MaxValue - 1)
                {
                    _deadlineCts.CancelAfter(timeout);
                }

                _token = _deadlineCts.Token;
                _tokenCreated = true;
            }
        }

        return true;
    }

    public override Task WriteResponseHeadersAsync(Metadata responseHeaders)
    {
        ArgumentNullException.ThrowIfNull(responseHeaders);
        if (_headersPrepared || HttpContext.Response.HasStarted)
        {
            throw new InvalidOperationException("Response headers can only be sent once per call.");
        }

        var headers = HttpContext.Response.Headers;
        foreach (var entry in responseHeaders)
        {
            AppendEntry(headers, entry);
        }

        PrepareHeaders();
        return HttpContext.Response.BodyWriter.FlushAsync(CancellationToken).AsTask();
    }

    /// <summary>Writes one framed response message into the body writer without flushing (unary responses).</summary>
    public void WriteMessage<T>(T message, Action<T, SerializationContext> serializer) =>
        WriteMessageCore(message, serializer);

    /// <summary>Writes one framed response message into the body writer; flushes when asked.</summary>
    public ValueTask WriteMessageAsync<T>(T message, Action<T, SerializationContext> serializer, bool flush, CancellationToken cancellationToken)
    {
        var writer = WriteMessageCore(message, serializer);
        if (!flush)
        {
            return ValueTask.CompletedTask;
        }

        var flushTask = writer.FlushAsync(cancellationToken);
        return flushTask.IsCompletedSuccessfully ? ValueTask.CompletedTask : AwaitFlush(flushTask);

        static async ValueTask AwaitFlush(ValueTask<System.IO.Pipelines.FlushResult> task) => await task.ConfigureAwait(false);
    }

    private System.IO.Pipelines.PipeWriter WriteMessageCore<T>(T message, Action<T, SerializationContext> serializer)
    {
        if (_completed)
        {
            throw new InvalidOperationException("Can't write the message because the call is complete.");
        }

        ArgumentNullException.ThrowIfNull(message);
        PrepareHeaders();
        var compression = _responseEncoding;
        if (compression is not null && WriteOptions is { } options && (options.Flags & WriteFlags.NoCompress) != 0)
        {
            compression = null;
        }

        var writer = HttpContext.Response.BodyWriter;
        MessageFraming.WriteMessage(writer, message, serializer, compression, _options.ResponseCompressionLevel, _options.MaxSendMessageSize);
        _messageWritten = true;
        return writer;
    }

    /// <summary>Maps a handler exception to the status sent to the client.</summary>
    public Status StatusFromException(Exception exception)
    {
        if (DeadlineExceeded)
        {
            return new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
        }

        if (HttpContext.RequestAborted.IsCancellationRequested)
        {
            return new Status(StatusCode.Cancelled, "Call canceled by the client.");
        }

        if (exception is RpcException rpc)
        {
            if (rpc.Trailers.Count > 0)
            {
                var trailers = ResponseTrailers;
                foreach (var entry in rpc.Trailers)
                {
                    trailers.Add(entry);
                }
            }

            return rpc.Status;
        }

        GrpcServerLog.ErrorExecutingServiceMethod(_logger, exception, Method);
        var detail = _options.EnableDetailedErrors
            ? $"Exception was thrown by handler. {exception.GetType().Name}: {exception.Message}"
            : "Exception was thrown by handler.";
        return new Status(StatusCode.Unknown, detail);
    }

    /// <summary>
    /// Ends the call: a trailers-only response (status in the HEADERS frame with END_STREAM) when nothing was sent yet,
    /// otherwise trailers after the messages. Kestrel sends them when the request delegate returns.
    /// </summary>
    public void Complete(Status status)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        if (status.StatusCode == StatusCode.OK && DeadlineExceeded)
        {
            status = new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
        }

        if (status.StatusCode != StatusCode.OK)
        {
            if (status.StatusCode == StatusCode.DeadlineExceeded)
            {
                GrpcServerLog.DeadlineExceeded(_logger, Method);
            }
            else if (status.StatusCode == StatusCode.Cancelled && HttpContext.RequestAborted.IsCancellationRequested)
            {
                GrpcServerLog.CallCanceledByClient(_logger, Method);
            }
            else
            {
                GrpcServerLog.RpcError(_logger, Method, status.StatusCode, status.Detail);
            }
        }

        // Skip writing to a stream the client reset. When nobody asked for the abort token, writing is still harmless:
        // Kestrel sends nothing on an aborted stream.
        if (_tokenCreated && HttpContext.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        var response = HttpContext.Response;
        if (!response.HasStarted && !_messageWritten)
        {
            WriteStatus(response.Headers, status, _responseTrailers);
            return;
        }

        var trailersFeature = HttpContext.Features.Get<IHttpResponseTrailersFeature>();
        if (trailersFeature is null)
        {
            // Only HTTP/2 requests reach here and Kestrel's HTTP/2 supports trailers; reset rather than hang.
            HttpContext.Abort();
            return;
        }

        WriteStatus(trailersFeature.Trailers, status, _responseTrailers);
    }

    /// <summary>Writes a trailers-only error response for a request rejected before a call context exists.</summary>
    public static void WriteTrailersOnly(HttpResponse response, Status status)
    {
        response.ContentType = GrpcProtocol.ContentType;
        response.Headers[GrpcProtocol.AcceptEncodingHeader] = GrpcProtocol.SupportedEncodings;
        WriteStatus(response.Headers, status, null);
    }

    private static void WriteStatus(IHeaderDictionary target, Status status, Metadata? trailers)
    {
        var code = (int)status.StatusCode;
        target[GrpcProtocol.StatusTrailer] = (uint)code < (uint)s_statusStrings.Length ? s_statusStrings[code] : code.ToString(CultureInfo.InvariantCulture);
        if (status.Detail.Length > 0)
        {
            target[GrpcProtocol.MessageTrailer] = GrpcProtocol.PercentEncode(status.Detail);
        }

        if (trailers is not null)
        {
            foreach (var entry in trailers)
            {
                AppendEntry(target, entry);
            }
        }
    }

    private static void AppendEntry(IHeaderDictionary target, Metadata.Entry entry)
    {
        var value = entry.IsBinary ? Convert.ToBase64String(entry.ValueBytes) : entry.Value;
        target.Append(entry.Key, value);
    }

    private void PrepareHeaders()
    {
        if (_headersPrepared)
        {
            return;
        }

        _headersPrepared = true;
        if (_responseEncoding is not null && !HttpContext.Response.HasStarted)
        {
            HttpContext.Response.Headers[GrpcProtocol.EncodingHeader] = _responseEncoding;
        }
    }

    private static Metadata ReadRequestHeaders(IHeaderDictionary headers)
    {
        var metadata = new Metadata();
        foreach (var header in headers)
        {
            var key = header.Key;
            if (key.StartsWith(':') || IsProtocolHeader(key))
            {
                continue;
            }

            var lower = key.ToLowerInvariant();
            foreach (var value in header.Value)
            {
                if (value is null)
                {
                    continue;
                }

                if (Metadata.Entry.IsBinaryKey(lower))
                {
                    if (MetadataCodec.TryDecodeBinary(value, out var bytes))
                    {
                        metadata.Add(lower, bytes);
                    }
                }
                else
                {
                    metadata.Add(lower, value);
                }
            }
        }

        return metadata;
    }

    private static bool IsProtocolHeader(string key) =>
        key.Equals("te", StringComparison.OrdinalIgnoreCase)
        || key.Equals("host", StringComparison.OrdinalIgnoreCase)
        || key.Equals("content-type", StringComparison.OrdinalIgnoreCase)
        || key.Equals("content-length", StringComparison.OrdinalIgnoreCase)
        || key.Equals(GrpcProtocol.TimeoutHeader, StringComparison.OrdinalIgnoreCase)
        || key.Equals(GrpcProtocol.EncodingHeader, StringComparison.OrdinalIgnoreCase)
        || key.Equals(GrpcProtocol.AcceptEncodingHeader, StringComparison.OrdinalIgnoreCase);

    private static string FormatPeer(HttpContext context)
    {
        var connection = context.Connection;
        if (connection.RemoteIpAddress is not { } address)
        {
            return "unknown";
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6
            ? string.Create(CultureInfo.InvariantCulture, $"ipv6:[{address}]:{connection.RemotePort}")
            : string.Create(CultureInfo.InvariantCulture, $"ipv4:{address}:{connection.RemotePort}");
    }

    private static string[] CreateStatusStrings()
    {
        var strings = new string[17];
        for (var i = 0; i < strings.Length; i++)
        {
            strings[i] = i.ToString(CultureInfo.InvariantCulture);
        }

        return strings;
    }
}
