using System.Collections.Concurrent;
using System.Net;
using InferenceGateway.Grpc.Internal;

namespace InferenceGateway.Grpc;

/// <summary>Options of a <see cref="GrpcChannel"/>.</summary>
public sealed class GrpcChannelOptions
{
    /// <summary>Handler to send requests with; null creates a <see cref="SocketsHttpHandler"/> tuned for gRPC.</summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>Whether disposing the channel disposes <see cref="HttpHandler"/> (always true for the default one).</summary>
    public bool DisposeHttpHandler { get; set; } = true;

    /// <summary>Largest accepted response message in bytes, after decompression; null for no limit. Default 4 MiB.</summary>
    public int? MaxReceiveMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest request message in bytes; null (default) for no limit.</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>
    /// Whether the default handler may open more HTTP/2 connections when one reaches the server's stream limit.
    /// Default true.
    /// </summary>
    public bool EnableMultipleHttp2Connections { get; set; } = true;
}

/// <summary>
/// A connection to a gRPC server over HttpClient with HTTP/2 (cleartext with prior knowledge for <c>http://</c>).
/// Thread-safe; create one per server and reuse it.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    private readonly ConcurrentDictionary<string, Uri> _methodUris = new(StringComparer.Ordinal);
    private readonly bool _disposeHandler;

    private GrpcChannel(Uri address, GrpcChannelOptions options)
    {
        Address = address;
        Options = options;
        var handler = options.HttpHandler;
        _disposeHandler = handler is null || options.DisposeHttpHandler;
        handler ??= new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = options.EnableMultipleHttp2Connections,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
        };

        // Deadlines bound calls; HttpClient's own timeout would cut long streams.
        HttpClient = new HttpClient(handler, _disposeHandler) { Timeout = Timeout.InfiniteTimeSpan };
        Invoker = new HttpClientCallInvoker(this);
    }

    /// <summary>The server's base address.</summary>
    public Uri Address { get; }

    internal GrpcChannelOptions Options { get; }

    internal HttpClient HttpClient { get; }

    internal CallInvoker Invoker { get; }

    /// <summary>Creates a channel, e.g. <c>GrpcChannel.ForAddress("http://127.0.0.1:50051")</c>.</summary>
    public static GrpcChannel ForAddress(string address, GrpcChannelOptions? options = null) =>
        ForAddress(new Uri(address ?? throw new ArgumentNullException(nameof(address)), UriKind.Absolute), options);

    /// <summary>Creates a channel for an absolute http(s) address.</summary>
    public static GrpcChannel ForAddress(Uri address, GrpcChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!address.IsAbsoluteUri || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException("Address must be an absolute http:// or https:// URI.", nameof(address));
        }

        return new GrpcChannel(address, options ?? new GrpcChannelOptions());
    }

    /// <summary>The invoker that starts calls on this channel (one shared instance).</summary>
    public CallInvoker CreateCallInvoker() => Invoker;

    /// <summary>Disposes the HttpClient (and handler when owned).</summary>
    public void Dispose() => HttpClient.Dispose();

    internal Uri GetMethodUri(IMethod method) =>
        _methodUris.GetOrAdd(method.FullName, static (path, baseUri) => new Uri(baseUri, path), Address);
}
