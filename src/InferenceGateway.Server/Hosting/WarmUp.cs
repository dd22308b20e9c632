using InferenceGateway.Core.Models;

namespace InferenceGateway.Server.Hosting;

/// <summary>One inference per version before it is served, so the first real request does not pay for lazy init.</summary>
internal static class WarmUp
{
    public static async Task RunAsync(ModelVersion version, CancellationToken cancellationToken)
    {
        var batcher = version.Batcher;
        var request = batcher.RentRequest();
        var buffers = new byte[version.InputSpecs.Count + version.OutputSpecs.Count][];
        try
        {
            request.Rows = 1;
            for (var i = 0; i < version.InputSpecs.Count; i++)
            {
                var bytes = version.InputSpecs[i].FixedRowBytes;
                if (bytes < 0)
                {
                    return; // Variable shapes: no canonical warm-up input.
                }

                buffers[i] = new byte[bytes];
                request.SetInput(i, buffers[i]);
            }

            for (var o = 0; o < version.OutputSpecs.Count; o++)
            {
                var bytes = Math.Max(version.OutputSpecs[o].FixedRowBytes, 0);
                buffers[version.InputSpecs.Count + o] = new byte[bytes];
                request.SetOutput(o, buffers[version.InputSpecs.Count + o]);
            }

            // Readiness waits for this run: it must not also wait the model's max queue delay for batch company.
            request.SkipQueueDelay = true;
            request.CancellationToken = cancellationToken;
            var result = await batcher.EnqueueAsync(request).ConfigureAwait(false);
            result.ThrowIfFailed();
        }
        finally
        {
            batcher.ReturnRequest(request);
        }
    }
}
