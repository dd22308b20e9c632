using InferenceGateway.Grpc.Internal;
using Google.Protobuf.Reflection;

namespace InferenceGateway.Grpc;

/// <summary>A service's methods with their handlers, and optionally its protobuf descriptor (for reflection).</summary>
public sealed class ServerServiceDefinition
{
    private ServerServiceDefinition(IReadOnlyList<ServerMethodDefinition> methods, ServiceDescriptor? descriptor)
    {
        Methods = methods;
        Descriptor = descriptor;
    }

    /// <summary>The protobuf descriptor reflection lists; null when none was attached.</summary>
    public ServiceDescriptor? Descriptor { get; }

    /// <summary>The methods (descriptions only; handlers stay internal).</summary>
    public IEnumerable<IMethod> MethodDescriptions
    {
        get
        {
            foreach (var method in Methods)
            {
                yield return method.Method;
            }
        }
    }

    internal IReadOnlyList<ServerMethodDefinition> Methods { get; }

    /// <summary>Starts a definition.</summary>
    public static Builder CreateBuilder() => new();

    /// <summary>Collects methods and handlers.</summary>
    public sealed class Builder
    {
        private readonly List<ServerMethodDefinition> _methods = new();
        private readonly HashSet<string> _names = new(StringComparer.Ordinal);
        private ServiceDescriptor? _descriptor;

        internal Builder()
        {
        }

        /// <summary>Adds a unary method.</summary>
        public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse> handler)
            where TRequest : class
            where TResponse : class =>
            Add(method, MethodType.Unary, new ServerMethodDefinition<TRequest, TResponse>(method, handler));

        /// <summary>
        /// Adds a unary method whose handler returns a value task (see <see cref="ValueTaskUnaryServerMethod{TRequest, TResponse}"/>).
        /// A separate name, not an <c>AddMethod</c> overload, so that async lambdas passed to <c>AddMethod</c> stay unambiguous.
        /// </summary>
        public Builder AddValueTaskMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ValueTaskUnaryServerMethod<TRequest, TResponse> handler)
            where TRequest : class
            where TResponse : class =>
            Add(method, MethodType.Unary, new ServerMethodDefinition<TRequest, TResponse>(method, handler));

        /// <summary>Adds a client-streaming method.</summary>
        public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse> handler)
            where TRequest : class
            where TResponse : class =>
            Add(method, MethodType.ClientStreaming, new ServerMethodDefinition<TRequest, TResponse>(method, handler));

        /// <summary>Adds a server-streaming method.</summary>
        public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse> handler)
            where TRequest : class
            where TResponse : class =>
            Add(method, MethodType.ServerStreaming, new ServerMethodDefinition<TRequest, TResponse>(method, handler));

        /// <summary>Adds a duplex-streaming method.</summary>
        public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse> handler)
            where TRequest : class
            where TResponse : class =>
            Add(method, MethodType.DuplexStreaming, new ServerMethodDefinition<TRequest, TResponse>(method, handler));

        /// <summary>Attaches the protobuf service descriptor so server reflection can list the service.</summary>
        public Builder WithDescriptor(ServiceDescriptor descriptor)
        {
            _descriptor = descriptor ?? throw new ArgumentNullException(nameof(descriptor));
            return this;
        }

        /// <summary>Builds the definition.</summary>
        public ServerServiceDefinition Build() => new(_methods.ToArray(), _descriptor);

        private Builder Add(IMethod method, MethodType expected, ServerMethodDefinition definition)
        {
            ArgumentNullException.ThrowIfNull(method);
            if (method.Type != expected)
            {
                throw new ArgumentException($"Method {method.FullName} is {method.Type}; the handler is for {expected}.", nameof(method));
            }

            if (!_names.Add(method.FullName))
            {
                throw new ArgumentException($"Method {method.FullName} was already added.", nameof(method));
            }

            _methods.Add(definition);
            return this;
        }
    }
}
