using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;

namespace InferenceGateway.Server.Transport;

/// <summary>
/// Ends a call answered before its request body was read to the end (a refused or failed call) so that HTTP/2 can
/// close the stream at once: the answer goes out first, then what the client still sends is read and discarded, up to
/// <see cref="MaxDrainBytes"/> and <see cref="DrainTimeout"/>.
/// </summary>
/// <remarks>
/// Kestrel keeps a stream whose response ended before the client's END_STREAM tracked for 5 s, and past 200 tracked
/// streams on a connection refuses new ones with ENHANCE_YOUR_CALM (its rapid-reset guard). A client over the rate
/// limit, or calling an unknown method, at a few hundred calls a second got some of its calls refused that way
/// (UNAVAILABLE) instead of the status the gateway meant. Draining costs nothing when the body is already complete
/// (the usual case: HEADERS and DATA arrive together).
/// </remarks>
internal static class EarlyEnd
{
    internal const int MaxDrainBytes = 64 * 1024;
    internal static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(1);

    public static Task CompleteAsync(HttpContext context)
    {
        var reader = context.Request.BodyReader;
        try
        {
            if (reader.TryRead(out var buffered))
            {
                reader.AdvanceTo(buffered.Buffer.End);
                if (buffered.IsCompleted)
                {
                    return Task.CompletedTask;
                }
            }
        }
        catch (Exception ex) when (IsExpected(ex))
        {
            return Task.CompletedTask;
        }

        return DrainAsync(context);
    }

    private static async Task DrainAsync(HttpContext context)
    {
        var reader = context.Request.BodyReader;
        try
        {
            await context.Response.CompleteAsync().ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            timeout.CancelAfter(DrainTimeout);
            long drained = 0;
            while (drained <= MaxDrainBytes)
            {
                var result = await reader.ReadAsync(timeout.Token).ConfigureAwait(false);
                drained += result.Buffer.Length;
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (IsExpected(ex))
        {
            // The client reset the stream, or it sent too much or too slowly: Kestrel resets the stream as before.
        }
    }

    private static bool IsExpected(Exception ex) =>
        ex is OperationCanceledException or IOException or ConnectionAbortedException or BadHttpRequestException
            or InvalidOperationException; // a read left in progress by a failed message read: nothing to drain safely
}
