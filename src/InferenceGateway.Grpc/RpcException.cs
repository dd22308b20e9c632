namespace InferenceGateway.Grpc;

/// <summary>
/// Thrown by handlers to end a call with a given status, and by the client when a call ends with a status other than OK.
/// </summary>
public class RpcException : Exception
{
    /// <summary>Creates an exception for a status with empty trailers.</summary>
    public RpcException(Status status)
        : this(status, Metadata.Empty, status.ToString())
    {
    }

    /// <summary>Creates an exception for a status with a custom message.</summary>
    public RpcException(Status status, string message)
        : this(status, Metadata.Empty, message)
    {
    }

    /// <summary>Creates an exception for a status with trailers.</summary>
    public RpcException(Status status, Metadata trailers)
        : this(status, trailers, status.ToString())
    {
    }

    /// <summary>Creates an exception for a status with trailers and a custom message.</summary>
    public RpcException(Status status, Metadata trailers, string message)
        : base(message, status.DebugException)
    {
        Status = status;
        Trailers = trailers ?? Metadata.Empty;
    }

    /// <summary>The call's status.</summary>
    public Status Status { get; }

    /// <summary>Shortcut for <c>Status.StatusCode</c>.</summary>
    public StatusCode StatusCode => Status.StatusCode;

    /// <summary>Trailers sent (server) or received (client) with the status.</summary>
    public Metadata Trailers { get; }

    /// <summary>Not used; exists to satisfy the exception pattern.</summary>
    public RpcException()
        : this(new Status(StatusCode.Unknown, string.Empty))
    {
    }

    /// <summary>Not used; exists to satisfy the exception pattern.</summary>
    public RpcException(string message)
        : this(new Status(StatusCode.Unknown, message), Metadata.Empty, message)
    {
    }

    /// <summary>Not used; exists to satisfy the exception pattern.</summary>
    public RpcException(string message, Exception innerException)
        : base(message, innerException)
    {
        Status = new Status(StatusCode.Unknown, message, innerException);
        Trailers = Metadata.Empty;
    }
}
