using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.ObjectPool;

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
        // Enough contexts for every call in flight at high concurrency; more in flight than this allocate, and the
        // surplus is dropped on return.
        private static readonly int MaxPooledContexts = Math.Max(1024, Environment.ProcessorCount * 64);

        private readonly Method<TRequest, TResponse> _method;
        private readonly Delegate _handler;
        private readonly ValueTaskUnaryServerMethod<TRequest, TResponse>? _valueTaskHandler;
        private readonly GrpcServerOptions _options;
        private readonly ILogger _logger;
        private readonly DefaultObjectPool<HttpContextServerCallContext> _contexts;

        public ServerCallHandler(Method<TRequest, TResponse> method, Delegate handler, GrpcServerOptions options, ILogger logger)
        {
            _method = method;
            _handler = handler;
            _valueTaskHandler = handler as ValueTaskUnaryServerMethod<TRequest, TResponse>;
            _options = options;
            _logger = logger;
            _contexts = new DefaultObjectPool<HttpContextServerCallContext>(new ContextPolicy(this), MaxPooledContexts);
        }

        public Task HandleCallAsync(HttpContext httpContext)
        {
            if (!ValidateRequest(httpContext))
            {
                return EarlyEnd.CompleteAsync(httpContext);
            }

            var call = _contexts.Get();
            call.Bind(httpContext);
            if (!call.Initialize())
            {
                _contexts.Return(call);
                return EarlyEnd.CompleteAsync(httpContext);
            }

            return _method.Type == MethodType.Unary ? HandleUnaryCall(call) : HandleStreamingCallAsync(call);
        }

        /// <summary>
        /// Unary calls run synchronously as far as they can: when the request body is already buffered and the handler
        /// returns a completed task, the call ends without an async state machine; otherwise it continues in one.
        /// </summary>
        private Task HandleUnaryCall(HttpContextServerCallContext call)
        {
            Status status;
            try
            {
                var read = ReadSingleRequestAsync(call);
                if (!read.IsCompletedSuccessfully)
                {
                    return UnaryAfterReadAsync(call, read);
                }

                var handlerTask = InvokeUnary(read.Result, call);
                if (!handlerTask.IsCompletedSuccessfully)
                {
                    return UnaryAfterHandlerAsync(call, handlerTask);
                }

                WriteSingleResponse(call, handlerTask.Result);
                status = call.Status;
            }
            catch (Exception ex)
            {
                status = call.StatusFromException(ex);
            }

            return Finish(call, status);
        }

        private async Task UnaryAfterReadAsync(HttpContextServerCallContext call, ValueTask<TRequest> read)
        {
            Status status;
            try
            {
                var request = await read.ConfigureAwait(false);
                var response = await InvokeUnary(request, call).ConfigureAwait(false);
                WriteSingleResponse(call, response);
                status = call.Status;
            }
            catch (Exception ex)
            {
                status = call.StatusFromException(ex);
            }

            await Finish(call, status).ConfigureAwait(false);
        }

        private ValueTask<TResponse> InvokeUnary(TRequest request, HttpContextServerCallContext call) =>
            _valueTaskHandler is { } handler
                ? handler(request, call)
                : new ValueTask<TResponse>(((UnaryServerMethod<TRequest, TResponse>)_handler)(request, call));

        private async Task UnaryAfterHandlerAsync(HttpContextServerCallContext call, ValueTask<TResponse> handlerTask)
        {
            Status status;
            try
            {
                var response = await handlerTask.ConfigureAwait(false);
                WriteSingleResponse(call, response);
                status = call.Status;
            }
            catch (Exception ex)
            {
                status = call.StatusFromException(ex);
            }

            await Finish(call, status).ConfigureAwait(false);
        }

        private async Task HandleStreamingCallAsync(HttpContextServerCallContext call)
        {
            Status status;
            try
            {
                await InvokeStreamingAsync(call).ConfigureAwait(false);
                status = call.Status;
            }
            catch (Exception ex)
            {
                status = call.StatusFromException(ex);
            }

            await Finish(call, status).ConfigureAwait(false);
        }

        /// <summary>
        /// Writes the status and gives the context back to the pool; a failed call may have left part of its request
        /// unread, which <see cref="EarlyEnd"/> drains after the answer (free when the body is complete, as on every OK call).
        /// </summary>
        private Task Finish(HttpContextServerCallContext call, Status status)
        {
            var httpContext = call.HttpContext;
            try
            {
                call.Complete(status);
            }
            finally
            {
                _contexts.Return(call);
            }

            return status.StatusCode == StatusCode.OK ? Task.CompletedTask : EarlyEnd.CompleteAsync(httpContext);
        }

        private Task InvokeStreamingAsync(HttpContextServerCallContext call)
        {
            switch (_method.Type)
            {
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
            WriteSingleResponse(call, response);
        }

        private ValueTask<TRequest> ReadSingleRequestAsync(HttpContextServerCallContext call) =>
            MessageFraming.ReadSingleMessageAsync(
                call.HttpContext.Request.BodyReader,
                call.RequestReadSettings,
                _method.RequestMarshaller.ContextualDeserializer,
                call.DeadlineToken);

        private void WriteSingleResponse(HttpContextServerCallContext call, TResponse? response)
        {
            if (response is null)
            {
                throw new RpcException(new Status(StatusCode.Internal, "No message returned from method."));
            }

            if (call.Status.StatusCode != StatusCode.OK)
            {
                return;
            }

            // No flush: Kestrel sends HEADERS, DATA and trailers together when the request delegate returns.
            call.WriteMessage(response, _method.ResponseMarshaller.ContextualSerializer);
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

        private sealed class ContextPolicy : IPooledObjectPolicy<HttpContextServerCallContext>
        {
            private readonly ServerCallHandler _handler;

            public ContextPolicy(ServerCallHandler handler) => _handler = handler;

            public HttpContextServerCallContext Create() => new(_handler._method, _handler._options, _handler._logger);

            public bool Return(HttpContextServerCallContext context)
            {
                context.Reset();
                return true;
            }
        }
    }
}
