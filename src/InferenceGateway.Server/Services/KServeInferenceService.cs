using System.Reflection;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Models;
using Grpc.Core;
using InferenceGateway.Server.Hosting;
using InferenceGateway.Server.Services.Wire;
using InferenceGateway.Server.Transport;

namespace InferenceGateway.Server.Services;

/// <summary>
/// <c>inference.GRPCInferenceService</c>, the Open Inference Protocol (KServe v2): liveness, readiness, metadata
/// and ModelInfer. An empty model version lets the gateway choose (today the latest ready version).
/// </summary>
/// <remarks>
/// The metadata methods are the generated service's; ModelInfer is bound under the same name and wire format with the
/// pooled codec (<see cref="ModelInferCodec"/>) instead of the generated messages (<see cref="Bind"/>).
/// </remarks>
public sealed class KServeInferenceService : GRPCInferenceService.GRPCInferenceServiceBase
{
    private static readonly string ServerVersion = typeof(KServeInferenceService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    // Responses are immutable once sent: the constant ones are shared instead of built per call.
    private static readonly Task<ServerLiveResponse> Live = Task.FromResult(new ServerLiveResponse { Live = true });
    private static readonly Task<ServerReadyResponse> Ready = Task.FromResult(new ServerReadyResponse { Ready = true });
    private static readonly Task<ServerReadyResponse> NotReady = Task.FromResult(new ServerReadyResponse { Ready = false });
    private static readonly Task<ModelReadyResponse> ModelIsReady = Task.FromResult(new ModelReadyResponse { Ready = true });
    private static readonly Task<ModelReadyResponse> ModelIsNotReady = Task.FromResult(new ModelReadyResponse { Ready = false });

    // The server's own ModelInfer: same method and wire format, parsed and written by the pooled, allocation-free codec.
    internal static readonly Method<ModelInferCall, ModelInferCall> ServerModelInferMethod =
        new(MethodType.Unary, GRPCInferenceService.Descriptor.FullName, "ModelInfer", ModelInferCodec.RequestMarshaller, ModelInferCodec.ResponseMarshaller);

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

    /// <summary>Binds the generated methods, and ModelInfer through the codec in place of the generated one.</summary>
    internal static void Bind(GatewayServiceBinder<KServeInferenceService> binder, KServeInferenceService service)
    {
        GRPCInferenceService.BindService(binder.Skip(ServerModelInferMethod.Name), service);
        binder.AddMethod(ServerModelInferMethod, service.ModelInfer);
    }

    /// <inheritdoc />
    public override Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context) => Live;

    /// <inheritdoc />
    public override Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context) =>
        _readiness.IsReady ? Ready : NotReady;

    /// <inheritdoc />
    public override Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _repository.TryGetVersion(request.Name, request.Version, out _) ? ModelIsReady : ModelIsNotReady;
    }

    /// <inheritdoc />
    public override Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request, ServerCallContext context) =>
        Task.FromResult(ServerMetadata());

    /// <inheritdoc />
    public override Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Task.FromResult(ModelMetadata(request));
    }

    /// <summary>
    /// ModelInfer on the pooled call. A call that waits for its batch completes through the call itself (a pooled
    /// value-task source); Grpc.AspNetCore takes a <see cref="Task{TResult}"/>, so such a call costs one task.
    /// </summary>
    private Task<ModelInferCall> ModelInfer(ModelInferCall call, ServerCallContext context) =>
        _executor.InferAsync(call, context.Deadline, context.CancellationToken).AsTask();

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
}
