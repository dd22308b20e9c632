using Microsoft.Extensions.Logging;

namespace InferenceGateway.Grpc.Internal;

/// <summary>Server log messages; stable event ids and names so tests and dashboards can match them.</summary>
internal static partial class GrpcServerLog
{
    [LoggerMessage(1, LogLevel.Debug, "Unimplemented gRPC method '{Path}'.", EventName = "UnimplementedMethod")]
    public static partial void UnimplementedMethod(ILogger logger, string path);

    [LoggerMessage(2, LogLevel.Debug, "Request content-type '{ContentType}' is not supported for '{Method}'.", EventName = "UnsupportedContentType")]
    public static partial void UnsupportedContentType(ILogger logger, string? contentType, string method);

    [LoggerMessage(3, LogLevel.Debug, "Request protocol '{Protocol}' is not supported for '{Method}'.", EventName = "UnsupportedProtocol")]
    public static partial void UnsupportedProtocol(ILogger logger, string protocol, string method);

    [LoggerMessage(4, LogLevel.Debug, "Deadline exceeded for '{Method}'.", EventName = "DeadlineExceeded")]
    public static partial void DeadlineExceeded(ILogger logger, string method);

    [LoggerMessage(5, LogLevel.Error, "Error when executing service method '{Method}'.", EventName = "ErrorExecutingServiceMethod")]
    public static partial void ErrorExecutingServiceMethod(ILogger logger, Exception exception, string method);

    [LoggerMessage(6, LogLevel.Information, "Call '{Method}' ended with {StatusCode}: {Detail}", EventName = "RpcError")]
    public static partial void RpcError(ILogger logger, string method, StatusCode statusCode, string detail);

    [LoggerMessage(7, LogLevel.Debug, "Invalid grpc-timeout value '{Value}' ignored.", EventName = "InvalidTimeoutIgnored")]
    public static partial void InvalidTimeoutIgnored(ILogger logger, string value);

    [LoggerMessage(8, LogLevel.Debug, "Call '{Method}' canceled by the client.", EventName = "CallCanceledByClient")]
    public static partial void CallCanceledByClient(ILogger logger, string method);
}
