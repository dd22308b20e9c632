using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using InferenceGateway.Server.Hosting;
using Microsoft.AspNetCore.Http.Features;

namespace InferenceGateway.Server.Transport;

/// <summary>
/// Wraps every gRPC call after routing, around Grpc.AspNetCore's handler: receives a unary (or server-streaming)
/// request's body before the handler runs and checks its frame prefix, records the per-method metrics once the call
/// has ended, and ends the request body (<see cref="EarlyEnd"/>).
/// </summary>
/// <remarks>
/// <para>
/// Receiving the body first keeps client-side failures out of the handler: a client that resets the stream while
/// its request is still arriving ends the call here, quietly (the reset races Kestrel's RequestAborted, and a body
/// read that fails before it fires is logged by Grpc.AspNetCore at Error as "Error when executing service method").
/// It costs nothing when the body has already arrived whole (HEADERS and DATA usually come together): one TryRead.
/// </para>
/// <para>
/// The prefix check gives two framing defects the status the gRPC spec asks for, where Grpc.AspNetCore throws an
/// exception that becomes UNKNOWN "Exception was thrown by handler." and an Error-level log: a compressed-flag byte
/// other than 0 or 1 (INTERNAL), and a declared length of 2 GiB or more (RESOURCE_EXHAUSTED, as for any length over
/// the limit). For methods that take a request stream it looks at the first prefix only if it has already arrived,
/// and later messages are Grpc.AspNetCore's to check: such a stream may rightly stay silent until the server speaks.
/// </para>
/// </remarks>
internal sealed class GrpcCallMiddleware
{
    private const int PrefixLength = 5;

    private static readonly Status BadFlag = new(StatusCode.Internal, "Unexpected compressed flag value in message header.");
    private static readonly Status DeadlinePassed = new(StatusCode.DeadlineExceeded, "Deadline Exceeded");
    private static readonly Status AdditionalData = new(StatusCode.Internal, "Additional data after the message received.");

    private readonly GrpcServerMetrics _metrics;
    private readonly long _maxReceiveMessageSize;

    public GrpcCallMiddleware(GrpcServerMetrics metrics, GrpcSettings settings)
    {
        _metrics = metrics;
        _maxReceiveMessageSize = settings.MaxReceiveMessageSize;
    }

    private enum Body
    {
        /// <summary>Received whole (or, for a request stream, its first prefix is fine or not there yet).</summary>
        Ready,

        /// <summary>Refused: the status is set.</summary>
        Refused,

        /// <summary>Still arriving: wait for the rest before the handler runs.</summary>
        Arriving,
    }

    /// <summary>Runs one request through the checks and the rest of the pipeline.</summary>
    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var method = context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method;
        var isGrpc = GrpcAdmissionMiddleware.IsGrpcContentType(context.Request.ContentType);
        if (method is null && !isGrpc)
        {
            return next(context); // admin endpoints
        }

        var start = Stopwatch.GetTimestamp();
        var methodName = method?.FullName ?? GrpcServerMetrics.UnknownMethod;
        if (method is not null && isGrpc)
        {
            if (HasExpiredTimeout(context.Request))
            {
                return Refuse(context, methodName, DeadlinePassed, start);
            }

            var singleRequest = method.Type is MethodType.Unary or MethodType.ServerStreaming;
            switch (Inspect(context.Request.BodyReader, singleRequest, out var refusal))
            {
                case Body.Refused:
                    return Refuse(context, methodName, refusal, start);
                case Body.Arriving:
                    return ReceiveThenCallAsync(context, next, methodName, start);
            }
        }

        Task call;
        try
        {
            call = next(context);
        }
        catch (Exception ex)
        {
            call = Task.FromException(ex);
        }

        return call.IsCompletedSuccessfully ? Finish(context, methodName, start) : AwaitCall(call, context, methodName, start);
    }

    /// <summary>Looks at what has arrived without consuming it: Grpc.AspNetCore's own read sees the same bytes.</summary>
    private Body Inspect(PipeReader reader, bool singleRequest, out Status refusal)
    {
        refusal = default;
        try
        {
            if (!reader.TryRead(out var result))
            {
                return singleRequest ? Body.Arriving : Body.Ready;
            }

            var buffer = result.Buffer;
            if (CheckPrefix(buffer) is { } bad)
            {
                reader.AdvanceTo(buffer.Start, buffer.Start);
                refusal = bad;
                return Body.Refused;
            }

            if (!singleRequest || result.IsCompleted)
            {
                reader.AdvanceTo(buffer.Start, buffer.Start);
                return Body.Ready;
            }

            // Examined to the end, so that the next read waits for more.
            reader.AdvanceTo(buffer.Start, buffer.End);
            return Body.Arriving;
        }
        catch (Exception ex) when (IsClientFailure(ex))
        {
            refusal = ClientFailed(ex);
            return Body.Refused;
        }
        catch (BadHttpRequestException)
        {
            return Body.Ready; // Grpc.AspNetCore's own read meets the same failure and reports it
        }
    }

    private async Task ReceiveThenCallAsync(HttpContext context, RequestDelegate next, string methodName, long start)
    {
        var reader = context.Request.BodyReader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (CheckPrefix(buffer) is { } bad)
                {
                    reader.AdvanceTo(buffer.Start, buffer.Start);
                    await Refuse(context, methodName, bad, start).ConfigureAwait(false);
                    return;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    reader.AdvanceTo(buffer.Start, buffer.Start);
                    break;
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // Past Kestrel's body limit (the message limit plus 64 KiB) with a prefix within the message limit: the body
            // holds more than its one message.
            await Refuse(context, methodName, AdditionalData, start).ConfigureAwait(false);
            return;
        }
        catch (Exception ex) when (IsClientFailure(ex))
        {
            // The client reset the stream or went away before its request arrived: the answer usually reaches nobody.
            await Refuse(context, methodName, ClientFailed(ex), start).ConfigureAwait(false);
            return;
        }

        await AwaitCall(next(context), context, methodName, start).ConfigureAwait(false);
    }

    /// <summary>
    /// True when <c>grpc-timeout</c> is zero: the client's deadline has already passed. Grpc.AspNetCore takes a zero
    /// timeout as no timeout at all and would run the call without a deadline.
    /// </summary>
    private static bool HasExpiredTimeout(HttpRequest request)
    {
        if (!request.Headers.TryGetValue("grpc-timeout", out var values) || values.Count != 1)
        {
            return false;
        }

        var text = values.ToString();
        if (text.Length < 2 || text.Length > 9 || "HMSmun".IndexOf(text[^1], StringComparison.Ordinal) < 0)
        {
            return false; // invalid: Grpc.AspNetCore ignores it
        }

        foreach (var digit in text.AsSpan(0, text.Length - 1))
        {
            if (digit != '0')
            {
                return false;
            }
        }

        return true;
    }

    private static Status ClientFailed(Exception ex) => new(StatusCode.Cancelled, ex.Message);

    private static bool IsClientFailure(Exception ex) =>
        ex is OperationCanceledException or IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException;

    private Status? CheckPrefix(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < PrefixLength)
        {
            return null;
        }

        Span<byte> prefix = stackalloc byte[PrefixLength];
        buffer.Slice(0, PrefixLength).CopyTo(prefix);
        if (prefix[0] > 1)
        {
            return BadFlag;
        }

        return BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]) > _maxReceiveMessageSize ? GzipCompressionProvider.TooLarge : null;
    }

    private Task Refuse(HttpContext context, string methodName, Status status, long start)
    {
        GrpcAdmissionMiddleware.AnswerTrailersOnly(context, status.StatusCode, status.Detail);
        _metrics.Record(methodName, status.StatusCode, start);
        return EarlyEnd.CompleteAsync(context);
    }

    private async Task AwaitCall(Task call, HttpContext context, string methodName, long start)
    {
        try
        {
            await call.ConfigureAwait(false);
        }
        finally
        {
            _metrics.Record(methodName, ResponseStatus(context), start);
        }

        await EarlyEnd.CompleteAsync(context).ConfigureAwait(false);
    }

    private Task Finish(HttpContext context, string methodName, long start)
    {
        _metrics.Record(methodName, ResponseStatus(context), start);
        return EarlyEnd.CompleteAsync(context);
    }

    /// <summary>The call's status: from the trailers, or from the headers of a trailers-only response.</summary>
    private static StatusCode ResponseStatus(HttpContext context)
    {
        var trailers = context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers;
        var text = trailers is not null && trailers.TryGetValue(GrpcAdmissionMiddleware.StatusHeader, out var fromTrailers)
            ? fromTrailers.ToString()
            : context.Response.Headers[GrpcAdmissionMiddleware.StatusHeader].ToString();
        if (text.Length == 0)
        {
            // No status at all: the call was reset or the connection dropped before it ended.
            return StatusCode.Cancelled;
        }

        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code) && code is >= 0 and <= 16
            ? (StatusCode)code
            : StatusCode.Unknown;
    }
}
