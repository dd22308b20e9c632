using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Grpc.Internal;

/// <summary>A method plus its handler; binds to a Kestrel request delegate.</summary>
internal abstract class ServerMethodDefinition
{
    public abstract IMethod Method { get; }

    public abstract RequestDelegate Bind(GrpcServerOptions options, ILogger logger);
}

internal sealed class ServerMethodDefinition<TRequest, TResponse> : ServerMethodDefinition
    where TRequest : class
    where TResponse : class
{
    private readonly Method<TRequest, TResponse> _method;
    private readonly Delegate _handler;

    public ServerMethodDefinition(Method<TRequest, TResponse> method, Delegate handler)
    {
        _method = method;
        _handler = handler ?? throw new ArgumentNullException(nameof(handler));
    }

    public override IMethod Method => _method;

    public override RequestDelegate Bind(GrpcServerOptions options, ILogger logger) =>
        new ServerCallHandler(_method, _handler, options, logger).HandleCallAsync;

    private sealed class ServerCallHandler
    {
        private readonly Method<TRequest, TResponse> _method;
        private readonly Delegate _handler;
        private readonly GrpcServerOptions _options;
        private readonly ILogger _logger;

        public ServerCallHandler(Method<TRequest, TResponse> method, Delegate handler, GrpcServerOptions options, ILogger logger)
        {
            _method = method;
            _handler = handler;
            _options = options;
            _logger = logger;
        }

        public async Task HandleCallAsync(HttpContext httpContext)
        {
            if (!ValidateRequest(httpContext))
            {
                return;
            }

            using var call = new HttpContextServerCallContext(httpContext, _method, _options, _logger);
            if (!call.Initialize())
            {
                return;
            }

            Status status;
            try
            {
                await InvokeAsync(call).ConfigureAwait(false);
                status = call.Status;
            }
            catch (Exception ex)
            {
                status = call.StatusFromException(ex);
            }

            call.Complete(status);
        }

        private Task InvokeAsync(HttpContextServerCallContext call)
        {
            switch (_method.Type)
            {
                case MethodType.Unary:
                    return UnaryAsync(call);
                case MethodType.ServerStreaming:
                    return ServerStreamingAsync(call);
                case MethodType.ClientStreaming:
                    DisableMinRequestBodyDataRate(call.HttpContext);
                    return ClientStreamingAsync(call);
                default:
                    DisableMinRequestBodyDataRate(call.HttpContext);
                    return ((DuplexStreamingServerMethod<TRequest, TResponse>)_handler)(
                        new HttpContextStreamReader<TRequest>(call, _method.RequestMarshaller.ContextualDeserializer),
                        new HttpContextStreamWriter<TResponse>(call, _method.ResponseMarshaller.ContextualSerializer),
                        call);
            }
        }

        private async Task UnaryAsync(HttpContextServerCallContext call)
        {
            var request = await ReadSingleRequestAsync(call).ConfigureAwait(false);
            var response = await ((UnaryServerMethod<TRequest, TResponse>)_handler)(request, call).ConfigureAwait(false);
            await WriteSingleResponseAsync(call, response).ConfigureAwait(false);
        }

        private async Task ServerStreamingAsync(HttpContextServerCallContext call)
        {
            var request = await ReadSingleRequestAsync(call).ConfigureAwait(false);
            await ((ServerStreamingServerMethod<TRequest, TResponse>)_handler)(
                request,
                new HttpContextStreamWriter<TResponse>(call, _method.ResponseMarshaller.ContextualSerializer),
                call).ConfigureAwait(false);
        }

        private async Task ClientStreamingAsync(HttpContextServerCallContext call)
        {
            var reader = new HttpContextStreamReader<TRequest>(call, _method.RequestMarshaller.ContextualDeserializer);
            var response = await ((ClientStreamingServerMethod<TRequest, TResponse>)_handler)(reader, call).ConfigureAwait(false);
            await WriteSingleResponseAsync(call, response).ConfigureAwait(false);
        }

        private ValueTask<TRequest> ReadSingleRequestAsync(HttpContextServerCallContext call) =>
            MessageFraming.ReadSingleMessageAsync(
                call.HttpContext.Request.BodyReader,
                call.RequestReadSettings,
                _method.RequestMarshaller.ContextualDeserializer,
                call.CancellationToken);

        private ValueTask WriteSingleResponseAsync(HttpContextServerCallContext call, TResponse? response)
        {
            if (response is null)
            {
                throw new RpcException(new Status(StatusCode.Internal, "No message returned from method."));
            }

            if (call.Status.StatusCode != StatusCode.OK)
            {
                return ValueTask.CompletedTask;
            }

            // No flush: Kestrel sends the DATA frame and the trailers together when the delegate returns.
            return call.WriteMessageAsync(response, _method.ResponseMarshaller.ContextualSerializer, flush: false, call.CancellationToken);
        }

        private bool ValidateRequest(HttpContext httpContext)
        {
            var request = httpContext.Request;
            if (!HttpProtocol.IsHttp2(request.Protocol))
            {
                // gRPC needs HTTP/2 (trailers, streams); 426 as grpc-dotnet does.
                GrpcServerLog.UnsupportedProtocol(_logger, request.Protocol, _method.FullName);
                httpContext.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
                HttpContextServerCallContext.WriteTrailersOnly(httpContext.Response,
                    new Status(StatusCode.Internal, $"Request protocol '{request.Protocol}' is not supported."));
                return false;
            }

            if (!GrpcProtocol.IsGrpcContentType(request.ContentType))
            {
                GrpcServerLog.UnsupportedContentType(_logger, request.ContentType, _method.FullName);
                httpContext.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
                HttpContextServerCallContext.WriteTrailersOnly(httpContext.Response,
                    new Status(StatusCode.Internal, $"Content-Type '{request.ContentType}' is not supported."));
                return false;
            }

            return true;
        }

        private static void DisableMinRequestBodyDataRate(HttpContext httpContext)
        {
            // A stream may idle between messages; Kestrel's minimum data rate would abort it.
            if (httpContext.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } feature)
            {
                feature.MinDataRate = null;
            }
        }
    }
}
