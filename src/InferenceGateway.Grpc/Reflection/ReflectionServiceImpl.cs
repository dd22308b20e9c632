using Google.Protobuf;
using Google.Protobuf.Reflection;
using InferenceGateway.Contracts.Reflection;
using InferenceGateway.Grpc.Internal;
using Microsoft.Extensions.DependencyInjection;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace InferenceGateway.Grpc.Reflection;

/// <summary>
/// <c>grpc.reflection.v1alpha.ServerReflection</c>: lists every service mapped with a descriptor and serves their
/// files (with transitive dependencies) by file name or symbol. Map with <c>MapGrpcService&lt;ReflectionServiceImpl&gt;()</c>
/// after the other services.
/// </summary>
public sealed class ReflectionServiceImpl : IGrpcService
{
    /// <summary>The service's name on the wire.</summary>
    public const string ServiceName = "grpc.reflection.v1alpha.ServerReflection";

    /// <summary>The duplex method.</summary>
    public static readonly Method<ServerReflectionRequest, ServerReflectionResponse> ServerReflectionInfoMethod = new(
        MethodType.DuplexStreaming, ServiceName, "ServerReflectionInfo",
        Marshallers.ForProtobuf(ServerReflectionRequest.Parser), Marshallers.ForProtobuf(ServerReflectionResponse.Parser));

    private readonly Func<IReadOnlyList<ServiceDescriptor>> _services;
    private Index? _index;
    private int _indexedCount = -1;

    /// <summary>Creates the service over the services mapped in this application (used by DI).</summary>
    [ActivatorUtilitiesConstructor]
    public ReflectionServiceImpl(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var registry = services.GetService<GrpcServiceRegistry>()
            ?? throw new InvalidOperationException("Call services.AddGrpcServer() before using reflection.");
        _services = registry.GetDescriptors;
    }

    /// <summary>Creates the service over a fixed list of service descriptors.</summary>
    public ReflectionServiceImpl(IEnumerable<ServiceDescriptor> services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var list = services.ToArray();
        _services = () => list;
    }

    /// <inheritdoc />
    public ServerServiceDefinition BindService() =>
        ServerServiceDefinition.CreateBuilder()
            .AddMethod(ServerReflectionInfoMethod, ServerReflectionInfo)
            .WithDescriptor(ReflectionReflection.Descriptor.Services[0])
            .Build();

    private async Task ServerReflectionInfo(
        IAsyncStreamReader<ServerReflectionRequest> requestStream,
        IServerStreamWriter<ServerReflectionResponse> responseStream,
        ServerCallContext context)
    {
        while (await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            var response = Answer(requestStream.Current);
            await responseStream.WriteAsync(response, context.CancellationToken).ConfigureAwait(false);
        }
    }

    private ServerReflectionResponse Answer(ServerReflectionRequest request)
    {
        var index = GetIndex();
        var response = new ServerReflectionResponse { ValidHost = request.Host, OriginalRequest = request };
        switch (request.MessageRequestCase)
        {
            case ServerReflectionRequest.MessageRequestOneofCase.ListServices:
                var list = new ListServiceResponse();
                foreach (var name in index.ServiceNames)
                {
                    list.Service.Add(new ServiceResponse { Name = name });
                }

                response.ListServicesResponse = list;
                break;
            case ServerReflectionRequest.MessageRequestOneofCase.FileByFilename:
                SetFile(response, index.Files.GetValueOrDefault(request.FileByFilename), $"File not found: {request.FileByFilename}");
                break;
            case ServerReflectionRequest.MessageRequestOneofCase.FileContainingSymbol:
                SetFile(response, index.Symbols.GetValueOrDefault(request.FileContainingSymbol), $"Symbol not found: {request.FileContainingSymbol}");
                break;
            case ServerReflectionRequest.MessageRequestOneofCase.AllExtensionNumbersOfType:
                if (index.Symbols.ContainsKey(request.AllExtensionNumbersOfType))
                {
                    // Extensions are a proto2 feature; the indexed proto3 types have none.
                    response.AllExtensionNumbersResponse = new ExtensionNumberResponse { BaseTypeName = request.AllExtensionNumbersOfType };
                }
                else
                {
                    SetError(response, StatusCode.NotFound, $"Type not found: {request.AllExtensionNumbersOfType}");
                }

                break;
            case ServerReflectionRequest.MessageRequestOneofCase.FileContainingExtension:
                SetError(response, StatusCode.NotFound, "Extensions are not supported.");
                break;
            default:
                SetError(response, StatusCode.InvalidArgument, "Request has no message_request set.");
                break;
        }

        return response;
    }

    private static void SetFile(ServerReflectionResponse response, FileDescriptor? file, string notFound)
    {
        if (file is null)
        {
            SetError(response, StatusCode.NotFound, notFound);
            return;
        }

        // The file and its transitive dependencies, the file first, so one answer lets a client build the descriptors.
        var files = new FileDescriptorResponse();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Queue<FileDescriptor>();
        pending.Enqueue(file);
        while (pending.Count > 0)
        {
            var next = pending.Dequeue();
            if (!seen.Add(next.Name))
            {
                continue;
            }

            files.FileDescriptorProto.Add(next.SerializedData);
            foreach (var dependency in next.Dependencies)
            {
                pending.Enqueue(dependency);
            }
        }

        response.FileDescriptorResponse = files;
    }

    private static void SetError(ServerReflectionResponse response, StatusCode code, string message) =>
        response.ErrorResponse = new ErrorResponse { ErrorCode = (int)code, ErrorMessage = message };

    private Index GetIndex()
    {
        var services = _services();
        var index = Volatile.Read(ref _index);
        if (index is not null && _indexedCount == services.Count)
        {
            return index;
        }

        index = new Index(services);
        Volatile.Write(ref _index, index);
        _indexedCount = services.Count;
        return index;
    }

    private sealed class Index
    {
        public Index(IReadOnlyList<ServiceDescriptor> services)
        {
            var names = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var service in services)
            {
                names.Add(service.FullName);
                AddFile(service.File);
            }

            ServiceNames = names.ToArray();
        }

        public IReadOnlyList<string> ServiceNames { get; }

        public Dictionary<string, FileDescriptor> Files { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, FileDescriptor> Symbols { get; } = new(StringComparer.Ordinal);

        private void AddFile(FileDescriptor file)
        {
            if (!Files.TryAdd(file.Name, file))
            {
                return;
            }

            foreach (var service in file.Services)
            {
                Symbols.TryAdd(service.FullName, file);
                foreach (var method in service.Methods)
                {
                    Symbols.TryAdd(method.FullName, file);
                }
            }

            foreach (var message in file.MessageTypes)
            {
                AddMessage(message, file);
            }

            foreach (var enumType in file.EnumTypes)
            {
                Symbols.TryAdd(enumType.FullName, file);
            }

            foreach (var dependency in file.Dependencies)
            {
                AddFile(dependency);
            }
        }

        private void AddMessage(MessageDescriptor message, FileDescriptor file)
        {
            Symbols.TryAdd(message.FullName, file);
            foreach (var nested in message.NestedTypes)
            {
                AddMessage(nested, file);
            }

            foreach (var enumType in message.EnumTypes)
            {
                Symbols.TryAdd(enumType.FullName, file);
            }
        }
    }
}

/// <summary>DI registration of the reflection service.</summary>
public static class GrpcReflectionExtensions
{
    /// <summary>Registers <see cref="ReflectionServiceImpl"/> as a singleton over the mapped services.</summary>
    public static IServiceCollection AddGrpcReflection(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        Microsoft.Extensions.DependencyInjection.Extensions.ServiceCollectionDescriptorExtensions.TryAddSingleton(
            services, sp => new ReflectionServiceImpl(sp));
        return services;
    }
}
