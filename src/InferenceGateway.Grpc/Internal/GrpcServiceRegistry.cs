using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace InferenceGateway.Grpc.Internal;

/// <summary>
/// Services mapped in this application (feeds reflection and the UNIMPLEMENTED messages), and the table of methods the
/// direct dispatcher may serve without endpoint routing.
/// </summary>
internal sealed class GrpcServiceRegistry
{
    private readonly object _gate = new();
    private readonly List<ServiceDescriptor> _descriptors = new();
    private readonly HashSet<string> _serviceNames = new(StringComparer.Ordinal);
    private readonly HashSet<IEndpointRouteBuilder> _unimplementedMapped = new(ReferenceEqualityComparer.Instance);

    // Copy-on-write so the per-request lookup takes no lock; methods are mapped at startup only.
    private volatile Dictionary<string, DirectMethod> _direct = new(StringComparer.Ordinal);

    public void Add(ServerServiceDefinition definition)
    {
        lock (_gate)
        {
            foreach (var method in definition.Methods)
            {
                _serviceNames.Add(method.Method.ServiceName);
            }

            if (definition.Descriptor is { } descriptor && !_descriptors.Contains(descriptor))
            {
                _descriptors.Add(descriptor);
            }
        }
    }

    /// <summary>
    /// Offers a mapped method to the direct dispatcher under its exact path. The first mapping of a path wins, as the
    /// router would report a duplicate anyway.
    /// </summary>
    public DirectMethod AddDirect(string path, RequestDelegate handler)
    {
        lock (_gate)
        {
            if (_direct.TryGetValue(path, out var existing))
            {
                return existing;
            }

            var method = new DirectMethod(handler);
            _direct = new Dictionary<string, DirectMethod>(_direct, StringComparer.Ordinal) { [path] = method };
            return method;
        }
    }

    /// <summary>The handler for an exact method path, or null when the request must take the routed pipeline.</summary>
    public RequestDelegate? FindDirect(string path) =>
        _direct.TryGetValue(path, out var method) && method.Enabled ? method.Handler : null;

    public bool ContainsService(string serviceName)
    {
        lock (_gate)
        {
            return _serviceNames.Contains(serviceName);
        }
    }

    public IReadOnlyList<ServiceDescriptor> GetDescriptors()
    {
        lock (_gate)
        {
            return _descriptors.ToArray();
        }
    }

    /// <summary>True the first time for a route builder: the catch-all is mapped once per builder.</summary>
    public bool TryMarkUnimplementedMapped(IEndpointRouteBuilder endpoints)
    {
        lock (_gate)
        {
            return _unimplementedMapped.Add(endpoints);
        }
    }

    /// <summary>A directly dispatchable method; disabled once endpoint conventions (auth, host filters) apply to it.</summary>
    internal sealed class DirectMethod(RequestDelegate handler)
    {
        private volatile bool _enabled = true;

        public RequestDelegate Handler { get; } = handler;

        public bool Enabled => _enabled;

        public void Disable() => _enabled = false;
    }
}
