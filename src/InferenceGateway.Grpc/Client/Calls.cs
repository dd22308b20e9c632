using System.Runtime.CompilerServices;

namespace InferenceGateway.Grpc;

/// <summary>State of a call shared by the call result types.</summary>
internal interface IClientCallState : IDisposable
{
    Task<Metadata> ResponseHeadersAsync { get; }

    Status GetStatus();

    Metadata GetTrailers();
}

/// <summary>A unary call in flight; await it for the response.</summary>
/// <typeparam name="TResponse">Response type.</typeparam>
public sealed class AsyncUnaryCall<TResponse> : IDisposable
{
    private readonly IClientCallState _state;

    internal AsyncUnaryCall(Task<TResponse> responseAsync, IClientCallState state)
    {
        ResponseAsync = responseAsync;
        _state = state;
    }

    /// <summary>The response; faults with <see cref="RpcException"/> on a non-OK status.</summary>
    public Task<TResponse> ResponseAsync { get; }

    /// <summary>The response headers.</summary>
    public Task<Metadata> ResponseHeadersAsync => _state.ResponseHeadersAsync;

    /// <summary>Awaits <see cref="ResponseAsync"/>.</summary>
    public TaskAwaiter<TResponse> GetAwaiter() => ResponseAsync.GetAwaiter();

    /// <summary>The status; throws <see cref="InvalidOperationException"/> while the call is in progress.</summary>
    public Status GetStatus() => _state.GetStatus();

    /// <summary>The trailers; throws <see cref="InvalidOperationException"/> while the call is in progress.</summary>
    public Metadata GetTrailers() => _state.GetTrailers();

    /// <summary>Cancels the call if still running (RST_STREAM) and releases its resources.</summary>
    public void Dispose() => _state.Dispose();
}

/// <summary>A server-streaming call in flight.</summary>
/// <typeparam name="TResponse">Response type.</typeparam>
public sealed class AsyncServerStreamingCall<TResponse> : IDisposable
{
    private readonly IClientCallState _state;

    internal AsyncServerStreamingCall(IAsyncStreamReader<TResponse> responseStream, IClientCallState state)
    {
        ResponseStream = responseStream;
        _state = state;
    }

    /// <summary>The responses; MoveNext throws <see cref="RpcException"/> on a non-OK status.</summary>
    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    /// <summary>The response headers.</summary>
    public Task<Metadata> ResponseHeadersAsync => _state.ResponseHeadersAsync;

    /// <summary>The status; throws while the call is in progress.</summary>
    public Status GetStatus() => _state.GetStatus();

    /// <summary>The trailers; throws while the call is in progress.</summary>
    public Metadata GetTrailers() => _state.GetTrailers();

    /// <summary>Cancels the call if still running (RST_STREAM) and releases its resources.</summary>
    public void Dispose() => _state.Dispose();
}

/// <summary>A client-streaming call in flight.</summary>
/// <typeparam name="TRequest">Request type.</typeparam>
/// <typeparam name="TResponse">Response type.</typeparam>
public sealed class AsyncClientStreamingCall<TRequest, TResponse> : IDisposable
{
    private readonly IClientCallState _state;

    internal AsyncClientStreamingCall(IClientStreamWriter<TRequest> requestStream, Task<TResponse> responseAsync, IClientCallState state)
    {
        RequestStream = requestStream;
        ResponseAsync = responseAsync;
        _state = state;
    }

    /// <summary>Writer of requests; call CompleteAsync when done.</summary>
    public IClientStreamWriter<TRequest> RequestStream { get; }

    /// <summary>The response; faults with <see cref="RpcException"/> on a non-OK status.</summary>
    public Task<TResponse> ResponseAsync { get; }

    /// <summary>The response headers.</summary>
    public Task<Metadata> ResponseHeadersAsync => _state.ResponseHeadersAsync;

    /// <summary>Awaits <see cref="ResponseAsync"/>.</summary>
    public TaskAwaiter<TResponse> GetAwaiter() => ResponseAsync.GetAwaiter();

    /// <summary>The status; throws while the call is in progress.</summary>
    public Status GetStatus() => _state.GetStatus();

    /// <summary>The trailers; throws while the call is in progress.</summary>
    public Metadata GetTrailers() => _state.GetTrailers();

    /// <summary>Cancels the call if still running (RST_STREAM) and releases its resources.</summary>
    public void Dispose() => _state.Dispose();
}

/// <summary>A duplex-streaming call in flight.</summary>
/// <typeparam name="TRequest">Request type.</typeparam>
/// <typeparam name="TResponse">Response type.</typeparam>
public sealed class AsyncDuplexStreamingCall<TRequest, TResponse> : IDisposable
{
    private readonly IClientCallState _state;

    internal AsyncDuplexStreamingCall(IClientStreamWriter<TRequest> requestStream, IAsyncStreamReader<TResponse> responseStream, IClientCallState state)
    {
        RequestStream = requestStream;
        ResponseStream = responseStream;
        _state = state;
    }

    /// <summary>Writer of requests; call CompleteAsync when done.</summary>
    public IClientStreamWriter<TRequest> RequestStream { get; }

    /// <summary>The responses; MoveNext throws <see cref="RpcException"/> on a non-OK status.</summary>
    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    /// <summary>The response headers.</summary>
    public Task<Metadata> ResponseHeadersAsync => _state.ResponseHeadersAsync;

    /// <summary>The status; throws while the call is in progress.</summary>
    public Status GetStatus() => _state.GetStatus();

    /// <summary>The trailers; throws while the call is in progress.</summary>
    public Metadata GetTrailers() => _state.GetTrailers();

    /// <summary>Cancels the call if still running (RST_STREAM) and releases its resources.</summary>
    public void Dispose() => _state.Dispose();
}
