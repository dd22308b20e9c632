using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Routing;

namespace InferenceGateway.Grpc.Internal;

/// <summary>Services mapped in this application (feeds reflection and the UNIMPLEMENTED messages).</summary>
internal sealed class GrpcServiceRegistry
{
    private readonly object _gate = new();
    private readonly List<ServiceDescriptor> _descriptors = new();
    private readonly HashSet<string> _serviceNames = new(StringComparer.Ordinal);
    private readonly HashSet<IEndpointRouteBuilder> _unimplementedMapped = new(ReferenceEqualityComparer.Instance);

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
}
