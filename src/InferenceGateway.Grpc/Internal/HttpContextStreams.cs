namespace InferenceGateway.Grpc.Internal;

/// <summary>Server-side reader of request messages from the request body pipe.</summary>
internal sealed class HttpContextStreamReader<T> : IAsyncStreamReader<T>
    where T : class
{
    private readonly HttpContextServerCallContext _call;
    private readonly Func<DeserializationContext, T> _deserializer;
    private T? _current;
    private bool _completed;

    public HttpContextStreamReader(HttpContextServerCallContext call, Func<DeserializationContext, T> deserializer)
    {
        _call = call;
        _deserializer = deserializer;
    }

    public T Current => _current ?? throw new InvalidOperationException("No current element is available.");

    public Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        if (_completed)
        {
            return Task.FromResult(false);
        }

        return MoveNextCore(cancellationToken);
    }

    private async Task<bool> MoveNextCore(CancellationToken cancellationToken)
    {
        CancellationTokenSource? linked = null;
        var token = _call.CancellationToken;
        if (cancellationToken.CanBeCanceled && cancellationToken != token)
        {
            linked = CancellationTokenSource.CreateLinkedTokenSource(token, cancellationToken);
            token = linked.Token;
        }

        try
        {
            var message = await MessageFraming.ReadStreamMessageAsync(
                _call.HttpContext.Request.BodyReader, _call.RequestReadSettings, _deserializer, token).ConfigureAwait(false);
            if (message is null)
            {
                _completed = true;
                _current = null;
                return false;
            }

            _current = message;
            return true;
        }
        finally
        {
            linked?.Dispose();
        }
    }
}

/// <summary>Server-side writer of response messages; each write is flushed.</summary>
internal sealed class HttpContextStreamWriter<T> : IServerStreamWriter<T>
{
    private readonly HttpContextServerCallContext _call;
    private readonly Action<T, SerializationContext> _serializer;
    private int _writing;

    public HttpContextStreamWriter(HttpContextServerCallContext call, Action<T, SerializationContext> serializer)
    {
        _call = call;
        _serializer = serializer;
    }

    public WriteOptions? WriteOptions
    {
        get => _call.WriteOptions;
        set => _call.WriteOptions = value;
    }

    public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

    public async Task WriteAsync(T message, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _writing, 1) == 1)
        {
            throw new InvalidOperationException("Can't write the message because the previous write is in progress.");
        }

        CancellationTokenSource? linked = null;
        var token = _call.CancellationToken;
        if (cancellationToken.CanBeCanceled)
        {
            linked = CancellationTokenSource.CreateLinkedTokenSource(token, cancellationToken);
            token = linked.Token;
        }

        try
        {
            await _call.WriteMessageAsync(message, _serializer, flush: true, token).ConfigureAwait(false);
        }
        finally
        {
            linked?.Dispose();
            Volatile.Write(ref _writing, 0);
        }
    }
}
