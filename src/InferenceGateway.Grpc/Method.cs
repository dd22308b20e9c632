namespace InferenceGateway.Grpc;

/// <summary>The four gRPC method shapes.</summary>
public enum MethodType
{
    /// <summary>One request, one response.</summary>
    Unary = 0,
    /// <summary>A stream of requests, one response.</summary>
    ClientStreaming = 1,
    /// <summary>One request, a stream of responses.</summary>
    ServerStreaming = 2,
    /// <summary>Streams in both directions.</summary>
    DuplexStreaming = 3,
}

/// <summary>Non-generic view of a method.</summary>
public interface IMethod
{
    /// <summary>The method shape.</summary>
    MethodType Type { get; }

    /// <summary>Fully qualified service name, e.g. <c>grpc.health.v1.Health</c>.</summary>
    string ServiceName { get; }

    /// <summary>Method name, e.g. <c>Check</c>.</summary>
    string Name { get; }

    /// <summary>The HTTP/2 path, <c>/package.Service/Method</c>.</summary>
    string FullName { get; }
}

/// <summary>Describes one method: shape, names and the marshallers of its messages.</summary>
/// <typeparam name="TRequest">Request message type.</typeparam>
/// <typeparam name="TResponse">Response message type.</typeparam>
public sealed class Method<TRequest, TResponse> : IMethod
    where TRequest : class
    where TResponse : class
{
    /// <summary>Creates a method description.</summary>
    public Method(MethodType type, string serviceName, string name, Marshaller<TRequest> requestMarshaller, Marshaller<TResponse> responseMarshaller)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceName);
        ArgumentException.ThrowIfNullOrEmpty(name);
        Type = type;
        ServiceName = serviceName;
        Name = name;
        RequestMarshaller = requestMarshaller ?? throw new ArgumentNullException(nameof(requestMarshaller));
        ResponseMarshaller = responseMarshaller ?? throw new ArgumentNullException(nameof(responseMarshaller));
        FullName = "/" + serviceName + "/" + name;
    }

    /// <inheritdoc />
    public MethodType Type { get; }

    /// <inheritdoc />
    public string ServiceName { get; }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public string FullName { get; }

    /// <summary>Marshaller of requests.</summary>
    public Marshaller<TRequest> RequestMarshaller { get; }

    /// <summary>Marshaller of responses.</summary>
    public Marshaller<TResponse> ResponseMarshaller { get; }
}
