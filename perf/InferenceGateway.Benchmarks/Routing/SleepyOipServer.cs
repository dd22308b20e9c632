using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Benchmarks.Routing;

/// <summary>
/// <c>sleepy-oip --port N [--delay-ms 200]</c>: an Open Inference Protocol endpoint (HTTP/2 cleartext on 127.0.0.1)
/// whose ModelInfer answers an empty ModelInferResponse after sleeping, and whose ModelReady says ready: the slow
/// remote shadow of perf/experiments-bench.sh. Written on bare Kestrel so that it costs next to no CPU while it waits.
/// </summary>
public static class SleepyOipServer
{
    public static int Run(string[] args)
    {
        var port = 0;
        var delay = 200;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--port": port = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--delay-ms": delay = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"sleepy-oip: unknown option {args[i]}"); return 2;
            }
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        byte[] emptyMessage = [0, 0, 0, 0, 0];
        byte[] ready = [0, 0, 0, 0, 2, 0x08, 0x01]; // ModelReadyResponse { ready: true }
        app.MapPost("/inference.GRPCInferenceService/ModelInfer", async context =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
            await Task.Delay(delay, context.RequestAborted);
            await Answer(context, emptyMessage);
        });
        app.MapPost("/inference.GRPCInferenceService/ModelReady", async context =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
            await Answer(context, ready);
        });
        Console.WriteLine($"sleepy-oip: listening on 127.0.0.1:{port}, ModelInfer sleeps {delay} ms");
        app.Run();
        return 0;
    }

    private static async Task Answer(HttpContext context, byte[] frame)
    {
        context.Response.ContentType = "application/grpc";
        context.Response.AppendTrailer("grpc-status", "0");
        await context.Response.Body.WriteAsync(frame, context.RequestAborted);
    }
}
