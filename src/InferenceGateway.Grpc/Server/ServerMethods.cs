namespace InferenceGateway.Grpc;

/// <summary>Handler of a unary method.</summary>
public delegate Task<TResponse> UnaryServerMethod<TRequest, TResponse>(TRequest request, ServerCallContext context)
    where TRequest : class
    where TResponse : class;

/// <summary>
/// Handler of a unary method that returns a <see cref="ValueTask{TResult}"/>, so that an async handler can complete
/// from a pooled box (<c>PoolingAsyncValueTaskMethodBuilder</c>) instead of allocating a task per call. Not part of
/// Grpc.AspNetCore's API: under it, such a handler is registered as <c>(r, c) =&gt; handler(r, c).AsTask()</c>.
/// </summary>
/// <remarks>The returned value task is awaited exactly once, as value tasks require.</remarks>
public delegate ValueTask<TResponse> ValueTaskUnaryServerMethod<TRequest, TResponse>(TRequest request, ServerCallContext context)
    where TRequest : class
    where TResponse : class;

/// <summary>Handler of a client-streaming method.</summary>
public delegate Task<TResponse> ClientStreamingServerMethod<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context)
    where TRequest : class
    where TResponse : class;

/// <summary>Handler of a server-streaming method.</summary>
public delegate Task ServerStreamingServerMethod<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context)
    where TRequest : class
    where TResponse : class;

/// <summary>Handler of a duplex-streaming method.</summary>
public delegate Task DuplexStreamingServerMethod<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context)
    where TRequest : class
    where TResponse : class;

/// <summary>A service class that describes its methods; mapped with <c>MapGrpcService&lt;TService&gt;()</c>.</summary>
public interface IGrpcService
{
    /// <summary>Builds the service's definition (called once, at mapping).</summary>
    ServerServiceDefinition BindService();
}
