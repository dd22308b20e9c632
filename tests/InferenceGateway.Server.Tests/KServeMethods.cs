using Google.Protobuf;
using Grpc.Core;
using InferenceGateway.Contracts.Inference;

namespace InferenceGateway.Server.Tests;

/// <summary>Client-side method descriptions of <c>inference.GRPCInferenceService</c>, for calls through a <see cref="CallInvoker"/>.</summary>
public static class KServeMethods
{
    private const string Service = "inference.GRPCInferenceService";

    public static readonly Method<ModelInferRequest, ModelInferResponse> ModelInfer = Unary("ModelInfer", ModelInferRequest.Parser, ModelInferResponse.Parser);

    public static readonly Method<ServerLiveRequest, ServerLiveResponse> ServerLive = Unary("ServerLive", ServerLiveRequest.Parser, ServerLiveResponse.Parser);

    public static readonly Method<ServerReadyRequest, ServerReadyResponse> ServerReady = Unary("ServerReady", ServerReadyRequest.Parser, ServerReadyResponse.Parser);

    public static readonly Method<ModelMetadataRequest, ModelMetadataResponse> ModelMetadata = Unary("ModelMetadata", ModelMetadataRequest.Parser, ModelMetadataResponse.Parser);

    public static Method<TRequest, TResponse> Unary<TRequest, TResponse>(string name, MessageParser<TRequest> requestParser, MessageParser<TResponse> responseParser)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse> =>
        new(MethodType.Unary, Service, name, ProtobufMarshaller.For(requestParser), ProtobufMarshaller.For(responseParser));
}

/// <summary>Marshallers for Google.Protobuf messages (what generated clients use).</summary>
public static class ProtobufMarshaller
{
    public static Marshaller<T> For<T>(MessageParser<T> parser)
        where T : IMessage<T> =>
        Marshallers.Create(static message => message.ToByteArray(), parser.ParseFrom);
}
