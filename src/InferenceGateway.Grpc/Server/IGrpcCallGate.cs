using Microsoft.AspNetCore.Http;

namespace InferenceGateway.Grpc;

/// <summary>
/// Admission check for gRPC calls served by <see cref="GrpcServerExtensions.UseGrpcDirectDispatch"/>, which runs ahead
/// of the application's other middleware: shutdown, rate limits and the like belong here.
/// </summary>
public interface IGrpcCallGate
{
    /// <summary>
    /// Returns true to let the call run. Returns false after writing the complete response itself, typically a
    /// trailers-only gRPC status; the call is then not run, and the dispatcher reads and discards the rest of the
    /// request body (bounded) so the stream closes at once. Called on the request's thread; must not block.
    /// </summary>
    bool TryAdmit(HttpContext context);
}
