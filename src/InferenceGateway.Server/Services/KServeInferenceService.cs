using System.Reflection;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Models;
using InferenceGateway.Grpc;
using InferenceGateway.Server.Hosting;
using InferenceGateway.Server.Services.Wire;

namespace InferenceGateway.Server.Services;

/// <summary>
/// <c>inference.GRPCInferenceService</c>, the Open Inference Protocol (KServe v2): liveness, readiness, metadata
/// and ModelInfer. An empty model version lets the gateway choose (today the latest ready version).
/// </summary>
public sealed class KServeInferenceService : IGrpcService
{
    private const string ServiceName = "inference.GRPCInferenceService";
    private static readonly string ServerVersion = typeof(KServeInferenceService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    private static readonly Method<ServerLiveRequest, ServerLiveResponse> ServerLiveMethod = Unary<ServerLiveRequest, ServerLiveResponse>("ServerLive", ServerLiveRequest.Parser, ServerLiveResponse.Parser);
    private static readonly Method<ServerReadyRequest, ServerReadyResponse> ServerReadyMethod = Unary<ServerReadyRequest, ServerReadyResponse>("ServerReady", ServerReadyRequest.Parser, ServerReadyResponse.Parser);
    private static readonly Method<ModelReadyRequest, ModelReadyResponse> ModelReadyMethod = Unary<ModelReadyRequest, ModelReadyResponse>("ModelReady", ModelReadyRequest.Parser, ModelReadyResponse.Parser);
    private static readonly Method<ServerMetadataRequest, ServerMetadataResponse> ServerMetadataMethod = Unary<ServerMetadataRequest, ServerMetadataResponse>("ServerMetadata", ServerMetadataRequest.Parser, ServerMetadataResponse.Parser);
    private static readonly Method<ModelMetadataRequest, ModelMetadataResponse> ModelMetadataMethod = Unary<ModelMetadataRequest, ModelMetadataResponse>("ModelMetadata", ModelMetadataRequest.Parser, ModelMetadataResponse.Parser);

    /// <summary>The ModelInfer method, for clients of this gateway.</summary>
    public static readonly Method<ModelInferRequest, ModelInferResponse> ModelInferMethod = Unary<ModelInferRequest, ModelInferResponse>("ModelInfer", ModelInferRequest.Parser, ModelInferResponse.Parser);

    // The server's own ModelInfer: same method and wire format, parsed and written by the pooled, allocation-free codec.
    private static readonly Method<ModelInferCall, ModelInferCall> ServerModelInferMethod =
        new(MethodType.Unary, ServiceName, "ModelInfer", ModelInferCodec.RequestMarshaller, ModelInferCodec.ResponseMarshaller);

    private readonly ModelRepository _repository;
    private readonly InferenceExecutor _executor;
    private readonly GatewayReadiness _readiness;

    /// <summary>Creates the service.</summary>
    public KServeInferenceService(ModelRepository repository, InferenceExecutor executor, GatewayReadiness readiness)
    {
        _repository = repository;
        _executor = executor;
        _readiness = readiness;
    }

    /// <inheritdoc />
    public ServerServiceDefinition BindService() => ServerServiceDefinition.CreateBuilder()
        .AddMethod(ServerLiveMethod, ServerLive)
        .AddMethod(ServerReadyMethod, ServerReady)
        .AddMethod(ModelReadyMethod, ModelReady)
        .AddMethod(ServerMetadataMethod, ServerMetadata)
        .AddMethod(ModelMetadataMethod, ModelMetadata)
        .AddValueTaskMethod(ServerModelInferMethod, ModelInfer)
        .WithDescriptor(GrpcServiceReflection.Descriptor.Services[0])
        .Build();

    private static Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerLiveResponse { Live = true });

    private Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerReadyResponse { Ready = _readiness.IsReady });

    private Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ModelReadyResponse { Ready = _repository.TryGetVersion(request.Name, request.Version, out _) });

    private static Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request, ServerCallContext context) =>
        Task.FromResult(ServerMetadata());

    private Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context) =>
        Task.FromResult(ModelMetadata(request));

    private ValueTask<ModelInferCall> ModelInfer(ModelInferCall call, ServerCallContext context) =>
        _executor.InferAsync(call, context.Deadline, context.CancellationToken);

    private static ServerMetadataResponse ServerMetadata()
    {
        var response = new ServerMetadataResponse { Name = "inference-gateway", Version = ServerVersion };
        response.Extensions.Add("model_repository");
        response.Extensions.Add("dynamic_batching");
        return response;
    }

    private ModelMetadataResponse ModelMetadata(ModelMetadataRequest request)
    {
        if (!_repository.Models.TryGetValue(request.Name, out var served))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"model '{request.Name}' is not served"));
        }

        if (!_repository.TryGetVersion(request.Name, request.Version, out var version) || version is null)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"model '{request.Name}' has no ready version '{request.Version}'"));
        }

        var response = new ModelMetadataResponse { Name = served.Name, Platform = served.Config.Platform };
        foreach (var v in served.Versions)
        {
            response.Versions.Add(v.Version);
        }

        foreach (var input in version.Config.Inputs)
        {
            response.Inputs.Add(ToMetadata(input));
        }

        foreach (var output in version.Config.Outputs)
        {
            response.Outputs.Add(ToMetadata(output));
        }

        return response;
    }

    private static ModelMetadataResponse.Types.TensorMetadata ToMetadata(TensorConfig tensor)
    {
        var metadata = new ModelMetadataResponse.Types.TensorMetadata { Name = tensor.Name, Datatype = tensor.DataType };
        metadata.Shape.AddRange(tensor.Dims);
        return metadata;
    }

    private static Method<TRequest, TResponse> Unary<TRequest, TResponse>(string name, Google.Protobuf.MessageParser<TRequest> requestParser, Google.Protobuf.MessageParser<TResponse> responseParser)
        where TRequest : class, Google.Protobuf.IMessage<TRequest>, Google.Protobuf.IBufferMessage
        where TResponse : class, Google.Protobuf.IMessage<TResponse>, Google.Protobuf.IBufferMessage =>
        new(MethodType.Unary, ServiceName, name, Marshallers.ForProtobuf(requestParser), Marshallers.ForProtobuf(responseParser));
}
