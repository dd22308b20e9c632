using System.Globalization;
using System.IO.Compression;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;

namespace InferenceGateway.Grpc.Internal;

/// <summary>One client call over HttpClient: request, response headers, messages, trailers, status.</summary>
internal sealed class GrpcCall<TRequest, TResponse> : IClientCallState
    where TRequest : class
    where TResponse : class
{
    private static readonly StreamPipeReaderOptions s_readerOptions = new(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024);

    [ThreadStatic]
    private static PooledBufferWriter? t_payloadWriter;

    private readonly GrpcChannel _channel;
    private readonly Method<TRequest, TResponse> _method;
    private readonly CallOptions _options;
    private readonly CancellationTokenSource _cts;
    private readonly string? _requestEncoding;
    private HttpRequestMessage? _request;
    private HttpResponseMessage? _response;
    private PipeReader? _reader;
    private string? _responseEncoding;
    private StreamingContent? _streamingContent;
    private Task<bool>? _sendTask;
    private Task<Metadata>? _headersTask;
    private Status? _status;
    private Metadata? _trailers;
    private int _disposed;
    private int _cleanedUp;

    public GrpcCall(GrpcChannel channel, Method<TRequest, TResponse> method, CallOptions options)
    {
        _channel = channel;
        _method = method;
        _options = options;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken);
        if (options.Headers?.GetValue(GrpcProtocol.CompressionRequestHeader) is { } encoding
            && !string.Equals(encoding, GrpcProtocol.IdentityEncoding, StringComparison.OrdinalIgnoreCase))
        {
            if (!GrpcCompression.IsSupported(encoding))
            {
                throw new InvalidOperationException($"Unsupported request compression '{encoding}'; supported: gzip.");
            }

            _requestEncoding = encoding;
        }
    }

    public Task<Metadata> ResponseHeadersAsync => _headersTask ??= GetResponseHeadersAsync();

    private FrameReadSettings ResponseSettings => new(_channel.Options.MaxReceiveMessageSize, _responseEncoding, IsClient: true);

    public Status GetStatus() => _status ?? throw new InvalidOperationException("Unable to get the status because the call is not complete.");

    public Metadata GetTrailers() => _trailers ?? throw new InvalidOperationException("Can't get the call trailers because the call has not completed successfully.");

    public async Task<TResponse> RunUnaryAsync(TRequest request)
    {
        try
        {
            _sendTask = SendAsync(CreatePayload(request));
            return await ReadSingleResponseAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw Fail(ex);
        }
        finally
        {
            Cleanup();
        }
    }

    public async Task<TResponse> RunClientStreamingAsync()
    {
        try
        {
            return await ReadSingleResponseAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw Fail(ex);
        }
        finally
        {
            Cleanup();
        }
    }

    public void StartServerStreaming(TRequest request)
    {
        try
        {
            _sendTask = SendAsync(CreatePayload(request));
        }
        catch (Exception ex)
        {
            _sendTask = Task.FromException<bool>(ex);
        }
    }

    public IClientStreamWriter<TRequest> CreateRequestStream()
    {
        _streamingContent = new StreamingContent();
        try
        {
            _sendTask = SendAsync(_streamingContent);
        }
        catch (Exception ex)
        {
            _sendTask = Task.FromException<bool>(ex);
        }

        return new RequestStreamWriter(this);
    }

    public IAsyncStreamReader<TResponse> CreateResponseStream() => new ResponseStreamReader(this);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (_status is null)
        {
            // Cancel what is pending; the pending operation reports CANCELLED and cleans up.
            _cts.Cancel();
            _streamingContent?.Abort();
            _response?.Dispose();
        }
        else
        {
            Cleanup();
        }
    }

    private PayloadContent CreatePayload(TRequest request)
    {
        var now = DateTime.UtcNow;
        if (_options.Deadline is { } deadline && deadline <= now)
        {
            throw new RpcException(SetStatus(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"), Metadata.Empty));
        }

        var writer = t_payloadWriter ??= new PooledBufferWriter();
        try
        {
            MessageFraming.WriteMessage(writer, request, _method.RequestMarshaller.ContextualSerializer,
                NoCompress(_options.WriteOptions) ? null : _requestEncoding, CompressionLevel.Fastest, _channel.Options.MaxSendMessageSize);
            return new PayloadContent(writer);
        }
        finally
        {
            writer.Reset();
        }
    }

    private static bool NoCompress(WriteOptions? options) => options is not null && (options.Flags & WriteFlags.NoCompress) != 0;

    /// <summary>Sends the request; true when a response body with messages follows, false when the status is known.</summary>
    private async Task<bool> SendAsync(HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, _channel.GetMethodUri(_method))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        _request = request;
        var headers = request.Headers;
        headers.TryAddWithoutValidation("te", "trailers");
        headers.TryAddWithoutValidation("user-agent", GrpcHeaders.UserAgent);
        headers.TryAddWithoutValidation(GrpcProtocol.AcceptEncodingHeader, GrpcProtocol.SupportedEncodings);
        if (_requestEncoding is not null)
        {
            headers.TryAddWithoutValidation(GrpcProtocol.EncodingHeader, _requestEncoding);
        }

        if (_options.Deadline is { } deadline && deadline != DateTime.MaxValue)
        {
            var remaining = deadline.ToUniversalTime() - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                throw new RpcException(SetStatus(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"), Metadata.Empty));
            }

            headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcProtocol.FormatTimeout(remaining));
            if (remaining.TotalMilliseconds < uint.MaxValue - 1)
            {
                _cts.CancelAfter(remaining);
            }
        }

        if (_options.Headers is { } metadata)
        {
            foreach (var entry in metadata)
            {
                if (entry.Key == GrpcProtocol.CompressionRequestHeader)
                {
                    continue;
                }

                headers.TryAddWithoutValidation(entry.Key, entry.IsBinary ? Convert.ToBase64String(entry.ValueBytes) : entry.Value);
            }
        }

        var response = await _channel.HttpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _cts.Token).ConfigureAwait(false);
        _response = response;
        if (response.StatusCode != HttpStatusCode.OK)
        {
            SetStatus(StatusFromHttp(response), ReadMetadata(response.Headers));
            return false;
        }

        if (TryReadStatus(response.Headers, out var trailersOnly))
        {
            SetStatus(trailersOnly, ReadMetadata(response.Headers));
            return false;
        }

        var contentType = response.Content.Headers.ContentType?.MediaType;
        if (!GrpcProtocol.IsGrpcContentType(contentType))
        {
            SetStatus(new Status(StatusCode.Internal, $"Bad gRPC response. Invalid content-type value: {contentType}"), Metadata.Empty);
            return false;
        }

        if (response.Headers.TryGetValues(GrpcProtocol.EncodingHeader, out var encodings))
        {
            foreach (var value in encodings)
            {
                _responseEncoding = value;
            }
        }

        var stream = await response.Content.ReadAsStreamAsync(_cts.Token).ConfigureAwait(false);
        _reader = PipeReader.Create(stream, s_readerOptions);
        return true;
    }

    private async Task<TResponse> ReadSingleResponseAsync()
    {
        if (!await _sendTask!.ConfigureAwait(false))
        {
            if (_status!.Value.StatusCode == StatusCode.OK)
            {
                // Trailers-only OK carries no message, which a single-response call requires.
                SetStatus(new Status(StatusCode.Internal, "No message returned from method."), _trailers ?? Metadata.Empty, force: true);
            }

            throw StatusException();
        }

        var settings = ResponseSettings;
        var message = await MessageFraming.ReadStreamMessageAsync(_reader!, settings, _method.ResponseMarshaller.ContextualDeserializer, _cts.Token).ConfigureAwait(false);
        if (message is not null
            && await MessageFraming.ReadStreamMessageAsync(_reader!, settings, _method.ResponseMarshaller.ContextualDeserializer, _cts.Token).ConfigureAwait(false) is not null)
        {
            throw new RpcException(SetStatus(new Status(StatusCode.Internal, "Unary call returned more than one response message."), Metadata.Empty));
        }

        FinishFromTrailers();
        if (_status!.Value.StatusCode != StatusCode.OK)
        {
            throw StatusException();
        }

        return message ?? throw new RpcException(SetStatus(new Status(StatusCode.Internal, "Failed to deserialize response message."), Metadata.Empty, force: true));
    }

    private void FinishFromTrailers()
    {
        var trailing = _response!.TrailingHeaders;
        if (TryReadStatus(trailing, out var status))
        {
            SetStatus(status, ReadMetadata(trailing));
        }
        else
        {
            SetStatus(new Status(StatusCode.Internal, "No grpc-status found on response."), ReadMetadata(trailing));
        }
    }

    private Status SetStatus(Status status, Metadata trailers, bool force = false)
    {
        if (_status is null || force)
        {
            _status = status;
            _trailers = trailers;
        }

        return _status.Value;
    }

    private RpcException StatusException() => new(_status!.Value, _trailers ?? Metadata.Empty);

    /// <summary>Turns any failure into the call's status (first one wins) and the exception to throw.</summary>
    private RpcException Fail(Exception exception)
    {
        if (_status is { } known)
        {
            return exception is RpcException rpc && rpc.Status == known ? rpc : new RpcException(known, _trailers ?? Metadata.Empty);
        }

        Status status;
        if (exception is RpcException rpcException)
        {
            status = rpcException.Status;
        }
        else if (_options.CancellationToken.IsCancellationRequested || Volatile.Read(ref _disposed) == 1)
        {
            status = new Status(StatusCode.Cancelled, "Call canceled by the client.", exception);
        }
        else if (_cts.IsCancellationRequested)
        {
            // Only the deadline timer cancels _cts besides the caller's token and Dispose.
            status = new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded", exception);
        }
        else if (exception is HttpRequestException && _response is null)
        {
            status = new Status(StatusCode.Unavailable, $"Error starting gRPC call. {exception.GetType().Name}: {exception.Message}", exception);
        }
        else if (exception is IOException or HttpRequestException or ObjectDisposedException)
        {
            status = new Status(StatusCode.Unavailable, $"Error reading response. {exception.GetType().Name}: {exception.Message}", exception);
        }
        else if (exception is OperationCanceledException)
        {
            status = new Status(StatusCode.Cancelled, "Call canceled.", exception);
        }
        else
        {
            status = new Status(StatusCode.Internal, $"Error in gRPC call. {exception.GetType().Name}: {exception.Message}", exception);
        }

        SetStatus(status, Metadata.Empty);
        Cleanup();
        return new RpcException(_status!.Value, _trailers ?? Metadata.Empty);
    }

    private void Cleanup()
    {
        if (_status is null || Interlocked.Exchange(ref _cleanedUp, 1) == 1)
        {
            return;
        }

        _streamingContent?.Abort();
        _reader?.Complete();

        // Disposing a response not read to its end resets the HTTP/2 stream (RST_STREAM).
        _response?.Dispose();
        _request?.Dispose();
        _cts.Dispose();
    }

    private async Task<Metadata> GetResponseHeadersAsync()
    {
        try
        {
            if (_sendTask is null)
            {
                throw StatusException();
            }

            await _sendTask.ConfigureAwait(false);
            return ReadMetadata(_response!.Headers);
        }
        catch (Exception ex)
        {
            throw _status is { } status ? new RpcException(status, _trailers ?? Metadata.Empty) : Fail(ex);
        }
    }

    private static bool TryReadStatus(HttpHeaders headers, out Status status)
    {
        status = default;
        if (!headers.TryGetValues(GrpcProtocol.StatusTrailer, out var values))
        {
            return false;
        }

        string? codeText = null;
        foreach (var value in values)
        {
            codeText = value;
        }

        if (!int.TryParse(codeText, NumberStyles.None, CultureInfo.InvariantCulture, out var code))
        {
            status = new Status(StatusCode.Unknown, $"Unexpected grpc-status value: {codeText}");
            return true;
        }

        var detail = string.Empty;
        if (headers.TryGetValues(GrpcProtocol.MessageTrailer, out var messages))
        {
            foreach (var message in messages)
            {
                detail = GrpcProtocol.PercentDecode(message);
            }
        }

        // Codes outside 0-16 are UNKNOWN per the spec.
        status = new Status(code is >= 0 and <= 16 ? (StatusCode)code : StatusCode.Unknown, detail);
        return true;
    }

    private static Status StatusFromHttp(HttpResponseMessage response)
    {
        // Mapping from the spec's http-grpc-status-mapping.md.
        var code = (int)response.StatusCode switch
        {
            400 => StatusCode.Internal,
            401 => StatusCode.Unauthenticated,
            403 => StatusCode.PermissionDenied,
            404 => StatusCode.Unimplemented,
            429 or 502 or 503 or 504 => StatusCode.Unavailable,
            _ => StatusCode.Unknown,
        };
        return new Status(code, $"Bad gRPC response. HTTP status code: {(int)response.StatusCode}");
    }

    private static Metadata ReadMetadata(HttpHeaders headers)
    {
        var metadata = new Metadata();
        foreach (var header in headers.NonValidated)
        {
            var key = header.Key.ToLowerInvariant();
            if (key is GrpcProtocol.StatusTrailer or GrpcProtocol.MessageTrailer or GrpcProtocol.EncodingHeader
                or GrpcProtocol.AcceptEncodingHeader or "content-type" or "date" or "server" or "content-length")
            {
                continue;
            }

            foreach (var value in header.Value)
            {
                if (Metadata.Entry.IsBinaryKey(key))
                {
                    if (MetadataCodec.TryDecodeBinary(value, out var bytes))
                    {
                        metadata.Add(key, bytes);
                    }
                }
                else
                {
                    metadata.Add(key, value);
                }
            }
        }

        return metadata;
    }

    private sealed class ResponseStreamReader : IAsyncStreamReader<TResponse>
    {
        private readonly GrpcCall<TRequest, TResponse> _call;
        private TResponse? _current;

        public ResponseStreamReader(GrpcCall<TRequest, TResponse> call) => _call = call;

        public TResponse Current => _current ?? throw new InvalidOperationException("No current element is available.");

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            var call = _call;
            if (call._status is { } finished)
            {
                return finished.StatusCode == StatusCode.OK ? false : throw call.StatusException();
            }

            CancellationTokenRegistration registration = default;
            if (cancellationToken.CanBeCanceled)
            {
                registration = cancellationToken.Register(static state => ((GrpcCall<TRequest, TResponse>)state!).Dispose(), call);
            }

            try
            {
                if (!await call._sendTask!.ConfigureAwait(false))
                {
                    // Trailers-only: OK means an empty stream.
                    call.Cleanup();
                    return call._status!.Value.StatusCode == StatusCode.OK ? false : throw call.StatusException();
                }

                var message = await MessageFraming.ReadStreamMessageAsync(
                    call._reader!, call.ResponseSettings, call._method.ResponseMarshaller.ContextualDeserializer, call._cts.Token).ConfigureAwait(false);
                if (message is not null)
                {
                    _current = message;
                    return true;
                }

                call.FinishFromTrailers();
                call.Cleanup();
                return call._status!.Value.StatusCode == StatusCode.OK ? false : throw call.StatusException();
            }
            catch (Exception ex)
            {
                throw call.Fail(ex);
            }
            finally
            {
                await registration.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private sealed class RequestStreamWriter : IClientStreamWriter<TRequest>
    {
        private readonly GrpcCall<TRequest, TResponse> _call;
        private readonly PooledBufferWriter _buffer = new();
        private int _writing;
        private bool _completed;

        public RequestStreamWriter(GrpcCall<TRequest, TResponse> call) => _call = call;

        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(TRequest message) => WriteAsync(message, CancellationToken.None);

        public async Task WriteAsync(TRequest message, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(message);
            var call = _call;
            if (_completed)
            {
                throw new InvalidOperationException("Request stream has already been completed.");
            }

            if (call._status is { } status)
            {
                throw new RpcException(status, call._trailers ?? Metadata.Empty);
            }

            if (Interlocked.Exchange(ref _writing, 1) == 1)
            {
                throw new InvalidOperationException("Can't write the message because the previous write is in progress.");
            }

            try
            {
                var token = call._cts.Token;
                var stream = await call._streamingContent!.StreamTask.WaitAsync(cancellationToken).ConfigureAwait(false);
                var options = WriteOptions ?? call._options.WriteOptions;
                MessageFraming.WriteMessage(_buffer, message, call._method.RequestMarshaller.ContextualSerializer,
                    NoCompress(options) ? null : call._requestEncoding, CompressionLevel.Fastest, call._channel.Options.MaxSendMessageSize);
                using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(token, cancellationToken) : null;
                var writeToken = linked?.Token ?? token;
                await stream.WriteAsync(_buffer.WrittenMemory, writeToken).ConfigureAwait(false);
                await stream.FlushAsync(writeToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not InvalidOperationException)
            {
                if (call._status is { } known)
                {
                    throw new RpcException(known, call._trailers ?? Metadata.Empty);
                }

                if (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }

                throw call.Fail(ex);
            }
            finally
            {
                _buffer.Reset();
                Volatile.Write(ref _writing, 0);
            }
        }

        public Task CompleteAsync()
        {
            _completed = true;
            _call._streamingContent!.CompleteRequest();
            return Task.CompletedTask;
        }
    }
}
