using System.Threading.Channels;
using InferenceGateway.Contracts.Health;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using ServingStatus = InferenceGateway.Contracts.Health.HealthCheckResponse.Types.ServingStatus;

namespace InferenceGateway.Grpc.Health;

/// <summary>
/// The standard <c>grpc.health.v1.Health</c> service. The host sets statuses; "" is the whole server. Register as a
/// singleton (<see cref="GrpcHealthExtensions.AddGrpcHealth"/>) and map with <c>MapGrpcService&lt;HealthServiceImpl&gt;()</c>.
/// </summary>
public sealed class HealthServiceImpl : IGrpcService
{
    /// <summary>The service's name on the wire.</summary>
    public const string ServiceName = "grpc.health.v1.Health";

    /// <summary>Check: one status.</summary>
    public static readonly Method<HealthCheckRequest, HealthCheckResponse> CheckMethod = new(
        MethodType.Unary, ServiceName, "Check",
        Marshallers.ForProtobuf(HealthCheckRequest.Parser), Marshallers.ForProtobuf(HealthCheckResponse.Parser));

    /// <summary>Watch: the current status, then every change.</summary>
    public static readonly Method<HealthCheckRequest, HealthCheckResponse> WatchMethod = new(
        MethodType.ServerStreaming, ServiceName, "Watch",
        Marshallers.ForProtobuf(HealthCheckRequest.Parser), Marshallers.ForProtobuf(HealthCheckResponse.Parser));

    // One pre-built response per status: responses are immutable once sent, so sharing avoids an allocation per Check.
    private static readonly HealthCheckResponse[] s_responses =
    [
        new() { Status = ServingStatus.Unknown },
        new() { Status = ServingStatus.Serving },
        new() { Status = ServingStatus.NotServing },
        new() { Status = ServingStatus.ServiceUnknown },
    ];

    private readonly object _gate = new();
    private readonly Dictionary<string, ServingStatus> _statuses = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<ChannelWriter<ServingStatus>>> _watchers = new(StringComparer.Ordinal);

    /// <summary>Sets a service's status and notifies its watchers when it changed.</summary>
    public void SetStatus(string service, ServingStatus status)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_gate)
        {
            if (_statuses.TryGetValue(service, out var previous) && previous == status)
            {
                return;
            }

            _statuses[service] = status;
            NotifyLocked(service, status);
        }
    }

    /// <summary>Forgets a service: Check answers NOT_FOUND, watchers see SERVICE_UNKNOWN.</summary>
    public void ClearStatus(string service)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_gate)
        {
            if (_statuses.Remove(service))
            {
                NotifyLocked(service, ServingStatus.ServiceUnknown);
            }
        }
    }

    /// <summary>Sets every known service, and "", to NOT_SERVING (graceful shutdown).</summary>
    public void SetAllNotServing()
    {
        lock (_gate)
        {
            _statuses[string.Empty] = ServingStatus.NotServing;
            foreach (var service in _statuses.Keys.ToArray())
            {
                _statuses[service] = ServingStatus.NotServing;
                NotifyLocked(service, ServingStatus.NotServing);
            }
        }
    }

    /// <summary>The current status of a service, or null when unknown.</summary>
    public ServingStatus? GetStatus(string service)
    {
        lock (_gate)
        {
            return _statuses.TryGetValue(service, out var status) ? status : null;
        }
    }

    /// <inheritdoc />
    public ServerServiceDefinition BindService() =>
        ServerServiceDefinition.CreateBuilder()
            .AddMethod(CheckMethod, Check)
            .AddMethod(WatchMethod, Watch)
            .WithDescriptor(HealthReflection.Descriptor.Services[0])
            .Build();

    private Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context)
    {
        var status = GetStatus(request.Service)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"Unknown service '{request.Service}'."));
        return Task.FromResult(s_responses[(int)status]);
    }

    private async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responseStream, ServerCallContext context)
    {
        // Capacity 1, drop oldest: a slow watcher only ever needs the latest status.
        var channel = Channel.CreateBounded<ServingStatus>(new BoundedChannelOptions(1)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = false,
        });

        var service = request.Service;
        lock (_gate)
        {
            if (!_watchers.TryGetValue(service, out var list))
            {
                list = new List<ChannelWriter<ServingStatus>>();
                _watchers[service] = list;
            }

            list.Add(channel.Writer);
            channel.Writer.TryWrite(_statuses.TryGetValue(service, out var current) ? current : ServingStatus.ServiceUnknown);
        }

        try
        {
            ServingStatus? lastSent = null;
            var token = context.CancellationToken;
            while (await channel.Reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var status))
                {
                    if (status == lastSent)
                    {
                        continue;
                    }

                    await responseStream.WriteAsync(s_responses[(int)status], token).ConfigureAwait(false);
                    lastSent = status;
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                if (_watchers.TryGetValue(service, out var list))
                {
                    list.Remove(channel.Writer);
                    if (list.Count == 0)
                    {
                        _watchers.Remove(service);
                    }
                }
            }
        }
    }

    private void NotifyLocked(string service, ServingStatus status)
    {
        if (_watchers.TryGetValue(service, out var list))
        {
            foreach (var writer in list)
            {
                writer.TryWrite(status);
            }
        }
    }
}

/// <summary>DI registration of the health service.</summary>
public static class GrpcHealthExtensions
{
    /// <summary>Registers <see cref="HealthServiceImpl"/> as a singleton, with "" (the server) SERVING.</summary>
    public static IServiceCollection AddGrpcHealth(this IServiceCollection services)
    {
        services.TryAddSingleton(_ =>
        {
            var health = new HealthServiceImpl();
            health.SetStatus(string.Empty, ServingStatus.Serving);
            return health;
        });
        return services;
    }
}
