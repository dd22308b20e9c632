namespace InferenceGateway.Grpc.Internal;

/// <summary>Starts calls over the channel's HttpClient.</summary>
internal sealed class HttpClientCallInvoker : CallInvoker
{
    private readonly GrpcChannel _channel;

    public HttpClientCallInvoker(GrpcChannel channel) => _channel = channel;

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(request);
        var call = new GrpcCall<TRequest, TResponse>(_channel, method, options);
        return new AsyncUnaryCall<TResponse>(call.RunUnaryAsync(request), call);
    }

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(request);
        var call = new GrpcCall<TRequest, TResponse>(_channel, method, options);
        call.StartServerStreaming(request);
        return new AsyncServerStreamingCall<TResponse>(call.CreateResponseStream(), call);
    }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
    {
        ArgumentNullException.ThrowIfNull(method);
        var call = new GrpcCall<TRequest, TResponse>(_channel, method, options);
        var writer = call.CreateRequestStream();
        return new AsyncClientStreamingCall<TRequest, TResponse>(writer, call.RunClientStreamingAsync(), call);
    }

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
    {
        ArgumentNullException.ThrowIfNull(method);
        var call = new GrpcCall<TRequest, TResponse>(_channel, method, options);
        var writer = call.CreateRequestStream();
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(writer, call.CreateResponseStream(), call);
    }
}
