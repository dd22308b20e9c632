using System.Net;
using Google.Protobuf;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.LoadTest.Targets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace InferenceGateway.LoadTest.Echo;

/// <summary>
/// The transport ceiling: bare Kestrel on 127.0.0.1 speaking HTTP/2 with prior knowledge, answering every
/// POST with one fixed, valid gRPC response frame and <c>grpc-status: 0</c>. No routing, no gRPC library,
/// no logging, so whatever a client measures against it is HTTP/2 plus Kestrel.
/// </summary>
public sealed class EchoServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly byte[] _responseFrame;

    private EchoServer(WebApplication app, byte[] responseFrame, int port)
    {
        _app = app;
        _responseFrame = responseFrame;
        Port = port;
    }

    /// <summary>The bound port (useful when started on port 0).</summary>
    public int Port { get; }

    /// <summary>Length of the response frame (5-byte prefix included).</summary>
    public int ResponseFrameLength => _responseFrame.Length;

    /// <summary>Starts listening on 127.0.0.1:<paramref name="port"/> (0 picks a free port).</summary>
    /// <param name="port">TCP port.</param>
    /// <param name="responseBytes">Approximate size of the response message (a ModelInferResponse padded with raw output bytes).</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<EchoServer> StartAsync(int port, int responseBytes, CancellationToken cancellationToken)
    {
        byte[] frame = GrpcFrame.Encode(BuildResponse(responseBytes));

        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2);
        });
        WebApplication app = builder.Build();
        app.Run(context => HandleAsync(context, frame));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);

        IServerAddressesFeature? addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>();
        int bound = port;
        if (addresses is not null)
        {
            foreach (string address in addresses.Addresses)
            {
                bound = new Uri(address).Port;
                break;
            }
        }

        return new EchoServer(app, frame, bound);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stopTimeout.Token).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A ModelInferResponse whose serialized size is about <paramref name="targetBytes"/>.</summary>
    public static ModelInferResponse BuildResponse(int targetBytes)
    {
        var response = new ModelInferResponse { ModelName = "echo", ModelVersion = "1" };
        int size = response.CalculateSize();
        if (targetBytes > size + 2)
        {
            // Field tag + length prefix take 2..6 bytes; shave them so the total lands on the target.
            int pad = targetBytes - size - 2;
            while (pad > 0 && size + 1 + CodedOutputStream.ComputeLengthSize(pad) + pad > targetBytes)
            {
                pad--;
            }

            response.RawOutputContents.Add(ByteString.CopyFrom(new byte[pad]));
        }

        return response;
    }

    private static async Task HandleAsync(HttpContext context, byte[] frame)
    {
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }

        // Read and discard the request so flow control windows keep moving.
        System.IO.Pipelines.PipeReader reader = context.Request.BodyReader;
        while (true)
        {
            System.IO.Pipelines.ReadResult read = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
            reader.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted || read.IsCanceled)
            {
                break;
            }
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/grpc";
        context.Response.AppendTrailer("grpc-status", "0");
        await context.Response.BodyWriter.WriteAsync(frame, context.RequestAborted).ConfigureAwait(false);
    }
}
